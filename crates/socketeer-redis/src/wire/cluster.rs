//! The `ClusterAdapter` messages of `socket.io-adapter`, which the sharded
//! Redis adapter (`createShardedAdapter`) publishes with `SPUBLISH`:
//! `{type, data?, uid, nsp}`, JSON unless the message may carry binary and
//! does (then msgpack).

use super::common::{
    as_object, opt_bool, opt_str, req_rooms, req_str, req_u64, strings, u64_number,
    BroadcastOptions, FetchedSocket, OptionsLayout, Packet,
};
use super::error::DecodeError;
use super::value::{Object, Value};
use super::{classic::decode_json_or_msgpack, json, msgpack};

/// `MessageType` of `socket.io-adapter`'s cluster adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MessageType {
    /// 1.
    InitialHeartbeat = 1,
    /// 2.
    Heartbeat = 2,
    /// 3.
    Broadcast = 3,
    /// 4.
    SocketsJoin = 4,
    /// 5.
    SocketsLeave = 5,
    /// 6.
    DisconnectSockets = 6,
    /// 7.
    FetchSockets = 7,
    /// 8.
    FetchSocketsResponse = 8,
    /// 9.
    ServerSideEmit = 9,
    /// 10.
    ServerSideEmitResponse = 10,
    /// 11.
    BroadcastClientCount = 11,
    /// 12.
    BroadcastAck = 12,
    /// 13.
    AdapterClose = 13,
}

impl MessageType {
    /// The type for its number.
    pub fn from_u64(n: u64) -> Option<Self> {
        use MessageType::*;
        Some(match n {
            1 => InitialHeartbeat,
            2 => Heartbeat,
            3 => Broadcast,
            4 => SocketsJoin,
            5 => SocketsLeave,
            6 => DisconnectSockets,
            7 => FetchSockets,
            8 => FetchSocketsResponse,
            9 => ServerSideEmit,
            10 => ServerSideEmitResponse,
            11 => BroadcastClientCount,
            12 => BroadcastAck,
            13 => AdapterClose,
            _ => return None,
        })
    }
}

/// What a cluster message says.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterBody {
    /// A server starts.
    InitialHeartbeat,
    /// A server is alive.
    Heartbeat,
    /// A server's adapter closes.
    AdapterClose,
    /// `{packet, requestId?, opts}`.
    Broadcast {
        /// The packet.
        packet: Packet,
        /// Present for a broadcast with acknowledgements.
        request_id: Option<String>,
        /// Rooms, exceptions, flags.
        opts: BroadcastOptions,
    },
    /// `{opts, rooms}`.
    SocketsJoin {
        /// The sockets.
        opts: BroadcastOptions,
        /// The rooms to join.
        rooms: Vec<String>,
    },
    /// `{opts, rooms}`.
    SocketsLeave {
        /// The sockets.
        opts: BroadcastOptions,
        /// The rooms to leave.
        rooms: Vec<String>,
    },
    /// `{opts, close?}`.
    DisconnectSockets {
        /// The sockets.
        opts: BroadcastOptions,
        /// Whether to close the connection.
        close: Option<bool>,
    },
    /// `{opts, requestId}`.
    FetchSockets {
        /// The sockets.
        opts: BroadcastOptions,
        /// The request id.
        request_id: String,
    },
    /// `{requestId, sockets}`.
    FetchSocketsResponse {
        /// The request id.
        request_id: String,
        /// The sockets.
        sockets: Vec<FetchedSocket>,
    },
    /// `{requestId?, packet}`: `packet` is `[event, ...args]`.
    ServerSideEmit {
        /// Present when acknowledgements are expected.
        request_id: Option<String>,
        /// `[event, ...args]`.
        packet: Vec<Value>,
    },
    /// `{requestId, packet}`.
    ServerSideEmitResponse {
        /// The request id.
        request_id: String,
        /// The acknowledgement's argument; `None` if undefined.
        packet: Option<Value>,
    },
    /// `{requestId, clientCount}`.
    BroadcastClientCount {
        /// The request id.
        request_id: String,
        /// The client count.
        client_count: u64,
    },
    /// `{requestId, packet}`.
    BroadcastAck {
        /// The request id.
        request_id: String,
        /// The client's acknowledgement; `None` if undefined.
        packet: Option<Value>,
    },
}

/// A cluster message or response: `{type, data?, uid, nsp}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterMessage {
    /// The sending server.
    pub uid: String,
    /// The namespace.
    pub nsp: String,
    /// What it says.
    pub body: ClusterBody,
}

impl ClusterBody {
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            ClusterBody::InitialHeartbeat => MessageType::InitialHeartbeat,
            ClusterBody::Heartbeat => MessageType::Heartbeat,
            ClusterBody::AdapterClose => MessageType::AdapterClose,
            ClusterBody::Broadcast { .. } => MessageType::Broadcast,
            ClusterBody::SocketsJoin { .. } => MessageType::SocketsJoin,
            ClusterBody::SocketsLeave { .. } => MessageType::SocketsLeave,
            ClusterBody::DisconnectSockets { .. } => MessageType::DisconnectSockets,
            ClusterBody::FetchSockets { .. } => MessageType::FetchSockets,
            ClusterBody::FetchSocketsResponse { .. } => MessageType::FetchSocketsResponse,
            ClusterBody::ServerSideEmit { .. } => MessageType::ServerSideEmit,
            ClusterBody::ServerSideEmitResponse { .. } => MessageType::ServerSideEmitResponse,
            ClusterBody::BroadcastClientCount { .. } => MessageType::BroadcastClientCount,
            ClusterBody::BroadcastAck { .. } => MessageType::BroadcastAck,
        }
    }

    fn data(&self) -> Option<Value> {
        let mut o = Object::new();
        let opts = |o: &BroadcastOptions| o.to_value(OptionsLayout::Adapter);
        match self {
            ClusterBody::InitialHeartbeat | ClusterBody::Heartbeat | ClusterBody::AdapterClose => {
                return None
            }
            ClusterBody::Broadcast {
                packet,
                request_id,
                opts: bo,
            } => {
                o.insert("packet", packet.to_value());
                if let Some(id) = request_id {
                    o.insert("requestId", id.as_str());
                }
                o.insert("opts", opts(bo));
            }
            ClusterBody::SocketsJoin { opts: bo, rooms }
            | ClusterBody::SocketsLeave { opts: bo, rooms } => {
                o.insert("opts", opts(bo));
                o.insert("rooms", strings(rooms));
            }
            ClusterBody::DisconnectSockets { opts: bo, close } => {
                o.insert("opts", opts(bo));
                if let Some(c) = close {
                    o.insert("close", *c);
                }
            }
            ClusterBody::FetchSockets {
                opts: bo,
                request_id,
            } => {
                o.insert("opts", opts(bo));
                o.insert("requestId", request_id.as_str());
            }
            ClusterBody::FetchSocketsResponse {
                request_id,
                sockets,
            } => {
                o.insert("requestId", request_id.as_str());
                o.insert(
                    "sockets",
                    Value::Array(sockets.iter().map(FetchedSocket::to_value).collect()),
                );
            }
            ClusterBody::ServerSideEmit { request_id, packet } => {
                if let Some(id) = request_id {
                    o.insert("requestId", id.as_str());
                }
                o.insert("packet", Value::Array(packet.clone()));
            }
            ClusterBody::ServerSideEmitResponse { request_id, packet }
            | ClusterBody::BroadcastAck { request_id, packet } => {
                o.insert("requestId", request_id.as_str());
                if let Some(p) = packet {
                    o.insert("packet", p.clone());
                }
            }
            ClusterBody::BroadcastClientCount {
                request_id,
                client_count,
            } => {
                o.insert("requestId", request_id.as_str());
                o.insert("clientCount", Value::Number(u64_number(*client_count)));
            }
        }
        Some(Value::Object(o))
    }
}

impl ClusterMessage {
    /// As the Node object.
    pub fn to_value(&self) -> Value {
        let mut o = Object::new();
        o.insert("type", Value::from(self.body.message_type() as u32));
        if let Some(d) = self.body.data() {
            o.insert("data", d);
        }
        o.insert("uid", self.uid.as_str());
        o.insert("nsp", self.nsp.as_str());
        Value::Object(o)
    }

    /// Encodes as the sharded adapter does: msgpack if the type may carry
    /// binary (broadcast, broadcast ack, fetchSockets response,
    /// serverSideEmit and its response) and `data` holds some, else JSON.
    pub fn encode(&self) -> Vec<u8> {
        use MessageType::*;
        let v = self.to_value();
        let may = matches!(
            self.body.message_type(),
            Broadcast
                | BroadcastAck
                | FetchSocketsResponse
                | ServerSideEmit
                | ServerSideEmitResponse
        );
        let has = v
            .as_object()
            .and_then(|o| o.get("data"))
            .is_some_and(Value::has_binary);
        if may && has {
            msgpack::encode(&v)
        } else {
            json::encode(&v).into_bytes()
        }
    }

    /// Decodes a message, JSON or msgpack.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_value(&decode_json_or_msgpack(bytes)?)
    }

    /// From the Node object.
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        const W: &str = "cluster message";
        const D: &str = "cluster message data";
        let o = as_object(v, W)?;
        let t = req_u64(o, "type", W)?;
        let ty = MessageType::from_u64(t)
            .ok_or_else(|| DecodeError::invalid(W, format!("unknown type {t}")))?;
        let uid = req_str(o, "uid", W)?;
        let nsp = req_str(o, "nsp", W)?;
        let data = || -> Result<&Object, DecodeError> {
            as_object(
                o.get("data")
                    .ok_or_else(|| DecodeError::invalid(W, "no `data`"))?,
                D,
            )
        };
        let opts = |d: &Object| -> Result<BroadcastOptions, DecodeError> {
            BroadcastOptions::from_value(
                d.get("opts")
                    .ok_or_else(|| DecodeError::invalid(D, "no `opts`"))?,
            )
        };
        let packet_array = |d: &Object| -> Result<Vec<Value>, DecodeError> {
            Ok(d.get("packet")
                .and_then(Value::as_array)
                .ok_or_else(|| DecodeError::invalid(D, "`packet` is not an array"))?
                .clone())
        };
        use MessageType as M;
        let body = match ty {
            M::InitialHeartbeat => ClusterBody::InitialHeartbeat,
            M::Heartbeat => ClusterBody::Heartbeat,
            M::AdapterClose => ClusterBody::AdapterClose,
            M::Broadcast => {
                let d = data()?;
                ClusterBody::Broadcast {
                    packet: Packet::from_value(
                        d.get("packet")
                            .ok_or_else(|| DecodeError::invalid(D, "no `packet`"))?,
                    )?,
                    request_id: opt_str(d, "requestId", D)?,
                    opts: opts(d)?,
                }
            }
            M::SocketsJoin => {
                let d = data()?;
                ClusterBody::SocketsJoin {
                    opts: opts(d)?,
                    rooms: req_rooms(d, "rooms", D)?,
                }
            }
            M::SocketsLeave => {
                let d = data()?;
                ClusterBody::SocketsLeave {
                    opts: opts(d)?,
                    rooms: req_rooms(d, "rooms", D)?,
                }
            }
            M::DisconnectSockets => {
                let d = data()?;
                ClusterBody::DisconnectSockets {
                    opts: opts(d)?,
                    close: opt_bool(d, "close", D)?,
                }
            }
            M::FetchSockets => {
                let d = data()?;
                ClusterBody::FetchSockets {
                    opts: opts(d)?,
                    request_id: req_str(d, "requestId", D)?,
                }
            }
            M::FetchSocketsResponse => {
                let d = data()?;
                let sockets = d
                    .get("sockets")
                    .and_then(Value::as_array)
                    .ok_or_else(|| DecodeError::invalid(D, "`sockets` is not an array"))?;
                ClusterBody::FetchSocketsResponse {
                    request_id: req_str(d, "requestId", D)?,
                    sockets: sockets
                        .iter()
                        .map(FetchedSocket::from_value)
                        .collect::<Result<_, _>>()?,
                }
            }
            M::ServerSideEmit => {
                let d = data()?;
                ClusterBody::ServerSideEmit {
                    request_id: opt_str(d, "requestId", D)?,
                    packet: packet_array(d)?,
                }
            }
            M::ServerSideEmitResponse => {
                let d = data()?;
                ClusterBody::ServerSideEmitResponse {
                    request_id: req_str(d, "requestId", D)?,
                    packet: d.get("packet").cloned(),
                }
            }
            M::BroadcastClientCount => {
                let d = data()?;
                ClusterBody::BroadcastClientCount {
                    request_id: req_str(d, "requestId", D)?,
                    client_count: req_u64(d, "clientCount", D)?,
                }
            }
            M::BroadcastAck => {
                let d = data()?;
                ClusterBody::BroadcastAck {
                    request_id: req_str(d, "requestId", D)?,
                    packet: d.get("packet").cloned(),
                }
            }
        };
        Ok(ClusterMessage { uid, nsp, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_unless_binary() {
        let m = ClusterMessage {
            uid: "abc".into(),
            nsp: "/".into(),
            body: ClusterBody::ServerSideEmit {
                request_id: None,
                packet: vec![Value::from("hello"), Value::from(1i64)],
            },
        };
        let bytes = m.encode();
        assert_eq!(
            bytes,
            br#"{"type":9,"data":{"packet":["hello",1]},"uid":"abc","nsp":"/"}"#
        );
        assert_eq!(ClusterMessage::decode(&bytes).unwrap(), m);

        let m = ClusterMessage {
            uid: "abc".into(),
            nsp: "/".into(),
            body: ClusterBody::Broadcast {
                packet: Packet::event("/", "e", vec![Value::from(vec![1u8, 2])]),
                request_id: None,
                opts: BroadcastOptions {
                    rooms: vec!["r".into()],
                    except: vec![],
                    flags: Some(Default::default()),
                },
            },
        };
        let bytes = m.encode();
        assert_eq!(bytes[0], 0x84);
        assert_eq!(ClusterMessage::decode(&bytes).unwrap(), m);

        let hb = ClusterMessage {
            uid: "x".into(),
            nsp: "/".into(),
            body: ClusterBody::Heartbeat,
        };
        assert_eq!(hb.encode(), br#"{"type":2,"uid":"x","nsp":"/"}"#);
        assert!(ClusterMessage::decode(br#"{"type":99,"uid":"x","nsp":"/"}"#).is_err());
        assert!(ClusterMessage::decode(br#"{"type":3,"uid":"x","nsp":"/"}"#).is_err());
    }
}
