//! One client: its connection, its session, and the ticks it records.

use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::backoff::Rng;
use super::state::{Setup, Shared};
use super::MAX_SEQ;
use crate::net::{self, MAX_FRAME};
use crate::wire::{classify, Packet};
use crate::StormMode;

/// A tick `42["tick",SEQ,MS]` or, with recovery, `42["tick",SEQ,MS,"OFFSET"]`:
/// the sequence, the server's clock and the offset.
pub fn parse_tick(packet: &[u8]) -> Option<(u64, u64, Option<&[u8]>)> {
    fn number(s: &[u8]) -> Option<(u64, &[u8])> {
        let end = s
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(s.len());
        let n = std::str::from_utf8(s.get(..end)?).ok()?.parse().ok()?;
        Some((n, s.get(end..)?))
    }
    let rest = packet.strip_prefix(b"42[\"tick\",")?;
    let (seq, rest) = number(rest)?;
    let (ms, rest) = number(rest.strip_prefix(b",")?)?;
    if rest == b"]" {
        return Some((seq, ms, None));
    }
    let offset = rest.strip_prefix(b",\"")?.strip_suffix(b"\"]")?;
    Some((seq, ms, Some(offset)))
}

/// The CONNECT packet: `40`, or `40{"pid":..,"offset":..}` to recover.
pub fn connect_packet(pid: Option<&str>, offset: Option<&str>) -> Vec<u8> {
    match (pid, offset) {
        (Some(pid), Some(offset)) => {
            let auth = serde_json::json!({ "pid": pid, "offset": offset });
            format!("40{auth}").into_bytes()
        }
        _ => b"40".to_vec(),
    }
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One Socket.IO connection over WebSocket.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    mask: [u8; 4],
}

impl Conn {
    /// Hands the payload of every complete text frame to `f` until it
    /// returns `false`; the rest stays buffered. An error when the server
    /// closed the WebSocket.
    fn drain(&mut self, mut f: impl FnMut(&[u8]) -> Result<bool, String>) -> Result<(), String> {
        let mut pos = 0;
        let mut result = Ok(());
        while let Some(head) = net::parse_frame(self.buf.get(pos..).unwrap_or_default(), MAX_FRAME)?
        {
            let payload = self
                .buf
                .get(pos + head.header_len..pos + head.total_len())
                .unwrap_or_default();
            pos += head.total_len();
            match head.opcode {
                net::OP_CLOSE => {
                    result = Err("server closed the WebSocket".into());
                    break;
                }
                net::OP_TEXT if head.fin => match f(payload) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                },
                net::OP_PING | net::OP_PONG => {}
                _ => return Err("unexpected frame".into()),
            }
        }
        self.buf.drain(..pos);
        result
    }

    async fn read_more(&mut self) -> Result<(), String> {
        self.buf.reserve(4096);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err("server closed the connection".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    async fn send_text(&mut self, text: &[u8]) -> Result<(), String> {
        let frame = net::masked_frame(net::OP_TEXT, text, self.mask);
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| format!("write: {e}"))
    }
}

/// A connection, its socket id, its recovery id, and the events that came
/// before the CONNECT reply (a recovering server replays missed events first).
type Connected = (Conn, String, Option<String>, Vec<Vec<u8>>);

/// Connects, upgrades, and joins `/` (recovering with `pid` and `offset` when
/// given).
async fn connect(
    setup: &Setup,
    id: usize,
    pid: Option<&str>,
    offset: Option<&str>,
) -> Result<Connected, String> {
    let mut stream = setup.connector.connect().await?;
    let buf = net::ws_handshake(&mut stream, &setup.target).await?;
    let mask = (id as u32 ^ 0xA5A5_5A5A)
        .wrapping_mul(0x9E37_79B9)
        .to_le_bytes();
    let mut conn = Conn { stream, buf, mask };
    let mut opened = false;
    while !opened {
        conn.drain(|p| {
            opened = p.starts_with(b"0{");
            Ok(!opened)
        })?;
        if !opened {
            conn.read_more().await?;
        }
    }
    conn.send_text(&connect_packet(pid, offset)).await?;
    let mut reply: Option<Vec<u8>> = None;
    let mut early = Vec::new();
    while reply.is_none() {
        conn.drain(|p| {
            if let Some(json) = p.strip_prefix(b"40") {
                reply = Some(json.to_vec());
                return Ok(false);
            }
            if let Packet::Event(e) = classify(p)? {
                early.push(e.to_vec());
            }
            Ok(true)
        })?;
        if reply.is_none() {
            conn.read_more().await?;
        }
    }
    let value: serde_json::Value = serde_json::from_slice(reply.as_deref().unwrap_or_default())
        .map_err(|e| format!("CONNECT reply: {e}"))?;
    let sid = value["sid"].as_str().unwrap_or_default().to_string();
    let pid = value["pid"].as_str().map(str::to_string);
    Ok((conn, sid, pid, early))
}

/// One client: connects, keeps its connection, reconnects with backoff.
pub(super) async fn client(id: usize, setup: Rc<Setup>, shared: Rc<Shared>) {
    let mut rng = Rng::new(id);
    let mut storm = shared.storm.subscribe();
    let mut attempt = 0u32;
    loop {
        let post = *storm.borrow_and_update() > 0;
        let (pid, offset) = if post && setup.mode == StormMode::Cut {
            let clients = shared.clients.borrow();
            let rec = clients.get(id);
            (
                rec.and_then(|r| r.pid.clone()),
                rec.and_then(|r| r.offset.clone()),
            )
        } else {
            (None, None)
        };
        if post {
            shared.storm_attempts.set(shared.storm_attempts.get() + 1);
        }
        // An attempt that hangs (a server that accepted the TCP connection
        // but never answers under the storm) fails and is tried again, as
        // socket.io-client's `timeout` does.
        let attempt_result = tokio::time::timeout(
            setup.attempt_timeout,
            connect(&setup, id, pid.as_deref(), offset.as_deref()),
        )
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "connection attempt timed out after {:?}",
                setup.attempt_timeout
            ))
        });
        match attempt_result {
            Err(e) => shared.failed(e),
            Ok((mut conn, sid, pid, early)) => {
                attempt = 0;
                // Ticks after this point belong to the storm if it started
                // meanwhile (in restart mode, only the new server answers).
                let post = *storm.borrow_and_update() > 0;
                {
                    let mut clients = shared.clients.borrow_mut();
                    if let Some(rec) = clients.get_mut(id) {
                        if post {
                            rec.reconnects += 1;
                            if rec.back_at.is_none() {
                                rec.back_at = Some(Instant::now());
                                rec.back_at_ms = now_ms();
                                rec.recovered = rec.sid.as_deref() == Some(sid.as_str());
                                shared.back.set(shared.back.get() + 1);
                            }
                        } else {
                            if rec.sid.is_none() {
                                shared
                                    .connected_initial
                                    .set(shared.connected_initial.get() + 1);
                            }
                            rec.sid = Some(sid);
                            rec.pid = pid;
                        }
                    }
                }
                for event in &early {
                    on_tick(event, id, post, &shared);
                }
                shared.open.set(shared.open.get() + 1);
                let cut = setup.mode == StormMode::Cut && !post;
                let _ = session(&mut conn, id, post, cut, &mut storm, &shared).await;
                shared.open.set(shared.open.get() - 1);
                if cut && *storm.borrow() > 0 {
                    // Reset, not FIN: the connection is lost, not closed.
                    let _ =
                        rustix::net::sockopt::set_socket_linger(&conn.stream, Some(Duration::ZERO));
                }
                drop(conn);
            }
        }
        let delay = setup.backoff.delay(attempt, rng.next(), rng.next());
        attempt = attempt.saturating_add(1);
        tokio::time::sleep(delay).await;
    }
}

/// Reads ticks and answers pings until the connection ends (or, with `cut`,
/// the storm starts).
async fn session(
    conn: &mut Conn,
    id: usize,
    post: bool,
    cut: bool,
    storm: &mut watch::Receiver<u32>,
    shared: &Shared,
) -> Result<(), String> {
    loop {
        let mut pings = 0;
        conn.drain(|p| {
            match classify(p)? {
                Packet::Ping => pings += 1,
                Packet::Event(e) => on_tick(e, id, post, shared),
                _ => {}
            }
            Ok(true)
        })?;
        for _ in 0..pings {
            conn.send_text(b"3").await?;
        }
        tokio::select! {
            changed = storm.changed(), if cut => {
                if changed.is_err() || *storm.borrow() > 0 {
                    return Ok(());
                }
            }
            read = conn.read_more() => read?,
        }
    }
}

fn on_tick(packet: &[u8], id: usize, post: bool, shared: &Shared) {
    if !shared.recording.get() {
        return;
    }
    let Some((seq, ms, offset)) = parse_tick(packet).filter(|t| t.0 > 0 && t.0 <= MAX_SEQ) else {
        if packet.starts_with(b"42[\"tick\"") {
            shared.bad_ticks.set(shared.bad_ticks.get() + 1);
        }
        return;
    };
    // In restart mode, the old server's sequence numbers are not the new one's.
    if post || !shared.storm_started() {
        let mut ticks = shared.tick_ms.borrow_mut();
        let index = seq as usize;
        if ticks.len() <= index {
            ticks.resize(index + 1, 0);
        }
        if let Some(slot) = ticks.get_mut(index) {
            *slot = ms;
        }
    }
    let mut clients = shared.clients.borrow_mut();
    let Some(rec) = clients.get_mut(id) else {
        return;
    };
    if let Some(offset) = offset {
        rec.offset = Some(String::from_utf8_lossy(offset).into_owned());
    }
    if post {
        rec.post.push(seq as u32);
    } else {
        rec.last_seq_before = rec.last_seq_before.max(seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ticks_with_and_without_offsets() {
        assert_eq!(
            parse_tick(br#"42["tick",17,1700000000123]"#),
            Some((17, 1_700_000_000_123, None))
        );
        assert_eq!(
            parse_tick(br#"42["tick",3,9,"MzQ-1"]"#),
            Some((3, 9, Some(&b"MzQ-1"[..])))
        );
        assert_eq!(parse_tick(br#"42["tock",3,9]"#), None);
        assert_eq!(parse_tick(br#"42["tick",[3,9]]"#), None);
        assert_eq!(parse_tick(br#"42["tick",3]"#), None);
    }

    #[test]
    fn connect_packet_carries_pid_and_offset_only_together() {
        assert_eq!(connect_packet(None, None), b"40");
        assert_eq!(connect_packet(Some("p"), None), b"40");
        assert_eq!(
            connect_packet(Some("p\""), Some("o")),
            br#"40{"offset":"o","pid":"p\""}"#
        );
    }
}
