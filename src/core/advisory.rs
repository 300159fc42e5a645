//! The text rules of an advisory, in one place: its id, severity, CVE ids, title,
//! summary and description, wherever they come from (the push API, `createrepo
//! --updateinfo`) and wherever they go (updateinfo.xml, the announcement's
//! Subject line, the dashboard).
//!
//! Every value must be something XML 1.0 and an email header can carry: no C0
//! control character (a description may hold tab, LF and CR), no DEL, no C1
//! control (U+0080..U+009F), no U+FFFE or U+FFFF; one-line values (ids, CVE ids,
//! severity, title, summary) hold no control character at all. Lengths are
//! bounded. The XML writers additionally replace any character XML cannot carry
//! ([`xml_safe`]), whatever reaches them. Pure.

use std::borrow::Cow;

/// The longest advisory id, in bytes.
pub const ID_BYTES_MAX: usize = 64;
/// The longest title or summary, in characters (one line of a notice).
pub const SUMMARY_CHARS_MAX: usize = 500;
/// The longest description, in bytes.
pub const DESCRIPTION_BYTES_MAX: usize = 64 * 1024;
/// The most CVE ids one advisory lists.
pub const CVES_MAX: usize = 500;
/// The longest CVE id: `CVE-` + year + `-` + up to 19 digits.
pub const CVE_BYTES_MAX: usize = 28;
/// Severities, lower case as the API takes them; updateinfo capitalises them.
pub const SEVERITIES: [&str; 4] = ["critical", "important", "moderate", "low"];

/// A value that breaks a rule: which field, what is wrong, and the value shown
/// escaped (so a control character is visible, not acted on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("advisory field `{field}`: {reason}")]
pub struct TextError {
    pub field: String,
    pub reason: String,
}

fn err(field: &str, reason: String) -> TextError {
    TextError {
        field: field.to_owned(),
        reason,
    }
}

/// Whether XML 1.0 can carry `c` at all (the `Char` production).
pub fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// `text` with every character XML 1.0 cannot carry replaced by U+FFFD; borrowed
/// (no copy) when there is none, which is always the case for checked values.
pub fn xml_safe(text: &str) -> Cow<'_, str> {
    // Fast path on bytes: only C0 controls (other than tab, LF, CR) and the UTF-8
    // lead byte 0xEF (U+F000..U+FFFF, which holds U+FFFE and U+FFFF) need a look.
    let suspicious = text
        .bytes()
        .any(|b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0xEF);
    if !suspicious || text.chars().all(is_xml_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
            .collect(),
    )
}

/// The first character that a one-line value must not hold, if any.
fn first_forbidden(text: &str, multi_line: bool) -> Option<char> {
    text.chars().find(|&c| {
        let allowed_space = multi_line && matches!(c, '\t' | '\n' | '\r');
        (c.is_control() && !allowed_space) || !is_xml_char(c)
    })
}

fn describe(c: char) -> String {
    let name = match c {
        '\0' => " (NUL)",
        '\u{1b}' => " (ESC, as in a terminal colour sequence)",
        '\n' => " (line feed)",
        '\r' => " (carriage return)",
        '\t' => " (tab)",
        '\u{7f}' => " (DEL)",
        _ => "",
    };
    format!("U+{:04X}{name}", c as u32)
}

/// At most 80 characters of `value`, escaped for a message.
fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(80).collect();
    if s.len() < value.len() {
        s.push('…');
    }
    s.escape_debug().to_string()
}

fn check_chars(field: &str, value: &str, multi_line: bool) -> Result<(), TextError> {
    match first_forbidden(value, multi_line) {
        None => Ok(()),
        Some(c) => Err(err(
            field,
            format!(
                "`{}` contains the character {}, which {}",
                shown(value),
                describe(c),
                if multi_line {
                    "XML and email cannot carry (only tab, line feed and carriage return are allowed)"
                } else {
                    "a one-line value cannot hold (no control characters)"
                }
            ),
        )),
    }
}

/// An advisory id: 1 to 64 of letters, digits, `-`, `_`, `.` and `:`.
pub fn check_id(id: &str) -> Result<(), TextError> {
    let ok = !id.is_empty()
        && id.len() <= ID_BYTES_MAX
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        return Ok(());
    }
    Err(err(
        "id",
        format!(
            "`{}` is not valid: use 1 to {ID_BYTES_MAX} letters, digits, `-`, `_`, `.` and `:`, e.g. `FEDORA-2026-0001`",
            shown(id)
        ),
    ))
}

/// A severity, any case; returns the lower-case one of [`SEVERITIES`].
pub fn check_severity(severity: &str) -> Result<&'static str, TextError> {
    let lower = severity.to_ascii_lowercase();
    SEVERITIES
        .iter()
        .find(|s| **s == lower)
        .copied()
        .ok_or_else(|| {
            err(
                "severity",
                format!(
                    "`{}` is not one of critical, important, moderate, low",
                    shown(severity)
                ),
            )
        })
}

/// Whether `s` is a CVE id: `CVE-YYYY-NNNN`, four digits of year and four or more
/// of number (at most [`CVE_BYTES_MAX`] bytes), upper-case `CVE`.
pub fn is_cve_id(s: &str) -> bool {
    let mut parts = s.splitn(3, '-');
    let (Some("CVE"), Some(year), Some(num)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    s.len() <= CVE_BYTES_MAX
        && year.len() == 4
        && num.len() >= 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && num.bytes().all(|b| b.is_ascii_digit())
}

/// The CVE ids of one advisory: each a CVE id, none twice, at most [`CVES_MAX`].
pub fn check_cves(cves: &[String]) -> Result<(), TextError> {
    if cves.len() > CVES_MAX {
        return Err(err(
            "cves",
            format!("{} CVE ids; at most {CVES_MAX}", cves.len()),
        ));
    }
    for (i, cve) in cves.iter().enumerate() {
        if !is_cve_id(cve) {
            return Err(err(
                "cves",
                format!(
                    "`{}` is not a CVE id like `CVE-2026-12345` (`CVE-`, a 4-digit year, `-`, 4 or more digits)",
                    shown(cve)
                ),
            ));
        }
        if cves[..i].contains(cve) {
            return Err(err("cves", format!("`{cve}` is listed twice")));
        }
    }
    Ok(())
}

/// A one-line text (title, summary): not blank, at most [`SUMMARY_CHARS_MAX`]
/// characters, no control character.
pub fn check_line(field: &str, value: &str) -> Result<(), TextError> {
    if value.trim().is_empty() {
        return Err(err(field, "is empty".into()));
    }
    let chars = value.chars().count();
    if chars > SUMMARY_CHARS_MAX {
        return Err(err(
            field,
            format!("is {chars} characters; at most {SUMMARY_CHARS_MAX} (the details go in the description)"),
        ));
    }
    check_chars(field, value, false)
}

/// A description: may be empty, at most [`DESCRIPTION_BYTES_MAX`] bytes; tab, LF
/// and CR are the only control characters allowed.
pub fn check_description(value: &str) -> Result<(), TextError> {
    if value.len() > DESCRIPTION_BYTES_MAX {
        return Err(err(
            "description",
            format!("is {} bytes; at most {DESCRIPTION_BYTES_MAX}", value.len()),
        ));
    }
    check_chars("description", value, true)
}

/// The fields of one advisory as a push or an updateinfo file gives them.
#[derive(Debug, Clone, Copy)]
pub struct AdvisoryText<'a> {
    pub id: &'a str,
    pub severity: &'a str,
    /// updateinfo's title; the push API has none (its summary is the title).
    pub title: Option<&'a str>,
    pub summary: &'a str,
    pub description: &'a str,
    pub cves: &'a [String],
}

impl<'a> From<&'a crate::core::api::NewPush> for AdvisoryText<'a> {
    /// The advisory fields of a push (the API's, a manifest's, a trigger's):
    /// no title, its summary is the title.
    fn from(p: &'a crate::core::api::NewPush) -> Self {
        AdvisoryText {
            id: &p.advisory,
            severity: &p.severity,
            title: None,
            summary: &p.summary,
            description: &p.description,
            cves: &p.cves,
        }
    }
}

/// Every rule above, in field order; returns the lower-case severity.
pub fn check_advisory(a: &AdvisoryText<'_>) -> Result<&'static str, TextError> {
    check_id(a.id)?;
    let severity = check_severity(a.severity)?;
    if let Some(title) = a.title {
        check_line("title", title)?;
    }
    check_line("summary", a.summary)?;
    check_description(a.description)?;
    check_cves(a.cves)?;
    Ok(severity)
}

/// A value made safe for one line of an email header (the Subject): control
/// characters and what XML cannot carry become spaces, runs of white space one
/// space. For values stored before these rules, or anything else unchecked.
pub fn header_safe(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || !is_xml_char(c) {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cve_ids_need_four_digit_years_and_four_or_more_digits() {
        for good in ["CVE-2026-0001", "CVE-2014-160000", "CVE-2026-1234567"] {
            assert!(is_cve_id(good), "{good}");
        }
        for bad in [
            "CVE-26-0001",
            "cve-2026-0001",
            "CVE-2026-01",
            "CVE-2026-0001x",
            "CVE-2026-0001\n",
            "CVE-2026-\u{1b}[31m",
            "CVE-2026-00000000000000000000000",
            "",
        ] {
            assert!(!is_cve_id(bad), "{bad:?}");
        }
        let e = check_cves(&["CVE-2026-0001".into(), "CVE-2026-0001".into()]).unwrap_err();
        assert!(e.reason.contains("twice"));
    }

    /// Every control character, DEL, C1 and the two non-characters are refused in
    /// one-line fields; tab, LF and CR pass only in descriptions.
    #[test]
    fn every_character_xml_or_email_cannot_carry_is_refused() {
        let bad: Vec<char> = (0u32..0x20)
            .chain(0x7f..0xa0)
            .chain([0xfffe, 0xffff])
            .filter_map(char::from_u32)
            .collect();
        for c in bad {
            let value = format!("fix{c}it");
            let e = check_line("summary", &value).unwrap_err();
            assert_eq!(e.field, "summary");
            assert!(e.reason.contains(&format!("U+{:04X}", c as u32)), "{e}");
            assert!(!e.to_string().contains(c), "the message shows {c:?} raw");
            let in_description = check_description(&value);
            if matches!(c, '\t' | '\n' | '\r') {
                in_description.unwrap();
            } else {
                assert!(in_description.is_err(), "{c:?}");
            }
        }
        check_line("summary", "Heap overflow in libfoo — “quoted” 日本 😀 <&>").unwrap();
    }

    #[test]
    fn lengths_and_ids_are_bounded() {
        assert!(check_line("summary", &"x".repeat(SUMMARY_CHARS_MAX + 1)).is_err());
        assert!(check_line("summary", "  ").is_err());
        assert!(check_description(&"x".repeat(DESCRIPTION_BYTES_MAX + 1)).is_err());
        check_id("FEDORA-2026-0001").unwrap();
        for bad in ["", "a b", "a/b", "x\n", &"a".repeat(65)] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_severity("Critical").unwrap(), "critical");
        assert!(check_severity("urgent").is_err());
    }

    #[test]
    fn xml_safe_replaces_only_what_xml_cannot_carry() {
        assert!(matches!(
            xml_safe("plain ½ 日本 \u{f000}"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            xml_safe("a\u{0}b\u{1b}c\u{fffe}\u{ffff}d\te"),
            "a\u{fffd}b\u{fffd}c\u{fffd}\u{fffd}d\te"
        );
        assert_eq!(header_safe("x\u{1b}[31m\0 y\n z"), "x [31m y z");
    }
}
