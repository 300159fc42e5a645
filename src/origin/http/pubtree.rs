//! What clients download: the `/pub/...` tree, the metalink and the repo key.
//!
//! repomd.xml, repomd.xml.asc and the metalink come from memory (one value per
//! repository, swapped whole by the publisher), everything else from disk with
//! its exact bytes through `io::pub_files` (the responder the receiver uses too):
//! no `Content-Encoding`, a `Content-Length`, `no-cache` for the index files and
//! `immutable` for content-named files. Nothing here answers 5xx for a missing
//! file: unknown paths are 404.
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::origin::app::App;

use crate::io::pub_files::{self, not_found, NO_CACHE};

fn bytes_response(body: bytes::Bytes, content_type: &'static str, cache: &'static str) -> Response {
    let len = body.len();
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

/// `GET /pub/{channel}/{release}/{arch}/...`
pub async fn serve_pub(State(app): State<Arc<App>>, Path(path): Path<String>) -> Response {
    if !pub_files::safe_path(&path) {
        return not_found();
    }
    // repomd.xml and its signature: from the served snapshot, as one pair.
    for suffix in ["/repodata/repomd.xml", "/repodata/repomd.xml.asc"] {
        if let Some(repo) = path.strip_suffix(suffix) {
            return match app.served(repo) {
                Some(s) if suffix.ends_with(".asc") => {
                    bytes_response(s.asc.clone(), "application/pgp-signature", NO_CACHE)
                }
                Some(s) => bytes_response(s.repomd.clone(), "application/xml", NO_CACHE),
                None => not_found(),
            };
        }
    }
    crate::io::pub_files::serve(&app.tree.pub_root, &path).await
}

/// `GET /metalink?repo=critical-f43&arch=x86_64` (other parameters are
/// ignored; `countme=1..4` is counted by bucket in `/metrics`). Every client
/// refresh and every critical check lands here, so the query is read without
/// building a map and the document comes from memory. Answers
/// `If-None-Match` with 304 (the ETag covers the document's bytes), and
/// carries `Hotpush-Check-Hold: SECONDS` while the critical checks are held.
pub async fn metalink(
    State(app): State<Arc<App>>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    let (mut repo, mut arch) = (None, None);
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "repo" => repo = Some(v),
            "arch" => arch = Some(v),
            "countme" => app.metrics.observe_countme(&v),
            _ => {}
        }
    }
    let repo = repo.unwrap_or_default();
    let arch = arch.unwrap_or_default();
    let mut resp = match app.served_by_metalink(&repo, &arch) {
        Some(s) => {
            let etag = content_etag(&s.metalink);
            if if_none_match(&headers, &etag) {
                let mut resp = StatusCode::NOT_MODIFIED.into_response();
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
                resp.headers_mut().insert(header::ETAG, etag);
                resp
            } else {
                let mut resp =
                    bytes_response(s.metalink.clone(), "application/metalink+xml", NO_CACHE);
                resp.headers_mut().insert(header::ETAG, etag);
                resp
            }
        }
        None => {
            let body = crate::core::metalink::render_not_found(&repo, &arch);
            let mut resp = bytes_response(body.into(), "application/metalink+xml", NO_CACHE);
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        }
    };
    let hold = crate::origin::http::api::check_hold_remaining_secs(&app);
    if hold > 0 {
        resp.headers_mut()
            .insert(CHECK_HOLD_HEADER, HeaderValue::from(hold));
    }
    resp
}

/// Tells every critical check to stand still for that many seconds.
pub const CHECK_HOLD_HEADER: &str = "hotpush-check-hold";

/// A strong ETag of the bytes: 128 bits of their sha256.
fn content_etag(body: &[u8]) -> HeaderValue {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..16])))
        .unwrap_or_else(|_| HeaderValue::from_static("\"-\""))
}

/// Whether `If-None-Match` names `etag` (or `*`); weak validators compare as
/// strong ones, as RFC 9110 says for this header.
fn if_none_match(headers: &axum::http::HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(want) = etag.to_str() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == want)
}

/// `GET /keys/repo.asc`: the repo-signing public key.
pub async fn repo_key(State(app): State<Arc<App>>) -> Response {
    bytes_response(
        app.key.armored_public().into(),
        "application/pgp-keys",
        "max-age=300",
    )
}

/// `GET /keys/packages.asc`: the trusted package-signing keys, for dnf's `gpgkey=`.
pub async fn package_keys(State(app): State<Arc<App>>) -> Response {
    // The same set uploads are checked against, including keys added live.
    let text = app.trusted().armored.join("\n");
    bytes_response(text.into(), "application/pgp-keys", "max-age=300")
}
