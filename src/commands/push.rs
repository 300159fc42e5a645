//! `hotpush push`: upload signed RPMs with progress bars, submit the advisory,
//! and follow the push until it is live at the origin and every partner.
//! Talks HTTP(S) only; knows nothing of the store or the tree.
use std::collections::BTreeMap;
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
use crate::core::api::{MirrorView, NewPush, PushView};
use crate::logging::user_error;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The origin, e.g. `http://[::1]:8080`.
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    #[arg(long, env = "HOTPUSH_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// Advisory id, e.g. `FEDORA-2026-0001`.
    #[arg(long, required_unless_present_any = ["manifest", "manifest_dir"])]
    pub advisory: Option<String>,
    /// `critical`, `important`, `moderate` or `low`.
    #[arg(long, required_unless_present_any = ["manifest", "manifest_dir"])]
    pub severity: Option<String>,
    #[arg(long = "cve")]
    pub cves: Vec<String>,
    #[arg(long, required_unless_present_any = ["manifest", "manifest_dir"])]
    pub summary: Option<String>,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Release to push to; default: every configured release.
    #[arg(long)]
    pub release: Option<String>,
    /// The advisory and its packages from a TOML file (see docs/manifests.md)
    /// instead of the flags above.
    #[arg(long, conflicts_with_all = ["manifest_dir", "advisory", "severity", "cves", "summary", "description", "release", "rpms"])]
    pub manifest: Option<PathBuf>,
    /// Every `*.toml` manifest in DIR, each its own advisory; all are checked
    /// before anything is uploaded.
    #[arg(long, conflicts_with_all = ["advisory", "severity", "cves", "summary", "description", "release", "rpms"])]
    pub manifest_dir: Option<PathBuf>,
    /// Return once the push is accepted instead of following it.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up following after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    #[arg(required_unless_present_any = ["manifest", "manifest_dir"])]
    pub rpms: Vec<PathBuf>,
}

/// One advisory to push: its declaration and its package files, and the
/// manifest it came from (if any), for messages.
#[derive(Debug)]
struct Planned {
    source: Option<PathBuf>,
    req: NewPush,
    rpms: Vec<PathBuf>,
}

/// A manifest file (`hotpush push --manifest`): the advisory fields of
/// `POST /api/v1/pushes` plus the package files, relative to the manifest.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    advisory: String,
    severity: String,
    #[serde(default)]
    cves: Vec<String>,
    summary: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    releases: Vec<String>,
    packages: Vec<PathBuf>,
}

/// A manifest larger than this is not a manifest.
const MANIFEST_BYTES_MAX: u64 = 1024 * 1024;

/// `hotpush push`.
pub fn run(args: &PushArgs) -> anyhow::Result<ExitCode> {
    let plans = match (&args.manifest, &args.manifest_dir) {
        (Some(file), _) => vec![load_manifest(file)?],
        (None, Some(dir)) => load_manifest_dir(dir)?,
        (None, None) => {
            let plan = Planned {
                source: None,
                req: NewPush {
                    advisory: args.advisory.clone().unwrap_or_default(),
                    severity: args.severity.clone().unwrap_or_default(),
                    cves: args.cves.clone(),
                    summary: args.summary.clone().unwrap_or_default(),
                    description: args.description.clone(),
                    releases: args.release.iter().cloned().collect(),
                },
                rpms: args.rpms.clone(),
            };
            for rpm in &plan.rpms {
                check_rpm_file(rpm, "pass paths of signed RPM files")?;
            }
            vec![plan]
        }
    };
    let token = read_token(&args.token_file)?;
    runtime()?.block_on(push_all(args, &token, plans))
}

/// The file exists and is a regular file.
fn check_rpm_file(rpm: &std::path::Path, hint: &str) -> anyhow::Result<()> {
    let meta = fs_err::metadata(rpm)
        .map_err(|e| user_error(format!("cannot read `{}`: {e}", rpm.display()), hint))?;
    if !meta.is_file() {
        return Err(user_error(
            format!("`{}` is not a file", rpm.display()),
            hint,
        ));
    }
    Ok(())
}

fn manifest_error(
    file: &std::path::Path,
    field: &str,
    message: String,
    hint: &str,
) -> anyhow::Error {
    user_error(
        format!("manifest `{}`: field `{field}`: {message}", file.display()),
        format!("{hint}; nothing was uploaded"),
    )
}

/// Reads and checks one manifest: TOML with exactly the known fields, the
/// advisory rules of the API (`core::advisory`), and every package a file
/// that parses as an RPM. Signatures are the origin's to check.
fn load_manifest(file: &std::path::Path) -> anyhow::Result<Planned> {
    let meta = fs_err::metadata(file).map_err(|e| {
        user_error(
            format!("cannot read the manifest `{}`: {e}", file.display()),
            "pass the path of a TOML manifest (docs/manifests.md)",
        )
    })?;
    if meta.len() > MANIFEST_BYTES_MAX {
        return Err(user_error(
            format!(
                "manifest `{}` is {} bytes, more than the {MANIFEST_BYTES_MAX} a manifest may hold",
                file.display(),
                meta.len()
            ),
            "a manifest names an advisory and its package files; nothing was uploaded",
        ));
    }
    let text = fs_err::read_to_string(file).map_err(|e| {
        user_error(
            format!("cannot read the manifest `{}`: {e}", file.display()),
            "a manifest is UTF-8 TOML text; nothing was uploaded",
        )
    })?;
    let m: Manifest = toml::from_str(&text).map_err(|e| {
        user_error(
            format!("manifest `{}` is not valid: {}", file.display(), e.message()),
            format!(
                "{}fields: advisory, severity, summary, packages (required), cves, description, releases; nothing was uploaded",
                e.span()
                    .map(|s| format!("at line {}; ", text[..s.start].lines().count().max(1)))
                    .unwrap_or_default()
            ),
        )
    })?;
    let req = NewPush {
        advisory: m.advisory,
        severity: m.severity,
        cves: m.cves,
        summary: m.summary,
        description: m.description,
        releases: m.releases,
    };
    // The origin's own text rules (`core::advisory`, as `POST /api/v1/pushes`
    // applies them), named by the manifest's field.
    crate::core::advisory::check_advisory(&(&req).into()).map_err(|e| {
        let field = match e.field.as_str() {
            "id" => "advisory",
            f => f,
        };
        manifest_error(
            file,
            field,
            e.reason.clone(),
            "the origin applies the same rule (docs/manifests.md)",
        )
    })?;
    if m.packages.is_empty() {
        return Err(manifest_error(
            file,
            "packages",
            "lists no package".into(),
            "name the signed RPM files, relative to the manifest",
        ));
    }
    let base = file.parent().unwrap_or(std::path::Path::new("."));
    let mut rpms = Vec::new();
    for rel in &m.packages {
        let path = base.join(rel);
        check_rpm_file(&path, "").map_err(|e| {
            manifest_error(
                file,
                "packages",
                format!("{e}"),
                "paths are relative to the manifest",
            )
        })?;
        let reader = std::io::BufReader::new(fs_err::File::open(&path)?);
        let facts = crate::core::rpm::FileFacts {
            location_href: rel.display().to_string(),
            time_file: 0,
        };
        crate::core::rpm::read_package(reader, facts, &crate::core::rpm::SignaturePolicy::Ignore)
            .map_err(|e| {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or_default().to_owned();
            manifest_error(
                file,
                "packages",
                format!("`{}` is not a valid RPM: {first}", path.display()),
                "name the signed `.rpm` files the build system produced",
            )
        })?;
        rpms.push(path);
    }
    Ok(Planned {
        source: Some(file.to_owned()),
        req,
        rpms,
    })
}

/// Every `*.toml` in `dir`, sorted by name; all checked before any upload.
fn load_manifest_dir(dir: &std::path::Path) -> anyhow::Result<Vec<Planned>> {
    let mut files: Vec<PathBuf> = fs_err::read_dir(dir)
        .map_err(|e| {
            user_error(
                format!(
                    "cannot read the manifest directory `{}`: {e}",
                    dir.display()
                ),
                "pass a directory of `*.toml` manifests",
            )
        })?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(user_error(
            format!("`{}` holds no `*.toml` manifest", dir.display()),
            "write one manifest per advisory (docs/manifests.md)",
        ));
    }
    let plans = files
        .iter()
        .map(|f| load_manifest(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut seen: std::collections::BTreeMap<&str, &std::path::Path> = Default::default();
    for p in &plans {
        let file = p.source.as_deref().unwrap_or(dir);
        if let Some(first) = seen.insert(p.req.advisory.as_str(), file) {
            return Err(manifest_error(
                file,
                "advisory",
                format!(
                    "`{}` is also declared by `{}`",
                    p.req.advisory,
                    first.display()
                ),
                "one manifest per advisory: merge their packages into one",
            ));
        }
    }
    Ok(plans)
}

async fn push_all(args: &PushArgs, token: &str, plans: Vec<Planned>) -> anyhow::Result<ExitCode> {
    let server = server_url(&args.server)?;
    let client = http_client()?;
    // Check sizes and releases against the origin before anything is sent: a
    // server refusing a body mid-upload cannot always get its answer through.
    let (status, _) = get_status(&client, &server, None).await?;
    let releases: std::collections::BTreeSet<&str> = status
        .repos
        .iter()
        .filter_map(|r| r.repo.split('/').nth(1))
        .collect();
    for plan in &plans {
        for r in &plan.req.releases {
            if !releases.is_empty() && !releases.contains(r.as_str()) {
                let message = format!("release `{r}` is not served at `{server}`");
                let hint = format!(
                    "served releases: {}",
                    releases.iter().copied().collect::<Vec<_>>().join(", ")
                );
                return Err(match &plan.source {
                    Some(file) => manifest_error(file, "releases", message, &hint),
                    None => user_error(message, hint),
                });
            }
        }
        if status.package_bytes_max > 0 {
            for rpm in &plan.rpms {
                let size = fs_err::metadata(rpm)?.len();
                if size > status.package_bytes_max {
                    return Err(user_error(
                        format!(
                            "`{}` is {size} bytes, larger than the limit of {} bytes at `{server}`",
                            rpm.display(),
                            status.package_bytes_max
                        ),
                        "raise `intake.package_bytes_max` in the origin's hotpush.toml if this package is genuine; nothing was uploaded",
                    ));
                }
            }
        }
    }
    let mut ids: Vec<(i64, bool)> = Vec::new();
    for plan in &plans {
        let id = push_one(&client, &server, token, plan).await.map_err(|e| {
            if ids.is_empty() {
                e
            } else {
                e.context(format!(
                    "pushes {} were accepted before this one failed",
                    ids.iter()
                        .map(|(id, _)| id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        })?;
        ids.push(id);
    }
    if args.no_wait {
        #[allow(clippy::print_stdout)]
        for (id, _) in &ids {
            println!("{id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    // A staged push has nothing to follow until a second member approves it.
    let ids: Vec<i64> = ids
        .into_iter()
        .filter_map(|(id, accepted)| accepted.then_some(id))
        .collect();
    for id in ids {
        let code = follow(
            &client,
            &server,
            token,
            id,
            Duration::from_secs(args.timeout_secs),
        )
        .await?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens, uploads and submits one push; returns its id once accepted (true)
/// or staged for approval (false).
async fn push_one(
    client: &reqwest::Client,
    server: &str,
    token: &str,
    plan: &Planned,
) -> anyhow::Result<(i64, bool)> {
    let resp = client
        .post(format!("{server}/api/v1/pushes"))
        .bearer_auth(token)
        .json(&plan.req)
        .send()
        .await
        .map_err(|e| connect_error(server, e))?;
    let what = match &plan.source {
        Some(file) => format!("cannot create the push of manifest `{}`", file.display()),
        None => "cannot create the push".to_owned(),
    };
    let push: PushView = check(resp, &what).await?.json().await?;
    eprintln!("push {} opened for {}", push.id, push.advisory);
    // A refused upload (or a lost connection) must not leave the push open
    // for ever: cancel it, so its advisory is no longer pending.
    if let Err(e) = upload_all(client, server, token, push.id, &plan.rpms).await {
        let cancelled = cancel(client, server, token, push.id).await;
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
        .map_err(|e| connect_error(server, e))?;
    let submitted: PushView = check(resp, "cannot submit the push").await?.json().await?;
    if submitted.state == "staged" {
        eprintln!(
            "push {} staged, waiting for approval by a second member: `hotpush approve {}`",
            push.id, push.id
        );
        return Ok((push.id, false));
    }
    eprintln!(
        "push {} accepted; it will be published even if this client goes away",
        push.id
    );
    Ok((push.id, true))
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
        bars.suspend(|| {
            eprintln!(
                "  verified {} (sha256 {}, signed by {})",
                view.nevra,
                &view.sha256[..12],
                view.signed_by.as_deref().unwrap_or("-")
            )
        });
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

/// Follows a push until it is published at the origin and every partner had its
/// first full attempt at it (or the deadline passes), printing each partner's
/// progress as it changes. Reads with the token: until it is published the push
/// is embargoed, and without a token the origin answers 404.
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
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut said: BTreeMap<String, Option<String>> = BTreeMap::new();
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
                    // `suspend` + eprintln, not `println`: indicatif drops the
                    // latter when stderr is not a terminal (scripts, CI logs).
                    spinner.suspend(|| {
                        eprintln!(
                            "push {push_id} is live at the origin ({} ms after acceptance)",
                            view.published_at_ms.unwrap_or(0) - view.accepted_at_ms.unwrap_or(0)
                        )
                    });
                    published_reported = true;
                }
                let partners = partner_progress(&view.mirrors);
                for p in &partners {
                    // The error and its hint are printed when they change, not
                    // with every retry.
                    let said = said.entry(p.name.clone()).or_default();
                    let line = p.line(said);
                    if shown.get(&p.name) != Some(&line) {
                        spinner.suspend(|| eprintln!("{line}"));
                        shown.insert(p.name.clone(), line);
                        *said = p.error.clone();
                    }
                }
                let pending: Vec<&str> = partners
                    .iter()
                    .filter(|p| !p.current && !p.attempted)
                    .map(|p| p.name.as_str())
                    .collect();
                let behind: Vec<&PartnerProgress> =
                    partners.iter().filter(|p| !p.current).collect();
                if behind.is_empty() {
                    spinner.finish_and_clear();
                    print_checklist(client, server, token, push_id).await;
                    if partners.is_empty() {
                        eprintln!("push {push_id} is published (no partner mirrors configured)");
                    } else {
                        eprintln!(
                            "push {push_id} is published and verified on every partner: {}",
                            partners
                                .iter()
                                .map(|p| p.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                if pending.is_empty() {
                    // Every partner had its first full attempt: the outcome is known.
                    spinner.finish_and_clear();
                    print_checklist(client, server, token, push_id).await;
                    return Err(behind_error(
                        push_id,
                        &behind,
                        "after its first full attempt",
                    ));
                }
                spinner.set_message(format!("waiting for partners: {}", pending.join(", ")));
                if started.elapsed() > timeout {
                    spinner.finish_and_clear();
                    print_checklist(client, server, token, push_id).await;
                    return Err(behind_error(
                        push_id,
                        &behind,
                        &format!("still being tried after {} s", timeout.as_secs()),
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

/// One partner across the repositories a push touched.
#[derive(Debug, Default)]
struct PartnerProgress {
    name: String,
    /// Holds the origin's current revision of every repository.
    current: bool,
    /// Had a full attempt at the current revision of every repository.
    attempted: bool,
    stage: Option<String>,
    retries: u32,
    error: Option<String>,
    hint: Option<String>,
}

impl PartnerProgress {
    /// The line `hotpush push` prints when it changes; the error (and its hint)
    /// only when it differs from `said`, the last one printed.
    fn line(&self, said: &Option<String>) -> String {
        if self.current {
            return format!(
                "  {}: holds the fix (verified over its public URL)",
                self.name
            );
        }
        let mut line = if self.attempted {
            format!("  {}: behind", self.name)
        } else {
            format!(
                "  {}: stage `{}`",
                self.name,
                self.stage.as_deref().unwrap_or("waiting")
            )
        };
        if self.retries > 0 {
            line.push_str(&format!(
                ", {} retr{}",
                self.retries,
                if self.retries == 1 { "y" } else { "ies" }
            ));
        }
        if let Some(error) = self.error.as_ref().filter(|e| said.as_ref() != Some(*e)) {
            line.push_str(&format!(": {error}"));
            if let Some(hint) = &self.hint {
                line.push_str(&format!("\n    hint: {hint}"));
            }
        }
        line
    }
}

/// The push view's per-repository partner rows folded into one per partner, in
/// the order the origin lists them.
fn partner_progress(mirrors: &[MirrorView]) -> Vec<PartnerProgress> {
    let mut out: Vec<PartnerProgress> = Vec::new();
    for m in mirrors {
        let i = match out.iter().position(|p| p.name == m.name) {
            Some(i) => i,
            None => {
                out.push(PartnerProgress {
                    name: m.name.clone(),
                    current: true,
                    attempted: true,
                    ..PartnerProgress::default()
                });
                out.len() - 1
            }
        };
        let p = &mut out[i];
        p.current &= m.current;
        p.attempted &= m.attempted || m.current;
        if !m.current {
            p.stage = p.stage.take().or_else(|| m.stage.clone());
            p.retries = p.retries.max(m.retries);
            p.error = p.error.take().or_else(|| m.last_error.clone());
            p.hint = p.hint.take().or_else(|| m.hint.clone());
        }
    }
    out
}

/// The error `hotpush push` ends with when partners are behind: each named with
/// why, and what happens next.
fn behind_error(push_id: i64, behind: &[&PartnerProgress], when: &str) -> anyhow::Error {
    let mut text = format!(
        "push {push_id} is live at the origin, but {} partner(s) are behind {when}:",
        behind.len()
    );
    for p in behind {
        text.push_str(&format!(
            "\n  {}: {}",
            p.name,
            p.error.as_deref().unwrap_or("no error recorded yet")
        ));
        if let Some(hint) = &p.hint {
            text.push_str(&format!("\n    hint: {hint}"));
        }
    }
    user_error(
        text,
        "the metalink does not list them until they catch up; the origin keeps retrying in the background (`hotpush status` shows where each partner is)",
    )
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
