//! The state of one namespace: whether it is wanted and joined, its
//! session (sid, recovery pid and offset), the acknowledgements it awaits,
//! the packets buffered until it is joined and its retry queue; and
//! `Namespaces`, all of them by index and by name.

use std::collections::{HashMap, VecDeque};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use super::acks::{AckToken, PendingAck};
use super::options::SocketOptions;
use super::output::{Event, Outbox};
use crate::packet::{EncodedMessage, Packet};
use crate::value::{Map, Value};

#[derive(Debug)]
pub(super) struct Buffered {
    pub(super) msg: EncodedMessage,
    pub(super) ack_id: Option<u64>,
}

#[derive(Debug)]
pub(super) struct Queued {
    pub(super) qid: u64,
    pub(super) event: String,
    pub(super) args: Vec<Value>,
    pub(super) token: Option<AckToken>,
    pub(super) timeout: Option<Duration>,
    pub(super) tries: u32,
    pub(super) pending: bool,
}

#[derive(Debug)]
pub(super) struct Nsp {
    /// Its index in the core (also in its ack timers).
    pub(super) idx: usize,
    pub(super) name: Arc<str>,
    pub(super) opts: SocketOptions,
    pub(super) active: bool,
    pub(super) connected: bool,
    pub(super) sid: Option<String>,
    pub(super) pid: Option<String>,
    pub(super) last_offset: Option<String>,
    pub(super) recovered: bool,
    pub(super) next_ack: u64,
    pub(super) acks: HashMap<u64, PendingAck>,
    pub(super) send_buffer: VecDeque<Buffered>,
    /// Events received before the CONNECT answer (a recovered session's
    /// missed packets come first), delivered with it.
    pub(super) receive_buffer: VecDeque<(String, Vec<Value>, Option<u64>)>,
    pub(super) queue: VecDeque<Queued>,
    pub(super) queue_seq: u64,
    /// What an [`Auth::Async`](super::Auth::Async) payload last resolved
    /// to, and whether no CONNECT has used it yet.
    pub(super) resolved_auth: Option<Value>,
    pub(super) auth_fresh: bool,
}

impl Nsp {
    /// A namespace declared, neither wanted nor joined yet; `idx` is its
    /// index in the core.
    pub(super) fn new(idx: usize, name: Arc<str>, opts: SocketOptions) -> Nsp {
        Nsp {
            idx,
            name,
            opts,
            active: false,
            connected: false,
            sid: None,
            pid: None,
            last_offset: None,
            recovered: false,
            next_ack: 0,
            acks: HashMap::new(),
            send_buffer: VecDeque::new(),
            receive_buffer: VecDeque::new(),
            queue: VecDeque::new(),
            queue_seq: 0,
            resolved_auth: None,
            auth_fresh: false,
        }
    }

    /// The number of retries, when the namespace has a retry queue.
    pub(super) fn retries(&self) -> Option<u32> {
        self.opts.retries.filter(|&r| r > 0)
    }

    /// The CONNECT packet that joins the namespace: the auth payload, with
    /// the recovery `pid` and `offset` when there is a session to recover.
    pub(super) fn connect_packet(&mut self) -> Packet {
        self.auth_fresh = false;
        let mut data = self.opts.auth.get(self.resolved_auth.as_ref());
        if let Some(pid) = &self.pid {
            let mut m = Map::new();
            m.insert("pid".into(), Value::from(pid.as_str()));
            if let Some(offset) = &self.last_offset {
                m.insert("offset".into(), Value::from(offset.as_str()));
            }
            // The auth payload's own keys win, as in socket.io-client.
            m.extend(data.take().unwrap_or_default());
            data = Some(m);
        }
        Packet::connect(self.name.to_string(), data.map(Value::Object))
    }

    /// An EVENT from the server (its data): delivered when joined, else
    /// held (up to `max_buffered`) until the CONNECT answer.
    pub(super) fn receive(
        &mut self,
        data: Option<Value>,
        ack_id: Option<u64>,
        max_buffered: usize,
        out: &mut Outbox,
    ) {
        let Some(Value::Array(mut items)) = data else {
            return;
        };
        if items.is_empty() {
            return;
        }
        let event = match items.remove(0) {
            Value::String(s) => s,
            Value::Number(x) => x.to_string(),
            _ => return,
        };
        if self.connected {
            self.deliver(event, items, ack_id, out);
        } else if self.receive_buffer.len() < max_buffered {
            self.receive_buffer.push_back((event, items, ack_id));
        } else {
            tracing::warn!("receive buffer full: event dropped");
        }
    }

    /// Hands an event to the application; notes its recovery offset.
    pub(super) fn deliver(
        &mut self,
        event: String,
        args: Vec<Value>,
        ack_id: Option<u64>,
        out: &mut Outbox,
    ) {
        if self.pid.is_some() {
            if let Some(Value::String(offset)) = args.last() {
                self.last_offset = Some(offset.clone());
            }
        }
        out.event(Event::Message {
            nsp: self.name.clone(),
            event,
            args,
            ack_id,
        });
    }
}

/// The client's namespaces, in the order declared (an index never
/// changes), found by name.
#[derive(Debug, Default)]
pub(super) struct Namespaces {
    list: Vec<Nsp>,
    by_name: HashMap<Arc<str>, usize>,
}

impl Namespaces {
    /// The index of namespace `name`, declaring it with `opts` if new.
    pub(super) fn declare(&mut self, name: &str, opts: SocketOptions) -> usize {
        match self.by_name.get(name) {
            Some(&i) => i,
            None => {
                let name: Arc<str> = Arc::from(name);
                let i = self.list.len();
                self.list.push(Nsp::new(i, name.clone(), opts));
                self.by_name.insert(name, i);
                i
            }
        }
    }

    pub(super) fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub(super) fn named(&self, name: &str) -> Option<&Nsp> {
        self.list.get(self.index_of(name)?)
    }

    pub(super) fn named_mut(&mut self, name: &str) -> Option<&mut Nsp> {
        let i = self.index_of(name)?;
        self.list.get_mut(i)
    }

    pub(super) fn names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.by_name.keys()
    }
}

impl Deref for Namespaces {
    type Target = [Nsp];

    fn deref(&self) -> &[Nsp] {
        &self.list
    }
}

impl DerefMut for Namespaces {
    fn deref_mut(&mut self) -> &mut [Nsp] {
        &mut self.list
    }
}
