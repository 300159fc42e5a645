//! Raw access to the strings of an RPM main header, and their conversion to text the
//! way createrepo_c does it: valid UTF-8 as is, anything else read as Latin-1.
//!
//! The rpm crate converts strings that are not UTF-8 lossily and hides the bytes, so
//! every string hotpush emits is read here from the header bytes as they are in the
//! file. Pure; knows nothing about dependencies or repodata.

/// Header entry types that hold strings (rpm's `rpmTagType`).
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

const PREAMBLE_BYTES: usize = 16;
const INDEX_ENTRY_BYTES: usize = 16;

/// A main header exactly as it appears in the file: preamble, index, data store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawHeader<'a> {
    index: &'a [u8],
    store: &'a [u8],
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl<'a> RawHeader<'a> {
    /// `bytes` start at the header magic and hold the whole header.
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self, String> {
        if bytes.len() < PREAMBLE_BYTES {
            return Err("header shorter than its preamble".into());
        }
        let entries = be32(bytes, 8) as usize;
        let data = be32(bytes, 12) as usize;
        let index_end = PREAMBLE_BYTES + entries * INDEX_ENTRY_BYTES;
        if bytes.len() != index_end + data {
            return Err(format!(
                "header is {} bytes but its preamble says {}",
                bytes.len(),
                index_end + data
            ));
        }
        Ok(RawHeader {
            index: &bytes[PREAMBLE_BYTES..index_end],
            store: &bytes[index_end..],
        })
    }

    fn find(&self, tag: u32) -> Option<(u32, usize, usize)> {
        self.index
            .chunks_exact(INDEX_ENTRY_BYTES)
            .find(|entry| be32(entry, 0) == tag)
            .map(|entry| {
                (
                    be32(entry, 4),
                    be32(entry, 8) as usize,
                    be32(entry, 12) as usize,
                )
            })
    }

    /// The strings of a string, string-array or i18n-string entry; `None` when absent.
    pub(crate) fn strings(&self, tag: u32) -> Result<Option<Vec<&'a [u8]>>, String> {
        let Some((kind, offset, count)) = self.find(tag) else {
            return Ok(None);
        };
        let count = match kind {
            TYPE_STRING => 1,
            TYPE_STRING_ARRAY | TYPE_I18NSTRING => count,
            other => return Err(format!("tag {tag} has type {other}, not a string type")),
        };
        if offset > self.store.len() {
            return Err(format!("tag {tag} points outside the header data"));
        }
        let mut rest = &self.store[offset..];
        // Each string takes at least its NUL byte, which bounds the allocation.
        if count > rest.len() {
            return Err(format!(
                "tag {tag} claims {count} strings in {} bytes",
                rest.len()
            ));
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let Some(nul) = rest.iter().position(|&b| b == 0) else {
                return Err(format!(
                    "tag {tag} has a string without its terminating NUL"
                ));
            };
            out.push(&rest[..nul]);
            rest = &rest[nul + 1..];
        }
        Ok(Some(out))
    }

    /// The first string of an entry (i18n strings: the C locale one); `None` when absent.
    pub(crate) fn string(&self, tag: u32) -> Result<Option<&'a [u8]>, String> {
        Ok(self.strings(tag)?.and_then(|v| v.first().copied()))
    }
}

/// Whether the bytes hold a control character that createrepo_c refuses to emit
/// (anything below 0x20 except tab, LF and CR).
pub(crate) fn has_forbidden_control(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|&b| b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r')
}

/// Bytes to text as createrepo_c writes them: valid UTF-8 unchanged; otherwise each
/// byte is Latin-1, except 0x80..=0xBF (C1 controls, most likely mis-encoded CP1252),
/// which are dropped.
pub(crate) fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes
            .iter()
            .filter(|&&b| !(0x80..0xC0).contains(&b))
            .map(|&b| char::from(b))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_converted_and_c1_bytes_dropped() {
        assert_eq!(decode_text(b"caf\xe9"), "café");
        assert_eq!(decode_text(b"a\x85b\xffc"), "abÿc");
        assert_eq!(decode_text("Balíček".as_bytes()), "Balíček");
    }

    #[test]
    fn control_characters_are_found() {
        assert!(!has_forbidden_control(b"tab\tlf\ncr\r"));
        assert!(has_forbidden_control(b"bell\x07"));
        assert!(has_forbidden_control(b"\x1b[31m"));
    }

    fn header(entries: &[(u32, u32, u32, u32)], store: &[u8]) -> Vec<u8> {
        let mut out = vec![0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
        out.extend((entries.len() as u32).to_be_bytes());
        out.extend((store.len() as u32).to_be_bytes());
        for &(tag, kind, offset, count) in entries {
            for v in [tag, kind, offset, count] {
                out.extend(v.to_be_bytes());
            }
        }
        out.extend(store);
        out
    }

    #[test]
    fn strings_are_read_raw_and_bounds_checked() {
        let bytes = header(
            &[(1000, 6, 0, 1), (1117, 8, 4, 2), (1004, 9, 4, 1)],
            b"abc\0x\xe9\0yz\0",
        );
        let raw = RawHeader::new(&bytes).unwrap();
        assert_eq!(raw.string(1000).unwrap(), Some(&b"abc"[..]));
        assert_eq!(
            raw.strings(1117).unwrap(),
            Some(vec![&b"x\xe9"[..], &b"yz"[..]])
        );
        assert_eq!(raw.string(1004).unwrap(), Some(&b"x\xe9"[..]));
        assert_eq!(raw.strings(9999).unwrap(), None);

        let bad = header(&[(1000, 6, 2, 1)], b"ab");
        assert!(RawHeader::new(&bad).unwrap().string(1000).is_err());
        let bad = header(&[(1000, 8, 0, 99)], b"ab\0");
        assert!(RawHeader::new(&bad).unwrap().strings(1000).is_err());
        let bad = header(&[(1000, 4, 0, 1)], b"abcd");
        assert!(RawHeader::new(&bad).unwrap().string(1000).is_err());
    }
}
