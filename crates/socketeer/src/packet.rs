//! Socket.IO v5 packets, encoded as the official `socket.io-parser` v4 does.
//!
//! ```text
//! <type>[<#attachments>-][<namespace>,][<ack id>][JSON data]
//! ```
//!
//! - the type is one digit, `0`..`6` ([`PacketType`]);
//! - binary packets (`5`, `6`) give their attachment count and a `-`;
//! - the namespace is written only when it is not `/`, followed by `,`;
//! - the ack id is decimal digits;
//! - the data is JSON, with `{"_placeholder":true,"num":i}` where the `i`-th
//!   binary attachment goes; the attachments follow as separate binary
//!   Engine.IO messages.
//!
//! Examples: `0/admin,{"token":"123"}`, `2/admin,13["foo"]`,
//! `51-["hello",{"_placeholder":true,"num":0}]`, `3/admin,13[]`, `1/admin,`.
//!
//! [`Packet`] holds data as a [`Value`], where binary sits at its place as
//! [`Value::Binary`]: the [`Decoder`] reconstructs it from placeholders and
//! attachments, [`Packet::encode`] takes it apart again.

use std::borrow::Cow;
use std::fmt;

use crate::value::Value;

mod decode;
mod encode;

pub use decode::{DecodeError, Decoder, DecoderConfig, DEFAULT_MAX_ATTACHMENTS};
pub use encode::{args_from_serialize, EncodeError, Encoded, EncodedMessage};

/// Event names an application may not send or receive: they have a meaning
/// of their own on the client or the server, or in Node's EventEmitter. An
/// EVENT packet naming one of them is invalid, as in `socket.io-parser`.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether `name` is one of the [`RESERVED_EVENTS`].
pub fn is_reserved_event(name: &str) -> bool {
    RESERVED_EVENTS.contains(&name)
}

/// The Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: connect to a namespace (client: optional auth object; server:
    /// `{"sid": ...}`).
    Connect,
    /// `1`: disconnect from a namespace.
    Disconnect,
    /// `2`: an event, `["name", ...args]`.
    Event,
    /// `3`: the answer to an event with an ack id, `[...args]`.
    Ack,
    /// `4`: refusal of a connection (an object, usually `{"message": ...}`,
    /// or a string).
    ConnectError,
    /// `5`: an event with binary attachments. Wire-level only: decoded
    /// packets are [`Event`](Self::Event), and the encoder picks `5` by
    /// itself when the data holds binary.
    BinaryEvent,
    /// `6`: an ack with binary attachments; wire-level only, as
    /// [`BinaryEvent`](Self::BinaryEvent).
    BinaryAck,
}

impl PacketType {
    /// All types, in wire order.
    pub const ALL: [PacketType; 7] = [
        PacketType::Connect,
        PacketType::Disconnect,
        PacketType::Event,
        PacketType::Ack,
        PacketType::ConnectError,
        PacketType::BinaryEvent,
        PacketType::BinaryAck,
    ];

    /// The type's number, `0..=6`.
    pub const fn as_u8(self) -> u8 {
        match self {
            PacketType::Connect => 0,
            PacketType::Disconnect => 1,
            PacketType::Event => 2,
            PacketType::Ack => 3,
            PacketType::ConnectError => 4,
            PacketType::BinaryEvent => 5,
            PacketType::BinaryAck => 6,
        }
    }

    /// The type's digit as an ASCII byte, `b'0'..=b'6'`.
    pub const fn as_byte(self) -> u8 {
        b'0' + self.as_u8()
    }

    /// The type for a digit byte `b'0'..=b'6'`.
    pub const fn from_byte(b: u8) -> Option<PacketType> {
        Some(match b {
            b'0' => PacketType::Connect,
            b'1' => PacketType::Disconnect,
            b'2' => PacketType::Event,
            b'3' => PacketType::Ack,
            b'4' => PacketType::ConnectError,
            b'5' => PacketType::BinaryEvent,
            b'6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// Whether this is `BinaryEvent` or `BinaryAck`.
    pub const fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }

    /// `Event` for `BinaryEvent`, `Ack` for `BinaryAck`, others unchanged.
    pub const fn normalized(self) -> PacketType {
        match self {
            PacketType::BinaryEvent => PacketType::Event,
            PacketType::BinaryAck => PacketType::Ack,
            other => other,
        }
    }

    /// The binary variant of `Event`/`Ack`, others unchanged.
    pub(crate) const fn with_binary(self) -> PacketType {
        match self {
            PacketType::Event => PacketType::BinaryEvent,
            PacketType::Ack => PacketType::BinaryAck,
            other => other,
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            PacketType::Connect => "CONNECT",
            PacketType::Disconnect => "DISCONNECT",
            PacketType::Event => "EVENT",
            PacketType::Ack => "ACK",
            PacketType::ConnectError => "CONNECT_ERROR",
            PacketType::BinaryEvent => "BINARY_EVENT",
            PacketType::BinaryAck => "BINARY_ACK",
        };
        f.write_str(name)
    }
}

/// Data that does not fit its packet type, per `socket.io-parser`'s rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// CONNECT data, when present, must be an object.
    #[error("CONNECT data must be an object")]
    ConnectNotObject,
    /// DISCONNECT carries no data.
    #[error("DISCONNECT must not carry data")]
    DisconnectWithData,
    /// CONNECT_ERROR data, when present, must be an object or a string.
    #[error("CONNECT_ERROR data must be an object or a string")]
    ConnectErrorNotObjectOrString,
    /// EVENT data must be an array whose first element, the event name, is
    /// a string or a number.
    #[error("EVENT data must be an array starting with the event name")]
    EventNotNamedArray,
    /// The event name is one of the [`RESERVED_EVENTS`].
    #[error("event name {0:?} is reserved")]
    ReservedEventName(String),
    /// ACK data must be an array.
    #[error("ACK data must be an array")]
    AckNotArray,
}

/// Checks `data` against `kind` (normalized or not).
///
/// Rules of `socket.io-parser`'s `isPayloadValid`, except that EVENT and ACK
/// require data (the JS parser lets `"2"` and `"3"` through with none,
/// which no client sends and no handler can use).
pub fn validate(kind: PacketType, data: Option<&Value>) -> Result<(), PayloadError> {
    match (kind.normalized(), data) {
        (PacketType::Connect, None | Some(Value::Object(_))) => Ok(()),
        (PacketType::Connect, Some(_)) => Err(PayloadError::ConnectNotObject),
        (PacketType::Disconnect, None) => Ok(()),
        (PacketType::Disconnect, Some(_)) => Err(PayloadError::DisconnectWithData),
        (PacketType::ConnectError, None | Some(Value::Object(_) | Value::String(_))) => Ok(()),
        (PacketType::ConnectError, Some(_)) => Err(PayloadError::ConnectErrorNotObjectOrString),
        (PacketType::Event, Some(Value::Array(items))) => match items.first() {
            Some(Value::String(name)) if is_reserved_event(name) => {
                Err(PayloadError::ReservedEventName(name.clone()))
            }
            Some(Value::String(_) | Value::Number(_)) => Ok(()),
            _ => Err(PayloadError::EventNotNamedArray),
        },
        (PacketType::Event, _) => Err(PayloadError::EventNotNamedArray),
        (PacketType::Ack, Some(Value::Array(_))) => Ok(()),
        (PacketType::Ack, _) => Err(PayloadError::AckNotArray),
        // normalized() leaves no binary types.
        (PacketType::BinaryEvent | PacketType::BinaryAck, _) => Ok(()),
    }
}

/// The main namespace.
pub const MAIN_NAMESPACE: &str = "/";

/// A Socket.IO packet.
///
/// Decoded packets have `kind` [`Event`](PacketType::Event) or
/// [`Ack`](PacketType::Ack) even when they came as binary packets, with the
/// binary in `data` as [`Value::Binary`]. When encoding, `Event` and
/// `BinaryEvent` (`Ack` and `BinaryAck`) mean the same: the wire type
/// follows from whether `data` holds binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The packet type.
    pub kind: PacketType,
    /// The namespace, starting with `/`. `"/"` by default, borrowed so that
    /// decoding a main-namespace packet allocates no name.
    pub nsp: Cow<'static, str>,
    /// The ack id: an EVENT asking for an answer, or the ACK answering it.
    pub id: Option<u64>,
    /// The data.
    pub data: Option<Value>,
}

impl Packet {
    /// A packet of `kind` in namespace `nsp`, no id, no data.
    pub fn new(kind: PacketType, nsp: impl Into<Cow<'static, str>>) -> Packet {
        Packet {
            kind,
            nsp: nsp.into(),
            id: None,
            data: None,
        }
    }

    /// CONNECT, with the client's auth object or the server's `{"sid": ...}`.
    pub fn connect(nsp: impl Into<Cow<'static, str>>, data: Option<Value>) -> Packet {
        Packet {
            data,
            ..Packet::new(PacketType::Connect, nsp)
        }
    }

    /// DISCONNECT.
    pub fn disconnect(nsp: impl Into<Cow<'static, str>>) -> Packet {
        Packet::new(PacketType::Disconnect, nsp)
    }

    /// CONNECT_ERROR with `data`, usually `{"message": ...}`.
    pub fn connect_error(nsp: impl Into<Cow<'static, str>>, data: Value) -> Packet {
        Packet {
            data: Some(data),
            ..Packet::new(PacketType::ConnectError, nsp)
        }
    }

    /// EVENT `["event", ...args]`.
    pub fn event(
        nsp: impl Into<Cow<'static, str>>,
        event: impl Into<Value>,
        args: Vec<Value>,
    ) -> Packet {
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(event.into());
        data.extend(args);
        Packet {
            data: Some(Value::Array(data)),
            ..Packet::new(PacketType::Event, nsp)
        }
    }

    /// ACK `[...args]` answering the event with ack id `id`.
    pub fn ack(nsp: impl Into<Cow<'static, str>>, id: u64, args: Vec<Value>) -> Packet {
        Packet {
            id: Some(id),
            data: Some(Value::Array(args)),
            ..Packet::new(PacketType::Ack, nsp)
        }
    }

    /// The packet with ack id `id`.
    pub fn with_id(mut self, id: u64) -> Packet {
        self.id = Some(id);
        self
    }

    /// An EVENT's name, when it is a string.
    pub fn event_name(&self) -> Option<&str> {
        match self.kind.normalized() {
            PacketType::Event => self.data.as_ref()?.get_index(0)?.as_str(),
            _ => None,
        }
    }

    /// An EVENT's arguments (after the name) or an ACK's; empty otherwise.
    pub fn args(&self) -> &[Value] {
        let skip = match self.kind.normalized() {
            PacketType::Event => 1,
            PacketType::Ack => 0,
            _ => return &[],
        };
        match &self.data {
            Some(Value::Array(items)) => items.get(skip..).unwrap_or_default(),
            _ => &[],
        }
    }

    /// The number of binary attachments the packet encodes to.
    pub fn attachment_count(&self) -> usize {
        self.data.as_ref().map_or(0, Value::binary_count)
    }

    /// The type written on the wire: `BinaryEvent`/`BinaryAck` when an
    /// EVENT/ACK holds binary.
    pub fn wire_type(&self) -> PacketType {
        let kind = self.kind.normalized();
        if self.data.as_ref().is_some_and(Value::has_binary) {
            kind.with_binary()
        } else {
            kind
        }
    }
}

#[cfg(test)]
mod tests;
