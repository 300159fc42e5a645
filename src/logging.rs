//! Logging set-up and the mapping of errors to messages and exit codes.
//!
//! Exit codes: 0 ok, 1 the user's input or a refusal ([`UserError`] anywhere in the
//! error chain), 2 anything unexpected.
use std::fmt;

use tracing_subscriber::EnvFilter;

/// An error caused by what the user asked for; carries an optional `hint:` line.
#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// Builds a user error with a hint saying what to do.
pub fn user_error(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    let hint = hint.into();
    anyhow::Error::new(UserError {
        message: message.into(),
        hint: (!hint.is_empty()).then_some(hint),
    })
}

/// An unexpected failure (exit 2) that still knows what to try: a server
/// error whose answer carried a hint.
#[derive(Debug)]
pub struct HintedError {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for HintedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HintedError {}

/// The hint of the first [`UserError`] or [`HintedError`] in the chain, if any.
pub fn hint_of(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|e| {
        if let Some(u) = e.downcast_ref::<UserError>() {
            u.hint.clone()
        } else {
            e.downcast_ref::<HintedError>().map(|h| h.hint.clone())
        }
    })
}

/// Logs to stderr; `RUST_LOG` overrides the level picked by `-v`.
pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "hotpush=info,warn",
        1 => "hotpush=debug,info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Prints an error and its causes to stderr, with any hint last.
pub fn report(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if let Some(hint) = hint_of(err) {
        eprintln!("hint: {hint}");
    }
}

/// 1 for user errors, 2 for everything else.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<UserError>()) {
        1
    } else {
        2
    }
}
