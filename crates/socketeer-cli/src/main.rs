//! The `socketeer` command: the chat demo server, interactive clients and
//! the load generator.

#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

mod io_client;
mod serve;
mod ws_client;

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
    /// Run the chat demo server (Socket.IO, with the web page).
    Serve(serve::Args),
    /// Interactive Socket.IO client: stdin lines `EVENT JSON_ARRAY` are emitted.
    Io(io_client::Args),
    /// Interactive WebSocket client: stdin lines are sent as messages.
    Ws(ws_client::Args),
    /// Load generator: WebSocket and Socket.IO scenarios.
    Bench(socketeer_bench::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Io(args) => io_client::run(args),
        Command::Ws(args) => ws_client::run(args),
        Command::Bench(args) => socketeer_bench::run(args),
    }
}
