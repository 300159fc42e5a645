//! Publication hooks, as Launchpad's publisher runs them: the executables in
//! `hooks/pre-publication.d/` and `hooks/post-publication.d/` under the data
//! directory, in run-parts order (sorted by name; names of letters, digits, `_`
//! and `-` only), with the priority as first argument (0 security, 1 routine)
//! and the repository, revision and advisories in the environment. Each run is
//! bounded by a timeout and its output is kept under `hooks/log/`.
//!
//! A failing pre-publication hook stops that repository's publication; a
//! failing post-publication hook is logged and reported, nothing more.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::core::repodata::Advisory;
use crate::origin::app::App;
use crate::origin::publish::RepoId;

/// How long one hook may run.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the pre-publication hooks; an error stops the publication.
pub fn run_pre(
    app: &App,
    repo: &RepoId,
    revision: u64,
    priority: i64,
    advisories: &[Advisory],
) -> anyhow::Result<()> {
    for outcome in run_phase(app, "pre-publication", repo, revision, priority, advisories)? {
        if !outcome.ok {
            bail!(
                "pre-publication hook `{}` failed ({}); output kept in `{}`",
                outcome.hook.display(),
                outcome.status,
                outcome.log.display()
            );
        }
    }
    Ok(())
}

/// Runs the post-publication hooks; failures are logged, not raised.
pub fn run_post(app: &App, repo: &RepoId, revision: u64, priority: i64, advisories: &[Advisory]) {
    match run_phase(
        app,
        "post-publication",
        repo,
        revision,
        priority,
        advisories,
    ) {
        Ok(outcomes) => {
            for o in outcomes.iter().filter(|o| !o.ok) {
                tracing::warn!(hook = %o.hook.display(), status = o.status, log = %o.log.display(), "post-publication hook failed");
            }
        }
        Err(e) => tracing::warn!(
            error = format!("{e:#}"),
            "cannot run post-publication hooks"
        ),
    }
}

/// What one hook run did.
#[derive(Debug)]
pub struct HookOutcome {
    pub hook: PathBuf,
    pub ok: bool,
    pub status: String,
    pub log: PathBuf,
}

fn run_phase(
    app: &App,
    phase: &str,
    repo: &RepoId,
    revision: u64,
    priority: i64,
    advisories: &[Advisory],
) -> anyhow::Result<Vec<HookOutcome>> {
    let dir = app.config.data_dir.join("hooks").join(format!("{phase}.d"));
    let hooks = list_hooks(&dir)?;
    if hooks.is_empty() {
        return Ok(Vec::new());
    }
    let log_dir = app.config.data_dir.join("hooks/log");
    fs_err::create_dir_all(&log_dir)?;
    let ids: Vec<&str> = advisories.iter().map(|a| a.id.as_str()).collect();
    let mut out = Vec::new();
    for hook in hooks {
        let name = hook
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let log = log_dir.join(format!(
            "{}-{phase}-{}-{revision}-{name}.log",
            crate::origin::store::now_ms(),
            repo.path().replace('/', "_")
        ));
        let mut cmd = Command::new(&hook);
        cmd.arg(priority.to_string())
            .env("HOTPUSH_PHASE", phase)
            .env("HOTPUSH_REPO", repo.path())
            .env("HOTPUSH_CHANNEL", &repo.channel)
            .env("HOTPUSH_RELEASE", &repo.release)
            .env("HOTPUSH_ARCH", &repo.arch)
            .env("HOTPUSH_REVISION", revision.to_string())
            .env("HOTPUSH_PRIORITY", priority.to_string())
            .env("HOTPUSH_ADVISORIES", ids.join(" "))
            .env("HOTPUSH_REPO_DIR", app.tree.repo_dir(repo))
            .stdin(Stdio::null());
        let (ok, status, output) = run_bounded(cmd, HOOK_TIMEOUT);
        fs_err::write(&log, &output)?;
        tracing::info!(hook = %hook.display(), phase, ok, status, "ran hook");
        out.push(HookOutcome {
            hook,
            ok,
            status,
            log,
        });
    }
    Ok(out)
}

/// The executables of a hook directory in run-parts order.
pub fn list_hooks(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut hooks: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
        .filter(|e| {
            e.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .map(|e| e.path())
        .collect();
    hooks.sort();
    Ok(hooks)
}

/// Runs a command with stdout+stderr captured, killing it after `timeout`.
fn run_bounded(mut cmd: Command, timeout: Duration) -> (bool, String, Vec<u8>) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (false, format!("cannot start: {e}"), Vec::new()),
    };
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_t = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let mut output = out_t.join().unwrap_or_default();
    output.extend(err_t.join().unwrap_or_default());
    match status {
        Some(s) if s.success() => (true, "exit 0".into(), output),
        Some(s) => (false, format!("{s}"), output),
        None => (
            false,
            format!("timed out after {} s", timeout.as_secs()),
            output,
        ),
    }
}
