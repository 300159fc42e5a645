//! A partner that puts its own nginx in front of `hotpush receive`
//! (docs/partner-nginx.md): the real nginx runs `docs/partner-nginx.conf` on
//! `[::1]` over a real receiver's tree, the origin lists the partner by
//! nginx's URL (so it verifies through nginx), and the real dnf installs
//! through it. Conditional requests get 304 with the origin's content ETags,
//! and after the next push nginx serves the new repomd.xml with its .asc.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::fixtures::{build_rpm, free_port, http_get, Dnf, Gpg, Origin};
use crate::common::partner::{poll, KillOnDrop, Receiver};
use crate::common::support::{hotpush, require_tool, run_ok};

const NGINX: &str = "/usr/sbin/nginx";
const METALINK_QUERY: &str = "metalink?repo=critical-f43&arch=x86_64";
const REPODATA: &str = "pub/critical/43/x86_64/repodata";

/// nginx running the documented server block, with an access log.
struct Nginx {
    _process: KillOnDrop,
    url: String,
    access_log: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, receiver: &Receiver) -> Nginx {
        require_tool(NGINX);
        let dir = dir.join("nginx");
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let port = free_port();
        let upstream = receiver
            .public_url
            .strip_prefix("http://")
            .and_then(|u| u.strip_suffix("/pub"))
            .unwrap_or_else(|| panic!("{}", receiver.public_url))
            .to_owned();
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/partner-nginx.conf"),
        )
        .unwrap();
        let server = template
            .replace("@LISTEN@", &format!("[::1]:{port}"))
            .replace("@DATA_DIR@", &receiver.data().display().to_string())
            .replace("@RECEIVER@", &upstream);
        assert!(!server.contains('@'), "a placeholder is left:\n{server}");
        std::fs::write(dir.join("partner.conf"), server).unwrap();
        let access_log = dir.join("logs/access.log");
        let d = dir.display();
        // `user root`: the receiver's tree is in a temporary directory only
        // its owner may enter. `master_process off`: one process, so that
        // killing it at the end of the test leaves no worker behind.
        let main = format!(
            "user root;\ndaemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {};\n  client_body_temp_path {d}/tmp-body;\n  proxy_temp_path {d}/tmp-proxy;\n\
             fastcgi_temp_path {d}/tmp-fcgi;\n  uwsgi_temp_path {d}/tmp-uwsgi;\n  scgi_temp_path {d}/tmp-scgi;\n\
             include {d}/partner.conf;\n}}\n",
            access_log.display()
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        let conf = dir.join("nginx.conf");
        run_ok(
            Command::new(NGINX)
                .arg("-t")
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf),
        );
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut process = KillOnDrop(Some(child));
        let url = format!("http://[::1]:{port}");
        poll("nginx to answer", Duration::from_secs(30), || {
            if let Some(status) = process.0.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "nginx exited early with {status}: {}",
                    std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default()
                );
            }
            http_get(&format!("{url}/nothing-here")).ok()
        });
        Nginx {
            _process: process,
            url,
            access_log,
        }
    }
}

/// Status, ETag, Cache-Control and body of one GET (with `If-None-Match`).
fn get(url: &str, if_none_match: Option<&str>) -> (u16, Option<String>, Option<String>, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap();
    let got = rt.block_on(crate::common::conditional::get(&client, url, if_none_match));
    (got.status, got.etag, got.cache, got.body)
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::common::repo_files::sha256_hex(bytes)
}

fn push(origin: &Origin, dir: &Path, gpg: &Gpg, advisory: &str, release: &str) {
    let token = origin.token("alice", "security");
    let rpm = build_rpm(dir, "hello", "1.0", release, "noarch");
    gpg.sign(&rpm);
    let out = origin.push(&token, advisory, &[&rpm], &["--timeout-secs", "60"]);
    assert!(
        out.status.success(),
        "hotpush push failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What nginx serves now for one repository, once its metalink copy names
/// the origin's current repomd.xml; asserts the pair and the copy agree.
fn nginx_current(origin: &Origin, nginx: &Nginx) -> (String, String) {
    let origin_repomd = get(&format!("{}/{REPODATA}/repomd.xml", origin.url), None).3;
    let want = sha256_hex(&origin_repomd);
    let (etag, _) = poll(
        "nginx to serve the metalink copy of the origin's repomd.xml",
        Duration::from_secs(30),
        || {
            let (status, etag, _, body) = get(&format!("{}/{METALINK_QUERY}", nginx.url), None);
            let text = String::from_utf8_lossy(&body);
            (status == 200 && text.contains(&want)).then(|| (etag.unwrap(), text.into_owned()))
        },
    );
    let repomd = get(&format!("{}/{REPODATA}/repomd.xml", nginx.url), None);
    assert_eq!(repomd.0, 200);
    assert_eq!(repomd.3, origin_repomd, "nginx serves another repomd.xml");
    let asc = get(&format!("{}/{REPODATA}/repomd.xml.asc", nginx.url), None).3;
    let origin_asc = get(&format!("{}/{REPODATA}/repomd.xml.asc", origin.url), None).3;
    assert_eq!(
        asc, origin_asc,
        "nginx serves a repomd.xml.asc of another repomd.xml"
    );
    (etag, want)
}

#[test]
fn nginx_in_front_of_a_receiver_serves_dnf_answers_304_and_moves_in_lock_step() {
    require_tool("dnf");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let receiver = Receiver::start();
    let nginx = Nginx::start(dir, &receiver);
    // The origin knows the partner by nginx's URL: it verifies through nginx
    // and lists it there. Weight 0 for the origin: the partner comes first,
    // so dnf takes metadata and packages from nginx.
    let mirrors = dir.join("mirrors.toml");
    std::fs::write(
        &mirrors,
        format!(
            "[[mirror]]\nname = \"partner-nginx\"\npublic_url = \"{}/pub\"\nmethod = \"https\"\npush_url = \"{}\"\nsecret_file = {:?}\nca_file = {:?}\n",
            nginx.url,
            receiver.push_url,
            receiver.secret_file.display().to_string(),
            receiver.cert().display().to_string()
        ),
    )
    .unwrap();
    let origin = Origin::start_full(
        dir,
        Some(&gpg.public_key),
        "\n[publish]\npartner_deadline_secs = 30\n\n[metalink]\norigin_weight = 0\nspread_min_partners = 1\n",
        Some(&mirrors),
        None,
    );
    push(&origin, dir, &gpg, "CRIT-2026-0301", "1");
    let (metalink_etag, repomd_sha) = nginx_current(&origin, &nginx);

    // The metalink through nginx: the origin's content ETag, and 304.
    let at_origin = get(&format!("{}/{METALINK_QUERY}", origin.url), None);
    assert_eq!(at_origin.1.as_deref(), Some(metalink_etag.as_str()));
    let again = get(
        &format!("{}/{METALINK_QUERY}", nginx.url),
        Some(&metalink_etag),
    );
    assert_eq!(again.0, 304, "the metalink through nginx");
    assert!(again.3.is_empty());
    // repomd.xml and .asc: content ETags, no-cache, 304.
    for name in ["repomd.xml", "repomd.xml.asc"] {
        let url = format!("{}/{REPODATA}/{name}", nginx.url);
        let (status, etag, cache, body) = get(&url, None);
        assert_eq!(status, 200, "{url}");
        assert_eq!(etag, Some(format!("\"{}\"", sha256_hex(&body))), "{url}");
        assert_eq!(cache.as_deref(), Some("no-cache"), "{url}");
        let (status, _, _, body) = get(&url, etag.as_deref());
        assert_eq!((status, body.len()), (304, 0), "{url}");
    }
    // The bulk straight from the tree: exact bytes, its cache policy, and a
    // 304 for nginx's own validator.
    let package = "pub/critical/43/x86_64/Packages/h/hello-1.0-1.noarch.rpm";
    let (status, etag, cache, body) = get(&format!("{}/{package}", nginx.url), None);
    assert_eq!(status, 200);
    assert_eq!(cache.as_deref(), Some("public, max-age=3600"));
    assert_eq!(body, get(&format!("{}/{package}", origin.url), None).3);
    let (status, ..) = get(&format!("{}/{package}", nginx.url), etag.as_deref());
    assert_eq!(status, 304, "the package with nginx's ETag");
    let repomd = get(&format!("{}/{REPODATA}/repomd.xml", nginx.url), None).3;
    let repomd = String::from_utf8(repomd).unwrap();
    let data_file = repomd
        .split("href=\"repodata/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a data file in repomd.xml");
    let (status, _, cache, _) = get(&format!("{}/{REPODATA}/{data_file}", nginx.url), None);
    assert_eq!(status, 200, "{data_file}");
    assert_eq!(
        cache.as_deref(),
        Some("public, max-age=31536000, immutable"),
        "{data_file}"
    );
    // What is not a plain published file is not served.
    for bad in [
        "pub/critical/43/x86_64/repodata/.repomd.xml.1.1.tmp",
        "pub/../tls/key.pem",
    ] {
        let (status, ..) = get(&format!("{}/{bad}", nginx.url), None);
        assert!(status == 404 || status == 400, "{bad}: {status}");
    }

    // The real dnf through nginx alone (baseurl): repomd.xml and its .asc
    // (repo_gpgcheck=1 checks one against the other) and the package.
    let repo =
        String::from_utf8(run_ok(hotpush().args(["repofile", "--server", &origin.url])).stdout)
            .unwrap();
    let through_nginx = |source: &str| -> String {
        repo.lines()
            .filter(|l| !l.starts_with("metalink=") && !l.starts_with("baseurl="))
            .map(|l| {
                if l.starts_with("enabled=") {
                    format!("{source}\n{l}")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let by_baseurl = through_nginx(&format!(
        "baseurl={}/pub/critical/$releasever/$basearch/",
        nginx.url
    ));
    assert!(by_baseurl.contains("repo_gpgcheck=1"), "{by_baseurl}");
    let dnf = Dnf::new(&dir.join("client"), &by_baseurl);
    dnf.ok(&["install", "hello"]);
    assert_eq!(
        dnf.installed("hello").as_deref(),
        Some("hello-1.0-1.noarch")
    );
    let log = std::fs::read_to_string(&nginx.access_log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("GET /{package} ")) && l.contains("\" 200 ")),
        "dnf did not fetch the package through nginx:\n{log}"
    );
    // And through nginx's metalink copy: dnf checks the repomd.xml it gets
    // against the hash the copy names.
    let by_metalink = through_nginx(&format!(
        "metalink={}/metalink?repo=critical-f$releasever&arch=$basearch",
        nginx.url
    ));
    let dnf_ml = Dnf::new(&dir.join("client-metalink"), &by_metalink);
    dnf_ml.ok(&["makecache"]);
    let log = std::fs::read_to_string(&nginx.access_log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("GET /metalink?") && l.contains("\" 200 ")),
        "dnf did not fetch the metalink through nginx:\n{log}"
    );

    // The next push: nginx serves the new repomd.xml with its .asc, the
    // metalink copy names it, the old ETags no longer match, and dnf upgrades
    // through nginx.
    push(&origin, dir, &gpg, "CRIT-2026-0302", "2");
    let (new_etag, new_sha) = nginx_current(&origin, &nginx);
    assert_ne!(new_sha, repomd_sha);
    assert_ne!(new_etag, metalink_etag);
    let (status, ..) = get(
        &format!("{}/{METALINK_QUERY}", nginx.url),
        Some(&metalink_etag),
    );
    assert_eq!(status, 200, "the old metalink ETag after a push");
    let (status, ..) = get(
        &format!("{}/{REPODATA}/repomd.xml", nginx.url),
        Some(&format!("\"{repomd_sha}\"")),
    );
    assert_eq!(status, 200, "the old repomd.xml ETag after a push");
    dnf.ok(&["upgrade", "--refresh", "hello"]);
    assert_eq!(
        dnf.installed("hello").as_deref(),
        Some("hello-1.0-2.noarch")
    );
}
