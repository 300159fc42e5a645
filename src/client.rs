//! The security team's side of the API: `push`, `retire`, `status`, `repofile`.
use std::process::ExitCode;

use crate::cli::{PushArgs, RepofileArgs, RetireArgs, StatusArgs};

pub fn push(_args: &PushArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hotpush push` is not built yet")
}

pub fn retire(_args: &RetireArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hotpush retire` is not built yet")
}

pub fn status(_args: &StatusArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hotpush status` is not built yet")
}

pub fn repofile(_args: &RepofileArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hotpush repofile` is not built yet")
}
