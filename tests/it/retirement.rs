//! The retirement watcher against regular updates repositories made by the real
//! `createrepo_c` and served over HTTP on loopback: a live advisory stays live
//! while the updates repos are missing or hold an older build, or while only one
//! of the arches caught up, and is retired (critical repo empty again, audit
//! entry by `retirement-watcher`) once every arch repo has the fix.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::fixtures::{build_rpm, free_port, http_get, Origin};
use crate::common::support::{require_tool, run_ok};

const ADVISORY: &str = "HELLO-2026-1";

/// `python3 -m http.server` on `[::1]`, killed on drop; its access log is kept.
struct StaticServer {
    child: Child,
    log: PathBuf,
    url: String,
}

impl StaticServer {
    fn start(root: &Path, log: PathBuf) -> StaticServer {
        require_tool("python3");
        let port = free_port();
        let child = Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "::1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(root)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let server = StaticServer {
            child,
            log,
            url: format!("http://[::1]:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while http_get(&format!("{}/", server.url)).is_err() {
            assert!(Instant::now() < deadline, "http.server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// How many GETs of `path` were answered with `status`.
    fn hits(&self, path: &str, status: u16) -> usize {
        let needle = format!("\"GET {path} HTTP/1.1\" {status}");
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .count()
    }

    /// Waits until `path` has been fetched with `status` `more` times beyond
    /// `since`, checking all along that the advisory stays live at `origin`.
    fn wait_live(&self, origin: &Origin, path: &str, status: u16, since: usize, more: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert_eq!(
                advisory_state(origin),
                "live",
                "retired too early; origin log:\n{}",
                std::fs::read_to_string(&origin.log).unwrap_or_default()
            );
            let now = self.hits(path, status);
            if now >= since + more {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the watcher did not fetch `{path}` ({status}) {more} more times; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A regular updates repo: copies the RPMs in and runs the real createrepo_c
/// (gzip metadata: Debian's createrepo_c has no zstd); returns its revision.
fn make_repo(dir: &Path, rpms: &[&Path]) -> String {
    require_tool("createrepo_c");
    std::fs::create_dir_all(dir).unwrap();
    for rpm in rpms {
        std::fs::copy(rpm, dir.join(rpm.file_name().unwrap())).unwrap();
    }
    run_ok(Command::new("createrepo_c").arg("--quiet").arg(dir));
    let repomd = std::fs::read_to_string(dir.join("repodata/repomd.xml")).unwrap();
    let start = repomd
        .find("<revision>")
        .expect("createrepo_c writes a revision")
        + 10;
    let end = start + repomd[start..].find("</revision>").unwrap();
    repomd[start..end].to_owned()
}

fn advisory_state(origin: &Origin) -> String {
    let (code, body) = http_get(&format!("{}/api/v1/advisories/{ADVISORY}", origin.url)).unwrap();
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["state"].as_str().unwrap().to_owned()
}

fn packages_in(origin: &Origin, arch: &str) -> u64 {
    let st = origin.status_json();
    st["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == format!("critical/43/{arch}"))
        .and_then(|r| r["packages"].as_u64())
        .unwrap_or_else(|| panic!("no critical/43/{arch} in {st}"))
}

fn get_auth(url: &str, token: &Path) -> (u16, String) {
    let token = std::fs::read_to_string(token).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let resp = reqwest::Client::new()
                .get(url)
                .bearer_auth(token.trim())
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        })
}

#[test]
fn advisory_is_retired_once_every_arch_of_the_regular_updates_has_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let old = build_rpm(dir, "hello", "1.0", "1", "noarch");
    let fix = build_rpm(dir, "hello", "1.0", "2", "noarch");

    // Nothing there yet: the watcher's GETs get 404s.
    let mirror = dir.join("mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    let updates = StaticServer::start(&mirror, dir.join("updates-access.log"));
    let extra = format!(
        "require_signed_packages = false\n\n[retirement]\n\
         updates_baseurl = \"{}/updates/{{release}}/{{arch}}/\"\ninterval_secs = 1\n",
        updates.url
    );
    let origin = Origin::start(dir, None, &extra);
    let token = origin.token("alice", "security");
    let admin = origin.token("root", "admin");

    let x86 = "/updates/43/x86_64/repodata/repomd.xml";
    let arm = "/updates/43/aarch64/repodata/repomd.xml";
    let out = origin.push(&token, ADVISORY, &[&fix], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(packages_in(&origin, "x86_64"), 1);
    assert_eq!(packages_in(&origin, "aarch64"), 1);

    // A regular repo that cannot be read never retires anything.
    updates.wait_live(&origin, x86, 404, 0, 2);
    updates.wait_live(&origin, arm, 404, 0, 2);

    // aarch64 has the fix, x86_64 only the old build: still live.
    let arm_revision = make_repo(&mirror.join("updates/43/aarch64"), &[&old, &fix]);
    make_repo(&mirror.join("updates/43/x86_64"), &[&old]);
    let x86_seen = updates.hits(x86, 200);
    updates.wait_live(&origin, x86, 200, x86_seen, 2);
    updates.wait_live(&origin, arm, 200, 0, 2);
    assert_eq!(packages_in(&origin, "x86_64"), 1);

    // The fix reaches x86_64 too: retired, and the critical repos are empty again.
    let x86_revision = make_repo(&mirror.join("updates/43/x86_64"), &[&old, &fix]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while advisory_state(&origin) != "retired" {
        assert!(
            Instant::now() < deadline,
            "not retired; origin log:\n{}",
            std::fs::read_to_string(&origin.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while packages_in(&origin, "x86_64") != 0 || packages_in(&origin, "aarch64") != 0 {
        assert!(
            Instant::now() < deadline,
            "the critical repo was not emptied"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The audit log says who and why, naming the repos and revisions seen.
    let (code, body) = get_auth(&format!("{}/api/v1/audit", origin.url), &admin);
    assert_eq!(code, 200, "{body}");
    let audit: serde_json::Value = serde_json::from_str(&body).unwrap();
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["actor"] == "retirement-watcher")
        .unwrap_or_else(|| panic!("no audit entry by the watcher: {audit}"));
    assert_eq!(entry["action"], "retire", "{entry}");
    assert_eq!(entry["target"], ADVISORY, "{entry}");
    assert_eq!(entry["allowed"], true, "{entry}");
    let reason = entry["reason"].as_str().unwrap();
    for (arch, revision) in [("x86_64", &x86_revision), ("aarch64", &arm_revision)] {
        let seen = format!("{}/updates/43/{arch}/ (revision {revision})", updates.url);
        assert!(reason.contains(&seen), "`{seen}` not in `{reason}`");
    }

    // The retirement ran as routine work.
    let (code, body) = http_get(&format!("{}/api/v1/activity", origin.url)).unwrap();
    assert_eq!(code, 200);
    let jobs: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| {
            j["reason"]
                .as_str()
                .is_some_and(|r| r.contains(&format!("retire {ADVISORY}")))
        })
        .unwrap_or_else(|| panic!("no retire job: {jobs}"));
    assert_eq!(job["priority"], 1, "{job}");
}
