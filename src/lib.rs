//! hotpush: the library behind the `hotpush` binary. See ARCHITECTURE.md for the
//! map of modules and the invariants they keep.

pub mod announce;
pub mod app;
pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod createrepo;
pub mod demo;
pub mod doctor;
pub mod fanout;
pub mod hooks;
pub mod http;
pub mod jobs;
pub mod logging;
pub mod metalink;
pub mod mirrors;
pub mod publish;
pub mod push;
pub mod repodata;
pub mod repofile;
pub mod reposrpm;
pub mod retirement;
pub mod rpm;
pub mod server;
pub mod signing;
pub mod sop;
pub mod store;
pub mod verify;
