//! The last mile: the critical check shipped by the `-repos` RPM, on real dnf 4
//! installroots that are set up the way an installed system is (a release
//! package providing `system-release(releasever)`, then the `-repos` package
//! installed with dnf, as an upgrade from the earlier package). One origin for
//! the whole story: an idle check is one 304 and no dnf; after a push one run
//! makes `dnf updateinfo` show the advisory; a refresh that fails is retried
//! although the metalink answers 304; `--policy apply` installs a fix and
//! refuses a transaction that would install a new package; the origin's hold
//! stops every check; a stopped origin is exit 0. Also: the units pass
//! `systemd-analyze verify` where the RPM installed them, the RPM's scriptlets
//! enable the timer through the preset (systemctl copied into the root) and
//! disable it on erase, and the script passes shellcheck and both POSIX
//! shells' syntax checks. The wire contract (countme, User-Agent, 304, holds,
//! 503 + Retry-After, revisions going backwards, hostile documents) is held
//! against a mock metalink server, without dnf; the origin's side of it
//! (ETag/304, the hold, countme buckets) in process, through `TestApp`.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::fixtures::{build_rpm, http_get, Gpg, Origin};
use crate::common::rpmbuild::{rpmbuild, shell_rpm};
use crate::common::support::{hotpush, require_tool, run_ok};

const CHECK: &str = "usr/libexec/hotpush/critical-check";
const STATE: &str = "var/lib/hotpush/critical-check";
const TIMER: &str = "hotpush-critical-check.timer";

/// The release package every installed system has: dnf reads the release from
/// it. Its own version is not the release (as with Fedora's `fedora-release-common`
/// on a respin or RHEL's `redhat-release` 9.4): dnf takes the version of the
/// `system-release(releasever)` provide, and so must the check.
fn release_rpm(dir: &Path) -> PathBuf {
    rpmbuild(
        dir,
        "lastmile-release",
        "1",
        "Provides: system-release\nProvides: system-release(releasever) = 43\n\
         %description\nRelease package.\n%install\nmkdir -p %{buildroot}/etc\n\
         echo 'Last mile 43' > %{buildroot}/etc/system-release\n%files\n/etc/system-release\n",
    )
}

/// The earlier `-repos` package (version 1): the `.repo` file and the keys only.
fn earlier_repos_rpm(dir: &Path, origin: &Origin) -> PathBuf {
    let out = run_ok(hotpush().args(["repofile", "--server", &origin.url]));
    let repo = String::from_utf8(out.stdout).unwrap();
    let repo: String = repo
        .lines()
        .map(|l| {
            if l.starts_with("gpgkey=") {
                "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical \
                 file:///etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical-packages"
                    .to_owned()
            } else {
                l.to_owned()
            }
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let src = dir.join("earlier-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("critical-updates.repo"), repo).unwrap();
    for (name, path) in [("repo", "repo.asc"), ("packages", "packages.asc")] {
        let (code, body) = http_get(&format!("{}/keys/{path}", origin.url)).unwrap();
        assert_eq!(code, 200);
        std::fs::write(src.join(name), body).unwrap();
    }
    let s = src.display();
    rpmbuild(
        dir,
        "critical-repos",
        "1",
        &format!(
            "%description\nThe earlier -repos package.\n%install\n\
             mkdir -p %{{buildroot}}/etc/yum.repos.d %{{buildroot}}/etc/pki/rpm-gpg\n\
             cp {s}/critical-updates.repo %{{buildroot}}/etc/yum.repos.d/\n\
             cp {s}/repo %{{buildroot}}/etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical\n\
             cp {s}/packages %{{buildroot}}/etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical-packages\n\
             %files\n%config(noreplace) /etc/yum.repos.d/critical-updates.repo\n\
             /etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical\n\
             /etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical-packages\n"
        ),
    )
}

/// dnf as an administrator would run it in the root: the root's own
/// repositories, the release from the root's rpm database.
fn dnf(root: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new("dnf")
        .arg(format!("--installroot={}", root.display()))
        .arg(format!(
            "--setopt=reposdir={}",
            root.join("etc/yum.repos.d").display()
        ))
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

fn dnf_ok(root: &Path, args: &[&str]) -> String {
    let (code, text) = dnf(root, args);
    assert_eq!(code, 0, "dnf {args:?} in {}:\n{text}", root.display());
    text
}

fn installed(root: &Path, name: &str) -> Option<String> {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["-q", name])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A root with only the release package.
fn new_root(dir: &Path, name: &str, release: &Path) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(&root).unwrap();
    run_ok(
        Command::new("rpm")
            .arg("--root")
            .arg(&root)
            .args(["-i", "--nodeps"])
            .arg(release),
    );
    root
}

/// Runs the installed check on the root; returns (exit code, output, whether dnf ran).
fn check(root: &Path, args: &[&str]) -> (i32, String, bool) {
    let dnf_log = root.join(STATE).join("dnf.log");
    let _ = std::fs::remove_file(&dnf_log);
    let out = Command::new(root.join(CHECK))
        .arg("--installroot")
        .arg(root)
        .args(args)
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text, dnf_log.exists())
}

/// One value of the origin's `/metrics` (0 when the series is absent).
fn metric(origin: &Origin, series: &str) -> u64 {
    let (code, body) = http_get(&format!("{}/metrics", origin.url)).unwrap();
    assert_eq!(code, 200);
    String::from_utf8(body)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Every request the origin answered, on any route but `/metrics` itself
/// (dnf fetching anything shows here).
fn origin_requests(origin: &Origin) -> u64 {
    let (code, body) = http_get(&format!("{}/metrics", origin.url)).unwrap();
    assert_eq!(code, 200);
    String::from_utf8(body)
        .unwrap()
        .lines()
        .filter(|l| {
            l.starts_with("hotpush_http_requests_total{") && !l.contains("route=\"/metrics\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn metalink_answers(origin: &Origin, status: u16) -> u64 {
    metric(
        origin,
        &format!("hotpush_http_requests_total{{route=\"/metalink\",status=\"{status}\"}}"),
    )
}

/// `PUT /api/v1/check-hold`; returns the HTTP status.
fn put_hold(origin: &Origin, token: Option<&Path>, seconds: u64) -> u16 {
    let token = token
        .map(|t| std::fs::read_to_string(t).unwrap())
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .put(format!("{}/api/v1/check-hold", origin.url))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({ "seconds": seconds }))
            .send()
            .await
            .unwrap()
            .status()
    });
    status.as_u16()
}

fn push(origin: &Origin, token: &Path, advisory: &str, rpms: &[&Path]) {
    let out = origin.push(token, advisory, rpms, &["--release", "43"]);
    assert!(
        out.status.success(),
        "push {advisory}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn retire(origin: &Origin, token: &Path, advisory: &str) {
    run_ok(
        hotpush()
            .args(["retire", "--server", &origin.url, "--token-file"])
            .arg(token)
            .arg(advisory)
            .stdin(Stdio::null()),
    );
}

fn security_advisories(root: &Path) -> String {
    dnf_ok(root, &["-C", "-q", "updateinfo", "list", "--security"])
}

/// Holds dnf's metadata lock in ROOT as a live process would.
struct DnfLock(Child);

impl DnfLock {
    fn hold(root: &Path) -> DnfLock {
        let child = Command::new("sleep").arg("600").spawn().unwrap();
        std::fs::write(
            root.join("var/cache/dnf/metadata_lock.pid"),
            child.id().to_string(),
        )
        .unwrap();
        DnfLock(child)
    }
}

impl Drop for DnfLock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn critical_check_brings_the_fix_to_an_installed_system() {
    for tool in ["dnf", "rpm", "systemctl", "systemd-analyze", "curl"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let mut origin = Origin::start(dir, Some(&gpg.public_key), "");
    let token = origin.token("alice", "security");
    let vulnerable = build_rpm(dir, "hello", "1.0", "1", "noarch");
    let fixes: Vec<PathBuf> = ["2", "3"]
        .iter()
        .map(|r| build_rpm(dir, "hello", "1.0", r, "noarch"))
        .collect();
    let needs_new = rpmbuild(
        dir,
        "hello",
        "1.1",
        "Requires: newdep\n%description\nNeeds a new package.\n%install\nmkdir -p %{buildroot}/usr/share/hello\n\
         echo 1.1 > %{buildroot}/usr/share/hello/version.txt\n%files\n/usr/share/hello\n",
    );
    let newdep = build_rpm(dir, "newdep", "1", "1", "noarch");
    // A fix that obsoletes an installed package (dnf would remove it).
    let other = build_rpm(dir, "other", "1.0", "1", "noarch");
    let oldthing = build_rpm(dir, "oldthing", "1", "1", "noarch");
    let obsoleting = rpmbuild(
        dir,
        "other",
        "1.1",
        "Obsoletes: oldthing\n%description\nObsoletes an installed package.\n%install\n\
         mkdir -p %{buildroot}/usr/share/other-fix\necho 1.1 > %{buildroot}/usr/share/other-fix/v\n\
         %files\n/usr/share/other-fix\n",
    );
    let phased_fix = build_rpm(dir, "hello", "1.0", "4", "noarch");
    for rpm in fixes
        .iter()
        .chain([&needs_new, &newdep, &obsoleting, &phased_fix])
    {
        gpg.sign(rpm);
    }
    let release = release_rpm(dir);
    let earlier = earlier_repos_rpm(dir, &origin);
    let rpm = PathBuf::from(
        String::from_utf8(
            run_ok(
                hotpush()
                    .args(["repofile", "--server", &origin.url, "--rpm"])
                    .arg(dir.join("out"))
                    .args(["--source-date", "1700000000"]),
            )
            .stdout,
        )
        .unwrap()
        .trim(),
    );
    assert!(rpm.ends_with("critical-repos-2-1.noarch.rpm"), "{rpm:?}");
    let rpm3 = PathBuf::from(
        String::from_utf8(
            run_ok(
                hotpush()
                    .args(["repofile", "--server", &origin.url, "--rpm"])
                    .arg(dir.join("out3"))
                    .args(["--version", "3", "--source-date", "1700000000"]),
            )
            .stdout,
        )
        .unwrap()
        .trim(),
    );

    // An installed system: the release package, a shell, systemctl, the
    // earlier -repos package, then the new one as an upgrade, all with the
    // real rpm and dnf.
    let shell = shell_rpm(dir);
    let root = new_root(dir, "root", &release);
    rpm_install_raw(&root, &shell);
    copy_with_libraries("/usr/bin/systemctl", &root);
    let no_repos = dir.join("no-repos").display().to_string();
    let no_repos = format!("--setopt=reposdir={no_repos}");
    dnf_ok(
        &root,
        &["-y", "-q", &no_repos, "install", earlier.to_str().unwrap()],
    );
    assert!(!root.join(CHECK).exists());
    dnf_ok(
        &root,
        &["-y", "-q", &no_repos, "upgrade", rpm.to_str().unwrap()],
    );
    assert_eq!(
        installed(&root, "critical-repos").as_deref(),
        Some("critical-repos-2-1.noarch")
    );
    let out = run_ok(
        Command::new("systemctl")
            .arg(format!("--root={}", root.display()))
            .args(["is-enabled", TIMER]),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "enabled");
    let conf = std::fs::read_to_string(root.join("etc/hotpush/critical-check.conf")).unwrap();
    assert!(conf.contains("\npolicy = refresh\n"), "{conf}");
    let repo_text =
        std::fs::read_to_string(root.join("etc/yum.repos.d/critical-updates.repo")).unwrap();
    assert!(repo_text.contains("\nmetadata_expire=5m\n"), "{repo_text}");

    // The units as installed pass systemd-analyze verify (against the host's targets).
    let units = root.join("usr/lib/systemd/system");
    for entry in std::fs::read_dir("/usr/lib/systemd/system").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "target") {
            std::fs::copy(&path, units.join(path.file_name().unwrap())).unwrap();
        }
    }
    let out = Command::new("systemd-analyze")
        .arg(format!("--root={}", root.display()))
        .arg("verify")
        .arg(units.join(TIMER))
        .arg(units.join("hotpush-critical-check.service"))
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    for package in [&vulnerable, &other, &oldthing] {
        rpm_install_raw(&root, package);
    }

    // First contact: the check finds the release in the root's rpm database,
    // refreshes the critical repo (importing its key) and is current after.
    let (code, text, ran) = check(&root, &[]);
    assert!(code == 0 && ran, "first check: {text}");
    assert!(text.contains("dnf's cache is at revision"), "{text}");
    assert_eq!(
        metric(&origin, "hotpush_metalink_countme_total{bucket=\"1\"}"),
        1,
        "the first request of the week carries countme=1"
    );

    // Idle: one request, answered 304, no dnf, nothing printed. The
    // origin's request counts are the proof that no dnf ran: any dnf that
    // refreshes asks for the metalink without If-None-Match (a 200) and then
    // for repodata; one that reads its cache leaves the dnf log the check
    // writes for every dnf it starts.
    let (ok0, nm0, all0) = (
        metalink_answers(&origin, 200),
        metalink_answers(&origin, 304),
        origin_requests(&origin),
    );
    let (code, text, ran) = check(&root, &[]);
    assert_eq!((code, ran, text.as_str()), (0, false, ""));
    assert_eq!(metalink_answers(&origin, 200), ok0);
    assert_eq!(metalink_answers(&origin, 304), nm0 + 1);
    assert_eq!(origin_requests(&origin), all0 + 1, "exactly one request");
    assert_eq!(
        metric(&origin, "hotpush_metalink_countme_total{bucket=\"1\"}"),
        1,
        "countme once a week"
    );

    // A push: one run makes dnf see the advisory.
    push(&origin, &token, "CRIT-2026-0301", &[&fixes[0]]);
    assert!(!security_advisories(&root).contains("CRIT-2026-0301"));

    // ... but first, signatures are checked whatever the .repo file says:
    // with `gpgcheck=0`, `repo_gpgcheck=0` and a key that did not sign the
    // repo (dnf's imported copy of the right one gone), the refresh fails.
    let repo_path = root.join("etc/yum.repos.d/critical-updates.repo");
    let repo_text = std::fs::read_to_string(&repo_path).unwrap();
    let stranger = Gpg::new(dir, "stranger@example.com");
    std::fs::copy(
        &stranger.public_key,
        root.join("etc/pki/rpm-gpg/RPM-GPG-KEY-stranger"),
    )
    .unwrap();
    let unsigned: String = repo_text
        .lines()
        .map(|l| match l.split_once('=') {
            Some(("gpgcheck" | "repo_gpgcheck", _)) => {
                format!("{}=0\n", &l[..l.find('=').unwrap()])
            }
            Some(("gpgkey", _)) => {
                "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-stranger\n".to_owned()
            }
            _ => format!("{l}\n"),
        })
        .collect();
    assert!(unsigned.contains("\nrepo_gpgcheck=0\n"), "{unsigned}");
    std::fs::write(&repo_path, unsigned).unwrap();
    for entry in std::fs::read_dir(root.join("var/cache/dnf")).unwrap() {
        let pubring = entry.unwrap().path().join("pubring");
        if pubring.is_dir() {
            std::fs::remove_dir_all(pubring).unwrap();
        }
    }
    let (code, text, ran) = check(&root, &[]);
    assert!(code == 0 && ran, "{text}");
    // dnf skips the repo it cannot verify and exits 0; the check sees its
    // cache unchanged and says why.
    assert!(text.contains("trying again next period"), "{text}");
    assert!(text.contains("GPG signature verification error"), "{text}");
    assert!(!security_advisories(&root).contains("CRIT-2026-0301"));
    std::fs::write(&repo_path, &repo_text).unwrap();

    let (code, text, ran) = check(&root, &[]);
    assert!(code == 0 && ran, "{text}");
    assert!(security_advisories(&root).contains("CRIT-2026-0301"));

    // A refresh that fails (dnf's lock held) is retried next run although
    // the metalink now answers 304.
    retire(&origin, &token, "CRIT-2026-0301");
    {
        let _lock = DnfLock::hold(&root);
        let (code, text, _) = check(&root, &[]);
        assert_eq!(code, 0);
        assert!(text.contains("dnf could not refresh"), "{text}");
        assert!(text.to_lowercase().contains("lock"), "{text}");
        let nm = metalink_answers(&origin, 304);
        let (code, text, ran) = check(&root, &[]);
        assert!(code == 0 && ran, "{text}");
        assert!(text.contains("dnf could not refresh"), "{text}");
        assert!(text.to_lowercase().contains("lock"), "{text}");
        assert_eq!(metalink_answers(&origin, 304), nm + 1);
    }
    let (code, text, ran) = check(&root, &[]);
    assert!(code == 0 && ran, "{text}");
    assert!(!security_advisories(&root).contains("CRIT-2026-0301"));

    // --policy download fetches the fix and installs nothing; --policy
    // apply then installs it; the next run is idle again.
    push(&origin, &token, "CRIT-2026-0302", &[&fixes[1]]);
    let (code, text, _) = check(&root, &["--policy", "download"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("downloaded CRIT-2026-0302"), "{text}");
    assert_eq!(
        installed(&root, "hello").as_deref(),
        Some("hello-1.0-1.noarch")
    );
    let cached_rpms: Vec<PathBuf> = std::fs::read_dir(root.join("var/cache/dnf"))
        .unwrap()
        .map(|e| e.unwrap().path().join("packages/hello-1.0-3.noarch.rpm"))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(cached_rpms.len(), 1, "the fix in dnf's package cache");
    let (code, text, _) = check(&root, &["--policy", "apply"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("applied CRIT-2026-0302"), "{text}");
    assert!(text.contains("no reboot needed"), "{text}");
    assert_eq!(
        installed(&root, "hello").as_deref(),
        Some("hello-1.0-3.noarch")
    );
    let (_, _, ran) = check(&root, &["--policy", "apply"]);
    assert!(!ran);

    // A fix that would install a new package is refused, once.
    push(&origin, &token, "CRIT-2026-0303", &[&needs_new, &newdep]);
    let (code, text, _) = check(&root, &["--policy", "apply"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("NOT applying CRIT-2026-0303"), "{text}");
    assert_eq!(
        installed(&root, "hello").as_deref(),
        Some("hello-1.0-3.noarch")
    );
    assert_eq!(installed(&root, "newdep"), None);
    let (_, _, ran) = check(&root, &["--policy", "apply"]);
    assert!(!ran, "a refused transaction is not retried every period");

    // Retired, it is never applied (nor tried again).
    retire(&origin, &token, "CRIT-2026-0303");
    let (code, text, ran) = check(&root, &["--policy", "apply"]);
    assert!(code == 0 && ran, "{text}");
    assert!(!text.contains("CRIT-2026-0303"), "{text}");
    assert_eq!(
        installed(&root, "hello").as_deref(),
        Some("hello-1.0-3.noarch")
    );
    assert_eq!(installed(&root, "newdep"), None);

    // A fix that obsoletes (so removes) an installed package is refused.
    push(&origin, &token, "CRIT-2026-0304", &[&obsoleting]);
    let (code, text, _) = check(&root, &["--policy", "apply"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("NOT applying CRIT-2026-0304"), "{text}");
    assert!(text.contains("obsoletes"), "{text}");
    assert_eq!(
        installed(&root, "other").as_deref(),
        Some("other-1.0-1.noarch")
    );
    assert_eq!(
        installed(&root, "oldthing").as_deref(),
        Some("oldthing-1-1.noarch")
    );

    // Phased apply: with `apply_phases = 2` a system in phase 1 waits an
    // `apply_phase_minutes` after it first saw the advisory; one in phase 0
    // applies at once. The phase is sha256(machine-id:advisory) mod N.
    retire(&origin, &token, "CRIT-2026-0304");
    push(&origin, &token, "CRIT-2026-0305", &[&phased_fix]);
    let conf_path = root.join("etc/hotpush/critical-check.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    std::fs::write(&conf_path, format!("{conf}apply_phases = 2\n")).unwrap();
    let machine_in_phase = |phase: u64| {
        (0u64..)
            .map(|i| format!("{i:032x}"))
            .find(|mid| {
                let h = sha256_hex(format!("{mid}:CRIT-2026-0305").as_bytes());
                u64::from_str_radix(&h[..7], 16).unwrap() % 2 == phase
            })
            .unwrap()
    };
    std::fs::write(
        root.join("etc/machine-id"),
        format!("{}\n", machine_in_phase(1)),
    )
    .unwrap();
    let (code, text, _) = check(&root, &["--policy", "apply"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("waiting for this system's phase to apply CRIT-2026-0305"),
        "{text}"
    );
    assert_eq!(
        installed(&root, "hello").as_deref(),
        Some("hello-1.0-3.noarch")
    );
    std::fs::write(
        root.join("etc/machine-id"),
        format!("{}\n", machine_in_phase(0)),
    )
    .unwrap();
    let (code, text, _) = check(&root, &["--policy", "apply"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("applied CRIT-2026-0305"), "{text}");
    assert_eq!(
        installed(&root, "hello").as_deref(),
        Some("hello-1.0-4.noarch")
    );
    std::fs::write(&conf_path, conf).unwrap();

    // The origin's hold: every check stands still, without even a request.
    assert_eq!(put_hold(&origin, None, 120), 401);
    assert_eq!(put_hold(&origin, Some(&token), 86_401), 400);
    assert_eq!(put_hold(&origin, Some(&token), 120), 200);
    let (code, text, ran) = check(&root, &[]);
    assert!(code == 0 && !ran, "{text}");
    assert!(
        text.contains("hold for 120 s") || text.contains("hold for 119 s"),
        "{text}"
    );
    let requests = metalink_answers(&origin, 200) + metalink_answers(&origin, 304);
    check(&root, &[]);
    assert_eq!(
        metalink_answers(&origin, 200) + metalink_answers(&origin, 304),
        requests
    );
    assert_eq!(put_hold(&origin, Some(&token), 0), 200);
    std::fs::remove_file(root.join(STATE).join("hold-until")).unwrap();

    // The origin stopped: exit 0, one line, tried again next period.
    origin.kill();
    let (code, text, ran) = check(&root, &[]);
    assert!(code == 0 && !ran, "{text}");
    assert!(text.contains("no answer from the origin"), "{text}");

    // Erasing the package disables the timer (the link points into the root,
    // so look at the link itself).
    let wants = |root: &Path| {
        root.join("etc/systemd/system/timers.target.wants")
            .join(TIMER)
            .symlink_metadata()
            .is_ok()
    };
    assert!(wants(&root));
    dnf_ok(&root, &["-y", "-q", &no_repos, "remove", "critical-repos"]);
    assert!(!wants(&root));

    // Installed again after the erase, it enables the timer again; an administrator's
    // `systemctl disable` then survives the upgrade to a later package.
    dnf_ok(
        &root,
        &["-y", "-q", &no_repos, "install", rpm.to_str().unwrap()],
    );
    assert!(wants(&root), "installed again, the timer is enabled again");
    run_ok(
        Command::new("systemctl")
            .arg(format!("--root={}", root.display()))
            .args(["disable", TIMER]),
    );
    assert!(!wants(&root));
    dnf_ok(
        &root,
        &["-y", "-q", &no_repos, "upgrade", rpm3.to_str().unwrap()],
    );
    assert_eq!(
        installed(&root, "critical-repos").as_deref(),
        Some("critical-repos-3-1.noarch")
    );
    assert!(
        !wants(&root),
        "the upgrade keeps the administrator's disable"
    );

    // A root without systemd: the package installs, remembers that it ran
    // its preset, and systemd's own first-install `preset-all` enables it.
    let root2 = new_root(dir, "root-without-systemd", &release);
    rpm_install_raw(&root2, &shell);
    dnf_ok(
        &root2,
        &["-y", "-q", &no_repos, "install", rpm.to_str().unwrap()],
    );
    assert!(root2.join(STATE).join("timer-enabled-by-package").exists());
    assert!(!wants(&root2), "no systemctl: nothing enabled it yet");
    run_ok(
        Command::new("systemctl")
            .arg(format!("--root={}", root2.display()))
            .arg("preset-all"),
    );
    assert!(wants(&root2), "systemd's preset-all enables it");
}

/// `rpm -i` without dependency or signature checks (what the test roots are built from).
fn rpm_install_raw(root: &Path, rpm: &Path) {
    run_ok(
        Command::new("rpm")
            .arg("--root")
            .arg(root)
            .args(["-i", "--nodeps", "--nosignature"])
            .arg(rpm),
    );
}

/// Copies a host binary and the shared libraries `ldd` names into ROOT.
fn copy_with_libraries(binary: &str, root: &Path) {
    let out = run_ok(Command::new("ldd").arg(binary));
    let text = String::from_utf8(out.stdout).unwrap();
    let libs = text
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(str::to_owned);
    for path in std::iter::once(binary.to_owned()).chain(libs) {
        let dest = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&path, &dest).unwrap();
    }
}

#[test]
fn critical_check_script_is_posix_sh() {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("repo-templates/critical-check/critical-check");
    require_tool("shellcheck");
    run_ok(
        Command::new("shellcheck")
            .args(["--shell=sh", "--severity=style"])
            .arg(&script),
    );
    for shell in [&["dash", "-n"][..], &["bash", "--posix", "-n"][..]] {
        require_tool(shell[0]);
        run_ok(Command::new(shell[0]).args(&shell[1..]).arg(&script));
    }
    // Usage errors are the only non-zero exits.
    let out = Command::new("sh")
        .arg(&script)
        .args(["--policy", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("policy `sometimes`"));
}

/// On the real system (no `--installroot`) the check does nothing, with one
/// line, on rpm-ostree/bootc systems and in containers. The markers are faked
/// on a private `/run` in a mount namespace of its own (`unshare -m`, root),
/// so the host is never looked at beyond them and never changed.
#[test]
fn critical_check_is_a_noop_on_image_based_systems_and_in_containers() {
    require_tool("unshare");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("repo-templates/critical-check/critical-check");
    for (marker, said) in [
        ("ostree-booted", "rpm-ostree/bootc system"),
        (".containerenv", "running in a container"),
    ] {
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs tmpfs /run && : > /run/{marker} && exec sh \"$0\""
            ))
            .arg(&script)
            .env_remove("JOURNAL_STREAM")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{marker}: {text}");
        assert!(text.contains(said), "{marker}: {text}");
        assert_eq!(text.lines().count(), 1, "{marker}: {text}");
    }
}

/// What the mock metalink server answers next, and what it was asked.
#[derive(Default)]
struct MockState {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Answer `If-None-Match` with 304 (a strong ETag of the body is sent on 200).
    etag: bool,
    /// (path and query, If-None-Match, User-Agent) of every request.
    seen: Vec<(String, String, String)>,
}

/// A metalink server on `[::1]` whose answers the test sets: the other side of
/// the check's wire contract (holds, 503 + Retry-After, revisions going
/// backwards, oversize and hostile documents) without an origin.
struct MockMetalink {
    port: u16,
    state: std::sync::Arc<std::sync::Mutex<MockState>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockMetalink {
    fn start() -> MockMetalink {
        use std::sync::{Arc, Mutex};
        let state = Arc::new(Mutex::new(MockState::default()));
        let shared = state.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                    let shared = shared.clone();
                    async move {
                        use axum::response::IntoResponse;
                        let header = |name: &str| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned()
                        };
                        let mut s = shared.lock().unwrap();
                        let inm = header("if-none-match");
                        s.seen
                            .push((req.uri().to_string(), inm.clone(), header("user-agent")));
                        let etag = format!("\"{}\"", &sha256_hex(&s.body)[..32]);
                        let mut status = s.status;
                        let mut body = s.body.clone();
                        if s.etag && status == 200 && inm == etag {
                            status = 304;
                            body.clear();
                        }
                        let mut resp = (axum::http::StatusCode::from_u16(status).unwrap(), body)
                            .into_response();
                        let h = resp.headers_mut();
                        if s.etag {
                            h.insert("etag", etag.parse().unwrap());
                        }
                        for (k, v) in &s.headers {
                            h.insert(
                                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                                axum::http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
                            );
                        }
                        resp
                    }
                });
                let listener = tokio::net::TcpListener::bind(("::1", 0)).await.unwrap();
                ready_tx
                    .send(listener.local_addr().unwrap().port())
                    .unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let port = ready_rx.recv().unwrap();
        MockMetalink {
            port,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    fn answer(&self, status: u16, headers: &[(&str, &str)], body: &[u8], etag: bool) {
        let mut s = self.state.lock().unwrap();
        s.status = status;
        s.headers = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        s.body = body.to_vec();
        s.etag = etag;
    }

    fn seen(&self) -> Vec<(String, String, String)> {
        self.state.lock().unwrap().seen.clone()
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MockMetalink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A MirrorManager-style metalink naming a repomd.xml by sha256 and timestamp.
fn metalink_doc(sha256: &str, timestamp: u64) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<metalink version=\"3.0\" \
         xmlns=\"http://www.metalinker.org/\" xmlns:mm0=\"http://fedorahosted.org/mirrormanager\">\n \
         <files>\n  <file name=\"repomd.xml\">\n   <mm0:timestamp>{timestamp}</mm0:timestamp>\n   \
         <size>100</size>\n   <verification>\n    <hash type=\"sha256\">{sha256}</hash>\n   \
         </verification>\n   <resources maxconnections=\"1\">\n    \
         <url protocol=\"http\" type=\"http\" preference=\"100\">http://[::1]:9/repodata/repomd.xml</url>\n   \
         </resources>\n  </file>\n </files>\n</metalink>\n"
    )
    .into_bytes()
}

#[test]
fn critical_check_keeps_the_wire_contract() {
    for tool in ["rpm", "curl", "rpmbuild"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut mock = MockMetalink::start();
    // A root with the release, the check, its .repo file and key, and a dnf
    // cache at revision 200: nothing here may need dnf.
    let root = new_root(dir, "root", &release_rpm(dir));
    let install = |path: &str, text: &[u8], mode: u32| {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        let mut perms = std::fs::metadata(&p).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, mode);
        std::fs::set_permissions(&p, perms).unwrap();
    };
    install(
        CHECK,
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("repo-templates/critical-check/critical-check"),
        )
        .unwrap(),
        0o755,
    );
    install("/etc/pki/rpm-gpg/KEY", b"a key\n", 0o644);
    let metalink = format!(
        "http://[::1]:{}/metalink?repo=critical-f$releasever&arch=$basearch",
        mock.port
    );
    install(
        "/etc/yum.repos.d/critical-updates.repo",
        format!(
            "[critical-updates]\nname=c\nmetalink={metalink}\nenabled=1\ngpgcheck=1\n\
             repo_gpgcheck=1\ngpgkey=file:///etc/pki/rpm-gpg/KEY\n"
        )
        .as_bytes(),
        0o644,
    );
    let basearch = match std::env::consts::ARCH {
        "x86" => "i386",
        a => a,
    };
    let url = metalink
        .replace("$releasever", "43")
        .replace("$basearch", basearch);
    let cached = b"<repomd><revision>200</revision></repomd>\n";
    install(
        &format!(
            "/var/cache/dnf/critical-updates-{}/repodata/repomd.xml",
            &sha256_hex(url.as_bytes())[..16]
        ),
        cached,
        0o644,
    );
    let current = metalink_doc(&sha256_hex(cached), 200);

    // 200 naming what dnf has cached: silent, no dnf; countme and the
    // versioned User-Agent on the first request of the week.
    mock.answer(200, &[], &current, true);
    let (code, text, ran) = check(&root, &[]);
    assert_eq!((code, ran, text.as_str()), (0, false, ""));
    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].0.ends_with("&countme=1"), "{seen:?}");
    // The release from the `system-release(releasever)` provide, not the
    // release package's own version.
    assert!(seen[0].0.contains("repo=critical-f43&"), "{seen:?}");
    assert_eq!(seen[0].1, "");
    assert!(
        seen[0].2.starts_with(&format!(
            "hotpush-critical-check/1 (43; {basearch}; dnf4; refresh)"
        )),
        "{seen:?}"
    );
    // Then conditional: If-None-Match, 304, no countme until next week.
    let (code, text, ran) = check(&root, &[]);
    assert_eq!((code, ran, text.as_str()), (0, false, ""));
    let seen = mock.seen();
    assert_eq!(seen.len(), 2);
    assert!(!seen[1].0.contains("countme"), "{seen:?}");
    assert!(seen[1].1.starts_with('"'), "{seen:?}");

    // A metalink going backwards (older timestamp, another hash) is refused loudly.
    let other = "1".repeat(64);
    mock.answer(200, &[], &metalink_doc(&other, 150), true);
    let (code, text, ran) = check(&root, &[]);
    assert!(code == 0 && !ran, "{text}");
    assert!(text.contains("went BACKWARDS"), "{text}");
    // ... also when only dnf's cache knows the newer revision.
    std::fs::remove_file(root.join(STATE).join("critical-updates.metalink")).unwrap();
    let (code, text, ran) = check(&root, &[]);
    assert!(code == 0 && !ran, "{text}");
    assert!(text.contains("older than dnf's cached 200"), "{text}");

    // Hostile or broken documents never reach dnf.
    let mut evil = metalink_doc("$(reboot)", 300);
    for body in [
        vec![b'x'; 100_000],
        std::mem::take(&mut evil),
        b"<html/>".to_vec(),
    ] {
        mock.answer(200, &[], &body, false);
        let (code, text, ran) = check(&root, &[]);
        assert!(code == 0 && !ran, "{text}");
        assert!(
            text.contains("not a usable") || text.contains("no answer"),
            "{text}"
        );
    }
    // An ETag that would split the request's headers is not kept.
    mock.answer(200, &[("etag", "\"a\" \"b\"")], &current, false);
    let (code, _, ran) = check(&root, &[]);
    assert!(code == 0 && !ran);
    let state =
        std::fs::read_to_string(root.join(STATE).join("critical-updates.metalink")).unwrap();
    assert_eq!(state.split(' ').nth(1), Some("-"), "{state}");

    // The origin's hold, and 503 + Retry-After (seconds, then an HTTP-date):
    // each makes the check stand still without a request.
    let in_90s = httpdate(std::time::SystemTime::now() + std::time::Duration::from_secs(90));
    for (status, header, value, said) in [
        (
            200,
            "hotpush-check-hold",
            "300".to_owned(),
            "hold for 300 s",
        ),
        (503, "retry-after", "60".to_owned(), "holding for 60 s"),
        (503, "retry-after", in_90s, "holding for "),
    ] {
        mock.answer(status, &[(header, value.as_str())], &current, false);
        let (code, text, ran) = check(&root, &[]);
        assert!(code == 0 && !ran, "{text}");
        assert!(text.contains(said), "{text}");
        let asked = mock.seen().len();
        let (code, _, _) = check(&root, &[]);
        assert_eq!(code, 0);
        assert_eq!(mock.seen().len(), asked, "a request during the hold");
        std::fs::remove_file(root.join(STATE).join("hold-until")).unwrap();
    }

    // Keys only from files under the root: a .repo whose keys are URLs,
    // or name files that are not there, is never refreshed (no request).
    let repo_path = root.join("etc/yum.repos.d/critical-updates.repo");
    let repo_text = std::fs::read_to_string(&repo_path).unwrap();
    for keys in [
        "https://[::1]:9/KEY",
        "file:///etc/pki/rpm-gpg/MISSING",
        "file:///etc/pki/rpm-gpg/K$(id)",
    ] {
        std::fs::write(
            &repo_path,
            repo_text.replace("file:///etc/pki/rpm-gpg/KEY", keys),
        )
        .unwrap();
        let asked = mock.seen().len();
        let (code, text, ran) = check(&root, &[]);
        assert!(code == 0 && !ran, "{text}");
        assert!(text.contains("refusing to refresh without keys"), "{text}");
        assert_eq!(mock.seen().len(), asked, "{keys}: a request");
    }
    std::fs::write(&repo_path, repo_text).unwrap();

    // A `releasever` in dnf's vars directory overrides the rpm database, as
    // it does for dnf.
    mock.answer(200, &[], &current, true);
    install("/etc/dnf/vars/releasever", b"44\n", 0o644);
    let (code, text, ran) = check(&root, &[]);
    assert!(code == 0 && !ran, "{text}");
    let seen = mock.seen();
    let last = &seen.last().unwrap().0;
    assert!(last.contains("repo=critical-f44&"), "{seen:?}");
    std::fs::remove_file(root.join("etc/dnf/vars/releasever")).unwrap();

    // Origin unreachable: exit 0, one line.
    mock.stop();
    let (code, text, ran) = check(&root, &[]);
    assert!(code == 0 && !ran, "{text}");
    assert!(text.contains("no answer from the origin"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for `Retry-After`.
fn httpdate(t: std::time::SystemTime) -> String {
    let out = run_ok(Command::new("date").args([
        "-u",
        "-d",
        &format!(
            "@{}",
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        ),
        "+%a, %d %b %Y %H:%M:%S GMT",
    ]));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// One GET of the origin's router (no network) with extra request headers.
async fn get_with(
    t: &crate::common::test_app::TestApp,
    uri: &str,
    headers: &[(&str, &str)],
) -> (u16, axum::http::HeaderMap, Vec<u8>) {
    send(t, "GET", uri, headers, String::new()).await
}

async fn send(
    t: &crate::common::test_app::TestApp,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, axum::http::HeaderMap, Vec<u8>) {
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = t
        .router()
        .clone()
        .oneshot(req.body(axum::body::Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

/// The origin's side of the wire contract, in process: the metalink answers
/// `If-None-Match` (every form that names its ETag: plain, weak, in a list,
/// `*`) with an empty 304 and anything else with the document; a publication
/// changes the ETag; the hold is set only by the push group, bounded to a day,
/// audited, and rides on every metalink answer (200, 304, 404) until lifted;
/// `countme` is counted by bucket 1..4 and anything else is ignored.
#[tokio::test]
async fn origin_metalink_is_conditional_holds_and_counts_countme() {
    use crate::common::test_app::{signed_rpm, TestApp};
    use axum::http::Method;
    let t = TestApp::init().start().await;
    let uri = "/metalink?repo=critical-f43&arch=x86_64";
    let (status, headers, body) = get_with(&t, uri, &[]).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("repomd.xml"));
    // Weak: the bytes vary with the per-request host order, the validator
    // covers the repomd hash and the set of hosts (the read-path rule).
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let opaque = etag.strip_prefix("W/").unwrap_or(&etag).to_owned();
    assert!(
        opaque.len() > 2 && opaque.starts_with('"') && opaque.ends_with('"'),
        "{etag}"
    );
    for inm in [
        etag.clone(),
        opaque.clone(),
        format!("\"elsewhere\", {etag}"),
        "*".to_owned(),
    ] {
        let (status, headers, body) = get_with(&t, uri, &[("if-none-match", &inm)]).await;
        assert_eq!((status, body.len()), (304, 0), "{inm}");
        assert_eq!(headers["etag"].to_str().unwrap(), etag, "{inm}");
    }
    for inm in ["\"elsewhere\"", &opaque[1..], ""] {
        let (status, _, body) = get_with(&t, uri, &[("if-none-match", inm)]).await;
        assert_eq!(status, 200, "{inm}");
        assert!(!body.is_empty());
    }

    // A publication changes the document and so the ETag.
    let token = t.push_token();
    t.push(&token, "CRIT-2026-0401", &[signed_rpm()]).await;
    t.run_pending_jobs().await;
    let (status, headers, _) = get_with(&t, uri, &[("if-none-match", &etag)]).await;
    assert_eq!(status, 200);
    let new_etag = headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);

    // The hold: push group only, at most a day, audited.
    let hold = |token: Option<String>, seconds: u64| {
        let t = &t;
        async move {
            let auth = token.map(|t| format!("Bearer {t}")).unwrap_or_default();
            let mut headers = vec![("content-type", "application/json")];
            if !auth.is_empty() {
                headers.push(("authorization", auth.as_str()));
            }
            let (status, _, body) = send(
                t,
                "PUT",
                "/api/v1/check-hold",
                &headers,
                serde_json::json!({ "seconds": seconds }).to_string(),
            )
            .await;
            let seconds = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["seconds"].as_u64());
            (status, seconds, String::from_utf8_lossy(&body).into_owned())
        }
    };
    assert_eq!(hold(None, 600).await.0, 401);
    let reader = t.token("bob", "readers");
    assert_eq!(hold(Some(reader), 600).await.0, 403);
    assert_eq!(hold(Some(token.clone()), 86_401).await.0, 400);
    assert_eq!(
        get_with(&t, uri, &[]).await.1.get("hotpush-check-hold"),
        None
    );
    let (status, seconds, text) = hold(Some(token.clone()), 600).await;
    assert_eq!(status, 200, "{text}");
    assert!(matches!(seconds, Some(599..=600)), "{text}");
    for (uri, inm, want) in [
        (uri, "", 200),
        (uri, new_etag.as_str(), 304),
        ("/metalink?repo=critical-f99&arch=x86_64", "", 404),
    ] {
        let (status, headers, _) = get_with(&t, uri, &[("if-none-match", inm)]).await;
        assert_eq!(status, want, "{uri}");
        let secs: u64 = headers["hotpush-check-hold"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=600).contains(&secs), "{secs}");
    }
    let got = t.get("/api/v1/check-hold").await.json();
    assert!(matches!(got["seconds"].as_u64(), Some(1..=600)), "{got}");
    assert_eq!(hold(Some(token.clone()), 0).await.1, Some(0));
    assert_eq!(
        get_with(&t, uri, &[]).await.1.get("hotpush-check-hold"),
        None
    );
    let admin = t.token("root", "admin");
    let audit = t
        .request(
            Method::GET,
            "/api/v1/audit",
            Some(&admin),
            axum::body::Body::empty(),
        )
        .await
        .json();
    let holds: Vec<(bool, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "hold the critical checks")
        .map(|e| {
            (
                e["allowed"] == true,
                e["target"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(holds.contains(&(false, "600 s".to_owned())), "{holds:?}");
    assert!(holds.contains(&(true, "600 s".to_owned())), "{holds:?}");
    assert!(holds.contains(&(true, "0 s".to_owned())), "{holds:?}");

    // countme: buckets 1..4 counted, anything else ignored; never an identifier.
    for v in ["1", "2", "2", "4", "0", "5", "abc", "1x", "-1", ""] {
        let (status, _, _) = get_with(&t, &format!("{uri}&countme={v}"), &[]).await;
        assert_eq!(status, 200, "{v}");
    }
    let metrics = t.get("/metrics").await.text();
    let count = |bucket: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "hotpush_metalink_countme_total{{bucket=\"{bucket}\"}} "
                ))?
                .parse::<u64>()
                .ok()
            })
            .unwrap_or(0)
    };
    assert_eq!(
        ["0", "1", "2", "3", "4", "5"].map(count),
        [0, 1, 2, 0, 1, 0],
        "{metrics}"
    );
}
