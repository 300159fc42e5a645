//! `hotpush demo` as a user runs it: a child process that prints a ready line,
//! whose printed dnf command installs the signed sample fix with the real dnf 4
//! from the printed `.repo` file, and that exits cleanly on SIGTERM.
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::partner::KillOnDrop;
use crate::common::support::{hotpush, require_tool};

const READY: &str = "hotpush demo: ready";

#[test]
fn demo_serves_a_fix_dnf_installs_and_stops_on_sigterm() {
    require_tool("dnf");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let log = tmp.path().join("demo.log");
    let child = hotpush()
        .args(["demo", "--port", "0", "--dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut guard = KillOnDrop(Some(child));
    let stdout = guard.0.as_mut().unwrap().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line == READY => break,
            Ok(line) => lines.push(line),
            Err(_) => panic!(
                "no ready line within 60 s; stdout:\n{}\nlog:\n{}",
                lines.join("\n"),
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        }
    }
    let printed = lines.join("\n");
    let field = |name: &str| {
        lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.split_whitespace().next().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{printed}"))
    };
    let repo_file = field("repo file:");
    let repo = std::fs::read_to_string(&repo_file).unwrap();
    assert!(
        repo.contains("\nrepo_gpgcheck=1\n") && repo.contains("\ngpgcheck=1\n"),
        "{repo}"
    );
    let dashboard = field("dashboard:");
    let (code, _) = crate::common::fixtures::http_get(&dashboard).unwrap();
    assert_eq!(code, 200, "{dashboard}");
    let (code, body) =
        crate::common::fixtures::http_get(&format!("{}api/v1/advisories", dashboard)).unwrap();
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&body).contains("DEMO-2026-0001"));

    // The exact dnf command the demo printed, run by a shell.
    let install = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("dnf -y ") && l.ends_with(" install hello-fix"))
        .unwrap_or_else(|| panic!("no dnf install line in:\n{printed}"))
        .to_owned();
    assert!(install.contains(&format!(
        "--setopt=reposdir={}",
        dir.join("repos.d").display()
    )));
    let out = Command::new("sh").arg("-c").arg(&install).output().unwrap();
    assert!(
        out.status.success(),
        "{install}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let q = Command::new("rpm")
        .arg("--root")
        .arg(dir.join("client"))
        .args(["-q", "hello-fix"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&q.stdout).trim(),
        "hello-fix-1.0-2.noarch"
    );

    // SIGTERM: a clean exit, promptly.
    let pid = guard.0.as_ref().unwrap().id() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = guard.0.as_mut().unwrap().try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    guard.0.take();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "exit {status}; log:\n{log}");
    assert!(log.contains("hotpush demo: stopped"), "{log}");
}
