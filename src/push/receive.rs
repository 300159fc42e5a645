//! `hotpush receive`: the partner mirror's receiver for pushed revisions.
use std::process::ExitCode;

pub fn run(_args: &crate::cli::ReceiveArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hotpush receive` is not built yet")
}
