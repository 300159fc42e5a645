//! `hotpush verify` against small repository trees served by an in-process static
//! HTTP server on [::1]: a good host passes; a corrupted data file, a stale repomd
//! and a bad signature each fail, and the report names the host.
use std::path::{Path, PathBuf};
use std::process::Output;

use hotpush::core::metalink::{self, MetalinkDoc, RepomdFacts};
use hotpush::core::signing::RepoKey;
use sha2::{Digest, Sha256};

use crate::common::static_server::StaticServer;
use crate::common::support::hotpush;

/// A hand-made repository: three metadata files and a repomd.xml naming them with
/// sha256 and size, as the repodata builder writes them.
pub(crate) struct Tree {
    pub(crate) files: Vec<(String, Vec<u8>)>,
    pub(crate) repomd: Vec<u8>,
}

impl Tree {
    pub(crate) fn new(revision: u64) -> Tree {
        let mut files = Vec::new();
        let mut records = String::new();
        for kind in ["primary", "filelists", "other"] {
            let bytes = format!(
                "<{kind} revision=\"{revision}\">{}</{kind}>\n",
                "x".repeat(40)
            )
            .into_bytes();
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let href = format!("repodata/{sha256}-{kind}.xml");
            records.push_str(&format!(
                "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{sha256}</checksum>\n    \
                 <open-checksum type=\"sha256\">{sha256}</open-checksum>\n    \
                 <location href=\"{href}\"/>\n    <timestamp>{revision}</timestamp>\n    \
                 <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
                bytes.len(),
                bytes.len()
            ));
            files.push((href, bytes));
        }
        let repomd = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" \
             xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>{revision}</revision>\n{records}</repomd>\n"
        )
        .into_bytes();
        Tree { files, repomd }
    }

    /// Writes the tree under `dir` (which becomes the directory holding `repodata/`).
    pub(crate) fn write(&self, dir: &Path, key: &RepoKey) {
        std::fs::create_dir_all(dir.join("repodata")).unwrap();
        for (href, bytes) in &self.files {
            std::fs::write(dir.join(href), bytes).unwrap();
        }
        std::fs::write(dir.join("repodata/repomd.xml"), &self.repomd).unwrap();
        let asc = key.sign_detached(&self.repomd).unwrap();
        std::fs::write(dir.join("repodata/repomd.xml.asc"), asc).unwrap();
    }
}

const REPO_PATH: &str = "pub/critical/43/x86_64";

/// Origin plus partners, each its own server; the origin also serves the key and
/// the metalink.
struct Fixture {
    _tmp: tempfile::TempDir,
    roots: Vec<PathBuf>,
    servers: Vec<StaticServer>,
    key: RepoKey,
    tree: Tree,
}

impl Fixture {
    fn new(hosts: usize) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let key = RepoKey::generate("hotpush test <test@example.invalid>").unwrap();
        let tree = Tree::new(2);
        let mut roots = Vec::new();
        let mut servers = Vec::new();
        for index in 0..hosts {
            let root = tmp.path().join(format!("host{index}"));
            tree.write(&root.join(REPO_PATH), &key);
            servers.push(StaticServer::start(&root));
            roots.push(root);
        }
        std::fs::create_dir_all(roots[0].join("keys")).unwrap();
        std::fs::write(roots[0].join("keys/repo.asc"), key.armored_public()).unwrap();
        let fixture = Fixture {
            _tmp: tmp,
            roots,
            servers,
            key,
            tree,
        };
        fixture.write_metalink(&[]);
        fixture
    }

    fn repomd_url(&self, host: usize) -> String {
        format!(
            "{}/{REPO_PATH}/repodata/repomd.xml",
            self.servers[host].base_url
        )
    }

    fn write_metalink(&self, alternates: &[RepomdFacts]) {
        let urls: Vec<String> = (0..self.servers.len())
            .map(|i| self.repomd_url(i))
            .collect();
        let text = metalink::render(&MetalinkDoc {
            repomd: &RepomdFacts::of(&self.tree.repomd, 2),
            alternates,
            urls: &urls,
            pubdate_unix: 1_767_225_600,
        });
        std::fs::write(self.roots[0].join("metalink.xml"), text).unwrap();
    }

    fn metalink_url(&self) -> String {
        format!(
            "{}/metalink.xml?repo=critical-f43&arch=x86_64",
            self.servers[0].base_url
        )
    }

    fn verify(&self, extra: &[&str]) -> Output {
        hotpush()
            .args(["verify", "--metalink", &self.metalink_url()])
            .args(extra)
            .output()
            .unwrap()
    }
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The report line for `host`, asserting there is exactly one.
fn line_for<'a>(lines: &'a [String], url: &str) -> &'a str {
    let matching: Vec<&String> = lines.iter().filter(|l| l.contains(url)).collect();
    assert_eq!(matching.len(), 1, "one line for {url} in {lines:#?}");
    matching[0]
}

#[test]
fn verify_passes_when_every_host_is_good_with_fetched_and_given_key() {
    let fx = Fixture::new(2);
    let out = fx.verify(&[]);
    assert!(out.status.success(), "{}", describe(&out));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2, "{}", describe(&out));
    for host in 0..2 {
        let line = line_for(&lines, &fx.repomd_url(host));
        assert!(line.starts_with("OK "), "{line}");
        assert!(line.contains("3 files"), "{line}");
    }
    // Document order is kept in the report: origin first.
    assert!(lines[0].contains(&fx.repomd_url(0)));

    let key_file = fx.roots[0].join("given.asc");
    std::fs::write(&key_file, fx.key.armored_public()).unwrap();
    let out = fx.verify(&["--key", key_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn verify_names_the_host_with_a_corrupted_data_file() {
    let fx = Fixture::new(3);
    let (href, bytes) = &fx.tree.files[1];
    let mut corrupted = bytes.clone();
    corrupted[5] ^= 0x20;
    std::fs::write(fx.roots[2].join(REPO_PATH).join(href), corrupted).unwrap();

    let out = fx.verify(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let lines = stdout_lines(&out);
    assert!(line_for(&lines, &fx.repomd_url(0)).starts_with("OK "));
    assert!(line_for(&lines, &fx.repomd_url(1)).starts_with("OK "));
    let bad = line_for(&lines, &fx.repomd_url(2));
    assert!(bad.starts_with("FAIL "), "{bad}");
    assert!(
        bad.contains(href.as_str()),
        "the line names the file: {bad}"
    );
    assert!(bad.contains("sha256"), "{bad}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 of 3 hosts"),
        "{}",
        describe(&out)
    );
}

#[test]
fn verify_reports_missing_and_truncated_files() {
    let fx = Fixture::new(2);
    let (href0, _) = &fx.tree.files[0];
    std::fs::remove_file(fx.roots[1].join(REPO_PATH).join(href0)).unwrap();
    let (href2, bytes2) = &fx.tree.files[2];
    std::fs::write(fx.roots[1].join(REPO_PATH).join(href2), &bytes2[..10]).unwrap();

    let out = fx.verify(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let lines = stdout_lines(&out);
    let bad = line_for(&lines, &fx.repomd_url(1));
    assert!(bad.contains(href0.as_str()) && bad.contains("404"), "{bad}");
    assert!(
        bad.contains(href2.as_str()) && bad.contains("10 bytes"),
        "{bad}"
    );
}

#[test]
fn verify_names_a_host_with_a_stale_repomd() {
    let fx = Fixture::new(2);
    // Host 1 still serves revision 1, correctly signed and complete.
    let old = Tree::new(1);
    let dir = fx.roots[1].join(REPO_PATH);
    std::fs::remove_dir_all(&dir).unwrap();
    old.write(&dir, &fx.key);

    let out = fx.verify(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let lines = stdout_lines(&out);
    assert!(line_for(&lines, &fx.repomd_url(0)).starts_with("OK "));
    let bad = line_for(&lines, &fx.repomd_url(1));
    assert!(bad.starts_with("FAIL ") && bad.contains("stale"), "{bad}");

    // Listed as an alternate, the report says which older repomd it is.
    fx.write_metalink(&[RepomdFacts::of(&old.repomd, 1)]);
    let out = fx.verify(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let bad = line_for(&stdout_lines(&out), &fx.repomd_url(1)).to_owned();
    assert!(bad.contains("alternate (timestamp 1)"), "{bad}");
}

#[test]
fn verify_names_a_host_with_a_bad_or_missing_signature() {
    let fx = Fixture::new(3);
    // Host 1: signed by another key. Host 2: no .asc at all.
    let other = RepoKey::generate("intruder <x@example.invalid>").unwrap();
    std::fs::write(
        fx.roots[1].join(REPO_PATH).join("repodata/repomd.xml.asc"),
        other.sign_detached(&fx.tree.repomd).unwrap(),
    )
    .unwrap();
    std::fs::remove_file(fx.roots[2].join(REPO_PATH).join("repodata/repomd.xml.asc")).unwrap();

    let out = fx.verify(&[]);
    eprintln!("{}", describe(&out));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let lines = stdout_lines(&out);
    assert!(line_for(&lines, &fx.repomd_url(0)).starts_with("OK "));
    let bad = line_for(&lines, &fx.repomd_url(1));
    assert!(
        bad.contains("repomd.xml.asc") && bad.contains("bad signature"),
        "{bad}"
    );
    assert!(
        bad.contains(&other.fingerprint()),
        "names the signing key: {bad}"
    );
    let missing = line_for(&lines, &fx.repomd_url(2));
    assert!(
        missing.contains("repomd.xml.asc") && missing.contains("404"),
        "{missing}"
    );
}

#[test]
fn verify_refuses_an_unknown_repo_and_an_unreachable_origin() {
    let fx = Fixture::new(1);
    std::fs::write(
        fx.roots[0].join("metalink.xml"),
        metalink::render_not_found("critical-f99", "x86_64"),
    )
    .unwrap();
    let out = fx.verify(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("repomd.xml"),
        "{}",
        describe(&out)
    );

    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = hotpush()
        .args([
            "verify",
            "--metalink",
            &format!("http://[::1]:{port}/metalink"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot fetch the metalink") && stderr.contains("hint:"),
        "{stderr}"
    );
}

/// A partner whose HTTPS public URL has a self-signed certificate: the system
/// CA store does not trust it, `--ca-file` with that certificate does.
#[test]
fn verify_trusts_a_partner_certificate_given_with_ca_file() {
    use crate::common::fixtures::{build_rpm, Gpg, Origin};
    use crate::common::partner::Receiver;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let partner = Receiver::start();
    let https_public = format!("{}/pub", partner.push_url);
    let mirrors = dir.join("mirrors.toml");
    std::fs::write(
        &mirrors,
        format!(
            "[[mirror]]\nname = \"partner-tls\"\npublic_url = \"{https_public}\"\nmethod = \"https\"\npush_url = \"{}\"\nsecret_file = {:?}\nca_file = {:?}\n",
            partner.push_url,
            partner.secret_file.display().to_string(),
            partner.cert().display().to_string()
        ),
    )
    .unwrap();
    let origin = Origin::start_full(dir, Some(&gpg.public_key), "", Some(&mirrors), None);
    let token = origin.token("alice", "security");
    let rpm = build_rpm(dir, "hello", "1.0", "1", "noarch");
    gpg.sign(&rpm);
    let out = origin.push(&token, "CRIT-1", &[&rpm], &["--timeout-secs", "60"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metalink = format!("{}/metalink?repo=critical-f43&arch=x86_64", origin.url);
    let partner_repomd = format!("{https_public}/critical/43/x86_64/repodata/repomd.xml");

    let out = hotpush()
        .args(["verify", "--metalink", &metalink])
        .output()
        .unwrap();
    let lines = stdout_lines(&out);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let line = line_for(&lines, &partner_repomd);
    assert!(
        line.starts_with("FAIL") && line.contains("UnknownIssuer"),
        "{line}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--ca-file FILE"),
        "{}",
        describe(&out)
    );

    let out = hotpush()
        .args(["verify", "--metalink", &metalink, "--ca-file"])
        .arg(partner.cert())
        .output()
        .unwrap();
    let lines = stdout_lines(&out);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        line_for(&lines, &partner_repomd).starts_with("OK"),
        "{lines:?}"
    );

    // A CA file that holds no certificate is named, not ignored.
    let bogus = dir.join("bogus.pem");
    std::fs::write(&bogus, "not a certificate\n").unwrap();
    let out = hotpush()
        .args(["verify", "--metalink", &metalink, "--ca-file"])
        .arg(&bogus)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bogus.pem") && err.contains("holds no PEM certificate"),
        "{err}"
    );
}
