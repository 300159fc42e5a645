//! The JSON types of the API: the only types that derive `Serialize`/`Deserialize`
//! for the wire. Domain types never cross the wire as they are. They also
//! derive `ToSchema`: the OpenAPI document (`origin::http::openapi`) is
//! generated from them and their doc comments, so it cannot drift from them.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PUT`/`GET /api/v1/check-hold`: how long every critical check stands still
/// (sent to them as `Hotpush-Check-Hold` on the metalink); 0 = no hold.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckHold {
    pub seconds: u64,
}

/// Every error answer of the API: what went wrong and what to do about it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `unauthenticated`, `bad_package`.
    pub code: String,
    pub message: String,
    /// What to do about it (may be empty).
    #[serde(default)]
    pub hint: String,
}

/// `POST /api/v1/pushes`: the advisory a push ships.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPush {
    /// Letters, digits, `-`, `_`, `.` and `:`, at most 64, e.g. `FEDORA-2026-0001`.
    pub advisory: String,
    /// `critical`, `important`, `moderate` or `low` (any case).
    pub severity: String,
    /// CVE ids, e.g. `CVE-2026-12345`.
    #[serde(default)]
    pub cves: Vec<String>,
    pub summary: String,
    #[serde(default)]
    pub description: String,
    /// Empty: every configured release.
    #[serde(default)]
    pub releases: Vec<String>,
}

/// One package of a push, as verified at upload.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PushPackageView {
    pub file_name: String,
    pub nevra: String,
    pub arch: String,
    pub sha256: String,
    pub size: u64,
    /// The trusted key that signed it.
    pub signed_by: Option<String>,
}

/// A push: its advisory, its packages and where it stands.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PushView {
    pub id: i64,
    pub advisory: String,
    /// `uploading`, `accepted`, `published`, `failed`, `cancelled`.
    pub state: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub accepted_at_ms: Option<i64>,
    pub published_at_ms: Option<i64>,
    pub error: Option<String>,
    /// The advisory texts this push proposes; they become the advisory's when
    /// the push is published (absent for pushes stored before pushes carried
    /// texts).
    #[serde(default)]
    pub proposal: Option<AdvisoryProposal>,
    pub packages: Vec<PushPackageView>,
    /// Partners and whether each holds the current revision of every repo this push touched.
    pub mirrors: Vec<MirrorView>,
}

/// The advisory texts a push proposes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdvisoryProposal {
    pub severity: String,
    pub summary: String,
    pub description: String,
    pub cves: Vec<String>,
    /// Empty: every configured release.
    pub releases: Vec<String>,
}

/// An advisory and the packages it ships.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdvisoryView {
    pub id: String,
    /// `critical`, `important`, `moderate` or `low`.
    pub severity: String,
    pub summary: String,
    pub description: String,
    pub cves: Vec<String>,
    /// Empty: every configured release.
    pub releases: Vec<String>,
    /// `pending`, `live`, `retired`, or `cancelled` (every push of it was cancelled).
    pub state: String,
    /// Unix seconds.
    pub issued: i64,
    /// Unix seconds.
    pub updated: i64,
    /// NEVRAs.
    pub packages: Vec<String>,
}

/// One repository (channel/release/arch) and what it serves now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RepoView {
    pub repo: String,
    pub metalink: String,
    pub baseurl: String,
    pub revision: Option<u64>,
    pub repomd_sha256: Option<String>,
    pub published_at_ms: Option<i64>,
    pub packages: usize,
}

/// One partner mirror for one repository.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MirrorView {
    pub name: String,
    pub public_url: String,
    pub repo: String,
    /// The revision the partner holds.
    pub revision: u64,
    /// Holds the origin's current revision.
    pub current: bool,
    /// Its public URL was checked (hash and signature) at that revision.
    pub verified: bool,
    pub verified_at_ms: Option<i64>,
    /// How long it has been behind the origin.
    pub lag_ms: Option<i64>,
    pub last_error: Option<String>,
    /// An attempt to bring it to the origin's current revision ran to its end
    /// (it was verified, or the fan-out gave up on it and the catch-up retries).
    #[serde(default)]
    pub attempted: bool,
    /// Where the attempt in flight is (`data`, `commit`, `verify`), or where the
    /// last one ended (`verified`, or the stage it failed at).
    #[serde(default)]
    pub stage: Option<String>,
    /// Retries of the attempt in flight or the last one.
    #[serde(default)]
    pub retries: u32,
    /// What to do about `last_error`, in plain words.
    #[serde(default)]
    pub hint: Option<String>,
}

/// What an operator can do about a partner's push error (as the fan-out
/// records it), or `None` when the error says nothing recognisable.
pub fn partner_error_hint(error: &str) -> Option<&'static str> {
    let e = error.to_ascii_lowercase();
    let hint = if e.contains("unknownissuer")
        || e.contains("unknown issuer")
        || e.contains("self-signed")
        || e.contains("self signed")
        || e.contains("badsignature")
        || (e.contains("invalid peer certificate") && !e.contains("notvalidforname"))
    {
        "the partner's certificate is not trusted: set `ca_file` for it in mirrors.toml (a PEM file with its CA or its self-signed certificate)"
    } else if e.contains("notvalidforname") || e.contains("not valid for name") {
        "the partner's certificate does not name the host in its URL: fix `push_url` / `public_url` in mirrors.toml or the partner's certificate"
    } else if e.contains("expired") && e.contains("certificate") {
        "the partner's certificate has expired: ask its operator to renew it"
    } else if e.contains("connection refused") {
        "connection refused: is the receiver (`hotpush receive`) running and listening at the `push_url` in mirrors.toml?"
    } else if e.contains("dns error")
        || e.contains("failed to lookup")
        || e.contains("name or service not known")
    {
        "the partner's host name does not resolve: check `push_url` / `public_url` in mirrors.toml"
    } else if e.contains("timed out") || e.contains("deadline passed") {
        "the partner did not answer in time: check that it is up and that no firewall drops the connection"
    } else if e.contains("401 unauthorized") || e.contains("403 forbidden") {
        "the partner refused the request's signature: its `secret_file` in mirrors.toml must hold the secret its receiver was started with"
    } else if e.contains("serves other bytes") {
        "the partner's public URL does not serve what its receiver holds: check `public_url` in mirrors.toml"
    } else if e.contains("permission denied (publickey")
        || e.contains("host key verification failed")
    {
        "ssh refused the rsync push: check the partner's `secret_file` (ssh key) and `known_hosts_file`"
    } else if e.contains("no route to host") || e.contains("network is unreachable") {
        "the partner cannot be reached from the origin: check its address and the network"
    } else {
        return None;
    };
    Some(hint)
}

/// What is live where: repositories, advisories, partner mirrors.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

/// One audit log entry: an authorisation decision, allowed or refused.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

/// One publisher job.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    /// 0: security push; 1: routine (retirement, reconcile).
    pub priority: i64,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub push_id: Option<i64>,
    pub reason: String,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
}

/// Something that happened, as `/api/v1/events` sends it (the SSE event name
/// is the kind).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub kind: String,
    pub message: String,
    pub push_id: Option<i64>,
    pub advisory: Option<String>,
    pub at_ms: i64,
}

/// One step of the emergency procedure for one push.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChecklistView {
    pub push_id: i64,
    pub advisory: String,
    pub state: String,
    pub steps: Vec<ChecklistStepView>,
}

/// `POST /api/v1/advisories/{id}/retire`: the retirement is queued.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RetireView {
    pub advisory: String,
    /// `retired`.
    pub state: String,
    /// The publisher job that takes the packages out.
    pub job: i64,
}

/// `POST /api/v1/advisories/{id}/announcement/send`: the announcement was
/// handed to the mail server.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AnnouncementSentView {
    pub advisory: String,
    /// The `Subject:` it went out with.
    pub subject: String,
    pub from: String,
    pub to: Vec<String>,
    pub sent_at_ms: i64,
}

/// One trusted package-signing key of the running origin.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrustedKeyView {
    /// Upper-case hex fingerprint of the primary key.
    pub fingerprint: String,
    /// The last 16 hex digits of the fingerprint (what `rpm -K` names).
    pub key_id: String,
    /// `Name <email>` of each user id.
    pub user_ids: Vec<String>,
    /// `config` (`intake.trusted_keys`, changed in hotpush.toml) or `added`
    /// (`hotpush keys add`, removed with `hotpush keys remove`).
    pub source: String,
}

/// `GET /api/v1/keys`: the trusted package-signing keys uploads are checked against now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrustedKeysView {
    /// False when `require_signed_packages = false`: the keys are listed but not required.
    pub signatures_required: bool,
    pub keys: Vec<TrustedKeyView>,
}

/// `POST /api/v1/keys`: an ASCII-armored OpenPGP public key (or keyring) to trust.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrustedKey {
    /// `gpg --armor --export KEYID`.
    pub armored: String,
}

/// The answer to a change of the trusted keys: which keys it named, and the
/// whole list now in force.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrustedKeysChange {
    /// Fingerprints added or removed.
    pub changed: Vec<String>,
    pub now: TrustedKeysView,
}

/// One repo-signing key (public facts only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RepoKeyView {
    /// The v4 fingerprint, 40 upper-case hex digits.
    pub fingerprint: String,
    /// Its last 16 hex digits, as gpg and rpm print key ids.
    pub key_id: String,
}

/// `GET /api/v1/repo-key`: the repo-signing keys of the running origin. Every
/// key listed here is served at `/keys/repo.asc` (and each served repository's
/// `repodata/repomd.xml.key`); only `current` signs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RepoKeysView {
    /// The key that signs repomd.xml (and the metalink's repomd) now.
    pub current: RepoKeyView,
    /// A key prepared by `hotpush keys repo-next`: served beside the current
    /// one, so the `-repos` package can ship it before it signs anything.
    pub next: Option<RepoKeyView>,
    /// The key that signed before the last switch, still served until
    /// `hotpush keys repo-retire`, for clients that still hold only it.
    pub previous: Option<RepoKeyView>,
    /// What the rotation needs next, in words, with the command.
    pub step: String,
}

/// `POST /api/v1/repo-key/switch` and `/retire`: which key is meant (a
/// fingerprint or its last 16 hex digits), so a stale command changes nothing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RepoKeyChoice {
    pub fingerprint: String,
}

/// The answer to a change of the repo-signing keys.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RepoKeysChange {
    /// The fingerprint of the key prepared, switched to or retired.
    pub changed: String,
    /// The repositories whose current repomd.xml was signed again (a switch).
    pub resigned: Vec<String>,
    pub now: RepoKeysView,
}

/// `hotpush advisory show --json`: an advisory and where it is reachable
/// (computed by the client from `GET /api/v1/advisories/{id}` and
/// `GET /api/v1/status`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdvisoryReach {
    pub advisory: AdvisoryView,
    /// Every repository that carries (or, once live, will carry) its packages.
    pub repos: Vec<RepoReach>,
}

/// One repository of an advisory and the hosts that serve its current revision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RepoReach {
    /// `channel/release/arch`.
    pub repo: String,
    pub metalink: String,
    /// The origin's current revision (none: never published).
    pub revision: Option<u64>,
    /// The advisory is live and the origin serves a revision of this repo.
    pub at_origin: bool,
    /// Partners holding the origin's current revision, verified.
    pub partners_current: Vec<String>,
    /// Partners behind, with their last error if any.
    pub partners_behind: Vec<String>,
}

/// `POST /api/v1/pushes/{id}/approve`: optionally the digest the approver
/// reviewed (`ApprovalView.digest`); a push that no longer matches it is refused.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    #[serde(default)]
    pub digest: Option<String>,
    /// Break glass: publish now, alone, when no second member can be reached.
    /// The reason (1 to 500 characters, no control characters) is audited as
    /// `break-glass` and announced as an event (without the advisory id);
    /// review it afterwards.
    #[serde(default)]
    pub break_glass_reason: Option<String>,
}

/// Where a staged push stands with its approvals.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    pub push: i64,
    /// `staged` (waiting for more approvals) or `accepted` (queued for publication).
    pub state: String,
    /// sha256 of the advisory text and the exact packages that approvals are bound to.
    pub digest: String,
    /// The distinct members behind the push, the submitter first.
    pub approved_by: Vec<String>,
    /// `[auth] approvals_required`.
    pub required: u32,
}

#[cfg(test)]
mod tests {
    use super::partner_error_hint;

    /// The errors the fan-out records, as `io::http::describe` words them.
    #[test]
    fn partner_errors_get_a_hint_that_names_what_to_change() {
        let cases = [
            (
                "data: POST /push/v1/lacking: cannot connect: client error (Connect): invalid peer certificate: UnknownIssuer",
                "ca_file",
            ),
            (
                "data: POST /push/v1/lacking: cannot connect: client error (Connect): tcp connect error: Connection refused (os error 111)",
                "is the receiver",
            ),
            (
                "data: POST /push/v1/lacking: cannot connect: invalid peer certificate: NotValidForName",
                "does not name the host",
            ),
            ("data: POST /push/v1/lacking: 401 Unauthorized: bad signature", "secret_file"),
            ("verify: GET https://[::1]:1/pub/x/repodata/repomd.xml: timed out", "in time"),
            ("commit: the fan-out deadline passed (attempt 2)", "in time"),
            ("verify: https://[::1]:1/pub/x/repodata/repomd.xml serves other bytes (sha256 a, expected b)", "public_url"),
        ];
        for (error, expected) in cases {
            let hint = partner_error_hint(error).unwrap_or_else(|| panic!("no hint for {error}"));
            assert!(hint.contains(expected), "{error} -> {hint}");
        }
        // A port number is not a status code.
        assert_eq!(
            partner_error_hint(
                "data: POST https://[::1]:40123/x: 500 Internal Server Error: disk full"
            ),
            None
        );
    }
}

/// `GET /api/v1/webhooks/summary` (public): how the outbound webhooks fare,
/// as counts of public messages only (what is under embargo is not counted),
/// each webhook by its place in `hotpush.toml` (names and URLs may be
/// private). The messages themselves: `GET /api/v1/webhooks/deliveries`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookSummaryView {
    pub webhooks: Vec<WebhookCountsView>,
}

/// The public message counts of one `[[webhook]]`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookCountsView {
    /// 1 for the first `[[webhook]]` of `hotpush.toml`, and so on.
    pub number: u32,
    pub delivered: u64,
    /// Not delivered yet, still retried.
    pub pending: u64,
    /// Not delivered after every attempt.
    pub given_up: u64,
    pub last_delivered_at_ms: Option<i64>,
}

/// One outbound webhook message and how its delivery stands
/// (`GET /api/v1/webhooks/deliveries`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookDeliveryView {
    /// The `webhook-id` header: the same on every attempt.
    pub id: String,
    /// The `[[webhook]]` name.
    pub webhook: String,
    /// The dotted event type, e.g. `push.published`.
    #[serde(rename = "type")]
    pub kind_type: String,
    /// `delivered`, `pending` (retrying) or `given-up`.
    pub state: String,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub delivered_at_ms: Option<i64>,
    /// The last failed attempt's error (connection error or status and body start).
    pub last_error: Option<String>,
}

/// The body of `POST /api/v1/triggers/{name}`: a build system's request to push
/// signed builds, signed Standard Webhooks style. The advisory fields follow the
/// same rules as [`NewPush`]; the packages are named either as Koji builds
/// (`builds`: fetched from `fetch_base/packages/N/V/R/data/signed/SIGKEY/ARCH/FILE`)
/// or as URLs under the trigger's `fetch_base` (`urls`), or both.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// Letters, digits, `-`, `_`, `.` and `:`, at most 64, e.g. `CRIT-2026-0042`.
    pub advisory: String,
    /// `critical`, `important`, `moderate` or `low` (any case).
    pub severity: String,
    #[serde(default)]
    pub cves: Vec<String>,
    pub summary: String,
    #[serde(default)]
    pub description: String,
    /// Empty: every configured release.
    #[serde(default)]
    pub releases: Vec<String>,
    #[serde(default)]
    pub builds: Vec<TriggerBuild>,
    #[serde(default)]
    pub urls: Vec<TriggerUrl>,
}

/// One Koji build: its NVR, the signing key id Koji filed the signed copies
/// under, and the file names of the packages to push (subpackages allowed:
/// each must carry the build's version and release).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerBuild {
    /// `name-version-release`, e.g. `libfoo-1.2-3.fc43`.
    pub nvr: String,
    /// The key id in lowercase hex (8 to 40 digits), e.g. `aa50bb30`.
    pub sigkey: String,
    /// File names `N-V-R.ARCH.rpm`, e.g. `libfoo-devel-1.2-3.fc43.x86_64.rpm`.
    pub rpms: Vec<String>,
}

/// One package by URL; it must lie under the trigger's `fetch_base` and end in
/// the package's file name `N-V-R.ARCH.rpm`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerUrl {
    pub url: String,
    /// The sha256 of the file (64 hex digits); checked when given.
    #[serde(default)]
    pub sha256: Option<String>,
}
