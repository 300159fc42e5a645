//! A throw-away `sshd` on `[::1]` confined with `rrsync`, as
//! `docs/partner-rsync.md` tells partners to set one up.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::partner::{poll, KillOnDrop};
use crate::common::support;

/// A throw-away `sshd` on `[::1]` that lets one generated key run `rrsync DIR`.
pub(crate) struct Sshd {
    _process: KillOnDrop,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
    pub(crate) user: String,
}

impl Sshd {
    pub(crate) fn start(rrsync_dir: &Path) -> Sshd {
        for tool in ["/usr/sbin/sshd", "ssh-keygen", "rsync", "rrsync"] {
            support::require_tool(tool);
        }
        let dir = tempfile::tempdir().unwrap();
        let keygen = |file: &Path| {
            support::run_ok(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", "hotpush-test", "-f"])
                    .arg(file),
            );
        };
        keygen(&dir.path().join("host_key"));
        keygen(&dir.path().join("client_key"));
        let client_pub = std::fs::read_to_string(dir.path().join("client_key.pub")).unwrap();
        let rrsync = String::from_utf8(
            support::run_ok(Command::new("sh").args(["-c", "command -v rrsync"])).stdout,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("authorized_keys"),
            format!(
                "command=\"{} -wo -no-del {}\",restrict {}",
                rrsync.trim(),
                rrsync_dir.display(),
                client_pub
            ),
        )
        .unwrap();
        let user = String::from_utf8(support::run_ok(Command::new("id").arg("-un")).stdout)
            .unwrap()
            .trim()
            .to_string();
        let port = std::net::TcpListener::bind("[::1]:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "Port {port}\nListenAddress ::1\nHostKey {host}\nPidFile {pid}\nAuthorizedKeysFile {keys}\nStrictModes no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n\
             LogLevel ERROR\n",
            host = dir.path().join("host_key").display(),
            pid = dir.path().join("sshd.pid").display(),
            keys = dir.path().join("authorized_keys").display(),
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        // sshd wants its privilege-separation directory even when run by hand.
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(dir.path().join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        let mut process = KillOnDrop(Some(child));
        poll("sshd to listen", Duration::from_secs(10), || {
            if let Some(status) = process.0.as_mut().unwrap().try_wait().unwrap() {
                panic!("sshd exited early with {status}");
            }
            std::net::TcpStream::connect(("::1", port)).ok()
        });
        Sshd {
            _process: process,
            dir,
            port,
            user,
        }
    }

    pub(crate) fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }
}
