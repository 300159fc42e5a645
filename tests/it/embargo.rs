//! The embargo and the push state machine, in process ([`TestApp`]).
//!
//! Embargo: until a push of an advisory is published, nothing about it (id,
//! CVEs, summary, package NEVRAs and names, sha256) is in any answer without a
//! push-group token: the API lists and details, the push view, the checklist,
//! the announcement, status, activity, the events stream, the dashboard pages
//! and `/metrics`; a 404 for its id is the 404 of an unknown id. With the token
//! all of it is there; after publication the public view shows it.
//!
//! State machine: a push's texts reach the advisory only when it is published;
//! a package uploaded after submit (or racing it) is refused or part of what
//! was submitted, never published unsubmitted; one push that cannot be
//! published in a coalesced run fails alone and the others are published.
use std::path::Path;

use axum::body::Body;
use axum::http::{Method, StatusCode};

use crate::common::repo_files::decompress;
use crate::common::rpmbuild::rpmbuild;
use crate::common::test_app::{TestApp, TestResponse};

const ADVISORY: &str = "EMBARGO-2026-0042";
const CVE: &str = "CVE-2026-4242";
const SUMMARY: &str = "Hidden overflow in embargofix";

/// An origin that takes unsigned packages (built here with rpmbuild).
async fn unsigned_app() -> TestApp {
    TestApp::init()
        .with_config(|c| c.intake.require_signed_packages = false)
        .start()
        .await
}

/// A small noarch package `name-version-1.noarch.rpm`: (file name, bytes).
fn package(dir: &Path, name: &str, version: &str) -> (String, Vec<u8>) {
    let path = rpmbuild(
        dir,
        name,
        version,
        &format!("%description\n{name} for the embargo tests.\n%files\n"),
    );
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    (file, std::fs::read(&path).unwrap())
}

async fn open_push(
    t: &TestApp,
    token: &str,
    advisory: &str,
    summary: &str,
    cves: &[&str],
) -> TestResponse {
    t.post_json(
        "/api/v1/pushes",
        Some(token),
        &serde_json::json!({
            "advisory": advisory,
            "severity": "critical",
            "cves": cves,
            "summary": summary,
        }),
    )
    .await
}

async fn upload(t: &TestApp, token: &str, push: i64, rpm: &(String, Vec<u8>)) -> TestResponse {
    t.request(
        Method::PUT,
        &format!("/api/v1/pushes/{push}/packages/{}", rpm.0),
        Some(token),
        rpm.1.clone(),
    )
    .await
}

async fn submit(t: &TestApp, token: &str, push: i64) -> TestResponse {
    t.request(
        Method::POST,
        &format!("/api/v1/pushes/{push}/submit"),
        Some(token),
        Body::empty(),
    )
    .await
}

/// Every public (no token) read that could name an advisory or a push.
fn public_reads(push: i64) -> Vec<String> {
    [
        "/api/v1/advisories".to_owned(),
        format!("/api/v1/advisories/{ADVISORY}"),
        format!("/api/v1/advisories/{ADVISORY}/announcement"),
        "/api/v1/pushes".to_owned(),
        format!("/api/v1/pushes/{push}"),
        format!("/api/v1/pushes/{push}/checklist"),
        "/api/v1/status".to_owned(),
        "/api/v1/activity".to_owned(),
        "/".to_owned(),
        format!("/advisory/{ADVISORY}"),
        "/assets/dashboard.js".to_owned(),
        "/metrics".to_owned(),
    ]
    .into()
}

/// The uncompressed XML of one repomd record of `repo`, through the router.
async fn record_xml(t: &TestApp, repo: &str, kind: &str) -> String {
    let repomd = t
        .get(&format!("/pub/{repo}/repodata/repomd.xml"))
        .await
        .text();
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
async fn an_embargoed_push_shows_nowhere_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let t = unsigned_app().await;
    let token = t.push_token();
    let rpm = package(dir.path(), "embargofix", "1.0");
    let mut public_events = t.events(None).await;
    let mut full_events = t.events(Some(&token)).await;

    // Open, upload, submit: the push is accepted, not yet published.
    let opened = open_push(&t, &token, ADVISORY, SUMMARY, &[CVE]).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text());
    let push = opened.json()["id"].as_i64().unwrap();
    let up = upload(&t, &token, push, &rpm).await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.text());
    let nevra = up.json()["nevra"].as_str().unwrap().to_owned();
    let sha256 = up.json()["sha256"].as_str().unwrap().to_owned();
    assert_eq!(submit(&t, &token, push).await.status, StatusCode::ACCEPTED);
    let secrets = [ADVISORY, CVE, SUMMARY, &nevra, "embargofix", &sha256];

    // Without a token: in no body, whatever the read (the id-addressed 404s
    // echo only the id the caller sent, as for an unknown id: checked below).
    for uri in public_reads(push) {
        let r = t.get(&uri).await;
        let mut body = r.text();
        if r.status == StatusCode::NOT_FOUND {
            body = body.replace(ADVISORY, "");
        }
        for secret in secrets {
            assert!(
                !body.contains(secret),
                "GET {uri} ({}) shows `{secret}` without a token:\n{body}",
                r.status
            );
        }
    }
    // A 404 for the embargoed id is the 404 for an id that does not exist.
    for (known, unknown) in [
        (
            format!("/api/v1/advisories/{ADVISORY}"),
            "/api/v1/advisories/NOSUCH-1".to_owned(),
        ),
        (
            format!("/api/v1/advisories/{ADVISORY}/announcement"),
            "/api/v1/advisories/NOSUCH-1/announcement".to_owned(),
        ),
        (
            format!("/advisory/{ADVISORY}"),
            "/advisory/NOSUCH-1".to_owned(),
        ),
        (
            format!("/api/v1/pushes/{push}"),
            format!("/api/v1/pushes/{}", push + 1000),
        ),
        (
            format!("/api/v1/pushes/{push}/checklist"),
            format!("/api/v1/pushes/{}/checklist", push + 1000),
        ),
    ] {
        let a = t.get(&known).await;
        let b = t.get(&unknown).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{known}: {}", a.text());
        assert_eq!(b.status, StatusCode::NOT_FOUND, "{unknown}");
        assert_eq!(
            a.headers.get("content-type"),
            b.headers.get("content-type"),
            "{known}"
        );
        let unknown_id = (push + 1000).to_string();
        assert_eq!(
            a.text()
                .replace(ADVISORY, "ID")
                .replace(&format!("push {push} "), "push ID "),
            b.text()
                .replace("NOSUCH-1", "ID")
                .replace(&format!("push {unknown_id} "), "push ID "),
            "{known} answers unlike an unknown id"
        );
    }
    // The events stream: nothing about it in the public one, all of it in the
    // token's.
    t.emit_marker("marker-1");
    let public = public_events.read_until("marker-1").await;
    for secret in secrets {
        assert!(
            !public.contains(secret),
            "the public stream shows `{secret}`:\n{public}"
        );
    }
    let full = full_events.read_until("marker-1").await;
    for (kind, secret) in [
        ("push-created", ADVISORY),
        ("package-uploaded", nevra.as_str()),
        ("push-accepted", ADVISORY),
    ] {
        assert!(
            full.contains(&format!("event: {kind}")) && full.contains(secret),
            "the token's stream lacks {kind} / `{secret}`:\n{full}"
        );
    }

    // With a push-group token everything is there.
    for (uri, wanted) in [
        ("/api/v1/advisories".to_owned(), &secrets[..4]),
        (format!("/api/v1/advisories/{ADVISORY}"), &secrets[..4]),
        (
            format!("/api/v1/pushes/{push}"),
            &[ADVISORY, &nevra, &sha256, CVE, SUMMARY][..],
        ),
        ("/api/v1/pushes".to_owned(), &[ADVISORY, &nevra][..]),
        ("/api/v1/status".to_owned(), &secrets[..4]),
        ("/api/v1/activity".to_owned(), &[ADVISORY][..]),
        (format!("/api/v1/pushes/{push}/checklist"), &[ADVISORY][..]),
        (
            format!("/api/v1/advisories/{ADVISORY}/announcement"),
            &secrets[..4],
        ),
    ] {
        let r = t.get_with(&uri, &token).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
        for secret in wanted {
            assert!(
                r.text().contains(secret),
                "{uri} lacks `{secret}`: {}",
                r.text()
            );
        }
    }
    // A bad token is refused (not served the public view), and audited.
    let bad = t
        .request(
            Method::GET,
            "/api/v1/advisories",
            Some("hp_0000"),
            Body::empty(),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED, "{}", bad.text());
    let reader = t.token("bob", "readers");
    let other = t.get_with("/api/v1/advisories", &reader).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.text());

    // Published: the public view shows what clients can now download.
    assert_eq!(t.run_pending_jobs().await, 1);
    for (uri, wanted) in [
        ("/api/v1/advisories".to_owned(), &secrets[..4]),
        (format!("/api/v1/advisories/{ADVISORY}"), &secrets[..4]),
        (
            format!("/api/v1/pushes/{push}"),
            &[ADVISORY, nevra.as_str()][..],
        ),
        ("/api/v1/status".to_owned(), &secrets[..4]),
    ] {
        let r = t.get(&uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
        for secret in wanted {
            assert!(
                r.text().contains(secret),
                "{uri} lacks `{secret}`: {}",
                r.text()
            );
        }
    }
    assert_eq!(
        t.get(&format!("/advisory/{ADVISORY}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.get(&format!("/api/v1/advisories/{ADVISORY}"))
            .await
            .json()["state"],
        "live"
    );
    t.emit_marker("marker-2");
    let public = public_events.read_until("marker-2").await;
    assert!(
        public.contains("event: push-published") && public.contains(ADVISORY),
        "{public}"
    );
    // The metrics never carry an advisory or a package, published or not.
    let metrics = t.get("/metrics").await.text();
    for secret in secrets {
        assert!(!metrics.contains(secret), "/metrics shows `{secret}`");
    }
}

#[tokio::test]
async fn a_second_push_changes_a_live_advisory_only_when_it_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let t = unsigned_app().await;
    let token = t.push_token();
    let first = package(dir.path(), "embargofix", "1.0");
    let second = package(dir.path(), "embargofix", "1.1");
    let repo = "critical/43/x86_64";

    let opened = open_push(&t, &token, ADVISORY, "First text", &["CVE-2026-1111"]).await;
    let p1 = opened.json()["id"].as_i64().unwrap();
    assert_eq!(
        upload(&t, &token, p1, &first).await.status,
        StatusCode::CREATED
    );
    assert_eq!(submit(&t, &token, p1).await.status, StatusCode::ACCEPTED);
    t.run_pending_jobs().await;
    let live_revision = t.app().served(repo).unwrap().revision;

    // A second push proposes new texts and a new CVE: the advisory, the
    // public view and updateinfo keep the first texts until it is published.
    let opened = open_push(&t, &token, ADVISORY, "Second text", &["CVE-2026-2222"]).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text());
    let p2 = opened.json()["id"].as_i64().unwrap();
    assert_eq!(opened.json()["proposal"]["summary"], "Second text");
    let unchanged = |a: &serde_json::Value| {
        assert_eq!(a["summary"], "First text", "{a}");
        assert_eq!(a["cves"], serde_json::json!(["CVE-2026-1111"]), "{a}");
    };
    for step in ["opened", "uploaded", "submitted"] {
        match step {
            "uploaded" => {
                assert_eq!(
                    upload(&t, &token, p2, &second).await.status,
                    StatusCode::CREATED
                )
            }
            "submitted" => {
                assert_eq!(submit(&t, &token, p2).await.status, StatusCode::ACCEPTED)
            }
            _ => {}
        }
        let public = t
            .get(&format!("/api/v1/advisories/{ADVISORY}"))
            .await
            .json();
        unchanged(&public);
        let full = t
            .get_with(&format!("/api/v1/advisories/{ADVISORY}"), &token)
            .await
            .json();
        unchanged(&full);
        // The public view lists only the published package.
        assert_eq!(
            public["packages"].as_array().unwrap().len(),
            1,
            "{step}: {public}"
        );
        assert!(!t.get("/api/v1/status").await.text().contains("Second text"));
        assert_eq!(
            t.app().served(repo).unwrap().revision,
            live_revision,
            "{step}"
        );
        let updateinfo = record_xml(&t, repo, "updateinfo").await;
        assert!(updateinfo.contains("First text"), "{step}: {updateinfo}");
        assert!(
            !updateinfo.contains("CVE-2026-2222"),
            "{step}: {updateinfo}"
        );
    }

    // Published: the second texts, in the API and in updateinfo.
    t.run_pending_jobs().await;
    let public = t
        .get(&format!("/api/v1/advisories/{ADVISORY}"))
        .await
        .json();
    assert_eq!(public["summary"], "Second text", "{public}");
    assert_eq!(
        public["cves"],
        serde_json::json!(["CVE-2026-2222"]),
        "{public}"
    );
    assert_eq!(public["packages"].as_array().unwrap().len(), 2, "{public}");
    let updateinfo = record_xml(&t, repo, "updateinfo").await;
    assert!(updateinfo.contains("Second text"), "{updateinfo}");
    assert!(updateinfo.contains("CVE-2026-2222"), "{updateinfo}");
    // A routine run afterwards changes nothing: the store holds what was published.
    t.app()
        .store
        .enqueue_job("publish", hotpush::origin::jobs::PRIORITY_ROUTINE, "test")
        .unwrap();
    let before = t.app().served(repo).unwrap().revision;
    t.run_pending_jobs().await;
    assert_eq!(t.app().served(repo).unwrap().revision, before);
}

#[tokio::test]
async fn a_package_after_submit_is_refused_and_never_published() {
    let dir = tempfile::tempdir().unwrap();
    let t = unsigned_app().await;
    let token = t.push_token();
    let repo = "critical/43/x86_64";

    // After submit: 409, the push unchanged, nothing of it published.
    let a = package(dir.path(), "embargofix", "1.0");
    let late = package(dir.path(), "latecomer", "1.0");
    let p = open_push(&t, &token, ADVISORY, SUMMARY, &[CVE])
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(upload(&t, &token, p, &a).await.status, StatusCode::CREATED);
    assert_eq!(submit(&t, &token, p).await.status, StatusCode::ACCEPTED);
    let refused = upload(&t, &token, p, &late).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());
    assert!(
        refused.text().contains("no longer takes packages"),
        "{}",
        refused.text()
    );
    assert_eq!(submit(&t, &token, p).await.status, StatusCode::CONFLICT);
    t.run_pending_jobs().await;
    let view = t
        .get_with(&format!("/api/v1/pushes/{p}"), &token)
        .await
        .json();
    assert_eq!(view["state"], "published", "{view}");
    assert_eq!(view["packages"].as_array().unwrap().len(), 1, "{view}");
    let primary = record_xml(&t, repo, "primary").await;
    assert!(primary.contains("<name>embargofix</name>"), "{primary}");
    assert!(!primary.contains("latecomer"), "{primary}");
    // Refused after publication too.
    assert_eq!(
        upload(&t, &token, p, &late).await.status,
        StatusCode::CONFLICT
    );

    // Racing: an upload and the submit of the same push sent together, many
    // times. Whatever the order, what is published is exactly what the push
    // held when it was accepted (the submit's answer lists it), and the racing
    // upload was answered 201 exactly when it is among that.
    for i in 0..8 {
        let advisory = format!("RACE-2026-{i:04}");
        let first = package(dir.path(), &format!("racefirst{i}"), "1.0");
        let racer = package(dir.path(), &format!("racer{i}"), "1.0");
        let p = open_push(&t, &token, &advisory, SUMMARY, &[]).await.json()["id"]
            .as_i64()
            .unwrap();
        assert_eq!(
            upload(&t, &token, p, &first).await.status,
            StatusCode::CREATED
        );
        let (up, sub) = tokio::join!(upload(&t, &token, p, &racer), submit(&t, &token, p));
        assert_eq!(sub.status, StatusCode::ACCEPTED, "{}", sub.text());
        assert!(
            up.status == StatusCode::CREATED || up.status == StatusCode::CONFLICT,
            "{}: {}",
            up.status,
            up.text()
        );
        let racer_prefix = format!("racer{i}-");
        let in_submitted = sub.json()["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["file_name"].as_str().unwrap().starts_with(&racer_prefix));
        t.run_pending_jobs().await;
        let primary = record_xml(&t, repo, "primary").await;
        let published = primary.contains(&format!("<name>racer{i}</name>"));
        let accepted = up.status == StatusCode::CREATED;
        assert_eq!(
            (published, accepted),
            (in_submitted, in_submitted),
            "round {i}: upload {}, in the submitted push {in_submitted}, published {published}",
            up.status
        );
    }
}

/// Two pushes submitted before one run; the second cannot be published. It
/// fails alone with its reason, the first is published, and nothing of the
/// second is served.
async fn coalesced_run_with_one_bad_push(break_it: impl FnOnce(&TestApp, &str)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let t = unsigned_app().await;
    let token = t.push_token();
    let repo = "critical/43/x86_64";
    let good = package(dir.path(), "goodfix", "1.0");
    let bad = package(dir.path(), "badfix", "1.0");
    let pg = open_push(&t, &token, "GOOD-2026-0001", "Good fix", &[])
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        upload(&t, &token, pg, &good).await.status,
        StatusCode::CREATED
    );
    let pb = open_push(&t, &token, "BAD-2026-0001", "Bad fix", &[])
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let up = upload(&t, &token, pb, &bad).await;
    assert_eq!(up.status, StatusCode::CREATED);
    let bad_sha = up.json()["sha256"].as_str().unwrap().to_owned();
    assert_eq!(submit(&t, &token, pg).await.status, StatusCode::ACCEPTED);
    assert_eq!(submit(&t, &token, pb).await.status, StatusCode::ACCEPTED);
    break_it(&t, &bad_sha);

    assert_eq!(t.run_pending_jobs().await, 1, "one coalesced run");
    let good_view = t.get(&format!("/api/v1/pushes/{pg}")).await.json();
    assert_eq!(good_view["state"], "published", "{good_view}");
    let bad_view = t
        .get_with(&format!("/api/v1/pushes/{pb}"), &token)
        .await
        .json();
    assert_eq!(bad_view["state"], "failed", "{bad_view}");
    let reason = bad_view["error"].as_str().unwrap().to_owned();
    // The bad push stays embargoed; the good one is public and served.
    assert_eq!(
        t.get("/api/v1/advisories/BAD-2026-0001").await.status,
        StatusCode::NOT_FOUND
    );
    let primary = record_xml(&t, repo, "primary").await;
    assert!(primary.contains("<name>goodfix</name>"), "{primary}");
    assert!(!primary.contains("badfix"), "{primary}");
    let updateinfo = record_xml(&t, repo, "updateinfo").await;
    assert!(updateinfo.contains("GOOD-2026-0001"), "{updateinfo}");
    assert!(!updateinfo.contains("BAD-2026-0001"), "{updateinfo}");
    // The jobs end as their pushes did.
    let jobs = t.get_with("/api/v1/activity", &token).await.json();
    let job_of = |push: i64| {
        jobs.as_array()
            .unwrap()
            .iter()
            .find(|j| j["push_id"] == push)
            .unwrap_or_else(|| panic!("no job of push {push}: {jobs}"))
            .clone()
    };
    assert_eq!(job_of(pg)["state"], "done", "{jobs}");
    assert_eq!(job_of(pb)["state"], "failed", "{jobs}");
    assert_eq!(job_of(pb)["error"].as_str(), Some(reason.as_str()));
    reason
}

#[tokio::test]
async fn a_push_whose_package_is_gone_fails_alone() {
    let reason = coalesced_run_with_one_bad_push(|t, sha| {
        std::fs::remove_file(t.app().tree.blob_path(sha)).unwrap();
    })
    .await;
    assert!(reason.contains("badfix-1.0-1.noarch.rpm"), "{reason}");
    assert!(reason.contains("missing"), "{reason}");
}

#[tokio::test]
async fn a_push_whose_package_is_truncated_fails_alone() {
    let reason = coalesced_run_with_one_bad_push(|t, sha| {
        let blob = t.app().tree.blob_path(sha);
        let bytes = std::fs::read(&blob).unwrap();
        std::fs::write(&blob, &bytes[..bytes.len() / 2]).unwrap();
    })
    .await;
    assert!(reason.contains("badfix-1.0-1.noarch.rpm"), "{reason}");
}

#[tokio::test]
async fn a_push_a_pre_publication_hook_refuses_fails_alone() {
    let reason = coalesced_run_with_one_bad_push(|t, _| {
        let hooks = t.app().config.data_dir.join("hooks/pre-publication.d");
        std::fs::create_dir_all(&hooks).unwrap();
        let hook = hooks.join("50-no-bad");
        std::fs::write(
            &hook,
            "#!/bin/sh\ncase \" $HOTPUSH_ADVISORIES \" in *\" BAD-2026-0001 \"*) \
             echo 'BAD-2026-0001 is frozen' >&2; exit 4;; esac\n",
        )
        .unwrap();
        let mut perms = std::fs::metadata(&hook).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&hook, perms).unwrap();
    })
    .await;
    assert!(reason.contains("50-no-bad"), "{reason}");
}

#[tokio::test]
async fn retiring_an_embargoed_advisory_announces_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let t = unsigned_app().await;
    let token = t.push_token();
    let rpm = package(dir.path(), "embargofix", "1.0");
    let mut public_events = t.events(None).await;
    let p = open_push(&t, &token, ADVISORY, SUMMARY, &[CVE])
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        upload(&t, &token, p, &rpm).await.status,
        StatusCode::CREATED
    );
    // Abandoned before submit: retired without ever being published.
    let retired = t
        .request(
            Method::POST,
            &format!("/api/v1/advisories/{ADVISORY}/retire"),
            Some(&token),
            Body::empty(),
        )
        .await;
    assert_eq!(retired.status, StatusCode::ACCEPTED, "{}", retired.text());
    t.run_pending_jobs().await;
    t.emit_marker("marker-retired");
    let public = public_events.read_until("marker-retired").await;
    assert!(!public.contains(ADVISORY), "{public}");
    for uri in ["/api/v1/activity", "/api/v1/advisories", "/api/v1/status"] {
        let body = t.get(uri).await.text();
        assert!(!body.contains(ADVISORY), "{uri}: {body}");
    }
    // The token's view has the retirement job.
    let full = t.get_with("/api/v1/activity", &token).await.text();
    assert!(full.contains(&format!("retire {ADVISORY}")), "{full}");
}
