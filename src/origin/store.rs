//! The state store: one SQLite database (WAL) holding users and tokens, the
//! append-only audit log, advisories, pushes and their packages, the durable job
//! queue, published revisions and partner state.
//!
//! This is the only module that contains SQL. It knows nothing of HTTP, of the
//! file tree or of repodata formats.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    grp TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    allowed INTEGER NOT NULL,
    reason TEXT NOT NULL,
    remote_addr TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS advisories (
    id TEXT PRIMARY KEY,
    severity TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    cves TEXT NOT NULL,
    releases TEXT NOT NULL,
    state TEXT NOT NULL,
    issued INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pushes (
    id INTEGER PRIMARY KEY,
    advisory_id TEXT NOT NULL REFERENCES advisories(id),
    state TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    accepted_at_ms INTEGER,
    published_at_ms INTEGER,
    error TEXT,
    created_by TEXT NOT NULL,
    severity TEXT,
    summary TEXT,
    description TEXT,
    cves TEXT,
    releases TEXT
);
CREATE TABLE IF NOT EXISTS push_packages (
    push_id INTEGER NOT NULL REFERENCES pushes(id),
    sha256 TEXT NOT NULL,
    file_name TEXT NOT NULL,
    nevra TEXT NOT NULL,
    arch TEXT NOT NULL,
    size INTEGER NOT NULL,
    time_file INTEGER NOT NULL,
    signed_by TEXT,
    PRIMARY KEY (push_id, file_name)
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    state TEXT NOT NULL,
    push_id INTEGER,
    reason TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    started_at_ms INTEGER,
    finished_at_ms INTEGER,
    error TEXT,
    advisory_id TEXT
);
CREATE INDEX IF NOT EXISTS jobs_queued ON jobs(state, priority, id);
CREATE TABLE IF NOT EXISTS repo_revisions (
    repo TEXT NOT NULL,
    revision INTEGER NOT NULL,
    content_key TEXT NOT NULL,
    repomd_sha256 TEXT NOT NULL,
    files TEXT NOT NULL,
    published_at_ms INTEGER NOT NULL,
    superseded_at_ms INTEGER,
    PRIMARY KEY (repo, revision)
);
CREATE TABLE IF NOT EXISTS mirror_state (
    mirror TEXT NOT NULL,
    repo TEXT NOT NULL,
    revision INTEGER NOT NULL,
    verified INTEGER NOT NULL,
    verified_at_ms INTEGER,
    last_attempt_ms INTEGER NOT NULL,
    last_error TEXT,
    PRIMARY KEY (mirror, repo)
);
CREATE TABLE IF NOT EXISTS staged_pushes (
    push_id INTEGER PRIMARY KEY REFERENCES pushes(id),
    submitted_by TEXT NOT NULL,
    digest TEXT NOT NULL,
    staged_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS push_approvals (
    push_id INTEGER NOT NULL REFERENCES pushes(id),
    user TEXT NOT NULL,
    digest TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (push_id, user)
);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    webhook TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    delivered_at_ms INTEGER,
    last_error TEXT,
    attempts_max INTEGER NOT NULL DEFAULT 20
);
CREATE INDEX IF NOT EXISTS webhook_outbox_pending ON webhook_outbox (webhook, delivered_at_ms, seq);
CREATE TABLE IF NOT EXISTS trigger_ids (
    trigger TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    seen_at_ms INTEGER NOT NULL,
    PRIMARY KEY (trigger, webhook_id)
);
CREATE TABLE IF NOT EXISTS trigger_fetches (
    push_id INTEGER PRIMARY KEY REFERENCES pushes(id),
    trigger TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    items TEXT NOT NULL,
    staged INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    finished_at_ms INTEGER,
    error TEXT
);
"#;

/// A handle to the database; cheap to clone, serialised by a mutex (every
/// statement here is short).
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

/// What a run that failed for lack of disk space queues again
/// ([`Store::finish_run_retrying`]).
#[derive(Debug, Clone, Default)]
pub struct Retry {
    pub pushes: Vec<i64>,
    /// One more run without a push (routine work failed).
    pub run: bool,
    pub priority: i64,
}

#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub user: String,
    pub group: String,
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub allowed: bool,
    pub reason: String,
    pub remote_addr: String,
}

#[derive(Debug, Clone)]
pub struct AdvisoryRow {
    pub id: String,
    pub severity: String,
    pub summary: String,
    pub description: String,
    pub cves: Vec<String>,
    pub releases: Vec<String>,
    /// `pending` (no accepted push yet), `live`, `retired`.
    pub state: String,
    pub issued: i64,
    pub updated: i64,
    pub created_by: String,
}

/// The texts of an advisory that a push proposes. They stay on the push until
/// it is published; only then do they become the advisory's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryText {
    pub severity: String,
    pub summary: String,
    pub description: String,
    pub cves: Vec<String>,
    pub releases: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PushRow {
    pub id: i64,
    pub advisory_id: String,
    /// `uploading`, `accepted`, `published`, `failed`.
    pub state: String,
    pub created_at_ms: i64,
    pub accepted_at_ms: Option<i64>,
    pub published_at_ms: Option<i64>,
    pub error: Option<String>,
    pub created_by: String,
    /// What the push proposes for its advisory (`None` for pushes stored
    /// before pushes carried their texts: they change nothing).
    pub proposal: Option<AdvisoryText>,
}

/// Why [`Store::accept_push`] did not accept a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptRefusal {
    NoSuchPush,
    /// The push is no longer `uploading`: its state.
    NotUploading(String),
    /// The push has no package.
    Empty,
}

/// Why a push could not be cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelRefusal {
    NoSuchPush,
    /// The push is past the point of no return (`accepted`, `published`) or
    /// already over (`failed`, `cancelled`): its state.
    NotCancellable(String),
}

/// The push states that [`Store::cancel_push`] may end.
/// (`fetching`: a build-system trigger's push whose packages hotpush is fetching.)
pub const CANCELLABLE_STATES: [&str; 3] = ["uploading", "fetching", "staged"];

/// One package in a [`Snapshot`], with the push and advisory it belongs to.
#[derive(Debug, Clone)]
pub struct SnapshotPackage {
    pub advisory_id: String,
    pub push_id: i64,
    pub package: PushPackage,
}

#[derive(Debug, Clone)]
pub struct PushPackage {
    pub sha256: String,
    pub file_name: String,
    pub nevra: String,
    pub arch: String,
    pub size: u64,
    pub time_file: u64,
    pub signed_by: Option<String>,
}

/// Another push already holds a package's file name in different bytes.
#[derive(Debug, Clone)]
pub struct PackageHeld {
    pub advisory_id: String,
    /// `pending` or `live`.
    pub advisory_state: String,
    pub push_id: i64,
    /// `uploading`, `accepted` or `published`.
    pub push_state: String,
    pub nevra: String,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub priority: i64,
    pub state: String,
    pub push_id: Option<i64>,
    pub reason: String,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub error: Option<String>,
    /// The advisory the job is about, if any (a push's or a retirement's).
    pub advisory_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RevisionRow {
    pub repo: String,
    pub revision: u64,
    pub content_key: String,
    pub repomd_sha256: String,
    /// Paths relative to the repo directory that this revision's repomd.xml needs.
    pub files: Vec<String>,
    pub published_at_ms: i64,
    pub superseded_at_ms: Option<i64>,
}

/// How the messages of one webhook stand (`Store::webhook_counts`).
#[derive(Debug, Clone)]
pub struct WebhookCounts {
    pub webhook: String,
    pub delivered: u64,
    /// Not delivered, still retried.
    pub pending: u64,
    /// Not delivered after every attempt.
    pub given_up: u64,
    pub last_delivered_at_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct MirrorStateRow {
    pub mirror: String,
    pub repo: String,
    pub revision: u64,
    pub verified: bool,
    pub verified_at_ms: Option<i64>,
    pub last_attempt_ms: i64,
    pub last_error: Option<String>,
    /// The revision of the last attempt that ran to its end (verified or given up).
    pub attempted_revision: u64,
    /// Where the attempt in flight is (`data`, `commit`, `verify`), or where the
    /// last one ended (`verified`, or the stage it failed at).
    pub stage: Option<String>,
    /// Retries of the attempt in flight or the last one.
    pub retries: u32,
}

/// What one publisher run reads, in the same transaction that claims its jobs:
/// the run plans from this and does not read the store again.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every advisory, with the texts its published pushes gave it.
    pub advisories: Vec<AdvisoryRow>,
    /// Every package of every published push, and of every push this run
    /// claimed (whatever the state of their advisories: the plan decides).
    pub packages: Vec<SnapshotPackage>,
    /// The newest revision of each repository, by repo path.
    pub current: BTreeMap<String, RevisionRow>,
    /// Revisions whose files must stay: the current ones and those superseded
    /// at or after the `retained_since_ms` the snapshot was taken with.
    pub retained: Vec<RevisionRow>,
    /// The pushes this run claimed that are accepted (submitted, not yet
    /// published), by id, with their proposed texts.
    pub pushes: BTreeMap<i64, PushRow>,
}

/// Columns added after the first release, for databases created before them:
/// (table, column, type). `CREATE TABLE IF NOT EXISTS` does not add them.
const ADDED_COLUMNS: [(&str, &str, &str); 10] = [
    ("pushes", "severity", "TEXT"),
    ("pushes", "summary", "TEXT"),
    ("pushes", "description", "TEXT"),
    ("pushes", "cves", "TEXT"),
    ("pushes", "releases", "TEXT"),
    ("jobs", "advisory_id", "TEXT"),
    ("mirror_state", "attempted_revision", "INTEGER"),
    ("mirror_state", "stage", "TEXT"),
    ("mirror_state", "retries", "INTEGER"),
    // `[[webhook]] attempts_max` at enqueue time; older rows had the fixed 20.
    (
        "webhook_outbox",
        "attempts_max",
        "INTEGER NOT NULL DEFAULT 20",
    ),
];

fn migrate(conn: &Connection) -> anyhow::Result<()> {
    for (table, column, kind) in ADDED_COLUMNS {
        let present: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
            params![column],
            |r| r.get(0),
        )?;
        if present == 0 {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The columns [`Store::push_from_row`] reads, in its order.
const PUSH_COLUMNS: &str = "id, advisory_id, state, created_at_ms, accepted_at_ms, published_at_ms, error, created_by, severity, summary, description, cves, releases";

/// The columns [`Store::job_from_row`] reads, in its order.
const JOB_COLUMNS: &str = "id, kind, priority, state, push_id, reason, created_at_ms, started_at_ms, finished_at_ms, error, advisory_id";

fn split_list(s: String) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the state database `{}`", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("cannot create the schema in `{}`", path.display()))?;
        migrate(&conn)
            .with_context(|| format!("cannot update the schema in `{}`", path.display()))?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    // --- tokens and audit ---------------------------------------------------

    pub fn add_token(&self, user: &str, group: &str, token_sha256: &str) -> anyhow::Result<()> {
        self.conn().execute(
            "INSERT INTO tokens (user, grp, token_sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![user, group, token_sha256, now_ms() / 1000],
        )?;
        Ok(())
    }

    pub fn token_owner(&self, token_sha256: &str) -> anyhow::Result<Option<TokenOwner>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT user, grp FROM tokens WHERE token_sha256 = ?1",
                params![token_sha256],
                |r| {
                    Ok(TokenOwner {
                        user: r.get(0)?,
                        group: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn count_tokens(&self) -> anyhow::Result<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM tokens", [], |r| r.get(0))?)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        allowed: bool,
        reason: &str,
        remote_addr: &str,
    ) -> anyhow::Result<()> {
        self.conn().execute(
            "INSERT INTO audit (at_ms, actor, action, target, allowed, reason, remote_addr)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                now_ms(),
                actor,
                action,
                target,
                allowed,
                reason,
                remote_addr
            ],
        )?;
        Ok(())
    }

    /// When the origin last mailed `advisory`'s announcement (the newest
    /// allowed `announce-sent` audit row), in ms.
    pub fn announced_at_ms(&self, advisory: &str) -> anyhow::Result<Option<i64>> {
        Ok(self.conn().query_row(
            "SELECT MAX(at_ms) FROM audit WHERE action = 'announce-sent' AND target = ?1 AND allowed",
            params![advisory],
            |r| r.get(0),
        )?)
    }

    pub fn audit_entries(&self, limit: u32) -> anyhow::Result<Vec<AuditEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at_ms, actor, action, target, allowed, reason, remote_addr
             FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at_ms: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                allowed: r.get(5)?,
                reason: r.get(6)?,
                remote_addr: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // --- advisories and pushes ----------------------------------------------

    /// Opens a push for `advisory_id` proposing `text`, in one transaction. A
    /// new advisory is created `pending` with these texts (nothing shows it
    /// without a token until a push of it is published); an existing one is
    /// left as it is: its texts change when this push is published.
    pub fn open_push(
        &self,
        advisory_id: &str,
        text: &AdvisoryText,
        created_by: &str,
    ) -> anyhow::Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id = Self::insert_push(&tx, advisory_id, text, created_by, "uploading")?;
        tx.commit()?;
        Ok(id)
    }

    /// Inside the caller's transaction: the advisory (new ones `pending`, a
    /// `cancelled` one pending again) and a push in `state`, as
    /// [`Store::open_push`] describes.
    fn insert_push(
        tx: &rusqlite::Transaction<'_>,
        advisory_id: &str,
        text: &AdvisoryText,
        created_by: &str,
        state: &str,
    ) -> anyhow::Result<i64> {
        let now = now_ms();
        tx.execute(
            "INSERT OR IGNORE INTO advisories (id, severity, summary, description, cves, releases, state, issued, updated, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7, ?8)",
            params![
                advisory_id,
                text.severity,
                text.summary,
                text.description,
                text.cves.join(","),
                text.releases.join(","),
                now / 1000,
                created_by
            ],
        )?;
        // An advisory whose every push was cancelled is pending again.
        tx.execute(
            "UPDATE advisories SET state = 'pending', updated = ?2 WHERE id = ?1 AND state = 'cancelled'",
            params![advisory_id, now / 1000],
        )?;
        tx.execute(
            "INSERT INTO pushes (advisory_id, state, created_at_ms, created_by, severity, summary, description, cves, releases)
             VALUES (?1, ?9, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                advisory_id,
                now,
                created_by,
                text.severity,
                text.summary,
                text.description,
                text.cves.join(","),
                text.releases.join(","),
                state
            ],
        )?;
        Ok(tx.last_insert_rowid())
    }

    /// The advisories that clients can see: those with a published push.
    pub fn published_advisories(&self) -> anyhow::Result<std::collections::BTreeSet<String>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT DISTINCT advisory_id FROM pushes WHERE state = 'published'")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn advisory_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AdvisoryRow> {
        Ok(AdvisoryRow {
            id: r.get(0)?,
            severity: r.get(1)?,
            summary: r.get(2)?,
            description: r.get(3)?,
            cves: split_list(r.get(4)?),
            releases: split_list(r.get(5)?),
            state: r.get(6)?,
            issued: r.get(7)?,
            updated: r.get(8)?,
            created_by: r.get(9)?,
        })
    }

    pub fn advisory(&self, id: &str) -> anyhow::Result<Option<AdvisoryRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, severity, summary, description, cves, releases, state, issued, updated, created_by
                 FROM advisories WHERE id = ?1",
                params![id],
                Self::advisory_from_row,
            )
            .optional()?)
    }

    pub fn advisories(&self) -> anyhow::Result<Vec<AdvisoryRow>> {
        Self::query_advisories(&self.conn())
    }

    fn query_advisories(conn: &Connection) -> anyhow::Result<Vec<AdvisoryRow>> {
        let mut stmt = conn.prepare(
            "SELECT id, severity, summary, description, cves, releases, state, issued, updated, created_by
             FROM advisories ORDER BY issued DESC, id",
        )?;
        let rows = stmt.query_map([], Self::advisory_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn set_advisory_state(&self, id: &str, state: &str) -> anyhow::Result<bool> {
        let n = self.conn().execute(
            "UPDATE advisories SET state = ?2, updated = ?3 WHERE id = ?1",
            params![id, state, now_ms() / 1000],
        )?;
        Ok(n > 0)
    }

    fn push_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PushRow> {
        Ok(PushRow {
            id: r.get(0)?,
            advisory_id: r.get(1)?,
            state: r.get(2)?,
            created_at_ms: r.get(3)?,
            accepted_at_ms: r.get(4)?,
            published_at_ms: r.get(5)?,
            error: r.get(6)?,
            created_by: r.get(7)?,
            proposal: match r.get::<_, Option<String>>(8)? {
                None => None,
                Some(severity) => Some(AdvisoryText {
                    severity,
                    summary: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
                    description: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
                    cves: split_list(r.get::<_, Option<String>>(11)?.unwrap_or_default()),
                    releases: split_list(r.get::<_, Option<String>>(12)?.unwrap_or_default()),
                }),
            },
        })
    }

    pub fn push(&self, id: i64) -> anyhow::Result<Option<PushRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {PUSH_COLUMNS} FROM pushes WHERE id = ?1"),
                params![id],
                Self::push_from_row,
            )
            .optional()?)
    }

    pub fn pushes(&self, limit: u32) -> anyhow::Result<Vec<PushRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {PUSH_COLUMNS} FROM pushes ORDER BY id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map(params![limit], Self::push_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Which other push holds `file_name` in bytes other than `sha256` (see
    /// [`Store::add_push_package`]), if any.
    pub fn package_held(
        &self,
        push_id: i64,
        file_name: &str,
        sha256: &str,
    ) -> anyhow::Result<Option<PackageHeld>> {
        Self::query_package_held(&self.conn(), push_id, file_name, sha256)
    }

    fn query_package_held(
        conn: &Connection,
        push_id: i64,
        file_name: &str,
        sha256: &str,
    ) -> anyhow::Result<Option<PackageHeld>> {
        Ok(conn
            .query_row(
                "SELECT a.id, a.state, p.id, p.state, pp.nevra, pp.sha256
                 FROM push_packages pp JOIN pushes p ON p.id = pp.push_id
                 JOIN advisories a ON a.id = p.advisory_id
                 WHERE pp.file_name = ?1 AND pp.sha256 <> ?2 AND pp.push_id <> ?3
                   AND a.state <> 'retired' AND p.state IN ('uploading', 'fetching', 'staged', 'accepted', 'published')
                 ORDER BY p.id LIMIT 1",
                params![file_name, sha256, push_id],
                |r| {
                    Ok(PackageHeld {
                        advisory_id: r.get(0)?,
                        advisory_state: r.get(1)?,
                        push_id: r.get(2)?,
                        push_state: r.get(3)?,
                        nevra: r.get(4)?,
                        sha256: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records an uploaded, verified package of a push (replacing one of the same
    /// name in this push), unless another push holds the same file name (name,
    /// version, release, arch) in different bytes: staged (uploading, staged or accepted)
    /// or published, in an advisory that is not retired. The check and the insert
    /// are one transaction, so two uploads cannot both pass it; and the insert
    /// happens only while the push is `uploading` (the state check is in the
    /// statement), so a package never joins a push submitted meanwhile.
    /// `Ok(Ok(false))`: the push no longer takes packages.
    pub fn add_push_package(
        &self,
        push_id: i64,
        p: &PushPackage,
    ) -> anyhow::Result<Result<bool, PackageHeld>> {
        self.add_package_in_state(push_id, p, "uploading")
    }

    /// [`Store::add_push_package`] for a push in `state` (`uploading`, or
    /// `fetching` for a trigger's push).
    pub fn add_package_in_state(
        &self,
        push_id: i64,
        p: &PushPackage,
        state: &str,
    ) -> anyhow::Result<Result<bool, PackageHeld>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let held = Self::query_package_held(&tx, push_id, &p.file_name, &p.sha256)?;
        if let Some(held) = held {
            return Ok(Err(held));
        }
        let n = tx.execute(
            "INSERT OR REPLACE INTO push_packages (push_id, sha256, file_name, nevra, arch, size, time_file, signed_by)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
             WHERE EXISTS (SELECT 1 FROM pushes WHERE id = ?1 AND state = ?9)",
            params![
                push_id,
                p.sha256,
                p.file_name,
                p.nevra,
                p.arch,
                p.size as i64,
                p.time_file as i64,
                p.signed_by,
                state
            ],
        )?;
        tx.commit()?;
        Ok(Ok(n == 1))
    }

    /// The sha256 of every blob a push may still need: the packages of every
    /// push that is not cancelled (open, staged, accepted, published, or failed
    /// and waiting for its retry). A blob outside this set is debris: an upload
    /// refused after its bytes were kept, or a cancelled push's package.
    pub fn blobs_in_use(&self) -> anyhow::Result<std::collections::BTreeSet<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT DISTINCT pp.sha256 FROM push_packages pp JOIN pushes p ON p.id = pp.push_id
             WHERE p.state != 'cancelled'",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn push_packages(&self, push_id: i64) -> anyhow::Result<Vec<PushPackage>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT sha256, file_name, nevra, arch, size, time_file, signed_by
             FROM push_packages WHERE push_id = ?1 ORDER BY file_name",
        )?;
        let rows = stmt.query_map(params![push_id], |r| {
            Ok(PushPackage {
                sha256: r.get(0)?,
                file_name: r.get(1)?,
                nevra: r.get(2)?,
                arch: r.get(3)?,
                size: r.get::<_, i64>(4)? as u64,
                time_file: r.get::<_, i64>(5)? as u64,
                signed_by: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Accepts a push and queues its publication in one transaction: once this
    /// returns `Ok(Ok(job))`, the push survives any crash. Only an `uploading`
    /// push with at least one package is accepted; the state changes in the
    /// same transaction that checks it, so an upload that loses the race is
    /// refused and one that wins it is part of what was submitted. The
    /// advisory itself is not touched: its texts and state change when the
    /// push is published ([`Store::finish_run`]).
    pub fn accept_push(
        &self,
        push_id: i64,
        priority: i64,
    ) -> anyhow::Result<Result<i64, AcceptRefusal>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_ms();
        let advisory = match Self::submittable(&tx, push_id)? {
            Ok(advisory) => advisory,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let job = Self::accept_and_queue(
            &tx,
            push_id,
            "uploading",
            &advisory,
            priority,
            &format!("push {push_id} of {advisory}"),
            now,
        )?;
        tx.commit()?;
        Ok(Ok(job))
    }

    /// Inside the caller's transaction: marks a push in state `from` accepted
    /// and queues its publication job; returns the job id.
    fn accept_and_queue(
        tx: &rusqlite::Transaction<'_>,
        push_id: i64,
        from: &str,
        advisory: &str,
        priority: i64,
        reason: &str,
        now: i64,
    ) -> anyhow::Result<i64> {
        tx.execute(
            "UPDATE pushes SET state = 'accepted', accepted_at_ms = ?2 WHERE id = ?1 AND state = ?3",
            params![push_id, now, from],
        )?;
        tx.execute(
            "INSERT INTO jobs (kind, priority, state, push_id, reason, created_at_ms, advisory_id)
             VALUES ('publish', ?1, 'queued', ?2, ?3, ?4, ?5)",
            params![priority, push_id, reason, now, advisory],
        )?;
        Ok(tx.last_insert_rowid())
    }

    /// Whether a push can be submitted (accepted or staged): it exists, is
    /// `uploading` and has at least one package. Run inside the transaction
    /// that changes its state. Returns its advisory id.
    fn submittable(
        tx: &rusqlite::Transaction<'_>,
        push_id: i64,
    ) -> anyhow::Result<Result<String, AcceptRefusal>> {
        let row: Option<(String, String)> = tx
            .query_row(
                "SELECT advisory_id, state FROM pushes WHERE id = ?1",
                params![push_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((advisory, state)) = row else {
            return Ok(Err(AcceptRefusal::NoSuchPush));
        };
        if state != "uploading" {
            return Ok(Err(AcceptRefusal::NotUploading(state)));
        }
        let packages: i64 = tx.query_row(
            "SELECT COUNT(*) FROM push_packages WHERE push_id = ?1",
            params![push_id],
            |r| r.get(0),
        )?;
        if packages == 0 {
            return Ok(Err(AcceptRefusal::Empty));
        }
        Ok(Ok(advisory))
    }

    /// Stages an `uploading` push with at least one package (the two-person
    /// rule): it takes no more packages and waits for approvals bound to
    /// `digest`. Refusals as [`Store::accept_push`]'s.
    pub fn stage_push(
        &self,
        push_id: i64,
        submitted_by: &str,
        digest: &str,
    ) -> anyhow::Result<Result<(), AcceptRefusal>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let Err(refusal) = Self::submittable(&tx, push_id)? {
            return Ok(Err(refusal));
        }
        tx.execute(
            "UPDATE pushes SET state = 'staged' WHERE id = ?1 AND state = 'uploading'",
            params![push_id],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO staged_pushes (push_id, submitted_by, digest, staged_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![push_id, submitted_by, digest, now_ms()],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    /// A staged push's submitter, digest and staging time.
    pub fn staged(&self, push_id: i64) -> anyhow::Result<Option<(String, String, i64)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT submitted_by, digest, staged_at_ms FROM staged_pushes WHERE push_id = ?1",
                params![push_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    /// Staged pushes still waiting that were staged before `before_ms`.
    pub fn staged_before(&self, before_ms: i64) -> anyhow::Result<Vec<i64>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT s.push_id FROM staged_pushes s JOIN pushes p ON p.id = s.push_id
             WHERE p.state = 'staged' AND s.staged_at_ms < ?1 ORDER BY s.push_id",
        )?;
        let rows = stmt.query_map(params![before_ms], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records `user`'s approval of a staged push bound to `digest` (once per
    /// user) and returns the distinct users whose approvals match the push's
    /// current digest, the submitter included.
    pub fn approve_push(
        &self,
        push_id: i64,
        user: &str,
        digest: &str,
    ) -> anyhow::Result<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR REPLACE INTO push_approvals (push_id, user, digest, at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![push_id, user, digest, now_ms()],
        )?;
        let mut users: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT a.user FROM push_approvals a JOIN staged_pushes s ON s.push_id = a.push_id
                 WHERE a.push_id = ?1 AND a.digest = s.digest AND a.user != s.submitted_by",
            )?;
            let rows = stmt.query_map(params![push_id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let submitter: String = tx.query_row(
            "SELECT submitted_by FROM staged_pushes WHERE push_id = ?1",
            params![push_id],
            |r| r.get(0),
        )?;
        users.insert(0, submitter);
        tx.commit()?;
        Ok(users)
    }

    /// Accepts a staged push (enough approvals) and queues its publication in
    /// one transaction, as [`Store::accept_push`] does for an uploading one.
    pub fn accept_staged(&self, push_id: i64, priority: i64) -> anyhow::Result<Option<i64>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_ms();
        let advisory = Self::advisory_of_push_in(&tx, push_id, "staged")?;
        let Some(advisory) = advisory else {
            return Ok(None);
        };
        let job = Self::accept_and_queue(
            &tx,
            push_id,
            "staged",
            &advisory,
            priority,
            &format!("push {push_id} of {advisory} (approved)"),
            now,
        )?;
        tx.commit()?;
        Ok(Some(job))
    }

    /// Cancels a push that is not yet published (`uploading`, `fetching` or `staged`), in
    /// one transaction: the push becomes `cancelled` with `reason` as its
    /// error, so nothing of it is ever published and its packages are no
    /// longer part of any open push; an advisory left with no other open,
    /// accepted or published push goes from `pending` to `cancelled`.
    /// Returns the advisory id.
    pub fn cancel_push(
        &self,
        push_id: i64,
        reason: &str,
    ) -> anyhow::Result<Result<String, CancelRefusal>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let row: Option<(String, String)> = tx
            .query_row(
                "SELECT advisory_id, state FROM pushes WHERE id = ?1",
                params![push_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((advisory, state)) = row else {
            return Ok(Err(CancelRefusal::NoSuchPush));
        };
        if !CANCELLABLE_STATES.contains(&state.as_str()) {
            return Ok(Err(CancelRefusal::NotCancellable(state)));
        }
        Self::end_push(&tx, push_id, &advisory, "cancelled", reason, now_ms())?;
        tx.commit()?;
        Ok(Ok(advisory))
    }

    /// The advisory of push `push_id` if the push is in `state`.
    fn advisory_of_push_in(
        tx: &rusqlite::Transaction<'_>,
        push_id: i64,
        state: &str,
    ) -> anyhow::Result<Option<String>> {
        Ok(tx
            .query_row(
                "SELECT advisory_id FROM pushes WHERE id = ?1 AND state = ?2",
                params![push_id, state],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Ends push `push_id` of `advisory` as `state` (`cancelled` or `failed`)
    /// with `reason` as its error; an advisory left with no other open,
    /// accepted or published push goes from `pending` to `cancelled`.
    fn end_push(
        tx: &rusqlite::Transaction<'_>,
        push_id: i64,
        advisory: &str,
        state: &str,
        reason: &str,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        tx.execute(
            "UPDATE pushes SET state = ?2, error = ?3 WHERE id = ?1",
            params![push_id, state, reason],
        )?;
        let others: i64 = tx.query_row(
            "SELECT COUNT(*) FROM pushes WHERE advisory_id = ?1 AND id != ?2
             AND state IN ('uploading', 'fetching', 'staged', 'accepted', 'published')",
            params![advisory, push_id],
            |r| r.get(0),
        )?;
        if others == 0 {
            tx.execute(
                "UPDATE advisories SET state = 'cancelled', updated = ?2 WHERE id = ?1 AND state = 'pending'",
                params![advisory, now_ms / 1000],
            )?;
        }
        Ok(())
    }

    /// Every package of every accepted or published push of a live advisory.
    pub fn live_packages(&self) -> anyhow::Result<Vec<(String, PushPackage)>> {
        Self::query_live_packages(&self.conn())
    }

    fn query_live_packages(conn: &Connection) -> anyhow::Result<Vec<(String, PushPackage)>> {
        let mut stmt = conn.prepare(
            "SELECT DISTINCT a.id, pp.sha256, pp.file_name, pp.nevra, pp.arch, pp.size, pp.time_file, pp.signed_by
             FROM advisories a JOIN pushes p ON p.advisory_id = a.id
             JOIN push_packages pp ON pp.push_id = p.id
             WHERE a.state = 'live' AND p.state IN ('accepted', 'published')
             ORDER BY a.id, pp.file_name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                PushPackage {
                    sha256: r.get(1)?,
                    file_name: r.get(2)?,
                    nevra: r.get(3)?,
                    arch: r.get(4)?,
                    size: r.get::<_, i64>(5)? as u64,
                    time_file: r.get::<_, i64>(6)? as u64,
                    signed_by: r.get(7)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // --- jobs ---------------------------------------------------------------

    pub fn enqueue_job(&self, kind: &str, priority: i64, reason: &str) -> anyhow::Result<i64> {
        self.enqueue_advisory_job(kind, priority, reason, None)
    }

    /// Queues a job about `advisory` (e.g. its retirement): the public activity
    /// view hides it while the advisory is not published.
    pub fn enqueue_advisory_job(
        &self,
        kind: &str,
        priority: i64,
        reason: &str,
        advisory: Option<&str>,
    ) -> anyhow::Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO jobs (kind, priority, state, reason, created_at_ms, advisory_id) VALUES (?1, ?2, 'queued', ?3, ?4, ?5)",
            params![kind, priority, reason, now_ms(), advisory],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Jobs left `running` by a crash go back to the queue.
    pub fn requeue_interrupted(&self) -> anyhow::Result<usize> {
        Ok(self.conn().execute(
            "UPDATE jobs SET state = 'queued', started_at_ms = NULL WHERE state = 'running'",
            [],
        )?)
    }

    /// Takes every queued job at once (they are coalesced into one run), highest
    /// priority (lowest number) first, marks them running, and reads in the same
    /// transaction the [`Snapshot`] the run publishes from. `None` when no job
    /// is queued.
    ///
    /// The transaction takes the write lock first (`BEGIN IMMEDIATE`): a deferred
    /// one that reads and then writes fails at once, without waiting, when
    /// another process (e.g. `hotpush token create`) wrote in between, and the
    /// run would then wait for the next wake-up.
    pub fn claim_run(
        &self,
        retained_since_ms: i64,
    ) -> anyhow::Result<Option<(Vec<JobRow>, Snapshot)>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let jobs: Vec<JobRow> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'queued' ORDER BY priority, id LIMIT 1000"
            ))?;
            let rows = stmt.query_map([], Self::job_from_row)?;
            rows.collect::<Result<_, _>>()?
        };
        if jobs.is_empty() {
            return Ok(None);
        }
        let now = now_ms();
        for j in &jobs {
            tx.execute(
                "UPDATE jobs SET state = 'running', started_at_ms = ?2 WHERE id = ?1",
                params![j.id, now],
            )?;
        }
        let mut pushes = BTreeMap::new();
        for (j, id) in jobs.iter().filter_map(|j| j.push_id.map(|id| (j, id))) {
            let push = tx
                .query_row(
                    &format!("SELECT {PUSH_COLUMNS} FROM pushes WHERE id = ?1"),
                    params![id],
                    Self::push_from_row,
                )
                .optional()?;
            // A `retry` job brings back its push, failed by a full disk.
            if let Some(push) =
                push.filter(|p| p.state == "accepted" || (p.state == "failed" && j.kind == "retry"))
            {
                pushes.insert(id, push);
            }
        }
        let mut packages = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT p.advisory_id, p.id, p.state, pp.sha256, pp.file_name, pp.nevra, pp.arch, pp.size, pp.time_file, pp.signed_by
                 FROM pushes p JOIN push_packages pp ON pp.push_id = p.id
                 WHERE p.state IN ('accepted', 'published', 'failed')
                 ORDER BY p.id, pp.file_name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(2)?,
                    SnapshotPackage {
                        advisory_id: r.get(0)?,
                        push_id: r.get(1)?,
                        package: PushPackage {
                            sha256: r.get(3)?,
                            file_name: r.get(4)?,
                            nevra: r.get(5)?,
                            arch: r.get(6)?,
                            size: r.get::<_, i64>(7)? as u64,
                            time_file: r.get::<_, i64>(8)? as u64,
                            signed_by: r.get(9)?,
                        },
                    },
                ))
            })?;
            for row in rows {
                let (state, p) = row?;
                if state == "published" || pushes.contains_key(&p.push_id) {
                    packages.push(p);
                }
            }
        }
        let retained = Self::query_revisions(
            &tx,
            "WHERE superseded_at_ms IS NULL OR superseded_at_ms >= ?1",
            params![retained_since_ms],
        )?;
        let current = Self::query_revisions(
            &tx,
            "r WHERE r.revision = (SELECT MAX(revision) FROM repo_revisions WHERE repo = r.repo)",
            [],
        )?
        .into_iter()
        .map(|r| (r.repo.clone(), r))
        .collect();
        let snapshot = Snapshot {
            advisories: Self::query_advisories(&tx)?,
            packages,
            current,
            retained,
            pushes,
        };
        tx.commit()?;
        Ok(Some((jobs, snapshot)))
    }

    fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
        Ok(JobRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            priority: r.get(2)?,
            state: r.get(3)?,
            push_id: r.get(4)?,
            reason: r.get(5)?,
            created_at_ms: r.get(6)?,
            started_at_ms: r.get(7)?,
            finished_at_ms: r.get(8)?,
            error: r.get(9)?,
            advisory_id: r.get(10)?,
        })
    }

    /// Ends a run in one transaction. Each push in `published` becomes
    /// `published` and gives its advisory the texts it proposed (in push order,
    /// so the newest wins) and the state `live`; each push in `failed` becomes
    /// `failed` with its own reason, its advisory untouched. A job of a push
    /// ends as its push did; every other job `done`, or `failed` with
    /// `run_error`.
    pub fn finish_run(
        &self,
        jobs: &[JobRow],
        published: &[i64],
        failed: &[(i64, String)],
        run_error: Option<&str>,
    ) -> anyhow::Result<()> {
        self.finish_run_retrying(jobs, published, failed, run_error, &Retry::default())
    }

    /// [`Store::finish_run`], and in the same transaction queues a `retry`
    /// job for each push in `retry.pushes` (failed for a reason that passes:
    /// a full disk) and one more run when `retry.run`. A retried push stays
    /// `failed` with its reason until its retry publishes it.
    pub fn finish_run_retrying(
        &self,
        jobs: &[JobRow],
        published: &[i64],
        failed: &[(i64, String)],
        run_error: Option<&str>,
        retry: &Retry,
    ) -> anyhow::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        for id in &retry.pushes {
            tx.execute(
                "INSERT INTO jobs (kind, priority, state, push_id, reason, created_at_ms)
                 VALUES ('retry', ?1, 'queued', ?2, ?3, ?4)",
                params![
                    retry.priority,
                    id,
                    format!("retry push {id} after a failed publication"),
                    now
                ],
            )?;
        }
        if retry.run {
            tx.execute(
                "INSERT INTO jobs (kind, priority, state, reason, created_at_ms)
                 VALUES ('retry', ?1, 'queued', 'retry after a failed publication', ?2)",
                params![retry.priority, now],
            )?;
        }
        let mut published_sorted = published.to_vec();
        published_sorted.sort_unstable();
        for id in &published_sorted {
            let n = tx.execute(
                // `failed` too: a push failed by a full disk and retried.
                "UPDATE pushes SET state = 'published', published_at_ms = ?2, error = NULL
                 WHERE id = ?1 AND state IN ('accepted', 'failed')",
                params![id, now],
            )?;
            if n == 0 {
                continue;
            }
            tx.execute(
                "UPDATE advisories SET
                    severity = COALESCE(p.severity, advisories.severity),
                    summary = COALESCE(p.summary, advisories.summary),
                    description = COALESCE(p.description, advisories.description),
                    cves = COALESCE(p.cves, advisories.cves),
                    releases = COALESCE(p.releases, advisories.releases),
                    updated = MAX(advisories.updated, COALESCE(p.accepted_at_ms, 0) / 1000),
                    state = 'live'
                 FROM (SELECT * FROM pushes WHERE id = ?1) AS p
                 WHERE advisories.id = p.advisory_id",
                params![id],
            )?;
        }
        for (id, e) in failed {
            tx.execute(
                "UPDATE pushes SET state = 'failed', error = ?2 WHERE id = ?1 AND state IN ('accepted', 'failed')",
                params![id, e],
            )?;
        }
        for job in jobs {
            let error = match job.push_id {
                Some(p) => failed
                    .iter()
                    .find(|(id, _)| *id == p)
                    .map(|(_, e)| e.as_str()),
                None => run_error,
            };
            let state = if error.is_some() { "failed" } else { "done" };
            tx.execute(
                "UPDATE jobs SET state = ?2, finished_at_ms = ?3, error = ?4 WHERE id = ?1",
                params![job.id, state, now, error],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn jobs(&self, limit: u32) -> anyhow::Result<Vec<JobRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map(params![limit], Self::job_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn queue_depth(&self) -> anyhow::Result<i64> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
            [],
            |r| r.get(0),
        )?)
    }

    // --- revisions ----------------------------------------------------------

    pub fn current_revision(&self, repo: &str) -> anyhow::Result<Option<RevisionRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT repo, revision, content_key, repomd_sha256, files, published_at_ms, superseded_at_ms
                 FROM repo_revisions WHERE repo = ?1 ORDER BY revision DESC LIMIT 1",
                params![repo],
                Self::revision_from_row,
            )
            .optional()?)
    }

    fn revision_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RevisionRow> {
        Ok(RevisionRow {
            repo: r.get(0)?,
            revision: r.get::<_, i64>(1)? as u64,
            content_key: r.get(2)?,
            repomd_sha256: r.get(3)?,
            files: split_list(r.get(4)?),
            published_at_ms: r.get(5)?,
            superseded_at_ms: r.get(6)?,
        })
    }

    fn query_revisions(
        conn: &Connection,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> anyhow::Result<Vec<RevisionRow>> {
        let mut stmt = conn.prepare(&format!(
            "SELECT repo, revision, content_key, repomd_sha256, files, published_at_ms, superseded_at_ms
             FROM repo_revisions {filter} ORDER BY repo, revision"
        ))?;
        let rows = stmt.query_map(params, Self::revision_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn record_revision(&self, rev: &RevisionRow) -> anyhow::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE repo_revisions SET superseded_at_ms = ?2 WHERE repo = ?1 AND superseded_at_ms IS NULL",
            params![rev.repo, rev.published_at_ms],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO repo_revisions (repo, revision, content_key, repomd_sha256, files, published_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                rev.repo,
                rev.revision as i64,
                rev.content_key,
                rev.repomd_sha256,
                rev.files.join(","),
                rev.published_at_ms
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    // --- partners -----------------------------------------------------------

    pub fn set_mirror_state(&self, s: &MirrorStateRow) -> anyhow::Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO mirror_state (mirror, repo, revision, verified, verified_at_ms, last_attempt_ms, last_error, attempted_revision, stage, retries)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                s.mirror,
                s.repo,
                s.revision as i64,
                s.verified,
                s.verified_at_ms,
                s.last_attempt_ms,
                s.last_error,
                s.attempted_revision as i64,
                s.stage,
                s.retries
            ],
        )?;
        Ok(())
    }

    /// Marks every partner unverified at the revision it holds (the repo key
    /// was switched: what it serves is signed by the old key until the next
    /// fan-out pushes the re-signed .asc and verifies it with the new key).
    pub fn mark_partners_unverified(&self) -> anyhow::Result<usize> {
        Ok(self.conn().execute(
            "UPDATE mirror_state SET verified = 0, stage = 'data', retries = 0,
             last_error = 'the repo-signing key was switched; the re-signed repomd.xml.asc is pushed next'
             WHERE verified != 0",
            [],
        )?)
    }

    /// Records that an attempt on `mirror` started for `repos`: a row for each
    /// (created when missing), at stage `data` with no retries yet.
    pub fn mirror_attempt_started(&self, mirror: &str, repos: &[String]) -> anyhow::Result<()> {
        let conn = self.conn();
        for repo in repos {
            conn.execute(
                "INSERT OR IGNORE INTO mirror_state (mirror, repo, revision, verified, last_attempt_ms, attempted_revision)
                 VALUES (?1, ?2, 0, 0, ?3, 0)",
                params![mirror, repo, now_ms()],
            )?;
            conn.execute(
                "UPDATE mirror_state SET stage = 'data', retries = 0 WHERE mirror = ?1 AND repo = ?2",
                params![mirror, repo],
            )?;
        }
        Ok(())
    }

    /// Records the progress of the attempt in flight on `mirror` (every repo):
    /// its stage, and when given, its retry count and latest error.
    pub fn mirror_progress(
        &self,
        mirror: &str,
        stage: &str,
        retries: Option<u32>,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        self.conn().execute(
            "UPDATE mirror_state SET stage = ?2, retries = COALESCE(?3, retries),
             last_error = COALESCE(?4, last_error) WHERE mirror = ?1",
            params![mirror, stage, retries, error],
        )?;
        Ok(())
    }

    pub fn mirror_states(&self) -> anyhow::Result<Vec<MirrorStateRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT mirror, repo, revision, verified, verified_at_ms, last_attempt_ms, last_error,
                    attempted_revision, stage, retries
             FROM mirror_state ORDER BY mirror, repo",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(MirrorStateRow {
                mirror: r.get(0)?,
                repo: r.get(1)?,
                revision: r.get::<_, i64>(2)? as u64,
                verified: r.get(3)?,
                verified_at_ms: r.get(4)?,
                last_attempt_ms: r.get(5)?,
                last_error: r.get(6)?,
                attempted_revision: r.get::<_, Option<i64>>(7)?.unwrap_or(0) as u64,
                stage: r.get(8)?,
                retries: r.get::<_, Option<u32>>(9)?.unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// One message of the webhook outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub seq: i64,
    /// The `webhook-id`: the same on every retry, so receivers can drop duplicates.
    pub id: String,
    pub webhook: String,
    pub kind_type: String,
    pub body: String,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub delivered_at_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Given up once `attempts` reaches this (`[[webhook]] attempts_max` when queued).
    pub attempts_max: u32,
}

impl OutboxMessage {
    /// Not delivered and out of attempts.
    pub fn given_up(&self) -> bool {
        self.delivered_at_ms.is_none() && self.attempts >= self.attempts_max
    }
}

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxMessage> {
    Ok(OutboxMessage {
        seq: r.get(0)?,
        id: r.get(1)?,
        webhook: r.get(2)?,
        kind_type: r.get(3)?,
        body: r.get(4)?,
        attempts: r.get(5)?,
        next_attempt_ms: r.get(6)?,
        delivered_at_ms: r.get(7)?,
        last_error: r.get(8)?,
        attempts_max: r.get(9)?,
    })
}

const OUTBOX_COLUMNS: &str = "seq, id, webhook, type, body, attempts, next_attempt_ms, delivered_at_ms, last_error, attempts_max";

impl Store {
    // --- webhook outbox -------------------------------------------------------

    /// Queues one message per (webhook, type, body, attempts_max), in one
    /// transaction, due now.
    pub fn webhook_enqueue(
        &self,
        messages: &[(String, String, String, u32)],
    ) -> anyhow::Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (webhook, kind_type, body, attempts_max) in messages {
            let id = format!("msg_{}", hex::encode(rand::random::<[u8; 16]>()));
            tx.execute(
                "INSERT INTO webhook_outbox (id, webhook, type, body, created_ms, next_attempt_ms, attempts_max)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                params![id, webhook, kind_type, body, now, attempts_max],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The oldest undelivered message of `webhook` that has attempts left
    /// (messages of one webhook go out in order).
    pub fn webhook_next(&self, webhook: &str) -> anyhow::Result<Option<OutboxMessage>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM webhook_outbox
                     WHERE webhook = ?1 AND delivered_at_ms IS NULL AND attempts < attempts_max
                     ORDER BY seq LIMIT 1"
                ),
                params![webhook],
                outbox_row,
            )
            .optional()?)
    }

    pub fn webhook_delivered(&self, seq: i64, at_ms: i64) -> anyhow::Result<()> {
        self.conn().execute(
            "UPDATE webhook_outbox SET delivered_at_ms = ?2, attempts = attempts + 1, last_error = NULL
             WHERE seq = ?1",
            params![seq, at_ms],
        )?;
        Ok(())
    }

    pub fn webhook_failed(
        &self,
        seq: i64,
        next_attempt_ms: i64,
        error: &str,
    ) -> anyhow::Result<()> {
        self.conn().execute(
            "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_ms = ?2, last_error = ?3
             WHERE seq = ?1",
            params![seq, next_attempt_ms, error],
        )?;
        Ok(())
    }

    /// Deletes `webhook`'s messages created before `before_ms` that are delivered
    /// or given up; pending ones always stay.
    pub fn webhook_prune(&self, webhook: &str, before_ms: i64) -> anyhow::Result<usize> {
        Ok(self.conn().execute(
            "DELETE FROM webhook_outbox WHERE webhook = ?1 AND created_ms < ?2
             AND (delivered_at_ms IS NOT NULL OR attempts >= attempts_max)",
            params![webhook, before_ms],
        )?)
    }

    /// Per webhook name, the counts over the messages whose type is not in
    /// `excluded_types`.
    pub fn webhook_counts(&self, excluded_types: &[&str]) -> anyhow::Result<Vec<WebhookCounts>> {
        let conn = self.conn();
        let placeholders: Vec<String> = (0..excluded_types.len())
            .map(|i| format!("?{}", i + 1))
            .collect();
        let filter = if placeholders.is_empty() {
            String::new()
        } else {
            format!("WHERE type NOT IN ({})", placeholders.join(", "))
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT webhook,
                    SUM(delivered_at_ms IS NOT NULL),
                    SUM(delivered_at_ms IS NULL AND attempts < attempts_max),
                    SUM(delivered_at_ms IS NULL AND attempts >= attempts_max),
                    MAX(delivered_at_ms)
             FROM webhook_outbox {filter} GROUP BY webhook ORDER BY webhook"
        ))?;
        let mut values: Vec<&dyn rusqlite::ToSql> = Vec::new();
        for t in excluded_types {
            values.push(t);
        }
        let rows = stmt.query_map(values.as_slice(), |r| {
            Ok(WebhookCounts {
                webhook: r.get(0)?,
                delivered: r.get::<_, i64>(1)?.max(0) as u64,
                pending: r.get::<_, i64>(2)?.max(0) as u64,
                given_up: r.get::<_, i64>(3)?.max(0) as u64,
                last_delivered_at_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest `limit` messages, newest first (the delivery log).
    pub fn webhook_log(&self, limit: u32) -> anyhow::Result<Vec<OutboxMessage>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM webhook_outbox ORDER BY seq DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map(params![limit], outbox_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// A build-system trigger's push whose packages are still to be fetched.
#[derive(Debug, Clone)]
pub struct TriggerFetchRow {
    pub push_id: i64,
    pub trigger: String,
    pub webhook_id: String,
    pub advisory_id: String,
    /// JSON of `Vec<core::trigger::FetchItem>`.
    pub items: String,
    /// Staged for approval once fetched (else queued for publication).
    pub staged: bool,
}

/// What [`Store::finish_trigger_fetch`] did with a fully fetched push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerOutcome {
    /// Waiting for approvals (`staged_pushes` row written).
    Staged,
    /// Accepted; the publication job's id.
    Accepted(i64),
}

// --- build-system triggers ----------------------------------------------------

impl Store {
    /// Accepts a verified trigger request in one transaction: remembers its
    /// `webhook-id` (forgetting ids seen before `forget_before_ms`), opens the
    /// push in state `fetching` with `trigger:{name}` as its submitter, and
    /// queues its fetch. `Ok(Err(seen_at_ms))`: the id was seen before (a
    /// replay); nothing is changed.
    #[allow(clippy::too_many_arguments)]
    pub fn accept_trigger(
        &self,
        trigger: &str,
        webhook_id: &str,
        forget_before_ms: i64,
        advisory_id: &str,
        text: &AdvisoryText,
        items_json: &str,
        staged: bool,
    ) -> anyhow::Result<Result<i64, i64>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_ms();
        tx.execute(
            "DELETE FROM trigger_ids WHERE seen_at_ms < ?1",
            params![forget_before_ms],
        )?;
        let seen: Option<i64> = tx
            .query_row(
                "SELECT seen_at_ms FROM trigger_ids WHERE trigger = ?1 AND webhook_id = ?2",
                params![trigger, webhook_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(seen) = seen {
            return Ok(Err(seen));
        }
        tx.execute(
            "INSERT INTO trigger_ids (trigger, webhook_id, seen_at_ms) VALUES (?1, ?2, ?3)",
            params![trigger, webhook_id, now],
        )?;
        let push_id = Self::insert_push(
            &tx,
            advisory_id,
            text,
            &format!("trigger:{trigger}"),
            "fetching",
        )?;
        tx.execute(
            "INSERT INTO trigger_fetches (push_id, trigger, webhook_id, items, staged, state, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6)",
            params![push_id, trigger, webhook_id, items_json, staged, now],
        )?;
        tx.commit()?;
        Ok(Ok(push_id))
    }

    /// Forgets what the trigger tables no longer need, in one transaction:
    /// `webhook-id`s seen before `ids_before_ms` (past the replay window),
    /// and fetch rows that ended before `fetches_before_ms`, counting as ended
    /// a row still `queued` whose push left `fetching` (cancelled) and that
    /// was queued before it. Returns how many of each were deleted.
    pub fn prune_trigger_rows(
        &self,
        ids_before_ms: i64,
        fetches_before_ms: i64,
    ) -> anyhow::Result<(usize, usize)> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let ids = tx.execute(
            "DELETE FROM trigger_ids WHERE seen_at_ms < ?1",
            params![ids_before_ms],
        )?;
        let fetches = tx.execute(
            "DELETE FROM trigger_fetches WHERE
                (state != 'queued' AND finished_at_ms < ?1)
                OR (state = 'queued' AND created_at_ms < ?1
                    AND push_id NOT IN (SELECT id FROM pushes WHERE state = 'fetching'))",
            params![fetches_before_ms],
        )?;
        tx.commit()?;
        Ok((ids, fetches))
    }

    /// The queued fetches whose push is still `fetching`, oldest first.
    pub fn trigger_fetches_pending(&self) -> anyhow::Result<Vec<TriggerFetchRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT f.push_id, f.trigger, f.webhook_id, p.advisory_id, f.items, f.staged
             FROM trigger_fetches f JOIN pushes p ON p.id = f.push_id
             WHERE f.state = 'queued' AND p.state = 'fetching' ORDER BY f.push_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TriggerFetchRow {
                push_id: r.get(0)?,
                trigger: r.get(1)?,
                webhook_id: r.get(2)?,
                advisory_id: r.get(3)?,
                items: r.get(4)?,
                staged: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Ends a fully fetched trigger push in one transaction: staged (bound to
    /// `digest`, submitted by `submitter`) or accepted with its publication
    /// job queued. `None`: the push is no longer `fetching` (cancelled meanwhile).
    pub fn finish_trigger_fetch(
        &self,
        push_id: i64,
        submitter: &str,
        digest: &str,
        staged: bool,
        priority: i64,
    ) -> anyhow::Result<Option<TriggerOutcome>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_ms();
        let advisory = Self::advisory_of_push_in(&tx, push_id, "fetching")?;
        let Some(advisory) = advisory else {
            return Ok(None);
        };
        let outcome = if staged {
            tx.execute(
                "UPDATE pushes SET state = 'staged' WHERE id = ?1 AND state = 'fetching'",
                params![push_id],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO staged_pushes (push_id, submitted_by, digest, staged_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![push_id, submitter, digest, now],
            )?;
            TriggerOutcome::Staged
        } else {
            TriggerOutcome::Accepted(Self::accept_and_queue(
                &tx,
                push_id,
                "fetching",
                &advisory,
                priority,
                &format!("push {push_id} of {advisory} (build-system trigger)"),
                now,
            )?)
        };
        tx.execute(
            "UPDATE trigger_fetches SET state = 'done', finished_at_ms = ?2 WHERE push_id = ?1",
            params![push_id, now],
        )?;
        tx.commit()?;
        Ok(Some(outcome))
    }

    /// Fails a trigger push that is still `fetching`, in one transaction: the
    /// push becomes `failed` with `reason` (its packages' names are free
    /// again), the fetch is over, and an advisory left with no other open or
    /// published push goes from `pending` to `cancelled`. Returns the advisory
    /// id, or `None` when the push was no longer fetching.
    pub fn fail_trigger_fetch(&self, push_id: i64, reason: &str) -> anyhow::Result<Option<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_ms();
        let advisory = Self::advisory_of_push_in(&tx, push_id, "fetching")?;
        tx.execute(
            "UPDATE trigger_fetches SET state = 'failed', finished_at_ms = ?2, error = ?3 WHERE push_id = ?1 AND state = 'queued'",
            params![push_id, now, reason],
        )?;
        let Some(advisory) = advisory else {
            tx.commit()?;
            return Ok(None);
        };
        Self::end_push(&tx, push_id, &advisory, "failed", reason, now)?;
        tx.commit()?;
        Ok(Some(advisory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database from before pushes carried their texts opens, gains the
    /// columns, and its old pushes propose nothing (they change no advisory).
    #[test]
    fn an_older_database_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE pushes (id INTEGER PRIMARY KEY, advisory_id TEXT NOT NULL,
                    state TEXT NOT NULL, created_at_ms INTEGER NOT NULL, accepted_at_ms INTEGER,
                    published_at_ms INTEGER, error TEXT, created_by TEXT NOT NULL);
                 INSERT INTO pushes (advisory_id, state, created_at_ms, created_by)
                    VALUES ('OLD-1', 'uploading', 1, 'alice');
                 CREATE TABLE jobs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL,
                    priority INTEGER NOT NULL, state TEXT NOT NULL, push_id INTEGER,
                    reason TEXT NOT NULL, created_at_ms INTEGER NOT NULL, started_at_ms INTEGER,
                    finished_at_ms INTEGER, error TEXT);",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        // Twice: the migration is idempotent.
        drop(store);
        let store = Store::open(&path).unwrap();
        let old = store.push(1).unwrap().unwrap();
        assert_eq!(old.proposal, None);
        let job = store
            .enqueue_advisory_job("publish", 1, "retire OLD-1", Some("OLD-1"))
            .unwrap();
        let jobs = store.jobs(10).unwrap();
        assert_eq!(jobs[0].id, job);
        assert_eq!(jobs[0].advisory_id.as_deref(), Some("OLD-1"));
    }

    /// The state check of an upload and the submit are atomic with respect to
    /// each other: once accepted, no package joins the push.
    #[test]
    fn a_push_takes_packages_only_while_uploading() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        let text = AdvisoryText {
            severity: "critical".into(),
            summary: "s".into(),
            description: String::new(),
            cves: vec![],
            releases: vec![],
        };
        let id = store.open_push("A-1", &text, "alice").unwrap();
        let package = |name: &str| PushPackage {
            sha256: format!("{name:0>64}"),
            file_name: format!("{name}-1-1.noarch.rpm"),
            nevra: format!("{name}-1-1.noarch"),
            arch: "noarch".into(),
            size: 1,
            time_file: 1,
            signed_by: None,
        };
        assert_eq!(store.accept_push(id, 0).unwrap(), Err(AcceptRefusal::Empty));
        assert!(store.add_push_package(id, &package("a")).unwrap().unwrap());
        assert!(store.accept_push(id, 0).unwrap().is_ok());
        assert!(!store.add_push_package(id, &package("b")).unwrap().unwrap());
        assert_eq!(store.push_packages(id).unwrap().len(), 1);
        assert_eq!(
            store.accept_push(id, 0).unwrap(),
            Err(AcceptRefusal::NotUploading("accepted".into()))
        );
        assert_eq!(
            store.accept_push(id + 1, 0).unwrap(),
            Err(AcceptRefusal::NoSuchPush)
        );
        // Opening a push leaves the advisory pending with the first texts;
        // a second push's texts stay on that push.
        let id2 = store
            .open_push(
                "A-1",
                &AdvisoryText {
                    summary: "other".into(),
                    ..text.clone()
                },
                "alice",
            )
            .unwrap();
        let a = store.advisory("A-1").unwrap().unwrap();
        assert_eq!((a.state.as_str(), a.summary.as_str()), ("pending", "s"));
        assert_eq!(
            store.push(id2).unwrap().unwrap().proposal.unwrap().summary,
            "other"
        );
        assert!(store.published_advisories().unwrap().is_empty());
    }

    /// Pruning forgets ids past the window and ended fetches (failed, done,
    /// or queued for a push that was cancelled), never a fetch still to run.
    #[test]
    fn trigger_rows_are_pruned_when_over_never_while_queued() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        let text = AdvisoryText {
            severity: "critical".into(),
            summary: "s".into(),
            description: String::new(),
            cves: vec![],
            releases: vec![],
        };
        let accept = |id: &str, advisory: &str| {
            store
                .accept_trigger("koji", id, 0, advisory, &text, "[]", false)
                .unwrap()
                .unwrap()
        };
        let failed = accept("msg_1", "T-1");
        let waiting = accept("msg_2", "T-2");
        let cancelled = accept("msg_3", "T-3");
        store.fail_trigger_fetch(failed, "HTTP 404").unwrap();
        store.cancel_push(cancelled, "by hand").unwrap().unwrap();
        let count = |table: &str| -> i64 {
            store
                .conn()
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        };
        // Cut-offs before everything: nothing goes.
        assert_eq!(store.prune_trigger_rows(0, 0).unwrap(), (0, 0));
        assert_eq!((count("trigger_ids"), count("trigger_fetches")), (3, 3));
        // Cut-offs after everything: every id, and every fetch but the one to run.
        let later = now_ms() + 1000;
        assert_eq!(store.prune_trigger_rows(later, later).unwrap(), (3, 2));
        let pending = store.trigger_fetches_pending().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].push_id, waiting);
        assert_eq!(count("trigger_fetches"), 1);
        // Once that one ends, it goes too.
        store.fail_trigger_fetch(waiting, "HTTP 503").unwrap();
        assert_eq!(
            store.prune_trigger_rows(later, now_ms() + 1000).unwrap(),
            (0, 1)
        );
        assert_eq!(count("trigger_fetches"), 0);
    }
}
