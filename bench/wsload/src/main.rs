//! `wsload`: a batched WebSocket load generator for the socketeer benchmarks.
//!
//! It runs on one thread (tokio `current_thread` runtime) so that it can be
//! pinned to a single core, and it is built so as not to be the bottleneck:
//! the client handshake and the masked frames are produced by hand over a raw
//! `TcpStream`, every connection keeps `--depth` messages in flight, writes all
//! the frames it owes in ONE `write`, and parses every complete frame out of
//! each `read`.
//!
//! Subcommands (see `usage()`):
//! * `echo`: throughput, latency and CPU time per message against an echo server;
//! * `idle`: resident memory per idle, handshaken connection in the server;
//! * `io-echo`, `io-broadcast`: the same against a Socket.IO server (see `io`);
//! * `io-report`: Markdown tables for the Socket.IO runs;
//! * `report`: Markdown table of medians from the JSON lines of many runs;
//! * `free-port`: prints a currently free loopback TCP port.

mod args;
mod echo;
mod idle;
mod io;
mod procfs;
mod report;
mod ws;

use std::process::ExitCode;

fn usage() -> &'static str {
    "usage:
  wsload echo --url ws://127.0.0.1:PORT[/path] --server-pid PID
              [--conns 100] [--size 64] [--depth 4] [--warmup 2] [--duration 5]
              [--coalesce-us 50] [--no-refill-ahead] [--splice] [--text] [--label NAME] [--round N] [--json]
  wsload idle --url ws://127.0.0.1:PORT[/path] --server-pid PID
              [--conns 10000] [--rate 2000] [--hold 2] [--label NAME] [--json]
  wsload io-echo --url ws://127.0.0.1:PORT[/socket.io/] --server-pid PID
              [--conns 100] [--size 64] [--depth 1] [--warmup 2] [--duration 5]
              [--coalesce-us 50] [--label NAME] [--round N] [--json]
  wsload io-broadcast --url ws://127.0.0.1:PORT[/socket.io/] --server-pid PID
              [--conns 1000] [--size 64] [--window 4] [--warmup 2] [--duration 5]
              [--coalesce-us 50] [--label NAME] [--round N] [--json]
  wsload report FILE.jsonl
  wsload io-report FILE.jsonl
  wsload free-port

Durations are in seconds (fractions allowed). `--json` prints one JSON object
per run on stdout instead of a human-readable summary."
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let Some(command) = argv.next() else {
        eprintln!("{}", usage());
        return ExitCode::from(2);
    };
    let rest: Vec<String> = argv.collect();
    let outcome = match command.as_str() {
        "echo" => args::Args::parse(&rest).and_then(echo::main),
        "idle" => args::Args::parse(&rest).and_then(idle::main),
        "io-echo" => args::Args::parse(&rest).and_then(io::echo_main),
        "io-broadcast" => args::Args::parse(&rest).and_then(io::broadcast_main),
        "report" => report::main(&rest),
        "io-report" => io::report_main(&rest),
        "free-port" => free_port(),
        "-h" | "--help" | "help" => {
            println!("{}", usage());
            Ok(())
        }
        other => Err(format!("unknown subcommand {other:?}\n{}", usage())),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wsload {command}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a loopback port that was free a moment ago (the OS picks it).
fn free_port() -> Result<(), String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    println!("{port}");
    Ok(())
}

/// Raises the soft open-file limit to the hard limit (10,000 idle sockets
/// need more than the usual 1,024).
pub fn raise_fd_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("warning: could not raise the open-file limit: {e}");
    }
}

/// Builds the single-threaded runtime every scenario runs on.
///
/// With a non-zero `coalesce`, the thread sleeps that long each time it runs
/// out of work, just before it blocks in `epoll_wait`. Echoes that arrive
/// meanwhile are then picked up together: one wake-up, one `read` per
/// connection for a whole burst of frames and one `write` for all the frames
/// owed in return, instead of a full loopback `recv` + `send` per echo when
/// the server writes each frame on its own.
pub fn runtime(coalesce: std::time::Duration) -> Result<tokio::runtime::Runtime, String> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    if !coalesce.is_zero() {
        builder.on_thread_park(move || std::thread::sleep(coalesce));
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the tokio runtime: {e}"))
}
