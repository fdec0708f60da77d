//! The least a Socket.IO server can do for `socketeer bench io-echo` and
//! `io-broadcast`, as a floor for the servers' CPU and a ceiling for the
//! generator, over long-polling and over WebSocket:
//!
//! - hand-written HTTP/1.1 (request head found by its blank line,
//!   `Content-Length` bodies only, nothing else checked) and WebSocket
//!   (SHA-1 of the key, client frames unmasked, no fragmentation, UTF-8 or
//!   limit checks);
//! - the Engine.IO open packet, the namespace `/` CONNECT reply, and for
//!   each `42ID["message-with-ack",ARGS]` the ack `43ID[ARGS]`;
//! - over WebSocket, each `42["broadcast",...]` written as it came to every
//!   connected client, the sender too (`io-broadcast`, `io-fanout`);
//! - over polling, one session per TCP connection (the generator uses one
//!   keep-alive connection per session, a `POST` then a `GET` in turn).
//!
//! No heartbeat, no limits, no CORS, no rooms: nothing a real server must
//! do. What a real server costs beyond this is the most that any rewrite of
//! its HTTP or WebSocket path could save.
//!
//! Usage: `io-trivial PORT` (binds 127.0.0.1:PORT).

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use bench_peers::trivial_io::{answer, open_packet, SEPARATOR};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const BROADCAST: &[u8] = b"42[\"broadcast\",";

/// A WebSocket client: its stream, shared with the broadcasting tasks,
/// and what could not be written at once (written in order by one task).
struct Peer {
    stream: TcpStream,
    backlog: Mutex<Backlog>,
}

#[derive(Default)]
struct Backlog {
    bytes: Vec<u8>,
    flushing: bool,
}

type Peers = Arc<Mutex<Vec<Arc<Peer>>>>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    bench_peers::raise_fd_limit();
    let listener = TcpListener::bind(bench_peers::listen_addr_from_args()).await?;
    let peers: Peers = Arc::default();
    let mut next_sid = 0u64;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                next_sid += 1;
                let sid = format!("trivial{next_sid:012}");
                let peers = peers.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, sid, peers).await;
                });
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

async fn serve(mut stream: TcpStream, sid: String, peers: Peers) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut outbox: Vec<u8> = Vec::new();
    let mut response: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // One request: its head, then its Content-Length body.
        let (head_end, body_len) = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break (
                    i + 4,
                    header(&buf[..i], b"content-length").map_or(0, |v| {
                        std::str::from_utf8(v)
                            .ok()
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0)
                    }),
                );
            }
            if buf.len() > 64 * 1024 || stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        if let Some(key) = header(&buf[..head_end], b"sec-websocket-key") {
            let key = String::from_utf8_lossy(key).trim().to_string();
            buf.drain(..head_end);
            return websocket(stream, &key, sid, buf, peers).await;
        }
        while buf.len() < head_end + body_len {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let is_post = buf.starts_with(b"POST ");
        let has_sid = buf[..head_end].windows(5).any(|w| w == b"&sid=");
        let body = &buf[head_end..head_end + body_len];
        let reply: &[u8] = if is_post {
            for packet in body.split(|&b| b == SEPARATOR) {
                if let Some(answer) = answer(packet, &sid) {
                    if !outbox.is_empty() {
                        outbox.push(SEPARATOR);
                    }
                    outbox.extend_from_slice(&answer);
                }
            }
            b"ok"
        } else if !has_sid {
            outbox = open_packet(&sid);
            &[]
        } else if outbox.is_empty() {
            b"6" // nothing to say: a noop, so the client asks again
        } else {
            &[]
        };
        let body_out: &[u8] = if reply.is_empty() { &outbox } else { reply };
        response.clear();
        response.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n\
                 Content-Length: {}\r\n\r\n",
                body_out.len()
            )
            .as_bytes(),
        );
        response.extend_from_slice(body_out);
        if reply.is_empty() {
            outbox.clear();
        }
        stream.write_all(&response).await?;
        buf.drain(..head_end + body_len);
    }
}

/// The value of header `name` (lower case) in `head`.
fn header<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (n, value) = line.split_at(colon);
        n.eq_ignore_ascii_case(name).then_some(&value[1..])
    })
}

async fn websocket(
    mut stream: TcpStream,
    key: &str,
    sid: String,
    mut buf: Vec<u8>,
    peers: Peers,
) -> std::io::Result<()> {
    let accept = base64::engine::general_purpose::STANDARD
        .encode(Sha1::digest(format!("{key}{GUID}").as_bytes()));
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes();
    push_frame(&mut out, 0x1, &open_packet(&sid));
    stream.write_all(&out).await?;
    let peer = Arc::new(Peer {
        stream,
        backlog: Mutex::default(),
    });
    let mut joined = false;
    let result = async {
        loop {
            let mut pos = 0;
            out.clear();
            while let Some((opcode, header, len)) = bench_peers::client_frame(&buf[pos..]) {
                let mask: [u8; 4] = buf[pos + header - 4..pos + header].try_into().unwrap();
                let payload = &mut buf[pos + header..pos + header + len];
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= mask[i & 3];
                }
                pos += header + len;
                if opcode == 0x8 {
                    push_frame(&mut out, 0x8, &[]);
                    send(&peer, &out);
                    return Ok(());
                }
                if payload.starts_with(BROADCAST) {
                    let mut frame = Vec::with_capacity(payload.len() + 4);
                    push_frame(&mut frame, 0x1, payload);
                    for p in peers.lock().unwrap().iter() {
                        send(p, &frame);
                    }
                } else if let Some(answer) = answer(payload, &sid) {
                    if !joined {
                        joined = true;
                        peers.lock().unwrap().push(peer.clone());
                    }
                    push_frame(&mut out, 0x1, &answer);
                }
            }
            buf.drain(..pos);
            if !out.is_empty() {
                send(&peer, &out);
            }
            buf.reserve(4096);
            peer.stream.readable().await?;
            match peer.stream.try_read_buf(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
    .await;
    peers.lock().unwrap().retain(|p| !Arc::ptr_eq(p, &peer));
    result
}

/// Writes `bytes` to `peer` now if it can; what is left is written in
/// order by a task of its own.
fn send(peer: &Arc<Peer>, bytes: &[u8]) {
    let mut backlog = peer.backlog.lock().unwrap();
    if backlog.flushing {
        backlog.bytes.extend_from_slice(bytes);
        return;
    }
    let written = match peer.stream.try_write(bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(_) => return, // the reader sees the error
    };
    if written == bytes.len() {
        return;
    }
    backlog.bytes.extend_from_slice(&bytes[written..]);
    backlog.flushing = true;
    let peer = peer.clone();
    tokio::spawn(async move {
        loop {
            if peer.stream.writable().await.is_err() {
                return;
            }
            let mut backlog = peer.backlog.lock().unwrap();
            match peer.stream.try_write(&backlog.bytes) {
                Ok(n) => {
                    backlog.bytes.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            }
            if backlog.bytes.is_empty() {
                backlog.flushing = false;
                return;
            }
        }
    });
}

/// Appends an unmasked server frame.
fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}
