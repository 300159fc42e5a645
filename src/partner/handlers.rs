//! The HTTP handlers of the push protocol (`lacking`, blob upload, commit, status, metalink copies) and of `/pub`; thin: the tree does the work.
use super::*;

/// Authenticates a signed request and reads its JSON body (at most
/// `JSON_BYTES_MAX`); `what` names the request in the refusal.
async fn signed_json<T: serde::de::DeserializeOwned>(
    rx: &Receiver,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    what: &str,
) -> Result<T, ApiError> {
    let signed = rx.authenticate(method, uri, headers)?;
    let bytes = rx.read_body(body, JSON_BYTES_MAX, &signed).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::with_status(StatusCode::BAD_REQUEST, format!("bad {what} request: {e}"))
    })
}

pub(super) async fn lacking(
    State(rx): State<Arc<Receiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<LackingResponse>, ApiError> {
    let request: LackingRequest =
        signed_json(&rx, &method, &uri, &headers, body, "lacking").await?;
    if request.sha256.len() > protocol::LACKING_MAX {
        return Err(ApiError::with_status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("more than {} sha256s", protocol::LACKING_MAX),
        ));
    }
    if let Some(bad) = request.sha256.iter().find(|s| !protocol::is_sha256_hex(s)) {
        return Err(ApiError::with_status(
            StatusCode::BAD_REQUEST,
            format!("`{}` is not a lowercase hex sha256", bad.escape_debug()),
        ));
    }
    let unique: BTreeSet<String> = request.sha256.into_iter().collect();
    let lacking = unique.into_iter().filter(|s| !rx.has_blob(s)).collect();
    Ok(Json(LackingResponse { lacking }))
}

/// Removes a temporary file unless disarmed (also when the request is dropped).
pub(super) struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub(super) async fn upload_blob(
    State(rx): State<Arc<Receiver>>,
    UrlPath(sha256): UrlPath<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let signed = rx.authenticate(&method, &uri, &headers)?;
    if !protocol::is_sha256_hex(&sha256) {
        return Err(ApiError::with_status(
            StatusCode::BAD_REQUEST,
            "the blob name is not a lowercase hex sha256",
        ));
    }
    if signed.content_sha256 != sha256 {
        return Err(ApiError::with_status(
            StatusCode::BAD_REQUEST,
            "the signed body sha256 is not the blob's name",
        ));
    }
    let final_path = rx.dirs.blob(&sha256);
    if final_path.is_file() {
        return Ok(StatusCode::OK);
    }
    let temp = rx.dirs.tmp.join(format!("{}.part", protocol::new_nonce()));
    let mut guard = TempGuard(Some(temp.clone()));
    let mut file = tokio::fs::File::create(&temp)
        .await
        .map_err(|e| ApiError::io("creating an upload file", &e))?;
    let mut hasher = Sha256::new();
    let mut size_bytes = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::with_status(StatusCode::BAD_REQUEST, format!("upload broken off: {e}"))
        })?;
        size_bytes += chunk.len() as u64;
        if size_bytes > rx.blob_bytes_max {
            return Err(ApiError::with_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the blob is larger than {} bytes", rx.blob_bytes_max),
            ));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::io("writing an upload", &e))?;
    }
    let got = hex::encode(hasher.finalize());
    if got != sha256 {
        return Err(ApiError::with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the uploaded bytes hash to `{got}`, not `{sha256}`"),
        ));
    }
    // tokio's File reports the error of its last background write on
    // `flush`, not on `sync_all`: without it a full disk went unnoticed.
    file.flush()
        .await
        .map_err(|e| ApiError::io("writing an upload", &e))?;
    file.sync_all()
        .await
        .map_err(|e| ApiError::io("syncing an upload", &e))?;
    drop(file);
    let parent = final_path.parent().expect("blob paths have a parent");
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(|e| ApiError::io("creating a blob directory", &e))?;
    tokio::fs::rename(&temp, &final_path)
        .await
        .map_err(|e| ApiError::io("storing a blob", &e))?;
    guard.0 = None;
    tracing::debug!(sha256 = %sha256, size_bytes, "blob stored");
    Ok(StatusCode::CREATED)
}

pub(super) async fn commit(
    State(rx): State<Arc<Receiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CommitResponse>, ApiError> {
    let request: CommitRequest = signed_json(&rx, &method, &uri, &headers, body, "commit").await?;
    let checked = check_commit(&request)?;
    let guard = rx.state.clone().lock_owned().await;
    let rx2 = rx.clone();
    let response = tokio::task::spawn_blocking(move || {
        let mut guard = guard;
        let response = rx2.apply_commit(&request, &checked, &mut guard)?;
        rx2.sweep(&mut guard, now_secs());
        Ok::<_, ApiError>(response)
    })
    .await
    .map_err(|e| ApiError::internal("commit task", e))??;
    tracing::info!(repo_path = %response.repo_path, revision = response.revision, linked = response.linked, "revision committed");
    Ok(Json(response))
}

pub(super) async fn status(
    State(rx): State<Arc<Receiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<StatusResponse>, ApiError> {
    let signed = rx.authenticate(&method, &uri, &headers)?;
    rx.read_body(body, 0, &signed).await?;
    let state = rx.state.lock().await;
    Ok(Json(StatusResponse {
        repos: state.repos.clone(),
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct MetalinkQuery {
    pub(super) repo: Option<String>,
    pub(super) arch: Option<String>,
}

pub(super) fn metalink_file(rx: &Receiver, query: &MetalinkQuery) -> Option<PathBuf> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !s.starts_with('.')
    };
    match (query.repo.as_deref(), query.arch.as_deref()) {
        (Some(repo), Some(arch)) if ok(repo) && ok(arch) => {
            Some(rx.dirs.metalink.join(format!("{repo}.{arch}.xml")))
        }
        _ => None,
    }
}

pub(super) async fn put_metalink(
    State(rx): State<Arc<Receiver>>,
    Query(query): Query<MetalinkQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let signed = rx.authenticate(&method, &uri, &headers)?;
    let bytes = rx.read_body(body, METALINK_BYTES_MAX, &signed).await?;
    let path = metalink_file(&rx, &query).ok_or_else(|| {
        ApiError::with_status(
            StatusCode::BAD_REQUEST,
            "`repo` and `arch` must be 1 to 64 of a-z, A-Z, 0-9, `.`, `_`, `-`",
        )
    })?;
    tokio::task::spawn_blocking(move || fs::write_atomic(&path, &bytes))
        .await
        .map_err(|e| ApiError::internal("metalink task", e))?
        .map_err(|e| ApiError::internal("writing the metalink copy", e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the read path keeps in memory: small files by version, and what each
/// metalink copy (by its sha256) says.
#[derive(Debug, Default)]
pub(super) struct ReadCache {
    pub(super) files: pub_files::FileCache,
    copies: std::sync::Mutex<HashMap<String, Arc<CopyFacts>>>,
}

/// Bound of the parsed metalink copies kept; when full it starts over.
const COPIES_MAX: usize = 1024;

/// What a metalink copy says, as far as serving it goes.
#[derive(Debug)]
pub(super) struct CopyFacts {
    /// The repomd.xml it names (lower-case hex).
    repomd_sha256: String,
    /// The repository it describes (`critical/43/x86_64`), from its URLs.
    repo_path: Option<String>,
    /// The same ETag the origin gives this content (`io::etag::metalink_etag`).
    etag: axum::http::HeaderValue,
}

impl ReadCache {
    fn copy_facts(&self, copy: &pub_files::CachedFile) -> Option<Arc<CopyFacts>> {
        let mut copies = self.copies.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = copies.get(&copy.sha256) {
            return Some(hit.clone());
        }
        let text = std::str::from_utf8(&copy.bytes).ok()?;
        let parsed = crate::core::metalink::parse(text).ok()?;
        let repomd_sha256 = parsed.repomd.hash("sha256")?.to_owned();
        let urls: Vec<&str> = parsed.urls.iter().map(|u| u.url.as_str()).collect();
        let repo_path = urls.iter().find_map(|u| repo_path_of(u));
        let facts = Arc::new(CopyFacts {
            etag: crate::io::etag::metalink_etag(&repomd_sha256, &urls),
            repomd_sha256,
            repo_path,
        });
        if copies.len() >= COPIES_MAX {
            copies.clear();
        }
        copies.insert(copy.sha256.clone(), facts.clone());
        Some(facts)
    }
}

/// The repository path (`channel/release/arch`) a repomd.xml URL names.
fn repo_path_of(url: &str) -> Option<String> {
    let dir = url.strip_suffix("/repodata/repomd.xml")?;
    let parts: Vec<&str> = dir.rsplit('/').take(3).collect();
    let path = format!("{}/{}/{}", parts.get(2)?, parts.get(1)?, parts.first()?);
    pub_files::safe_path(&path).then_some(path)
}

/// `GET /metalink?repo=..&arch=..`: the copy the origin pushed, served only
/// while it names the repomd.xml this partner serves right now (a copy
/// pushed before this partner's latest commit, or one naming a revision it
/// does not hold, is a 404: a metalink never carries a hash its host does not
/// serve). Answers `If-None-Match` with 304; the weak ETag is the one the
/// origin gives the same content.
pub(super) async fn get_metalink(
    State(rx): State<Arc<Receiver>>,
    Query(query): Query<MetalinkQuery>,
    headers: HeaderMap,
) -> Response {
    into_response(metalink_answer(&rx, &query, &headers))
}

/// The answer of [`get_metalink`] (and of the fast lane).
fn metalink_answer(rx: &Receiver, query: &MetalinkQuery, headers: &HeaderMap) -> Answer {
    let Some(path) = metalink_file(rx, query) else {
        return not_found();
    };
    let Some(copy) = rx.read_cache.files.get(&path) else {
        return not_found();
    };
    let Some(facts) = rx.read_cache.copy_facts(&copy) else {
        return not_found();
    };
    let serves_it = facts.repo_path.as_ref().is_some_and(|repo| {
        let repomd = rx.dirs.public.join(repo).join("repodata/repomd.xml");
        rx.read_cache
            .files
            .get(&repomd)
            .is_some_and(|own| own.sha256 == facts.repomd_sha256)
    });
    if !serves_it {
        tracing::debug!(
            metalink = %path.display(),
            "metalink copy names a repomd.xml this partner does not serve; answering 404"
        );
        return not_found();
    }
    if let Some(resp) = crate::io::etag::check(headers, &facts.etag, pub_files::NO_CACHE) {
        return resp;
    }
    let resp = pub_files::bytes_answer(
        copy.bytes.clone(),
        "application/metalink+xml",
        pub_files::NO_CACHE,
    );
    crate::io::etag::with_etag(resp, facts.etag.clone())
}

/// `/pub/...`: the shared responder (`io::pub_files`): exact bytes with
/// Content-Length, no Content-Encoding; repomd.xml and its .asc `no-cache`
/// from memory with their sha256 as ETag (304 on `If-None-Match`),
/// content-named metadata `immutable`.
pub(super) async fn serve_pub(
    State(rx): State<Arc<Receiver>>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    match pub_answer_now(&rx, &path, &headers) {
        Some(answer) => into_response(answer),
        None => pub_files::serve_read(&rx.dirs.public, &path, Some(&rx.read_cache.files)).await,
    }
}

/// What [`serve_pub`] answers without reading from disk; `None`: the file
/// must be read first (`pub_files::serve_read`).
fn pub_answer_now(rx: &Receiver, path: &str, headers: &HeaderMap) -> Option<Answer> {
    if protocol::check_relative_path(path).is_err() {
        return Some(not_found());
    }
    pub_files::serve_now(&rx.dirs.public, path, headers, Some(&rx.read_cache.files))
}

/// The receiver's fast lane (`io::lane`): its metalink copies, and every
/// `/pub` file that needs no read from disk, answered on the listener's own
/// threads by the same functions as [`get_metalink`] and [`serve_pub`].
/// Everything else goes to the router (a query the router would refuse too).
pub(super) fn lane(rx: Arc<Receiver>) -> Lane {
    Arc::new(move |req| {
        let path = req.uri().path();
        if path == "/metalink" {
            let Query(query) = Query::<MetalinkQuery>::try_from_uri(req.uri()).ok()?;
            return Some(metalink_answer(&rx, &query, req.headers()));
        }
        let rest = path.strip_prefix("/pub/").filter(|r| !r.is_empty())?;
        pub_answer_now(&rx, rest, req.headers())
    })
}
