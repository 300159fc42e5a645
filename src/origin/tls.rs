//! HTTPS at the origin (`[tls]` in `hotpush.toml`): rustls with the ring
//! provider, HTTP/1.1 and h2 by ALPN, session resumption (stateless tickets
//! and a server-side session cache), and a certificate that is re-read when
//! its files change on disk (checked at most every [`RELOAD_CHECK_INTERVAL`]),
//! so a renewed certificate is served without a restart.
//!
//! [`Prepared::spawn`] serves the `[tls]` listeners through `io::serve`, the
//! accept loop plain HTTP uses (header-read and idle timeouts, the connection
//! cap); each handshake runs in its connection's task, bounded by the
//! header-read timeout, so a slow client never holds up the others. Plain
//! HTTP on the top-level `listen` stays as it is.
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::logging::user_error;
use crate::origin::config::TlsConfig;

/// How often, at most, the certificate files are looked at for a change.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(2);
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
    let signing = crate::io::serve::tls_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| {
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
/// ALPN h2 and http/1.1, session tickets (one per handshake) and a session
/// cache, the SHA-256 cipher suites first (`io::serve::tune_tls`).
pub fn acceptor(tls: &TlsConfig) -> anyhow::Result<TlsAcceptor> {
    let resolver = Arc::new(ReloadingCert::load(&tls.cert_file, &tls.key_file)?);
    let provider = Arc::new(crate::io::serve::tls_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    crate::io::serve::tune_tls(&mut config);
    config.ticketer = crate::io::serve::tls_ticketer().context("TLS session tickets")?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
    Ok(TlsAcceptor::from(Arc::new(config)))
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
        lane: &crate::io::lane::Lane,
        limits: crate::io::serve::ConnLimits,
        stopped: &tokio::sync::watch::Receiver<bool>,
        servers: &mut tokio::task::JoinSet<io::Result<()>>,
    ) -> io::Result<()> {
        // The same accept loop as plain HTTP (`io::serve`): header-read and
        // idle timeouts, the connection cap; each handshake runs in its
        // connection's task, bounded by the header-read timeout.
        for tcp in self.listeners {
            tracing::info!(listen = %tcp.local_addr()?, "origin listening for HTTPS");
            servers.spawn(crate::io::serve::serve(
                tcp,
                router.clone(),
                Some(self.acceptor.clone()),
                Some(lane.clone()),
                limits,
                stopped.clone(),
            ));
        }
        Ok(())
    }
}
