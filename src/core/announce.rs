//! The announcement of an advisory: a plain-text email in the style of
//! distribution security notices (Subject line, advisory id, severity, CVEs with
//! links, the packages, the one command users run, how to verify).
//!
//! Pure: takes the advisory's facts and the origin's public values, returns text.
//! It knows nothing of the store, HTTP or the published tree.

/// Where a CVE id links to.
pub const CVE_URL_PREFIX: &str = "https://www.cve.org/CVERecord?id=";

/// Everything an announcement says.
#[derive(Debug, Clone)]
pub struct Notice<'a> {
    pub advisory: &'a str,
    /// `critical`, `important`, `moderate`, `low`.
    pub severity: &'a str,
    pub summary: &'a str,
    pub description: &'a str,
    pub cves: &'a [String],
    /// NEVRAs (`name-epoch:version-release.arch`), as pushed.
    pub packages: &'a [String],
    /// Releases the advisory covers; empty: every configured one.
    pub releases: &'a [String],
    /// Unix seconds.
    pub issued_unix: i64,
    /// The origin, without a trailing slash.
    pub public_url: &'a str,
    /// The `.repo` section name clients have (`critical-updates`).
    pub repo_id: &'a str,
    /// Metalink URLs of the repositories, one per release and arch.
    pub metalinks: &'a [String],
    /// Fingerprint of the repo-signing key; empty when unknown.
    pub key_fingerprint: &'a str,
    /// Fingerprints of the keys that signed the packages; empty when unknown.
    pub package_key_fingerprints: &'a [String],
}

/// Renders the announcement: the first line is `Subject: ...`, then a blank
/// line, then the body, wrapped for email.
pub fn render(n: &Notice<'_>) -> String {
    let severity = capitalize(n.severity);
    let mut out = String::new();
    let subject_cves = if n.cves.is_empty() {
        String::new()
    } else if n.cves.len() <= 3 {
        format!(" ({})", n.cves.join(", "))
    } else {
        format!(
            " ({}, and {} more)",
            n.cves[..2].join(", "),
            n.cves.len() - 2
        )
    };
    // The API refuses control characters in these fields; values stored before
    // that rule, or from anywhere else, still never break the header.
    let subject = format!(
        "[SECURITY] {} {severity}: {}{subject_cves}",
        n.advisory,
        one_line(n.summary)
    );
    out.push_str(&format!(
        "Subject: {}\n\n",
        crate::core::advisory::header_safe(&subject)
    ));
    let rule = "-".repeat(72);
    out.push_str(&format!("{rule}\n"));
    out.push_str(&format!("Security Advisory {}\n", n.advisory));
    out.push_str(&format!("{rule}\n"));
    let issued = chrono::DateTime::from_timestamp(n.issued_unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    out.push_str(&format!("Advisory ID : {}\n", n.advisory));
    out.push_str(&format!("Severity    : {severity}\n"));
    out.push_str(&format!("Issued      : {issued}\n"));
    let releases = if n.releases.is_empty() {
        "all supported releases".to_owned()
    } else {
        n.releases.join(", ")
    };
    out.push_str(&format!("Releases    : {releases}\n"));
    out.push_str(&format!(
        "Details     : {}/advisory/{}\n",
        n.public_url, n.advisory
    ));
    out.push_str(&format!("{rule}\n\n"));

    out.push_str("Summary:\n\n");
    out.push_str(&wrap(n.summary, 72, ""));
    out.push('\n');
    if !n.description.trim().is_empty() {
        out.push_str("\nDescription:\n\n");
        let paragraphs: Vec<String> = n
            .description
            .trim()
            .split("\n\n")
            .map(|para| wrap(para, 72, ""))
            .filter(|para| !para.is_empty())
            .collect();
        out.push_str(&paragraphs.join("\n\n"));
        out.push('\n');
    }

    out.push_str("\nCVEs:\n\n");
    if n.cves.is_empty() {
        out.push_str("  (none assigned yet)\n");
    }
    for cve in n.cves {
        out.push_str(&format!("  {cve}  {CVE_URL_PREFIX}{cve}\n"));
    }

    out.push_str("\nUpdated packages:\n\n");
    if n.packages.is_empty() {
        out.push_str("  (none yet)\n");
    }
    for p in n.packages {
        out.push_str(&format!("  {p}\n"));
    }

    out.push_str("\nHow to update:\n\n");
    out.push_str(&wrap(
        &format!(
            "The fix is in the `{}` repository, which is enabled by default. \
             Install it now with:",
            n.repo_id
        ),
        72,
        "",
    ));
    out.push_str(&format!(
        "\n\n  dnf upgrade --refresh --advisory={}\n\n",
        n.advisory
    ));
    out.push_str(&wrap(
        "Systems that refresh their metadata on a timer pick the fix up within \
         the hour; restart the services that use the updated packages.",
        72,
        "",
    ));

    out.push_str("\n\nHow to verify:\n\n");
    out.push_str(&format!("  dnf updateinfo info {}\n", n.advisory));
    let names: Vec<&str> = n.packages.iter().map(|p| package_name(p)).collect();
    let mut names_unique: Vec<&str> = Vec::new();
    for name in names {
        if !names_unique.contains(&name) {
            names_unique.push(name);
        }
    }
    if !names_unique.is_empty() {
        out.push_str(&format!("  rpm -q {}\n", names_unique.join(" ")));
    }
    out.push('\n');
    out.push_str(&wrap(
        "The installed versions must be the ones listed above. Packages are \
         signed with the distribution key and the repository metadata with the \
         repository key:",
        72,
        "",
    ));
    out.push_str("\n\nPackage-signing key(s):\n\n");
    out.push_str(&format!("  {}/keys/packages.asc\n", n.public_url));
    if n.package_key_fingerprints.is_empty() {
        out.push_str("  (fingerprint unknown: the packages were not checked against a key)\n");
    }
    for fingerprint in n.package_key_fingerprints {
        out.push_str(&format!("  fingerprint {fingerprint}\n"));
    }
    out.push_str("\nRepository key:\n\n");
    out.push_str(&format!("  {}/keys/repo.asc\n", n.public_url));
    if !n.key_fingerprint.is_empty() {
        out.push_str(&format!("  fingerprint {}\n", n.key_fingerprint));
    }
    if !n.metalinks.is_empty() {
        out.push_str("\nMirror operators and auditors can check the repositories end to end:\n\n");
        for m in n.metalinks {
            out.push_str(&format!("  hotpush verify --metalink '{m}'\n"));
        }
    }
    out.push_str(&format!("\n{rule}\n"));
    out
}

/// The name part of a NEVRA (`openssl-libs-1:3.0.7-1.fc43.x86_64` -> `openssl-libs`).
fn package_name(nevra: &str) -> &str {
    // name-[epoch:]version-release.arch: drop the last two dash-separated fields.
    let mut end = nevra.len();
    for _ in 0..2 {
        match nevra[..end].rfind('-') {
            Some(i) => end = i,
            None => return nevra,
        }
    }
    &nevra[..end]
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Greedy word wrap at `width` columns, every line prefixed with `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            lines.push(format!("{indent}{line}"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(format!("{indent}{line}"));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice<'a>(
        cves: &'a [String],
        packages: &'a [String],
        metalinks: &'a [String],
    ) -> Notice<'a> {
        Notice {
            advisory: "FEDORA-2026-0042",
            severity: "critical",
            summary: "openssl: heap over-read in the heartbeat extension lets a remote peer read server memory",
            description: "A missing bounds check in the TLS heartbeat extension.\n\nAll services linked against libssl must be restarted.",
            cves,
            packages,
            releases: &[],
            issued_unix: 1_790_000_000,
            public_url: "http://[::1]:8080",
            repo_id: "critical-updates",
            metalinks,
            key_fingerprint: "ABCD1234",
            package_key_fingerprints: &[],
        }
    }

    #[test]
    fn the_notice_names_everything_a_user_needs() {
        let cves = vec!["CVE-2026-0160".to_owned(), "CVE-2026-0161".to_owned()];
        let packages = vec![
            "openssl-libs-1:3.0.7-2.fc43.x86_64".to_owned(),
            "openssl-1:3.0.7-2.fc43.x86_64".to_owned(),
            "openssl-libs-1:3.0.7-2.fc43.aarch64".to_owned(),
        ];
        let metalinks = vec!["http://[::1]:8080/metalink?repo=critical-f43&arch=x86_64".to_owned()];
        let package_keys = vec!["PKG0001".to_owned(), "PKG0002".to_owned()];
        let mut n = notice(&cves, &packages, &metalinks);
        n.package_key_fingerprints = &package_keys;
        let text = render(&n);
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("Subject: [SECURITY] FEDORA-2026-0042 Critical: openssl: heap"));
        assert!(first.ends_with("(CVE-2026-0160, CVE-2026-0161)"), "{first}");
        assert_eq!(text.lines().nth(1), Some(""));
        for cve in &cves {
            assert!(text.contains(&format!("{CVE_URL_PREFIX}{cve}")), "{cve}");
        }
        for p in &packages {
            assert!(text.contains(&format!("  {p}\n")), "{p}");
        }
        assert!(text.contains("  dnf upgrade --refresh --advisory=FEDORA-2026-0042\n"));
        assert!(text.contains("  rpm -q openssl-libs openssl\n"), "{text}");
        assert!(text.contains("Issued      : 2026-09-21 "), "{text}");
        assert!(text.contains(
            "hotpush verify --metalink 'http://[::1]:8080/metalink?repo=critical-f43&arch=x86_64'"
        ));
        assert!(
            text.contains(
                "Repository key:\n\n  http://[::1]:8080/keys/repo.asc\n  fingerprint ABCD1234\n"
            ),
            "{text}"
        );
        for k in &package_keys {
            assert!(text.contains(&format!("  fingerprint {k}\n")), "{text}");
        }
        assert!(text.contains("/keys/packages.asc"), "{text}");
        assert!(
            text.contains("extension.\n\nAll services"),
            "paragraphs stay apart: {text}"
        );
        // Body lines stay mail-friendly.
        for line in text.lines().skip(1) {
            assert!(line.chars().count() <= 100, "long line: {line}");
        }
    }

    #[test]
    fn many_cves_are_shortened_in_the_subject() {
        let cves: Vec<String> = (1..=5).map(|i| format!("CVE-2026-000{i}")).collect();
        let text = render(&notice(&cves, &[], &[]));
        let first = text.lines().next().unwrap();
        assert!(
            first.ends_with("(CVE-2026-0001, CVE-2026-0002, and 3 more)"),
            "{first}"
        );
        assert!(text.contains("(none yet)"));
        assert!(!text.contains("hotpush verify"));
    }

    #[test]
    fn package_names_come_from_nevras() {
        assert_eq!(package_name("hello-1.0-2.noarch"), "hello");
        assert_eq!(
            package_name("openssl-libs-1:3.0.7-2.fc43.x86_64"),
            "openssl-libs"
        );
        assert_eq!(package_name("odd"), "odd");
    }

    #[test]
    fn control_characters_never_reach_the_subject() {
        let cves = vec!["CVE-2026-0001".to_owned()];
        let packages: Vec<String> = vec![];
        let metalinks: Vec<String> = vec![];
        let mut n = notice(&cves, &packages, &metalinks);
        n.summary = "red \u{1b}[31malert\u{0} and\nInjected: header\u{7f}\u{85}";
        let text = render(&n);
        let subject = text.lines().next().unwrap();
        assert!(subject.starts_with("Subject: "), "{subject}");
        assert!(!subject.chars().any(char::is_control), "{subject:?}");
        assert!(
            subject.contains("red [31malert and Injected: header"),
            "{subject}"
        );
    }
}
