//! The origin's HTTP surface: `router(app)` wires the `/pub` tree, the metalink,
//! the repo key, `/api/v1` (with the build-system trigger), `/metrics` and the dashboard,
//! and the fast lane of the read path (`pubtree::lane`). Handlers do I/O only
//! through `App` (store, tree, served snapshot).
pub mod access;
pub mod api;
pub mod dashboard;
pub mod intake;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod pubtree;
pub mod trigger;
pub mod views;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::origin::app::App;

/// The whole router for the origin.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/pub/{*path}", get(pubtree::serve_pub))
        .route("/metalink", get(pubtree::metalink))
        .route("/keys/repo.asc", get(pubtree::repo_key))
        .route("/keys/packages.asc", get(pubtree::package_keys))
        .route("/api/v1/status", get(api::status))
        .route(
            "/api/v1/pushes",
            get(api::list_pushes).post(api::create_push),
        )
        .route("/api/v1/pushes/{id}", get(api::get_push))
        .route(
            "/api/v1/pushes/{id}/packages/{file}",
            put(api::upload_package),
        )
        .route("/api/v1/pushes/{id}/submit", post(api::submit_push))
        .route("/api/v1/pushes/{id}/cancel", post(api::cancel_push))
        .route("/api/v1/pushes/{id}/approve", post(api::approve_push))
        .route("/api/v1/advisories", get(api::list_advisories))
        .route("/api/v1/advisories/{id}", get(api::get_advisory))
        .route("/api/v1/advisories/{id}/retire", post(api::retire))
        .route(
            "/api/v1/check-hold",
            get(api::get_check_hold).put(api::put_check_hold),
        )
        .route(
            "/api/v1/keys",
            get(keys::list_keys)
                .post(keys::add_key)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::io::keys::KEY_FILE_BYTES_MAX as usize + 4096,
                )),
        )
        .route("/api/v1/keys/{fingerprint}", delete(keys::remove_key))
        // The trigger reads its body itself, under its own `body_bytes_max`.
        .route("/api/v1/triggers/{name}", post(trigger::receive))
        .route("/api/v1/repo-key", get(keys::repo_keys))
        .route("/api/v1/repo-key/next", post(keys::prepare_next_repo_key))
        .route("/api/v1/repo-key/switch", post(keys::switch_repo_key))
        .route("/api/v1/repo-key/retire", post(keys::retire_repo_key))
        .route("/api/v1/audit", get(api::audit))
        .route("/api/v1/activity", get(api::activity))
        .route("/api/v1/webhooks/deliveries", get(api::webhook_deliveries))
        .route("/api/v1/webhooks/summary", get(webhooks::summary))
        .route("/api/v1/events", get(api::events))
        .route("/metrics", get(metrics_handler))
        .route("/api/v1/pushes/{id}/checklist", get(api::push_checklist))
        .route(
            "/api/v1/advisories/{id}/announcement",
            get(api::announcement),
        )
        .route(
            "/api/v1/advisories/{id}/announcement/send",
            post(api::send_announcement),
        )
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/", get(dashboard::index))
        .route("/advisory/{id}", get(dashboard::advisory_page))
        .route("/assets/{file}", get(dashboard::asset))
        .layer(middleware::from_fn_with_state(app.clone(), limit_bad_auth))
        .layer(middleware::from_fn_with_state(app.clone(), count_requests))
        // JSON bodies are small; the package upload streams its body itself
        // under `intake.package_bytes_max` (a raw `Body` is not limited here).
        .layer(axum::extract::DefaultBodyLimit::max(
            app.config.server.json_body_bytes_max,
        ))
        // A panic in a handler answers 500 with the error envelope; the
        // process and its other connections live on.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::io::http_error::panicked,
        ))
        .with_state(app)
}

/// Answers 429 at once, before the body is read or a token hashed, to a
/// network over the bad-authentication limit when the request would need a
/// token; and gives every 429 its `Retry-After`.
async fn limit_bad_auth(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let ext = req.extensions();
    let remote = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| {
            ext.get::<axum::extract::connect_info::MockConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0)
        });
    let Some(remote) = remote else {
        return next.run(req).await;
    };
    let network = crate::io::auth_limit::network_of(remote.ip());
    let needs_token = req.uri().path().starts_with("/api/")
        && (req.method() != axum::http::Method::GET
            || req
                .headers()
                .contains_key(axum::http::header::AUTHORIZATION));
    let now_secs = crate::origin::store::now_ms().max(0) as u64 / 1000;
    let mut resp = if needs_token {
        match app.auth_limit.limited(&network, now_secs) {
            Some(retry) => api::rate_limited(&network, retry).into_response(),
            None => next.run(req).await,
        }
    } else {
        next.run(req).await
    };
    if resp.status() == axum::http::StatusCode::TOO_MANY_REQUESTS
        && !resp.headers().contains_key(axum::http::header::RETRY_AFTER)
    {
        let retry = app.auth_limit.retry_after_secs(&network, now_secs);
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, retry.into());
    }
    resp
}

async fn metrics_handler(State(app): State<Arc<App>>) -> Response {
    let depth = app.store.queue_depth().unwrap_or(-1);
    let lags: Vec<(String, String, f64)> = api::mirror_views(&app)
        .map(|v| {
            v.into_iter()
                .map(|m| (m.name, m.repo, m.lag_ms.unwrap_or(0) as f64 / 1000.0))
                .collect()
        })
        .unwrap_or_default();
    (
        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        app.metrics.render(depth, &lags),
    )
        .into_response()
}

async fn count_requests(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let resp = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", |p| p.as_str());
    app.metrics.observe_request(route, resp.status().as_u16());
    resp
}
