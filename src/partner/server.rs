//! Starting the receiver: binding its listeners (HTTPS for the push protocol and `/pub`, optional plain HTTP for `/pub`), the routers, TLS set-up, and the `listening` file and signals of `hotpush receive`.
use super::*;

/// Runs the receiver until SIGINT or SIGTERM.
pub fn run(settings: Settings) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(settings))?;
    Ok(ExitCode::SUCCESS)
}

/// A started receiver: every listener bound and serving, the retention sweep
/// running. Dropping it stops them.
pub struct Running {
    /// Bound addresses of the HTTPS push listeners, in `listen` order.
    pub push_addrs: Vec<SocketAddr>,
    /// Bound addresses of the plain-HTTP `/pub` listeners, in `public_listen` order.
    pub public_addrs: Vec<SocketAddr>,
    pub(super) tasks: tokio::task::JoinSet<std::io::Result<()>>,
    /// Kept so the listeners' stop signal stays open while this lives.
    pub(super) _stop: tokio::sync::watch::Sender<bool>,
}

impl Running {
    /// `push https://ADDR` and `public http://ADDR` lines, as written to `listening`.
    pub fn listening(&self) -> String {
        let mut out = String::new();
        for a in &self.push_addrs {
            out.push_str(&format!("push https://{a}\n"));
        }
        for a in &self.public_addrs {
            out.push_str(&format!("public http://{a}\n"));
        }
        out
    }

    /// Waits until a listener stops, which is an error.
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        match self.tasks.join_next().await {
            Some(ended) => {
                ended
                    .context("a listener task failed")?
                    .context("a listener stopped")?;
                anyhow::bail!("a listener stopped")
            }
            None => anyhow::bail!("the receiver has no listener"),
        }
    }
}

/// Binds every listener (port 0 picks a free one) and starts serving; returns
/// the bound addresses.
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let secret = crate::io::secret::read_bytes(&settings.secret_file, "`--secret-file`")?;
    let dirs = Dirs::create(&settings.data_dir)?;
    let tls = tls_config(&settings, &dirs)?;
    let state = load_state(&dirs.state_file)?;
    let receiver = Arc::new(Receiver {
        dirs,
        secret,
        nonces: std::sync::Mutex::new(NonceCache::default()),
        blob_bytes_max: settings.blob_bytes_max,
        retention_secs: settings.retention_secs,
        state: Arc::new(tokio::sync::Mutex::new(state)),
        read_cache: Default::default(),
        auth_limit: crate::io::auth_limit::AuthLimiter::new(BAD_AUTH_MAX, BAD_AUTH_WINDOW_SECS),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut running = Running {
        push_addrs: Vec::new(),
        public_addrs: Vec::new(),
        tasks: tokio::task::JoinSet::new(),
        _stop: stop,
    };
    crate::io::serve::raise_nofile_limit();
    let limits = settings.conn;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
    let app = router(receiver.clone());
    let lane = lane(receiver.clone());
    for addr in &settings.listen {
        let listener = tokio::net::TcpListener::from_std(bind(*addr)?)?;
        let local = listener.local_addr()?;
        tracing::info!(address = %local, "receiver listening for pushes over https");
        running.push_addrs.push(local);
        running.tasks.spawn(crate::io::serve::serve(
            listener,
            app.clone(),
            Some(acceptor.clone()),
            Some(lane.clone()),
            limits,
            stopped.clone(),
        ));
    }
    let public = public_router(receiver.clone());
    for addr in &settings.public_listen {
        let listener = tokio::net::TcpListener::from_std(bind(*addr)?)?;
        let local = listener.local_addr()?;
        tracing::info!(address = %local, "receiver serving /pub over plain http");
        running.public_addrs.push(local);
        running.tasks.spawn(crate::io::serve::serve(
            listener,
            public.clone(),
            None,
            Some(lane.clone()),
            limits,
            stopped.clone(),
        ));
    }
    let sweeper = receiver.clone();
    running.tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(SWEEP_INTERVAL_SECS));
        loop {
            tick.tick().await;
            let guard = sweeper.state.clone().lock_owned().await;
            let rx = sweeper.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let mut guard = guard;
                rx.sweep(&mut guard, now_secs());
            })
            .await;
        }
    });
    Ok(running)
}

/// Starts the receiver, writes `listening` into the data directory (for
/// whoever started the process), and serves until SIGINT or SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let data_dir = settings.data_dir.clone();
    let mut running = start(settings).await?;
    fs::write_atomic(&data_dir.join("listening"), running.listening().as_bytes())?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm.recv() => {}
        r = running.wait() => r?,
    }
    tracing::info!("receiver stopping");
    Ok(())
}

pub(super) fn bind(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        user_error(
            format!("cannot listen on `{addr}`: {e}"),
            "pick a free port, or stop the process that holds it",
        )
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// The push protocol plus the public tree, for the HTTPS listener.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route(protocol::PATH_LACKING, post(lacking))
        .route("/push/v1/blobs/{sha256}", put(upload_blob))
        .route(protocol::PATH_COMMIT, post(commit))
        .route(protocol::PATH_STATUS, get(status))
        .route(protocol::PATH_METALINK, put(put_metalink))
        // Each handler authenticates from the headers first, then reads its
        // body under its own cap (`JSON_BYTES_MAX`, `blob_bytes_max`).
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            receiver.clone(),
            limit_bad_auth,
        ))
        .with_state(receiver.clone())
        .merge(public_router(receiver))
}

/// The push protocol's limit on bad signatures per network: 429 with
/// `Retry-After` before the signature is checked or the body read, once a
/// network has had [`BAD_AUTH_MAX`] requests refused 401 in the window; the
/// 429s are logged as one line per network and window.
async fn limit_bad_auth(
    State(rx): State<Arc<Receiver>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(remote) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
    else {
        return next.run(req).await;
    };
    let network = crate::io::auth_limit::network_of(remote.ip());
    let now = now_secs();
    if let Some(retry) = rx.auth_limit.limited(&network, now) {
        let mut resp = axum::response::IntoResponse::into_response(ApiError::with_status(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many refused requests from `{network}`; try again in {retry} s"),
        ));
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, retry.into());
        return resp;
    }
    let resp = next.run(req).await;
    if resp.status() == StatusCode::UNAUTHORIZED {
        for f in rx.auth_limit.take_closed(now) {
            tracing::warn!(
                network = f.network,
                refused = f.refused,
                window_secs = f.window_secs,
                "requests refused with 429 after too many bad signatures"
            );
        }
        rx.auth_limit.refused(&network, now);
    }
    resp
}

/// The read-only `/pub` tree and metalink copies.
pub fn public_router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/pub/{*path}", get(serve_pub))
        .route("/metalink", get(get_metalink))
        .with_state(receiver)
        // A panic in a handler answers 500 with the error envelope; the
        // receiver lives on.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::io::http_error::panicked,
        ))
}

/// The TLS configuration: the configured certificate, or a self-signed one for
/// `localhost`, `::1` and `127.0.0.1` generated on first start into `tls/`.
pub(super) fn tls_config(
    settings: &Settings,
    dirs: &Dirs,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert_file, key_file) = match (&settings.tls_cert_file, &settings.tls_key_file) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => {
            let cert = dirs.tls.join("cert.pem");
            let key = dirs.tls.join("key.pem");
            if !cert.is_file() || !key.is_file() {
                let generated = rcgen::generate_simple_self_signed(vec![
                    "localhost".to_string(),
                    "::1".to_string(),
                    "127.0.0.1".to_string(),
                ])
                .context("generating a self-signed certificate")?;
                let mut options = fs_err::OpenOptions::new();
                std::os::unix::fs::OpenOptionsExt::mode(options.options_mut(), 0o600);
                let mut key_out = options.write(true).create(true).truncate(true).open(&key)?;
                key_out.write_all(generated.signing_key.serialize_pem().as_bytes())?;
                key_out.sync_all()?;
                fs::write_atomic(&cert, generated.cert.pem().as_bytes())?;
                tracing::info!(cert = %cert.display(), "generated a self-signed certificate; give it to the origin as this mirror's `ca_file`");
            }
            (cert, key)
        }
    };
    let certs = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            user_error(
                format!(
                    "cannot read the TLS certificate `{}`: {e}",
                    cert_file.display()
                ),
                "give a PEM certificate chain",
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(&key_file).map_err(|e| {
        user_error(
            format!("cannot read the TLS key `{}`: {e}", key_file.display()),
            "give the PEM private key of the certificate",
        )
    })?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(crate::io::serve::tls_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                user_error(
                    format!(
                        "the TLS certificate `{}` and key do not work together: {e}",
                        cert_file.display()
                    ),
                    "check that the key belongs to the certificate",
                )
            })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    crate::io::serve::tune_tls(&mut config);
    Ok(Arc::new(config))
}
