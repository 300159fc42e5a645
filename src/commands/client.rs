//! What the API clients (`push`, `retire`, `status`, `repofile`, `sop`) share:
//! the runtime, the HTTP client, the token file, and turning an answer into a
//! message for the user.
use std::path::Path;
use std::time::Duration;

use crate::core::api::{ErrorEnvelope, StatusView};
use crate::logging::{hint_of, user_error};

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

/// The `--server` value as a base URL without a trailing slash, or an error
/// that says what is wrong with it (no scheme, an IPv6 address without
/// brackets, a scheme other than http/https, not a URL at all).
pub(crate) fn server_url(server: &str) -> anyhow::Result<String> {
    const HINT: &str = "pass the origin's URL as its `public_url` says, e.g. `--server http://[::1]:8080` or `--server https://hotpush.example.org`";
    let trimmed = server.trim();
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(user_error(
            format!(
                "`--server {server}` has no scheme: write `http://` or `https://` before the host"
            ),
            HINT,
        ));
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(user_error(
            format!("`--server {server}` uses the scheme `{scheme}`: hotpush speaks `http` or `https` only"),
            HINT,
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return Err(user_error(
            format!("`--server {server}` names no host"),
            HINT,
        ));
    }
    if !host_port.starts_with('[') && host_port.matches(':').count() > 1 {
        return Err(user_error(
            format!(
                "`--server {server}`: an IPv6 address in a URL needs brackets, e.g. `{scheme}://[{}]:PORT`",
                host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
            ),
            HINT,
        ));
    }
    let url = reqwest::Url::parse(trimmed).map_err(|e| {
        user_error(
            format!("`--server {server}` is not a usable URL: {e}"),
            HINT,
        )
    })?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(user_error(
            format!("`--server {server}` carries a query or fragment: give the base URL only"),
            HINT,
        ));
    }
    Ok(trimmed.trim_end_matches('/').to_owned())
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
    let url = redact(resp.url());
    let text = resp.text().await.unwrap_or_default();
    let (message, hint) = match serde_json::from_str::<ErrorEnvelope>(&text) {
        Ok(env) => (env.error.message, env.error.hint),
        // Not hotpush's error body: whatever answered is not a hotpush origin
        // (a partner's port, another service, a proxy's error page).
        Err(_) => (
            format!(
                "`{url}` answered without hotpush's error body{}; is `--server` the origin, not a partner or another service?",
                match text.trim() {
                    "" => String::new(),
                    t => format!(" (`{}`)", t.chars().take(120).collect::<String>()),
                }
            ),
            "point `--server` at the origin (`hotpush serve`, its `public_url` in hotpush.toml); partners serve only `/pub` and `/metalink`".to_owned(),
        ),
    };
    let err = user_error(
        format!("{what}: {message} (HTTP {})", status.as_u16()),
        hint,
    );
    if status.is_server_error() {
        // Not the user's doing: exit 2, with the server's hint if it gave one.
        let message = format!("{what}: {message} (HTTP {})", status.as_u16());
        return Err(match hint_of(&err) {
            Some(hint) => anyhow::Error::new(crate::logging::HintedError { message, hint }),
            None => anyhow::anyhow!("{message}"),
        });
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
    let why = crate::io::http::describe(&e);
    let lower = why.to_ascii_lowercase();
    let hint = if lower.contains("connection refused") {
        "nothing listens there: check the port in `--server` and that `hotpush serve` is running"
    } else if lower.contains("certificate") || lower.contains("unknownissuer") {
        "the server's certificate is not trusted by the system CA store: install its CA there, or check that `--server` names the origin"
    } else if lower.contains("dns error") || lower.contains("failed to lookup") {
        "the host name in `--server` does not resolve: check its spelling"
    } else if lower.contains("invalid http version") || lower.contains("wrong version number") {
        "the scheme does not match the port: try `https://` instead of `http://` or the other way round"
    } else {
        "check `--server` and that `hotpush serve` is running"
    };
    user_error(
        format!("cannot reach the hotpush server at `{server}`: {why}"),
        hint,
    )
}

/// A URL without credentials, for messages.
fn redact(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
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
