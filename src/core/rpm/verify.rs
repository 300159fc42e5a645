//! Package signature policy, the set of trusted OpenPGP public keys, and the check
//! that a package's header signature was made by one of them.
//!
//! Pure: keys arrive as armored text and packages as parsed headers plus the raw
//! main-header bytes; nothing here reads files. It knows nothing about repodata.
//! The header signature covers the main header, which carries the payload digest
//! that `parse` checks, so signature + payload digest together cover the whole file.

use std::sync::{Arc, Mutex};

use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::types::KeyDetails;
use rpm::signature::Verifying;
use sha2::{Digest, Sha256};

use super::parse::IntakeError;

/// OpenPGP public keys (v4 and v6) that may sign packages. Build it with
/// [`TrustedKeys::from_armored`], which checks every key and parses it once; a value
/// built as a struct literal is parsed on first use (and fails packages then if a key
/// is unusable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    /// ASCII-armored public keys, as read from the configured files.
    pub armored: Vec<String>,
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
#[derive(Debug, Clone, thiserror::Error)]
#[error("trusted key #{position} is not a usable OpenPGP public key: {reason}\nhint: {hint}")]
pub struct KeyError {
    /// 1-based position in the list handed to [`TrustedKeys::from_armored`].
    pub position: usize,
    pub reason: String,
    pub hint: &'static str,
}

/// Parsed key sets by the digest of their armored texts, so that keys are parsed once
/// per process and not once per package. Bounded: a handful of key sets at most.
type ParsedKeys = Arc<Vec<TrustedKey>>;
static PARSED: Mutex<Vec<([u8; 32], ParsedKeys)>> = Mutex::new(Vec::new());
const PARSED_SETS_MAX: usize = 16;

impl TrustedKeys {
    /// Parses every armored text (one file each; a file may hold a keyring of several
    /// certificates). Fails on the first text that holds no usable public key.
    pub fn from_armored(armored: Vec<String>) -> Result<Self, KeyError> {
        let keys = TrustedKeys { armored };
        keys.parsed()?;
        Ok(keys)
    }

    /// Upper-case hex fingerprints of every trusted certificate, in configuration order.
    pub fn fingerprints(&self) -> Result<Vec<String>, KeyError> {
        Ok(self
            .parsed()?
            .iter()
            .map(|k| k.fingerprint.clone())
            .collect())
    }

    fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for text in &self.armored {
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        h.finalize().into()
    }

    fn parsed(&self) -> Result<ParsedKeys, KeyError> {
        let digest = self.digest();
        let mut cache = PARSED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, keys)) = cache.iter().find(|(d, _)| *d == digest) {
            return Ok(keys.clone());
        }
        let keys: ParsedKeys = Arc::new(parse_keys(&self.armored)?);
        if cache.len() >= PARSED_SETS_MAX {
            cache.remove(0);
        }
        cache.push((digest, keys.clone()));
        Ok(keys)
    }
}

/// One certificate of an armored key text: what `hotpush keys` lists and stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Upper-case hex fingerprint of the primary key.
    pub fingerprint: String,
    /// The user ids (`Name <email>`), lossily decoded.
    pub user_ids: Vec<String>,
    /// This certificate alone, ASCII-armored.
    pub armored: String,
}

/// Splits an armored text (one key or a keyring) into its certificates, each
/// checked as [`TrustedKeys::from_armored`] checks it. A text with no public
/// key, a secret key or a key rpm cannot verify with is refused.
pub fn certificates(text: &str) -> Result<Vec<Certificate>, KeyError> {
    let fail = |reason: String| KeyError {
        position: 1,
        reason,
        hint: hint_for_key_text(text),
    };
    let (certs, _headers) =
        SignedPublicKey::from_string_many(text).map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::new();
    for cert in certs {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        let fingerprint = hex::encode_upper(cert.fingerprint().as_bytes());
        let armored = cert
            .to_armored_string(Default::default())
            .map_err(|e| fail(e.to_string()))?;
        rpm::signature::pgp::Verifier::from_asc(&armored)
            .map_err(|e| fail(format!("key `{fingerprint}`: {e}")))?;
        let user_ids = cert
            .details
            .users
            .iter()
            .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
            .collect();
        out.push(Certificate {
            fingerprint,
            user_ids,
            armored,
        });
    }
    if out.is_empty() {
        return Err(fail("the text holds no public key".into()));
    }
    Ok(out)
}

fn parse_keys(armored: &[String]) -> Result<Vec<TrustedKey>, KeyError> {
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
    Ok(keys)
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
    let parsed = keys
        .parsed()
        .map_err(|e| IntakeError::BadSignature(format!("cannot check signatures: {e}")))?;
    let infos = metadata.signatures().unwrap_or_default();
    let mut verified_by: Option<&str> = None;
    let mut bad: Option<String> = None;
    for (index, sig) in raw.iter().enumerate() {
        for key in parsed.iter() {
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
