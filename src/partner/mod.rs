//! `hotpush receive`: the partner mirror's receiver for pushed revisions. Owns the
//! receiver's settings (`receive.toml` + flags), its data directory, the HTTPS
//! listener for the push protocol (see `protocol.rs` for the endpoints), the `/pub`
//! tree it serves (over the same HTTPS listener and optionally plain HTTP), and the
//! retention sweep.
//!
//! Data directory layout: `tls/{cert,key}.pem` (self-signed unless configured),
//! `blobs/<aa>/<sha256>` (verified uploads), `tmp/` (uploads in flight), `pub/` (the
//! served tree; files are hard links to blobs), `metalink/` (copies pushed by the
//! origin), `state.json` (revision per repo path and when each file was last named),
//! `listening` (the bound addresses, one `push URL` / `public URL` per line).
//!
//! Invariant: repomd.xml in `pub/` only names files present in `pub/` with the hashes
//! it states: a commit links and re-hashes every file first and renames
//! repomd.xml.asc, then repomd.xml, into place last.
//!
//! Must not know about the origin's database or queue; of a metalink copy it
//! reads only the repomd hash and the URLs (to serve a copy only while it names
//! the repomd.xml this partner serves).
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::core::protocol::{
    self, CommitRequest, CommitResponse, LackingRequest, LackingResponse, NonceCache, RepoStatus,
    Signed, StatusResponse,
};
use crate::io::fs;
use crate::io::http_error::ApiError;
use crate::io::lane::{into_response, Answer, Lane};
use crate::io::pub_files::{self, not_found};
use crate::logging::user_error;

/// Default data directory, relative to the working directory.
mod handlers;
mod server;
mod settings;
mod tree;

use handlers::*;
pub use server::*;
pub use settings::*;
pub use tree::*;

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::CommitFile;

    fn request(files: Vec<(&str, &str)>, repomd: &str) -> CommitRequest {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        CommitRequest {
            repo_path: "critical/43/x86_64".into(),
            revision: 1,
            files: files
                .into_iter()
                .map(|(p, s)| CommitFile {
                    path: p.into(),
                    sha256: s.into(),
                    size: 1,
                })
                .collect(),
            repomd_base64: b64(repomd),
            repomd_asc_base64: b64("sig"),
            repomd_key_base64: String::new(),
        }
    }

    #[test]
    fn commit_checks_paths_and_that_repomd_names_only_listed_files() {
        let sha = "a".repeat(64);
        let repomd = r#"<repomd><data type="primary"><location href="repodata/x-primary.xml.zst"/></data></repomd>"#;
        assert!(check_commit(&request(vec![("repodata/x-primary.xml.zst", &sha)], repomd)).is_ok());
        let e = check_commit(&request(vec![], repomd)).err().unwrap();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            e.message.contains("repodata/x-primary.xml.zst"),
            "{}",
            e.message
        );
        for bad in ["../x", "/x", "a\\b", "repodata/repomd.xml"] {
            let e = check_commit(&request(
                vec![(bad, &sha), ("repodata/x-primary.xml.zst", &sha)],
                repomd,
            ))
            .err()
            .unwrap();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        let mut r = request(vec![("repodata/x-primary.xml.zst", &sha)], repomd);
        r.repo_path = "critical/../../etc".into();
        assert_eq!(
            check_commit(&r).err().unwrap().status,
            StatusCode::BAD_REQUEST
        );
    }
}
