//! The least a Socket.IO server on long-polling can do for `socketeer bench
//! io-echo --transport polling`, as a floor for the servers' CPU and a
//! ceiling for the generator: hand-written HTTP/1.1 (request head found by
//! its blank line, `Content-Length` bodies only, nothing else checked), one
//! Engine.IO session per TCP connection (the generator uses one keep-alive
//! connection per session, a `POST` then a `GET` in turn), and for each
//! `42ID["message-with-ack",ARGS...]` the ack `43ID[ARGS...]`. No library,
//! no heartbeat, no limits, no CORS, nothing a real server must do. What a
//! real server costs beyond this is what an HTTP path of its own could
//! still save at most.
//!
//! Usage: `io-trivial-polling PORT` (binds 127.0.0.1:PORT).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SEPARATOR: u8 = 0x1e;
const EVENT_WITH_ACK: &[u8] = b"[\"message-with-ack\",";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    bench_peers::raise_fd_limit();
    let listener = TcpListener::bind(bench_peers::listen_addr_from_args()).await?;
    let mut next_sid = 0u64;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                next_sid += 1;
                let sid = format!("trivial{next_sid:012}");
                tokio::spawn(async move {
                    let _ = serve(stream, sid).await;
                });
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

async fn serve(mut stream: TcpStream, sid: String) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut outbox: Vec<u8> = Vec::new();
    let mut response: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // One request: its head, then its Content-Length body.
        let (head_end, body_len) = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break (i + 4, content_length(&buf[..i]));
            }
            if buf.len() > 64 * 1024 || stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
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
                answer(packet, &sid, &mut outbox);
            }
            b"ok"
        } else if !has_sid {
            outbox.clear();
            outbox.extend_from_slice(
                format!(
                    "0{{\"sid\":\"{sid}\",\"upgrades\":[],\"pingInterval\":25000,\
                     \"pingTimeout\":20000,\"maxPayload\":1000000}}"
                )
                .as_bytes(),
            );
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

/// The value of a `Content-Length` header in `head` (0 without one).
fn content_length(head: &[u8]) -> usize {
    head.split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let (name, value) = line.split_at(colon);
            name.eq_ignore_ascii_case(b"content-length")
                .then(|| std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok())
                .flatten()
        })
        .next()
        .unwrap_or(0)
}

/// Queues the answer to one packet of a `POST`: the namespace's CONNECT
/// reply, or the ack of an event.
fn answer(packet: &[u8], sid: &str, outbox: &mut Vec<u8>) {
    let mut push = |bytes: &[u8]| {
        if !outbox.is_empty() {
            outbox.push(SEPARATOR);
        }
        outbox.extend_from_slice(bytes);
    };
    if packet.starts_with(b"40") {
        push(format!("40{{\"sid\":\"{sid}-io\"}}").as_bytes());
    } else if let Some(rest) = packet.strip_prefix(b"42") {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (id, args) = rest.split_at(digits);
        if let (false, Some(args)) = (id.is_empty(), args.strip_prefix(EVENT_WITH_ACK)) {
            let mut ack = Vec::with_capacity(4 + id.len() + args.len());
            ack.extend_from_slice(b"43");
            ack.extend_from_slice(id);
            ack.push(b'[');
            ack.extend_from_slice(args);
            push(&ack);
        }
    }
}
