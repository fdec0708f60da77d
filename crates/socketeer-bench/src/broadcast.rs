//! `io-broadcast`: one sender, C receivers; deliveries per second and the
//! time for the LAST receiver to get each broadcast, also across the servers
//! of a cluster (`io-cluster`: receivers spread over them, the servers' CPU
//! summed, the shared Redis's PUBLISH calls counted). Every connection is a
//! [`WsConn`] (Socket.IO over WebSocket, see `io.rs`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::AsyncWriteExt;
use tokio::task::LocalSet;

use super::echo::CONTENT_CHECK_EVERY;
use super::io::{fill_common, WsConn, CONNECT_WAVE};
use super::net::{self, Connector, Target, MAX_FRAME};
use super::pace::{check_rate, Pacer};
use super::report::ClusterFigures;
use super::wire::{engine_target, event_packet, Packet};
use super::{
    bounded, bump, sys, CpuSample, IoBroadcastArgs, Phase, Probes, Progress, Report, RunState,
    Transport,
};

/// A broadcast on its way: when it was sent and how many receivers still
/// have to get it.
struct InFlight {
    sent_at: Instant,
    missing: usize,
}

struct BroadcastShared {
    run: RunState,
    /// Broadcasts that reached every receiver in the measured phase.
    messages: Cell<u64>,
    deliveries: Cell<u64>,
    /// Of `deliveries`, the ones to receivers of another server than the sender's.
    remote_deliveries: Cell<u64>,
    /// Broadcasts sent in the measured phase.
    sent_measured: Cell<u64>,
    pings: Cell<u64>,
    latency: RefCell<Histogram<u64>>,
    /// Sequence number of `in_flight[0]`.
    first_seq: Cell<u64>,
    in_flight: RefCell<VecDeque<InFlight>>,
    /// Broadcasts completed, which the sender must replace.
    to_send: Cell<usize>,
    /// Wakes the sender when `to_send` grows (or the pacer is set).
    send_wake: tokio::sync::Notify,
    /// Broadcasts in flight at most (`--window`).
    window: usize,
    /// With `--rate`: the sender's schedule, set once every receiver is
    /// ready; `to_send` is then left unused.
    pacer: RefCell<Option<Pacer>>,
    /// With `--rate`: broadcasts due in the measured phase but not sent
    /// (`window` were in flight).
    missed: Cell<u64>,
}

/// Runs `io-broadcast` (and `io-cluster`: the same over several servers).
pub fn run(args: IoBroadcastArgs) -> Result<Report, String> {
    let common = &args.common;
    let conns = bounded("conns", args.conns, super::MAX_CONNS)?;
    let window = bounded("window", args.window, super::MAX_DEPTH)?;
    let rate = args.rate.map(check_rate).transpose()?;
    if args.size < 10 || args.size > MAX_FRAME / 2 {
        return Err(format!(
            "--size must be between 10 (the payload carries a sequence number) and {}",
            MAX_FRAME / 2
        ));
    }
    let targets = std::iter::once(&common.url)
        .chain(&args.also_urls)
        .map(|url| engine_target(url, Transport::Websocket))
        .collect::<Result<Vec<_>, _>>()?;
    if !args.also_server_pids.is_empty() && args.also_server_pids.len() != args.also_urls.len() {
        return Err("give one --also-server-pid per --also-url, or none".into());
    }
    if !args.also_server_pids.is_empty() && common.server_pid.is_none() {
        return Err("--also-server-pid needs --server-pid (the first server's)".into());
    }
    for &pid in &args.also_server_pids {
        sys::check_alive(pid)?;
    }
    let probes = Probes {
        pids: common
            .server_pid
            .into_iter()
            .chain(args.also_server_pids.iter().copied())
            .collect(),
        redis: args.redis.clone(),
        syscalls: args.timing.count_syscalls,
    };
    let cluster = targets.len() > 1 || args.redis.is_some();
    super::prepare(common)?;
    let runtime = super::runtime(common.coalesce_us)?;
    let size = args.size;
    let servers = targets.len();
    let mut report = LocalSet::new().block_on(&runtime, async {
        let mut connectors = Vec::with_capacity(servers);
        for target in &targets {
            connectors.push(Rc::new(Connector::new(target, common.source_addrs).await?));
        }
        let shared = Rc::new(BroadcastShared {
            run: RunState::new(),
            messages: Cell::new(0),
            deliveries: Cell::new(0),
            remote_deliveries: Cell::new(0),
            sent_measured: Cell::new(0),
            pings: Cell::new(0),
            latency: RefCell::new(super::histogram()?),
            first_seq: Cell::new(0),
            in_flight: RefCell::new(VecDeque::new()),
            to_send: Cell::new(0),
            send_wake: tokio::sync::Notify::new(),
            window,
            pacer: RefCell::new(None),
            missed: Cell::new(0),
        });
        let progress = Progress::new(common, conns as u64, "");
        let tasks: Vec<_> = (0..conns)
            .map(|id| {
                // Receiver `id` on server `id mod n`: even spread, sender on the first.
                let server = id % servers;
                let (shared, connector, target) = (
                    shared.clone(),
                    connectors[server].clone(),
                    targets[server].clone(),
                );
                tokio::task::spawn_local(async move {
                    tokio::time::sleep(Duration::from_millis(5 * (id / CONNECT_WAVE) as u64)).await;
                    let receiver = Receiver {
                        id,
                        remote: server > 0,
                    };
                    if let Err(e) =
                        broadcast_conn(&shared, &connector, &target, receiver, conns, size).await
                    {
                        shared.run.fail(format!("connection {id}: {e}"));
                    }
                })
            })
            .collect();
        shared.run.wait_ready(conns, &progress).await?;
        // Everybody has joined: the sender may start.
        match rate {
            Some(rate) => *shared.pacer.borrow_mut() = Some(Pacer::new(Instant::now(), rate, 1, 0)),
            None => shared.to_send.set(window),
        }
        shared.send_wake.notify_one();
        let (start, end) = shared
            .run
            .warm_up_and_measure(&args.timing, &probes, &progress)
            .await?;
        shared.send_wake.notify_one();
        super::join_all(tasks).await;
        let (messages, deliveries) = (shared.messages.get(), shared.deliveries.get());
        if messages == 0 || deliveries == 0 {
            return Err("no broadcast completed during the measured phase".to_string());
        }
        let mut report = Report {
            messages,
            deliveries,
            pings: shared.pings.get(),
            rate,
            missed: rate.map(|_| shared.missed.get()),
            ..Report::default()
        };
        start.fill(&end, deliveries, &mut report)?;
        report.msgs_per_s = messages as f64 / report.elapsed_s;
        report.deliveries_per_s = deliveries as f64 / report.elapsed_s;
        super::fill_latency(&shared.latency.borrow(), &mut report);
        if cluster {
            report.cluster = Some(cluster_figures(
                &start,
                &end,
                servers,
                shared.sent_measured.get(),
                shared.remote_deliveries.get(),
            ));
        }
        Ok(report)
    })?;
    report.scenario = match args.redis {
        Some(_) => "io-cluster",
        None => "io-broadcast",
    };
    report.transport = "websocket";
    fill_common(&mut report, common, conns, size, window, &args.timing);
    Ok(report)
}

/// The cluster figures of a run between the samples `start` and `end`.
fn cluster_figures(
    start: &CpuSample,
    end: &CpuSample,
    servers: usize,
    broadcasts_sent: u64,
    remote_deliveries: u64,
) -> ClusterFigures {
    let per = |d: Duration| d.as_secs_f64() * 1e6 / remote_deliveries.max(1) as f64;
    // The servers after the first, whose receivers only get broadcasts that
    // crossed servers.
    let (mut user, mut sys) = (Duration::ZERO, Duration::ZERO);
    for ((u0, s0), (u1, s1)) in start.per_server.iter().zip(&end.per_server).skip(1) {
        user += u1.saturating_sub(*u0);
        sys += s1.saturating_sub(*s0);
    }
    let remote_cpu = end.per_server.len() > 1;
    let publish_calls = match (start.publish_calls, end.publish_calls) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    ClusterFigures {
        servers,
        broadcasts_sent,
        remote_deliveries,
        remote_server_user_us_per_delivery: remote_cpu.then(|| per(user)),
        remote_server_sys_us_per_delivery: remote_cpu.then(|| per(sys)),
        remote_server_cpu_us_per_delivery: remote_cpu.then(|| per(user + sys)),
        remote_server_syscalls_per_delivery: end
            .syscalls
            .as_ref()
            .filter(|counts| counts.len() > 1)
            .map(|counts| counts[1..].iter().sum::<u64>() as f64 / remote_deliveries.max(1) as f64),
        publish_calls,
        publish_per_broadcast: publish_calls.map(|c| c as f64 / broadcasts_sent.max(1) as f64),
    }
}

/// Which receiver a broadcast connection is.
#[derive(Clone, Copy)]
struct Receiver {
    /// 0 is the sender.
    id: usize,
    /// Connected to another server than the sender's.
    remote: bool,
}

/// Puts in `sends` (cleared first) the send instants of the broadcasts owed
/// now, `in_flight` being in flight: one per completed broadcast or, with
/// `--rate`, each broadcast due by now, timed from when it was due (those
/// due while `window` are in flight are missed, and counted in the measured
/// phase).
fn due_broadcasts(shared: &BroadcastShared, in_flight: usize, sends: &mut Vec<Instant>) {
    sends.clear();
    let count = shared.to_send.replace(0);
    let now = Instant::now();
    let mut pacer = shared.pacer.borrow_mut();
    let Some(pacer) = pacer.as_mut() else {
        sends.extend(std::iter::repeat_n(now, count));
        return;
    };
    let missed = pace_window(pacer, now, in_flight, shared.window, sends);
    if shared.run.phase.get() == Phase::Measure {
        bump(&shared.missed, missed);
    }
}

/// Appends to `sends` the due instants of the sends of `pacer` due by
/// `now` that fit in `window` beside the `in_flight` ones; returns how many
/// did not (missed).
fn pace_window(
    pacer: &mut Pacer,
    now: Instant,
    in_flight: usize,
    window: usize,
    sends: &mut Vec<Instant>,
) -> u64 {
    let mut missed = 0;
    while let Some(due) = pacer.pop_due(now) {
        if in_flight + sends.len() < window {
            sends.push(due);
        } else {
            missed += 1;
        }
    }
    missed
}

/// Payload of broadcast `seq`: the sequence number in 10 digits, then filler.
fn broadcast_payload(seq: u64, size: usize) -> Vec<u8> {
    let mut payload = format!("{seq:010}").into_bytes();
    payload.extend(net::filler(size.saturating_sub(10)));
    payload
}

async fn broadcast_conn(
    shared: &BroadcastShared,
    connector: &Connector,
    target: &Target,
    receiver: Receiver,
    conns: usize,
    size: usize,
) -> Result<(), String> {
    const PREFIX: &[u8] = b"42[\"broadcast\",\"";
    let sender = receiver.id == 0;
    let mut conn = WsConn::connect(connector, target, receiver.id).await?;
    shared.run.set_ready();
    let mut expected = Vec::new();
    event_packet(&mut expected, "broadcast", None, &net::filler(size));
    let packet_len = expected.len();
    let mut next_seq = 0u64;
    let mut received = 0u64;
    let mut closing = false;
    let mut packet = Vec::new();
    let mut sends = Vec::new();
    let result = loop {
        if sender && shared.run.phase.get() != Phase::Done {
            let mut in_flight = shared.in_flight.borrow_mut();
            due_broadcasts(shared, in_flight.len(), &mut sends);
            if shared.run.phase.get() == Phase::Measure {
                bump(&shared.sent_measured, sends.len() as u64);
            }
            for &sent_at in &sends {
                in_flight.push_back(InFlight {
                    sent_at,
                    missing: conns,
                });
                packet.clear();
                event_packet(
                    &mut packet,
                    "broadcast",
                    None,
                    &broadcast_payload(next_seq, size),
                );
                next_seq += 1;
                conn.queue_text(&packet);
            }
            drop(in_flight);
            conn.flush()?;
        }
        if shared.run.phase.get() == Phase::Done && !closing && !conn.output_pending() {
            closing = true;
            let _ = conn.stream.write_all(&net::close_frame(conn.mask)).await;
        }
        let ready = if sender && !closing {
            let due = match shared.run.phase.get() {
                Phase::Done => None,
                _ => shared.pacer.borrow().as_ref().map(Pacer::next_due),
            };
            tokio::select! {
                ready = conn.ready() => ready?,
                () = shared.send_wake.notified() => continue,
                () = async {
                    match due {
                        Some(due) => tokio::time::sleep_until(due.into()).await,
                        None => std::future::pending().await,
                    }
                } => continue,
            }
        } else {
            conn.ready().await?
        };
        if ready.is_writable() {
            conn.flush()?;
        }
        if !(ready.is_readable() || ready.is_read_closed()) {
            continue;
        }
        let n = match conn.read_available() {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => break Err(format!("read: {e}")),
        };
        let received_at = Instant::now();
        let measuring = shared.run.phase.get() == Phase::Measure;
        let mut measured = 0;
        let open = conn.parse(|p| {
            let Packet::Event(packet) = p else {
                return Ok(());
            };
            if !packet.starts_with(PREFIX) {
                return Ok(()); // another event (`auth`...)
            }
            if packet.len() != packet_len {
                return Err(format!(
                    "broadcast packet of {} bytes, expected {packet_len}",
                    packet.len()
                ));
            }
            let seq: u64 = packet
                .get(PREFIX.len()..PREFIX.len() + 10)
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| s.parse().ok())
                .ok_or("broadcast without a sequence number")?;
            received += 1;
            if received % CONTENT_CHECK_EVERY == 1 {
                let mut want = Vec::new();
                event_packet(&mut want, "broadcast", None, &broadcast_payload(seq, size));
                if packet != want.as_slice() {
                    return Err(format!(
                        "unexpected broadcast {:?}",
                        String::from_utf8_lossy(packet)
                    ));
                }
            }
            if measuring {
                measured += 1;
            }
            bump(&shared.run.replies, 1);
            let first = shared.first_seq.get();
            let mut in_flight = shared.in_flight.borrow_mut();
            let entry = seq
                .checked_sub(first)
                .and_then(|i| in_flight.get_mut(usize::try_from(i).ok()?))
                .ok_or_else(|| format!("broadcast {seq} delivered twice or never sent"))?;
            entry.missing = entry
                .missing
                .checked_sub(1)
                .ok_or_else(|| format!("broadcast {seq} delivered too often"))?;
            // Retire completed broadcasts in order (one window's worth at most).
            while in_flight.front().is_some_and(|f| f.missing == 0) {
                let Some(done) = in_flight.pop_front() else {
                    break;
                };
                bump(&shared.first_seq, 1);
                shared.to_send.set(shared.to_send.get() + 1);
                if measuring {
                    super::record(&mut shared.latency.borrow_mut(), done.sent_at, received_at);
                    bump(&shared.messages, 1);
                }
                shared.send_wake.notify_one();
            }
            Ok(())
        })?;
        bump(&shared.deliveries, measured);
        if receiver.remote {
            bump(&shared.remote_deliveries, measured);
        }
        if !open || n == 0 {
            break match shared.run.phase.get() {
                Phase::Done => Ok(()),
                _ => Err("server closed the connection".into()),
            };
        }
        conn.flush()?;
    };
    bump(&shared.pings, conn.pings);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_sender_keeps_to_its_window() {
        let epoch = Instant::now();
        // 1,000 broadcasts/s: due at 0, 1, 2, ... ms.
        let mut pacer = Pacer::new(epoch, 1000.0, 1, 0);
        let mut sends = Vec::new();
        // 2.5 ms in, one broadcast in flight, window 3: two of the three
        // due are sent, timed from when they were due; one is missed.
        let now = epoch + Duration::from_micros(2500);
        assert_eq!(pace_window(&mut pacer, now, 1, 3, &mut sends), 1);
        assert_eq!(sends, [epoch, epoch + Duration::from_millis(1)]);
        // Nothing more is due until 3 ms.
        sends.clear();
        assert_eq!(pace_window(&mut pacer, now, 0, 3, &mut sends), 0);
        assert!(sends.is_empty());
        // At 5 ms with the window free: 3, 4 and 5 ms, all sent.
        let later = epoch + Duration::from_millis(5);
        assert_eq!(pace_window(&mut pacer, later, 0, 3, &mut sends), 0);
        assert_eq!(sends, [3, 4, 5].map(|ms| epoch + Duration::from_millis(ms)));
    }
}
