//! Encoding: the header and the JSON are written into one buffer, the data
//! serialized in one serde pass; binary values are written as placeholders
//! and collected as attachments on the way. Only when some were found is
//! the attachment count inserted after the type digit (binary packets are
//! the rare case). The finished buffer becomes a `String` after one UTF-8
//! check (the crate forbids `unsafe`), with no copy.

use std::cell::Cell;

use bytes::Bytes;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use socketeer_engineio::{Payload, Utf8Bytes};

use super::{is_reserved_event, validate, Packet, PacketType, PayloadError, MAIN_NAMESPACE};
use crate::value::Value;

mod binary;

/// The Engine.IO `message` packet type character, prefixed by
/// [`Packet::encode_message`].
const ENGINE_IO_MESSAGE: u8 = socketeer_engineio::PacketType::Message.as_byte();

/// Why a packet could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The namespace does not start with `/` or contains `,` (which would
    /// end it early on the wire).
    #[error("invalid namespace {0:?}")]
    InvalidNamespace(String),
    /// The data does not fit the packet type.
    #[error("invalid payload: {0}")]
    InvalidPayload(#[from] PayloadError),
    /// Binary data in a packet other than EVENT or ACK.
    #[error("{0} packets cannot carry binary data")]
    BinaryNotAllowed(PacketType),
    /// Serializing application data failed.
    #[error("cannot serialize data: {0}")]
    Json(#[source] serde_json::Error),
    /// [`EncodedMessage::event_serialize`] was given arguments that do not
    /// serialize to a JSON array.
    #[error("event arguments must serialize to a JSON array")]
    ArgsNotSequence,
}

/// An encoded Socket.IO packet: the packet text and its binary attachments
/// (to be sent, in order, right after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The packet text, e.g. `2["hello",1]`.
    pub text: String,
    /// The attachments; empty unless the packet is a binary one.
    pub attachments: Vec<Bytes>,
}

/// An encoded Socket.IO packet, framed as Engine.IO messages: the text with
/// the Engine.IO message prefix `4` (e.g. `42["hello",1]`), ready to be a
/// WebSocket text frame or a polling packet, and the attachments as binary
/// messages.
///
/// Built once, it can be handed to any number of connections: its
/// [`frames`](Self::frames) share the bytes (reference-count bumps), and
/// cloning it copies only the list of attachment handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedMessage {
    /// The Engine.IO text packet: `4` followed by the Socket.IO packet.
    pub text: Utf8Bytes,
    /// The attachments, each one Engine.IO binary message.
    pub attachments: Vec<Bytes>,
}

impl EncodedMessage {
    /// The Engine.IO frames to send, in order: the text, then each
    /// attachment. Each is sent as it is over WebSocket, or through
    /// `socketeer_engineio::payload::PayloadBuilder::push_frame` on
    /// long-polling.
    pub fn frames(&self) -> impl Iterator<Item = Payload> + '_ {
        std::iter::once(Payload::Text(self.text.clone()))
            .chain(self.attachments.iter().cloned().map(Payload::Binary))
    }

    /// The number of Engine.IO packets: 1 + attachments.
    pub fn frame_count(&self) -> usize {
        1 + self.attachments.len()
    }

    /// Encodes an EVENT for broadcasting, without building a [`Packet`]:
    /// `4` + `2[<n>-][<nsp>,][<id>]["<event>",...args]`, binary arguments
    /// (nested anywhere) as attachments.
    ///
    /// ```
    /// use socketeer::packet::EncodedMessage;
    /// use socketeer::Value;
    ///
    /// let m = EncodedMessage::event("/chat", "msg", None, &[Value::from("hi")])?;
    /// assert_eq!(m.text, r#"42/chat,["msg","hi"]"#);
    /// # Ok::<(), socketeer::packet::EncodeError>(())
    /// ```
    pub fn event(
        nsp: &str,
        event: &str,
        id: Option<u64>,
        args: &[Value],
    ) -> Result<Self, EncodeError> {
        check_event_name(event)?;
        let args = EventArray { event, args };
        let (text, attachments) = write(
            Some(ENGINE_IO_MESSAGE),
            PacketType::Event,
            nsp,
            id,
            Some(&args),
        )?;
        Ok(EncodedMessage::new(text, attachments))
    }

    /// Encodes an ACK: `4` + `3[<n>-][<nsp>,]<id>[...args]`, binary
    /// arguments as attachments (a BINARY_ACK then).
    ///
    /// ```
    /// use socketeer::packet::EncodedMessage;
    /// use socketeer::Value;
    ///
    /// let m = EncodedMessage::ack("/", 5, &[Value::from("ok")])?;
    /// assert_eq!(m.text, r#"435["ok"]"#);
    /// # Ok::<(), socketeer::packet::EncodeError>(())
    /// ```
    pub fn ack(nsp: &str, id: u64, args: &[Value]) -> Result<Self, EncodeError> {
        let (text, attachments) = write(
            Some(ENGINE_IO_MESSAGE),
            PacketType::Ack,
            nsp,
            Some(id),
            Some(args),
        )?;
        Ok(EncodedMessage::new(text, attachments))
    }

    /// Encodes an EVENT whose arguments are any `Serialize` value that
    /// serializes to a JSON array (a tuple, a `Vec`, an array): one serde
    /// pass straight into the output, no [`Value`] tree. Byte strings
    /// (`serialize_bytes`: `bytes::Bytes`, `serde_bytes` types,
    /// [`Value::Binary`]) become attachments, as they become
    /// [`Value::Binary`] in [`Value::from_serialize`]; `Vec<u8>` and
    /// `[u8]` serialize as sequences and stay arrays of numbers.
    ///
    /// ```
    /// use socketeer::packet::EncodedMessage;
    ///
    /// let m = EncodedMessage::event_serialize("/", "move", None, &(1, "two", [3.5]))?;
    /// assert_eq!(m.text, r#"42["move",1,"two",[3.5]]"#);
    /// let m = EncodedMessage::event_serialize("/", "ping", Some(7), &())?;
    /// assert_eq!(m.text, r#"427["ping"]"#);
    /// # Ok::<(), socketeer::packet::EncodeError>(())
    /// ```
    pub fn event_serialize<T: Serialize + ?Sized>(
        nsp: &str,
        event: &str,
        id: Option<u64>,
        args: &T,
    ) -> Result<Self, EncodeError> {
        check_event_name(event)?;
        let mut out = Vec::with_capacity(64 + nsp.len() + event.len());
        out.push(ENGINE_IO_MESSAGE);
        let type_at = out.len();
        write_header(&mut out, PacketType::Event, nsp, id)?;
        out.push(b'[');
        serde_json::to_writer(&mut out, event).map_err(EncodeError::Json)?;
        let open = out.len();
        let found = Cell::new(Vec::new());
        let args = binary::WithAttachments {
            value: args,
            found: &found,
        };
        serde_json::to_writer(&mut out, &args).map_err(EncodeError::Json)?;
        // `args` wrote `[...]`: turn its `[` into `,` (or drop an empty `[]`),
        // so its elements follow the event name and its `]` closes the array.
        // A unit `()` writes `null`: no arguments.
        let written = out.get(open..).unwrap_or_default();
        if written == b"[]" || written == b"null" {
            out.truncate(open);
            out.push(b']');
        } else if written.first() == Some(&b'[') {
            if let Some(b) = out.get_mut(open) {
                *b = b',';
            }
        } else {
            return Err(EncodeError::ArgsNotSequence);
        }
        let attachments = found.take();
        if !attachments.is_empty() {
            mark_binary(&mut out, type_at, PacketType::Event, attachments.len());
        }
        Ok(EncodedMessage::new(out, attachments))
    }

    fn new(text: Vec<u8>, attachments: Vec<Bytes>) -> Self {
        EncodedMessage {
            text: Utf8Bytes::from(into_string(text)),
            attachments,
        }
    }
}

impl Packet {
    /// Encodes the packet: its text and, for binary data, its attachments.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use socketeer::packet::Packet;
    /// use socketeer::Value;
    ///
    /// let p = Packet::event("/", "hello", vec![Value::Binary(Bytes::from_static(&[1, 2, 3]))]);
    /// let e = p.encode()?;
    /// assert_eq!(e.text, r#"51-["hello",{"_placeholder":true,"num":0}]"#);
    /// assert_eq!(e.attachments, [Bytes::from_static(&[1, 2, 3])]);
    /// # Ok::<(), socketeer::packet::EncodeError>(())
    /// ```
    pub fn encode(&self) -> Result<Encoded, EncodeError> {
        let (text, attachments) = self.encode_with_prefix(None)?;
        Ok(Encoded {
            text: into_string(text),
            attachments,
        })
    }

    /// Encodes the packet framed as Engine.IO messages (`4` + packet text);
    /// see [`EncodedMessage`].
    ///
    /// ```
    /// use socketeer::packet::Packet;
    /// use socketeer::Value;
    ///
    /// let m = Packet::ack("/admin", 13, vec![]).encode_message()?;
    /// assert_eq!(m.text, "43/admin,13[]");
    /// # Ok::<(), socketeer::packet::EncodeError>(())
    /// ```
    pub fn encode_message(&self) -> Result<EncodedMessage, EncodeError> {
        let (text, attachments) = self.encode_with_prefix(Some(ENGINE_IO_MESSAGE))?;
        Ok(EncodedMessage::new(text, attachments))
    }

    fn encode_with_prefix(&self, prefix: Option<u8>) -> Result<(Vec<u8>, Vec<Bytes>), EncodeError> {
        validate(self.kind, self.data.as_ref())?;
        write(
            prefix,
            self.kind.normalized(),
            &self.nsp,
            self.id,
            self.data.as_ref(),
        )
    }
}

fn check_event_name(event: &str) -> Result<(), EncodeError> {
    if is_reserved_event(event) {
        return Err(PayloadError::ReservedEventName(event.to_owned()).into());
    }
    Ok(())
}

/// The encoder writes only UTF-8 (ASCII header, JSON from `serde_json`); the
/// lossy branch is never taken.
fn into_string(text: Vec<u8>) -> String {
    String::from_utf8(text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn check_namespace(nsp: &str) -> Result<(), EncodeError> {
    if !nsp.starts_with('/') || nsp.contains(',') {
        return Err(EncodeError::InvalidNamespace(nsp.to_owned()));
    }
    Ok(())
}

/// Writes `<type>[<nsp>,][<id>]`.
fn write_header(
    out: &mut Vec<u8>,
    kind: PacketType,
    nsp: &str,
    id: Option<u64>,
) -> Result<(), EncodeError> {
    check_namespace(nsp)?;
    out.push(kind.as_byte());
    if nsp != MAIN_NAMESPACE {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        write_decimal(out, id);
    }
    Ok(())
}

fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

/// Writes a whole packet (`kind` normalized, data validated by the caller)
/// and returns its bytes and attachments.
fn write<S: WithPlaceholders + ?Sized>(
    prefix: Option<u8>,
    kind: PacketType,
    nsp: &str,
    id: Option<u64>,
    data: Option<&S>,
) -> Result<(Vec<u8>, Vec<Bytes>), EncodeError> {
    let mut out = Vec::with_capacity(128);
    out.extend(prefix);
    let type_at = out.len();
    write_header(&mut out, kind, nsp, id)?;
    let mut attachments = Vec::new();
    if let Some(data) = data {
        let found = Cell::new(Vec::new());
        let placeholders = Placeholders {
            value: data,
            found: &found,
        };
        serde_json::to_writer(&mut out, &placeholders).map_err(EncodeError::Json)?;
        attachments = found.take();
    }
    if !attachments.is_empty() {
        if !matches!(kind, PacketType::Event | PacketType::Ack) {
            return Err(EncodeError::BinaryNotAllowed(kind));
        }
        mark_binary(&mut out, type_at, kind, attachments.len());
    }
    Ok((out, attachments))
}

/// Turns the packet written in `out`, its type digit at `type_at`, into
/// the binary packet with `count` attachments: `<binary type><count>-...`.
fn mark_binary(out: &mut Vec<u8>, type_at: usize, kind: PacketType, count: usize) {
    if let Some(t) = out.get_mut(type_at) {
        *t = kind.with_binary().as_byte();
    }
    let mut digits = Vec::with_capacity(8);
    write_decimal(&mut digits, count as u64);
    digits.push(b'-');
    let at = type_at + 1;
    out.splice(at..at, digits);
}

/// Serializes through [`Placeholders`] wherever a [`Value`] may hold binary.
trait WithPlaceholders {
    fn serialize_placeholders<S: Serializer>(
        &self,
        found: &Cell<Vec<Bytes>>,
        s: S,
    ) -> Result<S::Ok, S::Error>;
}

/// Serializes `value` with each [`Value::Binary`] replaced by
/// `{"_placeholder":true,"num":i}`, pushing its bytes into `found` (so `i`
/// is its index there, in document order).
struct Placeholders<'a, T: ?Sized> {
    value: &'a T,
    found: &'a Cell<Vec<Bytes>>,
}

impl<T: WithPlaceholders + ?Sized> Serialize for Placeholders<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize_placeholders(self.found, s)
    }
}

impl WithPlaceholders for Value {
    fn serialize_placeholders<S: Serializer>(
        &self,
        found: &Cell<Vec<Bytes>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match self {
            Value::Binary(bytes) => {
                let mut list = found.take();
                let num = list.len();
                list.push(bytes.clone());
                found.set(list);
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("_placeholder", &true)?;
                map.serialize_entry("num", &num)?;
                map.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for value in items {
                    seq.serialize_element(&Placeholders { value, found })?;
                }
                seq.end()
            }
            Value::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, value) in members {
                    map.serialize_entry(k, &Placeholders { value, found })?;
                }
                map.end()
            }
            scalar => scalar.serialize(s),
        }
    }
}

/// An array of values (ack arguments) without building a [`Value::Array`].
impl WithPlaceholders for [Value] {
    fn serialize_placeholders<S: Serializer>(
        &self,
        found: &Cell<Vec<Bytes>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for value in self {
            seq.serialize_element(&Placeholders { value, found })?;
        }
        seq.end()
    }
}

/// `["event", ...args]` without building the array.
struct EventArray<'a> {
    event: &'a str,
    args: &'a [Value],
}

impl WithPlaceholders for EventArray<'_> {
    fn serialize_placeholders<S: Serializer>(
        &self,
        found: &Cell<Vec<Bytes>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.args.len() + 1))?;
        seq.serialize_element(self.event)?;
        for value in self.args {
            seq.serialize_element(&Placeholders { value, found })?;
        }
        seq.end()
    }
}

/// Event arguments from any value serializing to a JSON array: a tuple
/// (or a `Vec`, an array, a slice) spreads into arguments, `()` gives
/// none, as [`EncodedMessage::event_serialize`] reads them:
/// `args_from_serialize(&("a", 1))` gives `["a", 1]`.
pub fn args_from_serialize<T: serde::Serialize + ?Sized>(
    args: &T,
) -> Result<Vec<crate::Value>, EncodeError> {
    match crate::Value::from_serialize(args).map_err(EncodeError::Json)? {
        crate::Value::Array(a) => Ok(a),
        crate::Value::Null => Ok(Vec::new()),
        _ => Err(EncodeError::ArgsNotSequence),
    }
}
