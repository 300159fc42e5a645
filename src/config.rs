//! TEMPORARY minimal stand-in for `hotpush.toml` (replaced by the signing branch's config.rs).
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ReposConfig {
    pub channel: String,
    pub releases: Vec<String>,
    pub arches: Vec<String>,
}
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    pub trusted_keys: Vec<PathBuf>,
    pub require_signed_packages: bool,
    pub package_bytes_max: u64,
}
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub push_group: String,
}
#[derive(Debug, Clone)]
pub struct PublishConfig {
    pub compression: crate::repodata::Compression,
}
#[derive(Debug, Clone)]
pub struct MetalinkConfig {
    pub alternates_minutes: u64,
}
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: Vec<std::net::SocketAddr>,
    pub public_url: String,
    pub retention_hours: u64,
    pub metalink_repo_prefix: String,
    pub repos: ReposConfig,
    pub intake: IntakeConfig,
    pub auth: AuthConfig,
    pub publish: PublishConfig,
    pub metalink: MetalinkConfig,
}
impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: "hotpush-data".into(),
            listen: vec!["[::]:8080".parse().unwrap()],
            public_url: "http://[::1]:8080".into(),
            retention_hours: 48,
            metalink_repo_prefix: "critical-f".into(),
            repos: ReposConfig {
                channel: "critical".into(),
                releases: vec!["43".into()],
                arches: vec!["x86_64".into(), "aarch64".into()],
            },
            intake: IntakeConfig {
                trusted_keys: vec![],
                require_signed_packages: true,
                package_bytes_max: 2147483648,
            },
            auth: AuthConfig {
                push_group: "security".into(),
            },
            publish: PublishConfig {
                compression: Default::default(),
            },
            metalink: MetalinkConfig {
                alternates_minutes: 0,
            },
        }
    }
}
impl Config {
    pub fn load(_path: Option<&Path>) -> anyhow::Result<Config> {
        Ok(Config::default())
    }
}
