//! What clients download: the `/pub/...` tree, the metalink and the repo key.
//!
//! repomd.xml, repomd.xml.asc and the metalink come from memory (one value per
//! repository, swapped whole by the publisher), everything else with its exact
//! bytes through `io::pub_files` (the responder the receiver uses too; packages
//! and compressed repodata kept in memory once read, `App::pub_cache`):
//! no `Content-Encoding`, a `Content-Length`, `no-cache` for the index files and
//! `immutable` for content-named files. Nothing here answers 5xx for a missing
//! file: unknown paths are 404.
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use crate::origin::app::App;
use crate::origin::sync::spread;

use crate::io::etag;
use crate::io::lane::{into_response, Answer, Lane};
use crate::io::pub_files::{self, bytes_answer, not_found, NO_CACHE};

/// The origin's fast lane (`io::lane`): the metalink, and every `/pub` file
/// that needs no read from disk, answered on the listener's own threads by
/// the same functions as [`metalink`] and [`serve_pub`], and counted in
/// `/metrics` under the same routes. Everything else goes to the router.
pub fn lane(app: Arc<App>) -> Lane {
    Arc::new(move |req| {
        let path = req.uri().path();
        let (route, answer) = if path == "/metalink" {
            (
                "/metalink",
                metalink_answer(&app, req.uri().query(), req.headers()),
            )
        } else {
            let rest = path.strip_prefix("/pub/").filter(|r| !r.is_empty())?;
            ("/pub/{*path}", pub_answer_now(&app, rest, req.headers())?)
        };
        app.metrics.observe_request(route, answer.status().as_u16());
        app.metrics.observe_lane_answer();
        Some(answer)
    })
}

/// `GET /pub/{channel}/{release}/{arch}/...`; repomd.xml and its signature
/// answer `If-None-Match` with 304 (strong ETags: the sha256 of the bytes,
/// for repomd.xml the hash the metalink names), as do content-named files.
pub async fn serve_pub(
    State(app): State<Arc<App>>,
    Path(path): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    match pub_answer_now(&app, &path, &headers) {
        Some(answer) => into_response(answer),
        None => pub_files::serve_read(&app.tree.pub_root, &path, Some(&app.pub_cache)).await,
    }
}

/// What [`serve_pub`] answers without reading from disk; `None`: the file
/// must be read first (`pub_files::serve_read`).
fn pub_answer_now(app: &App, path: &str, headers: &axum::http::HeaderMap) -> Option<Answer> {
    if !pub_files::safe_path(path) {
        return Some(not_found());
    }
    if let Some(repo) = path.strip_suffix("/repodata/repomd.xml.key") {
        return Some(repomd_key(app, repo, headers));
    }
    // repomd.xml and its signature: from the served snapshot, as one pair.
    for suffix in ["/repodata/repomd.xml", "/repodata/repomd.xml.asc"] {
        if let Some(repo) = path.strip_suffix(suffix) {
            let Some(s) = app.served(repo) else {
                return Some(not_found());
            };
            let (body, content_type, tag) = if suffix.ends_with(".asc") {
                let tag = etag::strong_of(&s.asc);
                (s.asc.clone(), "application/pgp-signature", tag)
            } else {
                let tag = etag::strong_from_hex(&s.metalink.facts.sha256);
                (s.repomd.clone(), "application/xml", tag)
            };
            if let Some(resp) = etag::check(headers, &tag, NO_CACHE) {
                return Some(resp);
            }
            return Some(etag::with_etag(
                bytes_answer(body, content_type, NO_CACHE),
                tag,
            ));
        }
    }
    pub_files::serve_now(&app.tree.pub_root, path, headers, Some(&app.pub_cache))
}

/// `GET /metalink?repo=critical-f43&arch=x86_64` (other parameters are
/// ignored; `countme=1..4` is counted by bucket in `/metrics`). Every client
/// refresh and every critical check lands here, so the query is read without
/// building a map and the document is rendered from memory, its hosts in an
/// order drawn per request (`sync::spread`). Answers `If-None-Match` with 304
/// (a weak ETag over the repomd hash and the set of listed hosts, never their
/// order: the same on every host serving the same content), and
/// carries `Hotpush-Check-Hold: SECONDS` while the critical checks are held.
pub async fn metalink(
    State(app): State<Arc<App>>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    into_response(metalink_answer(&app, uri.query(), &headers))
}

/// The answer of [`metalink`] (and of the fast lane).
fn metalink_answer(app: &App, query: Option<&str>, headers: &axum::http::HeaderMap) -> Answer {
    let (mut repo, mut arch) = (None, None);
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
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
            let tag = spread::etag_of(app, &s.metalink);
            match etag::check(headers, &tag, NO_CACHE) {
                Some(resp) => resp,
                None => {
                    let body = spread::render_for_request(app, &s.metalink);
                    let resp = bytes_answer(body, "application/metalink+xml", NO_CACHE);
                    etag::with_etag(resp, tag)
                }
            }
        }
        None => {
            let body = crate::core::metalink::render_not_found(&repo, &arch);
            let mut resp = bytes_answer(body.into(), "application/metalink+xml", NO_CACHE);
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        }
    };
    let hold = crate::origin::http::api::check_hold_remaining_secs(app);
    if hold > 0 {
        resp.headers_mut()
            .insert(CHECK_HOLD_HEADER, HeaderValue::from(hold));
    }
    resp
}

/// Tells every critical check to stand still for that many seconds.
pub const CHECK_HOLD_HEADER: &str = "hotpush-check-hold";

/// `GET /keys/repo.asc`: the repo-signing public keys: the one that signs,
/// and during a rotation the next or previous one (one armor block each).
pub async fn repo_key(State(app): State<Arc<App>>) -> Response {
    into_response(bytes_answer(
        app.repo_keys().armored_publics().into(),
        "application/pgp-keys",
        "max-age=300",
    ))
}

/// `GET /keys/packages.asc`: the trusted package-signing keys, for dnf's `gpgkey=`.
pub async fn package_keys(State(app): State<Arc<App>>) -> Response {
    // The same set uploads are checked against, including keys added live.
    let text = app.trusted().armored.join("\n");
    into_response(bytes_answer(
        text.into(),
        "application/pgp-keys",
        "max-age=300",
    ))
}

/// `GET /pub/{channel}/{release}/{arch}/repodata/repomd.xml.key`: the repo
/// public key beside the signature, where openSUSE repositories put it (zypper
/// always tries it). Trusting it is the client's choice: the `.repo` files
/// hotpush writes name the key by `gpgkey=` instead. Only for repositories that
/// are served; `no-cache` with the sha256 of its bytes as ETag, as a partner
/// serves its copy.
fn repomd_key(app: &App, repo: &str, headers: &axum::http::HeaderMap) -> Answer {
    if app.served(repo).is_none() {
        return not_found();
    }
    let body = bytes::Bytes::from(app.repo_keys().armored_publics());
    let tag = etag::strong_of(&body);
    if let Some(resp) = etag::check(headers, &tag, NO_CACHE) {
        return resp;
    }
    etag::with_etag(bytes_answer(body, "application/pgp-keys", NO_CACHE), tag)
}
