//! Renders updateinfo.xml for a revision's advisories, in the shape createrepo_c's
//! updateinfo writer uses (`reference/repodata.md` §6) so that `dnf upgrade
//! --security` and `dnf updateinfo` read it.
//!
//! Pure: advisories in, bytes out; dates come from the advisory, never the clock.

use super::xml::{push_attr, push_text};
use super::Advisory;

/// `https://www.cve.org/CVERecord?id=` + the CVE id: the reference href.
pub const CVE_URL_PREFIX: &str = "https://www.cve.org/CVERecord?id=";

/// The whole updateinfo.xml document (ends with a newline).
pub fn render_updateinfo(advisories: &[Advisory]) -> String {
    let mut o = String::with_capacity(1024 * advisories.len().max(1));
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<updates>\n");
    for a in advisories {
        render_update(&mut o, a);
    }
    o.push_str("</updates>\n");
    o
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_date(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rem = seconds % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn element(o: &mut String, indent: &str, tag: &str, value: &str) {
    o.push_str(indent);
    o.push('<');
    o.push_str(tag);
    o.push('>');
    push_text(o, value);
    o.push_str("</");
    o.push_str(tag);
    o.push_str(">\n");
}

fn attr(o: &mut String, name: &str, value: &str) {
    o.push(' ');
    o.push_str(name);
    o.push_str("=\"");
    push_attr(o, value);
    o.push('"');
}

fn render_update(o: &mut String, a: &Advisory) {
    o.push_str("  <update");
    attr(o, "from", &a.from);
    attr(o, "status", "stable");
    attr(o, "type", &a.kind);
    attr(o, "version", "1");
    o.push_str(">\n");
    element(o, "    ", "id", &a.id);
    element(o, "    ", "title", &a.title);
    o.push_str("    <issued");
    attr(o, "date", &format_date(a.issued));
    o.push_str("/>\n    <updated");
    attr(o, "date", &format_date(a.updated));
    o.push_str("/>\n");
    element(o, "    ", "release", &a.release_name);
    element(o, "    ", "severity", &a.severity);
    element(o, "    ", "summary", &a.summary);
    element(o, "    ", "description", &a.description);
    if a.cves.is_empty() {
        o.push_str("    <references/>\n");
    } else {
        o.push_str("    <references>\n");
        for cve in &a.cves {
            o.push_str("      <reference");
            attr(o, "href", &format!("{CVE_URL_PREFIX}{cve}"));
            attr(o, "id", cve);
            attr(o, "type", "cve");
            attr(o, "title", cve);
            o.push_str("/>\n");
        }
        o.push_str("    </references>\n");
    }
    o.push_str("    <pkglist>\n      <collection");
    attr(o, "short", &a.collection);
    o.push_str(">\n");
    element(o, "        ", "name", &a.release_name);
    for p in &a.packages {
        o.push_str("        <package");
        attr(o, "name", &p.name);
        attr(o, "version", &p.version);
        attr(o, "release", &p.release);
        attr(o, "epoch", &p.epoch);
        attr(o, "arch", &p.arch);
        attr(o, "src", &p.src);
        o.push_str(">\n");
        element(o, "          ", "filename", &p.filename);
        o.push_str("          <sum type=\"sha256\">");
        push_text(o, &p.sha256);
        o.push_str("</sum>\n        </package>\n");
    }
    o.push_str("      </collection>\n    </pkglist>\n  </update>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(format_date(0), "1970-01-01 00:00:00");
        assert_eq!(format_date(1_700_000_000), "2023-11-14 22:13:20");
        // 2024-02-29 is a leap day; 2000-03-01 follows a leap-century February.
        assert_eq!(format_date(1_709_164_800), "2024-02-29 00:00:00");
        assert_eq!(format_date(951_868_800), "2000-03-01 00:00:00");
        assert_eq!(format_date(4_102_444_799), "2099-12-31 23:59:59");
    }
}
