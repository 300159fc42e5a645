//! Package signature policy, the set of trusted OpenPGP public keys, and the check
//! that a package's header signature was made by one of them.
//!
//! Pure: keys arrive as armored text and packages as parsed headers plus the raw
//! main-header bytes; nothing here reads files. It knows nothing about repodata.
//! The header signature covers the main header, which carries the payload digest
//! that `parse` checks, so signature + payload digest together cover the whole file.

use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::types::KeyDetails;
use rpm::signature::Verifying;

use super::parse::IntakeError;

/// OpenPGP public keys (v4 and v6) that may sign packages. Build it with
/// [`TrustedKeys::from_armored`], which parses every key once.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    /// ASCII-armored public keys, as read from the configured files.
    pub armored: Vec<String>,
    keys: Vec<TrustedKey>,
}

/// One certificate (primary key and its subkeys) out of the configured files.
#[derive(Debug, Clone)]
struct TrustedKey {
    /// Upper-case hex fingerprint of the primary key.
    fingerprint: String,
    verifier: rpm::signature::pgp::Verifier,
}

#[derive(Debug, Clone)]
pub enum SignaturePolicy {
    /// Do not look at signatures (offline createrepo without keys).
    Ignore,
    /// Every package must carry a valid signature by one of these keys.
    Require(TrustedKeys),
}

/// A configured trusted key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("trusted key #{position} is not a usable OpenPGP public key: {reason}\nhint: {hint}")]
pub struct KeyError {
    /// 1-based position in the list handed to [`TrustedKeys::from_armored`].
    pub position: usize,
    pub reason: String,
    pub hint: &'static str,
}

impl TrustedKeys {
    /// Parses every armored text (one file each; a file may hold a keyring of several
    /// certificates). Fails on the first text that holds no usable public key.
    pub fn from_armored(armored: Vec<String>) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for (index, text) in armored.iter().enumerate() {
            let position = index + 1;
            let fail = |reason: String| KeyError {
                position,
                reason,
                hint: hint_for_key_text(text),
            };
            let (certs, _headers) =
                SignedPublicKey::from_string_many(text).map_err(|e| fail(e.to_string()))?;
            let mut found = 0usize;
            for cert in certs {
                let cert = cert.map_err(|e| fail(e.to_string()))?;
                let fingerprint = hex::encode_upper(cert.fingerprint().as_bytes());
                let single = cert
                    .to_armored_string(Default::default())
                    .map_err(|e| fail(e.to_string()))?;
                let verifier = rpm::signature::pgp::Verifier::from_asc(&single)
                    .map_err(|e| fail(format!("key `{fingerprint}`: {e}")))?;
                keys.push(TrustedKey {
                    fingerprint,
                    verifier,
                });
                found += 1;
            }
            if found == 0 {
                return Err(fail("the text holds no public key".into()));
            }
        }
        Ok(TrustedKeys { armored, keys })
    }

    /// Upper-case hex fingerprints of every trusted certificate, in configuration order.
    pub fn fingerprints(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.fingerprint.as_str()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn hint_for_key_text(text: &str) -> &'static str {
    if text.contains("PRIVATE KEY BLOCK") {
        "this is a secret key; configure the public key (`gpg --armor --export KEYID`), never the secret one"
    } else if !text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        "expected an ASCII-armored OpenPGP public key (`gpg --armor --export KEYID`)"
    } else {
        "re-export the key with `gpg --armor --export KEYID` and check that the file is complete"
    }
}

/// Checks the package's header signatures against `keys`.
///
/// `header_bytes` are the main header exactly as they appear in the file (the signed
/// bytes). Returns the fingerprint of the trusted key that verified a signature.
/// A signature that names a trusted key but does not verify fails the package even
/// when another signature verifies: the header was changed or a key is misused.
pub(crate) fn verify_package(
    metadata: &rpm::PackageMetadata,
    header_bytes: &[u8],
    keys: &TrustedKeys,
) -> Result<String, IntakeError> {
    let raw = metadata
        .raw_signatures()
        .map_err(|e| IntakeError::BadSignature(format!("cannot read the signature header: {e}")))?;
    if raw.is_empty() {
        return Err(IntakeError::Unsigned);
    }
    let infos = metadata.signatures().unwrap_or_default();
    let mut verified_by: Option<&str> = None;
    let mut bad: Option<String> = None;
    for (index, sig) in raw.iter().enumerate() {
        for key in &keys.keys {
            match key.verifier.verify(header_bytes, sig) {
                Ok(()) => {
                    verified_by.get_or_insert(key.fingerprint.as_str());
                    break;
                }
                Err(rpm::Error::KeyNotFoundError { .. }) => continue,
                Err(e) => {
                    bad.get_or_insert_with(|| {
                        format!(
                            "signature #{} by trusted key `{}`: {e}",
                            index + 1,
                            key.fingerprint
                        )
                    });
                }
            }
        }
    }
    if let Some(reason) = bad {
        return Err(IntakeError::BadSignature(reason));
    }
    if let Some(fingerprint) = verified_by {
        return Ok(fingerprint.to_owned());
    }
    let issuers: Vec<String> = infos
        .iter()
        .map(|info| {
            info.fingerprint()
                .or(info.key_id())
                .map(str::to_uppercase)
                .unwrap_or_else(|| "unknown".into())
        })
        .collect();
    Err(IntakeError::UntrustedKey(if issuers.is_empty() {
        "unknown".into()
    } else {
        issuers.join(", ")
    }))
}
