//! `/api/v1/keys`: the trusted package-signing keys of the running origin,
//! listed by anyone (they are public, as `/keys/packages.asc` is), added and
//! removed by the admin group, audited, without a restart (`origin::keys`
//! stores and reloads them; `App` swaps the new set in).
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use crate::core::api::{
    ErrorEnvelope, NewTrustedKey, TrustedKeyView, TrustedKeysChange, TrustedKeysView,
};
use crate::io::http_error::ApiError;
use crate::origin::app::App;
use crate::origin::auth::ADMIN_GROUP;
use crate::origin::keys::{KeyChangeError, TrustedSet};

fn view(app: &App, set: &TrustedSet) -> TrustedKeysView {
    TrustedKeysView {
        signatures_required: app.config.intake.require_signed_packages,
        keys: set
            .keys
            .iter()
            .map(|k| TrustedKeyView {
                fingerprint: k.fingerprint.clone(),
                key_id: k.fingerprint[k.fingerprint.len().saturating_sub(16)..].to_owned(),
                user_ids: k.user_ids.clone(),
                source: k.source.kind().to_owned(),
            })
            .collect(),
    }
}

fn refusal(
    app: &App,
    user: &str,
    action: &str,
    target: &str,
    remote: &SocketAddr,
    e: KeyChangeError,
) -> ApiError {
    let _ = app.store.audit(
        user,
        action,
        target,
        false,
        &e.to_string(),
        &remote.ip().to_string(),
    );
    match e {
        KeyChangeError::Invalid { message, hint } => {
            ApiError::unprocessable("bad_key", message, hint)
        }
        KeyChangeError::NotFound(_) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            e.to_string(),
            "`hotpush keys list` shows the trusted keys",
        ),
        KeyChangeError::Conflict { message, hint } => ApiError::conflict(message, hint),
        KeyChangeError::Io(e) => ApiError::from(e),
    }
}

/// `GET /api/v1/keys`.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    operation_id = "listTrustedKeys",
    summary = "The trusted package-signing keys uploads are checked against now",
    responses((status = 200, description = "OK", body = TrustedKeysView))
)]
pub async fn list_keys(State(app): State<Arc<App>>) -> Json<TrustedKeysView> {
    Json(view(&app, &app.trusted()))
}

/// `POST /api/v1/keys` (admin group): trust a key from now on.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    operation_id = "addTrustedKey",
    summary = "Trust a package-signing key, without a restart (admin group)",
    security(("bearer" = [])),
    request_body = NewTrustedKey,
    responses(
        (status = 201, description = "trusted from now on", body = TrustedKeysChange),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 422, description = "not a usable public key", body = ErrorEnvelope),
    )
)]
pub async fn add_key(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let owner = crate::origin::http::api::authorize(
        &app,
        &headers,
        &remote,
        "add-trusted-key",
        "trusted keys",
        ADMIN_GROUP,
    )?;
    let req: NewTrustedKey = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_request",
            format!("the key request is not valid JSON for this API: {e}"),
            "send {\"armored\": \"-----BEGIN PGP PUBLIC KEY BLOCK-----...\"}",
        )
    })?;
    let app2 = app.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _guard = app2.keys_lock.lock().unwrap_or_else(|p| p.into_inner());
        let (changed, set) = crate::origin::keys::add(&app2.config, &req.armored)?;
        app2.set_trusted(set);
        Ok::<_, KeyChangeError>(changed)
    })
    .await
    .map_err(anyhow::Error::from)?;
    let changed = match result {
        Ok(c) => c,
        Err(e) => {
            return Err(refusal(
                &app,
                &owner.user,
                "add-trusted-key",
                "trusted keys",
                &remote,
                e,
            ))
        }
    };
    app.store.audit(
        &owner.user,
        "trusted-key-added",
        &changed.join(", "),
        true,
        "trusted from now on",
        &remote.ip().to_string(),
    )?;
    app.emit(
        "keys-changed",
        format!(
            "{} trusted package key(s) added: {}",
            owner.user,
            changed.join(", ")
        ),
        None,
        None,
    );
    Ok((
        StatusCode::CREATED,
        Json(TrustedKeysChange {
            changed,
            now: view(&app, &app.trusted()),
        }),
    ))
}

/// `DELETE /api/v1/keys/{fingerprint}` (admin group): stop trusting a key
/// added through the API.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{fingerprint}",
    operation_id = "removeTrustedKey",
    summary = "Stop trusting a package-signing key added through the API (admin group)",
    security(("bearer" = [])),
    params(("fingerprint" = String, Path, description = "the fingerprint or its last 16 hex digits")),
    responses(
        (status = 200, description = "no longer trusted", body = TrustedKeysChange),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 404, description = "no such key", body = ErrorEnvelope),
        (status = 409, description = "the key comes from hotpush.toml", body = ErrorEnvelope),
    )
)]
pub async fn remove_key(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(fingerprint): Path<String>,
    headers: HeaderMap,
) -> Result<Json<TrustedKeysChange>, ApiError> {
    let owner = crate::origin::http::api::authorize(
        &app,
        &headers,
        &remote,
        "remove-trusted-key",
        &fingerprint,
        ADMIN_GROUP,
    )?;
    let app2 = app.clone();
    let id = fingerprint.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _guard = app2.keys_lock.lock().unwrap_or_else(|p| p.into_inner());
        let (removed, set) = crate::origin::keys::remove(&app2.config, &id)?;
        app2.set_trusted(set);
        Ok::<_, KeyChangeError>(removed)
    })
    .await
    .map_err(anyhow::Error::from)?;
    let removed = match result {
        Ok(r) => r,
        Err(e) => {
            return Err(refusal(
                &app,
                &owner.user,
                "remove-trusted-key",
                &fingerprint,
                &remote,
                e,
            ))
        }
    };
    app.store.audit(
        &owner.user,
        "trusted-key-removed",
        &removed,
        true,
        "no longer trusted",
        &remote.ip().to_string(),
    )?;
    app.emit(
        "keys-changed",
        format!("{} removed trusted package key {removed}", owner.user),
        None,
        None,
    );
    Ok(Json(TrustedKeysChange {
        changed: vec![removed],
        now: view(&app, &app.trusted()),
    }))
}
