//! The repo-signing keys of the running origin and their rotation, without a
//! restart: the key that signs (`DATA_DIR/keys/repo-signing.key`), a prepared
//! next key (`repo-signing.next.key`, served beside the current one so the
//! `-repos` package ships it before it signs anything) and the previous key's
//! public part after a switch (`repo-signing.previous.asc`, served until it is
//! retired). Secrets of keys that no longer sign go to `keys/retired/`; nothing
//! is deleted. The disk is the source of truth: every start loads the ring from
//! these files, and each change writes its files before `App` swaps the ring.
//!
//! The rotation is linear: `[current]` → `repo-next` → `[current, next]` →
//! `repo-switch` → `[current, previous]` → `repo-retire` → `[current]`.
//! A switch holds the publisher's lock (no revision is signed by the old key
//! after it), signs every served repomd.xml with the new key into temporary
//! files first (a failure there switches nothing), marks every partner
//! unverified (they leave the metalinks until they serve the re-signed .asc and
//! pass verification with the new key), renames the key into place, then each
//! new .asc; the fan-out worker pushes them.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::core::api::{RepoKeyView, RepoKeysView};
use crate::core::signing::RepoKey;
use crate::origin::app::{App, Served};
use crate::origin::keys::KeyChangeError;

/// The User ID of keys hotpush generates.
const USER_ID: &str = "hotpush repository signing key";
const CURRENT: &str = "repo-signing.key";
const CURRENT_PUBLIC: &str = "repo-signing.asc";
const NEXT: &str = "repo-signing.next.key";
const NEXT_PUBLIC: &str = "repo-signing.next.asc";
const PREVIOUS_PUBLIC: &str = "repo-signing.previous.asc";
const RETIRED: &str = "retired";

/// A public key that no longer signs but is still served.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub fingerprint: String,
    pub armored: String,
}

/// Every repo-signing key of the origin, swapped as one value.
#[derive(Debug, Clone)]
pub struct RepoKeyRing {
    /// Signs every repomd.xml.
    pub current: RepoKey,
    pub next: Option<RepoKey>,
    pub previous: Option<PublicKey>,
}

impl RepoKeyRing {
    /// Every public key clients should hold now, one armor block each, the
    /// signing one first: `/keys/repo.asc` and `repodata/repomd.xml.key`.
    pub fn armored_publics(&self) -> String {
        let mut out = self.current.armored_public();
        if let Some(next) = &self.next {
            out.push('\n');
            out.push_str(&next.armored_public());
        }
        if let Some(previous) = &self.previous {
            out.push('\n');
            out.push_str(&previous.armored);
        }
        out
    }

    /// The API's view, with the step the rotation needs next.
    pub fn view(&self) -> RepoKeysView {
        let key = |fingerprint: String| RepoKeyView {
            key_id: fingerprint[fingerprint.len().saturating_sub(16)..].to_owned(),
            fingerprint,
        };
        let step = match (&self.next, &self.previous) {
            (Some(next), _) => format!(
                "next key {} is served beside the current one: rebuild the -repos package \
                 (`hotpush repofile --rpm DIR`), ship it, and once installed systems have it \
                 switch with `hotpush keys repo-switch {}`",
                next.fingerprint(),
                next.fingerprint()
            ),
            (None, Some(previous)) => format!(
                "previous key {} is still served for clients that hold only it: once the \
                 -repos package without it is out, stop serving it with \
                 `hotpush keys repo-retire {}`",
                previous.fingerprint, previous.fingerprint
            ),
            (None, None) => "one key signs and is served; to rotate it, prepare the next \
                 one with `hotpush keys repo-next`"
                .to_owned(),
        };
        RepoKeysView {
            current: key(self.current.fingerprint()),
            next: self.next.as_ref().map(|k| key(k.fingerprint())),
            previous: self.previous.as_ref().map(|k| key(k.fingerprint.clone())),
            step,
        }
    }
}

fn keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
}

fn load_secret(path: &Path) -> anyhow::Result<RepoKey> {
    crate::io::secret::check_private(path)?;
    let text = fs_err::read_to_string(path)?;
    RepoKey::from_armored_secret(&text)
        .with_context(|| format!("cannot load the repo-signing key `{}`", path.display()))
}

/// Loads the ring from the data directory, generating the current key on
/// first start. A next key or previous public key equal to the current one
/// (a switch interrupted between its renames) is ignored.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<RepoKeyRing> {
    let keys = keys_dir(data_dir);
    fs_err::create_dir_all(&keys)?;
    let secret = keys.join(CURRENT);
    let current = if secret.exists() {
        load_secret(&secret)?
    } else {
        let key = RepoKey::generate(USER_ID)?;
        crate::io::secret::write_private(&secret, key.armored_secret().as_bytes())?;
        crate::io::fs::write_atomic(&keys.join(CURRENT_PUBLIC), key.armored_public().as_bytes())?;
        tracing::info!(
            fingerprint = key.fingerprint(),
            "generated a new repo-signing key"
        );
        key
    };
    let next_path = keys.join(NEXT);
    let next = if next_path.exists() {
        Some(load_secret(&next_path)?).filter(|k| k.fingerprint() != current.fingerprint())
    } else {
        None
    };
    let previous_path = keys.join(PREVIOUS_PUBLIC);
    let previous = if previous_path.exists() {
        let armored = fs_err::read_to_string(&previous_path)?;
        let fingerprint = crate::core::signing::public_fingerprints(&armored)
            .with_context(|| {
                format!(
                    "cannot read the previous repo key `{}`",
                    previous_path.display()
                )
            })?
            .remove(0);
        (fingerprint != current.fingerprint()).then_some(PublicKey {
            fingerprint,
            armored,
        })
    } else {
        None
    };
    Ok(RepoKeyRing {
        current,
        next,
        previous,
    })
}

/// Whether `wanted` names the key: its fingerprint or its last 16 hex digits,
/// in either case.
fn names(fingerprint: &str, wanted: &str) -> bool {
    let wanted = wanted.trim().to_ascii_uppercase();
    wanted.len() >= 16 && fingerprint.ends_with(&wanted)
}

/// Generates the next key and stores it; the ring that serves it beside the
/// current one. Refused while a next key is prepared or a previous one is
/// still served (one rotation at a time).
pub fn prepare_next(data_dir: &Path, ring: &RepoKeyRing) -> Result<RepoKeyRing, KeyChangeError> {
    if let Some(next) = &ring.next {
        return Err(KeyChangeError::Conflict {
            message: format!("next repo key {} is already prepared", next.fingerprint()),
            hint: format!(
                "switch to it with `hotpush keys repo-switch {}`",
                next.fingerprint()
            ),
        });
    }
    if let Some(previous) = &ring.previous {
        return Err(KeyChangeError::Conflict {
            message: format!(
                "the previous repo key {} is still served after the last switch",
                previous.fingerprint
            ),
            hint: format!(
                "finish that rotation first: `hotpush keys repo-retire {}`",
                previous.fingerprint
            ),
        });
    }
    let keys = keys_dir(data_dir);
    let key = RepoKey::generate(USER_ID)?;
    crate::io::secret::write_private(&keys.join(NEXT), key.armored_secret().as_bytes())?;
    crate::io::fs::write_atomic(&keys.join(NEXT_PUBLIC), key.armored_public().as_bytes())
        .map_err(anyhow::Error::from)?;
    crate::io::fs::sync_dir(&keys).map_err(anyhow::Error::from)?;
    Ok(RepoKeyRing {
        next: Some(key),
        ..ring.clone()
    })
}

/// Stops serving the previous key's public part (moved to `keys/retired/`).
pub fn retire(
    data_dir: &Path,
    ring: &RepoKeyRing,
    wanted: &str,
) -> Result<RepoKeyRing, KeyChangeError> {
    let previous = match &ring.previous {
        Some(p) if names(&p.fingerprint, wanted) => p,
        Some(p) => {
            return Err(KeyChangeError::Conflict {
                message: format!(
                    "`{wanted}` is not the previous repo key; that is {}",
                    p.fingerprint
                ),
                hint: "`hotpush keys repo-status` shows the keys".into(),
            })
        }
        None => {
            return Err(KeyChangeError::Conflict {
                message: "there is no previous repo key to retire".into(),
                hint: "only a key replaced by `hotpush keys repo-switch` can be retired; \
                       `hotpush keys repo-status` shows the keys"
                    .into(),
            })
        }
    };
    let keys = keys_dir(data_dir);
    let retired = keys.join(RETIRED);
    fs_err::create_dir_all(&retired).map_err(anyhow::Error::from)?;
    crate::io::fs::write_atomic(
        &retired.join(format!("{}.asc", previous.fingerprint)),
        previous.armored.as_bytes(),
    )
    .map_err(anyhow::Error::from)?;
    fs_err::remove_file(keys.join(PREVIOUS_PUBLIC)).map_err(anyhow::Error::from)?;
    crate::io::fs::sync_dir(&keys).map_err(anyhow::Error::from)?;
    Ok(RepoKeyRing {
        previous: None,
        ..ring.clone()
    })
}

/// The files of a switch: the old secret to `retired/`, its public part
/// served as the previous key, then the next key renamed into place (the
/// step that makes the switch survive a restart).
fn switch_files(
    data_dir: &Path,
    ring: &RepoKeyRing,
    next: &RepoKey,
) -> Result<RepoKeyRing, KeyChangeError> {
    let keys = keys_dir(data_dir);
    let old = &ring.current;
    let retired = keys.join(RETIRED);
    fs_err::create_dir_all(&retired).map_err(anyhow::Error::from)?;
    crate::io::secret::write_private(
        &retired.join(format!("{}.key", old.fingerprint())),
        old.armored_secret().as_bytes(),
    )?;
    crate::io::fs::write_atomic(&keys.join(PREVIOUS_PUBLIC), old.armored_public().as_bytes())
        .map_err(anyhow::Error::from)?;
    // The commit point: from here a start loads the switched ring (the
    // secret decides; the public copies below are conveniences), so nothing
    // after it may fail the switch.
    fs_err::rename(keys.join(NEXT), keys.join(CURRENT)).map_err(anyhow::Error::from)?;
    if let Err(e) = crate::io::fs::sync_dir(&keys) {
        tracing::warn!(error = %e, "cannot sync the keys directory after the switch");
    }
    if let Err(e) =
        crate::io::fs::write_atomic(&keys.join(CURRENT_PUBLIC), next.armored_public().as_bytes())
    {
        tracing::warn!(error = %e, file = CURRENT_PUBLIC, "cannot write the new key's public copy");
    }
    let _ = fs_err::remove_file(keys.join(NEXT_PUBLIC));
    Ok(RepoKeyRing {
        current: next.clone(),
        next: None,
        previous: Some(PublicKey {
            fingerprint: old.fingerprint(),
            armored: old.armored_public(),
        }),
    })
}

/// Switches signing to the prepared next key named by `wanted`, without a
/// restart; returns the repositories whose current repomd.xml it signed again.
///
/// Under the publisher's lock: (1) every partner is marked unverified (so a
/// crash from here on still ends with partners re-pushed); (2) the files
/// change; (3) under the served-state lock the ring is swapped and the
/// partners marked again (a fan-out that verified with the old key and
/// records after this sees the new key and records nothing verified);
/// (4) each served repomd.xml gets a new .asc, on disk and in memory, with a
/// metalink listing the origin only until the fan-out verified the partners
/// with the new key. The caller wakes the fan-out.
pub fn switch(app: &App, wanted: &str) -> Result<Vec<String>, KeyChangeError> {
    let _publishing = app.publish_lock.lock().unwrap_or_else(|p| p.into_inner());
    let ring = app.repo_keys();
    let next = match &ring.next {
        Some(k) if names(&k.fingerprint(), wanted) => k.clone(),
        Some(k) => {
            return Err(KeyChangeError::Conflict {
                message: format!(
                    "`{wanted}` is not the prepared next repo key; that is {}",
                    k.fingerprint()
                ),
                hint: "`hotpush keys repo-status` shows the keys".into(),
            })
        }
        None => {
            return Err(KeyChangeError::Conflict {
                message: "no next repo key is prepared".into(),
                hint: "prepare one with `hotpush keys repo-next`, ship it in the -repos \
                       package, then switch"
                    .into(),
            })
        }
    };
    // Sign every served repomd.xml with the new key first, into temporary
    // files beside the .asc: a failure here (a full disk, a directory that
    // cannot be written) leaves nothing switched, and removes what it wrote.
    let mut staged: Vec<(crate::core::repo::RepoId, std::path::PathBuf, String)> = Vec::new();
    let unstage = |staged: &[(crate::core::repo::RepoId, std::path::PathBuf, String)]| {
        for (_, temp, _) in staged {
            let _ = fs_err::remove_file(temp);
        }
    };
    for repo in app.repos() {
        let Some(cur) = app.served(&repo.path()) else {
            continue;
        };
        let prepared = next.sign_detached(&cur.repomd).and_then(|asc| {
            let target = app
                .tree
                .repo_dir(&repo)
                .join("repodata")
                .join("repomd.xml.asc");
            let temp = crate::io::fs::temp_path(&target);
            crate::io::fs::write_synced(&temp, asc.as_bytes()).map_err(|e| {
                let _ = fs_err::remove_file(&temp);
                anyhow::Error::from(e)
            })?;
            Ok((temp, asc))
        });
        match prepared {
            Ok((temp, asc)) => staged.push((repo, temp, asc)),
            Err(e) => {
                unstage(&staged);
                return Err(KeyChangeError::Failed {
                    message: format!(
                        "cannot sign `{}` with the new key: {e:#}; nothing was switched (the current key still signs, the next one stays prepared)",
                        repo.path()
                    ),
                    hint: "make the repo's `repodata` directory under the data directory writable (and check free space), then switch again".into(),
                });
            }
        }
    }
    app.store.mark_partners_unverified()?;
    let new_ring = match switch_files(&app.config.data_dir, &ring, &next) {
        Ok(r) => r,
        Err(e) => {
            unstage(&staged);
            return Err(e);
        }
    };
    {
        let _served = app.served.write().unwrap_or_else(|p| p.into_inner());
        app.set_repo_keys(new_ring);
        app.store.mark_partners_unverified()?;
    }
    // Switched: put each new .asc in place (a rename in its own directory).
    let mut resigned = Vec::new();
    let mut failed = Vec::new();
    for (repo, temp, asc) in staged {
        let Some(cur) = app.served(&repo.path()) else {
            let _ = fs_err::remove_file(&temp);
            continue;
        };
        let dir = app.tree.repo_dir(&repo).join("repodata");
        if let Err(e) = fs_err::rename(&temp, dir.join("repomd.xml.asc"))
            .and_then(|()| crate::io::fs::sync_dir(&dir))
        {
            let _ = fs_err::remove_file(&temp);
            failed.push(format!("`{}`: {e}", repo.path()));
            continue;
        }
        let verified = crate::origin::sync::worker::verified_partners(app, &repo, cur.revision)?;
        let metalink = crate::origin::sync::worker::metalink_body(
            app,
            &repo,
            &cur.repomd,
            cur.revision,
            &verified,
        );
        app.set_served(
            &repo.path(),
            Served {
                asc: asc.into_bytes().into(),
                metalink,
                ..(*cur).clone()
            },
        );
        resigned.push(repo.path());
    }
    if !failed.is_empty() {
        // The key is switched; these repos still serve the old key's .asc
        // (valid for clients holding both keys) until the next publication
        // or start signs them again.
        return Err(KeyChangeError::Failed {
            message: format!(
                "switched to the new key, but could not put the new repomd.xml.asc in place for {} (they keep the previous key's signature)",
                failed.join(", ")
            ),
            hint: "fix the directory, then restart the origin: every start signs a served repomd.xml whose .asc is not the current key's again".into(),
        });
    }
    Ok(resigned)
}

/// Prepares the next key on the running origin.
pub fn prepare_next_live(app: &App) -> Result<Arc<RepoKeyRing>, KeyChangeError> {
    let _publishing = app.publish_lock.lock().unwrap_or_else(|p| p.into_inner());
    let ring = prepare_next(&app.config.data_dir, &app.repo_keys())?;
    app.set_repo_keys(ring);
    Ok(app.repo_keys())
}

/// Retires the previous key on the running origin.
pub fn retire_live(app: &App, wanted: &str) -> Result<Arc<RepoKeyRing>, KeyChangeError> {
    let _publishing = app.publish_lock.lock().unwrap_or_else(|p| p.into_inner());
    let ring = retire(&app.config.data_dir, &app.repo_keys(), wanted)?;
    app.set_repo_keys(ring);
    Ok(app.repo_keys())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rotation_survives_reloads_at_every_step() {
        let dir = tempfile::tempdir().unwrap();
        let ring = load_or_create(dir.path()).unwrap();
        let first = ring.current.fingerprint();
        assert_eq!(
            load_or_create(dir.path()).unwrap().current.fingerprint(),
            first
        );
        let ring = prepare_next(dir.path(), &ring).unwrap();
        let second = ring.next.as_ref().unwrap().fingerprint();
        assert!(matches!(
            prepare_next(dir.path(), &ring),
            Err(KeyChangeError::Conflict { .. })
        ));
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(again.next.as_ref().unwrap().fingerprint(), second);
        assert_eq!(
            crate::core::signing::public_fingerprints(&again.armored_publics()).unwrap(),
            vec![first.clone(), second.clone()]
        );

        let next = ring.next.clone().unwrap();
        let ring = switch_files(dir.path(), &ring, &next).unwrap();
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(again.current.fingerprint(), second);
        assert!(again.next.is_none());
        assert_eq!(again.previous.as_ref().unwrap().fingerprint, first);
        assert_eq!(
            crate::core::signing::public_fingerprints(&again.armored_publics()).unwrap(),
            vec![second.clone(), first.clone()]
        );
        assert!(dir
            .path()
            .join(format!("keys/retired/{first}.key"))
            .exists());
        assert!(matches!(
            prepare_next(dir.path(), &ring),
            Err(KeyChangeError::Conflict { .. })
        ));
        assert!(matches!(
            retire(dir.path(), &ring, &second),
            Err(KeyChangeError::Conflict { .. })
        ));
        // The last 16 hex digits, in lower case, name the key too.
        let ring = retire(dir.path(), &ring, &first[24..].to_ascii_lowercase()).unwrap();
        assert!(ring.previous.is_none());
        let again = load_or_create(dir.path()).unwrap();
        assert!(again.previous.is_none());
        assert_eq!(
            crate::core::signing::public_fingerprints(&again.armored_publics()).unwrap(),
            vec![second]
        );
    }

    #[test]
    fn a_switch_cut_short_before_the_rename_loads_as_prepared() {
        let dir = tempfile::tempdir().unwrap();
        let ring = load_or_create(dir.path()).unwrap();
        let ring = prepare_next(dir.path(), &ring).unwrap();
        // The previous public key is written before the rename: equal to the
        // current key, it is ignored.
        crate::io::fs::write_atomic(
            &dir.path().join("keys").join(PREVIOUS_PUBLIC),
            ring.current.armored_public().as_bytes(),
        )
        .unwrap();
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(again.current.fingerprint(), ring.current.fingerprint());
        assert!(again.previous.is_none());
        assert!(again.next.is_some());
    }
}
