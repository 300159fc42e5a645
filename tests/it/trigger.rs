//! The build-system trigger (`POST /api/v1/triggers/{name}`): a real static
//! HTTP server on `[::1]` holds a Koji-style tree
//! (`packages/N/V/R/data/signed/KEYID/ARCH/FILE`) of RPMs built with rpmbuild
//! and signed with rpmsign; requests are signed Standard Webhooks style.
//! In process (`TestApp`): every refusal at the door and every fetch failure
//! is a clear error, audited, and publishes nothing; a triggered push is
//! staged and needs people's approvals (the trigger never counts). End to end
//! (`hotpush serve`): trigger → staged → approved → published → dnf installs
//! the fix; a kill between the 202 and the fetch still ends published, and
//! the replayed id is still refused after the restart.
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;

use crate::common::fixtures::{build_rpm, build_rpm_sized, hello_and_signed_fix, Dnf, Gpg, Origin};
use crate::common::static_server::StaticServer;
use crate::common::support::{hotpush, run_ok};
use crate::common::test_app::{TestApp, TestResponse};

const KEY: &[u8; 32] = b"hotpush-trigger-test-key-32bytes";
const SIGKEY: &str = "aa50bb30";
const ARCH_REPO: &str = "critical/43/x86_64";

fn secret_text() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    )
}

/// The trigger's secret file (mode 600).
fn write_secret(dir: &Path) -> PathBuf {
    let path = dir.join("koji-trigger.secret");
    std::fs::write(&path, format!("{}\n", secret_text())).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}

/// Puts `rpm` into the Koji tree under `root` as build `nvr`, file `file`.
fn koji_place(root: &Path, nvr: &str, file: &str, rpm: &Path) -> String {
    let (n, v, r) = hotpush::core::trigger::split_nvr(nvr).unwrap();
    let arch = hotpush::core::trigger::split_file_name(file).unwrap().3;
    let rel = format!("kojifiles/packages/{n}/{v}/{r}/data/signed/{SIGKEY}/{arch}/{file}");
    let dest = root.join(&rel);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(rpm, &dest).unwrap();
    format!("/{rel}")
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn fresh_id() -> String {
    format!("msg_{:016x}", rand::random::<u64>())
}

/// The Standard Webhooks headers for `body`, signed now.
fn signed(id: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let ts = now_secs();
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            hotpush::core::webhook::sign(KEY, id, ts, body),
        ),
    ]
}

fn advisory_fields(advisory: &str) -> serde_json::Value {
    serde_json::json!({
        "advisory": advisory,
        "severity": "critical",
        "cves": ["CVE-2026-1234"],
        "summary": "Heap overflow in hello",
    })
}

fn koji_body(advisory: &str, nvr: &str, rpms: &[&str]) -> Vec<u8> {
    let mut v = advisory_fields(advisory);
    v["builds"] = serde_json::json!([{"nvr": nvr, "sigkey": SIGKEY, "rpms": rpms}]);
    v.to_string().into_bytes()
}

fn urls_body(advisory: &str, urls: &[(String, Option<String>)]) -> Vec<u8> {
    let mut v = advisory_fields(advisory);
    v["urls"] = urls
        .iter()
        .map(|(u, s)| serde_json::json!({"url": u, "sha256": s}))
        .collect();
    v.to_string().into_bytes()
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// The packages of the tests, built once per test: the fix signed by the
/// trusted key, an unsigned build, one signed by a key nobody trusts, and one
/// larger than the origin's `package_bytes_max`.
struct Builds {
    fix: PathBuf,
    unsigned: PathBuf,
    untrusted: PathBuf,
    big: PathBuf,
    trusted_key: PathBuf,
}

fn builds(dir: &Path) -> Builds {
    let gpg = Gpg::new(dir, "security@example.com");
    let rogue = Gpg::new(dir, "rogue@example.com");
    let fix = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&fix);
    let unsigned = build_rpm(dir, "hello", "1.0", "3", "noarch");
    let untrusted = build_rpm(dir, "hello", "1.0", "4", "noarch");
    rogue.sign(&untrusted);
    let big = build_rpm_sized(dir, "hello", "1.0", "6", "noarch", 300_000);
    gpg.sign(&big);
    Builds {
        fix,
        unsigned,
        untrusted,
        big,
        trusted_key: gpg.public_key,
    }
}

/// An in-process origin with trigger `koji` fetching from `server`.
async fn trigger_app(
    dir: &Path,
    b: &Builds,
    server: &StaticServer,
    approvals_required: u32,
) -> TestApp {
    let secret = write_secret(dir);
    let fetch_base = hotpush::core::trigger::parse_base(&format!("{}/kojifiles", server.base_url))
        .unwrap()
        .to_string();
    let key = b.trusted_key.clone();
    TestApp::init()
        .with_config(move |c| {
            c.intake.trusted_keys = vec![key];
            c.intake.package_bytes_max = 200_000;
            c.auth.approvals_required = approvals_required;
            c.triggers = vec![hotpush::origin::config::TriggerConfig {
                name: "koji".into(),
                secret_file: secret,
                fetch_base,
                approval_required: approvals_required > 1,
                body_bytes_max: 4096,
                fetch_timeout_secs: 60,
                ca_file: None,
            }];
        })
        .start()
        .await
}

async fn send(t: &TestApp, name: &str, headers: &[(&str, String)], body: Vec<u8>) -> TestResponse {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/triggers/{name}"))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    t.send(req.body(Body::from(body)).unwrap()).await
}

/// Sends `body` signed with a fresh id; must be answered 202; returns the push id.
async fn trigger_ok(t: &TestApp, body: Vec<u8>) -> i64 {
    let r = send(t, "koji", &signed(&fresh_id(), &body), body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert_eq!(r.json()["state"], "fetching", "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

async fn run_triggers(t: &TestApp) {
    hotpush::origin::trigger::run_until_idle(t.app())
        .await
        .unwrap_or_else(|e| panic!("the trigger worker failed: {e:#}"));
    t.run_pending_jobs().await;
}

async fn push_json(t: &TestApp, token: &str, id: i64) -> serde_json::Value {
    t.get_with(&format!("/api/v1/pushes/{id}"), token)
        .await
        .json()
}

fn revision(t: &TestApp) -> u64 {
    t.app().served(ARCH_REPO).map(|s| s.revision).unwrap_or(0)
}

fn audited(t: &TestApp, action: &str, reason_part: &str) -> bool {
    t.app()
        .store
        .audit_entries(1000)
        .unwrap()
        .iter()
        .any(|e| e.action == action && e.reason.contains(reason_part))
}

#[tokio::test]
async fn refusals_at_the_door_are_clear_audited_and_publish_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let b = builds(dir);
    let root = dir.join("koji");
    koji_place(&root, "hello-1.0-2", "hello-1.0-2.noarch.rpm", &b.fix);
    let server = StaticServer::start(&root);
    let t = trigger_app(dir, &b, &server, 1).await;
    let before = revision(&t);
    let body = koji_body("TRIG-2026-0001", "hello-1.0-2", &["hello-1.0-2.noarch.rpm"]);

    // (what is sent, status, error code, what the audit row says)
    let id = fresh_id();
    let ts = now_secs();
    let good_sig = hotpush::core::webhook::sign(KEY, &id, ts, &body);
    let mut other_key = *KEY;
    other_key[0] ^= 1;
    let bad_sig = hotpush::core::webhook::sign(&other_key, &id, ts, &body);
    let stale = ts - hotpush::core::webhook::TOLERANCE_SECS - 5;
    let future = ts + hotpush::core::webhook::TOLERANCE_SECS + 5;
    let hdr = |id: &str, ts: u64, sig: &str| {
        vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", sig.to_owned()),
        ]
    };
    let cases: Vec<(&str, Vec<(&str, String)>, Vec<u8>, StatusCode, &str, &str)> = vec![
        (
            "bad signature",
            hdr(&id, ts, &bad_sig),
            body.clone(),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "no signature matches",
        ),
        (
            "the signature of another body",
            hdr(&id, ts, &good_sig),
            koji_body("TRIG-2026-0099", "hello-1.0-2", &["hello-1.0-2.noarch.rpm"]),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "no signature matches",
        ),
        (
            "missing signature",
            vec![
                ("webhook-id", id.clone()),
                ("webhook-timestamp", ts.to_string()),
            ],
            body.clone(),
            StatusCode::UNAUTHORIZED,
            "missing_signature",
            "missing signature headers",
        ),
        (
            "X-Hub-Signature-256 alone",
            vec![("x-hub-signature-256", "sha256=00".into())],
            body.clone(),
            StatusCode::UNAUTHORIZED,
            "missing_signature",
            "X-Hub-Signature-256",
        ),
        (
            "stale timestamp",
            hdr(
                &id,
                stale,
                &hotpush::core::webhook::sign(KEY, &id, stale, &body),
            ),
            body.clone(),
            StatusCode::UNAUTHORIZED,
            "stale_timestamp",
            "from the origin's clock",
        ),
        (
            "future timestamp",
            hdr(
                &id,
                future,
                &hotpush::core::webhook::sign(KEY, &id, future, &body),
            ),
            body.clone(),
            StatusCode::UNAUTHORIZED,
            "stale_timestamp",
            "from the origin's clock",
        ),
    ];
    for (what, headers, body, status, code, audit) in cases {
        let r = send(&t, "koji", &headers, body).await;
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert_eq!(r.error_code(), code, "{what}");
        assert!(
            !r.json()["error"]["hint"].as_str().unwrap().is_empty(),
            "{what}"
        );
        assert!(audited(&t, "trigger-refused", audit), "{what}: not audited");
    }

    // Unknown trigger name: 404, audited, the body not even read.
    let r = send(&t, "jenkins", &signed(&fresh_id(), &body), body.clone()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert!(r.text().contains("jenkins"), "{}", r.text());
    assert!(audited(&t, "trigger-refused", "no such trigger"));

    // An oversize body: 413 before the signature is even looked at.
    let mut huge = advisory_fields("TRIG-2026-0002");
    huge["description"] = serde_json::json!("x".repeat(8000));
    let huge = huge.to_string().into_bytes();
    let r = send(&t, "koji", &signed(&fresh_id(), &huge), huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert!(r.text().contains("4096"), "{}", r.text());
    assert!(audited(&t, "trigger-refused", "body too large"));
    // Announced as too large: refused before any of it is read.
    let mut announced = signed(&fresh_id(), &body);
    announced.push(("content-length", "1000000000".into()));
    let r = send(&t, "koji", &announced, body.clone()).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    // A webhook-id that is not plain visible ASCII.
    for bad_id in ["with space", ""] {
        let r = send(&t, "koji", &signed(bad_id, &body), body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{bad_id:?}: {}",
            r.text()
        );
        assert_eq!(r.error_code(), "bad_webhook_id");
    }

    // Packages outside fetch_base, and path parts that could leave it: 400
    // naming the field, nothing fetched.
    let base = format!("{}/kojifiles", server.base_url);
    let port = server.base_url.rsplit(':').next().unwrap().to_owned();
    let file = "hello-1.0-2.noarch.rpm";
    let outside = [
        format!("{base}/../{file}"),
        format!("{base}/%2e%2e/{file}"),
        format!("{base}/packages/%2E%2E/%2e%2e/{file}"),
        format!("{base}/packages/..%2f{file}"),
        format!("http://127.0.0.1:{port}/kojifiles/{file}"),
        format!("http://[::2]:{port}/kojifiles/{file}"),
        format!("http://user:pw@[::1]:{port}/kojifiles/{file}"),
        format!("http://user@[::1]:{port}/kojifiles/{file}"),
        format!("http://[::1]:1/kojifiles/{file}"),
        format!("https://[::1]:{port}/kojifiles/{file}"),
        format!("{}/kojifilesX/{file}", server.base_url),
        format!("{}/{file}", server.base_url),
        format!("{base}/{file}?x=../../"),
    ];
    for url in &outside {
        let body = urls_body("TRIG-2026-0003", &[(url.clone(), None)]);
        let r = send(&t, "koji", &signed(&fresh_id(), &body), body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.text());
        assert_eq!(r.error_code(), "bad_package", "{url}");
        assert!(r.text().contains("urls[0].url"), "{url}: {}", r.text());
    }
    for (nvr, rpm, field) in [
        ("../../etc-1-1", "hello-1.0-2.noarch.rpm", "builds[0].nvr"),
        (
            "hello-1.0-2",
            "../hello-1.0-2.noarch.rpm",
            "builds[0].rpms[0]",
        ),
        ("hello-1.0-2", "hello-1.0-2.noarch", "builds[0].rpms[0]"),
        ("hello-1.0-2", "hello-1.0-9.noarch.rpm", "builds[0].rpms[0]"),
        ("hello-1.0-2", "hello-1.0-2.%2e%2e.rpm", "builds[0].rpms[0]"),
        ("hello-1.0-2", "hello-1.0-2.ppc64le.rpm", "ppc64le"),
    ] {
        let body = koji_body("TRIG-2026-0004", nvr, &[rpm]);
        let r = send(&t, "koji", &signed(&fresh_id(), &body), body).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{nvr} {rpm}: {}",
            r.text()
        );
        assert!(r.text().contains(field), "{field}: {}", r.text());
    }
    let mut bad_sigkey = advisory_fields("TRIG-2026-0005");
    bad_sigkey["builds"] =
        serde_json::json!([{"nvr": "hello-1.0-2", "sigkey": "../../x", "rpms": [file]}]);
    let bad_sigkey = bad_sigkey.to_string().into_bytes();
    let r = send(&t, "koji", &signed(&fresh_id(), &bad_sigkey), bad_sigkey).await;
    assert!(r.text().contains("builds[0].sigkey"), "{}", r.text());
    // The advisory fields follow the API's rules.
    let mut bad_cve = advisory_fields("TRIG-2026-0006");
    bad_cve["cves"] = serde_json::json!(["CVE-nope"]);
    bad_cve["builds"] =
        serde_json::json!([{"nvr": "hello-1.0-2", "sigkey": SIGKEY, "rpms": [file]}]);
    let bad_cve = bad_cve.to_string().into_bytes();
    let r = send(&t, "koji", &signed(&fresh_id(), &bad_cve), bad_cve).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("cve"), "{}", r.text());
    assert!(
        server.requests().is_empty(),
        "a refused trigger fetched {:?}",
        server.requests()
    );

    // A replayed id: the first is accepted, the same id again is refused
    // (even with a fresh timestamp and a valid signature).
    let id = fresh_id();
    let first = send(&t, "koji", &signed(&id, &body), body.clone()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text());
    let again = send(&t, "koji", &signed(&id, &body), body.clone()).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    assert!(again.text().contains(&id), "{}", again.text());
    assert!(audited(&t, "trigger-refused", "replayed webhook-id"));
    // Nothing the refusals sent was published; the accepted one is, after its fetch.
    t.run_pending_jobs().await;
    assert_eq!(
        revision(&t),
        before,
        "a refused trigger published something"
    );
    for adv in ["TRIG-2026-0002", "TRIG-2026-0003", "TRIG-2026-0099"] {
        assert_eq!(
            t.get(&format!("/api/v1/advisories/{adv}")).await.status,
            StatusCode::NOT_FOUND
        );
    }
    run_triggers(&t).await;
    let token = t.push_token();
    let push = push_json(&t, &token, first.json()["id"].as_i64().unwrap()).await;
    assert_eq!(push["state"], "published", "{push}");
    assert_eq!(push["created_by"], "trigger:koji", "{push}");
    assert!(revision(&t) > before);
}

#[tokio::test]
async fn fetch_failures_fail_the_push_with_the_reason_and_publish_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let b = builds(dir);
    let root = dir.join("koji");
    let fix_path = koji_place(&root, "hello-1.0-2", "hello-1.0-2.noarch.rpm", &b.fix);
    koji_place(&root, "hello-1.0-3", "hello-1.0-3.noarch.rpm", &b.unsigned);
    koji_place(&root, "hello-1.0-4", "hello-1.0-4.noarch.rpm", &b.untrusted);
    // The trusted fix's bytes filed under another NEVRA (e.g. a testing build).
    koji_place(&root, "hello-1.0-5", "hello-1.0-5.noarch.rpm", &b.fix);
    koji_place(&root, "hello-1.0-6", "hello-1.0-6.noarch.rpm", &b.big);
    // A redirect to the fix: not followed.
    let redirect = root.join(
        "kojifiles/packages/hello/1.0/7/data/signed/aa50bb30/noarch/hello-1.0-7.noarch.rpm.redirect",
    );
    std::fs::create_dir_all(redirect.parent().unwrap()).unwrap();
    let server = StaticServer::start(&root);
    std::fs::write(&redirect, format!("{}{fix_path}", server.base_url)).unwrap();
    let t = trigger_app(dir, &b, &server, 1).await;
    let token = t.push_token();
    let before = revision(&t);
    let fix_url = format!("{}{fix_path}", server.base_url);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "404",
            koji_body("FAIL-2026-0001", "hello-1.0-8", &["hello-1.0-8.noarch.rpm"]),
            "HTTP 404",
        ),
        (
            "sha256 mismatch",
            urls_body("FAIL-2026-0002", &[(fix_url.clone(), Some("0".repeat(64)))]),
            "sha256 mismatch",
        ),
        (
            "unsigned",
            koji_body("FAIL-2026-0003", "hello-1.0-3", &["hello-1.0-3.noarch.rpm"]),
            "not signed",
        ),
        (
            "untrusted",
            koji_body("FAIL-2026-0004", "hello-1.0-4", &["hello-1.0-4.noarch.rpm"]),
            "not trusted",
        ),
        (
            "another NEVRA than declared",
            koji_body("FAIL-2026-0005", "hello-1.0-5", &["hello-1.0-5.noarch.rpm"]),
            "not the `hello-1.0-5.noarch.rpm` the trigger declared",
        ),
        (
            "larger than package_bytes_max",
            koji_body("FAIL-2026-0006", "hello-1.0-6", &["hello-1.0-6.noarch.rpm"]),
            "package_bytes_max",
        ),
        (
            "a redirect",
            koji_body("FAIL-2026-0007", "hello-1.0-7", &["hello-1.0-7.noarch.rpm"]),
            "not followed",
        ),
        (
            "one good and one missing package",
            koji_body(
                "FAIL-2026-0008",
                "hello-1.0-2",
                &["hello-1.0-2.noarch.rpm", "hello-extra-1.0-2.noarch.rpm"],
            ),
            "HTTP 404",
        ),
    ];
    let mut ids = Vec::new();
    for (what, body, _) in &cases {
        ids.push((*what, trigger_ok(&t, body.clone()).await));
    }
    run_triggers(&t).await;
    for ((what, id), (_, _, reason)) in ids.iter().zip(&cases) {
        let push = push_json(&t, &token, *id).await;
        assert_eq!(push["state"], "failed", "{what}: {push}");
        let error = push["error"].as_str().unwrap();
        assert!(error.contains(reason), "{what}: {error}");
        assert!(audited(&t, "trigger-failed", reason), "{what}: not audited");
    }
    assert_eq!(revision(&t), before, "a failed trigger published something");
    for i in 1..=8 {
        assert_eq!(
            t.get(&format!("/api/v1/advisories/FAIL-2026-000{i}"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }
    // Nothing refused is left in `incoming/`.
    let left: Vec<_> = std::fs::read_dir(&t.app().tree.incoming).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // The NEVRAs of failed pushes are free again: the right bytes go through.
    let ok = trigger_ok(
        &t,
        urls_body("FAIL-2026-0009", &[(fix_url, Some(sha256_hex(&b.fix)))]),
    )
    .await;
    run_triggers(&t).await;
    let push = push_json(&t, &token, ok).await;
    assert_eq!(push["state"], "published", "{push}");
    assert_eq!(push["packages"][0]["nevra"], "hello-1.0-2.noarch", "{push}");
}

/// Makes the static server answer the next requests for `path` (as
/// `koji_place` returns it) with `lines` (`STATUS` or `STATUS RETRY-AFTER`).
fn fail_next(root: &Path, path: &str, lines: &[&str]) {
    let file = root.join(format!("{}.fail", path.trim_start_matches('/')));
    std::fs::write(file, lines.join("\n")).unwrap();
}

#[tokio::test]
async fn transient_fetch_failures_are_retried_and_audited_others_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let b = builds(dir);
    let root = dir.join("koji");
    let fix_path = koji_place(&root, "hello-1.0-2", "hello-1.0-2.noarch.rpm", &b.fix);
    let down_path = koji_place(&root, "hello-1.0-9", "hello-1.0-9.noarch.rpm", &b.fix);
    let slow_path = koji_place(&root, "hello-1.0-10", "hello-1.0-10.noarch.rpm", &b.fix);
    let gone =
        "/kojifiles/packages/hello/1.0/11/data/signed/aa50bb30/noarch/hello-1.0-11.noarch.rpm";
    let server = StaticServer::start(&root);
    let t = trigger_app(dir, &b, &server, 1).await;
    let token = t.push_token();
    let before = revision(&t);
    let count = |path: &str| server.requests().iter().filter(|p| *p == path).count();

    // A 503, then a 429 with Retry-After, then the file: published.
    fail_next(&root, &fix_path, &["503", "429 1"]);
    let id = trigger_ok(
        &t,
        koji_body(
            "RETRY-2026-0001",
            "hello-1.0-2",
            &["hello-1.0-2.noarch.rpm"],
        ),
    )
    .await;
    run_triggers(&t).await;
    let push = push_json(&t, &token, id).await;
    assert_eq!(push["state"], "published", "{push}");
    assert_eq!(count(&fix_path), 3, "{:?}", server.requests());
    assert!(audited(
        &t,
        "trigger-retry",
        "attempt 1 of 4 failed: HTTP 503"
    ));
    assert!(audited(
        &t,
        "trigger-retry",
        "attempt 2 of 4 failed: HTTP 429"
    ));
    assert!(revision(&t) > before);

    // A server that stays down: a bounded number of attempts, then failed.
    fail_next(&root, &down_path, &["503"; 10]);
    // A Retry-After beyond the bound is not waited for.
    fail_next(&root, &slow_path, &["429 3600"]);
    let down = trigger_ok(
        &t,
        koji_body(
            "RETRY-2026-0002",
            "hello-1.0-9",
            &["hello-1.0-9.noarch.rpm"],
        ),
    )
    .await;
    let slow = trigger_ok(
        &t,
        koji_body(
            "RETRY-2026-0003",
            "hello-1.0-10",
            &["hello-1.0-10.noarch.rpm"],
        ),
    )
    .await;
    // A 4xx is never retried.
    let missing = trigger_ok(
        &t,
        koji_body(
            "RETRY-2026-0004",
            "hello-1.0-11",
            &["hello-1.0-11.noarch.rpm"],
        ),
    )
    .await;
    run_triggers(&t).await;
    let cases = [
        (down, "gave up after 4 attempts", &down_path, 4),
        (slow, "Retry-After", &slow_path, 1),
        (missing, "HTTP 404", &gone.to_owned(), 1),
    ];
    for (id, reason, path, requests) in cases {
        let push = push_json(&t, &token, id).await;
        assert_eq!(push["state"], "failed", "{push}");
        let error = push["error"].as_str().unwrap();
        assert!(error.contains(reason), "{error}");
        assert_eq!(count(path), requests, "{path}: {:?}", server.requests());
    }
    let left: Vec<_> = std::fs::read_dir(&t.app().tree.incoming).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");

    // Pruning: nothing is past its window yet; a day later the four ids and
    // the four ended fetches are gone.
    let prune = |now_ms: i64| hotpush::origin::trigger::prune(t.app(), now_ms).unwrap();
    let now_ms = hotpush::origin::store::now_ms();
    assert_eq!(prune(now_ms), (0, 0));
    assert_eq!(prune(now_ms + 25 * 3600 * 1000), (4, 4));
    assert_eq!(prune(now_ms + 25 * 3600 * 1000), (0, 0));
}

#[tokio::test]
async fn a_triggered_push_is_staged_and_needs_people_not_the_trigger() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let b = builds(dir);
    let root = dir.join("koji");
    koji_place(&root, "hello-1.0-2", "hello-1.0-2.noarch.rpm", &b.fix);
    let server = StaticServer::start(&root);
    let t = trigger_app(dir, &b, &server, 2).await;
    let alice = t.token("alice", "security");
    let bob = t.token("bob", "security");
    let outsider = t.token("mallory", "builders");
    let before = revision(&t);
    let approve = |token: String, id: i64| {
        let t = &t;
        async move {
            t.post_json(
                &format!("/api/v1/pushes/{id}/approve"),
                Some(&token),
                &serde_json::json!({}),
            )
            .await
        }
    };

    let id = trigger_ok(
        &t,
        koji_body(
            "STAGE-2026-0001",
            "hello-1.0-2",
            &["hello-1.0-2.noarch.rpm"],
        ),
    )
    .await;
    run_triggers(&t).await;
    assert_eq!(push_json(&t, &alice, id).await["state"], "staged");
    // The checklist says who must act.
    let checklist = t
        .get_with(&format!("/api/v1/pushes/{id}/checklist"), &alice)
        .await
        .text();
    assert!(checklist.contains("waiting for approval"), "{checklist}");
    // One person, twice, is one approval: the trigger itself never counts.
    for _ in 0..2 {
        let r = approve(alice.clone(), id).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["state"], "staged", "{}", r.text());
        assert_eq!(r.json()["approved_by"], serde_json::json!(["alice"]));
    }
    // A member of another group may not approve.
    assert_eq!(approve(outsider, id).await.status, StatusCode::FORBIDDEN);
    t.run_pending_jobs().await;
    assert_eq!(push_json(&t, &alice, id).await["state"], "staged");
    assert_eq!(revision(&t), before);
    let r = approve(bob.clone(), id).await;
    assert_eq!(r.json()["state"], "accepted", "{}", r.text());
    assert_eq!(r.json()["approved_by"], serde_json::json!(["alice", "bob"]));
    t.run_pending_jobs().await;
    assert_eq!(push_json(&t, &alice, id).await["state"], "published");
    assert!(revision(&t) > before);

    // An expired staged trigger push publishes nothing.
    let late = trigger_ok(
        &t,
        koji_body(
            "STAGE-2026-0002",
            "hello-1.0-2",
            &["hello-1.0-2.noarch.rpm"],
        ),
    )
    .await;
    run_triggers(&t).await;
    assert_eq!(push_json(&t, &alice, late).await["state"], "staged");
    let db = hotpush::origin::server::state_db(&t.app().config.data_dir);
    let conn = rusqlite::Connection::open(db).unwrap();
    let hours = t.app().config.auth.staged_expiry_hours as i64;
    conn.execute(
        "UPDATE staged_pushes SET staged_at_ms = staged_at_ms - ?1 WHERE push_id = ?2",
        rusqlite::params![hours * 3_600_000 + 1000, late],
    )
    .unwrap();
    let published = revision(&t);
    let r = approve(alice.clone(), late).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("expired"), "{}", r.text());
    t.run_pending_jobs().await;
    assert_eq!(push_json(&t, &alice, late).await["state"], "cancelled");
    assert_eq!(revision(&t), published);
    assert_eq!(
        t.get("/api/v1/advisories/STAGE-2026-0002").await.status,
        StatusCode::NOT_FOUND
    );
}

/// Sends a signed trigger to a real origin: (status, JSON body).
fn post_trigger(url: &str, id: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(url)
            .timeout(std::time::Duration::from_secs(30))
            .body(body.to_vec());
        for (k, v) in signed(id, body) {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let json = resp.json().await.unwrap_or_default();
        (status, json)
    })
}

fn wait_push_state(origin: &Origin, token: &Path, id: i64, want: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (code, body) = crate::common::fixtures::http_get_with_token(
            &format!("{}/api/v1/pushes/{id}", origin.url),
            token,
        )
        .unwrap();
        let push: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if code == 200 && push["state"] == want {
            return push;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "push {id} did not become {want}: {push}\nlog:\n{}",
            std::fs::read_to_string(&origin.log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn trigger_config(dir: &Path, fetch_base: &str, extra: &str) -> String {
    let secret = write_secret(dir);
    format!(
        "{extra}\n[[trigger]]\nname = \"koji\"\nsecret_file = {:?}\nfetch_base = \"{fetch_base}\"\n",
        secret.display().to_string()
    )
}

/// The whole path with the real binaries: Koji tree → signed trigger → staged
/// → approved by two people with `hotpush approve` (the trigger never counts)
/// → published → the real dnf installs the fix.
#[test]
fn a_koji_trigger_reaches_dnf_after_two_approvals() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (gpg, old, fix) = hello_and_signed_fix(dir);
    let root = dir.join("koji");
    koji_place(&root, "hello-1.0-2", "hello-1.0-2.noarch.rpm", &fix);
    let server = StaticServer::start(&root);
    let origin = Origin::start(
        dir,
        Some(&gpg.public_key),
        &trigger_config(
            dir,
            &format!("{}/kojifiles", server.base_url),
            "\n[auth]\napprovals_required = 2\n",
        ),
    );
    let alice = origin.token("alice", "security");
    let bob = origin.token("bob", "security");
    let repo =
        String::from_utf8(run_ok(hotpush().args(["repofile", "--server", &origin.url])).stdout)
            .unwrap();
    let dnf = Dnf::new(dir, &repo);
    dnf.rpm_install(&old);

    let body = koji_body("KOJI-2026-0001", "hello-1.0-2", &["hello-1.0-2.noarch.rpm"]);
    let (code, push) = post_trigger(
        &format!("{}/api/v1/triggers/koji", origin.url),
        &fresh_id(),
        &body,
    );
    assert_eq!(code, 202, "{push}");
    let id = push["id"].as_i64().unwrap();
    wait_push_state(&origin, &alice, id, "staged");
    let approve = |token: &Path| {
        hotpush()
            .args(["approve", "--server", &origin.url, "--token-file"])
            .arg(token)
            .arg(id.to_string())
            .output()
            .unwrap()
    };
    for _ in 0..2 {
        let out = approve(&alice);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(
            !err.contains("accepted"),
            "one person is one approval: {err}"
        );
    }
    wait_push_state(&origin, &alice, id, "staged");
    let out = approve(&bob);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("accepted"), "{err}");
    wait_push_state(&origin, &alice, id, "published");

    dnf.security_upgrade("KOJI-2026-0001", "hello", "hello-1.0-2.noarch");
}

/// `hotpush serve` killed between the 202 and the fetch (the build system's
/// file server holds the request): after the restart the fetch runs again and
/// the push is published; the same webhook-id is still refused.
#[test]
fn a_restart_between_202_and_the_fetch_still_publishes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let fix = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&fix);
    let root = dir.join("koji");
    let path = koji_place(&root, "hello-1.0-2", "hello-1.0-2.noarch.rpm", &fix);
    let server = StaticServer::start_gated(&root);
    let mut origin = Origin::start(
        dir,
        Some(&gpg.public_key),
        &trigger_config(dir, &format!("{}/kojifiles", server.base_url), ""),
    );
    let alice = origin.token("alice", "security");
    let url = format!("{}/api/v1/triggers/koji", origin.url);
    let body = koji_body("KOJI-2026-0002", "hello-1.0-2", &["hello-1.0-2.noarch.rpm"]);
    let id = fresh_id();
    let (code, push) = post_trigger(&url, &id, &body);
    assert_eq!(code, 202, "{push}");
    let push_id = push["id"].as_i64().unwrap();
    // The fetch has started and is held by the file server: kill the origin.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !server.requests().contains(&path) {
        assert!(std::time::Instant::now() < deadline, "no fetch started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    origin.kill();
    origin.restart();
    server.open_gate();
    let push = wait_push_state(&origin, &alice, push_id, "published");
    assert_eq!(push["packages"][0]["nevra"], "hello-1.0-2.noarch", "{push}");
    // The id is remembered across the restart.
    let (code, again) = post_trigger(&url, &id, &body);
    assert_eq!(code, 409, "{again}");
}

/// `hotpush doctor` checks each `[[trigger]]`: a good secret and a reachable
/// `fetch_base` pass; a secret others can read and a closed port fail by
/// name; a trigger that publishes without approval is a warning.
#[test]
fn doctor_checks_each_trigger() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = dir.join("koji");
    std::fs::create_dir_all(&root).unwrap();
    let server = StaticServer::start(&root);
    let good = write_secret(dir);
    let loose = dir.join("loose.secret");
    std::fs::write(&loose, secret_text()).unwrap();
    let mut perms = std::fs::metadata(&loose).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(&loose, perms).unwrap();
    let closed = crate::common::fixtures::free_port();
    let config = dir.join("hotpush.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n\
             [[trigger]]\nname = \"koji\"\nsecret_file = {:?}\nfetch_base = \"{}/kojifiles\"\napproval = \"required\"\n\
             [[trigger]]\nname = \"jenkins\"\nsecret_file = {:?}\nfetch_base = \"http://[::1]:{closed}/files\"\n",
            good.display().to_string(),
            server.base_url,
            loose.display().to_string()
        ),
    )
    .unwrap();
    let out = hotpush()
        .args(["doctor", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{text}"))
            .to_owned()
    };
    assert!(
        line("ok   trigger koji secret_file").contains("32-byte key"),
        "{text}"
    );
    assert!(
        line("ok   trigger koji approval").contains("staged"),
        "{text}"
    );
    assert!(
        line("ok   trigger koji fetch_base").contains("reachable"),
        "{text}"
    );
    let loose_line = line("FAIL trigger jenkins secret_file");
    assert!(loose_line.contains("can be read by others"), "{loose_line}");
    assert!(loose_line.contains("chmod 600"), "{loose_line}");
    assert!(
        line("warn trigger jenkins approval").contains("without a person"),
        "{text}"
    );
    let closed_line = line("FAIL trigger jenkins fetch_base");
    assert!(closed_line.contains(&closed.to_string()), "{closed_line}");
}

/// The emergency SOP shows the trigger path with the live values: the URL,
/// where packages come from and who must approve; without a trigger it says
/// how to add one.
#[test]
fn the_sop_shows_the_trigger_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let secret = write_secret(dir);
    let config = dir.join("hotpush.toml");
    let sop = |text: &str| {
        std::fs::write(&config, text).unwrap();
        let out = run_ok(
            hotpush()
                .args(["sop", "--procedure", "emergency-push", "--config"])
                .arg(&config),
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let with = sop(&format!(
        "public_url = \"http://[::1]:18443\"\n[auth]\npush_group = \"secteam\"\napprovals_required = 2\n\
         [[trigger]]\nname = \"koji\"\nsecret_file = {:?}\nfetch_base = \"https://kojipkgs.example.org/k\"\n",
        secret.display().to_string()
    ));
    for needle in [
        "`http://[::1]:18443/api/v1/triggers/koji`",
        "`https://kojipkgs.example.org/k/`",
        "until 2 member(s) of `secteam` approve",
        "hotpush approve\n--server http://[::1]:18443",
    ] {
        assert!(with.contains(needle), "`{needle}` missing from:\n{with}");
    }
    let without = sop("public_url = \"http://[::1]:18443\"\n");
    assert!(
        without.contains("No `[[trigger]]` is configured"),
        "{without}"
    );
    assert!(!without.contains("/api/v1/triggers/"), "{without}");
}

/// `hotpush cancel` (the API) abandons a push that is still fetching: the
/// fetch then records nothing and nothing is published.
#[tokio::test]
async fn a_fetching_push_can_be_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let b = builds(dir);
    let root = dir.join("koji");
    koji_place(&root, "hello-1.0-2", "hello-1.0-2.noarch.rpm", &b.fix);
    let server = StaticServer::start(&root);
    let t = trigger_app(dir, &b, &server, 1).await;
    let alice = t.push_token();
    let before = revision(&t);
    let id = trigger_ok(
        &t,
        koji_body(
            "CANCEL-2026-0001",
            "hello-1.0-2",
            &["hello-1.0-2.noarch.rpm"],
        ),
    )
    .await;
    let r = t
        .post_json(
            &format!("/api/v1/pushes/{id}/cancel"),
            Some(&alice),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    run_triggers(&t).await;
    let push = push_json(&t, &alice, id).await;
    assert_eq!(push["state"], "cancelled", "{push}");
    assert_eq!(push["packages"], serde_json::json!([]), "{push}");
    assert_eq!(revision(&t), before);
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}
