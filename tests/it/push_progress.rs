//! `hotpush push` as an honest progress view: with one partner down (a closed
//! port) and one whose self-signed certificate is not given as `ca_file`, the
//! real origin publishes, every partner gets its first full attempt, and the
//! command exits 1 naming both partners, why, and what to do; the
//! `metalink-updated` event counts every listed partner, not only a catch-up
//! run's.
use std::path::Path;
use std::time::Duration;

use crate::common::fixtures::{build_rpm, free_port, Gpg, Origin};
use crate::common::partner::{poll, write_secret, Receiver};

fn toml_str(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

fn entry(name: &str, public_url: &str, push_url: &str, secret: &Path, ca: Option<&Path>) -> String {
    format!(
        "[[mirror]]\nname = \"{name}\"\npublic_url = \"{public_url}\"\nmethod = \"https\"\npush_url = \"{push_url}\"\nsecret_file = {}\n{}\n",
        toml_str(secret),
        ca.map(|c| format!("ca_file = {}\n", toml_str(c)))
            .unwrap_or_default()
    )
}

#[test]
fn push_exits_after_first_attempts_naming_a_down_and_an_untrusted_partner() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let good = Receiver::start();
    let untrusted = Receiver::start();
    // Nothing listens here: the port was free when asked and is not bound again.
    let down_port = free_port();
    let down_secret = dir.join("down.secret");
    write_secret(&down_secret, "down-partner-secret\n");
    let mirrors = dir.join("mirrors.toml");
    std::fs::write(
        &mirrors,
        format!(
            "{}{}{}",
            entry(
                "partner-good",
                &good.public_url,
                &good.push_url,
                &good.secret_file,
                Some(&good.cert())
            ),
            entry(
                "partner-down",
                &format!("https://[::1]:{down_port}/pub"),
                &format!("https://[::1]:{down_port}"),
                &down_secret,
                None
            ),
            // The receiver's certificate is self-signed and not given as ca_file.
            entry(
                "partner-untrusted",
                &untrusted.public_url,
                &untrusted.push_url,
                &untrusted.secret_file,
                None
            ),
        ),
    )
    .unwrap();
    let origin = Origin::start_full(dir, Some(&gpg.public_key), "", Some(&mirrors), None);
    let token = origin.token("alice", "security");
    let rpm = build_rpm(dir, "hello", "1.0", "1", "noarch");
    gpg.sign(&rpm);

    // The bound is the Must-show's 60 s: ending on it would print "still being
    // tried", which the assertions below refuse.
    let out = origin.push(&token, "CRIT-1", &[&rpm], &["--timeout-secs", "60"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let log = || std::fs::read_to_string(&origin.log).unwrap_or_default();
    assert_eq!(out.status.code(), Some(1), "{err}\n{}", log());
    assert!(err.contains("live at the origin"), "{err}");
    assert!(
        err.contains("2 partner(s) are behind after its first full attempt"),
        "{err}"
    );
    assert!(!err.contains("still being tried"), "{err}");
    let line_of = |name: &str| -> String {
        let start = err
            .rfind(&format!("\n  {name}: "))
            .unwrap_or_else(|| panic!("{name} not named:\n{err}"));
        err[start..]
            .lines()
            .skip(1)
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let down = line_of("partner-down");
    assert!(down.contains("Connection refused"), "{down}");
    assert!(
        down.contains("hint: connection refused: is the receiver"),
        "{down}"
    );
    let untrusted_text = line_of("partner-untrusted");
    assert!(
        untrusted_text.contains("hint: the partner's certificate is not trusted: set `ca_file`"),
        "{untrusted_text}"
    );
    assert!(
        err.contains("partner-good: holds the fix"),
        "the healthy partner's progress is shown:\n{err}"
    );
    assert!(!err.contains("\n  partner-good: behind"), "{err}");

    // The status keeps the per-partner reason and hint.
    let status = origin.status_json();
    let row = status["mirrors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "partner-untrusted" && m["repo"] == "critical/43/x86_64")
        .unwrap()
        .clone();
    assert_eq!(row["current"], false, "{row}");
    assert_eq!(row["attempted"], true, "{row}");
    assert!(row["hint"].as_str().unwrap().contains("ca_file"), "{row}");
    let text = String::from_utf8(
        crate::common::support::run_ok(crate::common::support::hotpush().args([
            "status",
            "--server",
            &origin.url,
        ]))
        .stdout,
    )
    .unwrap();
    assert!(
        text.contains("hint: the partner's certificate is not trusted")
            && text.contains("hint: connection refused"),
        "{text}"
    );

    // A catch-up run that carries only the two partners behind must still count
    // the healthy partner the metalink lists.
    let line = poll(
        "a catch-up run of the two partners behind",
        Duration::from_secs(60),
        || {
            let text = log();
            let lines: Vec<&str> = text.lines().collect();
            let run = lines.iter().position(|l| {
                l.contains("catching up partners that are behind")
                    && l.contains("partner-down,partner-untrusted")
            })?;
            lines[run..]
                .iter()
                .find(|l| l.contains("metalink lists the origin and"))
                .map(|l| l.to_string())
        },
    );
    assert!(line.contains("1 of 3 partner(s)"), "{line}\n{}", log());
}
