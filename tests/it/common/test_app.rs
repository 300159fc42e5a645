//! An in-process origin for tests of the API and the store: the real `App`
//! (assembled by `origin::server::open_app`, as `hotpush serve` does) on a
//! temporary data directory, its real router driven without a network
//! (`tower::ServiceExt::oneshot`), and the publisher run on demand instead of
//! by a background worker, so a test drains the job queue by calling it rather
//! than by sleeping. The shape follows crates.io's `TestApp`.
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use hotpush::origin::app::App;
use hotpush::origin::config::Config;
use tower::ServiceExt;

use crate::common::support::real_rpms;

/// The address every in-process request comes from (what the audit log records).
pub const REMOTE: SocketAddr = SocketAddr::new(std::net::IpAddr::V6(Ipv6Addr::LOCALHOST), 40000);

/// The package-signing key the test origin trusts by default; it signed
/// [`signed_rpm`].
pub fn trusted_key() -> std::path::PathBuf {
    real_rpms().join("rpm-rs/keys/rpm-testkey-v4-ed25519.asc")
}

/// A real noarch RPM signed by [`trusted_key`]: (file name, bytes).
pub fn signed_rpm() -> (String, Vec<u8>) {
    let name = "rpm-basic-with-ed25519-2.3.4-5.el9.noarch.rpm";
    let path = real_rpms().join("rpm-rs/v4/signed").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (name.to_owned(), bytes)
}

/// Builds a [`TestApp`]; `with_config` edits the configuration first.
pub struct TestAppBuilder {
    edits: Vec<Box<dyn FnOnce(&mut Config)>>,
}

impl TestAppBuilder {
    pub fn with_config(mut self, edit: impl FnOnce(&mut Config) + 'static) -> Self {
        self.edits.push(Box::new(edit));
        self
    }

    /// Opens the origin on a fresh data directory and runs the jobs a start
    /// queues (the reconcile that publishes the empty repositories), as the
    /// publisher worker of `hotpush serve` would right away. No listener, no
    /// background worker, no partners.
    pub async fn start(self) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        config.intake.trusted_keys = vec![trusted_key()];
        for edit in self.edits {
            edit(&mut config);
        }
        let app = hotpush::origin::server::open_app(config, Vec::new())
            .unwrap_or_else(|e| panic!("cannot open the test origin: {e:#}"));
        let router = hotpush::origin::http::router(app.clone()).layer(MockConnectInfo(REMOTE));
        let test_app = TestApp {
            app,
            router,
            _dir: dir,
        };
        test_app.run_pending_jobs().await;
        test_app
    }
}

/// An open `/api/v1/events` stream.
pub struct EventStream {
    body: axum::body::BodyDataStream,
}

impl EventStream {
    /// The stream's text up to and including the event carrying `marker`
    /// (sent with [`TestApp::emit_marker`] after the events of interest).
    pub async fn read_until(&mut self, marker: &str) -> String {
        use futures_util::StreamExt;
        let mut text = String::new();
        while !text.contains(marker) {
            let chunk = self
                .body
                .next()
                .await
                .expect("the event stream ended")
                .unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    }
}

/// The origin in this process. Dropping it checks that no job was left
/// queued (a test that queues work must drain it).
pub struct TestApp {
    app: Arc<App>,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

/// One answer of the router.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: bytes::Bytes,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: the body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `error.code` of the API's error envelope.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error envelope: {}", self.text()))
            .to_owned()
    }
}

impl TestApp {
    pub fn init() -> TestAppBuilder {
        TestAppBuilder { edits: Vec::new() }
    }

    /// The `App` itself: store, tree, served state.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The origin's router, as `hotpush serve` mounts it.
    pub fn router(&self) -> &axum::Router {
        &self.router
    }

    /// Issues a token for `user` in `group` straight into the store (what
    /// `hotpush token create` does offline).
    pub fn token(&self, user: &str, group: &str) -> String {
        let token = hotpush::origin::auth::new_token();
        self.app
            .store
            .add_token(user, group, &hotpush::origin::auth::token_digest(&token))
            .unwrap();
        token
    }

    /// A token of the group that may push.
    pub fn push_token(&self) -> String {
        self.token("alice", &self.app.config.auth.push_group)
    }

    /// Sends one request through the router (no network).
    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: impl Into<Body>,
    ) -> TestResponse {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(req.body(body.into()).unwrap()).await
    }

    /// Sends a request built by the caller (any headers) through the router.
    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.request(Method::GET, uri, None, Body::empty()).await
    }

    /// `GET uri` with a bearer token (the full view of embargoed pushes).
    pub async fn get_with(&self, uri: &str, token: &str) -> TestResponse {
        self.request(Method::GET, uri, Some(token), Body::empty())
            .await
    }

    /// Subscribes to `/api/v1/events` (with `token`: the full stream) and
    /// returns the open stream.
    pub async fn events(&self, token: Option<&str>) -> EventStream {
        let mut req = Request::builder().uri("/api/v1/events");
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        EventStream {
            body: resp.into_body().into_data_stream(),
        }
    }

    /// Sends an event that every stream carries, so a reader knows it has
    /// seen everything sent before it (no waiting on a clock).
    pub fn emit_marker(&self, marker: &str) {
        self.app.emit("test-marker", marker.to_owned(), None, None);
    }

    /// `POST uri` with a JSON body.
    pub async fn post_json(
        &self,
        uri: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> TestResponse {
        self.request(Method::POST, uri, token, body.to_string())
            .await
    }

    /// Runs the publisher until the job queue is empty (what the worker of
    /// `hotpush serve` does when woken); returns how many runs it made.
    pub async fn run_pending_jobs(&self) -> usize {
        let runs = hotpush::origin::jobs::run_until_idle(&self.app)
            .await
            .unwrap_or_else(|e| panic!("the publisher failed: {e:#}"));
        assert_eq!(self.app.store.queue_depth().unwrap(), 0, "jobs remain");
        runs
    }

    /// Opens a push for `advisory`, uploads `rpms` and submits it; returns the
    /// push id. Each step must succeed.
    pub async fn push(&self, token: &str, advisory: &str, rpms: &[(String, Vec<u8>)]) -> i64 {
        let created = self
            .post_json(
                "/api/v1/pushes",
                Some(token),
                &serde_json::json!({
                    "advisory": advisory,
                    "severity": "critical",
                    "cves": ["CVE-2026-0001"],
                    "summary": "Fix for a test hole",
                }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        let id = created.json()["id"].as_i64().unwrap();
        for (name, bytes) in rpms {
            let up = self
                .request(
                    Method::PUT,
                    &format!("/api/v1/pushes/{id}/packages/{name}"),
                    Some(token),
                    bytes.clone(),
                )
                .await;
            assert_eq!(up.status, StatusCode::CREATED, "{name}: {}", up.text());
        }
        let submitted = self
            .post_json(
                &format!("/api/v1/pushes/{id}/submit"),
                Some(token),
                &serde_json::json!({}),
            )
            .await;
        assert_eq!(
            submitted.status,
            StatusCode::ACCEPTED,
            "{}",
            submitted.text()
        );
        id
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Do not turn a failing test into a double panic.
        if std::thread::panicking() {
            return;
        }
        let depth = self.app.store.queue_depth().unwrap();
        assert_eq!(
            depth, 0,
            "{depth} job(s) left in the queue; call `run_pending_jobs()` before the test ends"
        );
    }
}
