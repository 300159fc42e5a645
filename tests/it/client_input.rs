//! What the API clients say about bad input: `--server` values that are not a
//! hotpush origin's URL (no scheme, an IPv6 address without brackets, another
//! scheme, a partner's port, a closed port), and `hotpush retire` of an unknown
//! id (the live advisories listed) or, on a terminal, without confirmation.
use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::fixtures::{build_rpm, free_port, Gpg, Origin};
use crate::common::partner::Receiver;
use crate::common::support::{hotpush, hotpush_bin, require_tool};

fn status_with(server: &str) -> (Option<i32>, String) {
    let out = hotpush()
        .args(["status", "--server", server])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn malformed_server_values_are_named_with_what_is_wrong() {
    let cases = [
        ("http://::1:8080", "needs brackets"),
        ("https://2001:db8::10/", "needs brackets"),
        ("[::1]:8080", "has no scheme"),
        ("localhost:8080", "has no scheme"),
        ("hotpush.example.org", "has no scheme"),
        ("ftp://[::1]:8080", "scheme `ftp`"),
        ("http://", "names no host"),
        ("http://[::1]:99999", "not a usable URL"),
        ("http://[::1]:8080/?x=1", "query or fragment"),
    ];
    for (server, expected) in cases {
        let (code, err) = status_with(server);
        assert_eq!(code, Some(1), "{server}: {err}");
        assert!(err.contains(expected), "{server}: {err}");
        assert!(
            err.contains(&format!("`--server {server}`")),
            "{server}: {err}"
        );
        assert!(err.contains("hint:"), "{server}: {err}");
        assert!(!err.contains("builder error"), "{server}: {err}");
    }
}

#[test]
fn a_server_that_is_not_an_origin_is_named_as_such() {
    // A partner's public port answers 404 with no hotpush error body.
    let partner = Receiver::start();
    let base = partner.public_url.trim_end_matches("/pub").to_owned();
    let (code, err) = status_with(&base);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("answered without hotpush's error body"),
        "{err}"
    );
    assert!(err.contains("not a partner"), "{err}");

    // Nothing listens on the port.
    let closed = format!("http://[::1]:{}", free_port());
    let (code, err) = status_with(&closed);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    assert!(err.contains("hint: nothing listens there"), "{err}");

    // http:// to a TLS port.
    let (code, err) = status_with(&partner.push_url.replace("https://", "http://"));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("cannot reach") || err.contains("answered"),
        "{err}"
    );
}

fn retire_cmd(origin: &Origin, token: &std::path::Path, id: &str) -> Command {
    let mut cmd = hotpush();
    cmd.args(["retire", "--server", &origin.url, "--token-file"])
        .arg(token)
        .arg(id);
    cmd
}

/// Runs `hotpush retire` on a pseudo-terminal (util-linux `script`) with `answer` typed.
fn retire_on_tty(
    origin: &Origin,
    token: &std::path::Path,
    id: &str,
    answer: &str,
) -> (bool, String) {
    require_tool("script");
    let line = format!(
        "{} retire --server {} --token-file {} {id}",
        hotpush_bin().display(),
        origin.url,
        token.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn advisory_state(origin: &Origin, id: &str) -> String {
    origin.status_json()["advisories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .map(|a| a["state"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn retire_lists_the_live_advisories_for_an_unknown_id_and_asks_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let origin = Origin::start(dir, Some(&gpg.public_key), "");
    let token = origin.token("alice", "security");
    for (id, name) in [("CRIT-2026-0001", "hello"), ("CRIT-2026-0002", "world")] {
        let rpm = build_rpm(dir, name, "1.0", "1", "noarch");
        gpg.sign(&rpm);
        let out = origin.push(&token, id, &[&rpm], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Unknown ids, a case slip among them: nothing is retired, the live ones are listed.
    for (id, extra) in [
        ("CRIT-2026-0003", ""),
        ("crit-2026-0001", "did you mean `CRIT-2026-0001`"),
        ("", ""),
    ] {
        let out = retire_cmd(&origin, &token, id).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{id}: {err}");
        assert!(
            err.contains(&format!("advisory `{id}` does not exist")),
            "{err}"
        );
        assert!(
            err.contains("CRIT-2026-0001") && err.contains("CRIT-2026-0002"),
            "{err}"
        );
        assert!(err.contains(extra), "{err}");
    }
    assert_eq!(advisory_state(&origin, "CRIT-2026-0001"), "live");

    // On a terminal: a `n` (or no answer) keeps it; `y` retires it.
    for answer in ["n\n", "\n"] {
        let (ok, text) = retire_on_tty(&origin, &token, "CRIT-2026-0001", answer);
        assert!(!ok, "{text}");
        assert!(
            text.contains("from every critical repository? [y/N]"),
            "{text}"
        );
        assert!(text.contains("was not retired: not confirmed"), "{text}");
        assert_eq!(advisory_state(&origin, "CRIT-2026-0001"), "live", "{text}");
    }
    let (ok, text) = retire_on_tty(&origin, &token, "CRIT-2026-0001", "y\n");
    assert!(ok, "{text}");
    assert_eq!(
        advisory_state(&origin, "CRIT-2026-0001"),
        "retired",
        "{text}"
    );

    // Without a terminal (scripts) it does not ask; `--yes` is accepted too.
    let out = retire_cmd(&origin, &token, "CRIT-2026-0002")
        .arg("--yes")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(advisory_state(&origin, "CRIT-2026-0002"), "retired");

    // Once retired, an unknown id says no advisory is live.
    let out = retire_cmd(&origin, &token, "CRIT-2026-0009")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no advisory is live there"), "{err}");
}
