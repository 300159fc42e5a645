//! TEMPORARY stand-in for the metalink renderer (replaced by the signing branch).
pub struct RepomdFacts {
    pub sha256: String,
    pub sha512: String,
    pub size: u64,
    pub timestamp: u64,
}
impl RepomdFacts {
    pub fn of(_repomd: &[u8], timestamp: u64) -> RepomdFacts {
        RepomdFacts {
            sha256: String::new(),
            sha512: String::new(),
            size: 0,
            timestamp,
        }
    }
}
pub struct MetalinkDoc<'a> {
    pub repomd: &'a RepomdFacts,
    pub alternates: &'a [RepomdFacts],
    pub urls: &'a [String],
    pub pubdate_unix: u64,
}
pub fn render(_doc: &MetalinkDoc<'_>) -> String {
    String::new()
}
pub fn render_not_found(_repo: &str, _arch: &str) -> String {
    String::new()
}
