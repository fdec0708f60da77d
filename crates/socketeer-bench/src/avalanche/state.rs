//! What every client saw, and the state the clients and the run share.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::backoff::Backoff;
use crate::net::{Connector, Target};
use crate::StormMode;

/// What one client saw.
#[derive(Default)]
pub(super) struct ClientRec {
    /// Socket id, recovery id and last offset of its connection before the storm.
    pub(super) sid: Option<String>,
    pub(super) pid: Option<String>,
    pub(super) offset: Option<String>,
    /// Highest tick sequence seen before the storm.
    pub(super) last_seq_before: u64,
    /// First reconnection after the storm: when, and the wall clock (ms).
    pub(super) back_at: Option<Instant>,
    pub(super) back_at_ms: u64,
    /// Whether that reconnection got the old socket id back.
    pub(super) recovered: bool,
    /// Connections after the storm.
    pub(super) reconnects: u32,
    /// Tick sequences received on connections opened after the storm.
    pub(super) post: Vec<u32>,
}

pub(super) struct Setup {
    pub(super) target: Target,
    pub(super) connector: Connector,
    pub(super) mode: StormMode,
    pub(super) backoff: Backoff,
    /// How long one connection attempt may take.
    pub(super) attempt_timeout: Duration,
}

pub(super) struct Shared {
    /// 0 before the storm, 1 from its start.
    pub(super) storm: watch::Sender<u32>,
    /// Clients connected now.
    pub(super) open: Cell<usize>,
    /// Clients that completed their first connection.
    pub(super) connected_initial: Cell<usize>,
    pub(super) failed_initial: Cell<usize>,
    /// Clients back after the storm.
    pub(super) back: Cell<usize>,
    pub(super) storm_attempts: Cell<usize>,
    pub(super) storm_failed: Cell<usize>,
    pub(super) first_error: RefCell<Option<String>>,
    /// First error of a failed attempt before the storm.
    pub(super) first_initial_error: RefCell<Option<String>>,
    /// Server wall clock (ms) of each tick sequence seen (0: not seen).
    pub(super) tick_ms: RefCell<Vec<u64>>,
    /// Whether ticks are still recorded.
    pub(super) recording: Cell<bool>,
    pub(super) bad_ticks: Cell<u64>,
    pub(super) clients: RefCell<Vec<ClientRec>>,
}

impl Shared {
    pub(super) fn storm_started(&self) -> bool {
        *self.storm.borrow() > 0
    }

    pub(super) fn failed(&self, error: String) {
        if self.storm_started() {
            self.storm_failed.set(self.storm_failed.get() + 1);
            self.first_error.borrow_mut().get_or_insert(error);
        } else {
            self.failed_initial.set(self.failed_initial.get() + 1);
            self.first_initial_error.borrow_mut().get_or_insert(error);
        }
    }
}
