//! The `rsync` push method against a real `sshd` on loopback, confined with
//! `rrsync` as `docs/partner-rsync.md` tells partners to, mixed with `https`
//! receivers in one fan-out.
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use hotpush::origin::mirrors::{Mirror, PushMethod};
use hotpush::origin::sync::{fanout, FanoutOptions};

use crate::common::partner::{build_revision, options, runtime, snapshot, Receiver, Signer};
use crate::common::sshd::Sshd;
use crate::common::support;

fn rsync_mirror(sshd: &Sshd, public_url: &str, key: PathBuf) -> Mirror {
    Mirror {
        name: "partner-rsync".into(),
        public_url: public_url.into(),
        method: PushMethod::Rsync,
        push_url: format!("ssh://{}@[::1]:{}/", sshd.user, sshd.port),
        secret_file: key,
        ca_file: None,
        known_hosts_file: None,
        weight: 1,
    }
}

#[test]
fn fanout_to_two_receivers_and_an_rsync_partner_verifies_all_three() {
    let signer = Signer::new();
    let work = tempfile::tempdir().unwrap();
    let a = Receiver::start();
    let b = Receiver::start();
    // The rsync partner's web server: a receiver's plain-HTTP `/pub` over the directory rsync writes.
    let c = Receiver::start();
    let tree = c.data().join("pub");
    let sshd = Sshd::start(&tree);
    let ssh_state = tempfile::tempdir().unwrap();
    let mirrors = vec![
        a.mirror("a"),
        b.mirror("b"),
        rsync_mirror(&sshd, &c.public_url, sshd.client_key()),
    ];
    let revisions = vec![
        build_revision(
            work.path(),
            &["Archer-3.4.5-6.x86_64.rpm"],
            "critical/43/x86_64",
            1,
            &signer,
        ),
        build_revision(
            work.path(),
            &["fake_bash-1.1.1-1.x86_64.rpm"],
            "critical/43/aarch64",
            1,
            &signer,
        ),
    ];
    let opts = FanoutOptions {
        ssh_state_dir: Some(ssh_state.path().to_path_buf()),
        ..options(&signer, Duration::from_secs(30))
    };
    let outcomes = runtime().block_on(fanout(&mirrors, &revisions, &opts));
    for outcome in &outcomes {
        assert!(outcome.verified, "{outcomes:#?}");
    }
    let held = snapshot(&tree);
    for revision in &revisions {
        for file in &revision.files {
            assert_eq!(
                held.get(&format!("{}/{}", revision.repo_path, file.path)),
                Some(&file.sha256),
                "{}",
                file.path
            );
        }
    }
    assert!(
        held.keys().all(|p| !p.contains("~tmp~")),
        "rsync left temp files: {held:?}"
    );
    let known_hosts =
        std::fs::read_to_string(ssh_state.path().join("known_hosts-partner-rsync")).unwrap();
    assert!(known_hosts.contains("ssh-ed25519"), "{known_hosts}");

    // Revision 2 adds a package; revision 1's files stay (no --delete).
    let rev2 = build_revision(
        work.path(),
        &["Archer-3.4.5-6.x86_64.rpm", "Rimmer-1.0.2-2.x86_64.rpm"],
        "critical/43/x86_64",
        2,
        &signer,
    );
    let outcomes = runtime().block_on(fanout(&mirrors[2..], std::slice::from_ref(&rev2), &opts));
    assert!(outcomes[0].verified, "{outcomes:#?}");
    let after = snapshot(&tree);
    for (path, sha) in &held {
        if !path.ends_with("repomd.xml") && !path.ends_with("repomd.xml.asc") {
            assert_eq!(after.get(path), Some(sha), "{path} was removed or changed");
        }
    }
    assert_eq!(
        after["critical/43/x86_64/repodata/repomd.xml"],
        hotpush::core::protocol::sha256_hex(&rev2.repomd)
    );
}

#[test]
fn rsync_partner_refusing_the_key_is_not_verified_and_keeps_its_tree() {
    let signer = Signer::new();
    let work = tempfile::tempdir().unwrap();
    let c = Receiver::start();
    let tree = c.data().join("pub");
    let sshd = Sshd::start(&tree);
    // A key the partner never authorized.
    let stranger = sshd.dir.path().join("stranger_key");
    support::run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&stranger),
    );
    let ssh_state = tempfile::tempdir().unwrap();
    let rev = build_revision(
        work.path(),
        &["Archer-3.4.5-6.x86_64.rpm"],
        "critical/43/x86_64",
        1,
        &signer,
    );
    let opts = FanoutOptions {
        ssh_state_dir: Some(ssh_state.path().to_path_buf()),
        ..options(&signer, Duration::from_secs(10))
    };
    let outcomes = runtime().block_on(fanout(
        &[rsync_mirror(&sshd, &c.public_url, stranger)],
        std::slice::from_ref(&rev),
        &opts,
    ));
    assert!(!outcomes[0].verified, "{outcomes:#?}");
    assert_eq!(outcomes[0].stage, "data");
    assert!(
        outcomes[0]
            .error
            .as_deref()
            .unwrap()
            .contains("rsync data pass"),
        "{outcomes:#?}"
    );
    assert!(snapshot(&tree).is_empty());
}
