//! `connections`: how many idle connections a server holds, what each costs
//! it in memory, whether every one of them stays alive (a heartbeat round),
//! and whether memory comes back after churn.
//!
//! 1. The server's RSS is read (`--server-pid`), then `--conns` connections
//!    are opened at `--rate` per second (at most `--max-pending` handshakes
//!    in progress), each completing its WebSocket or Socket.IO handshake.
//! 2. After `--hold` seconds the RSS is read again: (open - before) / opened.
//! 3. Heartbeat: WebSocket, every connection sends a ping and the pongs are
//!    counted; Socket.IO, the generator waits one server ping interval (plus
//!    `--heartbeat-timeout`) and counts the connections that answered a ping
//!    of the server meanwhile.
//! 4. Churn (`--churn-rate`): connections are closed and reopened at that
//!    rate for `--churn-duration` seconds; then, after `--hold`, the RSS and
//!    the connections still open are read again.
//!
//! With `--deflate` (WebSocket), every connection offers permessage-deflate
//! and fails unless the server accepts it; it then sends `--warm-messages`
//! compressed JSON messages, one at a time, and checks each echo before it
//! counts as open: the server's compression state for that connection is
//! then what a connection that has talked and gone quiet holds.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::task::{JoinHandle, LocalSet};

use super::deflate::{Inflater, Plan};
use super::io::WsConn;
use super::net::{self, Connector, Target};
use super::poll::PollConn;
use super::report::{ConnFigures, DeflateFigures};
use super::wire::engine_target;
use super::{bounded, sys, ConnArgs, Progress, Protocol, Report, Transport};

const MASK: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// How long attempts still in progress may take once all are started.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

struct Shared {
    /// Connections open now (handshake complete, not closed).
    open: Cell<usize>,
    /// Handshakes completed since the start.
    opened_total: Cell<usize>,
    /// Attempts that failed since the start.
    failed: Cell<usize>,
    /// First error seen (reported with the failure count).
    first_error: RefCell<Option<String>>,
    /// Heartbeat round number; connections answer each round once.
    round: watch::Sender<u64>,
    /// Connections that answered the current round.
    answered: Cell<usize>,
    /// Engine.IO pings answered.
    pings: Cell<u64>,
    /// `--deflate`: the first extension response; warm-up echo bytes on the
    /// wire, echoes that came compressed, echoes checked.
    deflate_response: RefCell<Option<String>>,
    wire_bytes: Cell<u64>,
    compressed: Cell<u64>,
    checked: Cell<u64>,
}

/// Decrements `open` when a connection ends (also when its task is aborted).
struct OpenGuard(Rc<Shared>);

impl OpenGuard {
    fn new(shared: &Rc<Shared>) -> OpenGuard {
        shared.open.set(shared.open.get() + 1);
        shared.opened_total.set(shared.opened_total.get() + 1);
        OpenGuard(shared.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get().saturating_sub(1));
    }
}

/// Marks a connection as having answered round `round` (once per round).
struct Answered {
    last: u64,
}

impl Answered {
    fn mark(&mut self, shared: &Shared, round: u64) {
        if round > self.last {
            self.last = round;
            shared.answered.set(shared.answered.get() + 1);
        }
    }
}

struct Setup {
    protocol: Protocol,
    transport: Transport,
    target: Target,
    connector: Connector,
    /// `--deflate`: the messages, and how many each connection sends first.
    deflate: Option<Plan>,
    warm_messages: usize,
}

/// Runs the scenario.
pub fn run(args: ConnArgs) -> Result<Report, String> {
    let common = &args.common;
    let conns = bounded("conns", args.conns, super::MAX_CONNS)?;
    bounded("max-pending", args.max_pending, 100_000)?;
    if !(args.rate > 0.0 && args.rate <= 1e6 && (0.0..=1e6).contains(&args.churn_rate)) {
        return Err("--rate must be in (0, 1e6] and --churn-rate in [0, 1e6]".into());
    }
    let hold = super::seconds("hold", args.hold)?;
    let hb_timeout = super::seconds("heartbeat-timeout", args.heartbeat_timeout)?;
    let churn_duration = super::seconds("churn-duration", args.churn_duration)?;
    let target = match args.protocol {
        Protocol::Ws => Target::parse(&common.url)?,
        Protocol::Io => engine_target(&common.url, args.transport)?,
    };
    let plan = match args.deflate.offer() {
        Some(_) if args.protocol != Protocol::Ws => {
            return Err("--deflate is for --protocol ws".into())
        }
        Some(offer) => Some(Plan::new(offer, args.warm_size, MASK)?),
        None => None,
    };
    let fd_limit = super::prepare(common)?;
    let runtime = super::runtime(common.coalesce_us)?;
    let cpu_start = super::CpuSample::take(&super::Probes::server(common.server_pid))?;
    let (mut report, figures) = LocalSet::new().block_on(&runtime, async {
        let setup = Rc::new(Setup {
            protocol: args.protocol,
            transport: args.transport,
            connector: Connector::new(&target, common.source_addrs).await?,
            target,
            deflate: plan,
            warm_messages: args.warm_messages,
        });
        let (round, _) = watch::channel(0u64);
        let shared = Rc::new(Shared {
            open: Cell::new(0),
            opened_total: Cell::new(0),
            failed: Cell::new(0),
            first_error: RefCell::new(None),
            round,
            answered: Cell::new(0),
            pings: Cell::new(0),
            deflate_response: RefCell::new(None),
            wire_bytes: Cell::new(0),
            compressed: Cell::new(0),
            checked: Cell::new(0),
        });
        let progress = Progress::new(common, conns as u64, "conns");
        let rss = || common.server_pid.map(sys::rss_bytes).transpose();
        let mut figures = ConnFigures {
            protocol: match args.protocol {
                Protocol::Ws => "ws",
                Protocol::Io => "io",
            },
            fd_limit,
            rss_before: rss()?,
            ..ConnFigures::default()
        };

        // 1. Open.
        progress.stage("open", conns as u64);
        let started = Instant::now();
        let mut slots: Vec<JoinHandle<()>> = Vec::with_capacity(conns);
        let gap = Duration::from_secs_f64(1.0 / args.rate);
        let mut next = tokio::time::Instant::now();
        for _ in 0..conns {
            if shared.failed.get() >= args.max_failures {
                break;
            }
            wait_pending(&shared, slots.len(), args.max_pending).await;
            tokio::time::sleep_until(next).await;
            next += gap;
            slots.push(spawn(&setup, &shared));
            if slots.len() % 64 == 0 {
                progress.set(
                    shared.open.get() as u64,
                    format!("{} failed", shared.failed.get()),
                );
            }
        }
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        while shared.opened_total.get() + shared.failed.get() < slots.len()
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            progress.set(
                shared.open.get() as u64,
                format!("{} failed", shared.failed.get()),
            );
        }
        figures.connect_s = started.elapsed().as_secs_f64();
        figures.opened = shared.open.get();
        figures.failed = shared.failed.get();
        figures.connect_rate = figures.opened as f64 / figures.connect_s.max(1e-9);
        if figures.opened == 0 {
            return Err(format!(
                "no connection opened: {}",
                shared.first_error.borrow().clone().unwrap_or_default()
            ));
        }

        // 2. Hold, read the RSS.
        progress.stage("hold", hold.as_millis() as u64);
        tokio::time::sleep(hold).await;
        figures.rss_open = rss()?;
        figures.server_fds_open = common.server_pid.map(sys::open_fds).transpose()?;
        if let (Some(before), Some(open)) = (figures.rss_before, figures.rss_open) {
            figures.rss_per_conn = Some((open as f64 - before as f64) / figures.opened as f64);
        }

        // 3. Heartbeat.
        if !args.no_heartbeat {
            let checked = shared.open.get();
            let cpu_before = common.server_pid.map(sys::proc_cpu_total).transpose()?;
            let pings_before = shared.pings.get();
            shared.answered.set(0);
            shared.round.send_modify(|r| *r += 1);
            let started = Instant::now();
            let window = match args.protocol {
                Protocol::Ws => hb_timeout,
                Protocol::Io => {
                    Duration::from_millis(ping_interval(&setup, &shared).await?) + hb_timeout
                }
            };
            progress.stage("heartbeat", checked as u64);
            let deadline = started + window;
            while Instant::now() < deadline {
                if args.protocol == Protocol::Ws && shared.answered.get() >= checked {
                    break;
                }
                progress.set(shared.answered.get() as u64, String::new());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            figures.heartbeat_checked = checked;
            figures.heartbeat_answered = shared.answered.get();
            figures.heartbeat_s = started.elapsed().as_secs_f64();
            figures.heartbeat_pings = shared.pings.get() - pings_before;
            let cpu_after = common.server_pid.map(sys::proc_cpu_total).transpose()?;
            if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
                figures.heartbeat_server_cpu_s = Some(b.saturating_sub(a).as_secs_f64());
            }
        }
        figures.alive = shared.open.get();

        // 4. Churn.
        if args.churn_rate > 0.0 && !churn_duration.is_zero() {
            let total_before = (shared.opened_total.get(), shared.failed.get());
            progress.stage("churn", churn_duration.as_millis() as u64);
            let started = Instant::now();
            let gap = Duration::from_secs_f64(1.0 / args.churn_rate);
            let mut next = tokio::time::Instant::now();
            let mut i = 0usize;
            let mut started_count = 0usize;
            while started.elapsed() < churn_duration {
                let in_progress = (total_before.0 + total_before.1 + started_count)
                    .saturating_sub(shared.opened_total.get() + shared.failed.get());
                if in_progress >= args.max_pending {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                tokio::time::sleep_until(next).await;
                next += gap;
                let len = slots.len().max(1);
                if let Some(slot) = slots.get_mut(i % len) {
                    slot.abort();
                    *slot = spawn(&setup, &shared);
                    started_count += 1;
                }
                i += 1;
                if i % 64 == 0 {
                    progress.set(
                        started.elapsed().as_millis() as u64,
                        format!("{} open", shared.open.get()),
                    );
                }
            }
            let deadline = Instant::now() + SETTLE_TIMEOUT;
            while shared.opened_total.get() + shared.failed.get()
                < total_before.0 + total_before.1 + started_count
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            figures.churn_s = started.elapsed().as_secs_f64();
            figures.churned = shared.opened_total.get() - total_before.0;
            figures.churn_failed = shared.failed.get() - total_before.1;
            progress.stage("hold", hold.as_millis() as u64);
            tokio::time::sleep(hold).await;
            figures.rss_after_churn = rss()?;
            figures.server_fds_after_churn = common.server_pid.map(sys::open_fds).transpose()?;
            figures.alive_after_churn = shared.open.get();
        }
        progress.finish();
        for slot in &slots {
            slot.abort();
        }
        if let Some(e) = &*shared.first_error.borrow() {
            eprintln!(
                "note: {} connection attempts failed; the first: {e}",
                shared.failed.get()
            );
        }
        let deflate = setup.deflate.as_ref().map(|plan| DeflateFigures {
            deflate: plan.offer.name(),
            deflate_offer: plan.offer.header(),
            deflate_response: shared.deflate_response.borrow().clone().unwrap_or_default(),
            client_wire_bytes_per_msg: plan.mean_frame_payload(),
            server_wire_bytes_per_msg: shared.wire_bytes.get() as f64
                / shared.checked.get().max(1) as f64,
            compressed_echoes: shared.compressed.get(),
            checked_echoes: shared.checked.get(),
        });
        let report = Report {
            pings: shared.pings.get(),
            deflate,
            ..Report::default()
        };
        Ok::<_, String>((report, figures))
    })?;
    let cpu_end = super::CpuSample::take(&super::Probes::server(common.server_pid))?;
    cpu_start.fill(&cpu_end, 1, &mut report)?;
    // Whole-run CPU times only: there are no messages to divide them by.
    report.gen_cpu_us_per_msg = 0.0;
    report.server_cpu_us_per_msg = None;
    report.scenario = "connections";
    report.transport = match args.protocol {
        Protocol::Ws => "websocket",
        Protocol::Io => args.transport.name(),
    };
    report.label = common.label.clone();
    report.round = common.round;
    report.url = common.url.clone();
    report.conns = conns;
    report.source_addrs = common.source_addrs;
    report.coalesce_us = common.coalesce_us;
    report.elapsed_s = cpu_end.at.duration_since(cpu_start.at).as_secs_f64();
    report.connections = Some(figures);
    Ok(report)
}

/// Waits until fewer than `max_pending` attempts are in progress.
async fn wait_pending(shared: &Shared, started: usize, max_pending: usize) {
    while started.saturating_sub(shared.opened_total.get() + shared.failed.get()) >= max_pending {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The server's ping interval (milliseconds), from a fresh session.
async fn ping_interval(setup: &Setup, shared: &Rc<Shared>) -> Result<u64, String> {
    let _ = shared;
    let open = match setup.transport {
        Transport::Websocket => {
            WsConn::connect(&setup.connector, &setup.target, 0)
                .await?
                .open
        }
        Transport::Polling => {
            PollConn::connect(&setup.connector, &setup.target, None)
                .await?
                .open
        }
    };
    Ok(open.ping_interval)
}

fn spawn(setup: &Rc<Setup>, shared: &Rc<Shared>) -> JoinHandle<()> {
    let (setup, shared) = (setup.clone(), shared.clone());
    tokio::task::spawn_local(async move {
        let result = match (setup.protocol, setup.transport) {
            (Protocol::Ws, _) => idle_ws(&setup, &shared).await,
            (Protocol::Io, Transport::Websocket) => idle_io_ws(&setup, &shared).await,
            (Protocol::Io, Transport::Polling) => idle_io_poll(&setup, &shared).await,
        };
        // A connection that was never open counts as a failed attempt; one
        // that dies later shows in `alive`.
        if let Err(Some(e)) = result {
            shared.failed.set(shared.failed.get() + 1);
            shared.first_error.borrow_mut().get_or_insert(e);
        }
    })
}

/// An error before the handshake completed (`Some`), or the end of an open
/// connection (`None`, counted through `open`).
type IdleResult = Result<(), Option<String>>;

async fn idle_ws(setup: &Setup, shared: &Rc<Shared>) -> IdleResult {
    let mut stream = setup.connector.connect().await.map_err(Some)?;
    let offer = setup.deflate.as_ref().map(|p| p.offer.header());
    let (mut buf, response) = net::ws_handshake_with(&mut stream, &setup.target, offer.as_deref())
        .await
        .map_err(Some)?;
    if let Some(plan) = &setup.deflate {
        plan.offer
            .check_response(response.as_deref())
            .map_err(Some)?;
        shared
            .deflate_response
            .borrow_mut()
            .get_or_insert_with(|| response.unwrap_or_default());
        let first = shared.opened_total.get() + shared.failed.get();
        warm_up(
            &mut stream,
            &mut buf,
            plan,
            setup.warm_messages,
            first,
            shared,
        )
        .await
        .map_err(Some)?;
    }
    let _open = OpenGuard::new(shared);
    let mut round = shared.round.subscribe();
    round.mark_unchanged();
    let mut answered = Answered {
        last: *round.borrow(),
    };
    loop {
        tokio::select! {
            changed = round.changed() => {
                if changed.is_err() {
                    return Err(None);
                }
                let ping = net::masked_frame(net::OP_PING, b"hb", MASK);
                stream.write_all(&ping).await.map_err(|_| None)?;
            }
            ready = stream.readable() => {
                ready.map_err(|_| None)?;
                match sys::read_available(&stream, &mut buf) {
                    Ok(0) => return Err(None),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => return Err(None),
                }
                let mut pos = 0;
                let mut replies = Vec::new();
                while let Ok(Some(head)) = net::parse_frame(buf.get(pos..).unwrap_or_default(), 1 << 20) {
                    let payload = buf.get(pos + head.header_len..pos + head.total_len()).unwrap_or_default();
                    match head.opcode {
                        net::OP_PONG => answered.mark(shared, *round.borrow()),
                        net::OP_PING => net::push_masked_frame(&mut replies, net::OP_PONG, payload, MASK),
                        net::OP_CLOSE => return Err(None),
                        _ => {}
                    }
                    pos += head.total_len();
                }
                buf.drain(..pos.min(buf.len()));
                if !replies.is_empty() {
                    stream.write_all(&replies).await.map_err(|_| None)?;
                }
            }
        }
    }
}

/// `--deflate`: sends `count` compressed messages of the plan (from
/// `first` on), one at a time, and checks each echo (inflated when
/// compressed); leaves any bytes after the last echo in `buf`.
async fn warm_up(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
    plan: &Plan,
    count: usize,
    first: usize,
    shared: &Shared,
) -> Result<(), String> {
    let mut inflater = Inflater::new();
    let (mut message, mut inflated) = (Vec::new(), Vec::new());
    let max = plan.messages[0].len();
    for n in 0..count {
        let index = (first + n) % plan.frames.len();
        stream
            .write_all(&plan.frames[index])
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut compressed = None;
        message.clear();
        'echo: loop {
            let mut pos = 0;
            while let Some(head) =
                net::parse_frame_ext(buf.get(pos..).unwrap_or_default(), 2 * max + 1024, true)?
            {
                let payload = buf
                    .get(pos + head.header_len..pos + head.total_len())
                    .unwrap_or_default();
                pos += head.total_len();
                match head.opcode {
                    net::OP_TEXT if compressed.is_none() => compressed = Some(head.rsv1),
                    net::OP_CONTINUATION if compressed.is_some() && !head.rsv1 => {}
                    net::OP_PING | net::OP_PONG => continue,
                    op => return Err(format!("unexpected frame (opcode {op:#x}) during warm-up")),
                }
                message.extend_from_slice(payload);
                if head.fin {
                    buf.drain(..pos);
                    break 'echo;
                }
            }
            buf.drain(..pos);
            stream.readable().await.map_err(|e| format!("poll: {e}"))?;
            match sys::read_available(stream, buf) {
                Ok(0) => return Err("server closed during the warm-up".into()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        let plain = if compressed == Some(true) {
            inflater.inflate(&message, max, &mut inflated)?;
            shared.compressed.set(shared.compressed.get() + 1);
            &inflated
        } else {
            &message
        };
        if *plain != plan.messages[index] {
            return Err("warm-up echo differs from the message sent".into());
        }
        shared.checked.set(shared.checked.get() + 1);
        shared
            .wire_bytes
            .set(shared.wire_bytes.get() + message.len() as u64);
    }
    Ok(())
}

async fn idle_io_ws(setup: &Setup, shared: &Rc<Shared>) -> IdleResult {
    let mut conn = WsConn::connect(&setup.connector, &setup.target, shared.opened_total.get())
        .await
        .map_err(Some)?;
    let _open = OpenGuard::new(shared);
    let round = shared.round.subscribe();
    let mut answered = Answered {
        last: *round.borrow(),
    };
    loop {
        let ready = conn.ready().await.map_err(|_| None)?;
        if ready.is_writable() {
            conn.flush().map_err(|_| None)?;
        }
        if !(ready.is_readable() || ready.is_read_closed()) {
            continue;
        }
        match conn.read_available() {
            Ok(0) => return Err(None),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return Err(None),
        }
        let pings = conn.pings;
        if !conn.parse(|_| Ok(())).map_err(|_| None)? {
            return Err(None);
        }
        if conn.pings > pings {
            shared.pings.set(shared.pings.get() + conn.pings - pings);
            answered.mark(shared, *round.borrow());
        }
        conn.flush().map_err(|_| None)?;
    }
}

async fn idle_io_poll(setup: &Setup, shared: &Rc<Shared>) -> IdleResult {
    let mut conn = PollConn::connect(&setup.connector, &setup.target, None)
        .await
        .map_err(Some)?;
    let _open = OpenGuard::new(shared);
    let round = shared.round.subscribe();
    let mut answered = Answered {
        last: *round.borrow(),
    };
    loop {
        let pings = conn.pings;
        conn.poll().await.map_err(|_| None)?;
        conn.post().await.map_err(|_| None)?;
        if conn.pings > pings {
            shared.pings.set(shared.pings.get() + conn.pings - pings);
            answered.mark(shared, *round.borrow());
        }
    }
}
