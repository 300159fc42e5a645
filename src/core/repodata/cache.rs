//! The record cache format: rendered package blocks plus the few package facts
//! that updateinfo needs, keyed by what `stat` says about the file, so that an
//! unchanged `.rpm` is neither read nor rendered again.
//!
//! Pure: bytes in, entries out (and back). Where the cache lives and when it is
//! consulted is `createrepo.rs`'s business. The format is versioned and ends
//! with a 64-bit checksum of everything before it; any mismatch makes
//! [`decode`] return `None`, and the caller then reads every package afresh.
//! Because the cached blocks are exactly what
//! [`render_package`](super::render_package) produced, the cache never changes
//! the output bytes.
//!
//! Built for the one-package update: [`decode`] borrows every string from the
//! cache bytes (no copy, no allocation per field) and remembers each entry's
//! encoded bytes, so that [`encode`] emits an unchanged entry as a slice of the
//! old cache instead of serializing it again. The checksum is not
//! cryptographic on purpose: whoever can write the cache could recompute any
//! digest too, so it only has to catch truncation and corruption, and it runs
//! at memory speed (a sha256 of the 4.3 MB cache of 1000 packages took longer
//! than compressing the repodata).

use super::{PackageBlocks, PackageXml};

/// Bumped whenever the layout or the rendering rules change, so an old cache is
/// ignored instead of reused.
pub const CACHE_FORMAT_VERSION: u32 = 2;
const MAGIC: &[u8; 16] = b"hotpush-rdcache\n";
/// A sanity bound on entries so a corrupt count cannot make us allocate wildly.
const ENTRIES_MAX: u32 = 10_000_000;
/// Bytes of the trailing checksum.
const CHECK_BYTES: usize = 8;

/// What identifies an unchanged file: relative path, size, mtime and inode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub rel_path: String,
    pub size_bytes: u64,
    pub mtime_ns: i128,
    pub inode: u64,
}

/// One package read in this run (owned); see [`EntryRef`] for the view that
/// the cache works with.
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

impl CacheEntry {
    /// A borrowed view of this entry, to mix with decoded cache entries.
    pub fn as_entry_ref(&self) -> EntryRef<'_> {
        EntryRef {
            rel_path: &self.key.rel_path,
            size_bytes: self.key.size_bytes,
            mtime_ns: self.key.mtime_ns,
            inode: self.key.inode,
            verified_with: &self.verified_with,
            name: &self.name,
            epoch: &self.epoch,
            version: &self.version,
            release: &self.release,
            arch: &self.arch,
            sourcerpm: &self.sourcerpm,
            sha256: &self.sha256,
            time_file: self.time_file,
            primary: &self.xml.primary,
            filelists: &self.xml.filelists,
            other: &self.xml.other,
            raw: None,
        }
    }
}

/// One cached package, borrowed from the cache bytes (or from a
/// [`CacheEntry`]). The location of the package is `rel_path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub rel_path: &'a str,
    pub size_bytes: u64,
    pub mtime_ns: i128,
    pub inode: u64,
    pub verified_with: &'a str,
    pub name: &'a str,
    pub epoch: &'a str,
    pub version: &'a str,
    pub release: &'a str,
    pub arch: &'a str,
    pub sourcerpm: &'a str,
    pub sha256: &'a str,
    pub time_file: u64,
    pub primary: &'a str,
    pub filelists: &'a str,
    pub other: &'a str,
    /// This entry's encoding inside the cache it was decoded from, reused
    /// as is by [`encode`]; `None` for an entry read in this run.
    raw: Option<Raw<'a>>,
}

impl<'a> EntryRef<'a> {
    /// Whether this entry describes the file with `key` (same path, size,
    /// mtime and inode).
    pub fn matches(&self, key: &FileKey) -> bool {
        self.rel_path == key.rel_path
            && self.size_bytes == key.size_bytes
            && self.mtime_ns == key.mtime_ns
            && self.inode == key.inode
    }

    /// Whether this entry was decoded from a cache (rather than read now).
    pub fn is_from_cache(&self) -> bool {
        self.raw.is_some()
    }

    /// The package's rendered blocks, as the repodata builder takes them.
    pub fn blocks(&self) -> PackageBlocks<'a> {
        PackageBlocks {
            location_href: self.rel_path,
            primary: self.primary,
            filelists: self.filelists,
            other: self.other,
        }
    }
}

/// A serialized cache as a list of byte pieces, to be written one after the
/// other with vectored writes: unchanged entries are slices of the old cache
/// and the large strings of new entries are borrowed from them, so the cache
/// is never assembled in memory. Only the framing (header, length prefixes,
/// numbers, short strings, checksum) is copied.
#[derive(Debug, Default)]
pub struct Encoded<'a> {
    framing: Vec<u8>,
    pieces: Vec<Piece<'a>>,
}

#[derive(Debug, Clone, Copy)]
enum Piece<'a> {
    /// A range of `framing`.
    Framing(usize, usize),
    Data(&'a [u8]),
}

impl Encoded<'_> {
    /// The bytes, in order, as slices (none of them empty).
    pub fn slices(&self) -> Vec<&[u8]> {
        self.pieces
            .iter()
            .map(|p| match *p {
                Piece::Framing(start, end) => &self.framing[start..end],
                Piece::Data(d) => d,
            })
            .collect()
    }

    /// Total size in bytes.
    pub fn len(&self) -> usize {
        self.slices().iter().map(|s| s.len()).sum()
    }

    /// Whether there are no bytes at all (never true for an encoded cache).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All pieces in one buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        self.slices().concat()
    }

    /// Appends framing bytes.
    fn frame(&mut self, bytes: &[u8]) {
        self.framing.extend_from_slice(bytes);
    }
}

/// Strings at least this long are written from where they are instead of
/// being copied into the framing.
const BORROW_MIN_BYTES: usize = 128;

/// Serializes entries in the given order; `tag` (e.g. the program version)
/// must match on decode.
pub fn encode<'a>(entries: &[EntryRef<'a>], tag: &str) -> Encoded<'a> {
    let mut enc = Encoded {
        framing: Vec::with_capacity(64 + tag.len()),
        pieces: Vec::new(),
    };
    let mut emitted = 0usize;
    enc.frame(MAGIC);
    enc.frame(&CACHE_FORMAT_VERSION.to_le_bytes());
    put_str(&mut enc.framing, tag);
    enc.frame(&(entries.len() as u32).to_le_bytes());
    let data = |enc: &mut Encoded<'a>, emitted: &mut usize, d: &'a [u8]| {
        if enc.framing.len() > *emitted {
            enc.pieces.push(Piece::Framing(*emitted, enc.framing.len()));
            *emitted = enc.framing.len();
        }
        enc.pieces.push(Piece::Data(d));
    };
    // A run of unchanged entries that are adjacent in the old cache is one piece.
    let mut borrowed: Option<Raw<'a>> = None;
    for e in entries {
        if let Some(raw) = e.raw {
            borrowed = Some(match borrowed.and_then(|prev| prev.join(raw)) {
                Some(joined) => joined,
                None => {
                    if let Some(prev) = borrowed {
                        data(&mut enc, &mut emitted, prev.bytes());
                    }
                    raw
                }
            });
            continue;
        }
        if let Some(prev) = borrowed.take() {
            data(&mut enc, &mut emitted, prev.bytes());
        }
        let string = |enc: &mut Encoded<'a>, emitted: &mut usize, s: &'a str| {
            put_len(&mut enc.framing, s);
            if s.len() >= BORROW_MIN_BYTES {
                data(enc, emitted, s.as_bytes());
            } else {
                enc.frame(s.as_bytes());
            }
        };
        string(&mut enc, &mut emitted, e.rel_path);
        enc.frame(&e.size_bytes.to_le_bytes());
        enc.frame(&e.mtime_ns.to_le_bytes());
        enc.frame(&e.inode.to_le_bytes());
        for s in [
            e.verified_with,
            e.name,
            e.epoch,
            e.version,
            e.release,
            e.arch,
            e.sourcerpm,
            e.sha256,
        ] {
            string(&mut enc, &mut emitted, s);
        }
        enc.frame(&e.time_file.to_le_bytes());
        for s in [e.primary, e.filelists, e.other] {
            string(&mut enc, &mut emitted, s);
        }
    }
    if let Some(prev) = borrowed {
        data(&mut enc, &mut emitted, prev.bytes());
    }
    if enc.framing.len() > emitted {
        enc.pieces.push(Piece::Framing(emitted, enc.framing.len()));
        emitted = enc.framing.len();
    }
    let mut check = Check::new();
    for s in enc.slices() {
        check.update(s);
    }
    let sum = check.finish();
    enc.frame(&sum.to_le_bytes());
    enc.pieces.push(Piece::Framing(emitted, enc.framing.len()));
    enc
}

/// Where an entry's encoding lies in the cache it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Raw<'a> {
    cache: &'a [u8],
    start: usize,
    end: usize,
}

impl<'a> Raw<'a> {
    fn bytes(self) -> &'a [u8] {
        &self.cache[self.start..self.end]
    }

    /// `self` and `next` as one range when `next` follows right after `self`
    /// in the same cache.
    fn join(self, next: Raw<'a>) -> Option<Raw<'a>> {
        (std::ptr::eq(self.cache, next.cache) && self.end == next.start).then_some(Raw {
            end: next.end,
            ..self
        })
    }
}

/// Parses a cache written by [`encode`] with the same `tag`; `None` when it is
/// from another version, truncated or corrupt. The entries borrow from `bytes`.
pub fn decode<'a>(bytes: &'a [u8], tag: &str) -> Option<Vec<EntryRef<'a>>> {
    let body_len = bytes.len().checked_sub(CHECK_BYTES)?;
    let (body, check) = bytes.split_at(body_len);
    let mut c = Check::new();
    c.update(body);
    if c.finish().to_le_bytes() != check {
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
        let start = body.len() - r.bytes.len();
        let mut e = EntryRef {
            rel_path: r.str()?,
            size_bytes: r.u64()?,
            mtime_ns: i128::from_le_bytes(r.take(16)?.try_into().ok()?),
            inode: r.u64()?,
            verified_with: r.str()?,
            name: r.str()?,
            epoch: r.str()?,
            version: r.str()?,
            release: r.str()?,
            arch: r.str()?,
            sourcerpm: r.str()?,
            sha256: r.str()?,
            time_file: r.u64()?,
            primary: r.str()?,
            filelists: r.str()?,
            other: r.str()?,
            raw: None,
        };
        e.raw = Some(Raw {
            cache: bytes,
            start,
            end: body.len() - r.bytes.len(),
        });
        entries.push(e);
    }
    r.bytes.is_empty().then_some(entries)
}

fn put_len(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s);
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

    fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// The cache checksum: four independent multiply-rotate lanes over 64-bit
/// little-endian words (so it runs at several GB/s), the length mixed in at
/// the end. Every step is a bijection of the lane for fixed input, so a change
/// in any one word always changes the result; it is no defense against
/// someone who wants a collision (see the module comment for why none is
/// needed).
struct Check {
    lanes: [u64; 4],
    buf: [u8; 32],
    buf_len: usize,
    total_bytes: u64,
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

impl Check {
    fn new() -> Self {
        Check {
            lanes: [
                0x243F_6A88_85A3_08D3,
                0x1319_8A2E_0370_7344,
                0xA409_3822_299F_31D0,
                0x082E_FA98_EC4E_6C89,
            ],
            buf: [0; 32],
            buf_len: 0,
            total_bytes: 0,
        }
    }

    fn block(lanes: &mut [u64; 4], block: &[u8]) {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
            *lane = (*lane ^ w).wrapping_mul(MUL).rotate_left(29);
        }
    }

    fn update(&mut self, mut bytes: &[u8]) {
        self.total_bytes += bytes.len() as u64;
        if self.buf_len > 0 {
            let n = (32 - self.buf_len).min(bytes.len());
            self.buf[self.buf_len..self.buf_len + n].copy_from_slice(&bytes[..n]);
            self.buf_len += n;
            bytes = &bytes[n..];
            if self.buf_len < 32 {
                return;
            }
            let buf = self.buf;
            Self::block(&mut self.lanes, &buf);
            self.buf_len = 0;
        }
        let mut blocks = bytes.chunks_exact(32);
        for b in &mut blocks {
            Self::block(&mut self.lanes, b);
        }
        let rest = blocks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    fn finish(mut self) -> u64 {
        if self.buf_len > 0 {
            self.buf[self.buf_len..].fill(0);
            let buf = self.buf;
            Self::block(&mut self.lanes, &buf);
        }
        let mut h = self.total_bytes;
        for lane in self.lanes {
            h = (h ^ lane).wrapping_mul(MUL).rotate_left(31);
        }
        h ^= h >> 29;
        h = h.wrapping_mul(MUL);
        h ^ (h >> 32)
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
                primary: format!("<package>žluť {i}</package>\n"),
                filelists: String::new(),
                other: "x".into(),
            },
        }
    }

    fn fields(e: &EntryRef<'_>) -> EntryRef<'static> {
        let s = |x: &str| -> &'static str { Box::leak(x.to_owned().into_boxed_str()) };
        EntryRef {
            rel_path: s(e.rel_path),
            verified_with: s(e.verified_with),
            name: s(e.name),
            epoch: s(e.epoch),
            version: s(e.version),
            release: s(e.release),
            arch: s(e.arch),
            sourcerpm: s(e.sourcerpm),
            sha256: s(e.sha256),
            primary: s(e.primary),
            filelists: s(e.filelists),
            other: s(e.other),
            raw: None,
            ..*e
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let entries = [entry(1), entry(2)];
        let refs: Vec<EntryRef<'_>> = entries.iter().map(CacheEntry::as_entry_ref).collect();
        let bytes = encode(&refs, "v1").to_vec();
        let decoded = decode(&bytes, "v1").expect("decodes");
        assert_eq!(
            decoded.iter().map(fields).collect::<Vec<_>>(),
            refs.iter().map(fields).collect::<Vec<_>>()
        );
        assert!(decoded.iter().all(EntryRef::is_from_cache));
        assert!(decoded[1].matches(&entries[1].key));
        assert!(!decoded[1].matches(&entries[0].key));
        assert_eq!(decode(&bytes, "v2"), None, "another program version");
        assert_eq!(decode(&bytes[..bytes.len() - 1], "v1"), None, "truncated");
        for i in (0..bytes.len()).step_by(7) {
            let mut flipped = bytes.clone();
            flipped[i] ^= 1 << (i % 8);
            assert_eq!(decode(&flipped, "v1"), None, "corrupt byte {i}");
        }
        assert_eq!(decode(b"", "v1"), None);
    }

    /// Re-encoding decoded entries, with new ones mixed in and some dropped,
    /// gives exactly the bytes of encoding everything afresh, and reuses the
    /// old bytes in few pieces.
    #[test]
    fn reencoding_reuses_old_bytes_and_equals_a_fresh_encoding() {
        let all: Vec<CacheEntry> = (0..6).map(entry).collect();
        let old_refs: Vec<EntryRef<'_>> = [0, 1, 2, 4, 5]
            .iter()
            .map(|&i| all[i].as_entry_ref())
            .collect();
        let old = encode(&old_refs, "t").to_vec();
        let decoded = decode(&old, "t").unwrap();
        // Insert entry 3, drop entry 0.
        let mixed = vec![
            decoded[1],
            decoded[2],
            all[3].as_entry_ref(),
            decoded[3],
            decoded[4],
        ];
        let enc = encode(&mixed, "t");
        let fresh: Vec<EntryRef<'_>> = [1, 2, 3, 4, 5]
            .iter()
            .map(|&i| all[i].as_entry_ref())
            .collect();
        assert_eq!(enc.to_vec(), encode(&fresh, "t").to_vec());
        // head, [1,2] borrowed, 3 fresh, [4,5] borrowed, trailer
        assert_eq!(enc.pieces.len(), 5, "{:?}", enc.pieces.len());
        // Unchanged: the whole body is one borrowed piece.
        let same = encode(&decoded, "t");
        assert_eq!(same.to_vec(), old);
        assert_eq!(same.pieces.len(), 3);
    }

    #[test]
    fn checksum_sees_every_word_and_the_length() {
        let sum = |b: &[u8]| {
            let mut c = Check::new();
            c.update(b);
            c.finish()
        };
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut split = Check::new();
        for part in data.chunks(13) {
            split.update(part);
        }
        assert_eq!(split.finish(), sum(&data), "streaming equals one shot");
        assert_ne!(sum(&data), sum(&data[..999]));
        let mut zeros = data.clone();
        zeros.extend_from_slice(&[0; 3]);
        assert_ne!(sum(&data), sum(&zeros), "zero padding is not ignored");
    }
}
