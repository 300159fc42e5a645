//! The pure core: values in, values out. No file system, no network, no clock,
//! no database: RPM parsing and signature checks, repodata, the metalink, repo
//! signing, the announcement, the client `.repo` file, the SOP templates and
//! checklist, the `-repos` RPM, the partner wire protocol, the JSON wire types,
//! the repository identity, the publisher's plan, the advisory text rules and
//! the build-system trigger's URL rules.
//! Imports only `core` (and the cross-cutting error type in `crate::logging`).

pub mod advisory;
pub mod announce;
pub mod api;
pub mod metalink;
pub mod plan;
pub mod protocol;
pub mod repo;
pub mod repodata;
pub mod repofile;
pub mod reposrpm;
pub mod rpm;
pub mod signing;
pub mod sop;
pub mod trigger;
pub mod webhook;
