//! Connection state recovery (socket.io 4.6+): a client that lost its
//! connection for a short while gets its socket id, its rooms and the
//! events it missed back when it reconnects.
//!
//! While recovery is on, every event emitted without an acknowledgement and
//! not `volatile` gets an offset appended as its last argument and is kept
//! for [`ConnectionStateRecovery::max_disconnection_duration`]. A socket that
//! ends for a reason the client can recover from (transport closed or
//! failed, ping timeout, server shutdown) leaves a session behind under a
//! private id (`pid`, sent in the CONNECT reply). A CONNECT carrying that
//! `pid` and the last offset the client saw restores the session and
//! replays what was emitted to it since.
//!
//! The bookkeeping (the crate-private `RecoveryStore`) is Sans-I/O: the
//! time is passed in.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::adapter::{BroadcastOptions, Room, SocketId};
use super::data::DataSlot;
use crate::packet::EncodedMessage;

/// Settings of connection state recovery
/// ([`SocketIoConfig::connection_state_recovery`](super::SocketIoConfig)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStateRecovery {
    /// How long a session and the events emitted meanwhile are kept
    /// (default 2 minutes, as socket.io).
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the namespace middlewares
    /// (default true, as socket.io).
    pub skip_middlewares: bool,
    /// Most events kept per namespace for replay (default 10,000); the
    /// oldest go first. A client whose last offset is gone gets a new
    /// session instead of a recovered one.
    pub max_stored_packets: usize,
    /// Most disconnected sessions kept per namespace (default 100,000);
    /// the oldest go first.
    pub max_sessions: usize,
}

impl Default for ConnectionStateRecovery {
    fn default() -> Self {
        ConnectionStateRecovery {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_stored_packets: 10_000,
            max_sessions: 100_000,
        }
    }
}

/// An event kept for replay.
#[derive(Debug)]
struct StoredPacket {
    offset: u64,
    emitted_at: Instant,
    /// Who the event was for, judged by the adapter's targeting rule.
    targets: BroadcastOptions,
    message: EncodedMessage,
}

#[derive(Debug)]
struct Session {
    sid: SocketId,
    rooms: Vec<Room>,
    data: Option<DataSlot>,
    disconnected_at: Instant,
}

/// What a successful restore gives back.
#[derive(Debug)]
pub(crate) struct RestoredSession {
    /// The socket id the client had.
    pub(crate) sid: SocketId,
    /// The rooms it was in (its own id included).
    pub(crate) rooms: Vec<Room>,
    /// The events emitted to it since its last offset, in order.
    pub(crate) missed: Vec<EncodedMessage>,
    /// Its `socket.data`.
    pub(crate) data: Option<DataSlot>,
}

/// The events and disconnected sessions of one namespace.
#[derive(Debug)]
pub(crate) struct RecoveryStore {
    config: ConnectionStateRecovery,
    next_offset: u64,
    /// Increasing offsets, oldest first.
    packets: VecDeque<StoredPacket>,
    sessions: HashMap<Arc<str>, Session>,
    /// Pids in the order their sessions were stored (may name sessions
    /// already restored or expired).
    session_order: VecDeque<(Arc<str>, Instant)>,
}

/// Offsets are decimal numbers; a per-process random base keeps a
/// restarted server from mistaking another process's offsets for its own.
fn offset_base() -> u64 {
    let mut raw = [0u8; 4];
    let _ = getrandom::fill(&mut raw);
    u64::from(u32::from_le_bytes(raw)) << 20
}

impl RecoveryStore {
    pub(crate) fn new(config: ConnectionStateRecovery) -> Self {
        Self::with_first_offset(config, offset_base())
    }

    fn with_first_offset(config: ConnectionStateRecovery, first: u64) -> Self {
        RecoveryStore {
            config,
            next_offset: first,
            packets: VecDeque::new(),
            sessions: HashMap::new(),
            session_order: VecDeque::new(),
        }
    }

    /// The offset the next recorded event will carry.
    pub(crate) fn next_offset(&self) -> String {
        self.next_offset.to_string()
    }

    /// Keeps an event, encoded with [`Self::next_offset`] as its last
    /// argument, for the sockets `opts` targets.
    pub(crate) fn record(
        &mut self,
        opts: &BroadcastOptions,
        message: EncodedMessage,
        now: Instant,
    ) {
        self.prune(now);
        let offset = self.next_offset;
        self.next_offset += 1;
        if self.config.max_stored_packets == 0 {
            return;
        }
        while self.packets.len() >= self.config.max_stored_packets {
            self.packets.pop_front();
        }
        self.packets.push_back(StoredPacket {
            offset,
            emitted_at: now,
            targets: BroadcastOptions {
                rooms: opts.rooms.clone(),
                except: opts.except.clone(),
                ..Default::default()
            },
            message,
        });
    }

    /// Keeps the session of a socket that ended in a recoverable way.
    pub(crate) fn persist(
        &mut self,
        pid: Arc<str>,
        sid: SocketId,
        rooms: Vec<Room>,
        data: Option<DataSlot>,
        now: Instant,
    ) {
        self.prune(now);
        if self.config.max_sessions == 0 {
            return;
        }
        while self.sessions.len() >= self.config.max_sessions {
            let Some((old, at)) = self.session_order.pop_front() else {
                break;
            };
            if self
                .sessions
                .get(&old)
                .is_some_and(|s| s.disconnected_at == at)
            {
                self.sessions.remove(&old);
            }
        }
        self.session_order.push_back((pid.clone(), now));
        self.sessions.insert(
            pid,
            Session {
                sid,
                rooms,
                data,
                disconnected_at: now,
            },
        );
    }

    /// The socket id of the kept session `pid`, if any (not taken).
    pub(crate) fn session_sid(&self, pid: &str) -> Option<SocketId> {
        self.sessions.get(pid).map(|s| s.sid.clone())
    }

    /// Takes back the session `pid` if it has not expired and `offset` is
    /// still known, with the events it missed since `offset`.
    pub(crate) fn restore(
        &mut self,
        pid: &str,
        offset: &str,
        now: Instant,
    ) -> Option<RestoredSession> {
        self.prune(now);
        let offset: u64 = offset.parse().ok()?;
        let index = self
            .packets
            .binary_search_by_key(&offset, |p| p.offset)
            .ok()?;
        let session = self.sessions.remove(pid)?;
        let missed = self
            .packets
            .iter()
            .skip(index + 1)
            .filter(|p| {
                p.targets
                    .reaches(|room| session.rooms.iter().any(|r| **r == *room))
            })
            .map(|p| p.message.clone())
            .collect();
        Some(RestoredSession {
            sid: session.sid,
            rooms: session.rooms,
            missed,
            data: session.data,
        })
    }

    /// Drops what is older than the maximum disconnection duration.
    fn prune(&mut self, now: Instant) {
        let Some(threshold) = now.checked_sub(self.config.max_disconnection_duration) else {
            return;
        };
        while self
            .packets
            .front()
            .is_some_and(|p| p.emitted_at < threshold)
        {
            self.packets.pop_front();
        }
        while let Some((pid, at)) = self.session_order.front() {
            if *at >= threshold {
                break;
            }
            if self
                .sessions
                .get(pid)
                .is_some_and(|s| s.disconnected_at == *at)
            {
                self.sessions.remove(pid);
            }
            self.session_order.pop_front();
        }
    }

    #[cfg(test)]
    fn stored(&self) -> (usize, usize) {
        (self.packets.len(), self.sessions.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    fn store() -> RecoveryStore {
        RecoveryStore::with_first_offset(ConnectionStateRecovery::default(), 100)
    }

    fn msg(text: &str) -> EncodedMessage {
        EncodedMessage::event("/", "e", None, &[Value::from(text)]).expect("encodes")
    }

    fn to(rooms: &[&str], except: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
            except: except.iter().map(|r| Room::from(*r)).collect(),
            ..Default::default()
        }
    }

    fn rooms(r: &[&str]) -> Vec<Room> {
        r.iter().map(|r| Room::from(*r)).collect()
    }

    #[test]
    fn replays_what_the_session_missed_in_order() {
        let t0 = Instant::now();
        let mut s = store();
        assert_eq!(s.next_offset(), "100");
        s.record(&to(&[], &[]), msg("seen"), t0);
        s.persist("p1".into(), "s1".into(), rooms(&["s1", "red"]), None, t0);
        s.record(&to(&["red"], &[]), msg("to red"), t0);
        s.record(&to(&["blue"], &[]), msg("to blue"), t0);
        s.record(&to(&[], &["red"]), msg("all but red"), t0);
        s.record(&to(&["s1"], &[]), msg("to s1"), t0);
        s.record(&to(&[], &[]), msg("to all"), t0);
        let r = s.restore("p1", "100", t0).expect("restored");
        assert_eq!(&*r.sid, "s1");
        assert_eq!(r.rooms, rooms(&["s1", "red"]));
        let texts: Vec<&str> = r.missed.iter().map(|m| &*m.text).collect();
        assert_eq!(
            texts,
            [
                r#"42["e","to red"]"#,
                r#"42["e","to s1"]"#,
                r#"42["e","to all"]"#
            ]
        );
        // A session is restored once.
        assert!(s.restore("p1", "100", t0).is_none());
    }

    #[test]
    fn unknown_pid_or_offset_is_not_restored() {
        let t0 = Instant::now();
        let mut s = store();
        s.record(&to(&[], &[]), msg("a"), t0);
        s.persist("p1".into(), "s1".into(), rooms(&["s1"]), None, t0);
        assert!(s.restore("nope", "100", t0).is_none());
        assert!(s.restore("p1", "99", t0).is_none());
        assert!(s.restore("p1", "not a number", t0).is_none());
        // The failed attempts with a bad offset left the session in place.
        assert!(s.restore("p1", "100", t0).is_some());
    }

    #[test]
    fn sessions_and_packets_expire() {
        let t0 = Instant::now();
        let mut s = store();
        s.record(&to(&[], &[]), msg("a"), t0);
        s.persist("p1".into(), "s1".into(), rooms(&["s1"]), None, t0);
        let later = t0 + Duration::from_secs(121);
        assert!(s.restore("p1", "100", later).is_none());
        assert_eq!(s.stored(), (0, 0));
    }

    #[test]
    fn bounded_packets_and_sessions() {
        let t0 = Instant::now();
        let mut s = RecoveryStore::with_first_offset(
            ConnectionStateRecovery {
                max_stored_packets: 3,
                max_sessions: 2,
                ..Default::default()
            },
            0,
        );
        for i in 0..5 {
            s.record(&to(&[], &[]), msg(&i.to_string()), t0);
        }
        for i in 0..3 {
            s.persist(format!("p{i}").into(), "s".into(), rooms(&["s"]), None, t0);
        }
        assert_eq!(s.stored(), (3, 2));
        // Offset 1 fell out; 2 is the oldest left.
        assert!(s.restore("p2", "1", t0).is_none());
        assert!(
            s.restore("p0", "2", t0).is_none(),
            "the oldest session went first"
        );
        let r = s.restore("p1", "2", t0).expect("restored");
        assert_eq!(r.missed.len(), 2);
    }

    #[test]
    fn a_session_persisted_again_replaces_the_older_one() {
        let t0 = Instant::now();
        let mut s = store();
        s.record(&to(&[], &[]), msg("a"), t0);
        s.persist("p1".into(), "s1".into(), rooms(&["s1"]), None, t0);
        let t1 = t0 + Duration::from_secs(100);
        s.persist("p1".into(), "s1".into(), rooms(&["s1", "x"]), None, t1);
        // The first entry's expiry must not remove the second.
        let t2 = t0 + Duration::from_secs(150);
        s.record(&to(&[], &[]), msg("b"), t1);
        let r = s.restore("p1", "101", t2).expect("restored");
        assert_eq!(r.rooms, rooms(&["s1", "x"]));
    }
}
