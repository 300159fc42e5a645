//! The publisher's plan: what every repository should hold, computed from one
//! snapshot of the store and nothing else. The publisher (`origin::jobs`) reads
//! the snapshot and the package records, asks [`plan`] what each repository
//! needs, then writes and records only what the plan says.
//!
//! The rules live here, in one place: only live advisories are published; an
//! advisory limited to some releases goes only into those; a package goes into
//! the repository of its arch, `noarch` into every binary arch and `src` into
//! `source`; a package shared by several pushes or advisories is placed once; a
//! repository whose content key (package sha256s + advisory texts) is what it
//! already serves gets no new revision.
use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::core::repo::RepoId;
use crate::core::repodata::{Advisory, AdvisoryPackage};
use crate::core::rpm::Package;

/// An advisory as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryFacts {
    pub id: String,
    /// As accepted at intake, e.g. `critical`; written capitalised.
    pub severity: String,
    pub summary: String,
    /// Empty: the summary stands in for it.
    pub description: String,
    pub cves: Vec<String>,
    /// The releases it applies to; empty means every release.
    pub releases: Vec<String>,
    /// Only live advisories are published (not pending or retired ones).
    pub live: bool,
    /// Seconds since the epoch.
    pub issued: i64,
    pub updated: i64,
    pub created_by: String,
}

/// One package of an accepted or published push, with its parsed record.
#[derive(Debug, Clone)]
pub struct PushedPackage {
    pub advisory_id: String,
    /// The file name it was uploaded under.
    pub file_name: String,
    /// The arch the intake recorded: `noarch`, `src`, `x86_64`, ...
    pub arch: String,
    pub size: u64,
    pub record: Package,
}

/// What a repository holds now, as far as the plan needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub revision: u64,
    pub content_key: String,
    /// Its repomd.xml is on disk and being served: nothing to repair.
    pub intact: bool,
}

/// Everything the plan reads.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub repos: &'a [RepoId],
    pub advisories: &'a [AdvisoryFacts],
    pub packages: &'a [PushedPackage],
    /// By repository path (`critical/43/x86_64`).
    pub current: &'a BTreeMap<String, Current>,
    /// An advisory's collection is this prefix + the release (the metalink repo id).
    pub collection_prefix: &'a str,
    /// updateinfo's `from`: the distribution's security contact (`[announce]
    /// from`), never the pusher's user name.
    pub security_contact: &'a str,
    /// Seconds since the epoch: the revision of a repository that changes now.
    pub now_secs: u64,
}

/// A package file placed in a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedFile {
    /// Relative to the repository, e.g. `Packages/h/hello-1.0-2.noarch.rpm`.
    pub href: String,
    pub sha256: String,
    pub size: u64,
}

/// What one repository should hold.
#[derive(Debug, Clone)]
pub struct RepoPlan {
    pub repo: RepoId,
    /// Each package once, in advisory id then file name order.
    pub packages: Vec<Package>,
    /// The files of `packages`, in the same order.
    pub files: Vec<PlacedFile>,
    /// The live advisories with packages here, by id, each with its packages here.
    pub advisories: Vec<Advisory>,
    pub content_key: String,
    /// `Some(revision)` when the repository must be (re)published; `None` when
    /// what it serves already has this content.
    pub publish: Option<u64>,
}

/// The plan of every repository in `inputs.repos`, in that order.
pub fn plan(inputs: &Inputs<'_>) -> Vec<RepoPlan> {
    let live: BTreeMap<&str, &AdvisoryFacts> = inputs
        .advisories
        .iter()
        .filter(|a| a.live)
        .map(|a| (a.id.as_str(), a))
        .collect();
    let mut pushed: Vec<&PushedPackage> = inputs
        .packages
        .iter()
        .filter(|p| live.contains_key(p.advisory_id.as_str()))
        .collect();
    pushed.sort_by(|a, b| {
        (&a.advisory_id, &a.file_name, &a.record.sha256).cmp(&(
            &b.advisory_id,
            &b.file_name,
            &b.record.sha256,
        ))
    });
    // Several pushes of one advisory may carry the same package: once per advisory.
    let mut once = BTreeSet::new();
    pushed.retain(|p| once.insert((p.advisory_id.as_str(), p.record.sha256.as_str())));
    inputs
        .repos
        .iter()
        .map(|repo| plan_repo(inputs, repo, &live, &pushed))
        .collect()
}

fn plan_repo(
    inputs: &Inputs<'_>,
    repo: &RepoId,
    live: &BTreeMap<&str, &AdvisoryFacts>,
    pushed: &[&PushedPackage],
) -> RepoPlan {
    let mut packages = Vec::new();
    let mut files = Vec::new();
    let mut by_advisory: BTreeMap<&str, Vec<AdvisoryPackage>> = BTreeMap::new();
    let mut placed = BTreeSet::new();
    for p in pushed {
        let Some(advisory) = live.get(p.advisory_id.as_str()) else {
            continue;
        };
        let release_ok = advisory.releases.is_empty() || advisory.releases.contains(&repo.release);
        if !release_ok || !repo.takes_arch(&p.arch) {
            continue;
        }
        let r = &p.record;
        by_advisory
            .entry(advisory.id.as_str())
            .or_default()
            .push(AdvisoryPackage {
                name: r.name.clone(),
                epoch: r.epoch.clone(),
                version: r.version.clone(),
                release: r.release.clone(),
                arch: r.arch.clone(),
                src: r.sourcerpm.clone(),
                filename: r.file_name(),
                sha256: r.sha256.clone(),
            });
        if placed.insert(r.sha256.as_str()) {
            files.push(PlacedFile {
                href: r.location_href.clone(),
                sha256: r.sha256.clone(),
                size: p.size,
            });
            packages.push(r.clone());
        }
    }
    let advisories: Vec<Advisory> = by_advisory
        .into_iter()
        .map(|(id, pkgs)| {
            updateinfo_advisory(
                inputs.collection_prefix,
                inputs.security_contact,
                repo,
                live[id],
                pkgs,
            )
        })
        .collect();
    let content_key = content_key(&packages, &advisories);
    let publish = next_revision(
        inputs.current.get(&repo.path()),
        &content_key,
        inputs.now_secs,
    );
    RepoPlan {
        repo: repo.clone(),
        packages,
        files,
        advisories,
        content_key,
        publish,
    }
}

/// The revision to publish for `content_key`, or `None` when the repository
/// already serves it intact. A repository whose content is unchanged but whose
/// files are not intact is written again under the same revision; a change gets
/// `now`, or one more than the current revision if the clock is behind it.
pub fn next_revision(current: Option<&Current>, content_key: &str, now_secs: u64) -> Option<u64> {
    match current {
        Some(c) if c.content_key == content_key && c.intact => None,
        Some(c) if c.content_key == content_key => Some(c.revision),
        Some(c) => Some(now_secs.max(c.revision + 1)),
        None => Some(now_secs),
    }
}

/// The files a repository must keep after publishing a revision that needs
/// `new`: those plus every file of the revisions still retained.
pub fn keep_files<'a>(
    new: &[String],
    retained: impl IntoIterator<Item = &'a [String]>,
) -> BTreeSet<String> {
    new.iter()
        .cloned()
        .chain(retained.into_iter().flatten().cloned())
        .collect()
}

fn updateinfo_advisory(
    collection_prefix: &str,
    security_contact: &str,
    repo: &RepoId,
    a: &AdvisoryFacts,
    packages: Vec<AdvisoryPackage>,
) -> Advisory {
    Advisory {
        id: a.id.clone(),
        kind: "security".into(),
        severity: capitalise(&a.severity),
        title: a.summary.clone(),
        summary: a.summary.clone(),
        description: if a.description.is_empty() {
            a.summary.clone()
        } else {
            a.description.clone()
        },
        issued: a.issued as u64,
        updated: a.updated.max(a.issued) as u64,
        release_name: format!("{} {}", repo.channel, repo.release),
        collection: format!("{collection_prefix}{}", repo.release),
        from: security_contact.to_owned(),
        cves: a.cves.clone(),
        packages,
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(|c| c.to_lowercase()))
            .collect(),
        None => String::new(),
    }
}

/// A digest of everything that goes into a repository's repodata except the
/// revision: equal keys mean a publish would change nothing.
pub fn content_key(packages: &[Package], advisories: &[Advisory]) -> String {
    let mut h = Sha256::new();
    let mut sums: Vec<&str> = packages.iter().map(|p| p.sha256.as_str()).collect();
    sums.sort_unstable();
    for s in sums {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    for a in advisories {
        h.update(format!("{a:?}").as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn repos(arches: &[&str]) -> Vec<RepoId> {
        arches
            .iter()
            .map(|a| RepoId {
                channel: "critical".into(),
                release: "43".into(),
                arch: (*a).into(),
            })
            .collect()
    }

    fn advisory(id: &str) -> AdvisoryFacts {
        AdvisoryFacts {
            id: id.into(),
            severity: "critical".into(),
            summary: format!("Fix for {id}"),
            description: String::new(),
            cves: vec!["CVE-2026-0001".into()],
            releases: Vec::new(),
            live: true,
            issued: 1_700_000_000,
            updated: 1_700_000_000,
            created_by: "alice".into(),
        }
    }

    /// `name-1.0-1.arch.rpm` of `advisory`; the sha256 is derived from the name
    /// and arch, so the same name and arch is the same package.
    fn pushed(advisory: &str, name: &str, arch: &str) -> PushedPackage {
        let file_name = format!("{name}-1.0-1.{arch}.rpm");
        let sha256 = hex::encode(Sha256::digest(file_name.as_bytes()));
        PushedPackage {
            advisory_id: advisory.into(),
            file_name: file_name.clone(),
            arch: arch.into(),
            size: 1000,
            record: Package {
                name: name.into(),
                arch: arch.into(),
                epoch: "0".into(),
                version: "1.0".into(),
                release: "1".into(),
                sha256,
                location_href: crate::core::repo::package_href(&file_name),
                sourcerpm: if arch == "src" {
                    String::new()
                } else {
                    format!("{name}-1.0-1.src.rpm")
                },
                ..Package::default()
            },
        }
    }

    fn run(
        repos: &[RepoId],
        advisories: &[AdvisoryFacts],
        packages: &[PushedPackage],
        current: &BTreeMap<String, Current>,
    ) -> Vec<RepoPlan> {
        plan(&Inputs {
            repos,
            advisories,
            packages,
            current,
            collection_prefix: "critical-f",
            security_contact: "security@example.org",
            now_secs: NOW,
        })
    }

    fn names(p: &RepoPlan) -> Vec<String> {
        p.packages.iter().map(|r| r.file_name()).collect()
    }

    #[test]
    fn noarch_goes_into_every_binary_arch_and_src_only_into_source() {
        let repos = repos(&["x86_64", "aarch64", "source"]);
        let packages = [
            pushed("A-1", "hello", "noarch"),
            pushed("A-1", "hello", "src"),
            pushed("A-1", "tool", "x86_64"),
        ];
        let plans = run(&repos, &[advisory("A-1")], &packages, &BTreeMap::new());
        assert_eq!(
            names(&plans[0]),
            ["hello-1.0-1.noarch.rpm", "tool-1.0-1.x86_64.rpm"]
        );
        assert_eq!(names(&plans[1]), ["hello-1.0-1.noarch.rpm"]);
        assert_eq!(names(&plans[2]), ["hello-1.0-1.src.rpm"]);
        for p in &plans {
            // The advisory lists exactly the packages of its repository.
            assert_eq!(p.advisories.len(), 1, "{}", p.repo.path());
            let listed: Vec<&str> = p.advisories[0]
                .packages
                .iter()
                .map(|a| a.filename.as_str())
                .collect();
            assert_eq!(listed, names(p), "{}", p.repo.path());
            assert_eq!(p.advisories[0].collection, "critical-f43");
            assert_eq!(p.advisories[0].release_name, "critical 43");
            assert_eq!(p.advisories[0].severity, "Critical");
            assert_eq!(p.files.len(), p.packages.len());
            assert_eq!(p.publish, Some(NOW), "a first publication is at now");
        }
        assert_eq!(plans[2].files[0].href, "Packages/h/hello-1.0-1.src.rpm");
    }

    #[test]
    fn retired_and_pending_advisories_are_dropped() {
        let repos = repos(&["x86_64"]);
        let mut retired = advisory("R-1");
        retired.live = false;
        let packages = [
            pushed("A-1", "hello", "noarch"),
            pushed("R-1", "old", "x86_64"),
        ];
        let both = [advisory("A-1"), advisory("R-1")];
        let before = run(&repos, &both, &packages, &BTreeMap::new());
        let after = run(
            &repos,
            &[advisory("A-1"), retired],
            &packages,
            &BTreeMap::new(),
        );
        assert_eq!(names(&before[0]).len(), 2);
        assert_eq!(names(&after[0]), ["hello-1.0-1.noarch.rpm"]);
        let ids: Vec<&str> = after[0].advisories.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["A-1"]);
        assert_ne!(before[0].content_key, after[0].content_key);
        // A package of an advisory the store does not hold is not published either.
        let orphan = run(
            &repos,
            &[],
            &[pushed("GONE-1", "x", "x86_64")],
            &BTreeMap::new(),
        );
        assert!(orphan[0].packages.is_empty() && orphan[0].advisories.is_empty());
    }

    #[test]
    fn an_advisory_for_some_releases_stays_out_of_the_others() {
        let mut repos = repos(&["x86_64"]);
        repos.push(RepoId {
            channel: "critical".into(),
            release: "42".into(),
            arch: "x86_64".into(),
        });
        let mut only_42 = advisory("A-42");
        only_42.releases = vec!["42".into()];
        let plans = run(
            &repos,
            &[only_42],
            &[pushed("A-42", "hello", "x86_64")],
            &BTreeMap::new(),
        );
        assert!(plans[0].packages.is_empty() && plans[0].advisories.is_empty());
        assert_eq!(names(&plans[1]), ["hello-1.0-1.x86_64.rpm"]);
        assert_eq!(plans[1].advisories[0].collection, "critical-f42");
    }

    #[test]
    fn an_unchanged_content_key_publishes_nothing() {
        let repos = repos(&["x86_64"]);
        let advisories = [advisory("A-1")];
        let packages = [pushed("A-1", "hello", "noarch")];
        let first = run(&repos, &advisories, &packages, &BTreeMap::new());
        let key = first[0].content_key.clone();
        let current = |revision: u64, key: &str, intact: bool| {
            BTreeMap::from([(
                "critical/43/x86_64".to_owned(),
                Current {
                    revision,
                    content_key: key.to_owned(),
                    intact,
                },
            )])
        };
        let again = run(
            &repos,
            &advisories,
            &packages,
            &current(NOW - 60, &key, true),
        );
        assert_eq!(again[0].publish, None);
        assert_eq!(again[0].content_key, key);
        // Same content, files not intact (e.g. repomd.xml lost): same revision again.
        let repair = run(
            &repos,
            &advisories,
            &packages,
            &current(NOW - 60, &key, false),
        );
        assert_eq!(repair[0].publish, Some(NOW - 60));
        // New content: now, or one past the current revision when the clock is behind it.
        let changed = run(
            &repos,
            &advisories,
            &packages,
            &current(NOW - 60, "old", true),
        );
        assert_eq!(changed[0].publish, Some(NOW));
        let ahead = run(
            &repos,
            &advisories,
            &packages,
            &current(NOW + 5, "old", true),
        );
        assert_eq!(ahead[0].publish, Some(NOW + 6));
        // The advisory's text is part of the content.
        let mut edited = advisory("A-1");
        edited.description = "More detail".into();
        let text = run(&repos, &[edited], &packages, &current(NOW - 60, &key, true));
        assert_ne!(text[0].content_key, key);
        assert_eq!(text[0].publish, Some(NOW));
    }

    #[test]
    fn several_pushes_are_coalesced_into_one_revision_whatever_their_order() {
        let repos = repos(&["x86_64", "aarch64"]);
        let advisories = [advisory("A-1"), advisory("B-2")];
        // A-1 came in two pushes that both carry `hello`; B-2 shares `lib` with A-1.
        let packages = vec![
            pushed("A-1", "hello", "noarch"),
            pushed("A-1", "lib", "x86_64"),
            pushed("B-2", "lib", "x86_64"),
            pushed("B-2", "other", "aarch64"),
            pushed("A-1", "hello", "noarch"),
        ];
        let plans = run(&repos, &advisories, &packages, &BTreeMap::new());
        let x86 = &plans[0];
        assert_eq!(
            names(x86),
            ["hello-1.0-1.noarch.rpm", "lib-1.0-1.x86_64.rpm"],
            "each package placed once"
        );
        let per_advisory: Vec<(&str, usize)> = x86
            .advisories
            .iter()
            .map(|a| (a.id.as_str(), a.packages.len()))
            .collect();
        assert_eq!(per_advisory, [("A-1", 2), ("B-2", 1)]);
        assert_eq!(
            names(&plans[1]),
            ["hello-1.0-1.noarch.rpm", "other-1.0-1.aarch64.rpm"]
        );
        // The store's row order does not matter: same plan, same keys.
        let mut reversed = packages.clone();
        reversed.reverse();
        let again = run(&repos, &advisories, &reversed, &BTreeMap::new());
        for (a, b) in plans.iter().zip(&again) {
            assert_eq!(a.content_key, b.content_key);
            assert_eq!(names(a), names(b));
            assert_eq!(a.advisories, b.advisories);
        }
    }

    #[test]
    fn retention_keeps_the_new_and_every_retained_revision() {
        let new = vec![
            "repodata/n-primary.xml.zst".to_owned(),
            "Packages/a/a.rpm".to_owned(),
        ];
        let old = vec![
            "repodata/o-primary.xml.zst".to_owned(),
            "Packages/a/a.rpm".to_owned(),
        ];
        let older = vec!["repodata/p-primary.xml.zst".to_owned()];
        let keep = keep_files(&new, [old.as_slice(), older.as_slice()]);
        let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
        assert_eq!(
            keep,
            [
                "Packages/a/a.rpm",
                "repodata/n-primary.xml.zst",
                "repodata/o-primary.xml.zst",
                "repodata/p-primary.xml.zst"
            ]
        );
    }

    #[test]
    fn severities_are_capitalised() {
        assert_eq!(capitalise("critical"), "Critical");
        assert_eq!(capitalise("IMPORTANT"), "Important");
        assert_eq!(capitalise(""), "");
    }
}
