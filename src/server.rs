//! `hotpush serve` and `hotpush token create`: start the origin service.
use std::process::ExitCode;

pub fn run(_args: crate::cli::ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hotpush serve` is not built yet")
}

pub fn token_create(_args: &crate::cli::TokenCreateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hotpush token create` is not built yet")
}
