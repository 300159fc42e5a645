//! `hotpush createrepo` as a user runs it: output layout, the record cache,
//! `--updateinfo`, and bad input (truncated RPM, non-RPM file, signature
//! failure) that must fail with exit code 1 and leave `repodata/` untouched.
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use sha2::{Digest, Sha256};

use crate::common::repo_files::{assert_repomd_consistent, golden_input, read_repo};
use crate::common::support::{hotpush, real_rpms, run_ok};

/// File name -> sha256 of every file in `repodata/` (what "untouched" means).
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(root.join("repodata")).unwrap() {
        let e = e.unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        out.insert(
            e.file_name().to_string_lossy().into_owned(),
            hex::encode(Sha256::digest(bytes)),
        );
    }
    out
}

fn createrepo(args: &[&str], dir: &Path) -> Output {
    hotpush()
        .arg("createrepo")
        .args(args)
        .arg(dir)
        .output()
        .unwrap()
}

/// stderr without ANSI colour codes.
fn stderr(o: &Output) -> String {
    let raw = String::from_utf8_lossy(&o.stderr);
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// No leftovers of the temporary generation directory beside `repodata/`.
fn assert_no_temp_dirs(root: &Path) {
    for e in std::fs::read_dir(root).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".repodata"),
            "leftover `{name}` in {}",
            root.display()
        );
    }
}

#[test]
fn empty_directory_gives_a_small_valid_repo() {
    let tmp = tempfile::tempdir().unwrap();
    run_ok(hotpush().arg("createrepo").arg(tmp.path()));
    let (repomd, xml) = read_repo(tmp.path());
    assert!(
        repomd.contains("<revision>0</revision>"),
        "revision defaults to 0 when empty:\n{repomd}"
    );
    assert!(
        repomd.contains("-primary.xml.zst\"/>"),
        "zst is the default codec"
    );
    assert_eq!(
        xml.keys().collect::<Vec<_>>(),
        ["filelists", "other", "primary"]
    );
    assert_repomd_consistent(&repomd, |href| {
        std::fs::read(tmp.path().join(href)).unwrap()
    });
    let total: u64 = std::fs::read_dir(tmp.path().join("repodata"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(total < 1_900, "empty repodata is {total} bytes");
    assert_no_temp_dirs(tmp.path());
}

#[test]
fn not_a_directory_is_a_user_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = createrepo(&[], &tmp.path().join("missing"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a directory"),
        "{}",
        stderr(&out)
    );
}

/// Builds a valid repository of the real RPMs in `root` and returns its snapshot.
fn valid_repo(root: &Path) -> BTreeMap<String, String> {
    golden_input(root);
    run_ok(hotpush().arg("createrepo").arg(root));
    snapshot(root)
}

#[test]
fn bad_packages_fail_and_leave_repodata_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let before = valid_repo(root);

    // Not an RPM at all.
    std::fs::write(root.join("notes.rpm"), b"this is not an rpm\n").unwrap();
    let out = createrepo(&[], root);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("notes.rpm"),
        "names the file: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    assert_eq!(
        snapshot(root),
        before,
        "repodata untouched after a non-RPM file"
    );
    std::fs::remove_file(root.join("notes.rpm")).unwrap();

    // A truncated copy of a real package.
    let whole = std::fs::read(real_rpms().join("createrepo_c/Archer-3.4.5-6.x86_64.rpm")).unwrap();
    std::fs::write(root.join("Archer-truncated.rpm"), &whole[..whole.len() / 2]).unwrap();
    let out = createrepo(&[], root);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Archer-truncated.rpm"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        snapshot(root),
        before,
        "repodata untouched after a truncated RPM"
    );
    assert_no_temp_dirs(root);
}

#[test]
fn signature_failure_under_trusted_key_fails_and_leaves_repodata_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let before = valid_repo(root);
    // Most of the real packages are unsigned or signed by other keys.
    let key = real_rpms().join("rpm-rs/keys/rpm-testkey-v4-ed25519.asc");
    let out = hotpush()
        .arg("createrepo")
        .arg("--trusted-key")
        .arg(&key)
        .arg(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(".rpm`"),
        "names a package: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("--trusted-key"),
        "hint says what to do: {}",
        stderr(&out)
    );
    assert_eq!(snapshot(root), before);

    // Only the package signed by that key: accepted.
    let signed = tempfile::tempdir().unwrap();
    std::fs::copy(
        real_rpms().join("rpm-rs/v4/signed/rpm-basic-with-ed25519-2.3.4-5.el9.noarch.rpm"),
        signed
            .path()
            .join("rpm-basic-with-ed25519-2.3.4-5.el9.noarch.rpm"),
    )
    .unwrap();
    run_ok(
        hotpush()
            .arg("createrepo")
            .arg("--trusted-key")
            .arg(&key)
            .arg(signed.path()),
    );
    let (_, xml) = read_repo(signed.path());
    assert!(xml["primary"].contains("packages=\"1\""));
}

/// The cache makes no difference to the bytes: a run that reads every package,
/// a run that reuses every cached record, and a run with a corrupt cache give
/// the same repodata.
#[test]
fn cache_never_changes_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let first = valid_repo(root);
    let cache = root.join("repodata/.hotpush-cache");
    assert!(cache.exists(), "the cache is written");

    // Second run: every record comes from the cache.
    let out = run_ok(hotpush().args(["-v", "createrepo"]).arg(root));
    assert!(
        stderr(&out).contains("to_read=0"),
        "all records cached: {}",
        stderr(&out)
    );
    assert_eq!(snapshot(root), first);

    // Corrupt cache: ignored, everything read again, same output.
    let mut bytes = std::fs::read(&cache).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&cache, &bytes).unwrap();
    let out = run_ok(hotpush().args(["-v", "createrepo"]).arg(root));
    assert!(
        stderr(&out).contains("to_read=29"),
        "corrupt cache ignored: {}",
        stderr(&out)
    );
    assert_eq!(snapshot(root), first);

    // No cache: same output again.
    std::fs::remove_file(&cache).unwrap();
    run_ok(hotpush().arg("createrepo").arg(root));
    assert_eq!(snapshot(root), first);

    // A changed file (new mtime) is read again and its time shows up.
    let archer = root.join("createrepo_c/Archer-3.4.5-6.x86_64.rpm");
    run_ok(
        std::process::Command::new("touch")
            .args(["-d", "@1700000500"])
            .arg(&archer),
    );
    let out = run_ok(hotpush().args(["-v", "createrepo"]).arg(root));
    assert!(stderr(&out).contains("to_read=1"), "{}", stderr(&out));
    let (repomd, xml) = read_repo(root);
    assert!(xml["primary"].contains("<time file=\"1700000500\""));
    assert!(
        repomd.contains("<revision>1700000500</revision>"),
        "revision = newest mtime"
    );
    assert_no_temp_dirs(root);
}

/// Every file of `repodata/` except the record cache.
fn without_cache(snap: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    snap.iter()
        .filter(|(name, _)| !name.starts_with('.'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Adding and removing packages against a cached repository reads only what
/// is new and gives exactly the bytes of a run without any cache; a run that
/// changes nothing writes nothing; a run whose records are all cached keeps
/// the cache file itself (same inode) and the data files it can.
#[test]
fn incremental_runs_equal_fresh_runs() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let side = tmp.path().join("side");
    std::fs::create_dir_all(&side).unwrap();
    golden_input(&root);
    let moved = ["Archer-3.4.5-6.x86_64.rpm", "fake_bash-1.1.1-1.x86_64.rpm"];
    for name in moved {
        std::fs::rename(root.join("createrepo_c").join(name), side.join(name)).unwrap();
    }
    let fresh = |root: &Path| {
        std::fs::remove_file(root.join("repodata/.hotpush-cache")).unwrap();
        run_ok(hotpush().arg("createrepo").arg(root));
        without_cache(&snapshot(root))
    };
    let verbose = |root: &Path| stderr(&run_ok(hotpush().args(["-v", "createrepo"]).arg(root)));
    run_ok(hotpush().arg("createrepo").arg(&root));

    // Two packages come back (rename keeps inode and mtime): two reads.
    for name in moved {
        std::fs::rename(side.join(name), root.join("createrepo_c").join(name)).unwrap();
    }
    let err = verbose(&root);
    assert!(err.contains("to_read=2"), "{err}");
    let added = without_cache(&snapshot(&root));
    assert!(
        verbose(&root).contains("to_read=0"),
        "the updated cache holds all records"
    );
    assert_eq!(added, fresh(&root), "incremental add == fresh run");

    // Nothing changed: nothing is written (the cache file keeps its inode).
    let cache = root.join("repodata/.hotpush-cache");
    let inode = std::fs::metadata(&cache).unwrap().ino();
    let err = verbose(&root);
    assert!(err.contains("unchanged"), "{err}");
    assert_eq!(std::fs::metadata(&cache).unwrap().ino(), inode);

    // Only the revision changes: the cache and the data files are kept as
    // they are (hard links), repomd.xml is new.
    let primary = |root: &Path| {
        std::fs::read_dir(root.join("repodata"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("-primary.xml.zst"))
            .unwrap()
    };
    let primary_inode = std::fs::metadata(primary(&root)).unwrap().ino();
    run_ok(
        hotpush()
            .args(["createrepo", "--revision", "42"])
            .arg(&root),
    );
    assert_eq!(
        std::fs::metadata(&cache).unwrap().ino(),
        inode,
        "cache kept"
    );
    assert_eq!(
        std::fs::metadata(primary(&root)).unwrap().ino(),
        primary_inode,
        "unchanged data file kept"
    );
    let repomd = std::fs::read_to_string(root.join("repodata/repomd.xml")).unwrap();
    assert!(repomd.contains("<revision>42</revision>"), "{repomd}");
    assert_repomd_consistent(&repomd, |href| std::fs::read(root.join(href)).unwrap());

    // A package goes away: nothing to read, same bytes as a fresh run.
    std::fs::remove_file(root.join("createrepo_c").join(moved[0])).unwrap();
    let err = verbose(&root);
    assert!(err.contains("to_read=0"), "{err}");
    let removed = without_cache(&snapshot(&root));
    assert!(!removed.is_empty());
    assert_ne!(removed, added);
    assert_eq!(removed, fresh(&root), "incremental removal == fresh run");
    assert_no_temp_dirs(&root);
}

#[test]
fn output_dir_and_updateinfo() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    golden_input(&input);
    let advisories = tmp.path().join("advisories.toml");
    std::fs::write(
        &advisories,
        r#"
[[advisory]]
id = "FEDORA-2026-0001"
severity = "Critical"
title = "Critical fix for edge-cases"
description = "Heap overflow & more."
issued = 1763726400
cves = ["CVE-2026-0001"]
packages = ["edge-cases-3:2.5-7.fc99.x86_64", "Archer-3.4.5-6.x86_64.rpm"]
release = "Fedora 43"
collection = "F43"
"#,
    )
    .unwrap();
    run_ok(
        hotpush()
            .args(["createrepo", "--compress", "gz", "--output"])
            .arg(&out)
            .arg("--updateinfo")
            .arg(&advisories)
            .arg(&input),
    );
    assert!(
        !input.join("repodata").exists(),
        "--output puts repodata elsewhere"
    );
    let (repomd, xml) = read_repo(&out);
    assert_repomd_consistent(&repomd, |href| std::fs::read(out.join(href)).unwrap());
    let ui = &xml["updateinfo"];
    assert!(ui.contains("<id>FEDORA-2026-0001</id>"), "{ui}");
    assert!(
        ui.contains("<issued date=\"2025-11-21 12:00:00\"/>"),
        "{ui}"
    );
    assert!(
        ui.contains("href=\"https://www.cve.org/CVERecord?id=CVE-2026-0001\""),
        "{ui}"
    );
    assert!(
        ui.contains("<filename>edge-cases-2.5-7.fc99.x86_64.rpm</filename>"),
        "{ui}"
    );
    assert!(
        ui.contains("<package name=\"Archer\" version=\"3.4.5\" release=\"6\" epoch=\"2\""),
        "{ui}"
    );
    assert!(
        ui.contains("<description>Heap overflow &amp; more.</description>"),
        "{ui}"
    );
    // Locations stay relative to the input directory.
    assert!(xml["primary"].contains("<location href=\"createrepo_c/Archer-3.4.5-6.x86_64.rpm\"/>"));

    // An advisory naming a package that is not there: user error, nothing written.
    let before = snapshot(&out);
    std::fs::write(
        &advisories,
        "[[advisory]]\nid = \"X-1\"\nseverity = \"Low\"\ntitle = \"t\"\nissued = 0\npackages = [\"nope-1-1.noarch\"]\n",
    )
    .unwrap();
    let o = hotpush()
        .args(["createrepo", "--output"])
        .arg(&out)
        .arg("--updateinfo")
        .arg(&advisories)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`nope-1-1.noarch` is not in the repository"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(&out), before);

    // A malformed field is named.
    std::fs::write(
        &advisories,
        "[[advisory]]\nid = \"X-1\"\nseverity = \"Urgent\"\ntitle = \"t\"\nissued = 0\npackages = [\"x\"]\n",
    )
    .unwrap();
    let o = hotpush()
        .arg("createrepo")
        .arg("--updateinfo")
        .arg(&advisories)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("field `severity`"), "{}", stderr(&o));
}
