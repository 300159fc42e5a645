//! TEMPORARY stand-in for the repository signing key (replaced by the signing branch).
pub struct RepoKey;
impl RepoKey {
    pub fn generate(_user_id: &str) -> anyhow::Result<RepoKey> {
        Ok(RepoKey)
    }
    pub fn from_armored_secret(_text: &str) -> anyhow::Result<RepoKey> {
        Ok(RepoKey)
    }
    pub fn armored_secret(&self) -> String {
        String::new()
    }
    pub fn armored_public(&self) -> String {
        String::new()
    }
    pub fn fingerprint(&self) -> String {
        String::new()
    }
    pub fn sign_detached(&self, _data: &[u8]) -> anyhow::Result<String> {
        Ok(String::new())
    }
}
pub fn verify_detached(
    _public_armored: &str,
    _data: &[u8],
    _signature_armored: &str,
) -> anyhow::Result<()> {
    Ok(())
}
