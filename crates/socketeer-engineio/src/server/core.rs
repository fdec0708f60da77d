//! The Sans-I/O Engine.IO session: heartbeat and upgrade logic, with time
//! passed in. The driver in [`super`] feeds it packets and timeouts.

use std::time::{Duration, Instant};

use crate::{Packet, Payload};

/// Which transport carries a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// The name used in the `transport` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }
}

/// Why a session ended, with the official reason strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent a close packet or closed its transport.
    TransportClose,
    /// The transport failed (I/O error, duplicate poll, upgrade error).
    TransportError,
    /// No pong within `ping_timeout` of a ping.
    PingTimeout,
    /// The client sent something that is not Engine.IO.
    ParseError,
    /// The server closed the session.
    ForcedClose,
    /// The server is shutting down.
    ServerShuttingDown,
}

impl CloseReason {
    /// The reason as the official server names it.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError => "parse error",
            CloseReason::ForcedClose => "forced close",
            CloseReason::ServerShuttingDown => "server shutting down",
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an upgrade from polling to WebSocket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeState {
    /// No upgrade under way.
    None,
    /// A WebSocket is attached and waits for `2probe`.
    AwaitingProbe,
    /// `3probe` sent; the client must send `5` before the deadline. Polls
    /// are answered with `6` meanwhile.
    Probed,
    /// The session runs on WebSocket now.
    Done,
}

/// What a received packet asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Hand this message to the application.
    Deliver(Payload),
    /// Answer the probe with `3probe` on the probing WebSocket, and release
    /// a pending poll with `6`.
    ReplyProbe,
    /// Switch the session to the WebSocket; release a pending poll with `6`.
    CompleteUpgrade,
    /// Nothing to do.
    None,
    /// Close the session.
    Close(CloseReason),
}

/// What a timeout asks the driver to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAction {
    /// Send a ping packet.
    SendPing,
    /// Abandon the upgrade under way (close the probing WebSocket).
    AbortUpgrade,
    /// Close the session.
    Close(CloseReason),
}

/// The heartbeat and upgrade state of one session.
#[derive(Debug, Clone)]
pub struct SessionCore {
    ping_interval: Duration,
    ping_timeout: Duration,
    upgrade_timeout: Duration,
    transport: TransportKind,
    upgrade: UpgradeState,
    next_ping: Instant,
    pong_deadline: Option<Instant>,
    upgrade_deadline: Option<Instant>,
    closed: Option<CloseReason>,
}

impl SessionCore {
    /// A session opened at `now` on `transport`.
    pub fn new(
        now: Instant,
        transport: TransportKind,
        ping_interval: Duration,
        ping_timeout: Duration,
        upgrade_timeout: Duration,
    ) -> Self {
        SessionCore {
            ping_interval,
            ping_timeout,
            upgrade_timeout,
            transport,
            upgrade: if transport == TransportKind::WebSocket {
                UpgradeState::Done
            } else {
                UpgradeState::None
            },
            next_ping: now + ping_interval,
            pong_deadline: None,
            upgrade_deadline: None,
            closed: None,
        }
    }

    /// The transport carrying the session.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// Where an upgrade stands.
    pub fn upgrade_state(&self) -> UpgradeState {
        self.upgrade
    }

    /// Why the session closed, once it has.
    pub fn closed(&self) -> Option<CloseReason> {
        self.closed
    }

    /// Marks the session closed (the first reason wins).
    pub fn close(&mut self, reason: CloseReason) {
        self.closed.get_or_insert(reason);
    }

    /// Whether a WebSocket may start probing this session now.
    pub fn can_start_upgrade(&self) -> bool {
        self.closed.is_none()
            && self.transport == TransportKind::Polling
            && self.upgrade == UpgradeState::None
    }

    /// A WebSocket attached at `now` to upgrade this session.
    pub fn start_upgrade(&mut self, now: Instant) -> bool {
        if !self.can_start_upgrade() {
            return false;
        }
        self.upgrade = UpgradeState::AwaitingProbe;
        self.upgrade_deadline = Some(now + self.upgrade_timeout);
        true
    }

    /// The probing WebSocket went away before the upgrade completed.
    pub fn abort_upgrade(&mut self) {
        if matches!(
            self.upgrade,
            UpgradeState::AwaitingProbe | UpgradeState::Probed
        ) {
            self.upgrade = UpgradeState::None;
            self.upgrade_deadline = None;
        }
    }

    /// When [`SessionCore::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        let heartbeat = self.pong_deadline.unwrap_or(self.next_ping);
        Some(match self.upgrade_deadline {
            Some(u) => heartbeat.min(u),
            None => heartbeat,
        })
    }

    /// Advances timers to `now`; returns at most one action per call (call
    /// again until `None`).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        if self.closed.is_some() {
            return None;
        }
        if let Some(deadline) = self.upgrade_deadline {
            if now >= deadline {
                self.abort_upgrade();
                return Some(TimerAction::AbortUpgrade);
            }
        }
        match self.pong_deadline {
            Some(deadline) if now >= deadline => {
                self.close(CloseReason::PingTimeout);
                Some(TimerAction::Close(CloseReason::PingTimeout))
            }
            Some(_) => None,
            None if now >= self.next_ping => {
                self.pong_deadline = Some(now + self.ping_timeout);
                Some(TimerAction::SendPing)
            }
            None => None,
        }
    }

    /// A packet received on the session's own transport.
    pub fn on_packet(&mut self, packet: Packet, now: Instant) -> Action {
        if self.closed.is_some() {
            return Action::None;
        }
        match packet {
            Packet::Message(m) => Action::Deliver(m),
            Packet::Pong(_) => {
                if self.pong_deadline.take().is_some() {
                    self.next_ping = now + self.ping_interval;
                }
                Action::None
            }
            Packet::Close => {
                self.close(CloseReason::TransportClose);
                Action::Close(CloseReason::TransportClose)
            }
            Packet::Noop => Action::None,
            // Clients do not ping in v4, nor open or upgrade on the main
            // transport: the official server treats these as parse errors.
            Packet::Ping(_) | Packet::Open(_) | Packet::Upgrade => {
                self.close(CloseReason::ParseError);
                Action::Close(CloseReason::ParseError)
            }
        }
    }

    /// A packet received on the WebSocket that probes an upgrade.
    pub fn on_probe_packet(&mut self, packet: &Packet) -> Action {
        if self.closed.is_some() {
            return Action::None;
        }
        match (self.upgrade, packet) {
            (UpgradeState::AwaitingProbe, Packet::Ping(Some(p))) if p.as_str() == "probe" => {
                self.upgrade = UpgradeState::Probed;
                Action::ReplyProbe
            }
            (UpgradeState::Probed, Packet::Upgrade) => {
                self.upgrade = UpgradeState::Done;
                self.upgrade_deadline = None;
                self.transport = TransportKind::WebSocket;
                Action::CompleteUpgrade
            }
            (UpgradeState::Probed, Packet::Noop) => Action::None,
            _ => {
                // Anything else aborts the upgrade; the session stays on polling.
                self.abort_upgrade();
                Action::Close(CloseReason::TransportError)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Utf8Bytes;

    const MS: Duration = Duration::from_millis(1);

    fn core(t0: Instant, kind: TransportKind) -> SessionCore {
        SessionCore::new(t0, kind, 300 * MS, 200 * MS, 10_000 * MS)
    }

    #[test]
    fn heartbeat_pings_then_times_out() {
        let t0 = Instant::now();
        let mut s = core(t0, TransportKind::WebSocket);
        assert_eq!(s.poll_timeout(), Some(t0 + 300 * MS));
        assert_eq!(s.handle_timeout(t0 + 299 * MS), None);
        assert_eq!(s.handle_timeout(t0 + 300 * MS), Some(TimerAction::SendPing));
        assert_eq!(s.poll_timeout(), Some(t0 + 500 * MS));
        // The pong arrives: the next ping is an interval later.
        assert_eq!(s.on_packet(Packet::Pong(None), t0 + 350 * MS), Action::None);
        assert_eq!(s.poll_timeout(), Some(t0 + 650 * MS));
        assert_eq!(s.handle_timeout(t0 + 650 * MS), Some(TimerAction::SendPing));
        assert_eq!(
            s.handle_timeout(t0 + 850 * MS),
            Some(TimerAction::Close(CloseReason::PingTimeout))
        );
        assert_eq!(s.closed(), Some(CloseReason::PingTimeout));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn upgrade_dance() {
        let t0 = Instant::now();
        let mut s = core(t0, TransportKind::Polling);
        assert!(s.start_upgrade(t0));
        assert!(!s.start_upgrade(t0), "one upgrade at a time");
        let probe = Packet::Ping(Some(Utf8Bytes::from_static("probe")));
        assert_eq!(s.on_probe_packet(&probe), Action::ReplyProbe);
        assert_eq!(s.upgrade_state(), UpgradeState::Probed);
        assert_eq!(s.on_probe_packet(&Packet::Upgrade), Action::CompleteUpgrade);
        assert_eq!(s.transport(), TransportKind::WebSocket);
        assert!(!s.can_start_upgrade());
    }

    #[test]
    fn upgrade_times_out_and_bad_probe_aborts() {
        let t0 = Instant::now();
        let mut s = SessionCore::new(
            t0,
            TransportKind::Polling,
            10_000 * MS,
            5_000 * MS,
            100 * MS,
        );
        assert!(s.start_upgrade(t0));
        assert_eq!(s.poll_timeout(), Some(t0 + 100 * MS));
        assert_eq!(
            s.handle_timeout(t0 + 100 * MS),
            Some(TimerAction::AbortUpgrade)
        );
        assert_eq!(s.upgrade_state(), UpgradeState::None);
        assert!(s.start_upgrade(t0 + 200 * MS));
        assert_eq!(
            s.on_probe_packet(&Packet::text("too early")),
            Action::Close(CloseReason::TransportError)
        );
        assert_eq!(s.transport(), TransportKind::Polling);
        assert!(
            s.closed().is_none(),
            "a failed probe leaves the session on polling"
        );
    }

    #[test]
    fn client_close_and_invalid_packets() {
        let t0 = Instant::now();
        let mut s = core(t0, TransportKind::WebSocket);
        assert_eq!(
            s.on_packet(Packet::text("hi"), t0),
            Action::Deliver(Payload::Text(Utf8Bytes::from_static("hi")))
        );
        assert_eq!(
            s.on_packet(Packet::Close, t0),
            Action::Close(CloseReason::TransportClose)
        );
        assert_eq!(s.on_packet(Packet::text("late"), t0), Action::None);
        let mut s = core(t0, TransportKind::WebSocket);
        assert_eq!(
            s.on_packet(Packet::Upgrade, t0),
            Action::Close(CloseReason::ParseError)
        );
    }
}
