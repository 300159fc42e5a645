//! The upload half of the intake: file-name rules, streaming a body to
//! `incoming/` under the size limit, removing it on every way out, and the
//! errors an upload is refused with. The package checks themselves are the
//! shared intake's (`origin::intake::admit`, which a trigger's fetch uses too).
use axum::body::Body;
use axum::http::StatusCode;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::core::api::PushPackageView;
use crate::core::rpm::IntakeError;
use crate::io::http_error::ApiError;
use crate::origin::app::App;
use crate::origin::intake::{admit, Incoming, Refusal};
use crate::origin::store::TokenOwner;

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
    let partial = Incoming::new(app, &push_id.to_string());
    let size = receive_to_file(body, partial.path(), limit)
        .await
        .map_err(refuse)?;
    let view = match admit(app, push_id, partial, size, &file_name, None, "uploading").await? {
        Ok(view) => view,
        Err(Refusal::BadPackage(e)) => {
            app.store.audit(
                &owner.user,
                "upload-refused",
                &format!("push {push_id}: {file_name}"),
                false,
                &e.to_string(),
                &remote.ip().to_string(),
            )?;
            return Err(bad_package(&file_name, &e));
        }
        Err(refusal) => return Err(refuse(refused(app, push_id, &file_name, refusal)?)),
    };
    app.emit(
        "package-uploaded",
        format!("push {push_id}: {} uploaded and verified", view.nevra),
        Some(push_id),
        Some(push.advisory_id.clone()),
    );
    Ok(view)
}

/// 422 for a package `core::rpm::read_package` refused, with the fix for
/// someone uploading by hand.
fn bad_package(file_name: &str, e: &IntakeError) -> ApiError {
    let hint = match e {
        IntakeError::Unsigned => {
            "sign the package with the distribution key (`rpmsign --addsign`)"
        }
        IntakeError::UntrustedKey(_) => {
            "sign with a trusted key (`hotpush keys list`), or trust the signing key without a restart: `hotpush keys add FILE` (an admin; FILE from `gpg --armor --export KEYID`)"
        }
        IntakeError::BadIdentity(_) => {
            "fix Name/Version/Release/Epoch in the spec file and rebuild the package"
        }
        IntakeError::Malformed(_) => "upload the package exactly as rpmbuild and rpmsign wrote it",
        _ => "upload the exact signed RPM the build system produced",
    };
    ApiError::unprocessable("bad_package", format!("`{file_name}`: {e}"), hint)
}

/// The upload's answer to any other refusal of the shared intake.
fn refused(app: &App, push_id: i64, file_name: &str, refusal: Refusal) -> ApiResult<ApiError> {
    Ok(match refusal {
        Refusal::BadPackage(e) => bad_package(file_name, &e),
        Refusal::UnknownArch { arch } => ApiError::unprocessable(
            "unknown_arch",
            format!("`{file_name}` is for arch `{arch}`, which no repository here takes"),
            format!(
                "configured arches: {} (noarch goes to every binary arch, src to `source`)",
                app.config.repos.arches.join(", ")
            ),
        ),
        Refusal::Held {
            nevra,
            sha256,
            held,
        } => package_held(&nevra, &sha256, &held),
        // An upload declares nothing beyond its name, which is not binding.
        Refusal::NotDeclared {
            canonical,
            declared,
            ..
        } => ApiError::unprocessable(
            "bad_package",
            format!("`{file_name}` is `{canonical}`, not `{declared}`"),
            "upload the package that was declared",
        ),
        Refusal::Closed => {
            let state = app
                .store
                .push(push_id)?
                .map(|p| p.state)
                .unwrap_or_default();
            ApiError::conflict(
                format!("push {push_id} is `{state}`; it no longer takes packages"),
                "open a new push for more packages",
            )
        }
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
    use crate::io::fs::StreamStop;
    match crate::io::fs::stream_to_file(body.into_data_stream(), path, limit).await {
        Ok((size, _)) => Ok(size),
        Err(StreamStop::TooLarge) => Err(too_large(limit)),
        Err(StreamStop::Source(e)) => Err(ApiError::bad_request(
            "upload_interrupted",
            format!("the upload was interrupted: {e}"),
            "upload the file again",
        )),
        Err(StreamStop::Io(e)) => Err(anyhow::Error::from(e).into()),
    }
}
