//! `socketeer serve`: the chat demo (not implemented yet).

use std::process::ExitCode;

/// Command-line arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Port to listen on.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    eprintln!(
        "socketeer serve: the Socket.IO chat demo is not implemented yet (would listen on {}:{}).",
        args.host, args.port
    );
    ExitCode::from(2)
}
