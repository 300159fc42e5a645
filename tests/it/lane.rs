//! The read path's fast lane (`io::lane`, `io::serve`) against the router it
//! bypasses, on a real `hotpush serve` and a real `hotpush receive`: for every
//! kind of read request (metalink, its 404, repomd.xml and its .asc and .key,
//! content-named repodata, a package held in memory, missing and hostile
//! paths; GET and HEAD; with and without a matching `If-None-Match`) the lane
//! and the router (reached with the same request spelled with one
//! percent-encoded character, which the lane leaves to hyper) answer the same
//! status, headers and bytes. Also: pipelined and kept-alive requests moving
//! between the lane and hyper, a large answer to a slow reader, and clients
//! that stall or send nothing never holding up the others.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::common::fixtures::{build_rpm_sized, Gpg, Origin};
use crate::common::partner::{poll, Receiver};

/// One parsed response: status, headers (lower-case names, `date` left
/// out, sorted) and body.
#[derive(PartialEq, Eq)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = if self.body.len() <= 200 {
            String::from_utf8_lossy(&self.body).into_owned()
        } else {
            format!(
                "{} bytes, sha256 {}",
                self.body.len(),
                crate::common::repo_files::sha256_hex(&self.body)
            )
        };
        write!(f, "{} {:?} body: {body}", self.status, self.headers)
    }
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every response in `raw`, in order; `heads[i]` says whether the
/// i-th request was HEAD (no body whatever the length says).
fn parse_all(mut raw: &[u8], heads: &[bool]) -> Vec<Resp> {
    let mut out = Vec::new();
    for &head in heads {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| {
                panic!(
                    "no whole response head in {:?}",
                    String::from_utf8_lossy(raw)
                )
            })
            + 4;
        let text = std::str::from_utf8(&raw[..end]).unwrap();
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status: u16 = status_line[9..12].parse().unwrap();
        let mut headers = Vec::new();
        let mut date = false;
        for line in lines.filter(|l| !l.is_empty()) {
            let (n, v) = line.split_once(':').unwrap();
            let n = n.to_ascii_lowercase();
            if n == "date" {
                date = true;
                continue;
            }
            headers.push((n, v.trim().to_owned()));
        }
        assert!(date, "no Date: {text}");
        headers.sort();
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
        let body_len = if head || status == 304 { 0 } else { len };
        assert!(raw.len() >= end + body_len, "a short body: {text}");
        out.push(Resp {
            status,
            headers,
            body: raw[end..end + body_len].to_vec(),
        });
        raw = &raw[end + body_len..];
    }
    assert!(raw.is_empty(), "bytes after the last response: {raw:?}");
    out
}

/// Sends `requests` (method, target, extra header lines) on one connection in
/// one write, the last with `Connection: close`, and parses the answers.
fn exchange(addr: &str, requests: &[(&str, &str, &str)]) -> Vec<Resp> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut text = String::new();
    for (i, (method, target, extra)) in requests.iter().enumerate() {
        let close = if i + 1 == requests.len() {
            "Connection: close\r\n"
        } else {
            ""
        };
        text.push_str(&format!(
            "{method} {target} HTTP/1.1\r\nHost: test\r\nUser-Agent: lane-test\r\n{extra}{close}\r\n"
        ));
    }
    s.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let heads: Vec<bool> = requests.iter().map(|r| r.0 == "HEAD").collect();
    parse_all(&raw, &heads)
}

/// The router's spelling of `target`: one character percent-encoded, which
/// the lane leaves to hyper and the handlers decode to the same request.
fn via_router(target: &str) -> String {
    if let Some(rest) = target.strip_prefix("/pub/c") {
        return format!("/pub/%63{rest}");
    }
    if let Some((path, query)) = target.split_once("repo=c") {
        return format!("{path}repo=%63{query}");
    }
    panic!("no router spelling for {target}")
}

fn addr_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

/// The origin's count of requests its fast lane answered.
fn lane_answers(addr: &str) -> usize {
    let r = exchange(addr, &[("GET", "/metrics", "")]);
    let text = String::from_utf8(r[0].body.clone()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("hotpush_http_fast_lane_answers_total "))
        .unwrap_or_else(|| panic!("no lane counter in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

const REPO: &str = "/pub/critical/43/x86_64";
const METALINK: &str = "/metalink?repo=critical-f43&arch=x86_64";

/// An origin with one partner and one published package of `payload` bytes.
fn setup(dir: &Path, payload: usize) -> (Origin, Receiver, Gpg, String) {
    let gpg = Gpg::new(dir, "security@example.com");
    let partner = Receiver::start();
    let mirrors = dir.join("mirrors.toml");
    std::fs::write(&mirrors, partner.mirror_toml("p")).unwrap();
    let origin = Origin::start_full(
        dir,
        Some(&gpg.public_key),
        "\n[publish]\npartner_deadline_secs = 30\n[metalink]\nprobe_interval_secs = 0\n[server]\nheader_read_timeout_secs = 2\nidle_timeout_secs = 4\n",
        Some(&mirrors),
        None,
    );
    let rpm = build_rpm_sized(dir, "bigfix", "1.0", "1", "noarch", payload);
    gpg.sign(&rpm);
    let token = origin.token("alice", "security");
    let out = origin.push(&token, "CRIT-2026-0301", &[&rpm], &["--timeout-secs", "60"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = rpm.file_name().unwrap().to_str().unwrap().to_owned();
    let package = format!("{REPO}/Packages/b/{name}");
    (origin, partner, gpg, package)
}

#[test]
fn the_lane_and_the_router_answer_every_read_request_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Over 256 KiB: a package the hot set keeps in memory once read.
    let (origin, partner, _gpg, package) = setup(dir, 600 * 1024);
    let origin_addr = addr_of(&origin.url);
    let partner_addr = addr_of(&partner.public_url);
    // The partner's metalink copy arrives with the fan-out.
    poll(
        "the partner's metalink copy",
        Duration::from_secs(30),
        || {
            let r = exchange(&partner_addr, &[("GET", METALINK, "")]);
            (r[0].status == 200).then_some(())
        },
    );
    let repomd = exchange(
        &origin_addr,
        &[("GET", &format!("{REPO}/repodata/repomd.xml"), "")],
    );
    let text = String::from_utf8(repomd[0].body.clone()).unwrap();
    let primary = text
        .split("href=\"")
        .skip(1)
        .find(|s| s.contains("primary"))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let targets = [
        METALINK.to_owned(),
        "/metalink?repo=critical-f99&arch=x86_64".to_owned(),
        format!("{REPO}/repodata/repomd.xml"),
        format!("{REPO}/repodata/repomd.xml.asc"),
        format!("{REPO}/repodata/repomd.xml.key"),
        format!("{REPO}/{primary}"),
        package.clone(),
        format!("{REPO}/Packages/n/nothing-1-1.noarch.rpm"),
        "/pub/critical/../../../etc/passwd".to_owned(),
        "/pub/critical/43/x86_64/repodata/.repomd.xml.tmp".to_owned(),
    ];
    for addr in [&origin_addr, &partner_addr] {
        // Reads the package in once, so that the lane finds it in memory.
        let warm = exchange(addr, &[("GET", &package, "")]);
        assert_eq!(warm[0].status, 200, "{addr}: {:?}", warm[0].headers);
        let (mut compared, mut not_modified, mut lane_spelled) = (0, 0, 0);
        let lane_before = lane_answers(&origin_addr);
        for target in &targets {
            let plain = exchange(addr, &[("GET", target, "")]);
            lane_spelled += 1;
            let etag = plain[0].header("etag").map(str::to_owned);
            let mut extras = vec![String::new(), "If-None-Match: \"0000\"\r\n".to_owned()];
            if let Some(etag) = &etag {
                extras.push(format!("If-None-Match: {etag}\r\n"));
                extras.push(format!("If-None-Match: \"x\", {etag}\r\n"));
            }
            for method in ["GET", "HEAD"] {
                for extra in &extras {
                    let lane = exchange(addr, &[(method, target, extra)]);
                    lane_spelled += 1;
                    let router = exchange(addr, &[(method, &via_router(target), extra)]);
                    let (mut l, mut r) = (
                        lane.into_iter().next().unwrap(),
                        router.into_iter().next().unwrap(),
                    );
                    // hyper gives a 304 to HEAD `content-length: 0` (axum
                    // empties the body first), not to GET; RFC 9110 8.6 has a
                    // 304 carry no length but the representation's: the lane
                    // sends none to either, as hyper does to GET.
                    if method == "HEAD" && r.status == 304 {
                        r.headers
                            .retain(|(n, v)| !(n == "content-length" && v == "0"));
                    }
                    // The metalink's URL order is drawn per request.
                    if target.starts_with("/metalink") && l.status == 200 && method == "GET" {
                        assert_eq!(l.body.len(), r.body.len(), "{addr} {target}");
                        l.body.clone_from(&r.body);
                    }
                    assert_eq!(l, r, "{addr} {method} {target} {extra:?}");
                    compared += 1;
                    if etag.as_ref().is_some_and(|e| extra.contains(e.as_str())) {
                        assert_eq!(l.status, 304, "{addr} {method} {target}");
                        not_modified += 1;
                    }
                }
            }
        }
        // Metalink, repomd.xml, .asc, .key and primary carry ETags: each
        // 304s to GET and HEAD with the ETag alone and within a list.
        assert_eq!(not_modified, 5 * 2 * 2, "{addr}");
        assert!(compared >= 50, "{addr}: {compared}");
        if addr == &origin_addr {
            // Each request in the lane's spelling was the lane's, and none in
            // the router's (`/metrics` counts them).
            assert_eq!(lane_answers(&origin_addr) - lane_before, lane_spelled);
        }
    }

    // Pipelined: lane, router, lane on one connection, all answered in order
    // (once hyper has the connection it answers the rest).
    for addr in [&origin_addr, &partner_addr] {
        let asc = format!("{REPO}/repodata/repomd.xml.asc");
        let pkg = exchange(addr, &[("GET", &package, "")]);
        let r = exchange(
            addr,
            &[
                ("GET", &asc, ""),
                ("HEAD", &via_router(&package), ""),
                ("GET", &asc, ""),
                ("GET", &package, ""),
            ],
        );
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], r[2], "{addr}");
        assert_eq!(r[1].status, 200);
        assert!(r[1].body.is_empty());
        assert_eq!(r[3], pkg[0], "{addr}");
        assert_eq!(
            r[3].header("content-length"),
            r[1].header("content-length"),
            "{addr}"
        );
        // HTTP/1.0: answered and closed without `Connection: close` asked.
        let mut s = TcpStream::connect(addr.as_str()).unwrap();
        s.write_all(format!("GET {asc} HTTP/1.0\r\n\r\n").as_bytes())
            .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let one = parse_all(&raw, &[false]);
        assert_eq!(one[0].body, r[0].body);
        assert_eq!(one[0].header("connection"), Some("close"));
    }
}

#[test]
fn slow_stalled_and_silent_clients_never_hold_up_the_lane() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 8 MiB: more than a socket takes at once, so the accept thread hands the
    // rest of the answer to a connection task.
    let payload = 8 * 1024 * 1024;
    let (origin, _partner, _gpg, package) = setup(dir, payload);
    let addr = addr_of(&origin.url);
    let full = exchange(&addr, &[("GET", &package, "")]);
    assert_eq!(full[0].status, 200);
    let len = full[0].body.len();
    assert!(len > payload);

    // More silent and half-sent connections than there are accept threads.
    let mut idle: Vec<TcpStream> = Vec::new();
    for i in 0..64 {
        let mut s = TcpStream::connect(addr.as_str()).unwrap();
        if i % 2 == 0 {
            s.write_all(format!("GET {METALINK} HTTP/1.1\r\nHost: x\r\n").as_bytes())
                .unwrap();
        }
        idle.push(s);
    }
    // A slow reader of the large answer, kept alive for a second request.
    let mut slow = TcpStream::connect(addr.as_str()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    slow.write_all(format!("GET {package} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // Meanwhile every other client is answered at once.
    for _ in 0..20 {
        let r = exchange(&addr, &[("GET", METALINK, "")]);
        assert_eq!(r[0].status, 200);
    }

    // The slow reader gets every byte, then a second answer on the same
    // connection.
    let mut raw = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let want_first = loop {
        let n = slow.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early after {} bytes", raw.len());
        raw.extend_from_slice(&chunk[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            if raw.len() >= end + 4 + len {
                break end + 4 + len;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(raw.len(), want_first, "nothing more was sent");
    slow.write_all(
        format!("HEAD {package} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    slow.read_to_end(&mut raw).unwrap();
    let both = parse_all(&raw, &[false, true]);
    assert_eq!(both[0].status, 200);
    assert!(
        both[0].body == full[0].body,
        "the slow reader's bytes differ"
    );
    assert_eq!(
        both[1].header("content-length"),
        Some(len.to_string().as_str())
    );

    // No answer to nothing or half a head: the half-sent heads are cut at the
    // header-read timeout (2 s here), and so are the silent connections,
    // which the kernel hands over only after its deferred-accept second.
    for (i, s) in idle.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut rest = Vec::new();
        match s.read_to_end(&mut rest) {
            Ok(_) => assert!(
                rest.is_empty(),
                "connection {i} got an answer to nothing or half a head: {:?}",
                String::from_utf8_lossy(&rest)
            ),
            Err(e) => assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset,
                "connection {i} was not cut: {e}"
            ),
        }
    }
    drop(idle);
}

/// One answer over HTTPS: status, headers without `date`, sorted, and body.
async fn https_get(client: &reqwest::Client, url: &str, if_none_match: Option<&str>) -> Resp {
    let mut req = client.get(url);
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status().as_u16();
    let mut headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(n, _)| n.as_str() != "date")
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    let body = resp.bytes().await.unwrap().to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

#[test]
fn over_tls_the_lane_answers_as_the_router_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "::1".to_owned()]).unwrap();
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let tls_port = crate::common::fixtures::free_port();
    let origin = Origin::start(
        dir,
        Some(&gpg.public_key),
        &format!(
            // No health probes: the origin probes itself over the lane,
            // which would add to the count this test checks.
            "\n[metalink]\nprobe_interval_secs = 0\n[tls]\ncert_file = {:?}\nkey_file = {:?}\nlisten = [\"[::1]:{tls_port}\"]\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    );
    let rpm = build_rpm_sized(dir, "tlsfix", "1.0", "1", "noarch", 400 * 1024);
    gpg.sign(&rpm);
    let token = origin.token("alice", "security");
    let pushed = origin.push(&token, "CRIT-2026-0302", &[&rpm], &["--timeout-secs", "60"]);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let package = format!(
        "{REPO}/Packages/t/{}",
        rpm.file_name().unwrap().to_str().unwrap()
    );
    let plain_addr = addr_of(&origin.url);
    let https = format!("https://[::1]:{tls_port}");
    // HTTP/1.1 only (h2 is hyper's) and a new connection per request, so
    // that each request is the first of its connection.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .http1_only()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let rt = crate::common::partner::runtime();
    // Reads the package in, so that the lane finds it in memory.
    assert_eq!(
        rt.block_on(https_get(&client, &format!("{https}{package}"), None))
            .status,
        200
    );
    let before = lane_answers(&plain_addr);
    let mut lane_spelled = 0;
    for target in [
        METALINK.to_owned(),
        format!("{REPO}/repodata/repomd.xml"),
        format!("{REPO}/repodata/repomd.xml.asc"),
        format!("{REPO}/repodata/repomd.xml.key"),
        package.clone(),
        format!("{REPO}/Packages/n/nothing-1-1.noarch.rpm"),
    ] {
        let first = rt.block_on(https_get(&client, &format!("{https}{target}"), None));
        lane_spelled += 1;
        let etag = first.header("etag").map(str::to_owned);
        for tag in [None, etag.as_deref()] {
            let mut lane = rt.block_on(https_get(&client, &format!("{https}{target}"), tag));
            let router = rt.block_on(https_get(
                &client,
                &format!("{https}{}", via_router(&target)),
                tag,
            ));
            lane_spelled += 1;
            if target.starts_with("/metalink") && lane.status == 200 {
                assert_eq!(lane.body.len(), router.body.len());
                lane.body.clone_from(&router.body);
            }
            assert_eq!(lane, router, "{target} {tag:?}");
            if tag.is_some() {
                assert_eq!(lane.status, 304, "{target}");
            }
        }
    }
    // Every lane-spelled request over TLS was the lane's; none of the
    // router's.
    assert_eq!(lane_answers(&plain_addr) - before, lane_spelled);
}
