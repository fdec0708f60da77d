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

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::task::LocalSet;

use super::net::{self, Connector, Target};
use super::{bounded, bump, sys, Phase, Progress, Report, RunState, WsEchoArgs};

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
}

struct Shared {
    run: RunState,
    /// Echoes received in the measured phase.
    messages: Cell<u64>,
    latency: RefCell<Histogram<u64>>,
    refill_ahead_fallbacks: Cell<u64>,
    /// Messages due at the offered rate but not sent (measured phase).
    missed: Cell<u64>,
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
    let target = Target::parse(&common.url)?;
    super::prepare(common)?;
    let opcode = if args.text {
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
    let payload = net::filler(size);
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
        refill_ahead: !args.no_refill_ahead && gap.is_none(),
        gap,
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
        });
        let progress = Progress::new(common, conns as u64, "");
        let tasks: Vec<_> = (0..conns)
            .map(|id| {
                let (config, shared) = (config.clone(), shared.clone());
                let (connector, target) = (connector.clone(), target.clone());
                tokio::task::spawn_local(async move {
                    if let Err(e) = drive(&config, &shared, &connector, &target).await {
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
        let secs = end.at.duration_since(start.at).as_secs_f64();
        report.elapsed_s = secs;
        report.msgs_per_s = messages as f64 / secs;
        report.deliveries_per_s = report.msgs_per_s;
        super::fill_latency(&shared.latency.borrow(), &mut report);
        if shared.refill_ahead_fallbacks.get() > 0 {
            eprintln!(
                "note: {} connections stopped refilling ahead (the server sent other frames)",
                shared.refill_ahead_fallbacks.get()
            );
        }
        Ok(report)
    })?;
    report.scenario = "ws-echo";
    report.transport = "websocket";
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

async fn drive(
    config: &Config,
    shared: &Shared,
    connector: &Connector,
    target: &Target,
) -> Result<(), String> {
    let mut stream = connector.connect().await?;
    let leftover = net::ws_handshake(&mut stream, target).await?;
    shared.run.set_ready();
    let mut conn = Connection {
        config,
        shared,
        stream,
        owed: 0,
        sent_at: VecDeque::with_capacity(2 * config.depth),
        buf: leftover,
        read_space: (2 * config.depth * (config.size + 14)).clamp(4096, 4 << 20),
        received: 0,
        fragmented: None,
        refill_ahead: config.refill_ahead,
        schedule: Instant::now(),
        scheduled: 0,
    };
    conn.top_up(0);
    conn.flush()?;
    let mut closing = false;
    loop {
        if shared.run.phase.get() == Phase::Done && !closing && conn.owed == 0 {
            // Close cleanly, then read until the server's close reply (or EOF).
            closing = true;
            let _ = conn.stream.write_all(&net::close_frame(MASK)).await;
        }
        let interest = match conn.owed > 0 {
            false => Interest::READABLE,
            true => Interest::READABLE | Interest::WRITABLE,
        };
        let ready = match conn.next_due() {
            Some(due) => tokio::select! {
                ready = conn.stream.ready(interest) => ready,
                () = tokio::time::sleep_until(due.into()) => {
                    conn.top_up(0);
                    conn.flush()?;
                    continue;
                }
            },
            None => conn.stream.ready(interest).await,
        }
        .map_err(|e| format!("poll: {e}"))?;
        if ready.is_writable() {
            conn.flush()?;
        }
        if (ready.is_readable() || ready.is_read_closed()) && conn.on_readable()? == Flow::Finished
        {
            return Ok(());
        }
    }
}

/// One connection's pipeline.
struct Connection<'a> {
    config: &'a Config,
    shared: &'a Shared,
    stream: TcpStream,
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
}

impl Connection<'_> {
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
        let room = (self.config.batch.len() - self.owed) / self.config.frame_len;
        let new = new.min(room);
        if new > 0 {
            self.sent_at
                .extend(std::iter::repeat_n(Instant::now(), new));
            self.owed += new * self.config.frame_len;
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
            let room = (self.config.batch.len() - self.owed) / self.config.frame_len;
            if self.sent_at.len() >= self.config.depth || room == 0 {
                if measuring {
                    bump(&self.shared.missed, 1);
                }
                continue;
            }
            self.sent_at.push_back(due);
            self.owed += self.config.frame_len;
        }
    }

    /// Writes as much of what is owed as the socket takes now.
    fn flush(&mut self) -> Result<(), String> {
        while self.owed > 0 {
            let batch = &self.config.batch;
            match self.stream.try_write(&batch[batch.len() - self.owed..]) {
                Ok(n) => self.owed -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        Ok(())
    }

    /// Handles read readiness: refill for the echoes waiting in the socket,
    /// read them all, check them, record their latency and top up again.
    fn on_readable(&mut self) -> Result<Flow, String> {
        let mut landed = 0;
        if self.refill_ahead && self.owed == 0 {
            landed = (self.buf.len() + sys::bytes_in_socket(&self.stream)?) / self.config.echo_len;
            self.top_up(landed);
            self.flush()?;
        }
        self.buf.reserve(self.read_space);
        let n = match sys::read_available(&self.stream, &mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flow::Continue),
            Err(e) => return Err(format!("read: {e}")),
        };
        let received_at = Instant::now();
        let in_flight = self.sent_at.len();
        let flow = self.parse(received_at)?;
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
            let sent = self
                .sent_at
                .pop_front()
                .ok_or("echo of a message that was never sent")?;
            all += 1;
            if measuring {
                super::record(&mut latency, sent, received_at);
                measured += 1;
            }
        }
        bump(&self.shared.messages, measured);
        bump(&self.shared.run.replies, all);
        // Drop what was parsed, keep a partial frame for the next read.
        if pos >= self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..pos);
        }
        Ok(flow)
    }
}
