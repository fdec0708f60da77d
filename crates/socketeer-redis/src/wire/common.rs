//! The pieces shared by every message: the Socket.IO packet object, the
//! broadcast options, a fetched socket, and field helpers.

use super::error::DecodeError;
use super::value::{Number, Object, Value};

/// Socket.IO packet types (`socket.io-parser`'s `PacketType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    /// `CONNECT` (0).
    Connect = 0,
    /// `DISCONNECT` (1).
    Disconnect = 1,
    /// `EVENT` (2): what every broadcast carries.
    Event = 2,
    /// `ACK` (3).
    Ack = 3,
    /// `CONNECT_ERROR` (4).
    ConnectError = 4,
    /// `BINARY_EVENT` (5).
    BinaryEvent = 5,
    /// `BINARY_ACK` (6).
    BinaryAck = 6,
}

impl PacketType {
    /// The type for its number.
    pub fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            0 => PacketType::Connect,
            1 => PacketType::Disconnect,
            2 => PacketType::Event,
            3 => PacketType::Ack,
            4 => PacketType::ConnectError,
            5 => PacketType::BinaryEvent,
            6 => PacketType::BinaryAck,
            _ => return None,
        })
    }
}

/// The Socket.IO packet object a broadcast carries: `{type, data, nsp, id?}`,
/// with binary values in place (no attachments, no placeholders).
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The packet type (always [`PacketType::Event`] from a Node server's
    /// or the emitter's broadcast).
    pub packet_type: PacketType,
    /// The data: for an event, `[name, ...args]`.
    pub data: Value,
    /// The namespace, if the packet names one (the adapter reads a missing
    /// one as `/`).
    pub nsp: Option<String>,
    /// The acknowledgement id, if any.
    pub id: Option<u64>,
}

impl Packet {
    /// An `EVENT` packet: `[event, ...args]` for namespace `nsp`.
    pub fn event(nsp: impl Into<String>, event: impl Into<String>, args: Vec<Value>) -> Self {
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(event.into()));
        data.extend(args);
        Packet {
            packet_type: PacketType::Event,
            data: Value::Array(data),
            nsp: Some(nsp.into()),
            id: None,
        }
    }

    /// The namespace, `/` when the packet names none.
    pub fn nsp(&self) -> &str {
        self.nsp.as_deref().unwrap_or("/")
    }

    /// The event name, for an event packet.
    pub fn event_name(&self) -> Option<&str> {
        self.data.as_array()?.first()?.as_str()
    }

    /// The event arguments (after the name), for an event packet.
    pub fn args(&self) -> &[Value] {
        match self.data.as_array() {
            Some(a) if !a.is_empty() => &a[1..],
            _ => &[],
        }
    }

    /// As the Node object: keys `type`, `data`, `nsp`, `id`, in that order.
    pub fn to_value(&self) -> Value {
        let mut o = Object::new();
        o.insert("type", Value::from(self.packet_type as u32));
        o.insert("data", self.data.clone());
        if let Some(nsp) = &self.nsp {
            o.insert("nsp", nsp.as_str());
        }
        if let Some(id) = self.id {
            o.insert("id", Value::Number(u64_number(id)));
        }
        Value::Object(o)
    }

    /// From the Node object.
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        const W: &str = "packet";
        let o = v
            .as_object()
            .ok_or_else(|| DecodeError::invalid(W, "not an object"))?;
        let t = req_u64(o, "type", W)?;
        let packet_type = u8::try_from(t)
            .ok()
            .and_then(PacketType::from_u8)
            .ok_or_else(|| DecodeError::invalid(W, format!("unknown packet type {t}")))?;
        Ok(Packet {
            packet_type,
            data: o.get("data").cloned().unwrap_or(Value::Null),
            nsp: opt_str(o, "nsp", W)?,
            id: opt_u64(o, "id", W)?,
        })
    }
}

/// Broadcast flags (`BroadcastFlags` of `socket.io-adapter`).
///
/// Encoded in the order `volatile`, `compress`, `local`, `broadcast`,
/// `binary`, `timeout`, `expectSingleResponse`, then any others in their
/// decoded order. Node writes them in the order they were set, so a message
/// with several flags re-encodes byte-identically only if they were set in
/// this order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Flags {
    /// `volatile`.
    pub volatile: Option<bool>,
    /// `compress`.
    pub compress: Option<bool>,
    /// `local`.
    pub local: Option<bool>,
    /// `broadcast`.
    pub broadcast: Option<bool>,
    /// `binary` (older servers).
    pub binary: Option<bool>,
    /// `timeout`, in milliseconds (broadcasts with acknowledgements).
    pub timeout: Option<u64>,
    /// `expectSingleResponse`.
    pub expect_single_response: Option<bool>,
    /// Flags this crate does not know, in their order.
    pub other: Vec<(String, Value)>,
}

impl Flags {
    /// As the Node object.
    pub fn to_value(&self) -> Value {
        let mut o = Object::new();
        let bools = [
            ("volatile", self.volatile),
            ("compress", self.compress),
            ("local", self.local),
            ("broadcast", self.broadcast),
            ("binary", self.binary),
        ];
        for (k, v) in bools {
            if let Some(b) = v {
                o.insert(k, b);
            }
        }
        if let Some(t) = self.timeout {
            o.insert("timeout", Value::Number(u64_number(t)));
        }
        if let Some(b) = self.expect_single_response {
            o.insert("expectSingleResponse", b);
        }
        for (k, v) in &self.other {
            o.insert(k.clone(), v.clone());
        }
        Value::Object(o)
    }

    /// From the Node object.
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        const W: &str = "broadcast flags";
        let o = v
            .as_object()
            .ok_or_else(|| DecodeError::invalid(W, "not an object"))?;
        let mut f = Flags::default();
        for (k, v) in o.iter() {
            let b = || {
                v.as_bool()
                    .ok_or_else(|| DecodeError::invalid(W, format!("`{k}` is not a boolean")))
            };
            match k {
                "volatile" => f.volatile = Some(b()?),
                "compress" => f.compress = Some(b()?),
                "local" => f.local = Some(b()?),
                "broadcast" => f.broadcast = Some(b()?),
                "binary" => f.binary = Some(b()?),
                "expectSingleResponse" => f.expect_single_response = Some(b()?),
                "timeout" => {
                    f.timeout = Some(v.as_u64().ok_or_else(|| {
                        DecodeError::invalid(W, "`timeout` is not a non-negative integer")
                    })?)
                }
                _ => f.other.push((k.to_owned(), v.clone())),
            }
        }
        Ok(f)
    }
}

/// Which sockets an operation targets: in any of `rooms` (all sockets if
/// empty) and in none of `except`. With `flags` it is the adapter's
/// `BroadcastOptions`; requests other than broadcasts carry no flags.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BroadcastOptions {
    /// The rooms (any of them); empty for every socket.
    pub rooms: Vec<String>,
    /// The rooms excluded.
    pub except: Vec<String>,
    /// The flags; `None` where the message has no `flags` key.
    pub flags: Option<Flags>,
}

/// The key order of a [`BroadcastOptions`] object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsLayout {
    /// `{rooms, except, flags}`: the adapters.
    Adapter,
    /// `{rooms, flags, except}`: `@socket.io/redis-emitter`'s broadcasts.
    Emitter,
}

impl BroadcastOptions {
    /// As the Node object, keys in `layout`'s order.
    pub fn to_value(&self, layout: OptionsLayout) -> Value {
        let mut o = Object::new();
        o.insert("rooms", strings(&self.rooms));
        if layout == OptionsLayout::Emitter {
            if let Some(f) = &self.flags {
                o.insert("flags", f.to_value());
            }
        }
        o.insert("except", strings(&self.except));
        if layout == OptionsLayout::Adapter {
            if let Some(f) = &self.flags {
                o.insert("flags", f.to_value());
            }
        }
        Value::Object(o)
    }

    /// From the Node object (`rooms` and `except` may be missing: empty).
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        const W: &str = "broadcast options";
        let o = v
            .as_object()
            .ok_or_else(|| DecodeError::invalid(W, "not an object"))?;
        Ok(BroadcastOptions {
            rooms: opt_rooms(o, "rooms", W)?.unwrap_or_default(),
            except: opt_rooms(o, "except", W)?.unwrap_or_default(),
            flags: o.get("flags").map(Flags::from_value).transpose()?,
        })
    }
}

/// One socket in a fetchSockets response: `{id, handshake, rooms, data}`.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedSocket {
    /// The socket id.
    pub id: String,
    /// The handshake (`headers`, `time`, `address`, `xdomain`, `secure`,
    /// `issued`, `url`, `query`, `auth`), as Node wrote it.
    pub handshake: Value,
    /// The rooms the socket is in (its own id first).
    pub rooms: Vec<String>,
    /// `socket.data`, if defined.
    pub data: Option<Value>,
}

impl FetchedSocket {
    /// As the Node object.
    pub fn to_value(&self) -> Value {
        let mut o = Object::new();
        o.insert("id", self.id.as_str());
        o.insert("handshake", self.handshake.clone());
        o.insert("rooms", strings(&self.rooms));
        if let Some(d) = &self.data {
            o.insert("data", d.clone());
        }
        Value::Object(o)
    }

    /// From the Node object.
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        const W: &str = "fetched socket";
        let o = v
            .as_object()
            .ok_or_else(|| DecodeError::invalid(W, "not an object"))?;
        Ok(FetchedSocket {
            id: req_str(o, "id", W)?,
            handshake: o.get("handshake").cloned().unwrap_or(Value::Null),
            rooms: opt_rooms(o, "rooms", W)?.unwrap_or_default(),
            data: o.get("data").cloned(),
        })
    }
}

pub(crate) fn u64_number(n: u64) -> Number {
    match i64::try_from(n) {
        Ok(i) => Number::Int(i),
        Err(_) => Number::Float(n as f64),
    }
}

pub(crate) fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

pub(crate) fn as_object<'a>(v: &'a Value, what: &'static str) -> Result<&'a Object, DecodeError> {
    v.as_object()
        .ok_or_else(|| DecodeError::invalid(what, "not an object"))
}

pub(crate) fn req_u64(o: &Object, key: &str, what: &'static str) -> Result<u64, DecodeError> {
    opt_u64(o, key, what)?.ok_or_else(|| DecodeError::invalid(what, format!("no `{key}`")))
}

pub(crate) fn opt_u64(
    o: &Object,
    key: &str,
    what: &'static str,
) -> Result<Option<u64>, DecodeError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            DecodeError::invalid(what, format!("`{key}` is not a non-negative integer"))
        }),
    }
}

pub(crate) fn req_str(o: &Object, key: &str, what: &'static str) -> Result<String, DecodeError> {
    opt_str(o, key, what)?.ok_or_else(|| DecodeError::invalid(what, format!("no `{key}`")))
}

pub(crate) fn opt_str(
    o: &Object,
    key: &str,
    what: &'static str,
) -> Result<Option<String>, DecodeError> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(DecodeError::invalid(
            what,
            format!("`{key}` is not a string"),
        )),
    }
}

pub(crate) fn opt_bool(
    o: &Object,
    key: &str,
    what: &'static str,
) -> Result<Option<bool>, DecodeError> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(DecodeError::invalid(
            what,
            format!("`{key}` is not a boolean"),
        )),
    }
}

/// A list of rooms. A room is a string; a number (JavaScript allows it)
/// becomes its decimal string.
pub(crate) fn opt_rooms(
    o: &Object,
    key: &str,
    what: &'static str,
) -> Result<Option<Vec<String>>, DecodeError> {
    let Some(v) = o.get(key) else { return Ok(None) };
    let a = v
        .as_array()
        .ok_or_else(|| DecodeError::invalid(what, format!("`{key}` is not an array")))?;
    a.iter()
        .map(|r| match r {
            Value::String(s) => Ok(s.clone()),
            Value::Number(Number::Int(i)) => Ok(i.to_string()),
            _ => Err(DecodeError::invalid(
                what,
                format!("`{key}` holds a non-string room"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub(crate) fn req_rooms(
    o: &Object,
    key: &str,
    what: &'static str,
) -> Result<Vec<String>, DecodeError> {
    opt_rooms(o, key, what)?.ok_or_else(|| DecodeError::invalid(what, format!("no `{key}`")))
}
