//! An in-process static HTTP server on `[::1]` serving a directory, for tests
//! that need hosts holding hand-made trees (verify, signing).
use std::path::Path;

/// Serves the files under `root` over HTTP on `[::1]:<ephemeral>` until dropped.
pub(crate) struct StaticServer {
    pub(crate) base_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StaticServer {
    pub(crate) fn start(root: &Path) -> StaticServer {
        let listener = std::net::TcpListener::bind("[::1]:0").expect("bind [::1]:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let root = root.to_owned();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
                    let root = root.clone();
                    async move { serve_file(&root, uri.path()) }
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
        }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
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
    match std::fs::read(root.join(relative)) {
        Ok(bytes) => bytes.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
