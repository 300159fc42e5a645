//! Issue 2 end to end with the real dnf 4: `hotpush createrepo` repodata (gz and zst)
//! with an updateinfo advisory, served over HTTP on `[::1]`, consumed by dnf in a
//! throw-away installroot: install hello-1.0-1, publish hello-1.0-2 with a security
//! advisory, see the advisory in `updateinfo list --security`, and let
//! `upgrade --security` install the fix.

use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::support::{hotpush, real_rpms, require_tool, run_ok};

const ADVISORY_ID: &str = "FEDORA-2026-c0ffee0001";

const HELLO_SPEC: &str = r#"Name: hello
Version: 1.0
Release: %{rel}
Summary: Test package for the dnf end-to-end test
License: MIT
BuildArch: noarch

%description
Says hello; release %{rel}.

%install
mkdir -p %{buildroot}/usr/share/hello
echo "hello %{rel}" > %{buildroot}/usr/share/hello/greeting

%files
/usr/share/hello/greeting
"#;

/// A static file server on `[::1]`, killed when dropped.
struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    fn start(root: &Path) -> HttpServer {
        let port = TcpListener::bind((Ipv6Addr::LOCALHOST, 0))
            .expect("bind [::1]:0")
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "::1", "--directory"])
            .arg(root)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let server = HttpServer { child, port };
        let addr = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "http server on [::1]:{port} did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://[::1]:{}/", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds hello-1.0-1 and hello-1.0-2 (noarch) with rpmbuild; returns both paths.
fn build_hello(work: &Path) -> [PathBuf; 2] {
    std::fs::create_dir_all(work).unwrap();
    let spec = work.join("hello.spec");
    std::fs::write(&spec, HELLO_SPEC).unwrap();
    let topdir = work.join("rpmbuild");
    ["1", "2"].map(|rel| {
        run_ok(
            Command::new("rpmbuild")
                .arg("--define")
                .arg(format!("_topdir {}", topdir.display()))
                .args(["--define", &format!("rel {rel}"), "--quiet", "-bb"])
                .arg(&spec),
        );
        let rpm = topdir.join(format!("RPMS/noarch/hello-1.0-{rel}.noarch.rpm"));
        assert!(rpm.is_file(), "rpmbuild did not produce {}", rpm.display());
        rpm
    })
}

/// dnf 4 in its own installroot with its own dnf.conf and repo file (dnf-client.md §3).
struct Dnf {
    work: PathBuf,
}

impl Dnf {
    fn new(work: &Path, baseurl: &str) -> Dnf {
        let work = work.to_path_buf();
        std::fs::create_dir_all(work.join("root")).unwrap();
        std::fs::create_dir_all(work.join("repos.d")).unwrap();
        // Debian's own dnf.conf sets skip_if_unavailable=True, which hides failures.
        std::fs::write(
            work.join("dnf.conf"),
            "[main]\nskip_if_unavailable=False\ninstall_weak_deps=False\nlogfilelevel=10\n",
        )
        .unwrap();
        std::fs::write(
            work.join("repos.d/crit.repo"),
            format!(
                "[crit]\nname=hotpush critical\nbaseurl={baseurl}\ngpgcheck=0\nrepo_gpgcheck=0\n"
            ),
        )
        .unwrap();
        Dnf { work }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("dnf");
        cmd.arg("-y")
            .arg(format!(
                "--installroot={}",
                self.work.join("root").display()
            ))
            .arg(format!("--config={}", self.work.join("dnf.conf").display()))
            .arg(format!(
                "--setopt=reposdir={}",
                self.work.join("repos.d").display()
            ))
            .args(["--releasever=43", "--disablerepo=*", "--enablerepo=crit"])
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run dnf");
        if !out.status.success() {
            let log = std::fs::read_to_string(self.work.join("root/var/log/dnf.librepo.log"))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            panic!(
                "dnf {args:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}\n--- librepo log (last lines, newest first)\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                tail.join("\n")
            );
        }
        out
    }

    fn installed(&self, name: &str) -> String {
        let out = Command::new("rpm")
            .arg("--root")
            .arg(self.work.join("root"))
            .args(["-q", name])
            .output()
            .expect("run rpm -q");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

fn createrepo(repo: &Path, compress: &str, revision: u32, updateinfo: Option<&Path>) {
    let mut cmd = hotpush();
    cmd.args([
        "createrepo",
        "--compress",
        compress,
        "--revision",
        &revision.to_string(),
    ]);
    if let Some(file) = updateinfo {
        cmd.arg("--updateinfo").arg(file);
    }
    run_ok(cmd.arg(repo));
    // The metadata really is in the asked-for compression.
    let suffix = format!(".xml.{compress}");
    let names: Vec<String> = std::fs::read_dir(repo.join("repodata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for kind in ["primary", "filelists", "other"] {
        assert!(
            names
                .iter()
                .any(|n| n.ends_with(&format!("-{kind}{suffix}"))),
            "no {kind}{suffix} in {names:?}"
        );
    }
    if updateinfo.is_some() {
        assert!(
            names.iter().any(|n| n.contains("-updateinfo.xml")),
            "no updateinfo in {names:?}"
        );
    }
}

fn copy_into(file: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(file, dir.join(file.file_name().unwrap())).unwrap();
}

fn security_fix_reaches_dnf(compress: &str) {
    for tool in ["dnf", "rpm", "rpmbuild", "python3"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let [hello1, hello2] = build_hello(&work.join("build"));

    // Revision 1: hello-1.0-1 beside a few real packages from other projects.
    let repo = work.join("repo");
    copy_into(&hello1, &repo.join("Packages/h"));
    for real in [
        "createrepo_c/Rimmer-1.0.2-2.x86_64.rpm",
        "createrepo_c/balicek-utf8-1.1.1-1.x86_64.rpm",
        "rpm-rs/v4/rpm-basic-2.3.4-5.el9.noarch.rpm",
        "rpm-rs/v6/rpm-rich-deps-1.0-1.noarch.rpm",
    ] {
        let path = real_rpms().join(real);
        let letter = path.file_name().unwrap().to_string_lossy()[..1].to_lowercase();
        copy_into(&path, &repo.join("Packages").join(letter));
    }
    createrepo(&repo, compress, 1, None);

    let server = HttpServer::start(&repo);
    let dnf = Dnf::new(&work.join("dnf"), &server.url());
    dnf.run(&["makecache"]);
    dnf.run(&["install", "hello-1.0-1"]);
    assert_eq!(dnf.installed("hello"), "hello-1.0-1.noarch");
    let listed = dnf.run(&["updateinfo", "list", "--security"]);
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains(ADVISORY_ID),
        "no advisory is published yet"
    );

    // Revision 2: the fix and its advisory.
    copy_into(&hello2, &repo.join("Packages/h"));
    let advisory = work.join("advisory.toml");
    std::fs::write(
        &advisory,
        format!(
            r#"[[advisory]]
id = "{ADVISORY_ID}"
severity = "Critical"
title = "Critical fix for hello"
description = "Greeting overflow fixed."
issued = 1763726400
cves = ["CVE-2026-0001"]
packages = ["hello-1.0-2.noarch"]
release = "Fedora 43"
collection = "F43"
"#
        ),
    )
    .unwrap();
    createrepo(&repo, compress, 2, Some(&advisory));

    let listed = dnf.run(&["--refresh", "updateinfo", "list", "--security"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed
            .lines()
            .any(|l| l.contains(ADVISORY_ID) && l.contains("hello-1.0-2.noarch")),
        "dnf does not list the advisory:\n{listed}"
    );
    dnf.run(&["upgrade", "--security"]);
    assert_eq!(dnf.installed("hello"), "hello-1.0-2.noarch");
    drop(server);
}

#[test]
fn security_fix_reaches_dnf_with_gzip_repodata() {
    security_fix_reaches_dnf("gz");
}

#[test]
fn security_fix_reaches_dnf_with_zstd_repodata() {
    security_fix_reaches_dnf("zst");
}
