//! The one origin start (`origin::server::start`, also behind `hotpush serve` and
//! `hotpush demo`) and the receiver's `partner::start`, in process: each returns
//! the addresses it bound (port 0 resolved, nothing picked early and bound
//! later), serves on every one of them, refuses an address in use by naming it,
//! and the origin releases its ports on shutdown.
use std::net::SocketAddr;

use hotpush::origin::config::Config;
use hotpush::origin::server;

async fn get(client: &reqwest::Client, url: &str) -> u16 {
    client
        .get(url)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .status()
        .as_u16()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config(data_dir: &std::path::Path, listen: Vec<SocketAddr>) -> Config {
    let mut config = Config::default();
    config.data_dir = data_dir.to_owned();
    config.listen = listen;
    config.intake.require_signed_packages = false;
    config
}

#[test]
fn origin_start_returns_its_bound_addresses_and_shutdown_releases_them() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let listen = vec!["[::1]:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()];
        let running = server::start(config(&tmp.path().join("a"), listen), Vec::new())
            .await
            .unwrap();
        let addrs = running.addrs.clone();
        assert_eq!(addrs.len(), 2, "{addrs:?}");
        assert!(addrs[0].is_ipv6() && addrs[1].is_ipv4(), "{addrs:?}");
        let client = reqwest::Client::new();
        for a in &addrs {
            assert_ne!(a.port(), 0);
            assert_eq!(
                get(&client, &format!("http://{a}/api/v1/status")).await,
                200
            );
        }
        drop(client);

        // A second origin on an address in use fails at once, naming it.
        let taken = config(&tmp.path().join("b"), vec![addrs[0]]);
        let err = match server::start(taken, Vec::new()).await {
            Ok(_) => panic!("a second origin started on {}", addrs[0]),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.contains(&format!("cannot listen on `{}`", addrs[0])),
            "{err}"
        );

        running.shutdown().await.unwrap();
        // Nothing listens any more: a connection is refused. (Binding the port
        // again is no proof either way: another test's outgoing connection may
        // take the freed ephemeral port as its own local port.)
        for a in &addrs {
            match std::net::TcpStream::connect_timeout(a, std::time::Duration::from_secs(5)) {
                Ok(_) => panic!("{a} still accepts connections after shutdown"),
                Err(e) => assert_eq!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused,
                    "{a} after shutdown: {e}"
                ),
            }
        }
    });
}

#[test]
fn receiver_start_returns_its_bound_addresses() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("secret");
    hotpush::io::secret::write_private(&secret, b"a-secret-of-enough-length-for-hmac\n").unwrap();
    let loopback: SocketAddr = "[::1]:0".parse().unwrap();
    let settings = hotpush::partner::Settings {
        data_dir: tmp.path().join("data"),
        listen: vec![loopback],
        public_listen: vec![loopback],
        secret_file: secret,
        tls_cert_file: None,
        tls_key_file: None,
        retention_secs: 3600,
        blob_bytes_max: hotpush::partner::BLOB_BYTES_MAX_DEFAULT,
        conn: Default::default(),
    };
    let rt = runtime();
    rt.block_on(async {
        let running = hotpush::partner::start(settings).await.unwrap();
        let (push, public) = (running.push_addrs[0], running.public_addrs[0]);
        assert!(push.port() != 0 && public.port() != 0 && push != public);
        assert_eq!(
            running.listening(),
            format!("push https://{push}\npublic http://{public}\n")
        );
        let client = reqwest::Client::new();
        let missing = format!("http://{public}/pub/critical/43/x86_64/repodata/repomd.xml");
        assert_eq!(get(&client, &missing).await, 404);
    });
}

/// The 429s folded in a bad-token window that is still open when the origin
/// stops are audited by the shutdown, not lost.
#[test]
fn shutdown_audits_the_429s_of_a_window_still_open() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let mut c = config(tmp.path(), vec!["[::1]:0".parse().unwrap()]);
        c.server.bad_auth_max = 2;
        c.server.bad_auth_window_secs = 3600;
        let running = server::start(c, Vec::new()).await.unwrap();
        let app = running.app.clone();
        let url = format!("http://{}/api/v1/audit", running.addrs[0]);
        let client = reqwest::Client::new();
        let mut codes = Vec::new();
        for _ in 0..6 {
            let r = client
                .get(&url)
                .bearer_auth("hp_wrong")
                .send()
                .await
                .unwrap();
            codes.push(r.status().as_u16());
        }
        assert_eq!(codes, [401, 401, 429, 429, 429, 429]);
        let folded = |app: &hotpush::origin::app::App| {
            app.store
                .audit_entries(100)
                .unwrap()
                .into_iter()
                .filter(|e| e.action == "rate-limited")
                .collect::<Vec<_>>()
        };
        assert!(folded(&app).is_empty(), "the window is still open");
        drop(client);
        running.shutdown().await.unwrap();
        let rows = folded(&app);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert!(
            rows[0].reason.starts_with("4 requests refused with 429"),
            "{}",
            rows[0].reason
        );
    });
}
