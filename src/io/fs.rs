//! The one atomic file write: a uniquely named temporary file in the target's
//! directory, written and fsynced, renamed over the target, then the directory
//! fsynced, so that after a crash a reader sees the old bytes or the new ones,
//! never a mix and never a name pointing nowhere. The temporary file is removed
//! on every error path (a full disk included).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically and durably (see the module comment).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = parent_of(path);
    let temp = temp_path(path);
    let result = (|| {
        write_synced(&temp, bytes)?;
        fs_err::rename(&temp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Puts an existing file (`from`, e.g. a content-addressed blob) at `path`
/// atomically: a hard link when both are on one file system, a synced copy
/// otherwise; then a rename. The directory is not fsynced here: callers that
/// place many files sync it once with [`sync_dir`].
pub fn place_copy(from: &Path, path: &Path) -> std::io::Result<()> {
    let temp = temp_path(path);
    let result = (|| {
        if std::fs::hard_link(from, &temp).is_err() {
            fs_err::copy(from, &temp)?;
            fs_err::File::open(&temp)?.sync_all()?;
        }
        fs_err::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Moves `from` to `path`: a rename, or across file systems (EXDEV: the
/// directories are separate mounts) a synced copy under a temporary name,
/// renamed into place, then `from` removed. Either way `path` appears whole.
pub fn move_file(from: &Path, path: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, path) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            place_copy(from, path)?;
            fs_err::remove_file(from)
        }
        r => r.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "failed to rename `{}` to `{}`: {e}",
                    from.display(),
                    path.display()
                ),
            )
        }),
    }
}

/// Creates (truncating) `path`, writes `bytes` and fsyncs the file. Removes
/// the file again when writing or syncing fails, so a full disk leaves no
/// half-written file behind.
pub fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let result = (|| {
        let mut file = fs_err::File::create(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Fsyncs a directory, making the renames and creations in it durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

/// A temporary name beside `path` that no other writer (thread or process)
/// uses at the same time: `.<name>.<pid>.<n>.tmp`.
pub fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    parent_of(path).join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Whether a file name is one of [`temp_path`]'s (debris a sweep may remove).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hotpush-io-fs-{name}-{}-{}",
            std::process::id(),
            temp_path(Path::new("x")).display().to_string().len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = scratch("replace");
        let path = dir.join("repomd.xml");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(entries(&dir), vec!["repomd.xml"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failed_write_removes_its_temp_and_keeps_the_old_file() {
        let dir = scratch("fail");
        let path = dir.join("state.json");
        write_atomic(&path, b"old").unwrap();
        // A directory where the target should be: the rename fails.
        let blocked = dir.join("blocked");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("inside"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(&dir), vec!["blocked", "state.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temp_names_are_unique_and_recognised() {
        let a = temp_path(Path::new("d/repomd.xml"));
        let b = temp_path(Path::new("d/repomd.xml"));
        assert_ne!(a, b);
        for p in [&a, &b] {
            let name = p.file_name().unwrap().to_str().unwrap();
            assert!(is_temp_name(name), "{name}");
        }
        assert!(!is_temp_name("repomd.xml"));
        assert_eq!(temp_path(Path::new("x")).parent(), Some(Path::new(".")));
    }

    #[test]
    fn place_copy_links_or_copies() {
        let dir = scratch("place");
        let blob = dir.join("blob");
        std::fs::write(&blob, b"rpm bytes").unwrap();
        let target = dir.join("pkg.rpm");
        place_copy(&blob, &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"rpm bytes");
        assert_eq!(entries(&dir), vec!["blob", "pkg.rpm"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Why [`stream_to_file`] stopped before the end of the stream.
#[derive(Debug)]
pub enum StreamStop<E> {
    /// More than the limit arrived (nothing past it was written).
    TooLarge,
    /// The stream itself failed (the sender went away, a broken body).
    Source(E),
    /// Writing failed (a full disk included).
    Io(std::io::Error),
}

/// Writes a stream of chunks to `path` (created or truncated), at most
/// `limit` bytes, then flushes and fsyncs it; returns the size and the
/// sha256 (lowercase hex). The one path for bytes that arrive over the
/// network into `incoming/`: uploads and trigger fetches. The caller removes
/// the file on failure.
pub async fn stream_to_file<S, E>(
    mut stream: S,
    path: &Path,
    limit: u64,
) -> Result<(u64, String), StreamStop<E>>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
{
    use futures_util::StreamExt;
    use sha2::Digest;
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(StreamStop::Io)?;
    let mut hasher = sha2::Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(StreamStop::Source)?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(StreamStop::TooLarge);
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(StreamStop::Io)?;
    }
    // tokio's File reports the error of its last background write on
    // `flush`, not on `sync_all`: without this a full disk left an empty file.
    file.flush().await.map_err(StreamStop::Io)?;
    file.sync_all().await.map_err(StreamStop::Io)?;
    Ok((size, hex::encode(hasher.finalize())))
}
