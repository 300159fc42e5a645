//! Partner sync through the real origin: `hotpush serve --mirrors` pushing to two
//! `hotpush receive` partners and one rsync-over-ssh partner on `[::1]`, the
//! metalink listing only verified partners, `hotpush verify`, and the real dnf 4
//! failing over to partners when the origin's tree fails or the origin is gone.
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::fixtures::{
    build_rpm, free_port, http_get, http_get_with_token, Dnf, Gpg, Origin, Proxy,
};
use crate::common::partner::Receiver;
use crate::common::sshd::Sshd;
use crate::common::support::hotpush;

fn toml_str(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

fn rsync_entry(sshd: &Sshd, public_url: &str, name: &str) -> String {
    format!(
        "[[mirror]]\nname = \"{name}\"\npublic_url = \"{public_url}\"\nmethod = \"rsync\"\npush_url = \"ssh://{}@[::1]:{}/\"\nsecret_file = {}\n\n",
        sshd.user,
        sshd.port,
        toml_str(&sshd.client_key())
    )
}

fn metalink_urls(origin: &Origin) -> Vec<String> {
    let (code, body) = http_get(&format!(
        "{}/metalink?repo=critical-f43&arch=x86_64",
        origin.url
    ))
    .unwrap();
    assert_eq!(code, 200);
    let text = String::from_utf8(body).unwrap();
    text.split("<url ")
        .skip(1)
        .map(|s| {
            let start = s.find('>').unwrap() + 1;
            let end = s.find("</url>").unwrap();
            s[start..end].to_owned()
        })
        .collect()
}

fn push_ok(origin: &Origin, token: &Path, advisory: &str, rpm: &Path) -> String {
    let out = origin.push(token, advisory, &[rpm], &["--timeout-secs", "60"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "hotpush push failed:\n{err}\n{}",
        origin_log(origin)
    );
    err
}

fn origin_log(origin: &Origin) -> String {
    let log = std::fs::read_to_string(&origin.log).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    format!(
        "--- origin log tail\n{}",
        lines[lines.len().saturating_sub(30)..].join("\n")
    )
}

#[test]
fn push_reaches_three_partners_verify_passes_and_dnf_fails_over() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let a = Receiver::start();
    let b = Receiver::start();
    let c = Receiver::start(); // serves the tree the rsync partner writes
    let sshd = Sshd::start(&c.data().join("pub"));
    let mirrors = dir.join("mirrors.toml");
    std::fs::write(
        &mirrors,
        format!(
            "{}{}{}",
            a.mirror_toml("partner-a"),
            b.mirror_toml("partner-b"),
            rsync_entry(&sshd, &c.public_url, "partner-rsync")
        ),
    )
    .unwrap();
    let proxy_port = free_port();
    let mut origin = Origin::start_full(
        dir,
        Some(&gpg.public_key),
        // The origin stays first with three partners (spread only from four),
        // and stays listed while it fails (no health probes): this test is
        // about dnf failing over by itself. Probes are tested in readpath.
        "\n[publish]\npartner_deadline_secs = 30\n\n[metalink]\nspread_min_partners = 4\nprobe_interval_secs = 0\n",
        Some(&mirrors),
        Some(&format!("http://[::1]:{proxy_port}")),
    );
    let proxy = Proxy::start(proxy_port, origin.url.clone());
    let token = origin.token("alice", "security");
    let fix = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&fix);

    let err = push_ok(&origin, &token, "CRIT-2026-0100", &fix);
    assert!(
        err.contains("verified on every partner") && err.contains("partner-rsync"),
        "{err}"
    );
    // The metalink: the origin first, then every verified partner.
    let urls = metalink_urls(&origin);
    assert_eq!(urls.len(), 4, "{urls:?}");
    assert!(
        urls[0].starts_with(&proxy.url),
        "origin not first: {urls:?}"
    );
    for (i, r) in [&a, &b, &c].iter().enumerate() {
        assert!(urls[i + 1].starts_with(&r.public_url), "{urls:?}");
    }
    // Each partner serves the fix itself.
    for r in [&a, &b, &c] {
        let (code, _) = http_get(&format!(
            "{}/critical/43/x86_64/Packages/h/hello-1.0-2.noarch.rpm",
            r.public_url
        ))
        .unwrap();
        assert_eq!(code, 200, "{}", r.public_url);
    }
    // ... and the repo key beside repomd.xml (both https partners and the
    // rsync one), as the origin serves it.
    let (_, repo_key) = http_get(&format!("{}/keys/repo.asc", origin.url)).unwrap();
    for r in [&a, &b, &c] {
        let (code, key) = http_get(&format!(
            "{}/critical/43/x86_64/repodata/repomd.xml.key",
            r.public_url
        ))
        .unwrap();
        assert_eq!((code, &key), (200, &repo_key), "{}", r.public_url);
    }
    let out = hotpush()
        .args([
            "verify",
            "--metalink",
            &format!("{}/metalink?repo=critical-f43&arch=x86_64", origin.url),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hotpush verify failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The origin's tree fails (503) while its metalink answers: dnf installs from partners.
    let repo = String::from_utf8(
        crate::common::support::run_ok(hotpush().args(["repofile", "--server", &origin.url]))
            .stdout,
    )
    .unwrap();
    proxy.set_fail_pub(true);
    let dnf = Dnf::new(&dir.join("client1"), &repo);
    dnf.ok(&["install", "hello"]);
    assert_eq!(
        dnf.installed("hello").as_deref(),
        Some("hello-1.0-2.noarch")
    );
    let log = std::fs::read_to_string(dnf.root.join("var/log/dnf.librepo.log")).unwrap_or_default();
    assert!(
        log.contains("503") || log.contains("Try another mirror"),
        "no failover seen in the librepo log"
    );

    // The origin is gone entirely: the baseurl fallback on the partners still
    // serves a signed, current repo (repo_gpgcheck=1 stays on).
    // A fresh client has the keys from the distribution's -repos package, as
    // files; it cannot fetch them from a dead origin.
    let mut keys = Vec::new();
    for name in ["repo.asc", "packages.asc"] {
        let (code, body) = http_get(&format!("{}/keys/{name}", origin.url)).unwrap();
        assert_eq!(code, 200);
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        keys.push(format!("file://{}", path.display()));
    }
    let repo: String = repo
        .lines()
        .map(|l| {
            if l.starts_with("gpgkey=") {
                format!("gpgkey={}", keys.join(" "))
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    drop(proxy);
    origin.kill();
    let dnf = Dnf::new(&dir.join("client2"), &repo);
    dnf.ok(&["install", "hello"]);
    assert_eq!(
        dnf.installed("hello").as_deref(),
        Some("hello-1.0-2.noarch")
    );
}

#[test]
fn a_partner_behind_is_never_listed_nor_accepted_and_catches_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let good = Receiver::start();
    let stale = Receiver::start();
    // The origin's copy of the stale partner's secret, so the test can break it.
    let stale_secret = dir.join("stale.secret");
    std::fs::copy(&stale.secret_file, &stale_secret).unwrap();
    std::fs::set_permissions(
        &stale_secret,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mirrors = dir.join("mirrors.toml");
    let stale_entry = stale
        .mirror_toml("partner-stale")
        .replace(&toml_str(&stale.secret_file), &toml_str(&stale_secret));
    std::fs::write(
        &mirrors,
        format!("{}{}", good.mirror_toml("partner-good"), stale_entry),
    )
    .unwrap();
    let proxy_port = free_port();
    let origin = Origin::start_full(
        dir,
        Some(&gpg.public_key),
        "\n[publish]\npartner_deadline_secs = 5\n",
        Some(&mirrors),
        Some(&format!("http://[::1]:{proxy_port}")),
    );
    let proxy = Proxy::start(proxy_port, origin.url.clone());
    let token = origin.token("alice", "security");
    let v1 = build_rpm(dir, "hello", "1.0", "1", "noarch");
    let v2 = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&v1);
    gpg.sign(&v2);
    push_ok(&origin, &token, "CRIT-1", &v1);
    assert_eq!(metalink_urls(&origin).len(), 3);

    // The stale partner now refuses the origin (wrong secret): it keeps revision 1.
    std::fs::write(&stale_secret, "not-the-secret\n").unwrap();
    let out = origin.push(&token, "CRIT-2", &[&v2], &["--timeout-secs", "15"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("live at the origin") && err.contains("partner-stale"),
        "{err}"
    );
    let urls = metalink_urls(&origin);
    assert_eq!(
        urls.len(),
        2,
        "the stale partner must not be listed: {urls:?}"
    );
    assert!(
        urls.iter().all(|u| !u.starts_with(&stale.public_url)),
        "{urls:?}"
    );
    let status = origin.status_json();
    let behind: Vec<_> = status["mirrors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] == "partner-stale" && m["repo"] == "critical/43/x86_64")
        .collect();
    assert_eq!(behind.len(), 1);
    assert_eq!(behind[0]["current"], false, "{status}");
    assert!(behind[0]["last_error"].as_str().is_some(), "{status}");

    // With the origin's tree failing and the good partner gone, only the stale
    // partner is left (through the baseurl): dnf must refuse it, not install
    // pre-fix metadata, while the advisory is live.
    let repo = String::from_utf8(
        crate::common::support::run_ok(hotpush().args(["repofile", "--server", &origin.url]))
            .stdout,
    )
    .unwrap();
    let repo: String = repo
        .lines()
        .map(|l| {
            if l.starts_with("baseurl=") {
                format!(
                    "baseurl={}/critical/$releasever/$basearch/",
                    stale.public_url
                )
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    proxy.set_fail_pub(true);
    drop(good);
    let dnf = Dnf::new(&dir.join("client"), &repo);
    let (code, text) = dnf.run(&["makecache"]);
    // skip_if_unavailable=True: dnf drops the repo rather than failing; either
    // way it must not have taken the stale partner's metadata.
    assert!(
        code != 0 || text.contains("Ignoring repositories: critical-updates"),
        "dnf accepted a stale partner:\n{text}"
    );
    assert!(
        text.contains("checksum doesn't match") && text.contains("All mirrors were tried"),
        "dnf refused for another reason:\n{text}\n{}",
        dnf.librepo_tail()
    );
    let (_, listed) = dnf.run(&["list", "--available", "hello"]);
    assert!(
        !listed.contains("1.0-1"),
        "pre-fix package offered:\n{listed}"
    );

    // Fixed secret: the background catch-up brings the partner back into the metalink.
    std::fs::copy(&stale.secret_file, &stale_secret).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let urls = metalink_urls(&origin);
        if urls.iter().any(|u| u.starts_with(&stale.public_url)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the partner never caught up: {urls:?}\n{}",
            origin_log(&origin)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, _) = http_get(&format!(
        "{}/critical/43/x86_64/Packages/h/hello-1.0-2.noarch.rpm",
        stale.public_url
    ))
    .unwrap();
    assert_eq!(code, 200);
}

#[test]
fn a_stalled_partner_never_delays_publication_at_the_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A partner that accepts connections and never answers.
    let stall = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = stall.local_addr().unwrap().port();
    let secret = dir.join("stall.secret");
    std::fs::write(&secret, "a-secret-that-is-long-enough\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mirrors = dir.join("mirrors.toml");
    std::fs::write(
        &mirrors,
        format!(
            "[[mirror]]\nname = \"stalled\"\npublic_url = \"http://[::1]:{port}/pub\"\nmethod = \"https\"\npush_url = \"https://[::1]:{port}\"\nsecret_file = {}\n",
            toml_str(&secret)
        ),
    )
    .unwrap();
    let origin = Origin::start_full(
        dir,
        None,
        "require_signed_packages = false\n\n[publish]\npartner_deadline_secs = 120\n",
        Some(&mirrors),
        None,
    );
    let token = origin.token("alice", "security");
    for i in 0..3 {
        let rpm = build_rpm(dir, &format!("stallfix{i}"), "1", "1", "noarch");
        let out = origin.push(&token, &format!("STALL-{i}"), &[&rpm], &["--no-wait"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // Published at the origin long before the 120 s partner deadline, even
        // though a fan-out to the stalled partner is in flight.
        let started = Instant::now();
        loop {
            let (_, body) =
                http_get_with_token(&format!("{}/api/v1/pushes/{id}", origin.url), &token).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            if v["state"] == "published" {
                assert_eq!(v["mirrors"][0]["current"], false, "{v}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "push {id} waited on the stalled partner: {v}\n{}",
                origin_log(&origin)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(metalink_urls(&origin).len(), 1, "only the origin is listed");
    drop(stall);
}
