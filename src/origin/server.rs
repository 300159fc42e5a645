//! The origin's start-up: assemble it from a validated configuration, restore
//! what was being served before a restart, start the publisher, the fan-out and
//! the listeners.
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
    let key = app::load_or_create_key(&config.data_dir)?;
    let policy = app::signature_policy(&config)?;
    let (events, _) = tokio::sync::broadcast::channel(1024);
    let repo_list = app::repos_of(&config);
    let repo_paths = repo_list.iter().map(|r| r.path()).collect();
    let app = Arc::new(App {
        config,
        store,
        key,
        tree,
        policy,
        mirrors,
        served: Default::default(),
        records: Default::default(),
        wake: Default::default(),
        events,
        metrics: Default::default(),
        fanout_lock: Default::default(),
        fanout_wake: Default::default(),
        repo_list,
        repo_paths,
        check_hold_until_secs: Default::default(),
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
/// repomd.xml whose .asc does not match (a crash between the two renames) is
/// signed again.
fn restore_served(app: &App) -> anyhow::Result<()> {
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
        let asc = if crate::core::signing::verify_detached(&app.key.armored_public(), &repomd, &asc)
            .is_ok()
        {
            asc
        } else {
            tracing::warn!(
                repo = repo.path(),
                "repomd.xml.asc does not sign repomd.xml; signing again"
            );
            let asc = app.key.sign_detached(&repomd)?;
            crate::origin::publish::write_atomic(&dir.join("repomd.xml.asc"), asc.as_bytes())?;
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
    Ok(())
}

pub async fn serve(
    config: Config,
    mirrors: Vec<crate::origin::mirrors::Mirror>,
) -> anyhow::Result<()> {
    let listen = config.listen.clone();
    let app = tokio::task::spawn_blocking(move || open_app(config, mirrors)).await??;
    if app.store.count_tokens()? == 0 {
        let token = auth::new_token();
        app.store
            .add_token("admin", auth::ADMIN_GROUP, &auth::token_digest(&token))?;
        eprintln!(
            "hotpush: first start; admin token (shown once, keep it): {token}\n\
             hint: issue push tokens with `hotpush token create --data-dir {} --user NAME --group {}`",
            app.config.data_dir.display(),
            app.config.auth.push_group
        );
    }
    tokio::spawn(crate::origin::jobs::worker(app.clone()));
    crate::origin::sync::worker::spawn_fanout_worker(app.clone());
    crate::origin::sync::worker::spawn_catch_up(app.clone());
    crate::origin::retirement::spawn(app.clone());
    let router = crate::origin::http::router(app.clone());
    let mut tasks = Vec::new();
    for addr in &listen {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            user_error(
                format!("cannot listen on `{addr}`: {e}"),
                "pick a free address with `--listen`",
            )
        })?;
        tracing::info!(listen = %addr, public_url = app.config.public_url, "origin listening");
        let svc = router
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>();
        tasks.push(tokio::spawn(async move {
            axum::serve(listener, svc)
                .with_graceful_shutdown(shutdown_signal())
                .await
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
