//! What the API clients (`push`, `retire`, `status`, `repofile`, `sop`) share:
//! the runtime, the HTTP client, the token file, and turning an answer into a
//! message for the user.
use std::path::Path;
use std::time::Duration;

use crate::core::api::{ErrorEnvelope, StatusView};
use crate::logging::user_error;

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    // No overall timeout: uploads of large packages may take long; each
    // caller bounds its own waits.
    crate::io::http::ClientSpec::new("hotpush")
        .connect_timeout(Duration::from_secs(10))
        .no_timeout()
        .build()
}

pub(crate) fn read_token(path: &Path) -> anyhow::Result<String> {
    crate::io::secret::read_text(path)
}

pub(crate) fn server_url(server: &str) -> String {
    server.trim_end_matches('/').to_owned()
}

/// Turns a non-2xx answer into a user error carrying the server's message and hint.
pub(crate) async fn check(
    resp: reqwest::Response,
    what: &str,
) -> anyhow::Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().await.unwrap_or_default();
    let (message, hint) = match serde_json::from_str::<ErrorEnvelope>(&text) {
        Ok(env) => (env.error.message, env.error.hint),
        Err(_) => (text.trim().to_owned(), String::new()),
    };
    let err = user_error(
        format!("{what}: {message} (HTTP {})", status.as_u16()),
        hint,
    );
    if status.is_server_error() {
        // Not the user's doing: exit 2.
        return Err(anyhow::anyhow!(
            "{what}: {message} (HTTP {})",
            status.as_u16()
        ));
    }
    Err(err)
}

/// `GET /api/v1/status`: the parsed view and the JSON text as served. Without
/// a token the origin answers the public view (advisories not yet published
/// are left out); with a push-group token, everything.
pub(crate) async fn get_status(
    client: &reqwest::Client,
    server: &str,
    token: Option<&str>,
) -> anyhow::Result<(StatusView, String)> {
    let mut req = client.get(format!("{server}/api/v1/status"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.map_err(|e| connect_error(server, e))?;
    let text = check(resp, "cannot read the origin's status")
        .await?
        .text()
        .await?;
    let status = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!("the origin's status is not what this client understands: {e}")
    })?;
    Ok((status, text))
}

pub(crate) fn connect_error(server: &str, e: reqwest::Error) -> anyhow::Error {
    user_error(
        format!("cannot reach the hotpush server at `{server}`: {e}"),
        "check `--server` and that `hotpush serve` is running",
    )
}

pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
