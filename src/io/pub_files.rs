//! The one `/pub` file responder, used by the origin and the partner receiver:
//! the path check, the content type and the cache policy, and streaming a
//! file's exact bytes (a `Content-Length`, no `Content-Encoding`, never a
//! symlink, never a directory). Anything that is not a plain file under the
//! tree is a 404, never a 5xx.
//!
//! Conditional requests (`io::etag`): repomd.xml and its .asc carry the
//! sha256 of their bytes as a strong ETag, computed once per file version
//! ([`FileCache`]: keyed by device, inode, mtime and size, so the rename of a
//! new repomd.xml into place is seen at once) and served from memory;
//! content-named repodata files carry the sha256 their name starts with.
//! No `Last-Modified`: a file's mtime differs between hosts holding the same
//! bytes, and the ETag already changes exactly with the content.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use crate::io::etag;
use crate::io::lane::{into_response, Answer, FileBody};

/// For repomd.xml, its signature and the metalink: caches must revalidate.
pub const NO_CACHE: &str = "no-cache";
/// For content-named files (`repodata/<sha256>-...`): the name changes with
/// the bytes, so they never need revalidation.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For package files: named by NEVRA, not by content; an hour (the stricter
/// of the two policies the origin and the receiver had).
pub const PACKAGE: &str = "public, max-age=3600";

/// Only plain relative paths: no `..`, no empty or hidden components (temp
/// files start with `.`), no backslash, NUL or other control characters.
pub fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 4096
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path
            .split('/')
            .all(|c| !c.is_empty() && !c.starts_with('.'))
}

/// The content type by file name.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or_default();
    if name.ends_with(".rpm") {
        "application/x-rpm"
    } else if name == "repomd.xml.key" {
        "application/pgp-keys"
    } else if name.ends_with(".asc") {
        "application/pgp-signature"
    } else if name.ends_with(".xml") {
        "application/xml"
    } else if name.ends_with(".gz") {
        "application/gzip"
    } else if name.ends_with(".zst") {
        "application/zstd"
    } else {
        "application/octet-stream"
    }
}

/// The cache policy by path (see the constants).
pub fn cache_control(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or_default();
    let in_repodata = path.split('/').rev().nth(1) == Some("repodata");
    if name == "repomd.xml" || name == "repomd.xml.asc" || name == "repomd.xml.key" {
        NO_CACHE
    } else if in_repodata
        && name.len() > 65
        && name.as_bytes()[64] == b'-'
        && name[..64].bytes().all(|b| b.is_ascii_hexdigit())
    {
        IMMUTABLE
    } else {
        PACKAGE
    }
}

/// A 404 with a short text body.
pub fn not_found() -> Answer {
    let mut a = Answer::new(bytes::Bytes::from_static(b"not found\n"));
    *a.status_mut() = StatusCode::NOT_FOUND;
    a.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    a
}

/// Files at most this big are kept in memory by [`FileCache`] (repomd.xml is
/// a few KB, its signature and a metalink copy less).
pub const SMALL_FILE_BYTES_MAX: u64 = 256 * 1024;
/// Read size when streaming a file from disk.
const STREAM_CHUNK_BYTES: usize = 256 * 1024;
/// Bound of [`FileCache`]; when full it starts over.
const FILE_CACHE_ENTRIES_MAX: usize = 4096;
/// Larger files up to this size (packages, compressed repodata) are kept in
/// memory by [`FileCache::hot`]: an emergency sends the same few files to
/// every client, and answering from memory skips the blocking pool.
pub const HOT_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Total bytes [`FileCache::hot`] keeps; a file that would pass it starts
/// the set over.
pub const HOT_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// Which version of a file an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    mtime_ns: i128,
    size: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            size: meta.len(),
        }
    }
}

/// One version of a small file: its bytes, their sha256 and strong ETag.
#[derive(Debug)]
pub struct CachedFile {
    stamp: Stamp,
    pub bytes: bytes::Bytes,
    /// Lower-case hex.
    pub sha256: String,
    pub etag: HeaderValue,
}

/// Small plain files (repomd.xml, .asc, metalink copies) read and hashed
/// once per version: each request costs one `lstat`, and the bytes are read
/// again only when the device, inode, mtime or size changed (a commit
/// renames a new file into place, which changes the inode).
#[derive(Debug, Default)]
pub struct FileCache {
    entries: Mutex<HashMap<PathBuf, Arc<CachedFile>>>,
    hot: Mutex<HotFiles>,
}

/// The larger files kept in memory, and those being read in.
#[derive(Debug, Default)]
struct HotFiles {
    files: HashMap<PathBuf, (Stamp, HotFile)>,
    bytes: u64,
    loading: std::collections::HashSet<PathBuf>,
}

impl FileCache {
    /// The current version of the small plain file at `path`; `None` when it
    /// is missing, not a plain file (symlinks are refused) or bigger than
    /// [`SMALL_FILE_BYTES_MAX`].
    pub fn get(&self, path: &Path) -> Option<Arc<CachedFile>> {
        let meta = fs_err::symlink_metadata(path).ok()?;
        if !meta.is_file() || meta.len() > SMALL_FILE_BYTES_MAX {
            return None;
        }
        let stamp = Stamp::of(&meta);
        if let Some(hit) = self.lock().get(path).filter(|c| c.stamp == stamp) {
            return Some(hit.clone());
        }
        let bytes = fs_err::read(path).ok()?;
        // Read what was stat'ed: a file replaced in between is taken next time.
        let meta_after = fs_err::symlink_metadata(path).ok()?;
        if Stamp::of(&meta_after) != stamp || bytes.len() as u64 != stamp.size {
            return None;
        }
        use sha2::Digest as _;
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        let entry = Arc::new(CachedFile {
            stamp,
            etag: etag::strong_from_hex(&sha256),
            sha256,
            bytes: bytes.into(),
        });
        let mut entries = self.lock();
        if entries.len() >= FILE_CACHE_ENTRIES_MAX {
            entries.clear();
        }
        entries.insert(path.to_path_buf(), entry.clone());
        Some(entry)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<CachedFile>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_hot(&self) -> std::sync::MutexGuard<'_, HotFiles> {
        self.hot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes of the plain file at `path` from memory when this version
    /// of it (device, inode, mtime, size) was read before; else it is read
    /// in (in the blocking pool) by one request while others get `None` and
    /// stream it from disk, so a burst of first requests never holds many
    /// copies. `None` too for a missing file, a symlink, and files outside
    /// ([`SMALL_FILE_BYTES_MAX`], [`HOT_FILE_BYTES_MAX`]].
    pub async fn hot(&self, path: &Path) -> Option<HotFile> {
        let stamp = match self.hot_now(path) {
            HotNow::Held(hot) => return Some(hot),
            HotNow::NotHeld(stamp) => stamp,
            HotNow::NotHot => return None,
        };
        if !self.lock_hot().loading.insert(path.to_path_buf()) {
            return None;
        }
        // Removes the path from `loading` on every way out, also when this
        // request is dropped while the file is read.
        struct Loading<'a>(&'a FileCache, &'a Path);
        impl Drop for Loading<'_> {
            fn drop(&mut self) {
                self.0.lock_hot().loading.remove(self.1);
            }
        }
        let _loading = Loading(self, path);
        let owned = path.to_path_buf();
        let read = tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&owned)
                .ok()?;
            // Keep what was stat'ed: a file replaced in between is taken next
            // time. The bytes and the descriptor are of this one inode.
            if Stamp::of(&file.metadata().ok()?) != stamp {
                return None;
            }
            let mut bytes = Vec::with_capacity(stamp.size as usize);
            file.read_to_end(&mut bytes).ok()?;
            (bytes.len() as u64 == stamp.size).then(|| HotFile {
                bytes: bytes.into(),
                file: Arc::new(file),
            })
        });
        let file = read.await.ok()??;
        let mut hot = self.lock_hot();
        if let Some((_, old)) = hot.files.remove(path) {
            hot.bytes -= old.bytes.len() as u64;
        }
        if hot.bytes + stamp.size > HOT_BYTES_MAX {
            hot.files.clear();
            hot.bytes = 0;
        }
        hot.bytes += stamp.size;
        hot.files.insert(path.to_path_buf(), (stamp, file.clone()));
        Some(file)
    }
}

/// One version of a file in the hot set: its bytes, and the open file they
/// were read from (for `sendfile(2)`, `io::lane::FileBody`).
#[derive(Debug, Clone)]
pub struct HotFile {
    pub bytes: bytes::Bytes,
    pub file: Arc<std::fs::File>,
}

/// What [`FileCache::hot_now`] finds.
#[derive(Debug)]
enum HotNow {
    /// This version of the file, from memory.
    Held(HotFile),
    /// A file of a size the hot set takes, not held (or an older version).
    NotHeld(Stamp),
    /// Missing, not a plain file, or outside the hot set's sizes.
    NotHot,
}

impl FileCache {
    /// The hot set's view of `path` without reading anything: one `lstat`.
    fn hot_now(&self, path: &Path) -> HotNow {
        let Ok(meta) = fs_err::symlink_metadata(path) else {
            return HotNow::NotHot;
        };
        if !meta.is_file() || meta.len() <= SMALL_FILE_BYTES_MAX || meta.len() > HOT_FILE_BYTES_MAX
        {
            return HotNow::NotHot;
        }
        let stamp = Stamp::of(&meta);
        match self.lock_hot().files.get(path) {
            Some((s, hot)) if *s == stamp => HotNow::Held(hot.clone()),
            _ => HotNow::NotHeld(stamp),
        }
    }
}

/// Whether a file name is repomd.xml, its signature or the key beside them.
pub fn is_index(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or_default();
    name == "repomd.xml" || name == "repomd.xml.asc" || name == "repomd.xml.key"
}

/// The sha256 a content-named repodata file's name starts with.
pub fn content_name_sha256(rel: &str) -> Option<&str> {
    (cache_control(rel) == IMMUTABLE).then(|| &rel.rsplit('/').next().unwrap_or_default()[..64])
}

/// An answer with `body` from memory and the headers of [`serve_file`].
pub fn bytes_answer(body: bytes::Bytes, content_type: &'static str, cache: &'static str) -> Answer {
    let len = body.len();
    let mut resp = Answer::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

/// Answers with the bytes of the file at `rel` under `root` when
/// [`serve_now`] left it (`None`): a larger file, read into the hot set
/// (`FileCache::hot`) or streamed from disk, with its content type, cache
/// policy and, for a content-named file, its ETag. The `/pub` handlers call
/// [`serve_now`] first and this for what it leaves.
pub async fn serve_read(root: &Path, rel: &str, cache: Option<&FileCache>) -> Response {
    let path = root.join(rel);
    let resp = serve_hot_or_file(&path, content_type(rel), cache_control(rel), cache).await;
    match content_name_sha256(rel) {
        Some(sha256) if resp.status() == StatusCode::OK => {
            let mut resp = resp;
            resp.headers_mut()
                .insert(header::ETAG, etag::strong_from_hex(sha256));
            resp
        }
        _ => resp,
    }
}

/// What the `/pub` responder answers without streaming from disk (the fast lane's
/// `/pub`, `io::lane`): a refused path; a 404 for what is not a plain file;
/// repomd.xml and its signature, content-named repodata and other small files
/// from `cache`; a 304 for a content-named file; a file the hot set holds.
/// `None`: a larger file must be read in or streamed first ([`serve_read`]).
pub fn serve_now(
    root: &Path,
    rel: &str,
    headers: &HeaderMap,
    cache: Option<&FileCache>,
) -> Option<Answer> {
    if !safe_path(rel) {
        return Some(not_found());
    }
    let path = root.join(rel);
    let cache_policy = cache_control(rel);
    if let (true, Some(cache)) = (is_index(rel), cache) {
        let Some(file) = cache.get(&path) else {
            return Some(not_found());
        };
        if let Some(resp) = etag::check(headers, &file.etag, cache_policy) {
            return Some(resp);
        }
        let resp = bytes_answer(file.bytes.clone(), content_type(rel), cache_policy);
        return Some(etag::with_etag(resp, file.etag.clone()));
    }
    let tag = content_name_sha256(rel).map(etag::strong_from_hex);
    if let Some(tag) = &tag {
        if etag::if_none_match(headers, tag) {
            return Some(match fs_err::symlink_metadata(&path) {
                Ok(meta) if meta.is_file() => etag::not_modified(tag.clone(), cache_policy),
                _ => not_found(),
            });
        }
    }
    // What `serve_file` answers 404 to: missing, a symlink, not a file.
    let meta = match fs_err::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() => meta,
        _ => return Some(not_found()),
    };
    let cache = cache?;
    let resp = if meta.len() <= SMALL_FILE_BYTES_MAX {
        // Content-named repodata and other small files, from memory.
        let file = cache.get(&path)?;
        bytes_answer(file.bytes.clone(), content_type(rel), cache_policy)
    } else {
        let HotNow::Held(hot) = cache.hot_now(&path) else {
            return None;
        };
        let mut resp = bytes_answer(hot.bytes, content_type(rel), cache_policy);
        resp.extensions_mut().insert(FileBody(hot.file));
        resp
    };
    Some(match tag {
        Some(tag) => etag::with_etag(resp, tag),
        None => resp,
    })
}

/// From memory when `cache` holds the file (or reads it in), else streamed
/// from disk by [`serve_file`]; the same bytes and headers either way.
async fn serve_hot_or_file(
    path: &Path,
    content_type: &'static str,
    cache_policy: &'static str,
    cache: Option<&FileCache>,
) -> Response {
    if let Some(cache) = cache {
        if let Some(hot) = cache.hot(path).await {
            return into_response(bytes_answer(hot.bytes, content_type, cache_policy));
        }
    }
    serve_file(path, content_type, cache_policy).await
}

/// Answers with the bytes of one plain file (not a symlink, not a
/// directory), or 404.
pub async fn serve_file(path: &Path, content_type: &'static str, cache: &'static str) -> Response {
    match tokio::fs::symlink_metadata(path).await {
        Ok(meta) if meta.is_file() => {}
        _ => return into_response(not_found()),
    }
    let Ok(file) = tokio::fs::File::open(path).await else {
        return into_response(not_found());
    };
    let Ok(meta) = file.metadata().await else {
        return into_response(not_found());
    };
    // Large reads: each one is a trip through the blocking pool.
    let stream = tokio_util::io::ReaderStream::with_capacity(file, STREAM_CHUNK_BYTES);
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_are_served() {
        assert!(safe_path("critical/43/x86_64/Packages/h/hello.rpm"));
        for bad in [
            "critical/../../etc/passwd",
            "critical/43/x86_64/repodata/.repomd.xml.tmp",
            "a//b",
            "",
            "/etc/passwd",
            "a\\b",
            "a/b\0c",
            "a/b\nc",
        ] {
            assert!(!safe_path(bad), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn hot_files_come_from_memory_and_follow_a_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.rpm");
        let cache = FileCache::default();
        let one = vec![1u8; SMALL_FILE_BYTES_MAX as usize + 1];
        crate::io::fs::write_atomic(&path, &one).unwrap();
        let first = cache.hot(&path).await.expect("read in").bytes;
        assert_eq!(first, one);
        let again = cache.hot(&path).await.expect("from memory").bytes;
        assert_eq!(
            again.as_ptr(),
            first.as_ptr(),
            "the same buffer, not read again"
        );
        // A new version renamed into place is read again at once.
        let two = vec![2u8; SMALL_FILE_BYTES_MAX as usize + 7];
        crate::io::fs::write_atomic(&path, &two).unwrap();
        assert_eq!(cache.hot(&path).await.unwrap().bytes, two);
        assert_eq!(cache.lock_hot().bytes, two.len() as u64);
        // Small files, symlinks and missing files are not taken.
        let small = dir.path().join("small");
        crate::io::fs::write_atomic(&small, b"x").unwrap();
        assert!(cache.hot(&small).await.is_none());
        let link = dir.path().join("link.rpm");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(cache.hot(&link).await.is_none());
        fs_err::remove_file(&path).unwrap();
        assert!(cache.hot(&path).await.is_none());
        // While one request reads a file in, the others stream it.
        let other = dir.path().join("other.rpm");
        crate::io::fs::write_atomic(&other, &one).unwrap();
        cache.lock_hot().loading.insert(other.clone());
        assert!(cache.hot(&other).await.is_none());
        cache.lock_hot().loading.remove(&other);
        assert_eq!(cache.hot(&other).await.unwrap().bytes, one);
        assert!(cache.lock_hot().loading.is_empty());
    }

    #[test]
    fn cache_policy_follows_the_name() {
        let sha = "a".repeat(64);
        assert_eq!(cache_control("c/43/x/repodata/repomd.xml"), NO_CACHE);
        assert_eq!(cache_control("c/43/x/repodata/repomd.xml.asc"), NO_CACHE);
        assert_eq!(
            cache_control(&format!("c/43/x/repodata/{sha}-primary.xml.zst")),
            IMMUTABLE
        );
        assert_eq!(
            cache_control("c/43/x/Packages/h/hello-1-1.x86_64.rpm"),
            PACKAGE
        );
        assert_eq!(cache_control("c/43/x/repodata/short-primary.xml"), PACKAGE);
    }
}
