//! `hotpush sop`: every procedure rendered against a test configuration, each
//! command it prints parsed by the CLI's own parser; the per-push checklist
//! against a running origin, ticking uploaded -> published in order; the
//! announcement and checklist printed from the origin.
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::common::fixtures::{build_rpm, http_get, http_get_with_token, Gpg, Origin};
use crate::common::support::{hotpush, run_ok};

/// Splits a shell command line the way `sh` does for the quoting the procedures
/// use: single quotes, double quotes (with `\"` and `\\`), backslash escapes.
fn shell_split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Lines starting with `hotpush ` inside fenced code blocks.
fn hotpush_commands(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code && line.trim_start().starts_with("hotpush ") {
            out.push(line.trim().to_owned());
        }
    }
    assert!(!in_code, "an unterminated code block:\n{markdown}");
    out
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(path, perms).unwrap();
}

/// A configuration with values no default has, so that the output can only
/// contain them if they came from the files.
fn test_config(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let config = dir.join("hotpush.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = [\"[::1]:18443\"]\npublic_url = \"http://[::1]:18443\"\n\
             retention_hours = 72\nmetalink_repo_prefix = \"urgent-r\"\n\n\
             [repos]\nchannel = \"urgent\"\nreleases = [\"42\", \"43\"]\narches = [\"x86_64\", \"ppc64le\"]\n\n\
             [auth]\npush_group = \"secteam\"\n",
            dir.join("data").display().to_string()
        ),
    )
    .unwrap();
    write_private(
        &dir.join("secret-north"),
        "0123456789abcdef0123456789abcdef\n",
    );
    write_private(
        &dir.join("secret-south"),
        "fedcba9876543210fedcba9876543210\n",
    );
    let mirrors = dir.join("mirrors.toml");
    std::fs::write(
        &mirrors,
        "[[mirror]]\nname = \"mirror-north\"\npublic_url = \"https://[2001:db8::10]/pub\"\nmethod = \"https\"\n\
         push_url = \"https://[2001:db8::10]:8443\"\nsecret_file = \"secret-north\"\n\n\
         [[mirror]]\nname = \"mirror-south\"\npublic_url = \"https://[2001:db8::20]/pub\"\nmethod = \"https\"\n\
         push_url = \"https://[2001:db8::20]:8443\"\nsecret_file = \"secret-south\"\n",
    )
    .unwrap();
    (config, mirrors)
}

#[test]
fn every_command_in_every_procedure_parses_and_carries_the_live_values() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, mirrors) = test_config(tmp.path());
    let out = run_ok(
        hotpush()
            .args(["sop", "--config"])
            .arg(&config)
            .arg("--mirrors")
            .arg(&mirrors)
            .args(["--advisory", "FEDORA-2026-0042"]),
    );
    let all = String::from_utf8(out.stdout).unwrap();
    let commands = hotpush_commands(&all);
    assert!(commands.len() >= 20, "too few commands:\n{all}");

    let mut seen = std::collections::BTreeSet::new();
    for line in &commands {
        // The command's own words: a redirection or pipe ends them.
        let argv: Vec<String> = shell_split(line)
            .into_iter()
            .take_while(|w| !matches!(w.as_str(), ">" | ">>" | "|" | "&&" | ";"))
            .collect();
        let cli = hotpush::cli::Cli::try_parse_from(&argv)
            .unwrap_or_else(|e| panic!("`{line}` does not parse: {e}"));
        use hotpush::cli::Command as C;
        let name = match &cli.command {
            C::Push(a) => {
                assert_eq!(a.server, "http://[::1]:18443", "{line}");
                assert_eq!(a.advisory.as_deref(), Some("FEDORA-2026-0042"), "{line}");
                assert!(!a.rpms.is_empty(), "{line}");
                "push"
            }
            C::Retire(a) => {
                assert_eq!(a.server, "http://[::1]:18443", "{line}");
                assert_eq!(a.advisory, "FEDORA-2026-0042", "{line}");
                "retire"
            }
            C::Status(a) => {
                assert_eq!(a.server, "http://[::1]:18443", "{line}");
                "status"
            }
            C::Verify(a) => {
                assert!(
                    a.metalink
                        .starts_with("http://[::1]:18443/metalink?repo=urgent-r4"),
                    "{line}"
                );
                "verify"
            }
            C::Token(_) => "token",
            C::Serve(a) => {
                assert_eq!(a.origin.config.as_deref(), Some(config.as_path()), "{line}");
                assert_eq!(a.mirrors.as_deref(), Some(mirrors.as_path()), "{line}");
                "serve"
            }
            C::Sop(a) => {
                assert_eq!(a.advisory.as_deref(), Some("FEDORA-2026-0042"), "{line}");
                "sop"
            }
            C::Announce(a) => {
                assert_eq!(a.server, "http://[::1]:18443", "{line}");
                assert_eq!(a.advisory, "FEDORA-2026-0042", "{line}");
                "announce"
            }
            C::Repofile(_) => "repofile",
            C::Receive(_) => "receive",
            C::Keys(a) => {
                use hotpush::commands::keys::KeysCommand as K;
                let server = match &a.command {
                    K::RepoStatus(k) => &k.server,
                    K::RepoNext(k) => &k.server,
                    K::RepoSwitch(k) | K::RepoRetire(k) => {
                        assert!(k.fingerprint.ends_with("FINGERPRINT"), "{line}");
                        &k.server
                    }
                    other => panic!("unexpected keys command in a procedure: {other:?}"),
                };
                assert_eq!(server, "http://[::1]:18443", "{line}");
                "keys"
            }
            other => panic!("unexpected command in a procedure: {other:?}"),
        };
        seen.insert(name);
    }
    for needed in [
        "push", "retire", "status", "verify", "token", "serve", "repofile", "receive", "announce",
        "keys",
    ] {
        assert!(seen.contains(needed), "no `hotpush {needed}` in:\n{all}");
    }

    // Every repository's metalink is verified, with the configured prefix and arches.
    for release in ["42", "43"] {
        for arch in ["x86_64", "ppc64le"] {
            let line = format!(
                "hotpush verify --metalink 'http://[::1]:18443/metalink?repo=urgent-r{release}&arch={arch}'"
            );
            assert!(commands.contains(&line), "missing `{line}`");
        }
    }
    // The partners, the group and the retention come from the files.
    for needle in [
        "mirror-north (https://[2001:db8::10]/pub)",
        "mirror-south",
        "`secteam` group",
        "72 hours",
        "dnf upgrade --refresh --advisory=FEDORA-2026-0042",
        "dnf --refresh --repo=urgent-updates makecache",
    ] {
        assert!(all.contains(needle), "`{needle}` missing from:\n{all}");
    }
    assert!(
        // (rpm's own query format has `{%{`, never `{% `.)
        !all.contains("{{") && !all.contains("{% ") && !all.contains("{%-"),
        "unrendered template:\n{all}"
    );

    // One procedure at a time, and a clear refusal of an unknown one.
    for name in hotpush::core::sop::PROCEDURE_NAMES {
        let out = run_ok(
            hotpush()
                .args(["sop", "--procedure", name, "--config"])
                .arg(&config)
                .arg("--mirrors")
                .arg(&mirrors)
                .args(["--advisory", "FEDORA-2026-0042"]),
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with("# "), "{name}: {text}");
        assert!(
            all.contains(text.trim_end()),
            "{name} differs from the full output"
        );
    }
    let bad = hotpush()
        .args(["sop", "--procedure", "reboot-everything"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("reboot-everything") && err.contains("emergency-push"),
        "{err}"
    );
}

#[test]
fn the_shell_splitter_handles_the_quoting_procedures_use() {
    assert_eq!(
        shell_split(r#"hotpush push --summary "a \"b\" c" 'x&y' d\ e"#),
        vec!["hotpush", "push", "--summary", "a \"b\" c", "x&y", "d e"]
    );
}

/// The checklist of a push, read with a push-group token (before publication
/// the push is embargoed).
fn checklist(origin: &Origin, token_file: &std::path::Path, push_id: i64) -> serde_json::Value {
    let (code, body) = http_get_with_token(
        &format!("{}/api/v1/pushes/{push_id}/checklist", origin.url),
        token_file,
    )
    .unwrap();
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn states(list: &serde_json::Value) -> Vec<(String, String)> {
    list["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_owned(),
                s["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn done(list: &serde_json::Value) -> Vec<String> {
    states(list)
        .into_iter()
        .filter(|(_, s)| s == "done")
        .map(|(k, _)| k)
        .collect()
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_real_push_ticks_the_checklist_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let fix = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&fix);
    let origin = Origin::start(dir, Some(&gpg.public_key), "");
    let token_file = origin.token("alice", "security");
    let token = std::fs::read_to_string(&token_file).unwrap();
    let client = reqwest::Client::new();

    let push: serde_json::Value = block(async {
        client
            .post(format!("{}/api/v1/pushes", origin.url))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({
                "advisory": "FEDORA-2026-0077", "severity": "important",
                "cves": ["CVE-2026-7777"], "summary": "hello: fix a test hole",
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let id = push["id"].as_i64().unwrap();
    let opened = checklist(&origin, &token_file, id);
    assert_eq!(done(&opened), vec!["declared"], "{opened:#}");
    assert_eq!(states(&opened)[1], ("uploaded".into(), "pending".into()));

    let name = fix.file_name().unwrap().to_str().unwrap().to_owned();
    let status = block(async {
        client
            .put(format!("{}/api/v1/pushes/{id}/packages/{name}", origin.url))
            .bearer_auth(token.trim())
            .body(std::fs::read(&fix).unwrap())
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 201);
    let uploaded = checklist(&origin, &token_file, id);
    assert_eq!(
        done(&uploaded),
        vec!["declared", "uploaded"],
        "{uploaded:#}"
    );
    let detail = uploaded["steps"][1]["detail"].as_str().unwrap();
    assert_eq!(detail, "1 package(s), 1 verified against a trusted key");

    let status = block(async {
        client
            .post(format!("{}/api/v1/pushes/{id}/submit", origin.url))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 202);

    // Every checklist observed while the push moves is a prefix of the
    // procedure's observed steps, and the prefixes only grow.
    let observed = [
        "declared",
        "uploaded",
        "accepted",
        "published",
        "partners",
        "metalink",
        "announced",
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_len = 2;
    let finished = loop {
        let list = checklist(&origin, &token_file, id);
        let keys = done(&list);
        assert_eq!(
            keys,
            observed[..keys.len()].to_vec(),
            "steps out of order: {list:#}"
        );
        assert!(keys.len() >= last_len, "a tick went away: {list:#}");
        last_len = keys.len();
        if keys.len() == observed.len() {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "the push did not finish: {list:#}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // Timestamps of the done steps never go backwards.
    let times: Vec<i64> = finished["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "done" && s["key"] != "announced")
        .map(|s| s["at_ms"].as_i64().expect("a done step has a time"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1] + 1000),
        "{finished:#}"
    );
    let manual: Vec<String> = states(&finished)
        .into_iter()
        .filter(|(_, s)| s == "manual")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(manual, vec!["verify-client", "monitor"]);

    // The same checklist, and the announcement, through `hotpush sop`.
    let out = run_ok(hotpush().args(["sop", "--server", &origin.url, "--push", &id.to_string()]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "checklist for push {id} of FEDORA-2026-0077 (published)"
        )),
        "{text}"
    );
    assert!(text.contains(" 4. [x] Published at the origin"), "{text}");
    assert!(text.contains("10. [ ] Retire"), "{text}");
    let out = run_ok(hotpush().args([
        "sop",
        "--server",
        &origin.url,
        "--advisory",
        "FEDORA-2026-0077",
        "--announcement",
    ]));
    let mail = String::from_utf8(out.stdout).unwrap();
    assert!(
        mail.starts_with("Subject: [SECURITY] FEDORA-2026-0077 Important: hello: fix a test hole (CVE-2026-7777)\n"),
        "{mail}"
    );
    assert!(mail.contains("  hello-1.0-2.noarch\n"), "{mail}");
    assert!(mail.contains("  dnf upgrade --refresh --advisory=FEDORA-2026-0077\n"));
    assert!(mail.contains("https://www.cve.org/CVERecord?id=CVE-2026-7777"));
    assert!(mail.contains(&format!(
        "hotpush verify --metalink '{}/metalink?repo=critical-f43&arch=x86_64'",
        origin.url
    )));

    // Retiring ticks the last step.
    run_ok(
        hotpush()
            .args(["retire", "--server", &origin.url, "--token-file"])
            .arg(&token_file)
            .arg("FEDORA-2026-0077"),
    );
    let retired = checklist(&origin, &token_file, id);
    assert_eq!(
        states(&retired).last().unwrap(),
        &("retired".to_owned(), "done".to_owned())
    );

    // Unknown ids are a clean 404.
    let (code, _) = http_get(&format!("{}/api/v1/pushes/999/checklist", origin.url)).unwrap();
    assert_eq!(code, 404);
    let (code, _) = http_get(&format!(
        "{}/api/v1/advisories/NOPE-1/announcement",
        origin.url
    ))
    .unwrap();
    assert_eq!(code, 404);
}

/// The procedure's signature check names the key of a correctly signed
/// package on the installed rpm (the old `%{SIGPGP:pgpsig}` query printed
/// `(none)` there), for an EdDSA and an RSA signature.
#[test]
fn the_signature_check_names_the_key_on_current_rpm() {
    crate::common::support::require_tool("rpm");
    let out = run_ok(hotpush().args(["sop", "--procedure", "emergency-push"]));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("rpm -qp --qf"))
        .expect("the procedure has an rpm query line")
        .replace("./fix/*.rpm", "\"$1\"");
    let dir = crate::common::support::real_rpms();
    let query = |rpm: &str| {
        let out = run_ok(
            std::process::Command::new("sh")
                .args(["-c", &line, "sh"])
                .arg(dir.join(rpm)),
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let signed = query("createrepo_c/empty-signed-eddsa-0-0.x86_64.rpm");
    assert!(signed.contains("Key ID 9b34bebb1f1d8f8a"), "{signed}");
    let rsa = query("rpm-rs/v4/signed/rpm-basic-with-rsa4096-2.3.4-5.el9.noarch.rpm");
    assert!(rsa.contains("Key ID e964f9fb30d073b5"), "{rsa}");
}
