//! Partner-side fixtures: a real `hotpush receive` on loopback, a throw-away
//! OpenPGP repo signer, revisions built by the real createrepo_c, fan-out options,
//! and the small process helpers (`KillOnDrop`, `poll`, `write_secret`).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hotpush::core::protocol;
use hotpush::origin::mirrors::{Mirror, PushMethod};
use hotpush::origin::sync::{FanoutOptions, RepoRevision, TreeFile};

use crate::common::support;

/// Kills and reaps a child process when dropped.
pub(crate) struct KillOnDrop(pub(crate) Option<Child>);

impl KillOnDrop {
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn write_secret(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub(crate) fn poll<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `hotpush receive` on free loopback ports.
pub(crate) struct Receiver {
    pub(crate) process: KillOnDrop,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) push_url: String,
    pub(crate) public_url: String,
    pub(crate) secret_file: PathBuf,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        Self::start_with_config("")
    }

    /// Like [`Receiver::start`], with `receive.toml` keys (e.g. the
    /// connection limits) passed through `--config`.
    pub(crate) fn start_with_config(toml: &str) -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("receive.toml");
        std::fs::write(&config, toml).unwrap();
        let secret_file = dir.path().join("secret");
        write_secret(
            &secret_file,
            &format!("test-secret-{}\n", protocol::new_nonce()),
        );
        let data = dir.path().join("data");
        let child = support::hotpush()
            .args([
                "receive",
                "--listen",
                "[::1]:0",
                "--public-listen",
                "[::1]:0",
                "--secret-file",
            ])
            .arg(&secret_file)
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hotpush receive");
        let mut process = KillOnDrop(Some(child));
        let listening = poll("the receiver to listen", Duration::from_secs(20), || {
            if let Some(status) = process.0.as_mut().unwrap().try_wait().unwrap() {
                panic!("hotpush receive exited early with {status}");
            }
            std::fs::read_to_string(data.join("listening")).ok()
        });
        let url = |kind: &str| {
            listening
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{kind} ")))
                .unwrap_or_else(|| panic!("no {kind} line in {listening:?}"))
                .to_string()
        };
        let push_url = url("push");
        assert!(push_url.starts_with("https://[::1]:"), "{push_url}");
        let public_url = format!("{}/pub", url("public"));
        Receiver {
            process,
            dir,
            push_url,
            public_url,
            secret_file,
        }
    }

    pub(crate) fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub(crate) fn cert(&self) -> PathBuf {
        self.data().join("tls/cert.pem")
    }

    /// The mirror entry the origin would have; `public_url` is the HTTPS listener's `/pub`.
    pub(crate) fn mirror(&self, name: &str) -> Mirror {
        Mirror {
            name: name.into(),
            public_url: format!("{}/pub", self.push_url),
            method: PushMethod::Https,
            push_url: self.push_url.clone(),
            secret_file: self.secret_file.clone(),
            ca_file: Some(self.cert()),
            known_hosts_file: None,
            weight: 1,
        }
    }

    /// The `mirrors.toml` entry for this receiver as an https partner serving
    /// clients from its plain-HTTP `public_url`, with a blank line after it.
    pub(crate) fn mirror_toml(&self, name: &str) -> String {
        format!(
            "[[mirror]]\nname = \"{name}\"\npublic_url = \"{}\"\nmethod = \"https\"\npush_url = \"{}\"\nsecret_file = {:?}\nca_file = {:?}\n\n",
            self.public_url,
            self.push_url,
            self.secret_file.display().to_string(),
            self.cert().display().to_string()
        )
    }

    /// sha256 of every file in the served tree.
    pub(crate) fn tree(&self) -> BTreeMap<String, String> {
        snapshot(&self.data().join("pub"))
    }
}

pub(crate) fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, protocol::sha256_hex(&std::fs::read(&path).unwrap()));
            }
        }
    }
    files
}

/// A throw-away OpenPGP key in its own GNUPGHOME that signs repomd.xml like the origin.
pub(crate) struct Signer {
    home: tempfile::TempDir,
    pub(crate) public_key: String,
}

impl Signer {
    pub(crate) fn new() -> Signer {
        support::require_tool("gpg");
        let home = tempfile::tempdir().unwrap();
        let gpg = |args: &[&str]| {
            support::run_ok(
                Command::new("gpg")
                    .env("GNUPGHOME", home.path())
                    .args([
                        "--batch",
                        "--quiet",
                        "--pinentry-mode",
                        "loopback",
                        "--passphrase",
                        "",
                    ])
                    .args(args),
            )
        };
        gpg(&[
            "--quick-gen-key",
            "hotpush test repo <repo@example.invalid>",
            "ed25519",
            "sign",
            "never",
        ]);
        let public_key = String::from_utf8(gpg(&["--armor", "--export"]).stdout).unwrap();
        assert!(public_key.contains("BEGIN PGP PUBLIC KEY BLOCK"));
        Signer { home, public_key }
    }

    pub(crate) fn sign(&self, data: &[u8]) -> Vec<u8> {
        let file = self.home.path().join("data");
        std::fs::write(&file, data).unwrap();
        let _ = std::fs::remove_file(self.home.path().join("data.asc"));
        support::run_ok(
            Command::new("gpg")
                .env("GNUPGHOME", self.home.path())
                .args([
                    "--batch",
                    "--quiet",
                    "--pinentry-mode",
                    "loopback",
                    "--passphrase",
                    "",
                    "--armor",
                    "--detach-sign",
                ])
                .arg(&file),
        );
        std::fs::read(self.home.path().join("data.asc")).unwrap()
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// A repo directory built by the real createrepo_c from some of the shared RPMs,
/// turned into a [`RepoRevision`] signed by `signer`.
pub(crate) fn build_revision(
    work: &Path,
    rpm_names: &[&str],
    repo_path: &str,
    revision: u64,
    signer: &Signer,
) -> RepoRevision {
    support::require_tool("createrepo_c");
    let repo = work.join(format!("{}-rev{revision}", repo_path.replace('/', "_")));
    for name in rpm_names {
        let dest = repo
            .join("Packages")
            .join(name[..1].to_lowercase())
            .join(name);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(support::real_rpms().join("createrepo_c").join(name), &dest).unwrap();
    }
    std::fs::create_dir_all(&repo).unwrap();
    support::run_ok(
        Command::new("createrepo_c")
            .args(["--quiet", "--no-database", "--revision"])
            .arg(revision.to_string())
            .arg(&repo),
    );
    let repomd = std::fs::read(repo.join("repodata/repomd.xml")).unwrap();
    let files = snapshot(&repo)
        .into_iter()
        .filter(|(path, _)| path != "repodata/repomd.xml")
        .map(|(path, sha256)| {
            let source = repo.join(&path);
            TreeFile {
                size: std::fs::metadata(&source).unwrap().len(),
                path,
                sha256,
                source,
            }
        })
        .collect();
    RepoRevision {
        repomd_key: Vec::new(),
        repo_path: repo_path.into(),
        revision,
        files,
        repomd_asc: signer.sign(&repomd),
        repomd,
    }
}

pub(crate) fn options(signer: &Signer, deadline: Duration) -> FanoutOptions {
    FanoutOptions {
        deadline,
        repo_public_key: signer.public_key.clone(),
        attempts_max: 3,
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..FanoutOptions::default()
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
