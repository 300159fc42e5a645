//! The standard operating procedures: render `sop/` templates with the live
//! configuration, and the per-push checklist.
use std::process::ExitCode;

pub fn run(_args: &crate::cli::SopArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hotpush sop` is not built yet")
}
