//! The client `.repo` file, rendered from `repo-templates/critical.repo.j2` with
//! the live configuration: the metalink first, a baseurl fallback on the partners
//! (R18: a metalink outage must not take dnf down), both signature checks on,
//! and a short `metadata_expire`. Pure.
use minijinja::{context, Environment};

use crate::core::api::StatusView;

/// The template shipped in the binary.
pub const TEMPLATE: &str = include_str!("../../repo-templates/critical.repo.j2");

/// The zypper template shipped in the binary.
pub const ZYPPER_TEMPLATE: &str = include_str!("../../repo-templates/critical.zypper.repo.j2");

/// How old dnf lets its cache of the critical repo get before it asks the
/// metalink again. The critical check refreshes the cache within minutes of a
/// push wherever it runs; this is the fallback for dnf runs where it does not
/// (containers, a disabled timer) and costs one metalink request (~1.2 KB plain,
/// ~3.4 KB over TLS) per dnf run at most every 5 minutes: at most 288 requests
/// and about 1 MB a day for a machine running dnf non-stop, a few requests a
/// day for a desktop (see BENCHMARKS.md, "The last mile").
pub const METADATA_EXPIRE: &str = "5m";

/// Renders the `.repo` text; `release` pins `$releasever` to one release.
pub fn render(status: &StatusView, release: Option<&str>) -> anyhow::Result<String> {
    render_with_keys(status, release, None)
}

/// Like [`render`], with `gpgkey=` naming `gpgkeys` instead of the origin's
/// `/keys/repo.asc` and `/keys/packages.asc` (e.g. installed `file://` paths, so
/// that clients verify even while the origin is down).
pub fn render_with_keys(
    status: &StatusView,
    release: Option<&str>,
    gpgkeys: Option<&[String]>,
) -> anyhow::Result<String> {
    let releasever = release.unwrap_or("$releasever");
    let origin = status.public_url.trim_end_matches('/');
    let channel = &status.channel;
    let mut baseurls: Vec<String> = status
        .partners
        .iter()
        .map(|p| {
            format!(
                "{}/{channel}/{releasever}/$basearch/",
                p.trim_end_matches('/')
            )
        })
        .collect();
    baseurls.push(format!("{origin}/pub/{channel}/{releasever}/$basearch/"));
    let mut env = Environment::new();
    env.add_template("repo", TEMPLATE)?;
    let text = env.get_template("repo")?.render(context! {
        channel => channel,
        public_url => origin,
        repo_id => format!("{channel}-updates"),
        name => format!("Critical security updates for release {releasever} - $basearch"),
        metalink => format!(
            "{origin}/metalink?repo={}{releasever}&arch=$basearch",
            status.metalink_repo_prefix
        ),
        baseurls => baseurls,
        gpgkeys => gpgkeys.map(<[String]>::to_vec).unwrap_or_else(|| {
            vec![format!("{origin}/keys/repo.asc"), format!("{origin}/keys/packages.asc")]
        }),
        metadata_expire => METADATA_EXPIRE,
    })?;
    Ok(format!("{}\n", text.trim_end()))
}

/// The `.repo` text for zypper (openSUSE, SLES). zypper reads `baseurl` only (it
/// uses a metalink only when there is no baseurl, and then does not check the
/// hashes it names), and tries the base URLs in order. The origin comes first:
/// it always serves the current revision, so a zypper client sees a fix as soon
/// as it is published, at the cost of sending every zypper client's metadata and
/// package downloads to the origin; the partners follow only as fallbacks (a
/// partner that is behind serves validly signed but older metadata, which is
/// better than none when the origin is down).
pub fn render_zypper(
    status: &StatusView,
    release: Option<&str>,
    gpgkeys: Option<&[String]>,
) -> anyhow::Result<String> {
    let releasever = release.unwrap_or("$releasever");
    let origin = status.public_url.trim_end_matches('/');
    let channel = &status.channel;
    let mut baseurls = vec![format!("{origin}/pub/{channel}/{releasever}/$basearch/")];
    baseurls.extend(status.partners.iter().map(|p| {
        format!(
            "{}/{channel}/{releasever}/$basearch/",
            p.trim_end_matches('/')
        )
    }));
    let mut env = Environment::new();
    env.add_template("repo", ZYPPER_TEMPLATE)?;
    let text = env.get_template("repo")?.render(context! {
        channel => channel,
        public_url => origin,
        repo_id => format!("{channel}-updates"),
        name => format!("Critical security updates for release {releasever} - $basearch"),
        baseurls => baseurls,
        gpgkeys => gpgkeys.map(<[String]>::to_vec).unwrap_or_else(|| {
            vec![format!("{origin}/keys/repo.asc"), format!("{origin}/keys/packages.asc")]
        }),
    })?;
    Ok(format!("{}\n", text.trim_end()))
}
