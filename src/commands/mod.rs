//! One module per command: each owns its clap `Args` and its `run`. `cli.rs` only
//! dispatches. Commands may import every other layer.

pub mod advisory;
pub mod announce;
pub mod approve;
pub mod cancel;
pub mod client;
pub mod createrepo;
pub mod demo;
pub mod doctor;
pub mod keys;
pub mod push;
pub mod receive;
pub mod repofile;
pub mod retire;
pub mod serve;
pub mod sop;
pub mod status;
pub mod verify;
