//! `/metrics` in Prometheus text format: publish durations, queue depth, partner
//! lag, requests by route and status, and metalink requests by countme bucket.
//! Counters live in memory.
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// Upper bounds of the publish-duration histogram, in seconds.
const BUCKETS_S: [f64; 8] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    /// Route → status → count. Counting takes a read lock and an atomic add;
    /// the write lock is only taken the first time a (route, status) is seen.
    requests: RwLock<HashMap<String, HashMap<u16, AtomicU64>>>,
    /// Metalink requests carrying `countme=1..4` (dnf's and the critical
    /// check's weekly, identifier-free "how long has this system been
    /// counted" bucket), by bucket.
    countme: [AtomicU64; 4],
}

#[derive(Default)]
struct Inner {
    publish_buckets: [u64; BUCKETS_S.len()],
    publish_count: u64,
    publish_sum_s: f64,
    publish_failures: u64,
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

    /// Counts a `countme` query value; anything but 1..4 is ignored.
    pub fn observe_countme(&self, value: &str) {
        if let Ok(b @ 1..=4) = value.parse::<usize>() {
            self.countme[b - 1].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn observe_request(&self, route: &str, status: u16) {
        {
            let map = self.requests.read().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = map.get(route).and_then(|s| s.get(&status)) {
                c.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut map = self.requests.write().unwrap_or_else(|p| p.into_inner());
        map.entry(route.to_owned())
            .or_default()
            .entry(status)
            .or_insert_with(|| AtomicU64::new(0))
            .fetch_add(1, Ordering::Relaxed);
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
        out.push_str("# HELP hotpush_metalink_countme_total Metalink requests with countme=BUCKET (weekly, no identifier).\n");
        out.push_str("# TYPE hotpush_metalink_countme_total counter\n");
        for (i, n) in self.countme.iter().enumerate() {
            let _ = writeln!(
                out,
                "hotpush_metalink_countme_total{{bucket=\"{}\"}} {}",
                i + 1,
                n.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP hotpush_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE hotpush_http_requests_total counter\n");
        let requests: BTreeMap<(String, u16), u64> = self
            .requests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flat_map(|(route, by_status)| {
                by_status
                    .iter()
                    .map(move |(s, n)| ((route.clone(), *s), n.load(Ordering::Relaxed)))
            })
            .collect();
        for ((route, status), n) in &requests {
            let _ = writeln!(
                out,
                "hotpush_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out
    }
}
