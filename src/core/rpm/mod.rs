//! RPM intake: turns the bytes of one `.rpm` file into a [`Package`] record holding
//! everything primary, filelists and other need, and checks its OpenPGP signature.
//!
//! Pure: it reads only the bytes it is handed and never touches the file system,
//! the network or the clock. Callers supply file facts (location, time) that the
//! bytes cannot say.

pub(crate) mod deps;
pub mod identity;
pub mod parse;
mod raw;
pub mod verify;

pub use parse::{read_package, FileFacts, IntakeError, ReadPackage};
pub use verify::{certificates, Certificate, KeyError, SignaturePolicy, TrustedKeys};

/// One package as the repodata writer needs it. The lists are already filtered
/// and ordered the way createrepo_c writes them (see ARCHITECTURE.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    /// `src` for source packages.
    pub arch: String,
    /// Decimal epoch, `"0"` when the header has none.
    pub epoch: String,
    pub version: String,
    pub release: String,
    /// Lower-case hex sha256 of the whole `.rpm` file (the pkgid).
    pub sha256: String,
    pub summary: String,
    pub description: String,
    pub packager: String,
    pub url: String,
    /// Seconds since the epoch: when the file was stored (createrepo_c: its mtime).
    pub time_file: u64,
    pub time_build: u64,
    pub size_package: u64,
    pub size_installed: u64,
    pub size_archive: u64,
    /// Path relative to the repository root, e.g. `Packages/h/hello-1.0-2.noarch.rpm`.
    pub location_href: String,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    /// Empty for source packages.
    pub sourcerpm: String,
    pub header_start: u64,
    pub header_end: u64,
    pub provides: Vec<Dependency>,
    pub requires: Vec<Dependency>,
    pub conflicts: Vec<Dependency>,
    pub obsoletes: Vec<Dependency>,
    pub suggests: Vec<Dependency>,
    pub enhances: Vec<Dependency>,
    pub recommends: Vec<Dependency>,
    pub supplements: Vec<Dependency>,
    /// Every file in header order (filelists); primary takes the primary subset.
    pub files: Vec<PackageFile>,
    /// As written to other.xml: at most the newest 10, oldest first, equal dates bumped.
    pub changelogs: Vec<ChangelogEntry>,
}

impl Package {
    /// `name-[epoch:]version-release.arch`, the way dnf prints it.
    pub fn nevra(&self) -> String {
        if self.epoch == "0" {
            format!(
                "{}-{}-{}.{}",
                self.name, self.version, self.release, self.arch
            )
        } else {
            format!(
                "{}-{}:{}-{}.{}",
                self.name, self.epoch, self.version, self.release, self.arch
            )
        }
    }

    /// The file name the package is published under: `name-version-release.arch.rpm`.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }
}

/// Comparison flag of a dependency (`flags & 0xf`); other values carry no version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepFlag {
    Lt,
    Gt,
    Eq,
    Le,
    Ge,
}

impl DepFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            DepFlag::Lt => "LT",
            DepFlag::Gt => "GT",
            DepFlag::Eq => "EQ",
            DepFlag::Le => "LE",
            DepFlag::Ge => "GE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    /// `None`: unversioned; then epoch, version and release are `None` too.
    pub flags: Option<DepFlag>,
    pub epoch: Option<String>,
    pub version: Option<String>,
    /// `None` when the release is empty.
    pub release: Option<String>,
    /// Only meaningful for requires (`pre="1"`).
    pub pre: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Regular files, symlinks, devices: no `type` attribute.
    File,
    Dir,
    Ghost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// Directory name + base name; source packages have an empty directory name.
    pub path: String,
    pub kind: FileKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogEntry {
    pub author: String,
    pub date: u64,
    pub text: String,
}
