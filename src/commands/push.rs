//! `hotpush push`: upload signed RPMs with progress bars, submit the advisory,
//! and follow the push until it is live at the origin and every partner.
//! Talks HTTP(S) only; knows nothing of the store or the tree.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::client::{
    check, connect_error, get_status, http_client, read_token, runtime, server_url, urlencode,
};
use crate::core::api::{NewPush, PushView};
use crate::logging::user_error;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The origin, e.g. `http://[::1]:8080`.
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    #[arg(long, env = "HOTPUSH_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// Advisory id, e.g. `FEDORA-2026-0001`.
    #[arg(long)]
    pub advisory: String,
    /// `critical`, `important`, `moderate` or `low`.
    #[arg(long)]
    pub severity: String,
    #[arg(long = "cve")]
    pub cves: Vec<String>,
    #[arg(long)]
    pub summary: String,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Release to push to; default: every configured release.
    #[arg(long)]
    pub release: Option<String>,
    /// Return once the push is accepted instead of following it.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up following after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    #[arg(required = true)]
    pub rpms: Vec<PathBuf>,
}

/// `hotpush push`.
pub fn run(args: &PushArgs) -> anyhow::Result<ExitCode> {
    for rpm in &args.rpms {
        let meta = fs_err::metadata(rpm).map_err(|e| {
            user_error(
                format!("cannot read `{}`: {e}", rpm.display()),
                "pass paths of signed RPM files",
            )
        })?;
        if !meta.is_file() {
            return Err(user_error(
                format!("`{}` is not a file", rpm.display()),
                "pass paths of signed RPM files",
            ));
        }
    }
    let token = read_token(&args.token_file)?;
    runtime()?.block_on(push_async(args, &token))
}

async fn push_async(args: &PushArgs, token: &str) -> anyhow::Result<ExitCode> {
    let server = server_url(&args.server);
    let client = http_client()?;
    // Check sizes against the origin's limit before anything is sent: a server
    // refusing a body mid-upload cannot always get its answer through.
    let (status, _) = get_status(&client, &server, None).await?;
    if status.package_bytes_max > 0 {
        for rpm in &args.rpms {
            let size = fs_err::metadata(rpm)?.len();
            if size > status.package_bytes_max {
                return Err(user_error(
                    format!(
                        "`{}` is {size} bytes, larger than the limit of {} bytes at `{server}`",
                        rpm.display(),
                        status.package_bytes_max
                    ),
                    "raise `intake.package_bytes_max` in the origin's hotpush.toml if this package is genuine",
                ));
            }
        }
    }
    let req = NewPush {
        advisory: args.advisory.clone(),
        severity: args.severity.clone(),
        cves: args.cves.clone(),
        summary: args.summary.clone(),
        description: args.description.clone(),
        releases: args.release.iter().cloned().collect(),
    };
    let resp = client
        .post(format!("{server}/api/v1/pushes"))
        .bearer_auth(token)
        .json(&req)
        .send()
        .await
        .map_err(|e| connect_error(&server, e))?;
    let push: PushView = check(resp, "cannot create the push").await?.json().await?;
    eprintln!("push {} opened for {}", push.id, push.advisory);

    // A refused upload (or a lost connection) must not leave the push open
    // for ever: cancel it, so its advisory is no longer pending.
    if let Err(e) = upload_all(&client, &server, token, push.id, &args.rpms).await {
        let cancelled = cancel(&client, &server, token, push.id).await;
        return Err(match cancelled {
            Ok(()) => e.context(format!(
                "push {} was cancelled; nothing of it is published",
                push.id
            )),
            Err(c) => e.context(format!(
                "push {} could not be cancelled ({c:#}); cancel it with `hotpush cancel {}`",
                push.id, push.id
            )),
        });
    }
    let resp = client
        .post(format!("{server}/api/v1/pushes/{}/submit", push.id))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| connect_error(&server, e))?;
    check(resp, "cannot submit the push").await?;
    eprintln!(
        "push {} accepted; it will be published even if this client goes away",
        push.id
    );
    if args.no_wait {
        #[allow(clippy::print_stdout)]
        {
            println!("{}", push.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    follow(
        &client,
        &server,
        token,
        push.id,
        Duration::from_secs(args.timeout_secs),
    )
    .await
}

/// Uploads every RPM into push `push_id`, with a progress bar each.
async fn upload_all(
    client: &reqwest::Client,
    server: &str,
    token: &str,
    push_id: i64,
    rpms: &[PathBuf],
) -> anyhow::Result<()> {
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template(
        "{prefix:>32!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
    )?
    .progress_chars("=> ");
    for rpm in rpms {
        let name = rpm
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size = fs_err::metadata(rpm)?.len();
        let bar = bars.add(ProgressBar::new(size));
        bar.set_style(style.clone());
        bar.set_prefix(name.clone());
        let file = tokio::fs::File::open(rpm)
            .await
            .with_context(|| format!("cannot open `{}`", rpm.display()))?;
        let bar2 = bar.clone();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map(move |chunk| {
                if let Ok(c) = &chunk {
                    bar2.inc(c.len() as u64);
                }
                chunk
            });
        let resp = client
            .put(format!(
                "{server}/api/v1/pushes/{}/packages/{}",
                push_id,
                urlencode(&name)
            ))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(|e| connect_error(server, e))?;
        let resp = check(resp, &format!("`{}` was refused", rpm.display())).await?;
        bar.finish();
        let view: crate::core::api::PushPackageView = resp.json().await?;
        bars.println(format!(
            "  verified {} (sha256 {}, signed by {})",
            view.nevra,
            &view.sha256[..12],
            view.signed_by.as_deref().unwrap_or("-")
        ))?;
    }
    Ok(())
}

/// `POST /api/v1/pushes/{id}/cancel`.
pub(crate) async fn cancel(
    client: &reqwest::Client,
    server: &str,
    token: &str,
    push_id: i64,
) -> anyhow::Result<()> {
    let resp = client
        .post(format!("{server}/api/v1/pushes/{push_id}/cancel"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| connect_error(server, e))?;
    check(resp, &format!("cannot cancel push {push_id}")).await?;
    Ok(())
}

/// Follows a push until it is published at the origin and every partner holds
/// it (or the deadline passes). Reads with the token: until it is published the
/// push is embargoed, and without a token the origin answers 404.
async fn follow(
    client: &reqwest::Client,
    server: &str,
    token: &str,
    push_id: i64,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(120));
    let mut published_reported = false;
    loop {
        let resp = client
            .get(format!("{server}/api/v1/pushes/{push_id}"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| connect_error(server, e))?;
        let view: PushView = check(resp, "cannot read the push").await?.json().await?;
        match view.state.as_str() {
            "failed" => {
                spinner.finish_and_clear();
                return Err(user_error(
                    format!(
                        "push {push_id} failed: {}",
                        view.error.as_deref().unwrap_or("no reason recorded")
                    ),
                    "see `hotpush status` and the server log; fix the cause and push again",
                ));
            }
            "published" => {
                if !published_reported {
                    spinner.println(format!(
                        "push {push_id} is live at the origin ({} ms after acceptance)",
                        view.published_at_ms.unwrap_or(0) - view.accepted_at_ms.unwrap_or(0)
                    ));
                    published_reported = true;
                }
                let behind: Vec<String> = view
                    .mirrors
                    .iter()
                    .filter(|m| !m.current)
                    .map(|m| format!("{} ({})", m.name, m.repo))
                    .collect();
                if behind.is_empty() {
                    spinner.finish_and_clear();
                    print_checklist(client, server, token, push_id).await;
                    let partners: std::collections::BTreeSet<&str> =
                        view.mirrors.iter().map(|m| m.name.as_str()).collect();
                    if partners.is_empty() {
                        eprintln!("push {push_id} is published (no partner mirrors configured)");
                    } else {
                        eprintln!(
                            "push {push_id} is published and verified on every partner: {}",
                            partners.into_iter().collect::<Vec<_>>().join(", ")
                        );
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                spinner.set_message(format!("waiting for partners: {}", behind.join(", ")));
                if started.elapsed() > timeout {
                    spinner.finish_and_clear();
                    print_checklist(client, server, token, push_id).await;
                    return Err(user_error(
                        format!(
                            "push {push_id} is live at the origin, but these partners are behind: {}",
                            behind.join(", ")
                        ),
                        "the metalink does not list them until they catch up; see `hotpush status`",
                    ));
                }
            }
            state => {
                spinner.set_message(format!("push {push_id} is {state}"));
                if started.elapsed() > timeout {
                    spinner.finish_and_clear();
                    return Err(user_error(
                        format!(
                            "push {push_id} is still `{state}` after {} s",
                            timeout.as_secs()
                        ),
                        "it stays queued and will be published; follow it with `hotpush status`",
                    ));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Prints the push's SOP checklist as the server ticks it (best effort: the push
/// itself is already decided).
async fn print_checklist(client: &reqwest::Client, server: &str, token: &str, push_id: i64) {
    let url = format!("{server}/api/v1/pushes/{push_id}/checklist");
    let view = match client.get(&url).bearer_auth(token).send().await {
        Ok(r) if r.status().is_success() => r.json::<crate::core::api::ChecklistView>().await,
        _ => return,
    };
    if let Ok(view) = view {
        print_checklist_view(&view);
    }
}

/// Prints the checklist on stderr; `hotpush push` calls this at the end.
fn print_checklist_view(view: &crate::core::api::ChecklistView) {
    eprint!("{}", crate::core::sop::checklist_text(view));
}
