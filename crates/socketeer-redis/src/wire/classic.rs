//! The classic adapter's messages (`createAdapter` of
//! `@socket.io/redis-adapter` 8.x, and `@socket.io/redis-emitter`):
//! broadcasts on `{key}#{nsp}#…`, requests on `{key}-request#{nsp}#` and
//! responses on `{key}-response#{nsp}#…`.
//!
//! Broadcasts are msgpack. Requests and responses are JSON, except the two
//! that may carry binary: the request of a broadcast with acknowledgements
//! ([`Request::Broadcast`]) and each acknowledgement
//! ([`Response::BroadcastAck`]), which are msgpack. A reader tells them
//! apart by the first byte (`{` is JSON), as the adapter does.

use super::common::{
    as_object, opt_bool, opt_rooms, opt_str, req_rooms, req_str, req_u64, strings, u64_number,
    BroadcastOptions, FetchedSocket, OptionsLayout, Packet,
};
use super::error::DecodeError;
use super::value::{Object, Value};
use super::{json, msgpack};

/// The uid `@socket.io/redis-emitter` publishes under.
pub const EMITTER_UID: &str = "emitter";

/// A broadcast: `[uid, packet, opts]` in msgpack.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastMessage {
    /// The publishing server's uid ([`EMITTER_UID`] for the emitter).
    pub uid: String,
    /// The packet.
    pub packet: Packet,
    /// Rooms, exceptions and flags.
    pub opts: BroadcastOptions,
}

impl BroadcastMessage {
    /// Encodes as msgpack. The options' key order follows the publisher:
    /// the emitter's (`rooms, flags, except`) when `uid` is
    /// [`EMITTER_UID`], the adapter's (`rooms, except, flags`) otherwise.
    pub fn encode(&self) -> Vec<u8> {
        let layout = if self.uid == EMITTER_UID {
            OptionsLayout::Emitter
        } else {
            OptionsLayout::Adapter
        };
        msgpack::encode(&Value::Array(vec![
            Value::String(self.uid.clone()),
            self.packet.to_value(),
            self.opts.to_value(layout),
        ]))
    }

    /// Decodes the msgpack message.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        const W: &str = "broadcast message";
        let v = msgpack::decode(bytes)?;
        let a = v
            .as_array()
            .ok_or_else(|| DecodeError::invalid(W, "not an array"))?;
        let [uid, packet, opts] = a.as_slice() else {
            return Err(DecodeError::invalid(
                W,
                format!("{} elements, not 3", a.len()),
            ));
        };
        Ok(BroadcastMessage {
            uid: uid
                .as_str()
                .ok_or_else(|| DecodeError::invalid(W, "uid is not a string"))?
                .to_owned(),
            packet: Packet::from_value(packet)?,
            opts: BroadcastOptions::from_value(opts)?,
        })
    }
}

/// The adapter's `RequestType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RequestType {
    /// `SOCKETS` (0): socket ids in rooms (older servers).
    Sockets = 0,
    /// `ALL_ROOMS` (1).
    AllRooms = 1,
    /// `REMOTE_JOIN` (2): socketsJoin.
    RemoteJoin = 2,
    /// `REMOTE_LEAVE` (3): socketsLeave.
    RemoteLeave = 3,
    /// `REMOTE_DISCONNECT` (4): disconnectSockets.
    RemoteDisconnect = 4,
    /// `REMOTE_FETCH` (5): fetchSockets.
    RemoteFetch = 5,
    /// `SERVER_SIDE_EMIT` (6).
    ServerSideEmit = 6,
    /// `BROADCAST` (7): a broadcast with acknowledgements.
    Broadcast = 7,
    /// `BROADCAST_CLIENT_COUNT` (8): response, how many clients got it.
    BroadcastClientCount = 8,
    /// `BROADCAST_ACK` (9): response, one client's acknowledgement.
    BroadcastAck = 9,
}

impl RequestType {
    /// The type for its number.
    pub fn from_u64(n: u64) -> Option<Self> {
        Some(match n {
            0 => RequestType::Sockets,
            1 => RequestType::AllRooms,
            2 => RequestType::RemoteJoin,
            3 => RequestType::RemoteLeave,
            4 => RequestType::RemoteDisconnect,
            5 => RequestType::RemoteFetch,
            6 => RequestType::ServerSideEmit,
            7 => RequestType::Broadcast,
            8 => RequestType::BroadcastClientCount,
            9 => RequestType::BroadcastAck,
            _ => return None,
        })
    }
}

/// A request on `{key}-request#{nsp}#`.
///
/// `uid` is the requesting server; the emitter sends none, except on
/// [`Request::ServerSideEmit`] (`"emitter"`). JSON keys go `uid`,
/// `requestId`, `type`, then the rest, as Node writes them.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `SOCKETS`: the ids of the sockets in `rooms`.
    Sockets {
        /// The requester.
        uid: Option<String>,
        /// The request id.
        request_id: String,
        /// The rooms.
        rooms: Vec<String>,
    },
    /// `ALL_ROOMS`: every room of every server.
    AllRooms {
        /// The requester.
        uid: Option<String>,
        /// The request id.
        request_id: String,
    },
    /// `REMOTE_JOIN` (socketsJoin): the sockets matching `opts` join `rooms`.
    /// No response.
    RemoteJoin {
        /// The requester (none from the emitter).
        uid: Option<String>,
        /// The sockets.
        opts: BroadcastOptions,
        /// The rooms to join.
        rooms: Vec<String>,
    },
    /// `REMOTE_LEAVE` (socketsLeave): the sockets matching `opts` leave
    /// `rooms`. No response.
    RemoteLeave {
        /// The requester (none from the emitter).
        uid: Option<String>,
        /// The sockets.
        opts: BroadcastOptions,
        /// The rooms to leave.
        rooms: Vec<String>,
    },
    /// `REMOTE_DISCONNECT` (disconnectSockets). No response.
    RemoteDisconnect {
        /// The requester (none from the emitter).
        uid: Option<String>,
        /// The sockets.
        opts: BroadcastOptions,
        /// Whether to close the underlying connection.
        close: bool,
    },
    /// `REMOTE_JOIN`, `REMOTE_LEAVE` or `REMOTE_DISCONNECT` for one socket
    /// by id (older servers' `remoteJoin`…), answered with
    /// [`Response::Done`].
    RemoteSocket {
        /// The requester.
        uid: Option<String>,
        /// The request id.
        request_id: Option<String>,
        /// [`RequestType::RemoteJoin`], [`RequestType::RemoteLeave`] or
        /// [`RequestType::RemoteDisconnect`].
        request_type: RequestType,
        /// The socket id.
        sid: String,
        /// The room (join and leave).
        room: Option<String>,
        /// Whether to close the connection (disconnect).
        close: Option<bool>,
    },
    /// `REMOTE_FETCH` (fetchSockets).
    RemoteFetch {
        /// The requester.
        uid: Option<String>,
        /// The request id.
        request_id: String,
        /// The sockets.
        opts: BroadcastOptions,
    },
    /// `SERVER_SIDE_EMIT`: `data` is `[event, ...args]`. With a
    /// `request_id`, every other server answers with
    /// [`Response::ServerSideEmit`].
    ServerSideEmit {
        /// The requester (`"emitter"` from the emitter).
        uid: Option<String>,
        /// Present when an acknowledgement is expected.
        request_id: Option<String>,
        /// `[event, ...args]`. Sent as JSON, so Node turns a `Buffer`
        /// into `{"type":"Buffer","data":[...]}`.
        data: Vec<Value>,
    },
    /// `BROADCAST`: a broadcast with acknowledgements (msgpack).
    Broadcast {
        /// The requester.
        uid: String,
        /// The request id.
        request_id: String,
        /// The packet.
        packet: Packet,
        /// Rooms, exceptions and flags (with `timeout`).
        opts: BroadcastOptions,
    },
}

impl Request {
    /// The request type.
    pub fn request_type(&self) -> RequestType {
        match self {
            Request::Sockets { .. } => RequestType::Sockets,
            Request::AllRooms { .. } => RequestType::AllRooms,
            Request::RemoteJoin { .. } => RequestType::RemoteJoin,
            Request::RemoteLeave { .. } => RequestType::RemoteLeave,
            Request::RemoteDisconnect { .. } => RequestType::RemoteDisconnect,
            Request::RemoteSocket { request_type, .. } => *request_type,
            Request::RemoteFetch { .. } => RequestType::RemoteFetch,
            Request::ServerSideEmit { .. } => RequestType::ServerSideEmit,
            Request::Broadcast { .. } => RequestType::Broadcast,
        }
    }

    /// The requesting server's uid, if the request names one.
    pub fn uid(&self) -> Option<&str> {
        match self {
            Request::Sockets { uid, .. }
            | Request::AllRooms { uid, .. }
            | Request::RemoteJoin { uid, .. }
            | Request::RemoteLeave { uid, .. }
            | Request::RemoteDisconnect { uid, .. }
            | Request::RemoteSocket { uid, .. }
            | Request::RemoteFetch { uid, .. }
            | Request::ServerSideEmit { uid, .. } => uid.as_deref(),
            Request::Broadcast { uid, .. } => Some(uid),
        }
    }

    /// The request id, if the request has one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Request::Sockets { request_id, .. }
            | Request::AllRooms { request_id, .. }
            | Request::RemoteFetch { request_id, .. }
            | Request::Broadcast { request_id, .. } => Some(request_id),
            Request::RemoteSocket { request_id, .. }
            | Request::ServerSideEmit { request_id, .. } => request_id.as_deref(),
            Request::RemoteJoin { .. }
            | Request::RemoteLeave { .. }
            | Request::RemoteDisconnect { .. } => None,
        }
    }

    /// As the Node object.
    pub fn to_value(&self) -> Value {
        let mut o = Object::new();
        if let Some(uid) = self.uid() {
            o.insert("uid", uid);
        }
        if let Some(id) = self.request_id() {
            o.insert("requestId", id);
        }
        o.insert("type", Value::from(self.request_type() as u32));
        let selector = |opts: &BroadcastOptions| {
            BroadcastOptions {
                flags: None,
                ..opts.clone()
            }
            .to_value(OptionsLayout::Adapter)
        };
        match self {
            Request::Sockets { rooms, .. } => o.insert("rooms", strings(rooms)),
            Request::AllRooms { .. } => {}
            Request::RemoteJoin { opts, rooms, .. } | Request::RemoteLeave { opts, rooms, .. } => {
                o.insert("opts", selector(opts));
                o.insert("rooms", strings(rooms));
            }
            Request::RemoteDisconnect { opts, close, .. } => {
                o.insert("opts", selector(opts));
                o.insert("close", *close);
            }
            Request::RemoteSocket {
                sid, room, close, ..
            } => {
                o.insert("sid", sid.as_str());
                if let Some(r) = room {
                    o.insert("room", r.as_str());
                }
                if let Some(c) = close {
                    o.insert("close", *c);
                }
            }
            Request::RemoteFetch { opts, .. } => o.insert("opts", selector(opts)),
            Request::ServerSideEmit { data, .. } => o.insert("data", Value::Array(data.clone())),
            Request::Broadcast { packet, opts, .. } => {
                o.insert("packet", packet.to_value());
                o.insert("opts", opts.to_value(OptionsLayout::Adapter));
            }
        }
        Value::Object(o)
    }

    /// Encodes as Node does: msgpack for [`Request::Broadcast`], JSON for
    /// the others.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::Broadcast { .. } => msgpack::encode(&self.to_value()),
            _ => json::encode(&self.to_value()).into_bytes(),
        }
    }

    /// Decodes a request, JSON or msgpack.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_value(&decode_json_or_msgpack(bytes)?)
    }

    /// From the Node object.
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        const W: &str = "request";
        let o = as_object(v, W)?;
        let t = req_u64(o, "type", W)?;
        let ty = RequestType::from_u64(t)
            .ok_or_else(|| DecodeError::invalid(W, format!("unknown type {t}")))?;
        let uid = opt_str(o, "uid", W)?;
        let request_id = opt_str(o, "requestId", W)?;
        let need_id =
            |id: Option<String>| id.ok_or_else(|| DecodeError::invalid(W, "no `requestId`"));
        let opts = || -> Result<BroadcastOptions, DecodeError> {
            BroadcastOptions::from_value(
                o.get("opts")
                    .ok_or_else(|| DecodeError::invalid(W, "no `opts`"))?,
            )
        };
        Ok(match ty {
            RequestType::Sockets => Request::Sockets {
                uid,
                request_id: need_id(request_id)?,
                rooms: opt_rooms(o, "rooms", W)?.unwrap_or_default(),
            },
            RequestType::AllRooms => Request::AllRooms {
                uid,
                request_id: need_id(request_id)?,
            },
            RequestType::RemoteJoin | RequestType::RemoteLeave | RequestType::RemoteDisconnect
                if o.get("opts").is_none() =>
            {
                Request::RemoteSocket {
                    uid,
                    request_id,
                    request_type: ty,
                    sid: req_str(o, "sid", W)?,
                    room: opt_str(o, "room", W)?,
                    close: opt_bool(o, "close", W)?,
                }
            }
            RequestType::RemoteJoin => Request::RemoteJoin {
                uid,
                opts: opts()?,
                rooms: req_rooms(o, "rooms", W)?,
            },
            RequestType::RemoteLeave => Request::RemoteLeave {
                uid,
                opts: opts()?,
                rooms: req_rooms(o, "rooms", W)?,
            },
            RequestType::RemoteDisconnect => Request::RemoteDisconnect {
                uid,
                opts: opts()?,
                close: opt_bool(o, "close", W)?.unwrap_or(false),
            },
            RequestType::RemoteFetch => Request::RemoteFetch {
                uid,
                request_id: need_id(request_id)?,
                opts: opts()?,
            },
            RequestType::ServerSideEmit => Request::ServerSideEmit {
                uid,
                request_id,
                data: o
                    .get("data")
                    .and_then(Value::as_array)
                    .ok_or_else(|| DecodeError::invalid(W, "`data` is not an array"))?
                    .clone(),
            },
            RequestType::Broadcast => Request::Broadcast {
                uid: uid.ok_or_else(|| DecodeError::invalid(W, "no `uid`"))?,
                request_id: need_id(request_id)?,
                packet: Packet::from_value(
                    o.get("packet")
                        .ok_or_else(|| DecodeError::invalid(W, "no `packet`"))?,
                )?,
                opts: opts()?,
            },
            RequestType::BroadcastClientCount | RequestType::BroadcastAck => {
                return Err(DecodeError::invalid(
                    W,
                    format!("type {t} is a response type"),
                ))
            }
        })
    }
}

/// A response on `{key}-response#{nsp}#` (or the requester's own channel).
///
/// Responses to `SOCKETS`, `ALL_ROOMS`, `REMOTE_FETCH` and the one-socket
/// requests carry no `type`: Node matches them to the pending request by
/// `requestId`. [`Response::decode`] tells them apart by their keys; a
/// `sockets` array of strings is [`Response::Sockets`], any other (even
/// empty) is [`Response::FetchSockets`].
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// To `SOCKETS`: `{requestId, sockets: [id...]}`.
    Sockets {
        /// The request id.
        request_id: String,
        /// Socket ids.
        sockets: Vec<String>,
    },
    /// To `ALL_ROOMS`: `{requestId, rooms}`.
    AllRooms {
        /// The request id.
        request_id: String,
        /// The rooms.
        rooms: Vec<String>,
    },
    /// To a one-socket join/leave/disconnect: `{requestId}`.
    Done {
        /// The request id.
        request_id: String,
    },
    /// To `REMOTE_FETCH`: `{requestId, sockets: [{id, handshake, rooms, data}]}`.
    FetchSockets {
        /// The request id.
        request_id: String,
        /// The sockets.
        sockets: Vec<FetchedSocket>,
    },
    /// To `SERVER_SIDE_EMIT` with an ack: `{type: 6, requestId, data}`.
    ServerSideEmit {
        /// The request id.
        request_id: String,
        /// The acknowledgement's (first) argument; `None` if undefined.
        data: Option<Value>,
    },
    /// To `BROADCAST`: `{type: 8, requestId, clientCount}`.
    BroadcastClientCount {
        /// The request id.
        request_id: String,
        /// How many clients of the responding server got the packet.
        client_count: u64,
    },
    /// To `BROADCAST`, once per acknowledging client (msgpack):
    /// `{type: 9, requestId, packet}`.
    BroadcastAck {
        /// The request id.
        request_id: String,
        /// The client's acknowledgement arguments; `None` if undefined.
        packet: Option<Value>,
    },
}

impl Response {
    /// The request id.
    pub fn request_id(&self) -> &str {
        match self {
            Response::Sockets { request_id, .. }
            | Response::AllRooms { request_id, .. }
            | Response::Done { request_id }
            | Response::FetchSockets { request_id, .. }
            | Response::ServerSideEmit { request_id, .. }
            | Response::BroadcastClientCount { request_id, .. }
            | Response::BroadcastAck { request_id, .. } => request_id,
        }
    }

    /// As the Node object.
    pub fn to_value(&self) -> Value {
        let mut o = Object::new();
        let typed = |o: &mut Object, t: RequestType, id: &str| {
            o.insert("type", Value::from(t as u32));
            o.insert("requestId", id);
        };
        match self {
            Response::Sockets {
                request_id,
                sockets,
            } => {
                o.insert("requestId", request_id.as_str());
                o.insert("sockets", strings(sockets));
            }
            Response::AllRooms { request_id, rooms } => {
                o.insert("requestId", request_id.as_str());
                o.insert("rooms", strings(rooms));
            }
            Response::Done { request_id } => o.insert("requestId", request_id.as_str()),
            Response::FetchSockets {
                request_id,
                sockets,
            } => {
                o.insert("requestId", request_id.as_str());
                o.insert(
                    "sockets",
                    Value::Array(sockets.iter().map(FetchedSocket::to_value).collect()),
                );
            }
            Response::ServerSideEmit { request_id, data } => {
                typed(&mut o, RequestType::ServerSideEmit, request_id);
                if let Some(d) = data {
                    o.insert("data", d.clone());
                }
            }
            Response::BroadcastClientCount {
                request_id,
                client_count,
            } => {
                typed(&mut o, RequestType::BroadcastClientCount, request_id);
                o.insert("clientCount", Value::Number(u64_number(*client_count)));
            }
            Response::BroadcastAck { request_id, packet } => {
                typed(&mut o, RequestType::BroadcastAck, request_id);
                if let Some(p) = packet {
                    o.insert("packet", p.clone());
                }
            }
        }
        Value::Object(o)
    }

    /// Encodes as Node does: msgpack for [`Response::BroadcastAck`], JSON
    /// for the others.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Response::BroadcastAck { .. } => msgpack::encode(&self.to_value()),
            _ => json::encode(&self.to_value()).into_bytes(),
        }
    }

    /// Decodes a response, JSON or msgpack.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_value(&decode_json_or_msgpack(bytes)?)
    }

    /// From the Node object.
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        const W: &str = "response";
        let o = as_object(v, W)?;
        let request_id = req_str(o, "requestId", W)?;
        if let Some(t) = o.get("type") {
            let t = t
                .as_u64()
                .ok_or_else(|| DecodeError::invalid(W, "`type` is not a number"))?;
            return Ok(match RequestType::from_u64(t) {
                Some(RequestType::ServerSideEmit) => Response::ServerSideEmit {
                    request_id,
                    data: o.get("data").cloned(),
                },
                Some(RequestType::BroadcastClientCount) => Response::BroadcastClientCount {
                    request_id,
                    client_count: req_u64(o, "clientCount", W)?,
                },
                Some(RequestType::BroadcastAck) => Response::BroadcastAck {
                    request_id,
                    packet: o.get("packet").cloned(),
                },
                _ => return Err(DecodeError::invalid(W, format!("unexpected type {t}"))),
            });
        }
        if let Some(sockets) = o.get("sockets") {
            let a = sockets
                .as_array()
                .ok_or_else(|| DecodeError::invalid(W, "`sockets` is not an array"))?;
            if !a.is_empty() && a.iter().all(|s| s.as_str().is_some()) {
                return Ok(Response::Sockets {
                    request_id,
                    sockets: req_rooms(o, "sockets", W)?,
                });
            }
            return Ok(Response::FetchSockets {
                request_id,
                sockets: a
                    .iter()
                    .map(FetchedSocket::from_value)
                    .collect::<Result<_, _>>()?,
            });
        }
        if o.get("rooms").is_some() {
            return Ok(Response::AllRooms {
                request_id,
                rooms: req_rooms(o, "rooms", W)?,
            });
        }
        Ok(Response::Done { request_id })
    }
}

/// JSON if the first byte is `{`, msgpack otherwise: how the adapter reads
/// requests and responses.
pub fn decode_json_or_msgpack(bytes: &[u8]) -> Result<Value, DecodeError> {
    match bytes.first() {
        None => Err(DecodeError::Empty),
        Some(b'{') => json::decode(bytes),
        Some(_) => msgpack::decode(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forms the current Node adapter still reads but no longer sends
    /// (older servers' `remoteJoin`, `sockets`…): decoded and re-encoded.
    #[test]
    fn older_request_forms() {
        let cases: [&[u8]; 5] = [
            br#"{"uid":"abc","requestId":"r1","type":0,"rooms":["a"]}"#,
            br#"{"uid":"abc","requestId":"r2","type":2,"sid":"s1","room":"x"}"#,
            br#"{"uid":"abc","requestId":"r3","type":3,"sid":"s1","room":"x"}"#,
            br#"{"uid":"abc","requestId":"r4","type":4,"sid":"s1","close":true}"#,
            br#"{"uid":"abc","type":6,"data":["e",{"type":"Buffer","data":[1]}]}"#,
        ];
        for bytes in cases {
            let r = Request::decode(bytes).unwrap();
            assert_eq!(r.encode(), bytes, "{r:?}");
        }
        let Request::RemoteSocket {
            request_type,
            sid,
            room,
            ..
        } = Request::decode(cases[1]).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (request_type, sid.as_str(), room.as_deref()),
            (RequestType::RemoteJoin, "s1", Some("x"))
        );
    }

    #[test]
    fn responses_without_type() {
        let cases: [&[u8]; 4] = [
            br#"{"requestId":"r1","sockets":["a","b"]}"#,
            br#"{"requestId":"r2","rooms":["a"]}"#,
            br#"{"requestId":"r3"}"#,
            br#"{"requestId":"r4","sockets":[]}"#,
        ];
        let decoded: Vec<Response> = cases.iter().map(|b| Response::decode(b).unwrap()).collect();
        assert!(matches!(&decoded[0], Response::Sockets { sockets, .. } if sockets.len() == 2));
        assert!(matches!(&decoded[1], Response::AllRooms { .. }));
        assert!(matches!(&decoded[2], Response::Done { .. }));
        assert!(
            matches!(&decoded[3], Response::FetchSockets { sockets, .. } if sockets.is_empty())
        );
        for (r, b) in decoded.iter().zip(cases) {
            assert_eq!(r.encode(), b);
        }
        assert!(
            Response::decode(br#"{"sockets":[]}"#).is_err(),
            "no requestId"
        );
        assert!(Response::decode(br#"{"requestId":"x","type":2}"#).is_err());
    }

    #[test]
    fn foreign_input_is_an_error_not_a_panic() {
        assert!(BroadcastMessage::decode(&msgpack::encode(&Value::from("x"))).is_err());
        assert!(
            BroadcastMessage::decode(&msgpack::encode(&Value::Array(vec![Value::Null; 2])))
                .is_err()
        );
        let bad_packet = Value::Array(vec![
            Value::from("u"),
            Value::from(1i64),
            Value::Object(Object::new()),
        ]);
        assert!(BroadcastMessage::decode(&msgpack::encode(&bad_packet)).is_err());
        assert!(
            Request::decode(b"{\"type\":5}").is_err(),
            "fetch without requestId"
        );
        assert!(Request::decode(b"[1,2]").is_err());
        assert!(Request::decode(b"\xc1").is_err());
    }
}
