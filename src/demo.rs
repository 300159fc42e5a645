//! `hotpush demo`.
use std::process::ExitCode;

/// `hotpush demo`.
pub fn run(_args: &crate::cli::DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
