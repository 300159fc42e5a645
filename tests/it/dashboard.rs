//! The dashboard, the advisory page and the OpenAPI document: the pages and
//! assets as served, every `/api/v1` route described, every event kind the
//! origin emits followed by the page, and a real headless Chromium (driven by
//! playwright-core from `tests/browser/`) following a push live.
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::fixtures::{build_rpm, http_get, Gpg, Origin};
use crate::common::support::require_tool;

fn source(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// String literals that start a route in `src/origin/http/mod.rs`.
fn router_paths() -> Vec<String> {
    let text = source("src/origin/http/mod.rs");
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let start = rest.find('"').unwrap() + 1;
        let end = start + rest[start..].find('"').unwrap();
        out.push(rest[start..end].to_owned());
        rest = &rest[end..];
    }
    out
}

#[test]
fn openapi_describes_every_api_route() {
    let doc: serde_json::Value =
        serde_json::from_str(hotpush::origin::http::openapi::openapi_json()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let routes = router_paths();
    let api: Vec<&String> = routes.iter().filter(|r| r.starts_with("/api/v1")).collect();
    assert!(api.len() >= 14, "{routes:?}");
    for r in &api {
        assert!(
            paths.contains_key(r.as_str()),
            "`{r}` is not in openapi.json"
        );
    }
    // And nothing described that the router does not serve.
    for p in paths.keys() {
        assert!(
            routes.contains(p),
            "openapi.json describes `{p}`, which no route serves"
        );
    }
    // Every operation answers something and every $ref resolves.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = hotpush::origin::http::openapi::openapi_json();
    for piece in text.split("\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref `{name}`");
    }
    for (p, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {p} has no responses"
            );
        }
    }
}

#[test]
fn the_page_follows_every_event_kind_the_origin_emits() {
    let js = source("src/origin/http/assets/dashboard.js");
    let list_start = js.find("const EVENT_KINDS = [").unwrap();
    let list = &js[list_start..list_start + js[list_start..].find("];").unwrap()];
    let mut kinds = std::collections::BTreeSet::new();
    let prefixes = [
        "push-",
        "package-",
        "publish-",
        "repo-",
        "advisory-",
        "partner-",
        "metalink-",
        "mirror-",
    ];
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for piece in text.split('"').skip(1).step_by(2) {
                    let is_kind = prefixes.iter().any(|p| piece.starts_with(p))
                        && piece.len() < 40
                        && piece.chars().all(|c| c.is_ascii_lowercase() || c == '-');
                    if is_kind {
                        kinds.insert(piece.to_owned());
                    }
                }
            }
        }
    }
    assert!(kinds.contains("push-published"), "{kinds:?}");
    for kind in &kinds {
        assert!(
            list.contains(&format!("'{kind}'")),
            "the origin emits `{kind}` but dashboard.js does not listen for it"
        );
    }
}

#[test]
fn pages_and_assets_are_served_and_unknown_advisories_are_404() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::start(tmp.path(), None, "");
    let get = |p: &str| {
        let (code, body) = http_get(&format!("{}{p}", origin.url)).unwrap();
        (code, String::from_utf8(body).unwrap())
    };
    let (code, index) = get("/");
    assert_eq!(code, 200);
    assert!(index.contains("<meta name=\"viewport\""), "{index}");
    assert!(index.contains("/assets/dashboard.js"));
    let (code, js) = get("/assets/dashboard.js");
    assert_eq!(code, 200);
    assert!(js.contains("new EventSource('/api/v1/events')"));
    assert!(!js.contains("setInterval"), "the page must not poll");
    assert_eq!(get("/assets/dashboard.css").0, 200);
    assert_eq!(get("/assets/../Cargo.toml").0, 404);
    assert_eq!(get("/assets/nope.js").0, 404);
    let (code, page) = get("/advisory/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(code, 404);
    assert!(page.contains("&lt;script&gt;") && !page.contains("<script>alert"));
    let (code, doc) = get("/api/v1/openapi.json");
    assert_eq!(code, 200);
    assert_eq!(doc, hotpush::origin::http::openapi::openapi_json());
}

/// A child process group killed on drop (node and the Chromium it starts).
struct Group(Option<Child>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(format!("-{}", child.id()))
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `target/test-artifacts/`: screenshots kept for people to look at.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("test-artifacts/dashboard")
}

#[test]
fn a_real_browser_follows_a_push_live_without_reloading() {
    require_tool("node");
    require_tool("/usr/bin/chromium");
    assert!(
        browser_dir().join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in tests/browser; run the suite through `tests/run`, which runs `npm ci` there"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let fix = build_rpm(dir, "hello", "1.0", "2", "noarch");
    gpg.sign(&fix);
    // A webhook nobody answers, opted in to the embargoed types: the page
    // shows its public counts only, never its name or URL.
    let hook_port = crate::common::fixtures::free_port();
    let secret = dir.join("hook.secret");
    std::fs::write(&secret, format!("whsec_{}\n", "A".repeat(44))).unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let hook = format!(
        "\n[[webhook]]\nname = \"private-hook-name\"\nurl = \"http://[::1]:{hook_port}/private-path\"\n\
         secret_file = {:?}\nevents = [\"push.created\", \"package.uploaded\", \"push.published\", \"repo.published\"]\n",
        secret.display().to_string()
    );
    let origin = Origin::start(dir, Some(&gpg.public_key), &hook);
    let token = std::fs::read_to_string(origin.token("alice", "security")).unwrap();
    let artifacts = artifacts_dir();
    std::fs::create_dir_all(&artifacts).unwrap();

    let stdout = dir.join("browser.out");
    let stderr = dir.join("browser.err");
    let child = Command::new("node")
        .arg(browser_dir().join("dashboard.mjs"))
        .current_dir(browser_dir())
        .env("HOTPUSH_URL", &origin.url)
        .env("HOTPUSH_TOKEN", token.trim())
        .env("HOTPUSH_RPM", &fix)
        .env("HOTPUSH_ADVISORY", "FEDORA-2026-0160")
        .env("HOTPUSH_ARTIFACTS", &artifacts)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut group = Group(Some(child));
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = group.0.as_mut().unwrap().try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the browser test did not finish; its log:\n{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    group.0 = None;
    let out = std::fs::read_to_string(&stdout).unwrap();
    let log = std::fs::read_to_string(&stderr).unwrap();
    let result: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| {
        panic!("the browser test printed no result ({e}):\n{out}\n--- log\n{log}")
    });
    assert!(
        status.success() && result["ok"] == true,
        "the browser test failed: {}\n--- result\n{result:#}\n--- log\n{log}\n--- origin log tail\n{}",
        result["error"].as_str().unwrap_or(""),
        tail(&origin.log)
    );
    // The script measured each step; check the numbers here too.
    let latencies = result["latencies_ms"].as_object().unwrap();
    // Before publication the page shows nothing of the push (embargo), so the
    // live steps start at the publication.
    for step in ["push-published", "advisory-retired"] {
        let ms = latencies[step].as_u64().unwrap_or(u64::MAX);
        assert!(ms < 1000, "{step} took {ms} ms to show: {result:#}");
    }
    for shot in result["screenshots"].as_array().unwrap() {
        let meta = std::fs::metadata(shot.as_str().unwrap()).unwrap();
        assert!(meta.len() > 10_000, "{shot} is suspiciously small");
    }
    eprintln!(
        "browser: live latencies {}; screenshots in {}",
        serde_json::to_string(latencies).unwrap(),
        artifacts.display()
    );
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
