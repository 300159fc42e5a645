//! The origin's API and store in process, through [`TestApp`]: requests go
//! through the real router without a network, and the publisher runs when the
//! test drains the queue. Authentication refusals, a push published end to end
//! at the origin, and a no-op publication that changes nothing.
use axum::body::Body;
use axum::http::{Method, StatusCode};

use crate::common::repo_files::decompress;
use crate::common::test_app::{signed_rpm, TestApp, REMOTE};

const REPO: &str = "critical/43/x86_64";

fn new_push() -> serde_json::Value {
    serde_json::json!({
        "advisory": "FEDORA-2026-0001",
        "severity": "critical",
        "summary": "Fix for a test hole",
    })
}

#[tokio::test]
async fn refusals_name_the_reason_are_audited_and_change_nothing() {
    let t = TestApp::init().start().await;
    let reader = t.token("bob", "readers");
    let admin = t.token("root", "admin");
    let (name, rpm) = signed_rpm();

    // No token, an unknown token, and a token of a group that may not push.
    for (token, status, code) in [
        (None, StatusCode::UNAUTHORIZED, "unauthenticated"),
        (Some("hp_0000"), StatusCode::UNAUTHORIZED, "unauthenticated"),
        (Some(reader.as_str()), StatusCode::FORBIDDEN, "forbidden"),
    ] {
        let r = t.post_json("/api/v1/pushes", token, &new_push()).await;
        assert_eq!(r.status, status, "{token:?}: {}", r.text());
        assert_eq!(r.error_code(), code);
        assert!(
            !r.json()["error"]["hint"].as_str().unwrap().is_empty(),
            "{}",
            r.text()
        );
        let up = t
            .request(
                Method::PUT,
                &format!("/api/v1/pushes/1/packages/{name}"),
                token,
                rpm.clone(),
            )
            .await;
        assert_eq!(up.status, status, "upload {token:?}: {}", up.text());
        let submit = t
            .request(
                Method::POST,
                "/api/v1/pushes/1/submit",
                token,
                Body::empty(),
            )
            .await;
        assert_eq!(submit.status, status, "submit {token:?}: {}", submit.text());
        let retire = t
            .request(
                Method::POST,
                "/api/v1/advisories/FEDORA-2026-0001/retire",
                token,
                Body::empty(),
            )
            .await;
        assert_eq!(retire.status, status, "retire {token:?}: {}", retire.text());
    }
    // The audit log is for admins only; a pusher is refused too.
    let pusher = t.push_token();
    let r = t
        .request(Method::GET, "/api/v1/audit", Some(&pusher), Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    // Nothing was created or queued, nothing was stored.
    assert!(t
        .get("/api/v1/pushes")
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
    assert!(t
        .app()
        .store
        .advisory("FEDORA-2026-0001")
        .unwrap()
        .is_none());
    assert_eq!(t.app().store.queue_depth().unwrap(), 0);
    assert!(
        std::fs::read_dir(&t.app().tree.incoming)
            .unwrap()
            .next()
            .is_none(),
        "a refused upload left a file in incoming/"
    );

    // Every decision is in the audit log, refused, with the caller's address.
    let audit = t
        .request(Method::GET, "/api/v1/audit", Some(&admin), Body::empty())
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text());
    let entries = audit.json();
    let entries = entries.as_array().unwrap();
    let refused = |action: &str, reason: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action && e["allowed"] == false && e["reason"] == reason)
            .count()
    };
    for action in ["push", "upload", "submit", "retire"] {
        assert_eq!(refused(action, "no token"), 1, "{action}: {entries:?}");
        assert_eq!(refused(action, "unknown token"), 1, "{action}: {entries:?}");
        assert_eq!(
            refused(action, "group `readers` is not `security`"),
            1,
            "{action}: {entries:?}"
        );
    }
    assert_eq!(refused("read-audit", "group `security` is not `admin`"), 1);
    assert!(entries
        .iter()
        .all(|e| e["remote_addr"] == REMOTE.ip().to_string()));
}

#[tokio::test]
async fn a_push_is_published_when_the_jobs_are_drained() {
    let t = TestApp::init().start().await;
    let token = t.push_token();
    let empty = t
        .app()
        .served(REPO)
        .expect("the empty repo is served at start");
    let (name, rpm) = signed_rpm();

    let id = t
        .push(&token, "FEDORA-2026-0001", &[(name.clone(), rpm.clone())])
        .await;
    // Accepted, not yet published: embargoed, so read with the token.
    let accepted = t
        .get_with(&format!("/api/v1/pushes/{id}"), &token)
        .await
        .json();
    assert_eq!(accepted["state"], "accepted");
    assert!(
        accepted["packages"][0]["signed_by"].is_string(),
        "{accepted}"
    );

    // One publisher run takes the push; nothing was published before it.
    assert_eq!(t.app().served(REPO).unwrap().revision, empty.revision);
    assert_eq!(t.run_pending_jobs().await, 1);
    let published = t.get(&format!("/api/v1/pushes/{id}")).await.json();
    assert_eq!(published["state"], "published", "{published}");
    assert!(published["published_at_ms"].is_i64());
    // Published under the package's own name, not the uploaded one.
    let file_name = published["packages"][0]["file_name"].as_str().unwrap();
    assert_eq!(file_name, "rpm-basic-2.3.4-5.el9.noarch.rpm");

    // noarch lands in both binary arches, with the advisory in updateinfo.
    for arch in ["x86_64", "aarch64"] {
        let repo = format!("critical/43/{arch}");
        let served = t.app().served(&repo).unwrap();
        assert!(served.revision > empty.revision, "{repo}");
        let repomd = t.get(&format!("/pub/{repo}/repodata/repomd.xml")).await;
        assert_eq!(repomd.status, StatusCode::OK);
        assert_eq!(repomd.body, served.repomd);
        let asc = t.get(&format!("/pub/{repo}/repodata/repomd.xml.asc")).await;
        assert_eq!(asc.body, served.asc);
        let package = t.get(&format!("/pub/{repo}/Packages/r/{file_name}")).await;
        assert_eq!(package.status, StatusCode::OK, "{repo}");
        assert_eq!(package.body, rpm, "{repo}: the package bytes");
        let updateinfo = record_xml(&t, &repo, &repomd.text(), "updateinfo").await;
        assert!(updateinfo.contains("FEDORA-2026-0001"), "{updateinfo}");
        assert!(updateinfo.contains("CVE-2026-0001"), "{updateinfo}");
        let primary = record_xml(&t, &repo, &repomd.text(), "primary").await;
        assert!(primary.contains("<name>rpm-basic</name>"), "{primary}");
    }
}

/// The uncompressed XML of one repomd record, fetched through the router.
async fn record_xml(t: &TestApp, repo: &str, repomd: &str, kind: &str) -> String {
    let marker = format!("<data type=\"{kind}\">");
    let record = &repomd[repomd.find(&marker).unwrap_or_else(|| panic!("no {kind}"))..];
    let href = record
        .split("<location href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    let file = t.get(&format!("/pub/{repo}/{href}")).await;
    assert_eq!(file.status, StatusCode::OK, "{href}");
    String::from_utf8(decompress(href, &file.body)).unwrap()
}

#[tokio::test]
async fn a_publication_with_nothing_new_changes_nothing() {
    let t = TestApp::init().start().await;
    let token = t.push_token();
    let (name, rpm) = signed_rpm();
    t.push(&token, "FEDORA-2026-0001", &[(name, rpm)]).await;
    t.run_pending_jobs().await;
    let before = served_state(&t);
    let tree_before = crate::common::partner::snapshot(&t.app().tree.pub_root);

    // A routine job (what a restart or a retirement of nothing queues): the
    // publisher runs and finds every repository's content unchanged.
    let mut events = t.app().events.subscribe();
    t.app()
        .store
        .enqueue_job("publish", hotpush::origin::jobs::PRIORITY_ROUTINE, "test")
        .unwrap();
    assert_eq!(t.run_pending_jobs().await, 1);

    // No repository was written again, not even under the same revision.
    let mut kinds = Vec::new();
    while let Ok(e) = events.try_recv() {
        kinds.push(e.kind);
    }
    assert!(kinds.contains(&"publish-finished".to_owned()), "{kinds:?}");
    assert!(!kinds.contains(&"repo-published".to_owned()), "{kinds:?}");
    assert_eq!(served_state(&t), before);
    assert_eq!(
        crate::common::partner::snapshot(&t.app().tree.pub_root),
        tree_before,
        "the tree on disk changed"
    );
    let jobs = t.get("/api/v1/activity").await.json();
    assert_eq!(jobs[0]["state"], "done", "{jobs}");
}

/// Per repository: revision, sha256 of repomd.xml and .asc, the store's current revision.
fn served_state(t: &TestApp) -> Vec<(String, u64, String, String, u64)> {
    let sha = hotpush::core::protocol::sha256_hex;
    t.app()
        .repos()
        .into_iter()
        .map(|r| {
            let s = t.app().served(&r.path()).unwrap();
            let stored = t.app().store.current_revision(&r.path()).unwrap().unwrap();
            (
                r.path(),
                s.revision,
                sha(&s.repomd),
                sha(&s.asc),
                stored.revision,
            )
        })
        .collect()
}
