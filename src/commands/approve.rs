//! `hotpush approve PUSH_ID`: a second member of the push group approves a
//! staged push (`[auth] approvals_required = 2`); with enough approvals the
//! origin publishes it. The approval is bound to the push's digest (advisory
//! text and exact packages), shown here before it is sent. `--break-glass
//! REASON` publishes it alone when no second member can be reached: audited
//! as `break-glass` and announced, for review afterwards.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::client::{check, connect_error, http_client, read_token, runtime, server_url};
use crate::core::api::{ApprovalRequest, ApprovalView, PushView};

#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    #[arg(long, env = "HOTPUSH_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// The staged push to approve.
    pub push_id: i64,
    /// Break glass: publish the staged push now, without the other
    /// approvals, when no second member can be reached. Loudly audited and
    /// announced; say why.
    #[arg(long, value_name = "REASON")]
    pub break_glass: Option<String>,
}

/// `hotpush approve`.
pub fn run(args: &ApproveArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(&args.token_file)?;
    runtime()?.block_on(async {
        let server = server_url(&args.server)?;
        let client = http_client()?;
        let resp = client
            .get(format!("{server}/api/v1/pushes/{}", args.push_id))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| connect_error(&server, e))?;
        let push: PushView = check(resp, &format!("cannot read push {}", args.push_id))
            .await?
            .json()
            .await?;
        eprintln!(
            "approving push {} of {} by {} ({}):",
            push.id, push.advisory, push.created_by, push.state
        );
        if let Some(p) = &push.proposal {
            eprintln!("  {} — {}", p.severity, p.summary);
        }
        for p in &push.packages {
            eprintln!("  {}  sha256 {}", p.nevra, p.sha256);
        }
        let resp = client
            .post(format!("{server}/api/v1/pushes/{}/approve", args.push_id))
            .bearer_auth(&token)
            .json(&ApprovalRequest {
                digest: None,
                break_glass_reason: args.break_glass.clone(),
            })
            .send()
            .await
            .map_err(|e| connect_error(&server, e))?;
        let view: ApprovalView = check(resp, &format!("cannot approve push {}", args.push_id))
            .await?
            .json()
            .await?;
        eprintln!(
            "push {} is {}: approved by {} ({} of {} required)",
            view.push,
            view.state,
            view.approved_by.join(", "),
            view.approved_by.len(),
            view.required
        );
        Ok(ExitCode::SUCCESS)
    })
}
