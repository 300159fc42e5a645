//! The shared I/O building blocks, one copy each: atomic writes with a directory
//! fsync, capped HTTP fetches and the HTTP client builder, the secret-file policy,
//! and the `/pub` file responder. Imports `core` only.

pub mod secret;
