//! Test fixtures built with real tools: a GnuPG signing key, RPMs built with
//! rpmbuild and signed with rpmsign, a running `hotpush serve` on loopback, and
//! a real dnf 4 in a throw-away installroot.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::support::{hotpush, require_tool, run_ok};

/// A GnuPG home with one passphrase-less signing key.
pub struct Gpg {
    pub home: PathBuf,
    pub email: String,
    /// The armored public key.
    pub public_key: PathBuf,
}

impl Gpg {
    pub fn new(dir: &Path, email: &str) -> Gpg {
        require_tool("gpg");
        let home = dir.join(format!("gnupg-{email}"));
        std::fs::create_dir_all(&home).unwrap();
        let mut perms = std::fs::metadata(&home).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(&home, perms).unwrap();
        run_ok(Command::new("gpg").args([
            "--batch",
            "--homedir",
            home.to_str().unwrap(),
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            &format!("hotpush test <{email}>"),
            "rsa2048",
            "sign",
            "never",
        ]));
        let out = run_ok(Command::new("gpg").args([
            "--batch",
            "--homedir",
            home.to_str().unwrap(),
            "--armor",
            "--export",
            email,
        ]));
        let public_key = dir.join(format!("{email}.asc"));
        std::fs::write(&public_key, out.stdout).unwrap();
        Gpg {
            home,
            email: email.to_owned(),
            public_key,
        }
    }

    /// Signs an RPM in place with rpmsign.
    pub fn sign(&self, rpm: &Path) {
        require_tool("rpmsign");
        run_ok(
            Command::new("rpmsign")
                .arg("--addsign")
                .arg("--define")
                .arg(format!("_gpg_name {}", self.email))
                .arg("--define")
                .arg(format!("_gpg_path {}", self.home.display()))
                // Debian's rpm points %__gpg at gpg2, which the gnupg package no longer ships.
                .arg("--define")
                .arg("__gpg /usr/bin/gpg")
                .arg(rpm)
                .env("GNUPGHOME", &self.home),
        );
    }
}

/// The usual pair of an end-to-end test, built in `dir`: the security key,
/// the vulnerable `hello-1.0-1` (unsigned, installed by rpm directly) and the
/// fix `hello-1.0-2` signed by that key.
pub fn hello_and_signed_fix(dir: &Path) -> (Gpg, PathBuf, PathBuf) {
    let gpg = Gpg::new(dir, "security@example.com");
    let old = build_rpm(dir, "hello", "1.0", "1", "noarch");
    let fix = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&fix);
    (gpg, old, fix)
}

/// Builds `name-version-release.arch.rpm` with rpmbuild into `out`; returns its path.
pub fn build_rpm(out: &Path, name: &str, version: &str, release: &str, arch: &str) -> PathBuf {
    build_rpm_sized(out, name, version, release, arch, 0)
}

/// Like [`build_rpm`], with an incompressible payload file of `payload_bytes`.
pub fn build_rpm_sized(
    out: &Path,
    name: &str,
    version: &str,
    release: &str,
    arch: &str,
    payload_bytes: usize,
) -> PathBuf {
    require_tool("rpmbuild");
    let top = out.join(format!("rpmbuild-{name}-{version}-{release}-{arch}"));
    for d in ["SPECS", "SOURCES", "BUILD", "RPMS", "SRPMS", "BUILDROOT"] {
        std::fs::create_dir_all(top.join(d)).unwrap();
    }
    let payload = if payload_bytes > 0 {
        format!(
            "head -c {payload_bytes} /dev/urandom > %{{buildroot}}/usr/share/{name}/payload.bin\n"
        )
    } else {
        String::new()
    };
    // Foreign arches are built with `--target` (BuildArch only allows compatible ones).
    let buildarch = if arch == "noarch" {
        "BuildArch: noarch\n"
    } else {
        ""
    };
    let spec = format!(
        r#"Name: {name}
Version: {version}
Release: {release}
Summary: Test package {name}
License: MIT
{buildarch}%description
A package built by the hotpush tests.
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo "{name} {version}-{release}" > %{{buildroot}}/usr/share/{name}/version.txt
{payload}%files
/usr/share/{name}
%changelog
* Mon Nov 02 2026 Test <test@example.com> - {version}-{release}
- Release {release}
"#
    );
    let spec_path = top.join("SPECS").join(format!("{name}.spec"));
    std::fs::write(&spec_path, spec).unwrap();
    run_ok(
        Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .arg("--define")
            .arg("_binary_payload w2.zstdio")
            .arg("--quiet")
            .arg(format!("--target={arch}"))
            .arg("-bb")
            .arg(&spec_path),
    );
    let built = top
        .join("RPMS")
        .join(arch)
        .join(format!("{name}-{version}-{release}.{arch}.rpm"));
    let dest = out.join(built.file_name().unwrap());
    std::fs::rename(&built, &dest).unwrap();
    let _ = std::fs::remove_dir_all(&top);
    dest
}

/// A free TCP port on `[::1]` for a process started later. It is taken below
/// the kernel's ephemeral range (never handed to another test's outgoing
/// connection between this check and the later bind) and from a counter, so no
/// two tests of this binary get the same one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let (low, high) = (20_000u16, 32_000u16);
    let _ = NEXT.compare_exchange(
        0,
        low + (std::process::id() % 4_000) as u16,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..(high - low) {
        let mut port = NEXT.fetch_add(1, Ordering::SeqCst);
        if port >= high {
            port = low + (port - low) % (high - low);
            NEXT.store(port + 1, Ordering::SeqCst);
        }
        let free_v6 = TcpListener::bind(("::1", port)).is_ok();
        let free_v4 = TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free_v6 && free_v4 {
            return port;
        }
    }
    panic!("no free port on [::1] between {low} and {high}")
}

/// A running `hotpush serve` on `[::1]`, killed on drop.
pub struct Origin {
    pub dir: PathBuf,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub url: String,
    pub port: u16,
    pub child: Option<Child>,
    pub log: PathBuf,
    /// `mirrors.toml` handed to `serve --mirrors`.
    pub mirrors: Option<PathBuf>,
}

impl Origin {
    /// Writes a `hotpush.toml` (with `extra` appended) and starts the service.
    pub fn start(dir: &Path, trusted_key: Option<&Path>, extra: &str) -> Origin {
        Self::start_full(dir, trusted_key, extra, None, None)
    }

    /// Like [`Origin::start`], with partners and a public URL other than the
    /// listener (e.g. a proxy in front of it).
    pub fn start_full(
        dir: &Path,
        trusted_key: Option<&Path>,
        extra: &str,
        mirrors: Option<&Path>,
        public_url: Option<&str>,
    ) -> Origin {
        let port = free_port();
        let data_dir = dir.join("origin-data");
        let url = format!("http://[::1]:{port}");
        let public = public_url.map(str::to_owned).unwrap_or_else(|| url.clone());
        let keys = trusted_key
            .map(|k| format!("trusted_keys = [{:?}]\n", k.display().to_string()))
            .unwrap_or_default();
        let config = dir.join("hotpush.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\nlisten = [\"[::1]:{port}\"]\npublic_url = \"{public}\"\n\n[repos]\nchannel = \"critical\"\nreleases = [\"43\"]\narches = [\"x86_64\", \"aarch64\", \"source\"]\n\n[intake]\n{keys}package_bytes_max = 52428800\n{extra}",
                data_dir.display().to_string()
            ),
        )
        .unwrap();
        let mut origin = Origin {
            dir: dir.to_owned(),
            data_dir,
            config,
            url,
            port,
            child: None,
            log: dir.join("origin.log"),
            mirrors: mirrors.map(Path::to_owned),
        };
        origin.restart();
        origin
    }

    /// Starts (again) the service process and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = hotpush()
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .args(
                self.mirrors
                    .iter()
                    .flat_map(|m| [std::ffi::OsStr::new("--mirrors"), m.as_os_str()]),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready();
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(body) = http_get(&format!("{}/api/v1/status", self.url)) {
                if body.0 == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "origin did not start; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, no cleanup: what a crash looks like.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Issues a token and writes it to a private file; returns the file.
    pub fn token(&self, user: &str, group: &str) -> PathBuf {
        let out = run_ok(
            hotpush()
                .args(["token", "create", "--config"])
                .arg(&self.config)
                .args(["--user", user, "--group", group]),
        );
        let token = String::from_utf8(out.stdout).unwrap();
        let path = self.dir.join(format!("{user}.token"));
        std::fs::write(&path, token.trim()).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(&path, perms).unwrap();
        path
    }

    /// `hotpush push` with the given extra arguments; returns the process output.
    pub fn push(
        &self,
        token: &Path,
        advisory: &str,
        rpms: &[&Path],
        extra: &[&str],
    ) -> std::process::Output {
        let mut cmd = hotpush();
        cmd.arg("push")
            .args(["--server", &self.url, "--token-file"])
            .arg(token)
            .args([
                "--advisory",
                advisory,
                "--severity",
                "critical",
                "--cve",
                "CVE-2026-0001",
                "--summary",
                "Fix for a test hole",
            ])
            .args(extra)
            .args(rpms);
        cmd.output().unwrap()
    }

    pub fn status_json(&self) -> serde_json::Value {
        let (code, body) = http_get(&format!("{}/api/v1/status", self.url)).unwrap();
        assert_eq!(code, 200);
        serde_json::from_slice(&body).unwrap()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking GET on loopback: (status, body).
pub fn http_get(url: &str) -> Result<(u16, Vec<u8>), String> {
    http_get_as(url, None)
}

/// A blocking GET on loopback with the token in `token_file` (the full view of
/// the API, embargoed pushes included): (status, body).
pub fn http_get_with_token(url: &str, token_file: &Path) -> Result<(u16, Vec<u8>), String> {
    let token = std::fs::read_to_string(token_file).map_err(|e| e.to_string())?;
    http_get_as(url, Some(token.trim()))
}

fn http_get_as(url: &str, token: Option<&str>) -> Result<(u16, Vec<u8>), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().get(url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, body.to_vec()))
    })
}

/// The real dnf 4 in a throw-away installroot, with its own dnf.conf and repos.d.
pub struct Dnf {
    pub work: PathBuf,
    pub root: PathBuf,
}

impl Dnf {
    pub fn new(dir: &Path, repo_text: &str) -> Dnf {
        require_tool("dnf");
        let work = dir.join("dnf");
        let root = work.join("root");
        std::fs::create_dir_all(work.join("repos.d")).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            work.join("dnf.conf"),
            "[main]\nskip_if_unavailable=False\ninstall_weak_deps=False\nlogfilelevel=10\n",
        )
        .unwrap();
        std::fs::write(work.join("repos.d/critical.repo"), repo_text).unwrap();
        Dnf { work, root }
    }

    /// Runs `dnf -y <args>` in the installroot; returns (exit code, stdout+stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String) {
        self.run_with_reposdir(&self.work.join("repos.d"), args)
    }

    /// Like [`Dnf::run`], reading `.repo` files from `reposdir` (e.g. the
    /// installroot's own `etc/yum.repos.d`, filled by an installed package).
    pub fn run_with_reposdir(&self, reposdir: &Path, args: &[&str]) -> (i32, String) {
        let out = Command::new("dnf")
            .arg("-y")
            .arg(format!("--installroot={}", self.root.display()))
            .arg(format!("--config={}", self.work.join("dnf.conf").display()))
            .arg(format!("--setopt=reposdir={}", reposdir.display()))
            .arg("--releasever=43")
            .arg("--forcearch=x86_64")
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// Like [`Dnf::run`], failing the test with dnf's output and librepo log on error.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, text) = self.run(args);
        assert!(
            code == 0,
            "dnf {args:?} exited {code}:\n{text}\n--- librepo log tail\n{}",
            self.librepo_tail()
        );
        text
    }

    pub fn librepo_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.root.join("var/log/dnf.librepo.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }

    /// `rpm -q` in the installroot.
    pub fn installed(&self, name: &str) -> Option<String> {
        let out = Command::new("rpm")
            .arg("--root")
            .arg(&self.root)
            .args(["-q", name])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// What a user does for a security fix: `updateinfo list --security`
    /// (after a refresh) must show `advisory` with `nevra`, then
    /// `upgrade --security` must leave package `name` at `nevra`.
    pub fn security_upgrade(&self, advisory: &str, name: &str, nevra: &str) {
        let text = self.ok(&["--refresh", "updateinfo", "list", "--security"]);
        assert!(
            text.contains(advisory) && text.contains(nevra),
            "updateinfo does not show `{advisory}` with `{nevra}`:\n{text}"
        );
        self.ok(&["upgrade", "--security"]);
        assert_eq!(self.installed(name).as_deref(), Some(nevra));
    }

    /// Installs an RPM file directly with rpm (no repo involved), e.g. the
    /// vulnerable version the fix replaces.
    pub fn rpm_install(&self, rpm: &Path) {
        run_ok(
            Command::new("rpm")
                .arg("--root")
                .arg(&self.root)
                .args(["-i", "--nodeps", "--nosignature"])
                .arg(rpm),
        );
    }
}

/// An HTTP proxy on `[::1]` in front of the origin; `fail_pub` makes every
/// `/pub/...` request answer 503 while the metalink and API still pass through,
/// like an origin whose file tree is failing.
pub struct Proxy {
    pub url: String,
    pub port: u16,
    pub fail_pub: std::sync::Arc<std::sync::atomic::AtomicBool>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `port` and forwards to `upstream` (e.g. `http://[::1]:8080`).
    pub fn start(port: u16, upstream: String) -> Proxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        let fail_pub = std::sync::Arc::new(AtomicBool::new(false));
        let flag = fail_pub.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let client = reqwest::Client::new();
                let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                    let client = client.clone();
                    let upstream = upstream.clone();
                    let flag = flag.clone();
                    async move {
                        use axum::response::IntoResponse;
                        let path = req
                            .uri()
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default();
                        if flag.load(Ordering::Relaxed) && path.starts_with("/pub/") {
                            return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "failing\n")
                                .into_response();
                        }
                        match client.get(format!("{upstream}{path}")).send().await {
                            Ok(r) => {
                                let status = r.status().as_u16();
                                let body = r.bytes().await.unwrap_or_default();
                                (axum::http::StatusCode::from_u16(status).unwrap(), body)
                                    .into_response()
                            }
                            Err(_) => (axum::http::StatusCode::BAD_GATEWAY, "origin down\n")
                                .into_response(),
                        }
                    }
                });
                let listener = tokio::net::TcpListener::bind(("::1", port)).await.unwrap();
                ready_tx.send(()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        ready_rx.recv().unwrap();
        Proxy {
            url: format!("http://[::1]:{port}"),
            port,
            fail_pub,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn set_fail_pub(&self, fail: bool) {
        self.fail_pub
            .store(fail, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
