//! `hotpush advisory list` and `hotpush advisory show ID` against a real
//! `hotpush serve`: state, packages and where the advisory is reachable,
//! as text and JSON; embargoed advisories only with a push-group token.
use crate::common::fixtures::Origin;
use crate::common::support::{hotpush, real_rpms};
use crate::common::test_app::trusted_key;

fn run(origin: &Origin, args: &[&str], token: Option<&std::path::Path>) -> (bool, String, String) {
    let mut cmd = hotpush();
    cmd.arg("advisory")
        .arg(args[0])
        .args(["--server", &origin.url]);
    if let Some(t) = token {
        cmd.arg("--token-file").arg(t);
    }
    let out = cmd.args(&args[1..]).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn advisory_list_and_show_say_what_is_live_where() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start(dir.path(), Some(&trusted_key()), "");
    let alice = origin.token("alice", "security");
    let signed = real_rpms().join("rpm-rs/v4/signed/rpm-basic-with-ed25519-2.3.4-5.el9.noarch.rpm");
    let untrusted =
        real_rpms().join("rpm-rs/v4/signed/rpm-basic-with-rsa4096-2.3.4-5.el9.noarch.rpm");
    let out = origin.push(&alice, "ADV-2026-0001", &[&signed], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second advisory whose only push was refused (and so cancelled): embargoed.
    let out = origin.push(&alice, "ADV-2026-0002", &[&untrusted], &["--no-wait"]);
    assert!(!out.status.success());

    let (ok, public, _) = run(&origin, &["list"], None);
    assert!(ok);
    assert!(
        public.contains("ADV-2026-0001") && public.contains("live"),
        "{public}"
    );
    assert!(!public.contains("ADV-2026-0002"), "embargoed: {public}");
    let (ok, full, _) = run(&origin, &["list", "--json"], Some(&alice));
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&full).unwrap();
    let states: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        states.contains(&("ADV-2026-0001".into(), "live".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("ADV-2026-0002".into(), "cancelled".into())),
        "{states:?}"
    );

    let (ok, shown, err) = run(&origin, &["show", "--json", "ADV-2026-0001"], None);
    assert!(ok, "{err}");
    let reach: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        reach["advisory"]["packages"],
        serde_json::json!(["rpm-basic-1:2.3.4-5.el9.noarch"])
    );
    let repos: Vec<&str> = reach["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repo"].as_str().unwrap())
        .collect();
    // noarch: every binary arch of the release, not `source`.
    assert_eq!(
        repos,
        ["critical/43/x86_64", "critical/43/aarch64"],
        "{reach}"
    );
    assert!(
        reach["repos"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["at_origin"] == true),
        "{reach}"
    );
    let (ok, text, _) = run(&origin, &["show", "ADV-2026-0001"], None);
    assert!(ok);
    assert!(
        text.contains("critical/43/x86_64") && text.contains("origin yes"),
        "{text}"
    );

    // Embargoed without a token; with one, shown as reachable nowhere.
    let (ok, _, err) = run(&origin, &["show", "ADV-2026-0002"], None);
    assert!(!ok);
    assert!(
        err.contains("ADV-2026-0002") && err.contains("--token-file"),
        "{err}"
    );
    let (ok, text, err) = run(&origin, &["show", "ADV-2026-0002"], Some(&alice));
    assert!(ok, "{err}");
    assert!(
        text.contains("nowhere") && text.contains("cancelled"),
        "{text}"
    );
    let (ok, _, err) = run(&origin, &["show", "NO-SUCH-1"], Some(&alice));
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");
}
