//! `hotpush repofile`: print the client `.repo` file, or (`--rpm DIR`) build the
//! `-repos` RPM from the origin's status and keys. The rendering and the RPM are
//! built in `core`; this module fetches and writes.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::client::{get_status, http_client, runtime, server_url};
use crate::core::api::StatusView;
use crate::core::reposrpm::{build, key_fingerprints, newest_revision, ReposRpm};
use crate::logging::user_error;

#[derive(Debug, Args)]
pub struct RepofileArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    #[arg(long)]
    pub release: Option<String>,
    /// The package manager the `.repo` text is for: `dnf` (metalink first,
    /// partners as baseurl fallbacks) or `zypper` (baseurl only: the origin
    /// first, then the partners).
    #[arg(long, value_enum, default_value = "dnf")]
    pub client: RepoClient,
    /// Build a noarch `-repos` RPM into this directory (the dnf and the zypper
    /// `.repo` files, the keys under /etc/pki/rpm-gpg and the critical check)
    /// instead of printing the `.repo` text; `--client` does not change it.
    #[arg(long, value_name = "OUT_DIR")]
    pub rpm: Option<PathBuf>,
    /// Package name; default `<channel>-repos`.
    #[arg(long, requires = "rpm")]
    pub name: Option<String>,
    /// Package version. The default 2 is the package that ships the critical
    /// check; it upgrades the version-1 packages that carried only the `.repo`
    /// file and the keys.
    #[arg(long = "version", requires = "rpm", default_value = "2")]
    pub version: String,
    /// Package release.
    #[arg(long, requires = "rpm", default_value = "1")]
    pub rpm_release: String,
    /// Build time of the package (Unix seconds); default: the origin's newest
    /// repository revision, so the same origin state gives the same bytes.
    #[arg(long, requires = "rpm")]
    pub source_date: Option<u64>,
}

/// The package manager a `.repo` file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RepoClient {
    Dnf,
    Zypper,
}

/// `hotpush repofile`: the `.repo` text, rendered from `repo-templates/`.
pub fn print(args: &RepofileArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let server = server_url(&args.server)?;
        let client = http_client()?;
        let (status, _) = get_status(&client, &server, None).await?;
        let text = match args.client {
            RepoClient::Dnf => crate::core::repofile::render(&status, args.release.as_deref())?,
            RepoClient::Zypper => {
                crate::core::repofile::render_zypper(&status, args.release.as_deref(), None)?
            }
        };
        #[allow(clippy::print_stdout)]
        {
            print!("{text}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `hotpush repofile --rpm DIR`: fetches the status and keys, builds the
/// package into DIR and prints its path.
pub fn build_rpm(args: &RepofileArgs, out_dir: &Path) -> anyhow::Result<ExitCode> {
    let server = args.server.trim_end_matches('/').to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, repo_key, package_keys) = rt.block_on(fetch(&server))?;
    let repo_fprs = key_fingerprints(&format!("`{server}/keys/repo.asc`"), &repo_key)?;
    // One key, or two while a rotation is under way (the next or the
    // previous key beside the one that signs): the package ships them all.
    if repo_fprs.is_empty() || repo_fprs.len() > 2 {
        return Err(user_error(
            format!(
                "`{server}/keys/repo.asc` holds {} keys, expected the repo-signing key \
                 (and during a rotation its next or previous key)",
                repo_fprs.len()
            ),
            "check that `--server` points at a hotpush origin",
        ));
    }
    if repo_fprs.len() == 2 {
        eprintln!(
            "the repo key file carries two keys (a rotation is under way): {}",
            repo_fprs.join(", ")
        );
    }
    if package_keys.trim().is_empty() {
        tracing::warn!(
            "the origin trusts no package-signing key (`/keys/packages.asc` is empty); \
             the package carries only the repo key and gpgcheck=1 will refuse packages"
        );
    } else {
        key_fingerprints(&format!("`{server}/keys/packages.asc`"), &package_keys)?;
    }
    let source_date = match args.source_date {
        Some(s) => s,
        None => newest_revision(&status).ok_or_else(|| {
            user_error(
                format!("`{server}` has published no revision yet to date the package by"),
                "pass `--source-date SECONDS` (e.g. $SOURCE_DATE_EPOCH)",
            )
        })?,
    };
    let source_date = settle_source_date(source_date)?;
    let source_date_secs = u32::try_from(source_date).map_err(|_| {
        user_error(
            format!("build time {source_date} does not fit an RPM header (32-bit seconds)"),
            "pass `--source-date SECONDS` with a Unix time before 2106",
        )
    })?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-repos", status.channel));
    let built = build(&ReposRpm {
        name: &name,
        version: &args.version,
        release: &args.rpm_release,
        status: &status,
        pin_release: args.release.as_deref(),
        repo_key: &repo_key,
        package_keys: &package_keys,
        source_date_secs,
    })?;
    fs_err::create_dir_all(out_dir).map_err(|e| {
        user_error(
            format!("cannot create `{}`: {e}", out_dir.display()),
            "pass a writable directory with `--rpm DIR`",
        )
    })?;
    let path: PathBuf = out_dir.join(&built.file_name);
    crate::io::fs::write_atomic(&path, &built.bytes)?;
    eprintln!(
        "built {} ({} bytes): {}",
        built.file_name,
        built.bytes.len(),
        built.files.join(", ")
    );
    #[allow(clippy::print_stdout)]
    {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// How far ahead of the clock a build time may be for [`run`] to wait it out.
const SOURCE_DATE_AHEAD_MAX_SECS: u64 = 10;

/// The rpm crate stamps a build time that is not in the past with the current
/// time instead, which would make the bytes depend on when the package was
/// built. Revisions can run a few seconds ahead of the clock (several publishes
/// in one second), so wait those out; refuse a date further ahead.
fn settle_source_date(secs: u64) -> anyhow::Result<u64> {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let ahead = secs.saturating_sub(now());
    if ahead > SOURCE_DATE_AHEAD_MAX_SECS {
        return Err(user_error(
            format!("the build time {secs} is {ahead} s in the future"),
            "check this host's clock, or pass `--source-date SECONDS`",
        ));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(SOURCE_DATE_AHEAD_MAX_SECS + 2);
    while now() <= secs && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(secs)
}

/// Fetches the origin's status, `/keys/repo.asc` and `/keys/packages.asc`.
pub async fn fetch(server: &str) -> anyhow::Result<(StatusView, String, String)> {
    let client = crate::io::http::ClientSpec::new("hotpush")
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()?;
    let get = |path: &'static str| {
        let client = client.clone();
        let url = format!("{server}{path}");
        async move {
            let resp = client.get(&url).send().await.map_err(|e| {
                user_error(
                    format!("cannot reach the hotpush server at `{url}`: {e}"),
                    "check `--server` and that `hotpush serve` is running",
                )
            })?;
            if !resp.status().is_success() {
                return Err(user_error(
                    format!("`{url}` answered HTTP {}", resp.status().as_u16()),
                    "check that `--server` points at a hotpush origin",
                ));
            }
            Ok::<_, anyhow::Error>(resp.text().await?)
        }
    };
    let status_text = get("/api/v1/status").await?;
    let status: StatusView = serde_json::from_str(&status_text).map_err(|e| {
        user_error(
            format!("`{server}/api/v1/status` is not a hotpush status: {e}"),
            "check that `--server` points at a hotpush origin",
        )
    })?;
    let repo_key = get("/keys/repo.asc").await?;
    let package_keys = get("/keys/packages.asc").await?;
    Ok((status, repo_key, package_keys))
}

/// `hotpush repofile`: the `.repo` text, or the `-repos` RPM with `--rpm DIR`.
pub fn run(args: &RepofileArgs) -> anyhow::Result<ExitCode> {
    match &args.rpm {
        // The package carries the `.repo` of both clients; `--client` only
        // chooses what is printed without `--rpm`.
        Some(dir) => build_rpm(args, dir),
        None => print(args),
    }
}
