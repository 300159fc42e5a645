//! The read models `/api/v1` answers with, built from the store and the
//! running origin: pushes, advisories, partner mirrors, status and the SOP
//! checklist, each within a [`Scope`] (nothing under embargo in the public one).
use crate::core::api::*;
use crate::io::http_error::ApiError;
use crate::origin::app::App;
use crate::origin::http::access::Scope;
use crate::origin::store::now_ms;

type ApiResult<T> = Result<T, ApiError>;

/// One push; in the public scope only a published one, and any other answers
/// exactly as a push that does not exist.
pub(crate) fn push_view(app: &App, push_id: i64, scope: Scope) -> ApiResult<PushView> {
    let p = app
        .store
        .push(push_id)?
        .filter(|p| scope == Scope::Full || p.state == "published")
        .ok_or_else(|| ApiError::not_found(format!("push {push_id} does not exist")))?;
    let packages = app.store.push_packages(push_id)?;
    let arches: Vec<String> = packages.iter().map(|p| p.arch.clone()).collect();
    let repos: Vec<String> = app
        .repos()
        .into_iter()
        .filter(|r| arches.iter().any(|a| r.takes_arch(a)))
        .map(|r| r.path())
        .collect();
    let mirrors = mirror_views(app)?
        .into_iter()
        .filter(|m| repos.contains(&m.repo))
        .collect();
    Ok(PushView {
        id: p.id,
        advisory: p.advisory_id,
        state: p.state,
        created_by: p.created_by,
        created_at_ms: p.created_at_ms,
        accepted_at_ms: p.accepted_at_ms,
        published_at_ms: p.published_at_ms,
        error: p.error,
        proposal: p.proposal.map(|t| AdvisoryProposal {
            severity: t.severity,
            summary: t.summary,
            description: t.description,
            cves: t.cves,
            releases: t.releases,
        }),
        packages: packages
            .into_iter()
            .map(|x| PushPackageView {
                file_name: x.file_name,
                nevra: x.nevra,
                arch: x.arch,
                sha256: x.sha256,
                size: x.size,
                signed_by: x.signed_by,
            })
            .collect(),
        mirrors,
    })
}

/// Every advisory the scope may see: in the public scope those with a
/// published push, listing only the packages of published pushes (what clients
/// can already download), with the texts the published pushes gave them.
pub(crate) fn advisory_views(app: &App, scope: Scope) -> ApiResult<Vec<AdvisoryView>> {
    let public = app.store.published_advisories()?;
    let mut packages: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for p in app.store.pushes(1000)? {
        // A cancelled push ships nothing: its packages are not the advisory's.
        if p.state == "cancelled" || (scope == Scope::Public && p.state != "published") {
            continue;
        }
        for pkg in app.store.push_packages(p.id)? {
            let list = packages.entry(p.advisory_id.clone()).or_default();
            if !list.contains(&pkg.nevra) {
                list.push(pkg.nevra);
            }
        }
    }
    Ok(app
        .store
        .advisories()?
        .into_iter()
        .filter(|a| scope == Scope::Full || public.contains(&a.id))
        .map(|a| AdvisoryView {
            packages: packages.remove(&a.id).unwrap_or_default(),
            id: a.id,
            severity: a.severity,
            summary: a.summary,
            description: a.description,
            cves: a.cves,
            releases: a.releases,
            state: a.state,
            issued: a.issued,
            updated: a.updated,
        })
        .collect())
}

pub(crate) fn mirror_views(app: &App) -> ApiResult<Vec<MirrorView>> {
    let states = app.store.mirror_states()?;
    let mut out = Vec::new();
    for m in &app.mirrors {
        for repo in app.repos() {
            let current = app.served(&repo.path());
            let st = states
                .iter()
                .find(|s| s.mirror == m.name && s.repo == repo.path());
            let cur_rev = current.as_ref().map(|c| c.revision);
            let holds_current = st.is_some_and(|s| s.verified && Some(s.revision) == cur_rev);
            let lag_ms = match (&current, st) {
                (Some(c), _) if holds_current => Some(0).filter(|_| c.revision > 0),
                (Some(c), _) => Some(now_ms() - c.published_at_ms),
                _ => None,
            };
            out.push(MirrorView {
                name: m.name.clone(),
                public_url: m.public_url.clone(),
                repo: repo.path(),
                revision: st.map(|s| s.revision).unwrap_or(0),
                current: holds_current,
                verified: st.is_some_and(|s| s.verified),
                verified_at_ms: st.and_then(|s| s.verified_at_ms),
                lag_ms,
                last_error: st.and_then(|s| s.last_error.clone()),
                attempted: holds_current
                    || st.is_some_and(|s| cur_rev.is_some_and(|r| s.attempted_revision >= r)),
                stage: st.and_then(|s| s.stage.clone()),
                retries: st.map(|s| s.retries).unwrap_or(0),
                hint: st
                    .and_then(|s| s.last_error.as_deref())
                    .filter(|_| !holds_current)
                    .and_then(crate::core::api::partner_error_hint)
                    .map(str::to_owned),
            });
        }
    }
    Ok(out)
}

pub(crate) fn status_view(app: &App, scope: Scope) -> ApiResult<StatusView> {
    let mut repos = Vec::new();
    for repo in app.repos() {
        let cur = app.store.current_revision(&repo.path())?;
        repos.push(RepoView {
            metalink: format!(
                "{}/metalink?repo={}&arch={}",
                app.config.public_url,
                app.metalink_id(&repo),
                repo.arch
            ),
            baseurl: format!("{}/pub/{}/", app.config.public_url, repo.path()),
            repo: repo.path(),
            revision: cur.as_ref().map(|c| c.revision),
            repomd_sha256: cur.as_ref().map(|c| c.repomd_sha256.clone()),
            published_at_ms: cur.as_ref().map(|c| c.published_at_ms),
            packages: cur
                .as_ref()
                .map(|c| {
                    c.files
                        .iter()
                        .filter(|f| f.starts_with("Packages/"))
                        .count()
                })
                .unwrap_or(0),
        });
    }
    Ok(StatusView {
        public_url: app.config.public_url.clone(),
        channel: app.config.repos.channel.clone(),
        metalink_repo_prefix: app.config.metalink_repo_prefix.clone(),
        partners: app.mirrors.iter().map(|m| m.public_url.clone()).collect(),
        package_bytes_max: app.config.intake.package_bytes_max,
        key_fingerprint: app.repo_key().fingerprint(),
        queue_depth: app.store.queue_depth()?,
        repos,
        advisories: advisory_views(app, scope)?,
        mirrors: mirror_views(app)?,
    })
}

pub(crate) fn checklist_view(app: &App, push_id: i64, scope: Scope) -> ApiResult<ChecklistView> {
    let view = push_view(app, push_id, scope)?;
    let rows = app.store.push_packages(push_id)?;
    let advisory = app.store.advisory(&view.advisory)?;
    // The metalink of every repository this push touched must list each partner
    // that is verified at its current revision; then it is up to date.
    let touched: std::collections::BTreeSet<String> = app
        .repos()
        .into_iter()
        .filter(|r| view.packages.iter().any(|p| r.takes_arch(&p.arch)))
        .map(|r| r.path())
        .collect();
    let metalink_updated_at_ms = if view.state == "published" && !touched.is_empty() {
        let mut latest = view.published_at_ms;
        let mut complete = true;
        for repo in &touched {
            let Some(served) = app.served(repo) else {
                complete = false;
                break;
            };
            let body = String::from_utf8_lossy(&served.metalink.bytes);
            let origin_listed = body.contains(app.config.public_url.trim_end_matches('/'));
            let partners_listed = view
                .mirrors
                .iter()
                .filter(|m| &m.repo == repo && m.current)
                .all(|m| body.contains(m.public_url.trim_end_matches('/')));
            complete &= origin_listed && partners_listed;
            latest = latest.max(Some(served.published_at_ms));
            latest = latest.max(
                view.mirrors
                    .iter()
                    .filter(|m| &m.repo == repo && m.current)
                    .filter_map(|m| m.verified_at_ms)
                    .max(),
            );
        }
        latest.filter(|_| complete)
    } else {
        None
    };
    let facts = crate::core::sop::PushFacts {
        push_id: view.id,
        advisory: view.advisory.clone(),
        state: view.state.clone(),
        created_at_ms: view.created_at_ms,
        accepted_at_ms: view.accepted_at_ms,
        published_at_ms: view.published_at_ms,
        error: view.error.clone(),
        packages: rows.len(),
        last_upload_at_ms: rows.iter().map(|p| p.time_file as i64 * 1000).max(),
        signed_packages: rows.iter().filter(|p| p.signed_by.is_some()).count(),
        partners: view
            .mirrors
            .iter()
            .map(|m| crate::core::sop::PartnerFacts {
                name: m.name.clone(),
                repo: m.repo.clone(),
                current: m.current,
                verified_at_ms: m.verified_at_ms,
                last_error: m.last_error.clone(),
            })
            .collect(),
        metalink_updated_at_ms,
        advisory_state: advisory
            .as_ref()
            .map(|a| a.state.clone())
            .unwrap_or_default(),
        advisory_updated_at_ms: advisory.as_ref().map(|a| a.updated * 1000),
        announce_by_mail: crate::origin::mail::not_configured(&app.config.announce).is_none(),
        announced_at_ms: app.store.announced_at_ms(&view.advisory)?,
    };
    Ok(ChecklistView {
        push_id: view.id,
        advisory: view.advisory,
        state: view.state,
        steps: crate::core::sop::checklist(&facts)
            .into_iter()
            .map(|s| ChecklistStepView {
                key: s.key.to_owned(),
                title: s.title.to_owned(),
                state: s.state.as_str().to_owned(),
                at_ms: s.at_ms,
                detail: s.detail,
            })
            .collect(),
    })
}
