//! `hotpush announce`: print an advisory's announcement (drafted by the origin)
//! and, with `--send`, have the origin mail it through its `[announce]` server
//! once the operator confirmed it on a terminal (`--yes` in scripts).
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::client::{
    check, connect_error, http_client, read_token, runtime, server_url, urlencode,
};
use crate::core::api::AnnouncementSentView;
use crate::logging::user_error;

#[derive(Debug, Args)]
pub struct AnnounceArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    /// A push-group token (an advisory under embargo is visible only with one;
    /// `--send` needs one).
    #[arg(long, env = "HOTPUSH_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Mail the announcement through the origin's `[announce]` server after
    /// confirming it on the terminal.
    #[arg(long)]
    pub send: bool,
    /// Send without asking (for scripts; without a terminal `--send` needs it).
    #[arg(long, short = 'y', requires = "send")]
    pub yes: bool,
    pub advisory: String,
}

/// `hotpush announce`.
pub fn run(args: &AnnounceArgs) -> anyhow::Result<ExitCode> {
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    if args.send && token.is_none() {
        return Err(user_error(
            "`--send` needs a push-group token",
            "pass `--token-file FILE` (or set HOTPUSH_TOKEN_FILE)",
        ));
    }
    runtime()?.block_on(async {
        let server = server_url(&args.server)?;
        let client = http_client()?;
        let id = urlencode(&args.advisory);
        let mut req = client.get(format!("{server}/api/v1/advisories/{id}/announcement"));
        if let Some(token) = &token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| connect_error(&server, e))?;
        let draft = check(
            resp,
            &format!("cannot read the announcement of `{}`", args.advisory),
        )
        .await?
        .text()
        .await?;
        let mut out = std::io::stdout().lock();
        out.write_all(draft.as_bytes())?;
        out.flush()?;
        drop(out);
        if !args.send {
            return Ok(ExitCode::SUCCESS);
        }
        if !args.yes {
            let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
            if !interactive {
                return Err(user_error(
                    format!(
                        "the announcement of `{}` was not sent: there is no terminal to confirm it on",
                        args.advisory
                    ),
                    "run it on a terminal and answer `y`, or pass `--yes` in scripts once the draft is reviewed",
                ));
            }
            if !confirm(&args.advisory)? {
                return Err(user_error(
                    format!("the announcement of `{}` was not sent: not confirmed", args.advisory),
                    "answer `y` to send it, or pass `--yes` in scripts",
                ));
            }
        }
        let resp = client
            .post(format!("{server}/api/v1/advisories/{id}/announcement/send"))
            .bearer_auth(token.as_deref().unwrap_or_default())
            .send()
            .await
            .map_err(|e| connect_error(&server, e))?;
        let sent: AnnouncementSentView = check(
            resp,
            &format!("cannot send the announcement of `{}`", args.advisory),
        )
        .await?
        .json()
        .await?;
        eprintln!(
            "sent the announcement of {} from {} to {}",
            sent.advisory,
            sent.from,
            sent.to.join(", ")
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// Asks on the terminal whether to mail the draft above; true on `y` or `yes`.
fn confirm(advisory: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    write!(
        err,
        "mail this announcement of `{advisory}` to the origin's `[announce] to` list? [y/N] "
    )?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
