//! An in-process static HTTP server on `[::1]` serving a directory, for tests
//! that need hosts holding hand-made trees (verify, signing, the build-system
//! trigger's Koji tree). It logs every path asked for; a file `F.redirect`
//! makes `F` answer 302 to the URL it holds; a file `F.fail` makes the next
//! requests for `F` fail, one line each (`STATUS` or `STATUS RETRY-AFTER`,
//! e.g. `503` then `429 1`), before `F` is served; a gated server holds every
//! request until [`StaticServer::open_gate`].
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Serves the files under `root` over HTTP on `[::1]:<ephemeral>` until dropped.
pub(crate) struct StaticServer {
    pub(crate) base_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    open: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
}

impl StaticServer {
    pub(crate) fn start(root: &Path) -> StaticServer {
        Self::start_with_gate(root, true)
    }

    /// Like [`StaticServer::start`], holding every request (after logging
    /// it) until [`StaticServer::open_gate`].
    pub(crate) fn start_gated(root: &Path) -> StaticServer {
        Self::start_with_gate(root, false)
    }

    fn start_with_gate(root: &Path, open: bool) -> StaticServer {
        let listener = std::net::TcpListener::bind("[::1]:0").expect("bind [::1]:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let root = root.to_owned();
        let open = Arc::new(AtomicBool::new(open));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (gate, requests) = (open.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
                    let (root, gate, requests) = (root.clone(), gate.clone(), requests.clone());
                    async move {
                        requests.lock().unwrap().push(uri.path().to_owned());
                        while !gate.load(Ordering::SeqCst) {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                        serve_file(&root, uri.path())
                    }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        StaticServer {
            base_url: format!("http://[::1]:{port}"),
            shutdown: Some(tx),
            thread: Some(thread),
            open,
            log,
        }
    }

    /// Lets the held requests (and every later one) through.
    pub(crate) fn open_gate(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// Every path asked for so far, in order.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.open_gate();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_file(root: &Path, path: &str) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let relative = path.trim_start_matches('/');
    if relative.split('/').any(|s| s == ".." || s.is_empty()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let file = root.join(relative);
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let fail = file.with_file_name(format!("{name}.fail"));
    if let Ok(text) = std::fs::read_to_string(&fail) {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        if let Some(line) = lines.next() {
            let rest: Vec<&str> = lines.collect();
            std::fs::write(&fail, rest.join("\n")).unwrap();
            let mut words = line.split_whitespace();
            let status = StatusCode::from_u16(words.next().unwrap().parse().unwrap()).unwrap();
            let mut response = status.into_response();
            if let Some(after) = words.next() {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_str(after).unwrap(),
                );
            }
            return response;
        }
    }
    if let Ok(to) = std::fs::read_to_string(file.with_file_name(format!(
        "{}.redirect",
        file.file_name().unwrap_or_default().to_string_lossy()
    ))) {
        return (
            StatusCode::FOUND,
            [(axum::http::header::LOCATION, to.trim().to_owned())],
        )
            .into_response();
    }
    match std::fs::read(file) {
        Ok(bytes) => bytes.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
