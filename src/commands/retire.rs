//! `hotpush retire`: take an advisory out of the critical repositories and wait
//! until the republication is done.
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

use super::client::{
    check, connect_error, get_status, http_client, read_token, runtime, server_url, urlencode,
};
use crate::core::api::AdvisoryView;
use crate::logging::user_error;

#[derive(Debug, Args)]
pub struct RetireArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    #[arg(long, env = "HOTPUSH_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// Return once the retirement is accepted instead of following it.
    #[arg(long)]
    pub no_wait: bool,
    /// Retire without asking (on a terminal `retire` asks first; without a
    /// terminal it never asks).
    #[arg(long, short = 'y')]
    pub yes: bool,
    pub advisory: String,
}

/// `hotpush retire`.
pub fn run(args: &RetireArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(&args.token_file)?;
    runtime()?.block_on(async {
        let server = server_url(&args.server)?;
        let client = http_client()?;
        // Look before acting: a mistyped id gets the list of what is live, and on
        // a terminal the operator sees what goes out before it does.
        let (status, _) = get_status(&client, &server, Some(&token)).await?;
        let Some(advisory) = status.advisories.iter().find(|a| a.id == args.advisory) else {
            return Err(unknown_advisory(
                &args.advisory,
                &server,
                &status.advisories,
            ));
        };
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if interactive && !args.yes && !confirm(advisory)? {
            return Err(user_error(
                format!("`{}` was not retired: not confirmed", args.advisory),
                "answer `y` to retire it, or pass `--yes` in scripts",
            ));
        }
        let resp = client
            .post(format!(
                "{server}/api/v1/advisories/{}/retire",
                urlencode(&args.advisory)
            ))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| connect_error(&server, e))?;
        check(resp, &format!("cannot retire `{}`", args.advisory)).await?;
        eprintln!("{} retired; republishing", args.advisory);
        if args.no_wait {
            return Ok(ExitCode::SUCCESS);
        }
        // Wait until the queue is empty: the repos no longer carry the advisory.
        let started = Instant::now();
        loop {
            let (status, _) = get_status(&client, &server, None).await?;
            if status.queue_depth == 0 {
                eprintln!("{} is out of every repository", args.advisory);
                return Ok(ExitCode::SUCCESS);
            }
            if started.elapsed() > Duration::from_secs(300) {
                return Err(user_error(
                    "the retirement is queued but not yet published after 300 s",
                    "see `hotpush status`",
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// The error for an id the origin does not know, listing the live advisories.
fn unknown_advisory(id: &str, server: &str, advisories: &[AdvisoryView]) -> anyhow::Error {
    let live: Vec<&AdvisoryView> = advisories.iter().filter(|a| a.state == "live").collect();
    let mut message = format!("advisory `{id}` does not exist at `{server}`");
    if live.is_empty() {
        message.push_str("; no advisory is live there");
    } else {
        message.push_str("; the live advisories are:");
        for a in &live {
            message.push_str(&format!("\n  {}  {}  {}", a.id, a.severity, a.summary));
        }
    }
    let close = advisories
        .iter()
        .find(|a| a.id.eq_ignore_ascii_case(id))
        .map(|a| format!("ids are case-sensitive: did you mean `{}`? ", a.id))
        .unwrap_or_default();
    user_error(
        message,
        format!(
            "{close}`hotpush advisory list --server {server}` shows every advisory and its state"
        ),
    )
}

/// Asks on the terminal whether to retire `advisory`; true on `y` or `yes`.
fn confirm(advisory: &AdvisoryView) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    write!(
        err,
        "retire `{}` ({}, {}; {} package(s)) from every critical repository? [y/N] ",
        advisory.id,
        advisory.severity,
        advisory.summary,
        advisory.packages.len()
    )?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
