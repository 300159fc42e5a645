//! Fixtures shared by the integration tests, in one place: test files import
//! helpers from here, never from each other.
#![allow(dead_code)]

pub mod conditional;
pub mod craft;
pub mod fixtures;
pub mod partner;
pub mod repo_files;
pub mod rpmbuild;
pub mod sshd;
pub mod static_server;
pub mod support;
pub mod test_app;
pub mod test_ca;
