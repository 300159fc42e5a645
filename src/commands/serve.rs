//! `hotpush serve` and `hotpush token create`: resolve the configuration from the
//! flags and files, then start the origin with `origin::server::start` and serve
//! until SIGINT or SIGTERM.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::logging::user_error;
use crate::origin::auth;
use crate::origin::config::Config;
use crate::origin::server::{self, state_db};
use crate::origin::store::Store;

/// Where the origin's configuration and data are: shared by `serve` and `token create`.
#[derive(Debug, Args)]
pub struct OriginFlags {
    /// `hotpush.toml`; every setting has a default.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The data directory (overrides `data_dir` in the configuration).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl OriginFlags {
    /// The validated configuration with `--data-dir` applied.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut cfg = Config::load(self.config.as_deref())?;
        if let Some(d) = &self.data_dir {
            cfg.data_dir = d.clone();
        }
        Ok(cfg)
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub origin: OriginFlags,
    /// Address to listen on (repeatable), e.g. `[::1]:8080`.
    #[arg(long)]
    pub listen: Vec<String>,
    /// `mirrors.toml` with the partner mirrors.
    #[arg(long)]
    pub mirrors: Option<PathBuf>,
    /// How clients reach this origin (overrides the configuration).
    #[arg(long)]
    pub public_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token for a user; prints it on stdout, once.
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    pub origin: OriginFlags,
    #[arg(long)]
    pub user: String,
    #[arg(long)]
    pub group: String,
}

/// `hotpush serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.origin.load()?;
    if !args.listen.is_empty() {
        config.listen = args
            .listen
            .iter()
            .map(|l| {
                l.parse::<SocketAddr>().map_err(|e| {
                    user_error(
                        format!("`--listen {l}` is not an address: {e}"),
                        "use forms like `[::1]:8080` or `127.0.0.1:8080`",
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(url) = args.public_url {
        config.public_url = url.trim_end_matches('/').to_owned();
    }
    let mirrors = match &args.mirrors {
        Some(path) => crate::origin::mirrors::load_mirrors(path)?,
        None => Vec::new(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let running = server::start(config, mirrors).await?;
        server::issue_first_admin_token(&running.app)?;
        running.serve_until(server::shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `hotpush token create`: prints a new token on stdout, once.
pub fn token_create(args: &TokenCreateArgs) -> anyhow::Result<ExitCode> {
    let config = args.origin.load()?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
    };
    if !valid(&args.user) || !valid(&args.group) {
        return Err(user_error(
            "user and group names may only hold letters, digits, `-`, `_`, `.` and `@`",
            "e.g. `--user alice --group security`",
        ));
    }
    fs_err::create_dir_all(&config.data_dir)?;
    let store = Store::open(&state_db(&config.data_dir))?;
    let token = auth::new_token();
    store.add_token(&args.user, &args.group, &auth::token_digest(&token))?;
    store.audit(
        "local-admin",
        "token-create",
        &format!("{} ({})", args.user, args.group),
        true,
        "offline on the data directory",
        "local",
    )?;
    #[allow(clippy::print_stdout)]
    {
        println!("{token}");
    }
    Ok(ExitCode::SUCCESS)
}
