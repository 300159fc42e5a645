//! The repodata builder: package records and advisories in, the bytes of
//! primary/filelists/other/updateinfo and repomd.xml out.
//!
//! Pure: it never touches the file system, the network or the clock. The same
//! input gives byte-identical output; the revision and every timestamp come from
//! the caller.
//!
//! Layout: `xml.rs` (libxml2-compatible escaping), `render.rs` (one package's
//! `<package>` blocks, cacheable), `updateinfo.rs`, and here: ordering, the
//! document envelopes, compression, content naming and repomd.xml. Threads are
//! used to render and compress in parallel; that is still pure.

pub mod cache;
mod render;
pub mod repomd;
mod updateinfo;
#[cfg(test)]
mod well_formed;
mod xml;

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::core::rpm::Package;

pub use render::{is_primary_file, render_package, PackageBlocks, PackageXml};
pub use updateinfo::{format_date, render_updateinfo, CVE_URL_PREFIX};

/// zstd level for the metadata files: 3, zstd's own default. Measured on the
/// XML of 1000 small packages (`zstd -b1 -e10`), level 3 compresses at about
/// 380 MB/s to 129 KB, while levels 5 to 10 (createrepo_c 1.x uses 10) run at
/// 13-210 MB/s and come out slightly *larger* (136-139 KB) for this repetitive
/// XML. Speed matters here: the whole generation budget is tens of milliseconds.
pub const ZSTD_LEVEL: i32 = 3;

/// Codec of the metadata files; the file suffix always matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    Gz,
    #[default]
    Zst,
}

impl Compression {
    /// `gz` or `zst`.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::Gz => "gz",
            Compression::Zst => "zst",
        }
    }
}

/// A security advisory as updateinfo.xml carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advisory {
    pub id: String,
    /// `security`, `bugfix`, `enhancement`.
    pub kind: String,
    /// `Critical`, `Important`, `Moderate`, `Low`.
    pub severity: String,
    pub title: String,
    pub summary: String,
    pub description: String,
    /// Seconds since the epoch.
    pub issued: u64,
    pub updated: u64,
    /// e.g. `Fedora 43`.
    pub release_name: String,
    /// Short collection name, e.g. `F43`.
    pub collection: String,
    pub from: String,
    pub cves: Vec<String>,
    /// The advisory's packages that are in this repository.
    pub packages: Vec<AdvisoryPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryPackage {
    pub name: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub src: String,
    pub filename: String,
    pub sha256: String,
}

/// What one repository revision is made of.
#[derive(Debug, Clone, Copy)]
pub struct RepoInput<'a> {
    pub packages: &'a [Package],
    pub advisories: &'a [Advisory],
    /// Written as `<revision>` and as every `<timestamp>`.
    pub revision: u64,
    pub compression: Compression,
}

/// One content-named metadata file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFile {
    /// `primary`, `filelists`, `other`, `updateinfo`.
    pub kind: &'static str,
    /// `repodata/<sha256>-<kind>.xml.<suffix>`.
    pub href: String,
    /// Lower-case hex sha256 of `bytes`.
    pub sha256: String,
    pub bytes: Vec<u8>,
}

/// The output of one build: data files first, the index last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFiles {
    pub files: Vec<MetadataFile>,
    pub repomd: Vec<u8>,
}

/// Builds the repodata of one revision.
pub fn build(input: &RepoInput<'_>) -> RepoFiles {
    let rendered = render_all(input.packages);
    let refs: Vec<&PackageXml> = rendered.iter().collect();
    build_rendered(&refs, input.advisories, input.revision, input.compression)
}

/// Renders every package, on up to two threads for large sets (the same bytes
/// as [`render_package`] one by one, in input order).
pub fn render_all(packages: &[Package]) -> Vec<PackageXml> {
    const PARALLEL_MIN: usize = 64;
    if packages.len() < PARALLEL_MIN {
        return packages.iter().map(render_package).collect();
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = packages.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = packages
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(render_package).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Builds the repodata of one revision from already rendered packages (in any
/// order; they are sorted here). Gives the same bytes as [`build`] on the
/// packages the blocks were rendered from.
pub fn build_rendered(
    packages: &[&PackageXml],
    advisories: &[Advisory],
    revision: u64,
    compression: Compression,
) -> RepoFiles {
    let blocks: Vec<PackageBlocks<'_>> = packages.iter().map(|p| p.blocks()).collect();
    build_blocks(blocks, advisories, revision, compression)
}

/// [`build_rendered`] on borrowed blocks (in any order; they are sorted here).
pub fn build_blocks(
    mut sorted: Vec<PackageBlocks<'_>>,
    advisories: &[Advisory],
    revision: u64,
    compression: Compression,
) -> RepoFiles {
    sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let count = sorted.len();
    let sorted = &sorted;

    let docs: [Document; 3] = [
        (
            "primary",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{count}\">\n"
            ),
            |p| p.primary,
            "</metadata>",
        ),
        (
            "filelists",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{count}\">\n"
            ),
            |p| p.filelists,
            "</filelists>",
        ),
        (
            "other",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{count}\">\n"
            ),
            |p| p.other,
            "</otherdata>",
        ),
    ];

    let mut records: Vec<Record> = std::thread::scope(|s| {
        let handles: Vec<_> = docs
            .iter()
            .map(|(kind, head, part, tail)| {
                s.spawn(move || {
                    let parts = std::iter::once(head.as_str())
                        .chain(sorted.iter().map(|p| part(p)))
                        .chain(std::iter::once(*tail));
                    compress_record(kind, parts, compression)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    if !advisories.is_empty() {
        let doc = render_updateinfo(advisories);
        records.push(compress_record(
            "updateinfo",
            std::iter::once(doc.as_str()),
            compression,
        ));
    }
    // primary, filelists, other stay first; any others follow sorted by type.
    records[3..].sort_by(|a, b| a.file.kind.cmp(b.file.kind));

    let repomd = render_repomd(&records, revision);
    RepoFiles {
        files: records.into_iter().map(|r| r.file).collect(),
        repomd: repomd.into_bytes(),
    }
}

/// One of primary/filelists/other: type, opening (declaration and root
/// element), the package block it takes, and the closing root tag.
type Document = (
    &'static str,
    String,
    for<'a> fn(&PackageBlocks<'a>) -> &'a str,
    &'static str,
);

/// One data file plus what repomd.xml says about its uncompressed content.
struct Record {
    file: MetadataFile,
    open_sha256: String,
    open_size: u64,
}

/// Feeds the document parts through the hash of the open content and the
/// compressor at once, so the whole uncompressed document is never held.
fn compress_record<'a>(
    kind: &'static str,
    parts: impl Iterator<Item = &'a str>,
    compression: Compression,
) -> Record {
    let mut open_hash = Sha256::new();
    let mut open_size = 0u64;
    let bytes = match compression {
        Compression::Gz => {
            // mtime 0, no name, OS byte 3 (Unix), as createrepo_c's zlib writes it.
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(3)
                .write(Vec::new(), flate2::Compression::new(6));
            for part in parts {
                open_hash.update(part.as_bytes());
                open_size += part.len() as u64;
                // Writing into a Vec cannot fail.
                let _ = enc.write_all(part.as_bytes());
            }
            enc.finish().unwrap_or_default()
        }
        Compression::Zst => {
            let mut enc = match zstd::stream::Encoder::new(Vec::new(), ZSTD_LEVEL) {
                Ok(enc) => enc,
                Err(e) => panic!("zstd encoder with level {ZSTD_LEVEL}: {e}"),
            };
            for part in parts {
                open_hash.update(part.as_bytes());
                open_size += part.len() as u64;
                let _ = enc.write_all(part.as_bytes());
            }
            enc.finish().unwrap_or_default()
        }
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Record {
        file: MetadataFile {
            kind,
            href: format!("repodata/{sha256}-{kind}.xml.{}", compression.suffix()),
            sha256,
            bytes,
        },
        open_sha256: hex::encode(open_hash.finalize()),
        open_size,
    }
}

fn render_repomd(records: &[Record], revision: u64) -> String {
    use std::fmt::Write as _;
    let mut o = String::with_capacity(512 * (records.len() + 1));
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n");
    let _ = writeln!(o, "  <revision>{revision}</revision>");
    for r in records {
        let f = &r.file;
        let _ = write!(
            o,
            "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{sha}</checksum>\n    <open-checksum type=\"sha256\">{open}</open-checksum>\n    <location href=\"",
            kind = f.kind,
            sha = f.sha256,
            open = r.open_sha256,
        );
        xml::push_attr(&mut o, &f.href);
        let _ = write!(
            o,
            "\"/>\n    <timestamp>{revision}</timestamp>\n    <size>{size}</size>\n    <open-size>{open_size}</open-size>\n  </data>\n",
            size = f.bytes.len(),
            open_size = r.open_size,
        );
    }
    o.push_str("</repomd>\n");
    o
}
