//! The repodata builder: package records and advisories in, the bytes of
//! primary/filelists/other/updateinfo and repomd.xml out.
//!
//! Pure: it never touches the file system, the network or the clock. The same
//! input gives byte-identical output; the revision and every timestamp come from
//! the caller.

use crate::rpm::Package;

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
pub fn build(_input: &RepoInput<'_>) -> RepoFiles {
    RepoFiles {
        files: Vec::new(),
        repomd: Vec::new(),
    }
}
