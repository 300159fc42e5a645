//! HTTPS at the origin (`[tls]` in `hotpush.toml`): rustls with the ring
//! provider, HTTP/1.1 and h2 by ALPN, session resumption (stateless tickets
//! and a server-side session cache), and a certificate that is re-read when
//! its files change on disk (checked at most every [`RELOAD_CHECK_INTERVAL`]),
//! so a renewed certificate is served without a restart.
//!
//! [`wrap`] turns one accepted `TcpStream` into a TLS stream (the handshake,
//! bounded by [`HANDSHAKE_TIMEOUT`]); [`TlsListener`] runs handshakes in their
//! own tasks, so a slow client never holds up the others, and hands finished
//! connections to `axum::serve`. Plain HTTP on the top-level `listen` stays
//! as it is.
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::logging::user_error;
use crate::origin::config::TlsConfig;

/// The longest a TLS handshake may take before the connection is closed.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often, at most, the certificate files are looked at for a change.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// Handshakes running at once per listener; more connections wait in the backlog.
const HANDSHAKES_IN_FLIGHT_MAX: usize = 1024;
/// Sessions the server-side resumption cache keeps.
const SESSION_CACHE_ENTRIES: usize = 16 * 1024;

/// Which version of the two files is loaded.
type Stamp = [(Option<SystemTime>, u64); 2];

/// The certificate and key from their files, re-read when either changes.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    state: Mutex<CertState>,
}

#[derive(Debug)]
struct CertState {
    key: Arc<CertifiedKey>,
    stamp: Stamp,
    checked: Instant,
}

impl ReloadingCert {
    /// Loads both files; an error names the file and what is wrong with it.
    pub fn load(cert_file: &Path, key_file: &Path) -> anyhow::Result<ReloadingCert> {
        let stamp = stamp_of(cert_file, key_file);
        let key = load_certified_key(cert_file, key_file)?;
        Ok(ReloadingCert {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            state: Mutex::new(CertState {
                key: Arc::new(key),
                stamp,
                checked: Instant::now(),
            }),
        })
    }

    /// The certificate to present now; re-reads the files when they changed
    /// (a pair that does not load, e.g. half written, keeps the previous one
    /// and is tried again at the files' next change).
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.checked.elapsed() >= RELOAD_CHECK_INTERVAL {
            state.checked = Instant::now();
            let stamp = stamp_of(&self.cert_file, &self.key_file);
            if stamp != state.stamp {
                state.stamp = stamp;
                match load_certified_key(&self.cert_file, &self.key_file) {
                    Ok(key) => {
                        state.key = Arc::new(key);
                        tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate reloaded");
                    }
                    Err(e) => tracing::warn!(
                        error = format!("{e:#}"),
                        "TLS certificate not reloaded; still serving the previous one"
                    ),
                }
            }
        }
        state.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn stamp_of(cert_file: &Path, key_file: &Path) -> Stamp {
    let one = |p: &Path| match fs_err::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    };
    [one(cert_file), one(key_file)]
}

fn load_certified_key(cert_file: &Path, key_file: &Path) -> anyhow::Result<CertifiedKey> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let hint =
        "point `[tls] cert_file` and `key_file` at the PEM certificate chain and its private key";
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| {
            user_error(
                format!(
                    "cannot read the TLS certificate `{}`: {e}",
                    cert_file.display()
                ),
                hint,
            )
        })?;
    if certs.is_empty() {
        return Err(user_error(
            format!(
                "`{}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
                cert_file.display()
            ),
            hint,
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
        user_error(
            format!(
                "cannot read the TLS private key `{}`: {e}",
                key_file.display()
            ),
            hint,
        )
    })?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| {
        user_error(
            format!(
                "the TLS private key `{}` is not usable: {e}",
                key_file.display()
            ),
            "use an RSA, ECDSA (P-256/P-384) or Ed25519 key",
        )
    })?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(|e| {
        user_error(
            format!(
                "the TLS key `{}` does not belong to the certificate `{}`: {e}",
                key_file.display(),
                cert_file.display()
            ),
            "install the key the certificate was issued for",
        )
    })?;
    Ok(certified)
}

/// The acceptor for `[tls]`: the reloading certificate, TLS 1.2 and 1.3,
/// ALPN h2 and http/1.1, session tickets and a session cache.
pub fn acceptor(tls: &TlsConfig) -> anyhow::Result<TlsAcceptor> {
    let resolver = Arc::new(ReloadingCert::load(&tls.cert_file, &tls.key_file)?);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ticketer = rustls::crypto::ring::Ticketer::new().context("TLS session tickets")?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The TLS handshake on one accepted connection, bounded by [`HANDSHAKE_TIMEOUT`].
pub async fn wrap(acceptor: &TlsAcceptor, stream: TcpStream) -> io::Result<TlsStream<TcpStream>> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

/// A listener whose connections have finished their handshake.
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `tcp` and runs each handshake in its own task (at most
    /// [`HANDSHAKES_IN_FLIGHT_MAX`] at once).
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(HANDSHAKES_IN_FLIGHT_MAX);
        let slots = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES_IN_FLIGHT_MAX));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (stream, remote) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly.
                        tracing::debug!(error = %e, "accepting a TLS connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, ready_tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match wrap(&acceptor, stream).await {
                        Ok(tls) => {
                            drop(slot);
                            let _ = ready_tx.send((tls, remote)).await;
                        }
                        Err(e) => {
                            tracing::debug!(remote = %remote, error = %e, "TLS handshake failed")
                        }
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(TlsListener {
            ready,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task ended (only when the listener is going away).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The HTTPS listeners of `[tls]`, bound and with their acceptor loaded,
/// before anything else of the origin starts.
pub struct Prepared {
    listeners: Vec<TcpListener>,
    acceptor: TlsAcceptor,
}

impl Prepared {
    /// Loads the certificate and binds every `[tls] listen` address.
    pub async fn new(tls: &TlsConfig) -> anyhow::Result<Prepared> {
        let acceptor = acceptor(tls)?;
        let mut listeners = Vec::new();
        for addr in &tls.listen {
            listeners.push(TcpListener::bind(addr).await.map_err(|e| {
                user_error(
                    format!("cannot listen for HTTPS on `{addr}`: {e}"),
                    "pick a free address with `[tls] listen`, or stop the process that holds it",
                )
            })?);
        }
        Ok(Prepared {
            listeners,
            acceptor,
        })
    }

    /// Serves `router` over HTTPS on every listener until `stopped` turns true.
    pub fn spawn(
        self,
        router: &axum::Router,
        stopped: &tokio::sync::watch::Receiver<bool>,
        servers: &mut tokio::task::JoinSet<io::Result<()>>,
    ) -> io::Result<()> {
        for tcp in self.listeners {
            tracing::info!(listen = %tcp.local_addr()?, "origin listening for HTTPS");
            let listener = TlsListener::new(tcp, self.acceptor.clone())?.tap_io(|_| {});
            let svc = router
                .clone()
                .into_make_service_with_connect_info::<SocketAddr>();
            let mut stopped = stopped.clone();
            servers.spawn(async move {
                axum::serve(listener, svc)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await
            });
        }
        Ok(())
    }
}
