//! `hotpush status`: what is live where, as text or as the origin's JSON.
use std::process::ExitCode;

use clap::Args;

use super::client::{get_status, http_client, read_token, runtime, server_url};
use crate::core::api::StatusView;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    #[arg(long)]
    pub json: bool,
    /// A push-group token: also show advisories whose pushes are not yet
    /// published (embargoed; without a token the origin leaves them out).
    #[arg(long)]
    pub token_file: Option<std::path::PathBuf>,
}

/// `hotpush status`.
pub fn run(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let server = server_url(&args.server)?;
        let client = http_client()?;
        let token = args.token_file.as_deref().map(read_token).transpose()?;
        let (status, text) = get_status(&client, &server, token.as_deref()).await?;
        let out = if args.json {
            text
        } else {
            render_status(&status)
        };
        #[allow(clippy::print_stdout)]
        {
            println!("{out}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn render_status(s: &StatusView) -> String {
    let mut out = format!(
        "origin {}  (repo key {}, queue {})\n\nrepositories:\n",
        s.public_url, s.key_fingerprint, s.queue_depth
    );
    for r in &s.repos {
        out.push_str(&format!(
            "  {:<28} revision {:<12} packages {}\n",
            r.repo,
            r.revision
                .map(|x| x.to_string())
                .unwrap_or_else(|| "-".into()),
            r.packages
        ));
    }
    out.push_str("\nadvisories:\n");
    if s.advisories.is_empty() {
        out.push_str("  (none)\n");
    }
    for a in &s.advisories {
        out.push_str(&format!(
            "  {:<24} {:<10} {:<8} {}  {}\n",
            a.id,
            a.severity,
            a.state,
            a.cves.join(","),
            a.packages.join(" ")
        ));
    }
    if !s.mirrors.is_empty() {
        out.push_str("\npartners:\n");
        for m in &s.mirrors {
            out.push_str(&format!(
                "  {:<16} {:<28} {:<8} revision {}{}\n",
                m.name,
                m.repo,
                if m.current { "current" } else { "BEHIND" },
                m.revision,
                m.last_error
                    .as_deref()
                    .map(|e| format!("  last error: {e}"))
                    .unwrap_or_default()
            ));
            if let Some(hint) = &m.hint {
                out.push_str(&format!("  {:<16} hint: {hint}\n", ""));
            }
        }
    }
    out
}
