//! Namespaces: their sockets, middlewares and connection handler.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use std::time::Duration;

use super::adapter::{
    Adapter, AdapterHost, BroadcastOptions, ClusterOp, NamespaceHandle, Room, ServerSideAck,
    ServerSideAcks, SocketId, SocketInfo,
};
use super::config::SocketIoConfig;
use super::metrics::Counters;
use super::recovery::RecoveryStore;
use super::state::{EmptyHook, Handshake, Namespace, NamespaceInner, Socket};
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
                    on_connection: RwLock::new(Vec::new()),
                    on_server_side: RwLock::new(None),
                    ack_ids: AtomicU64::new(0),
                    ack_timeout: config.ack_timeout,
                    recovery: config
                        .connection_state_recovery
                        .clone()
                        .map(|c| Mutex::new(RecoveryStore::new(c))),
                    state: config.state.clone(),
                    max_pending_events: config.max_pending_events,
                    listener_ids: AtomicU64::new(0),
                    on_empty: OnceLock::new(),
                    metrics: Counters::new(),
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
        deliver: impl FnOnce(&EncodedMessage, &[Value]) -> R,
    ) -> Result<R, EncodeError> {
        match self.recovery() {
            Some(mut store) if !opts.volatile => {
                args.push(Value::String(store.next_offset()));
                let msg = EncodedMessage::event(self.name(), event, None, &args)?;
                store.record(opts, msg.clone(), std::time::Instant::now());
                Ok(deliver(&msg, &args))
            }
            _ => {
                let msg = EncodedMessage::event(self.name(), event, None, &args)?;
                Ok(deliver(&msg, &args))
            }
        }
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.inner.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn ack_timeout(&self) -> Duration {
        self.inner.ack_timeout
    }

    pub(crate) fn add_socket(&self, socket: &Socket) {
        let id = &socket.inner.id;
        self.inner
            .sockets
            .write_ok()
            .insert(id.clone(), socket.clone());
        self.adapter().add_all(id, std::slice::from_ref(id));
    }

    pub(crate) fn remove_socket(&self, id: &SocketId) {
        self.adapter().del_all(id);
        let empty = {
            let mut sockets = self.inner.sockets.write_ok();
            sockets.remove(id);
            sockets.is_empty()
        };
        if empty {
            if let Some(on_empty) = self.inner.on_empty.get() {
                on_empty(self);
            }
        }
    }

    /// Sets what runs when the last socket leaves.
    pub(crate) fn set_on_empty(&self, f: Box<EmptyHook>) {
        let _ = self.inner.on_empty.set(f);
    }

    /// Whether both are the same namespace (not only the same name).
    pub fn ptr_eq(&self, other: &Namespace) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
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

    /// Sends an event to the handlers of the other servers and collects
    /// one answer from each (set with
    /// [`Namespace::on_server_side_emit_with_ack`]), within the adapter's
    /// request timeout; with a single server, no answers at once.
    pub async fn server_side_emit_with_ack(&self, event: &str, args: Vec<Value>) -> ServerSideAcks {
        if !self.adapter().is_clustered() {
            return ServerSideAcks {
                responses: Vec::new(),
                complete: true,
            };
        }
        let answers = self
            .adapter()
            .server_side_emit_with_ack(event.to_owned(), args);
        answers.await
    }

    /// Sets the handler of events other servers send with
    /// [`Namespace::server_side_emit`] (replacing any handler set with
    /// [`Namespace::on_server_side_emit_with_ack`]; a server asking for an
    /// answer gets none from this server).
    pub fn on_server_side_emit<F>(&self, handler: F)
    where
        F: Fn(&str, Vec<Value>) + Send + Sync + 'static,
    {
        *self.inner.on_server_side.write_ok() =
            Some(Arc::new(move |event, args, _ack| handler(event, args)));
    }

    /// Sets the handler of events other servers send, with the
    /// acknowledgement to answer when the sender asked for one
    /// ([`Namespace::server_side_emit_with_ack`]); replaces the handler
    /// set with [`Namespace::on_server_side_emit`].
    pub fn on_server_side_emit_with_ack<F>(&self, handler: F)
    where
        F: Fn(&str, Vec<Value>, Option<ServerSideAck>) + Send + Sync + 'static,
    {
        *self.inner.on_server_side.write_ok() = Some(Arc::new(handler));
    }

    /// This server's sockets that `opts` targets.
    pub(crate) fn local_socket_infos(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        let ids = self.adapter().targets(opts);
        let found: Vec<(Option<Value>, Value)> = {
            let sockets = self.inner.sockets.read_ok();
            ids.iter()
                .map(|id| match sockets.get(id) {
                    Some(s) => (Some(s.inner.handshake.to_node_value()), s.data_value()),
                    None => (None, Value::Null),
                })
                .collect()
        };
        ids.into_iter()
            .zip(found)
            .map(|(id, (handshake, data))| SocketInfo {
                rooms: self.adapter().socket_rooms(&id),
                id,
                local: true,
                handshake,
                data,
            })
            .collect()
    }
}

impl Handshake {
    /// As socket.io's `socket.handshake` object: `headers` (lower-case
    /// names; repeated headers joined with `", "`), `time` (as JavaScript's
    /// `Date.prototype.toString`, in UTC), `address`, `xdomain` (whether
    /// the request had an `Origin`), `issued` (milliseconds since the
    /// epoch), `url`, `query` (decoded; a repeated key gives an array) and
    /// `auth`. socket.io's `secure` is left out: the handshake does not
    /// record whether the connection was TLS.
    pub fn to_node_value(&self) -> Value {
        let mut headers = crate::Map::new();
        for name in self.headers.keys() {
            let joined: Vec<&str> = self
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            headers.insert(name.as_str().to_owned(), Value::from(joined.join(", ")));
        }
        let mut query = crate::Map::new();
        for pair in self.query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode_component(k), Value::from(decode_component(v)));
            match query.get_mut(&k) {
                Some(Value::Array(a)) => a.push(v),
                Some(first) => *first = Value::Array(vec![std::mem::take(first), v]),
                None => {
                    query.insert(k, v);
                }
            }
        }
        let millis = self
            .issued
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut o = crate::Map::new();
        o.insert("headers".into(), Value::Object(headers));
        o.insert("time".into(), Value::from(js_date_string(millis / 1000)));
        o.insert(
            "address".into(),
            self.address
                .map(|a| Value::from(a.ip().to_string()))
                .unwrap_or(Value::Null),
        );
        o.insert(
            "xdomain".into(),
            Value::Bool(self.headers.contains_key(http::header::ORIGIN)),
        );
        o.insert("issued".into(), Value::from(millis));
        o.insert("url".into(), Value::from(self.url.clone()));
        o.insert("query".into(), Value::Object(query));
        o.insert("auth".into(), self.auth.clone());
        Value::Object(o)
    }
}

/// A query string component, `+` and `%XX` decoded (invalid UTF-8 replaced).
fn decode_component(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `secs` since the epoch as JavaScript's `Date.prototype.toString` writes
/// it in UTC: `Sun Dec 06 2026 02:30:26 GMT+0000 (Coordinated Universal Time)`.
fn js_date_string(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:02} {} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshakes_in_socket_io_shape() {
        let mut headers = http::HeaderMap::new();
        headers.append("x-a", "1".parse().unwrap());
        headers.append("x-a", "2".parse().unwrap());
        headers.insert("origin", "http://example".parse().unwrap());
        let h = Handshake {
            auth: Value::Object(Default::default()),
            headers: Arc::new(headers),
            query: "EIO=4&transport=polling&k=a%20b&k=c".into(),
            url: "/socket.io/?EIO=4&transport=polling&k=a%20b&k=c".into(),
            address: Some("127.0.0.1:5000".parse().unwrap()),
            issued: std::time::UNIX_EPOCH + Duration::from_millis(1_796_524_226_123),
        };
        let v = h.to_node_value();
        let expected: Value = serde_json::json!({
            "headers": {"x-a": "1, 2", "origin": "http://example"},
            "time": "Sun Dec 06 2026 02:30:26 GMT+0000 (Coordinated Universal Time)",
            "address": "127.0.0.1",
            "xdomain": true,
            "issued": 1_796_524_226_123u64,
            "url": "/socket.io/?EIO=4&transport=polling&k=a%20b&k=c",
            "query": {"EIO": "4", "transport": "polling", "k": ["a b", "c"]},
            "auth": {},
        })
        .into();
        assert_eq!(v, expected);
    }

    #[test]
    fn javascript_dates_and_query_components() {
        assert_eq!(
            js_date_string(1_796_524_226),
            "Sun Dec 06 2026 02:30:26 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(
            js_date_string(0),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(decode_component("a%20b+c%2"), "a b c%2");
        assert_eq!(decode_component("%C3%A9%zzé%"), "é%zzé%");
    }
}
