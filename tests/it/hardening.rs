//! Hostile clients and hard faults against real processes: bodies refused
//! before they are read (memory measured in the origin's `/proc/PID/status`),
//! idle connections closed and the metalink answering through a flood of idle
//! connections (origin and receiver), bad tokens limited per network and
//! folded in the audit log, and a full disk (a tmpfs the test mounts) that
//! fails a push visibly, keeps the old revision served and publishes once
//! space is freed, without a restart.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};

use crate::common::fixtures::{build_rpm, http_get, Gpg, Origin};
use crate::common::partner::Receiver;
use crate::common::test_app::{TestApp, REMOTE};

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

fn addr_of(url: &str) -> SocketAddr {
    let hostport = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap();
    hostport.parse().unwrap()
}

/// One request over a fresh connection; the status line's code, or the
/// error that kept an answer from coming.
fn raw_status(addr: SocketAddr, request: &str) -> Result<u16, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(20)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {head:?}"))
}

/// Sends a chunked body of up to `total` bytes to `path` while reading the
/// answer: returns the status and how many body bytes went out before the
/// origin answered and closed.
fn chunked_flood(addr: SocketAddr, path: &str, token: Option<&str>, total: u64) -> (u16, u64) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}Transfer-Encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut reader = s.try_clone().unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let answer = std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        let n = reader.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let chunk_len = 1 << 20;
    let mut chunk = format!("{chunk_len:x}\r\n").into_bytes();
    chunk.extend(std::iter::repeat_n(b'{', chunk_len));
    chunk.extend_from_slice(b"\r\n");
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut sent = 0u64;
    while sent < total {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk_len as u64;
        if answer.is_finished() {
            break;
        }
    }
    let head = answer.join().unwrap();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no answer, sent {sent} bytes: {head:?}"));
    (status, sent)
}

#[test]
fn a_2_gib_chunked_body_is_refused_early_with_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::start(tmp.path(), None, "");
    let token = std::fs::read_to_string(origin.token("alice", "security")).unwrap();
    let addr = addr_of(&origin.url);
    let pid = origin.child.as_ref().unwrap().id();
    let before_kib = rss_kib(pid);
    let total = 2u64 << 30;
    // No token, an unknown token, and a good token with a body past the JSON cap.
    for (token, expected) in [
        (None, 401),
        (Some("hp_not_a_token"), 401),
        (Some(token.trim()), 413),
    ] {
        let (status, sent) = chunked_flood(addr, "/api/v1/pushes", token, total);
        let label = match (token, expected) {
            (None, _) => "no token",
            (Some(_), 401) => "unknown token",
            _ => "valid token",
        };
        assert_eq!(status, expected, "token {token:?}");
        assert!(
            sent < total,
            "the origin read the whole 2 GiB body (token {token:?})"
        );
        let rss = rss_kib(pid);
        eprintln!(
            "{label}: {status} after {sent} body bytes sent; origin RSS {before_kib} -> {rss} KiB"
        );
        assert!(
            rss < before_kib + 256 * 1024,
            "the origin's memory grew from {before_kib} KiB to {rss} KiB (token {token:?})"
        );
    }
    // Still alive and answering.
    assert!(origin.status_json()["queue_depth"].as_i64().is_some());
}

fn metalink_request() -> &'static str {
    "GET /metalink?repo=critical-f43&arch=x86_64 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
}

/// Opens `n` connections that send nothing.
fn idle_flood(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    hotpush::io::serve::raise_nofile_limit();
    (0..n)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(10)).ok())
        .collect()
}

/// Waits until the server closes `s` (read gives end of file or a reset).
fn closed_by_server(mut s: TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn the_origin_closes_idle_connections_and_answers_the_metalink_through_a_flood() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::start(
        tmp.path(),
        None,
        "\n[server]\nheader_read_timeout_secs = 2\nidle_timeout_secs = 2\nconnections_max = 64\n",
    );
    let addr = addr_of(&origin.url);
    // The empty repositories are published at start.
    crate::common::partner::poll("the metalink", Duration::from_secs(30), || {
        (raw_status(addr, metalink_request()) == Ok(200)).then_some(())
    });

    // An idle connection and a keep-alive one after its answer are closed.
    let silent = TcpStream::connect(addr).unwrap();
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(closed_by_server(silent), "an idle connection stayed open");
    assert!(
        closed_by_server(kept),
        "a keep-alive connection stayed open"
    );

    // A flood of idle connections, far past the cap: the metalink answers
    // throughout, each time on a new connection.
    let mut flood = Vec::new();
    for round in 0..10 {
        flood.extend(idle_flood(addr, 300));
        assert_eq!(
            raw_status(addr, metalink_request()),
            Ok(200),
            "round {round}, {} idle connections open",
            flood.len()
        );
    }
    assert!(
        flood.len() >= 2000,
        "only {} connections opened",
        flood.len()
    );
}

#[test]
fn the_receiver_closes_idle_connections_and_answers_through_a_flood() {
    let rx = Receiver::start_with_config(
        "header_read_timeout_secs = 2\nidle_timeout_secs = 2\nconnections_max = 64\n",
    );
    let public = addr_of(&rx.public_url);
    let push = addr_of(&rx.push_url);
    let pub_request = "GET /pub/critical/43/x86_64/repodata/repomd.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(public, pub_request), Ok(404));
    for addr in [public, push] {
        let silent = TcpStream::connect(addr).unwrap();
        assert!(
            closed_by_server(silent),
            "{addr}: an idle connection stayed open"
        );
    }
    let mut flood = Vec::new();
    for round in 0..6 {
        flood.extend(idle_flood(public, 200));
        flood.extend(idle_flood(push, 200));
        assert_eq!(raw_status(public, pub_request), Ok(404), "round {round}");
        // The HTTPS listener: curl does the handshake.
        let out = Command::new("curl")
            .args([
                "-sk",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "20",
            ])
            .arg(format!(
                "https://{push}/pub/critical/43/x86_64/repodata/repomd.xml"
            ))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "404",
            "round {round}: https listener"
        );
    }
    assert!(
        flood.len() >= 2000,
        "only {} connections opened",
        flood.len()
    );
}

#[tokio::test]
async fn bad_tokens_past_the_limit_get_429_and_are_folded_into_one_audit_row() {
    let t = TestApp::init()
        .with_config(|c| {
            c.server.bad_auth_max = 3;
            c.server.bad_auth_window_secs = 60;
        })
        .start()
        .await;
    let good = t.push_token();
    let body =
        serde_json::json!({"advisory": "FEDORA-2026-0001", "severity": "critical", "summary": "x"});
    // Missing and unknown tokens count alike, on every route that needs one.
    let bad: [Option<&str>; 3] = [None, Some("hp_wrong"), Some("hp_wrong2")];
    for token in bad {
        let r = t.post_json("/api/v1/pushes", token, &body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    }
    for (method, path) in [
        (Method::POST, "/api/v1/pushes"),
        (Method::POST, "/api/v1/pushes/1/submit"),
        (Method::PUT, "/api/v1/pushes/1/packages/a-1-1.noarch.rpm"),
        (Method::POST, "/api/v1/advisories/X/retire"),
        (Method::GET, "/api/v1/audit"),
    ] {
        // A good token from the limited network waits too: no token is looked at.
        for token in [Some("hp_wrong"), Some(good.as_str()), None] {
            let r = t
                .request(method.clone(), path, token, Body::from("{}"))
                .await;
            assert_eq!(
                r.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{method} {path}: {}",
                r.text()
            );
            assert_eq!(r.error_code(), "rate_limited");
            let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry), "Retry-After {retry}");
        }
    }
    // The reads that need no token still answer.
    assert_eq!(t.get("/api/v1/status").await.status, StatusCode::OK);

    // Three refusals audited one by one; the fifteen 429s not yet.
    let rows = t.app().store.audit_entries(1000).unwrap();
    let refused = rows.iter().filter(|e| !e.allowed).count();
    assert_eq!(refused, 3, "{rows:?}");
    // The window closes: one row with the count.
    let later = (hotpush::origin::store::now_ms() / 1000) as u64 + 61;
    t.app().flush_auth_audit(later).unwrap();
    t.app().flush_auth_audit(later + 1).unwrap();
    let rows = t.app().store.audit_entries(1000).unwrap();
    let folded: Vec<_> = rows.iter().filter(|e| e.action == "rate-limited").collect();
    assert_eq!(folded.len(), 1, "{rows:?}");
    assert!(
        folded[0].reason.starts_with("15 requests refused"),
        "{}",
        folded[0].reason
    );
    let network = hotpush::io::auth_limit::network_of(REMOTE.ip());
    assert_eq!(folded[0].remote_addr, network);
}

/// `incoming/` on its own mount (a tmpfs, a separate volume): the upload
/// still ends as a blob (a synced copy where a rename cannot cross), leaves
/// nothing in `incoming/`, and publishes.
#[tokio::test]
async fn uploads_work_when_incoming_is_a_separate_mount() {
    let t = TestApp::init().start().await;
    let incoming = t.app().tree.incoming.clone();
    let Some(_mount) = Tmpfs::mount(&incoming, "16m") else {
        return;
    };
    let alice = t.push_token();
    let (name, bytes) = crate::common::test_app::signed_rpm();
    let id = t
        .push(&alice, "FEDORA-2026-0009", &[(name, bytes.clone())])
        .await;
    t.run_pending_jobs().await;
    let push = t.get(&format!("/api/v1/pushes/{id}")).await.json();
    assert_eq!(push["state"], "published", "{push}");
    let sha = push["packages"][0]["sha256"].as_str().unwrap().to_owned();
    assert_eq!(std::fs::read(t.app().tree.blob_path(&sha)).unwrap(), bytes);
    let left: Vec<_> = std::fs::read_dir(&incoming).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A tmpfs mounted by the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (with the reason printed) when this machine does not let the
    /// test mount.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "skipped: cannot mount a tmpfs ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(dir.to_owned()))
    }

    /// Fills the file system until writes fail; returns the filler file.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        // Small writes fail too.
        let mut small = 0;
        while std::fs::write(self.0.join(format!("small-{small}")), b"x").is_ok() {
            small += 1;
        }
        filler
    }

    fn free(&self) {
        for e in std::fs::read_dir(&self.0).unwrap() {
            let name = e.unwrap().file_name();
            let name = name.to_string_lossy();
            if name == "filler" || name.starts_with("small-") {
                std::fs::remove_file(self.0.join(&*name)).unwrap();
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn curl_json(args: &[&str]) -> (u16, serde_json::Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn a_full_disk_fails_the_push_visibly_keeps_the_old_revision_and_publishes_once_freed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("origin-data");
    let Some(pub_fs) = Tmpfs::mount(&data.join("pub"), "8m") else {
        return;
    };
    let gpg = Gpg::new(dir, "security@example.com");
    let first = build_rpm(dir, "hello", "1.0", "2", "noarch");
    let second = build_rpm(dir, "world", "1.0", "1", "noarch");
    gpg.sign(&first);
    gpg.sign(&second);
    let mut origin = Origin::start(dir, Some(&gpg.public_key), "");
    let token_file = origin.token("alice", "security");
    let out = origin.push(&token_file, "FEDORA-2026-0001", &[&first], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repomd_url = format!("{}/pub/critical/43/x86_64/repodata/repomd.xml", origin.url);
    let (code, old_repomd) = http_get(&repomd_url).unwrap();
    assert_eq!(code, 200);

    // The disk is full: the push fails, visibly and with the reason.
    pub_fs.fill();
    let out = origin.push(&token_file, "FEDORA-2026-0002", &[&second], &[]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the push claims success: {said}");
    // A push that never published is only seen with a push-group token.
    let token = std::fs::read_to_string(&token_file).unwrap();
    let auth = format!("Authorization: Bearer {}", token.trim());
    let (code, pushes) = curl_json(&["-H", &auth, &format!("{}/api/v1/pushes", origin.url)]);
    assert_eq!(code, 200);
    let failed = pushes
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["advisory"] == "FEDORA-2026-0002")
        .cloned()
        .unwrap();
    assert_eq!(failed["state"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("disk is full"), "{error}");
    assert!(
        !error.contains(&data.display().to_string()),
        "the error shows the data directory's absolute path: {error}"
    );
    // The old revision is served, intact, and every file it names is there.
    let (code, served) = http_get(&repomd_url).unwrap();
    assert_eq!((code, served == old_repomd), (200, true));
    let repo_dir = data.join("pub/critical/43/x86_64");
    hotpush::origin::publish::check_index(&repo_dir, &old_repomd).unwrap();
    // No temporary file is left behind.
    let temps: Vec<_> = walk(&data.join("pub"))
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");

    // Space comes back: the push publishes without a restart.
    pub_fs.free();
    let published = crate::common::partner::poll(
        "the retried push to publish",
        Duration::from_secs(120),
        || {
            let (_, p) = curl_json(&[
                "-H",
                &auth,
                &format!("{}/api/v1/pushes/{}", origin.url, failed["id"]),
            ]);
            (p["state"] == "published").then_some(p)
        },
    );
    assert!(published["error"].is_null(), "{published}");
    let (_, served) = http_get(&repomd_url).unwrap();
    assert_ne!(served, old_repomd);

    // An upload onto a full disk answers 507 with a clear message.
    let Some(incoming) = Tmpfs::mount(&data.join("incoming"), "1m") else {
        return;
    };
    incoming.fill();
    let (code, created) = curl_json(&[
        "-X",
        "POST",
        "-H",
        &auth,
        "-H",
        "Content-Type: application/json",
        "--data",
        r#"{"advisory":"FEDORA-2026-0003","severity":"critical","summary":"x"}"#,
        &format!("{}/api/v1/pushes", origin.url),
    ]);
    assert_eq!(code, 201, "{created}");
    let (code, refused) = curl_json(&[
        "-X",
        "PUT",
        "-H",
        &auth,
        "--data-binary",
        &format!("@{}", second.display()),
        &format!(
            "{}/api/v1/pushes/{}/packages/world-1.0-1.noarch.rpm",
            origin.url, created["id"]
        ),
    ]);
    assert_eq!(code, 507, "{refused}");
    assert_eq!(refused["error"]["code"], "insufficient_storage");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("disk is full"), "{message}");
    assert!(!message.contains(&data.display().to_string()), "{message}");
    drop(incoming);
    origin.kill();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_receiver_answers_429_after_too_many_bad_signatures() {
    let rx = Receiver::start();
    let lacking = format!("{}{}", rx.push_url, hotpush::core::protocol::PATH_LACKING);
    let post = |extra: &[&str]| {
        // HTTP/1.1: over HTTP/2 curl reports the reset of a request body
        // that the 401 left unread as a failure (exit 92), by chance.
        let out = Command::new("curl")
            .args([
                "-sk",
                "--http1.1",
                "-D",
                "-",
                "-o",
                "/dev/null",
                "-X",
                "POST",
                "--max-time",
                "20",
            ])
            .args(extra)
            .args(["--data", r#"{"sha256":[]}"#])
            .arg(&lacking)
            .output()
            .unwrap();
        format!(
            "{}{}{}",
            String::from_utf8_lossy(&out.stdout),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // Unsigned and wrongly signed requests count alike.
    let bad_signature = [
        "-H",
        "hotpush-signature: 00",
        "-H",
        "hotpush-timestamp: 1",
        "-H",
        "hotpush-nonce: x",
    ];
    for i in 0..hotpush::partner::BAD_AUTH_MAX {
        let extra: &[&str] = if i % 2 == 0 { &[] } else { &bad_signature };
        let head = post(extra);
        assert!(head.starts_with("HTTP/1.1 401"), "{i}: {head}");
    }
    let head = post(&[]);
    assert!(head.contains(" 429"), "{head}");
    let retry: u64 = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no Retry-After: {head}"))
        .parse()
        .unwrap();
    assert!((1..=hotpush::partner::BAD_AUTH_WINDOW_SECS).contains(&retry));
    // The public tree is not limited.
    let out = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!(
            "{}/critical/43/x86_64/repodata/repomd.xml",
            rx.public_url
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
}

/// CPU time (user + system) a process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which ends with ')'): utime is the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_busy_connection_outlives_the_idle_timeout_without_spinning() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::start(
        tmp.path(),
        None,
        "\n[server]\nheader_read_timeout_secs = 1\nidle_timeout_secs = 1\n",
    );
    let pid = origin.child.as_ref().unwrap().id();
    let mut events = TcpStream::connect(addr_of(&origin.url)).unwrap();
    events
        .write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    events
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let n = events.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Four idle periods: the event stream is a request in flight, so it stays
    // open, and waiting costs the origin next to no CPU.
    let before = cpu_ticks(pid);
    events
        .set_read_timeout(Some(Duration::from_secs(4)))
        .unwrap();
    let mut closed = false;
    let until = std::time::Instant::now() + Duration::from_secs(4);
    while std::time::Instant::now() < until {
        match events.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert!(!closed, "the event stream was closed as idle");
    let used = cpu_ticks(pid) - before;
    // Clock ticks are 1/100 s: a spinning connection task used over 100.
    assert!(
        used < 100,
        "the origin used {used} ticks of CPU while waiting"
    );
}
