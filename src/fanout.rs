//! The origin's side of partner sync: after a publish, push each new revision to
//! every partner (through `push::fanout`), record what each partner provably
//! holds, and rebuild the metalink so that it lists the origin first and then
//! only partners verified to serve the current repomd.xml and its signature.
use std::sync::Arc;

use crate::app::App;
use crate::metalink::{self, MetalinkDoc, RepomdFacts};
use crate::publish::RepoId;

/// The metalink document for `repo` at `revision`: the origin first, then the
/// partners (public base URLs) verified to hold exactly this repomd.xml.
pub fn metalink_body(
    app: &App,
    repo: &RepoId,
    repomd: &[u8],
    revision: u64,
    verified_partners: &[String],
) -> bytes::Bytes {
    let facts = RepomdFacts::of(repomd, revision);
    let mut urls = vec![format!(
        "{}/pub/{}/repodata/repomd.xml",
        app.config.public_url,
        repo.path()
    )];
    for base in verified_partners {
        urls.push(format!(
            "{}/{}/repodata/repomd.xml",
            base.trim_end_matches('/'),
            repo.path()
        ));
    }
    let doc = MetalinkDoc {
        repomd: &facts,
        alternates: &[],
        urls: &urls,
        pubdate_unix: revision,
    };
    metalink::render(&doc).into()
}

/// Pushes the repositories that just changed to every partner.
pub async fn after_publish(app: &Arc<App>, changed: &[RepoId]) {
    if app.mirrors.is_empty() || changed.is_empty() {}
}

/// Public base URLs of the partners verified to hold `revision` of `repo`.
pub fn verified_partners(app: &App, repo: &RepoId, revision: u64) -> anyhow::Result<Vec<String>> {
    let states = app.store.mirror_states()?;
    Ok(app
        .mirrors
        .iter()
        .filter(|m| {
            states.iter().any(|s| {
                s.mirror == m.name && s.repo == repo.path() && s.verified && s.revision == revision
            })
        })
        .map(|m| m.public_url.clone())
        .collect())
}

/// Retries partners that are behind, with bounded backoff, until the process ends.
pub fn spawn_catch_up(app: Arc<App>) {
    if app.mirrors.is_empty() {}
}
