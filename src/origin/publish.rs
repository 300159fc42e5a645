//! The published tree at the origin: where each repository lives on disk, and how
//! one revision is written into it atomically.
//!
//! Order, always: packages and content-named metadata files first (each written
//! to a temporary name, fsynced, renamed), then repomd.xml.asc and repomd.xml,
//! re-verified against the files they name just before the rename. A reader of
//! the tree therefore never sees a repomd.xml that names a missing or different
//! file. Old files are left in place; [`sweep`] removes those no retained
//! revision needs.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

pub use crate::core::repo::{package_href, RepoId};
use crate::core::repodata::RepoFiles;
use crate::io::fs;

/// The on-disk layout under the data directory.
#[derive(Debug, Clone)]
pub struct Tree {
    /// `data_dir/pub`: what `/pub/...` serves.
    pub pub_root: PathBuf,
    /// `data_dir/blobs`: accepted packages by sha256.
    pub blobs: PathBuf,
    /// `data_dir/incoming`: uploads in progress.
    pub incoming: PathBuf,
}

impl Tree {
    pub fn new(data_dir: &Path) -> Tree {
        Tree {
            pub_root: data_dir.join("pub"),
            blobs: data_dir.join("blobs"),
            incoming: data_dir.join("incoming"),
        }
    }

    /// Creates the directories and empties `incoming/`: at start no upload is in
    /// progress, so whatever is there was left by a process that stopped mid-upload.
    pub fn create_dirs(&self) -> anyhow::Result<()> {
        for d in [&self.pub_root, &self.blobs, &self.incoming] {
            fs_err::create_dir_all(d)?;
        }
        let swept = self.sweep_incoming()?;
        if swept > 0 {
            tracing::info!(
                files = swept,
                "removed uploads left unfinished in `incoming/` by an earlier run"
            );
        }
        Ok(())
    }

    /// Removes every file in `incoming/`; returns how many. Only for start-up,
    /// when no upload can be running.
    pub fn sweep_incoming(&self) -> anyhow::Result<usize> {
        let mut removed = 0;
        for entry in fs_err::read_dir(&self.incoming)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                fs_err::remove_dir_all(&path)?;
            } else {
                fs_err::remove_file(&path)?;
            }
            removed += 1;
        }
        Ok(removed)
    }

    /// Removes the blobs no push needs (`in_use`, from
    /// [`crate::origin::store::Store::blobs_in_use`]) that were last modified
    /// before `older_than`: an upload renames its bytes into `blobs/` a moment
    /// before the store records them, so a young blob is never taken. Returns
    /// how many files were removed.
    pub fn sweep_blobs(
        &self,
        in_use: &BTreeSet<String>,
        older_than: std::time::SystemTime,
    ) -> anyhow::Result<usize> {
        let mut removed = 0;
        for dir in fs_err::read_dir(&self.blobs)? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            for entry in fs_err::read_dir(dir.path())? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if in_use.contains(&name) || !entry.file_type()?.is_file() {
                    continue;
                }
                let modified = entry.metadata()?.modified()?;
                if modified < older_than {
                    fs_err::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    pub fn repo_dir(&self, repo: &RepoId) -> PathBuf {
        self.pub_root.join(repo.path())
    }

    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.blobs.join(&sha256[..2]).join(sha256)
    }
}

/// A package to place in the repository.
#[derive(Debug, Clone)]
pub struct PlacedPackage {
    pub href: String,
    pub blob: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// Writes one revision of `repo`: packages, data files, then repomd.xml.asc and
/// repomd.xml. Returns every path (relative to the repo directory) the new
/// repomd.xml needs.
pub fn write_revision(
    tree: &Tree,
    repo: &RepoId,
    files: &RepoFiles,
    asc: &[u8],
    packages: &[PlacedPackage],
) -> anyhow::Result<Vec<String>> {
    let dir = tree.repo_dir(repo);
    let repodata = dir.join("repodata");
    fs_err::create_dir_all(&repodata)?;
    let mut needed = Vec::new();

    for p in packages {
        let target = dir.join(&p.href);
        if !matches_size(&target, p.size) {
            let parent = target.parent().context("package path has no parent")?;
            fs_err::create_dir_all(parent)?;
            fs::place_copy(&p.blob, &target)?;
        }
        needed.push(p.href.clone());
    }
    for f in &files.files {
        let target = dir.join(&f.href);
        if !matches_size(&target, f.bytes.len() as u64) {
            fs::write_atomic(&target, &f.bytes)?;
        }
        needed.push(f.href.clone());
    }
    fs::sync_dir(&repodata)?;

    // Stage the index, check it against what is on disk, then swap it in.
    // Both temporaries are removed again on every error path.
    let repomd_tmp = fs::temp_path(&repodata.join("repomd.xml"));
    let asc_tmp = fs::temp_path(&repodata.join("repomd.xml.asc"));
    let swapped = (|| -> anyhow::Result<()> {
        fs::write_synced(&repomd_tmp, &files.repomd)?;
        fs::write_synced(&asc_tmp, asc)?;
        check_index(&dir, &fs_err::read(&repomd_tmp)?)
            .with_context(|| format!("refusing to publish `{}`", repo.path()))?;
        fs_err::rename(&asc_tmp, repodata.join("repomd.xml.asc"))?;
        fs_err::rename(&repomd_tmp, repodata.join("repomd.xml"))?;
        Ok(())
    })();
    if swapped.is_err() {
        let _ = std::fs::remove_file(&repomd_tmp);
        let _ = std::fs::remove_file(&asc_tmp);
    }
    swapped?;
    fs::sync_dir(&repodata)?;
    // Paired assertion: read back what clients now get.
    check_index(&dir, &fs_err::read(repodata.join("repomd.xml"))?)
        .with_context(|| format!("after publishing `{}`", repo.path()))?;
    Ok(needed)
}

/// Checks that every `<location href>` in a repomd.xml exists under `dir` with
/// the `<checksum>` and `<size>` the index gives.
pub fn check_index(dir: &Path, repomd: &[u8]) -> anyhow::Result<()> {
    for entry in index_entries(repomd)? {
        let path = dir.join(&entry.href);
        let bytes = fs_err::read(&path)
            .with_context(|| format!("repomd.xml names `{}`, which is missing", entry.href))?;
        if bytes.len() as u64 != entry.size {
            bail!(
                "`{}` is {} bytes but repomd.xml says {}",
                entry.href,
                bytes.len(),
                entry.size
            );
        }
        let sum = hex::encode(Sha256::digest(&bytes));
        if sum != entry.sha256 {
            bail!(
                "`{}` has sha256 {sum} but repomd.xml says {}",
                entry.href,
                entry.sha256
            );
        }
    }
    Ok(())
}

/// One `<data>` record of a repomd.xml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub kind: String,
    pub href: String,
    pub sha256: String,
    pub size: u64,
}

/// Reads the `<data>` records of a repomd.xml (the parser `hotpush verify` uses).
/// Records whose checksum is not sha256 keep their value, so checking them
/// against a sha256 fails loudly rather than passing by accident.
pub fn index_entries(repomd: &[u8]) -> anyhow::Result<Vec<IndexEntry>> {
    Ok(crate::core::repodata::repomd::parse_repomd(repomd)?
        .into_iter()
        .map(|e| IndexEntry {
            kind: e.kind,
            href: e.href,
            sha256: e.checksum,
            size: e.size,
        })
        .collect())
}

/// Temporary files older than this are debris of a write that died.
const TEMP_DEBRIS_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes files under `repodata/` and `Packages/` of a repository that no
/// retained revision needs. Returns how many were removed.
pub fn sweep(tree: &Tree, repo: &RepoId, keep: &BTreeSet<String>) -> anyhow::Result<usize> {
    let dir = tree.repo_dir(repo);
    let mut removed = 0;
    let mut stack = vec![dir.join("repodata"), dir.join("Packages")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&dir)?
                .to_string_lossy()
                .replace('\\', "/");
            let name = e.file_name().to_string_lossy().into_owned();
            if fs::is_temp_name(&name) {
                // A write that died (a crash, a full disk) left this behind;
                // one still in progress is younger than an hour.
                let stale = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > TEMP_DEBRIS_AGE);
                if stale {
                    fs_err::remove_file(&path)?;
                    removed += 1;
                }
                continue;
            }
            if name == "repomd.xml" || name == "repomd.xml.asc" || name.starts_with('.') {
                continue;
            }
            if !keep.contains(&rel) {
                fs_err::remove_file(&path)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

fn matches_size(path: &Path, size: u64) -> bool {
    std::fs::metadata(path)
        .map(|m| m.len() == size)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_entries_reads_createrepo_style_repomd() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>7</revision>
  <data type="primary">
    <checksum type="sha256">abc</checksum>
    <open-checksum type="sha256">def</open-checksum>
    <location href="repodata/abc-primary.xml.zst"/>
    <timestamp>7</timestamp>
    <size>12</size>
    <open-size>30</open-size>
  </data>
</repomd>
"#;
        let e = index_entries(xml).unwrap();
        assert_eq!(
            e,
            vec![IndexEntry {
                kind: "primary".into(),
                href: "repodata/abc-primary.xml.zst".into(),
                sha256: "abc".into(),
                size: 12
            }]
        );
    }
}
