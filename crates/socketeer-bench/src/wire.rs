//! The Socket.IO and Engine.IO wire helpers of the generator, written by
//! hand so that the generator stays independent of the library it measures:
//! the Engine.IO URL of a server, the open packet, a classification of the
//! text packets a server sends, and the event and ack packets the scenarios
//! send and expect.

use super::net::Target;
use super::Transport;

/// The Engine.IO URL of a Socket.IO server: the path defaults to
/// `/socket.io/`, and `EIO=4&transport=...` is added.
pub fn engine_target(url: &str, transport: Transport) -> Result<Target, String> {
    Ok(with_engine_path(Target::parse(url)?, transport))
}

/// [`engine_target`], also for `wss://` and `https://` URLs.
pub fn engine_target_any(url: &str, transport: Transport) -> Result<Target, String> {
    Ok(with_engine_path(Target::parse_any(url)?, transport))
}

fn with_engine_path(mut target: Target, transport: Transport) -> Target {
    if target.path == "/" {
        target.path = "/socket.io/".into();
    }
    if !target.path.contains('?') {
        target.path.push_str("?EIO=4&transport=");
        target.path.push_str(transport.name());
    }
    target
}

/// The settings of the Engine.IO open packet that the generator uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenInfo {
    /// `pingInterval`, milliseconds.
    pub ping_interval: u64,
}

/// Reads the `sid` and `pingInterval` of an open packet `0{...}`.
pub fn parse_open(packet: &[u8]) -> Result<(String, OpenInfo), String> {
    let json = packet
        .strip_prefix(b"0")
        .ok_or("not an Engine.IO open packet")?;
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("open packet: {e}"))?;
    let sid = value["sid"]
        .as_str()
        .ok_or("open packet without a sid")?
        .to_string();
    Ok((
        sid,
        OpenInfo {
            ping_interval: value["pingInterval"].as_u64().unwrap_or(25_000),
        },
    ))
}

/// What one Engine.IO text packet is, for the generator.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Engine.IO ping `2`: to be answered with `3`.
    Ping,
    /// Socket.IO event `42...` (whole packet text).
    Event(&'a [u8]),
    /// Socket.IO ack `43...` (whole packet text).
    Ack(&'a [u8]),
    /// Socket.IO connect answer `40...`.
    Connected,
    /// Engine.IO open `0{...}`.
    Open(&'a [u8]),
    /// Anything else that is harmless (noop, pong...).
    Other,
}

/// Classifies one Engine.IO text packet; an error for the packets that end
/// the session (close, namespace disconnect, connect error).
pub fn classify(packet: &[u8]) -> Result<Packet<'_>, String> {
    Ok(match packet {
        b"2" => Packet::Ping,
        [b'4', b'2', ..] => Packet::Event(packet),
        [b'4', b'3', ..] => Packet::Ack(packet),
        [b'4', b'0', ..] => Packet::Connected,
        [b'0', b'{', ..] => Packet::Open(packet),
        [b'4', b'1', ..] => return Err("server disconnected the namespace".into()),
        [b'4', b'4', ..] => {
            return Err(format!(
                "connect error: {}",
                String::from_utf8_lossy(packet)
            ))
        }
        [b'1', ..] => return Err("server closed the Engine.IO session".into()),
        _ => Packet::Other,
    })
}

/// `42["EVENT","PAYLOAD"]`, or `42ID["EVENT","PAYLOAD"]` with an ack id.
pub fn event_packet(out: &mut Vec<u8>, event: &str, ack: Option<u64>, payload: &[u8]) {
    out.extend_from_slice(b"42");
    if let Some(id) = ack {
        out.extend_from_slice(id.to_string().as_bytes());
    }
    out.extend_from_slice(b"[\"");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\",\"");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\"]");
}

/// `43ID["PAYLOAD"]`: the ack the server answers `message-with-ack` with.
pub fn ack_packet(id: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("43{id}[\"").into_bytes();
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\"]");
    out
}

/// The ack id of a `43ID[...]` packet.
pub fn ack_id(packet: &[u8]) -> Option<u64> {
    let digits = packet.get(2..)?;
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(digits.get(..end)?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_packets() {
        assert_eq!(classify(b"2").unwrap(), Packet::Ping);
        assert_eq!(classify(b"40{\"sid\":\"x\"}").unwrap(), Packet::Connected);
        assert_eq!(classify(b"43[1]").unwrap(), Packet::Ack(b"43[1]"));
        assert!(classify(b"41").is_err());
        assert!(classify(b"44{\"message\":\"no\"}").is_err());
        assert!(classify(b"1").is_err());
        assert_eq!(classify(b"6").unwrap(), Packet::Other);
    }

    #[test]
    fn reads_the_open_packet() {
        let (sid, open) =
            parse_open(br#"0{"sid":"s1","upgrades":[],"pingInterval":300,"pingTimeout":200}"#)
                .unwrap();
        assert_eq!(sid, "s1");
        assert_eq!(open.ping_interval, 300);
        assert!(parse_open(b"0{}").is_err());
        assert!(parse_open(b"40").is_err());
    }

    #[test]
    fn engine_urls() {
        let t = engine_target("ws://127.0.0.1:3000", Transport::Polling).unwrap();
        assert_eq!(t.path, "/socket.io/?EIO=4&transport=polling");
        let t = engine_target("http://127.0.0.1:3000/x/", Transport::Websocket).unwrap();
        assert_eq!(t.path, "/x/?EIO=4&transport=websocket");
        // TLS only where the scenario takes it.
        assert!(engine_target("wss://127.0.0.1:3000", Transport::Websocket).is_err());
        let t = engine_target_any("wss://localhost:3000", Transport::Websocket).unwrap();
        assert!(t.tls);
        assert_eq!(t.host, "localhost");
        assert_eq!(t.path, "/socket.io/?EIO=4&transport=websocket");
        let t = engine_target_any("https://127.0.0.1:3000", Transport::Polling).unwrap();
        assert!(t.tls);
        assert_eq!(t.path, "/socket.io/?EIO=4&transport=polling");
        assert!(
            !engine_target_any("ws://127.0.0.1:3000", Transport::Websocket)
                .unwrap()
                .tls
        );
    }
}
