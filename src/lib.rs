//! hotpush: the library behind the `hotpush` binary. See ARCHITECTURE.md for the
//! layers (`core`, `io`, `origin`, `partner`, `commands`), which may import which,
//! and the invariants they keep.

pub mod cli;
pub mod commands;
pub mod core;
pub mod io;
pub mod logging;
pub mod origin;
pub mod partner;
