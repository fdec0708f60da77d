//! Decoding: one header scan over the bytes, one `serde_json` parse of the
//! data slice, then (binary packets only) placeholder replacement once all
//! attachments have arrived.

use std::borrow::Cow;

use bytes::Bytes;
use socketeer_engineio::Payload;

use super::{validate, Packet, PacketType, PayloadError, MAIN_NAMESPACE};
use crate::value::{Map, Value};

/// The default [`DecoderConfig::max_attachments`].
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// Why a packet could not be decoded. The JS server closes the connection on
/// any of these; so should ours.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An empty packet.
    #[error("empty packet")]
    Empty,
    /// The first byte is not a packet type digit `0`..`6`.
    #[error("unknown packet type {:?}", char::from(*.byte))]
    UnknownPacketType {
        /// The offending byte.
        byte: u8,
    },
    /// A binary packet whose attachment count is not digits followed by `-`.
    #[error("illegal attachments")]
    InvalidAttachments,
    /// A binary packet announcing more attachments than allowed.
    #[error("{count} attachments exceed the limit of {limit}")]
    TooManyAttachments {
        /// The announced count (saturated at `usize::MAX`).
        count: usize,
        /// [`DecoderConfig::max_attachments`].
        limit: usize,
    },
    /// An ack id that does not fit in a `u64`.
    #[error("invalid ack id")]
    InvalidAckId,
    /// The namespace is not UTF-8 (only possible for text given as bytes).
    #[error("namespace is not valid UTF-8")]
    InvalidUtf8,
    /// The data is not JSON.
    #[error("invalid JSON data: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// The data does not fit the packet type.
    #[error("invalid payload: {0}")]
    InvalidPayload(#[from] PayloadError),
    /// A placeholder whose `num` is not an attachment index.
    #[error("illegal attachments: placeholder without a matching attachment")]
    InvalidPlaceholder,
    /// Binary data while no binary packet is waiting for attachments.
    #[error("got binary data when not reconstructing a packet")]
    UnexpectedBinary,
    /// A text packet while a binary packet is waiting for attachments.
    #[error("got plaintext data when reconstructing a packet")]
    UnexpectedText,
    /// [`Packet::decode_str`] was given a binary packet that needs
    /// attachments; use a [`Decoder`].
    #[error("the packet needs {expected} binary attachments")]
    MissingAttachments {
        /// The announced attachment count.
        expected: usize,
    },
}

/// Decoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderConfig {
    /// The most attachments one binary packet may announce; more is
    /// [`DecodeError::TooManyAttachments`], before any JSON is parsed.
    /// Default [`DEFAULT_MAX_ATTACHMENTS`] (10).
    pub max_attachments: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            max_attachments: DEFAULT_MAX_ATTACHMENTS,
        }
    }
}

/// A binary packet waiting for its attachments.
#[derive(Debug, Clone)]
struct Pending {
    packet: Packet,
    expected: usize,
    buffers: Vec<Bytes>,
}

/// Decodes the Socket.IO packets of one connection, in the order their
/// Engine.IO messages arrive: text messages are packets, binary messages
/// are the attachments of the binary packet before them.
///
/// Every method returns `Ok(Some(packet))` when a packet is complete,
/// `Ok(None)` while a binary packet waits for attachments, and an error on
/// malformed input, after which the decoder is reset (the connection should
/// be closed anyway).
///
/// ```
/// use bytes::Bytes;
/// use socketeer::packet::{Decoder, PacketType};
/// use socketeer::Value;
///
/// let mut decoder = Decoder::new();
/// assert!(decoder.decode_str(r#"51-["hello",{"_placeholder":true,"num":0}]"#)?.is_none());
/// let packet = decoder.decode_binary(Bytes::from_static(&[1, 2, 3]))?.unwrap();
/// assert_eq!(packet.kind, PacketType::Event);
/// assert_eq!(packet.event_name(), Some("hello"));
/// assert_eq!(packet.args(), [Value::Binary(Bytes::from_static(&[1, 2, 3]))]);
/// # Ok::<(), socketeer::packet::DecodeError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    config: DecoderConfig,
    /// Boxed: every connection has a decoder, few have a binary packet
    /// half-received (a `Packet` inline cost each one ~100 bytes).
    pending: Option<Box<Pending>>,
}

impl Decoder {
    /// A decoder with the default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder with `config`.
    pub fn with_config(config: DecoderConfig) -> Self {
        Decoder {
            config,
            pending: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// How many attachments the pending binary packet still waits for
    /// (0 when none is pending).
    pub fn awaiting_attachments(&self) -> usize {
        self.pending
            .as_ref()
            .map_or(0, |p| p.expected.saturating_sub(p.buffers.len()))
    }

    /// Drops a pending binary packet.
    pub fn reset(&mut self) {
        self.pending = None;
    }

    /// Decodes an Engine.IO message: text is a packet, binary an attachment.
    pub fn decode_message(&mut self, message: Payload) -> Result<Option<Packet>, DecodeError> {
        match message {
            Payload::Text(text) => self.decode_str(&text),
            Payload::Binary(data) => self.decode_binary(data),
        }
    }

    /// Decodes a text packet given as bytes; they must be UTF-8
    /// ([`DecodeError::InvalidUtf8`] otherwise). Text while a binary packet
    /// waits for attachments is [`DecodeError::UnexpectedText`], UTF-8 or
    /// not.
    pub fn decode_text(&mut self, text: &[u8]) -> Result<Option<Packet>, DecodeError> {
        if self.pending.is_some() {
            self.pending = None;
            return Err(DecodeError::UnexpectedText);
        }
        let text = std::str::from_utf8(text).map_err(|_| DecodeError::InvalidUtf8)?;
        self.decode_str(text)
    }

    /// Decodes a text packet. Already-validated text is parsed without a
    /// second UTF-8 pass.
    pub fn decode_str(&mut self, text: &str) -> Result<Option<Packet>, DecodeError> {
        if self.pending.is_some() {
            self.pending = None;
            return Err(DecodeError::UnexpectedText);
        }
        let (packet, attachments) = parse(text, self.config.max_attachments)?;
        if attachments == 0 {
            return Ok(Some(packet));
        }
        self.pending = Some(Box::new(Pending {
            packet,
            expected: attachments,
            buffers: Vec::with_capacity(attachments),
        }));
        Ok(None)
    }

    /// Takes a binary attachment of the pending binary packet.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, DecodeError> {
        let Some(pending) = self.pending.as_mut() else {
            return Err(DecodeError::UnexpectedBinary);
        };
        pending.buffers.push(data);
        if pending.buffers.len() < pending.expected {
            return Ok(None);
        }
        let Some(pending) = self.pending.take() else {
            return Err(DecodeError::UnexpectedBinary);
        };
        let Pending {
            mut packet,
            buffers,
            ..
        } = *pending;
        if let Some(data) = packet.data.as_mut() {
            reconstruct(data, &buffers)?;
        }
        Ok(Some(packet))
    }
}

impl Packet {
    /// Decodes one text packet that needs no attachments (a binary packet
    /// announcing attachments is [`DecodeError::MissingAttachments`]).
    ///
    /// ```
    /// use socketeer::packet::{Packet, PacketType};
    ///
    /// let p = Packet::decode_str(r#"2/admin,13["project:delete",123]"#)?;
    /// assert_eq!((p.kind, &*p.nsp, p.id), (PacketType::Event, "/admin", Some(13)));
    /// assert_eq!(p.event_name(), Some("project:delete"));
    /// # Ok::<(), socketeer::packet::DecodeError>(())
    /// ```
    pub fn decode_str(text: &str) -> Result<Packet, DecodeError> {
        match parse(text, usize::MAX)? {
            (packet, 0) => Ok(packet),
            (_, expected) => Err(DecodeError::MissingAttachments { expected }),
        }
    }
}

/// Leading ASCII digits of `bytes`: their value (`None` on overflow) and count.
fn digits(bytes: &[u8]) -> (Option<u64>, usize) {
    let mut value = Some(0u64);
    let mut len = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            break;
        }
        value = value
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(u64::from(b - b'0')));
        len += 1;
    }
    (value, len)
}

/// Parses a packet's text: the packet (kind normalized, placeholders still
/// in place) and its attachment count.
fn parse(text: &str, max_attachments: usize) -> Result<(Packet, usize), DecodeError> {
    // Every split below is at an ASCII byte, so each piece stays a `str`.
    let Some(&first) = text.as_bytes().first() else {
        return Err(DecodeError::Empty);
    };
    let kind =
        PacketType::from_byte(first).ok_or(DecodeError::UnknownPacketType { byte: first })?;
    let mut rest = text.get(1..).unwrap_or_default();

    let mut attachments = 0;
    if kind.is_binary() {
        let (count, len) = digits(rest.as_bytes());
        if len == 0 || rest.as_bytes().get(len) != Some(&b'-') {
            return Err(DecodeError::InvalidAttachments);
        }
        let count = count.map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX));
        if count > max_attachments {
            return Err(DecodeError::TooManyAttachments {
                count,
                limit: max_attachments,
            });
        }
        attachments = count;
        rest = rest.get(len + 1..).unwrap_or_default();
    }

    let mut nsp = Cow::Borrowed(MAIN_NAMESPACE);
    if rest.starts_with('/') {
        let end = rest.find(',').unwrap_or(rest.len());
        let name = rest.get(..end).unwrap_or_default();
        if name != MAIN_NAMESPACE {
            nsp = Cow::Owned(name.to_owned());
        }
        rest = rest.get(end + 1..).unwrap_or_default();
    }

    let mut id = None;
    let (value, len) = digits(rest.as_bytes());
    if len > 0 {
        id = Some(value.ok_or(DecodeError::InvalidAckId)?);
        rest = rest.get(len..).unwrap_or_default();
    }

    let data = if rest.is_empty() {
        None
    } else {
        Some(match serde_json::from_str::<Value>(rest) {
            Ok(v) => v,
            // JavaScript strings may hold unpaired UTF-16 surrogates, which
            // JSON.stringify writes as `\ud83d`; Rust strings cannot hold
            // them, so they become U+FFFD, as in a lossy UTF-16 decode.
            Err(e) => match replace_lone_surrogates(rest.as_bytes()) {
                Some(fixed) => {
                    serde_json::from_slice::<Value>(&fixed).map_err(DecodeError::InvalidJson)?
                }
                None => return Err(DecodeError::InvalidJson(e)),
            },
        })
    };
    validate(kind, data.as_ref())?;

    let packet = Packet {
        kind: kind.normalized(),
        nsp,
        id,
        data,
    };
    Ok((packet, attachments))
}

/// The attachment a placeholder object stands for; `None` when `map` is
/// not a placeholder (`_placeholder` is not `true`).
fn placeholder(map: &Map, buffers: &[Bytes]) -> Option<Result<Bytes, DecodeError>> {
    if map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    let found = map
        .get("num")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .and_then(|n| buffers.get(n));
    Some(found.cloned().ok_or(DecodeError::InvalidPlaceholder))
}

/// Replaces placeholders anywhere in `value` with their attachments.
fn reconstruct(value: &mut Value, buffers: &[Bytes]) -> Result<(), DecodeError> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(|v| reconstruct(v, buffers)),
        Value::Object(map) => match placeholder(map, buffers) {
            Some(found) => {
                *value = Value::Binary(found?);
                Ok(())
            }
            None => map.values_mut().try_for_each(|v| reconstruct(v, buffers)),
        },
        _ => Ok(()),
    }
}

/// The value of a `\uXXXX` escape starting at `json[i]` (the backslash).
fn unicode_escape(json: &[u8], i: usize) -> Option<u16> {
    if json.get(i + 1) != Some(&b'u') {
        return None;
    }
    let hex = std::str::from_utf8(json.get(i + 2..i + 6)?).ok()?;
    u16::from_str_radix(hex, 16).ok()
}

/// A copy of `json` with every unpaired surrogate escape replaced by
/// `\ufffd`, or `None` if it has none.
fn replace_lone_surrogates(json: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(json.len());
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = json.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        match unicode_escape(json, i) {
            Some(0xd800..=0xdbff) => {
                let paired = matches!(unicode_escape(json, i + 6), Some(0xdc00..=0xdfff));
                if paired {
                    out.extend_from_slice(json.get(i..i + 12)?);
                    i += 12;
                } else {
                    out.extend_from_slice(b"\\ufffd");
                    changed = true;
                    i += 6;
                }
            }
            Some(0xdc00..=0xdfff) => {
                out.extend_from_slice(b"\\ufffd");
                changed = true;
                i += 6;
            }
            _ => {
                // Any other escape: copy it and the escaped byte as they are.
                out.extend_from_slice(json.get(i..(i + 2).min(json.len()))?);
                i += 2;
            }
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod surrogate_tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let p = Packet::decode_str(r#"2["message","\ud83d","a\ude00b","\ud83d\ude00","\\ud83d"]"#)
            .unwrap();
        let args: Vec<&str> = p.args().iter().filter_map(Value::as_str).collect();
        assert_eq!(args, ["\u{fffd}", "a\u{fffd}b", "😀", "\\ud83d"]);
        assert!(Packet::decode_str(r#"2["message","\ud83d"#).is_err());
    }
}
