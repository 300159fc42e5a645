//! The origin's start-up, the one used by `hotpush serve`, `hotpush demo` and
//! in-process tests: bind the listeners (learning the real addresses), assemble
//! the origin from a validated configuration, restore what was being served
//! before a restart, and start the publisher, the partner fan-out and catch-up,
//! the retirement watcher, the trigger's fetch worker and the HTTP listeners.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::logging::user_error;
use crate::origin::app::{self, App, Served};
use crate::origin::auth;
use crate::origin::config::Config;
use crate::origin::jobs::PRIORITY_ROUTINE;
use crate::origin::publish::Tree;
use crate::origin::store::Store;

/// The state database inside the data directory.
pub fn state_db(data_dir: &Path) -> PathBuf {
    data_dir.join("state.sqlite")
}

/// Builds the origin's state: directories, store, key, restored snapshot.
pub fn open_app(
    config: Config,
    mirrors: Vec<crate::origin::mirrors::Mirror>,
) -> anyhow::Result<Arc<App>> {
    fs_err::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory `{}`",
            config.data_dir.display()
        )
    })?;
    let tree = Tree::new(&config.data_dir);
    tree.create_dirs()?;
    let store = Store::open(&state_db(&config.data_dir))?;
    let repo_keys = crate::origin::repo_keys::load_or_create(&config.data_dir)?;
    let trusted = crate::origin::keys::load(&config)?;
    let (events, _) = tokio::sync::broadcast::channel(1024);
    let repo_list = app::repos_of(&config);
    let config_server = config.server.clone();
    let repo_paths = repo_list.iter().map(|r| r.path()).collect();
    let app = Arc::new(App {
        config,
        store,
        repo_keys: std::sync::RwLock::new(Arc::new(repo_keys)),
        publish_lock: Default::default(),
        tree,
        trusted: std::sync::RwLock::new(Arc::new(trusted)),
        keys_lock: Default::default(),
        mirrors,
        served: Default::default(),
        records: Default::default(),
        wake: Default::default(),
        trigger_wake: Default::default(),
        events,
        metrics: Default::default(),
        fanout_lock: Default::default(),
        fanout_wake: Default::default(),
        repo_list,
        repo_paths,
        check_hold_until_secs: Default::default(),
        health: Default::default(),
        pub_cache: Default::default(),
        auth_limit: crate::io::auth_limit::AuthLimiter::new(
            config_server.bad_auth_max,
            config_server.bad_auth_window_secs,
        ),
    });
    restore_served(&app)?;
    let requeued = app.store.requeue_interrupted()?;
    if requeued > 0 {
        tracing::warn!(
            requeued,
            "jobs interrupted by a restart go back to the queue"
        );
    }
    // Reconcile on every start: publishes empty repos the first time, and
    // anything accepted but not yet live after a crash.
    app.store
        .enqueue_job("publish", PRIORITY_ROUTINE, "reconcile at start")?;
    Ok(app)
}

/// Reloads what each repository served before the restart from the tree; a
/// repomd.xml whose .asc does not match (a crash between the two renames, or
/// a repo key changed while the origin was down) is signed again, and then
/// every partner is marked unverified: it serves the old .asc until the
/// fan-out pushes the new one, so no metalink lists it before that.
fn restore_served(app: &App) -> anyhow::Result<()> {
    let mut resigned = false;
    for repo in app.repos() {
        let dir = app.tree.repo_dir(&repo).join("repodata");
        let Ok(repomd) = fs_err::read(dir.join("repomd.xml")) else {
            continue;
        };
        if crate::origin::publish::check_index(&app.tree.repo_dir(&repo), &repomd).is_err() {
            tracing::warn!(
                repo = repo.path(),
                "the repomd.xml on disk is not consistent; it will be republished"
            );
            continue;
        }
        let asc = fs_err::read_to_string(dir.join("repomd.xml.asc")).unwrap_or_default();
        let key = app.repo_key();
        let asc = if crate::core::signing::verify_detached(&key.armored_public(), &repomd, &asc)
            .is_ok()
        {
            asc
        } else {
            tracing::warn!(
                repo = repo.path(),
                "repomd.xml.asc does not sign repomd.xml; signing again"
            );
            let asc = key.sign_detached(&repomd)?;
            crate::io::fs::write_atomic(&dir.join("repomd.xml.asc"), asc.as_bytes())?;
            resigned = true;
            asc
        };
        let cur = app.store.current_revision(&repo.path())?;
        let revision = cur.as_ref().map(|c| c.revision).unwrap_or(0);
        let verified = crate::origin::sync::worker::verified_partners(app, &repo, revision)?;
        app.set_served(
            &repo.path(),
            Served {
                revision,
                metalink: crate::origin::sync::worker::metalink_body(
                    app, &repo, &repomd, revision, &verified,
                ),
                repomd: repomd.into(),
                asc: asc.into_bytes().into(),
                published_at_ms: cur.map(|c| c.published_at_ms).unwrap_or(0),
            },
        );
    }
    if resigned && app.store.mark_partners_unverified()? > 0 {
        for repo in app.repos() {
            let Some(cur) = app.served(&repo.path()) else {
                continue;
            };
            let metalink = crate::origin::sync::worker::metalink_body(
                app,
                &repo,
                &cur.repomd,
                cur.revision,
                &[],
            );
            app.set_served(
                &repo.path(),
                Served {
                    metalink,
                    ..(*cur).clone()
                },
            );
        }
    }
    Ok(())
}

/// How long a shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The origin's listeners, bound before anything else starts so that the
/// caller learns the real addresses (port 0 picks a free port) and may put them
/// into the configuration, e.g. as `public_url`.
pub struct Listeners {
    listeners: Vec<tokio::net::TcpListener>,
    addrs: Vec<SocketAddr>,
}

impl Listeners {
    /// Binds every address, in order.
    pub async fn bind(addrs: &[SocketAddr]) -> anyhow::Result<Listeners> {
        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for addr in addrs {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                user_error(
                    format!("cannot listen on `{addr}`: {e}"),
                    "pick a free address with `--listen`, or stop the process that holds it",
                )
            })?;
            bound.push(listener.local_addr()?);
            listeners.push(listener);
        }
        Ok(Listeners {
            listeners,
            addrs: bound,
        })
    }

    /// The bound addresses, in the order given to [`Listeners::bind`].
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
}

/// A started origin: listeners serving, and the publisher, partner fan-out,
/// catch-up and retirement watcher running. [`Running::shutdown`] (or the end
/// of [`Running::serve_until`]) stops it; dropping it stops it at once.
pub struct Running {
    /// The bound addresses, in `config.listen` order.
    pub addrs: Vec<SocketAddr>,
    pub app: Arc<App>,
    stop: tokio::sync::watch::Sender<bool>,
    servers: tokio::task::JoinSet<std::io::Result<()>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Serves until `stop` resolves, then shuts down. A listener that stops on
    /// its own is an error.
    pub async fn serve_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let failed = tokio::select! {
            _ = stop => None,
            ended = self.servers.join_next() => Some(match ended {
                Some(Ok(Ok(()))) => anyhow::anyhow!("a listener stopped"),
                Some(Ok(Err(e))) => anyhow::Error::new(e).context("a listener failed"),
                Some(Err(e)) => anyhow::Error::new(e).context("a listener task failed"),
                None => anyhow::anyhow!("the origin has no listener"),
            }),
        };
        self.shutdown().await?;
        failed.map_or(Ok(()), Err)
    }

    /// Stops the background workers and lets the listeners finish the requests
    /// in flight, for at most [`SHUTDOWN_GRACE`] (a dashboard's event stream
    /// never finishes by itself).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        for w in &self.workers {
            w.abort();
        }
        let _ = self.stop.send(true);
        let drained = self.drain().await;
        // The 429s folded in a window still open would otherwise be lost.
        if let Err(e) = self.app.flush_auth_audit_all() {
            tracing::warn!(error = format!("{e:#}"), "cannot audit the folded 429s");
        }
        drained
    }

    async fn drain(&mut self) -> anyhow::Result<()> {
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(ended) = self.servers.join_next().await {
                ended.context("a listener task failed")??;
            }
            anyhow::Ok(())
        })
        .await;
        match drained {
            Ok(r) => r,
            Err(_) => {
                tracing::info!(
                    grace_secs = SHUTDOWN_GRACE.as_secs(),
                    "closing the connections still open"
                );
                self.servers.abort_all();
                // An aborted task drops its listener only when it is polled
                // again: wait for that, so the ports are free on return.
                while self.servers.join_next().await.is_some() {}
                Ok(())
            }
        }
    }
}

impl Drop for Running {
    /// Dropped without [`Running::shutdown`] (e.g. on an error): the listeners
    /// stop with their task set, the workers here.
    fn drop(&mut self) {
        for w in &self.workers {
            w.abort();
        }
    }
}

/// Binds `config.listen` and starts the origin on it.
pub async fn start(
    config: Config,
    mirrors: Vec<crate::origin::mirrors::Mirror>,
) -> anyhow::Result<Running> {
    let listeners = Listeners::bind(&config.listen).await?;
    start_on(config, mirrors, listeners).await
}

/// Starts the origin on listeners bound beforehand: opens its state (restoring
/// what it served before), then starts the publisher, the partner fan-out
/// worker and catch-up, the retirement watcher and the HTTP listeners. The one
/// start used by `hotpush serve` and `hotpush demo`.
pub async fn start_on(
    config: Config,
    mirrors: Vec<crate::origin::mirrors::Mirror>,
    listeners: Listeners,
) -> anyhow::Result<Running> {
    let tls = match &config.tls {
        Some(tls) => Some(crate::origin::tls::Prepared::new(tls).await?),
        None => None,
    };
    let app = tokio::task::spawn_blocking(move || open_app(config, mirrors)).await??;
    let mut workers = vec![tokio::spawn(crate::origin::jobs::worker(app.clone()))];
    workers.extend(crate::origin::sync::worker::spawn_fanout_worker(
        app.clone(),
    ));
    workers.extend(crate::origin::sync::worker::spawn_catch_up(app.clone()));
    workers.extend(crate::origin::sync::spread::spawn_probes(app.clone()));
    workers.extend(crate::origin::retirement::spawn(app.clone()));
    workers.extend(crate::origin::webhooks::spawn(app.clone())?);
    workers.extend(crate::origin::trigger::spawn(app.clone())?);
    // Folds the requests refused past the bad-authentication limit into one
    // audit row per network once their window has closed.
    let flusher = app.clone();
    workers.push(tokio::spawn(async move {
        let period = std::time::Duration::from_secs(flusher.config.server.bad_auth_window_secs);
        let mut tick = tokio::time::interval(period.min(std::time::Duration::from_secs(60)));
        loop {
            tick.tick().await;
            let now_secs = crate::origin::store::now_ms().max(0) as u64 / 1000;
            if let Err(e) = flusher.flush_auth_audit(now_secs) {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cannot write the folded audit rows yet"
                );
            }
        }
    }));
    let nofile = crate::io::serve::raise_nofile_limit();
    let limits = app.config.server.conn_limits();
    tracing::debug!(nofile, ?limits, "connection limits");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let router = crate::origin::http::router(app.clone());
    let lane = crate::origin::http::pubtree::lane(app.clone());
    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners.listeners {
        tracing::info!(listen = %listener.local_addr()?, public_url = app.config.public_url, "origin listening");
        servers.spawn(crate::io::serve::serve(
            listener,
            router.clone(),
            None,
            Some(lane.clone()),
            limits,
            stopped.clone(),
        ));
    }
    if let Some(tls) = tls {
        tls.spawn(&router, &lane, limits, &stopped, &mut servers)?;
    }
    Ok(Running {
        addrs: listeners.addrs,
        app,
        stop,
        servers,
        workers,
    })
}

/// On a first start (no token at all), issues an admin token and prints it on
/// stderr, once.
pub fn issue_first_admin_token(app: &App) -> anyhow::Result<()> {
    if app.store.count_tokens()? > 0 {
        return Ok(());
    }
    let token = auth::new_token();
    app.store
        .add_token("admin", auth::ADMIN_GROUP, &auth::token_digest(&token))?;
    eprintln!(
        "hotpush: first start; admin token (shown once, keep it): {token}\n\
         hint: issue push tokens with `hotpush token create --data-dir {} --user NAME --group {}`",
        app.config.data_dir.display(),
        app.config.auth.push_group
    );
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
