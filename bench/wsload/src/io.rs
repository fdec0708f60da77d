//! Socket.IO scenarios over the Engine.IO v4 WebSocket transport:
//!
//! * `io-echo`: every connection keeps `--depth` `echo` events in flight and
//!   counts the `echo` events the server sends back (throughput, latency,
//!   server CPU per echo);
//! * `io-broadcast`: `--conns` receivers; connection 0 also sends `broadcast`
//!   events, keeping `--window` of them in flight: a new one is sent as soon
//!   as the oldest has reached every receiver (closed loop, so the server is
//!   never idle and the generator never floods it). Deliveries per second,
//!   latency from the send to the LAST receiver, server CPU per delivery;
//! * `io-report`: Markdown tables of medians from the JSON lines of many runs.
//!
//! Every connection does the Socket.IO handshake by hand: WebSocket upgrade on
//! `/socket.io/?EIO=4&transport=websocket`, the Engine.IO open packet `0{..}`,
//! then `40` and the server's `40{"sid":..}`; every Engine.IO ping `2` is
//! answered with `3` (the servers ping every 300 ms). Other events (such as
//! `auth`) are ignored.
//!
//! Batching as in `echo`: frames are masked once per connection, all output
//! owed is written with one `write`, every complete frame is parsed out of
//! each `recv`, and the runtime coalesces wake-ups (`--coalesce-us`). Unlike
//! `echo`, there is no refill-ahead from `FIONREAD` (pings interleave with the
//! replies, so the byte count does not map to a number of echoes).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::LocalSet;

use crate::args::Args;
use crate::echo::seconds;
use crate::procfs;
use crate::ws::{self, Target};

/// One reply in 16 is compared byte for byte with the expected packet.
const CONTENT_CHECK_EVERY: u64 = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Connections start in waves of this many, 5 ms apart, so that the server's
/// listen backlog (511 on Node) never overflows.
const CONNECT_WAVE: usize = 100;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Echo,
    Broadcast,
}

struct Config {
    mode: Mode,
    target: Target,
    server_pid: u32,
    conns: usize,
    size: usize,
    /// Echo: messages in flight per connection. Broadcast: broadcasts in flight.
    depth: usize,
    warmup: Duration,
    duration: Duration,
    coalesce: Duration,
    label: String,
    round: u32,
}

#[derive(Serialize)]
struct IoReport {
    mode: &'static str,
    label: String,
    round: u32,
    url: String,
    conns: usize,
    size: usize,
    /// Echo: pipeline depth per connection; broadcast: broadcasts in flight.
    depth: usize,
    coalesce_us: u64,
    warmup_s: f64,
    duration_s: f64,
    elapsed_s: f64,
    /// Echo: echoes received. Broadcast: broadcasts that reached every receiver.
    messages: u64,
    msgs_per_s: f64,
    /// Events received that count for the CPU figures (echoes, or broadcast
    /// deliveries to single receivers).
    deliveries: u64,
    deliveries_per_s: f64,
    /// Echo: send to echo. Broadcast: send to delivery to the last receiver.
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
    server_cpu_s: f64,
    /// Server CPU per delivery (per echo, or per broadcast delivery).
    server_cpu_us_per_msg: f64,
    gen_cpu_s: f64,
    gen_cpu_us_per_msg: f64,
    server_cpu_util: f64,
    gen_cpu_util: f64,
    other_cpu_util: f64,
    /// Engine.IO pings answered during the whole run.
    pings: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    Done,
}

/// A broadcast on its way: when it was sent and how many receivers still
/// have to get it.
struct InFlight {
    sent_at: Instant,
    missing: usize,
}

struct Shared {
    phase: Cell<Phase>,
    connected: Cell<usize>,
    /// Connections that completed the Socket.IO handshake (`40{..}` received).
    joined: Cell<usize>,
    messages: Cell<u64>,
    deliveries: Cell<u64>,
    pings: Cell<u64>,
    latency: RefCell<Histogram<u64>>,
    failure: RefCell<Option<String>>,
    progress: Notify,
    /// Broadcast: sequence number of `in_flight[0]`.
    first_seq: Cell<u64>,
    in_flight: RefCell<VecDeque<InFlight>>,
    /// Broadcast: broadcasts completed, which the sender must replace.
    to_send: Cell<usize>,
    /// Wakes the sender when `to_send` grows.
    send_wake: Notify,
}

impl Shared {
    fn fail(&self, message: String) {
        self.failure.borrow_mut().get_or_insert(message);
        self.progress.notify_one();
    }

    fn check(&self) -> Result<(), String> {
        match &*self.failure.borrow() {
            None => Ok(()),
            Some(message) => Err(message.clone()),
        }
    }
}

pub fn echo_main(args: Args) -> Result<(), String> {
    main(args, Mode::Echo)
}

pub fn broadcast_main(args: Args) -> Result<(), String> {
    main(args, Mode::Broadcast)
}

fn main(mut args: Args, mode: Mode) -> Result<(), String> {
    let json = args.flag("json")?;
    let (default_conns, default_depth) = match mode {
        Mode::Echo => (100, 1),
        Mode::Broadcast => (1000, 4),
    };
    let depth_name = match mode {
        Mode::Echo => "depth",
        Mode::Broadcast => "window",
    };
    let config = Config {
        mode,
        target: socket_io_target(&args.required::<String>("url")?)?,
        server_pid: args.required("server-pid")?,
        conns: args.or("conns", default_conns)?,
        size: args.or("size", 64)?,
        depth: args.or(depth_name, default_depth)?,
        warmup: seconds(args.or("warmup", 2.0)?)?,
        duration: seconds(args.or("duration", 5.0)?)?,
        coalesce: Duration::from_micros(args.or("coalesce-us", 50)?),
        label: args.or("label", String::new())?,
        round: args.or("round", 0)?,
    };
    args.finish()?;
    if config.conns == 0 || config.depth == 0 || config.duration.is_zero() {
        return Err(format!(
            "--conns, --{depth_name} and --duration must be positive"
        ));
    }
    if mode == Mode::Broadcast && config.size < 10 {
        return Err("--size must be at least 10 (the payload carries a sequence number)".into());
    }
    crate::raise_fd_limit();
    procfs::check_alive(config.server_pid)?;
    let runtime = crate::runtime(config.coalesce)?;
    let report = LocalSet::new().block_on(&runtime, run(Rc::new(config)))?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
        eprintln!("{}", summary(&report));
    } else {
        println!("{}", summary(&report));
    }
    Ok(())
}

/// `ws://HOST:PORT[/PATH]` to the Engine.IO WebSocket URL: the path defaults
/// to `/socket.io/`, and the query `EIO=4&transport=websocket` is added.
fn socket_io_target(url: &str) -> Result<Target, String> {
    let mut target = Target::parse(url)?;
    if target.path == "/" {
        target.path = "/socket.io/".into();
    }
    if !target.path.contains('?') {
        target.path.push_str("?EIO=4&transport=websocket");
    }
    Ok(target)
}

async fn run(config: Rc<Config>) -> Result<IoReport, String> {
    let shared = Rc::new(Shared {
        phase: Cell::new(Phase::Warmup),
        connected: Cell::new(0),
        joined: Cell::new(0),
        messages: Cell::new(0),
        deliveries: Cell::new(0),
        pings: Cell::new(0),
        latency: RefCell::new(
            Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())?,
        ),
        failure: RefCell::new(None),
        progress: Notify::new(),
        first_seq: Cell::new(0),
        in_flight: RefCell::new(VecDeque::new()),
        to_send: Cell::new(0),
        send_wake: Notify::new(),
    });
    let tasks: Vec<_> = (0..config.conns)
        .map(|id| tokio::task::spawn_local(connection(config.clone(), shared.clone(), id)))
        .collect();

    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    while shared.joined.get() < config.conns {
        shared.check()?;
        tokio::time::timeout_at(deadline, shared.progress.notified())
            .await
            .map_err(|_| {
                format!(
                    "only {} of {} connections joined in {CONNECT_TIMEOUT:?} ({} upgraded)",
                    shared.joined.get(),
                    config.conns,
                    shared.connected.get()
                )
            })?;
    }
    if config.mode == Mode::Broadcast {
        // Everybody has joined: the sender may start.
        shared.to_send.set(config.depth);
        shared.send_wake.notify_one();
    }

    sleep_unless_failed(&shared, config.warmup).await?;

    let server_cpu_start = procfs::cpu_time(Some(config.server_pid))?;
    let gen_cpu_start = procfs::cpu_time(None)?;
    let machine_busy_start = procfs::machine_busy()?;
    let start = Instant::now();
    shared.phase.set(Phase::Measure);

    sleep_unless_failed(&shared, config.duration).await?;

    shared.phase.set(Phase::Done);
    let elapsed = start.elapsed();
    let machine_busy = procfs::machine_busy()?.saturating_sub(machine_busy_start);
    let gen_cpu = procfs::cpu_time(None)? - gen_cpu_start;
    let server_cpu = procfs::cpu_time(Some(config.server_pid))?
        .checked_sub(server_cpu_start)
        .ok_or("server CPU time went backwards (was the server restarted?)")?;
    shared.send_wake.notify_one();

    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        for task in tasks {
            let _ = task.await;
        }
    })
    .await;

    let messages = shared.messages.get();
    let deliveries = shared.deliveries.get();
    if messages == 0 || deliveries == 0 {
        return Err("nothing received during the measured phase".into());
    }
    let latency = shared.latency.borrow();
    let us = |quantile: f64| latency.value_at_quantile(quantile) as f64 / 1e3;
    let per_delivery_us = |cpu: Duration| cpu.as_secs_f64() * 1e6 / deliveries as f64;
    let secs = elapsed.as_secs_f64();
    Ok(IoReport {
        mode: match config.mode {
            Mode::Echo => "io-echo",
            Mode::Broadcast => "io-broadcast",
        },
        label: config.label.clone(),
        round: config.round,
        url: format!("ws://{}{}", config.target.authority, config.target.path),
        conns: config.conns,
        size: config.size,
        depth: config.depth,
        coalesce_us: config.coalesce.as_micros() as u64,
        warmup_s: config.warmup.as_secs_f64(),
        duration_s: config.duration.as_secs_f64(),
        elapsed_s: secs,
        messages,
        msgs_per_s: messages as f64 / secs,
        deliveries,
        deliveries_per_s: deliveries as f64 / secs,
        p50_us: us(0.5),
        p99_us: us(0.99),
        p999_us: us(0.999),
        max_us: latency.max() as f64 / 1e3,
        server_cpu_s: server_cpu.as_secs_f64(),
        server_cpu_us_per_msg: per_delivery_us(server_cpu),
        gen_cpu_s: gen_cpu.as_secs_f64(),
        gen_cpu_us_per_msg: per_delivery_us(gen_cpu),
        server_cpu_util: server_cpu.as_secs_f64() / secs,
        gen_cpu_util: gen_cpu.as_secs_f64() / secs,
        other_cpu_util: (machine_busy.as_secs_f64()
            - server_cpu.as_secs_f64()
            - gen_cpu.as_secs_f64())
            / secs,
        pings: shared.pings.get(),
    })
}

async fn sleep_unless_failed(shared: &Shared, duration: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + duration;
    loop {
        shared.check()?;
        if tokio::time::timeout_at(deadline, shared.progress.notified())
            .await
            .is_err()
        {
            return shared.check();
        }
    }
}

async fn connection(config: Rc<Config>, shared: Rc<Shared>, id: usize) {
    if let Err(e) = drive(&config, &shared, id).await {
        if shared.phase.get() != Phase::Done {
            shared.fail(format!("connection {id}: {e}"));
        }
    }
}

/// What the parser found in one Socket.IO packet.
enum Packet<'a> {
    /// An event: the whole packet text (`42[...]`).
    Event(&'a [u8]),
    /// Any other packet (Engine.IO open `0{..}`, Socket.IO connect `40{..}`...).
    Other(&'a [u8]),
}

/// One Socket.IO connection: stream, input buffer, pending output.
struct Conn {
    stream: TcpStream,
    mask: [u8; 4],
    buf: Vec<u8>,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    out_pos: usize,
    pong: Vec<u8>,
    read_space: usize,
}

impl Conn {
    fn queue(&mut self, frame: &[u8]) {
        self.out.extend_from_slice(frame);
    }

    fn queue_text(&mut self, text: &[u8]) {
        let frame = ws::masked_frame(ws::OP_TEXT, text, self.mask);
        self.queue(&frame);
    }

    fn output_pending(&self) -> bool {
        self.out_pos < self.out.len()
    }

    fn flush(&mut self) -> Result<(), String> {
        while self.output_pending() {
            match self.stream.try_write(&self.out[self.out_pos..]) {
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        if !self.output_pending() {
            self.out.clear();
            self.out_pos = 0;
        }
        Ok(())
    }

    /// Waits (async) for more input; for the handshake only.
    async fn read_more(&mut self) -> Result<(), String> {
        self.buf.reserve(4096);
        let n = self
            .stream
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("server closed the connection during the handshake".into());
        }
        Ok(())
    }

    /// Parses every complete frame in `buf`, answers pings, and hands each
    /// Socket.IO packet to `on_packet`. Returns `false` when the server
    /// closed the WebSocket.
    fn parse(
        &mut self,
        shared: &Shared,
        mut on_packet: impl FnMut(Packet<'_>) -> Result<(), String>,
    ) -> Result<bool, String> {
        let mut pos = 0;
        let mut pongs = 0;
        let mut open = true;
        while let Some(head) = ws::parse_frame(&self.buf[pos..])? {
            let payload = &self.buf[pos + head.header_len..pos + head.total_len()];
            pos += head.total_len();
            if !head.fin || head.opcode == ws::OP_CONTINUATION {
                return Err("fragmented messages are not expected".into());
            }
            match head.opcode {
                ws::OP_CLOSE => {
                    open = false;
                    break;
                }
                ws::OP_PING | ws::OP_PONG => continue,
                ws::OP_BINARY => return Err("unexpected binary message".into()),
                _ => {}
            }
            match payload {
                b"2" => pongs += 1,
                [b'4', b'2', ..] => on_packet(Packet::Event(payload))?,
                [b'4', b'1', ..] => return Err("server disconnected the namespace".into()),
                [b'4', b'4', ..] => {
                    return Err(format!(
                        "connect error: {}",
                        String::from_utf8_lossy(payload)
                    ))
                }
                [b'1', ..] => return Err("server closed the Engine.IO session".into()),
                _ => on_packet(Packet::Other(payload))?,
            }
        }
        if pos == self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..pos);
        }
        if pongs > 0 {
            shared.pings.set(shared.pings.get() + pongs);
            let pong = std::mem::take(&mut self.pong);
            for _ in 0..pongs {
                self.queue(&pong);
            }
            self.pong = pong;
        }
        Ok(open)
    }

    /// One non-blocking `recv` into `buf`; `Ok(0)` is end of stream.
    fn read_available(&mut self) -> io::Result<usize> {
        self.buf.reserve(self.read_space);
        let buf = &mut self.buf;
        let stream = &self.stream;
        let mut got = 0;
        let result = stream.try_io(Interest::READABLE, || {
            use std::os::fd::AsRawFd;
            let spare = buf.spare_capacity_mut();
            let space = spare.len();
            // SAFETY: recv writes at most `space` bytes into the spare capacity.
            let n = unsafe { libc::recv(stream.as_raw_fd(), spare.as_mut_ptr().cast(), space, 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            got = n as usize;
            // SAFETY: recv initialised the first `got` bytes of the spare capacity.
            unsafe { buf.set_len(buf.len() + got) };
            match got {
                n if n > 0 && n < space => Err(io::ErrorKind::WouldBlock.into()),
                n => Ok(n),
            }
        });
        match result {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
            other => other,
        }
    }
}

/// Upgrade, Engine.IO open packet, Socket.IO connect to `/`.
async fn handshake(config: &Config, shared: &Shared, id: usize) -> Result<Conn, String> {
    tokio::time::sleep(Duration::from_millis(5 * (id / CONNECT_WAVE) as u64)).await;
    let (stream, leftover) = ws::connect(&config.target).await?;
    shared.connected.set(shared.connected.get() + 1);
    let mask = (id as u32 ^ 0x5A5A_A5A5)
        .wrapping_mul(0x9E37_79B9)
        .to_le_bytes();
    let mut conn = Conn {
        stream,
        mask,
        buf: leftover,
        out: Vec::new(),
        out_pos: 0,
        pong: ws::masked_frame(ws::OP_TEXT, b"3", mask),
        read_space: 64 * 1024,
    };
    // Engine.IO open packet `0{...}`.
    let mut opened = false;
    while !opened {
        conn.parse(shared, |p| match p {
            Packet::Other(packet) if packet.starts_with(b"0{") => {
                opened = true;
                Ok(())
            }
            Packet::Other(packet) => Err(format!(
                "expected the Engine.IO open packet, got {:?}",
                String::from_utf8_lossy(packet)
            )),
            Packet::Event(_) => Ok(()),
        })?;
        if !opened {
            conn.read_more().await?;
        }
    }
    // Socket.IO connect to `/`, answered by `40{"sid":..}`.
    conn.queue_text(b"40");
    conn.stream
        .write_all(&conn.out)
        .await
        .map_err(|e| format!("send 40: {e}"))?;
    conn.out.clear();
    let mut joined = false;
    while !joined {
        conn.parse(shared, |p| {
            if let Packet::Other(packet) = p {
                if packet.starts_with(b"40") {
                    joined = true;
                }
            }
            Ok(())
        })?;
        if !joined {
            conn.read_more().await?;
        }
    }
    conn.flush()?;
    shared.joined.set(shared.joined.get() + 1);
    shared.progress.notify_one();
    Ok(conn)
}

async fn drive(config: &Config, shared: &Shared, id: usize) -> Result<(), String> {
    let mut conn = handshake(config, shared, id).await?;
    match config.mode {
        Mode::Echo => drive_echo(config, shared, &mut conn).await,
        Mode::Broadcast => drive_broadcast(config, shared, &mut conn, id == 0).await,
    }
}

fn filler(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// `42["EVENT","PAYLOAD"]`.
fn event_packet(event: &str, payload: &[u8]) -> Vec<u8> {
    let mut packet = format!("42[\"{event}\",\"").into_bytes();
    packet.extend_from_slice(payload);
    packet.extend_from_slice(b"\"]");
    packet
}

async fn drive_echo(config: &Config, shared: &Shared, conn: &mut Conn) -> Result<(), String> {
    let payload = filler(config.size);
    let frame = ws::masked_frame(ws::OP_TEXT, &event_packet("echo", &payload), conn.mask);
    let expected = event_packet("echo", &payload);
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(config.depth);
    let mut received = 0u64;
    let top_up = |conn: &mut Conn, sent_at: &mut VecDeque<Instant>| {
        if shared.phase.get() == Phase::Done {
            return;
        }
        let now = Instant::now();
        while sent_at.len() < config.depth {
            sent_at.push_back(now);
            conn.queue(&frame);
        }
    };
    top_up(conn, &mut sent_at);
    conn.flush()?;
    let mut closing = false;
    loop {
        if shared.phase.get() == Phase::Done && !closing && !conn.output_pending() {
            closing = true;
            let _ = conn.stream.write_all(&ws::close_frame(conn.mask)).await;
        }
        let interest = match conn.output_pending() {
            false => Interest::READABLE,
            true => Interest::READABLE | Interest::WRITABLE,
        };
        let ready = conn
            .stream
            .ready(interest)
            .await
            .map_err(|e| format!("poll: {e}"))?;
        if ready.is_writable() {
            conn.flush()?;
        }
        if !(ready.is_readable() || ready.is_read_closed()) {
            continue;
        }
        let n = match conn.read_available() {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(format!("read: {e}")),
        };
        let received_at = Instant::now();
        let measuring = shared.phase.get() == Phase::Measure;
        let mut measured = 0;
        let open = {
            let mut latency = shared.latency.borrow_mut();
            conn.parse(shared, |p| {
                let Packet::Event(packet) = p else {
                    return Ok(());
                };
                if !packet.starts_with(b"42[\"echo\"") {
                    return Ok(()); // another event (`auth`...)
                }
                if packet.len() != expected.len() {
                    return Err(format!(
                        "echo packet of {} bytes, expected {}",
                        packet.len(),
                        expected.len()
                    ));
                }
                received += 1;
                if received % CONTENT_CHECK_EVERY == 1 && packet != expected.as_slice() {
                    return Err(format!(
                        "unexpected echo {:?}",
                        String::from_utf8_lossy(packet)
                    ));
                }
                let sent = sent_at
                    .pop_front()
                    .ok_or("echo of a message that was never sent")?;
                if measuring {
                    let nanos = received_at.saturating_duration_since(sent).as_nanos();
                    latency.saturating_record(u64::try_from(nanos).unwrap_or(u64::MAX));
                    measured += 1;
                }
                Ok(())
            })?
        };
        shared.messages.set(shared.messages.get() + measured);
        shared.deliveries.set(shared.deliveries.get() + measured);
        if !open || n == 0 {
            return match shared.phase.get() {
                Phase::Done => Ok(()),
                _ => Err("server closed the connection".into()),
            };
        }
        top_up(conn, &mut sent_at);
        conn.flush()?;
    }
}

/// Payload of broadcast `seq`: the sequence number in 10 digits, then filler.
fn broadcast_payload(seq: u64, size: usize) -> Vec<u8> {
    let mut payload = format!("{seq:010}").into_bytes();
    payload.extend(filler(size - 10).iter());
    payload
}

async fn drive_broadcast(
    config: &Config,
    shared: &Shared,
    conn: &mut Conn,
    sender: bool,
) -> Result<(), String> {
    const PREFIX: &[u8] = b"42[\"broadcast\",\"";
    let packet_len = event_packet("broadcast", &filler(config.size)).len();
    let mut next_seq = 0u64;
    let mut received = 0u64;
    let mut closing = false;
    loop {
        if sender && shared.phase.get() != Phase::Done {
            let now = Instant::now();
            let mut in_flight = shared.in_flight.borrow_mut();
            for _ in 0..shared.to_send.replace(0) {
                let payload = broadcast_payload(next_seq, config.size);
                in_flight.push_back(InFlight {
                    sent_at: now,
                    missing: config.conns,
                });
                next_seq += 1;
                conn.queue_text(&event_packet("broadcast", &payload));
            }
            drop(in_flight);
            conn.flush()?;
        }
        if shared.phase.get() == Phase::Done && !closing && !conn.output_pending() {
            closing = true;
            let _ = conn.stream.write_all(&ws::close_frame(conn.mask)).await;
        }
        let interest = match conn.output_pending() {
            false => Interest::READABLE,
            true => Interest::READABLE | Interest::WRITABLE,
        };
        let ready = if sender && !closing {
            tokio::select! {
                ready = conn.stream.ready(interest) => ready,
                () = shared.send_wake.notified() => continue,
            }
        } else {
            conn.stream.ready(interest).await
        }
        .map_err(|e| format!("poll: {e}"))?;
        if ready.is_writable() {
            conn.flush()?;
        }
        if !(ready.is_readable() || ready.is_read_closed()) {
            continue;
        }
        let n = match conn.read_available() {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(format!("read: {e}")),
        };
        let received_at = Instant::now();
        let measuring = shared.phase.get() == Phase::Measure;
        let mut measured = 0;
        let open = conn.parse(shared, |p| {
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
            let seq: u64 = std::str::from_utf8(&packet[PREFIX.len()..PREFIX.len() + 10])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("broadcast without a sequence number")?;
            received += 1;
            if received % CONTENT_CHECK_EVERY == 1
                && packet != event_packet("broadcast", &broadcast_payload(seq, config.size))
            {
                return Err(format!(
                    "unexpected broadcast {:?}",
                    String::from_utf8_lossy(packet)
                ));
            }
            if measuring {
                measured += 1;
            }
            let first = shared.first_seq.get();
            let mut in_flight = shared.in_flight.borrow_mut();
            let entry = seq
                .checked_sub(first)
                .and_then(|i| in_flight.get_mut(i as usize))
                .ok_or_else(|| format!("broadcast {seq} delivered twice or never sent"))?;
            entry.missing -= 1;
            // Retire completed broadcasts in order (one window's worth at most).
            while in_flight.front().is_some_and(|f| f.missing == 0) {
                let done = in_flight.pop_front().expect("front exists");
                shared.first_seq.set(shared.first_seq.get() + 1);
                shared.to_send.set(shared.to_send.get() + 1);
                if measuring {
                    let nanos = received_at
                        .saturating_duration_since(done.sent_at)
                        .as_nanos();
                    shared
                        .latency
                        .borrow_mut()
                        .saturating_record(u64::try_from(nanos).unwrap_or(u64::MAX));
                    shared.messages.set(shared.messages.get() + 1);
                }
                shared.send_wake.notify_one();
            }
            Ok(())
        })?;
        shared.deliveries.set(shared.deliveries.get() + measured);
        if !open || n == 0 {
            return match shared.phase.get() {
                Phase::Done => Ok(()),
                _ => Err("server closed the connection".into()),
            };
        }
        conn.flush()?;
    }
}

fn summary(r: &IoReport) -> String {
    format!(
        "{} {} {} conns x {} B, {} {}: {:.0} msgs/s, {:.0} deliveries/s, p50 {:.1} us, p99 {:.1} us, \
         server {:.2} us/delivery ({:.0}% of a core), generator {:.2} us/delivery ({:.0}% of a core), \
         other load {:.0}% of a core, {} pings answered",
        r.mode,
        r.url,
        r.conns,
        r.size,
        if r.mode == "io-echo" { "depth" } else { "window" },
        r.depth,
        r.msgs_per_s,
        r.deliveries_per_s,
        r.p50_us,
        r.p99_us,
        r.server_cpu_us_per_msg,
        r.server_cpu_util * 100.0,
        r.gen_cpu_us_per_msg,
        r.gen_cpu_util * 100.0,
        r.other_cpu_util * 100.0,
        r.pings,
    )
}

// ---- io-report ---------------------------------------------------------------

/// The target the CPU ratios are computed against.
const REFERENCE: &str = "socketioxide";

pub fn report_main(args: &[String]) -> Result<(), String> {
    let [path] = args else {
        return Err("usage: wsload io-report FILE.jsonl".into());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut runs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if !line.trim().is_empty() {
            let run: Value =
                serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
            runs.push(run);
        }
    }
    print!("{}", render(&runs));
    Ok(())
}

fn num(run: &Value, key: &str) -> f64 {
    run[key].as_f64().unwrap_or(f64::NAN)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn render(runs: &[Value]) -> String {
    let mut out = String::new();
    for (mode, title, unit) in [
        ("io-echo", "Socket.IO echo", "echo"),
        ("io-broadcast", "Socket.IO broadcast", "delivery"),
    ] {
        let of_mode: Vec<&Value> = runs.iter().filter(|r| r["mode"] == mode).collect();
        let mut cells: Vec<(u64, u64, u64)> = Vec::new();
        for r in &of_mode {
            let cell = (
                r["conns"].as_u64().unwrap_or(0),
                r["size"].as_u64().unwrap_or(0),
                r["depth"].as_u64().unwrap_or(0),
            );
            if !cells.contains(&cell) {
                cells.push(cell);
            }
        }
        for (conns, size, depth) in cells {
            let in_cell: Vec<&&Value> = of_mode
                .iter()
                .filter(|r| {
                    r["conns"].as_u64() == Some(conns)
                        && r["size"].as_u64() == Some(size)
                        && r["depth"].as_u64() == Some(depth)
                })
                .collect();
            let mut labels: Vec<&str> = Vec::new();
            for r in &in_cell {
                let label = r["label"].as_str().unwrap_or("?");
                if !labels.contains(&label) {
                    labels.push(label);
                }
            }
            let med = |label: &str, key: &str| {
                median(
                    in_cell
                        .iter()
                        .filter(|r| r["label"] == label)
                        .map(|r| num(r, key))
                        .collect(),
                )
            };
            let reference = med(REFERENCE, "server_cpu_us_per_msg");
            let depth_name = if mode == "io-echo" { "depth" } else { "window" };
            out.push_str(&format!(
                "### {title}: {conns} connections x {size} B, {depth_name} {depth}\n\n\
                 | target | runs | msgs/s | deliveries/s | p50 µs | p99 µs | server CPU µs/{unit} | (min) | ratio to {REFERENCE} | generator CPU µs/{unit} | max generator core use |\n\
                 |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            ));
            for label in labels {
                let of_label: Vec<&&&Value> =
                    in_cell.iter().filter(|r| r["label"] == label).collect();
                let cpu = med(label, "server_cpu_us_per_msg");
                let min = of_label
                    .iter()
                    .map(|r| num(r, "server_cpu_us_per_msg"))
                    .fold(f64::NAN, f64::min);
                let max_gen = of_label
                    .iter()
                    .map(|r| num(r, "gen_cpu_util"))
                    .fold(f64::NAN, f64::max);
                let ratio = if reference > 0.0 && !cpu.is_nan() {
                    format!("{:.2}", cpu / reference)
                } else {
                    "n/a".into()
                };
                out.push_str(&format!(
                    "| {label} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {:.2} | {:.2} | {ratio} | {:.2} | {:.0}% |\n",
                    of_label.len(),
                    med(label, "msgs_per_s"),
                    med(label, "deliveries_per_s"),
                    med(label, "p50_us"),
                    med(label, "p99_us"),
                    cpu,
                    min,
                    med(label, "gen_cpu_us_per_msg"),
                    max_gen * 100.0,
                ));
            }
            out.push('\n');
        }
    }
    out
}
