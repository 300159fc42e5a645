//! The one integration-test binary; each module covers one area. Tests start the
//! real `hotpush` binary, real dnf, createrepo_c, rsync and ssh on loopback only.
#![allow(unreachable_pub)]

mod config;
mod createrepo;
mod dashboard;
mod fixtures;
mod intake;
mod metalink;
mod origin;
mod repodata;
mod signing;
mod sop;
mod support;
mod verify;
