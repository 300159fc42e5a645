//! `ApiError`: the one error type of both HTTP services (the origin's API and
//! the partner receiver). It answers one JSON envelope
//! `{"error": {"code", "message", "hint"}}`; a 5xx is logged once here and its
//! details stay in the log. [`reason_of`] reads that envelope back (and the
//! bare `{"error": "..."}` of receivers older than it) for clients.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub hint: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn bad_request(
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message, hint)
    }

    pub fn unprocessable(
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message, hint)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message, "")
    }

    pub fn conflict(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message, hint)
    }

    /// A refusal whose code follows from its status (see [`code_of`]).
    pub fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, code_of(status), message, "")
    }

    /// A failure on our side: `err` goes to the log under `context`; the
    /// answer says only what failed.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context}: internal error; the details are in the server log"),
            "",
        )
    }

    /// A failed file operation: 507 when the disk is full, else [`ApiError::internal`].
    pub fn io(context: &str, err: &std::io::Error) -> Self {
        if is_disk_full(err) {
            insufficient_storage(context)
        } else {
            Self::internal(context, err)
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }
}

/// The envelope code for a status when no more precise one is given.
pub fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::INSUFFICIENT_STORAGE => "insufficient_storage",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// The reason an error answer gives, in one line: the envelope's message and
/// hint, a bare `{"error": "..."}`, or the text itself when it is not JSON.
pub fn reason_of(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Bare {
        error: String,
    }
    if let Ok(env) = serde_json::from_str::<crate::core::api::ErrorEnvelope>(body) {
        let e = env.error;
        return if e.hint.is_empty() {
            e.message
        } else {
            format!("{} (hint: {})", e.message, e.hint)
        };
    }
    if let Ok(bare) = serde_json::from_str::<Bare>(body) {
        return bare.error;
    }
    body.trim().chars().take(500).collect()
}

/// The answer to a request whose handler panicked (for tower-http's
/// `CatchPanicLayer`): a 500 with the envelope; the message goes to the log.
pub fn panicked(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    ApiError::internal("the request failed unexpectedly", detail).into_response()
}

/// An I/O error that means the disk (or a quota) is full.
pub fn is_disk_full(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || err.kind() == std::io::ErrorKind::StorageFull
}

/// Whether any cause in the chain is a full disk (also SQLite's "database or
/// disk is full").
pub fn chain_is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(is_disk_full)
            || c.downcast_ref::<rusqlite::Error>()
                .is_some_and(|e| e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
            || text_is_disk_full(&c.to_string())
    })
}

/// Whether an error message (already flattened to text) says the disk or
/// the database was full.
pub fn text_is_disk_full(text: &str) -> bool {
    [
        "No space left on device",
        "Disk quota exceeded",
        "database or disk is full",
    ]
    .iter()
    .any(|s| text.contains(s))
}

/// 507: the disk is full; what failed is named, paths stay out of the answer.
pub fn insufficient_storage(what: &str) -> ApiError {
    tracing::error!("{what}: the disk is full");
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        "insufficient_storage",
        format!("{what}: the server's disk is full"),
        "free space on the server's data directory, then try again",
    )
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        if chain_is_disk_full(&err) {
            tracing::error!(error = format!("{err:#}"), "out of disk space");
            return ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                "the server's disk is full",
                "free space on the server's data directory, then try again",
            );
        }
        tracing::error!(error = format!("{err:#}"), "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the details are in the server log",
            "",
        )
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        anyhow::Error::new(err).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::debug!(status = self.status.as_u16(), reason = %self.message, "request refused");
        }
        let body = crate::core::api::ErrorEnvelope {
            error: crate::core::api::ErrorBody {
                code: self.code.to_owned(),
                message: self.message,
                hint: self.hint,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_of_reads_both_bodies_and_plain_text() {
        let env = r#"{"error":{"code":"bad_signature","message":"signature does not verify","hint":"check the secret"}}"#;
        assert_eq!(
            reason_of(env),
            "signature does not verify (hint: check the secret)"
        );
        assert_eq!(reason_of(r#"{"error":"old receiver"}"#), "old receiver");
        assert_eq!(reason_of("  plain text\n"), "plain text");
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_envelope_and_the_service_lives() {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route(
                "/boom",
                axum::routing::get(|| async {
                    if true {
                        panic!("secret detail");
                    }
                    ""
                }),
            )
            .route("/ok", axum::routing::get(|| async { "ok" }))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked));
        let req = |p: &str| {
            axum::http::Request::get(p)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let resp = app.clone().oneshot(req("/boom")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let env: crate::core::api::ErrorEnvelope = serde_json::from_slice(&body).unwrap();
        assert_eq!(env.error.code, "internal");
        assert!(
            !env.error.message.contains("secret detail"),
            "{}",
            env.error.message
        );
        let resp = app.oneshot(req("/ok")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[test]
    fn disk_full_is_read_through_the_chain() {
        let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(is_disk_full(&enospc));
        let wrapped = anyhow::Error::new(enospc).context("cannot publish `critical/43/x86_64`");
        assert!(chain_is_disk_full(&wrapped));
        let e: ApiError = wrapped.into();
        assert_eq!(e.status, StatusCode::INSUFFICIENT_STORAGE);
        let other = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::EACCES));
        assert!(!chain_is_disk_full(&other));
        assert_eq!(
            ApiError::from(other).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn codes_follow_statuses() {
        assert_eq!(code_of(StatusCode::UNAUTHORIZED), "unauthenticated");
        assert_eq!(code_of(StatusCode::BAD_GATEWAY), "internal");
        let e = ApiError::with_status(StatusCode::CONFLICT, "old revision");
        assert_eq!((e.code, e.message.as_str()), ("conflict", "old revision"));
    }
}
