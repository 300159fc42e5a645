//! The origin's side of the `https` push protocol: a signed-request client for one
//! `hotpush receive` partner (ask what it lacks, upload blobs streamed from disk,
//! commit, status, metalink copy) and the TLS client set-up shared with the public
//! verification. The protocol itself is described in `protocol.rs`.
//!
//! Must not know about fan-out order, retries or deadlines: that is `fanout.rs`.
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use super::{RepoRevision, TreeFile};
use crate::core::protocol::{
    self, CommitFile, CommitRequest, CommitResponse, LackingRequest, LackingResponse,
    StatusResponse,
};
use crate::origin::mirrors::Mirror;

/// Why a push step failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Network trouble, timeouts, 5xx, damaged uploads: worth another attempt.
    #[error("{0}")]
    Transient(String),
    /// Refusals that will not change on their own (bad secret, bad path, old revision).
    #[error("{0}")]
    Permanent(String),
}

impl PushError {
    pub fn is_transient(&self) -> bool {
        matches!(self, PushError::Transient(_))
    }
}

/// A TLS client that trusts the system and public roots plus `ca_file` (PEM,
/// e.g. a receiver's self-signed certificate), with the given timeouts, never
/// through a proxy, following at most 5 redirects (a public URL may move).
pub fn http_client(
    ca_file: Option<&Path>,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> anyhow::Result<reqwest::Client> {
    crate::io::http::ClientSpec::new("hotpush")
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .redirects(5)
        .ca_file(ca_file)
        .no_proxy()
        .build()
}

/// A signed-request client for one receiver.
pub struct HttpsClient {
    base: String,
    secret: Vec<u8>,
    http: reqwest::Client,
    request_timeout: Duration,
}

enum SendBody {
    Empty,
    Bytes(Vec<u8>, &'static str),
    File(tokio::fs::File, u64),
}

impl HttpsClient {
    pub fn new(
        mirror: &Mirror,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> anyhow::Result<HttpsClient> {
        let secret = crate::io::secret::read_bytes(
            &mirror.secret_file,
            &format!("mirror `{}`", mirror.name),
        )?;
        Ok(HttpsClient {
            base: mirror.push_url.trim_end_matches('/').to_string(),
            secret,
            http: http_client(mirror.ca_file.as_deref(), connect_timeout, request_timeout)?,
            request_timeout,
        })
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: SendBody,
        content_sha256: String,
    ) -> Result<reqwest::Response, PushError> {
        let now_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let signed = protocol::sign(
            &self.secret,
            method.as_str(),
            path_and_query,
            now_secs,
            protocol::new_nonce(),
            content_sha256,
        );
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path_and_query}", self.base))
            .header(
                protocol::HEADER_TIMESTAMP,
                signed.timestamp_secs.to_string(),
            )
            .header(protocol::HEADER_NONCE, &signed.nonce)
            .header(protocol::HEADER_CONTENT_SHA256, &signed.content_sha256)
            .header(protocol::HEADER_SIGNATURE, &signed.signature);
        request = match body {
            SendBody::Empty => request,
            SendBody::Bytes(bytes, content_type) => {
                request.header(CONTENT_TYPE, content_type).body(bytes)
            }
            SendBody::File(file, size_bytes) => {
                // Big packages get time in proportion to their size (at least 1 MiB/s).
                let allowance =
                    self.request_timeout + Duration::from_secs(size_bytes / (1024 * 1024));
                request
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, HeaderValue::from(size_bytes))
                    .timeout(allowance)
                    .body(reqwest::Body::wrap_stream(
                        tokio_util::io::ReaderStream::new(file),
                    ))
            }
        };
        let response = request.send().await.map_err(|e| {
            PushError::Transient(format!(
                "{method} {path_and_query}: {}",
                crate::io::http::describe(&e)
            ))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let reason = crate::io::http_error::reason_of(&text);
        let message = format!("{method} {path_and_query}: {status}: {}", reason.trim());
        let transient = status.is_server_error()
            || status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
            // An upload damaged on the way: sending it again may work. (A commit refused
            // for a missing or damaged blob will not pass by repeating it: the next
            // push's stage 1 uploads the blob again.)
            || (status == StatusCode::UNPROCESSABLE_ENTITY && path_and_query.starts_with(protocol::PATH_BLOBS));
        Err(if transient {
            PushError::Transient(message)
        } else {
            PushError::Permanent(message)
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        response: reqwest::Response,
    ) -> Result<T, PushError> {
        let url = response.url().path().to_string();
        response.json::<T>().await.map_err(|e| {
            PushError::Transient(format!(
                "{url}: unreadable answer: {}",
                crate::io::http::describe(&e)
            ))
        })
    }

    /// The sha256s among `sha256s` the receiver does not hold.
    pub async fn lacking(&self, sha256s: Vec<String>) -> Result<Vec<String>, PushError> {
        let body = serde_json::to_vec(&LackingRequest { sha256: sha256s }).expect("serializable");
        let digest = protocol::sha256_hex(&body);
        let response = self
            .send(
                Method::POST,
                protocol::PATH_LACKING,
                SendBody::Bytes(body, "application/json"),
                digest,
            )
            .await?;
        Ok(Self::json::<LackingResponse>(response).await?.lacking)
    }

    /// Streams one file from disk; the receiver keeps it only when it hashes right.
    pub async fn upload(&self, file: &TreeFile) -> Result<(), PushError> {
        let source = tokio::fs::File::open(&file.source).await.map_err(|e| {
            PushError::Permanent(format!(
                "cannot open `{}` at the origin: {e}",
                file.source.display()
            ))
        })?;
        let path = format!("{}/{}", protocol::PATH_BLOBS, file.sha256);
        self.send(
            Method::PUT,
            &path,
            SendBody::File(source, file.size),
            file.sha256.clone(),
        )
        .await?;
        Ok(())
    }

    /// Asks the receiver to put a revision in place.
    pub async fn commit(&self, revision: &RepoRevision) -> Result<CommitResponse, PushError> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let request = CommitRequest {
            repo_path: revision.repo_path.clone(),
            revision: revision.revision,
            files: revision
                .files
                .iter()
                .map(|f| CommitFile {
                    path: f.path.clone(),
                    sha256: f.sha256.clone(),
                    size: f.size,
                })
                .collect(),
            repomd_base64: b64(&revision.repomd),
            repomd_asc_base64: b64(&revision.repomd_asc),
            repomd_key_base64: b64(&revision.repomd_key),
        };
        match self.send_commit(&request).await {
            // A receiver older than `repomd_key_base64` refuses the unknown
            // field: commit without the key rather than not at all.
            Err(e)
                if !request.repomd_key_base64.is_empty()
                    && e.to_string().contains("unknown field `repomd_key_base64`") =>
            {
                tracing::warn!(
                    repo = revision.repo_path,
                    "the receiver does not take repomd.xml.key (an older hotpush receive); committing without it"
                );
                let request = CommitRequest {
                    repomd_key_base64: String::new(),
                    ..request
                };
                self.send_commit(&request).await
            }
            other => other,
        }
    }

    async fn send_commit(&self, request: &CommitRequest) -> Result<CommitResponse, PushError> {
        let body = serde_json::to_vec(request).expect("serializable");
        let digest = protocol::sha256_hex(&body);
        let response = self
            .send(
                Method::POST,
                protocol::PATH_COMMIT,
                SendBody::Bytes(body, "application/json"),
                digest,
            )
            .await?;
        Self::json(response).await
    }

    /// The revision held per repo path.
    pub async fn status(&self) -> Result<StatusResponse, PushError> {
        let response = self
            .send(
                Method::GET,
                protocol::PATH_STATUS,
                SendBody::Empty,
                protocol::sha256_hex(b""),
            )
            .await?;
        Self::json(response).await
    }

    /// Stores a copy of a metalink document at the receiver.
    pub async fn put_metalink(
        &self,
        repo_id: &str,
        arch: &str,
        body: &[u8],
    ) -> Result<(), PushError> {
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        let path = format!(
            "{}?repo={}&arch={}",
            protocol::PATH_METALINK,
            enc(repo_id),
            enc(arch)
        );
        self.send(
            Method::PUT,
            &path,
            SendBody::Bytes(body.to_vec(), "application/metalink+xml"),
            protocol::sha256_hex(body),
        )
        .await?;
        Ok(())
    }
}
