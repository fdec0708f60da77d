//! Cluster mode of the conformance server (docs/conformance.md, "The
//! cluster contract"): with `REDIS_URL` set, the server joins a cluster
//! through the classic Redis adapter (channel prefix `socket.io`, as
//! `@socket.io/redis-adapter`'s `createAdapter`) and `/` gets the
//! `cluster-*` and `peer-say` handlers.

use std::time::Duration;

use socketeer::server::{AckSender, AdapterFactory, Args, Data, Namespace, Socket};
use socketeer::Value;
use socketeer_redis::{adapter_factory, RedisAdapterOptions};

/// Connects to the Redis at `url` (a `PING`, so an unreachable Redis is an
/// error here, at start) and returns the classic adapter's factory.
pub async fn adapter(url: &str) -> Result<AdapterFactory, String> {
    let client =
        redis::Client::open(url).map_err(|e| format!("REDIS_URL={url:?} is not valid: {e}"))?;
    let options = RedisAdapterOptions {
        key: "socket.io".into(),
        ..Default::default()
    };
    adapter_factory(client, options)
        .await
        .map_err(|e| format!("cannot join the cluster at REDIS_URL={url:?}: {e}"))
}

/// `{"error": message}`, the acknowledgement of a failed cluster request
/// (a fetch not every server answered in time, an emit that failed).
fn error(message: impl std::fmt::Display) -> Vec<Value> {
    vec![Value::from(
        serde_json::json!({ "error": message.to_string() }),
    )]
}

/// The server-side half of `peer-say`: an event from another server
/// becomes `peer-said` to this server's own sockets.
pub fn relay_peer_say(ns: &Namespace) {
    let relay = ns.clone();
    ns.on_server_side_emit(move |event, args| {
        if event == "peer-say" {
            let _ = relay.broadcast().local().emit("peer-said", args);
        }
    });
}

/// The cluster handlers of a socket of `/`.
pub fn handlers(socket: &Socket) {
    socket.on("cluster-count", |s: Socket, ack: AckSender| async move {
        let _ = ack.send(match s.namespace().try_fetch_sockets().await {
            Ok(found) => vec![Value::from(found.len() as u64)],
            Err(e) => error(e),
        });
    });
    socket.on(
        "cluster-rooms",
        |s: Socket, Data(room): Data<String>, ack: AckSender| async move {
            let found = match s.namespace().to(room).try_fetch_sockets().await {
                Ok(found) => found,
                Err(e) => return drop(ack.send(error(e))),
            };
            let mut ids: Vec<String> = found.iter().map(|info| info.id.to_string()).collect();
            ids.sort();
            let _ = ack.send(vec![Value::from(serde_json::json!(ids))]);
        },
    );
    socket.on(
        "cluster-join",
        |s: Socket, Data(room): Data<String>, ack: AckSender| {
            s.namespace().broadcast().sockets_join([room]);
            let _ = ack.send(vec![Value::from("ok")]);
        },
    );
    socket.on("cluster-kick", |s: Socket, Data(room): Data<String>| {
        s.namespace().to(room).disconnect_sockets();
    });
    socket.on("peer-say", |s: Socket, Args(args): Args| {
        s.namespace().server_side_emit("peer-say", args);
    });
    socket.on("cluster-ask", |s: Socket, ack: AckSender| async move {
        let asked = s
            .namespace()
            .broadcast()
            .timeout(Duration::from_secs(1))
            .emit_with_ack_everywhere("question2", vec![])
            .await;
        let _ = ack.send(match asked {
            Ok(acks) if acks.complete => vec![Value::from(acks.responses.len() as u64)],
            Ok(_) => vec![Value::from("timeout")],
            Err(e) => error(e),
        });
    });
}
