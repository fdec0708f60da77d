//! The state of one namespace: whether it is wanted and joined, its
//! session (sid, recovery pid and offset), the acknowledgements it awaits,
//! the packets buffered until it is joined and its retry queue.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::acks::{AckToken, PendingAck};
use super::options::SocketOptions;
use crate::packet::EncodedMessage;
use crate::value::Value;

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
}

impl Nsp {
    pub(super) fn retries(&self) -> Option<u32> {
        self.opts.retries.filter(|&r| r > 0)
    }
}
