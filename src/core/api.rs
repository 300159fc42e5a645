//! The JSON types of the API: the only types that derive `Serialize`/`Deserialize`
//! for the wire. Domain types never cross the wire as they are.
use serde::{Deserialize, Serialize};

/// `PUT`/`GET /api/v1/check-hold`: how long every critical check stands still
/// (sent to them as `Hotpush-Check-Hold` on the metalink); 0 = no hold.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckHold {
    pub seconds: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub hint: String,
}

/// `POST /api/v1/pushes`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPush {
    pub advisory: String,
    pub severity: String,
    #[serde(default)]
    pub cves: Vec<String>,
    pub summary: String,
    #[serde(default)]
    pub description: String,
    /// Empty: every configured release.
    #[serde(default)]
    pub releases: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PushPackageView {
    pub file_name: String,
    pub nevra: String,
    pub arch: String,
    pub sha256: String,
    pub size: u64,
    pub signed_by: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PushView {
    pub id: i64,
    pub advisory: String,
    /// `uploading`, `accepted`, `published`, `failed`.
    pub state: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub accepted_at_ms: Option<i64>,
    pub published_at_ms: Option<i64>,
    pub error: Option<String>,
    pub packages: Vec<PushPackageView>,
    /// Partners and whether each holds the current revision of every repo this push touched.
    pub mirrors: Vec<MirrorView>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AdvisoryView {
    pub id: String,
    pub severity: String,
    pub summary: String,
    pub description: String,
    pub cves: Vec<String>,
    pub releases: Vec<String>,
    pub state: String,
    pub issued: i64,
    pub updated: i64,
    pub packages: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RepoView {
    pub repo: String,
    pub metalink: String,
    pub baseurl: String,
    pub revision: Option<u64>,
    pub repomd_sha256: Option<String>,
    pub published_at_ms: Option<i64>,
    pub packages: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MirrorView {
    pub name: String,
    pub public_url: String,
    pub repo: String,
    pub revision: u64,
    pub current: bool,
    pub verified: bool,
    pub verified_at_ms: Option<i64>,
    pub lag_ms: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StatusView {
    pub public_url: String,
    pub channel: String,
    pub metalink_repo_prefix: String,
    /// Public base URLs of the partner mirrors, in metalink order.
    pub partners: Vec<String>,
    /// The largest package the origin accepts, in bytes.
    #[serde(default)]
    pub package_bytes_max: u64,
    pub key_fingerprint: String,
    pub queue_depth: i64,
    pub repos: Vec<RepoView>,
    pub advisories: Vec<AdvisoryView>,
    pub mirrors: Vec<MirrorView>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AuditView {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub allowed: bool,
    pub reason: String,
    pub remote_addr: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub priority: i64,
    pub state: String,
    pub push_id: Option<i64>,
    pub reason: String,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EventView {
    pub kind: String,
    pub message: String,
    pub push_id: Option<i64>,
    pub advisory: Option<String>,
    pub at_ms: i64,
}

/// One step of the emergency procedure for one push.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChecklistStepView {
    /// Stable key: `declared`, `uploaded`, `accepted`, `published`, `partners`,
    /// `metalink`, `verify-client`, `announced`, `monitor`, `retired`.
    pub key: String,
    pub title: String,
    /// `done`, `pending`, `failed` or `manual` (a step for a person).
    pub state: String,
    pub at_ms: Option<i64>,
    pub detail: String,
}

/// `GET /api/v1/pushes/{id}/checklist`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChecklistView {
    pub push_id: i64,
    pub advisory: String,
    pub state: String,
    pub steps: Vec<ChecklistStepView>,
}
