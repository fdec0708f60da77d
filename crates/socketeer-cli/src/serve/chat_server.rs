//! The chat's Socket.IO side: [`attach`] wires a [`State`] to the main
//! namespace of a server (the protocol is in [`super::chat`]), on one
//! server or, with a [`Cluster`], as one server of several.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use socketeer::server::{AckSender, Namespace, Socket, SocketIo};
use socketeer::server::{Args, DisconnectReason};
use socketeer::Value;
use socketeer_engineio::sync::LockExt;

use super::chat::{ChatError, Limits, Sent, State};
use super::chat_cluster::{ChatUser, Cluster, CLUSTER_REFRESH, LISTS_CHANGED, ROOM_PREFIX};

/// The adapter room of a chat room: prefixed, so that no chat room can be
/// named like a socket id (every socket is alone in the room of its id).
fn adapter_room(room: &str) -> String {
    format!("{ROOM_PREFIX}{room}")
}

/// The chat: its state, and a signal for the coalesced lists.
#[derive(Debug)]
pub struct Chat {
    state: Mutex<State>,
    lists_changed: tokio::sync::Notify,
    /// This server's lists changed since the other servers were told.
    local_change: AtomicBool,
    cluster: Option<Cluster>,
}

impl Chat {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.locked()
    }

    /// This server's rooms or presence changed: send the lists (and tell
    /// the other servers).
    fn changed(&self) {
        self.local_change.store(true, Ordering::Release);
        self.lists_changed.notify_one();
    }

    /// The room and presence lists sent to clients: this server's, or the
    /// cluster's.
    async fn lists(&self, ns: &Namespace) -> (Value, Value) {
        let listed = |s: &State| (to_value(&s.listed_rooms()), to_value(&s.listed_presence()));
        match &self.cluster {
            Some(cluster) => listed(&cluster.snapshot(ns.broadcast()).await),
            None => listed(&self.state()),
        }
    }

    /// Open connections and rooms, for `/healthz`.
    pub fn counts(&self) -> (usize, usize) {
        let s = self.state();
        (s.connections(), s.room_count())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn random_id() -> String {
    let mut raw = [0u8; 12];
    if getrandom::fill(&mut raw).is_err() {
        // Ids only need to be unique among a room's recent messages.
        raw[..8].copy_from_slice(&now_ms().to_le_bytes());
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn json(v: serde_json::Value) -> Value {
    Value::from(v)
}

fn to_value<T: Serialize>(v: &T) -> Value {
    Value::from_serialize(v).unwrap_or(Value::Null)
}

/// The string field `key` of the first argument, if it is an object.
fn field<'a>(args: &'a [Value], key: &str) -> Result<Option<&'a str>, ChatError> {
    let obj = args
        .first()
        .and_then(Value::as_object)
        .ok_or(ChatError::BadRequest("expected an object"))?;
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ChatError::BadRequest("fields must be strings")),
    }
}

fn required<'a>(args: &'a [Value], key: &'static str) -> Result<&'a str, ChatError> {
    field(args, key)?.ok_or(ChatError::BadRequest(key))
}

fn reply(ack: Option<AckSender>, result: Result<serde_json::Value, ChatError>) {
    let Some(ack) = ack else { return };
    let body = match result {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.insert("ok".into(), true.into());
            }
            v
        }
        Err(e) => serde_json::json!({ "ok": false, "error": e.to_string() }),
    };
    let _ = ack.send(vec![json(body)]);
}

/// Sets the chat up on `io`'s main namespace and starts the task that
/// sends the room and presence lists. Call inside a tokio runtime. With a
/// `cluster`, `io` must use its adapter.
pub fn attach(io: &SocketIo, limits: Limits, cluster: Option<Cluster>) -> Arc<Chat> {
    let chat = Arc::new(Chat {
        state: Mutex::new(State::new(limits)),
        lists_changed: tokio::sync::Notify::new(),
        local_change: AtomicBool::new(false),
        cluster,
    });
    if chat.cluster.is_some() {
        // Another server's lists changed: send the cluster's to ours.
        let c = chat.clone();
        io.of("/").on_server_side_emit(move |event, _args| {
            if event == LISTS_CHANGED {
                c.lists_changed.notify_one();
            }
        });
    }
    tokio::spawn(send_lists(io.clone(), chat.clone()));
    let c = chat.clone();
    io.of("/")
        .on_connection(move |socket: Socket| on_connection(&c, socket));
    chat
}

/// Sends `rooms` and `presence` to everyone after changes, at most every
/// 100 ms, so that a burst of joins (every client reconnecting after a
/// restart) costs one broadcast, not one per join. In a cluster each
/// server sends the cluster's lists to its own clients, tells the other
/// servers (once per burst) when its own lists changed, and looks again
/// every [`CLUSTER_REFRESH`] (a server that died told no one), sending
/// the lists then only if they differ.
async fn send_lists(io: SocketIo, chat: Arc<Chat>) {
    let mut last = None;
    loop {
        let woken = match chat.cluster {
            Some(_) => tokio::time::timeout(CLUSTER_REFRESH, chat.lists_changed.notified())
                .await
                .is_ok(),
            None => {
                chat.lists_changed.notified().await;
                true
            }
        };
        if woken {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ns = io.of("/");
        if chat.cluster.is_some() && chat.local_change.swap(false, Ordering::AcqRel) {
            ns.server_side_emit(LISTS_CHANGED, Vec::new());
        }
        let lists = chat.lists(&ns).await;
        if !woken && last.as_ref() == Some(&lists) {
            continue;
        }
        let (rooms, presence) = lists.clone();
        // With the Redis adapter, `local()`: every server sends its own.
        let _ = ns.broadcast().local().emit("rooms", vec![rooms]);
        let _ = ns.broadcast().local().emit("presence", vec![presence]);
        if chat.cluster.is_some() {
            last = Some(lists);
        }
    }
}

fn on_connection(chat: &Arc<Chat>, socket: Socket) {
    let sid = socket.id().to_owned();
    chat.state().connect(&sid);
    tracing::info!(
        sid = %sid,
        remote = ?socket.handshake().address,
        transport = socket.engine().transport().as_str(),
        "connection opened"
    );
    if chat.cluster.is_some() {
        let (c, s) = (chat.clone(), socket.clone());
        tokio::spawn(async move {
            let (rooms, presence) = c.lists(s.namespace()).await;
            let _ = s.emit("rooms", vec![rooms]);
            let _ = s.emit("presence", vec![presence]);
        });
    } else {
        let _ = socket.emit("rooms", vec![to_value(&chat.state().listed_rooms())]);
        let _ = socket.emit("presence", vec![to_value(&chat.state().listed_presence())]);
    }

    let c = chat.clone();
    socket.on(
        "hello",
        move |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            let result = required(&args, "nickname").and_then(|n| c.state().hello(s.id(), n));
            if let Ok(n) = &result {
                tracing::debug!(sid = %s.id(), nickname = %n, "nickname set");
                // For the other servers' lists: fetch_sockets carries it.
                s.set_data(ChatUser {
                    nickname: n.clone(),
                });
                c.changed();
            }
            reply(ack, result.map(|n| serde_json::json!({ "nickname": n })));
        },
    );

    let c = chat.clone();
    socket.on(
        "join",
        move |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            let c = c.clone();
            async move { on_join(&c, &s, &args, ack).await }
        },
    );

    let c = chat.clone();
    socket.on(
        "leave",
        move |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            let result = required(&args, "room").and_then(|room| {
                let mut st = c.state();
                let room = st.leave(s.id(), room)?;
                Ok((room, st.nickname(s.id()).unwrap_or_default().to_owned()))
            });
            let result = result.map(|(room, nickname)| {
                s.leave(&adapter_room(&room));
                let _ = s.to(adapter_room(&room)).emit(
                    "notice",
                    vec![json(
                        serde_json::json!({ "room": room, "text": format!("{nickname} left") }),
                    )],
                );
                tracing::info!(sid = %s.id(), nickname = %nickname, room = %room, "left");
                c.changed();
                serde_json::json!({ "room": room })
            });
            reply(ack, result);
        },
    );

    let c = chat.clone();
    socket.on("rooms", move |s: Socket, ack: Option<AckSender>| {
        let c = c.clone();
        async move {
            let rooms = match &c.cluster {
                Some(cluster) => cluster.snapshot(s.namespace().broadcast()).await,
                None => return reply(ack, Ok(rooms_body(&c.state()))),
            };
            reply(ack, Ok(rooms_body(&rooms)));
        }
    });

    let c = chat.clone();
    socket.on(
        "message",
        move |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            let c = c.clone();
            async move { on_message(&c, &s, &args, ack).await }
        },
    );

    let c = chat.clone();
    socket.on("typing", move |s: Socket, Args(args): Args| {
        let Ok(Some(room)) = field(&args, "room") else {
            return;
        };
        let typing = args
            .first()
            .and_then(|a| a.get("typing"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let nickname = {
            let st = c.state();
            if !st.is_in(s.id(), room) {
                return;
            }
            st.nickname(s.id()).unwrap_or_default().to_owned()
        };
        let _ = s.to(adapter_room(room)).volatile().emit(
            "typing",
            vec![json(
                serde_json::json!({ "room": room, "nickname": nickname, "typing": typing }),
            )],
        );
    });

    let c = chat.clone();
    socket.on_disconnect(move |s: Socket, reason: DisconnectReason| {
        let (nickname, rooms) = c.state().disconnect(s.id());
        tracing::info!(
            sid = %s.id(),
            nickname = nickname.as_deref().unwrap_or(""),
            reason = %reason,
            transport = s.engine().transport().as_str(),
            "connection closed"
        );
        if let Some(nickname) = nickname {
            for room in rooms {
                let _ = s.to(adapter_room(&room)).emit(
                    "notice",
                    vec![json(
                        serde_json::json!({ "room": room, "text": format!("{nickname} went offline") }),
                    )],
                );
            }
        }
        c.changed();
    });
}

fn rooms_body(state: &State) -> serde_json::Value {
    serde_json::json!({ "rooms": state.listed_rooms() })
}

/// `join`: checked and applied here at once (so that the socket's next
/// events see it); in a cluster the members and the history then come
/// from every server and from Redis.
async fn on_join(c: &Chat, s: &Socket, args: &[Value], ack: Option<AckSender>) {
    let result = required(args, "room").and_then(|room| {
        let mut st = c.state();
        let (room, new) = st.join(s.id(), room)?;
        let nickname = st.nickname(s.id()).unwrap_or_default().to_owned();
        Ok((
            room.clone(),
            new,
            nickname,
            st.room_members(&room),
            st.history(&room),
        ))
    });
    let (room, new, nickname, mut members, mut history) = match result {
        Ok(r) => r,
        Err(e) => return reply(ack, Err(e)),
    };
    if new {
        s.join([adapter_room(&room)]);
        let text = format!("{nickname} joined");
        let _ = s.to(adapter_room(&room)).emit(
            "notice",
            vec![json(serde_json::json!({ "room": room, "text": text }))],
        );
        tracing::info!(sid = %s.id(), nickname = %nickname, room = %room, "joined");
        c.changed();
    }
    if let Some(cluster) = &c.cluster {
        let everywhere = s.namespace().to(adapter_room(&room));
        members = cluster.snapshot(everywhere).await.room_members(&room);
        match cluster.history(&room).await {
            Ok(h) => history = h,
            Err(e) => tracing::warn!(room = %room, error = %e,
                "cannot read the history from Redis: sending this server's"),
        }
    }
    let body = serde_json::json!({ "room": room, "members": members, "history": history });
    reply(ack, Ok(body));
}

/// `message`: checked, kept and broadcast at once; in a cluster also
/// appended to the room's history in Redis before the ack.
async fn on_message(c: &Chat, s: &Socket, args: &[Value], ack: Option<AckSender>) {
    let result = (|| {
        let room = required(args, "room")?;
        let text = required(args, "text")?;
        let id = field(args, "id")?;
        c.state().send(s.id(), room, text, id, now_ms(), random_id)
    })();
    let msg = match result {
        Ok(Sent::New(msg)) => msg,
        Ok(Sent::Duplicate(id)) => {
            return reply(ack, Ok(serde_json::json!({ "id": id, "duplicate": true })));
        }
        Err(e) => {
            tracing::debug!(sid = %s.id(), error = %e, "message refused");
            return reply(ack, Err(e));
        }
    };
    let _ = s
        .to(adapter_room(&msg.room))
        .emit("message", vec![to_value(&msg)]);
    if let Some(cluster) = &c.cluster {
        if let Err(e) = cluster.push_history(&msg).await {
            tracing::warn!(room = %msg.room, error = %e,
                "cannot keep the message in the Redis history (kept on this server only)");
        }
    }
    reply(ack, Ok(serde_json::json!({ "id": msg.id, "ts": msg.ts })));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_fields() {
        let obj = json(serde_json::json!({ "room": "r", "n": 1 }));
        assert_eq!(field(std::slice::from_ref(&obj), "room"), Ok(Some("r")));
        assert_eq!(field(std::slice::from_ref(&obj), "missing"), Ok(None));
        assert!(field(&[obj], "n").is_err());
        assert!(field(&[], "room").is_err());
        assert!(field(&[Value::from("str")], "room").is_err());
        assert!(required(&[json(serde_json::json!({}))], "room").is_err());
    }
}
