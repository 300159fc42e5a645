//! Publication hooks and the activity log: a failing pre-publication hook stops
//! the publication and the activity log says why; post-publication hooks get the
//! priority as first argument and the repo, revision and advisories in the
//! environment; `/metrics` reports publishes and requests.
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::fixtures::{build_rpm, http_get, http_get_with_token, Origin};

fn write_hook(dir: &Path, phase: &str, name: &str, body: &str) {
    let d = dir.join("hooks").join(format!("{phase}.d"));
    std::fs::create_dir_all(&d).unwrap();
    let path = d.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

fn wait_idle(origin: &Origin) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while origin.status_json()["queue_depth"].as_i64() != Some(0) {
        assert!(Instant::now() < deadline, "publisher did not go idle");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every job, read with a push-group token (a failed push's job is not public).
fn activity(origin: &Origin, token_file: &std::path::Path) -> Vec<serde_json::Value> {
    let (code, body) =
        http_get_with_token(&format!("{}/api/v1/activity", origin.url), token_file).unwrap();
    assert_eq!(code, 200);
    serde_json::from_slice::<serde_json::Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn failing_pre_hook_stops_publication_and_post_hooks_see_the_publication() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let origin = Origin::start(dir, None, "require_signed_packages = false\n");
    wait_idle(&origin);
    let token = origin.token("alice", "security");
    let data = origin.data_dir.clone();
    let record = dir.join("post-hook.env");
    write_hook(
        &data,
        "post-publication",
        "10-record",
        &format!(
            "echo \"$1 $HOTPUSH_REPO $HOTPUSH_REVISION $HOTPUSH_ADVISORIES $HOTPUSH_PRIORITY\" >> {}",
            record.display()
        ),
    );
    // Not run: names with a dot are skipped, as run-parts does.
    write_hook(&data, "post-publication", "20-skip.sh", "exit 1");

    // A pre-publication hook that refuses: the push fails, nothing is published.
    write_hook(
        &data,
        "pre-publication",
        "50-freeze",
        "echo 'release freeze in effect' >&2; exit 3",
    );
    let before = origin.status_json()["repos"][0]["revision"].clone();
    let rpm = build_rpm(dir, "hooked", "1", "1", "noarch");
    let out = origin.push(&token, "HOOK-1", &[&rpm], &[]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("pre-publication hook") && err.contains("50-freeze"),
        "{err}"
    );
    assert_eq!(origin.status_json()["repos"][0]["revision"], before);
    let jobs = activity(&origin, &token);
    let failed = jobs
        .iter()
        .find(|j| j["state"] == "failed")
        .expect("the activity log shows the failed job");
    let why = failed["error"].as_str().unwrap();
    assert!(
        why.contains("50-freeze") && why.contains("exit status: 3"),
        "{why}"
    );
    assert!(failed["duration_ms"].as_i64().is_some(), "{failed}");
    // The hook's output is kept.
    let logs: Vec<_> = std::fs::read_dir(data.join("hooks/log"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(
        logs.iter().any(|l| l.contains("release freeze in effect")),
        "{logs:?}"
    );
    assert!(!record.exists(), "post hooks ran for a stopped publication");

    // Freeze lifted: the next push publishes, and the post hook sees it.
    std::fs::remove_file(data.join("hooks/pre-publication.d/50-freeze")).unwrap();
    let out = origin.push(&token, "HOOK-2", &[&rpm], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = std::fs::read_to_string(&record).unwrap();
    let x86 = seen
        .lines()
        .find(|l| l.contains("critical/43/x86_64"))
        .unwrap_or_else(|| panic!("{seen}"));
    let fields: Vec<&str> = x86.split_whitespace().collect();
    assert_eq!(fields[0], "0", "security priority first: {x86}");
    assert!(fields[2].parse::<u64>().unwrap() > 0, "{x86}");
    assert_eq!(fields[3], "HOOK-2", "{x86}");
    assert_eq!(fields[4], "0", "{x86}");
    let done = activity(&origin, &token)
        .into_iter()
        .filter(|j| j["state"] == "done")
        .count();
    assert!(done >= 2, "start-up reconcile and the push");

    // Retirement is routine work: priority 1.
    let out = crate::common::support::hotpush()
        .args(["retire", "--server", &origin.url, "--token-file"])
        .arg(&token)
        .arg("HOOK-2")
        .output()
        .unwrap();
    assert!(out.status.success());
    let seen = std::fs::read_to_string(&record).unwrap();
    assert!(
        seen.lines().last().unwrap().starts_with("1 "),
        "retire ran at routine priority: {seen}"
    );

    // Metrics carry publishes, queue depth and requests by route and status.
    let (code, body) = http_get(&format!("{}/metrics", origin.url)).unwrap();
    assert_eq!(code, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("hotpush_publish_failures_total 1"), "{text}");
    assert!(text.contains("hotpush_queue_depth 0"), "{text}");
    assert!(
        text.contains(
            "hotpush_http_requests_total{route=\"/api/v1/pushes/{id}/submit\",status=\"202\"}"
        ),
        "{text}"
    );
    let count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("hotpush_publish_duration_seconds_count "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(count >= 3, "{text}");
}
