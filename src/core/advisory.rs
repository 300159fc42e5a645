//! The rules an advisory declaration (`NewPush`) must follow, as the origin's
//! `POST /api/v1/pushes` applies them: the id, severity, summary and CVE ids.
//! Pure, so a client can check a manifest before anything is uploaded
//! (`hotpush push --manifest`); `tests/it/manifest.rs` holds the two in step.
//! Releases depend on the origin's configuration and are checked by the caller.
use crate::core::api::NewPush;

/// The severities an advisory may have (lower case; any case is accepted).
pub const SEVERITIES: [&str; 4] = ["critical", "important", "moderate", "low"];

/// A field of a declaration that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct FieldError {
    /// The field's name as the manifest and the API spell it.
    pub field: &'static str,
    pub message: String,
    pub hint: String,
}

/// Letters, digits, `-`, `_`, `.` and `:`, 1 to 64 characters.
pub fn valid_advisory_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// Checks a declaration field by field; the first broken rule is returned.
pub fn check_new_push(req: &NewPush) -> Result<(), FieldError> {
    if !valid_advisory_id(&req.advisory) {
        return Err(FieldError {
            field: "advisory",
            message: format!("advisory id `{}` is not valid", req.advisory),
            hint: "use letters, digits, `-`, `_`, `.` and `:` only, at most 64 characters, e.g. `FEDORA-2026-0001`".into(),
        });
    }
    if !SEVERITIES.contains(&req.severity.to_ascii_lowercase().as_str()) {
        return Err(FieldError {
            field: "severity",
            message: format!("severity `{}` is not known", req.severity),
            hint: "use one of `critical`, `important`, `moderate`, `low`".into(),
        });
    }
    if req.summary.trim().is_empty() {
        return Err(FieldError {
            field: "summary",
            message: "the advisory needs a summary".into(),
            hint: "give the advisory a one-line summary".into(),
        });
    }
    for cve in &req.cves {
        if !cve.starts_with("CVE-") || cve.len() > 32 || cve.contains(char::is_whitespace) {
            return Err(FieldError {
                field: "cves",
                message: format!("`{cve}` is not a CVE id"),
                hint: "CVE ids look like `CVE-2026-12345`".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> NewPush {
        NewPush {
            advisory: "FEDORA-2026-0001".into(),
            severity: "Critical".into(),
            cves: vec!["CVE-2026-1".into()],
            summary: "x".into(),
            description: String::new(),
            releases: Vec::new(),
        }
    }

    type Edit = fn(&mut NewPush);

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(check_new_push(&req()), Ok(()));
        let cases: [(&str, Edit); 6] = [
            ("advisory", |r| r.advisory = String::new()),
            ("advisory", |r| r.advisory = "a b".into()),
            ("advisory", |r| r.advisory = "A".repeat(65)),
            ("severity", |r| r.severity = "urgent".into()),
            ("summary", |r| r.summary = " \n".into()),
            ("cves", |r| r.cves.push("CVE-1 2".into())),
        ];
        for (field, edit) in cases {
            let mut r = req();
            edit(&mut r);
            assert_eq!(check_new_push(&r).unwrap_err().field, field, "{r:?}");
        }
    }
}
