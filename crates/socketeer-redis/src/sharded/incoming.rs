//! The other servers' messages: applied to this server's sockets, and
//! answered on the requester's response channel.

use std::sync::Arc;
use std::time::Duration;

use socketeer::server::{ClusterOp, Room, ServerSideAck};

use super::shared::{NsState, Shared};
use crate::common::{lock, server_options};
use crate::convert::{from_wire, to_wire};
use crate::wire::{ClusterBody, ClusterMessage, FetchedSocket, PacketType, Value};

/// The request id of a response, `None` for a message that is not one.
fn response_id(body: &ClusterBody) -> Option<&str> {
    match body {
        ClusterBody::FetchSocketsResponse { request_id, .. }
        | ClusterBody::ServerSideEmitResponse { request_id, .. }
        | ClusterBody::BroadcastClientCount { request_id, .. }
        | ClusterBody::BroadcastAck { request_id, .. } => Some(request_id),
        _ => None,
    }
}

impl Shared {
    /// Routes one message to the namespace it names, if it came on one of
    /// that namespace's channels.
    pub(super) fn on_message(&self, channel: &str, payload: &[u8]) {
        let msg = match ClusterMessage::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, %channel, "sharded redis adapter: malformed message dropped");
                return;
            }
        };
        let ns = lock(&self.namespaces).get(&msg.nsp).cloned();
        let Some(ns) = ns.filter(|ns| ns.owns(channel)) else {
            tracing::debug!(nsp = msg.nsp, %channel, "sharded redis adapter: message for no namespace of this channel ignored");
            return;
        };
        if msg.uid == self.uid {
            return;
        }
        if channel == ns.response || response_id(&msg.body).is_some() {
            return self.on_response(msg.body);
        }
        self.on_request(&ns, msg.uid, msg.body);
    }

    /// Hands an answer to the request waiting for it (answers to requests
    /// that ended, or are not ours, are ignored).
    fn on_response(&self, body: ClusterBody) {
        let Some(id) = response_id(&body) else {
            tracing::debug!(
                ?body,
                "sharded redis adapter: non-response on the response channel ignored"
            );
            return;
        };
        if let Some(waiter) = lock(&self.waiting).get(id) {
            let _ = waiter.send(body);
        }
    }

    /// Publishes an answer to `requester`'s request.
    fn respond(&self, ns: &NsState, requester: &str, body: ClusterBody) {
        let msg = ClusterMessage {
            uid: self.uid.clone(),
            nsp: ns.channels.nsp().to_owned(),
            body,
        };
        self.publish(ns.channels.response_for(requester), msg.encode());
    }

    fn on_request(&self, ns: &Arc<NsState>, requester: String, body: ClusterBody) {
        let rooms_of = |rooms: &[String]| rooms.iter().map(|r| Room::from(r.as_str())).collect();
        match body {
            ClusterBody::Broadcast {
                packet,
                request_id,
                opts,
            } => {
                if !matches!(
                    packet.packet_type,
                    PacketType::Event | PacketType::BinaryEvent
                ) {
                    tracing::warn!(packet_type = ?packet.packet_type, "sharded redis adapter: broadcast of a non-event packet dropped");
                    return;
                }
                let Some(event) = packet.event_name().map(str::to_owned) else {
                    tracing::warn!(
                        "sharded redis adapter: broadcast without an event name dropped"
                    );
                    return;
                };
                let args = packet.args().iter().map(from_wire).collect();
                let Some(request_id) = request_id else {
                    let volatile = opts.flags.as_ref().and_then(|f| f.volatile) == Some(true);
                    ns.handle.apply(ClusterOp::Emit {
                        opts: server_options(&opts, volatile),
                        event,
                        args,
                    });
                    return;
                };
                let timeout = opts
                    .flags
                    .as_ref()
                    .and_then(|f| f.timeout)
                    .map(Duration::from_millis)
                    .unwrap_or(self.options.request_timeout);
                let (weak, ns1, to, id) = (
                    self.weak.clone(),
                    ns.clone(),
                    requester.clone(),
                    request_id.clone(),
                );
                let on_count = Box::new(move |n: usize| {
                    if let Some(shared) = weak.upgrade() {
                        let body = ClusterBody::BroadcastClientCount {
                            request_id: id,
                            client_count: n as u64,
                        };
                        shared.respond(&ns1, &to, body);
                    }
                });
                let (weak, ns2) = (self.weak.clone(), ns.clone());
                let on_ack = Arc::new(move |answer: socketeer::Value| {
                    if let Some(shared) = weak.upgrade() {
                        let body = ClusterBody::BroadcastAck {
                            request_id: request_id.clone(),
                            packet: Some(to_wire(&answer)),
                        };
                        shared.respond(&ns2, &requester, body);
                    }
                });
                ns.handle.broadcast_with_ack(
                    server_options(&opts, false),
                    event,
                    args,
                    timeout,
                    on_count,
                    on_ack,
                );
            }
            ClusterBody::SocketsJoin { opts, rooms } => ns.handle.apply(ClusterOp::Join {
                opts: server_options(&opts, false),
                rooms: rooms_of(&rooms),
            }),
            ClusterBody::SocketsLeave { opts, rooms } => ns.handle.apply(ClusterOp::Leave {
                opts: server_options(&opts, false),
                rooms: rooms_of(&rooms),
            }),
            ClusterBody::DisconnectSockets { opts, close } => {
                ns.handle.apply(ClusterOp::Disconnect {
                    opts: server_options(&opts, false),
                    close: close.unwrap_or(false),
                })
            }
            ClusterBody::FetchSockets { opts, request_id } => {
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
                    &requester,
                    ClusterBody::FetchSocketsResponse {
                        request_id,
                        sockets,
                    },
                );
            }
            ClusterBody::ServerSideEmit { request_id, packet } => {
                let mut packet = packet.iter();
                let Some(event) = packet.next().and_then(Value::as_str).map(str::to_owned) else {
                    tracing::warn!(
                        "sharded redis adapter: server-side emit without an event name dropped"
                    );
                    return;
                };
                let args = packet.map(from_wire).collect();
                let Some(request_id) = request_id else {
                    ns.handle.apply(ClusterOp::ServerSideEmit { event, args });
                    return;
                };
                let (weak, ns1) = (self.weak.clone(), ns.clone());
                let ack = ServerSideAck::new(move |answer| {
                    if let Some(shared) = weak.upgrade() {
                        let body = ClusterBody::ServerSideEmitResponse {
                            request_id,
                            packet: Some(to_wire(&answer)),
                        };
                        shared.respond(&ns1, &requester, body);
                    }
                });
                ns.handle.server_side_emit_with_ack(event, args, ack);
            }
            ClusterBody::InitialHeartbeat | ClusterBody::Heartbeat | ClusterBody::AdapterClose => {
                tracing::debug!(%requester, "sharded redis adapter: heartbeat message ignored");
            }
            // Answers are routed by `on_message`.
            ClusterBody::FetchSocketsResponse { .. }
            | ClusterBody::ServerSideEmitResponse { .. }
            | ClusterBody::BroadcastClientCount { .. }
            | ClusterBody::BroadcastAck { .. } => {}
        }
    }
}
