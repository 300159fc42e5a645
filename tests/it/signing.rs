//! The repo-signing key against the real gpg 2.2 and the real dnf 4 / librepo
//! (gpgme): signatures made by `RepoKey` verify with `gpg --verify` and with
//! `repo_gpgcheck=1`, tampering is caught, and keys round-trip through armor.
use std::path::Path;
use std::process::Command;

use hotpush::core::metalink::{self, MetalinkDoc, RepomdFacts};
use hotpush::core::signing::{verify_detached, RepoKey};

use crate::support::{require_tool, run_ok, shared_dir};
use crate::verify::StaticServer;

/// Runs gpg with its own home directory; returns (success, status-fd output, stderr).
fn gpg(home: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(["--batch", "--no-tty", "--status-fd", "1"])
        .args(args)
        .output()
        .expect("run gpg");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn gpg_home(tmp: &Path) -> std::path::PathBuf {
    let home = tmp.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    home
}

/// Stops the gpg-agent a test's home started, so no process outlives the test.
struct AgentGuard<'a>(&'a Path);

impl Drop for AgentGuard<'_> {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.0)
            .args(["--kill", "all"])
            .output();
    }
}

#[test]
fn generated_keys_are_distinct_v4_ed25519_keys() {
    let key = RepoKey::generate("hotpush repository key <security@example.invalid>").unwrap();
    let other = RepoKey::generate("hotpush repository key <security@example.invalid>").unwrap();
    assert_eq!(
        key.fingerprint().len(),
        40,
        "a v4 fingerprint is 40 hex digits"
    );
    assert_ne!(key.fingerprint(), other.fingerprint());
}

#[test]
fn gpg_verifies_our_signature_and_rejects_a_tampered_file() {
    require_tool("gpg");
    let tmp = tempfile::tempdir().unwrap();
    let home = gpg_home(tmp.path());
    let _agent = AgentGuard(&home);
    let key = RepoKey::generate("hotpush test <test@example.invalid>").unwrap();
    let repomd = std::fs::read(
        shared_dir().join("testdata/real-rpms/expected/createrepo_c-0.17.3/repomd.xml"),
    )
    .expect("the shared golden repomd.xml");
    let asc = key.sign_detached(&repomd).unwrap();
    std::fs::write(tmp.path().join("repo.asc"), key.armored_public()).unwrap();
    std::fs::write(tmp.path().join("repomd.xml"), &repomd).unwrap();
    std::fs::write(tmp.path().join("repomd.xml.asc"), &asc).unwrap();
    let path = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();

    let (ok, status, stderr) = gpg(&home, &["--import", &path("repo.asc")]);
    assert!(ok, "gpg --import failed: {status}{stderr}");
    assert!(
        status.contains(&format!("IMPORT_OK 1 {}", key.fingerprint())),
        "{status}"
    );

    let (ok, status, stderr) = gpg(
        &home,
        &["--verify", &path("repomd.xml.asc"), &path("repomd.xml")],
    );
    assert!(ok, "gpg --verify failed: {status}{stderr}");
    assert!(stderr.contains("Good signature"), "{stderr}");
    // VALIDSIG <fingerprint> ... : the signature is by exactly our key.
    assert!(
        status.contains(&format!("VALIDSIG {}", key.fingerprint())),
        "{status}"
    );

    let mut tampered = repomd.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    std::fs::write(tmp.path().join("repomd.xml"), &tampered).unwrap();
    let (ok, status, _) = gpg(
        &home,
        &["--verify", &path("repomd.xml.asc"), &path("repomd.xml")],
    );
    assert!(!ok, "gpg accepted a tampered repomd.xml");
    assert!(status.contains("BADSIG"), "{status}");
    assert!(verify_detached(&key.armored_public(), &tampered, &asc).is_err());
}

#[test]
fn armored_secret_round_trip_keeps_signing_with_the_same_key() {
    let key = RepoKey::generate("round trip <rt@example.invalid>").unwrap();
    let secret = key.armored_secret();
    assert!(
        secret.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"),
        "{secret}"
    );
    let public = key.armored_public();
    assert!(
        public.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "{public}"
    );
    assert!(!public.contains("PRIVATE"));

    let loaded = RepoKey::from_armored_secret(&secret).unwrap();
    assert_eq!(loaded.fingerprint(), key.fingerprint());
    assert_eq!(loaded.armored_public(), public);
    let data = b"<repomd>revision 7</repomd>\n";
    let sig = loaded.sign_detached(data).unwrap();
    verify_detached(&public, data, &sig).unwrap();
    let mut tampered = data.to_vec();
    tampered[3] ^= 0x01;
    assert!(verify_detached(&public, &tampered, &sig).is_err());
    // Two signatures of the same data both verify (they need not be identical).
    verify_detached(&public, data, &key.sign_detached(data).unwrap()).unwrap();
}

#[test]
fn a_gpg_made_key_loads_and_its_signatures_verify_in_gpg() {
    require_tool("gpg");
    let tmp = tempfile::tempdir().unwrap();
    let home = gpg_home(tmp.path());
    let _agent = AgentGuard(&home);
    let uid = "gpg made <gpg@example.invalid>";
    let (ok, status, stderr) = gpg(
        &home,
        &[
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "ed25519",
            "sign",
            "never",
        ],
    );
    assert!(ok, "gpg --quick-gen-key failed: {status}{stderr}");
    let exported = Command::new("gpg")
        .arg("--homedir")
        .arg(&home)
        .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
        .args(["--armor", "--export-secret-keys", uid])
        .output()
        .unwrap();
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let key = RepoKey::from_armored_secret(&String::from_utf8(exported.stdout).unwrap())
        .expect("load a gpg-exported unprotected Ed25519 key");

    let data = b"signed by a key gpg made\n";
    std::fs::write(tmp.path().join("data"), data).unwrap();
    std::fs::write(
        tmp.path().join("data.asc"),
        key.sign_detached(data).unwrap(),
    )
    .unwrap();
    let path = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let (ok, status, stderr) = gpg(&home, &["--verify", &path("data.asc"), &path("data")]);
    assert!(ok, "{status}{stderr}");
    assert!(
        status.contains(&format!("VALIDSIG {}", key.fingerprint())),
        "{status}"
    );
}

/// The real dnf 4 (librepo + gpgme) loads a repo through our metalink with
/// `repo_gpgcheck=1` and our Ed25519 key, and refuses it when the .asc is from
/// another key.
#[test]
fn dnf_accepts_our_key_and_metalink_with_repo_gpgcheck() {
    require_tool("dnf");
    require_tool("createrepo_c");
    let harness = shared_dir().join("tools/dnf-harness.sh");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("www");
    let repo = root.join("pub/critical/43/x86_64");
    std::fs::create_dir_all(&repo).unwrap();
    run_ok(
        Command::new("createrepo_c")
            .args(["--no-database", "--quiet"])
            .arg(&repo),
    );
    let repomd = std::fs::read(repo.join("repodata/repomd.xml")).unwrap();
    let key = RepoKey::generate("hotpush dnf test <dnf@example.invalid>").unwrap();
    std::fs::write(
        repo.join("repodata/repomd.xml.asc"),
        key.sign_detached(&repomd).unwrap(),
    )
    .unwrap();
    let key_file = tmp.path().join("RPM-GPG-KEY-hotpush");
    std::fs::write(&key_file, key.armored_public()).unwrap();

    let server = StaticServer::start(&root);
    // The first URL is a closed port: dnf must fail over in document order.
    let closed = std::net::TcpListener::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let urls = vec![
        format!("http://[::1]:{closed}/pub/critical/43/x86_64/repodata/repomd.xml"),
        format!(
            "{}/pub/critical/43/x86_64/repodata/repomd.xml",
            server.base_url
        ),
    ];
    let doc = metalink::render(&MetalinkDoc {
        repomd: &RepomdFacts::of(&repomd, 1),
        alternates: &[],
        urls: &urls,
        pubdate_unix: 1_767_225_600,
    });
    std::fs::write(root.join("metalink.xml"), doc).unwrap();
    let metalink_url = format!("{}/metalink.xml", server.base_url);

    let run_dnf = || {
        Command::new("bash")
            .arg(&harness)
            .args(["--metalink", &metalink_url, "--gpgkey"])
            .arg(&key_file)
            .arg("--no-gpgcheck")
            .output()
            .unwrap()
    };
    let out = run_dnf();
    assert!(
        out.status.success(),
        "dnf makecache with repo_gpgcheck=1 failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("dnf-harness: OK"));

    let other = RepoKey::generate("intruder <x@example.invalid>").unwrap();
    std::fs::write(
        repo.join("repodata/repomd.xml.asc"),
        other.sign_detached(&repomd).unwrap(),
    )
    .unwrap();
    let out = run_dnf();
    assert!(
        !out.status.success(),
        "dnf accepted a signature by another key"
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("GPG") || all.contains("signature"), "{all}");
}
