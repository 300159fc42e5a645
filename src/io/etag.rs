//! Conditional requests, one copy for the origin and the partner receiver:
//! ETags computed from content (so the same content has the same ETag on
//! every host), `If-None-Match` matching and the 304 answer.
//!
//! - repomd.xml and repomd.xml.asc: a strong ETag, the sha256 of the bytes
//!   (for repomd.xml the very hash the metalink names).
//! - content-named repodata files: the sha256 their name starts with.
//! - the metalink: a weak ETag over the repomd hash and the *set* of listed
//!   URLs, because the origin orders the URLs per request (the order never
//!   changes a conditional request's answer).
//!
//! Knows nothing about which service uses it.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use crate::io::lane::Answer;

/// A strong ETag: the lower-case hex sha256 of `bytes`, quoted.
pub fn strong_of(bytes: &[u8]) -> HeaderValue {
    strong_from_hex(&hex::encode(Sha256::digest(bytes)))
}

/// A strong ETag from a hash already known (hex digits only; anything else
/// gives a fixed placeholder that never matches a real one).
pub fn strong_from_hex(hex_digest: &str) -> HeaderValue {
    if !hex_digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return HeaderValue::from_static("\"-\"");
    }
    HeaderValue::from_str(&format!("\"{hex_digest}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"-\""))
}

/// The weak ETag of a metalink: the repomd sha256 it names and the set of
/// its URLs, in any order. Equal content, equal ETag, on every host.
pub fn metalink_etag<S: AsRef<str>>(repomd_sha256: &str, urls: &[S]) -> HeaderValue {
    let mut sorted: Vec<&str> = urls.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut hasher = Sha256::new();
    hasher.update(repomd_sha256.as_bytes());
    for url in sorted {
        hasher.update(b"\n");
        hasher.update(url.as_bytes());
    }
    let digest = hasher.finalize();
    HeaderValue::from_str(&format!("W/\"{}\"", hex::encode(&digest[..16])))
        .unwrap_or_else(|_| HeaderValue::from_static("W/\"-\""))
}

/// Whether the request's `If-None-Match` names `etag` (or is `*`). Weak
/// comparison, as RFC 9110 prescribes for this header: `W/"x"` matches `"x"`.
pub fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(want) = etag.to_str() else {
        return false;
    };
    let want = want.strip_prefix("W/").unwrap_or(want);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == want)
}

/// The 304 answer: the validator and the cache policy again, no body.
pub fn not_modified(etag: HeaderValue, cache: &'static str) -> Answer {
    let mut resp = Answer::default();
    *resp.status_mut() = StatusCode::NOT_MODIFIED;
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// `Some(304)` when the request already holds `etag`, else `None` (serve
/// the body and add the ETag with [`with_etag`]).
pub fn check(headers: &HeaderMap, etag: &HeaderValue, cache: &'static str) -> Option<Answer> {
    if_none_match(headers, etag).then(|| not_modified(etag.clone(), cache))
}

/// Adds `etag` to a response.
pub fn with_etag(mut resp: Answer, etag: HeaderValue) -> Answer {
    resp.headers_mut().insert(header::ETAG, etag);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn metalink_etag_ignores_order_but_not_content() {
        let a = metalink_etag("ab", &["http://o/x", "http://p/x"]);
        let b = metalink_etag("ab", &["http://p/x", "http://o/x"]);
        assert_eq!(a, b);
        assert!(a.to_str().unwrap().starts_with("W/\""));
        assert_ne!(a, metalink_etag("ac", &["http://o/x", "http://p/x"]));
        assert_ne!(a, metalink_etag("ab", &["http://o/x"]));
        assert_ne!(a, metalink_etag("ab", &["http://o/x", "http://q/x"]));
    }

    #[test]
    fn if_none_match_is_a_weak_comparison_over_a_list() {
        let strong = strong_of(b"repomd");
        let s = strong.to_str().unwrap().to_owned();
        assert!(if_none_match(&req(&s), &strong));
        assert!(if_none_match(&req(&format!("W/{s}")), &strong));
        assert!(if_none_match(&req(&format!("\"other\", {s}")), &strong));
        assert!(if_none_match(&req("*"), &strong));
        assert!(!if_none_match(&req("\"other\""), &strong));
        assert!(!if_none_match(&HeaderMap::new(), &strong));
        let weak = metalink_etag("ab", &["u"]);
        let w = weak.to_str().unwrap().to_owned();
        assert!(if_none_match(&req(&w), &weak));
        assert!(if_none_match(&req(w.strip_prefix("W/").unwrap()), &weak));
    }

    #[test]
    fn strong_from_hex_refuses_what_is_not_hex() {
        assert_eq!(
            strong_from_hex("00ff"),
            HeaderValue::from_static("\"00ff\"")
        );
        assert_eq!(strong_from_hex("\"x"), HeaderValue::from_static("\"-\""));
    }
}
