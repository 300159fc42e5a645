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
//! Must not know about the origin's database, queue or metalink contents.
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::core::protocol::{
    self, CommitRequest, CommitResponse, ErrorBody, LackingRequest, LackingResponse, NonceCache,
    RepoStatus, Signed, StatusResponse,
};
use crate::logging::user_error;

/// Default data directory, relative to the working directory.
pub const DATA_DIR_DEFAULT: &str = "hotpush-receive-data";
pub const LISTEN_DEFAULT: &str = "[::]:8443";
pub const RETENTION_HOURS_DEFAULT: u64 = 48;
/// Largest blob accepted: the origin's default `package_bytes_max`.
pub const BLOB_BYTES_MAX_DEFAULT: u64 = 2 * 1024 * 1024 * 1024;
/// Largest JSON request (a commit naming many files).
pub const JSON_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Largest repomd.xml or .asc a commit may carry.
pub const REPOMD_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Largest metalink copy.
pub const METALINK_BYTES_MAX: usize = 1024 * 1024;
/// Most files one retention sweep deletes; the next sweep continues.
pub const SWEEP_DELETIONS_MAX: usize = 10_000;
/// How often the retention sweep runs besides after each commit.
pub const SWEEP_INTERVAL_SECS: u64 = 3600;
/// Uploads in flight older than this are removed by the sweep.
pub const TMP_AGE_MAX_SECS: u64 = 6 * 3600;

/// The validated settings of one receiver.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: Vec<SocketAddr>,
    pub public_listen: Vec<SocketAddr>,
    pub secret_file: PathBuf,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub retention_secs: u64,
    pub blob_bytes_max: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireConfig {
    data_dir: Option<PathBuf>,
    listen: Option<Vec<String>>,
    public_listen: Option<Vec<String>>,
    secret_file: Option<PathBuf>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    retention_hours: Option<u64>,
    blob_bytes_max: Option<u64>,
}

/// What the command line may override; `None`/empty means "not given".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Vec<String>,
    pub public_listen: Vec<String>,
    pub secret_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub retention_hours: Option<u64>,
}

impl Settings {
    /// Flags override `receive.toml`, which overrides the defaults.
    pub fn load(args: &Overrides) -> anyhow::Result<Settings> {
        let (wire, base) = match &args.config {
            Some(path) => {
                let text = fs_err::read_to_string(path).map_err(|e| {
                    user_error(
                        format!(
                            "cannot read the receiver configuration `{}`: {e}",
                            path.display()
                        ),
                        "pass an existing file with `--config FILE`",
                    )
                })?;
                let wire: WireConfig = toml::from_str(&text).map_err(|e| {
                    user_error(
                        format!("`{}` is not a valid receiver configuration: {e}", path.display()),
                        "known keys: data_dir, listen, public_listen, secret_file, tls_cert_file, tls_key_file, retention_hours, blob_bytes_max",
                    )
                })?;
                (
                    wire,
                    path.parent().map(Path::to_path_buf).unwrap_or_default(),
                )
            }
            None => (WireConfig::default(), PathBuf::new()),
        };
        let from_file =
            |p: Option<PathBuf>| p.map(|p| if p.is_absolute() { p } else { base.join(p) });
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| from_file(wire.data_dir))
            .unwrap_or_else(|| PathBuf::from(DATA_DIR_DEFAULT));
        let listen = if args.listen.is_empty() {
            wire.listen.unwrap_or_else(|| vec![LISTEN_DEFAULT.into()])
        } else {
            args.listen.clone()
        };
        let public_listen = if args.public_listen.is_empty() {
            wire.public_listen.unwrap_or_default()
        } else {
            args.public_listen.clone()
        };
        let secret_file = args
            .secret_file
            .clone()
            .or_else(|| from_file(wire.secret_file))
            .ok_or_else(|| {
                user_error(
                    "`hotpush receive` needs the secret shared with the origin",
                    "pass `--secret-file FILE` (or set `secret_file` in `--config`)",
                )
            })?;
        let tls_cert_file = args
            .tls_cert_file
            .clone()
            .or_else(|| from_file(wire.tls_cert_file));
        let tls_key_file = args
            .tls_key_file
            .clone()
            .or_else(|| from_file(wire.tls_key_file));
        if tls_cert_file.is_some() != tls_key_file.is_some() {
            return Err(user_error(
                "a TLS certificate needs its key and the other way round",
                "set both `tls_cert_file` and `tls_key_file`, or neither",
            ));
        }
        let parse_addrs = |what: &str, addrs: &[String]| -> anyhow::Result<Vec<SocketAddr>> {
            addrs
                .iter()
                .map(|a| {
                    a.parse::<SocketAddr>().map_err(|_| {
                        user_error(
                            format!("`{what}`: `{a}` is not an address with a port"),
                            "write e.g. `[::1]:8443` or `127.0.0.1:8443`",
                        )
                    })
                })
                .collect()
        };
        let mut listen = parse_addrs("listen", &listen)?;
        let mut public_listen = parse_addrs("public_listen", &public_listen)?;
        if listen.is_empty() {
            return Err(user_error(
                "no `listen` address",
                "give at least one, e.g. `--listen [::]:8443`",
            ));
        }
        // IPv6 first: bind (and report) v6 listeners before v4 ones.
        listen.sort_by_key(|a| !a.is_ipv6());
        public_listen.sort_by_key(|a| !a.is_ipv6());
        let retention_hours = args
            .retention_hours
            .or(wire.retention_hours)
            .unwrap_or(RETENTION_HOURS_DEFAULT);
        Ok(Settings {
            data_dir,
            listen,
            public_listen,
            secret_file,
            tls_cert_file,
            tls_key_file,
            retention_secs: retention_hours.saturating_mul(3600),
            blob_bytes_max: wire.blob_bytes_max.unwrap_or(BLOB_BYTES_MAX_DEFAULT),
        })
    }
}

/// Runs the receiver until SIGINT or SIGTERM.
pub fn run(settings: Settings) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(settings))?;
    Ok(ExitCode::SUCCESS)
}

/// A started receiver: every listener bound and serving, the retention sweep
/// running. Dropping it stops them.
pub struct Running {
    /// Bound addresses of the HTTPS push listeners, in `listen` order.
    pub push_addrs: Vec<SocketAddr>,
    /// Bound addresses of the plain-HTTP `/pub` listeners, in `public_listen` order.
    pub public_addrs: Vec<SocketAddr>,
    tasks: tokio::task::JoinSet<std::io::Result<()>>,
}

impl Running {
    /// `push https://ADDR` and `public http://ADDR` lines, as written to `listening`.
    pub fn listening(&self) -> String {
        let mut out = String::new();
        for a in &self.push_addrs {
            out.push_str(&format!("push https://{a}\n"));
        }
        for a in &self.public_addrs {
            out.push_str(&format!("public http://{a}\n"));
        }
        out
    }

    /// Waits until a listener stops, which is an error.
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        match self.tasks.join_next().await {
            Some(ended) => {
                ended
                    .context("a listener task failed")?
                    .context("a listener stopped")?;
                anyhow::bail!("a listener stopped")
            }
            None => anyhow::bail!("the receiver has no listener"),
        }
    }
}

/// Binds every listener (port 0 picks a free one) and starts serving; returns
/// the bound addresses.
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let secret = crate::io::secret::read_bytes(&settings.secret_file, "`--secret-file`")?;
    let dirs = Dirs::create(&settings.data_dir)?;
    let tls = tls_config(&settings, &dirs)?;
    let state = load_state(&dirs.state_file)?;
    let receiver = Arc::new(Receiver {
        dirs,
        secret,
        nonces: std::sync::Mutex::new(NonceCache::default()),
        blob_bytes_max: settings.blob_bytes_max,
        retention_secs: settings.retention_secs,
        state: Arc::new(tokio::sync::Mutex::new(state)),
    });
    let mut running = Running {
        push_addrs: Vec::new(),
        public_addrs: Vec::new(),
        tasks: tokio::task::JoinSet::new(),
    };
    let app = router(receiver.clone());
    for addr in &settings.listen {
        let listener = bind(*addr)?;
        let local = listener.local_addr()?;
        let server = axum_server::tls_rustls::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(tls.clone()),
        )?;
        tracing::info!(address = %local, "receiver listening for pushes over https");
        running.push_addrs.push(local);
        let app = app.clone();
        running
            .tasks
            .spawn(async move { server.serve(app.into_make_service()).await });
    }
    let public = public_router(receiver.clone());
    for addr in &settings.public_listen {
        let listener = bind(*addr)?;
        let local = listener.local_addr()?;
        let server = axum_server::from_tcp(listener)?;
        tracing::info!(address = %local, "receiver serving /pub over plain http");
        running.public_addrs.push(local);
        let app = public.clone();
        running
            .tasks
            .spawn(async move { server.serve(app.into_make_service()).await });
    }
    let sweeper = receiver.clone();
    running.tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(SWEEP_INTERVAL_SECS));
        loop {
            tick.tick().await;
            let guard = sweeper.state.clone().lock_owned().await;
            let rx = sweeper.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let mut guard = guard;
                rx.sweep(&mut guard, now_secs());
            })
            .await;
        }
    });
    Ok(running)
}

/// Starts the receiver, writes `listening` into the data directory (for
/// whoever started the process), and serves until SIGINT or SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let data_dir = settings.data_dir.clone();
    let mut running = start(settings).await?;
    write_atomically(&data_dir.join("listening"), running.listening().as_bytes())?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm.recv() => {}
        r = running.wait() => r?,
    }
    tracing::info!("receiver stopping");
    Ok(())
}

fn bind(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        user_error(
            format!("cannot listen on `{addr}`: {e}"),
            "pick a free port, or stop the process that holds it",
        )
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// The push protocol plus the public tree, for the HTTPS listener.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route(protocol::PATH_LACKING, post(lacking))
        .route("/push/v1/blobs/{sha256}", put(upload_blob))
        .route(protocol::PATH_COMMIT, post(commit))
        .route(protocol::PATH_STATUS, get(status))
        .route(protocol::PATH_METALINK, put(put_metalink))
        .layer(DefaultBodyLimit::disable())
        .with_state(receiver.clone())
        .merge(public_router(receiver))
}

/// The read-only `/pub` tree and metalink copies.
pub fn public_router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/pub/{*path}", get(serve_pub))
        .route("/metalink", get(get_metalink))
        .with_state(receiver)
}

/// Everything a request handler needs.
pub struct Receiver {
    dirs: Dirs,
    secret: Vec<u8>,
    nonces: std::sync::Mutex<NonceCache>,
    blob_bytes_max: u64,
    retention_secs: u64,
    /// Serializes commits and sweeps.
    state: Arc<tokio::sync::Mutex<PersistedState>>,
}

#[derive(Debug)]
struct Dirs {
    root: PathBuf,
    blobs: PathBuf,
    tmp: PathBuf,
    public: PathBuf,
    metalink: PathBuf,
    tls: PathBuf,
    state_file: PathBuf,
}

impl Dirs {
    fn create(root: &Path) -> anyhow::Result<Dirs> {
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

    fn blob(&self, sha256: &str) -> PathBuf {
        self.blobs.join(&sha256[..2]).join(sha256)
    }
}

/// What survives a restart: `state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PersistedState {
    repos: BTreeMap<String, RepoStatus>,
    /// repo path -> file path -> when a commit last named it (Unix seconds).
    refs: BTreeMap<String, BTreeMap<String, u64>>,
}

fn load_state(path: &Path) -> anyhow::Result<PersistedState> {
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

/// A refusal or failure, answered as `{"error": ...}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn internal(context: &str, err: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "{context}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{context}: internal error, see the receiver's log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::warn!(status = self.status.as_u16(), reason = %self.message, "push request refused");
        }
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Receiver {
    fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Signed, ApiError> {
        let unauthorized =
            |e: protocol::AuthError| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string());
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

    async fn read_body(
        &self,
        body: Body,
        limit: usize,
        signed: &Signed,
    ) -> Result<axum::body::Bytes, ApiError> {
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {limit} bytes or broken"),
            )
        })?;
        if protocol::sha256_hex(&bytes) != signed.content_sha256 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the body's sha256 is not the signed one",
            ));
        }
        Ok(bytes)
    }

    fn has_blob(&self, sha256: &str) -> bool {
        self.dirs.blob(sha256).is_file()
    }
}

async fn lacking(
    State(rx): State<Arc<Receiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<LackingResponse>, ApiError> {
    let signed = rx.authenticate(&method, &uri, &headers)?;
    let bytes = rx.read_body(body, JSON_BYTES_MAX, &signed).await?;
    let request: LackingRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad lacking request: {e}")))?;
    if request.sha256.len() > protocol::LACKING_MAX {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("more than {} sha256s", protocol::LACKING_MAX),
        ));
    }
    if let Some(bad) = request.sha256.iter().find(|s| !protocol::is_sha256_hex(s)) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{}` is not a lowercase hex sha256", bad.escape_debug()),
        ));
    }
    let unique: BTreeSet<String> = request.sha256.into_iter().collect();
    let lacking = unique.into_iter().filter(|s| !rx.has_blob(s)).collect();
    Ok(Json(LackingResponse { lacking }))
}

/// Removes a temporary file unless disarmed (also when the request is dropped).
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn upload_blob(
    State(rx): State<Arc<Receiver>>,
    UrlPath(sha256): UrlPath<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let signed = rx.authenticate(&method, &uri, &headers)?;
    if !protocol::is_sha256_hex(&sha256) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the blob name is not a lowercase hex sha256",
        ));
    }
    if signed.content_sha256 != sha256 {
        return Err(ApiError::new(
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
        .map_err(|e| ApiError::internal("creating an upload file", e))?;
    let mut hasher = Sha256::new();
    let mut size_bytes = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("upload broken off: {e}"))
        })?;
        size_bytes += chunk.len() as u64;
        if size_bytes > rx.blob_bytes_max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the blob is larger than {} bytes", rx.blob_bytes_max),
            ));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal("writing an upload", e))?;
    }
    let got = hex::encode(hasher.finalize());
    if got != sha256 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the uploaded bytes hash to `{got}`, not `{sha256}`"),
        ));
    }
    file.sync_all()
        .await
        .map_err(|e| ApiError::internal("syncing an upload", e))?;
    drop(file);
    let parent = final_path.parent().expect("blob paths have a parent");
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(|e| ApiError::internal("creating a blob directory", e))?;
    tokio::fs::rename(&temp, &final_path)
        .await
        .map_err(|e| ApiError::internal("storing a blob", e))?;
    guard.0 = None;
    tracing::debug!(sha256 = %sha256, size_bytes, "blob stored");
    Ok(StatusCode::CREATED)
}

async fn commit(
    State(rx): State<Arc<Receiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CommitResponse>, ApiError> {
    let signed = rx.authenticate(&method, &uri, &headers)?;
    let bytes = rx.read_body(body, JSON_BYTES_MAX, &signed).await?;
    let request: CommitRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad commit request: {e}")))?;
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

/// A commit's repomd bytes, decoded and checked before any file is touched.
struct CheckedCommit {
    repomd: Vec<u8>,
    repomd_asc: Vec<u8>,
}

const REPOMD: &str = "repodata/repomd.xml";
const REPOMD_ASC: &str = "repodata/repomd.xml.asc";

fn check_commit(request: &CommitRequest) -> Result<CheckedCommit, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
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
        if file.path == REPOMD || file.path == REPOMD_ASC {
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
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("repomd.xml does not parse: {e}"),
        )
    })? {
        if !paths.contains(href.as_str()) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("repomd.xml names `{href}`, which the commit does not list"),
            ));
        }
    }
    Ok(CheckedCommit { repomd, repomd_asc })
}

/// Every `<location href>` in a repomd.xml.
fn repomd_locations(repomd: &[u8]) -> Result<Vec<String>, String> {
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
    fn apply_commit(
        &self,
        request: &CommitRequest,
        checked: &CheckedCommit,
        state: &mut PersistedState,
    ) -> Result<CommitResponse, ApiError> {
        let unprocessable = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
        if let Some(held) = state.repos.get(&request.repo_path) {
            if request.revision < held.revision {
                return Err(ApiError::new(
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
            sync_dir(dir).map_err(|e| ApiError::internal("syncing a tree directory", e))?;
        }
        let repodata = repo_dir.join("repodata");
        fs_err::create_dir_all(&repodata)
            .map_err(|e| ApiError::internal("creating repodata", e))?;
        write_atomically(&repodata.join("repomd.xml.asc"), &checked.repomd_asc)
            .map_err(|e| ApiError::internal("writing repomd.xml.asc", e))?;
        write_atomically(&repodata.join("repomd.xml"), &checked.repomd)
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
        write_atomically(&self.dirs.state_file, &json)
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
    fn sweep(&self, state: &mut PersistedState, now: u64) {
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
                if let Err(e) = write_atomically(&self.dirs.state_file, &json) {
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

fn hash_file(path: &Path) -> std::io::Result<String> {
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

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::symlink_metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

/// temp file in the same directory + fsync + rename + fsync of the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", protocol::new_nonce()));
    let result = (|| {
        let mut file = fs_err::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs_err::rename(&temp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

async fn status(
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
struct MetalinkQuery {
    repo: Option<String>,
    arch: Option<String>,
}

fn metalink_file(rx: &Receiver, query: &MetalinkQuery) -> Option<PathBuf> {
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

async fn put_metalink(
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
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "`repo` and `arch` must be 1 to 64 of a-z, A-Z, 0-9, `.`, `_`, `-`",
        )
    })?;
    tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
        .await
        .map_err(|e| ApiError::internal("metalink task", e))?
        .map_err(|e| ApiError::internal("writing the metalink copy", e))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_metalink(
    State(rx): State<Arc<Receiver>>,
    Query(query): Query<MetalinkQuery>,
) -> Response {
    match metalink_file(&rx, &query) {
        Some(path) => serve_file(&path, "application/metalink+xml", "no-cache").await,
        None => not_found(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// `/pub/...`: exact bytes with Content-Length, no Content-Encoding; repomd.xml and
/// its .asc `no-cache`, content-named metadata `immutable`.
async fn serve_pub(State(rx): State<Arc<Receiver>>, UrlPath(path): UrlPath<String>) -> Response {
    if protocol::check_relative_path(&path).is_err() {
        return not_found();
    }
    let name = path.rsplit('/').next().unwrap_or_default();
    let in_repodata = path.split('/').rev().nth(1) == Some("repodata");
    let content_type = if name.ends_with(".rpm") {
        "application/x-rpm"
    } else if name.ends_with(".asc") {
        "application/pgp-signature"
    } else if name.ends_with(".xml") {
        "application/xml"
    } else {
        "application/octet-stream"
    };
    let cache = if name == "repomd.xml" || name == "repomd.xml.asc" {
        "no-cache"
    } else if in_repodata && name.len() > 65 && protocol::is_sha256_hex(&name[..64]) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    serve_file(&rx.dirs.public.join(&path), content_type, cache).await
}

async fn serve_file(path: &Path, content_type: &'static str, cache: &'static str) -> Response {
    match tokio::fs::symlink_metadata(path).await {
        Ok(meta) if meta.is_file() => {}
        _ => return not_found(),
    }
    let file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(_) => return not_found(),
    };
    let size_bytes = match file.metadata().await {
        Ok(meta) => meta.len(),
        Err(_) => return not_found(),
    };
    let mut response = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(file)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size_bytes));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// The TLS configuration: the configured certificate, or a self-signed one for
/// `localhost`, `::1` and `127.0.0.1` generated on first start into `tls/`.
fn tls_config(settings: &Settings, dirs: &Dirs) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert_file, key_file) = match (&settings.tls_cert_file, &settings.tls_key_file) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => {
            let cert = dirs.tls.join("cert.pem");
            let key = dirs.tls.join("key.pem");
            if !cert.is_file() || !key.is_file() {
                let generated = rcgen::generate_simple_self_signed(vec![
                    "localhost".to_string(),
                    "::1".to_string(),
                    "127.0.0.1".to_string(),
                ])
                .context("generating a self-signed certificate")?;
                let mut options = fs_err::OpenOptions::new();
                std::os::unix::fs::OpenOptionsExt::mode(options.options_mut(), 0o600);
                let mut key_out = options.write(true).create(true).truncate(true).open(&key)?;
                key_out.write_all(generated.signing_key.serialize_pem().as_bytes())?;
                key_out.sync_all()?;
                write_atomically(&cert, generated.cert.pem().as_bytes())?;
                tracing::info!(cert = %cert.display(), "generated a self-signed certificate; give it to the origin as this mirror's `ca_file`");
            }
            (cert, key)
        }
    };
    let certs = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            user_error(
                format!(
                    "cannot read the TLS certificate `{}`: {e}",
                    cert_file.display()
                ),
                "give a PEM certificate chain",
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(&key_file).map_err(|e| {
        user_error(
            format!("cannot read the TLS key `{}`: {e}", key_file.display()),
            "give the PEM private key of the certificate",
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| {
        user_error(
            format!(
                "the TLS certificate `{}` and key do not work together: {e}",
                cert_file.display()
            ),
            "check that the key belongs to the certificate",
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

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
