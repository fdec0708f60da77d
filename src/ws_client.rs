//! `socketeer ws`: not implemented yet.

use std::process::ExitCode;

/// Command-line arguments.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("socketeer: this subcommand is not implemented yet");
    ExitCode::from(2)
}
