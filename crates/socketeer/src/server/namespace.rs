//! Namespaces: their sockets, middlewares and connection handler.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;

use super::adapter::{
    Adapter, AdapterHost, BroadcastOptions, ClusterOp, NamespaceHandle, Room, SocketId, SocketInfo,
};
use super::config::SocketIoConfig;
use super::error::ConnectError;
use super::recovery::RecoveryStore;
use super::state::{Handshake, Namespace, NamespaceInner, Socket};
use crate::packet::{EncodeError, EncodedMessage};
use crate::Value;
use socketeer_engineio::sync::{LockExt, RwLockExt};

impl Namespace {
    pub(crate) fn new(name: &str, config: &SocketIoConfig) -> Self {
        let name: Arc<str> = name.into();
        Namespace {
            inner: Arc::new_cyclic(|weak: &Weak<NamespaceInner>| {
                let host: Weak<dyn AdapterHost> = weak.clone();
                NamespaceInner {
                    name: name.clone(),
                    sockets: RwLock::new(HashMap::new()),
                    adapter: config.adapter.make(NamespaceHandle::new(name, host)),
                    middlewares: RwLock::new(Vec::new()),
                    on_connection: RwLock::new(None),
                    on_server_side: RwLock::new(None),
                    ack_ids: AtomicU64::new(0),
                    ack_timeout: config.ack_timeout,
                    recovery: config
                        .connection_state_recovery
                        .clone()
                        .map(|c| Mutex::new(RecoveryStore::new(c))),
                }
            }),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub(crate) fn adapter(&self) -> &dyn Adapter {
        self.inner.adapter.as_ref()
    }

    /// The connection state recovery store, locked, when recovery is on.
    /// Recorded emits, restores and session saves of the namespace take
    /// turns on it, so a restored socket misses nothing and gets nothing
    /// twice.
    pub(crate) fn recovery(&self) -> Option<MutexGuard<'_, RecoveryStore>> {
        self.inner.recovery.as_ref().map(|m| m.locked())
    }

    /// Whether connection state recovery is on.
    pub fn recovery_enabled(&self) -> bool {
        self.inner.recovery.is_some()
    }

    /// Encodes an event and hands it to `deliver`. With recovery on (and
    /// the emit not volatile) the event first gets the next offset as its
    /// last argument and is recorded for `opts`' targets; `deliver` then
    /// runs with the store still locked, so each socket gets recorded
    /// events in offset order.
    pub(crate) fn emit_recorded<R>(
        &self,
        opts: &BroadcastOptions,
        event: &str,
        mut args: Vec<Value>,
        deliver: impl FnOnce(&EncodedMessage) -> R,
    ) -> Result<R, EncodeError> {
        match self.recovery() {
            Some(mut store) if !opts.volatile => {
                args.push(Value::String(store.next_offset()));
                let msg = EncodedMessage::event(self.name(), event, None, &args)?;
                store.record(opts, msg.clone(), std::time::Instant::now());
                Ok(deliver(&msg))
            }
            _ => {
                let msg = EncodedMessage::event(self.name(), event, None, &args)?;
                Ok(deliver(&msg))
            }
        }
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.inner.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn ack_timeout(&self) -> Duration {
        self.inner.ack_timeout
    }

    /// Sets the handler called for each new socket.
    pub fn on_connection<F>(&self, handler: F)
    where
        F: Fn(Socket) + Send + Sync + 'static,
    {
        *self.inner.on_connection.write_ok() = Some(Arc::new(handler));
    }

    /// Adds a middleware, run in order for each connection attempt.
    pub fn use_middleware<F>(&self, middleware: F)
    where
        F: Fn(&Handshake) -> Result<(), ConnectError> + Send + Sync + 'static,
    {
        self.inner.middlewares.write_ok().push(Arc::new(middleware));
    }

    pub(crate) fn run_middlewares(&self, handshake: &Handshake) -> Result<(), ConnectError> {
        let middlewares = self.inner.middlewares.read_ok().clone();
        for m in middlewares {
            m(handshake)?;
        }
        Ok(())
    }

    pub(crate) fn add_socket(&self, socket: &Socket) {
        let id = &socket.inner.id;
        self.inner
            .sockets
            .write_ok()
            .insert(id.clone(), socket.clone());
        self.adapter().add_all(id, std::slice::from_ref(id));
    }

    pub(crate) fn connected(&self, socket: Socket) {
        let handler = self.inner.on_connection.read_ok().clone();
        if let Some(h) = handler {
            h(socket);
        }
    }

    pub(crate) fn remove_socket(&self, id: &SocketId) {
        self.adapter().del_all(id);
        self.inner.sockets.write_ok().remove(id);
    }

    /// The connected sockets `opts` targets, one lock for all of them.
    pub(crate) fn target_sockets(&self, opts: &BroadcastOptions, each: &mut dyn FnMut(&Socket)) {
        let sockets = self.inner.sockets.read_ok();
        self.adapter().for_each_target(opts, &mut |id| {
            if let Some(s) = sockets.get(id) {
                each(s);
            }
        });
    }

    /// The number of connected sockets.
    pub fn socket_count(&self) -> usize {
        self.inner.sockets.read_ok().len()
    }

    /// All rooms with at least one socket.
    pub fn rooms(&self) -> Vec<Room> {
        self.adapter().rooms()
    }

    /// Sends an event to the handlers of the other servers sharing this
    /// namespace (set with [`Namespace::on_server_side_emit`]); nothing
    /// happens with a single server.
    pub fn server_side_emit(&self, event: &str, args: Vec<Value>) {
        if self.adapter().is_clustered() {
            self.adapter().publish(ClusterOp::ServerSideEmit {
                event: event.to_owned(),
                args,
            });
        }
    }

    /// Sets the handler of events other servers send with
    /// [`Namespace::server_side_emit`].
    pub fn on_server_side_emit<F>(&self, handler: F)
    where
        F: Fn(&str, Vec<Value>) + Send + Sync + 'static,
    {
        *self.inner.on_server_side.write_ok() = Some(Arc::new(handler));
    }

    /// This server's sockets that `opts` targets.
    pub(crate) fn local_socket_infos(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        self.adapter()
            .targets(opts)
            .into_iter()
            .map(|id| SocketInfo {
                rooms: self.adapter().socket_rooms(&id),
                id,
                local: true,
            })
            .collect()
    }
}
