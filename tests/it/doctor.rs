//! `hotpush doctor` against real files and real listeners: a configuration with a
//! missing trusted key and partners on closed ports gives FAIL lines naming them
//! and exit 1; a healthy origin with a running `hotpush receive` partner passes.
use std::path::Path;
use std::process::Output;

use crate::common::fixtures::{free_port, Gpg, Origin};
use crate::common::partner::{write_secret, Receiver};
use crate::common::support::hotpush;

fn doctor(config: &Path, mirrors: &Path) -> (Output, String) {
    let out = hotpush()
        .args(["doctor", "--config"])
        .arg(config)
        .arg("--mirrors")
        .arg(mirrors)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}

#[test]
fn missing_key_and_closed_partner_ports_fail_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = dir.join("hotpush.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[intake]\ntrusted_keys = [\"keys/distro-missing.asc\"]\n",
    )
    .unwrap();
    write_secret(&dir.join("secret"), "0123456789abcdef0123456789abcdef\n");
    // Ports that nothing listens on: bound once, then released.
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let v4 = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mirrors = dir.join("mirrors.toml");
    std::fs::write(
        &mirrors,
        format!(
            "[[mirror]]\nname = \"partner-down\"\npublic_url = \"http://[::1]:{p1}/pub\"\nmethod = \"https\"\npush_url = \"https://[::1]:{p2}\"\nsecret_file = \"secret\"\n\n\
             [[mirror]]\nname = \"partner-v4\"\npublic_url = \"http://127.0.0.1:{v4}/pub\"\nmethod = \"rsync\"\npush_url = \"ssh://mirror@[::1]:{p3}/srv\"\nsecret_file = \"secret\"\n"
        ),
    )
    .unwrap();
    let (out, text) = doctor(&config, &mirrors);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(line(&text, "ok   config ").contains("loaded"), "{text}");
    let key = line(&text, "FAIL trusted key ");
    assert!(key.contains("keys/distro-missing.asc"), "{key}");
    assert!(key.contains("fix:"), "{key}");
    let push = line(
        &text,
        &format!("FAIL partner partner-down push_url [::1]:{p2}"),
    );
    assert!(push.contains("IPv6 unreachable"), "{push}");
    let public = line(
        &text,
        &format!("FAIL partner partner-down public_url [::1]:{p1}"),
    );
    assert!(public.contains("fix: start the partner"), "{public}");
    line(
        &text,
        &format!("FAIL partner partner-v4 push_url [::1]:{p3}"),
    );
    let v4line = line(
        &text,
        &format!("FAIL partner partner-v4 public_url 127.0.0.1:{v4}"),
    );
    assert!(v4line.contains("IPv4 unreachable"), "{v4line}");
    // The rsync partner has no HTTP clock to compare; the https one cannot be reached.
    assert!(!text.contains("partner-v4 clock"), "{text}");
    line(&text, "warn partner partner-down clock");
    assert!(
        text.trim_end().ends_with("FAIL"),
        "no summary line:\n{text}"
    );
}

#[test]
fn healthy_origin_and_partner_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let partner = Receiver::start();
    let mirrors = dir.join("mirrors.toml");
    std::fs::write(&mirrors, partner.mirror_toml("partner-a")).unwrap();
    // Starting the origin once creates the data directory and the repo key.
    let origin = Origin::start_full(dir, Some(&gpg.public_key), "", Some(&mirrors), None);
    let (out, text) = doctor(&origin.config, &mirrors);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("FAIL "), "{text}");
    assert!(
        line(&text, "ok   repo-signing key ").contains("does not expire"),
        "{text}"
    );
    assert!(
        line(&text, "ok   trusted key ").contains("does not expire"),
        "{text}"
    );
    line(&text, "ok   data dir ");
    let push_port = partner.push_url.rsplit(':').next().unwrap();
    let reach = line(
        &text,
        &format!("ok   partner partner-a push_url [::1]:{push_port}"),
    );
    assert!(
        reach.contains("IPv6 [::1]:") && reach.contains("reachable"),
        "{reach}"
    );
    line(&text, "ok   partner partner-a public_url ");
    let clock = line(&text, "ok   partner partner-a clock");
    assert!(clock.contains(" s off"), "{clock}");
}
