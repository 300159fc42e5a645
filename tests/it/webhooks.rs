//! Outbound webhooks against a real HTTP receiver on `[::1]` and the real
//! `hotpush serve`: every event of a push arrives in order with a Standard
//! Webhooks signature that verifies; pre-publication events reach only the webhook
//! that named them, with ids only; with the receiver refusing for a while and the
//! origin killed and restarted in between, every queued message arrives exactly
//! once (by `webhook-id`) after the receiver is back.
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hotpush::core::webhook;

use crate::common::fixtures::{build_rpm, free_port, http_get, http_get_with_token, Origin};

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    /// What the receiver answered.
    accepted: bool,
}

/// A webhook receiver on `[::1]`: records every request; answers 503 while `down`.
struct Receiver {
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    down: Arc<AtomicBool>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        Receiver::start_on(0)
    }

    /// On `port` (0: any free one).
    fn start_on(port: u16) -> Receiver {
        let listener = std::net::TcpListener::bind(("::1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (s, d) = (seen.clone(), down.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(
                    move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
                        let (s, d) = (s.clone(), d.clone());
                        async move {
                            let h = |n: &str| {
                                headers
                                    .get(n)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("")
                                    .to_owned()
                            };
                            let accepted = !d.load(Ordering::SeqCst);
                            s.lock().unwrap().push(Seen {
                                path: uri.path().to_owned(),
                                id: h("webhook-id"),
                                timestamp: h("webhook-timestamp"),
                                signature: h("webhook-signature"),
                                body,
                                accepted,
                            });
                            if accepted {
                                axum::http::StatusCode::NO_CONTENT
                            } else {
                                axum::http::StatusCode::SERVICE_UNAVAILABLE
                            }
                        }
                    },
                );
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Receiver {
            base_url: format!("http://[::1]:{port}"),
            seen,
            down,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Accepted deliveries to `path`, in arrival order.
    fn delivered(&self, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path == path && s.accepted)
            .collect()
    }

    fn wait_for(&self, what: &str, done: impl Fn(&[Seen]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done(&self.seen()) {
            assert!(
                Instant::now() < deadline,
                "waited for {what}; saw {:#?}",
                self.seen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn type_of(s: &Seen) -> String {
    let v: serde_json::Value = serde_json::from_str(&s.body).unwrap();
    v["type"].as_str().unwrap().to_owned()
}

fn write_secret(path: &Path) -> Vec<u8> {
    let key: [u8; 32] = rand::random();
    let text = format!(
        "whsec_{}\n",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    key.to_vec()
}

/// Every accepted delivery verifies with the key, and none came twice.
fn check_signatures_and_ids(key: &[u8], deliveries: &[Seen]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut ids = HashSet::new();
    for d in deliveries {
        assert_eq!(
            webhook::verify(
                key,
                &d.id,
                &d.timestamp,
                &d.signature,
                d.body.as_bytes(),
                now
            ),
            Ok(()),
            "{d:?}"
        );
        assert!(ids.insert(d.id.clone()), "delivered twice: {d:?}");
        let mut wrong = key.to_vec();
        wrong[0] ^= 1;
        assert!(webhook::verify(
            &wrong,
            &d.id,
            &d.timestamp,
            &d.signature,
            d.body.as_bytes(),
            now
        )
        .is_err());
    }
}

/// The outbox as the origin left it: (id, webhook, type, delivered).
fn outbox(data_dir: &Path) -> Vec<(String, String, String, bool)> {
    let db = std::fs::read_dir(data_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "db" || x == "sqlite"))
        .expect("the origin's database");
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, webhook, type, delivered_at_ms IS NOT NULL FROM webhook_outbox ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn every_event_arrives_signed_in_order_once_across_outage_and_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let receiver = Receiver::start();
    let key_all = write_secret(&dir.join("all.secret"));
    let key_public = write_secret(&dir.join("public.secret"));
    let extra = format!(
        "require_signed_packages = false\n\n\
         [[webhook]]\nname = \"all\"\nurl = \"{base}/all\"\nsecret_file = \"all.secret\"\n\
         events = [\"push.created\", \"package.uploaded\", \"push.accepted\", \"push.published\", \"repo.published\"]\n\n\
         [[webhook]]\nname = \"public\"\nurl = \"{base}/public\"\nsecret_file = \"public.secret\"\n",
        base = receiver.base_url
    );
    let mut origin = Origin::start(dir, None, &extra);
    let token = origin.token("alice", "security");

    // 1. A push: the opted-in webhook sees it from creation to publication, in order.
    let rpm = build_rpm(dir, "hooked", "1", "1", "noarch");
    let out = origin.push(&token, "WEBHOOK-EMBARGO-1", &[&rpm], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    receiver.wait_for("push.published on both webhooks", |seen| {
        ["/all", "/public"].iter().all(|p| {
            seen.iter()
                .any(|s| s.path == *p && s.accepted && type_of(s) == "push.published")
        })
    });
    let all: Vec<String> = receiver.delivered("/all").iter().map(type_of).collect();
    let pos = |t: &str| {
        all.iter()
            .position(|x| x == t)
            .unwrap_or_else(|| panic!("{t} missing: {all:?}"))
    };
    assert!(pos("push.created") < pos("package.uploaded"), "{all:?}");
    assert!(pos("package.uploaded") < pos("push.accepted"), "{all:?}");
    assert!(pos("push.accepted") < pos("push.published"), "{all:?}");
    // Embargo: pre-publication events carry ids only, and only to the webhook that named them.
    for d in receiver.delivered("/all") {
        if webhook::is_pre_publication(&type_of(&d)) {
            assert!(
                !d.body.contains("WEBHOOK-EMBARGO") && !d.body.contains("hooked"),
                "{d:?}"
            );
            let v: serde_json::Value = serde_json::from_str(&d.body).unwrap();
            assert!(v["data"]["push_id"].is_i64(), "{d:?}");
        }
    }
    for d in receiver.delivered("/public") {
        assert!(!webhook::is_pre_publication(&type_of(&d)), "{d:?}");
    }
    let published = receiver
        .delivered("/public")
        .into_iter()
        .find(|d| type_of(d) == "push.published")
        .unwrap();
    assert!(
        published.body.contains("WEBHOOK-EMBARGO-1"),
        "{published:?}"
    );

    // 2. The receiver refuses; a second push queues; the origin dies and comes back.
    receiver.down.store(true, Ordering::SeqCst);
    let rpm2 = build_rpm(dir, "hooked", "2", "1", "noarch");
    let out = origin.push(&token, "WEBHOOK-EMBARGO-2", &[&rpm2], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    receiver.wait_for("a refused attempt", |seen| seen.iter().any(|s| !s.accepted));
    origin.kill();
    origin.restart();
    receiver.down.store(false, Ordering::SeqCst);
    receiver.wait_for("the second push.published on both webhooks", |seen| {
        ["/all", "/public"].iter().all(|p| {
            seen.iter().any(|s| {
                s.path == *p
                    && s.accepted
                    && type_of(s) == "push.published"
                    && s.body.contains("WEBHOOK-EMBARGO-2")
            })
        })
    });
    // Drain: wait until the outbox has nothing left undelivered.
    let deadline = Instant::now() + Duration::from_secs(120);
    while outbox(&origin.data_dir).iter().any(|r| !r.3) {
        assert!(
            Instant::now() < deadline,
            "outbox not drained: {:?}",
            outbox(&origin.data_dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // None lost, none twice: the accepted deliveries are exactly the outbox, per webhook.
    let rows = outbox(&origin.data_dir);
    // The dashboard's public counts: public types only, webhooks by number
    // (no name or URL), everything delivered.
    let (code, body) =
        crate::common::fixtures::http_get(&format!("{}/api/v1/webhooks/summary", origin.url))
            .unwrap();
    assert_eq!(code, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(
        !text.contains("\"all\"")
            && !text.contains("\"public\"")
            && !text.contains(&receiver.base_url),
        "{text}"
    );
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (i, name) in ["all", "public"].iter().enumerate() {
        let public_rows = rows
            .iter()
            .filter(|r| r.1 == *name && !webhook::is_pre_publication(&r.2))
            .count();
        let w = &summary["webhooks"][i];
        assert_eq!(w["number"], i as u64 + 1, "{text}");
        assert_eq!(w["delivered"], public_rows as u64, "{name}: {text}");
        assert_eq!(
            (w["pending"].as_u64(), w["given_up"].as_u64()),
            (Some(0), Some(0)),
            "{text}"
        );
        assert!(w["last_delivered_at_ms"].is_i64(), "{text}");
    }
    assert!(
        rows.iter()
            .any(|r| r.1 == "all" && webhook::is_pre_publication(&r.2)),
        "the opted-in webhook got pre-publication messages, which the counts leave out"
    );
    for (path, name, key) in [
        ("/all", "all", &key_all),
        ("/public", "public", &key_public),
    ] {
        let delivered = receiver.delivered(path);
        check_signatures_and_ids(key, &delivered);
        let got: Vec<&str> = delivered.iter().map(|d| d.id.as_str()).collect();
        let queued: Vec<&str> = rows
            .iter()
            .filter(|r| r.1 == name)
            .map(|r| r.0.as_str())
            .collect();
        // In order, too: a webhook's messages go out in the order they were queued.
        assert_eq!(got, queued, "{path}");
    }
    // Retries kept their id: every refused id was delivered later, under the same id.
    let accepted: HashSet<String> = receiver
        .seen()
        .iter()
        .filter(|s| s.accepted)
        .map(|s| s.id.clone())
        .collect();
    for refused in receiver.seen().iter().filter(|s| !s.accepted) {
        assert!(
            accepted.contains(&refused.id),
            "{refused:?} never delivered"
        );
    }

    // The delivery log (push group) shows the same messages, all delivered.
    let url = format!("{}/api/v1/webhooks/deliveries", origin.url);
    assert_eq!(http_get(&url).unwrap().0, 401);
    let (code, body) = http_get_with_token(&url, &token).unwrap();
    assert_eq!(code, 200);
    let log: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
    let mut logged: Vec<String> = log
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    let mut queued: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    logged.sort();
    queued.sort();
    assert_eq!(logged, queued);
    assert!(log.iter().all(|m| m["state"] == "delivered"), "{log:?}");
    // A refused message shows its retries.
    for refused in receiver.seen().iter().filter(|s| !s.accepted) {
        let entry = log.iter().find(|m| m["id"] == refused.id.as_str()).unwrap();
        assert!(entry["attempts"].as_u64() >= Some(2), "{entry:?}");
    }
    // /metrics counts the attempts since this start.
    let (_, metrics) = http_get(&format!("{}/metrics", origin.url)).unwrap();
    let metrics = String::from_utf8(metrics).unwrap();
    for name in ["all", "public"] {
        assert!(
            metrics.contains(&format!(
                "hotpush_webhook_attempts_total{{webhook=\"{name}\",outcome=\"delivered\"}}"
            )),
            "{metrics}"
        );
    }
}

/// `GET /api/v1/webhooks/deliveries`, as JSON rows.
fn deliveries(origin: &Origin, token: &Path) -> Vec<serde_json::Value> {
    let (code, body) =
        http_get_with_token(&format!("{}/api/v1/webhooks/deliveries", origin.url), token).unwrap();
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v.as_array()
        .or_else(|| v["deliveries"].as_array())
        .cloned()
        .unwrap_or_else(|| panic!("deliveries answer: {v}"))
}

/// The value of one `/metrics` sample whose line starts with `prefix`.
fn metric(origin: &Origin, name: &str, webhook_name: &str, outcome: Option<&str>) -> f64 {
    let (code, body) = http_get(&format!("{}/metrics", origin.url)).unwrap();
    assert_eq!(code, 200);
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| l.contains(&format!("webhook=\"{webhook_name}\"")))
        .filter(|l| outcome.is_none_or(|o| l.contains(&format!("outcome=\"{o}\""))))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "waited for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A receiver whose port is closed (connection refused) is retried like one
/// answering 503: the message arrives once it listens. One that never listens
/// exhausts `attempts_max` and ends `given-up`: in the delivery log, in
/// `/metrics` and in the dashboard's counts; the next message still goes out.
#[test]
fn a_closed_port_is_retried_and_a_message_out_of_attempts_is_given_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_secret(&dir.join("gone.secret"));
    let key_late = write_secret(&dir.join("late.secret"));
    // Nothing listens on either port yet.
    let (gone_port, late_port) = (free_port(), free_port());
    // `publish.started` comes with the reconcile run of every start and with
    // every publication: cheap events with no package.
    let extra = format!(
        "require_signed_packages = false\n\n[[webhook]]\nname = \"gone\"\nurl = \"http://[::1]:{gone_port}/h\"\nsecret_file = \"gone.secret\"\n\
         events = [\"publish.started\", \"push.created\"]\nattempts_max = 2\n\n\
         [[webhook]]\nname = \"late\"\nurl = \"http://[::1]:{late_port}/h\"\nsecret_file = \"late.secret\"\n\
         events = [\"publish.started\"]\n"
    );
    let origin = Origin::start(dir, None, &extra);
    let token = origin.token("alice", "security");

    // The closed port counts as a failed attempt with the reason, and is retried.
    let late = poll("a refused attempt of `late`", || {
        deliveries(&origin, &token)
            .into_iter()
            .find(|d| d["webhook"] == "late" && d["attempts"].as_u64().unwrap_or(0) >= 1)
    });
    assert_eq!(late["state"], "pending", "{late}");
    assert!(late["delivered_at_ms"].is_null(), "{late}");
    let error = late["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        error.contains("connect") || error.contains("refused"),
        "{late}"
    );
    let receiver = Receiver::start_on(late_port);
    receiver.wait_for("the retried message at `late`", |seen| {
        seen.iter().any(|s| s.accepted)
    });
    let delivered = poll("`late` delivered in the log", || {
        deliveries(&origin, &token)
            .into_iter()
            .find(|d| d["webhook"] == "late" && d["id"] == late["id"] && d["state"] == "delivered")
    });
    assert!(delivered["attempts"].as_u64().unwrap() >= 2, "{delivered}");
    check_signatures_and_ids(&key_late, &receiver.delivered("/h"));
    assert_eq!(receiver.delivered("/h")[0].id, late["id"].as_str().unwrap());

    // `gone` never listens: given up after exactly two attempts.
    let gone = poll("`gone` given up", || {
        deliveries(&origin, &token)
            .into_iter()
            .find(|d| d["webhook"] == "gone" && d["state"] == "given-up")
    });
    assert_eq!(gone["attempts"], 2, "{gone}");
    assert!(gone["delivered_at_ms"].is_null(), "{gone}");
    let gone_error = gone["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        gone_error.contains("connect") || gone_error.contains("refused"),
        "{gone}"
    );
    // Not attempted again: still two attempts a backoff later.
    std::thread::sleep(Duration::from_secs(6));
    let again = deliveries(&origin, &token)
        .into_iter()
        .find(|d| d["id"] == gone["id"])
        .unwrap();
    assert_eq!(again["attempts"], 2, "{again}");
    assert_eq!(again["state"], "given-up", "{again}");

    // /metrics: the given-up message and its failed attempts, per webhook.
    assert!(
        metric(&origin, "hotpush_webhook_given_up_total", "gone", None) >= 1.0,
        "no given-up count for `gone`"
    );
    assert_eq!(
        metric(&origin, "hotpush_webhook_given_up_total", "late", None),
        0.0
    );
    assert!(
        metric(
            &origin,
            "hotpush_webhook_attempts_total",
            "gone",
            Some("failed")
        ) >= 2.0
    );
    assert!(
        metric(
            &origin,
            "hotpush_webhook_attempts_total",
            "late",
            Some("delivered")
        ) >= 1.0
    );

    // The dashboard's counts (public: numbered, no names): 1 = gone, 2 = late.
    let (code, body) = http_get(&format!("{}/api/v1/webhooks/summary", origin.url)).unwrap();
    assert_eq!(code, 200);
    let summary: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let rows = summary["webhooks"].as_array().unwrap();
    assert_eq!(rows[0]["number"], 1, "{summary}");
    assert!(rows[0]["given_up"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(rows[0]["delivered"], 0, "{summary}");
    assert!(rows[1]["delivered"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(rows[1]["given_up"], 0, "{summary}");

    // A later message of `gone` is still tried: the given-up one does not block it.
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .arg("-H")
        .arg(format!(
            "Authorization: Bearer {}",
            std::fs::read_to_string(&token).unwrap().trim()
        ))
        .args(["-H", "Content-Type: application/json", "--data"])
        .arg(r#"{"advisory":"CRIT-2026-0301","severity":"critical","cves":[],"summary":"Later"}"#)
        .arg(format!("{}/api/v1/pushes", origin.url))
        .output()
        .unwrap();
    let code = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(code.starts_with('2'), "create push: {code}");
    let later = poll("the later message of `gone` tried", || {
        deliveries(&origin, &token).into_iter().find(|d| {
            d["webhook"] == "gone"
                && d["type"] == "push.created"
                && d["attempts"].as_u64().unwrap_or(0) >= 1
        })
    });
    assert_ne!(later["id"], gone["id"]);
}
