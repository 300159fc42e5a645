//! The one integration-test binary; each module covers one area. Tests start the
//! real `hotpush` binary, real dnf, createrepo_c, rsync and ssh on loopback only.
mod config;
mod metalink;
mod partner;
mod rsync;
mod signing;
mod support;
mod verify;
