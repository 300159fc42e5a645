//! The receiver's tree on disk: its data directories, `state.json`, request authentication, and the commit (link and re-hash every file, then rename repomd.xml.asc and repomd.xml into place last) and the retention sweep.
use super::*;

/// Everything a request handler needs.
pub struct Receiver {
    pub(super) dirs: Dirs,
    pub(super) secret: Vec<u8>,
    pub(super) nonces: std::sync::Mutex<NonceCache>,
    pub(super) blob_bytes_max: u64,
    pub(super) retention_secs: u64,
    /// Serializes commits and sweeps.
    pub(super) state: Arc<tokio::sync::Mutex<PersistedState>>,
    /// repomd.xml, .asc and metalink copies, hashed once per version.
    pub(super) read_cache: ReadCache,
    /// Refused signatures per network ([`BAD_AUTH_MAX`] per [`BAD_AUTH_WINDOW_SECS`]).
    pub(super) auth_limit: crate::io::auth_limit::AuthLimiter,
}

#[derive(Debug)]
pub(super) struct Dirs {
    pub(super) root: PathBuf,
    pub(super) blobs: PathBuf,
    pub(super) tmp: PathBuf,
    pub(super) public: PathBuf,
    pub(super) metalink: PathBuf,
    pub(super) tls: PathBuf,
    pub(super) state_file: PathBuf,
}

impl Dirs {
    pub(super) fn create(root: &Path) -> anyhow::Result<Dirs> {
        let dirs = Dirs {
            root: root.to_path_buf(),
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
            public: root.join("pub"),
            metalink: root.join("metalink"),
            tls: root.join("tls"),
            state_file: root.join("state.json"),
        };
        for dir in [
            &dirs.root,
            &dirs.blobs,
            &dirs.tmp,
            &dirs.public,
            &dirs.metalink,
            &dirs.tls,
        ] {
            fs_err::create_dir_all(dir).map_err(|e| {
                user_error(
                    format!("cannot create the data directory: {e}"),
                    "pass a writable `--data-dir DIR`",
                )
            })?;
        }
        Ok(dirs)
    }

    pub(super) fn blob(&self, sha256: &str) -> PathBuf {
        self.blobs.join(&sha256[..2]).join(sha256)
    }
}

/// What survives a restart: `state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct PersistedState {
    pub(super) repos: BTreeMap<String, RepoStatus>,
    /// repo path -> file path -> when a commit last named it (Unix seconds).
    pub(super) refs: BTreeMap<String, BTreeMap<String, u64>>,
}

pub(super) fn load_state(path: &Path) -> anyhow::Result<PersistedState> {
    match fs_err::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "`{}` is damaged; move it away to start over (the tree stays)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PersistedState::default()),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Receiver {
    pub(super) fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Signed, ApiError> {
        let unauthorized =
            |e: protocol::AuthError| ApiError::with_status(StatusCode::UNAUTHORIZED, e.to_string());
        let signed =
            protocol::parse_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()))
                .map_err(unauthorized)?;
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_else(|| uri.path());
        let mut nonces = self
            .nonces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        protocol::verify(
            &self.secret,
            method.as_str(),
            path_and_query,
            &signed,
            now_secs(),
            &mut nonces,
        )
        .map_err(unauthorized)?;
        Ok(signed)
    }

    pub(super) async fn read_body(
        &self,
        body: Body,
        limit: usize,
        signed: &Signed,
    ) -> Result<axum::body::Bytes, ApiError> {
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            ApiError::with_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {limit} bytes or broken"),
            )
        })?;
        if protocol::sha256_hex(&bytes) != signed.content_sha256 {
            return Err(ApiError::with_status(
                StatusCode::BAD_REQUEST,
                "the body's sha256 is not the signed one",
            ));
        }
        Ok(bytes)
    }

    pub(super) fn has_blob(&self, sha256: &str) -> bool {
        self.dirs.blob(sha256).is_file()
    }
}

/// A commit's repomd bytes, decoded and checked before any file is touched.
pub(super) struct CheckedCommit {
    pub(super) repomd: Vec<u8>,
    pub(super) repomd_asc: Vec<u8>,
    /// `repodata/repomd.xml.key`; `None` when the origin sent none.
    pub(super) repomd_key: Option<Vec<u8>>,
}

pub(super) const REPOMD: &str = "repodata/repomd.xml";
pub(super) const REPOMD_ASC: &str = "repodata/repomd.xml.asc";
pub(super) const REPOMD_KEY: &str = "repodata/repomd.xml.key";

pub(super) fn check_commit(request: &CommitRequest) -> Result<CheckedCommit, ApiError> {
    let bad = |m: String| ApiError::with_status(StatusCode::BAD_REQUEST, m);
    protocol::check_relative_path(&request.repo_path)
        .map_err(|r| bad(format!("repo path refused: {r}")))?;
    if request.files.len() > protocol::COMMIT_FILES_MAX {
        return Err(bad(format!(
            "more than {} files",
            protocol::COMMIT_FILES_MAX
        )));
    }
    let mut paths = BTreeSet::new();
    for file in &request.files {
        protocol::check_relative_path(&file.path)
            .map_err(|r| bad(format!("file path refused: {r}")))?;
        if file.path == REPOMD || file.path == REPOMD_ASC || file.path == REPOMD_KEY {
            return Err(bad(format!(
                "`{}` comes as repomd bytes, not as a file",
                file.path
            )));
        }
        if !protocol::is_sha256_hex(&file.sha256) {
            return Err(bad(format!(
                "`{}`: `{}` is not a lowercase hex sha256",
                file.path,
                file.sha256.escape_debug()
            )));
        }
        if !paths.insert(file.path.as_str()) {
            return Err(bad(format!("`{}` is named twice", file.path)));
        }
    }
    let decode = |what: &str, text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| bad(format!("{what} is not base64: {e}")))
    };
    let repomd = decode("repomd", &request.repomd_base64)?;
    let repomd_asc = decode("repomd.asc", &request.repomd_asc_base64)?;
    if repomd.is_empty()
        || repomd.len() > REPOMD_BYTES_MAX
        || repomd_asc.is_empty()
        || repomd_asc.len() > REPOMD_BYTES_MAX
    {
        return Err(bad(format!(
            "repomd.xml and its .asc must each be 1 to {REPOMD_BYTES_MAX} bytes"
        )));
    }
    // The repomd must not name a file the commit does not bring.
    for href in repomd_locations(&repomd).map_err(|e| {
        ApiError::with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("repomd.xml does not parse: {e}"),
        )
    })? {
        if !paths.contains(href.as_str()) {
            return Err(ApiError::with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("repomd.xml names `{href}`, which the commit does not list"),
            ));
        }
    }
    let repomd_key = if request.repomd_key_base64.is_empty() {
        None
    } else {
        let key = decode("repomd.key", &request.repomd_key_base64)?;
        if key.len() > REPOMD_BYTES_MAX || !key.starts_with(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
        {
            return Err(bad(format!(
                "repomd.xml.key must be an ASCII-armored public key of at most {REPOMD_BYTES_MAX} bytes"
            )));
        }
        Some(key)
    };
    Ok(CheckedCommit {
        repomd,
        repomd_asc,
        repomd_key,
    })
}

/// Every `<location href>` in a repomd.xml.
pub(super) fn repomd_locations(repomd: &[u8]) -> Result<Vec<String>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(repomd);
    let mut hrefs = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(|e| e.to_string())?
        {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"location" => {
                if let Some(attr) = e.try_get_attribute("href").map_err(|e| e.to_string())? {
                    let value = attr.unescape_value().map_err(|e| e.to_string())?;
                    hrefs.push(value.into_owned());
                }
            }
            _ => {}
        }
        buf.clear();
    }
    Ok(hrefs)
}

impl Receiver {
    /// Links, re-hashes, then renames repomd.xml.asc and repomd.xml into place; runs
    /// with the state lock held, on a blocking thread.
    pub(super) fn apply_commit(
        &self,
        request: &CommitRequest,
        checked: &CheckedCommit,
        state: &mut PersistedState,
    ) -> Result<CommitResponse, ApiError> {
        let unprocessable = |m: String| ApiError::with_status(StatusCode::UNPROCESSABLE_ENTITY, m);
        if let Some(held) = state.repos.get(&request.repo_path) {
            if request.revision < held.revision {
                return Err(ApiError::with_status(
                    StatusCode::CONFLICT,
                    format!(
                        "`{}` holds revision {}, newer than {}",
                        request.repo_path, held.revision, request.revision
                    ),
                ));
            }
        }
        // Every file must be here, whole, with the right hash, before anything moves.
        for file in &request.files {
            let blob = self.dirs.blob(&file.sha256);
            let size_bytes = match std::fs::metadata(&blob) {
                Ok(meta) if meta.is_file() => meta.len(),
                _ => {
                    return Err(unprocessable(format!(
                        "`{}`: blob `{}` is missing; upload it first",
                        file.path, file.sha256
                    )))
                }
            };
            if size_bytes != file.size {
                // Blobs are verified on upload, so this one was damaged since: drop it.
                let _ = std::fs::remove_file(&blob);
                return Err(unprocessable(format!(
                    "`{}`: blob is {size_bytes} bytes, the commit says {}; removed, push again",
                    file.path, file.size
                )));
            }
            let got = hash_file(&blob).map_err(|e| ApiError::internal("hashing a blob", e))?;
            if got != file.sha256 {
                // Damaged on disk: drop it so the next push uploads it again.
                let _ = std::fs::remove_file(&blob);
                return Err(unprocessable(format!(
                    "`{}`: blob hashes to `{got}`, not `{}`; removed, push again",
                    file.path, file.sha256
                )));
            }
        }
        let repo_dir = self.dirs.public.join(&request.repo_path);
        let mut touched_dirs = BTreeSet::new();
        let mut linked = 0;
        for file in &request.files {
            let blob = self.dirs.blob(&file.sha256);
            let target = repo_dir.join(&file.path);
            if same_file(&blob, &target) {
                continue;
            }
            let parent = target
                .parent()
                .expect("joined paths have a parent")
                .to_path_buf();
            fs_err::create_dir_all(&parent)
                .map_err(|e| ApiError::internal("creating a tree directory", e))?;
            let temp = parent.join(format!(".{}.hotpush-tmp", protocol::new_nonce()));
            fs_err::hard_link(&blob, &temp)
                .map_err(|e| ApiError::internal("linking a blob into the tree", e))?;
            fs_err::rename(&temp, &target).map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                ApiError::internal("renaming a file into the tree", e)
            })?;
            touched_dirs.insert(parent);
            linked += 1;
        }
        for dir in &touched_dirs {
            fs::sync_dir(dir).map_err(|e| ApiError::internal("syncing a tree directory", e))?;
        }
        let repodata = repo_dir.join("repodata");
        fs_err::create_dir_all(&repodata)
            .map_err(|e| ApiError::internal("creating repodata", e))?;
        // The key first: whenever the .asc is in place, the key beside it
        // verifies it (kept in lock-step with the repomd served).
        match &checked.repomd_key {
            Some(key) => fs::write_atomic(&repodata.join("repomd.xml.key"), key)
                .map_err(|e| ApiError::internal("writing repomd.xml.key", e))?,
            None => match std::fs::remove_file(repodata.join("repomd.xml.key")) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ApiError::internal("removing a stale repomd.xml.key", e)),
            },
        }
        fs::write_atomic(&repodata.join("repomd.xml.asc"), &checked.repomd_asc)
            .map_err(|e| ApiError::internal("writing repomd.xml.asc", e))?;
        fs::write_atomic(&repodata.join("repomd.xml"), &checked.repomd)
            .map_err(|e| ApiError::internal("writing repomd.xml", e))?;
        // Check twice: read back what clients will be served.
        let back = fs_err::read(repodata.join("repomd.xml"))
            .map_err(|e| ApiError::internal("reading repomd.xml back", e))?;
        if back != checked.repomd {
            return Err(ApiError::internal(
                "reading repomd.xml back",
                "the bytes differ from those written",
            ));
        }
        let now = now_secs();
        let repomd_sha256 = protocol::sha256_hex(&checked.repomd);
        state.repos.insert(
            request.repo_path.clone(),
            RepoStatus {
                revision: request.revision,
                repomd_sha256: repomd_sha256.clone(),
                committed_unix_secs: now,
            },
        );
        let refs = state.refs.entry(request.repo_path.clone()).or_default();
        for file in &request.files {
            refs.insert(file.path.clone(), now);
        }
        let json = serde_json::to_vec_pretty(&*state)
            .map_err(|e| ApiError::internal("encoding state", e))?;
        fs::write_atomic(&self.dirs.state_file, &json)
            .map_err(|e| ApiError::internal("writing state.json", e))?;
        Ok(CommitResponse {
            repo_path: request.repo_path.clone(),
            revision: request.revision,
            repomd_sha256,
            linked,
        })
    }

    /// Deletes, at most [`SWEEP_DELETIONS_MAX`] at a time, tree files no current
    /// repomd names for longer than the retention period, then blobs no tree file
    /// links to that are as old, then stale uploads.
    pub(super) fn sweep(&self, state: &mut PersistedState, now: u64) {
        let mut deleted = 0usize;
        let mut changed = false;
        for (repo_path, refs) in state.refs.iter_mut() {
            let current_since = state
                .repos
                .get(repo_path)
                .map(|r| r.committed_unix_secs)
                .unwrap_or(0);
            let expired: Vec<String> = refs
                .iter()
                .filter(|(_, &at)| {
                    at < current_since && now.saturating_sub(at) > self.retention_secs
                })
                .map(|(path, _)| path.clone())
                .take(SWEEP_DELETIONS_MAX - deleted)
                .collect();
            for path in expired {
                let _ = std::fs::remove_file(self.dirs.public.join(repo_path).join(&path));
                refs.remove(&path);
                deleted += 1;
                changed = true;
            }
            if deleted >= SWEEP_DELETIONS_MAX {
                break;
            }
        }
        if changed {
            if let Ok(json) = serde_json::to_vec_pretty(&*state) {
                if let Err(e) = fs::write_atomic(&self.dirs.state_file, &json) {
                    tracing::error!(error = %e, "writing state.json after a sweep");
                }
            }
        }
        let old = |meta: &std::fs::Metadata, age_secs: u64| {
            meta.modified()
                .ok()
                .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                .map(|m| now.saturating_sub(m.as_secs()) > age_secs)
                .unwrap_or(false)
        };
        let shards = std::fs::read_dir(&self.dirs.blobs)
            .into_iter()
            .flatten()
            .flatten();
        'outer: for shard in shards {
            for blob in std::fs::read_dir(shard.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if deleted >= SWEEP_DELETIONS_MAX {
                    break 'outer;
                }
                let Ok(meta) = blob.metadata() else { continue };
                use std::os::unix::fs::MetadataExt;
                if meta.nlink() == 1 && old(&meta, self.retention_secs) {
                    let _ = std::fs::remove_file(blob.path());
                    deleted += 1;
                }
            }
        }
        for part in std::fs::read_dir(&self.dirs.tmp)
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(meta) = part.metadata() {
                if old(&meta, TMP_AGE_MAX_SECS) {
                    let _ = std::fs::remove_file(part.path());
                }
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "retention sweep removed old files");
        }
    }
}

pub(super) fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

pub(super) fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::symlink_metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
