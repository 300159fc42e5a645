//! The one `/pub` file responder, used by the origin and the partner receiver:
//! the path check, the content type and the cache policy, and streaming a
//! file's exact bytes (a `Content-Length`, no `Content-Encoding`, never a
//! symlink, never a directory). Anything that is not a plain file under the
//! tree is a 404, never a 5xx.

use std::path::Path;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// For repomd.xml, its signature and the metalink: caches must revalidate.
pub const NO_CACHE: &str = "no-cache";
/// For content-named files (`repodata/<sha256>-...`): the name changes with
/// the bytes, so they never need revalidation.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For package files: named by NEVRA, not by content; an hour (the stricter
/// of the two policies the origin and the receiver had).
pub const PACKAGE: &str = "public, max-age=3600";

/// Only plain relative paths: no `..`, no empty or hidden components (temp
/// files start with `.`), no backslash, NUL or other control characters.
pub fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 4096
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path
            .split('/')
            .all(|c| !c.is_empty() && !c.starts_with('.'))
}

/// The content type by file name.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or_default();
    if name.ends_with(".rpm") {
        "application/x-rpm"
    } else if name.ends_with(".asc") {
        "application/pgp-signature"
    } else if name.ends_with(".xml") {
        "application/xml"
    } else if name.ends_with(".gz") {
        "application/gzip"
    } else if name.ends_with(".zst") {
        "application/zstd"
    } else {
        "application/octet-stream"
    }
}

/// The cache policy by path (see the constants).
pub fn cache_control(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or_default();
    let in_repodata = path.split('/').rev().nth(1) == Some("repodata");
    if name == "repomd.xml" || name == "repomd.xml.asc" {
        NO_CACHE
    } else if in_repodata
        && name.len() > 65
        && name.as_bytes()[64] == b'-'
        && name[..64].bytes().all(|b| b.is_ascii_hexdigit())
    {
        IMMUTABLE
    } else {
        PACKAGE
    }
}

/// A 404 with a short text body.
pub fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Answers with the bytes of the file at `path` (a checked `/pub` path
/// `rel` under `root`), its content type and cache policy.
pub async fn serve(root: &Path, rel: &str) -> Response {
    if !safe_path(rel) {
        return not_found();
    }
    serve_file(&root.join(rel), content_type(rel), cache_control(rel)).await
}

/// Answers with the bytes of one plain file (not a symlink, not a
/// directory), or 404.
pub async fn serve_file(path: &Path, content_type: &'static str, cache: &'static str) -> Response {
    match tokio::fs::symlink_metadata(path).await {
        Ok(meta) if meta.is_file() => {}
        _ => return not_found(),
    }
    let Ok(file) = tokio::fs::File::open(path).await else {
        return not_found();
    };
    let Ok(meta) = file.metadata().await else {
        return not_found();
    };
    let mut response = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(file)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_are_served() {
        assert!(safe_path("critical/43/x86_64/Packages/h/hello.rpm"));
        for bad in [
            "critical/../../etc/passwd",
            "critical/43/x86_64/repodata/.repomd.xml.tmp",
            "a//b",
            "",
            "/etc/passwd",
            "a\\b",
            "a/b\0c",
            "a/b\nc",
        ] {
            assert!(!safe_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn cache_policy_follows_the_name() {
        let sha = "a".repeat(64);
        assert_eq!(cache_control("c/43/x/repodata/repomd.xml"), NO_CACHE);
        assert_eq!(cache_control("c/43/x/repodata/repomd.xml.asc"), NO_CACHE);
        assert_eq!(
            cache_control(&format!("c/43/x/repodata/{sha}-primary.xml.zst")),
            IMMUTABLE
        );
        assert_eq!(
            cache_control("c/43/x/Packages/h/hello-1-1.x86_64.rpm"),
            PACKAGE
        );
        assert_eq!(cache_control("c/43/x/repodata/short-primary.xml"), PACKAGE);
    }
}
