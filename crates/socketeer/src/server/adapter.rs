//! Rooms and broadcast targeting. The [`Adapter`] trait lets a Redis
//! adapter replace the in-memory one without touching the server.
//!
//! An adapter keeps this server's room membership (the in-memory adapter
//! does only that). A multi-server adapter also says
//! [`is_clustered`](Adapter::is_clustered): the server then hands it every
//! operation that must reach the other servers as a [`ClusterOp`]
//! ([`publish`](Adapter::publish)), and asks it for their sockets
//! ([`fetch_remote_sockets`](Adapter::fetch_remote_sockets)). Operations
//! arriving from other servers are applied here through the
//! [`NamespaceHandle`] the adapter was made with: the adapter's way back
//! into the server, defined here as the [`AdapterHost`] trait so that this
//! module depends on nothing else of the server.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock, Weak};

use indexmap::{IndexMap, IndexSet};

use super::error::FetchError;
use crate::Value;
use socketeer_engineio::sync::RwLockExt;

/// A room name.
pub type Room = Arc<str>;

/// A Socket.IO socket id.
pub type SocketId = Arc<str>;

/// Who a broadcast reaches.
#[derive(Debug, Clone, Default)]
pub struct BroadcastOptions {
    /// Only sockets in at least one of these rooms (all sockets if empty).
    pub rooms: Vec<Room>,
    /// Not sockets in any of these rooms.
    pub except: Vec<Room>,
    /// Drop the message for sockets that are not ready to send it.
    pub volatile: bool,
    /// Only this server's sockets (no effect with the in-memory adapter).
    pub local: bool,
}

impl BroadcastOptions {
    /// The targeting rule (socket.io's `shouldIncludePacket`): whether a
    /// socket is a target, given whether it is in a room. Every adapter
    /// and the recovery store apply this one rule.
    pub fn reaches(&self, in_room: impl Fn(&str) -> bool) -> bool {
        (self.rooms.is_empty() || self.rooms.iter().any(|r| in_room(r))) && !self.excludes(in_room)
    }

    /// Whether a socket is left out by `except`, given whether it is in a
    /// room.
    pub fn excludes(&self, in_room: impl Fn(&str) -> bool) -> bool {
        self.except.iter().any(|r| in_room(r))
    }
}

/// An operation on the sockets of every server, as a multi-server adapter
/// forwards it. Applied on a server with [`NamespaceHandle::apply`].
#[derive(Debug, Clone)]
pub enum ClusterOp {
    /// Emit an event (no acknowledgement) to the sockets `opts` targets.
    Emit {
        /// Who gets it.
        opts: BroadcastOptions,
        /// The event name.
        event: String,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// Make the targeted sockets join rooms.
    Join {
        /// Which sockets.
        opts: BroadcastOptions,
        /// The rooms.
        rooms: Vec<Room>,
    },
    /// Make the targeted sockets leave rooms.
    Leave {
        /// Which sockets.
        opts: BroadcastOptions,
        /// The rooms.
        rooms: Vec<Room>,
    },
    /// Disconnect the targeted sockets ("server namespace disconnect").
    Disconnect {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Also close their underlying connections, every namespace of
        /// their clients with them (socket.io's `disconnectSockets(true)`).
        close: bool,
    },
    /// An event for the other servers' handlers, not for clients
    /// (`serverSideEmit` in socket.io).
    ServerSideEmit {
        /// The event name.
        event: String,
        /// Its arguments.
        args: Vec<Value>,
    },
}

/// A socket of this or another server, as
/// [`BroadcastOperator::fetch_sockets`](super::BroadcastOperator::fetch_sockets)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    /// The socket id.
    pub id: SocketId,
    /// Its rooms (its own id included).
    pub rooms: Vec<Room>,
    /// Whether it is connected to this server.
    pub local: bool,
    /// Its handshake as socket.io's `socket.handshake` object (`headers`,
    /// `time`, `address`, `xdomain`, `issued`, `url`, `query`, `auth`),
    /// when known: this server's sockets always, another server's when its
    /// adapter reports it.
    pub handshake: Option<Value>,
    /// Its `socket.data`, serialized (`null` when it has none); read it
    /// back with [`Value::into_typed`].
    pub data: Value,
}

/// The future of [`Adapter::fetch_remote_sockets`].
pub type RemoteSockets = Pin<Box<dyn Future<Output = Vec<SocketInfo>> + Send>>;

/// The future of [`Adapter::try_fetch_remote_sockets`].
pub type TryRemoteSockets =
    Pin<Box<dyn Future<Output = Result<Vec<SocketInfo>, FetchError>> + Send>>;

/// Answers another server's server-side emit that asked for an
/// acknowledgement (socket.io's `serverSideEmit(event, ...args, callback)`):
/// the handler set with
/// [`Namespace::on_server_side_emit_with_ack`](super::Namespace::on_server_side_emit_with_ack)
/// gets one and sends its answer with it, once.
pub struct ServerSideAck(Box<dyn FnOnce(Value) + Send>);

impl ServerSideAck {
    /// An acknowledgement that hands the answer to `answer` (the adapter
    /// sends it back to the requesting server).
    pub fn new(answer: impl FnOnce(Value) + Send + 'static) -> Self {
        ServerSideAck(Box::new(answer))
    }

    /// Sends the answer to the requesting server.
    pub fn send(self, answer: Value) {
        (self.0)(answer)
    }
}

impl std::fmt::Debug for ServerSideAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSideAck")
    }
}

/// What the other servers answered to
/// [`Namespace::server_side_emit_with_ack`](super::Namespace::server_side_emit_with_ack).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSideAcks {
    /// Their answers, in the order they arrived.
    pub responses: Vec<Value>,
    /// Whether every other server answered in time; `false` when the
    /// request timed out with only `responses` (socket.io then calls the
    /// callback with an error and these).
    pub complete: bool,
}

/// One answer of another server to a broadcast with acknowledgements
/// ([`Adapter::broadcast_with_ack`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteAck {
    /// How many of that server's clients got the event.
    ClientCount(usize),
    /// One client's answer: the first argument of its acknowledgement
    /// (`null` if none), as socket.io passes it on.
    Ack(Value),
}

/// The answers of the other servers to [`Adapter::broadcast_with_ack`], as
/// they arrive; closed when no more can come.
pub type RemoteAcks = tokio::sync::mpsc::UnboundedReceiver<RemoteAck>;

/// The future of [`Adapter::server_count`].
pub type ServerCount = Pin<Box<dyn Future<Output = usize> + Send>>;

/// What the clients of every server answered to
/// [`BroadcastOperator::emit_with_ack_everywhere`](super::BroadcastOperator::emit_with_ack_everywhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterAcks {
    /// Each answering client's answer (the first argument of its
    /// acknowledgement, `null` if none): this server's clients first.
    pub responses: Vec<Value>,
    /// Whether every server reported and every targeted client answered
    /// in time (socket.io's callback then gets no error).
    pub complete: bool,
}

/// The future of [`Adapter::server_side_emit_with_ack`].
pub type ServerSideAcksFuture = Pin<Box<dyn Future<Output = ServerSideAcks> + Send>>;

/// What an adapter may ask of the namespace it serves: how a multi-server
/// adapter applies the other servers' operations here. The server
/// implements it; an adapter reaches it through a [`NamespaceHandle`].
pub trait AdapterHost: Send + Sync + 'static {
    /// Applies another server's operation to this server's sockets
    /// (without publishing it again).
    fn apply(self: Arc<Self>, op: ClusterOp);
    /// This server's sockets that `opts` targets.
    fn local_sockets(self: Arc<Self>, opts: &BroadcastOptions) -> Vec<SocketInfo>;
    /// Hands another server's server-side emit that expects an answer to
    /// this namespace's handler, with the acknowledgement that answers it
    /// (dropped unanswered if there is no handler).
    fn server_side_emit_with_ack(
        self: Arc<Self>,
        event: String,
        args: Vec<Value>,
        ack: ServerSideAck,
    );
    /// Emits, for another server, an event with acknowledgements to this
    /// server's sockets that `opts` targets: `on_count` gets how many got
    /// it, then `on_ack` each client's answer (its first argument) that
    /// comes within `timeout`.
    fn broadcast_with_ack(
        self: Arc<Self>,
        opts: BroadcastOptions,
        event: String,
        args: Vec<Value>,
        timeout: std::time::Duration,
        on_count: Box<dyn FnOnce(usize) + Send>,
        on_ack: Arc<dyn Fn(Value) + Send + Sync>,
    );
}

/// A namespace as its adapter sees it: its name and its [`AdapterHost`].
/// Holds no strong reference, so an adapter kept alive elsewhere (a Redis
/// subscription task) does not keep the namespace alive.
#[derive(Clone)]
pub struct NamespaceHandle {
    name: Arc<str>,
    host: Weak<dyn AdapterHost>,
}

impl std::fmt::Debug for NamespaceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceHandle")
            .field("name", &self.name)
            .finish()
    }
}

impl NamespaceHandle {
    /// A handle on `host`, the namespace `name`.
    pub fn new(name: Arc<str>, host: Weak<dyn AdapterHost>) -> Self {
        NamespaceHandle { name, host }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Applies another server's operation to this server's sockets
    /// (without publishing it again); nothing once the namespace is gone.
    pub fn apply(&self, op: ClusterOp) {
        if let Some(host) = self.host.upgrade() {
            host.apply(op);
        }
    }

    /// Hands another server's server-side emit that expects an answer to
    /// this namespace's handler; nothing once the namespace is gone.
    pub fn server_side_emit_with_ack(&self, event: String, args: Vec<Value>, ack: ServerSideAck) {
        if let Some(host) = self.host.upgrade() {
            host.server_side_emit_with_ack(event, args, ack);
        }
    }

    /// Emits, for another server, an event with acknowledgements to this
    /// server's sockets that `opts` targets (see
    /// [`AdapterHost::broadcast_with_ack`]); once the namespace is gone,
    /// `on_count` gets 0.
    pub fn broadcast_with_ack(
        &self,
        opts: BroadcastOptions,
        event: String,
        args: Vec<Value>,
        timeout: std::time::Duration,
        on_count: Box<dyn FnOnce(usize) + Send>,
        on_ack: Arc<dyn Fn(Value) + Send + Sync>,
    ) {
        match self.host.upgrade() {
            Some(host) => host.broadcast_with_ack(opts, event, args, timeout, on_count, on_ack),
            None => on_count(0),
        }
    }

    /// This server's sockets that `opts` targets, to answer another
    /// server's `fetch_sockets`.
    pub fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        self.host
            .upgrade()
            .map(|h| h.local_sockets(opts))
            .unwrap_or_default()
    }
}

/// Makes the adapter of each namespace; see
/// [`SocketIoConfig::adapter`](super::SocketIoConfig::adapter).
#[derive(Clone)]
pub struct AdapterFactory(Arc<dyn Fn(NamespaceHandle) -> Box<dyn Adapter> + Send + Sync>);

impl AdapterFactory {
    /// A factory from a function given each new namespace's handle.
    pub fn new<F>(make: F) -> Self
    where
        F: Fn(NamespaceHandle) -> Box<dyn Adapter> + Send + Sync + 'static,
    {
        AdapterFactory(Arc::new(make))
    }

    pub(crate) fn make(&self, ns: NamespaceHandle) -> Box<dyn Adapter> {
        (self.0)(ns)
    }
}

impl Default for AdapterFactory {
    /// The in-memory adapter.
    fn default() -> Self {
        AdapterFactory::new(|_| Box::new(InMemoryAdapter::new()))
    }
}

impl std::fmt::Debug for AdapterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdapterFactory")
    }
}

/// Room membership of one namespace, and its link to other servers.
pub trait Adapter: Send + Sync + 'static {
    /// Adds a socket to rooms.
    fn add_all(&self, id: &SocketId, rooms: &[Room]);
    /// Removes a socket from a room.
    fn del(&self, id: &SocketId, room: &str);
    /// Removes a socket from every room.
    fn del_all(&self, id: &SocketId);
    /// Calls `each` once for every socket (of this server) a broadcast
    /// reaches. `each` must not call back into the adapter.
    fn for_each_target(&self, opts: &BroadcastOptions, each: &mut dyn FnMut(&SocketId));

    /// The sockets (of this server) a broadcast reaches.
    fn targets(&self, opts: &BroadcastOptions) -> Vec<SocketId> {
        let mut out = Vec::new();
        self.for_each_target(opts, &mut |id| out.push(id.clone()));
        out
    }
    /// The rooms a socket is in.
    fn socket_rooms(&self, id: &SocketId) -> Vec<Room>;
    /// All rooms with at least one socket.
    fn rooms(&self) -> Vec<Room>;

    /// Whether other servers share this namespace: only then does the
    /// server build [`ClusterOp`]s and call [`Adapter::publish`].
    fn is_clustered(&self) -> bool {
        false
    }

    /// Sends an operation to the other servers (this server has already
    /// applied it to its own sockets). Not called for `local` broadcasts.
    fn publish(&self, _op: ClusterOp) {}

    /// The sockets of the other servers that `opts` targets.
    fn fetch_remote_sockets(&self, _opts: &BroadcastOptions) -> RemoteSockets {
        Box::pin(std::future::ready(Vec::new()))
    }

    /// The sockets of the other servers that `opts` targets, or why not
    /// every server answered. By default, [`Adapter::fetch_remote_sockets`]'s
    /// answer, which never fails; an adapter that can tell (the Redis
    /// adapters) reports a failure here.
    fn try_fetch_remote_sockets(&self, opts: &BroadcastOptions) -> TryRemoteSockets {
        let found = self.fetch_remote_sockets(opts);
        Box::pin(async move { Ok(found.await) })
    }

    /// How many servers share this namespace, this one included (1 by
    /// default).
    fn server_count(&self) -> ServerCount {
        Box::pin(std::future::ready(1))
    }

    /// Sends an emit with acknowledgements to the other servers (not
    /// called for `local` ones); their client counts and their clients'
    /// answers come on the returned receiver, for `timeout` at most. The
    /// default (a single server): closed at once.
    fn broadcast_with_ack(
        &self,
        _opts: &BroadcastOptions,
        _event: &str,
        _args: &[Value],
        _timeout: std::time::Duration,
    ) -> RemoteAcks {
        tokio::sync::mpsc::unbounded_channel().1
    }

    /// Sends a server-side emit to the other servers and collects one
    /// answer from each (within the adapter's request timeout). The
    /// default, for a single server: no answers, complete.
    fn server_side_emit_with_ack(&self, _event: String, _args: Vec<Value>) -> ServerSideAcksFuture {
        Box::pin(std::future::ready(ServerSideAcks {
            responses: Vec::new(),
            complete: true,
        }))
    }
}

/// The sockets of a room, or the rooms of a socket. Most such sets hold one
/// element (every socket is alone in the room named by its id, and often
/// in no other): that one is kept inline, without a hash table of its own.
///
/// The sets and maps keep their order of insertion (removal moves the last
/// element into the gap), so a broadcast reaches sockets in about the order
/// they joined: the order their memory was allocated in, which the CPU's
/// caches walk much faster than the scattered order of a hash table (a
/// fan-out to 10,000 in hash order cost a trivial server a third more CPU).
///
/// `Many` is boxed: a set is then 16 bytes, the size of its `One` (an
/// `IndexSet` inline would make it 72, in every entry of both maps).
#[derive(Debug)]
enum Set {
    One(Arc<str>),
    Many(Box<IndexSet<Arc<str>>>),
}

impl Set {
    fn insert(&mut self, value: Arc<str>) {
        match self {
            Set::One(first) if *first == value => {}
            Set::One(first) => {
                let first = first.clone();
                *self = Set::Many(Box::new(IndexSet::from([first, value])));
            }
            Set::Many(set) => {
                set.insert(value);
            }
        }
    }

    /// Removes `value`; returns whether the set is now empty.
    fn remove(&mut self, value: &str) -> bool {
        match self {
            Set::One(first) => **first == *value,
            Set::Many(set) => {
                set.swap_remove(value);
                set.is_empty()
            }
        }
    }

    fn contains(&self, value: &str) -> bool {
        match self {
            Set::One(first) => **first == *value,
            Set::Many(set) => set.contains(value),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<str>> {
        let (one, many) = match self {
            Set::One(first) => (Some(first), None),
            Set::Many(set) => (None, Some(set.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

/// Adds `value` to the set at `key`, creating it.
fn add(map: &mut IndexMap<Arc<str>, Set>, key: &Arc<str>, value: &Arc<str>) {
    match map.get_mut(key) {
        Some(set) => set.insert(value.clone()),
        None => {
            map.insert(key.clone(), Set::One(value.clone()));
        }
    }
}

/// Removes `value` from the set at `key`, and the set once empty.
fn remove(map: &mut IndexMap<Arc<str>, Set>, key: &str, value: &str) {
    if map.get_mut(key).is_some_and(|set| set.remove(value)) {
        map.swap_remove(key);
    }
}

#[derive(Debug, Default)]
struct Rooms {
    members: IndexMap<Room, Set>,
    of_socket: IndexMap<SocketId, Set>,
}

/// The default adapter: rooms in this process's memory.
#[derive(Debug, Default)]
pub struct InMemoryAdapter {
    rooms: RwLock<Rooms>,
}

impl InMemoryAdapter {
    /// An empty adapter.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Rooms> {
        self.rooms.read_ok()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Rooms> {
        self.rooms.write_ok()
    }
}

impl Adapter for InMemoryAdapter {
    fn add_all(&self, id: &SocketId, rooms: &[Room]) {
        let mut r = self.write();
        for room in rooms {
            add(&mut r.members, room, id);
            add(&mut r.of_socket, id, room);
        }
    }

    fn del(&self, id: &SocketId, room: &str) {
        let mut r = self.write();
        remove(&mut r.members, room, id);
        remove(&mut r.of_socket, id, room);
    }

    fn del_all(&self, id: &SocketId) {
        let mut r = self.write();
        if let Some(rooms) = r.of_socket.swap_remove(id) {
            for room in rooms.iter() {
                remove(&mut r.members, room, id);
            }
        }
    }

    fn for_each_target(&self, opts: &BroadcastOptions, each: &mut dyn FnMut(&SocketId)) {
        let r = self.read();
        // The candidates are the sockets of `opts.rooms` (or all of them);
        // the rule then only has `except` left to check.
        let excluded =
            |id: &str| opts.excludes(|room| r.members.get(room).is_some_and(|m| m.contains(id)));
        if opts.rooms.is_empty() {
            // Every socket is in the room of its own id.
            for id in r.of_socket.keys() {
                if !excluded(id) {
                    each(id);
                }
            }
            return;
        }
        // A socket in several of the rooms is reached once.
        let mut seen = HashSet::new();
        for room in &opts.rooms {
            if let Some(m) = r.members.get(room) {
                for id in m.iter() {
                    let first = opts.rooms.len() == 1 || seen.insert(id.clone());
                    if first && !excluded(id) {
                        each(id);
                    }
                }
            }
        }
    }

    fn socket_rooms(&self, id: &SocketId) -> Vec<Room> {
        self.read()
            .of_socket
            .get(id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn rooms(&self) -> Vec<Room> {
        self.read().members.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<SocketId> {
        v.iter().map(|s| SocketId::from(*s)).collect()
    }

    #[test]
    fn rooms_and_targets() {
        let a = InMemoryAdapter::new();
        let (s1, s2, s3): (SocketId, SocketId, SocketId) = ("s1".into(), "s2".into(), "s3".into());
        a.add_all(&s1, &["r1".into(), "s1".into()]);
        a.add_all(&s2, &["r1".into(), "r2".into(), "s2".into()]);
        a.add_all(&s3, &["r2".into(), "s3".into()]);
        let mut t = a.targets(&BroadcastOptions {
            rooms: vec!["r1".into(), "r2".into()],
            except: vec!["s2".into()],
            ..Default::default()
        });
        t.sort();
        assert_eq!(t, ids(&["s1", "s3"]));
        let t = a.targets(&BroadcastOptions {
            except: vec!["r2".into()],
            ..Default::default()
        });
        assert_eq!(t, ids(&["s1"]));
        // No room: every socket but the excluded ones.
        let mut t = a.targets(&BroadcastOptions {
            except: vec!["s3".into()],
            ..Default::default()
        });
        t.sort();
        assert_eq!(t, ids(&["s1", "s2"]));
        a.del(&s2, "r1");
        assert_eq!(
            a.targets(&BroadcastOptions {
                rooms: vec!["r1".into()],
                ..Default::default()
            }),
            ids(&["s1"])
        );
        a.del_all(&s1);
        assert!(a.socket_rooms(&s1).is_empty());
        assert!(!a.rooms().iter().any(|r| &**r == "r1"));
    }

    #[test]
    fn the_targeting_rule() {
        let in_rooms = |rooms: &'static [&'static str]| move |r: &str| rooms.contains(&r);
        let opts = |rooms: &[&str], except: &[&str]| BroadcastOptions {
            rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
            except: except.iter().map(|r| Room::from(*r)).collect(),
            ..Default::default()
        };
        assert!(opts(&[], &[]).reaches(in_rooms(&["a"])));
        assert!(opts(&["a", "b"], &[]).reaches(in_rooms(&["b"])));
        assert!(!opts(&["a"], &[]).reaches(in_rooms(&["b"])));
        assert!(!opts(&[], &["a"]).reaches(in_rooms(&["a", "b"])));
        assert!(!opts(&["b"], &["a"]).reaches(in_rooms(&["a", "b"])));
    }

    /// Every socket has an entry in both maps: their sets stay as small
    /// as the one element most of them hold.
    #[test]
    fn a_set_of_one_is_no_bigger_than_its_element() {
        assert_eq!(std::mem::size_of::<Set>(), std::mem::size_of::<Arc<str>>());
    }

    #[test]
    fn broadcasts_reach_sockets_in_the_order_they_joined() {
        let a = InMemoryAdapter::new();
        // Enough sockets that a hash table's order would differ.
        let joined: Vec<SocketId> = (0..200).map(|i| format!("socket{i}").into()).collect();
        for id in &joined {
            a.add_all(id, &[id.clone(), "all".into()]);
        }
        let everyone = BroadcastOptions::default();
        let in_room = BroadcastOptions {
            rooms: vec!["all".into()],
            ..Default::default()
        };
        assert_eq!(a.targets(&everyone), joined);
        assert_eq!(a.targets(&in_room), joined);
        // A socket that leaves takes the last one's place; the others keep
        // their order.
        a.del_all(&joined[10]);
        let mut expected = joined.clone();
        expected.swap_remove(10);
        assert_eq!(a.targets(&everyone), expected);
        assert_eq!(a.targets(&in_room), expected);
    }

    #[test]
    fn sets_of_one_and_many() {
        let a = InMemoryAdapter::new();
        let (s1, s2): (SocketId, SocketId) = ("s1".into(), "s2".into());
        let everyone = |a: &InMemoryAdapter, room: &str| {
            let mut t = a.targets(&BroadcastOptions {
                rooms: vec![room.into()],
                ..Default::default()
            });
            t.sort();
            t
        };
        a.add_all(&s1, &["s1".into()]);
        a.add_all(&s1, &["s1".into()]);
        assert_eq!(a.socket_rooms(&s1), ids(&["s1"]));
        // A second member, then a second room.
        a.add_all(&s2, &["s1".into(), "s2".into()]);
        assert_eq!(everyone(&a, "s1"), ids(&["s1", "s2"]));
        a.add_all(&s1, &["r".into()]);
        // A socket in two of the rooms is reached once.
        let mut both = a.targets(&BroadcastOptions {
            rooms: vec!["s1".into(), "r".into(), "s2".into()],
            ..Default::default()
        });
        both.sort();
        assert_eq!(both, ids(&["s1", "s2"]));
        let mut rooms = a.socket_rooms(&s1);
        rooms.sort();
        assert_eq!(rooms, ids(&["r", "s1"]));
        // Leaving a room one is not in changes nothing.
        a.del(&s1, "s2");
        a.del(&s2, "r");
        assert_eq!(everyone(&a, "s2"), ids(&["s2"]));
        assert_eq!(everyone(&a, "r"), ids(&["s1"]));
        a.del(&s1, "s1");
        assert_eq!(everyone(&a, "s1"), ids(&["s2"]));
        a.del_all(&s2);
        assert!(everyone(&a, "s1").is_empty());
        assert!(everyone(&a, "s2").is_empty());
        assert_eq!(a.rooms(), ids(&["r"]));
        a.del(&s1, "r");
        assert!(a.rooms().is_empty());
        assert!(a.socket_rooms(&s1).is_empty());
    }
}
