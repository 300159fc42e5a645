//! `hotpush doctor`.
use std::process::ExitCode;

/// `hotpush doctor`.
pub fn run(_args: &crate::cli::DoctorArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
