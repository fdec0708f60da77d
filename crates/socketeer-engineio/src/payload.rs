//! HTTP long-polling payloads.
//!
//! A payload is one or more text-encoded packets joined by the record
//! separator `0x1E`; a binary message is `b` followed by its base64:
//!
//! ```text
//! 4hello\x1e4€\x1ebAQIDBA==
//! ```
//!
//! The body is UTF-8 text either way (`Content-Type: text/plain;
//! charset=UTF-8`). Decoding slices each packet's text out of the body
//! without copying; only base64 binary messages are decoded into new bytes.
//!
//! The separator is not escaped: a *text* message containing `0x1E` cannot
//! cross long-polling. Socket.IO packets never contain it (JSON escapes
//! control characters), and [`PayloadBuilder`] refuses such a message
//! rather than corrupting the payload.

use bytes::Bytes;

use crate::packet::{tail, write_base64};
use crate::packet::{DecodeError, Limits, Packet};
use crate::Payload;

/// The record separator between the packets of a payload.
pub const SEPARATOR: u8 = 0x1e;

/// Why a payload could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A text packet contains `0x1E`, which would split it in two.
    #[error("a text packet contains the record separator 0x1E")]
    RecordSeparator,
}

/// Decodes a whole payload into its packets.
///
/// The body must be at most [`Limits::max_payload`] bytes, hold at most
/// [`Limits::max_packets`] packets, be UTF-8, and every packet in it must
/// decode; an empty packet (`""`, `"4a\x1e"`, `"\x1e"`) is an error, as in
/// the JS parser.
///
/// ```
/// use bytes::Bytes;
/// use socketeer_engineio::{payload, Limits, Packet};
///
/// let body = Bytes::from_static("4hello\x1ebAQIDBA==".as_bytes());
/// let packets = payload::decode(body, &Limits::default())?;
/// assert_eq!(packets, [Packet::text("hello"), Packet::binary(vec![1, 2, 3, 4])]);
/// # Ok::<(), socketeer_engineio::DecodeError>(())
/// ```
pub fn decode(body: Bytes, limits: &Limits) -> Result<Vec<Packet>, DecodeError> {
    decode_iter(body, limits)?.collect()
}

/// Checks a payload's size and UTF-8, then decodes its packets lazily, one
/// per call to `next` (no intermediate `Vec`). The iterator stops after the
/// first error.
pub fn decode_iter(body: Bytes, limits: &Limits) -> Result<PayloadIter, DecodeError> {
    limits.check_size(body.len())?;
    std::str::from_utf8(&body).map_err(|_| DecodeError::InvalidUtf8)?;
    Ok(PayloadIter {
        body,
        pos: 0,
        count: 0,
        max_packets: limits.max_packets,
        done: false,
    })
}

/// The packets of a payload, see [`decode_iter`].
#[derive(Debug, Clone)]
pub struct PayloadIter {
    body: Bytes,
    pos: usize,
    count: usize,
    max_packets: usize,
    done: bool,
}

impl Iterator for PayloadIter {
    type Item = Result<Packet, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.count >= self.max_packets {
            self.done = true;
            return Some(Err(DecodeError::TooManyPackets {
                limit: self.max_packets,
            }));
        }
        self.count += 1;
        let rest = tail(&self.body, self.pos);
        let packet = match rest.iter().position(|&b| b == SEPARATOR) {
            Some(end) => {
                self.pos += end + 1;
                rest.slice(..end)
            }
            None => {
                self.done = true;
                rest
            }
        };
        // The body is UTF-8 and 0x1E is ASCII, so each piece is UTF-8 too.
        let result = Packet::decode_text_unchecked_size(packet);
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}

impl std::iter::FusedIterator for PayloadIter {}

/// Encodes packets into one payload.
///
/// ```
/// use socketeer_engineio::{payload, Packet};
///
/// let body = payload::encode(&[Packet::text("hello"), Packet::binary(vec![1, 2, 3, 4])])?;
/// assert_eq!(&body[..], "4hello\x1ebAQIDBA==".as_bytes());
/// # Ok::<(), payload::EncodeError>(())
/// ```
pub fn encode<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> Result<Bytes, EncodeError> {
    let mut builder = PayloadBuilder::new();
    for packet in packets {
        builder.push(packet)?;
    }
    Ok(builder.finish())
}

/// Builds a payload packet by packet, from packets or from frames already
/// encoded once for many recipients ([`push_frame`](Self::push_frame)).
/// [`len`](Self::len) lets a transport stop before a size budget.
#[derive(Debug, Clone, Default)]
pub struct PayloadBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl PayloadBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        PayloadBuilder {
            buf: Vec::with_capacity(bytes),
            count: 0,
        }
    }

    /// Appends a packet.
    pub fn push(&mut self, packet: &Packet) -> Result<(), EncodeError> {
        let start = self.start_packet(packet.text_len_hint());
        packet.write_text(&mut self.buf);
        self.end_packet(
            start,
            !matches!(packet, Packet::Message(crate::Payload::Binary(_))),
        )
    }

    /// Appends an already encoded packet: a text frame as it is (text
    /// packets are encoded alike on both transports), a binary frame as `b`
    /// + base64.
    pub fn push_frame(&mut self, frame: &Payload) -> Result<(), EncodeError> {
        match frame {
            Payload::Text(text) => {
                let start = self.start_packet(text.len());
                self.buf.extend_from_slice(text.as_bytes());
                self.end_packet(start, true)
            }
            Payload::Binary(data) => {
                let start = self.start_packet(1 + data.len().div_ceil(3) * 4);
                self.buf.push(b'b');
                write_base64(&mut self.buf, data);
                self.end_packet(start, false)
            }
        }
    }

    fn start_packet(&mut self, hint: usize) -> usize {
        self.buf.reserve(hint + 1);
        if self.count > 0 {
            self.buf.push(SEPARATOR);
        }
        self.buf.len()
    }

    fn end_packet(&mut self, start: usize, check: bool) -> Result<(), EncodeError> {
        let written = self.buf.get(start..).unwrap_or_default();
        if check && written.contains(&SEPARATOR) {
            // Undo this packet, separator included.
            self.buf
                .truncate(start.saturating_sub(usize::from(self.count > 0)));
            return Err(EncodeError::RecordSeparator);
        }
        self.count += 1;
        Ok(())
    }

    /// The payload's length so far, in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no packet was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The number of packets pushed.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The payload.
    pub fn finish(self) -> Bytes {
        Bytes::from(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenPacket, Utf8Bytes};

    fn dec(s: &'static str) -> Result<Vec<Packet>, DecodeError> {
        decode(Bytes::from_static(s.as_bytes()), &Limits::default())
    }

    #[test]
    fn spec_examples() {
        assert_eq!(
            dec("4hello\x1e4€").unwrap(),
            [Packet::text("hello"), Packet::text("€")]
        );
        assert_eq!(
            dec("4hello\x1ebAQIDBA==").unwrap(),
            [Packet::text("hello"), Packet::binary(vec![1, 2, 3, 4])]
        );
        assert_eq!(
            &encode(&[Packet::text("hello"), Packet::text("€")]).unwrap()[..],
            "4hello\x1e4€".as_bytes()
        );
        assert_eq!(dec("6").unwrap(), [Packet::Noop]);
        assert_eq!(dec("1").unwrap(), [Packet::Close]);
        assert_eq!(
            dec("2\x1e2probe").unwrap(),
            [Packet::Ping(None), Packet::Ping(Some("probe".into()))]
        );
        assert_eq!(&encode(&[]).unwrap()[..], b"");
    }

    #[test]
    fn open_packet_in_payload() {
        let open = Packet::Open(OpenPacket {
            sid: "abc".into(),
            upgrades: vec!["websocket".into()],
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: 1_000_000,
        });
        let body = encode([&open, &Packet::text("x")]).unwrap();
        let expected = concat!(
            r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
            "\x1e4x"
        );
        assert_eq!(&body[..], expected.as_bytes());
        assert_eq!(
            decode(body, &Limits::default()).unwrap(),
            [open, Packet::text("x")]
        );
    }

    #[test]
    fn packets_are_sliced_from_the_body() {
        let body = Bytes::from(String::from("4ab\x1e4cd"));
        let base = body.as_ptr() as usize;
        let packets = decode(body, &Limits::default()).unwrap();
        let offsets: Vec<usize> = packets
            .iter()
            .map(|p| match p {
                Packet::Message(crate::Payload::Text(t)) => t.as_bytes().as_ptr() as usize - base,
                _ => usize::MAX,
            })
            .collect();
        assert_eq!(offsets, [1, 5]);
    }

    #[test]
    fn malformed() {
        assert!(matches!(dec(""), Err(DecodeError::EmptyPacket)));
        assert!(matches!(dec("4a\x1e"), Err(DecodeError::EmptyPacket)));
        assert!(matches!(dec("\x1e4a"), Err(DecodeError::EmptyPacket)));
        assert!(matches!(dec("4a\x1e\x1e4b"), Err(DecodeError::EmptyPacket)));
        assert!(matches!(
            dec("4a\x1e9"),
            Err(DecodeError::UnknownPacketType { byte: b'9' })
        ));
        assert!(matches!(dec("4a\x1eb#"), Err(DecodeError::InvalidBase64)));
        assert!(matches!(
            decode(Bytes::from_static(b"4\xc3\x28"), &Limits::default()),
            Err(DecodeError::InvalidUtf8)
        ));
    }

    #[test]
    fn iterator_stops_after_error() {
        let mut it = decode_iter(Bytes::from_static(b"4a\x1e9\x1e4b"), &Limits::default()).unwrap();
        assert_eq!(it.next().unwrap().unwrap(), Packet::text("a"));
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn limits() {
        let limits = Limits {
            max_payload: 8,
            max_packets: 2,
        };
        let body = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert_eq!(decode(body("4a\x1e4b"), &limits).unwrap().len(), 2);
        assert!(matches!(
            decode(body("4a\x1e4b\x1e4c"), &limits),
            Err(DecodeError::TooManyPackets { limit: 2 })
        ));
        assert!(matches!(
            decode(body("4abcdefgh"), &limits),
            Err(DecodeError::PayloadTooLarge { size: 9, limit: 8 })
        ));
    }

    #[test]
    fn builder() {
        let mut b = PayloadBuilder::with_capacity(64);
        assert!(b.is_empty());
        b.push(&Packet::text("hello")).unwrap();
        assert_eq!(
            b.push(&Packet::text("a\x1eb")),
            Err(EncodeError::RecordSeparator)
        );
        assert_eq!(
            b.push_frame(&Payload::Text(Utf8Bytes::from_static("4x\x1e"))),
            Err(EncodeError::RecordSeparator)
        );
        assert_eq!(b.len(), 6);
        b.push_frame(&Packet::text("€").encode()).unwrap();
        b.push_frame(&Packet::binary(vec![1, 2, 3, 4]).encode())
            .unwrap();
        b.push(&Packet::binary(vec![0x1e])).unwrap();
        b.push(&Packet::Pong(Some("probe".into()))).unwrap();
        assert_eq!(b.count(), 5);
        assert!(!b.is_empty());
        assert_eq!(
            &b.finish()[..],
            "4hello\x1e4€\x1ebAQIDBA==\x1ebHg==\x1e3probe".as_bytes()
        );

        let mut first = PayloadBuilder::new();
        assert_eq!(
            first.push(&Packet::text("\x1e")),
            Err(EncodeError::RecordSeparator)
        );
        assert_eq!(first.len(), 0);
        assert_eq!(first.count(), 0);
    }
}
