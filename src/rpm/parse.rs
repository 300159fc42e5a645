//! Parses one RPM (lead, signature header, main header; the payload is only hashed)
//! into a [`Package`](super::Package). Pure: reads the bytes it is given.
use std::io::Read;

use super::{verify::SignaturePolicy, Package};

/// Facts about the file that its bytes cannot tell.
#[derive(Debug, Clone)]
pub struct FileFacts {
    pub location_href: String,
    pub time_file: u64,
}

#[derive(Debug)]
pub struct ReadPackage {
    pub package: Package,
    /// Fingerprint (upper-case hex) of the trusted key that verified the package, if checked.
    pub signed_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("not an RPM file: {0}")]
    NotAnRpm(String),
    #[error("truncated RPM: {0}")]
    Truncated(String),
    #[error("corrupt RPM: {0}")]
    Corrupt(String),
    #[error("package is not signed")]
    Unsigned,
    #[error("package is signed by a key that is not trusted (key id {0})")]
    UntrustedKey(String),
    #[error("package signature does not verify: {0}")]
    BadSignature(String),
    #[error("I/O error while reading the package: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one package from `reader` to its end.
pub fn read_package(
    _reader: impl Read,
    _facts: FileFacts,
    _policy: &SignaturePolicy,
) -> Result<ReadPackage, IntakeError> {
    Err(IntakeError::Corrupt("parser not written yet".into()))
}
