//! The Socket.IO connection over WebSocket ([`WsConn`], also used by
//! `io-broadcast` in `broadcast.rs` and by `connections`) and the `io-echo`
//! scenario (event + ack round-trips, or `echo` events).
//!
//! Over WebSocket, every connection does the Socket.IO handshake by hand:
//! upgrade on `/socket.io/?EIO=4&transport=websocket`, the Engine.IO open
//! packet `0{..}`, then `40` and the server's `40{"sid":..}`; every Engine.IO
//! ping `2` is answered with `3`. Other events (such as `auth`) are ignored.
//! Writes are batched and wake-ups coalesced as in `ws-echo`. Long-polling
//! (`io-echo --transport polling`) is in `poll.rs`. `io-echo` also runs over
//! `wss://` and `https://` (`--ca`), with rustls: over WebSocket, the same
//! driver with the TLS stream's halves polled together (`duplex.rs`), as
//! `ws-echo` does.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::task::LocalSet;

use super::duplex::{Duplex, TlsDuplex, Wake};
use super::echo::{EchoChecker, EchoPipe, EchoShared};
use super::net::{self, Connector, Target, MAX_FRAME};
use super::pace::{check_rate, Pacer};
use super::tls::{self, Tls};
use super::wire::{classify, engine_target_any, parse_open, OpenInfo, Packet};
use super::{bounded, sys, IoEchoArgs, Phase, Progress, Report, RunState, Transport};

/// Connections start in waves of this many, 5 ms apart, so that the server's
/// listen backlog (511 on Node) never overflows.
pub const CONNECT_WAVE: usize = 100;

/// The room made in the input buffer before each read.
const READ_SPACE: usize = 64 * 1024;

/// One Socket.IO connection over WebSocket: stream, input buffer, output.
/// `S` is the `TcpStream` (readiness-driven, see `flush` and `ready`), a
/// TLS stream while connecting over `wss://`, or the [`TlsDuplex`] that
/// takes it over for the echo driver ([`WsConn::into_duplex`]).
pub struct WsConn<S = TcpStream> {
    pub stream: S,
    pub mask: [u8; 4],
    buf: Vec<u8>,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    out_pos: usize,
    /// Engine.IO pings answered.
    pub pings: u64,
    /// Settings of the open packet.
    pub open: OpenInfo,
}

impl WsConn {
    /// Connects, upgrades, and joins namespace `/`.
    pub async fn connect(
        connector: &Connector,
        target: &Target,
        id: usize,
    ) -> Result<WsConn, String> {
        WsConn::over(connector.connect().await?, target, id).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsConn<S> {
    /// Upgrades `stream` (connected to `target`, TLS done if any) and
    /// joins namespace `/`.
    pub async fn over(mut stream: S, target: &Target, id: usize) -> Result<WsConn<S>, String> {
        let leftover = net::ws_handshake(&mut stream, target).await?;
        let mask = (id as u32 ^ 0x5A5A_A5A5)
            .wrapping_mul(0x9E37_79B9)
            .to_le_bytes();
        let mut conn = WsConn {
            stream,
            mask,
            buf: leftover,
            out: Vec::new(),
            out_pos: 0,
            pings: 0,
            open: OpenInfo::default(),
        };
        let mut opened = None;
        while opened.is_none() {
            conn.parse(|p| {
                if let Packet::Open(p) = p {
                    opened = Some(parse_open(p)?.1);
                }
                Ok(())
            })?;
            if opened.is_none() {
                conn.read_more().await?;
            }
        }
        conn.open = opened.unwrap_or_default();
        conn.queue_text(b"40");
        conn.flush_all().await?;
        let mut joined = false;
        while !joined {
            conn.parse(|p| {
                joined |= p == Packet::Connected;
                Ok(())
            })?;
            if !joined {
                conn.read_more().await?;
            }
        }
        conn.flush_all().await?;
        Ok(conn)
    }

    /// Writes everything queued (async).
    pub async fn flush_all(&mut self) -> Result<(), String> {
        let pending = self.out.get(self.out_pos..).unwrap_or_default();
        self.stream
            .write_all(pending)
            .await
            .map_err(|e| format!("write: {e}"))?;
        self.stream
            .flush()
            .await
            .map_err(|e| format!("write: {e}"))?;
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    /// Waits (async) for more input.
    pub async fn read_more(&mut self) -> Result<(), String> {
        self.buf.reserve(4096);
        let n = self
            .stream
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("server closed the connection".into());
        }
        Ok(())
    }

    /// The connection, its stream taken over by a [`Duplex`] (for the
    /// echo driver).
    pub fn into_duplex<D: Duplex<Stream = S>>(self) -> WsConn<D> {
        let WsConn {
            stream,
            mask,
            buf,
            out,
            out_pos,
            pings,
            open,
        } = self;
        WsConn {
            stream: D::new(stream),
            mask,
            buf,
            out,
            out_pos,
            pings,
            open,
        }
    }
}

impl<S> WsConn<S> {
    /// Queues a masked text frame.
    pub fn queue_text(&mut self, text: &[u8]) {
        net::push_masked_frame(&mut self.out, net::OP_TEXT, text, self.mask);
    }

    /// Queues raw bytes (a frame built elsewhere).
    pub fn queue_raw(&mut self, frame: &[u8]) {
        self.out.extend_from_slice(frame);
    }

    /// Whether some output is not written yet.
    pub fn output_pending(&self) -> bool {
        self.out_pos < self.out.len()
    }

    /// Parses every complete frame in the input, answers pings (queued), and
    /// hands every other packet to `on_packet`. Returns `false` when the
    /// server closed the WebSocket.
    pub fn parse(
        &mut self,
        mut on_packet: impl FnMut(Packet<'_>) -> Result<(), String>,
    ) -> Result<bool, String> {
        let mut pos = 0;
        let mut pings = 0;
        let mut open = true;
        while let Some(head) = net::parse_frame(self.buf.get(pos..).unwrap_or_default(), MAX_FRAME)?
        {
            let payload = self
                .buf
                .get(pos + head.header_len..pos + head.total_len())
                .unwrap_or_default();
            pos += head.total_len();
            if !head.fin || head.opcode == net::OP_CONTINUATION {
                return Err("fragmented messages are not expected".into());
            }
            match head.opcode {
                net::OP_CLOSE => {
                    open = false;
                    break;
                }
                net::OP_PING | net::OP_PONG => continue,
                net::OP_BINARY => return Err("unexpected binary message".into()),
                _ => {}
            }
            match classify(payload)? {
                Packet::Ping => pings += 1,
                packet => on_packet(packet)?,
            }
        }
        if pos >= self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..pos);
        }
        for _ in 0..pings {
            self.queue_text(b"3");
        }
        self.pings += pings;
        Ok(open)
    }

    /// Takes note that the first `n` bytes of what was not written yet left.
    fn written(&mut self, n: usize) {
        self.out_pos += n;
        if !self.output_pending() {
            self.out.clear();
            self.out_pos = 0;
        }
    }
}

impl<D: Duplex> WsConn<D> {
    /// Writes as much as the socket takes now (over TLS, the writes happen
    /// while waiting instead).
    pub fn flush(&mut self) -> Result<(), String> {
        while self.output_pending() {
            let unwritten = self.out.get(self.out_pos..).unwrap_or_default();
            match self.stream.write_now(unwritten)? {
                0 => break,
                n => self.written(n),
            }
        }
        Ok(())
    }
}

impl WsConn {
    /// One non-blocking `recv` of what the socket holds; `Ok(0)` is EOF.
    pub fn read_available(&mut self) -> io::Result<usize> {
        self.buf.reserve(READ_SPACE);
        sys::read_available(&self.stream, &mut self.buf)
    }

    /// Waits for readiness (read, and write while output is pending).
    pub async fn ready(&self) -> Result<tokio::io::Ready, String> {
        let interest = match self.output_pending() {
            false => Interest::READABLE,
            true => Interest::READABLE | Interest::WRITABLE,
        };
        self.stream
            .ready(interest)
            .await
            .map_err(|e| format!("poll: {e}"))
    }
}

// ---- io-echo -----------------------------------------------------------------

/// Runs `io-echo`.
pub fn run_echo(args: IoEchoArgs) -> Result<Report, String> {
    let common = &args.common;
    let conns = bounded("conns", args.conns, super::MAX_CONNS)?;
    let depth = bounded("depth", args.depth, super::MAX_DEPTH)?;
    if args.size > MAX_FRAME / 2 {
        return Err(format!("--size must be at most {}", MAX_FRAME / 2));
    }
    let rate = args.rate.map(check_rate).transpose()?;
    let target = engine_target_any(&common.url, args.transport)?;
    let tls = tls::for_target(&target, common.ca.as_deref())?.map(Rc::new);
    if rate.is_some() && tls.is_some() {
        return Err("--rate is not supported over TLS (yet)".into());
    }
    super::prepare(common)?;
    let runtime = super::runtime(common.coalesce_us)?;
    let mut report = LocalSet::new().block_on(&runtime, async {
        let connector = Rc::new(Connector::new(&target, common.source_addrs).await?);
        let shared = Rc::new(EchoShared {
            run: RunState::new(),
            messages: Cell::new(0),
            pings: Cell::new(0),
            latency: RefCell::new(super::histogram()?),
            missed: Cell::new(0),
        });
        let progress = Progress::new(common, conns as u64, "");
        // One schedule for all: connection `id` is stream `id` of `conns`.
        let epoch = Instant::now();
        let tasks: Vec<_> = (0..conns)
            .map(|id| {
                let (shared, connector, target, tls) = (
                    shared.clone(),
                    connector.clone(),
                    target.clone(),
                    tls.clone(),
                );
                let (reply, size, transport) = (args.reply, args.size, args.transport);
                let pacer = rate.map(|rate| Pacer::new(epoch, rate, conns, id));
                tokio::task::spawn_local(async move {
                    tokio::time::sleep(Duration::from_millis(5 * (id / CONNECT_WAVE) as u64)).await;
                    let checker = EchoChecker::new(reply, net::filler(size));
                    let pipe = EchoPipe::new(checker, depth);
                    let result = match (transport, tls.as_deref()) {
                        (Transport::Websocket, tls) => {
                            echo_ws(&shared, &connector, &target, tls, id, pipe, pacer).await
                        }
                        (Transport::Polling, tls) => {
                            super::poll::echo(&shared, &connector, &target, tls, pipe, pacer).await
                        }
                    };
                    if let Err(e) = result {
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
            return Err("no reply received during the measured phase".to_string());
        }
        let mut report = Report {
            messages,
            deliveries: messages,
            pings: shared.pings.get(),
            rate,
            missed: rate.map(|_| shared.missed.get()),
            ..Report::default()
        };
        start.fill(&end, messages, &mut report)?;
        report.msgs_per_s = messages as f64 / report.elapsed_s;
        report.deliveries_per_s = report.msgs_per_s;
        super::fill_latency(&shared.latency.borrow(), &mut report);
        Ok(report)
    })?;
    report.scenario = "io-echo";
    report.transport = match (args.transport, target.tls) {
        (Transport::Websocket, true) => "wss",
        (Transport::Polling, true) => "https-polling",
        (transport, false) => transport.name(),
    };
    fill_common(&mut report, common, conns, args.size, depth, &args.timing);
    Ok(report)
}

/// Fills the fields of `report` that come from the arguments.
pub fn fill_common(
    report: &mut Report,
    common: &super::Common,
    conns: usize,
    size: usize,
    depth: usize,
    timing: &super::Timing,
) {
    report.label = common.label.clone();
    report.round = common.round;
    report.url = common.url.clone();
    report.conns = conns;
    report.size = size;
    report.depth = depth;
    report.source_addrs = common.source_addrs;
    report.coalesce_us = common.coalesce_us;
    report.warmup_s = timing.warmup;
    report.duration_s = timing.duration;
}

/// `io-echo` over WebSocket, plain or TLS: connects, then keeps `depth`
/// messages in flight or, with a `pacer` (`--rate`, plain only), sends each
/// message when it falls due.
async fn echo_ws(
    shared: &EchoShared,
    connector: &Connector,
    target: &Target,
    tls: Option<&Tls>,
    id: usize,
    pipe: EchoPipe,
    pacer: Option<Pacer>,
) -> Result<(), String> {
    let tcp = connector.connect().await?;
    match tls {
        None => echo_over::<TcpStream>(shared, target, tcp, id, pipe, pacer).await,
        Some(tls) => {
            let stream = tls.connect(tcp).await?;
            echo_over::<TlsDuplex>(shared, target, stream, id, pipe, pacer).await
        }
    }
}

/// The echo driver of [`echo_ws`], over the stream `D` (see [`Duplex`]).
async fn echo_over<D: Duplex>(
    shared: &EchoShared,
    target: &Target,
    stream: D::Stream,
    id: usize,
    mut pipe: EchoPipe,
    mut pacer: Option<Pacer>,
) -> Result<(), String> {
    let mut conn = WsConn::over(stream, target, id).await?.into_duplex::<D>();
    shared.run.set_ready();
    if let Some(pacer) = &mut pacer {
        // The messages that fell due while this connection was opening are
        // not owed.
        pacer.skip_to(Instant::now());
    }
    let mask = conn.mask;
    let mut frames = Vec::new();
    refill(shared, &mut pipe, pacer.as_mut(), &mut frames, mask);
    conn.queue_raw(&frames);
    conn.flush()?;
    let mut closing = false;
    let pings_before = conn.pings;
    let result = loop {
        if shared.run.phase.get() == Phase::Done && !closing && !conn.output_pending() {
            closing = true;
            conn.stream.close(&net::close_frame(mask)).await;
        }
        let due = pacer
            .as_ref()
            .filter(|_| shared.run.phase.get() != Phase::Done)
            .map(Pacer::next_due);
        let unwritten = conn.out.get(conn.out_pos..).unwrap_or_default();
        let wake = conn
            .stream
            .wait(&mut conn.buf, READ_SPACE, unwritten, due)
            .await?;
        let n = match wake {
            Wake::Due => {
                refill(shared, &mut pipe, pacer.as_mut(), &mut frames, mask);
                conn.queue_raw(&frames);
                conn.flush()?;
                continue;
            }
            Wake::Wrote(n) => {
                conn.written(n);
                continue;
            }
            Wake::Flushed => continue,
            Wake::Closed => break Ok(()),
            Wake::Ready { writable, readable } => {
                if writable {
                    conn.flush()?;
                }
                if !readable {
                    continue;
                }
                conn.buf.reserve(READ_SPACE);
                match conn.stream.read_now(&mut conn.buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => break Err(format!("read: {e}")),
                }
            }
            Wake::Read(n) => n,
        };
        let received_at = Instant::now();
        let handle = shared.handle();
        let open = conn.parse(|p| pipe.on_packet(&p, &handle, received_at))?;
        if !open || n == 0 {
            break match shared.run.phase.get() {
                Phase::Done => Ok(()),
                _ => Err("server closed the connection".into()),
            };
        }
        refill(shared, &mut pipe, pacer.as_mut(), &mut frames, mask);
        conn.queue_raw(&frames);
        conn.flush()?;
    };
    shared.add_pings(conn.pings - pings_before);
    result
}

/// Puts in `frames` (cleared first) the messages owed now: enough to have
/// `depth` in flight or, with a pacer, those due by now (those due while
/// `depth` are in flight are missed, and counted in the measured phase).
fn refill(
    shared: &EchoShared,
    pipe: &mut EchoPipe,
    pacer: Option<&mut Pacer>,
    frames: &mut Vec<u8>,
    mask: [u8; 4],
) {
    frames.clear();
    let phase = shared.run.phase.get();
    pipe.owed(shared, phase, pacer, |p| {
        net::push_masked_frame(frames, net::OP_TEXT, p, mask)
    });
}
