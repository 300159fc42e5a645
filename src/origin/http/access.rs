//! Who may do what through `/api/v1`: the bearer token checked against the
//! store (refusals audited and rate-limited per network), the caller's group,
//! and the [`Scope`] of a read (embargo).
use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode};

use crate::io::http_error::ApiError;
use crate::origin::app::App;
use crate::origin::auth::token_digest;
use crate::origin::store::{now_ms, TokenOwner};

type ApiResult<T> = Result<T, ApiError>;

/// Checks the bearer token and the caller's group, auditing the decision.
pub(crate) fn authorize(
    app: &App,
    headers: &HeaderMap,
    remote: &SocketAddr,
    action: &str,
    target: &str,
    group: &str,
) -> ApiResult<TokenOwner> {
    let owner = check_token(app, headers, remote, action, target, group)?;
    app.store.audit(
        &owner.user,
        action,
        target,
        true,
        "allowed",
        &remote.ip().to_string(),
    )?;
    Ok(owner)
}

/// The seconds since the epoch, for the bad-authentication limit.
pub(crate) fn now_secs() -> u64 {
    now_ms().max(0) as u64 / 1000
}

/// The 429 of a network over the bad-authentication limit.
pub(crate) fn rate_limited(network: &str, retry_after_secs: u64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many refused tokens from `{network}`; try again in {retry_after_secs} s"),
        "check the token file; `hotpush token create` issues a new token",
    )
}

/// What a reader may see: embargoed advisories and unpublished pushes only
/// with a push-group token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No token: what clients can already see.
    Public,
    /// A push-group token: everything.
    Full,
}

/// The scope of a read: public without an `Authorization` header; with one,
/// the token must be a valid push-group token (a refusal is audited like any
/// other; an allowed read is not, so following a push does not flood the log).
pub(crate) fn read_scope(
    app: &App,
    headers: &HeaderMap,
    remote: &SocketAddr,
    target: &str,
) -> ApiResult<Scope> {
    if !headers.contains_key(axum::http::header::AUTHORIZATION) {
        return Ok(Scope::Public);
    }
    check_token(
        app,
        headers,
        remote,
        "read",
        target,
        &app.config.auth.push_group,
    )?;
    Ok(Scope::Full)
}

/// The bearer token names a user of `group`; refusals are audited and
/// counted against the caller's network: past `server.bad_auth_max` the
/// answer is 429 before any token is hashed, folded into one audit row per
/// window. An allowed request is not audited here.
pub(crate) fn check_token(
    app: &App,
    headers: &HeaderMap,
    remote: &SocketAddr,
    action: &str,
    target: &str,
    group: &str,
) -> ApiResult<TokenOwner> {
    let network = crate::io::auth_limit::network_of(remote.ip());
    let now = now_secs();
    if let Some(retry) = app.auth_limit.limited(&network, now) {
        return Err(rate_limited(&network, retry));
    }
    let remote = remote.ip().to_string();
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    // A refused authentication is counted against the network and audited.
    let unauthenticated = |reason: &str, message: &str, hint: &str| -> ApiResult<TokenOwner> {
        app.flush_auth_audit(now)?;
        app.auth_limit.refused(&network, now);
        app.store
            .audit("-", action, target, false, reason, &remote)?;
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            message,
            hint,
        ))
    };
    let Some(token) = token else {
        return unauthenticated(
            "no token",
            "this request needs an API token",
            "pass `Authorization: Bearer <token>`; `hotpush token create` issues tokens",
        );
    };
    let Some(owner) = app.store.token_owner(&token_digest(token))? else {
        return unauthenticated(
            "unknown token",
            "the API token is not valid",
            "check the token file; `hotpush token create` issues a new token",
        );
    };
    if owner.group != group {
        app.store.audit(
            &owner.user,
            action,
            target,
            false,
            &format!("group `{}` is not `{group}`", owner.group),
            &remote,
        )?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "user `{}` (group `{}`) may not {action}",
                owner.user, owner.group
            ),
            format!("only members of the `{group}` group may {action}"),
        ));
    }
    Ok(owner)
}
