//! The one intake of a package whose bytes are already in a file in
//! `incoming/`, shared by an upload (`http::intake`) and a build-system
//! trigger's fetch (`origin::trigger`): read it with `core::rpm::read_package`
//! against the live policy, refuse an arch no repository takes, refuse a
//! package other than the declared one, refuse a name another push holds in
//! other bytes (before the blob is kept and again in the recording
//! transaction), move the bytes to `blobs/<sha256>`, put the record in the
//! cache and record the package in the push. The file in `incoming/` is
//! removed on every way out except the move into `blobs/` ([`Incoming`]).
//!
//! Never knows HTTP or where the bytes came from: each caller words the
//! refusal for its own audience and audits and announces the package itself.
use std::path::PathBuf;
use std::sync::Arc;

use crate::core::api::PushPackageView;
use crate::core::rpm::{read_package, FileFacts, IntakeError};
use crate::origin::app::App;
use crate::origin::publish::package_href;
use crate::origin::store::{now_ms, PackageHeld, PushPackage};

/// A file in `incoming/`, removed when this is dropped: every way out
/// (refusal, error, panic, a client that goes away, a cancelled fetch) except
/// the move into `blobs/`.
pub(crate) struct Incoming {
    path: PathBuf,
    kept: bool,
}

impl Incoming {
    /// A fresh, unique name in `incoming/` starting with `prefix`.
    pub(crate) fn new(app: &App, prefix: &str) -> Self {
        Self {
            path: app.tree.incoming.join(format!(
                "{prefix}-{}-{}.part",
                now_ms(),
                rand::random::<u32>()
            )),
            kept: false,
        }
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // Synchronous on purpose: it also runs when the handler future is dropped.
        if let Err(e) = fs_err::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %e, path = %self.path.display(), "cannot remove a refused package from incoming/");
            }
        }
    }
}

/// Why a package was not admitted. The caller words it for its audience
/// (an HTTP error for an upload, the push's failure reason for a trigger).
#[derive(Debug)]
pub(crate) enum Refusal {
    /// `core::rpm::read_package` refused it (signature, header, identity).
    BadPackage(IntakeError),
    /// No configured repository takes the package's arch.
    UnknownArch { arch: String },
    /// The package is not the one declared (a trigger's `N-V-R.ARCH.rpm`).
    NotDeclared {
        canonical: String,
        nevra: String,
        declared: String,
    },
    /// Another push holds the package's file name in other bytes.
    Held {
        nevra: String,
        sha256: String,
        held: PackageHeld,
    },
    /// The push left `state` meanwhile (submitted, cancelled): it takes no
    /// more packages.
    Closed,
}

/// Admits the package in `file` (its bytes `size` long) into push `push_id`,
/// which must still be in `state` (`uploading`, or `fetching` for a
/// trigger's push). `file_name` is the name it came under; `declared`, when
/// given, is the only canonical `N-V-R.ARCH.rpm` it may turn out to be.
/// `Ok(Err(_))` is a refusal; `Err` a local or store error.
pub(crate) async fn admit(
    app: &Arc<App>,
    push_id: i64,
    mut file: Incoming,
    size: u64,
    file_name: &str,
    declared: Option<&str>,
    state: &str,
) -> anyhow::Result<Result<PushPackageView, Refusal>> {
    let time_file = (now_ms() / 1000) as u64;
    let policy = app.policy();
    let path = file.path.clone();
    let href = package_href(file_name);
    let read = tokio::task::spawn_blocking(move || {
        let f = fs_err::File::open(&path)?;
        Ok::<_, anyhow::Error>(read_package(
            std::io::BufReader::with_capacity(256 * 1024, f),
            FileFacts {
                location_href: href,
                time_file,
            },
            &policy,
        ))
    })
    .await
    .map_err(|e| anyhow::anyhow!("the package reader stopped: {e}"))??;
    let read = match read {
        Ok(r) => r,
        Err(e) => return Ok(Err(Refusal::BadPackage(e))),
    };
    let pkg = read.package;
    if !app.repos().iter().any(|r| r.takes_arch(&pkg.arch)) {
        return Ok(Err(Refusal::UnknownArch { arch: pkg.arch }));
    }
    let canonical = pkg.file_name();
    if let Some(declared) = declared {
        if canonical != declared {
            return Ok(Err(Refusal::NotDeclared {
                canonical,
                nevra: pkg.nevra(),
                declared: declared.to_owned(),
            }));
        }
    }
    let held = |held: PackageHeld| Refusal::Held {
        nevra: pkg.nevra(),
        sha256: pkg.sha256.clone(),
        held,
    };
    // One file name, one content: checked here before the blob is kept, and
    // again in the transaction that records the package.
    if let Some(h) = app.store.package_held(push_id, &canonical, &pkg.sha256)? {
        return Ok(Err(held(h)));
    }
    // Keep the blob under its sha256; the published name is the package's own.
    let blob = app.tree.blob_path(&pkg.sha256);
    if let Some(parent) = blob.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    // `incoming/` and `blobs/` may be separate mounts: then a synced copy.
    let (from, to) = (file.path.clone(), blob.clone());
    tokio::task::spawn_blocking(move || crate::io::fs::move_file(&from, &to))
        .await
        .map_err(|e| anyhow::anyhow!("moving the package into blobs/ stopped: {e}"))??;
    file.kept = true;
    let mut record = pkg.clone();
    record.location_href = package_href(&canonical);
    // The record first (a cache by sha256: harmless if the store refuses),
    // so a publisher run that sees the package also finds its record.
    app.records
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(pkg.sha256.clone(), record);
    // The push may have left `state` while this package was on its way: the
    // store records it only if the push is still in `state`, and only if no
    // other push holds its name in other bytes (the blob stays either way:
    // content-named, and maybe shared with another package of the same bytes).
    let added = app.store.add_package_in_state(
        push_id,
        &PushPackage {
            sha256: pkg.sha256.clone(),
            file_name: canonical.clone(),
            nevra: pkg.nevra(),
            arch: pkg.arch.clone(),
            size,
            time_file,
            signed_by: read.signed_by.clone(),
        },
        state,
    )?;
    match added {
        Err(h) => Ok(Err(held(h))),
        Ok(false) => Ok(Err(Refusal::Closed)),
        Ok(true) => Ok(Ok(PushPackageView {
            file_name: canonical,
            nevra: pkg.nevra(),
            arch: pkg.arch,
            sha256: pkg.sha256,
            size,
            signed_by: read.signed_by,
        })),
    }
}
