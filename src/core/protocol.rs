//! The partner push protocol (`https` method) spoken between the origin's fan-out
//! and `hotpush receive`: request signing, replay protection, the wire types and the
//! path rules. Pure apart from the clock the caller passes in; it knows nothing of
//! sockets, files or axum.
//!
//! # Authentication
//!
//! Every request carries four headers:
//!
//! | header | value |
//! |---|---|
//! | `x-hotpush-timestamp` | Unix time in seconds when the request was made |
//! | `x-hotpush-nonce` | 32 lowercase hex digits, random, never reused |
//! | `x-hotpush-content-sha256` | lowercase hex sha256 of the request body (of the empty string when there is none) |
//! | `x-hotpush-signature` | lowercase hex HMAC-SHA256, keyed with the partner's shared secret, of the canonical string below |
//!
//! The canonical string is these lines joined by `\n`:
//! `hotpush-push-v1`, the method (`PUT`), the path with its query exactly as sent
//! (`/push/v1/blobs/ab12…`), the timestamp, the nonce, the body sha256.
//!
//! The receiver answers 401 when a header is missing or malformed, when the
//! signature does not match, when the timestamp is more than
//! [`CLOCK_SKEW_SECS`] away from its clock (`stale`), or when it has seen the
//! nonce within that window (`replay`; nonces are remembered for twice the window,
//! at most [`NONCES_MAX`]). It then checks that the body's sha256 is the one signed
//! (400 otherwise).
//!
//! # Endpoints (all under `/push/v1`, JSON unless noted)
//!
//! | request | body | answer |
//! |---|---|---|
//! | `POST /push/v1/lacking` | [`LackingRequest`]: sha256s the origin is about to need | [`LackingResponse`]: those the receiver has no verified blob for |
//! | `PUT /push/v1/blobs/{sha256}` | the raw bytes (`application/octet-stream`), at most the receiver's `blob_bytes_max` | 201 stored, 200 already held; 422 when the bytes do not hash to `{sha256}`, 413 when too large |
//! | `POST /push/v1/commit` | [`CommitRequest`]: repo path, revision, every file (path, sha256, size), repomd.xml + .asc (base64) | 200 [`CommitResponse`]; 422 naming the first missing or wrong file; 400 for an unsafe path; 409 for a revision older than the one held |
//! | `GET /push/v1/status` | none | [`StatusResponse`]: revision and repomd sha256 held per repo path |
//! | `PUT /push/v1/metalink?repo={id}&arch={arch}` | the metalink document (`application/metalink+xml`) | 204; served back at `/metalink?repo=…&arch=…` |
//!
//! A commit links every named file from the blob store into the `/pub` tree, then
//! writes `repomd.xml.asc` and `repomd.xml` (each temp + fsync + rename), so
//! repomd.xml never names a file the receiver does not serve.
use std::collections::{BTreeMap, HashMap, VecDeque};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const HEADER_TIMESTAMP: &str = "x-hotpush-timestamp";
pub const HEADER_NONCE: &str = "x-hotpush-nonce";
pub const HEADER_CONTENT_SHA256: &str = "x-hotpush-content-sha256";
pub const HEADER_SIGNATURE: &str = "x-hotpush-signature";

/// How far a request's timestamp may be from the receiver's clock.
pub const CLOCK_SKEW_SECS: u64 = 300;
/// The most nonces the receiver remembers; beyond this it refuses new requests until
/// old ones expire, rather than forget a nonce that could still be replayed.
pub const NONCES_MAX: usize = 200_000;
/// The most sha256s one `lacking` request may name.
pub const LACKING_MAX: usize = 100_000;
/// The most files one commit may name.
pub const COMMIT_FILES_MAX: usize = 100_000;
/// The longest relative path accepted in a commit.
pub const PATH_BYTES_MAX: usize = 1024;

pub const PATH_LACKING: &str = "/push/v1/lacking";
pub const PATH_BLOBS: &str = "/push/v1/blobs";
pub const PATH_COMMIT: &str = "/push/v1/commit";
pub const PATH_STATUS: &str = "/push/v1/status";
pub const PATH_METALINK: &str = "/push/v1/metalink";

/// The four authentication header values of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub timestamp_secs: u64,
    pub nonce: String,
    pub content_sha256: String,
    pub signature: String,
}

/// Why a request was refused before its body was looked at; the `Display` text is
/// what the receiver answers with (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing or malformed header `{0}`")]
    Missing(&'static str),
    #[error("bad signature")]
    BadSignature,
    #[error("stale: timestamp {timestamp_secs} is more than {CLOCK_SKEW_SECS} s away from the receiver's clock {now_secs}")]
    Stale { timestamp_secs: u64, now_secs: u64 },
    #[error("replay: nonce already used")]
    Replay,
    #[error("too many requests in the replay window")]
    NoncesFull,
}

/// sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The canonical string that is signed.
pub fn canonical(method: &str, path_and_query: &str, signed: &Signed) -> String {
    format!(
        "hotpush-push-v1\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path_and_query,
        signed.timestamp_secs,
        signed.nonce,
        signed.content_sha256
    )
}

fn mac(secret: &[u8], message: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    mac
}

/// Signs a request: the origin's side.
pub fn sign(
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    timestamp_secs: u64,
    nonce: String,
    content_sha256: String,
) -> Signed {
    let mut signed = Signed {
        timestamp_secs,
        nonce,
        content_sha256,
        signature: String::new(),
    };
    signed.signature = hex::encode(
        mac(secret, &canonical(method, path_and_query, &signed))
            .finalize()
            .into_bytes(),
    );
    signed
}

/// A fresh random nonce.
pub fn new_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Parses the four header values (`get` looks one up by name).
pub fn parse_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Signed, AuthError> {
    let timestamp_secs = get(HEADER_TIMESTAMP)
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or(AuthError::Missing(HEADER_TIMESTAMP))?;
    let nonce = get(HEADER_NONCE)
        .filter(|v| v.len() == 32 && is_lower_hex(v))
        .ok_or(AuthError::Missing(HEADER_NONCE))?
        .to_string();
    let content_sha256 = get(HEADER_CONTENT_SHA256)
        .filter(|v| is_sha256_hex(v))
        .ok_or(AuthError::Missing(HEADER_CONTENT_SHA256))?
        .to_string();
    let signature = get(HEADER_SIGNATURE)
        .filter(|v| v.len() == 64 && is_lower_hex(v))
        .ok_or(AuthError::Missing(HEADER_SIGNATURE))?
        .to_string();
    Ok(Signed {
        timestamp_secs,
        nonce,
        content_sha256,
        signature,
    })
}

/// Checks signature, clock and nonce: the receiver's side. Records the nonce only
/// when everything else is right, so forged requests cannot fill the cache.
pub fn verify(
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    signed: &Signed,
    now_secs: u64,
    nonces: &mut NonceCache,
) -> Result<(), AuthError> {
    let expected =
        hex::decode(&signed.signature).map_err(|_| AuthError::Missing(HEADER_SIGNATURE))?;
    mac(secret, &canonical(method, path_and_query, signed))
        .verify_slice(&expected)
        .map_err(|_| AuthError::BadSignature)?;
    if signed.timestamp_secs.abs_diff(now_secs) > CLOCK_SKEW_SECS {
        return Err(AuthError::Stale {
            timestamp_secs: signed.timestamp_secs,
            now_secs,
        });
    }
    nonces.insert(&signed.nonce, now_secs)
}

/// Nonces seen within the replay window, bounded by [`NONCES_MAX`].
#[derive(Debug, Default)]
pub struct NonceCache {
    seen: HashMap<String, u64>,
    order: VecDeque<(u64, String)>,
}

impl NonceCache {
    /// Remembers `nonce` (seen at `now_secs`), refusing one already held.
    pub fn insert(&mut self, nonce: &str, now_secs: u64) -> Result<(), AuthError> {
        // A request is accepted up to CLOCK_SKEW_SECS from its timestamp either way,
        // so a nonce must be remembered for twice that.
        let keep_secs = 2 * CLOCK_SKEW_SECS + 1;
        while let Some((at, _)) = self.order.front() {
            if now_secs.saturating_sub(*at) <= keep_secs {
                break;
            }
            let (_, old) = self.order.pop_front().expect("front exists");
            self.seen.remove(&old);
        }
        if self.seen.contains_key(nonce) {
            return Err(AuthError::Replay);
        }
        if self.seen.len() >= NONCES_MAX {
            return Err(AuthError::NoncesFull);
        }
        self.seen.insert(nonce.to_string(), now_secs);
        self.order.push_back((now_secs, nonce.to_string()));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

pub fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

/// Checks a relative path named by a push (repo path or file path): no `..`, `.` or
/// empty segment, not absolute, no backslash, NUL or other control character,
/// at most [`PATH_BYTES_MAX`] bytes. Returns the reason on refusal.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.len() > PATH_BYTES_MAX {
        return Err(format!("the path is longer than {PATH_BYTES_MAX} bytes"));
    }
    if path.starts_with('/') {
        return Err(format!("`{}` is absolute", path.escape_debug()));
    }
    if path.contains('\\') {
        return Err(format!("`{}` contains a backslash", path.escape_debug()));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(format!(
            "`{}` contains NUL or a control character",
            path.escape_debug()
        ));
    }
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!(
                "`{}` has an empty, `.` or `..` segment",
                path.escape_debug()
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LackingRequest {
    pub sha256: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LackingResponse {
    pub lacking: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitFile {
    /// Relative to the repo directory, e.g. `repodata/<sha>-primary.xml.zst`.
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// Relative to the `/pub` tree, e.g. `critical/43/x86_64`.
    pub repo_path: String,
    pub revision: u64,
    pub files: Vec<CommitFile>,
    pub repomd_base64: String,
    pub repomd_asc_base64: String,
    /// The repo public key(s) the .asc verifies with (`repodata/repomd.xml.key`,
    /// as openSUSE repositories serve it), written beside it in the same commit.
    /// Left out by origins before it; a receiver then removes a stale one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repomd_key_base64: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitResponse {
    pub repo_path: String,
    pub revision: u64,
    pub repomd_sha256: String,
    /// Files newly linked into the tree by this commit.
    pub linked: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoStatus {
    pub revision: u64,
    pub repomd_sha256: String,
    pub committed_unix_secs: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatusResponse {
    pub repos: BTreeMap<String, RepoStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_and_every_refusal() {
        let secret = b"0123456789abcdef-secret";
        let body = sha256_hex(b"{}");
        let signed = sign(
            secret,
            "post",
            "/push/v1/commit",
            1000,
            new_nonce(),
            body.clone(),
        );
        let mut nonces = NonceCache::default();
        assert_eq!(
            verify(
                secret,
                "POST",
                "/push/v1/commit",
                &signed,
                1100,
                &mut nonces
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                secret,
                "POST",
                "/push/v1/commit",
                &signed,
                1100,
                &mut nonces
            ),
            Err(AuthError::Replay)
        );
        let other = sign(
            secret,
            "POST",
            "/push/v1/commit",
            1000,
            new_nonce(),
            body.clone(),
        );
        assert_eq!(
            verify(
                b"another-secret-123",
                "POST",
                "/push/v1/commit",
                &other,
                1000,
                &mut nonces
            ),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify(secret, "POST", "/push/v1/status", &other, 1000, &mut nonces),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify(secret, "PUT", "/push/v1/commit", &other, 1000, &mut nonces),
            Err(AuthError::BadSignature)
        );
        let mut tampered = other.clone();
        tampered.content_sha256 = sha256_hex(b"x");
        assert_eq!(
            verify(
                secret,
                "POST",
                "/push/v1/commit",
                &tampered,
                1000,
                &mut nonces
            ),
            Err(AuthError::BadSignature)
        );
        assert!(matches!(
            verify(secret, "POST", "/push/v1/commit", &other, 1301, &mut nonces),
            Err(AuthError::Stale { .. })
        ));
        assert!(matches!(
            verify(secret, "POST", "/push/v1/commit", &other, 699, &mut nonces),
            Err(AuthError::Stale { .. })
        ));
        assert_eq!(
            verify(secret, "POST", "/push/v1/commit", &other, 700, &mut nonces),
            Ok(())
        );
    }

    #[test]
    fn nonces_expire_after_the_window_and_stay_bounded() {
        let mut nonces = NonceCache::default();
        nonces.insert("a", 0).unwrap();
        assert_eq!(
            nonces.insert("a", 2 * CLOCK_SKEW_SECS),
            Err(AuthError::Replay)
        );
        nonces.insert("b", 2 * CLOCK_SKEW_SECS + 10).unwrap();
        nonces.insert("a", 2 * CLOCK_SKEW_SECS + 2).unwrap_or(());
        assert!(nonces.len() <= 2);
    }

    #[test]
    fn headers_must_be_well_formed() {
        let ok = |name: &str| match name {
            HEADER_TIMESTAMP => Some("12"),
            HEADER_NONCE => Some("0123456789abcdef0123456789abcdef"),
            HEADER_CONTENT_SHA256 | HEADER_SIGNATURE => Some("ab".repeat(32).leak() as &str),
            _ => None,
        };
        assert!(parse_headers(ok).is_ok());
        assert_eq!(
            parse_headers(|n| if n == HEADER_NONCE {
                Some("short")
            } else {
                ok(n)
            }),
            Err(AuthError::Missing(HEADER_NONCE))
        );
        assert_eq!(
            parse_headers(|n| if n == HEADER_TIMESTAMP { None } else { ok(n) }),
            Err(AuthError::Missing(HEADER_TIMESTAMP))
        );
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "a//b",
            "./a",
            "a\\b",
            "a\0b",
            "a/\nb",
            "a/",
        ] {
            assert!(check_relative_path(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "critical/43/x86_64",
            "repodata/abc-primary.xml.zst",
            "Packages/h/hello-1.0-1.noarch.rpm",
            "a..b",
        ] {
            assert_eq!(check_relative_path(good), Ok(()), "{good:?}");
        }
    }
}
