//! Engine.IO long-polling for the Socket.IO scenarios (`io-echo --transport
//! polling`, `connections --protocol io --transport polling`).
//!
//! One keep-alive HTTP/1.1 connection per session (hyper's client), used in
//! turn: a `POST` with everything owed (packets joined by the record
//! separator `\x1e`), then a `GET` that waits for what the server has. The
//! server answers a `POST` at once, so the `GET` that follows returns as soon
//! as the replies are queued. `io-echo` also polls over `https://` (`--ca`),
//! the same requests through rustls.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::echo::{EchoPipe, EchoShared};
use super::net::{Connector, Target, MAX_FRAME};
use super::pace::Pacer;
use super::tls::Tls;
use super::wire::{classify, parse_open, OpenInfo, Packet};
use super::Phase;

/// Engine.IO's packet separator in a polling payload.
const SEPARATOR: u8 = 0x1e;

/// One Engine.IO long-polling session.
pub struct PollConn {
    send: SendRequest<Full<Bytes>>,
    authority: String,
    /// The request path with the session id.
    path: String,
    /// Settings of the open packet.
    pub open: OpenInfo,
    /// Engine.IO pings answered.
    pub pings: u64,
    /// Packets owed to the server (sent with the next `POST`).
    outbox: Vec<u8>,
    /// Packets received after the open packet and not handled yet.
    pending: VecDeque<Bytes>,
}

impl PollConn {
    /// Opens a session and joins namespace `/`, over TLS with `tls`.
    pub async fn connect(
        connector: &Connector,
        target: &Target,
        tls: Option<&Tls>,
    ) -> Result<PollConn, String> {
        let stream = connector.connect().await?;
        let send = match tls {
            None => http_client(stream).await?,
            Some(tls) => http_client(tls.connect(stream).await?).await?,
        };
        let mut conn = PollConn {
            send,
            authority: target.authority.clone(),
            path: target.path.clone(),
            open: OpenInfo::default(),
            pings: 0,
            outbox: Vec::new(),
            pending: VecDeque::new(),
        };
        let mut packets = conn.request(Method::GET, Bytes::new()).await?.into_iter();
        let open = packets.next().ok_or("empty handshake response")?;
        let (sid, info) = parse_open(&open)?;
        conn.open = info;
        conn.path = format!("{}&sid={sid}", target.path);
        conn.pending.extend(packets);
        conn.outbox.extend_from_slice(b"40");
        conn.post().await?;
        loop {
            let packet = conn.next_packet().await?;
            if classify(&packet)? == Packet::Connected {
                return Ok(conn);
            }
        }
    }

    /// Sends one request; returns the packets of the response body.
    async fn request(&mut self, method: Method, body: Bytes) -> Result<Vec<Bytes>, String> {
        let request = Request::builder()
            .method(method.clone())
            .uri(&self.path)
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::CONTENT_TYPE, "text/plain;charset=UTF-8")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        self.send
            .ready()
            .await
            .map_err(|e| format!("{method}: connection lost: {e}"))?;
        let response = self
            .send
            .send_request(request)
            .await
            .map_err(|e| format!("{method}: {e}"))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_FRAME)
            .collect()
            .await
            .map_err(|e| format!("{method} body: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "{method} answered {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(split_payload(body))
    }

    /// Queues a packet for the next `POST`.
    pub fn queue(&mut self, packet: &[u8]) {
        if !self.outbox.is_empty() {
            self.outbox.push(SEPARATOR);
        }
        self.outbox.extend_from_slice(packet);
    }

    /// Sends what is owed, if anything.
    pub async fn post(&mut self) -> Result<(), String> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        let body = Bytes::from(std::mem::take(&mut self.outbox));
        self.request(Method::POST, body).await?;
        Ok(())
    }

    /// Waits (long-poll `GET`) for the server's next packets, answering
    /// pings (queued for the next `POST`).
    pub async fn poll(&mut self) -> Result<Vec<Bytes>, String> {
        let mut packets: Vec<Bytes> = self.pending.drain(..).collect();
        if packets.is_empty() {
            packets = self.request(Method::GET, Bytes::new()).await?;
        }
        let mut others = Vec::with_capacity(packets.len());
        for packet in packets {
            if classify(&packet)? == Packet::Ping {
                self.queue(b"3");
                self.pings += 1;
            } else {
                others.push(packet);
            }
        }
        Ok(others)
    }

    async fn next_packet(&mut self) -> Result<Bytes, String> {
        loop {
            if let Some(packet) = self.pending.pop_front() {
                return Ok(packet);
            }
            let packets = self.poll().await?;
            self.pending.extend(packets);
            self.post().await?;
        }
    }
}

/// An HTTP/1.1 client over `stream`, its connection driven by a task of
/// its own.
async fn http_client<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::task::spawn_local(async move {
        let _ = connection.await;
    });
    Ok(send)
}

/// Splits a polling payload into its packets.
pub fn split_payload(body: Bytes) -> Vec<Bytes> {
    let mut packets = Vec::new();
    let mut start = 0;
    for (i, b) in body.iter().enumerate() {
        if *b == SEPARATOR {
            packets.push(body.slice(start..i));
            start = i + 1;
        }
    }
    if start < body.len() {
        packets.push(body.slice(start..));
    }
    packets
}

/// `io-echo` over long-polling: POST what is owed, GET the replies. What
/// is owed: `depth` messages in flight or, with a `pacer` (`--rate`),
/// those due by now (one due while `depth` are in flight is missed); with
/// nothing in flight the connection sleeps until the next is due.
pub async fn echo(
    shared: &EchoShared,
    connector: &Connector,
    target: &Target,
    tls: Option<&Tls>,
    mut pipe: EchoPipe,
    mut pacer: Option<Pacer>,
) -> Result<(), String> {
    let mut conn = PollConn::connect(connector, target, tls).await?;
    shared.run().set_ready();
    if let Some(pacer) = &mut pacer {
        // The messages that fell due while this connection was opening are
        // not owed.
        pacer.skip_to(Instant::now());
    }
    let result = async {
        loop {
            let phase = shared.run().phase.get();
            if phase == Phase::Done {
                return Ok(());
            }
            if let Some(pacer) = &pacer {
                let due = pacer.next_due();
                if pipe.in_flight.is_empty() && due > Instant::now() {
                    tokio::time::sleep_until(due.into()).await;
                    continue;
                }
            }
            let mut packets = Vec::new();
            pipe.owed(shared, phase, pacer.as_mut(), |p| packets.push(p.to_vec()));
            for p in &packets {
                conn.queue(p);
            }
            conn.post().await?;
            let received = conn.poll().await?;
            let received_at = Instant::now();
            let handle = shared.handle();
            for packet in &received {
                pipe.on_packet(&classify(packet)?, &handle, received_at)?;
            }
        }
    }
    .await;
    shared.add_pings(conn.pings);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_payloads() {
        let packets = split_payload(Bytes::from_static(b"2\x1e42[\"a\"]\x1e6"));
        assert_eq!(packets, vec![&b"2"[..], &b"42[\"a\"]"[..], &b"6"[..]]);
        assert!(split_payload(Bytes::new()).is_empty());
        assert_eq!(split_payload(Bytes::from_static(b"ok")), vec![&b"ok"[..]]);
    }
}
