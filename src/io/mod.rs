//! The shared I/O building blocks, one copy each: atomic writes with a directory
//! fsync (`fs`), the HTTP client builder and capped fetch (`http`), the one HTTP
//! error body of both services (`http_error`), trusted-key files (`keys`), the
//! `/pub` file responder (`pub_files`), the secret-file policy (`secret`), the
//! listeners' accept loop with its timeouts and connection cap (`serve`), the
//! read path's fast lane past hyper (`lane`) and the
//! per-address limit on bad authentication (`auth_limit`).
//! Imports `core` and `logging` only.

pub mod auth_limit;
pub mod etag;
pub mod fs;
pub mod http;
pub mod http_error;
pub mod keys;
pub mod lane;
pub mod pub_files;
pub mod secret;
pub mod serve;
