//! `/metrics` in Prometheus text format: publish durations, queue depth, partner
//! lag, and requests by route and status. Counters live in memory.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds of the publish-duration histogram, in seconds.
const BUCKETS_S: [f64; 8] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    publish_buckets: [u64; BUCKETS_S.len()],
    publish_count: u64,
    publish_sum_s: f64,
    publish_failures: u64,
    requests: BTreeMap<(String, u16), u64>,
}

impl Metrics {
    pub fn observe_publish(&self, elapsed_ms: u64, ok: bool) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let s = elapsed_ms as f64 / 1000.0;
        for (i, b) in BUCKETS_S.iter().enumerate() {
            if s <= *b {
                m.publish_buckets[i] += 1;
            }
        }
        m.publish_count += 1;
        m.publish_sum_s += s;
        if !ok {
            m.publish_failures += 1;
        }
    }

    pub fn observe_request(&self, route: &str, status: u16) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.requests.entry((route.to_owned(), status)).or_default() += 1;
    }

    /// Renders everything, with the gauges the caller reads at scrape time.
    pub fn render(&self, queue_depth: i64, partner_lag_s: &[(String, String, f64)]) -> String {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP hotpush_publish_duration_seconds Time of one publisher run.\n");
        out.push_str("# TYPE hotpush_publish_duration_seconds histogram\n");
        for (i, b) in BUCKETS_S.iter().enumerate() {
            let _ = writeln!(
                out,
                "hotpush_publish_duration_seconds_bucket{{le=\"{b}\"}} {}",
                m.publish_buckets[i]
            );
        }
        let _ = writeln!(
            out,
            "hotpush_publish_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            m.publish_count
        );
        let _ = writeln!(
            out,
            "hotpush_publish_duration_seconds_sum {}",
            m.publish_sum_s
        );
        let _ = writeln!(
            out,
            "hotpush_publish_duration_seconds_count {}",
            m.publish_count
        );
        out.push_str("# HELP hotpush_publish_failures_total Publisher runs that failed.\n");
        out.push_str("# TYPE hotpush_publish_failures_total counter\n");
        let _ = writeln!(out, "hotpush_publish_failures_total {}", m.publish_failures);
        out.push_str("# HELP hotpush_queue_depth Jobs queued or running.\n");
        out.push_str("# TYPE hotpush_queue_depth gauge\n");
        let _ = writeln!(out, "hotpush_queue_depth {queue_depth}");
        out.push_str("# HELP hotpush_partner_lag_seconds How long a partner has been behind the origin (0: current).\n");
        out.push_str("# TYPE hotpush_partner_lag_seconds gauge\n");
        for (mirror, repo, lag) in partner_lag_s {
            let _ = writeln!(
                out,
                "hotpush_partner_lag_seconds{{mirror=\"{mirror}\",repo=\"{repo}\"}} {lag}"
            );
        }
        out.push_str("# HELP hotpush_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE hotpush_http_requests_total counter\n");
        for ((route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "hotpush_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out
    }
}
