//! The `hotpush` binary: parse the command line, set up logging, run, and map the
//! outcome to an exit code (0 ok, 1 user error, 2 unexpected).
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hotpush::cli::Cli::parse();
    hotpush::logging::init(cli.verbose);
    match hotpush::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            hotpush::logging::report(&err);
            ExitCode::from(hotpush::logging::exit_code(&err))
        }
    }
}
