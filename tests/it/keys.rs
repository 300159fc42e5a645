//! Trusted package keys, live: `hotpush keys list|add|remove` (and
//! `/api/v1/keys`) change what the running origin accepts without a restart,
//! only for the admin group, audited, persisted in the data directory; the
//! untrusted-key refusal names the key and says how to trust it.
use axum::http::{Method, StatusCode};

use crate::common::fixtures::Origin;
use crate::common::support::{hotpush, real_rpms};
use crate::common::test_app::{trusted_key, TestApp};

/// A real RPM signed by a key the test origin does not trust by default.
fn rsa_rpm() -> (String, Vec<u8>) {
    let name = "rpm-basic-with-rsa4096-2.3.4-5.el9.noarch.rpm";
    let path = real_rpms().join("rpm-rs/v4/signed").join(name);
    (name.to_owned(), std::fs::read(&path).unwrap())
}

fn rsa_key_file() -> std::path::PathBuf {
    real_rpms().join("rpm-rs/keys/rpm-testkey-v4-rsa4096.asc")
}

fn rsa_key() -> (String, String) {
    let text = std::fs::read_to_string(rsa_key_file()).unwrap();
    let certs = hotpush::core::rpm::certificates(&text).unwrap();
    assert_eq!(certs.len(), 1);
    (certs[0].fingerprint.clone(), text)
}

/// Opens a push and uploads `rpm`; returns the upload's answer.
async fn upload(
    t: &TestApp,
    token: &str,
    advisory: &str,
    rpm: &(String, Vec<u8>),
) -> crate::common::test_app::TestResponse {
    let created = t
        .post_json(
            "/api/v1/pushes",
            Some(token),
            &serde_json::json!({"advisory": advisory, "severity": "critical",
                "cves": ["CVE-2026-0001"], "summary": "Fix"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let id = created.json()["id"].as_i64().unwrap();
    t.request(
        Method::PUT,
        &format!("/api/v1/pushes/{id}/packages/{}", rpm.0),
        Some(token),
        rpm.1.clone(),
    )
    .await
}

fn assert_refused_naming(resp: &crate::common::test_app::TestResponse, fingerprint: &str) {
    assert_eq!(
        resp.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        resp.text()
    );
    let body = resp.json();
    let message = body["error"]["message"].as_str().unwrap();
    let key_id = &fingerprint[fingerprint.len() - 16..];
    assert!(message.contains("not trusted"), "{message}");
    assert!(
        message.contains(key_id),
        "the key id `{key_id}` is named: {message}"
    );
    let hint = body["error"]["hint"].as_str().unwrap();
    assert!(hint.contains("hotpush keys add FILE"), "{hint}");
}

#[tokio::test]
async fn a_key_added_live_is_trusted_at_once_and_a_removed_one_no_longer() {
    let t = TestApp::init().start().await;
    let pusher = t.push_token();
    let admin = t.token("root", "admin");
    let (fingerprint, armored) = rsa_key();
    let rpm = rsa_rpm();

    // Untrusted: refused, naming the key and how to trust it.
    let refused = upload(&t, &pusher, "KEYS-2026-0001", &rpm).await;
    assert_refused_naming(&refused, &fingerprint);

    // A push-group member is not an admin: refused, audited, nothing changes.
    let not_admin = t
        .post_json(
            "/api/v1/keys",
            Some(&pusher),
            &serde_json::json!({"armored": armored}),
        )
        .await;
    assert_eq!(
        not_admin.status,
        StatusCode::FORBIDDEN,
        "{}",
        not_admin.text()
    );
    let no_token = t
        .post_json(
            "/api/v1/keys",
            None,
            &serde_json::json!({"armored": armored}),
        )
        .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    let entries = t.app().store.audit_entries(100).unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.action == "add-trusted-key" && !e.allowed && e.actor == "alice"),
        "{entries:?}"
    );
    let listed = t.get("/api/v1/keys").await.json();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1, "{listed}");

    // The admin adds it: trusted from the next upload on, no restart.
    let added = t
        .post_json(
            "/api/v1/keys",
            Some(&admin),
            &serde_json::json!({"armored": armored}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    assert_eq!(added.json()["changed"], serde_json::json!([fingerprint]));
    let listed = t.get("/api/v1/keys").await.json();
    let keys = listed["keys"].as_array().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["fingerprint"] == fingerprint.as_str() && k["source"] == "added"),
        "{listed}"
    );
    assert!(keys.iter().any(|k| k["source"] == "config"), "{listed}");
    let served = t.get("/keys/packages.asc").await.text();
    assert_eq!(
        served.matches("BEGIN PGP PUBLIC KEY BLOCK").count(),
        2,
        "{served}"
    );
    let stored = hotpush::origin::keys::added_file(&t.app().config.data_dir, &fingerprint);
    assert!(stored.is_file(), "{}", stored.display());
    let entries = t.app().store.audit_entries(100).unwrap();
    assert!(
        entries.iter().any(|e| e.action == "trusted-key-added"
            && e.allowed
            && e.actor == "root"
            && e.target == fingerprint),
        "{entries:?}"
    );

    let id = t
        .push(&pusher, "KEYS-2026-0002", std::slice::from_ref(&rpm))
        .await;
    t.run_pending_jobs().await;
    let push = t
        .get_with(&format!("/api/v1/pushes/{id}"), &pusher)
        .await
        .json();
    assert_eq!(push["state"], "published", "{push}");
    assert_eq!(
        push["packages"][0]["signed_by"],
        fingerprint.as_str(),
        "{push}"
    );

    // What a restart loads: the added key is still there.
    let reloaded = hotpush::origin::keys::load(&t.app().config).unwrap();
    assert!(reloaded.keys.iter().any(|k| k.fingerprint == fingerprint));

    // Removed (by its key id): the next upload signed by it is refused, naming it.
    let key_id = &fingerprint[fingerprint.len() - 16..];
    let not_admin = t
        .request(
            Method::DELETE,
            &format!("/api/v1/keys/{key_id}"),
            Some(&pusher),
            "",
        )
        .await;
    assert_eq!(not_admin.status, StatusCode::FORBIDDEN);
    let removed = t
        .request(
            Method::DELETE,
            &format!("/api/v1/keys/{}", key_id.to_lowercase()),
            Some(&admin),
            "",
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text());
    assert_eq!(removed.json()["changed"], serde_json::json!([fingerprint]));
    assert!(!stored.exists());
    let refused = upload(&t, &pusher, "KEYS-2026-0003", &rpm).await;
    assert_refused_naming(&refused, &fingerprint);
    let reloaded = hotpush::origin::keys::load(&t.app().config).unwrap();
    assert!(!reloaded.keys.iter().any(|k| k.fingerprint == fingerprint));
}

#[tokio::test]
async fn key_changes_that_cannot_be_made_are_refused_with_the_reason() {
    let t = TestApp::init().start().await;
    let admin = t.token("root", "admin");
    let config_fpr = {
        let text = std::fs::read_to_string(trusted_key()).unwrap();
        hotpush::core::rpm::certificates(&text).unwrap()[0]
            .fingerprint
            .clone()
    };
    // A configured key is removed in hotpush.toml, not through the API.
    let r = t
        .request(
            Method::DELETE,
            &format!("/api/v1/keys/{config_fpr}"),
            Some(&admin),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.json()["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("intake.trusted_keys"));
    // Unknown, and not a fingerprint at all.
    let r = t
        .request(
            Method::DELETE,
            "/api/v1/keys/0123456789ABCDEF0123",
            Some(&admin),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    for bad in ["ABCD", "not-a-fingerprint-at-all"] {
        let r = t
            .request(
                Method::DELETE,
                &format!("/api/v1/keys/{bad}"),
                Some(&admin),
                "",
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text()
        );
    }
    // Texts that are no usable public key: refused, nothing stored.
    let secret_like =
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxxxx\n-----END PGP PRIVATE KEY BLOCK-----\n";
    for text in ["", "hello", secret_like] {
        let r = t
            .post_json(
                "/api/v1/keys",
                Some(&admin),
                &serde_json::json!({"armored": text}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{text:?}: {}",
            r.text()
        );
        assert_eq!(r.error_code(), "bad_key");
    }
    let secret = t
        .post_json(
            "/api/v1/keys",
            Some(&admin),
            &serde_json::json!({"armored": secret_like}),
        )
        .await;
    assert!(secret.json()["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("secret key"));
    assert!(hotpush::origin::keys::added_files(&t.app().config.data_dir)
        .unwrap()
        .is_empty());
    let entries = t.app().store.audit_entries(100).unwrap();
    assert!(entries
        .iter()
        .any(|e| e.action == "add-trusted-key" && !e.allowed && e.actor == "root"));
}

/// The CLI against a real `hotpush serve`: `keys add`, a push signed by the
/// new key, a restart that keeps it, `keys remove`, and `doctor` reading the
/// same list.
#[test]
fn keys_cli_changes_the_running_origin_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut origin = Origin::start(dir.path(), Some(&trusted_key()), "");
    let admin = origin.token("root", "admin");
    let pusher = origin.token("alice", "security");
    let (fingerprint, _) = rsa_key();
    let rpm_path = real_rpms().join("rpm-rs/v4/signed").join(rsa_rpm().0);

    let out = origin.push(&pusher, "KEYS-2026-0010", &[&rpm_path], &["--no-wait"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&fingerprint[fingerprint.len() - 16..]),
        "{stderr}"
    );
    assert!(stderr.contains("hotpush keys add"), "{stderr}");
    // The client cancelled the push the refused upload left open.
    assert!(stderr.contains("was cancelled"), "{stderr}");
    let push_id = stderr
        .split("push ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let again = hotpush()
        .args(["cancel", "--server", &origin.url, "--token-file"])
        .arg(&pusher)
        .arg(&push_id)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let again_err = String::from_utf8_lossy(&again.stderr);
    assert!(again_err.contains("`cancelled`"), "{again_err}");

    let url = origin.url.clone();
    let keys = |args: &[&str], token: Option<&std::path::Path>| {
        let mut cmd = hotpush();
        cmd.arg("keys").arg(args[0]).args(["--server", &url]);
        if let Some(token) = token {
            cmd.arg("--token-file").arg(token);
        }
        cmd.args(&args[1..]).output().unwrap()
    };
    let key_file = rsa_key_file();
    let refused = keys(&["add", key_file.to_str().unwrap()], Some(&pusher));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("admin"));
    let added = keys(&["add", key_file.to_str().unwrap()], Some(&admin));
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    let out = origin.push(&pusher, "KEYS-2026-0011", &[&rpm_path], &["--no-wait"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    origin.restart();
    let listed = keys(&["list", "--json"], None);
    assert!(listed.status.success());
    let view: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(
        view["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["fingerprint"] == fingerprint.as_str()),
        "{view}"
    );
    // doctor reads the same keys as the origin (its data directory).
    let doctor = hotpush()
        .args(["doctor", "--config"])
        .arg(&origin.config)
        .output()
        .unwrap();
    let doctor_out = format!(
        "{}{}",
        String::from_utf8_lossy(&doctor.stdout),
        String::from_utf8_lossy(&doctor.stderr)
    );
    assert!(
        doctor_out.contains(&format!("{fingerprint}.asc")),
        "{doctor_out}"
    );

    let removed = keys(&["remove", &fingerprint], Some(&admin));
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    let listed = keys(&["list"], None);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&fingerprint));
}
