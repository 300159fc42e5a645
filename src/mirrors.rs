//! TEMPORARY stand-in for `mirrors.toml` (replaced by the partner branch).
#[derive(Debug, Clone)]
pub struct Mirror {
    pub name: String,
    pub public_url: String,
}
pub fn load_mirrors(_path: &std::path::Path) -> anyhow::Result<Vec<Mirror>> {
    Ok(Vec::new())
}
