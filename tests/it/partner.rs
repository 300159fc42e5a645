//! Partner mirrors over the `https` method: the real `hotpush receive` binary on
//! loopback, driven by the library's fan-out and by hand-made signed requests.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hotpush::core::protocol::{self, CommitFile, CommitRequest};
use hotpush::origin::mirrors::{Mirror, PushMethod};
use hotpush::origin::sync::{fanout, FanoutEvent, FanoutOptions, RepoRevision};

use crate::common::partner::{build_revision, options, runtime, Receiver, Signer};
use crate::common::support;

fn http_get(url: &str, ca: Option<&Path>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    runtime().block_on(async {
        let client = hotpush::origin::sync::https::http_client(
            ca,
            Duration::from_secs(2),
            Duration::from_secs(5),
        )
        .unwrap();
        let response = client.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.bytes().await.unwrap().to_vec())
    })
}

#[test]
fn upload_commit_and_serve_round_trip_keeps_old_files() {
    let signer = Signer::new();
    let work = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let mirror = receiver.mirror("partner-a");
    let rev1 = build_revision(
        work.path(),
        &["Archer-3.4.5-6.x86_64.rpm"],
        "critical/43/x86_64",
        1,
        &signer,
    );
    let rev2 = build_revision(
        work.path(),
        &["Archer-3.4.5-6.x86_64.rpm", "Rimmer-1.0.2-2.x86_64.rpm"],
        "critical/43/x86_64",
        2,
        &signer,
    );
    let rt = runtime();

    let outcomes = rt.block_on(fanout(
        std::slice::from_ref(&mirror),
        std::slice::from_ref(&rev1),
        &options(&signer, Duration::from_secs(30)),
    ));
    assert_eq!(outcomes.len(), 1);
    assert!(outcomes[0].verified, "{outcomes:?}");
    assert_eq!(outcomes[0].stage, "verified");

    // Plain HTTP and HTTPS serve the exact bytes with the right caching headers.
    let base = format!("{}/critical/43/x86_64", receiver.public_url);
    let (status, headers, body) = http_get(&format!("{base}/repodata/repomd.xml"), None);
    assert_eq!((status, body.as_slice()), (200, rev1.repomd.as_slice()));
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(
        headers["content-length"],
        rev1.repomd.len().to_string().as_str()
    );
    assert!(headers.get("content-encoding").is_none());
    let (_, headers, body) = http_get(&format!("{base}/repodata/repomd.xml.asc"), None);
    assert_eq!(
        (headers["cache-control"].to_str().unwrap(), body),
        ("no-cache", rev1.repomd_asc.clone())
    );
    for file in &rev1.files {
        let (status, headers, body) = http_get(
            &format!("{}/pub/critical/43/x86_64/{}", receiver.push_url, file.path),
            Some(&receiver.cert()),
        );
        assert_eq!(status, 200, "{}", file.path);
        assert_eq!(protocol::sha256_hex(&body), file.sha256, "{}", file.path);
        assert_eq!(headers["content-length"], file.size.to_string().as_str());
        if file.path.starts_with("repodata/") {
            assert!(
                headers["cache-control"]
                    .to_str()
                    .unwrap()
                    .contains("immutable"),
                "{}",
                file.path
            );
        }
    }
    assert_eq!(
        http_get(&format!("{base}/repodata/../../../../secret"), None).0,
        404
    );
    assert_eq!(
        http_get(&format!("{base}/repodata/nothing.xml.zst"), None).0,
        404
    );

    // Revision 2: only the lacking files travel; revision 1's files stay (retention).
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let opts = FanoutOptions {
        on_event: Some(Arc::new(move |e: &FanoutEvent| {
            sink.lock().unwrap().push(e.clone())
        })),
        ..options(&signer, Duration::from_secs(30))
    };
    let outcomes = rt.block_on(fanout(
        std::slice::from_ref(&mirror),
        std::slice::from_ref(&rev2),
        &opts,
    ));
    assert!(outcomes[0].verified, "{outcomes:?}");
    let new_files = rev2
        .files
        .iter()
        .filter(|f| !rev1.files.iter().any(|o| o.sha256 == f.sha256))
        .count();
    let events = events.lock().unwrap().clone();
    assert!(
        events.contains(&FanoutEvent::DataDone {
            mirror: "partner-a".into(),
            uploaded: new_files
        }),
        "{events:?}"
    );
    let order: Vec<&str> = events
        .iter()
        .map(|e| match e {
            FanoutEvent::DataDone { .. } => "data",
            FanoutEvent::DataStageOver { .. } => "data-over",
            FanoutEvent::Committed { .. } => "commit",
            FanoutEvent::CommitStageOver { .. } => "commit-over",
            FanoutEvent::Verified { .. } => "verified",
            _ => "other",
        })
        .collect();
    assert_eq!(
        order,
        ["data", "data-over", "commit", "commit-over", "verified"]
    );
    let tree = receiver.tree();
    for file in rev1.files.iter().chain(&rev2.files) {
        assert_eq!(
            tree.get(&format!("critical/43/x86_64/{}", file.path)),
            Some(&file.sha256),
            "{} missing",
            file.path
        );
    }
    assert_eq!(
        tree["critical/43/x86_64/repodata/repomd.xml"],
        protocol::sha256_hex(&rev2.repomd)
    );

    // Status reports the revision; an older revision is refused.
    let client = hotpush::origin::sync::https::HttpsClient::new(
        &mirror,
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .unwrap();
    let status = rt.block_on(client.status()).unwrap();
    assert_eq!(status.repos["critical/43/x86_64"].revision, 2);
    let err = rt.block_on(client.commit(&rev1)).unwrap_err();
    assert!(err.to_string().contains("409"), "{err}");
    assert_eq!(receiver.tree(), tree);

    // A metalink copy is stored and served back while it names the
    // repomd.xml this partner serves; a copy naming another one is a 404.
    let metalink_url = format!(
        "{}/metalink?repo=critical-f43&arch=x86_64&countme=1",
        receiver.push_url
    );
    let copy_of = |repomd: &[u8], revision: u64| {
        let facts = hotpush::core::metalink::RepomdFacts::of(repomd, revision);
        let urls = [format!("{base}/repodata/repomd.xml")];
        hotpush::core::metalink::render(&hotpush::core::metalink::MetalinkDoc {
            repomd: &facts,
            alternates: &[],
            urls: &urls,
            pubdate_unix: revision,
        })
    };
    for (copy, want) in [
        (copy_of(&rev2.repomd, 2), 200),
        (copy_of(&rev1.repomd, 1), 404),
        ("<metalink/>".to_owned(), 404),
    ] {
        rt.block_on(hotpush::origin::sync::push_metalink(
            &mirror,
            "critical-f43",
            "x86_64",
            copy.as_bytes(),
        ))
        .unwrap();
        let (status, headers, body) = http_get(&metalink_url, Some(&receiver.cert()));
        assert_eq!(status, want, "{copy}");
        if want == 200 {
            assert_eq!(body, copy.as_bytes());
            assert_eq!(headers["cache-control"].to_str().unwrap(), "no-cache");
            assert!(headers["etag"].to_str().unwrap().starts_with("W/\""));
        }
    }
}

/// Sends one request signed by hand, returning status and body.
struct RawClient {
    base: String,
    secret: Vec<u8>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

struct Req<'a> {
    method: &'a str,
    path: &'a str,
    body: Vec<u8>,
    /// Seconds added to the clock for the timestamp.
    skew_secs: i64,
    secret: Option<&'a [u8]>,
    unsigned: bool,
}

impl<'a> Req<'a> {
    fn new(method: &'a str, path: &'a str, body: Vec<u8>) -> Req<'a> {
        Req {
            method,
            path,
            body,
            skew_secs: 0,
            secret: None,
            unsigned: false,
        }
    }
}

impl RawClient {
    fn new(receiver: &Receiver) -> RawClient {
        RawClient {
            base: receiver.push_url.clone(),
            secret: std::fs::read_to_string(&receiver.secret_file)
                .unwrap()
                .trim_end()
                .as_bytes()
                .to_vec(),
            http: hotpush::origin::sync::https::http_client(
                Some(&receiver.cert()),
                Duration::from_secs(2),
                Duration::from_secs(5),
            )
            .unwrap(),
            rt: runtime(),
        }
    }

    fn headers(&self, req: &Req<'_>) -> Vec<(&'static str, String)> {
        if req.unsigned {
            return Vec::new();
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + req.skew_secs;
        let signed = protocol::sign(
            req.secret.unwrap_or(&self.secret),
            req.method,
            req.path,
            now as u64,
            protocol::new_nonce(),
            protocol::sha256_hex(&req.body),
        );
        vec![
            (
                protocol::HEADER_TIMESTAMP,
                signed.timestamp_secs.to_string(),
            ),
            (protocol::HEADER_NONCE, signed.nonce),
            (protocol::HEADER_CONTENT_SHA256, signed.content_sha256),
            (protocol::HEADER_SIGNATURE, signed.signature),
        ]
    }

    fn send_with(&self, req: &Req<'_>, headers: &[(&'static str, String)]) -> (u16, String) {
        self.rt.block_on(async {
            let mut builder = self
                .http
                .request(
                    req.method.parse().unwrap(),
                    format!("{}{}", self.base, req.path),
                )
                .body(req.body.clone());
            for (name, value) in headers {
                builder = builder.header(*name, value);
            }
            let response = builder.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    }

    fn send(&self, req: Req<'_>) -> (u16, String) {
        let headers = self.headers(&req);
        self.send_with(&req, &headers)
    }
}

fn commit_body(revision: &RepoRevision, edit: impl FnOnce(&mut CommitRequest)) -> Vec<u8> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut request = CommitRequest {
        repo_path: revision.repo_path.clone(),
        revision: revision.revision,
        files: revision
            .files
            .iter()
            .map(|f| CommitFile {
                path: f.path.clone(),
                sha256: f.sha256.clone(),
                size: f.size,
            })
            .collect(),
        repomd_base64: b64(&revision.repomd),
        repomd_asc_base64: b64(&revision.repomd_asc),
        repomd_key_base64: String::new(),
    };
    edit(&mut request);
    serde_json::to_vec(&request).unwrap()
}

#[test]
fn receiver_refuses_bad_requests_and_the_served_tree_stays_unchanged() {
    let signer = Signer::new();
    let work = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let rev1 = build_revision(
        work.path(),
        &["Archer-3.4.5-6.x86_64.rpm"],
        "critical/43/x86_64",
        1,
        &signer,
    );
    let rev2 = build_revision(
        work.path(),
        &["Archer-3.4.5-6.x86_64.rpm", "Rimmer-1.0.2-2.x86_64.rpm"],
        "critical/43/x86_64",
        2,
        &signer,
    );
    let outcomes = runtime().block_on(fanout(
        &[receiver.mirror("p")],
        std::slice::from_ref(&rev1),
        &options(&signer, Duration::from_secs(30)),
    ));
    assert!(outcomes[0].verified, "{outcomes:?}");
    let before = receiver.tree();
    let raw = RawClient::new(&receiver);
    let unchanged =
        |what: &str| assert_eq!(receiver.tree(), before, "the tree changed after: {what}");
    let valid = commit_body(&rev1, |_| {});

    let (status, body) = raw.send(Req {
        unsigned: true,
        ..Req::new("POST", protocol::PATH_COMMIT, valid.clone())
    });
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("missing"), "{body}");
    unchanged("unsigned");

    let (status, body) = raw.send(Req {
        secret: Some(b"not-the-shared-secret"),
        ..Req::new("POST", protocol::PATH_COMMIT, valid.clone())
    });
    assert_eq!(
        (status, body.contains("bad signature")),
        (401, true),
        "{body}"
    );
    unchanged("wrongly signed");

    let (status, body) = raw.send(Req {
        skew_secs: -400,
        ..Req::new("POST", protocol::PATH_COMMIT, valid.clone())
    });
    assert_eq!((status, body.contains("stale")), (401, true), "{body}");
    let (status, body) = raw.send(Req {
        skew_secs: 400,
        ..Req::new("POST", protocol::PATH_COMMIT, valid.clone())
    });
    assert_eq!((status, body.contains("stale")), (401, true), "{body}");
    unchanged("stale");

    // A signed body that is not the one sent.
    let req = Req::new("POST", protocol::PATH_COMMIT, valid.clone());
    let headers = raw.headers(&req);
    let (status, body) = raw.send_with(
        &Req::new("POST", protocol::PATH_COMMIT, commit_body(&rev2, |_| {})),
        &headers,
    );
    assert_eq!((status, body.contains("sha256")), (400, true), "{body}");

    // Replay: the same request twice (the first is an idempotent re-commit of rev 1).
    let req = Req::new("POST", protocol::PATH_COMMIT, valid.clone());
    let headers = raw.headers(&req);
    assert_eq!(raw.send_with(&req, &headers).0, 200);
    let (status, body) = raw.send_with(&req, &headers);
    assert_eq!((status, body.contains("replay")), (401, true), "{body}");
    unchanged("replayed");

    // Path traversal in the repo path or any file name.
    let first = rev1.files[0].clone();
    for bad in [
        "../../../etc",
        "/etc",
        "critical\\43",
        "critical/\u{0}/x",
        "critical/./43",
    ] {
        let (status, body) = raw.send(Req::new(
            "POST",
            protocol::PATH_COMMIT,
            commit_body(&rev1, |r| r.repo_path = bad.into()),
        ));
        assert_eq!(
            (status, body.contains("refused")),
            (400, true),
            "{bad:?}: {body}"
        );
    }
    for bad in [
        "../../x.rpm",
        "/tmp/x.rpm",
        "Packages\\x.rpm",
        "Packages/a\u{0}.rpm",
        "Packages/../../../x",
    ] {
        let body = commit_body(&rev1, |r| {
            r.files.push(CommitFile {
                path: bad.into(),
                sha256: first.sha256.clone(),
                size: first.size,
            })
        });
        let (status, body) = raw.send(Req::new("POST", protocol::PATH_COMMIT, body));
        assert_eq!(
            (status, body.contains("refused")),
            (400, true),
            "{bad:?}: {body}"
        );
    }
    unchanged("path traversal");

    // A commit naming a file the receiver does not hold (rev 2's new package was never uploaded).
    let (status, body) = raw.send(Req::new(
        "POST",
        protocol::PATH_COMMIT,
        commit_body(&rev2, |_| {}),
    ));
    assert_eq!((status, body.contains("missing")), (422, true), "{body}");
    unchanged("missing file");

    // A commit whose repomd names a file it does not list.
    let (status, body) = raw.send(Req::new(
        "POST",
        protocol::PATH_COMMIT,
        commit_body(&rev1, |r| {
            r.files.retain(|f| f.path.starts_with("Packages/"))
        }),
    ));
    assert_eq!(
        (status, body.contains("does not list")),
        (422, true),
        "{body}"
    );
    unchanged("repomd naming an unlisted file");

    // An upload whose bytes are not the named sha256.
    let fake_sha = protocol::sha256_hex(b"what the origin meant");
    let headers = {
        let req = Req::new("PUT", "", Vec::new());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let path = format!("{}/{fake_sha}", protocol::PATH_BLOBS);
        let signed = protocol::sign(
            &raw.secret,
            "PUT",
            &path,
            now,
            protocol::new_nonce(),
            fake_sha.clone(),
        );
        let _ = req;
        vec![
            (
                protocol::HEADER_TIMESTAMP,
                signed.timestamp_secs.to_string(),
            ),
            (protocol::HEADER_NONCE, signed.nonce),
            (protocol::HEADER_CONTENT_SHA256, signed.content_sha256),
            (protocol::HEADER_SIGNATURE, signed.signature),
        ]
    };
    let path = format!("{}/{fake_sha}", protocol::PATH_BLOBS);
    let (status, body) = raw.send_with(&Req::new("PUT", &path, b"what arrived".to_vec()), &headers);
    assert_eq!((status, body.contains("hash")), (422, true), "{body}");
    assert!(!receiver
        .data()
        .join("blobs")
        .join(&fake_sha[..2])
        .join(&fake_sha)
        .exists());
    assert_eq!(
        std::fs::read_dir(receiver.data().join("tmp"))
            .unwrap()
            .count(),
        0,
        "a refused upload left a temp file"
    );

    // A commit naming a file whose stored blob no longer has that hash.
    let new_file = rev2
        .files
        .iter()
        .find(|f| !rev1.files.iter().any(|o| o.sha256 == f.sha256))
        .unwrap();
    let mut bytes = std::fs::read(&new_file.source).unwrap();
    let path = format!("{}/{}", protocol::PATH_BLOBS, new_file.sha256);
    assert_eq!(raw.send(Req::new("PUT", &path, bytes.clone())).0, 201);
    let blob = receiver
        .data()
        .join("blobs")
        .join(&new_file.sha256[..2])
        .join(&new_file.sha256);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let missing: Vec<_> = rev2
        .files
        .iter()
        .filter(|f| f.sha256 != new_file.sha256)
        .cloned()
        .collect();
    for file in &missing {
        let path = format!("{}/{}", protocol::PATH_BLOBS, file.sha256);
        let status = raw
            .send(Req::new("PUT", &path, std::fs::read(&file.source).unwrap()))
            .0;
        assert!(status == 200 || status == 201, "{status}");
    }
    let (status, body) = raw.send(Req::new(
        "POST",
        protocol::PATH_COMMIT,
        commit_body(&rev2, |_| {}),
    ));
    assert_eq!((status, body.contains("hashes to")), (422, true), "{body}");
    unchanged("wrong hash");
    assert!(
        !blob.exists(),
        "the damaged blob must be dropped so the next push re-uploads it"
    );

    // Clients are still served revision 1, whole.
    let (status, _, body) = http_get(
        &format!(
            "{}/critical/43/x86_64/repodata/repomd.xml",
            receiver.public_url
        ),
        None,
    );
    assert_eq!((status, body), (200, rev1.repomd.clone()));
}

#[test]
fn receiver_refuses_a_group_or_world_readable_secret() {
    use std::os::unix::fs::PermissionsExt;
    for mode in [0o644, 0o640] {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "0123456789abcdef0123456789").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = support::hotpush()
            .args(["receive", "--listen", "[::1]:0", "--secret-file"])
            .arg(&secret)
            .arg("--data-dir")
            .arg(dir.path().join("d"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("can be read by others") && stderr.contains("chmod 600"),
            "{stderr}"
        );
    }
}

#[test]
fn fanout_survives_down_stalled_corrupting_and_dying_partners() {
    let signer = Signer::new();
    let work = tempfile::tempdir().unwrap();
    let rev = build_revision(
        work.path(),
        &["Archer-3.4.5-6.x86_64.rpm"],
        "critical/43/x86_64",
        1,
        &signer,
    );
    let healthy = Receiver::start();
    let corrupting = Receiver::start();
    let dying = Arc::new(Mutex::new(Receiver::start()));

    // Down: a port nobody listens on. Stalled: accepts TCP, never answers.
    let down_port = std::net::TcpListener::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stall = std::net::TcpListener::bind("[::1]:0").unwrap();
    let stall_port = stall.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let held2 = held.clone();
    std::thread::spawn(move || {
        for conn in stall.incoming().flatten() {
            held2.lock().unwrap().push(conn);
        }
    });
    let fake = |name: &str, port: u16| Mirror {
        name: name.into(),
        public_url: format!("https://[::1]:{port}/pub"),
        method: PushMethod::Https,
        push_url: format!("https://[::1]:{port}"),
        secret_file: healthy.secret_file.clone(),
        ca_file: Some(healthy.cert()),
        known_hosts_file: None,
        weight: 1,
    };
    let mirrors = vec![
        healthy.mirror("healthy"),
        fake("down", down_port),
        fake("stalled", stall_port),
        corrupting.mirror("corrupting"),
        dying.lock().unwrap().mirror("dying"),
    ];

    // Between the stages: damage a blob at one partner, kill another.
    let victim_blob = corrupting
        .data()
        .join("blobs")
        .join(&rev.files[0].sha256[..2])
        .join(&rev.files[0].sha256);
    let dying2 = dying.clone();
    let hook = move |event: &FanoutEvent| {
        if let FanoutEvent::DataStageOver { passed } = event {
            assert_eq!(passed, &["healthy", "corrupting", "dying"]);
            let mut bytes = std::fs::read(&victim_blob).unwrap();
            bytes[100] ^= 0x01;
            std::fs::write(&victim_blob, bytes).unwrap();
            dying2.lock().unwrap().process.kill();
        }
    };
    let deadline = Duration::from_secs(8);
    let opts = FanoutOptions {
        on_event: Some(Arc::new(hook)),
        ..options(&signer, deadline)
    };
    let started = Instant::now();
    let outcomes = runtime().block_on(fanout(&mirrors, std::slice::from_ref(&rev), &opts));
    let elapsed = started.elapsed();
    eprintln!("fan-out to 5 partners (4 faulty) took {elapsed:?}: {outcomes:#?}");
    assert!(
        elapsed < deadline + Duration::from_secs(1),
        "fan-out took {elapsed:?}"
    );

    let by_name: BTreeMap<&str, _> = outcomes.iter().map(|o| (o.mirror.as_str(), o)).collect();
    assert_eq!(
        outcomes
            .iter()
            .map(|o| o.mirror.as_str())
            .collect::<Vec<_>>(),
        ["healthy", "down", "stalled", "corrupting", "dying"]
    );
    assert!(by_name["healthy"].verified, "{outcomes:#?}");
    for (name, stage) in [
        ("down", "data"),
        ("stalled", "data"),
        ("corrupting", "commit"),
        ("dying", "commit"),
    ] {
        let o = by_name[name];
        assert!(!o.verified, "{name} verified: {o:?}");
        assert_eq!(o.stage, stage, "{name}: {o:?}");
        assert!(o.error.is_some(), "{name}: {o:?}");
    }
    assert!(
        by_name["corrupting"]
            .error
            .as_deref()
            .unwrap()
            .contains("hashes to"),
        "{:?}",
        by_name["corrupting"]
    );
    // The corrupting partner never served a repomd naming the damaged file.
    assert!(!corrupting
        .data()
        .join("pub/critical/43/x86_64/repodata/repomd.xml")
        .exists());

    // The next push heals it: the damaged blob was dropped and is uploaded again.
    let outcomes = runtime().block_on(fanout(
        &[corrupting.mirror("corrupting")],
        std::slice::from_ref(&rev),
        &options(&signer, Duration::from_secs(20)),
    ));
    assert!(outcomes[0].verified, "{outcomes:?}");
    drop(held);
}

#[test]
fn fanout_refuses_to_verify_a_mirror_serving_a_bad_signature() {
    let signer = Signer::new();
    let other = Signer::new();
    let work = tempfile::tempdir().unwrap();
    let mut rev = build_revision(
        work.path(),
        &["Rimmer-1.0.2-2.x86_64.rpm"],
        "critical/43/x86_64",
        1,
        &signer,
    );
    rev.repomd_asc = other.sign(&rev.repomd);
    let receiver = Receiver::start();
    let outcomes = runtime().block_on(fanout(
        &[receiver.mirror("p")],
        std::slice::from_ref(&rev),
        &options(&signer, Duration::from_secs(6)),
    ));
    assert!(!outcomes[0].verified, "{outcomes:?}");
    assert_eq!(outcomes[0].stage, "verify");
    assert!(
        outcomes[0]
            .error
            .as_deref()
            .unwrap()
            .contains("does not verify"),
        "{outcomes:?}"
    );
}
