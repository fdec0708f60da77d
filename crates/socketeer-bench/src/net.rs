//! Connecting (several loopback source addresses, bind before connect) and
//! the client side of RFC 6455 reduced to what a load generator needs: the
//! opening handshake over a raw `TcpStream`, pre-built masked frames, and a
//! zero-copy parser for the unmasked frames a server sends.
//!
//! The generator uses its own framing rather than `socketeer-ws`, so that it
//! can batch and pre-mask frames and read without copying; the protocol is
//! small enough at this end (the server's side is the one under test).

use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Largest frame accepted from a server (and, over long-polling, largest
/// response body).
pub const MAX_FRAME: usize = 1 << 20;

/// Frame opcodes (RFC 6455 §5.2).
pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;
/// The RSV1 bit of the first header byte: a compressed message
/// (permessage-deflate, RFC 7692 §6).
pub const RSV1: u8 = 0x40;

/// The sample nonce of RFC 6455 §1.3. Servers only hash the key, so one fixed
/// key is as good as a random one, and its accept value is known without SHA-1.
const HANDSHAKE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const HANDSHAKE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// Largest response head accepted (handshake or HTTP response).
pub const MAX_HEAD: usize = 16 * 1024;

/// Where to connect: a `ws://host:port/path` (or `http://`, or with TLS
/// `wss://` and `https://`) URL taken apart.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port`, used as the `Host` header.
    pub authority: String,
    /// `host` alone: the TLS server name.
    pub host: String,
    /// Request path (with query), `/` when the URL has none.
    pub path: String,
    /// `wss://` or `https://`.
    pub tls: bool,
}

impl Target {
    /// Parses `ws://HOST:PORT[/PATH]` or `http://HOST:PORT[/PATH]` (no TLS;
    /// an explicit port is required).
    pub fn parse(url: &str) -> Result<Target, String> {
        let target = Target::parse_any(url)?;
        if target.tls {
            return Err(format!(
                "{url:?}: this scenario has no TLS (only ws-echo, io-echo and handshakes do)"
            ));
        }
        Ok(target)
    }

    /// Parses a URL as [`parse`](Self::parse) does, and also `wss://` and
    /// `https://` ones.
    pub fn parse_any(url: &str) -> Result<Target, String> {
        let (tls, rest) = if let Some(rest) = url
            .strip_prefix("ws://")
            .or_else(|| url.strip_prefix("http://"))
        {
            (false, rest)
        } else if let Some(rest) = url
            .strip_prefix("wss://")
            .or_else(|| url.strip_prefix("https://"))
        {
            (true, rest)
        } else {
            return Err(format!(
                "{url:?}: only ws://, wss://, http:// and https:// URLs are supported"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, "/"),
        };
        let Some((host, _port)) = authority.rsplit_once(':') else {
            return Err(format!("{url:?}: the URL needs an explicit port"));
        };
        Ok(Target {
            authority: authority.to_string(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            path: path.to_string(),
            tls,
        })
    }
}

/// Opens TCP connections to one server, spreading them over several loopback
/// source addresses (`127.0.0.1` to `127.0.0.N`, bound before connecting)
/// so that more connections can be open than one address has ephemeral ports.
///
/// With several source addresses the source port is picked here, cycling
/// through the ephemeral range, and bound with `SO_REUSEADDR`: a bind to
/// port 0 makes the kernel scan the range for a port with no socket at all,
/// which gets slow (seconds of system time per thousand connections) once
/// earlier runs have left tens of thousands of sockets in TIME_WAIT. A port
/// whose 4-tuple is still taken fails at `connect` and the next one is tried.
pub struct Connector {
    server: SocketAddr,
    sources: Vec<Ipv4Addr>,
    next: Cell<usize>,
    /// First ephemeral port and the size of the range.
    port_base: u16,
    port_span: usize,
    /// Where in the range this connector starts, so that back-to-back runs
    /// do not retrace each other's ports.
    port_offset: usize,
}

/// Source ports tried per connection before giving up.
const PORT_ATTEMPTS: usize = 64;

/// The kernel's ephemeral port range (`32768 60999` when unreadable).
fn ephemeral_ports() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .filter(|(lo, hi)| lo <= hi)
        .unwrap_or((32768, 60999))
}

impl Connector {
    /// Resolves `target` and prepares `source_addrs` source addresses (1 means
    /// the kernel's choice, without binding).
    pub async fn new(target: &Target, source_addrs: u8) -> Result<Connector, String> {
        let server = tokio::net::lookup_host(&target.authority)
            .await
            .map_err(|e| format!("resolve {}: {e}", target.authority))?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(|| format!("{}: no IPv4 address", target.authority))?;
        let sources = if source_addrs > 1 {
            if !server.ip().is_loopback() {
                return Err("--source-addrs needs a loopback server address".into());
            }
            (1..=source_addrs)
                .map(|n| Ipv4Addr::new(127, 0, 0, n))
                .collect()
        } else {
            Vec::new()
        };
        let (lo, hi) = ephemeral_ports();
        let port_span = usize::from(hi - lo) + 1;
        let mut seed = [0u8; 4];
        let _ = getrandom::fill(&mut seed);
        Ok(Connector {
            server,
            sources,
            next: Cell::new(0),
            port_base: lo,
            port_span,
            port_offset: u32::from_ne_bytes(seed) as usize % port_span,
        })
    }

    /// Connects (with `TCP_NODELAY`: the generator batches its writes itself).
    pub async fn connect(&self) -> Result<TcpStream, String> {
        let stream = if self.sources.is_empty() {
            TcpStream::connect(self.server)
                .await
                .map_err(|e| format!("connect to {}: {e}", self.server))?
        } else {
            self.connect_from_sources().await?
        };
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(stream)
    }

    async fn connect_from_sources(&self) -> Result<TcpStream, String> {
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let n = self.next.get();
            self.next.set(n.wrapping_add(1));
            let source = self.sources[n % self.sources.len()];
            // Each address walks the range on its own: the port advances
            // once per round over the addresses.
            let step = (n / self.sources.len() + self.port_offset) % self.port_span;
            let port = self.port_base + step as u16;
            let local = SocketAddr::V4(SocketAddrV4::new(source, port));
            let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
            socket
                .set_reuseaddr(true)
                .map_err(|e| format!("SO_REUSEADDR: {e}"))?;
            if let Err(e) = socket.bind(local) {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    last_error = format!("bind {local}: {e}");
                    continue;
                }
                return Err(format!("bind {local}: {e}"));
            }
            match socket.connect(self.server).await {
                Ok(stream) => return Ok(stream),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::AddrInUse | std::io::ErrorKind::AddrNotAvailable
                    ) =>
                {
                    last_error = format!("connect from {local}: {e}");
                }
                Err(e) => return Err(format!("connect to {}: {e}", self.server)),
            }
        }
        Err(format!(
            "connect to {}: no free source port in {PORT_ATTEMPTS} tries ({last_error})",
            self.server
        ))
    }
}

/// Performs the WebSocket opening handshake on `stream` and checks for `101`
/// with the expected `Sec-WebSocket-Accept`. Returns any bytes received
/// after the response head.
pub async fn ws_handshake<S>(stream: &mut S, target: &Target) -> Result<Vec<u8>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    Ok(ws_handshake_with(stream, target, None).await?.0)
}

/// [`ws_handshake`] with a `Sec-WebSocket-Extensions` offer; also returns
/// the server's `Sec-WebSocket-Extensions` response value, if any.
pub async fn ws_handshake_with<S>(
    stream: &mut S,
    target: &Target,
    extensions: Option<&str>,
) -> Result<(Vec<u8>, Option<String>), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let offer = extensions
        .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {HANDSHAKE_KEY}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n",
        target.path, target.authority
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send handshake: {e}"))?;
    let mut buf = Vec::with_capacity(1024);
    let head_len = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err("handshake response head too long".into());
        }
        buf.reserve(1024);
        let n = stream
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("read handshake: {e}"))?;
        if n == 0 {
            return Err("server closed during the handshake".into());
        }
    };
    let head = buf.get(..head_len).unwrap_or_default();
    check_handshake_response(head)?;
    let extensions = header_value(head, "sec-websocket-extensions");
    Ok((buf.split_off(head_len), extensions))
}

/// The value of header `name` (lower case) in a response head, if present.
fn header_value(head: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(head)
        .split("\r\n")
        .skip(1)
        .find_map(|line| {
            let (n, value) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
}

/// Validates the response head: status 101 and the right accept value.
fn check_handshake_response(head: &[u8]) -> Result<(), String> {
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("101") {
        return Err(format!("handshake refused: {status:?}"));
    }
    let accept = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-accept")
            .then(|| value.trim())
    });
    if accept != Some(HANDSHAKE_ACCEPT) {
        return Err(format!("bad Sec-WebSocket-Accept: {accept:?}"));
    }
    Ok(())
}

/// Appends one complete (FIN) client frame, masked with `mask` as clients must.
pub fn push_masked_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.reserve(payload.len() + 14);
    out.push(0x80 | opcode);
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
}

/// One complete client frame (see [`push_masked_frame`]).
pub fn masked_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::new();
    push_masked_frame(&mut frame, opcode, payload, mask);
    frame
}

/// A masked close frame with status 1000 (normal closure).
pub fn close_frame(mask: [u8; 4]) -> Vec<u8> {
    masked_frame(OP_CLOSE, &1000u16.to_be_bytes(), mask)
}

/// Header length (with the mask) of a masked client frame.
pub fn client_header_len(frame: &[u8]) -> usize {
    match frame.get(1).map(|b| b & 0x7F) {
        Some(126) => 8,
        Some(127) => 14,
        _ => 6,
    }
}

/// Length of the unmasked, unfragmented frame a server sends for a
/// `payload_len`-byte message.
pub fn server_frame_len(payload_len: usize) -> usize {
    payload_len
        + match payload_len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        }
}

/// Header of one server frame found at the start of a buffer.
#[derive(Clone, Copy, Debug)]
pub struct FrameHead {
    pub fin: bool,
    /// RSV1: the first frame of a compressed message.
    pub rsv1: bool,
    pub opcode: u8,
    /// Bytes of header before the payload.
    pub header_len: usize,
    pub payload_len: usize,
}

impl FrameHead {
    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        self.header_len + self.payload_len
    }
}

/// Parses the frame at the start of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold the whole frame, and an
/// error for frames a server must not send (masked, reserved bits, unknown
/// opcodes) or longer than `max_payload`.
pub fn parse_frame(buf: &[u8], max_payload: usize) -> Result<Option<FrameHead>, String> {
    parse_frame_ext(buf, max_payload, false)
}

/// [`parse_frame`], accepting RSV1 (`FrameHead::rsv1`) when `rsv1_allowed`
/// (permessage-deflate was negotiated).
pub fn parse_frame_ext(
    buf: &[u8],
    max_payload: usize,
    rsv1_allowed: bool,
) -> Result<Option<FrameHead>, String> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return Ok(None),
    };
    let reserved = if rsv1_allowed { 0x30 } else { 0x70 };
    if b0 & reserved != 0 {
        return Err(format!("reserved bits set in frame header {b0:#04x}"));
    }
    if b1 & 0x80 != 0 {
        return Err("server sent a masked frame".into());
    }
    let opcode = b0 & 0x0F;
    if !matches!(
        opcode,
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    ) {
        return Err(format!("unknown opcode {opcode:#x}"));
    }
    let (header_len, payload_len) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(&[a, b]) => (4, u16::from_be_bytes([a, b]) as usize),
            _ => return Ok(None),
        },
        127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => (
                10,
                usize::try_from(u64::from_be_bytes(b)).map_err(|_| "frame length overflow")?,
            ),
            None => return Ok(None),
        },
        len => (2, len as usize),
    };
    if payload_len > max_payload {
        return Err(format!(
            "server frame of {payload_len} bytes (limit {max_payload})"
        ));
    }
    let head = FrameHead {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & RSV1 != 0,
        opcode,
        header_len,
        payload_len,
    };
    Ok((buf.len() >= head.total_len()).then_some(head))
}

/// `--size` bytes of printable ASCII (valid as text and inside a JSON string).
pub fn filler(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connector_spreads_source_addresses_and_skips_a_taken_port() {
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = Target::parse(&format!("ws://{}", server.local_addr().unwrap())).unwrap();
        let mut connector = Connector::new(&target, 2).await.unwrap();
        // A port with a listening socket where the first connection would
        // bind: that connection must move on to another port.
        let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = blocker.local_addr().unwrap().port();
        connector.port_base = taken;
        connector.port_span = (usize::from(u16::MAX - taken) + 1).min(1000);
        connector.port_offset = 0;
        let accept = tokio::spawn(async move {
            let mut peers = Vec::new();
            for _ in 0..20 {
                peers.push(server.accept().await.unwrap());
            }
            peers
        });
        let mut locals = std::collections::HashSet::new();
        let mut streams = Vec::new();
        for _ in 0..20 {
            let stream = connector.connect().await.unwrap();
            let local = stream.local_addr().unwrap();
            assert_ne!(local, blocker.local_addr().unwrap());
            assert!(locals.insert(local), "{local} used twice");
            streams.push(stream);
        }
        let sources: std::collections::HashSet<_> = locals.iter().map(|a| a.ip()).collect();
        assert_eq!(sources.len(), 2);
        assert_eq!(accept.await.unwrap().len(), 20);
    }

    #[test]
    fn frames_round_trip_through_the_parser_after_unmasking() {
        for len in [0, 1, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mask = [1, 2, 3, 4];
            let mut frame = masked_frame(OP_BINARY, &payload, mask);
            // Turn it into the unmasked frame a server would send.
            let header_len = frame.len() - len - 4;
            frame[1] &= 0x7F;
            frame.drain(header_len..header_len + 4);
            for (b, m) in frame[header_len..].iter_mut().zip(mask.iter().cycle()) {
                *b ^= m;
            }
            assert_eq!(frame.len(), server_frame_len(len));
            let head = parse_frame(&frame, usize::MAX).unwrap().unwrap();
            assert!(head.fin);
            assert_eq!(head.opcode, OP_BINARY);
            assert_eq!(head.payload_len, len);
            assert_eq!(&frame[head.header_len..], &payload[..]);
            assert!(parse_frame(&frame[..frame.len() - 1], usize::MAX)
                .unwrap()
                .is_none());
            if len > 10 {
                assert!(parse_frame(&frame, 10).is_err());
            }
        }
    }

    #[test]
    fn rejects_masked_and_reserved_server_frames() {
        assert!(parse_frame(&masked_frame(OP_TEXT, b"x", [0; 4]), 100).is_err());
        assert!(parse_frame(&[0xC1, 0x00], 100).is_err());
        assert!(parse_frame(&[0x83, 0x00], 100).is_err());
        assert!(parse_frame(&[0x81], 100).unwrap().is_none());
    }

    #[test]
    fn handshake_response_checks() {
        let ok = format!(
            "HTTP/1.1 101 Switching Protocols\r\nsec-websocket-accept: {HANDSHAKE_ACCEPT}\r\n\r\n"
        );
        assert!(check_handshake_response(ok.as_bytes()).is_ok());
        assert!(check_handshake_response(b"HTTP/1.1 400 Bad Request\r\n\r\n").is_err());
        let bad = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope\r\n\r\n";
        assert!(check_handshake_response(bad.as_bytes()).is_err());
    }

    #[test]
    fn parses_urls() {
        let t = Target::parse("ws://127.0.0.1:9000").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:9000", "/")
        );
        let t = Target::parse("http://localhost:1/a/b?x=1").unwrap();
        assert_eq!(t.path, "/a/b?x=1");
        assert!(!t.tls);
        assert!(Target::parse("https://x:1").is_err());
        let t = Target::parse_any("wss://localhost:8443/echo").unwrap();
        assert!(t.tls);
        assert_eq!(
            (t.authority.as_str(), t.host.as_str(), t.path.as_str()),
            ("localhost:8443", "localhost", "/echo")
        );
        assert!(Target::parse_any("https://127.0.0.1:1").unwrap().tls);
        assert!(Target::parse_any("ftp://x:1").is_err());
        assert!(Target::parse("ws://x").is_err());
    }
}
