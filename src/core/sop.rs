//! The standard operating procedures: the `sop/` templates rendered with the live
//! configuration (`hotpush sop`), and the per-push checklist of the emergency
//! procedure, whose steps tick as the push moves.
//!
//! Rendering and the checklist are pure: they take values (configuration,
//! partners, facts about one push) and return text or steps. Only [`run`] reads
//! files and talks to a server. This module knows nothing of SQL, HTTP routing or
//! the published tree.

use minijinja::{context, Environment, Value};

use crate::core::api::ChecklistView;

/// The procedures shipped in the binary: (name, template).
pub const PROCEDURES: [(&str, &str); 4] = [
    (
        "emergency-push",
        include_str!("../../sop/emergency-push.md.j2"),
    ),
    (
        "onboard-partner",
        include_str!("../../sop/onboard-partner.md.j2"),
    ),
    ("rotate-keys", include_str!("../../sop/rotate-keys.md.j2")),
    ("origin-down", include_str!("../../sop/origin-down.md.j2")),
];

/// Names of the procedures, in the order `hotpush sop` prints them.
pub const PROCEDURE_NAMES: [&str; 4] = [
    PROCEDURES[0].0,
    PROCEDURES[1].0,
    PROCEDURES[2].0,
    PROCEDURES[3].0,
];

/// What the advisory id reads as when none is given.
pub const ADVISORY_PLACEHOLDER: &str = "ADVISORY-ID";

/// Where the security team keeps its token, when the procedure does not know.
pub const TOKEN_FILE_PLACEHOLDER: &str = "~/.config/hotpush/token";

/// Everything the templates may use, taken from the live configuration.
#[derive(Debug, Clone)]
pub struct SopContext {
    pub public_url: String,
    pub channel: String,
    pub releases: Vec<String>,
    /// (path `critical/43/x86_64`, metalink URL), one per repository.
    pub repos: Vec<(String, String)>,
    /// The `.repo` section name clients use (`critical-updates`).
    pub repo_id: String,
    /// (name, public base URL), in metalink order.
    pub partners: Vec<(String, String)>,
    pub advisory: String,
    pub config_file: String,
    pub mirrors_file: String,
    pub data_dir: String,
    pub token_file: String,
    pub push_group: String,
    pub trusted_keys: Vec<String>,
    pub retention_hours: u64,
    /// `[auth] approvals_required`.
    pub approvals_required: u32,
    /// The `[[trigger]]`s: (name, fetch_base, staged for approval).
    pub triggers: Vec<(String, String, bool)>,
}

impl SopContext {
    fn to_value(&self) -> Value {
        let repos: Vec<Value> = self
            .repos
            .iter()
            .map(|(path, metalink)| context! { path => path, metalink => metalink })
            .collect();
        let partners: Vec<Value> = self
            .partners
            .iter()
            .map(|(name, url)| context! { name => name, public_url => url })
            .collect();
        context! {
            public_url => self.public_url,
            channel => self.channel,
            releases => self.releases,
            repos => repos,
            repo_id => self.repo_id,
            partners => partners,
            advisory => self.advisory,
            config_file => self.config_file,
            mirrors_file => self.mirrors_file,
            data_dir => self.data_dir,
            token_file => self.token_file,
            push_group => self.push_group,
            trusted_keys => self.trusted_keys,
            retention_hours => self.retention_hours,
            approvals_required => self.approvals_required,
            triggers => self
                .triggers
                .iter()
                .map(|(name, fetch_base, approval)| {
                    context! { name => name, fetch_base => fetch_base, approval => approval }
                })
                .collect::<Vec<Value>>(),
        }
    }
}

/// Renders one procedure as Markdown.
pub fn render(name: &str, ctx: &SopContext) -> anyhow::Result<String> {
    let Some((_, template)) = PROCEDURES.iter().find(|(n, _)| *n == name) else {
        anyhow::bail!(
            "there is no procedure `{name}`\nhint: known procedures: {}",
            PROCEDURE_NAMES.join(", ")
        );
    };
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_template(name, template)?;
    let text = env.get_template(name)?.render(ctx.to_value())?;
    Ok(format!("{}\n", text.trim_end()))
}

/// Renders every procedure, separated by rules.
pub fn render_all(ctx: &SopContext) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for name in PROCEDURE_NAMES {
        parts.push(render(name, ctx)?);
    }
    Ok(parts.join("\n---\n\n"))
}

// ---------------------------------------------------------------------------
// The per-push checklist.

/// Where one step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Done,
    Pending,
    Failed,
    /// A step a person does; hotpush cannot observe it.
    Manual,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Done => "done",
            StepState::Pending => "pending",
            StepState::Failed => "failed",
            StepState::Manual => "manual",
        }
    }
}

/// One step of the emergency procedure for one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Stable key, also named in `sop/emergency-push.md.j2` headings.
    pub key: &'static str,
    pub title: &'static str,
    pub state: StepState,
    pub at_ms: Option<i64>,
    pub detail: String,
}

/// One partner's standing for the repositories a push touched.
#[derive(Debug, Clone)]
pub struct PartnerFacts {
    pub name: String,
    pub repo: String,
    /// Verified to serve the repository's current revision.
    pub current: bool,
    pub verified_at_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// What is known about one push, from the store and the served state.
#[derive(Debug, Clone)]
pub struct PushFacts {
    pub push_id: i64,
    pub advisory: String,
    /// `uploading`, `staged`, `accepted`, `published`, `failed`, `cancelled`.
    pub state: String,
    pub created_at_ms: i64,
    pub accepted_at_ms: Option<i64>,
    pub published_at_ms: Option<i64>,
    pub error: Option<String>,
    pub packages: usize,
    /// When the last package arrived.
    pub last_upload_at_ms: Option<i64>,
    /// Packages whose signature was checked against a trusted key.
    pub signed_packages: usize,
    pub partners: Vec<PartnerFacts>,
    /// When the metalinks of the touched repositories last listed the origin
    /// and every verified partner at the current revision.
    pub metalink_updated_at_ms: Option<i64>,
    /// The advisory's state (`pending`, `live`, `retired`, ...) and when it changed.
    pub advisory_state: String,
    pub advisory_updated_at_ms: Option<i64>,
    /// The origin mails announcements (`[announce]` has a server, a sender
    /// and recipients): the `announced` step is done once one was sent.
    /// Without it the step is done at publication (the draft is ready; the
    /// operator sends it by hand).
    pub announce_by_mail: bool,
    /// When the advisory's announcement was last mailed by the origin.
    pub announced_at_ms: Option<i64>,
}

/// What hotpush sees of a step: `Some((done, when))`, or `None` for a step a
/// person does by hand.
type Observed = Option<(bool, Option<i64>)>;

/// The step keys of the emergency procedure, in order.
pub const STEP_KEYS: [&str; 10] = [
    "declared",
    "uploaded",
    "accepted",
    "published",
    "partners",
    "metalink",
    "verify-client",
    "announced",
    "monitor",
    "retired",
];

/// The ordered steps of the emergency procedure for one push. A step that
/// hotpush observes is done only if every observed step before it is done, so
/// the list always reads as a prefix of ticks.
pub fn checklist(f: &PushFacts) -> Vec<Step> {
    let failed = f.state == "failed";
    let past_upload = f.accepted_at_ms.is_some();
    let published = f.state == "published" && f.published_at_ms.is_some();
    let partners_current = f.partners.iter().all(|p| p.current);
    let partner_names: std::collections::BTreeSet<&str> =
        f.partners.iter().map(|p| p.name.as_str()).collect();
    let partners_at = f.partners.iter().filter_map(|p| p.verified_at_ms).max();
    let behind: Vec<String> = f
        .partners
        .iter()
        .filter(|p| !p.current)
        .map(|p| match &p.last_error {
            Some(e) => format!("{} ({}): {e}", p.name, p.repo),
            None => format!("{} ({})", p.name, p.repo),
        })
        .collect();

    // (key, title, observed outcome, detail)
    let raw: [(&str, &str, Observed, String); 10] = [
        (
            "declared",
            "Declare the advisory and open the push",
            Some((true, Some(f.created_at_ms))),
            format!("push {} for {}", f.push_id, f.advisory),
        ),
        (
            "uploaded",
            "Upload the signed builds (signatures verified)",
            Some((
                f.packages > 0 && (past_upload || f.signed_packages == f.packages),
                f.last_upload_at_ms,
            )),
            format!(
                "{} package(s), {} verified against a trusted key",
                f.packages, f.signed_packages
            ),
        ),
        (
            "accepted",
            "Submit the push (durable from here on)",
            Some((past_upload, f.accepted_at_ms)),
            if f.state == "staged" {
                format!(
                    "staged, waiting for approval by a second member (`hotpush approve {}`)",
                    f.push_id
                )
            } else {
                String::new()
            },
        ),
        (
            "published",
            "Published at the origin",
            Some((published, f.published_at_ms)),
            f.error.clone().unwrap_or_default(),
        ),
        (
            "partners",
            "Every partner mirror holds the fix",
            Some((
                published && partners_current,
                if f.partners.is_empty() {
                    f.published_at_ms
                } else {
                    partners_at.max(f.published_at_ms)
                },
            )),
            if partner_names.is_empty() {
                "no partner mirrors configured".to_owned()
            } else if behind.is_empty() {
                format!(
                    "verified: {}",
                    partner_names.into_iter().collect::<Vec<_>>().join(", ")
                )
            } else {
                format!("behind: {}", behind.join("; "))
            },
        ),
        (
            "metalink",
            "Metalink lists the origin and every verified partner",
            Some((
                published && f.metalink_updated_at_ms.is_some(),
                f.metalink_updated_at_ms,
            )),
            String::new(),
        ),
        (
            "verify-client",
            "Verify from a client (hotpush verify --metalink, dnf)",
            None,
            String::new(),
        ),
        if f.announce_by_mail {
            (
                "announced",
                "Announcement sent (hotpush announce --send)",
                Some((
                    published && f.announced_at_ms.is_some(),
                    f.announced_at_ms,
                )),
                match f.announced_at_ms {
                    Some(_) => format!("mailed; draft at /api/v1/advisories/{}/announcement", f.advisory),
                    None => format!(
                        "review it with `hotpush announce {0}`, send it with `hotpush announce --send {0}`",
                        f.advisory
                    ),
                },
            )
        } else {
            (
                "announced",
                "Announcement drafted; review and send it",
                Some((published, f.published_at_ms)),
                format!("/api/v1/advisories/{}/announcement", f.advisory),
            )
        },
        (
            "monitor",
            "Monitor the dashboard, metrics and partner lag",
            None,
            String::new(),
        ),
        (
            "retired",
            "Retire once the regular updates repository has the fix",
            Some((f.advisory_state == "retired", f.advisory_updated_at_ms)),
            String::new(),
        ),
    ];

    let mut steps = Vec::with_capacity(raw.len());
    let mut blocked = false;
    for (key, title, observed, detail) in raw {
        let (state, at_ms) = match observed {
            None => (StepState::Manual, None),
            Some((done, at)) if done && !blocked => (StepState::Done, at),
            Some(_) => {
                // The first observed step that is not done is where a failed
                // push stopped; everything after it waits.
                let state = if failed && !blocked {
                    StepState::Failed
                } else {
                    StepState::Pending
                };
                blocked = true;
                (state, None)
            }
        };
        steps.push(Step {
            key,
            title,
            state,
            at_ms,
            detail,
        });
    }
    debug_assert_eq!(
        steps.iter().map(|s| s.key).collect::<Vec<_>>(),
        STEP_KEYS.to_vec()
    );
    steps
}

/// The checklist as a few lines of text, for terminals.
pub fn checklist_text(view: &ChecklistView) -> String {
    let mut out = format!(
        "checklist for push {} of {} ({})\n",
        view.push_id, view.advisory, view.state
    );
    for (i, s) in view.steps.iter().enumerate() {
        let mark = match s.state.as_str() {
            "done" => "[x]",
            "failed" => "[!]",
            "manual" => "[ ]*",
            _ => "[ ]",
        };
        let at = s
            .at_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| format!(" {}", t.format("%H:%M:%S UTC")))
            .unwrap_or_default();
        let detail = if s.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", s.detail)
        };
        out.push_str(&format!("{:>2}. {mark} {}{at}{detail}\n", i + 1, s.title));
    }
    out.push_str("    * a step for you to do by hand\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> PushFacts {
        PushFacts {
            push_id: 7,
            advisory: "FEDORA-2026-0001".into(),
            state: "uploading".into(),
            created_at_ms: 1_000,
            accepted_at_ms: None,
            published_at_ms: None,
            error: None,
            packages: 0,
            last_upload_at_ms: None,
            signed_packages: 0,
            partners: vec![
                PartnerFacts {
                    name: "a".into(),
                    repo: "critical/43/x86_64".into(),
                    current: false,
                    verified_at_ms: None,
                    last_error: None,
                },
                PartnerFacts {
                    name: "b".into(),
                    repo: "critical/43/x86_64".into(),
                    current: false,
                    verified_at_ms: None,
                    last_error: Some("connection refused".into()),
                },
            ],
            metalink_updated_at_ms: None,
            advisory_state: "pending".into(),
            advisory_updated_at_ms: Some(1_000),
            announce_by_mail: false,
            announced_at_ms: None,
        }
    }

    fn done_keys(f: &PushFacts) -> Vec<&'static str> {
        checklist(f)
            .into_iter()
            .filter(|s| s.state == StepState::Done)
            .map(|s| s.key)
            .collect()
    }

    /// A staged push (two-person rule) is uploaded, not yet accepted, and the
    /// accepted step says it waits for a second member.
    #[test]
    fn a_staged_push_waits_for_a_second_member() {
        let mut f = facts();
        f.packages = 1;
        f.signed_packages = 1;
        f.last_upload_at_ms = Some(1_500);
        f.state = "staged".into();
        let steps = checklist(&f);
        let accepted = steps.iter().find(|s| s.key == "accepted").unwrap();
        assert_ne!(accepted.state, StepState::Done);
        assert!(
            accepted
                .detail
                .contains("waiting for approval by a second member"),
            "{}",
            accepted.detail
        );
        assert_eq!(done_keys(&f), vec!["declared", "uploaded"]);
    }

    /// Every observed state of a simulated push ticks a longer prefix of the
    /// procedure, never a step out of order.
    #[test]
    fn a_simulated_push_ticks_the_steps_in_order() {
        let mut f = facts();
        let mut seen = vec![done_keys(&f)];
        f.packages = 2;
        f.signed_packages = 1;
        f.last_upload_at_ms = Some(1_500);
        seen.push(done_keys(&f));
        f.signed_packages = 2;
        seen.push(done_keys(&f));
        f.state = "accepted".into();
        f.accepted_at_ms = Some(2_000);
        seen.push(done_keys(&f));
        f.state = "published".into();
        f.published_at_ms = Some(3_000);
        seen.push(done_keys(&f));
        f.partners[0].current = true;
        f.partners[0].verified_at_ms = Some(3_500);
        seen.push(done_keys(&f));
        f.partners[1].current = true;
        f.partners[1].verified_at_ms = Some(4_000);
        f.partners[1].last_error = None;
        seen.push(done_keys(&f));
        f.metalink_updated_at_ms = Some(4_100);
        seen.push(done_keys(&f));
        f.advisory_state = "retired".into();
        f.advisory_updated_at_ms = Some(9_000);
        seen.push(done_keys(&f));

        let observed: Vec<&str> = STEP_KEYS
            .iter()
            .copied()
            .filter(|k| !matches!(*k, "verify-client" | "monitor"))
            .collect();
        let expected_lengths = [1, 1, 2, 3, 4, 4, 5, 7, 8];
        for (i, keys) in seen.iter().enumerate() {
            assert_eq!(keys, &observed[..expected_lengths[i]].to_vec(), "state {i}");
        }
        let last = checklist(&f);
        let at: Vec<Option<i64>> = last.iter().map(|s| s.at_ms).collect();
        assert_eq!(
            at,
            vec![
                Some(1_000),
                Some(1_500),
                Some(2_000),
                Some(3_000),
                Some(4_000),
                Some(4_100),
                None,
                Some(3_000),
                None,
                Some(9_000)
            ]
        );
        assert!(last
            .iter()
            .filter(|s| matches!(s.key, "verify-client" | "monitor"))
            .all(|s| s.state == StepState::Manual));
    }

    #[test]
    fn a_behind_partner_is_named_with_its_error() {
        let mut f = facts();
        f.state = "published".into();
        f.packages = 1;
        f.signed_packages = 1;
        f.accepted_at_ms = Some(2);
        f.published_at_ms = Some(3);
        let steps = checklist(&f);
        let partners = steps.iter().find(|s| s.key == "partners").unwrap();
        assert_eq!(partners.state, StepState::Pending);
        assert!(
            partners
                .detail
                .contains("b (critical/43/x86_64): connection refused"),
            "{}",
            partners.detail
        );
        // Steps after a pending one are never done, even when their own facts say so.
        let announced = steps.iter().find(|s| s.key == "announced").unwrap();
        assert_eq!(announced.state, StepState::Pending);
    }

    #[test]
    fn a_failed_push_marks_where_it_stopped() {
        let mut f = facts();
        f.packages = 1;
        f.signed_packages = 1;
        f.state = "failed".into();
        f.accepted_at_ms = Some(2);
        f.error = Some("pre-publication hook failed".into());
        let states: Vec<(&str, StepState)> =
            checklist(&f).iter().map(|s| (s.key, s.state)).collect();
        assert_eq!(
            states,
            vec![
                ("declared", StepState::Done),
                ("uploaded", StepState::Done),
                ("accepted", StepState::Done),
                ("published", StepState::Failed),
                ("partners", StepState::Pending),
                ("metalink", StepState::Pending),
                ("verify-client", StepState::Manual),
                ("announced", StepState::Pending),
                ("monitor", StepState::Manual),
                ("retired", StepState::Pending),
            ]
        );
        let published = &checklist(&f)[3];
        assert_eq!(published.detail, "pre-publication hook failed");
    }

    #[test]
    fn with_mail_configured_the_announced_step_waits_for_the_send() {
        let mut f = facts();
        f.partners.clear();
        f.packages = 1;
        f.signed_packages = 1;
        f.state = "published".into();
        f.accepted_at_ms = Some(2);
        f.published_at_ms = Some(3);
        f.metalink_updated_at_ms = Some(3);
        let announced = |f: &PushFacts| {
            checklist(f)
                .into_iter()
                .find(|s| s.key == "announced")
                .unwrap()
        };
        // Without mail: done at publication (drafted).
        assert_eq!(announced(&f).state, StepState::Done);
        assert_eq!(announced(&f).at_ms, Some(3));
        // With mail and nothing sent: pending, naming the command.
        f.announce_by_mail = true;
        let step = announced(&f);
        assert_eq!(step.state, StepState::Pending);
        assert!(
            step.detail
                .contains("hotpush announce --send FEDORA-2026-0001"),
            "{}",
            step.detail
        );
        // Sent: done at the send.
        f.announced_at_ms = Some(9);
        let step = announced(&f);
        assert_eq!(step.state, StepState::Done);
        assert_eq!(step.at_ms, Some(9));
        // A send is never a tick before the publication.
        f.state = "accepted".into();
        f.published_at_ms = None;
        assert_eq!(announced(&f).state, StepState::Pending);
    }

    #[test]
    fn no_partners_means_the_partner_step_follows_the_publish() {
        let mut f = facts();
        f.partners.clear();
        f.packages = 1;
        f.signed_packages = 1;
        f.state = "published".into();
        f.accepted_at_ms = Some(2);
        f.published_at_ms = Some(3);
        f.metalink_updated_at_ms = Some(3);
        let steps = checklist(&f);
        let partners = steps.iter().find(|s| s.key == "partners").unwrap();
        assert_eq!(partners.state, StepState::Done);
        assert_eq!(partners.detail, "no partner mirrors configured");
        assert_eq!(partners.at_ms, Some(3));
    }
}
