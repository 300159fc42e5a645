//! The security team's side of the API: `push` (upload with progress bars, submit,
//! follow until live), `retire`, `status` and `repofile`. Talks HTTP(S) only;
//! knows nothing of the store or the tree.
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::{PushArgs, RepofileArgs, RetireArgs, StatusArgs};
use crate::http::types::{ErrorEnvelope, NewPush, PushView, StatusView};
use crate::logging::user_error;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("hotpush/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    crate::auth::read_secret_file(path)
}

fn server_url(server: &str) -> String {
    server.trim_end_matches('/').to_owned()
}

/// Turns a non-2xx answer into a user error carrying the server's message and hint.
async fn check(resp: reqwest::Response, what: &str) -> anyhow::Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().await.unwrap_or_default();
    let (message, hint) = match serde_json::from_str::<ErrorEnvelope>(&text) {
        Ok(env) => (env.error.message, env.error.hint),
        Err(_) => (text.trim().to_owned(), String::new()),
    };
    let err = user_error(
        format!("{what}: {message} (HTTP {})", status.as_u16()),
        hint,
    );
    if status.is_server_error() {
        // Not the user's doing: exit 2.
        return Err(anyhow::anyhow!(
            "{what}: {message} (HTTP {})",
            status.as_u16()
        ));
    }
    Err(err)
}

/// `GET /api/v1/status`: the parsed view and the JSON text as served.
async fn get_status(
    client: &reqwest::Client,
    server: &str,
) -> anyhow::Result<(StatusView, String)> {
    let resp = client
        .get(format!("{server}/api/v1/status"))
        .send()
        .await
        .map_err(|e| connect_error(server, e))?;
    let text = check(resp, "cannot read the origin's status")
        .await?
        .text()
        .await?;
    let status = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!("the origin's status is not what this client understands: {e}")
    })?;
    Ok((status, text))
}

fn connect_error(server: &str, e: reqwest::Error) -> anyhow::Error {
    user_error(
        format!("cannot reach the hotpush server at `{server}`: {e}"),
        "check `--server` and that `hotpush serve` is running",
    )
}

/// `hotpush push`.
pub fn push(args: &PushArgs) -> anyhow::Result<ExitCode> {
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
    let (status, _) = get_status(&client, &server).await?;
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

    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template(
        "{prefix:>32!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
    )?
    .progress_chars("=> ");
    for rpm in &args.rpms {
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
                push.id,
                urlencode(&name)
            ))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(|e| connect_error(&server, e))?;
        let resp = check(resp, &format!("`{}` was refused", rpm.display())).await?;
        bar.finish();
        let view: crate::http::types::PushPackageView = resp.json().await?;
        bars.println(format!(
            "  verified {} (sha256 {}, signed by {})",
            view.nevra,
            &view.sha256[..12],
            view.signed_by.as_deref().unwrap_or("-")
        ))?;
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
        push.id,
        Duration::from_secs(args.timeout_secs),
    )
    .await
}

/// Follows a push until it is published at the origin and every partner holds
/// it (or the deadline passes).
async fn follow(
    client: &reqwest::Client,
    server: &str,
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
                    print_checklist(client, server, push_id).await;
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
                    print_checklist(client, server, push_id).await;
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
async fn print_checklist(client: &reqwest::Client, server: &str, push_id: i64) {
    let url = format!("{server}/api/v1/pushes/{push_id}/checklist");
    let view = match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => r.json::<crate::http::types::ChecklistView>().await,
        _ => return,
    };
    if let Ok(view) = view {
        crate::sop::print_checklist(&view);
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `hotpush retire`.
pub fn retire(args: &RetireArgs) -> anyhow::Result<ExitCode> {
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
            let (status, _) = get_status(&client, &server).await?;
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

/// `hotpush status`.
pub fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let server = server_url(&args.server);
        let client = http_client()?;
        let (status, text) = get_status(&client, &server).await?;
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
        }
    }
    out
}

/// `hotpush repofile`: the `.repo` text, rendered from `repo-templates/`.
pub fn repofile(args: &RepofileArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let server = server_url(&args.server);
        let client = http_client()?;
        let (status, _) = get_status(&client, &server).await?;
        let text = crate::repofile::render(&status, args.release.as_deref())?;
        #[allow(clippy::print_stdout)]
        {
            print!("{text}");
        }
        Ok(ExitCode::SUCCESS)
    })
}
