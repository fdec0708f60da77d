//! Engine.IO v4 packets and their WebSocket encoding.
//!
//! A packet is a type character `'0'..='6'` followed by its data:
//!
//! | type | char | data |
//! | --- | --- | --- |
//! | [`Open`](Packet::Open) | `0` | the handshake as JSON |
//! | [`Close`](Packet::Close) | `1` | — |
//! | [`Ping`](Packet::Ping) | `2` | optional text (`"2probe"`) |
//! | [`Pong`](Packet::Pong) | `3` | optional text (`"3probe"`) |
//! | [`Message`](Packet::Message) | `4` | text, or binary |
//! | [`Upgrade`](Packet::Upgrade) | `5` | — |
//! | [`Noop`](Packet::Noop) | `6` | — |
//!
//! Over WebSocket every packet is one frame ([`Payload`]): a text frame holds
//! the type character and the data, and a binary frame is a binary message,
//! its raw bytes with no prefix. Long-polling joins the same text encodings
//! into one payload, see [`crate::payload`], with binary messages as `b` +
//! base64.

use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{Payload, Utf8Bytes};

/// Standard base64 as the JS implementations write it (padded), read with
/// or without padding.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The default [`Limits::max_payload`]: 1 MB, as the JS server's
/// `maxHttpBufferSize` default.
pub const DEFAULT_MAX_PAYLOAD: usize = 1_000_000;

/// The default [`Limits::max_packets`].
pub const DEFAULT_MAX_PACKETS: usize = 100_000;

/// The seven Engine.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: the handshake, sent by the server.
    Open,
    /// `1`: the transport is closing.
    Close,
    /// `2`: heartbeat request (server to client), or `2probe` (upgrade).
    Ping,
    /// `3`: heartbeat answer, or `3probe` (upgrade).
    Pong,
    /// `4`: application data.
    Message,
    /// `5`: completes an upgrade to WebSocket.
    Upgrade,
    /// `6`: does nothing; used to end a pending poll during an upgrade.
    Noop,
}

impl PacketType {
    /// All types, in wire order.
    pub const ALL: [PacketType; 7] = [
        PacketType::Open,
        PacketType::Close,
        PacketType::Ping,
        PacketType::Pong,
        PacketType::Message,
        PacketType::Upgrade,
        PacketType::Noop,
    ];

    /// The type's character as an ASCII byte, `b'0'..=b'6'`.
    pub const fn as_byte(self) -> u8 {
        match self {
            PacketType::Open => b'0',
            PacketType::Close => b'1',
            PacketType::Ping => b'2',
            PacketType::Pong => b'3',
            PacketType::Message => b'4',
            PacketType::Upgrade => b'5',
            PacketType::Noop => b'6',
        }
    }

    /// The type's character, `'0'..='6'`.
    pub const fn as_char(self) -> char {
        self.as_byte() as char
    }

    /// The type for a character byte, if it is one of `b'0'..=b'6'`.
    pub const fn from_byte(b: u8) -> Option<PacketType> {
        Some(match b {
            b'0' => PacketType::Open,
            b'1' => PacketType::Close,
            b'2' => PacketType::Ping,
            b'3' => PacketType::Pong,
            b'4' => PacketType::Message,
            b'5' => PacketType::Upgrade,
            b'6' => PacketType::Noop,
            _ => return None,
        })
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            PacketType::Open => "open",
            PacketType::Close => "close",
            PacketType::Ping => "ping",
            PacketType::Pong => "pong",
            PacketType::Message => "message",
            PacketType::Upgrade => "upgrade",
            PacketType::Noop => "noop",
        };
        f.write_str(name)
    }
}

fn default_max_payload() -> u64 {
    DEFAULT_MAX_PAYLOAD as u64
}

/// The handshake the server sends in the `open` packet, e.g.
/// `0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`.
///
/// Fields are written in that order, with those (camelCase) names. Unknown
/// fields are ignored when reading; a missing `maxPayload` reads as
/// 1 000 000.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenPacket {
    /// The session id.
    pub sid: String,
    /// The transports the client may upgrade to (`["websocket"]` on
    /// polling, `[]` on WebSocket).
    pub upgrades: Vec<String>,
    /// Milliseconds between the server's pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong.
    pub ping_timeout: u64,
    /// The most bytes the server accepts in one packet (WebSocket) or one
    /// payload (polling).
    #[serde(default = "default_max_payload")]
    pub max_payload: u64,
}

/// An Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0`: the handshake.
    Open(OpenPacket),
    /// `1`: close the transport.
    Close,
    /// `2`: ping, with optional text (`"probe"` while upgrading). Empty text
    /// is the same as none on the wire and decodes as `None`.
    Ping(Option<Utf8Bytes>),
    /// `3`: pong, with optional text; empty text decodes as `None`.
    Pong(Option<Utf8Bytes>),
    /// `4`: a message, text or binary.
    Message(Payload),
    /// `5`: upgrade.
    Upgrade,
    /// `6`: noop.
    Noop,
}

/// Bounds applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes in one WebSocket frame or one polling payload, as
    /// received (before base64 decoding). Default 1 000 000, the JS
    /// server's `maxHttpBufferSize` default; announce the same number as
    /// [`OpenPacket::max_payload`].
    pub max_payload: usize,
    /// The most packets in one polling payload. Default 100 000: a 1 MB
    /// payload of realistic Socket.IO packets holds far fewer.
    pub max_packets: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_packets: DEFAULT_MAX_PACKETS,
        }
    }
}

impl Limits {
    /// No bound at all (for trusted input, tests and tools).
    pub const UNLIMITED: Limits = Limits {
        max_payload: usize::MAX,
        max_packets: usize::MAX,
    };

    pub(crate) fn check_size(&self, size: usize) -> Result<(), DecodeError> {
        if size > self.max_payload {
            return Err(DecodeError::PayloadTooLarge {
                size,
                limit: self.max_payload,
            });
        }
        Ok(())
    }
}

/// Why a packet or payload could not be decoded. The JS server answers every
/// one of these by closing the transport ("parse error").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A text packet with no type character.
    #[error("empty packet")]
    EmptyPacket,
    /// The first byte is not `0`..`6` (nor `b`, a base64 binary message).
    #[error("unknown packet type {:?}", char::from(*.byte))]
    UnknownPacketType {
        /// The offending byte.
        byte: u8,
    },
    /// A `b` packet whose data is not standard base64.
    #[error("invalid base64 in a binary packet")]
    InvalidBase64,
    /// An `open` packet whose data is missing or not the handshake JSON.
    #[error("invalid open packet: {0}")]
    InvalidOpen(#[source] serde_json::Error),
    /// A frame or payload over [`Limits::max_payload`].
    #[error("{size} bytes exceed the limit of {limit}")]
    PayloadTooLarge {
        /// The received size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A payload with more packets than [`Limits::max_packets`].
    #[error("more than {limit} packets in one payload")]
    TooManyPackets {
        /// The limit.
        limit: usize,
    },
    /// A polling payload (or text handed in as bytes) that is not UTF-8.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
}

/// `bytes[from..]`, or empty when `from` is past the end; never panics.
pub(crate) fn tail(bytes: &Bytes, from: usize) -> Bytes {
    if from <= bytes.len() {
        bytes.slice(from..)
    } else {
        Bytes::new()
    }
}

impl Packet {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Packet {
        Packet::Message(Payload::Text(text.into()))
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Packet {
        Packet::Message(Payload::Binary(data.into()))
    }

    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Open(_) => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
            Packet::Message(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// Decodes one WebSocket frame.
    ///
    /// A binary frame is a binary message. A text frame is a type character
    /// and data; a text frame starting with `b` is a base64 binary message,
    /// as clients without binary support send (the JS parser accepts it
    /// too). Text data is sliced out of the frame, not copied.
    ///
    /// ```
    /// use socketeer_engineio::{Limits, Packet, Payload, Utf8Bytes};
    ///
    /// let p = Packet::decode(Payload::Text(Utf8Bytes::from_static("2probe")), &Limits::default())?;
    /// assert_eq!(p, Packet::Ping(Some(Utf8Bytes::from_static("probe"))));
    /// # Ok::<(), socketeer_engineio::DecodeError>(())
    /// ```
    pub fn decode(frame: Payload, limits: &Limits) -> Result<Packet, DecodeError> {
        match frame {
            Payload::Text(text) => Packet::decode_text(text, limits),
            Payload::Binary(data) => Packet::decode_binary(data, limits),
        }
    }

    /// Decodes a WebSocket binary frame: a binary message.
    pub fn decode_binary(data: Bytes, limits: &Limits) -> Result<Packet, DecodeError> {
        limits.check_size(data.len())?;
        Ok(Packet::Message(Payload::Binary(data)))
    }

    /// Decodes one text-encoded packet (a WebSocket text frame, or one
    /// packet of a polling payload).
    pub fn decode_text(text: Utf8Bytes, limits: &Limits) -> Result<Packet, DecodeError> {
        limits.check_size(text.len())?;
        Packet::decode_text_unchecked_size(text.into_bytes())
    }

    /// Decodes a text packet given as bytes that have not been checked for
    /// UTF-8 yet (checks them once).
    pub fn decode_text_bytes(text: Bytes, limits: &Limits) -> Result<Packet, DecodeError> {
        limits.check_size(text.len())?;
        std::str::from_utf8(&text).map_err(|_| DecodeError::InvalidUtf8)?;
        Packet::decode_text_unchecked_size(text)
    }

    /// `text` is valid UTF-8 and within the limits.
    pub(crate) fn decode_text_unchecked_size(text: Bytes) -> Result<Packet, DecodeError> {
        let Some(&first) = text.first() else {
            return Err(DecodeError::EmptyPacket);
        };
        if first == b'b' {
            let encoded = text.get(1..).unwrap_or_default();
            let data = BASE64
                .decode(encoded)
                .map_err(|_| DecodeError::InvalidBase64)?;
            return Ok(Packet::Message(Payload::Binary(Bytes::from(data))));
        }
        let kind =
            PacketType::from_byte(first).ok_or(DecodeError::UnknownPacketType { byte: first })?;
        // The first byte is ASCII, so the rest is still valid UTF-8.
        let data = tail(&text, 1);
        let optional = |data: Bytes| (!data.is_empty()).then(|| Utf8Bytes::from_trusted(data));
        Ok(match kind {
            PacketType::Open => {
                Packet::Open(serde_json::from_slice(&data).map_err(DecodeError::InvalidOpen)?)
            }
            // Like the JS parser, ignore data after types that carry none.
            PacketType::Close => Packet::Close,
            PacketType::Ping => Packet::Ping(optional(data)),
            PacketType::Pong => Packet::Pong(optional(data)),
            PacketType::Message => Packet::Message(Payload::Text(Utf8Bytes::from_trusted(data))),
            PacketType::Upgrade => Packet::Upgrade,
            PacketType::Noop => Packet::Noop,
        })
    }

    /// Encodes the packet as one WebSocket frame: binary messages as binary
    /// frames (their bytes, shared), everything else as a text frame.
    /// Packets without data are static frames and do not allocate.
    ///
    /// ```
    /// use socketeer_engineio::{Packet, Payload};
    ///
    /// assert_eq!(Packet::text("hello").encode(), Payload::Text("4hello".into()));
    /// assert_eq!(Packet::binary(vec![1, 2, 3, 4]).encode(), Payload::Binary(vec![1, 2, 3, 4].into()));
    /// ```
    pub fn encode(&self) -> Payload {
        let fixed = |s: &'static str| Payload::Text(Utf8Bytes::from_static(s));
        match self {
            Packet::Message(Payload::Binary(b)) => Payload::Binary(b.clone()),
            Packet::Close => fixed("1"),
            Packet::Ping(None) => fixed("2"),
            Packet::Pong(None) => fixed("3"),
            Packet::Upgrade => fixed("5"),
            Packet::Noop => fixed("6"),
            _ => {
                let mut out = Vec::with_capacity(self.text_len_hint());
                self.write_text(&mut out);
                Payload::Text(Utf8Bytes::from_trusted(Bytes::from(out)))
            }
        }
    }

    /// A close estimate of the text encoding's length.
    pub(crate) fn text_len_hint(&self) -> usize {
        1 + match self {
            Packet::Open(o) => {
                96 + o.sid.len() + o.upgrades.iter().map(|u| u.len() + 3).sum::<usize>()
            }
            Packet::Ping(Some(t)) | Packet::Pong(Some(t)) | Packet::Message(Payload::Text(t)) => {
                t.len()
            }
            Packet::Message(Payload::Binary(b)) => b.len().div_ceil(3) * 4,
            _ => 0,
        }
    }

    /// Appends the packet's text encoding (binary messages as `b` + base64,
    /// as in polling) to `out`.
    pub(crate) fn write_text(&self, out: &mut Vec<u8>) {
        match self {
            Packet::Message(Payload::Binary(b)) => {
                out.push(b'b');
                write_base64(out, b);
                return;
            }
            other => out.push(other.packet_type().as_byte()),
        }
        match self {
            Packet::Open(open) => {
                // Serializing strings and integers into a Vec cannot fail.
                let written = serde_json::to_writer(&mut *out, open);
                debug_assert!(written.is_ok());
            }
            Packet::Ping(Some(t)) | Packet::Pong(Some(t)) | Packet::Message(Payload::Text(t)) => {
                out.extend_from_slice(t.as_bytes())
            }
            _ => {}
        }
    }
}

/// Appends standard padded base64 of `data` to `out`.
pub(crate) fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    let start = out.len();
    let len = data.len().div_ceil(3) * 4;
    out.resize(start + len, 0);
    if let Some(dst) = out.get_mut(start..) {
        let written = BASE64.encode_slice(data, dst).unwrap_or(0);
        out.truncate(start + written);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &'static str) -> Payload {
        Payload::Text(Utf8Bytes::from_static(s))
    }

    fn dec(s: &'static str) -> Result<Packet, DecodeError> {
        Packet::decode(text(s), &Limits::default())
    }

    fn probe() -> Option<Utf8Bytes> {
        Some(Utf8Bytes::from_static("probe"))
    }

    #[test]
    fn type_chars() {
        for (i, t) in PacketType::ALL.iter().enumerate() {
            assert_eq!(t.as_byte(), b'0' + i as u8);
            assert_eq!(PacketType::from_byte(t.as_byte()), Some(*t));
            assert_eq!(t.as_char(), char::from(b'0' + i as u8));
        }
        assert_eq!(PacketType::from_byte(b'7'), None);
        assert_eq!(PacketType::Message.to_string(), "message");
    }

    #[test]
    fn spec_open() {
        let wire = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let open = OpenPacket {
            sid: "lv_VI97HAXpY6yYWAAAC".into(),
            upgrades: vec!["websocket".into()],
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: 1_000_000,
        };
        assert_eq!(dec(wire).unwrap(), Packet::Open(open.clone()));
        assert_eq!(Packet::Open(open).encode(), text(wire));
    }

    #[test]
    fn open_without_max_payload_and_with_unknown_fields() {
        let p = dec(r#"0{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":2,"extra":true}"#)
            .unwrap();
        let Packet::Open(open) = p else {
            panic!("{p:?}")
        };
        assert_eq!(open.max_payload, 1_000_000);
    }

    #[test]
    fn spec_heartbeat_and_upgrade() {
        assert_eq!(dec("2").unwrap(), Packet::Ping(None));
        assert_eq!(dec("3").unwrap(), Packet::Pong(None));
        assert_eq!(dec("2probe").unwrap(), Packet::Ping(probe()));
        assert_eq!(dec("3probe").unwrap(), Packet::Pong(probe()));
        assert_eq!(dec("5").unwrap(), Packet::Upgrade);
        assert_eq!(dec("6").unwrap(), Packet::Noop);
        assert_eq!(dec("1").unwrap(), Packet::Close);
        assert_eq!(Packet::Ping(None).encode(), text("2"));
        assert_eq!(Packet::Pong(None).encode(), text("3"));
        assert_eq!(Packet::Ping(probe()).encode(), text("2probe"));
        assert_eq!(Packet::Pong(probe()).encode(), text("3probe"));
        assert_eq!(Packet::Upgrade.encode(), text("5"));
        assert_eq!(Packet::Noop.encode(), text("6"));
        assert_eq!(Packet::Close.encode(), text("1"));
    }

    #[test]
    fn data_after_dataless_types_is_ignored() {
        assert_eq!(dec("1bye").unwrap(), Packet::Close);
        assert_eq!(dec("5x").unwrap(), Packet::Upgrade);
        assert_eq!(dec("6x").unwrap(), Packet::Noop);
    }

    #[test]
    fn spec_messages() {
        assert_eq!(dec("4hello").unwrap(), Packet::text("hello"));
        assert_eq!(dec("4€").unwrap(), Packet::text("€"));
        assert_eq!(dec("4").unwrap(), Packet::text(""));
        assert_eq!(Packet::text("hello").encode(), text("4hello"));
        let bin = Bytes::from_static(&[1, 2, 3, 4]);
        assert_eq!(
            Packet::decode(Payload::Binary(bin.clone()), &Limits::default()).unwrap(),
            Packet::binary(bin.clone())
        );
        assert_eq!(
            Packet::binary(bin.clone()).encode(),
            Payload::Binary(bin.clone())
        );
        // A base64 text frame is a binary message too.
        assert_eq!(dec("bAQIDBA==").unwrap(), Packet::binary(bin.clone()));
        assert_eq!(dec("bAQIDBA").unwrap(), Packet::binary(bin));
        assert_eq!(dec("b").unwrap(), Packet::binary(Bytes::new()));
    }

    #[test]
    fn text_is_sliced_not_copied() {
        let frame = Bytes::from(String::from("4some text"));
        let ptr = frame.as_ptr();
        let p = Packet::decode_text_bytes(frame, &Limits::default()).unwrap();
        let Packet::Message(Payload::Text(t)) = p else {
            panic!()
        };
        assert_eq!(t.as_bytes().as_ptr(), ptr.wrapping_add(1));
    }

    #[test]
    fn malformed() {
        assert!(matches!(dec(""), Err(DecodeError::EmptyPacket)));
        assert!(matches!(
            dec("7"),
            Err(DecodeError::UnknownPacketType { byte: b'7' })
        ));
        assert!(matches!(
            dec("x4"),
            Err(DecodeError::UnknownPacketType { byte: b'x' })
        ));
        assert!(matches!(
            dec("€"),
            Err(DecodeError::UnknownPacketType { byte: 0xe2 })
        ));
        assert!(matches!(dec("b!!!!"), Err(DecodeError::InvalidBase64)));
        assert!(matches!(dec("bA"), Err(DecodeError::InvalidBase64)));
        assert!(matches!(dec("0"), Err(DecodeError::InvalidOpen(_))));
        assert!(matches!(dec("0{}"), Err(DecodeError::InvalidOpen(_))));
        assert!(matches!(
            dec("0{\"sid\":1}"),
            Err(DecodeError::InvalidOpen(_))
        ));
        assert!(matches!(
            Packet::decode_text_bytes(Bytes::from_static(b"4\xff"), &Limits::default()),
            Err(DecodeError::InvalidUtf8)
        ));
        let e = dec("9").unwrap_err();
        assert_eq!(e.to_string(), "unknown packet type '9'");
    }

    #[test]
    fn max_payload() {
        let limits = Limits {
            max_payload: 4,
            ..Limits::default()
        };
        assert!(Packet::decode(text("4abc"), &limits).is_ok());
        assert!(matches!(
            Packet::decode(text("4abcd"), &limits),
            Err(DecodeError::PayloadTooLarge { size: 5, limit: 4 })
        ));
        assert!(matches!(
            Packet::decode(Payload::Binary(Bytes::from_static(&[0; 5])), &limits),
            Err(DecodeError::PayloadTooLarge { size: 5, limit: 4 })
        ));
        assert!(Packet::decode(Payload::Binary(Bytes::from_static(&[0; 4])), &limits).is_ok());
    }

    #[test]
    fn base64_encoding() {
        for n in 0..10usize {
            let data: Vec<u8> = (0..n as u8).collect();
            let mut out = Vec::new();
            write_base64(&mut out, &data);
            assert_eq!(
                out,
                base64::engine::general_purpose::STANDARD
                    .encode(&data)
                    .into_bytes()
            );
        }
    }

    #[test]
    fn frame_and_message_helpers() {
        assert_eq!(text("4ab").len(), 3);
        assert!(!text("4").is_empty());
        assert!(Payload::Binary(Bytes::new()).is_empty());
        assert_eq!(
            Packet::decode(text("3"), &Limits::UNLIMITED).unwrap(),
            Packet::Pong(None)
        );
        assert_eq!(Payload::Text("ab".into()).len(), 2);
        assert!(Payload::Binary(Bytes::new()).is_empty());
        assert_eq!(format!("{:?}", Payload::Text("a".into())), "Text(\"a\")");
        assert_eq!(Packet::binary(vec![1]).packet_type(), PacketType::Message);
    }
}
