//! Raw access to RPM header structures: the structural check that every header
//! passes before the rpm crate sees it ([`check_header`]), the strings of a main
//! header, and their conversion to text the way createrepo_c does it: valid UTF-8
//! as is, anything else read as Latin-1.
//!
//! The rpm crate trusts the counts and offsets of the index: a count of 0xFFFFFFFF
//! makes it reserve gigabytes before it looks for the data, and an offset past the
//! data store panics. [`check_header`] walks the index first, with librpm's rules
//! (`hdrblobVerifyInfo`, `dataLength`) and tighter limits, so that what reaches the
//! crate is in bounds. The crate also converts strings that are not UTF-8 lossily
//! and hides the bytes, so every string hotpush emits is read here from the header
//! bytes as they are in the file. Pure; knows nothing about dependencies or repodata.

/// Header entry types that hold strings (rpm's `rpmTagType`).
pub(crate) const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

const PREAMBLE_BYTES: usize = 16;
const INDEX_ENTRY_BYTES: usize = 16;

/// The remaining header entry types (`rpmTagType`); 0 (NULL) carries no data and
/// is refused, anything above 9 is unknown.
const TYPE_CHAR: u32 = 1;
const TYPE_INT8: u32 = 2;
const TYPE_INT16: u32 = 3;
const TYPE_INT32: u32 = 4;
const TYPE_INT64: u32 = 5;
const TYPE_BIN: u32 = 7;

/// Region tags (`HEADER_IMAGE`, `HEADER_SIGNATURES`, `HEADER_IMMUTABLE`): librpm
/// allows them only as the first entry.
const REGION_TAGS: [u32; 3] = [61, 62, 63];

/// What one header structure may claim before anything is allocated for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderLimits {
    /// Index entries (librpm: 32 in the signature header, 65535 in the main one).
    pub(crate) entries_max: usize,
    /// Data store bytes (librpm: 64 MiB signature, 256 MiB main header).
    pub(crate) data_bytes_max: usize,
}

/// The signature header holds a handful of digests and signatures (about 10
/// entries, a few KiB even with several v6 signatures); librpm allows 32 entries.
/// hotpush allows 64 entries and 1 MiB, a hundred times what real packages use.
pub(crate) const SIGNATURE_LIMITS: HeaderLimits = HeaderLimits {
    entries_max: 64,
    data_bytes_max: 1024 * 1024,
};

/// Main headers of real packages hold 50 to 300 tags and rarely more than a few
/// MiB of data (the largest, with tens of thousands of files, stay under 32 MiB).
/// hotpush allows 4096 entries and 64 MiB of data (librpm: 65535 and 256 MiB), so
/// one upload never makes the parser hold more than a few hundred MiB.
pub(crate) const MAIN_LIMITS: HeaderLimits = HeaderLimits {
    entries_max: 4096,
    data_bytes_max: 64 * 1024 * 1024,
};

/// The entry count and data size a header preamble claims, checked against
/// `limits` (the caller then reads exactly that many bytes).
pub(crate) fn check_preamble(
    preamble: &[u8],
    limits: HeaderLimits,
) -> Result<(usize, usize), String> {
    if preamble.len() < PREAMBLE_BYTES {
        return Err("header shorter than its preamble".into());
    }
    if preamble[..4] != [0x8e, 0xad, 0xe8, 0x01] {
        return Err(format!(
            "does not start with the header magic `8eade801` (found `{}`)",
            hex::encode(&preamble[..4])
        ));
    }
    let entries = be32(preamble, 8) as usize;
    let data = be32(preamble, 12) as usize;
    if entries == 0 || entries > limits.entries_max {
        return Err(format!(
            "claims {entries} index entries (allowed: 1 to {})",
            limits.entries_max
        ));
    }
    if data > limits.data_bytes_max {
        return Err(format!(
            "claims {data} data bytes (allowed: at most {})",
            limits.data_bytes_max
        ));
    }
    Ok((entries, data))
}

/// A short name for the tags people ask about, for error messages.
fn tag_label(tag: u32, signature: bool) -> String {
    let name = match (signature, tag) {
        (_, 61) => "HEADERIMAGE",
        (_, 62) => "HEADERSIGNATURES",
        (_, 63) => "HEADERIMMUTABLE",
        (true, 267) => "DSA",
        (true, 268) => "RSA",
        (true, 269) => "SHA1",
        (true, 273) => "SHA256",
        (true, 1000) => "SIZE",
        (true, 1004) => "MD5",
        (true, 1005) => "PGP",
        (true, 1007) => "PAYLOADSIZE",
        (true, 270) => "LONGSIZE",
        (true, 271) => "LONGARCHIVESIZE",
        (false, 1000) => "NAME",
        (false, 1001) => "VERSION",
        (false, 1002) => "RELEASE",
        (false, 1003) => "EPOCH",
        (false, 1004) => "SUMMARY",
        (false, 1005) => "DESCRIPTION",
        (false, 1022) => "ARCH",
        (false, 1044) => "SOURCERPM",
        _ => return format!("tag {tag}"),
    };
    format!("tag {tag} ({name})")
}

fn type_name(kind: u32) -> &'static str {
    match kind {
        0 => "NULL",
        TYPE_CHAR => "CHAR",
        TYPE_INT8 => "INT8",
        TYPE_INT16 => "INT16",
        TYPE_INT32 => "INT32",
        TYPE_INT64 => "INT64",
        TYPE_STRING => "STRING",
        TYPE_BIN => "BIN",
        TYPE_STRING_ARRAY => "STRING_ARRAY",
        TYPE_I18NSTRING => "I18NSTRING",
        _ => "unknown",
    }
}

/// Checks one whole header structure (`bytes`: preamble, index and data store,
/// nothing more) before anything parses it: the preamble within `limits`, every
/// entry of a known type with a non-zero count, its data aligned for its type and
/// entirely inside the data store, strings NUL-terminated inside it, no tag twice,
/// region tags only first, and no two entries sharing data bytes (which also keeps
/// the string walk linear in the header size). `signature` only picks tag names
/// for messages. The error names the tag and the reason.
pub(crate) fn check_header(
    bytes: &[u8],
    limits: HeaderLimits,
    signature: bool,
) -> Result<(), String> {
    let (entries, data) = check_preamble(bytes, limits)?;
    let index_end = PREAMBLE_BYTES + entries * INDEX_ENTRY_BYTES;
    if bytes.len() != index_end + data {
        return Err(format!(
            "is {} bytes but its preamble says {}",
            bytes.len(),
            index_end + data
        ));
    }
    let index = &bytes[PREAMBLE_BYTES..index_end];
    let store = &bytes[index_end..];
    // (tag) and (start, end, tag) of every entry, for the duplicate and overlap checks.
    let mut tags: Vec<u32> = Vec::with_capacity(entries);
    let mut ranges: Vec<(usize, usize, u32)> = Vec::with_capacity(entries);
    // String bytes walked so far: entries that share no bytes walk at most `data` in
    // all, so more proves an overlap and keeps a hostile index from costing
    // entries × data byte scans.
    let mut walked = 0usize;
    for (i, entry) in index.chunks_exact(INDEX_ENTRY_BYTES).enumerate() {
        let tag = be32(entry, 0);
        let kind = be32(entry, 4);
        let offset_raw = be32(entry, 8) as i32;
        let count = be32(entry, 12) as usize;
        let label = tag_label(tag, signature);
        if REGION_TAGS.contains(&tag) && i != 0 {
            return Err(format!(
                "{label} is a region tag but is entry #{i}, not the first"
            ));
        }
        if !(TYPE_CHAR..=TYPE_I18NSTRING).contains(&kind) {
            return Err(format!(
                "{label} has type {kind} ({}), which carries no data hotpush can read",
                type_name(kind)
            ));
        }
        if count == 0 {
            return Err(format!("{label} ({}) has a count of 0", type_name(kind)));
        }
        let Ok(offset) = usize::try_from(offset_raw) else {
            return Err(format!("{label} has a negative data offset {offset_raw}"));
        };
        if offset >= data {
            return Err(format!(
                "{label} points at byte {offset} of a {data}-byte data store"
            ));
        }
        let rest = &store[offset..];
        let (align, item_bytes) = match kind {
            TYPE_CHAR | TYPE_INT8 | TYPE_BIN => (1, 1),
            TYPE_INT16 => (2, 2),
            TYPE_INT32 => (4, 4),
            TYPE_INT64 => (8, 8),
            _ => (1, 0),
        };
        if offset % align != 0 {
            return Err(format!(
                "{label} ({}) data at offset {offset} is not aligned to {align} bytes",
                type_name(kind)
            ));
        }
        let size = if item_bytes > 0 {
            // count < 2^32 and item_bytes <= 8: no overflow in u64, checked as usize.
            let size = (count as u64) * item_bytes;
            if size > rest.len() as u64 {
                return Err(format!(
                    "{label} claims {count} {} items ({size} bytes) but only {} data bytes follow its offset {offset}",
                    type_name(kind),
                    rest.len()
                ));
            }
            size as usize
        } else {
            if kind == TYPE_STRING && count != 1 {
                return Err(format!(
                    "{label} is a STRING with a count of {count}, not 1"
                ));
            }
            // Each string takes at least its NUL byte.
            if count > rest.len() {
                return Err(format!(
                    "{label} claims {count} strings but only {} data bytes follow its offset {offset}",
                    rest.len()
                ));
            }
            let mut size = 0;
            for n in 0..count {
                let Some(nul) = rest[size..].iter().position(|&b| b == 0) else {
                    return Err(format!(
                        "{label} string #{n} has no terminating NUL inside the data store"
                    ));
                };
                size += nul + 1;
                if walked + size > data {
                    return Err(format!(
                        "{label}: string entries claim more bytes than the {data}-byte data store holds (entries overlap)"
                    ));
                }
            }
            walked += size;
            size
        };
        tags.push(tag);
        ranges.push((offset, offset + size, tag));
    }
    tags.sort_unstable();
    if let Some(w) = tags.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "{} appears twice (librpm refuses duplicated tags)",
            tag_label(w[0], signature)
        ));
    }
    ranges.sort_unstable();
    if let Some(w) = ranges.windows(2).find(|w| w[1].0 < w[0].1) {
        return Err(format!(
            "{} and {} share data bytes {}..{}",
            tag_label(w[0].2, signature),
            tag_label(w[1].2, signature),
            w[1].0,
            w[0].1.min(w[1].1)
        ));
    }
    Ok(())
}

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

    /// The type of an entry; `None` when absent.
    pub(crate) fn kind(&self, tag: u32) -> Option<u32> {
        self.find(tag).map(|(kind, _, _)| kind)
    }

    /// A number that librpm reads as exactly one INT32 (EPOCH): any other type or
    /// count is an error, never a silent 0; `None` when absent.
    pub(crate) fn int32(&self, tag: u32) -> Result<Option<u32>, String> {
        let Some((kind, offset, count)) = self.find(tag) else {
            return Ok(None);
        };
        if kind != TYPE_INT32 || count != 1 {
            return Err(format!(
                "has type {} with {count} item(s); librpm reads it only as one INT32",
                type_name(kind)
            ));
        }
        match self.store.get(offset..offset + 4) {
            Some(b) => Ok(Some(be32(b, 0))),
            None => Err("points outside the header data".into()),
        }
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

    #[test]
    fn well_formed_headers_pass_the_structure_check() {
        let bytes = header(
            &[
                (63, 7, 12, 16),
                (1000, 6, 0, 1),
                (1003, 4, 8, 1),
                (1117, 8, 4, 2),
            ],
            b"abc\0x\0y\0\0\0\0\x01regiontrailer...",
        );
        check_header(&bytes, MAIN_LIMITS, false).unwrap();
        let raw = RawHeader::new(&bytes).unwrap();
        assert_eq!(raw.int32(1003).unwrap(), Some(1));
        assert_eq!(raw.int32(1004).unwrap(), None);
        assert!(RawHeader::new(&header(&[(1003, 5, 0, 1)], &[0; 8]))
            .unwrap()
            .int32(1003)
            .unwrap_err()
            .contains("INT64"));
    }

    /// Every malformed shape is refused by the check, with the tag in the message,
    /// before anything allocates from the claimed count.
    #[test]
    fn malformed_index_entries_are_refused_naming_the_tag() {
        let store = [0u8; 64];
        for kind in 0..=12u32 {
            for (offset, count) in [
                (0u32, u32::MAX),
                (0, 0x1000_0000),
                (0, 65),
                (64, 1),
                (u32::MAX, 1),
                (0x8000_0000, 1),
                (0, 0),
            ] {
                let bytes = header(&[(1000, kind, offset, count)], &store);
                let e = check_header(&bytes, MAIN_LIMITS, false)
                    .expect_err(&format!("type {kind} offset {offset} count {count}"));
                assert!(e.contains("tag 1000"), "{e}");
            }
        }
        type Entry = (u32, u32, u32, u32);
        let cases: [(&[Entry], &str); 7] = [
            (&[(1000, 6, 0, 1), (1000, 6, 3, 1)], "appears twice"),
            (&[(1000, 8, 0, 2), (1001, 8, 2, 1)], "share data bytes"),
            (&[(1000, 4, 2, 1)], "aligned"),
            (&[(1000, 5, 4, 1)], "aligned"),
            (&[(1000, 6, 0, 2)], "not 1"),
            (&[(1000, 6, 0, 1), (62, 7, 8, 16)], "region tag"),
            (&[(1000, 7, 60, 5)], "only 4 data bytes"),
        ];
        let store = *b"ab\0c\0\0\0\0xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
        for (entries, want) in cases {
            let e = check_header(&header(entries, &store), MAIN_LIMITS, false).unwrap_err();
            assert!(e.contains(want), "{entries:?}: {e}");
        }
        // A string with no NUL before the end of the store.
        let e = check_header(&header(&[(1000, 8, 0, 1)], b"abc"), MAIN_LIMITS, false).unwrap_err();
        assert!(e.contains("no terminating NUL"), "{e}");
        // Many string entries pointing at the same bytes cost one walk, then fail.
        let entries: Vec<_> = (0..4000).map(|t| (1000 + t, 8, 0, 1)).collect();
        let e = check_header(&header(&entries, &[b'a'; 4096]), MAIN_LIMITS, false).unwrap_err();
        assert!(e.contains("NUL"), "{e}");
    }

    #[test]
    fn preambles_beyond_the_limits_are_refused() {
        let mut bytes = header(&[(1000, 6, 0, 1)], b"a\0");
        bytes[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(check_preamble(&bytes, MAIN_LIMITS)
            .unwrap_err()
            .contains("index entries"));
        bytes[8..12].copy_from_slice(&0u32.to_be_bytes());
        assert!(check_preamble(&bytes, MAIN_LIMITS)
            .unwrap_err()
            .contains("index entries"));
        bytes[8..12].copy_from_slice(&1u32.to_be_bytes());
        bytes[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(check_preamble(&bytes, SIGNATURE_LIMITS)
            .unwrap_err()
            .contains("data bytes"));
        bytes[0] = 0;
        assert!(check_preamble(&bytes, MAIN_LIMITS)
            .unwrap_err()
            .contains("magic"));
    }
}
