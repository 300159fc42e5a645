//! The origin's trusted package-signing keys, live: the files configured in
//! `intake.trusted_keys` plus the keys added through the API, stored one
//! certificate per file as `DATA_DIR/keys/trusted/<FINGERPRINT>.asc`. The disk
//! is the source of truth: every change rewrites or removes one file and then
//! reloads the whole set, which `App` swaps in as one value (uploads already
//! reading keep the set they started with). `hotpush doctor` and `hotpush sop`
//! read the same set with [`load`].
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::core::rpm::{certificates, SignaturePolicy, TrustedKeys};
use crate::logging::user_error;
use crate::origin::config::Config;

/// Where a trusted key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file named in `intake.trusted_keys` (removed by editing the
    /// configuration and restarting).
    Config(PathBuf),
    /// Added with `hotpush keys add` (removed with `hotpush keys remove`).
    Added(PathBuf),
}

impl KeySource {
    pub fn file(&self) -> &Path {
        match self {
            KeySource::Config(p) | KeySource::Added(p) => p,
        }
    }

    /// `config` or `added`, as the API names it.
    pub fn kind(&self) -> &'static str {
        match self {
            KeySource::Config(_) => "config",
            KeySource::Added(_) => "added",
        }
    }
}

/// One trusted certificate.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub fingerprint: String,
    pub user_ids: Vec<String>,
    pub source: KeySource,
}

/// Every trusted key and the signature policy they make, loaded together.
#[derive(Debug, Clone)]
pub struct TrustedSet {
    pub keys: Vec<TrustedKey>,
    /// `Ignore` when `require_signed_packages = false` (the keys are still listed).
    pub policy: Arc<SignaturePolicy>,
    /// Every key text, in load order (`/keys/packages.asc`).
    pub armored: Vec<String>,
}

/// `DATA_DIR/keys/trusted`: the keys added through the API.
pub fn added_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("trusted")
}

/// The file an added key lives in.
pub fn added_file(data_dir: &Path, fingerprint: &str) -> PathBuf {
    added_dir(data_dir).join(format!("{fingerprint}.asc"))
}

/// The key files `hotpush keys add` stored, sorted by name (none when the
/// directory does not exist yet).
pub fn added_files(data_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = added_dir(data_dir);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut added: Vec<PathBuf> = fs_err::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "asc")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !crate::io::fs::is_temp_name(n))
        })
        .collect();
    added.sort();
    Ok(added)
}

/// Loads the configured key files, then the added ones (sorted by name). A
/// configured file that cannot be used fails, named; so does an added file.
pub fn load(config: &Config) -> anyhow::Result<TrustedSet> {
    let config_fix = "fix `intake.trusted_keys` in hotpush.toml";
    let mut files: Vec<KeySource> = config
        .intake
        .trusted_keys
        .iter()
        .map(|p| KeySource::Config(p.clone()))
        .collect();
    files.extend(
        added_files(&config.data_dir)?
            .into_iter()
            .map(KeySource::Added),
    );
    let mut keys = Vec::new();
    let mut armored = Vec::new();
    for source in files {
        let fix = match &source {
            KeySource::Config(_) => config_fix.to_owned(),
            KeySource::Added(p) => format!(
                "remove it with `hotpush keys remove FINGERPRINT` or delete `{}`",
                p.display()
            ),
        };
        let text = crate::io::keys::read_key_file(source.file(), &fix)?;
        let certs = certificates(&text).map_err(|e| {
            user_error(
                format!(
                    "the trusted key `{}` is not a usable OpenPGP public key: {}",
                    source.file().display(),
                    e.reason
                ),
                format!("{}; {fix}", e.hint),
            )
        })?;
        for cert in certs {
            keys.push(TrustedKey {
                fingerprint: cert.fingerprint,
                user_ids: cert.user_ids,
                source: source.clone(),
            });
        }
        armored.push(text);
    }
    let policy = if config.intake.require_signed_packages {
        let trusted = TrustedKeys::from_armored(armored.clone())
            .map_err(|e| anyhow::anyhow!("the trusted keys cannot be used: {e}"))?;
        SignaturePolicy::Require(trusted)
    } else {
        SignaturePolicy::Ignore
    };
    Ok(TrustedSet {
        keys,
        policy: Arc::new(policy),
        armored,
    })
}

/// Why a key could not be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum KeyChangeError {
    #[error("{message}")]
    Invalid { message: String, hint: String },
    #[error("no trusted key has the fingerprint or key id `{0}`")]
    NotFound(String),
    #[error("{message}")]
    Conflict { message: String, hint: String },
    /// The change failed on our side in a way the operator must hear about
    /// (what happened to the keys is in `message`).
    #[error("{message}")]
    Failed { message: String, hint: String },
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

/// Stores every certificate of `text` that is not already added, then
/// reloads. Returns the fingerprints the text held and the new set.
pub fn add(config: &Config, text: &str) -> Result<(Vec<String>, TrustedSet), KeyChangeError> {
    if text.len() as u64 > crate::io::keys::KEY_FILE_BYTES_MAX {
        return Err(KeyChangeError::Invalid {
            message: format!(
                "the key text is {} bytes, more than the {} a public key file may hold",
                text.len(),
                crate::io::keys::KEY_FILE_BYTES_MAX
            ),
            hint: "export only the public key (`gpg --armor --export KEYID`)".into(),
        });
    }
    let certs = certificates(text).map_err(|e| KeyChangeError::Invalid {
        message: format!("not a usable OpenPGP public key: {}", e.reason),
        hint: e.hint.to_owned(),
    })?;
    let dir = added_dir(&config.data_dir);
    fs_err::create_dir_all(&dir).map_err(anyhow::Error::from)?;
    let mut fingerprints = Vec::new();
    for cert in &certs {
        let path = added_file(&config.data_dir, &cert.fingerprint);
        crate::io::fs::write_atomic(&path, cert.armored.as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", path.display()))?;
        fingerprints.push(cert.fingerprint.clone());
    }
    Ok((fingerprints, load(config)?))
}

/// Removes the added key whose fingerprint ends with `id` (a fingerprint or
/// a 16-digit key id, any case, spaces ignored), then reloads. A key from
/// the configuration is refused: it is removed there.
pub fn remove(config: &Config, id: &str) -> Result<(String, TrustedSet), KeyChangeError> {
    let wanted: String = id
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let wanted = wanted.strip_prefix("0X").unwrap_or(&wanted).to_owned();
    if wanted.len() < 16 || !wanted.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(KeyChangeError::Invalid {
            message: format!("`{id}` is not a key fingerprint or 16-digit key id"),
            hint: "`hotpush keys list` shows the fingerprints".into(),
        });
    }
    let set = load(config)?;
    let matching: Vec<&TrustedKey> = set
        .keys
        .iter()
        .filter(|k| k.fingerprint.ends_with(&wanted))
        .collect();
    let added: Vec<&&TrustedKey> = matching
        .iter()
        .filter(|k| matches!(k.source, KeySource::Added(_)))
        .collect();
    match (added.as_slice(), matching.first()) {
        ([], None) => Err(KeyChangeError::NotFound(id.to_owned())),
        ([], Some(k)) => Err(KeyChangeError::Conflict {
            message: format!(
                "key `{}` is trusted by the configuration (`{}`)",
                k.fingerprint,
                k.source.file().display()
            ),
            hint: "remove the file from `intake.trusted_keys` in hotpush.toml and restart".into(),
        }),
        ([k], _) => {
            let fingerprint = k.fingerprint.clone();
            let path = k.source.file().to_owned();
            fs_err::remove_file(&path).map_err(anyhow::Error::from)?;
            if let Some(parent) = path.parent() {
                crate::io::fs::sync_dir(parent).map_err(anyhow::Error::from)?;
            }
            Ok((fingerprint, load(config)?))
        }
        (many, _) => Err(KeyChangeError::Conflict {
            message: format!(
                "`{id}` matches {} keys: {}",
                many.len(),
                many.iter()
                    .map(|k| k.fingerprint.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: "name the key by its whole fingerprint".into(),
        }),
    }
}
