//! `hotpush push --manifest FILE` and `--manifest-dir DIR`: every manifest is
//! checked (TOML fields, the API's advisory rules (`core::advisory`), package files that are
//! RPMs, releases served) before anything is uploaded; one bad manifest among
//! good ones uploads nothing and the error names the file and the field.
use std::path::Path;

use axum::http::StatusCode;
use hotpush::core::api::NewPush;

use crate::common::fixtures::{http_get_with_token, Origin};
use crate::common::support::{hotpush, real_rpms};
use crate::common::test_app::{trusted_key, TestApp};

/// The client's rules (`core::advisory`) and the API's answer agree, field by field.
#[tokio::test]
async fn the_manifest_rules_are_the_apis_rules() {
    let t = TestApp::init().start().await;
    let token = t.push_token();
    let good = || NewPush {
        advisory: "RULES-2026-0001".into(),
        severity: "critical".into(),
        cves: vec!["CVE-2026-0001".into()],
        summary: "Fix".into(),
        description: String::new(),
        releases: Vec::new(),
    };
    let edits: Vec<(&str, Box<dyn Fn(&mut NewPush)>)> = vec![
        ("none", Box::new(|_| {})),
        (
            "severity any case",
            Box::new(|r| r.severity = "IMPORTANT".into()),
        ),
        ("empty id", Box::new(|r| r.advisory = String::new())),
        ("id with a space", Box::new(|r| r.advisory = "A B".into())),
        ("id with a slash", Box::new(|r| r.advisory = "A/B".into())),
        ("long id", Box::new(|r| r.advisory = "A".repeat(65))),
        ("64-char id", Box::new(|r| r.advisory = "B".repeat(64))),
        (
            "unknown severity",
            Box::new(|r| r.severity = "urgent".into()),
        ),
        ("blank summary", Box::new(|r| r.summary = "  ".into())),
        (
            "control character",
            Box::new(|r| r.summary = "fix\u{1b}[31m".into()),
        ),
        ("bad cve", Box::new(|r| r.cves = vec!["CAN-2026-1".into()])),
        (
            "cve with space",
            Box::new(|r| r.cves = vec!["CVE-2026 1".into()]),
        ),
    ];
    for (what, edit) in edits {
        let mut req = good();
        edit(&mut req);
        let client = hotpush::core::advisory::check_advisory(&(&req).into());
        let resp = t
            .post_json(
                "/api/v1/pushes",
                Some(&token),
                &serde_json::to_value(&req).unwrap(),
            )
            .await;
        match client {
            Ok(_) => assert_eq!(resp.status, StatusCode::CREATED, "{what}: {}", resp.text()),
            Err(e) => {
                assert_eq!(
                    resp.status,
                    StatusCode::BAD_REQUEST,
                    "{what}: {}",
                    resp.text()
                );
                let code = resp.error_code();
                let want = match e.field.as_str() {
                    "id" => "bad_advisory".to_owned(),
                    "cves" => "bad_cve".to_owned(),
                    f => format!("bad_{f}"),
                };
                assert_eq!(code, want, "{what}");
            }
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn manifest(advisory: &str, extra: &str, package: &str) -> String {
    format!(
        "advisory = \"{advisory}\"\nseverity = \"critical\"\ncves = [\"CVE-2026-0001\"]\nsummary = \"Fix for {advisory}\"\n{extra}packages = [\"{package}\"]\n"
    )
}

fn push_dir(origin: &Origin, token: &Path, args: &[&str]) -> (bool, String) {
    let out = hotpush()
        .args(["push", "--server", &origin.url, "--token-file"])
        .arg(token)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn pushes(origin: &Origin, token: &Path) -> Vec<serde_json::Value> {
    let (code, body) =
        http_get_with_token(&format!("{}/api/v1/pushes", origin.url), token).unwrap();
    assert_eq!(code, 200);
    serde_json::from_slice::<serde_json::Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn one_bad_manifest_among_good_ones_uploads_nothing_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start(dir.path(), Some(&trusted_key()), "");
    let token = origin.token("alice", "security");
    let rpm_name = "rpm-basic-with-ed25519-2.3.4-5.el9.noarch.rpm";
    let rpm = real_rpms().join("rpm-rs/v4/signed").join(rpm_name);

    // (what, the bad manifest's text, the field its error must name)
    let bad: Vec<(&str, String, &str)> = vec![
        (
            "bad severity",
            manifest("MAN-9", "", rpm_name).replace("\"critical\"", "\"urgent\""),
            "severity",
        ),
        ("bad id", manifest("MAN 9", "", rpm_name), "advisory"),
        (
            "blank summary",
            manifest("MAN-9", "", rpm_name)
                .replace("summary = \"Fix for MAN-9\"", "summary = \" \""),
            "summary",
        ),
        (
            "bad cve",
            manifest("MAN-9", "", rpm_name).replace("CVE-2026-0001", "2026-0001"),
            "cves",
        ),
        (
            "unknown field",
            manifest("MAN-9", "sevrity = \"low\"\n", rpm_name),
            "sevrity",
        ),
        (
            "missing summary",
            manifest("MAN-9", "", rpm_name).replace("summary = \"Fix for MAN-9\"\n", ""),
            "summary",
        ),
        (
            "wrong type",
            manifest("MAN-9", "", rpm_name)
                .replace("cves = [\"CVE-2026-0001\"]", "cves = \"CVE-2026-0001\""),
            "cves",
        ),
        ("not TOML", "advisory = \"MAN-9\n".to_owned(), "line 1"),
        (
            "no package",
            manifest("MAN-9", "", rpm_name).replace(&format!("[\"{rpm_name}\"]"), "[]"),
            "packages",
        ),
        (
            "missing file",
            manifest("MAN-9", "", "nope.rpm"),
            "packages",
        ),
        ("not an RPM", manifest("MAN-9", "", "fake.rpm"), "packages"),
        (
            "release not served",
            manifest("MAN-9", "releases = [\"41\"]\n", rpm_name),
            "releases",
        ),
        (
            "same advisory twice",
            manifest("MAN-1", "", rpm_name),
            "advisory",
        ),
    ];
    for (what, text, field) in &bad {
        let mdir = dir.path().join(format!("m-{}", what.replace(' ', "-")));
        std::fs::create_dir_all(&mdir).unwrap();
        std::fs::copy(&rpm, mdir.join(rpm_name)).unwrap();
        write(&mdir.join("fake.rpm"), "<html>not found</html>\n");
        write(&mdir.join("a.toml"), &manifest("MAN-1", "", rpm_name));
        write(&mdir.join("z-bad.toml"), text);
        let (ok, out) = push_dir(&origin, &token, &["--manifest-dir", mdir.to_str().unwrap()]);
        assert!(!ok, "{what}: {out}");
        assert!(
            out.contains("z-bad.toml"),
            "{what}: the file is named: {out}"
        );
        assert!(out.contains(field), "{what}: `{field}` is named: {out}");
        assert!(out.contains("nothing was uploaded"), "{what}: {out}");
        assert!(
            pushes(&origin, &token).is_empty(),
            "{what}: nothing was opened"
        );
    }

    // All good: each manifest its own advisory, all published.
    let mdir = dir.path().join("good");
    std::fs::create_dir_all(mdir.join("rpms")).unwrap();
    std::fs::copy(&rpm, mdir.join("rpms").join(rpm_name)).unwrap();
    write(
        &mdir.join("a.toml"),
        &manifest("MAN-1", "", &format!("rpms/{rpm_name}")),
    );
    write(
        &mdir.join("b.toml"),
        &manifest(
            "MAN-2",
            "releases = [\"43\"]\ndescription = \"two\"\n",
            &format!("rpms/{rpm_name}"),
        ),
    );
    write(&mdir.join("notes.txt"), "not a manifest");
    let (ok, out) = push_dir(&origin, &token, &["--manifest-dir", mdir.to_str().unwrap()]);
    assert!(ok, "{out}");
    let list = pushes(&origin, &token);
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|p| p["state"] == "published"), "{list:?}");
    let status = origin.status_json();
    let live: Vec<&str> = status["advisories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "live")
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert!(
        live.contains(&"MAN-1") && live.contains(&"MAN-2"),
        "{status}"
    );

    // One file with --manifest; flags for the advisory cannot be mixed in.
    write(
        &mdir.join("c.toml"),
        &manifest("MAN-3", "", &format!("rpms/{rpm_name}")),
    );
    let c = mdir.join("c.toml");
    let (ok, out) = push_dir(
        &origin,
        &token,
        &["--manifest", c.to_str().unwrap(), "--advisory", "X-1"],
    );
    assert!(!ok, "{out}");
    let (ok, out) = push_dir(
        &origin,
        &token,
        &["--no-wait", "--manifest", c.to_str().unwrap()],
    );
    assert!(ok, "{out}");
    assert_eq!(pushes(&origin, &token).len(), 3);
}
