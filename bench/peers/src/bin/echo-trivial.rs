//! The least a WebSocket echo server can do, as a ceiling for the load
//! generator: a hand-written handshake (SHA-1 of the key, nothing else
//! checked), then per read, every complete client frame unmasked and
//! written back unmasked in ONE write. No library, no fragmentation or
//! UTF-8 checks, no limits. If `socketeer bench ws-echo` reaches more
//! messages per second against this server than against every real target,
//! the generator is not what limits the real targets.
//!
//! With `TLS_CERT` and `TLS_KEY` set it serves `wss://` behind
//! tokio-rustls (socketeer's rustls settings, `bench_peers::tls_acceptor_from_env`):
//! what an echo on rustls costs with next to no WebSocket work, the floor
//! of the wss:// cells.
//!
//! Usage: `[TLS_CERT=cert.pem TLS_KEY=key.pem] echo-trivial PORT` (binds
//! 127.0.0.1:PORT).

use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    bench_peers::raise_fd_limit();
    let acceptor = std::env::var_os("TLS_CERT").map(|_| bench_peers::tls_acceptor_from_env());
    let listener = TcpListener::bind(bench_peers::listen_addr_from_args()).await?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = match acceptor {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(tls) => serve(tls).await,
                            Err(e) => Err(e),
                        },
                        None => serve(stream).await,
                    };
                });
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

/// A connection the echo reads and writes.
trait Conn: AsyncWrite + Unpin {
    /// Waits for input and appends what is there to `buf`; 0 at the end.
    async fn read_more(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize>;
}

impl Conn for TcpStream {
    async fn read_more(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        read_available(self, buf).await
    }
}

impl Conn for tokio_rustls::server::TlsStream<TcpStream> {
    async fn read_more(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        buf.reserve(64 * 1024);
        self.read_buf(buf).await
    }
}

async fn serve(mut stream: impl Conn) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(64 * 1024);
    let head_end = loop {
        if stream.read_more(&mut buf).await? == 0 {
            return Ok(());
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let key = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let accept = base64::engine::general_purpose::STANDARD
        .encode(Sha1::digest(format!("{key}{GUID}").as_bytes()));
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await?;
    buf.drain(..head_end);
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let mut pos = 0;
        while let Some((opcode, header, len)) = bench_peers::client_frame(&buf[pos..]) {
            let mask = [
                buf[pos + header - 4],
                buf[pos + header - 3],
                buf[pos + header - 2],
                buf[pos + header - 1],
            ];
            let payload = &mut buf[pos + header..pos + header + len];
            unmask(payload, mask);
            let opcode = if opcode == 0x9 { 0xA } else { opcode };
            out.push(0x80 | opcode);
            match len {
                0..=125 => out.push(len as u8),
                126..=0xFFFF => {
                    out.push(126);
                    out.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    out.push(127);
                    out.extend_from_slice(&(len as u64).to_be_bytes());
                }
            }
            out.extend_from_slice(payload);
            pos += header + len;
            if opcode == 0x8 {
                stream.write_all(&out).await?;
                return Ok(());
            }
        }
        buf.drain(..pos);
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if stream.read_more(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// Waits for input and reads what the socket holds with one `recv`; a
/// short read drained the socket, so the readiness is cleared at once
/// instead of by a `recv` that fails with `EAGAIN` on the next turn.
async fn read_available(stream: &TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.reserve(64 * 1024);
    loop {
        stream.readable().await?;
        let mut got = None;
        let result = stream.try_io(Interest::READABLE, || {
            let space = buf.capacity() - buf.len();
            let (n, _) = rustix::net::recv(
                stream,
                rustix::buffer::spare_capacity(&mut *buf),
                rustix::net::RecvFlags::empty(),
            )?;
            got = Some(n);
            if n > 0 && n < space {
                Err(std::io::ErrorKind::WouldBlock.into())
            } else {
                Ok(n)
            }
        });
        match (result, got) {
            (Ok(n), _) => return Ok(n),
            (Err(e), Some(n)) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(n),
            (Err(e), _) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            (Err(e), _) => return Err(e),
        }
    }
}

/// XORs `payload` with the mask, eight bytes at a time.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let m = u32::from_ne_bytes(mask) as u64;
    let wide = m | (m << 32);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}
