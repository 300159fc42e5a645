//! `hotpush retire`: take an advisory out of the critical repositories and wait
//! until the republication is done.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

use super::client::{
    check, connect_error, get_status, http_client, read_token, runtime, server_url, urlencode,
};
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
    pub advisory: String,
}

/// `hotpush retire`.
pub fn run(args: &RetireArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(&args.token_file)?;
    runtime()?.block_on(async {
        let server = server_url(&args.server);
        let client = http_client()?;
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
