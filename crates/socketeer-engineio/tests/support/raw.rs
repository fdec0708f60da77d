//! Raw clients for the flood tests: a request head or a WebSocket frame
//! written by hand on a plain TCP connection, and what the process holds
//! (RSS, open TCP sockets) to check that a flood left nothing behind.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The polling handshake, closing the connection after the answer.
pub const POLLING: &[u8] = b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\n\
Host: 127.0.0.1\r\nConnection: close\r\n\r\n";

/// The WebSocket handshake.
pub const WEBSOCKET: &[u8] = b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n\
Host: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// Reads from `tcp` into `buf` until `done` says it has enough, the peer
/// closes or `limit` passes. Whether `done` was reached.
pub async fn read_until(
    tcp: &mut TcpStream,
    buf: &mut Vec<u8>,
    limit: Duration,
    done: impl Fn(&[u8]) -> bool,
) -> bool {
    let read = async {
        let mut chunk = [0u8; 4096];
        while !done(buf) {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    };
    tokio::time::timeout(limit, read).await.unwrap_or(false)
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Opens an Engine.IO session with `request` (polling or WebSocket) and
/// reads up to its OPEN packet: the connection, and what was read.
pub async fn open(
    addr: SocketAddr,
    request: &[u8],
    limit: Duration,
) -> Option<(TcpStream, Vec<u8>)> {
    let mut tcp = tokio::time::timeout(limit, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    tcp.write_all(request).await.ok()?;
    let mut buf = Vec::new();
    // The sid's end: the OPEN packet is in.
    let opened = |b: &[u8]| contains(b, b"\"upgrades\"");
    read_until(&mut tcp, &mut buf, limit, opened)
        .await
        .then_some((tcp, buf))
}

/// A masked client frame (`fin` set) with `opcode` and `payload` (under
/// 126 bytes).
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The status code of the first close frame in `bytes` (server frames,
/// unmasked, after the upgrade response), if one is there whole.
pub fn close_code(bytes: &[u8]) -> Option<u16> {
    let head = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let mut rest = &bytes[head..];
    while rest.len() >= 2 {
        let opcode = rest[0] & 0x0f;
        let (len, start) = match rest[1] & 0x7f {
            126 if rest.len() >= 4 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        let frame = rest.get(start..start + len)?;
        if opcode == 0x8 {
            return (len >= 2).then(|| u16::from_be_bytes([frame[0], frame[1]]));
        }
        rest = &rest[start + len..];
    }
    None
}

/// This process's resident set, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// How many TCP sockets with an open descriptor have `port` at one end
/// (both ends of each connection to a server on `port` in this process,
/// and its listener), from `/proc/net/tcp`. Counting the process's
/// descriptors instead would count those other tests' runtimes open and
/// close meanwhile.
pub fn tcp_sockets(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/self/net/tcp").expect("/proc/self/net/tcp");
    let port_of = |address: &str| {
        let hex = address.rsplit(':').next()?;
        u16::from_str_radix(hex, 16).ok()
    };
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local, remote, ..., inode (0: no descriptor, as in TIME_WAIT)
            fields.len() > 9
                && fields[9] != "0"
                && (port_of(fields[1]) == Some(port) || port_of(fields[2]) == Some(port))
        })
        .count()
}
