//! The command line: the top-level clap parser and dispatch only. Each command's
//! arguments and work live in its module under `commands/`.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{
    advisory::AdvisoryArgs, announce::AnnounceArgs, approve::ApproveArgs, cancel::CancelArgs,
    createrepo::CreaterepoArgs, demo::DemoArgs, doctor::DoctorArgs, keys::KeysArgs, push::PushArgs,
    receive::ReceiveArgs, repofile::RepofileArgs, retire::RetireArgs, serve::ServeArgs,
    serve::TokenCommand, sop::SopArgs, status::StatusArgs, verify::VerifyArgs,
};

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
    /// Print an advisory's announcement; `--send` mails it through the origin.
    Announce(AnnounceArgs),
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
    /// List advisories, or show one and where it is reachable.
    Advisory(AdvisoryArgs),
    /// Approve a staged push (two-person rule).
    Approve(ApproveArgs),
    /// Abandon a push that is not yet published (uploading, fetching or staged).
    Cancel(CancelArgs),
    /// List, add or remove the running origin's trusted package-signing keys.
    Keys(KeysArgs),
}

/// Runs the parsed command; the error carries what to tell the user.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    use crate::commands::*;
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Token(TokenCommand::Create(args)) => serve::token_create(&args),
        Command::Push(args) => push::run(&args),
        Command::Retire(args) => retire::run(&args),
        Command::Announce(args) => announce::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Repofile(args) => repofile::run(&args),
        Command::Createrepo(args) => createrepo::run(&args),
        Command::Receive(args) => receive::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Sop(args) => sop::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Keys(args) => keys::run(&args),
        Command::Cancel(args) => cancel::run(&args),
        Command::Advisory(args) => advisory::run(&args),
        Command::Approve(args) => approve::run(&args),
    }
}
