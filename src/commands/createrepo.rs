//! `hotpush createrepo DIR`: offline repodata generation for a directory of RPMs.
//!
//! Owns the file system side of the repodata builder: finding `*.rpm` files,
//! reading them in parallel through [`crate::core::rpm::read_package`], the record
//! cache, the `--updateinfo` file, and publishing `repodata/` atomically. It
//! knows nothing about the XML (that is [`crate::core::repodata`]).
//!
//! **Publication.** The new files are written into a fresh directory
//! `.repodata.hotpush-<pid>` beside `repodata/`, each file and the directory are
//! fsynced, and the two directories are then swapped with
//! `renameat2(RENAME_EXCHANGE)`: at every instant `repodata/` is either the
//! complete old or the complete new generation, never missing. The old
//! generation is deleted afterwards. (File systems without RENAME_EXCHANGE fall
//! back to two renames, with a moment without `repodata/`, as createrepo_c has.)
//! Any error before the swap leaves the old `repodata/` untouched. When the new
//! repomd.xml, data files and cache equal what is there, nothing is written;
//! otherwise data files that the current generation already has (same content
//! name and size) and an unchanged cache are hard-linked into the new one
//! instead of being written (and fsynced) again.
//!
//! **Cache.** `repodata/.hotpush-cache` holds every package's rendered blocks,
//! keyed by (relative path, size, mtime in ns, inode), together with the digest
//! of the trusted keys that verified it. A file whose key matches is not read
//! again. The cache is versioned by the program version and checksummed; an
//! invalid cache is ignored. It never changes the output bytes. It is decoded
//! in place and written back from where its bytes already are (see
//! [`crate::core::repodata::cache`]), so a one-package update costs little more
//! than compressing the repodata.
//!
//! **`--updateinfo FILE`**, a TOML file with one table per advisory:
//!
//! ```toml
//! [[advisory]]
//! id = "FEDORA-2026-0001"                # required
//! severity = "Critical"                  # required: Critical, Important, Moderate or Low
//! title = "Critical fix for openssl"     # required
//! summary = "Fixes CVE-2026-0001"        # default: the title
//! description = "Heap overflow fixed."   # default: ""
//! issued = 1763726400                    # required, seconds since the epoch (UTC)
//! updated = 1763730000                   # default: issued
//! cves = ["CVE-2026-0001"]               # default: []
//! packages = ["openssl-1:3.0.2-1.x86_64", "openssl-libs-3.0.2-1.x86_64.rpm"]  # NEVRA or file name; required
//! type = "security"                      # default: security (or bugfix, enhancement)
//! release = "Fedora 43"                  # default: ""
//! collection = "F43"                     # default: ""
//! from = "security@example.com"          # default: "hotpush"
//! ```
//!
//! Ids, CVE ids and texts follow the advisory text rules of
//! [`crate::core::advisory`] (lengths, and no character that XML or an email
//! header cannot carry); a value that breaks one is refused naming the field.
//!
//! Every listed package must be in the repository (it is matched by NEVRA as dnf
//! prints it, `name-[epoch:]version-release.arch`, or by the `.rpm` file name).
use clap::Args;
use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use fs_err as fs;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::core::advisory;
use crate::core::repodata::cache::{self, CacheEntry, EntryRef, FileKey};
use crate::core::repodata::{
    build_blocks, render_package, Advisory, AdvisoryPackage, Compression, PackageBlocks, RepoFiles,
};
use crate::core::rpm::{read_package, FileFacts, SignaturePolicy};
use crate::logging::user_error;

/// Name of the record cache inside `repodata/`.
pub const CACHE_FILE_NAME: &str = ".hotpush-cache";
/// More packages than this in one directory is refused rather than attempted.
pub const PACKAGES_MAX: usize = 200_000;
/// Upper bound for `--updateinfo` and key files.
const SMALL_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// Directory depth below DIR that is searched.
const DEPTH_MAX: usize = 32;

pub fn run(args: &CreaterepoArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    if !dir.is_dir() {
        return Err(user_error(
            format!("`{}` is not a directory", dir.display()),
            "pass the directory that holds the `.rpm` files",
        ));
    }
    let out = args.output.clone().unwrap_or_else(|| dir.clone());
    fs::create_dir_all(&out)
        .with_context(|| format!("creating the output directory `{}`", out.display()))?;
    let compression = match args.compress {
        CompressArg::Gz => Compression::Gz,
        CompressArg::Zst => Compression::Zst,
    };
    let (policy, keys_digest) = load_policy(&args.trusted_keys)?;
    let advisory_specs = match &args.updateinfo {
        Some(path) => Some(read_updateinfo_file(path)?),
        None => None,
    };

    let started = std::time::Instant::now();
    let elapsed_ms = || started.elapsed().as_secs_f64() * 1000.0;
    let cache_path = out.join("repodata").join(CACHE_FILE_NAME);
    // The old cache is read while the directory is scanned.
    let (files, old_cache_bytes) = std::thread::scope(|s| {
        let cache = s.spawn(|| read_cache(&cache_path));
        let files = find_rpms(dir);
        let cache = cache
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (files, cache)
    });
    let files = files?;
    tracing::debug!(
        files = files.len(),
        elapsed_ms = elapsed_ms(),
        "directory scanned"
    );
    let decoded = old_cache_bytes
        .as_deref()
        .and_then(|b| cache::decode(b, cache_tag()));
    let old_cache_valid = decoded.is_some();
    let old_cache = decoded.unwrap_or_default();
    tracing::debug!(
        entries = old_cache.len(),
        elapsed_ms = elapsed_ms(),
        "cache loaded"
    );
    let (slots, fresh) = read_all(&files, &old_cache, &policy, &keys_digest)?;
    let records: Vec<EntryRef<'_>> = slots
        .iter()
        .map(|slot| match *slot {
            Slot::Cached(i) => old_cache[i],
            Slot::Fresh(i) => fresh[i].as_entry_ref(),
        })
        .collect();
    tracing::debug!(elapsed_ms = elapsed_ms(), "packages read");

    let advisories = match advisory_specs {
        Some(specs) => resolve_advisories(specs, &records, args.updateinfo.as_deref())?,
        None => Vec::new(),
    };
    let revision = args
        .revision
        .unwrap_or_else(|| records.iter().map(|r| r.time_file).max().unwrap_or(0));
    let blocks: Vec<PackageBlocks<'_>> = records.iter().map(EntryRef::blocks).collect();
    let repo = build_blocks(blocks, &advisories, revision, compression);
    tracing::debug!(elapsed_ms = elapsed_ms(), "repodata built");

    // The cache is unchanged when every record came from it, in its order.
    let cache_unchanged = old_cache_valid
        && records.len() == old_cache.len()
        && slots
            .iter()
            .enumerate()
            .all(|(n, slot)| matches!(*slot, Slot::Cached(i) if i == n));
    let new_cache = if cache_unchanged {
        None
    } else {
        Some(cache::encode(&records, cache_tag()))
    };
    tracing::debug!(elapsed_ms = elapsed_ms(), cache_unchanged, "cache encoded");
    let wrote = publish(&out, &repo, new_cache.as_ref())?;
    tracing::debug!(elapsed_ms = elapsed_ms(), "published");
    tracing::info!(
        packages = records.len(),
        advisories = advisories.len(),
        revision,
        "{} `{}`",
        if wrote { "wrote" } else { "unchanged" },
        out.join("repodata").display()
    );
    // Freeing a dozen strings per package just before the process exits is
    // wasted work (about 1% of a full run).
    drop(new_cache);
    drop(records);
    std::mem::forget(fresh);
    Ok(ExitCode::SUCCESS)
}

/// The cache is only valid for the program (and rendering) version that wrote it.
fn cache_tag() -> &'static str {
    concat!("hotpush ", env!("CARGO_PKG_VERSION"))
}

fn load_policy(key_files: &[PathBuf]) -> anyhow::Result<(SignaturePolicy, String)> {
    if key_files.is_empty() {
        return Ok((SignaturePolicy::Ignore, String::new()));
    }
    let fix = "pass the distribution's public key file with `--trusted-key`";
    let armored = key_files
        .iter()
        .map(|p| crate::io::keys::read_key_file(p, fix))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut sorted = armored.clone();
    sorted.sort();
    let mut h = Sha256::new();
    for k in &sorted {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
    }
    let keys = crate::io::keys::load_trusted(key_files, fix)?;
    Ok((SignaturePolicy::Require(keys), hex::encode(h.finalize())))
}

fn read_small_text(path: &Path, what: &str) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        user_error(
            format!("cannot read the {what} file `{}`: {e}", path.display()),
            "check the path",
        )
    })?;
    if meta.len() > SMALL_FILE_BYTES_MAX {
        return Err(user_error(
            format!(
                "the {what} file `{}` is larger than {SMALL_FILE_BYTES_MAX} bytes",
                path.display()
            ),
            "pass the right file",
        ));
    }
    std::fs::read_to_string(path).map_err(|e| {
        user_error(
            format!("cannot read the {what} file `{}`: {e}", path.display()),
            "it must be a readable UTF-8 text file",
        )
    })
}

/// One `.rpm` found under DIR.
struct Found {
    path: PathBuf,
    rel_path: String,
    key: FileKey,
    time_file: u64,
}

/// Every `*.rpm` under `dir`, sorted by relative path; `repodata/` and our own
/// temporary directories are skipped, symlinked directories are not followed.
fn find_rpms(dir: &Path) -> anyhow::Result<Vec<Found>> {
    let mut found = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let entries = fs::read_dir(&d).map_err(|e| {
            user_error(
                format!("cannot list `{}`: {e}", d.display()),
                "check its permissions",
            )
        })?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing `{}`", d.display()))?;
            let name = entry.file_name();
            let path = entry.path();
            let file_type = entry
                .file_type()
                .with_context(|| format!("`{}`", path.display()))?;
            if file_type.is_dir() {
                let n = name.to_string_lossy();
                if n == "repodata" || n.starts_with(".repodata") {
                    continue;
                }
                if depth + 1 > DEPTH_MAX {
                    return Err(user_error(
                        format!(
                            "`{}` is nested deeper than {DEPTH_MAX} directories",
                            path.display()
                        ),
                        "flatten the package tree",
                    ));
                }
                stack.push((path, depth + 1));
                continue;
            }
            if !name.as_encoded_bytes().ends_with(b".rpm") {
                continue;
            }
            // Follows a symlink to a file, as createrepo_c does; otherwise the
            // entry's own (cheaper, directory-relative) stat is the same.
            let meta = if file_type.is_symlink() {
                std::fs::metadata(&path)
            } else {
                entry.metadata()
            };
            let meta = meta.map_err(|e| {
                user_error(
                    format!("cannot read `{}`: {e}", path.display()),
                    "check the file",
                )
            })?;
            if !meta.is_file() {
                continue;
            }
            let rel = path.strip_prefix(dir).unwrap_or(&path);
            let Some(rel_path) = rel.to_str().map(str::to_owned) else {
                return Err(user_error(
                    format!("the path `{}` is not valid UTF-8", path.display()),
                    "rename the file; repodata locations must be UTF-8",
                ));
            };
            let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
            found.push(Found {
                key: FileKey {
                    rel_path: rel_path.clone(),
                    size_bytes: meta.len(),
                    mtime_ns,
                    inode: meta.ino(),
                },
                time_file: u64::try_from(meta.mtime()).unwrap_or(0),
                path,
                rel_path,
            });
            if found.len() > PACKAGES_MAX {
                return Err(user_error(
                    format!(
                        "more than {PACKAGES_MAX} packages under `{}`",
                        dir.display()
                    ),
                    "split the repository",
                ));
            }
        }
    }
    found.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    Ok(found)
}

/// Where a package's record comes from: the old cache (index into its
/// entries) or this run's reading (index into the fresh records).
#[derive(Debug, Clone, Copy)]
enum Slot {
    Cached(usize),
    Fresh(usize),
}

/// The old cache, read whole; `None` when there is none (or it is unreadable:
/// then every package is simply read again).
fn read_cache(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// Reads every package that the cache does not already hold, on all cores.
/// Fails with the first bad package in path order, naming it. Returns one slot
/// per file, in `files` order, and the records read now.
fn read_all(
    files: &[Found],
    old_cache: &[EntryRef<'_>],
    policy: &SignaturePolicy,
    keys_digest: &str,
) -> anyhow::Result<(Vec<Slot>, Vec<CacheEntry>)> {
    let by_path: HashMap<&str, usize> = old_cache
        .iter()
        .enumerate()
        .map(|(i, e)| (e.rel_path, i))
        .collect();
    let cached: Vec<Option<usize>> = files
        .iter()
        .map(|f| {
            by_path.get(f.rel_path.as_str()).copied().filter(|&i| {
                let e = &old_cache[i];
                e.matches(&f.key) && (keys_digest.is_empty() || e.verified_with == keys_digest)
            })
        })
        .collect();
    let missing: Vec<usize> = (0..files.len()).filter(|&i| cached[i].is_none()).collect();
    tracing::debug!(
        packages = files.len(),
        to_read = missing.len(),
        "record cache consulted"
    );

    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 16)
        .min(missing.len().max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, anyhow::Result<CacheEntry>)> = if missing.len() <= 1 {
        // Not worth a thread.
        missing
            .iter()
            .map(|&i| (i, read_one(&files[i], policy, keys_digest)))
            .collect()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&i) = missing.get(n) else { break };
                            out.push((i, read_one(&files[i], policy, keys_digest)));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    results.sort_by_key(|(i, _)| *i);
    let mut fresh = Vec::with_capacity(results.len());
    let mut fresh_of: HashMap<usize, usize> = HashMap::with_capacity(results.len());
    for (i, result) in results {
        fresh_of.insert(i, fresh.len());
        fresh.push(result?);
    }
    let slots = cached
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Some(c) => Slot::Cached(*c),
            None => Slot::Fresh(fresh_of[&i]),
        })
        .collect();
    Ok((slots, fresh))
}

fn read_one(f: &Found, policy: &SignaturePolicy, keys_digest: &str) -> anyhow::Result<CacheEntry> {
    let file = std::fs::File::open(&f.path).map_err(|e| {
        user_error(
            format!("cannot open the package `{}`: {e}", f.path.display()),
            "check the file",
        )
    })?;
    let facts = FileFacts {
        location_href: f.rel_path.clone(),
        time_file: f.time_file,
    };
    // A buffer as large as the file (up to 64 KiB): small packages are read in
    // one call.
    let buffer_bytes = usize::try_from(f.key.size_bytes.clamp(4096, 64 * 1024)).unwrap_or(4096);
    let read = read_package(BufReader::with_capacity(buffer_bytes, file), facts, policy).map_err(|e| {
        use crate::core::rpm::IntakeError as E;
        let hint = match e {
            E::Unsigned | E::UntrustedKey(_) | E::BadSignature(_) => {
                "sign the package with a trusted key, or pass the key that signed it with `--trusted-key`"
            }
            _ => "remove or replace the file; only valid `.rpm` files may be in the directory",
        };
        user_error(format!("bad package `{}`: {e}", f.path.display()), hint)
    })?;
    let p = read.package;
    Ok(CacheEntry {
        key: f.key.clone(),
        verified_with: if read.signed_by.is_some() {
            keys_digest.to_owned()
        } else {
            String::new()
        },
        xml: render_package(&p),
        name: p.name,
        epoch: p.epoch,
        version: p.version,
        release: p.release,
        arch: p.arch,
        sourcerpm: p.sourcerpm,
        sha256: p.sha256,
        time_file: p.time_file,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateinfoFile {
    #[serde(default)]
    advisory: Vec<AdvisorySpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvisorySpec {
    id: String,
    severity: String,
    title: String,
    summary: Option<String>,
    #[serde(default)]
    description: String,
    issued: u64,
    updated: Option<u64>,
    #[serde(default)]
    cves: Vec<String>,
    packages: Vec<String>,
    #[serde(rename = "type", default = "default_kind")]
    kind: String,
    #[serde(default)]
    release: String,
    #[serde(default)]
    collection: String,
    #[serde(default = "default_from")]
    from: String,
}

fn default_kind() -> String {
    "security".into()
}

fn default_from() -> String {
    "hotpush".into()
}

fn read_updateinfo_file(path: &Path) -> anyhow::Result<Vec<AdvisorySpec>> {
    let text = read_small_text(path, "updateinfo")?;
    let file: UpdateinfoFile = toml::from_str(&text).map_err(|e| {
        user_error(
            format!("cannot parse the updateinfo file `{}`: {e}", path.display()),
            "see `hotpush createrepo --help` and the `[[advisory]]` format in the documentation",
        )
    })?;
    for a in &file.advisory {
        let bad = |field: &str, why: String| {
            user_error(
                format!(
                    "updateinfo file `{}`, advisory `{}`, field `{field}`: {why}",
                    path.display(),
                    a.id
                ),
                "fix the value and run again",
            )
        };
        // The text rules every advisory follows (ids, CVE ids, lengths, characters
        // XML and email can carry); severity is checked below in its updateinfo case.
        let checked = advisory::check_advisory(&advisory::AdvisoryText {
            id: &a.id,
            severity: &a.severity,
            title: Some(&a.title),
            summary: a.summary.as_deref().unwrap_or(&a.title),
            description: &a.description,
            cves: &a.cves,
        });
        if let Err(e) = checked {
            return Err(bad(&e.field, e.reason));
        }
        for (field, value) in [
            ("release", &a.release),
            ("collection", &a.collection),
            ("from", &a.from),
        ] {
            if !value.is_empty() {
                advisory::check_line(field, value).map_err(|e| bad(field, e.reason))?;
            }
        }
        if !["Critical", "Important", "Moderate", "Low"].contains(&a.severity.as_str()) {
            return Err(bad(
                "severity",
                format!(
                    "`{}` is not one of Critical, Important, Moderate, Low",
                    a.severity
                ),
            ));
        }
        if !["security", "bugfix", "enhancement"].contains(&a.kind.as_str()) {
            return Err(bad(
                "type",
                format!("`{}` is not one of security, bugfix, enhancement", a.kind),
            ));
        }
        if a.packages.is_empty() {
            return Err(bad("packages", "lists no package".into()));
        }
    }
    Ok(file.advisory)
}

fn resolve_advisories(
    specs: Vec<AdvisorySpec>,
    records: &[EntryRef<'_>],
    path: Option<&Path>,
) -> anyhow::Result<Vec<Advisory>> {
    let path = path.map(|p| p.display().to_string()).unwrap_or_default();
    let mut by_name: HashMap<String, &EntryRef<'_>> = HashMap::new();
    for r in records {
        let nevra = if r.epoch == "0" {
            format!("{}-{}-{}.{}", r.name, r.version, r.release, r.arch)
        } else {
            format!(
                "{}-{}:{}-{}.{}",
                r.name, r.epoch, r.version, r.release, r.arch
            )
        };
        by_name.insert(
            format!(
                "{}-{}:{}-{}.{}",
                r.name, r.epoch, r.version, r.release, r.arch
            ),
            r,
        );
        by_name.insert(nevra, r);
        by_name.insert(base_name(r.rel_path).to_owned(), r);
    }
    specs
        .into_iter()
        .map(|a| {
            let packages = a
                .packages
                .iter()
                .map(|wanted| {
                    let r = by_name.get(wanted.as_str()).ok_or_else(|| {
                        user_error(
                            format!(
                                "updateinfo file `{path}`, advisory `{}`: package `{wanted}` is not in the repository",
                                a.id
                            ),
                            "name packages by NEVRA (`name-[epoch:]version-release.arch`) or by `.rpm` file name",
                        )
                    })?;
                    Ok(AdvisoryPackage {
                        name: r.name.to_owned(),
                        epoch: r.epoch.to_owned(),
                        version: r.version.to_owned(),
                        release: r.release.to_owned(),
                        arch: r.arch.to_owned(),
                        src: r.sourcerpm.to_owned(),
                        filename: base_name(r.rel_path).to_owned(),
                        sha256: r.sha256.to_owned(),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(Advisory {
                summary: a.summary.unwrap_or_else(|| a.title.clone()),
                updated: a.updated.unwrap_or(a.issued),
                id: a.id,
                kind: a.kind,
                severity: a.severity,
                title: a.title,
                description: a.description,
                issued: a.issued,
                release_name: a.release,
                collection: a.collection,
                from: a.from,
                cves: a.cves,
                packages,
            })
        })
        .collect()
}

fn base_name(rel_path: &str) -> &str {
    rel_path.rsplit('/').next().unwrap_or(rel_path)
}

/// Writes the new generation beside `repodata/` and swaps it in. `cache` is
/// the new record cache, or `None` when the one in `repodata/` is still right
/// as it is (it is then hard-linked into the new generation). Returns false
/// when what is there already equals the new output.
fn publish(
    out: &Path,
    repo: &RepoFiles,
    cache: Option<&cache::Encoded<'_>>,
) -> anyhow::Result<bool> {
    let target = out.join("repodata");
    if cache.is_none() && unchanged(&target, repo) {
        return Ok(false);
    }
    let tmp = out.join(format!(".repodata.hotpush-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    fs::create_dir(&tmp).with_context(|| format!("creating `{}`", tmp.display()))?;
    let guard = RemoveOnDrop(Some(tmp.clone()));

    // A data file is named by its content's sha256, so one that the current
    // generation already has (same name and size) is hard-linked instead of
    // written and fsynced again: it is durable already.
    let mut writes: Vec<(PathBuf, &[u8])> = Vec::with_capacity(repo.files.len() + 1);
    for f in &repo.files {
        let name = base_name(&f.href);
        let old = target.join(name);
        let new = tmp.join(name);
        let same = std::fs::metadata(&old).is_ok_and(|m| m.len() == f.bytes.len() as u64);
        if !(same && std::fs::hard_link(&old, &new).is_ok()) {
            writes.push((new, &f.bytes[..]));
        }
    }
    writes.push((tmp.join("repomd.xml"), &repo.repomd[..]));
    let cache_path = tmp.join(CACHE_FILE_NAME);
    if cache.is_none() {
        if let Err(e) = std::fs::hard_link(target.join(CACHE_FILE_NAME), &cache_path) {
            // Only costs a full read of every package next time.
            tracing::debug!("could not keep the record cache: {e}");
        }
    }
    // Each file is written and fsynced on its own thread: the fsyncs dominate
    // and the disk can overlap them. The cache is checksummed and verified on
    // load, so it needs no fsync.
    std::thread::scope(|s| {
        let cache_handle = cache.map(|c| s.spawn(|| write_pieces(&cache_path, &c.slices())));
        let handles: Vec<_> = writes
            .iter()
            .map(|(path, bytes)| {
                s.spawn(move || {
                    crate::io::fs::write_synced(path, bytes).map_err(anyhow::Error::from)
                })
            })
            .collect();
        handles
            .into_iter()
            .chain(cache_handle)
            .try_for_each(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    })?;
    crate::io::fs::sync_dir(&tmp)?;

    if target.exists() {
        match exchange(&tmp, &target) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) => {
                tracing::debug!(
                    "RENAME_EXCHANGE unsupported here ({e}); falling back to two renames"
                );
                let old = out.join(format!(".repodata.hotpush-old-{}", std::process::id()));
                fs::rename(&target, &old)?;
                fs::rename(&tmp, &target)?;
                fs::rename(&old, &tmp)?;
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("swapping `{}` with `{}`", tmp.display(), target.display())
                })
            }
        }
        // `tmp` now holds the previous generation; the guard deletes it.
    } else {
        fs::rename(&tmp, &target)?;
    }
    crate::io::fs::sync_dir(out)?;
    drop(guard);
    Ok(true)
}

/// Whether `repodata/` already holds exactly this output (the cache aside).
fn unchanged(target: &Path, repo: &RepoFiles) -> bool {
    if std::fs::read(target.join("repomd.xml")).ok().as_deref() != Some(&repo.repomd[..]) {
        return false;
    }
    repo.files.iter().all(|f| {
        std::fs::metadata(target.join(base_name(&f.href)))
            .is_ok_and(|m| m.len() == f.bytes.len() as u64)
    })
}

/// Writes `pieces` one after the other with vectored writes, without fsync.
fn write_pieces(path: &Path, pieces: &[&[u8]]) -> anyhow::Result<()> {
    use std::io::IoSlice;
    /// Well below every system's IOV_MAX (1024 on Linux).
    const SLICES_PER_CALL: usize = 512;
    let mut f =
        std::fs::File::create(path).with_context(|| format!("creating `{}`", path.display()))?;
    let nonempty: Vec<&[u8]> = pieces
        .iter()
        .map(|p| &p[..])
        .filter(|p| !p.is_empty())
        .collect();
    for chunk in nonempty.chunks(SLICES_PER_CALL) {
        let mut slices: Vec<IoSlice<'_>> = chunk.iter().map(|p| IoSlice::new(p)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let n = match f.write_vectored(rest) {
                Ok(0) => anyhow::bail!("writing `{}`: no space written", path.display()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).with_context(|| format!("writing `{}`", path.display())),
            };
            IoSlice::advance_slices(&mut rest, n);
        }
    }
    Ok(())
}

/// Atomically swaps two directory entries (Linux `renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let to_c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (a, b) = (to_c(a)?, to_c(b)?);
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

#[derive(Debug, Args)]
pub struct CreaterepoArgs {
    /// Directory of RPMs (searched recursively).
    pub dir: PathBuf,
    /// Where `repodata/` goes; default: DIR.
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "zst")]
    pub compress: CompressArg,
    /// Repository revision; default: the newest package mtime (0 when empty).
    #[arg(long)]
    pub revision: Option<u64>,
    /// Trusted OpenPGP public key (repeatable); every package must be signed by one.
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
    /// Advisories for updateinfo.xml: a TOML file with `[[advisory]]` tables
    /// (id, severity, title, summary, description, issued, cves, packages; see
    /// `hotpush::commands::createrepo` for the format).
    #[arg(long)]
    pub updateinfo: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompressArg {
    Gz,
    Zst,
}
