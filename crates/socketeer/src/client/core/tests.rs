//! Deterministic tests of the client core: no sockets, no sleeps; time is
//! an `Instant` moved by hand.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::client::backoff::{Backoff, Rng};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn drain(core: &mut ManagerCore) -> Vec<Output> {
    std::iter::from_fn(|| core.poll_output()).collect()
}

/// The texts of the transmitted messages.
fn texts(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Transmit(m) => Some(m.text.to_string()),
            _ => None,
        })
        .collect()
}

/// The events, without the connection's own (open, close, ping, error:
/// see `manager_events`).
fn events(outputs: &[Output]) -> Vec<Event> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::Open | Event::Close(_) | Event::Ping | Event::Error(_)) => None,
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The connection's events, reconnection included (the Manager's events
/// in socket.io-client).
fn manager_events(outputs: &[Output]) -> Vec<Event> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(
                e @ (Event::Open
                | Event::Close(_)
                | Event::Ping
                | Event::Error(_)
                | Event::ReconnectAttempt(_)
                | Event::Reconnect(_)
                | Event::ReconnectError(_)
                | Event::ReconnectFailed),
            ) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn has(outputs: &[Output], o: &Output) -> bool {
    outputs.contains(o)
}

fn config() -> ManagerConfig {
    ManagerConfig {
        reconnection_delay: ms(100),
        reconnection_delay_max: ms(1000),
        randomization_factor: 0.0,
        ..ManagerConfig::default()
    }
}

/// A core joined to `/` with sid "s1".
fn connected(config: ManagerConfig, opts: SocketOptions, t: Instant) -> ManagerCore {
    let mut core = ManagerCore::new(config, 1);
    core.connect("/", opts, t);
    core.on_open(t);
    core.on_text(r#"0{"sid":"s1"}"#, t);
    drain(&mut core);
    assert!(core.connected("/"));
    core
}

fn emit(core: &mut ManagerCore, event: &str, n: i64, t: Instant) {
    core.emit("/", event, vec![Value::from(n)], EmitFlags::default(), t)
        .unwrap();
}

fn emit_ack(core: &mut ManagerCore, n: i64, timeout: Option<Duration>, t: Instant) -> AckToken {
    let flags = EmitFlags {
        ack: true,
        timeout,
        ..Default::default()
    };
    core.emit("/", "m", vec![Value::from(n)], flags, t)
        .unwrap()
        .unwrap()
}

// ---------------------------------------------------------------------
// Backoff

/// The formula of socket.io-client's backo2, written out independently.
fn backo2(min: f64, max: f64, jitter: f64, attempt: u32, rand: f64) -> u64 {
    let mut ms = min * 2f64.powi(attempt as i32);
    if jitter > 0.0 {
        let deviation = (rand * jitter * ms).floor();
        ms = if ((rand * 10.0).floor() as u64) % 2 == 0 {
            ms - deviation
        } else {
            ms + deviation
        };
    }
    ms.min(max) as u64
}

#[test]
fn backoff_matches_backo2_formula() {
    let mut rng = Rng::new(42);
    let mut b = Backoff::new(ms(1000), ms(5000), 0.5);
    for attempt in 0..40 {
        let rand = rng.next_f64();
        let expected = backo2(1000.0, 5000.0, 0.5, attempt, rand);
        assert_eq!(
            b.duration(rand),
            ms(expected),
            "attempt {attempt}, rand {rand}"
        );
    }
    // Hand-checked values: 1000 ms, then 2000 ms ± 50% jitter.
    let mut b = Backoff::new(ms(1000), ms(5000), 0.5);
    assert_eq!(b.duration(0.0), ms(1000));
    assert_eq!(b.duration(0.25), ms(1750)); // floor(2.5) = 2, even: minus 250
    assert_eq!(b.duration(0.35), ms(4700)); // floor(3.5) = 3, odd: plus 700
    assert_eq!(b.duration(0.99), ms(5000)); // capped
    b.reset();
    assert_eq!(b.attempts(), 0);
    assert_eq!(b.duration(0.5), ms(1250)); // floor(5) = 5, odd: plus 250
}

#[test]
fn backoff_without_jitter_doubles_up_to_max() {
    let mut b = Backoff::new(ms(100), ms(1000), 0.0);
    let got: Vec<u64> = (0..6).map(|_| b.duration(0.7).as_millis() as u64).collect();
    assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
    // Huge attempt counts stay capped, no overflow.
    for _ in 0..2000 {
        assert!(b.duration(0.3) <= ms(1000));
    }
    // A jitter outside (0, 1] means none, as in backo2.
    let mut b = Backoff::new(ms(100), ms(1000), 1.5);
    assert_eq!(b.duration(0.9), ms(100));
}

#[test]
fn reconnect_delays_follow_the_seeded_backoff() {
    let cfg = ManagerConfig {
        reconnection_delay: ms(1000),
        reconnection_delay_max: ms(5000),
        randomization_factor: 0.5,
        reconnection_attempts: Some(5),
        ..ManagerConfig::default()
    };
    let t0 = Instant::now();
    let mut core = ManagerCore::new(cfg, 99);
    core.connect("/", SocketOptions::default(), t0);
    assert_eq!(drain(&mut core), [Output::Open]);
    // The same seed gives the same jitter: replay it on a bare Backoff.
    let mut rng = Rng::new(99);
    let mut expected = Backoff::new(ms(1000), ms(5000), 0.5);
    let mut t = t0;
    core.on_open_error("refused", t);
    for attempt in 1..=5u32 {
        let delay = expected.duration(rng.next_f64());
        assert_eq!(core.poll_timeout(), Some(t + delay), "attempt {attempt}");
        t += delay;
        core.handle_timeout(t - ms(1));
        assert!(!drain(&mut core).contains(&Output::Open), "not before time");
        core.handle_timeout(t);
        let out = drain(&mut core);
        assert!(has(&out, &Output::Event(Event::ReconnectAttempt(attempt))));
        assert!(has(&out, &Output::Open));
        core.on_open_error("refused", t);
        let out = drain(&mut core);
        assert!(has(
            &out,
            &Output::Event(Event::ReconnectError("refused".into()))
        ));
        if attempt == 5 {
            assert!(has(&out, &Output::Event(Event::ReconnectFailed)));
            assert_eq!(core.poll_timeout(), None);
        }
    }
}

// ---------------------------------------------------------------------
// Connection, buffering, acks

#[test]
fn emits_before_connect_are_flushed_in_order_after_connect() {
    let t = Instant::now();
    let mut core = ManagerCore::new(config(), 1);
    core.connect(
        "/",
        SocketOptions::with_auth(serde_json::json!({"token": "x"})),
        t,
    );
    for i in 0..3 {
        emit(&mut core, "m", i, t);
    }
    assert_eq!(drain(&mut core), [Output::Open]);
    core.on_open(t);
    assert_eq!(texts(&drain(&mut core)), [r#"40{"token":"x"}"#]);
    core.on_text(r#"0{"sid":"s1"}"#, t);
    let out = drain(&mut core);
    assert_eq!(
        texts(&out),
        [r#"42["m",0]"#, r#"42["m",1]"#, r#"42["m",2]"#]
    );
    // Connect comes after the buffered packets are written.
    assert!(
        matches!(out.last(), Some(Output::Event(Event::Connect { sid, recovered: false, .. })) if sid == "s1")
    );
    assert_eq!(core.sid("/"), Some("s1"));
}

#[test]
fn offline_emits_are_buffered_volatile_ones_dropped_and_the_buffer_bounded() {
    let t = Instant::now();
    let cfg = ManagerConfig {
        max_buffered: 4,
        ..config()
    };
    let mut core = connected(cfg, SocketOptions::default(), t);
    core.on_close(DisconnectReason::TransportClose, t);
    let out = drain(&mut core);
    assert!(has(
        &out,
        &Output::Event(Event::Disconnect {
            nsp: "/".into(),
            reason: DisconnectReason::TransportClose
        })
    ));
    let volatile = EmitFlags {
        volatile: true,
        ..Default::default()
    };
    for i in 0..4 {
        emit(&mut core, "m", i, t);
        core.emit("/", "v", vec![], volatile, t).unwrap();
    }
    assert_eq!(core.buffered("/"), 4);
    assert_eq!(
        core.emit("/", "m", vec![], EmitFlags::default(), t),
        Err(EmitError::BufferFull)
    );
    // Reconnect after the backoff delay (100 ms, no jitter).
    let t = t + ms(100);
    core.handle_timeout(t);
    let out = drain(&mut core);
    assert_eq!(
        events(&out),
        [Event::ReconnectAttempt(1)],
        "one attempt, then open"
    );
    assert!(has(&out, &Output::Open));
    core.on_open(t);
    let out = drain(&mut core);
    assert_eq!(texts(&out), ["40"]);
    assert!(has(&out, &Output::Event(Event::Reconnect(1))));
    core.on_text(r#"0{"sid":"s2"}"#, t);
    let sent = texts(&drain(&mut core));
    assert_eq!(
        sent,
        [
            r#"42["m",0]"#,
            r#"42["m",1]"#,
            r#"42["m",2]"#,
            r#"42["m",3]"#
        ]
    );
    assert_eq!(core.buffered("/"), 0);
}

#[test]
fn reserved_names_and_unknown_namespaces_are_refused() {
    let t = Instant::now();
    let mut core = connected(config(), SocketOptions::default(), t);
    assert_eq!(
        core.emit("/", "disconnect", vec![], EmitFlags::default(), t),
        Err(EmitError::ReservedEvent("disconnect".into()))
    );
    assert!(matches!(
        core.emit("/nope", "x", vec![], EmitFlags::default(), t),
        Err(EmitError::UnknownNamespace(_))
    ));
}

#[test]
fn acks_resolve_time_out_and_fail_on_disconnect() {
    let t = Instant::now();
    let mut core = connected(config(), SocketOptions::default(), t);
    let a = emit_ack(&mut core, 1, Some(ms(500)), t);
    let b = emit_ack(&mut core, 2, Some(ms(200)), t);
    let c = emit_ack(&mut core, 3, None, t);
    assert_eq!(
        texts(&drain(&mut core)),
        [r#"420["m",1]"#, r#"421["m",2]"#, r#"422["m",3]"#]
    );
    core.on_text(r#"30["ok",1]"#, t + ms(10));
    assert_eq!(
        events(&drain(&mut core)),
        [Event::Ack {
            token: a,
            result: Ok(vec![Value::from("ok"), Value::from(1)])
        }]
    );
    // A second answer to the same id is ignored.
    core.on_text(r#"30["again"]"#, t + ms(10));
    assert!(drain(&mut core).is_empty());
    assert_eq!(core.poll_timeout(), Some(t + ms(200)));
    core.handle_timeout(t + ms(200));
    assert_eq!(
        events(&drain(&mut core)),
        [Event::Ack {
            token: b,
            result: Err(AckError::Timeout)
        }]
    );
    // A late answer after the timeout is ignored.
    core.on_text(r#"31[]"#, t + ms(300));
    assert!(drain(&mut core).is_empty());
    core.on_close(DisconnectReason::PingTimeout, t + ms(300));
    let ev = events(&drain(&mut core));
    assert!(ev.contains(&Event::Ack {
        token: c,
        result: Err(AckError::Disconnected)
    }));
    assert!(ev.contains(&Event::Disconnect {
        nsp: "/".into(),
        reason: DisconnectReason::PingTimeout
    }));
}

#[test]
fn a_buffered_emit_with_ack_waits_for_the_reconnection_or_times_out() {
    let t = Instant::now();
    let mut core = connected(config(), SocketOptions::default(), t);
    core.on_close(DisconnectReason::TransportClose, t);
    drain(&mut core);
    let kept = emit_ack(&mut core, 1, None, t);
    let expires = emit_ack(&mut core, 2, Some(ms(50)), t);
    core.handle_timeout(t + ms(50));
    assert_eq!(
        events(&drain(&mut core)),
        [Event::Ack {
            token: expires,
            result: Err(AckError::Timeout)
        }]
    );
    // Timed out while buffered: never sent.
    assert_eq!(core.buffered("/"), 1);
    core.handle_timeout(t + ms(100));
    core.on_open(t + ms(100));
    core.on_text(r#"0{"sid":"s2"}"#, t + ms(100));
    assert_eq!(texts(&drain(&mut core)), ["40", r#"420["m",1]"#]);
    core.on_text(r#"30["done"]"#, t + ms(110));
    assert_eq!(
        events(&drain(&mut core)),
        [Event::Ack {
            token: kept,
            result: Ok(vec![Value::from("done")])
        }]
    );
}

#[test]
fn events_from_the_server_and_acks_back() {
    let t = Instant::now();
    let mut core = connected(config(), SocketOptions::default(), t);
    core.on_text(r#"2["hello",1,{"a":[true]}]"#, t);
    core.on_text(r#"27["question"]"#, t);
    core.on_text(r#"51-["bin",{"_placeholder":true,"num":0}]"#, t);
    core.on_binary(Bytes::from_static(&[1, 2]), t);
    let ev = events(&drain(&mut core));
    assert_eq!(
        ev,
        [
            Event::Message {
                nsp: "/".into(),
                event: "hello".into(),
                args: vec![
                    Value::from(1),
                    Value::from(serde_json::json!({"a": [true]}))
                ],
                ack_id: None
            },
            Event::Message {
                nsp: "/".into(),
                event: "question".into(),
                args: vec![],
                ack_id: Some(7)
            },
            Event::Message {
                nsp: "/".into(),
                event: "bin".into(),
                args: vec![Value::Binary(Bytes::from_static(&[1, 2]))],
                ack_id: None
            },
        ]
    );
    core.ack("/", 7, vec![Value::Binary(Bytes::from_static(&[9]))])
        .unwrap();
    let out = drain(&mut core);
    let [Output::Transmit(m)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(m.text, r#"461-7[{"_placeholder":true,"num":0}]"#);
    assert_eq!(m.attachments, [Bytes::from_static(&[9])]);
}

#[test]
fn a_parse_error_closes_and_reconnects() {
    let t = Instant::now();
    let mut core = connected(config(), SocketOptions::default(), t);
    core.on_text("9garbage", t);
    let out = drain(&mut core);
    assert_eq!(out.first(), Some(&Output::Close));
    assert!(has(
        &out,
        &Output::Event(Event::Disconnect {
            nsp: "/".into(),
            reason: DisconnectReason::ParseError
        })
    ));
    assert_eq!(core.poll_timeout(), Some(t + ms(100)));
    assert!(core.is_reconnecting());
}

// ---------------------------------------------------------------------
// Namespaces, server disconnect, connect errors, auth

#[test]
fn namespaces_share_the_connection_and_the_last_one_closes_it() {
    let t = Instant::now();
    let mut core = ManagerCore::new(config(), 1);
    core.connect("/", SocketOptions::default(), t);
    core.connect("/admin", SocketOptions::default(), t);
    assert_eq!(drain(&mut core), [Output::Open], "one connection");
    core.on_open(t);
    assert_eq!(texts(&drain(&mut core)), ["40", "40/admin,"]);
    core.on_text(r#"0/admin,{"sid":"a1"}"#, t);
    core.on_text(r#"0{"sid":"m1"}"#, t);
    drain(&mut core);
    emit(&mut core, "x", 1, t);
    core.emit("/admin", "y", vec![], EmitFlags::default(), t)
        .unwrap();
    assert_eq!(
        texts(&drain(&mut core)),
        [r#"42["x",1]"#, r#"42/admin,["y"]"#]
    );
    // Events are routed by namespace.
    core.on_text(r#"2/admin,["z"]"#, t);
    assert!(
        matches!(&events(&drain(&mut core))[..], [Event::Message { nsp, .. }] if &**nsp == "/admin")
    );
    // The server kicks /admin: that namespace only, no reconnection.
    core.on_text("1/admin,", t);
    let out = drain(&mut core);
    assert_eq!(
        events(&out),
        [Event::Disconnect {
            nsp: "/admin".into(),
            reason: DisconnectReason::IoServerDisconnect
        }]
    );
    assert!(!out.contains(&Output::Close));
    assert!(core.connected("/") && !core.active("/admin"));
    // The client leaves /: DISCONNECT, then the connection closes.
    core.disconnect("/", t);
    let out = drain(&mut core);
    assert_eq!(texts(&out), ["41"]);
    // Close last, but for the connection's close event.
    assert_eq!(
        out.last(),
        Some(&Output::Event(Event::Close(
            DisconnectReason::IoClientDisconnect
        )))
    );
    assert_eq!(
        out.iter().position(|o| *o == Output::Close),
        Some(out.len() - 2),
        "{out:?}"
    );
    assert!(events(&out).contains(&Event::Disconnect {
        nsp: "/".into(),
        reason: DisconnectReason::IoClientDisconnect
    }));
    assert_eq!(core.poll_timeout(), None, "no reconnection");
    // A closed connection reported late changes nothing.
    core.on_close(DisconnectReason::TransportClose, t);
    assert!(drain(&mut core).is_empty());
}

#[test]
fn server_disconnect_of_the_only_namespace_means_no_reconnection() {
    let t = Instant::now();
    let mut core = connected(config(), SocketOptions::default(), t);
    core.on_text("1", t);
    let out = drain(&mut core);
    assert!(has(&out, &Output::Close));
    assert!(has(
        &out,
        &Output::Event(Event::Disconnect {
            nsp: "/".into(),
            reason: DisconnectReason::IoServerDisconnect
        })
    ));
    assert!(!core.is_reconnecting());
    assert_eq!(core.poll_timeout(), None);
    // Joining again opens a new connection.
    core.connect("/", SocketOptions::default(), t);
    assert_eq!(drain(&mut core), [Output::Open]);
}

#[test]
fn connect_error_from_a_middleware_gives_up_the_namespace() {
    let t = Instant::now();
    let mut core = ManagerCore::new(config(), 1);
    core.connect("/private", SocketOptions::default(), t);
    core.on_open(t);
    drain(&mut core);
    core.on_text(
        r#"4/private,{"message":"unauthorized","data":{"code":7}}"#,
        t,
    );
    let out = drain(&mut core);
    assert_eq!(
        events(&out),
        [Event::ConnectError {
            nsp: "/private".into(),
            error: ConnectError {
                message: "unauthorized".into(),
                data: Some(Value::from(serde_json::json!({"code": 7})))
            }
        }]
    );
    assert!(has(&out, &Output::Close));
    assert!(!core.active("/private") && core.poll_timeout().is_none());
}

#[test]
fn a_failed_first_connection_reports_connect_error_and_retries() {
    let t = Instant::now();
    let mut core = ManagerCore::new(config(), 1);
    core.connect("/", SocketOptions::default(), t);
    drain(&mut core);
    core.on_open_error("connection refused", t);
    assert_eq!(
        events(&drain(&mut core)),
        [Event::ConnectError {
            nsp: "/".into(),
            error: ConnectError {
                message: "connection refused".into(),
                data: None
            }
        }]
    );
    assert_eq!(core.poll_timeout(), Some(t + ms(100)));
}

#[test]
fn a_connection_that_takes_too_long_is_abandoned() {
    let t = Instant::now();
    let cfg = ManagerConfig {
        timeout: Some(ms(300)),
        ..config()
    };
    let mut core = ManagerCore::new(cfg, 1);
    core.connect("/", SocketOptions::default(), t);
    drain(&mut core);
    assert_eq!(core.poll_timeout(), Some(t + ms(300)));
    core.handle_timeout(t + ms(300));
    let out = drain(&mut core);
    assert_eq!(out.first(), Some(&Output::Close));
    assert!(
        matches!(&events(&out)[..], [Event::ConnectError { error, .. }] if error.message == "timeout")
    );
    // A late open of the abandoned attempt is ignored.
    core.on_open(t + ms(301));
    assert!(drain(&mut core).is_empty());
}

#[test]
fn dynamic_auth_is_called_for_every_connect() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let opts = SocketOptions {
        auth: Auth::Dynamic(Arc::new(move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            Value::from(serde_json::json!({ "token": n }))
        })),
        ..Default::default()
    };
    let t = Instant::now();
    let mut core = ManagerCore::new(config(), 1);
    core.connect("/", opts, t);
    core.on_open(t);
    assert_eq!(texts(&drain(&mut core)), [r#"40{"token":1}"#]);
    core.on_text(r#"0{"sid":"a"}"#, t);
    core.on_close(DisconnectReason::TransportError, t);
    core.handle_timeout(t + ms(100));
    core.on_open(t + ms(100));
    assert_eq!(texts(&drain(&mut core)), [r#"40{"token":2}"#]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------
// Connection state recovery

#[test]
fn recovery_sends_pid_and_last_offset_and_reports_recovered() {
    let t = Instant::now();
    let mut core = ManagerCore::new(config(), 1);
    core.connect(
        "/",
        SocketOptions::with_auth(serde_json::json!({"u": 1})),
        t,
    );
    core.on_open(t);
    drain(&mut core);
    core.on_text(r#"0{"sid":"s1","pid":"p1"}"#, t);
    assert!(!core.recovered("/"));
    assert_eq!(core.pid("/"), Some("p1"));
    core.on_text(r#"2["news",1,"off-1"]"#, t);
    core.on_text(r#"2["news",2,"off-2"]"#, t);
    // Not a string last: the offset stays.
    core.on_text(r#"2["news",3]"#, t);
    drain(&mut core);
    assert_eq!(core.last_offset("/"), Some("off-2"));
    core.on_close(DisconnectReason::TransportClose, t);
    core.handle_timeout(t + ms(100));
    core.on_open(t + ms(100));
    assert_eq!(
        texts(&drain(&mut core)),
        [r#"40{"offset":"off-2","pid":"p1","u":1}"#]
    );
    // The server replays what was missed before its CONNECT answer: held
    // until it comes, then delivered before the Connect event.
    core.on_text(r#"2["news",4,"off-4"]"#, t + ms(100));
    assert!(drain(&mut core).is_empty());
    core.on_text(r#"0{"sid":"s1","pid":"p1"}"#, t + ms(100));
    let out = drain(&mut core);
    assert!(
        matches!(
            &events(&out)[..],
            [Event::Message { event, .. }, Event::Connect { recovered: true, .. }] if event == "news"
        ),
        "{out:?}"
    );
    assert!(core.recovered("/"));
    assert_eq!(core.last_offset("/"), Some("off-4"));
    // A new session (pid changed) is not a recovery.
    core.on_close(DisconnectReason::TransportClose, t + ms(200));
    core.handle_timeout(t + ms(300));
    core.on_open(t + ms(300));
    drain(&mut core);
    core.on_text(r#"0{"sid":"s9","pid":"p9"}"#, t + ms(300));
    assert!(!core.recovered("/"));
}

#[test]
fn without_recovery_no_pid_is_sent_nor_offset_kept() {
    let t = Instant::now();
    let mut core = connected(config(), SocketOptions::default(), t);
    core.on_text(r#"2["news","looks-like-an-offset"]"#, t);
    assert_eq!(core.last_offset("/"), None);
    core.on_close(DisconnectReason::TransportClose, t);
    core.handle_timeout(t + ms(100));
    core.on_open(t + ms(100));
    assert_eq!(texts(&drain(&mut core)), ["40"]);
}

// ---------------------------------------------------------------------
// Retries

fn with_retries(retries: u32, ack_timeout: Option<Duration>) -> SocketOptions {
    SocketOptions {
        retries: Some(retries),
        ack_timeout,
        ..Default::default()
    }
}

#[test]
fn retries_send_one_at_a_time_in_order() {
    let t = Instant::now();
    let mut core = connected(config(), with_retries(3, Some(ms(100))), t);
    emit(&mut core, "m", 0, t);
    let tok = emit_ack(&mut core, 1, None, t);
    emit(&mut core, "m", 2, t);
    assert_eq!(core.queued("/"), 3);
    // Only the head is in flight, with an ack id.
    assert_eq!(texts(&drain(&mut core)), [r#"420["m",0]"#]);
    core.on_text("30[]", t + ms(10));
    assert_eq!(texts(&drain(&mut core)), [r#"421["m",1]"#]);
    core.on_text(r#"31["r"]"#, t + ms(20));
    let out = drain(&mut core);
    assert_eq!(
        events(&out),
        [Event::Ack {
            token: tok,
            result: Ok(vec![Value::from("r")])
        }]
    );
    assert_eq!(texts(&out), [r#"422["m",2]"#]);
    core.on_text("32[]", t + ms(30));
    assert!(drain(&mut core).is_empty());
    assert_eq!(core.queued("/"), 0);
}

#[test]
fn retries_resend_after_timeouts_then_give_up() {
    let t = Instant::now();
    let mut core = connected(config(), with_retries(2, Some(ms(100))), t);
    let tok = emit_ack(&mut core, 7, None, t);
    emit(&mut core, "next", 8, t);
    assert_eq!(texts(&drain(&mut core)), [r#"420["m",7]"#]);
    core.handle_timeout(t + ms(100));
    assert_eq!(texts(&drain(&mut core)), [r#"421["m",7]"#], "try 2");
    core.handle_timeout(t + ms(200));
    assert_eq!(texts(&drain(&mut core)), [r#"422["m",7]"#], "try 3");
    // A late answer to a timed-out try is ignored (as socket.io-client).
    core.on_text("30[0]", t + ms(250));
    assert!(drain(&mut core).is_empty());
    core.on_text("32[1]", t + ms(250));
    let out = drain(&mut core);
    assert_eq!(
        events(&out),
        [Event::Ack {
            token: tok,
            result: Ok(vec![Value::from(1)])
        }]
    );
    assert_eq!(texts(&out), [r#"423["next",8]"#]);
    // A second answer to try 3 is ignored.
    core.on_text("32[]", t + ms(260));
    assert!(drain(&mut core).is_empty());
    // `next` is never answered: 1 + 2 retries, then dropped.
    core.handle_timeout(t + ms(350));
    core.handle_timeout(t + ms(450));
    assert_eq!(
        texts(&drain(&mut core)),
        [r#"424["next",8]"#, r#"425["next",8]"#]
    );
    core.handle_timeout(t + ms(550));
    assert!(drain(&mut core).is_empty());
    assert_eq!(core.queued("/"), 0);
}

#[test]
fn retries_without_timeout_resend_the_head_on_reconnection() {
    let t = Instant::now();
    let mut core = connected(config(), with_retries(1, None), t);
    emit(&mut core, "m", 1, t);
    emit(&mut core, "m", 2, t);
    assert_eq!(texts(&drain(&mut core)), [r#"420["m",1]"#]);
    core.on_close(DisconnectReason::TransportClose, t);
    emit(&mut core, "m", 3, t);
    core.handle_timeout(t + ms(100));
    core.on_open(t + ms(100));
    core.on_text(r#"0{"sid":"s2"}"#, t + ms(100));
    // The unanswered head again, then the rest one by one.
    assert_eq!(texts(&drain(&mut core)), ["40", r#"421["m",1]"#]);
    core.on_text("31[]", t + ms(110));
    assert_eq!(texts(&drain(&mut core)), [r#"422["m",2]"#]);
    core.on_text("32[]", t + ms(120));
    assert_eq!(texts(&drain(&mut core)), [r#"423["m",3]"#]);
}

#[test]
fn retries_with_timeout_count_a_disconnection_as_a_try() {
    let t = Instant::now();
    let mut core = connected(config(), with_retries(1, Some(ms(1000))), t);
    let tok = emit_ack(&mut core, 1, None, t);
    drain(&mut core);
    core.on_close(DisconnectReason::TransportClose, t);
    drain(&mut core);
    core.handle_timeout(t + ms(100));
    core.on_open(t + ms(100));
    core.on_text(r#"0{"sid":"s2"}"#, t + ms(100));
    assert_eq!(texts(&drain(&mut core)), ["40", r#"421["m",1]"#], "try 2");
    core.on_close(DisconnectReason::TransportClose, t + ms(150));
    // Two tries > 1 retry: given up with the disconnection error.
    assert!(events(&drain(&mut core)).contains(&Event::Ack {
        token: tok,
        result: Err(AckError::Disconnected)
    }));
    assert_eq!(core.queued("/"), 0);
}

#[test]
fn volatile_emits_bypass_the_retry_queue() {
    let t = Instant::now();
    let mut core = connected(config(), with_retries(3, None), t);
    let flags = EmitFlags {
        volatile: true,
        ..Default::default()
    };
    core.emit("/", "v", vec![], flags, t).unwrap();
    assert_eq!(texts(&drain(&mut core)), [r#"42["v"]"#]);
    assert_eq!(core.queued("/"), 0);
}

#[test]
fn close_fails_everything_pending() {
    let t = Instant::now();
    let mut core = connected(config(), SocketOptions::default(), t);
    let a = emit_ack(&mut core, 1, None, t);
    core.close(t);
    let out = drain(&mut core);
    assert!(has(&out, &Output::Close));
    assert!(events(&out).contains(&Event::Ack {
        token: a,
        result: Err(AckError::Disconnected)
    }));
    assert_eq!(core.poll_timeout(), None);
    assert!(!core.active("/"));
}

#[test]
fn ack_timeouts_can_be_set_after_the_emit() {
    let t = Instant::now();
    let mut core = connected(config(), SocketOptions::default(), t);
    let a = emit_ack(&mut core, 1, None, t);
    assert_eq!(core.poll_timeout(), None);
    core.set_ack_timeout(a, ms(300), t);
    assert_eq!(core.poll_timeout(), Some(t + ms(300)));
    core.handle_timeout(t + ms(300));
    assert!(events(&drain(&mut core)).contains(&Event::Ack {
        token: a,
        result: Err(AckError::Timeout)
    }));
    // In a retry queue: each try waits the new timeout.
    let mut core = connected(config(), with_retries(1, None), t);
    let q = emit_ack(&mut core, 2, None, t);
    core.set_ack_timeout(q, ms(100), t);
    drain(&mut core);
    core.handle_timeout(t + ms(100));
    assert_eq!(texts(&drain(&mut core)), [r#"421["m",2]"#], "try 2");
    core.handle_timeout(t + ms(200));
    assert!(events(&drain(&mut core)).contains(&Event::Ack {
        token: q,
        result: Err(AckError::Timeout)
    }));
}

#[test]
fn garbage_never_panics() {
    let t = Instant::now();
    let mut core = connected(config(), with_retries(2, Some(ms(10))), t);
    let inputs = [
        "",
        "0",
        "0{}",
        "0[]",
        r#"0{"sid":1}"#,
        "2",
        "2{}",
        "2[]",
        "2[1]",
        "2[null]",
        "3",
        "3x",
        "399999999999999999999999[]",
        "4",
        "4[]",
        "1/x,",
        "5",
        "51-[",
        "6-1[]",
        r#"2/nowhere,["a"]"#,
        "\0",
        "0/",
    ];
    for (i, text) in inputs.iter().enumerate() {
        let now = t + ms(i as u64 * 10_000);
        emit(&mut core, "m", i as i64, now);
        core.on_text(text, now);
        core.on_binary(Bytes::from_static(b"\xff"), now);
        core.handle_timeout(now + ms(50));
        drain(&mut core);
        if !core.is_open() {
            core.handle_timeout(now + ms(5_000));
            core.on_open(now + ms(5_000));
            core.on_text(r#"0{"sid":"again"}"#, now + ms(5_000));
            drain(&mut core);
        }
        assert!(core.connected("/"), "after {text:?}");
    }
}

// ---------------------------------------------------------------------
// The connection's events (socket.io-client's Manager events)

#[test]
fn manager_events_through_a_close_and_a_failed_then_good_reconnection() {
    let t = Instant::now();
    let mut core = ManagerCore::new(config(), 1);
    core.connect("/", SocketOptions::default(), t);
    core.on_open(t);
    let out = drain(&mut core);
    assert_eq!(manager_events(&out), [Event::Open]);
    // Open comes before the CONNECT packets.
    assert_eq!(
        out.iter()
            .position(|o| matches!(o, Output::Event(Event::Open))),
        Some(1)
    );
    core.on_text(r#"0{"sid":"s1"}"#, t);
    core.on_ping();
    assert_eq!(manager_events(&drain(&mut core)), [Event::Ping]);

    // The transport closes: close (before the namespace's disconnect),
    // then the reconnection attempts.
    core.on_close(DisconnectReason::TransportClose, t);
    let out = drain(&mut core);
    assert_eq!(
        manager_events(&out),
        [Event::Close(DisconnectReason::TransportClose)]
    );
    let close_at = out
        .iter()
        .position(|o| matches!(o, Output::Event(Event::Close(_))));
    let disconnect_at = out
        .iter()
        .position(|o| matches!(o, Output::Event(Event::Disconnect { .. })));
    assert!(close_at < disconnect_at, "{out:?}");
    // No ping while closed.
    core.on_ping();
    assert!(drain(&mut core).is_empty());

    core.handle_timeout(t + ms(100));
    assert_eq!(
        manager_events(&drain(&mut core)),
        [Event::ReconnectAttempt(1)]
    );
    core.on_open_error("connection refused", t + ms(100));
    assert_eq!(
        manager_events(&drain(&mut core)),
        [
            Event::Error("connection refused".into()),
            Event::ReconnectError("connection refused".into())
        ]
    );
    core.handle_timeout(t + ms(300));
    assert_eq!(
        manager_events(&drain(&mut core)),
        [Event::ReconnectAttempt(2)]
    );
    core.on_open(t + ms(300));
    assert_eq!(
        manager_events(&drain(&mut core)),
        [Event::Open, Event::Reconnect(2)]
    );

    // The application closes: close with its reason; nothing follows.
    core.close(t + ms(400));
    assert_eq!(
        manager_events(&drain(&mut core)),
        [Event::Close(DisconnectReason::IoClientDisconnect)]
    );
    assert_eq!(core.poll_timeout(), None);
}

#[test]
fn manager_error_on_a_timed_out_opening_and_no_close_without_open() {
    let t = Instant::now();
    let cfg = ManagerConfig {
        timeout: Some(ms(300)),
        reconnection_attempts: Some(1),
        ..config()
    };
    let mut core = ManagerCore::new(cfg, 1);
    core.connect("/", SocketOptions::default(), t);
    drain(&mut core);
    core.handle_timeout(t + ms(300));
    assert_eq!(
        manager_events(&drain(&mut core)),
        [Event::Error("timeout".into())]
    );
    core.handle_timeout(t + ms(400));
    assert_eq!(
        manager_events(&drain(&mut core)),
        [Event::ReconnectAttempt(1)]
    );
    core.on_open_error("refused", t + ms(400));
    assert_eq!(
        manager_events(&drain(&mut core)),
        [
            Event::Error("refused".into()),
            Event::ReconnectFailed,
            Event::ReconnectError("refused".into())
        ]
    );
    // Closing a connection that never opened reports no close.
    core.close(t + ms(500));
    assert!(manager_events(&drain(&mut core)).is_empty());
}

#[test]
fn async_auth_values_are_handed_over_and_asked_again_after_use() {
    let t = Instant::now();
    let opts = SocketOptions {
        auth: Auth::Async(Arc::new(|| Box::pin(async { Value::Null }))),
        ..Default::default()
    };
    let mut core = ManagerCore::new(config(), 1);
    core.register("/", opts);
    core.register(
        "/plain",
        SocketOptions::with_auth(serde_json::json!({"k": 1})),
    );
    // Only wanted namespaces with an async payload are pending.
    assert!(core.pending_auths().is_empty());
    assert!(core.async_auth("/").is_some() && core.async_auth("/plain").is_none());
    core.join("/", t);
    core.join("/plain", t);
    let pending: Vec<_> = core.pending_auths().into_iter().map(|(n, _)| n).collect();
    assert_eq!(pending, [Arc::from("/")]);
    core.set_auth("/", Value::from(serde_json::json!({"token": "one"})));
    // Set: no longer pending until a CONNECT has used it.
    assert!(core.pending_auths().is_empty());
    drain(&mut core);
    core.on_open(t);
    assert_eq!(
        texts(&drain(&mut core)),
        [r#"40{"token":"one"}"#, r#"40/plain,{"k":1}"#]
    );
    assert_eq!(core.pending_auths().len(), 1);
    // A reconnection without a new value reuses the last one.
    core.on_close(DisconnectReason::TransportClose, t);
    core.handle_timeout(t + ms(100));
    core.on_open(t + ms(100));
    assert!(texts(&drain(&mut core)).contains(&r#"40{"token":"one"}"#.to_owned()));
    // A non-object value is not sent.
    core.set_auth("/", Value::from(3));
    core.on_close(DisconnectReason::TransportClose, t + ms(200));
    core.handle_timeout(t + ms(300));
    core.on_open(t + ms(300));
    assert!(texts(&drain(&mut core)).contains(&"40".to_owned()));
}
