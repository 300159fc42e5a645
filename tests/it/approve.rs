//! The two-person rule (`[auth] approvals_required = 2`): a submitted push is
//! staged; it is published only once a second, distinct member of the push
//! group approves what was submitted. The submitter approving, the same
//! person twice, another group and an expired staged push publish nothing.
use axum::http::StatusCode;

use crate::common::test_app::{signed_rpm, TestApp};

async fn two_person_app() -> TestApp {
    TestApp::init()
        .with_config(|c| c.auth.approvals_required = 2)
        .start()
        .await
}

async fn approve(t: &TestApp, token: &str, id: i64) -> crate::common::test_app::TestResponse {
    t.post_json(
        &format!("/api/v1/pushes/{id}/approve"),
        Some(token),
        &serde_json::json!({}),
    )
    .await
}

async fn state(t: &TestApp, token: &str, id: i64) -> String {
    t.get_with(&format!("/api/v1/pushes/{id}"), token)
        .await
        .json()["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_staged_push_publishes_only_after_a_second_member_approves() {
    let t = two_person_app().await;
    let alice = t.token("alice", "security");
    let bob = t.token("bob", "security");
    let outsider = t.token("mallory", "builders");
    let id = t.push(&alice, "TWO-2026-0001", &[signed_rpm()]).await;
    t.run_pending_jobs().await;
    assert_eq!(state(&t, &alice, id).await, "staged");
    assert_eq!(
        t.get("/api/v1/advisories/TWO-2026-0001").await.status,
        StatusCode::NOT_FOUND
    );

    // The submitter's own approval does not count; another group may not approve.
    let own = approve(&t, &alice, id).await;
    assert_eq!(own.status, StatusCode::CONFLICT, "{}", own.text());
    assert_eq!(
        approve(&t, &outsider, id).await.status,
        StatusCode::FORBIDDEN
    );
    // A stale digest (the approver reviewed something else) is refused.
    let stale = t
        .post_json(
            &format!("/api/v1/pushes/{id}/approve"),
            Some(&bob),
            &serde_json::json!({"digest": "0".repeat(64)}),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text());
    t.run_pending_jobs().await;
    assert_eq!(state(&t, &alice, id).await, "staged");

    let ok = approve(&t, &bob, id).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.json()["state"], "accepted");
    assert_eq!(
        ok.json()["approved_by"],
        serde_json::json!(["alice", "bob"])
    );
    t.run_pending_jobs().await;
    assert_eq!(state(&t, &alice, id).await, "published");
    let entries = t.app().store.audit_entries(200).unwrap();
    assert!(entries
        .iter()
        .any(|e| e.action == "push-approved" && e.actor == "bob" && e.allowed));
    assert!(entries
        .iter()
        .any(|e| e.action == "approval-refused" && e.actor == "alice"));
    // Over: no more approvals.
    assert_eq!(approve(&t, &bob, id).await.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_same_person_twice_or_three_required_needs_distinct_members() {
    let t = TestApp::init()
        .with_config(|c| c.auth.approvals_required = 3)
        .start()
        .await;
    let alice = t.token("alice", "security");
    let bob = t.token("bob", "security");
    let carol = t.token("carol", "security");
    let id = t.push(&alice, "TWO-2026-0002", &[signed_rpm()]).await;
    for _ in 0..2 {
        let r = approve(&t, &bob, id).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["state"], "staged", "bob twice counts once");
    }
    t.run_pending_jobs().await;
    assert_eq!(state(&t, &alice, id).await, "staged");
    let r = approve(&t, &carol, id).await;
    assert_eq!(r.json()["state"], "accepted", "{}", r.text());
    t.run_pending_jobs().await;
    assert_eq!(state(&t, &alice, id).await, "published");
}

#[tokio::test]
async fn an_expired_staged_push_publishes_nothing() {
    let t = two_person_app().await;
    let alice = t.token("alice", "security");
    let bob = t.token("bob", "security");
    let id = t.push(&alice, "TWO-2026-0003", &[signed_rpm()]).await;
    // Age the staged push past `staged_expiry_hours` (no waiting on a clock).
    let db = hotpush::origin::server::state_db(&t.app().config.data_dir);
    let conn = rusqlite::Connection::open(db).unwrap();
    let hours = t.app().config.auth.staged_expiry_hours as i64;
    conn.execute(
        "UPDATE staged_pushes SET staged_at_ms = staged_at_ms - ?1 WHERE push_id = ?2",
        rusqlite::params![hours * 3_600_000 + 1000, id],
    )
    .unwrap();
    let r = approve(&t, &bob, id).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("expired"), "{}", r.text());
    t.run_pending_jobs().await;
    assert_eq!(state(&t, &alice, id).await, "cancelled");
    assert_eq!(
        t.get("/api/v1/advisories/TWO-2026-0003").await.status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn approvals_required_is_validated() {
    for bad in ["0", "6"] {
        let err = hotpush::origin::config::Config::from_toml(
            &format!("[auth]\napprovals_required = {bad}\n"),
            std::path::Path::new("hotpush.toml"),
        );
        let text = format!("{:#}", err.unwrap_err());
        assert!(text.contains("auth.approvals_required"), "{text}");
    }
}

/// `hotpush push` stages, `hotpush approve` by the submitter is refused and by
/// a second member publishes, against a real `hotpush serve`.
#[test]
fn push_then_approve_with_the_cli() {
    use crate::common::fixtures::Origin;
    use crate::common::support::{hotpush, real_rpms};
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start(
        dir.path(),
        Some(&crate::common::test_app::trusted_key()),
        "\n[auth]\napprovals_required = 2\n",
    );
    let alice = origin.token("alice", "security");
    let bob = origin.token("bob", "security");
    let rpm = real_rpms().join("rpm-rs/v4/signed/rpm-basic-with-ed25519-2.3.4-5.el9.noarch.rpm");
    let out = origin.push(&alice, "TWO-2026-0010", &[&rpm], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("waiting for approval by a second member"),
        "{stderr}"
    );
    let id = stderr
        .split("push ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    let approve = |token: &std::path::Path| {
        hotpush()
            .args(["approve", "--server", &origin.url, "--token-file"])
            .arg(token)
            .arg(&id)
            .output()
            .unwrap()
    };
    let own = approve(&alice);
    assert!(!own.status.success());
    assert!(
        String::from_utf8_lossy(&own.stderr).contains("cannot approve"),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    let ok = approve(&bob);
    let ok_err = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{ok_err}");
    assert!(
        ok_err.contains("accepted") && ok_err.contains("alice, bob"),
        "{ok_err}"
    );
    // Published: the advisory becomes public.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = origin.status_json();
        let live = status["advisories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "TWO-2026-0010" && a["state"] == "live");
        if live {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Break glass: when no second member can be reached, the submitter publishes
/// alone with a stated reason; it is audited as `break-glass` with the reason,
/// announced as an event without the advisory id, and refused without a
/// usable reason or from another group.
#[tokio::test]
async fn breaking_glass_publishes_alone_with_a_reason_loudly_audited() {
    let t = two_person_app().await;
    let alice = t.token("alice", "security");
    let outsider = t.token("mallory", "builders");
    let id = t.push(&alice, "TWO-2026-0009", &[signed_rpm()]).await;
    t.run_pending_jobs().await;
    assert_eq!(state(&t, &alice, id).await, "staged");
    let glass = |token: String, reason: serde_json::Value| {
        let t = &t;
        async move {
            t.post_json(
                &format!("/api/v1/pushes/{id}/approve"),
                Some(&token),
                &serde_json::json!({ "break_glass_reason": reason }),
            )
            .await
        }
    };
    for bad in ["", "   ", "line\nbreak", &"x".repeat(501)] {
        let r = glass(alice.clone(), serde_json::json!(bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", r.text());
    }
    assert_eq!(
        glass(outsider.clone(), serde_json::json!("urgent"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    t.run_pending_jobs().await;
    assert_eq!(state(&t, &alice, id).await, "staged");

    let ok = glass(
        alice.clone(),
        serde_json::json!("exploited in the wild, nobody else reachable"),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.json()["state"], "accepted");
    t.run_pending_jobs().await;
    assert_eq!(state(&t, &alice, id).await, "published");
    let entries = t.app().store.audit_entries(200).unwrap();
    let row = entries
        .iter()
        .find(|e| e.action == "break-glass")
        .expect("a break-glass audit row");
    assert_eq!(row.actor, "alice");
    assert!(row.allowed);
    assert!(
        row.reason.contains("exploited in the wild"),
        "{}",
        row.reason
    );
}

/// A staged push nobody tries to approve expires by itself: the publisher
/// cancels it once it is older than `staged_expiry_hours` (audited, never
/// published), and a fresh one stays staged.
#[tokio::test]
async fn a_staged_push_expires_without_any_approval_attempt() {
    let t = two_person_app().await;
    let alice = t.token("alice", "security");
    let old = t.push(&alice, "TWO-2026-0011", &[signed_rpm()]).await;
    // The same bytes may stand in two pushes (one name, one content).
    let fresh = t.push(&alice, "TWO-2026-0012", &[signed_rpm()]).await;
    let db = hotpush::origin::server::state_db(&t.app().config.data_dir);
    let conn = rusqlite::Connection::open(db).unwrap();
    let hours = t.app().config.auth.staged_expiry_hours as i64;
    conn.execute(
        "UPDATE staged_pushes SET staged_at_ms = staged_at_ms - ?1 WHERE push_id = ?2",
        rusqlite::params![hours * 3_600_000 + 1000, old],
    )
    .unwrap();
    t.run_pending_jobs().await;
    assert_eq!(state(&t, &alice, old).await, "cancelled");
    assert_eq!(state(&t, &alice, fresh).await, "staged");
    let entries = t.app().store.audit_entries(200).unwrap();
    assert!(entries.iter().any(|e| e.action == "push-cancelled"
        && e.actor == "hotpush"
        && e.reason.contains("expired")));
    assert_eq!(
        t.get("/api/v1/advisories/TWO-2026-0011").await.status,
        StatusCode::NOT_FOUND
    );
}
