//! `hotpush repofile --rpm`: the `-repos` RPM built from a running origin,
//! inspected with the real rpm, installed with the real dnf 4 into an
//! installroot, and then used as the only repository configuration: dnf lists
//! the repo, refreshes it with repo_gpgcheck=1 and installs a signed fix with
//! gpgcheck=1, verifying both with the key files the package installed.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::fixtures::{build_rpm, http_get, Dnf, Gpg, Origin};
use crate::common::support::{hotpush, run_ok};

/// Runs dnf in the installroot with the repositories the root itself has
/// (`<root>/etc/yum.repos.d`). dnf resolves `file://` key URLs on the host, not
/// in the installroot, so each installed key path is prefixed with the root,
/// which is what the paths mean on a system where the root is `/`.
pub(crate) fn dnf_in_root(
    dnf: &Dnf,
    repo_id: &str,
    gpgkey_line: &str,
    args: &[&str],
) -> (i32, String) {
    let keys: Vec<String> = gpgkey_line
        .split_whitespace()
        .map(|k| {
            let path = k.strip_prefix("file://").expect("an installed key path");
            format!("file://{}{path}", dnf.root.display())
        })
        .collect();
    let gpgkey = format!("--setopt={repo_id}.gpgkey={}", keys.join(" "));
    let mut all = vec![gpgkey.as_str()];
    all.extend_from_slice(args);
    dnf.run_with_reposdir(&dnf.root.join("etc/yum.repos.d"), &all)
}

fn build_repos_rpm(origin: &Origin, out: &Path) -> PathBuf {
    let o = run_ok(
        hotpush()
            .args(["repofile", "--server", &origin.url, "--rpm"])
            .arg(out),
    );
    PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
}

fn rpm_query(args: &[&str], rpm: &Path) -> String {
    String::from_utf8(run_ok(Command::new("rpm").args(args).arg(rpm)).stdout).unwrap()
}

#[test]
fn repos_rpm_installs_with_dnf_and_verifies_with_its_own_key_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let origin = Origin::start(dir, Some(&gpg.public_key), "");
    let token = origin.token("alice", "security");
    let fix = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&fix);
    let out = origin.push(&token, "CRIT-2026-0200", &[&fix], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let rpm = build_repos_rpm(&origin, &dir.join("out1"));
    assert_eq!(
        rpm.file_name().unwrap().to_str().unwrap(),
        "critical-repos-2-1.noarch.rpm"
    );
    // Deterministic: same origin state, same bytes.
    let again = build_repos_rpm(&origin, &dir.join("out2"));
    assert_eq!(std::fs::read(&rpm).unwrap(), std::fs::read(&again).unwrap());

    let files = rpm_query(
        &[
            "-qp",
            "--qf",
            "[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEMODES:perms}\n]",
        ],
        &rpm,
    );
    assert_eq!(
        files,
        "/etc/hotpush  drwxr-xr-x\n\
         /etc/hotpush/critical-check.conf cn -rw-r--r--\n\
         /etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical  -rw-r--r--\n\
         /etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical-packages  -rw-r--r--\n\
         /etc/yum.repos.d/critical-updates.repo cn -rw-r--r--\n\
         /etc/zypp/repos.d/critical-updates.repo cn -rw-r--r--\n\
         /usr/lib/systemd/system-preset/90-hotpush.preset  -rw-r--r--\n\
         /usr/lib/systemd/system/hotpush-critical-check.service  -rw-r--r--\n\
         /usr/lib/systemd/system/hotpush-critical-check.timer  -rw-r--r--\n\
         /usr/libexec/hotpush  drwxr-xr-x\n\
         /usr/libexec/hotpush/critical-check  -rwxr-xr-x\n\
         /var/lib/hotpush  drwxr-xr-x\n\
         /var/lib/hotpush/critical-check  drwxr-xr-x\n",
    );
    assert_eq!(
        rpm_query(&["-qlp"], &rpm).lines().count(),
        13,
        "rpm -qlp lists the thirteen files and directories"
    );
    let info = rpm_query(&["-qip"], &rpm);
    for want in [
        "critical-repos",
        "noarch",
        "License     : MIT",
        &format!("URL         : {}", origin.url),
        "Repository configuration and keys for critical security updates",
    ] {
        assert!(info.contains(want), "no {want:?} in rpm -qip:\n{info}");
    }
    let status = origin.status_json();
    let newest = status["repos"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["revision"].as_u64())
        .max()
        .unwrap();
    let buildtime = rpm_query(&["-qp", "--qf", "%{BUILDTIME}"], &rpm);
    assert_eq!(
        buildtime,
        newest.to_string(),
        "build time is the newest revision"
    );

    // Install it with the real dnf into an empty installroot.
    let dnf = Dnf::new(&dir.join("client"), "");
    // Its scriptlets need /bin/sh, as every installed system has.
    dnf.rpm_install(&crate::common::rpmbuild::shell_rpm(dir));
    dnf.ok(&["install", rpm.to_str().unwrap()]);
    assert_eq!(
        dnf.installed("critical-repos").as_deref(),
        Some("critical-repos-2-1.noarch")
    );
    let repo_text =
        std::fs::read_to_string(dnf.root.join("etc/yum.repos.d/critical-updates.repo")).unwrap();
    let (_, repo_key) = http_get(&format!("{}/keys/repo.asc", origin.url)).unwrap();
    let installed_key = std::fs::read(
        dnf.root
            .join("etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical"),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(installed_key).unwrap().trim_end(),
        String::from_utf8(repo_key).unwrap().trim_end()
    );
    let gpgkey = repo_text
        .lines()
        .find_map(|l| l.strip_prefix("gpgkey="))
        .expect("a gpgkey line");
    assert!(
        !gpgkey.contains(&origin.url),
        "keys must not come from the origin: {gpgkey}"
    );
    assert!(repo_text.contains("\ngpgcheck=1\n") && repo_text.contains("\nrepo_gpgcheck=1\n"));

    // The installed .repo is all dnf needs.
    let (code, text) = dnf_in_root(&dnf, "critical-updates", gpgkey, &["repolist", "--enabled"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("critical-updates"),
        "repo not listed:\n{text}"
    );
    let (code, text) = dnf_in_root(&dnf, "critical-updates", gpgkey, &["makecache"]);
    assert_eq!(code, 0, "makecache failed:\n{text}\n{}", dnf.librepo_tail());
    let (code, text) = dnf_in_root(&dnf, "critical-updates", gpgkey, &["install", "hello"]);
    assert_eq!(code, 0, "install failed:\n{text}\n{}", dnf.librepo_tail());
    assert_eq!(
        dnf.installed("hello").as_deref(),
        Some("hello-1.0-2.noarch")
    );
    // The package key came from the installed file into the root's rpm database.
    let keys = String::from_utf8(
        run_ok(
            Command::new("rpm")
                .arg("--root")
                .arg(&dnf.root)
                .args(["-q", "gpg-pubkey"]),
        )
        .stdout,
    )
    .unwrap();
    assert!(keys.starts_with("gpg-pubkey-"), "{keys}");
}
