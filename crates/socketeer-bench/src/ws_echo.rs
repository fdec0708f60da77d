//! `ws-echo`: throughput, latency and CPU time per message against a
//! WebSocket echo server.
//!
//! Every connection is one task that keeps `depth` messages of `size` bytes
//! in flight, with as few system calls per message as possible:
//! * frames are masked once at start-up; all the frames owed to the server
//!   are written with one `write`;
//! * on read readiness, the echoes already waiting in the socket are counted
//!   (`FIONREAD`) and their replacements written first, so that this write
//!   carries the TCP ACK for them (reading first would make the kernel send
//!   a bare ACK from within `recv`, a whole extra loopback segment); then one
//!   `recv` takes everything, and every complete frame is parsed, checked
//!   and timed.
//!
//! With `--rate`, the load is open-loop instead: each connection sends at
//! its share of the offered rate (at most `depth` in flight), and latency
//! counts from when each message was due, so that a server that falls
//! behind shows it in the latency (and in `missed`) rather than in a lower
//! rate only.
//!
//! Reads and writes never block each other (a connection stuck in a large
//! write while nobody reads could deadlock with a server stuck writing echoes).
//!
//! Over `wss://` (`--ca`), the same driver runs through rustls: the stream
//! is split in a read half and a write half polled together (see
//! `duplex.rs`), and since the socket's byte count says nothing about the
//! records in it, there is no refilling ahead.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::net::TcpStream;
use tokio::task::LocalSet;

use super::deflate::{Inflater, Plan};
use super::duplex::{Duplex, TlsDuplex, Wake};
use super::net::{self, Connector, Target};
use super::report::DeflateFigures;
use super::tls::{self, Tls};
use super::{bounded, bump, Phase, Progress, Report, RunState, WsEchoArgs};

/// The payload of one message in 16 is compared byte for byte with what was
/// sent; every message has its length and opcode checked.
const CONTENT_CHECK_EVERY: u64 = 16;

/// The one mask every generated frame uses (any value is valid).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

struct Config {
    size: usize,
    depth: usize,
    opcode: u8,
    payload: Vec<u8>,
    /// `2 * depth` copies of the masked frame; what is owed is always a suffix.
    batch: Vec<u8>,
    frame_len: usize,
    echo_len: usize,
    refill_ahead: bool,
    /// With `--rate`: the time between two messages of one connection.
    gap: Option<Duration>,
    /// With `--deflate`: the compressed messages (then every connection
    /// writes from its own buffer instead of `batch`).
    deflate: Option<Plan>,
}

struct Shared {
    run: RunState,
    /// Echoes received in the measured phase.
    messages: Cell<u64>,
    latency: RefCell<Histogram<u64>>,
    refill_ahead_fallbacks: Cell<u64>,
    /// Messages due at the offered rate but not sent (measured phase).
    missed: Cell<u64>,
    /// `--deflate`: the first server's extension response; echo payload
    /// bytes on the wire (measured phase); compressed and checked echoes.
    deflate_response: RefCell<Option<String>>,
    wire_bytes: Cell<u64>,
    compressed: Cell<u64>,
    checked: Cell<u64>,
}

/// Runs the scenario.
pub fn run(args: WsEchoArgs) -> Result<Report, String> {
    let common = &args.common;
    let conns = bounded("conns", args.conns, super::MAX_CONNS)?;
    let size = if args.size > super::MAX_SIZE {
        return Err(format!("--size must be at most {}", super::MAX_SIZE));
    } else {
        args.size
    };
    let depth = bounded("depth", args.depth, super::MAX_DEPTH)?;
    let target = Target::parse_any(&common.url)?;
    let tls = tls::for_target(&target, common.ca.as_deref())?.map(Rc::new);
    if tls.is_some() && args.deflate.offer().is_some() {
        return Err("--deflate is not supported over wss:// (yet)".into());
    }
    super::prepare(common)?;
    let plan = match args.deflate.offer() {
        Some(offer) => Some(Plan::new(offer, size, MASK)?),
        None => None,
    };
    let opcode = if args.text || plan.is_some() {
        net::OP_TEXT
    } else {
        net::OP_BINARY
    };
    let gap = match args.rate {
        Some(rate) if rate > 0.0 && rate <= 1e8 => {
            Some(Duration::from_secs_f64(conns as f64 / rate))
        }
        Some(_) => return Err("--rate must be in (0, 1e8]".into()),
        None => None,
    };
    let payload = match &plan {
        Some(plan) => plan.messages[0].clone(),
        None => net::filler(size),
    };
    let frame = net::masked_frame(opcode, &payload, MASK);
    let config = Rc::new(Config {
        size,
        depth,
        opcode,
        batch: frame.repeat(2 * depth),
        frame_len: frame.len(),
        echo_len: net::server_frame_len(size),
        payload,
        // Refilling ahead is a closed-loop device: at a fixed rate, what
        // is sent depends on the clock only.
        // Refilling ahead counts echoes by their fixed length: not over TLS
        // (rustls holds what it decrypted), not for compressed echoes.
        refill_ahead: !args.no_refill_ahead && gap.is_none() && !target.tls && plan.is_none(),
        gap,
        deflate: plan,
    });
    let runtime = super::runtime(common.coalesce_us)?;
    let mut report = LocalSet::new().block_on(&runtime, async {
        let connector = Rc::new(Connector::new(&target, common.source_addrs).await?);
        let shared = Rc::new(Shared {
            run: RunState::new(),
            messages: Cell::new(0),
            latency: RefCell::new(super::histogram()?),
            refill_ahead_fallbacks: Cell::new(0),
            missed: Cell::new(0),
            deflate_response: RefCell::new(None),
            wire_bytes: Cell::new(0),
            compressed: Cell::new(0),
            checked: Cell::new(0),
        });
        let progress = Progress::new(common, conns as u64, "");
        let tasks: Vec<_> = (0..conns)
            .map(|id| {
                let (config, shared) = (config.clone(), shared.clone());
                let (connector, target) = (connector.clone(), target.clone());
                let tls = tls.clone();
                tokio::task::spawn_local(async move {
                    let outcome = connect_and_drive(
                        id,
                        &config,
                        &shared,
                        &connector,
                        &target,
                        tls.as_deref(),
                    )
                    .await;
                    if let Err(e) = outcome {
                        shared.run.fail(format!("connection {id}: {e}"));
                    }
                })
            })
            .collect();
        shared.run.wait_ready(conns, &progress).await?;
        let (start, end) = shared
            .run
            .warm_up_and_measure(
                &args.timing,
                &super::Probes::server(common.server_pid)
                    .count_syscalls(args.timing.count_syscalls),
                &progress,
            )
            .await?;
        super::join_all(tasks).await;
        let messages = shared.messages.get();
        if messages == 0 {
            return Err("no echo received during the measured phase".to_string());
        }
        let mut report = Report {
            messages,
            deliveries: messages,
            rate: args.rate,
            missed: args.rate.map(|_| shared.missed.get()),
            ..Report::default()
        };
        start.fill(&end, messages, &mut report)?;
        report.msgs_per_s = messages as f64 / report.elapsed_s;
        report.deliveries_per_s = report.msgs_per_s;
        super::fill_latency(&shared.latency.borrow(), &mut report);
        if let Some(plan) = &config.deflate {
            report.deflate = Some(DeflateFigures {
                deflate: plan.offer.name(),
                deflate_offer: plan.offer.header(),
                deflate_response: shared.deflate_response.borrow().clone().unwrap_or_default(),
                client_wire_bytes_per_msg: plan.mean_frame_payload(),
                server_wire_bytes_per_msg: shared.wire_bytes.get() as f64 / messages as f64,
                compressed_echoes: shared.compressed.get(),
                checked_echoes: shared.checked.get(),
            });
        }
        if shared.refill_ahead_fallbacks.get() > 0 {
            eprintln!(
                "note: {} connections stopped refilling ahead (the server sent other frames)",
                shared.refill_ahead_fallbacks.get()
            );
        }
        Ok(report)
    })?;
    report.scenario = "ws-echo";
    report.transport = if target.tls { "wss" } else { "websocket" };
    report.label = common.label.clone();
    report.round = common.round;
    report.url = common.url.clone();
    report.conns = conns;
    report.size = size;
    report.depth = depth;
    report.source_addrs = common.source_addrs;
    report.coalesce_us = common.coalesce_us;
    report.warmup_s = args.timing.warmup;
    report.duration_s = args.timing.duration;
    Ok(report)
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Finished,
}

/// Connects one connection, plain or TLS, and drives it.
async fn connect_and_drive(
    id: usize,
    config: &Config,
    shared: &Shared,
    connector: &Connector,
    target: &Target,
    tls: Option<&Tls>,
) -> Result<(), String> {
    let tcp = connector.connect().await?;
    match tls {
        None => drive::<TcpStream>(id, config, shared, target, tcp).await,
        Some(tls) => drive::<TlsDuplex>(id, config, shared, target, tls.connect(tcp).await?).await,
    }
}

/// Upgrades `stream`, then keeps the pipeline going until the run is done
/// and the connection closed.
async fn drive<D: Duplex>(
    id: usize,
    config: &Config,
    shared: &Shared,
    target: &Target,
    mut stream: D::Stream,
) -> Result<(), String> {
    let offer = config.deflate.as_ref().map(|p| p.offer);
    let (leftover, response) =
        net::ws_handshake_with(&mut stream, target, offer.map(|o| o.header()).as_deref()).await?;
    if let Some(offer) = offer {
        offer.check_response(response.as_deref())?;
        shared
            .deflate_response
            .borrow_mut()
            .get_or_insert_with(|| response.unwrap_or_default());
    }
    shared.run.set_ready();
    let mut conn = Connection {
        config,
        shared,
        stream: D::new(stream),
        owed: 0,
        sent_at: VecDeque::with_capacity(2 * config.depth),
        buf: leftover,
        read_space: (2 * config.depth * (config.size + 14)).clamp(4096, 4 << 20),
        received: 0,
        fragmented: None,
        refill_ahead: config.refill_ahead,
        schedule: Instant::now(),
        scheduled: 0,
        out: Vec::new(),
        next_message: id,
        ids: VecDeque::with_capacity(2 * config.depth),
        inflater: None,
        message: Vec::new(),
        inflated: Vec::new(),
        compressed_message: false,
    };
    conn.top_up(0);
    conn.flush()?;
    if conn.parse_any(Instant::now())? == Flow::Finished {
        return Ok(());
    }
    let mut closing = false;
    loop {
        if shared.run.phase.get() == Phase::Done && !closing && conn.owed == 0 {
            // Close cleanly, then read until the server's close reply (or EOF).
            closing = true;
            conn.stream.close(&net::close_frame(MASK)).await;
        }
        let due = conn.next_due();
        let out = unwritten(config, &conn.out, conn.owed);
        let wake = conn
            .stream
            .wait(&mut conn.buf, conn.read_space, out, due)
            .await?;
        let flow = match wake {
            Wake::Due => {
                conn.top_up(0);
                conn.flush()?;
                Flow::Continue
            }
            Wake::Wrote(n) => {
                conn.owed -= n;
                Flow::Continue
            }
            Wake::Flushed => Flow::Continue,
            Wake::Closed => Flow::Finished,
            Wake::Ready { writable, readable } => {
                if writable {
                    conn.flush()?;
                }
                match readable {
                    true => conn.on_readable()?,
                    false => Flow::Continue,
                }
            }
            Wake::Read(n) => conn.on_read(n, 0)?,
        };
        if flow == Flow::Finished {
            return Ok(());
        }
    }
}

/// The bytes still to be written: the last `owed` of `config.batch`, or of
/// `out` with `--deflate`.
fn unwritten<'a>(config: &'a Config, out: &'a [u8], owed: usize) -> &'a [u8] {
    let batch = match config.deflate {
        None => &config.batch[..],
        Some(_) => out,
    };
    &batch[batch.len() - owed..]
}

/// One connection's pipeline, over the stream `D` (see [`Duplex`]).
struct Connection<'a, S> {
    config: &'a Config,
    shared: &'a Shared,
    stream: S,
    /// Bytes at the end of `config.batch` still to be written.
    owed: usize,
    /// Send instants of the messages whose echo is not parsed yet, oldest first.
    sent_at: VecDeque<Instant>,
    /// Received bytes; after each parse, at most one partial frame.
    buf: Vec<u8>,
    read_space: usize,
    /// Complete echoes received, to check the content of one in 16.
    received: u64,
    /// Payload bytes so far of a fragmented message being received.
    fragmented: Option<usize>,
    /// Whether to refill ahead of reading, from the byte count in the socket.
    /// Turned off for good if the count ever over-estimates the echoes (a
    /// server sending other frames), lest the pipeline grow past `depth`.
    refill_ahead: bool,
    /// With `--rate`: when this connection's schedule started, and how many
    /// messages have fallen due since (sent or missed).
    schedule: Instant,
    scheduled: u64,
    /// `--deflate`: frames queued (the last `owed` bytes are unwritten),
    /// the next message of the plan to send, the messages in flight (plan
    /// indices, oldest first), the server's history, and the payload of
    /// the message being received (plain, or compressed when
    /// `compressed_message`), and its inflated form.
    out: Vec<u8>,
    next_message: usize,
    ids: VecDeque<usize>,
    inflater: Option<Inflater>,
    message: Vec<u8>,
    inflated: Vec<u8>,
    compressed_message: bool,
}

impl<S> Connection<'_, S> {
    /// Queues new messages so that `depth` are in flight, counting as landed
    /// the `landed` echoes that sit complete in the socket but are not parsed;
    /// with `--rate`, queues the messages that have fallen due instead.
    fn top_up(&mut self, landed: usize) {
        if self.shared.run.phase.get() == Phase::Done {
            return;
        }
        if let Some(gap) = self.config.gap {
            return self.top_up_due(gap);
        }
        let landed = landed.min(self.sent_at.len());
        let new = (self.config.depth + landed).saturating_sub(self.sent_at.len());
        let new = new.min(self.room());
        if new > 0 {
            let now = Instant::now();
            for _ in 0..new {
                self.queue(now);
            }
        }
    }

    /// Messages that can still be queued (the batch bounds what is owed;
    /// with `--deflate`, only `depth` does).
    fn room(&self) -> usize {
        match self.config.deflate {
            None => (self.config.batch.len() - self.owed) / self.config.frame_len,
            Some(_) => usize::MAX,
        }
    }

    /// Queues one message, timed from `at`.
    fn queue(&mut self, at: Instant) {
        self.sent_at.push_back(at);
        match &self.config.deflate {
            None => self.owed += self.config.frame_len,
            Some(plan) => {
                let index = self.next_message % plan.frames.len();
                self.next_message += 1;
                let frame = &plan.frames[index];
                if self.owed == 0 {
                    self.out.clear();
                }
                self.out.extend_from_slice(frame);
                self.owed += frame.len();
                self.ids.push_back(index);
            }
        }
    }

    /// When the next message falls due (`--rate` only; none once done).
    fn next_due(&self) -> Option<Instant> {
        let gap = self.config.gap?;
        (self.shared.run.phase.get() != Phase::Done)
            .then(|| self.schedule + gap.mul_f64(self.scheduled as f64))
    }

    /// Queues every message due by now, each timed from when it was due;
    /// one due while `depth` are in flight (or the batch is full) is missed.
    fn top_up_due(&mut self, gap: Duration) {
        let now = Instant::now();
        let due_by_now =
            (now.duration_since(self.schedule).as_secs_f64() / gap.as_secs_f64()) as u64 + 1;
        let measuring = self.shared.run.phase.get() == Phase::Measure;
        while self.scheduled < due_by_now {
            let due = self.schedule + gap.mul_f64(self.scheduled as f64);
            self.scheduled += 1;
            if self.sent_at.len() >= self.config.depth || self.room() == 0 {
                if measuring {
                    bump(&self.shared.missed, 1);
                }
                continue;
            }
            self.queue(due);
        }
    }
}

impl<D: Duplex> Connection<'_, D> {
    /// Writes as much of what is owed as the socket takes now (over TLS,
    /// the writes happen while waiting instead).
    fn flush(&mut self) -> Result<(), String> {
        while self.owed > 0 {
            let out = unwritten(self.config, &self.out, self.owed);
            match self.stream.write_now(out)? {
                0 => break,
                n => self.owed -= n,
            }
        }
        Ok(())
    }

    /// Handles read readiness (plain TCP): refill for the echoes waiting in
    /// the socket, then read them all and handle them.
    fn on_readable(&mut self) -> Result<Flow, String> {
        let mut landed = 0;
        if self.refill_ahead && self.owed == 0 {
            landed = (self.buf.len() + self.stream.bytes_waiting()?) / self.config.echo_len;
            self.top_up(landed);
            self.flush()?;
        }
        self.buf.reserve(self.read_space);
        let n = match self.stream.read_now(&mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flow::Continue),
            Err(e) => return Err(format!("read: {e}")),
        };
        self.on_read(n, landed)
    }

    /// Handles `n` bytes just read (0: end of stream), `landed` echoes
    /// having been refilled ahead: check them, record their latency and
    /// top up again.
    fn on_read(&mut self, n: usize, landed: usize) -> Result<Flow, String> {
        let received_at = Instant::now();
        let in_flight = self.sent_at.len();
        let flow = self.parse_any(received_at)?;
        if in_flight - self.sent_at.len() < landed {
            self.refill_ahead = false;
            bump(&self.shared.refill_ahead_fallbacks, 1);
        }
        if flow == Flow::Continue && n == 0 {
            return match self.shared.run.phase.get() {
                Phase::Done => Ok(Flow::Finished),
                _ => Err("server closed the connection".into()),
            };
        }
        self.top_up(0);
        self.flush()?;
        Ok(flow)
    }
}

impl<S> Connection<'_, S> {
    /// Takes note of a complete echo of the oldest message in flight: its
    /// latency is recorded in the measured phase (then 1 is returned).
    fn time_echo(
        &mut self,
        latency: &mut Histogram<u64>,
        measuring: bool,
        received_at: Instant,
    ) -> Result<u64, String> {
        let sent = self
            .sent_at
            .pop_front()
            .ok_or("echo of a message that was never sent")?;
        if !measuring {
            return Ok(0);
        }
        super::record(latency, sent, received_at);
        Ok(1)
    }

    /// Drops the `pos` bytes parsed, keeping a partial frame for the next read.
    fn consume(&mut self, pos: usize) {
        if pos >= self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..pos);
        }
    }

    /// [`Connection::parse`], or [`Connection::parse_deflate`] with `--deflate`.
    fn parse_any(&mut self, received_at: Instant) -> Result<Flow, String> {
        match self.config.deflate {
            None => self.parse(received_at),
            Some(_) => self.parse_deflate(received_at),
        }
    }

    /// Parses, checks and accounts for every complete frame in `buf`.
    fn parse(&mut self, received_at: Instant) -> Result<Flow, String> {
        let config = self.config;
        let measuring = self.shared.run.phase.get() == Phase::Measure;
        let mut latency = self.shared.latency.borrow_mut();
        let (mut measured, mut all) = (0, 0);
        let mut pos = 0;
        let max = config.size.max(125);
        let mut flow = Flow::Continue;
        while let Some(head) = net::parse_frame(self.buf.get(pos..).unwrap_or_default(), max)? {
            let payload = self
                .buf
                .get(pos + head.header_len..pos + head.total_len())
                .unwrap_or_default();
            pos += head.total_len();
            let message_len = match (head.opcode, self.fragmented) {
                (net::OP_CLOSE, _) => {
                    if self.shared.run.phase.get() == Phase::Done {
                        flow = Flow::Finished;
                        break;
                    }
                    return Err("server sent a close frame".into());
                }
                (net::OP_PING | net::OP_PONG, _) => continue,
                (net::OP_CONTINUATION, Some(so_far)) => so_far + payload.len(),
                (net::OP_CONTINUATION, None) => return Err("unexpected continuation frame".into()),
                (_, Some(_)) => return Err("new message inside a fragmented one".into()),
                (opcode, None) if opcode != config.opcode => {
                    return Err(format!(
                        "echo has opcode {opcode:#x}, sent {:#x}",
                        config.opcode
                    ));
                }
                (_, None) => payload.len(),
            };
            if !head.fin {
                self.fragmented = Some(message_len);
                continue;
            }
            self.fragmented = None;
            if message_len != config.size {
                return Err(format!("echo of {message_len} bytes, sent {}", config.size));
            }
            self.received += 1;
            if self.received % CONTENT_CHECK_EVERY == 1
                && head.opcode != net::OP_CONTINUATION
                && payload != config.payload
            {
                return Err("echoed payload differs from the one sent".into());
            }
            all += 1;
            measured += self.time_echo(&mut latency, measuring, received_at)?;
        }
        bump(&self.shared.messages, measured);
        bump(&self.shared.run.replies, all);
        self.consume(pos);
        Ok(flow)
    }

    /// [`Connection::parse`] with `--deflate`: data messages may be
    /// compressed (RSV1); each is inflated and compared with the message
    /// sent, and its bytes on the wire are counted.
    fn parse_deflate(&mut self, received_at: Instant) -> Result<Flow, String> {
        let config = self.config;
        let Some(plan) = &config.deflate else {
            return self.parse(received_at);
        };
        let measuring = self.shared.run.phase.get() == Phase::Measure;
        let mut latency = self.shared.latency.borrow_mut();
        let (mut measured, mut all, mut wire, mut compressed) = (0, 0, 0, 0);
        let mut pos = 0;
        let max = (2 * config.size).max(1024);
        let mut flow = Flow::Continue;
        while let Some(head) =
            net::parse_frame_ext(self.buf.get(pos..).unwrap_or_default(), max, true)?
        {
            let payload = self
                .buf
                .get(pos + head.header_len..pos + head.total_len())
                .unwrap_or_default();
            pos += head.total_len();
            match (head.opcode, self.fragmented) {
                (net::OP_CLOSE, _) => {
                    if self.shared.run.phase.get() == Phase::Done {
                        flow = Flow::Finished;
                        break;
                    }
                    return Err("server sent a close frame".into());
                }
                (net::OP_PING | net::OP_PONG, _) => continue,
                (net::OP_CONTINUATION, Some(_)) if !head.rsv1 => {}
                (net::OP_CONTINUATION, _) => {
                    return Err("unexpected continuation frame (or RSV1 on one)".into())
                }
                (_, Some(_)) => return Err("new message inside a fragmented one".into()),
                (opcode, None) if opcode != config.opcode => {
                    return Err(format!(
                        "echo has opcode {opcode:#x}, sent {:#x}",
                        config.opcode
                    ));
                }
                (_, None) => {
                    self.message.clear();
                    self.compressed_message = head.rsv1;
                }
            }
            self.message.extend_from_slice(payload);
            wire += payload.len() as u64;
            if self.message.len() > max {
                return Err(format!("echo of more than {max} bytes on the wire"));
            }
            if !head.fin {
                self.fragmented = Some(self.message.len());
                continue;
            }
            self.fragmented = None;
            let plain = if self.compressed_message {
                compressed += 1;
                let inflater = self.inflater.get_or_insert_with(Inflater::new);
                inflater.inflate(&self.message, config.size, &mut self.inflated)?;
                &self.inflated
            } else {
                &self.message
            };
            let index = self
                .ids
                .pop_front()
                .ok_or("echo of a message that was never sent")?;
            if *plain != plan.messages[index] {
                return Err(format!(
                    "echo ({} bytes) differs from the message sent ({} bytes)",
                    plain.len(),
                    config.size
                ));
            }
            all += 1;
            measured += self.time_echo(&mut latency, measuring, received_at)?;
        }
        bump(&self.shared.messages, measured);
        bump(&self.shared.run.replies, all);
        bump(&self.shared.checked, all);
        bump(&self.shared.compressed, compressed);
        if measuring {
            bump(&self.shared.wire_bytes, wire);
        }
        self.consume(pos);
        Ok(flow)
    }
}
