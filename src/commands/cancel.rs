//! `hotpush cancel PUSH_ID`: abandon a push that is not yet published
//! (uploading, fetching or staged); the origin audits it and publishes nothing of it.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::client::{check, connect_error, http_client, read_token, runtime, server_url};
use crate::core::api::PushView;

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    #[arg(long, env = "HOTPUSH_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// The push to abandon (`hotpush push` prints it; `GET /api/v1/pushes` lists them).
    pub push_id: i64,
}

/// `hotpush cancel`.
pub fn run(args: &CancelArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(&args.token_file)?;
    runtime()?.block_on(async {
        let server = server_url(&args.server)?;
        let resp = http_client()?
            .post(format!("{server}/api/v1/pushes/{}/cancel", args.push_id))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| connect_error(&server, e))?;
        let view: PushView = check(resp, &format!("cannot cancel push {}", args.push_id))
            .await?
            .json()
            .await?;
        eprintln!(
            "push {} of {} is {}; nothing of it will be published",
            view.id, view.advisory, view.state
        );
        Ok(ExitCode::SUCCESS)
    })
}
