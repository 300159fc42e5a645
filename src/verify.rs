//! `hotpush verify`: check a published repository end to end through its metalink.
use std::process::ExitCode;

pub fn run(_args: &crate::cli::VerifyArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hotpush verify` is not built yet")
}
