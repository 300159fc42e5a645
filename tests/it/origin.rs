//! The origin service end to end: real `hotpush serve` on `[::1]`, packages built
//! with rpmbuild and signed with rpmsign, the real dnf 4 reading the `.repo` file
//! that `hotpush repofile` prints.
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::fixtures::{build_rpm, http_get, Dnf, Gpg, Origin};
use crate::support::hotpush;

fn repofile(origin: &Origin) -> String {
    let out = crate::support::run_ok(hotpush().args(["repofile", "--server", &origin.url]));
    String::from_utf8(out.stdout).unwrap()
}

fn assert_ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The repository's served repomd.xml and how many packages primary lists.
fn revision_of(origin: &Origin, arch: &str) -> u64 {
    let st = origin.status_json();
    st["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == format!("critical/43/{arch}"))
        .and_then(|r| r["revision"].as_u64())
        .unwrap_or(0)
}

fn wait_published(origin: &Origin) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while origin.status_json()["queue_depth"].as_i64() != Some(0) {
        assert!(Instant::now() < deadline, "publisher did not go idle");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn security_push_reaches_dnf_and_retire_empties_the_repo() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let old = build_rpm(dir, "hello", "1.0", "1", "noarch");
    let fix = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&fix);
    let origin = Origin::start(dir, Some(&gpg.public_key), "");
    let token = origin.token("alice", "security");
    wait_published(&origin);

    // The .repo file the distribution would ship.
    let repo = repofile(&origin);
    assert!(
        repo.contains("repo_gpgcheck=1") && repo.contains("gpgcheck=1"),
        "{repo}"
    );
    assert!(repo.contains("skip_if_unavailable=True"), "{repo}");
    assert!(
        repo.contains("metalink=") && repo.contains("baseurl="),
        "{repo}"
    );

    // An empty critical repo refreshes fine, signature and all.
    let dnf = Dnf::new(dir, &repo);
    dnf.ok(&["makecache"]);
    dnf.rpm_install(&old);
    assert_eq!(
        dnf.installed("hello").as_deref(),
        Some("hello-1.0-1.noarch")
    );
    let (code, text) = dnf.run(&["check-update", "--refresh"]);
    assert_eq!(code, 0, "nothing to update from an empty repo:\n{text}");

    // The push: hotpush push exits 0 only once the fix is published.
    let out = origin.push(&token, "CRIT-2026-0001", &[&fix], &[]);
    assert_ok(&out, "hotpush push");
    assert!(stderr(&out).contains("published"), "{}", stderr(&out));

    let text = dnf.ok(&["--refresh", "updateinfo", "list", "--security"]);
    assert!(
        text.contains("CRIT-2026-0001") && text.contains("hello-1.0-2.noarch"),
        "updateinfo does not show the advisory:\n{text}"
    );
    dnf.ok(&["upgrade", "--security"]);
    assert_eq!(
        dnf.installed("hello").as_deref(),
        Some("hello-1.0-2.noarch")
    );

    // Retire: the repo is empty again, for dnf too.
    let out = hotpush()
        .args(["retire", "--server", &origin.url, "--token-file"])
        .arg(&token)
        .arg("CRIT-2026-0001")
        .output()
        .unwrap();
    assert_ok(&out, "hotpush retire");
    let text = dnf.ok(&["--refresh", "list", "--available", "--showduplicates"]);
    assert!(
        !text.contains("hello"),
        "retired package still listed:\n{text}"
    );
    let st = origin.status_json();
    let x86 = st["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == "critical/43/x86_64")
        .unwrap();
    assert_eq!(x86["packages"], 0, "{st}");
}

#[test]
fn refusals_are_clear_audited_and_publish_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let rogue = Gpg::new(dir, "rogue@example.com");
    let origin = Origin::start(dir, Some(&gpg.public_key), "");
    wait_published(&origin);
    let alice = origin.token("alice", "security");
    let bob = origin.token("bob", "developers");
    let admin = origin.token("root", "admin");
    let before = revision_of(&origin, "x86_64");
    let good = build_rpm(dir, "good", "1", "1", "noarch");
    gpg.sign(&good);

    // Authentication and authorisation.
    let bad_token = dir.join("bad.token");
    std::fs::write(&bad_token, "hp_0000").unwrap();
    std::fs::set_permissions(
        &bad_token,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let out = origin.push(&bad_token, "CRIT-1", &[&good], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not valid"), "{}", stderr(&out));
    let out = origin.push(&bob, "CRIT-1", &[&good], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("may not push"), "{}", stderr(&out));
    assert!(stderr(&out).contains("`security`"), "{}", stderr(&out));
    let (code, _) = raw_post(&format!("{}/api/v1/pushes", origin.url), None);
    assert_eq!(code, 401);

    // World-readable token files are refused before anything is sent.
    let loose = dir.join("loose.token");
    std::fs::copy(&alice, &loose).unwrap();
    std::fs::set_permissions(&loose, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = origin.push(&loose, "CRIT-1", &[&good], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));

    // Bad packages.
    let unsigned = build_rpm(dir, "unsigned", "1", "1", "noarch");
    let untrusted = build_rpm(dir, "untrusted", "1", "1", "noarch");
    rogue.sign(&untrusted);
    let truncated = dir.join("truncated-1-1.noarch.rpm");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let notrpm = dir.join("notes-1-1.noarch.rpm");
    std::fs::write(&notrpm, "this is not a package\n").unwrap();
    let arm = build_rpm(dir, "armonly", "1", "1", "armv7hl");
    gpg.sign(&arm);
    let cases: Vec<(&Path, &str)> = vec![
        (&unsigned, "not signed"),
        (&untrusted, "not trusted"),
        (&truncated, "truncated"),
        (&notrpm, "not an RPM"),
        (&arm, "arch `armv7hl`"),
    ];
    for (rpm, expect) in cases {
        let out = origin.push(&alice, "CRIT-1", &[rpm], &[]);
        assert_eq!(out.status.code(), Some(1), "{rpm:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(expect),
            "{rpm:?}: expected `{expect}` in:\n{err}"
        );
        assert!(err.contains("hint:"), "{rpm:?}: no hint in:\n{err}");
        let name = rpm.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            err.contains(&name),
            "{rpm:?}: error does not name the file:\n{err}"
        );
    }

    // Over the size limit (the test config allows 50 MiB).
    let big = crate::fixtures::build_rpm_sized(dir, "big", "1", "1", "noarch", 52 * 1024 * 1024);
    let out = origin.push(&alice, "CRIT-1", &[&big], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("larger than the limit"),
        "{}",
        stderr(&out)
    );

    // A file name with path components, straight at the API.
    let push_id = open_push(&origin, &alice);
    for name in [
        "..%2F..%2Fetc%2Fpasswd.rpm",
        "%2E%2Ehidden.rpm",
        "sub%2Fdir.rpm",
    ] {
        let (code, body) = raw_put(
            &format!("{}/api/v1/pushes/{push_id}/packages/{name}", origin.url),
            &alice,
            &bytes,
        );
        assert_eq!(code, 400, "{name}: {body}");
        assert!(body.contains("bad_file_name"), "{name}: {body}");
    }

    // Nothing was published, and the audit log saw every decision.
    wait_published(&origin);
    assert_eq!(revision_of(&origin, "x86_64"), before);
    let st = origin.status_json();
    assert!(
        st["advisories"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["state"] != "live"),
        "{st}"
    );
    let (code, body) = raw_get_auth(&format!("{}/api/v1/audit", origin.url), &admin);
    assert_eq!(code, 200, "{body}");
    let audit: serde_json::Value = serde_json::from_str(&body).unwrap();
    let entries = audit.as_array().unwrap();
    let refused = |reason: &str| {
        entries
            .iter()
            .any(|e| e["allowed"] == false && e["reason"].as_str().unwrap_or("").contains(reason))
    };
    assert!(refused("unknown token"), "{body}");
    assert!(refused("no token"), "{body}");
    assert!(refused("group `developers`"), "{body}");
    assert!(refused("not signed"), "{body}");
    assert!(entries.iter().all(|e| e["remote_addr"] == "::1"), "{body}");
    // Bob may not read the audit log either.
    let (code, _) = raw_get_auth(&format!("{}/api/v1/audit", origin.url), &bob);
    assert_eq!(code, 403);
}

fn open_push(origin: &Origin, token: &Path) -> i64 {
    let body = serde_json::json!({"advisory": "CRIT-2", "severity": "critical", "summary": "x"});
    let (code, text) = raw_post(
        &format!("{}/api/v1/pushes", origin.url),
        Some((token, body.to_string())),
    );
    assert_eq!(code, 201, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["id"].as_i64().unwrap()
}

fn token_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn raw_post(url: &str, auth_body: Option<(&Path, String)>) -> (u16, String) {
    block(async {
        let mut req = reqwest::Client::new().post(url);
        if let Some((token, body)) = auth_body {
            req = req
                .bearer_auth(token_of(token))
                .header("content-type", "application/json")
                .body(body);
        } else {
            req = req.header("content-type", "application/json").body("{}");
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

fn raw_put(url: &str, token: &Path, body: &[u8]) -> (u16, String) {
    let body = body.to_vec();
    block(async {
        let resp = reqwest::Client::new()
            .put(url)
            .bearer_auth(token_of(token))
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

fn raw_get_auth(url: &str, token: &Path) -> (u16, String) {
    block(async {
        let resp = reqwest::Client::new()
            .get(url)
            .bearer_auth(token_of(token))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

#[test]
fn metalink_lists_origin_first_with_strong_hashes_and_404s_unknown_repos() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::start(tmp.path(), None, "require_signed_packages = false\n");
    wait_published(&origin);
    let url = format!(
        "{}/metalink?repo=critical-f43&arch=x86_64&countme=3&extra=1",
        origin.url
    );
    let (code, body) = http_get(&url).unwrap();
    assert_eq!(code, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.len() < 1500,
        "metalink is {} bytes:\n{text}",
        text.len()
    );
    let (_, repomd) = http_get(&format!(
        "{}/pub/critical/43/x86_64/repodata/repomd.xml",
        origin.url
    ))
    .unwrap();
    let sha256 = hex::encode(Sha256::digest(&repomd));
    let sha512 = hex::encode(sha2::Sha512::digest(&repomd));
    assert!(
        text.contains(&format!("<hash type=\"sha256\">{sha256}</hash>")),
        "{text}"
    );
    assert!(
        text.contains(&format!("<hash type=\"sha512\">{sha512}</hash>")),
        "{text}"
    );
    assert!(text.contains("mm0:timestamp"), "{text}");
    assert!(!text.contains("mm0:alternates"), "{text}");
    let first_url = text.split("<url").nth(1).unwrap();
    assert!(
        first_url.contains(&format!(
            "{}/pub/critical/43/x86_64/repodata/repomd.xml",
            origin.url
        )),
        "origin is not first:\n{text}"
    );

    let (code, body) = http_get(&format!(
        "{}/metalink?repo=critical-f99&arch=x86_64",
        origin.url
    ))
    .unwrap();
    assert_eq!(code, 404);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("<metalink") && !text.contains("<files>"),
        "{text}"
    );
}

#[test]
fn served_files_carry_exact_bytes_and_cache_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::start(tmp.path(), None, "require_signed_packages = false\n");
    wait_published(&origin);
    block(async {
        let client = reqwest::Client::builder()
            .no_gzip()
            .no_zstd()
            .build()
            .unwrap();
        let base = format!("{}/pub/critical/43/x86_64/repodata", origin.url);
        for (path, cache) in [("repomd.xml", "no-cache"), ("repomd.xml.asc", "no-cache")] {
            let resp = client.get(format!("{base}/{path}")).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["cache-control"], cache);
            assert!(resp.headers().get("content-encoding").is_none());
            assert!(resp.headers().get("content-length").is_some());
        }
        let resp = client
            .get(format!("{base}/repomd.xml"))
            .send()
            .await
            .unwrap();
        let repomd = resp.bytes().await.unwrap();
        let entries = hotpush::publish::index_entries(&repomd).unwrap();
        assert!(entries.iter().any(|e| e.kind == "primary"));
        for e in entries {
            let resp = client
                .get(format!("{}/pub/critical/43/x86_64/{}", origin.url, e.href))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert!(resp.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable"));
            let body = resp.bytes().await.unwrap();
            assert_eq!(body.len() as u64, e.size);
            assert_eq!(hex::encode(Sha256::digest(&body)), e.sha256);
        }
        let resp = client
            .get(format!("{}/pub/critical/../../state.sqlite", origin.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
    });
}
