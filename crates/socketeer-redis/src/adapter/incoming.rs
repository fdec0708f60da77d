//! The other servers' messages: broadcasts applied to this server's
//! sockets, requests applied and answered, answers handed to the requests
//! waiting for them.

use std::sync::Arc;
use std::time::Duration;

use socketeer::server::{
    Adapter, BroadcastOptions as ServerOptions, ClusterOp, Room, ServerSideAck, SocketId,
};

use super::shared::{NsState, Shared};
use crate::common::{lock, server_options};
use crate::convert::{from_wire, to_wire};
use crate::wire::{BroadcastMessage, FetchedSocket, PacketType, Request, Response, Value};

impl Shared {
    /// Routes one message to the namespace whose channel it came on.
    pub(super) fn on_message(&self, channel: &str, payload: &[u8]) {
        let namespaces: Vec<Arc<NsState>> = lock(&self.namespaces).values().cloned().collect();
        for ns in namespaces {
            if let Some(room) = ns.channels.broadcast_room(channel) {
                return self.on_broadcast(&ns, room, payload);
            }
            if channel == ns.request_channel {
                return self.on_request(&ns, payload);
            }
            if ns.response_channels.iter().any(|c| c == channel) {
                return self.on_response(payload);
            }
        }
        tracing::debug!(%channel, "redis adapter: message on no namespace's channel");
    }

    fn on_broadcast(&self, ns: &NsState, room: Option<&str>, payload: &[u8]) {
        let msg = match BroadcastMessage::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, nsp = ns.channels.nsp(), "redis adapter: malformed broadcast dropped");
                return;
            }
        };
        if msg.uid == self.uid {
            return;
        }
        if msg.packet.nsp() != ns.channels.nsp() {
            tracing::debug!(
                nsp = msg.packet.nsp(),
                "redis adapter: broadcast for another namespace ignored"
            );
            return;
        }
        if let Some(room) = room {
            // Nobody here is in the room: nothing to do (as Node checks).
            let only: ServerOptions = ServerOptions {
                rooms: vec![room.into()],
                ..Default::default()
            };
            if ns.rooms.targets(&only).is_empty() {
                return;
            }
        }
        if !matches!(
            msg.packet.packet_type,
            PacketType::Event | PacketType::BinaryEvent
        ) {
            tracing::warn!(packet_type = ?msg.packet.packet_type, "redis adapter: broadcast of a non-event packet dropped");
            return;
        }
        let Some(event) = msg.packet.event_name() else {
            tracing::warn!("redis adapter: broadcast without an event name dropped");
            return;
        };
        let volatile = msg
            .opts
            .flags
            .as_ref()
            .and_then(|f| f.volatile)
            .unwrap_or(false);
        ns.handle.apply(ClusterOp::Emit {
            opts: server_options(&msg.opts, volatile),
            event: event.to_owned(),
            args: msg.packet.args().iter().map(from_wire).collect(),
        });
    }

    fn on_request(&self, ns: &NsState, payload: &[u8]) {
        let request = match Request::decode(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, nsp = ns.channels.nsp(), "redis adapter: malformed request dropped");
                return;
            }
        };
        if request.uid() == Some(self.uid.as_str()) {
            return;
        }
        let requester = request.uid().map(str::to_owned);
        match request {
            Request::Sockets {
                request_id, rooms, ..
            } => {
                let opts = ServerOptions {
                    rooms: rooms.iter().map(|r| Room::from(r.as_str())).collect(),
                    ..Default::default()
                };
                let sockets = ns
                    .rooms
                    .targets(&opts)
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                self.respond(
                    ns,
                    requester,
                    Response::Sockets {
                        request_id,
                        sockets,
                    },
                );
            }
            Request::AllRooms { request_id, .. } => {
                let rooms = ns.rooms.rooms().iter().map(|r| r.to_string()).collect();
                self.respond(ns, requester, Response::AllRooms { request_id, rooms });
            }
            Request::RemoteJoin { opts, rooms, .. } => ns.handle.apply(ClusterOp::Join {
                opts: server_options(&opts, false),
                rooms: rooms.iter().map(|r| Room::from(r.as_str())).collect(),
            }),
            Request::RemoteLeave { opts, rooms, .. } => ns.handle.apply(ClusterOp::Leave {
                opts: server_options(&opts, false),
                rooms: rooms.iter().map(|r| Room::from(r.as_str())).collect(),
            }),
            Request::RemoteDisconnect { opts, close, .. } => {
                ns.handle.apply(ClusterOp::Disconnect {
                    opts: server_options(&opts, false),
                    close,
                })
            }
            Request::RemoteSocket {
                request_id,
                request_type,
                sid,
                room,
                close,
                ..
            } => {
                let sid: SocketId = sid.as_str().into();
                if ns.rooms.socket_rooms(&sid).is_empty() {
                    return; // not one of ours
                }
                let opts = ServerOptions {
                    rooms: vec![sid],
                    local: true,
                    ..Default::default()
                };
                let rooms: Vec<Room> = room.iter().map(|r| Room::from(r.as_str())).collect();
                use crate::wire::RequestType as T;
                let op = match request_type {
                    T::RemoteJoin => ClusterOp::Join { opts, rooms },
                    T::RemoteLeave => ClusterOp::Leave { opts, rooms },
                    _ => ClusterOp::Disconnect {
                        opts,
                        close: close.unwrap_or(false),
                    },
                };
                ns.handle.apply(op);
                if let Some(request_id) = request_id {
                    self.respond(ns, requester, Response::Done { request_id });
                }
            }
            Request::RemoteFetch {
                request_id, opts, ..
            } => {
                let sockets = ns
                    .handle
                    .local_sockets(&server_options(&opts, false))
                    .into_iter()
                    .map(|s| FetchedSocket {
                        id: s.id.to_string(),
                        handshake: s.handshake.as_ref().map(to_wire).unwrap_or(Value::Null),
                        rooms: s.rooms.iter().map(|r| r.to_string()).collect(),
                        data: (!s.data.is_null()).then(|| to_wire(&s.data)),
                    })
                    .collect();
                self.respond(
                    ns,
                    requester,
                    Response::FetchSockets {
                        request_id,
                        sockets,
                    },
                );
            }
            Request::ServerSideEmit {
                request_id, data, ..
            } => {
                let mut data = data.iter();
                let Some(event) = data.next().and_then(Value::as_str) else {
                    tracing::warn!("redis adapter: server-side emit without an event name dropped");
                    return;
                };
                let event = event.to_owned();
                let args = data.map(from_wire).collect();
                let Some(request_id) = request_id else {
                    ns.handle.apply(ClusterOp::ServerSideEmit { event, args });
                    return;
                };
                // The answer goes back as `{type: 6, requestId, data}`.
                let shared = self.weak.clone();
                let channels = ns.channels.clone();
                let ack = ServerSideAck::new(move |answer| {
                    if let Some(shared) = shared.upgrade() {
                        let response = Response::ServerSideEmit {
                            request_id,
                            data: Some(to_wire(&answer)),
                        };
                        let channel = match requester {
                            Some(uid) if shared.options.publish_on_specific_response_channel => {
                                channels.response_for(&uid)
                            }
                            _ => channels.response(),
                        };
                        shared.publish(channel, response.encode());
                    }
                });
                ns.handle.server_side_emit_with_ack(event, args, ack);
            }
            Request::Broadcast {
                request_id,
                packet,
                opts,
                ..
            } => {
                let Some(event) = packet.event_name() else {
                    tracing::warn!("redis adapter: broadcast with acknowledgements without an event name dropped");
                    return;
                };
                let timeout = opts
                    .flags
                    .as_ref()
                    .and_then(|f| f.timeout)
                    .map(Duration::from_millis)
                    .unwrap_or(self.options.request_timeout);
                let channel = self.response_channel(ns, requester.as_deref());
                let (weak, id, to) = (self.weak.clone(), request_id.clone(), channel.clone());
                let on_count = Box::new(move |n: usize| {
                    if let Some(shared) = weak.upgrade() {
                        let response = Response::BroadcastClientCount {
                            request_id: id,
                            client_count: n as u64,
                        };
                        shared.publish(to, response.encode());
                    }
                });
                let weak = self.weak.clone();
                let on_ack = Arc::new(move |answer: socketeer::Value| {
                    if let Some(shared) = weak.upgrade() {
                        let response = Response::BroadcastAck {
                            request_id: request_id.clone(),
                            packet: Some(to_wire(&answer)),
                        };
                        shared.publish(channel.clone(), response.encode());
                    }
                });
                ns.handle.broadcast_with_ack(
                    server_options(&opts, false),
                    event.to_owned(),
                    packet.args().iter().map(from_wire).collect(),
                    timeout,
                    on_count,
                    on_ack,
                );
            }
        }
    }

    /// Where the answers to `requester`'s request go.
    fn response_channel(&self, ns: &NsState, requester: Option<&str>) -> String {
        match requester {
            Some(uid) if self.options.publish_on_specific_response_channel => {
                ns.channels.response_for(uid)
            }
            _ => ns.channels.response(),
        }
    }

    fn respond(&self, ns: &NsState, requester: Option<String>, response: Response) {
        let channel = self.response_channel(ns, requester.as_deref());
        self.publish(channel, response.encode());
    }

    fn on_response(&self, payload: &[u8]) {
        let response = match Response::decode(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "redis adapter: malformed response dropped");
                return;
            }
        };
        // Answers to other servers' requests are not ours: ignored.
        if let Some(waiter) = lock(&self.waiting).get(response.request_id()) {
            let _ = waiter.send(response);
        }
    }
}
