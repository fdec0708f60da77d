//! The one Redis query of the generator: how many PUBLISH calls a Redis
//! server has run (`INFO commandstats`, line `cmdstat_publish:calls=N,...`),
//! read before and after the measured phase of an `io-cluster` run. A plain
//! blocking exchange over loopback: it runs twice per run, outside the load.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long the query may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest `INFO commandstats` reply accepted.
const MAX_REPLY: usize = 1 << 20;

/// PUBLISH calls run so far by the Redis server at `addr` (`HOST:PORT`).
pub fn publish_calls(addr: &str) -> Result<u64, String> {
    let fail = |e: &dyn std::fmt::Display| format!("redis {addr}: {e}");
    let mut stream = TcpStream::connect(addr).map_err(|e| fail(&e))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| fail(&e))?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| fail(&e))?;
    stream
        .write_all(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        .map_err(|e| fail(&e))?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(body) = bulk_string(&reply).map_err(|e| fail(&e))? {
            return Ok(publish_calls_in(body));
        }
        if reply.len() > MAX_REPLY {
            return Err(fail(&"INFO reply too long"));
        }
        let n = stream.read(&mut chunk).map_err(|e| fail(&e))?;
        if n == 0 {
            return Err(fail(&"connection closed before the INFO reply"));
        }
        reply.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// The body of a complete RESP bulk string (`$LEN\r\nBODY\r\n`), `None`
/// while incomplete; an error reply (`-ERR ...`) or another type is an error.
fn bulk_string(reply: &[u8]) -> Result<Option<&str>, String> {
    let Some(end) = reply.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(reply.get(..end).unwrap_or_default())
        .map_err(|_| "reply is not UTF-8".to_string())?;
    let len: usize = match head.strip_prefix('$') {
        Some(len) => len
            .parse()
            .map_err(|_| format!("bad bulk length {head:?}"))?,
        None => return Err(format!("unexpected reply {head:?}")),
    };
    match reply.get(end + 2..end + 2 + len) {
        Some(body) => std::str::from_utf8(body)
            .map(Some)
            .map_err(|_| "reply is not UTF-8".to_string()),
        None => Ok(None),
    }
}

/// The `calls` of `cmdstat_publish` in an `INFO commandstats` text; 0 when
/// the line is absent (Redis lists only the commands it has run).
fn publish_calls_in(info: &str) -> u64 {
    info.lines()
        .find_map(|l| l.trim_end().strip_prefix("cmdstat_publish:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Commandstats\r\n\
        cmdstat_ping:calls=3,usec=4,usec_per_call=1.33,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_publish:calls=12345,usec=9000,usec_per_call=0.73,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_publishx:calls=7,usec=1,usec_per_call=0.1,rejected_calls=0,failed_calls=0\r\n";

    #[test]
    fn reads_the_publish_line_only() {
        assert_eq!(publish_calls_in(INFO), 12345);
        assert_eq!(
            publish_calls_in("# Commandstats\r\ncmdstat_ping:calls=3\r\n"),
            0
        );
    }

    #[test]
    fn waits_for_the_whole_bulk_string() {
        let reply = format!("${}\r\n{INFO}\r\n", INFO.len());
        let bytes = reply.as_bytes();
        assert_eq!(bulk_string(&bytes[..3]), Ok(None));
        assert_eq!(bulk_string(&bytes[..bytes.len() - 10]), Ok(None));
        assert_eq!(bulk_string(bytes), Ok(Some(INFO)));
    }

    #[test]
    fn refuses_an_error_reply() {
        assert!(bulk_string(b"-ERR unknown command\r\n").is_err());
        assert!(bulk_string(b"$x\r\n").is_err());
    }
}
