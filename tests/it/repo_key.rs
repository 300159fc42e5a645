//! Rotating the repo-signing key on a running origin (`hotpush keys
//! repo-next|repo-switch|repo-retire`, `/api/v1/repo-key`): the next key is
//! served beside the current one (and shipped by the `-repos` RPM) before it
//! signs anything; the switch signs new revisions and every served repomd.xml
//! again, is audited and announced, and partners get the re-signed .asc before
//! the metalink lists them again; the real dnf and zypper holding both keys see
//! no failure across it, and a dnf or zypper holding only the old key keeps
//! working until a new revision is published, then fails with the messages
//! the SOP quotes.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use hotpush::core::signing::{public_fingerprints, verify_detached, verify_detached_any};

use crate::common::fixtures::{build_rpm, http_get, Dnf, Gpg, Origin};
use crate::common::partner::{poll, Receiver};
use crate::common::support::{hotpush, require_tool, run_ok};
use crate::common::test_app::{signed_rpm, TestApp};

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn next_key_is_served_first_then_signs_after_the_switch_and_retires() {
    let t = TestApp::init().start().await;
    t.run_pending_jobs().await;
    let admin = t.token("root", "admin");
    let pusher = t.push_token();
    let repomd_url = "/pub/critical/43/x86_64/repodata/repomd.xml";

    let status = t.get("/api/v1/repo-key").await;
    assert_eq!(status.status, StatusCode::OK);
    let old = status.json()["current"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(status.json()["next"].is_null(), "{}", status.text());
    assert!(
        status.json()["step"]
            .as_str()
            .unwrap()
            .contains("hotpush keys repo-next"),
        "{}",
        status.text()
    );

    // Only the admin group may rotate; each refusal changes nothing.
    let anonymous = t
        .post_json("/api/v1/repo-key/next", None, &serde_json::json!({}))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let not_admin = t
        .post_json(
            "/api/v1/repo-key/next",
            Some(&pusher),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(not_admin.status, StatusCode::FORBIDDEN);
    let switch_early = t
        .post_json(
            "/api/v1/repo-key/switch",
            Some(&admin),
            &serde_json::json!({ "fingerprint": old }),
        )
        .await;
    assert_eq!(switch_early.status, StatusCode::CONFLICT);
    assert!(
        switch_early.text().contains("hotpush keys repo-next"),
        "{}",
        switch_early.text()
    );

    let prepared = t
        .post_json(
            "/api/v1/repo-key/next",
            Some(&admin),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(prepared.status, StatusCode::CREATED, "{}", prepared.text());
    let new = prepared.json()["changed"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let again = t
        .post_json(
            "/api/v1/repo-key/next",
            Some(&admin),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());

    // Served beside the current key at both key URLs; the current one signs.
    let keys = t.get("/keys/repo.asc").await.text();
    assert_eq!(
        public_fingerprints(&keys).unwrap(),
        vec![old.clone(), new.clone()]
    );
    let beside = t
        .get("/pub/critical/43/x86_64/repodata/repomd.xml.key")
        .await;
    assert_eq!(beside.text(), keys);
    let repomd = t.get(repomd_url).await.body;
    let asc = t.get(&format!("{repomd_url}.asc")).await.text();
    let old_key = t.app().repo_keys().current.armored_public();
    let new_key = t.app().repo_keys().next.clone().unwrap().armored_public();
    verify_detached(&old_key, &repomd, &asc).unwrap();

    // A switch to another fingerprint is refused, naming the prepared one.
    let wrong = t
        .post_json(
            "/api/v1/repo-key/switch",
            Some(&admin),
            &serde_json::json!({ "fingerprint": old }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::CONFLICT);
    assert!(wrong.text().contains(&new), "{}", wrong.text());

    let mut events = t.events(None).await;
    let switched = t
        .post_json(
            "/api/v1/repo-key/switch",
            Some(&admin),
            &serde_json::json!({ "fingerprint": &new[24..] }),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.text());
    let body = switched.json();
    assert_eq!(body["changed"], new.as_str());
    let resigned: Vec<&str> = body["resigned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(resigned.len(), t.app().repos().len(), "{resigned:?}");
    assert_eq!(body["now"]["previous"]["fingerprint"], old.as_str());
    // Announced (the event webhooks get as `repokey.switched`), naming the key.
    t.emit_marker("after-the-switch");
    let seen = events.read_until("after-the-switch").await;
    let at = seen
        .find("event: repokey-switched")
        .unwrap_or_else(|| panic!("no repokey-switched event in {seen}"));
    let event = seen[at..].split("\n\n").next().unwrap();
    assert!(event.contains(&new), "{event}");

    // The same repomd.xml, signed again by the new key only; on disk too.
    assert_eq!(t.get(repomd_url).await.body, repomd);
    let asc = t.get(&format!("{repomd_url}.asc")).await.text();
    verify_detached(&new_key, &repomd, &asc).unwrap();
    assert!(verify_detached(&old_key, &repomd, &asc).is_err());
    let on_disk = std::fs::read_to_string(
        t.app()
            .config
            .data_dir
            .join("pub/critical/43/x86_64/repodata/repomd.xml.asc"),
    )
    .unwrap();
    assert_eq!(on_disk, asc);
    let keys = t.get("/keys/repo.asc").await.text();
    assert_eq!(
        public_fingerprints(&keys).unwrap(),
        vec![new.clone(), old.clone()]
    );

    // New revisions are signed by the new key.
    let id = t.push(&pusher, "CRIT-2026-0300", &[signed_rpm()]).await;
    t.run_pending_jobs().await;
    let push = t.get_with(&format!("/api/v1/pushes/{id}"), &pusher).await;
    assert_eq!(push.json()["state"], "published", "{}", push.text());
    let repomd2 = t.get(repomd_url).await.body;
    assert_ne!(repomd2, repomd);
    let asc2 = t.get(&format!("{repomd_url}.asc")).await.text();
    verify_detached(&new_key, &repomd2, &asc2).unwrap();

    // Audited, with who and what.
    let audit = t.get_with("/api/v1/audit", &admin).await.text();
    for action in ["prepare-repo-key", "switch-repo-key"] {
        assert!(audit.contains(action), "no {action} in {audit}");
    }

    let retired = t
        .post_json(
            "/api/v1/repo-key/retire",
            Some(&admin),
            &serde_json::json!({ "fingerprint": old }),
        )
        .await;
    assert_eq!(retired.status, StatusCode::OK, "{}", retired.text());
    let keys = t.get("/keys/repo.asc").await.text();
    assert_eq!(public_fingerprints(&keys).unwrap(), vec![new.clone()]);
    let status = t.get("/api/v1/repo-key").await.json();
    assert!(status["previous"].is_null() && status["next"].is_null());
    assert!(t
        .app()
        .config
        .data_dir
        .join(format!("keys/retired/{old}.asc"))
        .exists());
}

fn keys_cmd(origin: &Origin, token: &Path, args: &[&str]) -> String {
    let out = run_ok(
        hotpush()
            .arg("keys")
            .arg(args[0])
            .args(["--server", &origin.url, "--token-file"])
            .arg(token)
            .args(&args[1..]),
    );
    text_of(&out.stdout).trim().to_owned()
}

fn push_ok(origin: &Origin, token: &Path, advisory: &str, rpm: &Path) {
    let out = origin.push(token, advisory, &[rpm], &["--timeout-secs", "60"]);
    assert!(
        out.status.success(),
        "hotpush push failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The dnf `.repo` of `hotpush repofile`, with the given key files and
/// `skip_if_unavailable=False` so that a signature failure fails dnf instead
/// of skipping the repository with a warning.
fn dnf_repo(origin: &Origin, gpgkeys: &[String]) -> String {
    let text = text_of(
        &run_ok(hotpush().args(["repofile", "--server", &origin.url, "--release", "43"])).stdout,
    );
    text.lines()
        .map(|l| {
            if l.starts_with("gpgkey=") {
                format!("gpgkey={}", gpgkeys.join(" "))
            } else if l.starts_with("skip_if_unavailable=") {
                "skip_if_unavailable=False".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Runs zypper in `root` non-interactively for release 43, importing no
/// key it is offered.
fn zypper(root: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new("zypper")
        .arg("--root")
        .arg(root)
        .args(["--non-interactive", "--releasever", "43"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Builds the `-repos` RPM and installs it with the real rpm into
/// `repos-rpm-root` (an rpm database, no scriptlets); returns its repo key file.
fn repos_rpm_key_file(origin: &Origin, dir: &Path) -> PathBuf {
    let out = run_ok(
        hotpush()
            .args(["repofile", "--server", &origin.url, "--rpm"])
            .arg(dir.join("repos-rpm")),
    );
    let rpm = PathBuf::from(text_of(&out.stdout).trim());
    let root = dir.join("repos-rpm-root");
    std::fs::create_dir_all(&root).unwrap();
    run_ok(
        Command::new("rpm")
            .arg("--root")
            .arg(&root)
            .args(["-i", "--nodeps", "--noscripts", "--nosignature"])
            .arg(&rpm),
    );
    root.join("etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical")
}

#[test]
fn dnf_and_zypper_holding_both_keys_follow_a_switch_and_the_old_key_alone_fails() {
    require_tool("zypper");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let partner = Receiver::start();
    let mirrors = dir.join("mirrors.toml");
    std::fs::write(&mirrors, partner.mirror_toml("partner-a")).unwrap();
    let origin = Origin::start_full(
        dir,
        Some(&gpg.public_key),
        "\n[publish]\npartner_deadline_secs = 30\n",
        Some(&mirrors),
        None,
    );
    let pusher = origin.token("alice", "security");
    let admin = origin.token("root", "admin");
    let fix1 = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&fix1);
    let fix2 = build_rpm(dir, "hello", "1.0", "3", "noarch");
    gpg.sign(&fix2);
    push_ok(&origin, &pusher, "CRIT-2026-0301", &fix1);

    let (_, old_keys) = http_get(&format!("{}/keys/repo.asc", origin.url)).unwrap();
    let old_only = dir.join("old-repo-key.asc");
    std::fs::write(&old_only, &old_keys).unwrap();
    let old = public_fingerprints(&text_of(&old_keys)).unwrap().remove(0);

    // 1. Prepare the next key: served beside the current one, shipped by the
    //    -repos RPM, signing nothing yet.
    let new = keys_cmd(&origin, &admin, &["repo-next"]);
    assert_eq!(new.len(), 40, "{new}");
    let status = keys_cmd(&origin, &admin, &["repo-status"]);
    assert!(status.contains(&format!("next      {new}")), "{status}");
    let shipped = repos_rpm_key_file(&origin, dir);
    assert_eq!(
        public_fingerprints(&std::fs::read_to_string(&shipped).unwrap()).unwrap(),
        vec![old.clone(), new.clone()],
        "the -repos RPM ships both repo keys"
    );
    let packages_key = format!("{}/keys/packages.asc", origin.url);
    let both = Dnf::new(
        &dir.join("both"),
        &dnf_repo(
            &origin,
            &[
                format!("file://{}", shipped.display()),
                packages_key.clone(),
            ],
        ),
    );
    let old_client = Dnf::new(
        &dir.join("old"),
        &dnf_repo(
            &origin,
            &[
                format!("file://{}", old_only.display()),
                packages_key.clone(),
            ],
        ),
    );
    for dnf in [&both, &old_client] {
        dnf.ok(&["makecache", "--refresh"]);
        let list = dnf.ok(&["list", "--available", "hello"]);
        assert!(list.contains("1.0-2"), "{list}");
    }
    // zypper, configured only by the -repos RPM (its /etc/zypp/repos.d file),
    // trusts keys it accepted or that are in the rpm database; from the
    // gpgkey= file it would take only the key that signs. So the key file is
    // imported once, as the SOP says, and no key is ever auto-imported.
    let zroot = dir.join("repos-rpm-root");
    let zypper_repo =
        std::fs::read_to_string(zroot.join("etc/zypp/repos.d/critical-updates.repo")).unwrap();
    assert!(
        zypper_repo.contains("baseurl=") && !zypper_repo.contains("metalink="),
        "{zypper_repo}"
    );
    run_ok(
        Command::new("rpm")
            .arg("--root")
            .arg(&zroot)
            .arg("--import")
            .arg(&shipped),
    );
    let keys = text_of(
        &run_ok(Command::new("rpm").arg("--root").arg(&zroot).args([
            "-q",
            "gpg-pubkey",
            "--qf",
            "%{VERSION}\n",
        ]))
        .stdout,
    )
    .to_ascii_uppercase();
    for fpr in [&old, &new] {
        assert!(
            keys.contains(&fpr[32..]),
            "zypper's rpm database holds {keys}, not {fpr}"
        );
    }
    let (code, text) = zypper(&zroot, &["refresh"]);
    assert_eq!(code, 0, "{text}");
    // A zypper that trusts only the old key (the -repos package before the
    // rotation): the same .repo, the old key in its rpm database.
    let zold = dir.join("zypper-old-root");
    std::fs::create_dir_all(zold.join("etc/zypp/repos.d")).unwrap();
    std::fs::write(
        zold.join("etc/zypp/repos.d/critical-updates.repo"),
        &zypper_repo,
    )
    .unwrap();
    run_ok(Command::new("rpm").arg("--root").arg(&zold).arg("--initdb"));
    run_ok(
        Command::new("rpm")
            .arg("--root")
            .arg(&zold)
            .arg("--import")
            .arg(&old_only),
    );
    let (code, text) = zypper(&zold, &["refresh"]);
    assert_eq!(code, 0, "{text}");
    // 2. Switch: every repomd.xml signed again by the new key, at the origin
    //    and, before the metalink lists it again, at the partner.
    // The partner is frozen (SIGSTOP) across the switch, so it cannot take
    // the re-signed .asc yet: it must leave the metalink until it does.
    let partner_pid = partner.process.0.as_ref().unwrap().id().to_string();
    run_ok(Command::new("kill").args(["-STOP", &partner_pid]));
    let switched = keys_cmd(&origin, &admin, &["repo-switch", &new]);
    assert_eq!(switched, new);
    let (_, metalink) = http_get(&format!(
        "{}/metalink?repo=critical-f43&arch=x86_64",
        origin.url
    ))
    .unwrap();
    let listed_frozen = text_of(&metalink).contains(&partner.public_url);
    run_ok(Command::new("kill").args(["-CONT", &partner_pid]));
    assert!(
        !listed_frozen,
        "the metalink lists a partner that still serves the old .asc"
    );
    let repomd_path = "critical/43/x86_64/repodata/repomd.xml";
    let (_, repomd) = http_get(&format!("{}/pub/{repomd_path}", origin.url)).unwrap();
    let (_, asc) = http_get(&format!("{}/pub/{repomd_path}.asc", origin.url)).unwrap();
    let new_key_text = {
        let (_, all) = http_get(&format!("{}/keys/repo.asc", origin.url)).unwrap();
        text_of(&all)
    };
    verify_detached_any(&new_key_text, &repomd, &text_of(&asc)).unwrap();
    assert!(verify_detached(&text_of(&old_keys), &repomd, &text_of(&asc)).is_err());
    poll(
        "the partner to serve the re-signed .asc and be listed",
        Duration::from_secs(60),
        || {
            // Metalink first: whenever it lists the partner, the partner
            // already serves the re-signed .asc.
            let (_, metalink) = http_get(&format!(
                "{}/metalink?repo=critical-f43&arch=x86_64",
                origin.url
            ))
            .ok()?;
            let listed = text_of(&metalink).contains(&partner.public_url);
            let (_, p_asc) = http_get(&format!("{}/{repomd_path}.asc", partner.public_url)).ok()?;
            assert!(
                !listed || p_asc == asc,
                "the metalink lists the partner while it serves the old .asc"
            );
            listed.then_some(())
        },
    );
    // The partner serves the keys beside the .asc too, from the same commit.
    let (code, p_key) = http_get(&format!("{}/{repomd_path}.key", partner.public_url)).unwrap();
    assert_eq!(code, 200);
    assert_eq!(text_of(&p_key), new_key_text);
    assert_eq!(
        public_fingerprints(&new_key_text).unwrap(),
        vec![new.clone(), old.clone()]
    );
    // Holding only the old key: nothing fails until a new revision is
    // published (the repomd.xml both have cached is still current).
    let (code, text) = zypper(&zold, &["refresh"]);
    assert_eq!(code, 0, "{text}");
    old_client.ok(&["makecache", "--refresh"]);
    // Holding both keys: nothing fails, before and after the next revision.
    both.ok(&["makecache", "--refresh"]);
    let (code, text) = zypper(&zroot, &["refresh", "--force"]);
    assert_eq!(
        code, 0,
        "zypper holding both keys failed after the switch:\n{text}"
    );

    push_ok(&origin, &pusher, "CRIT-2026-0302", &fix2);
    both.ok(&["makecache", "--refresh"]);
    let list = both.ok(&["list", "--available", "hello"]);
    assert!(list.contains("1.0-3"), "{list}");
    let (code, text) = zypper(&zroot, &["refresh", "--force"]);
    assert_eq!(code, 0, "{text}");
    let (code, patches) = zypper(&zroot, &["list-patches", "--all", "--category", "security"]);
    assert_eq!(code, 0, "{patches}");
    assert!(patches.contains("CRIT-2026-0302"), "{patches}");

    // Holding only the old key: the new revision's signature is refused.
    let (code, text) = old_client.run(&["makecache", "--refresh"]);
    assert_ne!(code, 0, "a dnf holding only the old key refreshed:\n{text}");
    assert!(
        text.contains("GPG") || text.contains("signature"),
        "the failure does not name the signature:\n{text}"
    );
    eprintln!("dnf holding only the old repo key says:\n{text}");
    let (code, text) = zypper(&zold, &["refresh", "--force"]);
    assert_ne!(
        code, 0,
        "a zypper trusting only the old key refreshed:\n{text}"
    );
    assert!(
        text.contains("Signature verification failed"),
        "the failure does not name the signature:\n{text}"
    );

    // 3. Retire the old key: only the new one is served and shipped.
    assert_eq!(keys_cmd(&origin, &admin, &["repo-retire", &old]), old);
    let (_, keys) = http_get(&format!("{}/keys/repo.asc", origin.url)).unwrap();
    assert_eq!(
        public_fingerprints(&text_of(&keys)).unwrap(),
        vec![new.clone()]
    );
    both.ok(&["makecache", "--refresh"]);
}

#[test]
fn a_key_replaced_while_the_origin_was_down_delists_partners_until_they_hold_the_new_asc() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let partner = Receiver::start();
    let mirrors = dir.join("mirrors.toml");
    std::fs::write(&mirrors, partner.mirror_toml("partner-a")).unwrap();
    let mut origin = Origin::start_full(
        dir,
        Some(&gpg.public_key),
        "\n[publish]\npartner_deadline_secs = 30\n",
        Some(&mirrors),
        None,
    );
    let pusher = origin.token("alice", "security");
    let fix = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&fix);
    push_ok(&origin, &pusher, "CRIT-2026-0303", &fix);
    let repomd_path = "critical/43/x86_64/repodata/repomd.xml";
    let metalink_url = format!("{}/metalink?repo=critical-f43&arch=x86_64", origin.url);
    let (_, metalink) = http_get(&metalink_url).unwrap();
    assert!(text_of(&metalink).contains(&partner.public_url));

    // The old way to rotate: the key moved away while the origin is down.
    origin.kill();
    std::fs::remove_file(origin.data_dir.join("keys/repo-signing.key")).unwrap();
    origin.restart();
    let (_, key) = http_get(&format!("{}/keys/repo.asc", origin.url)).unwrap();
    let key = text_of(&key);
    let (_, repomd) = http_get(&format!("{}/pub/{repomd_path}", origin.url)).unwrap();
    // Whenever the metalink lists the partner, the partner's .asc verifies
    // with the key the origin serves now; and it is listed again in the end.
    poll(
        "the partner to be listed again with the new .asc",
        Duration::from_secs(60),
        || {
            let (_, metalink) = http_get(&metalink_url).ok()?;
            if !text_of(&metalink).contains(&partner.public_url) {
                return None;
            }
            let (_, asc) = http_get(&format!("{}/{repomd_path}.asc", partner.public_url)).ok()?;
            verify_detached(&key, &repomd, &text_of(&asc)).unwrap_or_else(|e| {
                panic!("the metalink lists the partner while its .asc does not verify: {e:#}")
            });
            Some(())
        },
    );
}

/// A commit request as a receiver from before `repomd_key_base64` read it:
/// the same fields, unknown ones refused.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct OldCommitRequest {
    repo_path: String,
    revision: u64,
    files: Vec<serde_json::Value>,
    repomd_base64: String,
    repomd_asc_base64: String,
}

/// A receiver from before `repomd_key_base64` on `[::1]` (its commit handler
/// only: it answers as the old `hotpush receive` did, 400 with serde's
/// message, or, when `refuse_all`, 400 for another reason); returns its URL and
/// the commit bodies it saw.
async fn old_receiver(
    refuse_all: bool,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use axum::response::IntoResponse;
    let seen: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
    let kept = seen.clone();
    let app = axum::Router::new().route(
        hotpush::core::protocol::PATH_COMMIT,
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                if refuse_all {
                    return hotpush::io::http_error::ApiError::with_status(
                        StatusCode::BAD_REQUEST,
                        "bad commit request: missing field `repo_path`",
                    )
                    .into_response();
                }
                match serde_json::from_slice::<OldCommitRequest>(&body) {
                    Err(e) => hotpush::io::http_error::ApiError::with_status(
                        StatusCode::BAD_REQUEST,
                        format!("bad commit request: {e}"),
                    )
                    .into_response(),
                    Ok(r) => axum::Json(serde_json::json!({
                        "repo_path": r.repo_path,
                        "revision": r.revision,
                        "repomd_sha256": "0".repeat(64),
                        "linked": 0,
                    }))
                    .into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let url = format!("http://[::1]:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// The commit to a receiver that refuses the unknown `repomd_key_base64`
/// (an older `hotpush receive`) is sent again without it, once; a refusal
/// for any other reason is not retried.
#[tokio::test]
async fn a_commit_refused_for_the_key_field_is_retried_once_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let revision = hotpush::origin::sync::RepoRevision {
        repo_path: "critical/43/x86_64".into(),
        revision: 7,
        files: Vec::new(),
        repomd: b"<repomd/>".to_vec(),
        repomd_asc: b"signature".to_vec(),
        repomd_key: b"-----BEGIN PGP PUBLIC KEY BLOCK-----".to_vec(),
    };
    for refuse_all in [false, true] {
        let (url, seen) = old_receiver(refuse_all).await;
        // Built directly: `mirrors.toml` takes only https push URLs, and the
        // fallback does not depend on the transport.
        let mirror = hotpush::origin::mirrors::Mirror {
            name: "old".into(),
            public_url: format!("{url}/pub"),
            method: hotpush::origin::mirrors::PushMethod::Https,
            push_url: url.clone(),
            secret_file: secret.clone(),
            ca_file: None,
            known_hosts_file: None,
            weight: 1,
        };
        let client = hotpush::origin::sync::https::HttpsClient::new(
            &mirror,
            Duration::from_secs(10),
            Duration::from_secs(30),
        )
        .unwrap();
        let result = client.commit(&revision).await;
        let seen = seen.lock().unwrap().clone();
        if refuse_all {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("missing field"), "{err}");
            assert_eq!(seen.len(), 1, "retried for another reason: {seen:?}");
        } else {
            let response = result.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(response.revision, 7);
            assert_eq!(seen.len(), 2, "{seen:?}");
            assert!(seen[0]["repomd_key_base64"].is_string(), "{seen:?}");
            assert!(seen[1].get("repomd_key_base64").is_none(), "{seen:?}");
            assert_eq!(seen[0]["repomd_asc_base64"], seen[1]["repomd_asc_base64"]);
        }
    }
}

/// Every served repo's `repodata/` directory and the bytes of its
/// repomd.xml.asc, and the files of the keys directory.
fn snapshot(app: &hotpush::origin::app::App) -> (Vec<(PathBuf, Vec<u8>)>, Vec<(String, Vec<u8>)>) {
    let mut ascs = Vec::new();
    for repo in app.repos() {
        let dir = app.tree.repo_dir(&repo).join("repodata");
        ascs.push((
            dir.clone(),
            std::fs::read(dir.join("repomd.xml.asc")).unwrap(),
        ));
        let debris: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(debris.is_empty(), "{}: {debris:?}", dir.display());
    }
    let keys_dir = app.config.data_dir.join("keys");
    let mut keys: Vec<(String, Vec<u8>)> = std::fs::read_dir(&keys_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    keys.sort();
    (ascs, keys)
}

/// A switch that cannot sign one served repo again (its `repodata` cannot be
/// written: here it is not even a directory, which stops root too) is
/// reported and switches nothing: the old key still signs, the next stays
/// prepared, no .asc and no key file changed, no temporary file is left; once
/// the directory is back the same switch goes through and every repo verifies
/// with the new key.
#[tokio::test]
async fn a_switch_that_cannot_sign_every_repo_switches_nothing() {
    let t = TestApp::init().start().await;
    t.run_pending_jobs().await;
    let admin = t.token("root", "admin");
    let prepared = t
        .post_json(
            "/api/v1/repo-key/next",
            Some(&admin),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(prepared.status, StatusCode::CREATED, "{}", prepared.text());
    let new = prepared.json()["changed"].as_str().unwrap().to_owned();
    let old = t.app().repo_keys().current.fingerprint();
    let repos = t.app().repos();
    assert!(repos.len() >= 2, "{repos:?}");
    let before = snapshot(t.app());

    // The broken repo signed first (nothing staged yet) and last (the others
    // staged: their temporary files must go).
    let positions = [0, repos.len() - 1];
    for broken in positions {
        let dir = t.app().tree.repo_dir(&repos[broken]).join("repodata");
        let aside = dir.with_extension("aside");
        std::fs::rename(&dir, &aside).unwrap();
        std::fs::write(&dir, "not a directory").unwrap();
        let switched = t
            .post_json(
                "/api/v1/repo-key/switch",
                Some(&admin),
                &serde_json::json!({ "fingerprint": new }),
            )
            .await;
        std::fs::remove_file(&dir).unwrap();
        std::fs::rename(&aside, &dir).unwrap();
        assert_eq!(
            switched.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            switched.text()
        );
        let text = switched.text();
        assert!(text.contains(&repos[broken].path()), "{text}");
        assert!(text.contains("nothing was switched"), "{text}");
        assert!(text.contains("writable"), "{text}");

        let status = t.get("/api/v1/repo-key").await.json();
        assert_eq!(status["current"]["fingerprint"], old, "{status}");
        assert_eq!(status["next"]["fingerprint"], new.as_str(), "{status}");
        assert_eq!(t.app().repo_keys().current.fingerprint(), old);
        assert_eq!(
            snapshot(t.app()),
            before,
            "files changed (broken repo {broken})"
        );
        // What is served still verifies with the old key.
        let old_key = t.app().repo_keys().current.armored_public();
        for repo in &repos {
            let url = format!("/pub/{}/repodata/repomd.xml", repo.path());
            let repomd = t.get(&url).await.body;
            let asc = t.get(&format!("{url}.asc")).await.text();
            verify_detached(&old_key, &repomd, &asc).unwrap();
        }
    }
    // The refusals are audited.
    let audit = t.get_with("/api/v1/audit", &admin).await.json();
    let rows = audit
        .as_array()
        .or_else(|| audit["entries"].as_array())
        .cloned()
        .unwrap();
    let refused = rows
        .iter()
        .filter(|r| r["action"] == "switch-repo-key" && r["allowed"] == false)
        .count();
    assert_eq!(refused, positions.len(), "{audit}");

    let switched = t
        .post_json(
            "/api/v1/repo-key/switch",
            Some(&admin),
            &serde_json::json!({ "fingerprint": new }),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.text());
    assert_eq!(t.app().repo_keys().current.fingerprint(), new);
    let new_key = t.app().repo_keys().current.armored_public();
    for repo in &repos {
        let url = format!("/pub/{}/repodata/repomd.xml", repo.path());
        let repomd = t.get(&url).await.body;
        let asc = t.get(&format!("{url}.asc")).await.text();
        verify_detached(&new_key, &repomd, &asc).unwrap();
        let on_disk = std::fs::read_to_string(
            t.app()
                .tree
                .repo_dir(repo)
                .join("repodata")
                .join("repomd.xml.asc"),
        )
        .unwrap();
        assert_eq!(on_disk, asc, "{}", repo.path());
    }
}
