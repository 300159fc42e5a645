//! `hotpush advisory list` and `hotpush advisory show ID`: what advisories
//! exist, their state and packages, and where each is reachable (which
//! repositories, which partners hold the current revision), as text or JSON.
//! Reads `GET /api/v1/advisories[/{id}]` and `GET /api/v1/status`; without a
//! push-group token the origin answers only what is published.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::client::{
    check, connect_error, get_status, http_client, read_token, runtime, server_url, urlencode,
};
use crate::core::api::{AdvisoryReach, AdvisoryView, RepoReach, StatusView};
use crate::core::repo::RepoId;

#[derive(Debug, Args)]
pub struct AdvisoryArgs {
    #[command(subcommand)]
    pub command: AdvisoryCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdvisoryCommand {
    /// Every advisory: id, state, severity, packages, summary.
    List(AdvisoryListArgs),
    /// One advisory: its texts, packages and where it is reachable.
    Show(AdvisoryShowArgs),
}

#[derive(Debug, Args)]
pub struct AdvisoryListArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    /// A push-group token: also list advisories not yet published (embargoed).
    #[arg(long, env = "HOTPUSH_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AdvisoryShowArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    /// A push-group token: also show an advisory not yet published (embargoed).
    #[arg(long, env = "HOTPUSH_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// The advisory id, e.g. `FEDORA-2026-0001`.
    pub id: String,
}

/// `hotpush advisory`.
pub fn run(args: &AdvisoryArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        AdvisoryCommand::List(a) => list(a),
        AdvisoryCommand::Show(a) => show(a),
    }
}

async fn get_json(
    client: &reqwest::Client,
    server: &str,
    path: &str,
    token: Option<&str>,
    what: &str,
) -> anyhow::Result<String> {
    let mut req = client.get(format!("{server}{path}"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.map_err(|e| connect_error(server, e))?;
    Ok(check(resp, what).await?.text().await?)
}

fn list(args: &AdvisoryListArgs) -> anyhow::Result<ExitCode> {
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    runtime()?.block_on(async {
        let server = server_url(&args.server)?;
        let client = http_client()?;
        let text = get_json(
            &client,
            &server,
            "/api/v1/advisories",
            token.as_deref(),
            "cannot list the advisories",
        )
        .await?;
        let out = if args.json {
            text
        } else {
            let list: Vec<AdvisoryView> = serde_json::from_str(&text)?;
            render_list(&list, token.is_some())
        };
        #[allow(clippy::print_stdout)]
        {
            println!("{}", out.trim_end());
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn show(args: &AdvisoryShowArgs) -> anyhow::Result<ExitCode> {
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    runtime()?.block_on(async {
        let server = server_url(&args.server)?;
        let client = http_client()?;
        let text = get_json(
            &client,
            &server,
            &format!("/api/v1/advisories/{}", urlencode(&args.id)),
            token.as_deref(),
            &format!("cannot read advisory `{}`", args.id),
        )
        .await
        .map_err(|e| {
            if token.is_none() {
                e.context("without `--token-file` only published advisories are visible")
            } else {
                e
            }
        })?;
        let advisory: AdvisoryView = serde_json::from_str(&text)?;
        let (status, _) = get_status(&client, &server, token.as_deref()).await?;
        let reach = reach(advisory, &status);
        let out = if args.json {
            serde_json::to_string_pretty(&reach)?
        } else {
            render_show(&reach)
        };
        #[allow(clippy::print_stdout)]
        {
            println!("{}", out.trim_end());
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The arch of a NEVRA (`name-[epoch:]version-release.arch`).
fn nevra_arch(nevra: &str) -> &str {
    nevra.rsplit_once('.').map(|(_, a)| a).unwrap_or("")
}

/// Where the advisory is reachable, from the origin's status: the repos of
/// its releases whose arch takes one of its packages, each with the partners
/// that hold the origin's current revision.
pub fn reach(advisory: AdvisoryView, status: &StatusView) -> AdvisoryReach {
    let live = advisory.state == "live";
    let mut repos = Vec::new();
    for r in &status.repos {
        let mut parts = r.repo.splitn(3, '/');
        let (Some(channel), Some(release), Some(arch)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let id = RepoId {
            channel: channel.to_owned(),
            release: release.to_owned(),
            arch: arch.to_owned(),
        };
        if !advisory.releases.is_empty() && !advisory.releases.iter().any(|x| x == release) {
            continue;
        }
        if !advisory
            .packages
            .iter()
            .any(|p| id.takes_arch(nevra_arch(p)))
        {
            continue;
        }
        let mirrors = status.mirrors.iter().filter(|m| m.repo == r.repo);
        let (current, behind): (Vec<_>, Vec<_>) = mirrors.partition(|m| m.current && m.verified);
        repos.push(RepoReach {
            repo: r.repo.clone(),
            metalink: r.metalink.clone(),
            revision: r.revision,
            at_origin: live && r.revision.is_some(),
            partners_current: if live {
                current.iter().map(|m| m.name.clone()).collect()
            } else {
                Vec::new()
            },
            partners_behind: behind
                .iter()
                .map(|m| match &m.last_error {
                    Some(e) => format!("{} ({e})", m.name),
                    None => m.name.clone(),
                })
                .collect(),
        });
    }
    AdvisoryReach { advisory, repos }
}

fn render_list(list: &[AdvisoryView], with_token: bool) -> String {
    let mut out = String::new();
    if list.is_empty() {
        out.push_str(if with_token {
            "no advisories\n"
        } else {
            "no published advisories (pass `--token-file` to see embargoed ones)\n"
        });
    }
    for a in list {
        out.push_str(&format!(
            "{:<24} {:<9} {:<9} {:>3} pkg  {}\n",
            a.id,
            a.state,
            a.severity,
            a.packages.len(),
            a.summary
        ));
    }
    out
}

fn render_show(r: &AdvisoryReach) -> String {
    let a = &r.advisory;
    let mut out = format!("{}  {}  ({})\n  {}\n", a.id, a.state, a.severity, a.summary);
    if !a.cves.is_empty() {
        out.push_str(&format!("  CVEs: {}\n", a.cves.join(", ")));
    }
    out.push_str(&format!(
        "  releases: {}\n\npackages:\n",
        if a.releases.is_empty() {
            "every configured release".to_owned()
        } else {
            a.releases.join(", ")
        }
    ));
    if a.packages.is_empty() {
        out.push_str("  (none)\n");
    }
    for p in &a.packages {
        out.push_str(&format!("  {p}\n"));
    }
    out.push_str("\nreachable:\n");
    if a.state != "live" {
        out.push_str(&format!(
            "  nowhere: the advisory is `{}` (only a live advisory is in the repositories)\n",
            a.state
        ));
    }
    for repo in &r.repos {
        out.push_str(&format!(
            "  {:<28} origin {:<3} revision {:<12} partners current: {}{}\n",
            repo.repo,
            if repo.at_origin { "yes" } else { "no" },
            repo.revision
                .map(|x| x.to_string())
                .unwrap_or_else(|| "-".into()),
            if repo.partners_current.is_empty() {
                "none".to_owned()
            } else {
                repo.partners_current.join(", ")
            },
            if repo.partners_behind.is_empty() {
                String::new()
            } else {
                format!("; behind: {}", repo.partners_behind.join(", "))
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::api::{MirrorView, RepoView};

    fn repo(path: &str, revision: Option<u64>) -> RepoView {
        RepoView {
            repo: path.into(),
            metalink: String::new(),
            baseurl: String::new(),
            revision,
            repomd_sha256: None,
            published_at_ms: None,
            packages: 1,
        }
    }

    fn mirror(name: &str, repo: &str, current: bool) -> MirrorView {
        MirrorView {
            name: name.into(),
            public_url: String::new(),
            repo: repo.into(),
            revision: 1,
            current,
            verified: current,
            verified_at_ms: None,
            lag_ms: None,
            last_error: (!current).then(|| "connection refused".into()),
            attempted: true,
            stage: None,
            retries: 0,
            hint: None,
        }
    }

    fn advisory(state: &str, releases: &[&str], packages: &[&str]) -> AdvisoryView {
        AdvisoryView {
            id: "A-1".into(),
            severity: "critical".into(),
            summary: String::new(),
            description: String::new(),
            cves: Vec::new(),
            releases: releases.iter().map(|s| s.to_string()).collect(),
            state: state.into(),
            issued: 0,
            updated: 0,
            packages: packages.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn status() -> StatusView {
        StatusView {
            public_url: String::new(),
            channel: "critical".into(),
            metalink_repo_prefix: "critical-f".into(),
            partners: Vec::new(),
            package_bytes_max: 0,
            key_fingerprint: String::new(),
            queue_depth: 0,
            repos: vec![
                repo("critical/43/x86_64", Some(5)),
                repo("critical/43/source", Some(5)),
                repo("critical/44/x86_64", Some(2)),
                repo("critical/44/aarch64", None),
            ],
            advisories: Vec::new(),
            mirrors: vec![
                mirror("a", "critical/43/x86_64", true),
                mirror("b", "critical/43/x86_64", false),
            ],
        }
    }

    #[test]
    fn reach_follows_releases_arches_and_partner_state() {
        let r = reach(
            advisory("live", &["43"], &["foo-1-1.x86_64", "foo-1-1.src"]),
            &status(),
        );
        let repos: Vec<&str> = r.repos.iter().map(|x| x.repo.as_str()).collect();
        assert_eq!(repos, ["critical/43/x86_64", "critical/43/source"]);
        assert!(r.repos[0].at_origin);
        assert_eq!(r.repos[0].partners_current, ["a"]);
        assert_eq!(r.repos[0].partners_behind, ["b (connection refused)"]);

        // Every release when none is named; an unpublished repo is not reachable.
        let r = reach(advisory("live", &[], &["bar-2-1.noarch"]), &status());
        let repos: Vec<(&str, bool)> = r
            .repos
            .iter()
            .map(|x| (x.repo.as_str(), x.at_origin))
            .collect();
        assert_eq!(
            repos,
            [
                ("critical/43/x86_64", true),
                ("critical/44/x86_64", true),
                ("critical/44/aarch64", false)
            ]
        );

        // Not live: reachable nowhere, and no partner counts as holding it.
        let r = reach(advisory("pending", &["43"], &["foo-1-1.x86_64"]), &status());
        assert!(!r.repos[0].at_origin);
        assert!(r.repos[0].partners_current.is_empty());
    }
}
