//! The record cache format: rendered package blocks plus the few package facts
//! that updateinfo needs, keyed by what `stat` says about the file, so that an
//! unchanged `.rpm` is neither read nor rendered again.
//!
//! Pure: bytes in, entries out (and back). Where the cache lives and when it is
//! consulted is `createrepo.rs`'s business. The format is versioned and ends
//! with a sha256 of everything before it; any mismatch makes [`decode`] return
//! `None`, and the caller then reads every package afresh. Because the cached
//! blocks are exactly what [`render_package`](super::render_package) produced,
//! the cache never changes the output bytes.

use sha2::{Digest, Sha256};

use super::PackageXml;

/// Bumped whenever the layout or the rendering rules change, so an old cache is
/// ignored instead of reused.
pub const CACHE_FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 16] = b"hotpush-rdcache\n";
/// A sanity bound on entries so a corrupt count cannot make us allocate wildly.
const ENTRIES_MAX: u32 = 10_000_000;

/// What identifies an unchanged file: relative path, size, mtime and inode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub rel_path: String,
    pub size_bytes: u64,
    pub mtime_ns: i128,
    pub inode: u64,
}

/// One cached package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub key: FileKey,
    /// Digest of the trusted key set the package was verified against; empty
    /// when its signature was not checked.
    pub verified_with: String,
    pub name: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub sourcerpm: String,
    pub sha256: String,
    pub time_file: u64,
    pub xml: PackageXml,
}

/// Serializes entries; `tag` (e.g. the program version) must match on decode.
pub fn encode(entries: &[&CacheEntry], tag: &str) -> Vec<u8> {
    let size: usize = entries
        .iter()
        .map(|e| 256 + e.xml.primary.len() + e.xml.filelists.len() + e.xml.other.len())
        .sum();
    let mut out = Vec::with_capacity(size + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&CACHE_FORMAT_VERSION.to_le_bytes());
    put_str(&mut out, tag);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        put_str(&mut out, &e.key.rel_path);
        out.extend_from_slice(&e.key.size_bytes.to_le_bytes());
        out.extend_from_slice(&e.key.mtime_ns.to_le_bytes());
        out.extend_from_slice(&e.key.inode.to_le_bytes());
        for s in [
            &e.verified_with,
            &e.name,
            &e.epoch,
            &e.version,
            &e.release,
            &e.arch,
            &e.sourcerpm,
            &e.sha256,
        ] {
            put_str(&mut out, s);
        }
        out.extend_from_slice(&e.time_file.to_le_bytes());
        put_str(&mut out, &e.xml.primary);
        put_str(&mut out, &e.xml.filelists);
        put_str(&mut out, &e.xml.other);
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// Parses a cache written by [`encode`] with the same `tag`; `None` when it is
/// from another version, truncated or corrupt.
pub fn decode(bytes: &[u8], tag: &str) -> Option<Vec<CacheEntry>> {
    let body_len = bytes.len().checked_sub(32)?;
    let (body, digest) = bytes.split_at(body_len);
    if Sha256::digest(body).as_slice() != digest {
        return None;
    }
    let mut r = Reader { bytes: body };
    if r.take(MAGIC.len())? != MAGIC || r.u32()? != CACHE_FORMAT_VERSION || r.str()? != tag {
        return None;
    }
    let count = r.u32()?;
    if count > ENTRIES_MAX {
        return None;
    }
    let mut entries = Vec::with_capacity(count.min(100_000) as usize);
    for _ in 0..count {
        let rel_path = r.str()?;
        let key = FileKey {
            rel_path: rel_path.clone(),
            size_bytes: r.u64()?,
            mtime_ns: i128::from_le_bytes(r.take(16)?.try_into().ok()?),
            inode: r.u64()?,
        };
        entries.push(CacheEntry {
            key,
            verified_with: r.str()?,
            name: r.str()?,
            epoch: r.str()?,
            version: r.str()?,
            release: r.str()?,
            arch: r.str()?,
            sourcerpm: r.str()?,
            sha256: r.str()?,
            time_file: r.u64()?,
            xml: PackageXml {
                location_href: rel_path,
                primary: r.str()?,
                filelists: r.str()?,
                other: r.str()?,
            },
        });
    }
    r.bytes.is_empty().then_some(entries)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> CacheEntry {
        CacheEntry {
            key: FileKey {
                rel_path: format!("Packages/p{i}.rpm"),
                size_bytes: 100 + i,
                mtime_ns: -5 + i as i128,
                inode: 7 * i,
            },
            verified_with: String::new(),
            name: format!("p{i}"),
            epoch: "0".into(),
            version: "1".into(),
            release: "1".into(),
            arch: "noarch".into(),
            sourcerpm: "p-1-1.src.rpm".into(),
            sha256: "ab".repeat(32),
            time_file: 1_700_000_000,
            xml: PackageXml {
                location_href: format!("Packages/p{i}.rpm"),
                primary: "<package>žluť</package>\n".into(),
                filelists: String::new(),
                other: "x".into(),
            },
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let entries = [entry(1), entry(2)];
        let refs: Vec<&CacheEntry> = entries.iter().collect();
        let bytes = encode(&refs, "v1");
        assert_eq!(decode(&bytes, "v1").as_deref(), Some(&entries[..]));
        assert_eq!(decode(&bytes, "v2"), None, "another program version");
        assert_eq!(decode(&bytes[..bytes.len() - 1], "v1"), None, "truncated");
        let mut flipped = bytes.clone();
        flipped[40] ^= 1;
        assert_eq!(decode(&flipped, "v1"), None, "corrupt");
        assert_eq!(decode(b"", "v1"), None);
    }
}
