//! The limit on bad authentication per address: after `max` refusals from one
//! network (an IPv4 address, or an IPv6 /64) within a window, its requests are
//! answered 429 with `Retry-After` until the window ends, before any token is
//! hashed. The refusals up to the limit are audited one by one by the caller;
//! the ones past it are counted here and handed back, one record per network
//! and window, when the window has closed ([`AuthLimiter::take_closed`]), so
//! the append-only audit log gains at most `max + 1` rows per network and
//! window. Time is an input (seconds), so the rules are tested without a clock.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Networks tracked at once; past this, new networks share one bucket (`*`),
/// so a spray from many /64s is limited together and memory stays bounded.
const NETWORKS_MAX: usize = 65_536;

/// The network a refusal is counted against: the IPv4 address (also when
/// mapped into IPv6), or the /64 of an IPv6 address.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

/// Refusals past the limit in one closed window: one audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    pub network: String,
    pub window_start_secs: u64,
    pub window_secs: u64,
    pub refused: u64,
}

pub struct AuthLimiter {
    max: u32,
    window_secs: u64,
    windows: Mutex<HashMap<String, Window>>,
    /// The second of the last [`AuthLimiter::take_closed`] scan: at most one
    /// scan of the table per second, however many refusals ask for it.
    last_scan_secs: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start_secs: u64,
    /// Refusals answered 401 (each audited by the caller).
    refused: u32,
    /// Requests answered 429 (folded).
    limited: u64,
}

impl AuthLimiter {
    pub fn new(max: u32, window_secs: u64) -> AuthLimiter {
        AuthLimiter {
            max: max.max(1),
            window_secs: window_secs.max(1),
            windows: Mutex::new(HashMap::new()),
            last_scan_secs: std::sync::atomic::AtomicU64::new(u64::MAX),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn key<'a>(&self, map: &HashMap<String, Window>, network: &'a str) -> &'a str {
        if map.len() >= NETWORKS_MAX && !map.contains_key(network) {
            "*"
        } else {
            network
        }
    }

    /// Seconds until `network` may try again, when it is over the limit; the
    /// request is then counted as refused (folded). `None`: go on and check
    /// the token.
    pub fn limited(&self, network: &str, now_secs: u64) -> Option<u64> {
        let mut map = self.lock();
        let key = self.key(&map, network).to_owned();
        let w = map.get_mut(&key)?;
        if now_secs >= w.start_secs + self.window_secs || w.refused < self.max {
            return None;
        }
        w.limited += 1;
        Some((w.start_secs + self.window_secs - now_secs).max(1))
    }

    /// Seconds left of the window of `network` (at least 1), for `Retry-After`.
    pub fn retry_after_secs(&self, network: &str, now_secs: u64) -> u64 {
        let map = self.lock();
        let key = self.key(&map, network);
        map.get(key)
            .map(|w| (w.start_secs + self.window_secs).saturating_sub(now_secs))
            .unwrap_or(self.window_secs)
            .max(1)
    }

    /// Counts one refused authentication (answered 401, audited by the caller).
    pub fn refused(&self, network: &str, now_secs: u64) {
        let mut map = self.lock();
        if map.len() >= NETWORKS_MAX {
            let window = self.window_secs;
            map.retain(|_, w| now_secs < w.start_secs + window || w.limited > 0);
        }
        let key = self.key(&map, network).to_owned();
        let window = self.window_secs;
        let w = map.entry(key).or_insert(Window {
            start_secs: now_secs,
            refused: 0,
            limited: 0,
        });
        if now_secs >= w.start_secs + window {
            // A new window; what the old one folded is taken by take_closed
            // first when it matters (the caller flushes before counting).
            if w.limited == 0 {
                *w = Window {
                    start_secs: now_secs,
                    refused: 0,
                    limited: 0,
                };
            }
        }
        w.refused = w.refused.saturating_add(1);
    }

    /// Every window that folded refusals, open or closed, as one record each,
    /// and forgets them: at shutdown, so a window still open is not lost.
    pub fn take_all(&self) -> Vec<Folded> {
        let mut map = self.lock();
        let window = self.window_secs;
        let mut out: Vec<Folded> = map
            .iter()
            .filter(|(_, w)| w.limited > 0)
            .map(|(network, w)| Folded {
                network: network.clone(),
                window_start_secs: w.start_secs,
                window_secs: window,
                refused: w.limited,
            })
            .collect();
        map.clear();
        out.sort_by(|a, b| a.network.cmp(&b.network));
        out
    }

    /// The windows that have closed: those that folded refusals become one
    /// record each; every closed window is forgotten.
    pub fn take_closed(&self, now_secs: u64) -> Vec<Folded> {
        use std::sync::atomic::Ordering;
        if self.last_scan_secs.swap(now_secs, Ordering::Relaxed) == now_secs {
            return Vec::new();
        }
        let mut map = self.lock();
        let mut out = Vec::new();
        let window = self.window_secs;
        map.retain(|network, w| {
            if now_secs < w.start_secs + window {
                return true;
            }
            if w.limited > 0 {
                out.push(Folded {
                    network: network.clone(),
                    window_start_secs: w.start_secs,
                    window_secs: window,
                    refused: w.limited,
                });
            }
            false
        });
        out.sort_by(|a, b| a.network.cmp(&b.network));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_ipv4_addresses_and_ipv6_slash_64s() {
        let n = |s: &str| network_of(s.parse().unwrap());
        assert_eq!(n("192.0.2.7"), "192.0.2.7");
        assert_eq!(n("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(n("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(n("2001:db8:1:2:bbbb::9"), n("2001:db8:1:2::1"));
        assert_ne!(n("2001:db8:1:3::1"), n("2001:db8:1:2::1"));
    }

    #[test]
    fn past_the_limit_requests_are_refused_until_the_window_ends_and_folded_once() {
        let l = AuthLimiter::new(3, 60);
        let net = "2001:db8::/64";
        for _ in 0..3 {
            assert_eq!(l.limited(net, 100), None);
            l.refused(net, 100);
        }
        assert_eq!(l.limited(net, 110), Some(50));
        assert_eq!(l.limited(net, 159), Some(1));
        assert_eq!(l.limited("192.0.2.1", 110), None, "others are not limited");
        assert!(l.take_closed(159).is_empty(), "the window is still open");
        assert_eq!(l.limited(net, 160), None, "the window has ended");
        assert_eq!(
            l.take_closed(160),
            vec![Folded {
                network: net.into(),
                window_start_secs: 100,
                window_secs: 60,
                refused: 2
            }]
        );
        assert!(l.take_closed(1000).is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let l = AuthLimiter::new(1, 60);
        for i in 0..(NETWORKS_MAX as u32 + 10) {
            l.refused(&format!("n{i}"), 0);
        }
        assert!(l.lock().len() <= NETWORKS_MAX + 1);
        // The overflow bucket is limited together.
        assert!(l.limited("someone-new", 1).is_some());
    }
}
