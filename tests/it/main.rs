//! The one integration-test binary; each module covers one area. Tests start the
//! real `hotpush` binary, real dnf, createrepo_c, rsync and ssh on loopback only.
mod createrepo;
mod dnf_repodata;
mod intake;
mod repodata;
mod support;
