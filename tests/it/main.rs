//! The one integration-test binary; each module covers one area. Tests start the
//! real `hotpush` binary, real dnf, createrepo_c, rsync and ssh on loopback only.
#![allow(
    unreachable_pub,
    clippy::type_complexity,
    clippy::field_reassign_with_default
)]

mod advisory_cli;
mod announce;
mod api;
mod approve;
mod cancel;
mod client_input;
mod common;
mod config;
mod createrepo;
mod dashboard;
mod demo;
mod dnf_repodata;
mod doctor;
mod embargo;
mod hardening;
mod hooks;
mod hostile;
mod intake;
mod keys;
mod lane;
mod last_mile;
mod manifest;
mod metalink;
mod mirrors_e2e;
mod origin;
mod partner;
mod partner_nginx;
mod push_progress;
mod readpath;
mod repo_key;
mod repodata;
mod reposrpm;
mod retirement;
mod rsync;
mod server;
mod signing;
mod sop;
mod tidy;
mod trigger;
mod verify;
mod webhooks;
mod zypper;
