//! The command line: clap definitions and dispatch only. Each command's work lives
//! in the module that owns it.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Urgent-update RPM repository publisher.
#[derive(Debug, Parser)]
#[command(name = "hotpush", version, about, long_about = None)]
pub struct Cli {
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the origin service (embedded defaults when no configuration is given).
    Serve(ServeArgs),
    /// Manage API tokens offline, on the data directory.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Push signed RPMs as a security advisory and follow it until it is live.
    Push(PushArgs),
    /// Take an advisory out of the critical repositories.
    Retire(RetireArgs),
    /// Show what is live where.
    Status(StatusArgs),
    /// Print the client `.repo` file.
    Repofile(RepofileArgs),
    /// Generate repodata for a directory of RPMs, offline.
    Createrepo(CreaterepoArgs),
    /// Run a partner mirror's receiver for pushed revisions.
    Receive(ReceiveArgs),
    /// Check a published repository end to end through its metalink.
    Verify(VerifyArgs),
    /// Render the standard operating procedures with the live configuration.
    Sop(SopArgs),
    /// Run a complete demo on loopback: an origin, two partners, a signed sample fix.
    Demo(DemoArgs),
    /// Check the configuration, keys, data directory and partners; exit 1 on any FAIL.
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// `hotpush.toml`; every setting has a default.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (repeatable), e.g. `[::1]:8080`.
    #[arg(long)]
    pub listen: Vec<String>,
    /// `mirrors.toml` with the partner mirrors.
    #[arg(long)]
    pub mirrors: Option<PathBuf>,
    /// How clients reach this origin (overrides the configuration).
    #[arg(long)]
    pub public_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token for a user; prints it on stdout, once.
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[arg(long)]
    pub user: String,
    #[arg(long)]
    pub group: String,
}

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

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RepofileArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    #[arg(long)]
    pub release: Option<String>,
    /// Build a noarch `-repos` RPM into this directory (the `.repo` file plus the
    /// keys under /etc/pki/rpm-gpg) instead of printing the `.repo` text.
    #[arg(long, value_name = "OUT_DIR")]
    pub rpm: Option<PathBuf>,
    /// Package name; default `<channel>-repos`.
    #[arg(long, requires = "rpm")]
    pub name: Option<String>,
    /// Package version.
    #[arg(long = "version", requires = "rpm", default_value = "1")]
    pub version: String,
    /// Package release.
    #[arg(long, requires = "rpm", default_value = "1")]
    pub rpm_release: String,
    /// Build time of the package (Unix seconds); default: the origin's newest
    /// repository revision, so the same origin state gives the same bytes.
    #[arg(long, requires = "rpm")]
    pub source_date: Option<u64>,
}

#[derive(Debug, Args)]
pub struct CreaterepoArgs {
    /// Directory of RPMs (searched recursively).
    pub dir: PathBuf,
    /// Where `repodata/` goes; default: DIR.
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "zst")]
    pub compress: CompressArg,
    /// Repository revision; default: the newest package mtime (0 when empty).
    #[arg(long)]
    pub revision: Option<u64>,
    /// Trusted OpenPGP public key (repeatable); every package must be signed by one.
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
    /// Advisories for updateinfo.xml: a TOML file with `[[advisory]]` tables
    /// (id, severity, title, summary, description, issued, cves, packages; see
    /// `hotpush::createrepo` for the format).
    #[arg(long)]
    pub updateinfo: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompressArg {
    Gz,
    Zst,
}

#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// `receive.toml`; every setting has a default except the secret file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Blob store, `/pub` tree, TLS certificate and state; default `hotpush-receive-data`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// HTTPS address for pushes and the `/pub` tree (repeatable); default `[::]:8443`.
    #[arg(long)]
    pub listen: Vec<String>,
    /// Also serve the `/pub` tree over plain HTTP here (repeatable), e.g. for a
    /// front web server.
    #[arg(long)]
    pub public_listen: Vec<String>,
    /// HMAC secret shared with the origin (not world-readable).
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
    /// PEM certificate chain; default: a self-signed one generated into the data directory.
    #[arg(long, requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for `--tls-cert-file`.
    #[arg(long, requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// Keep files that no current repomd.xml names this long; default 48.
    #[arg(long)]
    pub retention_hours: Option<u64>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub metalink: String,
    /// Repo-signing public key; default: fetched from the origin's `/keys/repo.asc`.
    #[arg(long)]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SopArgs {
    /// `hotpush.toml` whose values fill in the procedures.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// `mirrors.toml`, for the partner names and URLs.
    #[arg(long)]
    pub mirrors: Option<PathBuf>,
    /// Print only this procedure (default: all of them).
    #[arg(long, value_parser = crate::sop::PROCEDURE_NAMES)]
    pub procedure: Option<String>,
    /// Fill in this advisory id.
    #[arg(long)]
    pub advisory: Option<String>,
    /// The origin: overrides the configured public URL in the commands, and is
    /// where `--announcement` and `--push` read from.
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: Option<String>,
    /// Print the advisory's announcement email from the origin instead.
    #[arg(long, requires = "advisory", requires = "server")]
    pub announcement: bool,
    /// Print the checklist of this push from the origin instead.
    #[arg(long, requires = "server")]
    pub push: Option<i64>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo keeps its keys, data and client files; default `hotpush-demo`.
    #[arg(long, default_value = "hotpush-demo")]
    pub dir: PathBuf,
    /// Port of the origin on `[::1]`.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// `hotpush.toml` to check; default: the embedded defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// `mirrors.toml` whose partners to check.
    #[arg(long)]
    pub mirrors: Option<PathBuf>,
    /// Warn when the data directory's file system has less free space than this.
    #[arg(long, default_value_t = 1024)]
    pub min_free_mib: u64,
}

/// Runs the parsed command; the error carries what to tell the user.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Createrepo(args) => crate::createrepo::run(&args),
        Command::Serve(args) => crate::server::run(args),
        Command::Token(TokenCommand::Create(args)) => crate::server::token_create(&args),
        Command::Push(args) => crate::client::push(&args),
        Command::Retire(args) => crate::client::retire(&args),
        Command::Status(args) => crate::client::status(&args),
        Command::Repofile(args) => match &args.rpm {
            Some(dir) => crate::reposrpm::run(&args, dir),
            None => crate::client::repofile(&args),
        },
        Command::Receive(args) => crate::push::receive::run(&args),
        Command::Verify(args) => crate::verify::run(&args),
        Command::Sop(args) => crate::sop::run(&args),
        Command::Demo(args) => crate::demo::run(&args),
        Command::Doctor(args) => crate::doctor::run(&args),
    }
}
