//! This server's requests to the others, which wait for answers: a
//! broadcast with acknowledgements, a server-side emit with
//! acknowledgements, `fetchSockets`.

use std::time::Duration;

use socketeer::server::{
    BroadcastOptions as ServerOptions, FetchError, RemoteAck, RemoteAcks, RemoteSockets, Room,
    ServerSideAcks, ServerSideAcksFuture, SocketInfo, TryRemoteSockets,
};
use tokio::sync::mpsc;

use super::RedisAdapter;
use crate::common::{
    complete_fetch, lock, partial_fetch, random_hex, wire_options, Fetched, WaitGuard,
};
use crate::convert::{from_wire, to_wire};
use crate::wire::{Flags, Packet, Request, Response, Value};

/// Sends an emit with acknowledgements; the client counts and
/// acknowledgements come back for `timeout`.
pub(super) fn broadcast_with_ack(
    adapter: &RedisAdapter,
    opts: &ServerOptions,
    event: &str,
    args: &[socketeer::Value],
    timeout: Duration,
) -> RemoteAcks {
    let (out, answers) = mpsc::unbounded_channel();
    let request_id = random_hex(6);
    let (tx, mut rx) = mpsc::unbounded_channel();
    lock(&adapter.shared.waiting).insert(request_id.clone(), tx);
    let flags = Flags {
        timeout: Some(timeout.as_millis().try_into().unwrap_or(u64::MAX)),
        ..Flags::default()
    };
    let request = Request::Broadcast {
        uid: adapter.shared.uid.clone(),
        request_id: request_id.clone(),
        packet: Packet::event(
            adapter.ns.channels.nsp(),
            event,
            args.iter().map(to_wire).collect(),
        ),
        opts: wire_options(opts, Some(flags)),
    };
    adapter
        .shared
        .publish(adapter.ns.channels.request(), request.encode());
    let shared = adapter.shared.clone();
    adapter.shared.runtime.spawn(async move {
        let _guard = WaitGuard {
            waiting: &shared.waiting,
            id: request_id,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        while let Ok(Some(response)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            let answer = match response {
                Response::BroadcastClientCount { client_count, .. } => {
                    RemoteAck::ClientCount(usize::try_from(client_count).unwrap_or(usize::MAX))
                }
                Response::BroadcastAck { packet, .. } => {
                    RemoteAck::Ack(packet.as_ref().map(from_wire).unwrap_or_default())
                }
                _ => continue,
            };
            if out.send(answer).is_err() {
                return;
            }
        }
    });
    answers
}

/// Sends a server-side emit with acknowledgements and collects one answer
/// from each other server, within the request timeout.
pub(super) fn server_side_emit_with_ack(
    adapter: &RedisAdapter,
    event: String,
    args: Vec<socketeer::Value>,
) -> ServerSideAcksFuture {
    let shared = adapter.shared.clone();
    let ns = adapter.ns.clone();
    let mut data = Vec::with_capacity(args.len() + 1);
    data.push(Value::String(event));
    data.extend(args.iter().map(to_wire));
    Box::pin(async move {
        let deadline = tokio::time::Instant::now() + shared.options.request_timeout;
        let Some(count) = shared.server_count(&ns, deadline).await else {
            return ServerSideAcks::default();
        };
        let mut answers = ServerSideAcks {
            responses: Vec::new(),
            complete: true,
        };
        if count <= 1 {
            return answers;
        }
        let request_id = random_hex(6);
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&shared.waiting).insert(request_id.clone(), tx);
        let _guard = WaitGuard {
            waiting: &shared.waiting,
            id: request_id.clone(),
        };
        let request = Request::ServerSideEmit {
            uid: Some(shared.uid.clone()),
            request_id: Some(request_id),
            data,
        };
        shared.publish(ns.channels.request(), request.encode());
        while answers.responses.len() < count - 1 {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Response::ServerSideEmit { data, .. })) => answers
                    .responses
                    .push(data.as_ref().map(from_wire).unwrap_or_default()),
                Ok(Some(other)) => {
                    tracing::debug!(
                        ?other,
                        "redis adapter: unexpected answer to serverSideEmit ignored"
                    );
                }
                Ok(None) | Err(_) => {
                    tracing::warn!(
                        answered = answers.responses.len(),
                        expected = count - 1,
                        "redis adapter: serverSideEmit timed out; returning the answers received"
                    );
                    answers.complete = false;
                    break;
                }
            }
        }
        answers
    })
}

/// Asks the other servers for their sockets that `opts` targets and
/// collects one answer from each, within the request timeout; what was
/// received, and why not everything was, if so.
pub(super) fn fetch_remote_sockets(adapter: &RedisAdapter, opts: &ServerOptions) -> RemoteSockets {
    partial_fetch(fetch(adapter, opts))
}

/// As [`fetch_remote_sockets`], failing when not every server answered.
pub(super) fn try_fetch_remote_sockets(
    adapter: &RedisAdapter,
    opts: &ServerOptions,
) -> TryRemoteSockets {
    complete_fetch(fetch(adapter, opts))
}

/// The sockets the other servers reported, and the failure if not every
/// one of them did.
fn fetch(
    adapter: &RedisAdapter,
    opts: &ServerOptions,
) -> impl std::future::Future<Output = Fetched> + Send + 'static {
    let shared = adapter.shared.clone();
    let ns = adapter.ns.clone();
    let opts = wire_options(opts, None);
    async move {
        let deadline = tokio::time::Instant::now() + shared.options.request_timeout;
        let Some(count) = shared.server_count(&ns, deadline).await else {
            let e =
                FetchError::Unavailable("redis did not count the servers (PUBSUB NUMSUB)".into());
            return (Vec::new(), Some(e));
        };
        if count <= 1 {
            return (Vec::new(), None);
        }
        let request_id = random_hex(6);
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&shared.waiting).insert(request_id.clone(), tx);
        let _guard = WaitGuard {
            waiting: &shared.waiting,
            id: request_id.clone(),
        };
        let request = Request::RemoteFetch {
            uid: Some(shared.uid.clone()),
            request_id,
            opts,
        };
        shared.publish(ns.channels.request(), request.encode());
        let mut found = Vec::new();
        let mut answered = 1; // this server
        while answered < count {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Response::FetchSockets { sockets, .. })) => {
                    answered += 1;
                    found.extend(sockets.into_iter().map(|s| SocketInfo {
                        id: s.id.as_str().into(),
                        rooms: s.rooms.iter().map(|r| Room::from(r.as_str())).collect(),
                        local: false,
                        handshake: (!s.handshake.is_null()).then(|| from_wire(&s.handshake)),
                        data: s.data.as_ref().map(from_wire).unwrap_or_default(),
                    }));
                }
                Ok(Some(other)) => {
                    tracing::debug!(
                        ?other,
                        "redis adapter: unexpected answer to fetchSockets ignored"
                    );
                }
                Ok(None) | Err(_) => {
                    tracing::warn!(
                        answered,
                        expected = count,
                        "redis adapter: fetchSockets timed out; returning the answers received"
                    );
                    let e = FetchError::Timeout {
                        answered: answered - 1,
                        expected: count - 1,
                    };
                    return (found, Some(e));
                }
            }
        }
        (found, None)
    }
}
