//! The origin service (`hotpush serve`): configuration, the SQLite store, tokens
//! and the audit log, the publisher and its queue, the published tree, hooks, the
//! retirement watcher, the build-system trigger's fetch worker, partner sync, the HTTP surface and its HTTPS listener (`tls`). Imports `core` and
//! `io`; never `partner`, `commands` or the command-line parser.

pub mod app;
pub mod auth;
pub mod config;
pub mod hooks;
pub mod http;
pub mod intake;
pub mod jobs;
pub mod keys;
pub mod mail;
pub mod mirrors;
pub mod publish;
pub mod repo_keys;
pub mod retirement;
pub mod server;
pub mod store;
pub mod sync;
pub mod tls;
pub mod trigger;
pub mod webhooks;
