//! The publishing task both adapters share: the messages queued by the
//! namespaces go to Redis in order, every message waiting at the time in
//! one pipeline.
//!
//! Why pipelines: one `PUBLISH` per round trip caps a server at one
//! broadcast per round trip to Redis, and spreads the broadcasts that a
//! burst of events started over as many deliveries from Redis to each
//! subscriber, so that the receiving servers wake up and write to their
//! clients once per broadcast. Sent together, the broadcasts reach the
//! other servers together, and each session writes them in one system
//! call.

use std::time::Duration;

use redis::aio::ConnectionLike;
use tokio::sync::mpsc;

/// A message for a channel.
pub(crate) type Outgoing = (String, Vec<u8>);

/// The most messages in one pipeline.
const MAX_BATCH: usize = 256;
/// How long a pipeline may take before its messages count as lost.
const TIMEOUT: Duration = Duration::from_secs(5);

/// How one adapter publishes.
pub(crate) struct Publisher {
    /// `PUBLISH` or `SPUBLISH`.
    pub(crate) command: &'static str,
    /// A Redis Cluster takes a pipeline only if all its keys share a slot:
    /// a batch then holds consecutive messages for one channel.
    pub(crate) one_channel_per_batch: bool,
    /// The adapter's name in the log.
    pub(crate) who: &'static str,
}

impl Publisher {
    /// Publishes what `rx` brings until every sender is gone; a failure is
    /// logged and the batch dropped (the connection reconnects meanwhile).
    pub(crate) async fn run<C: ConnectionLike>(self, mut conn: C, rx: mpsc::Receiver<Outgoing>) {
        let mut queue = Batches {
            rx,
            held: None,
            one_channel: self.one_channel_per_batch,
        };
        let mut failing = false;
        while let Some(batch) = queue.next().await {
            let mut pipe = redis::pipe();
            for (channel, message) in &batch {
                pipe.cmd(self.command).arg(channel).arg(message).ignore();
            }
            let sent = tokio::time::timeout(TIMEOUT, pipe.query_async::<()>(&mut conn)).await;
            let who = self.who;
            let (channel, count) = (&batch[0].0, batch.len());
            match sent {
                Ok(Ok(())) if failing => {
                    tracing::info!("{who}: publishing again");
                    failing = false;
                }
                Ok(Err(e)) if !failing => {
                    tracing::warn!(error = %e, %channel, count, "{who}: {} failed, messages dropped", self.command);
                    failing = true;
                }
                Err(_) if !failing => {
                    tracing::warn!(%channel, count, "{who}: {} timed out, messages dropped", self.command);
                    failing = true;
                }
                _ => {}
            }
        }
    }
}

/// The queue, taken a batch at a time.
struct Batches {
    rx: mpsc::Receiver<Outgoing>,
    /// The first message of the next batch, taken while ending this one.
    held: Option<Outgoing>,
    one_channel: bool,
}

impl Batches {
    /// The next message to come, then every one already waiting behind it
    /// (up to [`MAX_BATCH`]); `None` once the queue is closed and empty.
    async fn next(&mut self) -> Option<Vec<Outgoing>> {
        let first = match self.held.take() {
            Some(m) => m,
            None => self.rx.recv().await?,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let Ok(next) = self.rx.try_recv() else { break };
            if self.one_channel && next.0 != batch[0].0 {
                self.held = Some(next);
                break;
            }
            batch.push(next);
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(channel: &str, n: u8) -> Outgoing {
        (channel.to_owned(), vec![n])
    }

    async fn batches(one_channel: bool, messages: Vec<Outgoing>) -> Vec<Vec<Outgoing>> {
        let (tx, rx) = mpsc::channel(1024);
        for m in messages {
            tx.try_send(m).unwrap();
        }
        drop(tx);
        let mut queue = Batches {
            rx,
            held: None,
            one_channel,
        };
        let mut out = Vec::new();
        while let Some(b) = queue.next().await {
            out.push(b);
        }
        out
    }

    #[tokio::test]
    async fn waiting_messages_go_together_in_order() {
        let all = (0..5).map(|n| message(if n % 2 == 0 { "a" } else { "b" }, n));
        let got = batches(false, all.clone().collect()).await;
        assert_eq!(got, vec![all.collect::<Vec<_>>()]);
    }

    #[tokio::test]
    async fn one_channel_batches_split_where_the_channel_changes() {
        let got = batches(
            true,
            vec![
                message("a", 0),
                message("a", 1),
                message("b", 2),
                message("a", 3),
            ],
        )
        .await;
        assert_eq!(
            got,
            vec![
                vec![message("a", 0), message("a", 1)],
                vec![message("b", 2)],
                vec![message("a", 3)],
            ]
        );
    }

    #[tokio::test]
    async fn a_batch_holds_at_most_max_batch() {
        let got = batches(false, (0..600).map(|n| message("a", n as u8)).collect()).await;
        let sizes: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(sizes, [MAX_BATCH, MAX_BATCH, 600 - 2 * MAX_BATCH]);
        let flat: Vec<u8> = got.into_iter().flatten().map(|(_, m)| m[0]).collect();
        assert_eq!(flat, (0..600).map(|n| n as u8).collect::<Vec<_>>());
    }
}
