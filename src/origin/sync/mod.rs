//! The origin side of partner sync: what a push carries ([`RepoRevision`],
//! [`TreeFile`]), the two-stage fan-out to every mirror (`stages`), the client of
//! the `https` receiver protocol (`https`; the wire format is `core::protocol`, the
//! server is `partner`), the `rsync` method (`rsync`), and the worker that runs
//! fan-outs after each publication and catches partners up (`worker`), and
//! the per-request order of the metalink's hosts with their health probes
//! (`spread`).
//!
//! Must not know how revisions are built or stored at the origin: the publisher
//! hands in finished bytes and local file paths.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub mod https;
pub mod rsync;
pub mod spread;
pub mod stages;
pub mod worker;

pub use stages::{fanout, push_metalink, verify_public};

/// One repository's new revision, as every host must hold it.
#[derive(Debug, Clone)]
pub struct RepoRevision {
    /// Relative to the `/pub` tree, e.g. `critical/43/x86_64`.
    pub repo_path: String,
    pub revision: u64,
    /// Every file the new repomd.xml needs (data files + packages), not repomd.xml/.asc.
    pub files: Vec<TreeFile>,
    pub repomd: Vec<u8>,
    pub repomd_asc: Vec<u8>,
    /// The repo public key(s) to serve beside them as `repodata/repomd.xml.key`
    /// (empty: none).
    pub repomd_key: Vec<u8>,
}

/// One file of a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Relative to the repo directory: `repodata/<sha>-primary.xml.zst`, `Packages/h/x.rpm`.
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// The local file at the origin.
    pub source: PathBuf,
}

/// What happened during a fan-out, reported as it happens (for progress views).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanoutEvent {
    /// A mirror holds every data file (stage 1 done for it).
    DataDone { mirror: String, uploaded: usize },
    /// Stage 1 is over for every mirror; `passed` go on to the commit.
    DataStageOver { passed: Vec<String> },
    /// A mirror renamed repomd.xml + .asc into place for every revision.
    Committed { mirror: String },
    /// Commits are over for every mirror; `passed` will be verified.
    CommitStageOver { passed: Vec<String> },
    /// A mirror's public URL serves the new repomd.xml and a valid .asc.
    Verified { mirror: String },
    /// An attempt failed and will be retried.
    Retrying {
        mirror: String,
        stage: String,
        attempt: u32,
        error: String,
    },
    /// The mirror gave up at this stage.
    Failed {
        mirror: String,
        stage: String,
        error: String,
    },
}

/// Called for every [`FanoutEvent`], synchronously: keep it quick.
pub type EventSink = Arc<dyn Fn(&FanoutEvent) + Send + Sync>;

/// Bounds of one fan-out.
#[derive(Clone)]
pub struct FanoutOptions {
    /// The whole fan-out (all stages, all retries) ends within this.
    pub deadline: Duration,
    /// Armored repo-signing public key, to verify repomd.xml.asc at each mirror.
    pub repo_public_key: String,
    /// Attempts per mirror and stage (at least 1).
    pub attempts_max: u32,
    /// First backoff between attempts; doubles up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// TCP connect timeout (https) and ssh `ConnectTimeout` (rsync).
    pub connect_timeout: Duration,
    /// Bound on one request without progress; uploads get this per request too, so keep
    /// it above the time the largest package takes to send.
    pub request_timeout: Duration,
    /// Parallel uploads to one https mirror.
    pub uploads_parallel_max: usize,
    /// Where rsync keeps `known_hosts` for mirrors without a pinned `known_hosts_file`
    /// (`StrictHostKeyChecking=accept-new`); default: the system temp directory.
    pub ssh_state_dir: Option<PathBuf>,
    /// Progress reports.
    pub on_event: Option<EventSink>,
}

impl Default for FanoutOptions {
    fn default() -> FanoutOptions {
        FanoutOptions {
            deadline: Duration::from_secs(300),
            repo_public_key: String::new(),
            attempts_max: 4,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            uploads_parallel_max: 4,
            ssh_state_dir: None,
            on_event: None,
        }
    }
}

impl std::fmt::Debug for FanoutOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanoutOptions")
            .field("deadline", &self.deadline)
            .field("attempts_max", &self.attempts_max)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// How one mirror fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorOutcome {
    pub mirror: String,
    /// Its public URL serves every revision's repomd.xml and a valid .asc.
    pub verified: bool,
    /// How far it got: `data`, `commit`, `verify` (failed there) or `verified`.
    pub stage: String,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}
