//! The repository signing key: generate, load, export, and make the detached
//! ASCII-armored signature `repomd.xml.asc`. Pure apart from randomness for key
//! generation and signing; storing the key is the caller's job, and this module
//! never touches the file system or the network.
//!
//! Key choice: a v4 **Ed25519 (legacy EdDSA, algorithm 22)** primary key that
//! certifies and signs, with no subkeys. gpg 2.2 (Debian 12, the gpgme backend of
//! librepo) verifies EdDSA signatures, generation takes milliseconds instead of the
//! seconds RSA-3072 costs, and the armored signature is about 230 bytes instead of
//! about 690. Signatures use SHA-512 over the exact bytes (binary signature type),
//! so no line-ending normalisation can make a changed repomd.xml verify.
use std::fmt;

use anyhow::{bail, Context as _};
use pgp::composed::{
    ArmorOptions, Deserializable, DetachedSignature, EncryptionCaps, KeyType,
    SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails, Password};

/// Upper bound for an armored key or signature handed to this module; real ones are
/// a few kilobytes at most, so anything larger is refused before parsing.
const ARMORED_BYTES_MAX: usize = 1024 * 1024;

/// The repository signing key (secret part included).
#[derive(Clone)]
pub struct RepoKey {
    secret: SignedSecretKey,
}

impl fmt::Debug for RepoKey {
    // Never print key material, only which key this is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepoKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl RepoKey {
    /// Generates a new v4 Ed25519 (legacy EdDSA) key with one User ID, e.g.
    /// `hotpush repository key <security@example.org>`.
    pub fn generate(user_id: &str) -> anyhow::Result<RepoKey> {
        if user_id.trim().is_empty() {
            bail!("cannot generate a repository key with an empty User ID");
        }
        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .can_encrypt(EncryptionCaps::None)
            .primary_user_id(user_id.to_owned())
            .preferred_hash_algorithms(vec![HashAlgorithm::Sha512, HashAlgorithm::Sha256].into())
            .build()
            .map_err(|e| anyhow::anyhow!("invalid key parameters: {e}"))?;
        let secret = params
            .generate(rand::thread_rng())
            .map_err(|e| anyhow::anyhow!("cannot generate the repository key: {e}"))?;
        let key = RepoKey { secret };
        key.self_test()?;
        Ok(key)
    }

    /// Loads an unprotected ASCII-armored secret key, as written by
    /// [`RepoKey::armored_secret`] or `gpg --export-secret-keys --armor` of a key
    /// without a passphrase.
    pub fn from_armored_secret(text: &str) -> anyhow::Result<RepoKey> {
        if text.len() > ARMORED_BYTES_MAX {
            bail!(
                "the armored secret key is {} bytes, more than the {ARMORED_BYTES_MAX} accepted",
                text.len()
            );
        }
        let (secret, _headers) = SignedSecretKey::from_string(text)
            .map_err(|e| anyhow::anyhow!("not an ASCII-armored OpenPGP secret key: {e}"))?;
        secret
            .verify_bindings()
            .map_err(|e| anyhow::anyhow!("the secret key's self-signatures do not verify: {e}"))?;
        let key = RepoKey { secret };
        key.self_test().context(
            "the secret key cannot make signatures (is it protected by a passphrase? \
             hotpush needs an unprotected key file with tight permissions)",
        )?;
        Ok(key)
    }

    /// The secret key, ASCII-armored (`-----BEGIN PGP PRIVATE KEY BLOCK-----`).
    pub fn armored_secret(&self) -> String {
        self.secret
            .to_armored_string(ArmorOptions::default())
            .expect("serialising a parsed or generated key to memory cannot fail")
    }

    /// The public key, ASCII-armored: served at `/keys/repo.asc` and named by the
    /// client's `gpgkey=`.
    pub fn armored_public(&self) -> String {
        self.public_key()
            .to_armored_string(ArmorOptions::default())
            .expect("serialising a parsed or generated key to memory cannot fail")
    }

    /// The primary key's v4 fingerprint, 40 upper-case hex digits.
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.secret.primary_key.fingerprint())
    }

    /// A detached, ASCII-armored binary signature over `data` (`repomd.xml.asc`).
    pub fn sign_detached(&self, data: &[u8]) -> anyhow::Result<String> {
        let signature = DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &self.secret.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha512,
            data,
        )
        .map_err(|e| anyhow::anyhow!("cannot sign with key {}: {e}", self.fingerprint()))?;
        signature
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| anyhow::anyhow!("cannot armor the signature: {e}"))
    }

    fn public_key(&self) -> SignedPublicKey {
        self.secret.to_public_key()
    }

    /// Signs and verifies a fixed message, so a key that cannot sign (a
    /// passphrase, an unsupported algorithm) is refused when loaded, not at the
    /// first publish.
    fn self_test(&self) -> anyhow::Result<()> {
        let probe = b"hotpush signing self-test";
        let signature = self.sign_detached(probe)?;
        verify_detached(&self.armored_public(), probe, &signature)
    }
}

/// The primary-key fingerprint (40 upper-case hex digits) of every key in an
/// armored text holding one or more public keys, one armor block each (as
/// `/keys/repo.asc` serves them while a key rotation is under way).
pub fn public_fingerprints(armored: &str) -> anyhow::Result<Vec<String>> {
    if armored.len() > ARMORED_BYTES_MAX {
        bail!("the armored key text is larger than {ARMORED_BYTES_MAX} bytes");
    }
    let mut out = Vec::new();
    for block in armor_blocks(armored, "PUBLIC KEY BLOCK") {
        let (public, _headers) = SignedPublicKey::from_string(block)
            .map_err(|e| anyhow::anyhow!("not an ASCII-armored OpenPGP public key: {e}"))?;
        public
            .verify_bindings()
            .map_err(|e| anyhow::anyhow!("the public key's self-signatures do not verify: {e}"))?;
        out.push(format!("{:X}", public.primary_key.fingerprint()));
    }
    if out.is_empty() {
        bail!("no `-----BEGIN PGP PUBLIC KEY BLOCK-----` in the key text");
    }
    Ok(out)
}

/// The `-----BEGIN PGP {kind}-----` ... `-----END PGP {kind}-----` blocks of a
/// text, in order.
fn armor_blocks<'a>(text: &'a str, kind: &str) -> Vec<&'a str> {
    let begin = format!("-----BEGIN PGP {kind}-----");
    let end = format!("-----END PGP {kind}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let Some(len) = rest[start..].find(&end) else {
            break;
        };
        let stop = start + len + end.len();
        out.push(&rest[start..stop]);
        rest = &rest[stop..];
    }
    out
}

/// Like [`verify_detached`], with a text holding one or more armored public
/// keys: the signature must verify with one of them.
pub fn verify_detached_any(
    publics_armored: &str,
    data: &[u8],
    signature_armored: &str,
) -> anyhow::Result<()> {
    let blocks = armor_blocks(publics_armored, "PUBLIC KEY BLOCK");
    let mut last = None;
    for block in &blocks {
        match verify_detached(block, data, signature_armored) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no public key to verify the signature with")))
}

/// Checks that `signature_armored` is a valid detached signature over exactly
/// `data` by the primary key or a subkey of `public_armored`.
pub fn verify_detached(
    public_armored: &str,
    data: &[u8],
    signature_armored: &str,
) -> anyhow::Result<()> {
    if public_armored.len() > ARMORED_BYTES_MAX || signature_armored.len() > ARMORED_BYTES_MAX {
        bail!("the public key or signature is larger than {ARMORED_BYTES_MAX} bytes");
    }
    let (public, _headers) = SignedPublicKey::from_string(public_armored)
        .map_err(|e| anyhow::anyhow!("not an ASCII-armored OpenPGP public key: {e}"))?;
    public
        .verify_bindings()
        .map_err(|e| anyhow::anyhow!("the public key's self-signatures do not verify: {e}"))?;
    let (signature, _headers) = DetachedSignature::from_string(signature_armored)
        .map_err(|e| anyhow::anyhow!("not an ASCII-armored OpenPGP signature: {e}"))?;

    let fingerprint = format!("{:X}", public.primary_key.fingerprint());
    if signature.verify(&public.primary_key, data).is_ok() {
        return Ok(());
    }
    for subkey in &public.public_subkeys {
        if signature.verify(&subkey.key, data).is_ok() {
            return Ok(());
        }
    }
    let issuers: Vec<String> = signature
        .signature
        .issuer_fingerprint()
        .iter()
        .map(|f| format!("{f:X}"))
        .chain(
            signature
                .signature
                .issuer_key_id()
                .iter()
                .map(|k| hex::encode_upper(k.as_ref())),
        )
        .collect();
    if issuers.is_empty() {
        bail!("bad signature: it does not verify with key {fingerprint}");
    }
    bail!(
        "bad signature: made by {} and it does not verify with key {fingerprint} \
         (wrong key, or the data changed after signing)",
        issuers.join("/")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_and_signs() {
        let key = RepoKey::generate("test <test@example.invalid>").unwrap();
        assert_eq!(key.fingerprint().len(), 40);
        assert!(key
            .fingerprint()
            .chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
        let again = RepoKey::from_armored_secret(&key.armored_secret()).unwrap();
        assert_eq!(again.fingerprint(), key.fingerprint());
        let sig = again.sign_detached(b"repomd").unwrap();
        verify_detached(&key.armored_public(), b"repomd", &sig).unwrap();
        assert!(verify_detached(&key.armored_public(), b"repomD", &sig).is_err());
    }

    #[test]
    fn another_key_does_not_verify() {
        let a = RepoKey::generate("a <a@example.invalid>").unwrap();
        let b = RepoKey::generate("b <b@example.invalid>").unwrap();
        let sig = a.sign_detached(b"x").unwrap();
        let err = verify_detached(&b.armored_public(), b"x", &sig).unwrap_err();
        assert!(err.to_string().contains(&a.fingerprint()), "{err}");
    }

    #[test]
    fn garbage_is_refused() {
        assert!(RepoKey::from_armored_secret("nope").is_err());
        let key = RepoKey::generate("k <k@example.invalid>").unwrap();
        // A public key is not a secret key.
        assert!(RepoKey::from_armored_secret(&key.armored_public()).is_err());
        assert!(verify_detached(&key.armored_public(), b"x", "nope").is_err());
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }

    #[test]
    fn several_public_keys_in_one_text() {
        let a = RepoKey::generate("a <a@example.invalid>").unwrap();
        let b = RepoKey::generate("b <b@example.invalid>").unwrap();
        let c = RepoKey::generate("c <c@example.invalid>").unwrap();
        let both = format!("{}\n{}", a.armored_public(), b.armored_public());
        assert_eq!(
            public_fingerprints(&both).unwrap(),
            vec![a.fingerprint(), b.fingerprint()]
        );
        let sig_b = b.sign_detached(b"x").unwrap();
        verify_detached_any(&both, b"x", &sig_b).unwrap();
        let sig_c = c.sign_detached(b"x").unwrap();
        let err = verify_detached_any(&both, b"x", &sig_c).unwrap_err();
        assert!(err.to_string().contains(&c.fingerprint()), "{err}");
        assert!(public_fingerprints("nothing here").is_err());
    }
}
