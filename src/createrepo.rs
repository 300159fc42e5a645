//! `hotpush createrepo`: offline repodata generation for a directory of RPMs.
use std::process::ExitCode;

pub fn run(_args: &crate::cli::CreaterepoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hotpush createrepo` is not built yet")
}
