//! `/metrics` in the Prometheus text format (0.0.4): publish durations, queue
//! depth, partner lag, requests by route and status, and metalink requests by
//! countme bucket. The metric types and
//! the exposition format are `prometheus-client`'s; this module only names the
//! metrics and fills the gauges read at scrape time.
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::render`] returns.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds of the publish-duration histogram, in seconds.
const BUCKETS_S: [f64; 8] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    webhook: String,
    /// `delivered` or `failed` (one failed attempt; it is retried).
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GivenUpLabels {
    webhook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CountmeLabels {
    bucket: u8,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LagLabels {
    mirror: String,
    repo: String,
}

pub struct Metrics {
    /// Everything below, registered once; encoding reads it.
    registry: Registry,
    publish_duration: Histogram,
    publish_failures: Counter,
    requests: Family<RequestLabels, Counter>,
    /// Of those, the ones the fast lane answered (`io::lane`).
    lane_answers: Counter,
    /// Metalink requests carrying `countme=1..4` (dnf's and the critical
    /// check's weekly, identifier-free "how long has this system been counted"
    /// bucket), by bucket.
    countme: Family<CountmeLabels, Counter>,
    /// Outbound webhook attempts by webhook and outcome.
    webhook_attempts: Family<WebhookLabels, Counter>,
    /// Outbound webhook messages given up (out of attempts), by webhook.
    webhook_given_up: Family<GivenUpLabels, Counter>,
    /// Set from the store and the partner state at each scrape.
    queue_depth: Gauge,
    partner_lag: Family<LagLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// One scrape at a time fills the scrape-time gauges and encodes.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let publish_duration = Histogram::new(BUCKETS_S);
        let publish_failures = Counter::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let lane_answers = Counter::default();
        let countme = Family::<CountmeLabels, Counter>::default();
        let queue_depth = Gauge::default();
        let partner_lag = Family::default();
        let webhook_attempts = Family::<WebhookLabels, Counter>::default();
        let webhook_given_up = Family::<GivenUpLabels, Counter>::default();
        let mut registry = Registry::default();
        registry.register(
            "hotpush_webhook_given_up",
            "Outbound webhook messages given up after `[[webhook]] attempts_max` failed attempts",
            webhook_given_up.clone(),
        );
        registry.register(
            "hotpush_webhook_attempts",
            "Outbound webhook delivery attempts by webhook and outcome (delivered, failed)",
            webhook_attempts.clone(),
        );
        registry.register(
            "hotpush_publish_duration_seconds",
            "Time of one publisher run",
            publish_duration.clone(),
        );
        // The encoder adds `_total` to counters.
        registry.register(
            "hotpush_publish_failures",
            "Publisher runs that failed",
            publish_failures.clone(),
        );
        registry.register(
            "hotpush_queue_depth",
            "Jobs queued or running",
            queue_depth.clone(),
        );
        registry.register(
            "hotpush_partner_lag_seconds",
            "How long a partner has been behind the origin (0: current)",
            partner_lag.clone(),
        );
        registry.register(
            "hotpush_http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "hotpush_http_fast_lane_answers",
            "Of the HTTP requests, those the read path's fast lane answered without the router",
            lane_answers.clone(),
        );
        registry.register(
            "hotpush_metalink_countme",
            "Metalink requests with countme=BUCKET (weekly, no identifier)",
            countme.clone(),
        );
        Metrics {
            registry,
            countme,
            webhook_attempts,
            webhook_given_up,
            publish_duration,
            publish_failures,
            requests,
            lane_answers,
            queue_depth,
            partner_lag,
            scrape: Mutex::new(()),
        }
    }
}

impl Metrics {
    pub fn observe_publish(&self, elapsed_ms: u64, ok: bool) {
        self.publish_duration.observe(elapsed_ms as f64 / 1000.0);
        if !ok {
            self.publish_failures.inc();
        }
    }

    /// Counts a `countme` query value; anything but 1..4 is ignored.
    pub fn observe_countme(&self, value: &str) {
        if let Ok(bucket @ 1..=4) = value.parse::<u8>() {
            self.countme.get_or_create(&CountmeLabels { bucket }).inc();
        }
    }

    /// Counts one outbound webhook attempt.
    pub fn observe_webhook(&self, webhook: &str, delivered: bool) {
        self.webhook_attempts
            .get_or_create(&WebhookLabels {
                webhook: webhook.to_owned(),
                outcome: if delivered { "delivered" } else { "failed" }.to_owned(),
            })
            .inc();
    }

    /// Counts one outbound webhook message given up.
    pub fn observe_webhook_given_up(&self, webhook: &str) {
        self.webhook_given_up
            .get_or_create(&GivenUpLabels {
                webhook: webhook.to_owned(),
            })
            .inc();
    }

    pub fn observe_request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// One request answered by the fast lane (counted by
    /// [`Metrics::observe_request`] too).
    pub fn observe_lane_answer(&self) {
        self.lane_answers.inc();
    }

    /// Renders everything, with the gauges the caller reads at scrape time.
    pub fn render(&self, queue_depth: i64, partner_lag_s: &[(String, String, f64)]) -> String {
        let _one_scrape = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.queue_depth.set(queue_depth);
        // Partners that left the configuration leave the output too.
        self.partner_lag.clear();
        for (mirror, repo, lag) in partner_lag_s {
            self.partner_lag
                .get_or_create(&LagLabels {
                    mirror: mirror.clone(),
                    repo: repo.clone(),
                })
                .set(*lag);
        }
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String does not fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_escaped_labels() {
        let m = Metrics::default();
        m.observe_publish(30, true);
        m.observe_publish(2_000, false);
        m.observe_request("/api/v1/pushes/{id}/submit", 202);
        m.observe_request("/api/v1/pushes/{id}/submit", 202);
        let text = m.render(3, &[("a\"b".into(), "critical/43/x86_64".into(), 1.5)]);
        for line in [
            "# TYPE hotpush_publish_duration_seconds histogram",
            "hotpush_publish_duration_seconds_bucket{le=\"0.05\"} 1",
            "hotpush_publish_duration_seconds_bucket{le=\"1\"} 1",
            "hotpush_publish_duration_seconds_bucket{le=\"5\"} 2",
            "hotpush_publish_duration_seconds_bucket{le=\"+Inf\"} 2",
            "hotpush_publish_duration_seconds_count 2",
            "hotpush_publish_failures_total 1",
            "# TYPE hotpush_queue_depth gauge",
            "hotpush_queue_depth 3",
            "hotpush_partner_lag_seconds{mirror=\"a\\\"b\",repo=\"critical/43/x86_64\"} 1.5",
            "hotpush_http_requests_total{route=\"/api/v1/pushes/{id}/submit\",status=\"202\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
        // A partner gone from the next scrape is gone from the output.
        assert!(!m.render(0, &[]).contains("hotpush_partner_lag_seconds{"));
    }
}
