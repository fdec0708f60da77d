//! The Socket.IO server's metrics, emitted through the
//! [`metrics`](https://docs.rs/metrics) facade (feature `metrics`, on by
//! default) to whatever recorder the application installed. The Engine.IO
//! layer underneath has its own (connections, messages, bytes,
//! disconnects of whole connections: see
//! [`socketeer_engineio::server::metrics`]).
//!
//! No label names a namespace, a room or a socket: namespaces may be
//! made on the fly (dynamic namespaces), so the number of series stays
//! fixed. The counters of events and acks are handles each namespace
//! takes once, when it is made, from the recorder installed then: install
//! the recorder before building the [`SocketIo`](super::SocketIo).
//! Counting one is then an atomic add, with no lookup and no allocation.

use super::error::DisconnectReason;

/// Counter: sockets connected to a namespace (restored ones included).
pub const CONNECTS: &str = "socketeer_connects_total";
/// Counter: namespace CONNECTs refused, by `cause`: `invalid_namespace`
/// (no such namespace), `middleware` (a middleware refused it).
pub const CONNECT_ERRORS: &str = "socketeer_connect_errors_total";
/// Counter: sockets disconnected, by `reason`: `server_namespace_disconnect`,
/// `client_namespace_disconnect`, `transport_close`, `transport_error`,
/// `ping_timeout`, `parse_error`, `server_shutting_down`,
/// `forced_server_close`.
pub const DISCONNECTS: &str = "socketeer_disconnects_total";
/// Counter: events received from clients.
pub const EVENTS_RECEIVED: &str = "socketeer_events_received_total";
/// Counter: events queued for a socket (a broadcast counts once per
/// recipient it was queued for).
pub const EVENTS_SENT: &str = "socketeer_events_sent_total";
/// Counter: acknowledgements received from clients (answers to events
/// the server emitted with an ack).
pub const ACKS_RECEIVED: &str = "socketeer_acks_received_total";
/// Counter: acknowledgements the server sent (answers to the clients'
/// events).
pub const ACKS_SENT: &str = "socketeer_acks_sent_total";

/// Gives the recorder installed now a description of each of these
/// metrics and of the Engine.IO layer's (the `# HELP` lines of a
/// Prometheus exporter). Optional.
pub fn describe() {
    socketeer_engineio::server::metrics::describe();
    #[cfg(feature = "metrics")]
    {
        use ::metrics::describe_counter;
        describe_counter!(CONNECTS, "Sockets connected to a namespace");
        describe_counter!(CONNECT_ERRORS, "Namespace CONNECTs refused, by cause");
        describe_counter!(DISCONNECTS, "Sockets disconnected, by reason");
        describe_counter!(EVENTS_RECEIVED, "Socket.IO events received");
        describe_counter!(EVENTS_SENT, "Socket.IO events queued for a socket");
        describe_counter!(ACKS_RECEIVED, "Acknowledgements received from clients");
        describe_counter!(ACKS_SENT, "Acknowledgements sent to clients");
    }
}

/// The label value of a disconnect reason.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) fn reason_label(r: DisconnectReason) -> &'static str {
    match r {
        DisconnectReason::ServerNamespaceDisconnect => "server_namespace_disconnect",
        DisconnectReason::ClientNamespaceDisconnect => "client_namespace_disconnect",
        DisconnectReason::TransportClose => "transport_close",
        DisconnectReason::TransportError => "transport_error",
        DisconnectReason::PingTimeout => "ping_timeout",
        DisconnectReason::ParseError => "parse_error",
        DisconnectReason::ServerShuttingDown => "server_shutting_down",
        DisconnectReason::ForcedServerClose => "forced_server_close",
    }
}

/// Why a CONNECT was refused, as the label of [`CONNECT_ERRORS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectRefusal {
    /// No such namespace.
    InvalidNamespace,
    /// A middleware returned an error.
    Middleware,
}

impl ConnectRefusal {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            ConnectRefusal::InvalidNamespace => "invalid_namespace",
            ConnectRefusal::Middleware => "middleware",
        }
    }
}

/// The per-event counters of a namespace: handles taken once.
pub(crate) struct Counters {
    #[cfg(feature = "metrics")]
    events_received: ::metrics::Counter,
    #[cfg(feature = "metrics")]
    events_sent: ::metrics::Counter,
    #[cfg(feature = "metrics")]
    acks_received: ::metrics::Counter,
    #[cfg(feature = "metrics")]
    acks_sent: ::metrics::Counter,
}

#[cfg(feature = "metrics")]
impl Counters {
    /// The handles of the recorder installed now.
    pub(crate) fn new() -> Self {
        Counters {
            events_received: ::metrics::counter!(EVENTS_RECEIVED),
            events_sent: ::metrics::counter!(EVENTS_SENT),
            acks_received: ::metrics::counter!(ACKS_RECEIVED),
            acks_sent: ::metrics::counter!(ACKS_SENT),
        }
    }

    /// An event received.
    pub(crate) fn event_received(&self) {
        self.events_received.increment(1);
    }

    /// `n` events queued for sockets.
    pub(crate) fn events_sent(&self, n: usize) {
        if n > 0 {
            self.events_sent.increment(n as u64);
        }
    }

    /// An ack received.
    pub(crate) fn ack_received(&self) {
        self.acks_received.increment(1);
    }

    /// An ack sent.
    pub(crate) fn ack_sent(&self) {
        self.acks_sent.increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
impl Counters {
    pub(crate) fn new() -> Self {
        Counters {}
    }
    pub(crate) fn event_received(&self) {}
    pub(crate) fn events_sent(&self, _: usize) {}
    pub(crate) fn ack_received(&self) {}
    pub(crate) fn ack_sent(&self) {}
}

/// A socket connected to a namespace.
pub(crate) fn connected() {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(CONNECTS).increment(1);
}

/// A CONNECT refused.
pub(crate) fn connect_refused(cause: ConnectRefusal) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(CONNECT_ERRORS, "cause" => cause.label()).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = cause;
}

/// A socket disconnected.
pub(crate) fn disconnected(reason: DisconnectReason) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(DISCONNECTS, "reason" => reason_label(reason)).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = reason;
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::{CompositeKey, MetricKind};

    fn counter(
        snapshot: &[(
            CompositeKey,
            Option<metrics::Unit>,
            Option<metrics::SharedString>,
            DebugValue,
        )],
        name: &str,
        label: Option<(&str, &str)>,
    ) -> u64 {
        snapshot
            .iter()
            .filter(|(k, ..)| k.kind() == MetricKind::Counter && k.key().name() == name)
            .filter(|(k, ..)| match label {
                Some((l, v)) => k.key().labels().any(|x| x.key() == l && x.value() == v),
                None => true,
            })
            .map(|(.., v)| match v {
                DebugValue::Counter(n) => *n,
                _ => 0,
            })
            .sum()
    }

    #[test]
    fn counts_go_to_the_recorder_of_their_namespace() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let c = Counters::new();
            c.event_received();
            c.event_received();
            c.events_sent(3);
            c.events_sent(0);
            c.ack_sent();
            connected();
            connect_refused(ConnectRefusal::Middleware);
            disconnected(DisconnectReason::PingTimeout);
        });
        let snapshot = snapshotter.snapshot().into_vec();
        assert_eq!(counter(&snapshot, EVENTS_RECEIVED, None), 2);
        assert_eq!(counter(&snapshot, EVENTS_SENT, None), 3);
        assert_eq!(counter(&snapshot, ACKS_SENT, None), 1);
        assert_eq!(counter(&snapshot, ACKS_RECEIVED, None), 0);
        assert_eq!(counter(&snapshot, CONNECTS, None), 1);
        let cause = Some(("cause", "middleware"));
        assert_eq!(counter(&snapshot, CONNECT_ERRORS, cause), 1);
        let reason = Some(("reason", "ping_timeout"));
        assert_eq!(counter(&snapshot, DISCONNECTS, reason), 1);
        assert_eq!(
            counter(&snapshot, DISCONNECTS, Some(("reason", "parse_error"))),
            0
        );
    }
}
