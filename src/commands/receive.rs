//! `hotpush receive`: the partner mirror's receiver. Resolves the flags and the
//! optional `receive.toml`, then runs `partner`.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

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

/// `hotpush receive`.
pub fn run(args: &ReceiveArgs) -> anyhow::Result<ExitCode> {
    let settings = crate::partner::Settings::load(&crate::partner::Overrides {
        config: args.config.clone(),
        data_dir: args.data_dir.clone(),
        listen: args.listen.clone(),
        public_listen: args.public_listen.clone(),
        secret_file: args.secret_file.clone(),
        tls_cert_file: args.tls_cert_file.clone(),
        tls_key_file: args.tls_key_file.clone(),
        retention_hours: args.retention_hours,
    })?;
    crate::partner::run(settings)
}
