//! Hostile input at the origin's intake, as classes, in process ([`TestApp`]):
//! malformed RPM headers of every shape in both headers are refused with 422
//! before anything is allocated from them, the origin keeps working, its memory
//! stays bounded and `incoming/` keeps nothing; signed packages whose Name,
//! Version, Release, Epoch or Arch cannot make a safe file name are refused;
//! control characters in an advisory's text are refused naming the field, in the
//! API and in `createrepo --updateinfo`; the same name in new bytes is refused
//! naming the advisory that holds it.
use std::path::Path;

use axum::body::Body;
use axum::http::{Method, StatusCode};

use crate::common::craft::{
    Entry, Rpm, TAG_ARCH, TAG_EPOCH, TAG_NAME, TAG_RELEASE, TAG_VERSION, TYPE_INT32, TYPE_INT64,
};
use crate::common::fixtures::{build_rpm_sized, Gpg};
use crate::common::support::hotpush;
use crate::common::test_app::{signed_rpm, TestApp, TestResponse};

/// Peak resident memory of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

fn incoming_files(t: &TestApp) -> Vec<String> {
    std::fs::read_dir(&t.app().tree.incoming)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

async fn open_push(t: &TestApp, token: &str, advisory: &str) -> i64 {
    let r = t
        .post_json(
            "/api/v1/pushes",
            Some(token),
            &serde_json::json!({
                "advisory": advisory,
                "severity": "critical",
                "summary": "Hostile input test",
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

async fn upload(t: &TestApp, token: &str, push: i64, name: &str, bytes: Vec<u8>) -> TestResponse {
    t.request(
        Method::PUT,
        &format!("/api/v1/pushes/{push}/packages/{name}"),
        Some(token),
        bytes,
    )
    .await
}

/// Every shape of a broken index entry, applied to one entry of a header.
fn entry_shapes(entry: Entry, other_tag: u32, store_len: u32) -> Vec<(String, Entry)> {
    let mut shapes = Vec::new();
    for kind in 1..=9u32 {
        for count in [u32::MAX, 0x1000_0000, store_len + 1] {
            shapes.push((
                format!("type {kind} count {count:#x}"),
                Entry {
                    kind,
                    count,
                    offset: 0,
                    ..entry
                },
            ));
        }
    }
    for offset in [
        store_len,
        store_len + 4096,
        0x7fff_fff8,
        0x8000_0000,
        u32::MAX - 7,
    ] {
        shapes.push((format!("offset {offset:#x}"), Entry { offset, ..entry }));
    }
    for kind in [0, 10, 0xffff, u32::MAX] {
        shapes.push((format!("unknown type {kind}"), Entry { kind, ..entry }));
    }
    shapes.push(("count 0".into(), Entry { count: 0, ..entry }));
    shapes.push((
        "duplicated tag".into(),
        Entry {
            tag: other_tag,
            ..entry
        },
    ));
    shapes
}

#[tokio::test]
async fn malformed_headers_of_every_shape_are_refused_and_the_origin_stays_up() {
    let t = TestApp::init().start().await;
    let token = t.push_token();
    let push = open_push(&t, &token, "HOSTILE-2026-0001").await;
    let (name, good) = signed_rpm();
    let rpm = Rpm::parse(&good);
    let before_kib = peak_rss_kib();

    let mut cases: Vec<(String, &str, Vec<u8>)> = Vec::new();
    for (which, header) in [
        ("signature header", &rpm.signature),
        ("main header", &rpm.main),
    ] {
        let store_len = header.store.len() as u32;
        // The first entry after the region tag, and the last one.
        for index in [1, header.entries.len() - 1] {
            let other_tag = header.entries[if index == 1 { 2 } else { 1 }].tag;
            for (shape, entry) in entry_shapes(header.entries[index], other_tag, store_len) {
                let mut bad = rpm.clone();
                let target = if which == "main header" {
                    &mut bad.main
                } else {
                    &mut bad.signature
                };
                target.entries[index] = entry;
                cases.push((
                    format!("{which} entry #{index}: {shape}"),
                    which,
                    bad.to_bytes(),
                ));
            }
        }
        // Preambles that claim too much or nothing.
        for (shape, field, value) in [
            ("entries 0xffffffff", 8, u32::MAX),
            ("entries 0", 8, 0),
            ("entries 70000", 8, 70_000),
            ("data 0xffffffff", 12, u32::MAX),
            ("data 300 MiB", 12, 300 << 20),
        ] {
            let mut bytes = rpm.to_bytes();
            let at = if which == "main header" {
                let sig = rpm.signature.to_bytes().len();
                96 + sig + (8 - sig % 8) % 8
            } else {
                96
            };
            bytes[at + field..at + field + 4].copy_from_slice(&value.to_be_bytes());
            cases.push((format!("{which} preamble: {shape}"), which, bytes));
        }
    }
    // The crafted file of the report: 6 KB, one INT64 entry with count 0xFFFFFFFF.
    let mut bomb = rpm.clone();
    let i = bomb.main.position(TAG_NAME);
    bomb.main.entries[i] = Entry {
        kind: TYPE_INT64,
        count: u32::MAX,
        ..bomb.main.entries[i]
    };
    bomb.payload.truncate(100);
    cases.push((
        "the reported INT64 bomb".into(),
        "main header",
        bomb.to_bytes(),
    ));
    // Cut short anywhere in the headers.
    let whole = rpm.to_bytes();
    for cut in [10, 96, 100, 200, 1000, whole.len() - rpm.payload.len() - 3] {
        cases.push((format!("truncated at {cut}"), "", whole[..cut].to_vec()));
    }

    assert!(cases.len() > 150, "{} cases", cases.len());
    for (what, which, bytes) in cases {
        let r = upload(&t, &token, push, &name, bytes).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            r.text()
        );
        assert_eq!(r.error_code(), "bad_package", "{what}");
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(which), "{what}: {message}");
        assert!(
            message.contains("malformed RPM header")
                || message.contains("truncated")
                || message.contains("not an RPM"),
            "{what}: {message}"
        );
        if message.contains("malformed") && !message.contains("preamble") {
            assert!(
                message.contains("tag ") || message.contains("claims"),
                "{what}: the message names no tag: {message}"
            );
        }
    }
    // Nothing left behind, memory bounded (the bomb alone asked for 32 GiB), and
    // the origin still takes a good package.
    assert_eq!(incoming_files(&t), Vec::<String>::new());
    let grown_mib = peak_rss_kib().saturating_sub(before_kib) / 1024;
    assert!(grown_mib < 512, "peak memory grew by {grown_mib} MiB");
    let ok = upload(&t, &token, push, &name, good).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());
    assert_eq!(incoming_files(&t), Vec::<String>::new());
}

/// `base` with its main header edited by `edit` and signed again with the test key.
fn crafted(base: &Rpm, dir: &Path, gpg: &Gpg, edit: impl FnOnce(&mut Rpm)) -> Vec<u8> {
    let mut rpm = base.clone();
    edit(&mut rpm);
    rpm.sign(gpg, dir);
    rpm.to_bytes()
}

#[tokio::test]
async fn signed_packages_with_unsafe_identities_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let gpg = Gpg::new(dir.path(), "hostile@example.com");
    let key = gpg.public_key.clone();
    let t = TestApp::init()
        .with_config(move |c| c.intake.trusted_keys = vec![key])
        .start()
        .await;
    let token = t.push_token();
    let push = open_push(&t, &token, "HOSTILE-2026-0002").await;
    let built = build_rpm_sized(dir.path(), "victim", "1.0", "1", "noarch", 0);
    let base = Rpm::parse(&std::fs::read(built).unwrap());

    // The crafting itself yields packages the origin takes: a renamed one passes.
    let renamed = crafted(&base, dir.path(), &gpg, |r| {
        r.main.set_string(TAG_NAME, b"renamed")
    });
    let ok = upload(&t, &token, push, "renamed.rpm", renamed).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());
    assert_eq!(ok.json()["nevra"], "renamed-1.0-1.noarch");

    let long_name = "a".repeat(4000);
    let cases: Vec<(&str, Box<dyn FnOnce(&mut Rpm)>, &str)> = vec![
        (
            "traversal in Name",
            Box::new(|r| r.main.set_string(TAG_NAME, b"../../../../tmp/hotpush-evil")),
            "name",
        ),
        (
            "traversal in Release",
            Box::new(|r| r.main.set_string(TAG_RELEASE, b"1/../../../../evil")),
            "release",
        ),
        (
            "newline in Name",
            Box::new(|r| r.main.set_string(TAG_NAME, b"victim\nInjected: yes")),
            "name",
        ),
        (
            "newline in Release",
            Box::new(|r| r.main.set_string(TAG_RELEASE, b"1\n")),
            "release",
        ),
        (
            "ESC in Name",
            Box::new(|r| r.main.set_string(TAG_NAME, b"victim\x1b[31m")),
            "name",
        ),
        (
            "space in Name",
            Box::new(|r| r.main.set_string(TAG_NAME, b"victim two")),
            "name",
        ),
        (
            "4000-byte Name",
            Box::new(move |r| r.main.set_string(TAG_NAME, long_name.as_bytes())),
            "name",
        ),
        (
            "dash in Version",
            Box::new(|r| r.main.set_string(TAG_VERSION, b"1.0-2")),
            "version",
        ),
        (
            "slash in Arch",
            Box::new(|r| r.main.set_string(TAG_ARCH, b"noarch/../x")),
            "arch",
        ),
        (
            "INT64 epoch",
            Box::new(|r| r.main.set_number(TAG_EPOCH, TYPE_INT64, 3)),
            "EPOCH",
        ),
        (
            "duplicated ARCH tag",
            Box::new(|r| r.main.duplicate_string(TAG_ARCH, b"x86_64")),
            "appears twice",
        ),
        (
            "duplicated NAME tag",
            Box::new(|r| r.main.duplicate_string(TAG_NAME, b"other")),
            "appears twice",
        ),
    ];
    for (what, edit, field) in cases {
        let bytes = crafted(&base, dir.path(), &gpg, edit);
        let r = upload(&t, &token, push, "victim-1.0-1.noarch.rpm", bytes).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            r.text()
        );
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(field), "{what}: {message}");
    }
    // An INT32 epoch is read as librpm reads it.
    let epoch = crafted(&base, dir.path(), &gpg, |r| {
        r.main.set_number(TAG_EPOCH, TYPE_INT32, 7)
    });
    let ok = upload(&t, &token, push, "victim.rpm", epoch).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());
    assert_eq!(ok.json()["nevra"], "victim-7:1.0-1.noarch");

    // Nothing was written outside the data directory, nothing left in incoming/.
    assert!(!Path::new("/tmp/hotpush-evil-1.0-1.noarch.rpm").exists());
    assert_eq!(incoming_files(&t), Vec::<String>::new());
    let data_dir = &t.app().config.data_dir;
    for entry in std::fs::read_dir(data_dir.parent().unwrap()).unwrap() {
        let name = entry.unwrap().file_name();
        assert_eq!(name, "data", "unexpected file beside the data directory");
    }
}

#[tokio::test]
async fn control_characters_in_advisory_text_are_refused_naming_the_field() {
    let t = TestApp::init().start().await;
    let token = t.push_token();
    let base = serde_json::json!({
        "advisory": "HOSTILE-2026-0003",
        "severity": "critical",
        "summary": "A fine summary",
        "description": "Line one.\nLine two.\tTabbed.",
        "cves": ["CVE-2026-12345"],
    });
    let ok = t.post_json("/api/v1/pushes", Some(&token), &base).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());

    let mut refused = 0;
    for c in (0u32..0x20).chain(0x7f..0xa0).chain([0xfffe, 0xffff]) {
        let c = char::from_u32(c).unwrap();
        let cases = [
            ("summary", "summary", format!("Fix {c} now"), "bad_summary"),
            (
                "description",
                "description",
                format!("Fix {c} now"),
                "bad_description",
            ),
            ("cves", "cves", format!("CVE-2026-1234{c}"), "bad_cve"),
            ("advisory", "id", format!("HOSTILE-{c}"), "bad_advisory"),
        ];
        for (key, field, value, code) in cases {
            if key == "description" && matches!(c, '\t' | '\n' | '\r') {
                continue;
            }
            let mut body = base.clone();
            body[key] = if key == "cves" {
                serde_json::json!([value])
            } else {
                serde_json::json!(value)
            };
            body["advisory"] = if key == "advisory" {
                body["advisory"].clone()
            } else {
                serde_json::json!(format!("HOSTILE-2026-{:04}", c as u32))
            };
            let r = t.post_json("/api/v1/pushes", Some(&token), &body).await;
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{key} {c:?}: {}",
                r.text()
            );
            assert_eq!(r.error_code(), code, "{key} {c:?}");
            let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(message.contains(&format!("`{field}`")), "{message}");
            assert!(
                !message.contains(c),
                "{key} {c:?}: the message carries it raw"
            );
            refused += 1;
        }
    }
    assert!(refused > 200);
    // Only the first push exists; no refused advisory was stored.
    let ids: Vec<String> = t
        .app()
        .store
        .advisories()
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, ["HOSTILE-2026-0003"]);
}

#[test]
fn createrepo_refuses_control_characters_in_updateinfo() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let (name, bytes) = signed_rpm();
    std::fs::write(repo.join(&name), bytes).unwrap();
    for (field, value) in [
        ("summary", "x\u{1b}[31mred"),
        ("description", "nul \u{0} here"),
        ("title", "bell \u{7}"),
    ] {
        let info = dir.path().join("updateinfo.toml");
        let mut table = toml::Table::new();
        table.insert("id".into(), "HOSTILE-2026-0004".into());
        table.insert("severity".into(), "Critical".into());
        table.insert("title".into(), "A title".into());
        table.insert("issued".into(), 1_763_726_400.into());
        table.insert(
            "packages".into(),
            toml::Value::Array(vec!["rpm-basic-with-ed25519-2.3.4-5.el9.noarch".into()]),
        );
        table.insert(field.into(), value.into());
        let mut doc = toml::Table::new();
        doc.insert("advisory".into(), toml::Value::Array(vec![table.into()]));
        std::fs::write(&info, toml::to_string(&doc).unwrap()).unwrap();
        let out = hotpush()
            .arg("createrepo")
            .arg("--updateinfo")
            .arg(&info)
            .arg(&repo)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{field}: {stderr}");
        assert!(stderr.contains(&format!("field `{field}`")), "{stderr}");
        assert!(stderr.contains("U+00"), "{stderr}");
        assert!(!repo.join("repodata").exists());
    }
}

#[tokio::test]
async fn the_same_name_in_new_bytes_is_refused_naming_the_advisory() {
    let dir = tempfile::tempdir().unwrap();
    let gpg = Gpg::new(dir.path(), "identity@example.com");
    let key = gpg.public_key.clone();
    let t = TestApp::init()
        .with_config(move |c| c.intake.trusted_keys = vec![key])
        .start()
        .await;
    let token = t.push_token();
    // Two builds of one NEVRA: different payloads, so different bytes.
    let build = |sub: &str| {
        let out = dir.path().join(sub);
        std::fs::create_dir_all(&out).unwrap();
        let path = build_rpm_sized(&out, "twice", "1.0", "1", "noarch", 1024);
        gpg.sign(&path);
        std::fs::read(path).unwrap()
    };
    let first = build("first");
    let second = build("second");
    assert_ne!(first, second);
    let file = "twice-1.0-1.noarch.rpm";

    // Staged: held by an open push of advisory A.
    let a = open_push(&t, &token, "HOSTILE-2026-000A").await;
    let up = upload(&t, &token, a, file, first.clone()).await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.text());
    let b = open_push(&t, &token, "HOSTILE-2026-000B").await;
    let r = upload(&t, &token, b, file, second.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.error_code(), "package_conflict");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("HOSTILE-2026-000A") && message.contains("is staged"),
        "{message}"
    );
    let hint = r.json()["error"]["hint"].as_str().unwrap().to_owned();
    assert!(
        hint.contains("retire") && hint.contains("Release"),
        "{hint}"
    );
    // The same bytes are fine in another advisory.
    let same = upload(&t, &token, b, file, first.clone()).await;
    assert_eq!(same.status, StatusCode::CREATED, "{}", same.text());

    // Live: A submitted and published; new bytes are still refused.
    let submitted = t
        .request(
            Method::POST,
            &format!("/api/v1/pushes/{a}/submit"),
            Some(&token),
            Body::empty(),
        )
        .await;
    assert_eq!(
        submitted.status,
        StatusCode::ACCEPTED,
        "{}",
        submitted.text()
    );
    t.run_pending_jobs().await;
    let c = open_push(&t, &token, "HOSTILE-2026-000C").await;
    let r = upload(&t, &token, c, file, second.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("HOSTILE-2026-000A") && message.contains("is live"),
        "{message}"
    );
    assert_eq!(incoming_files(&t), Vec::<String>::new());

    // Once A is retired (and B no longer holds the old bytes), the rebuild goes in.
    for id in ["HOSTILE-2026-000A", "HOSTILE-2026-000B"] {
        let r = t
            .request(
                Method::POST,
                &format!("/api/v1/advisories/{id}/retire"),
                Some(&token),
                Body::empty(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    }
    t.run_pending_jobs().await;
    let r = upload(&t, &token, c, file, second).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

#[test]
fn uploads_left_in_incoming_are_swept_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let tree = hotpush::origin::publish::Tree::new(dir.path());
    tree.create_dirs().unwrap();
    std::fs::write(tree.incoming.join("1-123-456.part"), b"half an upload").unwrap();
    std::fs::create_dir_all(tree.incoming.join("odd-dir")).unwrap();
    // What `open_app` (every start of `hotpush serve`) runs.
    tree.create_dirs().unwrap();
    assert_eq!(std::fs::read_dir(&tree.incoming).unwrap().count(), 0);
}
