//! `hotpush cancel` / `POST /api/v1/pushes/{id}/cancel`: a push that is not
//! yet published can be abandoned (audited, push group only); nothing of it is
//! published, its advisory stops being pending, and the advisory id can be
//! pushed again.
use axum::http::{Method, StatusCode};

use crate::common::support::real_rpms;
use crate::common::test_app::{signed_rpm, TestApp};

async fn open_push(t: &TestApp, token: &str, advisory: &str) -> i64 {
    let created = t
        .post_json(
            "/api/v1/pushes",
            Some(token),
            &serde_json::json!({"advisory": advisory, "severity": "critical",
                "cves": ["CVE-2026-0002"], "summary": "Fix"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    created.json()["id"].as_i64().unwrap()
}

/// Uploads [`signed_rpm`] into push `id`.
async fn upload(t: &TestApp, token: &str, id: i64) -> crate::common::test_app::TestResponse {
    let (name, bytes) = signed_rpm();
    t.request(
        Method::PUT,
        &format!("/api/v1/pushes/{id}/packages/{name}"),
        Some(token),
        bytes,
    )
    .await
}

async fn cancel(
    t: &TestApp,
    token: Option<&str>,
    id: i64,
) -> crate::common::test_app::TestResponse {
    t.post_json(
        &format!("/api/v1/pushes/{id}/cancel"),
        token,
        &serde_json::json!({}),
    )
    .await
}

#[tokio::test]
async fn a_push_left_open_by_a_refused_upload_can_be_cancelled() {
    let t = TestApp::init().start().await;
    let alice = t.push_token();
    let outsider = t.token("mallory", "builders");
    let id = open_push(&t, &alice, "CANCEL-2026-0001").await;
    // An upload the origin refuses (a key it does not trust) leaves the push open.
    let untrusted = std::fs::read(
        real_rpms().join("rpm-rs/v4/signed/rpm-basic-with-rsa4096-2.3.4-5.el9.noarch.rpm"),
    )
    .unwrap();
    let up = t
        .request(
            Method::PUT,
            &format!("/api/v1/pushes/{id}/packages/rpm-basic-with-rsa4096-2.3.4-5.el9.noarch.rpm"),
            Some(&alice),
            untrusted,
        )
        .await;
    assert_eq!(up.status, StatusCode::UNPROCESSABLE_ENTITY);
    let push = t
        .get_with(&format!("/api/v1/pushes/{id}"), &alice)
        .await
        .json();
    assert_eq!(push["state"], "uploading");

    assert_eq!(cancel(&t, None, id).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        cancel(&t, Some(&outsider), id).await.status,
        StatusCode::FORBIDDEN
    );
    let done = cancel(&t, Some(&alice), id).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert_eq!(done.json()["state"], "cancelled");
    assert_eq!(done.json()["error"], "cancelled by alice");

    let advisory = t
        .get_with("/api/v1/advisories/CANCEL-2026-0001", &alice)
        .await
        .json();
    assert_eq!(advisory["state"], "cancelled", "{advisory}");
    // Still embargoed: nothing of it was ever published.
    assert_eq!(
        t.get("/api/v1/advisories/CANCEL-2026-0001").await.status,
        StatusCode::NOT_FOUND
    );
    let entries = t.app().store.audit_entries(100).unwrap();
    assert!(entries
        .iter()
        .any(|e| e.action == "push-cancelled" && e.allowed && e.actor == "alice"));
    assert!(entries
        .iter()
        .any(|e| e.action == "cancel" && !e.allowed && e.actor == "mallory"));

    // Over is over: no second cancel, no upload, no submit.
    let again = cancel(&t, Some(&alice), id).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    let up = upload(&t, &alice, id).await;
    assert_eq!(up.status, StatusCode::CONFLICT, "{}", up.text());
    let submit = t
        .post_json(
            &format!("/api/v1/pushes/{id}/submit"),
            Some(&alice),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(submit.status, StatusCode::CONFLICT, "{}", submit.text());
    assert_eq!(
        cancel(&t, Some(&alice), 999_999).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(entries.len() <= t.app().store.audit_entries(100).unwrap().len());

    // The advisory id is free to be pushed again, and goes live.
    let id2 = t.push(&alice, "CANCEL-2026-0001", &[signed_rpm()]).await;
    t.run_pending_jobs().await;
    let push = t
        .get_with(&format!("/api/v1/pushes/{id2}"), &alice)
        .await
        .json();
    assert_eq!(push["state"], "published", "{push}");
    let advisory = t.get("/api/v1/advisories/CANCEL-2026-0001").await.json();
    assert_eq!(advisory["state"], "live", "{advisory}");
    // The cancelled push stays cancelled.
    let push = t
        .get_with(&format!("/api/v1/pushes/{id}"), &alice)
        .await
        .json();
    assert_eq!(push["state"], "cancelled");
}

#[tokio::test]
async fn an_accepted_or_published_push_cannot_be_cancelled() {
    let t = TestApp::init().start().await;
    let alice = t.push_token();
    let id = t.push(&alice, "CANCEL-2026-0002", &[signed_rpm()]).await;
    // Accepted, not yet published: past the point of no return.
    let r = cancel(&t, Some(&alice), id).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.json()["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("hotpush retire"));
    t.run_pending_jobs().await;
    let r = cancel(&t, Some(&alice), id).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let push = t.get(&format!("/api/v1/pushes/{id}")).await.json();
    assert_eq!(push["state"], "published");
    // A second, open push of a live advisory: cancelling it leaves the advisory live.
    let id2 = open_push(&t, &alice, "CANCEL-2026-0002").await;
    assert_eq!(cancel(&t, Some(&alice), id2).await.status, StatusCode::OK);
    let advisory = t.get("/api/v1/advisories/CANCEL-2026-0002").await.json();
    assert_eq!(advisory["state"], "live", "{advisory}");
}

/// `blobs/` keeps the bytes of every push that may still be published or is
/// published; the publisher's sweep removes the rest (a cancelled push's
/// package, the bytes of an upload refused after they were kept) once they
/// are older than the grace period, never a blob another push shares.
#[tokio::test]
async fn the_blob_sweep_removes_only_what_no_push_needs() {
    use hotpush::origin::jobs::sweep_blobs;
    use std::time::Duration;
    let t = TestApp::init().start().await;
    let alice = t.push_token();
    let (name, bytes) = signed_rpm();
    let upload = |id: i64| {
        let (t, alice) = (&t, alice.clone());
        async move {
            let up = upload(t, &alice, id).await;
            assert_eq!(up.status, StatusCode::CREATED, "{}", up.text());
            up.json()["sha256"].as_str().unwrap().to_owned()
        }
    };
    // A cancelled push's blob goes, once it is older than the grace period.
    let id = open_push(&t, &alice, "BLOB-2026-0001").await;
    let sha = upload(id).await;
    let blob = t.app().tree.blob_path(&sha);
    assert!(blob.is_file());
    assert_eq!(cancel(&t, Some(&alice), id).await.status, StatusCode::OK);
    // Debris nobody recorded (an upload refused after its bytes were kept).
    let stray = t.app().tree.blob_path(&"ab".repeat(32));
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"refused late").unwrap();
    assert_eq!(sweep_blobs(t.app(), Duration::from_secs(3600)).unwrap(), 0);
    assert!(blob.is_file() && stray.is_file(), "a young blob was taken");
    assert_eq!(sweep_blobs(t.app(), Duration::ZERO).unwrap(), 2);
    assert!(!blob.exists() && !stray.exists());

    // A published push's blob stays, also when a cancelled push shared it;
    // so does an open push's.
    let live = t
        .push(&alice, "BLOB-2026-0002", &[(name.clone(), bytes.clone())])
        .await;
    t.run_pending_jobs().await;
    let shared = open_push(&t, &alice, "BLOB-2026-0003").await;
    assert_eq!(upload(shared).await, sha);
    assert_eq!(
        cancel(&t, Some(&alice), shared).await.status,
        StatusCode::OK
    );
    let open = open_push(&t, &alice, "BLOB-2026-0004").await;
    upload(open).await;
    assert_eq!(sweep_blobs(t.app(), Duration::ZERO).unwrap(), 0);
    assert!(blob.is_file());
    let push = t.get(&format!("/api/v1/pushes/{live}")).await.json();
    assert_eq!(push["state"], "published", "{push}");
}
