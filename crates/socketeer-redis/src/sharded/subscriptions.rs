//! The subscriber's shard channels: subscribed and unsubscribed in order,
//! by one task, and subscribed again after a node's connection is lost or
//! Redis drops them (a slot moved).
//!
//! On a standalone Redis, redis-rs 1.1's `ConnectionManager` does not
//! restore shard subscriptions at all: it has no `ssubscribe`, and its
//! automatic resubscription only follows its own `subscribe` and
//! `psubscribe` calls. On a Redis Cluster:
//!
//! redis-rs 1.1 tracks shard subscriptions and re-sends them after it
//! reconnects, but as one `SSUBSCRIBE` of every channel, routed by the
//! first: Redis refuses it (`CROSSSLOT`) as soon as the channels hash to
//! different slots, which a namespace's channels do. (redis-rs 1.8 groups
//! them by node; it needs Rust 1.88.) So this module keeps its own list
//! and subscribes again itself, one channel per command: on every
//! `disconnection` push of the subscriber's connection(s), and for every
//! `sunsubscribe` push of a channel still wanted (Redis sends one when the
//! channel's slot moves to another node).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use super::connection::Conn;
use crate::common::lock;

/// A change of the subscriber's shard channels.
pub(super) enum Change {
    /// Subscribe a channel (and keep it subscribed).
    Subscribe(String),
    /// Unsubscribe a channel.
    Unsubscribe(String),
    /// Subscribe every wanted channel again.
    Resubscribe,
}

/// The wanted shard channels and the queue of changes.
pub(super) struct Subscriptions {
    changes: mpsc::UnboundedSender<Change>,
    /// The channels subscribed or being subscribed.
    wanted: Mutex<HashSet<String>>,
    /// Whether a [`Change::Resubscribe`] is queued and not yet begun.
    resubscribe_queued: AtomicBool,
}

impl Subscriptions {
    /// An empty list, and the receiver of its changes for
    /// [`subscription_task`].
    pub(super) fn new() -> (Subscriptions, mpsc::UnboundedReceiver<Change>) {
        let (changes, rx) = mpsc::unbounded_channel();
        let subscriptions = Subscriptions {
            changes,
            wanted: Mutex::new(HashSet::new()),
            resubscribe_queued: AtomicBool::new(false),
        };
        (subscriptions, rx)
    }

    /// Subscribes `channel` (in order with the other changes).
    pub(super) fn subscribe(&self, channel: String) {
        let _ = self.changes.send(Change::Subscribe(channel));
    }

    /// Unsubscribes `channel` (in order with the other changes).
    pub(super) fn unsubscribe(&self, channel: String) {
        let _ = self.changes.send(Change::Unsubscribe(channel));
    }

    /// A connection of the subscriber was lost: every channel is
    /// subscribed again (once, however many losses are reported before
    /// that begins).
    pub(super) fn connection_lost(&self) {
        if !self.resubscribe_queued.swap(true, Ordering::AcqRel) {
            let _ = self.changes.send(Change::Resubscribe);
        }
    }

    /// Redis unsubscribed `channel`: subscribed again if still wanted.
    pub(super) fn dropped_by_redis(&self, channel: &str) {
        if lock(&self.wanted).contains(channel) {
            tracing::info!(%channel, "sharded redis adapter: channel unsubscribed by redis, subscribing again");
            let _ = self.changes.send(Change::Subscribe(channel.to_owned()));
        }
    }
}

/// `SSUBSCRIBE channel`, retried with backoff until it works; `false` if
/// the adapter is gone meanwhile.
async fn ssubscribe(subscriptions: &Weak<Subscriptions>, conn: &mut Conn, channel: &str) -> bool {
    let mut delay = Duration::from_millis(100);
    loop {
        if subscriptions.strong_count() == 0 {
            return false;
        }
        match tokio::time::timeout(Duration::from_secs(5), conn.ssubscribe(channel)).await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, %channel, "sharded redis adapter: SSUBSCRIBE failed, retrying");
            }
            Err(_) => {
                tracing::warn!(%channel, "sharded redis adapter: SSUBSCRIBE timed out, retrying");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// Applies the changes in order, on `conn` (the subscriber connection),
/// until `subscriptions` is dropped.
pub(super) async fn subscription_task(
    subscriptions: Weak<Subscriptions>,
    mut conn: Conn,
    mut rx: mpsc::UnboundedReceiver<Change>,
) {
    while let Some(change) = rx.recv().await {
        let Some(subs) = subscriptions.upgrade() else {
            return;
        };
        match change {
            Change::Subscribe(channel) => {
                lock(&subs.wanted).insert(channel.clone());
                drop(subs);
                if !ssubscribe(&subscriptions, &mut conn, &channel).await {
                    return;
                }
            }
            Change::Unsubscribe(channel) => {
                lock(&subs.wanted).remove(&channel);
                drop(subs);
                let done =
                    tokio::time::timeout(Duration::from_secs(5), conn.sunsubscribe(&channel)).await;
                if !matches!(done, Ok(Ok(()))) {
                    tracing::debug!(%channel, "sharded redis adapter: SUNSUBSCRIBE failed");
                }
            }
            Change::Resubscribe => {
                subs.resubscribe_queued.store(false, Ordering::Release);
                let channels: Vec<String> = lock(&subs.wanted).iter().cloned().collect();
                drop(subs);
                for channel in channels {
                    if !ssubscribe(&subscriptions, &mut conn, &channel).await {
                        return;
                    }
                }
            }
        }
    }
}
