//! openSUSE's zypper as a second client: the real zypper (Debian's package) in a
//! `--root` directory configured only by `hotpush repofile --client zypper`
//! refreshes the critical repo with signature checks on, lists the advisory as a
//! security patch, installs the fix with `zypper patch`, and after `hotpush
//! retire` no longer offers it.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::fixtures::{build_rpm, Gpg, Origin};
use crate::common::support::{hotpush, require_tool, run_ok};

struct Zypper {
    root: PathBuf,
}

impl Zypper {
    fn new(root: &Path, repo_text: &str) -> Zypper {
        require_tool("zypper");
        require_tool("rpm");
        std::fs::create_dir_all(root.join("etc/zypp/repos.d")).unwrap();
        std::fs::write(root.join("etc/zypp/repos.d/critical.repo"), repo_text).unwrap();
        run_ok(Command::new("rpm").arg("--root").arg(root).arg("--initdb"));
        Zypper {
            root: root.to_owned(),
        }
    }

    /// Runs zypper non-interactively in the root; returns (exit code, stdout + stderr).
    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new("zypper")
            .arg("--root")
            .arg(&self.root)
            .args(["--non-interactive", "--gpg-auto-import-keys"])
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

    fn ok(&self, args: &[&str]) -> String {
        let (code, text) = self.run(args);
        assert_eq!(code, 0, "zypper {args:?} failed:\n{text}");
        text
    }

    fn installed(&self, name: &str) -> String {
        let out = Command::new("rpm")
            .arg("--root")
            .arg(&self.root)
            .args(["-q", name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

#[test]
fn zypper_sees_installs_and_loses_a_security_patch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let origin = Origin::start(
        dir,
        Some(&gpg.public_key),
        "\n[announce]\nfrom = \"security@example.org\"\n",
    );
    let token = origin.token("alice", "security");
    let old = build_rpm(dir, "hello", "1.0", "1", "noarch");
    let fix = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&fix);

    let repo = String::from_utf8(
        run_ok(hotpush().args([
            "repofile",
            "--server",
            &origin.url,
            "--client",
            "zypper",
            "--release",
            "43",
        ]))
        .stdout,
    )
    .unwrap();
    assert!(
        repo.contains("autorefresh=1") && repo.contains("pkg_gpgcheck=1"),
        "{repo}"
    );
    assert!(!repo.contains("metalink="), "{repo}");
    let zypper = Zypper::new(&dir.join("root"), &repo);
    // The vulnerable version, installed before the fix exists.
    run_ok(
        Command::new("rpm")
            .arg("--root")
            .arg(&zypper.root)
            .args(["-i", "--nodeps", "--nosignature"])
            .arg(&old),
    );
    assert_eq!(zypper.installed("hello"), "hello-1.0-1.noarch");

    let out = origin.push(&token, "CRIT-2026-0042", &[&fix], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    zypper.ok(&["refresh"]);
    let patches = zypper.ok(&["list-patches", "--category", "security"]);
    assert!(patches.contains("CRIT-2026-0042"), "{patches}");
    // The patch comes from the distribution's security contact, not the pusher.
    let info = zypper.ok(&["info", "-t", "patch", "CRIT-2026-0042"]);
    assert!(info.contains("security@example.org"), "{info}");
    assert!(!info.contains("alice"), "{info}");
    // The repo key is served beside the signature too, as openSUSE repos do.
    let (code, key) = crate::common::fixtures::http_get(&format!(
        "{}/pub/critical/43/x86_64/repodata/repomd.xml.key",
        origin.url
    ))
    .unwrap();
    assert_eq!(code, 200);
    let (_, served_key) =
        crate::common::fixtures::http_get(&format!("{}/keys/repo.asc", origin.url)).unwrap();
    assert_eq!(key, served_key);
    let (code, _) = crate::common::fixtures::http_get(&format!(
        "{}/pub/critical/99/x86_64/repodata/repomd.xml.key",
        origin.url
    ))
    .unwrap();
    assert_eq!(code, 404);
    let text = zypper.ok(&["patch", "--category", "security"]);
    assert_eq!(zypper.installed("hello"), "hello-1.0-2.noarch", "{text}");

    let out = hotpush()
        .args(["retire", "--server", &origin.url, "--token-file"])
        .arg(&token)
        .arg("CRIT-2026-0042")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    zypper.ok(&["refresh", "--force"]);
    let patches = zypper.ok(&["list-patches", "--all", "--category", "security"]);
    assert!(!patches.contains("CRIT-2026-0042"), "{patches}");
}
