//! Reads one RPM from a byte stream into a [`Package`](super::Package): the lead,
//! signature header and main header are read and parsed (rpm crate), the payload is
//! only streamed through SHA-256 twice (the whole-file pkgid and the payload digest
//! that the signed header promises), so a package is never held in memory.
//!
//! Pure: reads the bytes it is given and nothing else (no files, clock or network).
//! Fields are filled the way createrepo_c 1.x fills them; see `deps` for the
//! dependency rules and `raw` for how strings are decoded. Known, deliberate
//! differences from createrepo_c are listed on [`read_package`].

use std::collections::HashSet;
use std::io::Read;

use rpm::{IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::{Digest, Sha256, Sha512};

use super::deps::{self, RawDep, RawDeps};
use super::identity;
use super::raw::{
    check_header, check_preamble, decode_text, has_forbidden_control, HeaderLimits, RawHeader,
    MAIN_LIMITS, SIGNATURE_LIMITS, TYPE_STRING,
};
use super::verify::{self, SignaturePolicy};
use super::{ChangelogEntry, FileKind, Package, PackageFile};

/// Facts about the file that its bytes cannot tell.
#[derive(Debug, Clone)]
pub struct FileFacts {
    pub location_href: String,
    pub time_file: u64,
}

#[derive(Debug)]
pub struct ReadPackage {
    pub package: Package,
    /// Fingerprint (upper-case hex) of the trusted key that verified the package, if checked.
    pub signed_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("not an RPM file: {0}\nhint: upload the binary `.rpm` built by rpmbuild, not an archive, a listing or an error page")]
    NotAnRpm(String),
    #[error("truncated RPM: {0}\nhint: the file was cut short in transfer or on disk; copy or upload the complete file again")]
    Truncated(String),
    #[error("corrupt RPM: {0}\nhint: the file does not match what its own header promises; fetch the package again from the build system")]
    Corrupt(String),
    #[error("package is not signed\nhint: sign it with the distribution key (`rpmsign --addsign`) before pushing")]
    Unsigned,
    #[error("package is signed by a key that is not trusted (key id {0})\nhint: sign it with a trusted key, or trust the signing key's public part (on a running origin: `hotpush keys add FILE`)")]
    UntrustedKey(String),
    #[error("package signature does not verify: {0}\nhint: the signed header was altered after signing; rebuild and re-sign the package")]
    BadSignature(String),
    /// A header value that createrepo_c would refuse to write (control characters).
    #[error("RPM header field `{field}` {reason}\nhint: fix the spec file (the field must be plain text) and rebuild the package")]
    BadField { field: String, reason: String },
    /// A header whose structure breaks rpm's format rules: counts, offsets or sizes
    /// out of bounds, unknown types, duplicated tags. Found before anything is parsed.
    #[error("malformed RPM header: {0}\nhint: the file breaks rpm's header format (librpm refuses such files too); upload the package exactly as rpmbuild and rpmsign wrote it")]
    Malformed(String),
    /// The name, epoch, version, release or arch cannot make a safe NEVRA or file name.
    #[error("RPM package identity: {0}\nhint: fix the Name/Version/Release/Epoch in the spec file and rebuild (names: letters, digits and `._+-`; no `-` in version or release)")]
    BadIdentity(String),
    #[error("I/O error while reading the package: {0}")]
    Io(#[from] std::io::Error),
}

const LEAD_BYTES: usize = 96;
const PREAMBLE_BYTES: usize = 16;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
const CHANGELOG_LIMIT: usize = 10;
const STREAM_CHUNK_BYTES: usize = 64 * 1024;

const TAG_PAYLOAD_SHA256: u32 = 5092;
const TAG_PAYLOAD_SHA512: u32 = 5121;
const FILE_GHOST: u32 = 1 << 6;
const MODE_TYPE_MASK: u16 = 0o170000;
const MODE_DIR: u16 = 0o040000;

/// Reads one package from `reader` to its end.
///
/// Differences from createrepo_c, on purpose:
/// - `size_archive` of RPM v6 packages is the real payload size (main-header tag
///   5112 PAYLOADSIZE, else 5113); createrepo_c 0.17 and 1.2 write `0` there.
/// - The package is rejected when its payload does not match the header's payload
///   digest (tag 5092, else 5121), when the main header does not match the
///   signature header's SHA-256 digest, or when the file is shorter or longer than
///   the signature header's SIZE/LONGSIZE says. createrepo_c checks none of these.
/// - Dependency epochs are accepted only as ASCII digits (createrepo_c uses `strtol`,
///   which also takes a sign and leading blanks).
/// - The PAYLOADSHA256ALT digests (of the *uncompressed* payload) are not checked:
///   that would mean decompressing every payload. The compressed-payload digest,
///   which the signed header carries, already binds the payload to the signature.
///
/// Every header is checked structurally before the rpm crate parses it, and a
/// panic inside the crate all the same becomes [`IntakeError::Malformed`]: one
/// hostile file never takes the process down.
pub fn read_package(
    reader: impl Read,
    facts: FileFacts,
    policy: &SignaturePolicy,
) -> Result<ReadPackage, IntakeError> {
    let href = facts.location_href.clone();
    let guarded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_package_unguarded(reader, facts, policy)
    }));
    guarded.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(IntakeError::Malformed(format!(
            "`{href}`: the RPM parser failed on this file ({why})"
        )))
    })
}

fn read_package_unguarded(
    mut reader: impl Read,
    facts: FileFacts,
    policy: &SignaturePolicy,
) -> Result<ReadPackage, IntakeError> {
    let href = facts.location_href.as_str();
    let mut meta: Vec<u8> = Vec::with_capacity(16 * 1024);

    // Lead: tell "not an RPM" from "an RPM cut short" by the magic.
    let got = read_up_to(&mut reader, &mut meta, LEAD_BYTES)?;
    let magic_len = got.min(4);
    if meta[..magic_len] != LEAD_MAGIC[..magic_len] || got == 0 {
        return Err(IntakeError::NotAnRpm(format!(
            "`{href}` does not start with the RPM magic `edabeedb` ({})",
            describe_start(&meta)
        )));
    }
    if got < LEAD_BYTES {
        return Err(truncated(href, got, "the 96-byte lead"));
    }

    let sig_start = meta.len();
    let sig_len = read_header(
        &mut reader,
        &mut meta,
        href,
        "signature header",
        SIGNATURE_LIMITS,
    )?;
    let padding = (8 - sig_len % 8) % 8;
    let got = read_up_to(&mut reader, &mut meta, padding)?;
    if got < padding {
        return Err(truncated(href, meta.len(), "the signature header padding"));
    }
    let header_start = meta.len();
    read_header(&mut reader, &mut meta, href, "main header", MAIN_LIMITS)?;
    let header_end = meta.len();
    debug_assert!(sig_start == LEAD_BYTES && header_start > sig_start);

    let metadata = PackageMetadata::parse(&mut &meta[..])
        .map_err(|e| IntakeError::Corrupt(format!("`{href}`: cannot parse the headers: {e}")))?;
    let offsets = metadata.get_package_segment_offsets();
    if offsets.header != header_start as u64 || offsets.payload != header_end as u64 {
        return Err(IntakeError::Corrupt(format!(
            "`{href}`: header layout disagrees with the rpm parser (header {}..{} vs {}..{})",
            header_start, header_end, offsets.header, offsets.payload
        )));
    }
    let header_bytes = &meta[header_start..header_end];
    let raw = RawHeader::new(header_bytes)
        .map_err(|e| IntakeError::Corrupt(format!("`{href}`: main header: {e}")))?;

    // Stream the payload: whole-file hash, and the payload digest the header promises.
    let expected_payload = payload_digest(&raw, href)?;
    let mut file_hash = Sha256::new();
    file_hash.update(&meta);
    let mut payload_hash = expected_payload.as_ref().map(|(kind, _)| kind.hasher());
    let mut total_bytes = meta.len() as u64;
    let mut chunk = vec![0u8; STREAM_CHUNK_BYTES];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        file_hash.update(&chunk[..n]);
        if let Some(h) = payload_hash.as_mut() {
            h.update(&chunk[..n]);
        }
        total_bytes += n as u64;
    }

    check_sizes(&metadata, href, header_start as u64, total_bytes)?;
    if let (Some((kind, want)), Some(h)) = (expected_payload, payload_hash) {
        let got = h.finish();
        if !got.eq_ignore_ascii_case(&want) {
            return Err(IntakeError::Corrupt(format!(
                "`{href}`: payload {} digest mismatch: header says `{want}`, payload hashes to `{got}`",
                kind.name()
            )));
        }
    }
    check_header_digest(&metadata, header_bytes, href)?;

    let signed_by = match policy {
        SignaturePolicy::Ignore => None,
        SignaturePolicy::Require(keys) => {
            Some(verify::verify_package(&metadata, header_bytes, keys)?)
        }
    };

    let package = build_package(
        &metadata,
        &raw,
        &facts,
        hex::encode(file_hash.finalize()),
        total_bytes,
        header_start as u64,
        header_end as u64,
    )?;
    Ok(ReadPackage { package, signed_by })
}

fn truncated(href: &str, at_bytes: usize, inside: &str) -> IntakeError {
    IntakeError::Truncated(format!(
        "`{href}` ends after {at_bytes} bytes, inside {inside}"
    ))
}

/// A short description of what the file looks like, for the "not an RPM" message.
fn describe_start(bytes: &[u8]) -> String {
    let kind = match bytes {
        [] => "the file is empty",
        [0x1f, 0x8b, ..] => "it looks like a gzip file",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "it looks like a zstd file",
        [0xfd, b'7', b'z', b'X', b'Z', ..] => "it looks like an xz file",
        [b'P', b'K', 3, 4, ..] => "it looks like a zip file",
        [b'<', ..] => "it looks like HTML or XML",
        [b'-', b'-', b'-', b'-', b'-', ..] => "it looks like an armored OpenPGP block",
        b if b
            .iter()
            .all(|c| c.is_ascii_graphic() || c.is_ascii_whitespace()) =>
        {
            "it looks like a text file"
        }
        _ => "unknown content",
    };
    let shown = &bytes[..bytes.len().min(8)];
    if shown.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}; first bytes `{}`", hex::encode(shown))
    }
}

/// Reads up to `want` more bytes into `buf`; fewer only at end of input.
fn read_up_to(reader: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<usize> {
    let start = buf.len();
    let got = reader.take(want as u64).read_to_end(buf)?;
    debug_assert_eq!(buf.len(), start + got);
    Ok(got)
}

/// Reads one header structure (preamble, index, data), checks its structure
/// ([`check_header`]) and returns its length. Nothing is allocated beyond what
/// `limits` allow, and the rpm crate only ever sees headers that passed.
fn read_header(
    reader: &mut impl Read,
    meta: &mut Vec<u8>,
    href: &str,
    what: &str,
    limits: HeaderLimits,
) -> Result<usize, IntakeError> {
    let start = meta.len();
    let got = read_up_to(reader, meta, PREAMBLE_BYTES)?;
    if got < PREAMBLE_BYTES {
        return Err(truncated(href, meta.len(), &format!("the {what} preamble")));
    }
    let pre = &meta[start..];
    if pre[..4] != HEADER_MAGIC {
        return Err(IntakeError::Corrupt(format!(
            "`{href}`: the {what} at byte {start} does not start with the header magic `8eade801` (found `{}`)",
            hex::encode(&pre[..4])
        )));
    }
    let (entries, data) = check_preamble(pre, limits)
        .map_err(|e| IntakeError::Malformed(format!("`{href}`: the {what} {e}")))?;
    let body = entries * 16 + data;
    let got = read_up_to(reader, meta, body)?;
    if got < body {
        return Err(truncated(
            href,
            meta.len(),
            &format!("the {what}, which needs {} bytes", PREAMBLE_BYTES + body),
        ));
    }
    check_header(&meta[start..], limits, what == "signature header")
        .map_err(|e| IntakeError::Malformed(format!("`{href}`: {what}: {e}")))?;
    Ok(PREAMBLE_BYTES + body)
}

#[derive(Debug, Clone, Copy)]
enum PayloadDigestKind {
    Sha256,
    Sha512,
}

enum PayloadHasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl PayloadDigestKind {
    fn hasher(self) -> PayloadHasher {
        match self {
            PayloadDigestKind::Sha256 => PayloadHasher::Sha256(Sha256::new()),
            PayloadDigestKind::Sha512 => PayloadHasher::Sha512(Sha512::new()),
        }
    }
    fn name(self) -> &'static str {
        match self {
            PayloadDigestKind::Sha256 => "SHA-256",
            PayloadDigestKind::Sha512 => "SHA-512",
        }
    }
}

impl PayloadHasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            PayloadHasher::Sha256(h) => h.update(bytes),
            PayloadHasher::Sha512(h) => h.update(bytes),
        }
    }
    fn finish(self) -> String {
        match self {
            PayloadHasher::Sha256(h) => hex::encode(h.finalize()),
            PayloadHasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

/// The payload digest the main header carries, if any (SHA-256 preferred: one hash is
/// enough and SHA-256 is the fastest here).
fn payload_digest(
    raw: &RawHeader<'_>,
    href: &str,
) -> Result<Option<(PayloadDigestKind, String)>, IntakeError> {
    for (tag, kind) in [
        (TAG_PAYLOAD_SHA256, PayloadDigestKind::Sha256),
        (TAG_PAYLOAD_SHA512, PayloadDigestKind::Sha512),
    ] {
        let value = raw
            .string(tag)
            .map_err(|e| IntakeError::Corrupt(format!("`{href}`: main header: {e}")))?;
        if let Some(value) = value {
            let text = String::from_utf8_lossy(value).into_owned();
            if !text.is_empty() {
                return Ok(Some((kind, text)));
            }
        }
    }
    Ok(None)
}

/// The signature header's SIZE/LONGSIZE is header + payload bytes: a shorter file was
/// cut, a longer one has something appended.
fn check_sizes(
    metadata: &PackageMetadata,
    href: &str,
    header_start: u64,
    total_bytes: u64,
) -> Result<(), IntakeError> {
    let sig = &metadata.signature;
    let promised = sig
        .get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGSIZE)
        .ok()
        .or_else(|| {
            sig.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_SIZE)
                .ok()
                .map(u64::from)
        });
    let Some(promised) = promised else {
        return Ok(());
    };
    let expected = header_start + promised;
    if total_bytes < expected {
        return Err(IntakeError::Truncated(format!(
            "`{href}` ends after {total_bytes} bytes, inside the payload; its signature header says the file is {expected} bytes"
        )));
    }
    if total_bytes > expected {
        return Err(IntakeError::Corrupt(format!(
            "`{href}` is {total_bytes} bytes but its signature header says {expected}: {} bytes follow the payload",
            total_bytes - expected
        )));
    }
    Ok(())
}

fn check_header_digest(
    metadata: &PackageMetadata,
    header_bytes: &[u8],
    href: &str,
) -> Result<(), IntakeError> {
    if let Ok(want) = metadata
        .signature
        .get_entry_data_as_string(IndexSignatureTag::RPMSIGTAG_SHA256)
    {
        let got = hex::encode(Sha256::digest(header_bytes));
        if !got.eq_ignore_ascii_case(want) {
            return Err(IntakeError::Corrupt(format!(
                "`{href}`: main header SHA-256 digest mismatch: signature header says `{want}`, header hashes to `{got}`"
            )));
        }
    }
    Ok(())
}

/// Decodes header strings and checks them for forbidden control characters.
struct Text<'h, 'a> {
    raw: &'h RawHeader<'a>,
    href: &'h str,
}

impl Text<'_, '_> {
    fn corrupt(&self, e: String) -> IntakeError {
        IntakeError::Corrupt(format!("`{}`: main header: {e}", self.href))
    }

    fn checked(&self, bytes: &[u8], field: impl FnOnce() -> String) -> Result<String, IntakeError> {
        if has_forbidden_control(bytes) {
            return Err(IntakeError::BadField {
                field: field(),
                reason: format!(
                    "of `{}` contains control characters (only tab, LF and CR are allowed): `{}`",
                    self.href,
                    decode_text(bytes).escape_debug()
                ),
            });
        }
        Ok(decode_text(bytes))
    }

    /// A string tag; empty when absent.
    fn one(&self, tag: IndexTag, field: &str) -> Result<String, IntakeError> {
        match self.raw.string(tag as u32).map_err(|e| self.corrupt(e))? {
            Some(bytes) => self.checked(bytes, || field.to_owned()),
            None => Ok(String::new()),
        }
    }

    /// A NEVRA part: librpm reads these tags only as one STRING.
    fn identity(&self, tag: IndexTag, field: &str) -> Result<String, IntakeError> {
        match self.raw.kind(tag as u32) {
            Some(TYPE_STRING) | None => self.one(tag, field),
            Some(kind) => Err(IntakeError::BadIdentity(format!(
                "`{}`: tag {} ({field}) has header type {kind}; librpm reads it only as one STRING",
                self.href, tag as u32
            ))),
        }
    }

    /// A string-array tag, raw; empty when absent.
    fn list(&self, tag: IndexTag) -> Result<Vec<&[u8]>, IntakeError> {
        Ok(self
            .raw
            .strings(tag as u32)
            .map_err(|e| self.corrupt(e))?
            .unwrap_or_default())
    }
}

fn u32_list(metadata: &PackageMetadata, tag: IndexTag) -> Result<Option<Vec<u32>>, String> {
    match metadata.header.get_entry_data_as_u32_array(tag) {
        Ok(v) => Ok(Some(v)),
        Err(rpm::Error::TagNotFound(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn build_package(
    metadata: &PackageMetadata,
    raw: &RawHeader<'_>,
    facts: &FileFacts,
    sha256: String,
    size_package: u64,
    header_start: u64,
    header_end: u64,
) -> Result<Package, IntakeError> {
    let href = facts.location_href.as_str();
    let text = Text { raw, href };
    let header = &metadata.header;

    if has_forbidden_control(href.as_bytes()) {
        return Err(IntakeError::BadField {
            field: "location".into(),
            reason: format!("`{}` contains control characters", href.escape_debug()),
        });
    }
    let name = text.identity(IndexTag::RPMTAG_NAME, "name")?;
    let version = text.identity(IndexTag::RPMTAG_VERSION, "version")?;
    let release = text.identity(IndexTag::RPMTAG_RELEASE, "release")?;
    for (value, field) in [
        (&name, "name"),
        (&version, "version"),
        (&release, "release"),
    ] {
        if value.is_empty() {
            return Err(IntakeError::BadField {
                field: field.into(),
                reason: format!("of `{href}` is missing or empty"),
            });
        }
    }
    // createrepo_c: SOURCEPACKAGE set, or librpm's `headerIsSource` (no SOURCERPM);
    // old source packages such as createrepo_c's `empty-0-0.src.rpm` carry only the latter.
    let is_source = match header.get_entry_data_as_u32(IndexTag::RPMTAG_SOURCEPACKAGE) {
        Ok(v) => v != 0,
        Err(rpm::Error::TagNotFound(_)) => false,
        Err(_) => true,
    } || !header.entry_is_present(IndexTag::RPMTAG_SOURCERPM);
    let arch = if is_source {
        "src".to_owned()
    } else {
        text.identity(IndexTag::RPMTAG_ARCH, "arch")?
    };
    // librpm reads EPOCH as one INT32 and refuses anything else; reading another
    // type as 0 would publish a different package than the one installed.
    let epoch = raw
        .int32(IndexTag::RPMTAG_EPOCH as u32)
        .map_err(|e| IntakeError::BadIdentity(format!("`{href}`: tag 1003 (EPOCH) {e}")))?
        .unwrap_or(0)
        .to_string();
    identity::check_identity(&name, &version, &release, &arch)
        .map_err(|e| IntakeError::BadIdentity(format!("`{href}`: {e}")))?;
    let time_build = header
        .get_entry_data_as_u32(IndexTag::RPMTAG_BUILDTIME)
        .map_or(0, u64::from);
    let size_installed = metadata.get_installed_size().unwrap_or(0);
    let size_archive = archive_size(metadata);

    let files = read_files(metadata, &text)?;
    let own_files: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let raw_deps = read_deps(metadata, &text)?;
    let lists = deps::build_lists(&raw_deps, &own_files);
    let changelogs = read_changelogs(metadata, &text)?;

    Ok(Package {
        name,
        arch,
        epoch,
        version,
        release,
        sha256,
        summary: text.one(IndexTag::RPMTAG_SUMMARY, "summary")?,
        description: text.one(IndexTag::RPMTAG_DESCRIPTION, "description")?,
        packager: text.one(IndexTag::RPMTAG_PACKAGER, "packager")?,
        url: text.one(IndexTag::RPMTAG_URL, "url")?,
        time_file: facts.time_file,
        time_build,
        size_package,
        size_installed,
        size_archive,
        location_href: facts.location_href.clone(),
        license: text.one(IndexTag::RPMTAG_LICENSE, "license")?,
        vendor: text.one(IndexTag::RPMTAG_VENDOR, "vendor")?,
        group: text.one(IndexTag::RPMTAG_GROUP, "group")?,
        buildhost: text.one(IndexTag::RPMTAG_BUILDHOST, "buildhost")?,
        sourcerpm: if is_source {
            String::new()
        } else {
            text.one(IndexTag::RPMTAG_SOURCERPM, "sourcerpm")?
        },
        header_start,
        header_end,
        provides: lists.provides,
        requires: lists.requires,
        conflicts: lists.conflicts,
        obsoletes: lists.obsoletes,
        suggests: lists.suggests,
        enhances: lists.enhances,
        recommends: lists.recommends,
        supplements: lists.supplements,
        files,
        changelogs,
    })
}

/// v4: signature header LONGARCHIVESIZE / PAYLOADSIZE (librpm merges them into the
/// main header as ARCHIVESIZE); then the main header's own tags; v6: PAYLOADSIZE 5112,
/// else PAYLOADSIZEALT 5113.
fn archive_size(metadata: &PackageMetadata) -> u64 {
    let sig = &metadata.signature;
    let hdr = &metadata.header;
    let sig64 = |t| sig.get_entry_data_as_u64(t).ok();
    let sig32 = |t| sig.get_entry_data_as_u32(t).ok().map(u64::from);
    let hdr_any = |t: IndexTag| {
        hdr.get_entry_data_as_u64(t)
            .ok()
            .or_else(|| hdr.get_entry_data_as_u32(t).ok().map(u64::from))
    };
    sig64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
        .or_else(|| sig32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE))
        .or_else(|| hdr_any(IndexTag::RPMTAG_LONGARCHIVESIZE))
        .or_else(|| hdr_any(IndexTag::RPMTAG_ARCHIVESIZE))
        .or_else(|| hdr_any(IndexTag::RPMTAG_PAYLOADSIZE))
        .or_else(|| hdr_any(IndexTag::RPMTAG_PAYLOADSIZEALT))
        .unwrap_or(0)
}

fn read_files(
    metadata: &PackageMetadata,
    text: &Text<'_, '_>,
) -> Result<Vec<PackageFile>, IntakeError> {
    let header = &metadata.header;
    let basenames = text.list(IndexTag::RPMTAG_BASENAMES)?;
    if basenames.is_empty() {
        return Ok(Vec::new());
    }
    let corrupt = |e: String| text.corrupt(e);
    let dirnames = text.list(IndexTag::RPMTAG_DIRNAMES)?;
    let dirindexes = u32_list(metadata, IndexTag::RPMTAG_DIRINDEXES)
        .map_err(corrupt)?
        .unwrap_or_default();
    let fileflags = u32_list(metadata, IndexTag::RPMTAG_FILEFLAGS)
        .map_err(corrupt)?
        .unwrap_or_default();
    let modes = match header.get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES) {
        Ok(v) => v,
        Err(rpm::Error::TagNotFound(_)) => Vec::new(),
        Err(e) => return Err(corrupt(e.to_string())),
    };
    let n = basenames.len();
    if dirindexes.len() != n || fileflags.len() != n || modes.len() != n {
        return Err(corrupt(format!(
            "file lists disagree: {n} base names, {} directory indexes, {} flags, {} modes",
            dirindexes.len(),
            fileflags.len(),
            modes.len()
        )));
    }
    let dirs: Vec<String> = dirnames
        .iter()
        .map(|d| text.checked(d, || format!("directory name `{}`", decode_text(d))))
        .collect::<Result<_, _>>()?;
    let mut files = Vec::with_capacity(n);
    for i in 0..n {
        let dir = dirs.get(dirindexes[i] as usize).ok_or_else(|| {
            corrupt(format!(
                "file #{i} points at directory #{} of {}",
                dirindexes[i],
                dirs.len()
            ))
        })?;
        let base = text.checked(basenames[i], || {
            format!("file name `{dir}{}`", decode_text(basenames[i]))
        })?;
        let kind = if modes[i] & MODE_TYPE_MASK == MODE_DIR {
            FileKind::Dir
        } else if fileflags[i] & FILE_GHOST != 0 {
            FileKind::Ghost
        } else {
            FileKind::File
        };
        files.push(PackageFile {
            path: format!("{dir}{base}"),
            kind,
        });
    }
    Ok(files)
}

fn read_dep_list(
    metadata: &PackageMetadata,
    text: &Text<'_, '_>,
    kind: &str,
    (name_tag, flags_tag, version_tag): (IndexTag, IndexTag, IndexTag),
) -> Result<Vec<RawDep>, IntakeError> {
    let names = text.list(name_tag)?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let versions = text.list(version_tag)?;
    let flags = u32_list(metadata, flags_tag)
        .map_err(|e| text.corrupt(e))?
        .unwrap_or_default();
    if versions.len() != names.len() || flags.len() != names.len() {
        return Err(text.corrupt(format!(
            "{kind} lists disagree: {} names, {} flags, {} versions",
            names.len(),
            flags.len(),
            versions.len()
        )));
    }
    let mut out = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        let name = text.checked(names[i], || format!("{kind}[{i}] name"))?;
        let version = text.checked(versions[i], || format!("{kind} `{name}` version"))?;
        out.push(RawDep {
            name,
            flags: flags[i],
            version,
        });
    }
    Ok(out)
}

fn read_deps(metadata: &PackageMetadata, text: &Text<'_, '_>) -> Result<RawDeps, IntakeError> {
    use IndexTag::*;
    let list = |kind, tags| read_dep_list(metadata, text, kind, tags);
    Ok(RawDeps {
        provides: list(
            "provides",
            (
                RPMTAG_PROVIDENAME,
                RPMTAG_PROVIDEFLAGS,
                RPMTAG_PROVIDEVERSION,
            ),
        )?,
        requires: list(
            "requires",
            (
                RPMTAG_REQUIRENAME,
                RPMTAG_REQUIREFLAGS,
                RPMTAG_REQUIREVERSION,
            ),
        )?,
        conflicts: list(
            "conflicts",
            (
                RPMTAG_CONFLICTNAME,
                RPMTAG_CONFLICTFLAGS,
                RPMTAG_CONFLICTVERSION,
            ),
        )?,
        obsoletes: list(
            "obsoletes",
            (
                RPMTAG_OBSOLETENAME,
                RPMTAG_OBSOLETEFLAGS,
                RPMTAG_OBSOLETEVERSION,
            ),
        )?,
        suggests: list(
            "suggests",
            (
                RPMTAG_SUGGESTNAME,
                RPMTAG_SUGGESTFLAGS,
                RPMTAG_SUGGESTVERSION,
            ),
        )?,
        enhances: list(
            "enhances",
            (
                RPMTAG_ENHANCENAME,
                RPMTAG_ENHANCEFLAGS,
                RPMTAG_ENHANCEVERSION,
            ),
        )?,
        recommends: list(
            "recommends",
            (
                RPMTAG_RECOMMENDNAME,
                RPMTAG_RECOMMENDFLAGS,
                RPMTAG_RECOMMENDVERSION,
            ),
        )?,
        supplements: list(
            "supplements",
            (
                RPMTAG_SUPPLEMENTNAME,
                RPMTAG_SUPPLEMENTFLAGS,
                RPMTAG_SUPPLEMENTVERSION,
            ),
        )?,
        old_suggests: list(
            "legacy suggests",
            (
                RPMTAG_OLDSUGGESTSNAME,
                RPMTAG_OLDSUGGESTSFLAGS,
                RPMTAG_OLDSUGGESTSVERSION,
            ),
        )?,
        old_enhances: list(
            "legacy enhances",
            (
                RPMTAG_OLDENHANCESNAME,
                RPMTAG_OLDENHANCESFLAGS,
                RPMTAG_OLDENHANCESVERSION,
            ),
        )?,
    })
}

/// The newest [`CHANGELOG_LIMIT`] entries, oldest first, with equal dates made
/// unique the way createrepo_c does it (an entry that repeats the previous kept
/// entry's date bumps that newer entry, and any run of newer ones, by one second).
fn read_changelogs(
    metadata: &PackageMetadata,
    text: &Text<'_, '_>,
) -> Result<Vec<ChangelogEntry>, IntakeError> {
    let names = text.list(IndexTag::RPMTAG_CHANGELOGNAME)?;
    let texts = text.list(IndexTag::RPMTAG_CHANGELOGTEXT)?;
    let times = u32_list(metadata, IndexTag::RPMTAG_CHANGELOGTIME)
        .map_err(|e| text.corrupt(e))?
        .unwrap_or_default();
    if names.len() != times.len() || texts.len() != times.len() {
        return Err(text.corrupt(format!(
            "changelog lists disagree: {} times, {} names, {} texts",
            times.len(),
            names.len(),
            texts.len()
        )));
    }
    let mut newest_first = Vec::with_capacity(times.len().min(CHANGELOG_LIMIT));
    for i in 0..times.len().min(CHANGELOG_LIMIT) {
        newest_first.push(ChangelogEntry {
            author: trim_author(text.checked(names[i], || format!("changelog[{i}] author"))?),
            date: u64::from(times[i]),
            text: text.checked(texts[i], || format!("changelog[{i}] text"))?,
        });
    }
    Ok(bump_and_reverse(newest_first))
}

/// Header order (newest first) in, other.xml order (oldest first) out, equal dates
/// made unique as createrepo_c does.
fn bump_and_reverse(newest_first: Vec<ChangelogEntry>) -> Vec<ChangelogEntry> {
    let mut kept: Vec<ChangelogEntry> = Vec::with_capacity(newest_first.len());
    let mut last_time: u64 = 0;
    for (i, entry) in newest_first.into_iter().enumerate() {
        let date = entry.date;
        kept.push(entry);
        if date == last_time {
            // The run of newer entries at date, date+1, ... each moves up by one.
            for (step, newer) in (0u64..).zip(kept[..i].iter_mut().rev()) {
                if newer.date != date + step {
                    break;
                }
                newer.date += 1;
            }
        } else {
            last_time = date;
        }
    }
    kept.reverse();
    kept
}

/// Trailing spaces go, but createrepo_c never empties a non-empty author.
fn trim_author(mut author: String) -> String {
    let keep = author.trim_end_matches(' ').len().max(1).min(author.len());
    author.truncate(keep);
    author
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_trim_keeps_first_character() {
        assert_eq!(trim_author("Jo <j@x> - 1.0-1  ".into()), "Jo <j@x> - 1.0-1");
        assert_eq!(trim_author("   ".into()), " ");
        assert_eq!(trim_author(String::new()), "");
    }

    #[test]
    fn equal_changelog_dates_bump_the_newer_entries() {
        let entry = |n: u64, date| ChangelogEntry {
            author: format!("a{n}"),
            date,
            text: String::new(),
        };
        // Header order: newest first; 12 and 11 differ, 11, 10 and 9 share a date.
        let out = bump_and_reverse(vec![
            entry(12, 500),
            entry(11, 100),
            entry(10, 100),
            entry(9, 100),
            entry(8, 50),
        ]);
        let got: Vec<(&str, u64)> = out.iter().map(|c| (c.author.as_str(), c.date)).collect();
        assert_eq!(
            got,
            [
                ("a8", 50),
                ("a9", 100),
                ("a10", 101),
                ("a11", 102),
                ("a12", 500)
            ]
        );
    }

    #[test]
    fn start_of_file_is_described() {
        assert!(describe_start(&[]).contains("empty"));
        assert!(describe_start(&[0x1f, 0x8b, 8, 0]).contains("gzip"));
        assert!(describe_start(b"hello world").contains("text"));
    }
}
