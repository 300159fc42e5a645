//! `hotpush sop`: render the standard operating procedures with the live
//! configuration, or print an advisory's announcement or a push's checklist from
//! the origin. The rendering is `core::sop`; this module reads and fetches.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::core::api::ChecklistView;
use crate::core::sop::{
    checklist_text, render, render_all, SopContext, ADVISORY_PLACEHOLDER, TOKEN_FILE_PLACEHOLDER,
};
use crate::logging::user_error;
use crate::origin::config::Config;
use crate::origin::mirrors::Mirror;

#[derive(Debug, Args)]
pub struct SopArgs {
    /// `hotpush.toml` whose values fill in the procedures.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// `mirrors.toml`, for the partner names and URLs.
    #[arg(long)]
    pub mirrors: Option<PathBuf>,
    /// Print only this procedure (default: all of them).
    #[arg(long, value_parser = crate::core::sop::PROCEDURE_NAMES)]
    pub procedure: Option<String>,
    /// Fill in this advisory id.
    #[arg(long)]
    pub advisory: Option<String>,
    /// The origin: overrides the configured public URL in the commands, and is
    /// where `--announcement` and `--push` read from.
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: Option<String>,
    /// Print the advisory's announcement email from the origin instead.
    #[arg(long, requires = "advisory", requires = "server")]
    pub announcement: bool,
    /// Print the checklist of this push from the origin instead.
    #[arg(long, requires = "server")]
    pub push: Option<i64>,
    /// A push-group token for `--announcement` and `--push`: until a push is
    /// published it and its advisory are embargoed, and the origin answers
    /// 404 without one.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// `hotpush sop`.
pub fn run(args: &SopArgs) -> anyhow::Result<ExitCode> {
    if args.announcement || args.push.is_some() {
        return run_remote(args);
    }
    let config = Config::load(args.config.as_deref())?;
    let mirrors = match &args.mirrors {
        Some(path) => crate::origin::mirrors::load_mirrors(path)?,
        None => Vec::new(),
    };
    let mut ctx = context(
        &config,
        &mirrors,
        args.config.as_deref(),
        args.mirrors.as_deref(),
        args.advisory.as_deref(),
    );
    if let Some(server) = &args.server {
        ctx.public_url = server.trim_end_matches('/').to_owned();
        ctx.repos = ctx
            .repos
            .into_iter()
            .map(|(path, metalink)| {
                let tail = metalink
                    .split_once("/metalink?")
                    .map(|(_, t)| t.to_owned())
                    .unwrap_or_default();
                (path, format!("{}/metalink?{tail}", ctx.public_url))
            })
            .collect();
    }
    let text = match &args.procedure {
        Some(name) => render(name, &ctx)?,
        None => render_all(&ctx)?,
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `hotpush sop --server URL --advisory ID --announcement` and `--push ID`:
/// what the origin knows, as text.
fn run_remote(args: &SopArgs) -> anyhow::Result<ExitCode> {
    let Some(server) = args.server.as_deref() else {
        return Err(user_error(
            "`--announcement` and `--push` read from the origin, but no server was given",
            "pass `--server URL`, e.g. `--server http://[::1]:8080`",
        ));
    };
    let server = server.trim_end_matches('/').to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = crate::io::http::ClientSpec::new("hotpush-sop")
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let token = args
        .token_file
        .as_deref()
        .map(crate::io::secret::read_text)
        .transpose()?;
    let mut out = String::new();
    if args.announcement {
        let Some(advisory) = args.advisory.as_deref() else {
            return Err(user_error(
                "`--announcement` needs the advisory it announces",
                "pass `--advisory ID`",
            ));
        };
        let url = format!("{server}/api/v1/advisories/{advisory}/announcement");
        out.push_str(&runtime.block_on(fetch_text(&client, &url, token.as_deref()))?);
    }
    if let Some(push_id) = args.push {
        let url = format!("{server}/api/v1/pushes/{push_id}/checklist");
        let text = runtime.block_on(fetch_text(&client, &url, token.as_deref()))?;
        let view: ChecklistView = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("the checklist from `{url}` is not valid JSON: {e}"))?;
        out.push_str(&checklist_text(&view));
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

async fn fetch_text(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<String> {
    let mut req = client.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.map_err(|e| {
        user_error(
            format!("cannot reach `{url}`: {e}"),
            "check `--server` and that `hotpush serve` is running",
        )
    })?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        return Err(user_error(
            format!("`{url}` answered {status}: {}", body.trim()),
            "check the advisory id or push id; before publication pass `--token-file` (a push-group token)",
        ));
    }
    Ok(body)
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// The context for a configuration and its partners; `None` paths and
/// advisory become placeholders the reader replaces.
pub fn context(
    config: &Config,
    mirrors: &[Mirror],
    config_file: Option<&Path>,
    mirrors_file: Option<&Path>,
    advisory: Option<&str>,
) -> SopContext {
    let public_url = config.public_url.trim_end_matches('/').to_owned();
    let repos = crate::origin::app::repos_of(config)
        .into_iter()
        .map(|r| {
            let metalink = format!(
                "{public_url}/metalink?repo={}{}&arch={}",
                config.metalink_repo_prefix, r.release, r.arch
            );
            (r.path(), metalink)
        })
        .collect();
    SopContext {
        channel: config.repos.channel.clone(),
        releases: config.repos.releases.clone(),
        repos,
        repo_id: format!("{}-updates", config.repos.channel),
        partners: mirrors
            .iter()
            .map(|m| (m.name.clone(), m.public_url.clone()))
            .collect(),
        advisory: advisory.unwrap_or(ADVISORY_PLACEHOLDER).to_owned(),
        config_file: display_or(config_file, "hotpush.toml"),
        mirrors_file: display_or(mirrors_file, "mirrors.toml"),
        data_dir: config.data_dir.display().to_string(),
        token_file: TOKEN_FILE_PLACEHOLDER.to_owned(),
        push_group: config.auth.push_group.clone(),
        // The same files the running origin trusts: configured, then added
        // with `hotpush keys add`.
        trusted_keys: config
            .intake
            .trusted_keys
            .iter()
            .cloned()
            .chain(crate::origin::keys::added_files(&config.data_dir).unwrap_or_default())
            .map(|k| k.display().to_string())
            .collect(),
        retention_hours: config.retention_hours,
        approvals_required: config.auth.approvals_required,
        triggers: config
            .triggers
            .iter()
            .map(|t| (t.name.clone(), t.fetch_base.clone(), t.approval_required))
            .collect(),
        public_url,
    }
}

fn display_or(path: Option<&Path>, default: &str) -> String {
    path.map(|p| p.display().to_string())
        .unwrap_or_else(|| default.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sop::PROCEDURE_NAMES;

    #[test]
    fn every_procedure_renders_with_defaults_and_names_every_repo() {
        let config = Config::default();
        let ctx = context(&config, &[], None, None, Some("FEDORA-2026-0042"));
        for name in PROCEDURE_NAMES {
            let text = render(name, &ctx).unwrap();
            assert!(text.starts_with("# "), "{name}: {text}");
            // (rpm's own query format has `{%{`, never `{% `.)
            assert!(
                !text.contains("{{") && !text.contains("{% ") && !text.contains("{%-"),
                "{name}"
            );
        }
        let text = render("emergency-push", &ctx).unwrap();
        for (path, metalink) in &ctx.repos {
            assert!(text.contains(path), "{path}");
            assert!(text.contains(metalink), "{metalink}");
        }
        assert!(text.contains("--advisory FEDORA-2026-0042"));
        assert!(render("no-such", &ctx).is_err());
    }
}
