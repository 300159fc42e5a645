//! The one accept loop of every listener (the origin's, the receiver's HTTPS
//! and plain-HTTP ones): hyper-util's connection builder with a header-read
//! timeout, an idle timeout, and a connection cap per listener that closes the
//! longest-idle connection to make room before it refuses a new one, so that a
//! flood of idle connections cannot keep the metalink from answering.
//!
//! `axum::serve` has none of these knobs; this module owns them, the
//! `ConnectInfo<SocketAddr>` of each request, graceful shutdown and raising
//! `RLIMIT_NOFILE`. It knows nothing about the routes it serves.
//!
//! With a fast lane (`io::lane`), a plain-HTTP listener is served by accept
//! threads, one per CPU, each blocking in `accept` on the listening socket
//! (the kernel wakes one per connection, and with `TCP_DEFER_ACCEPT` only once
//! the client's first bytes are there). A thread reads what has arrived
//! and, when that is a whole plain head the lane answers and the answer fits
//! the socket at once, writes it and, if the client asked to close, closes:
//! no task, no epoll registration, no hyper. Every other connection (nothing
//! read yet, a partial head, keep-alive, the rest of a large answer, a
//! request the lane leaves) is handed to the runtime, where a connection task
//! goes on with the lane until a request is not the lane's and then hands
//! hyper the connection with the bytes already read. Over TLS the lane runs in
//! the connection's task after the handshake (HTTP/1.1 only).
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tower::ServiceExt;

use crate::io::lane::Lane;

mod fast;
use fast::{serve_inline, Pending};

/// The connection limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// A request head must arrive whole within this long after the
    /// connection opens or the previous response ends (HTTP/1; also the TLS
    /// handshake's bound).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed
    /// (HTTP/1 and HTTP/2).
    pub idle_timeout: Duration,
    /// Open connections at most; at the cap the longest-idle one is closed
    /// for a new one, and a new one is refused only when none is idle.
    pub connections_max: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            connections_max: 4096,
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (each connection holds a
/// descriptor); returns the soft limit now in force.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// TLS for a listener: the handshake runs in the connection's task, bounded
/// by the header-read timeout.
pub type Tls = tokio_rustls::TlsAcceptor;

/// The crypto provider of every TLS listener: aws-lc-rs (its X25519 is about
/// twice as fast as ring's, and the key exchange is a third of a resumed
/// handshake), with the cipher suites whose hash is SHA-256 first. A profile
/// of new connections per request (BENCHMARKS.md, read path) spent 15% of the
/// server's time in SHA-512
/// blocks for the SHA-384 key schedule of `TLS13_AES_256_GCM_SHA384`; SHA-256
/// runs on the CPU's SHA extensions where present. Used with
/// [`tune_tls`], which makes the server's order count.
pub fn tls_provider() -> rustls::crypto::CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    // A stable sort: within each group the default order stays.
    provider
        .cipher_suites
        .sort_by_key(|s| format!("{:?}", s.suite()).ends_with("SHA384"));
    provider
}

/// The session-ticket encrypter of a TLS listener, from the same provider as
/// [`tls_provider`].
pub fn tls_ticketer() -> Result<Arc<dyn rustls::server::ProducesTickets>, rustls::Error> {
    rustls::crypto::aws_lc_rs::Ticketer::new()
}

/// The settings every TLS listener shares: the server's cipher-suite order
/// ([`tls_provider`]) over the client's, and one TLS 1.3 session ticket
/// after a handshake instead of rustls' two (a client uses a ticket once and
/// gets a new one with each resumption; each ticket costs a key derivation
/// and an encryption).
pub fn tune_tls(config: &mut rustls::ServerConfig) {
    config.ignore_client_order = true;
    config.send_tls13_tickets = 1;
}

/// What every connection of one listener shares.
struct Shared {
    router: Router,
    lane: Option<Lane>,
    limits: ConnLimits,
    tracker: Arc<Tracker>,
}

/// Serves `router` on `listener` until `stop` turns true, then lets the
/// requests in flight finish (the caller bounds how long it waits). With a
/// `lane`, plain GET/HEAD requests it answers skip the router (module doc).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Tls>,
    lane: Option<Lane>,
    limits: ConnLimits,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared {
        router,
        lane,
        limits,
        tracker: Arc::new(Tracker::new(limits.connections_max)),
    });
    match (&tls, &shared.lane) {
        (None, Some(lane)) => serve_inline(listener, lane.clone(), shared, stop).await,
        _ => serve_tasks(listener, tls, shared, stop).await,
    }
}

/// A task per connection, accepted by one accept task: TLS listeners, and
/// plain ones without a lane.
async fn serve_tasks(
    listener: tokio::net::TcpListener,
    tls: Option<Tls>,
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    // Dropping this set (the listener's task aborted) closes every connection.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Ok(_) = stop.wait_for(|s| *s) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let (stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) or a connection reset
                // before accept: make room and try again shortly.
                shared.tracker.evict_idle();
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(slot) = shared.tracker.admit() else {
            tracing::debug!(%remote, "connection refused: the listener is at its cap and none is idle");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        conns.spawn(async move {
            let guard = SlotGuard(slot.clone());
            let conn = Conn {
                shared: &shared,
                remote,
                slot,
                stop,
            };
            match tls {
                // Plain HTTP: HTTP/1 or HTTP/2 with prior knowledge, told
                // apart by the first bytes.
                None => conn.hyper(stream, None).await,
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        h = tokio::time::timeout(shared.limits.header_read_timeout, acceptor.accept(stream)) => h,
                        _ = conn.slot.evict.notified() => return,
                    };
                    if let Ok(Ok(stream)) = handshake {
                        // Over TLS the protocol is what ALPN settled (h2
                        // needs it, RFC 9113 3.2): nothing to sniff.
                        if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                            conn.hyper(stream, Some(true)).await;
                        } else if let Some(lane) = &shared.lane {
                            conn.lane(stream, lane, Pending::default()).await;
                        } else {
                            conn.hyper(stream, Some(false)).await;
                        }
                    }
                }
            }
            drop(guard);
        });
    }
    // Stop accepting; the connections end their requests in flight.
    drop(listener);
    while conns.join_next().await.is_some() {}
    Ok(())
}

/// One connection in its task.
struct Conn<'a> {
    shared: &'a Shared,
    remote: SocketAddr,
    slot: Arc<Slot>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Conn<'_> {
    async fn hyper<S>(self, stream: S, h2: Option<bool>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        run_conn(
            stream,
            self.remote,
            self.shared.router.clone(),
            self.shared.limits,
            self.slot,
            self.stop,
            h2,
        )
        .await;
    }
}

async fn run_conn<S>(
    stream: S,
    remote: SocketAddr,
    router: Router,
    limits: ConnLimits,
    slot: Arc<Slot>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    h2: Option<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc_slot = slot.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        let busy = Busy::start(svc_slot.clone());
        let router = router.clone();
        async move {
            let resp = router
                .oneshot(req.map(Body::new))
                .await
                .unwrap_or_else(|e| match e {});
            Ok::<_, std::convert::Infallible>(resp.map(|b| {
                Body::new(GuardedBody {
                    inner: b,
                    _busy: busy,
                })
            }))
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder = match h2 {
        None => builder,
        Some(true) => builder.http2_only(),
        Some(false) => builder.http1_only(),
    };
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        // While a request is in flight (a long download, an event stream)
        // there is nothing to time out: look again an idle period later.
        let idle_deadline = if slot.is_idle() {
            slot.idle_deadline(limits.idle_timeout)
        } else {
            Instant::now() + limits.idle_timeout
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            // Evicted to make room, or idle too long: dropping closes it.
            _ = slot.evict.notified() => return,
            _ = tokio::time::sleep_until(idle_deadline.into()), if !stopping => {
                if slot.is_idle() && slot.idle_for() >= limits.idle_timeout {
                    return;
                }
            }
            Ok(_) = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The open connections of one listener, oldest first.
struct Tracker {
    cap: usize,
    epoch: Instant,
    inner: Mutex<TrackerInner>,
}

#[derive(Default)]
struct TrackerInner {
    next_id: u64,
    open: BTreeMap<u64, Arc<Slot>>,
}

struct Slot {
    id: u64,
    tracker: std::sync::Weak<Tracker>,
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` when the last request ended (or the
    /// connection opened).
    last_active_ms: AtomicU64,
    evict: tokio::sync::Notify,
}

impl Tracker {
    fn new(cap: usize) -> Tracker {
        Tracker {
            cap: cap.max(1),
            epoch: Instant::now(),
            inner: Mutex::new(TrackerInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new connection: at the cap the longest-idle connection is
    /// closed to make room; `None` when every open connection is busy.
    fn admit(self: &Arc<Self>) -> Option<Arc<Slot>> {
        let mut inner = self.lock();
        if inner.open.len() >= self.cap && !Self::evict_one(&mut inner) {
            return None;
        }
        inner.next_id += 1;
        let slot = Arc::new(Slot {
            id: inner.next_id,
            tracker: Arc::downgrade(self),
            epoch: self.epoch,
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(self.epoch.elapsed().as_millis() as u64),
            evict: tokio::sync::Notify::new(),
        });
        inner.open.insert(slot.id, slot.clone());
        Some(slot)
    }

    fn evict_idle(&self) {
        Self::evict_one(&mut self.lock());
    }

    /// Closes the idle connection that has waited longest; false if none is idle.
    fn evict_one(inner: &mut TrackerInner) -> bool {
        let victim = inner
            .open
            .values()
            .filter(|s| s.is_idle())
            .min_by_key(|s| s.last_active_ms.load(Ordering::Relaxed))
            .map(|s| s.id);
        match victim.and_then(|id| inner.open.remove(&id)) {
            Some(slot) => {
                slot.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

impl Slot {
    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    fn idle_for(&self) -> Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)))
    }

    fn idle_deadline(&self, idle: Duration) -> Instant {
        self.epoch + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed)) + idle
    }
}

/// Removes the connection from its listener's table when its task ends.
struct SlotGuard(Arc<Slot>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(tracker) = self.0.tracker.upgrade() {
            tracker.lock().open.remove(&self.0.id);
        }
    }
}

/// One request in flight on a connection, from its head until its response
/// body is finished or dropped (a long download or an event stream is busy).
struct Busy(Arc<Slot>);

impl Busy {
    fn start(slot: Arc<Slot>) -> Busy {
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(slot)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let s = &self.0;
        s.last_active_ms
            .store(s.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        s.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight.
struct GuardedBody {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for GuardedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_suites_come_first_and_every_default_suite_stays() {
        let names = |p: &rustls::crypto::CryptoProvider| -> Vec<String> {
            p.cipher_suites
                .iter()
                .map(|s| format!("{:?}", s.suite()))
                .collect()
        };
        let ours = names(&tls_provider());
        let mut default = names(&rustls::crypto::aws_lc_rs::default_provider());
        assert_eq!(ours[0], "TLS13_AES_128_GCM_SHA256", "{ours:?}");
        let first_384 = ours.iter().position(|n| n.ends_with("SHA384")).unwrap();
        assert!(
            ours[first_384..].iter().all(|n| n.ends_with("SHA384")),
            "{ours:?}"
        );
        let mut sorted = ours.clone();
        sorted.sort();
        default.sort();
        assert_eq!(sorted, default);
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_stay() {
        let t = Arc::new(Tracker::new(2));
        let a = t.admit().unwrap();
        let b = t.admit().unwrap();
        let busy_a = Busy::start(a.clone());
        // b is idle: the third connection closes it.
        let c = t.admit().unwrap();
        assert!(!t.lock().open.contains_key(&b.id));
        assert!(t.lock().open.contains_key(&c.id));
        // a busy and c busy: nothing to close, the new one is refused.
        let busy_c = Busy::start(c.clone());
        assert!(t.admit().is_none());
        drop(busy_a);
        assert!(t.admit().is_some(), "a finished its request and is idle");
        drop(busy_c);
    }
}
