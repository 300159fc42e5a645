//! Dependency lists as createrepo_c 1.x writes them: the version split into
//! epoch/ver/rel, the requires filters (rpmlib, own primary files, exact self-provides,
//! repeats, bad epochs), MISSINGOK requires moved to recommends, only the highest
//! `libc.so.6` require kept and moved last, and legacy SUSE weak dependencies.
//!
//! Pure functions over already-decoded header values; knows nothing about the file
//! layout, signatures or XML.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use super::{DepFlag, Dependency};

const PREREQ: u32 = 1 << 6;
const POSTTRANS: u32 = 1 << 5;
const PRETRANS: u32 = 1 << 7;
const SCRIPT_PRE: u32 = 1 << 9;
const SCRIPT_POST: u32 = 1 << 10;
const MISSINGOK: u32 = 1 << 19;
const STRONG: u32 = 1 << 27;

/// The flag bits that make a require `pre="1"` (createrepo_c 1.x: PRETRANS and
/// POSTTRANS count too; 0.17 counted only the first three).
const PRE_BITS: u32 = PREREQ | SCRIPT_PRE | SCRIPT_POST | PRETRANS | POSTTRANS;

/// One dependency entry as the header stores it, strings already decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawDep {
    pub(crate) name: String,
    pub(crate) flags: u32,
    pub(crate) version: String,
}

/// Every dependency list of a package, straight from the header, in header order.
#[derive(Debug, Default)]
pub(crate) struct RawDeps {
    pub(crate) provides: Vec<RawDep>,
    pub(crate) requires: Vec<RawDep>,
    pub(crate) conflicts: Vec<RawDep>,
    pub(crate) obsoletes: Vec<RawDep>,
    pub(crate) suggests: Vec<RawDep>,
    pub(crate) enhances: Vec<RawDep>,
    pub(crate) recommends: Vec<RawDep>,
    pub(crate) supplements: Vec<RawDep>,
    /// Legacy SUSE tags 1156–1158 and 1159–1161.
    pub(crate) old_suggests: Vec<RawDep>,
    pub(crate) old_enhances: Vec<RawDep>,
}

/// The eight lists as primary.xml carries them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct DepLists {
    pub(crate) provides: Vec<Dependency>,
    pub(crate) requires: Vec<Dependency>,
    pub(crate) conflicts: Vec<Dependency>,
    pub(crate) obsoletes: Vec<Dependency>,
    pub(crate) suggests: Vec<Dependency>,
    pub(crate) enhances: Vec<Dependency>,
    pub(crate) recommends: Vec<Dependency>,
    pub(crate) supplements: Vec<Dependency>,
}

fn flag_of(flags: u32) -> Option<DepFlag> {
    match flags & 0xf {
        2 => Some(DepFlag::Lt),
        4 => Some(DepFlag::Gt),
        8 => Some(DepFlag::Eq),
        10 => Some(DepFlag::Le),
        12 => Some(DepFlag::Ge),
        _ => None,
    }
}

fn flag_str(flags: u32) -> &'static str {
    flag_of(flags).map_or("", DepFlag::as_str)
}

/// Split of a dependency version string; `Err(())` for a non-numeric epoch, which
/// makes createrepo_c drop the dependency.
#[allow(clippy::result_unit_err, clippy::type_complexity)]
pub(crate) fn split_evr(
    version: &str,
) -> Result<(Option<String>, Option<String>, Option<String>), ()> {
    if version.is_empty() {
        return Ok((None, None, None));
    }
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) => {
            if !epoch.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            // An empty epoch (":1.0") reads as 0, as strtol finds no digits there.
            let epoch = if epoch.is_empty() { "0" } else { epoch };
            (epoch, rest)
        }
        None => ("0", version),
    };
    let (ver, rel) = match rest.split_once('-') {
        Some((ver, rel)) => (ver, (!rel.is_empty()).then(|| rel.to_owned())),
        None => (rest, None),
    };
    Ok((Some(epoch.to_owned()), Some(ver.to_owned()), rel))
}

/// Builds the written form; `None` when the epoch is bad.
fn to_dependency(raw: &RawDep, pre: bool) -> Option<Dependency> {
    let (epoch, version, release) = split_evr(&raw.version).ok()?;
    let flags = flag_of(raw.flags);
    Some(match flags {
        Some(_) => Dependency {
            name: raw.name.clone(),
            flags,
            epoch,
            version,
            release,
            pre,
        },
        None => Dependency {
            name: raw.name.clone(),
            flags: None,
            epoch: None,
            version: None,
            release: None,
            pre,
        },
    })
}

fn copy_list(raw: &[RawDep]) -> Vec<Dependency> {
    raw.iter().filter_map(|d| to_dependency(d, false)).collect()
}

/// createrepo_c's primary-file rule: these paths go into primary.xml.
pub(crate) fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

/// Applies createrepo_c 1.x filtering. `own_files` are the package's full file paths.
pub(crate) fn build_lists(raw: &RawDeps, own_files: &HashSet<&str>) -> DepLists {
    let mut lists = DepLists {
        provides: copy_list(&raw.provides),
        conflicts: copy_list(&raw.conflicts),
        obsoletes: copy_list(&raw.obsoletes),
        ..DepLists::default()
    };
    // Exact keys of the kept provides: name + flags string + full version string.
    // (Compared as parts: the concatenation createrepo_c uses can only collide where
    // a name ends in "EQ"/"GE"/…, which no real capability does.)
    let provide_keys: HashSet<(&str, &str, &str)> = raw
        .provides
        .iter()
        .filter(|d| split_evr(&d.version).is_ok())
        .map(|d| (d.name.as_str(), flag_str(d.flags), d.version.as_str()))
        .collect();

    let mut moved_to_recommends = Vec::new();
    let mut last_kept: HashMap<&str, (&'static str, &str, bool)> = HashMap::new();
    let mut libc_highest: Option<Dependency> = None;
    for dep in &raw.requires {
        if dep.name.starts_with("rpmlib(") {
            continue;
        }
        if own_files.contains(dep.name.as_str()) && is_primary_file(&dep.name) {
            continue;
        }
        let flags = flag_str(dep.flags);
        if provide_keys.contains(&(dep.name.as_str(), flags, dep.version.as_str())) {
            continue;
        }
        let pre = dep.flags & PRE_BITS != 0;
        if last_kept.get(dep.name.as_str()) == Some(&(flags, dep.version.as_str(), pre)) {
            continue;
        }
        let Some(written) = to_dependency(dep, pre) else {
            continue;
        };
        if dep.flags & MISSINGOK != 0 {
            moved_to_recommends.push(Dependency {
                pre: false,
                ..written
            });
            continue;
        }
        if dep.name.starts_with("libc.so.6") {
            match &libc_highest {
                Some(best) if compare_libc(&best.name, &dep.name) != Ordering::Less => {}
                _ => libc_highest = Some(written),
            }
            continue;
        }
        lists.requires.push(written);
        last_kept.insert(&dep.name, (flags, &dep.version, pre));
    }
    lists.requires.extend(libc_highest);

    lists.suggests = copy_list(&raw.suggests);
    lists.enhances = copy_list(&raw.enhances);
    lists.recommends = moved_to_recommends;
    lists.recommends.extend(copy_list(&raw.recommends));
    lists.supplements = copy_list(&raw.supplements);

    for dep in &raw.old_suggests {
        if let Some(written) = to_dependency(dep, false) {
            if dep.flags & STRONG != 0 {
                lists.recommends.push(written);
            } else {
                lists.suggests.push(written);
            }
        }
    }
    for dep in &raw.old_enhances {
        if let Some(written) = to_dependency(dep, false) {
            if dep.flags & STRONG != 0 {
                lists.supplements.push(written);
            } else {
                lists.enhances.push(written);
            }
        }
    }
    lists
}

/// Orders two `libc.so.6…` names by the version inside their first parentheses,
/// counted from its first digit (createrepo_c's rule). Names without parentheses,
/// with empty ones or without digits in them are the lowest.
fn compare_libc(a: &str, b: &str) -> Ordering {
    fn inner(name: &str) -> Option<Option<&str>> {
        // None: no usable "(...)"; Some(None): present but empty or without digits.
        let open = name.find('(')?;
        let close = open + name[open..].find(')')?;
        let content = &name[open + 1..close];
        if content.is_empty() {
            return Some(None);
        }
        Some(
            content
                .find(|c: char| c.is_ascii_digit())
                .map(|d| &content[d..]),
        )
    }
    match (inner(a), inner(b)) {
        (Some(Some(x)), Some(Some(y))) => rpmvercmp(x, y),
        (Some(Some(_)), _) => Ordering::Greater,
        (_, Some(Some(_))) => Ordering::Less,
        (Some(None), None) => Ordering::Greater,
        (None, Some(None)) => Ordering::Less,
        _ => Ordering::Equal,
    }
}

/// rpm's version comparison (`rpmvercmp`), including `~` (sorts before anything) and
/// `^` (sorts after the base but before any further segment).
pub(crate) fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut one, mut two) = (a.as_bytes(), b.as_bytes());
    let is_sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while one.first().is_some_and(|&c| is_sep(c)) {
            one = &one[1..];
        }
        while two.first().is_some_and(|&c| is_sep(c)) {
            two = &two[1..];
        }
        let (c1, c2) = (one.first().copied(), two.first().copied());
        if c1 == Some(b'~') || c2 == Some(b'~') {
            if c1 != Some(b'~') {
                return Ordering::Greater;
            }
            if c2 != Some(b'~') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        if c1 == Some(b'^') || c2 == Some(b'^') {
            if c1.is_none() {
                return Ordering::Less;
            }
            if c2.is_none() {
                return Ordering::Greater;
            }
            if c1 != Some(b'^') {
                return Ordering::Greater;
            }
            if c2 != Some(b'^') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        let (Some(c1), Some(_)) = (c1, c2) else {
            break;
        };
        let numeric = c1.is_ascii_digit();
        let take = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (n1, n2) = (take(one), take(two));
        let (seg1, seg2) = (&one[..n1], &two[..n2]);
        one = &one[n1..];
        two = &two[n2..];
        if seg2.is_empty() {
            // Segments of different kinds: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let order = if numeric {
            let s1 = &seg1[seg1.iter().take_while(|&&c| c == b'0').count()..];
            let s2 = &seg2[seg2.iter().take_while(|&&c| c == b'0').count()..];
            s1.len().cmp(&s2.len()).then_with(|| s1.cmp(s2))
        } else {
            seg1.cmp(seg2)
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    match (one.is_empty(), two.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, flags: u32, version: &str) -> RawDep {
        RawDep {
            name: name.into(),
            flags,
            version: version.into(),
        }
    }

    #[test]
    fn rpmvercmp_matches_rpm() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("2.10", "2.9", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0^", "1.0", Greater),
            ("a", "1", Less),
            ("001", "1", Equal),
            ("2.34", "2.2.5", Greater),
            ("1_0", "1.0", Equal),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn evr_split_follows_createrepo_c() {
        let s = |v: &str| split_evr(v).unwrap();
        let o = |v: &str| Some(v.to_owned());
        assert_eq!(s("1.0.0-1"), (o("0"), o("1.0.0"), o("1")));
        assert_eq!(s("2:1.0-1"), (o("2"), o("1.0"), o("1")));
        assert_eq!(s("1.0-"), (o("0"), o("1.0"), None));
        assert_eq!(s("1.0-1-2"), (o("0"), o("1.0"), o("1-2")));
        assert_eq!(s(":1.0"), (o("0"), o("1.0"), None));
        assert_eq!(s(""), (None, None, None));
        assert!(split_evr("x:1.0").is_err());
    }

    #[test]
    fn requires_are_filtered_like_createrepo_c() {
        let files: HashSet<&str> = ["/usr/bin/tool", "/usr/share/doc/x"].into_iter().collect();
        let deps = RawDeps {
            provides: vec![raw("cap", 8, "1:2-3"), raw("virt", 0, "")],
            requires: vec![
                raw("/bin/sh", 0, ""),
                raw("/bin/sh", 1 << 9, ""),
                raw("/bin/sh", 1 << 8, ""),
                raw("/bin/sh", 1 << 10, ""),
                raw("/usr/bin/tool", 0, ""),
                raw("/usr/share/doc/x", 0, ""),
                raw("cap", 8, "1:2-3"),
                raw("cap", 12, "1:2-3"),
                raw("virt", 0, ""),
                raw("libc.so.6()(64bit)", 0, ""),
                raw("libc.so.6(GLIBC_2.34)(64bit)", 0, ""),
                raw("libc.so.6(GLIBC_2.2.5)(64bit)", 0, ""),
                raw("rpmlib(PayloadIsZstd)", 1 << 24 | 10, "5.4.18-1"),
                raw("weak", MISSINGOK, ""),
                raw("bad", 8, "x:1"),
                raw("zzz", 1 << 7, ""),
            ],
            recommends: vec![raw("rec", 0, "")],
            old_suggests: vec![raw("os", 0, ""), raw("osr", STRONG, "")],
            old_enhances: vec![raw("oe", 0, ""), raw("oes", STRONG, "")],
            ..RawDeps::default()
        };
        let lists = build_lists(&deps, &files);
        let names: Vec<(&str, bool)> = lists
            .requires
            .iter()
            .map(|d| (d.name.as_str(), d.pre))
            .collect();
        assert_eq!(
            names,
            [
                ("/bin/sh", false),
                ("/bin/sh", true),
                ("/bin/sh", false),
                ("/bin/sh", true),
                ("/usr/share/doc/x", false),
                ("cap", false),
                ("zzz", true),
                ("libc.so.6(GLIBC_2.34)(64bit)", false),
            ]
        );
        let cap = &lists.requires[5];
        assert_eq!(cap.flags, Some(DepFlag::Ge));
        assert_eq!(
            (
                cap.epoch.as_deref(),
                cap.version.as_deref(),
                cap.release.as_deref()
            ),
            (Some("1"), Some("2"), Some("3"))
        );
        let rec: Vec<&str> = lists.recommends.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(rec, ["weak", "rec", "osr"]);
        let sug: Vec<&str> = lists.suggests.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(sug, ["os"]);
        let enh: Vec<&str> = lists.enhances.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(enh, ["oe"]);
        let sup: Vec<&str> = lists.supplements.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(sup, ["oes"]);
    }

    #[test]
    fn libc_ordering() {
        assert_eq!(
            compare_libc(
                "libc.so.6(GLIBC_2.34)(64bit)",
                "libc.so.6(GLIBC_2.17)(64bit)"
            ),
            Ordering::Greater
        );
        assert_eq!(
            compare_libc("libc.so.6()(64bit)", "libc.so.6(GLIBC_2.2.5)"),
            Ordering::Less
        );
        assert_eq!(compare_libc("libc.so.6", "libc.so.6()"), Ordering::Less);
        assert_eq!(
            compare_libc("libc.so.6(64bit)", "libc.so.6(GLIBC_2.2.5)"),
            Ordering::Greater
        );
    }
}
