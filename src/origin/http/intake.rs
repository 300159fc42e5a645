//! The upload half of the intake: file-name rules, streaming a body to
//! `incoming/` under the size limit, removing it on every way out, and the
//! errors an upload is refused with. The package checks themselves are
//! `core::rpm::read_package`'s.
use axum::body::Body;
use axum::http::StatusCode;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::core::api::PushPackageView;
use crate::core::rpm::{read_package, FileFacts};
use crate::io::http_error::ApiError;
use crate::origin::app::App;
use crate::origin::publish::package_href;
use crate::origin::store::{now_ms, PushPackage, TokenOwner};

type ApiResult<T> = Result<T, ApiError>;

/// One package into an open push (`PUT /api/v1/pushes/{id}/packages/{file}`,
/// after [`crate::origin::http::access::authorize`]): streams the body to
/// `incoming/` under `intake.package_bytes_max` (refusing an announced
/// oversize body before reading any of it), reads and checks the package
/// (signature against the live trusted keys, identity, arch), refuses a name
/// another push holds in other bytes, keeps the bytes as a content-named blob
/// and records the package if the push still takes packages. Every refusal
/// is audited with its reason.
pub(crate) async fn upload(
    app: &Arc<App>,
    owner: &TokenOwner,
    remote: &SocketAddr,
    push_id: i64,
    file_name: String,
    announced: Option<u64>,
    body: Body,
) -> ApiResult<PushPackageView> {
    let refuse = |e: ApiError| -> ApiError {
        let _ = app.store.audit(
            &owner.user,
            "upload-refused",
            &format!("push {push_id}: {file_name}"),
            false,
            &e.message,
            &remote.ip().to_string(),
        );
        e
    };
    check_file_name(&file_name).map_err(refuse)?;
    let push = app
        .store
        .push(push_id)?
        .ok_or_else(|| ApiError::not_found(format!("push {push_id} does not exist")))?;
    if push.state != "uploading" {
        return Err(ApiError::conflict(
            format!(
                "push {push_id} is `{}`; it no longer takes packages",
                push.state
            ),
            "open a new push for more packages",
        ));
    }
    let limit = app.config.intake.package_bytes_max;
    // Refuse an announced oversize body before reading any of it.
    if announced.is_some_and(|n| n > limit) {
        return Err(refuse(too_large(limit)));
    }
    // Removed on every way out (refusal, error, panic, a client that goes away)
    // unless it became a blob.
    let mut partial = PartialUpload {
        path: app.tree.incoming.join(format!(
            "{push_id}-{}-{}.part",
            now_ms(),
            rand::random::<u32>()
        )),
        kept: false,
    };
    let size = receive_to_file(body, &partial.path, limit)
        .await
        .map_err(refuse)?;
    let time_file = (now_ms() / 1000) as u64;
    let policy = app.policy();
    let tmp2 = partial.path.clone();
    let name2 = file_name.clone();
    let read = tokio::task::spawn_blocking(move || {
        let f = fs_err::File::open(&tmp2)?;
        Ok::<_, anyhow::Error>(read_package(
            std::io::BufReader::with_capacity(256 * 1024, f),
            FileFacts {
                location_href: package_href(&name2),
                time_file,
            },
            &policy,
        ))
    })
    .await
    .map_err(|e| anyhow::anyhow!("the package reader stopped: {e}"))??;
    let read = match read {
        Ok(r) => r,
        Err(e) => {
            let hint = match &e {
                crate::core::rpm::IntakeError::Unsigned => {
                    "sign the package with the distribution key (`rpmsign --addsign`)"
                }
                crate::core::rpm::IntakeError::UntrustedKey(_) => {
                    "sign with a trusted key (`hotpush keys list`), or trust the signing key without a restart: `hotpush keys add FILE` (an admin; FILE from `gpg --armor --export KEYID`)"
                }
                crate::core::rpm::IntakeError::BadIdentity(_) => {
                    "fix Name/Version/Release/Epoch in the spec file and rebuild the package"
                }
                crate::core::rpm::IntakeError::Malformed(_) => {
                    "upload the package exactly as rpmbuild and rpmsign wrote it"
                }
                _ => "upload the exact signed RPM the build system produced",
            };
            app.store.audit(
                &owner.user,
                "upload-refused",
                &format!("push {push_id}: {file_name}"),
                false,
                &e.to_string(),
                &remote.ip().to_string(),
            )?;
            return Err(ApiError::unprocessable(
                "bad_package",
                format!("`{file_name}`: {e}"),
                hint,
            ));
        }
    };
    let pkg = read.package;
    let arch_ok = app.repos().iter().any(|r| r.takes_arch(&pkg.arch));
    if !arch_ok {
        return Err(refuse(ApiError::unprocessable(
            "unknown_arch",
            format!(
                "`{file_name}` is for arch `{}`, which no repository here takes",
                pkg.arch
            ),
            format!(
                "configured arches: {} (noarch goes to every binary arch, src to `source`)",
                app.config.repos.arches.join(", ")
            ),
        )));
    }
    let canonical = pkg.file_name();
    // One file name, one content: checked here before the blob is kept, and again
    // in the transaction that records the package.
    if let Some(held) = app.store.package_held(push_id, &canonical, &pkg.sha256)? {
        return Err(refuse(package_held(&pkg.nevra(), &pkg.sha256, &held)));
    }
    // Keep the blob under its sha256; the published name is the package's own.
    let blob = app.tree.blob_path(&pkg.sha256);
    if let Some(parent) = blob.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(anyhow::Error::from)?;
    }
    // `incoming/` and `blobs/` may be separate mounts: then a synced copy.
    let (from, to) = (partial.path.clone(), blob.clone());
    tokio::task::spawn_blocking(move || crate::io::fs::move_file(&from, &to))
        .await
        .map_err(|e| anyhow::anyhow!("moving the upload stopped: {e}"))?
        .map_err(anyhow::Error::from)?;
    partial.kept = true;
    let mut record = pkg.clone();
    record.location_href = package_href(&canonical);
    // The record first (a cache by sha256: harmless if the store refuses),
    // so a publisher run that sees the package also finds its record.
    app.records
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(pkg.sha256.clone(), record);
    // The push may have been submitted while this package was on its way:
    // the store records it only if the push still takes packages, and only
    // if no other push holds its name in other bytes.
    let added = app.store.add_push_package(
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
    )?;
    let recorded = match added {
        Ok(recorded) => recorded,
        Err(held) => {
            // Another upload of the same name won the race; the blob stays
            // (content-named, and maybe shared with another package of the same bytes).
            return Err(refuse(package_held(&pkg.nevra(), &pkg.sha256, &held)));
        }
    };
    if !recorded {
        let state = app
            .store
            .push(push_id)?
            .map(|p| p.state)
            .unwrap_or_default();
        return Err(refuse(ApiError::conflict(
            format!("push {push_id} is `{state}`; it no longer takes packages"),
            "open a new push for more packages",
        )));
    }
    app.emit(
        "package-uploaded",
        format!("push {push_id}: {} uploaded and verified", pkg.nevra()),
        Some(push_id),
        Some(push.advisory_id.clone()),
    );
    Ok(PushPackageView {
        file_name: canonical,
        nevra: pkg.nevra(),
        arch: pkg.arch,
        sha256: pkg.sha256,
        size,
        signed_by: read.signed_by,
    })
}

pub(crate) fn check_file_name(name: &str) -> ApiResult<()> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.contains('/')
        || name.contains('\\')
        || name.contains('\0')
        || name.starts_with('.')
        || name.contains("..")
        || name.chars().any(|c| c.is_control());
    if bad {
        return Err(ApiError::bad_request(
            "bad_file_name",
            format!("file name `{}` is not allowed", name.escape_debug()),
            "upload plain file names such as `hello-1.0-2.noarch.rpm`, without path components",
        ));
    }
    if !name.ends_with(".rpm") {
        return Err(ApiError::bad_request(
            "bad_file_name",
            format!("`{name}` does not end in `.rpm`"),
            "only RPM packages can be pushed",
        ));
    }
    Ok(())
}

/// An upload in `incoming/`: the file is removed when this is dropped, which is
/// every way out of the handler except the rename into `blobs/` (then `kept`).
struct PartialUpload {
    path: std::path::PathBuf,
    kept: bool,
}

impl Drop for PartialUpload {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // Synchronous on purpose: it also runs when the handler future is dropped.
        if let Err(e) = fs_err::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %e, "cannot remove a refused upload");
            }
        }
    }
}

/// 422 for a package whose file name another push holds in other bytes.
pub(crate) fn package_held(
    nevra: &str,
    sha256: &str,
    held: &crate::origin::store::PackageHeld,
) -> ApiError {
    let verb = if held.push_state == "published" && held.advisory_state == "live" {
        "is live"
    } else {
        "is staged"
    };
    ApiError::unprocessable(
        "package_conflict",
        format!(
            "package `{nevra}` {verb} in advisory `{}` (push {}, {}) with different content: sha256 `{}` there, `{sha256}` here; clients would see two packages under one name",
            held.advisory_id, held.push_id, held.push_state, held.sha256
        ),
        format!(
            "retire `{}` first (`hotpush retire {}`), or bump the Release in the spec file and rebuild; to add the same package again upload the identical bytes",
            held.advisory_id, held.advisory_id
        ),
    )
}

pub(crate) fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the package is larger than the limit of {limit} bytes"),
        "raise `intake.package_bytes_max` in hotpush.toml if this package is genuine",
    )
}

pub(crate) async fn receive_to_file(
    body: Body,
    path: &std::path::Path,
    limit: u64,
) -> ApiResult<u64> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(anyhow::Error::from)?;
    let mut stream = body.into_data_stream();
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "upload_interrupted",
                format!("the upload was interrupted: {e}"),
                "upload the file again",
            )
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        file.write_all(&chunk).await.map_err(anyhow::Error::from)?;
    }
    // tokio's File reports the error of its last background write on
    // `flush`, not on `sync_all`: without this a full disk left an empty file.
    file.flush().await.map_err(anyhow::Error::from)?;
    file.sync_all().await.map_err(anyhow::Error::from)?;
    Ok(size)
}
