//! The repository identity shared by every layer: `channel × release × arch`,
//! where it lives under `/pub`, which package arches it takes, and where a
//! package file goes inside it.

/// One repository: `channel × release × arch`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoId {
    pub channel: String,
    pub release: String,
    pub arch: String,
}

impl RepoId {
    /// `critical/43/x86_64`: the path under `/pub`.
    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.channel, self.release, self.arch)
    }

    /// Whether a package of `pkg_arch` belongs here: its own arch, `noarch` in
    /// every binary arch, `src` in `source`.
    pub fn takes_arch(&self, pkg_arch: &str) -> bool {
        match (self.arch.as_str(), pkg_arch) {
            ("source", "src") => true,
            ("source", _) => false,
            (_, "noarch") => true,
            (a, p) => a == p,
        }
    }
}

/// Where packages are published inside a repository: `Packages/{first letter}/{file}`.
pub fn package_href(file_name: &str) -> String {
    let first = file_name
        .chars()
        .next()
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or('_');
    format!("Packages/{first}/{file_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arches_map_to_repos() {
        let repo = |arch: &str| RepoId {
            channel: "critical".into(),
            release: "43".into(),
            arch: arch.into(),
        };
        assert!(repo("x86_64").takes_arch("x86_64"));
        assert!(repo("x86_64").takes_arch("noarch"));
        assert!(!repo("x86_64").takes_arch("aarch64"));
        assert!(!repo("x86_64").takes_arch("src"));
        assert!(repo("source").takes_arch("src"));
        assert!(!repo("source").takes_arch("noarch"));
        assert_eq!(repo("aarch64").path(), "critical/43/aarch64");
        assert_eq!(package_href("Hello-1.rpm"), "Packages/h/Hello-1.rpm");
    }
}
