//! The `socketeer` command.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "socketeer",
    version,
    about = "Real-time WebSocket and Socket.IO toolkit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the chat demo server (Socket.IO; not yet available).
    Serve {
        /// Port to listen on.
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { host, port } => {
            eprintln!(
                "socketeer serve: the Socket.IO chat demo is not implemented yet (would listen on {host}:{port}).\n\
                 Try the WebSocket echo server: cargo run --release --example echo -- 9001"
            );
            std::process::ExitCode::from(2)
        }
    }
}
