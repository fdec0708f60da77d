//! Shared start-up helpers for the benchmark peer echo servers.
//!
//! Every peer binary is invoked as `BIN PORT`, binds `127.0.0.1:PORT` and
//! echoes text and binary WebSocket messages back unchanged until killed.

use std::net::{Ipv4Addr, SocketAddr};

/// Parses the single `PORT` argument and returns the loopback address to bind.
///
/// Exits the process with a usage message when the argument is missing or invalid.
pub fn listen_addr_from_args() -> SocketAddr {
    let mut args = std::env::args();
    let bin = args.next().unwrap_or_else(|| "echo".into());
    match (args.next().map(|p| p.parse::<u16>()), args.next()) {
        (Some(Ok(port)), None) => SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        _ => {
            eprintln!("usage: {bin} PORT");
            std::process::exit(2);
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit so that idle-connection
/// runs (10,000 sockets) are not capped by the usual soft limit of 1,024.
pub fn raise_fd_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("warning: could not raise the open-file limit: {e}");
    }
}
