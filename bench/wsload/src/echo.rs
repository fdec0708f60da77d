//! The `echo` scenario: throughput, latency and CPU time per message.
//!
//! Every connection is one task that keeps `depth` messages of `size` bytes in
//! flight, with as few system calls per message as possible:
//! * frames are masked once at start-up; all the frames owed to the server
//!   are written with one `write` (at first `depth`, then one per echo);
//! * on read readiness, the echoes already waiting in the socket are counted
//!   (`FIONREAD`) and their replacements written first, so that this write
//!   carries the TCP ACK for them; then one `recv` takes everything, and every
//!   complete frame is parsed, checked and timed;
//! * the runtime sleeps `--coalesce-us` before each `epoll_wait` (see
//!   [`crate::runtime`]), so one wake-up serves whole bursts of echoes.
//!
//! Reads and writes never block each other (a connection stuck in a large
//! write while nobody reads could deadlock with a server stuck writing echoes).
//!
//! Timeline: connect all, warm up, then the measured phase, during which the
//! server's and our own CPU time (from `/proc`) and every echo are counted.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::LocalSet;

use crate::args::Args;
use crate::procfs;
use crate::ws::{self, Target};

/// The payload of one message in 16 is compared byte for byte with what was
/// sent; every message has its length and opcode checked.
const CONTENT_CHECK_EVERY: u64 = 16;

/// Frames at least this long are sent with vmsplice + splice (when enabled).
const SPLICE_MIN_FRAME: usize = 4096;

/// How long to wait for all connections to complete their handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connections get to close cleanly after the measured phase.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

struct Config {
    target: Target,
    server_pid: u32,
    conns: usize,
    size: usize,
    depth: usize,
    warmup: Duration,
    duration: Duration,
    opcode: u8,
    /// The unmasked payload every message carries (printable ASCII, valid as text).
    payload: Vec<u8>,
    /// Sleep before each `epoll_wait`, to batch the echoes (see `crate::runtime`).
    coalesce: Duration,
    /// Write refills before reading the echoes they replace (see `Connection::top_up`).
    refill_ahead: bool,
    /// Send frames of a page or more with vmsplice + splice (see `Splice`).
    /// Off by default: it cuts the generator's CPU for large messages, but
    /// the server then copies from the generator's cache-hot pages, which
    /// flatters the server's receive cost.
    splice: bool,
    label: String,
    round: u32,
}

/// One run's results, printed as one JSON object with `--json`.
#[derive(Serialize)]
struct EchoReport {
    mode: &'static str,
    label: String,
    round: u32,
    url: String,
    conns: usize,
    size: usize,
    depth: usize,
    coalesce_us: u64,
    refill_ahead: bool,
    /// Whether frames were sent with vmsplice + splice.
    splice: bool,
    /// Connections that had to stop refilling ahead (0 with a well-behaved server).
    refill_ahead_fallbacks: u64,
    warmup_s: f64,
    duration_s: f64,
    /// Actual length of the measured phase.
    elapsed_s: f64,
    /// Echoes received during the measured phase.
    messages: u64,
    msgs_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
    server_cpu_s: f64,
    server_cpu_us_per_msg: f64,
    gen_cpu_s: f64,
    gen_cpu_us_per_msg: f64,
    /// Share of one core the server used during the measured phase.
    server_cpu_util: f64,
    /// Share of one core the generator used during the measured phase.
    gen_cpu_util: f64,
    /// Cores' worth of CPU the rest of the machine used meanwhile (other
    /// processes, and interrupt time not charged to either process): a run
    /// with a high value was disturbed.
    other_cpu_util: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    Done,
}

/// State shared by all connections (one thread, hence `Cell`s).
struct Shared {
    phase: Cell<Phase>,
    connected: Cell<usize>,
    /// Echoes received in the measured phase.
    messages: Cell<u64>,
    /// Send-to-echo latency in nanoseconds, measured phase only.
    latency: RefCell<Histogram<u64>>,
    /// Connections that stopped refilling ahead (see `Connection::refill_ahead`).
    refill_ahead_fallbacks: Cell<u64>,
    /// First connection failure; the run is invalid once set.
    failure: RefCell<Option<String>>,
    /// Wakes the main task on progress (a connection completed or failed).
    progress: Notify,
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

pub fn main(mut args: Args) -> Result<(), String> {
    let text = args.flag("text")?;
    let json = args.flag("json")?;
    let size: usize = args.or("size", 64)?;
    let config = Config {
        target: Target::parse(&args.required::<String>("url")?)?,
        server_pid: args.required("server-pid")?,
        conns: args.or("conns", 100)?,
        size,
        depth: args.or("depth", 4)?,
        warmup: seconds(args.or("warmup", 2.0)?)?,
        duration: seconds(args.or("duration", 5.0)?)?,
        opcode: if text { ws::OP_TEXT } else { ws::OP_BINARY },
        payload: (0..size).map(|i| b'a' + (i % 26) as u8).collect(),
        coalesce: Duration::from_micros(args.or("coalesce-us", 50)?),
        refill_ahead: !args.flag("no-refill-ahead")?,
        splice: args.flag("splice")?,
        label: args.or("label", String::new())?,
        round: args.or("round", 0)?,
    };
    args.finish()?;
    if config.conns == 0 || config.depth == 0 || config.duration.is_zero() {
        return Err("--conns, --depth and --duration must be positive".into());
    }
    crate::raise_fd_limit();
    procfs::check_alive(config.server_pid)?;

    let runtime = crate::runtime(config.coalesce)?;
    let report = LocalSet::new().block_on(&runtime, run(Rc::new(config)))?;
    // With --json, stdout carries only the JSON object; the summary goes to stderr.
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

pub fn seconds(value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|_| format!("invalid duration {value}"))
}

async fn run(config: Rc<Config>) -> Result<EchoReport, String> {
    let shared = Rc::new(Shared {
        phase: Cell::new(Phase::Warmup),
        connected: Cell::new(0),
        messages: Cell::new(0),
        latency: RefCell::new(
            Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())?,
        ),
        refill_ahead_fallbacks: Cell::new(0),
        failure: RefCell::new(None),
        progress: Notify::new(),
    });

    let tasks: Vec<_> = (0..config.conns)
        .map(|id| tokio::task::spawn_local(connection(config.clone(), shared.clone(), id)))
        .collect();

    // Wait until every connection is up (or one failed).
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    while shared.connected.get() < config.conns {
        shared.check()?;
        tokio::time::timeout_at(deadline, shared.progress.notified())
            .await
            .map_err(|_| {
                format!(
                    "only {} of {} connections completed the handshake in {CONNECT_TIMEOUT:?}",
                    shared.connected.get(),
                    config.conns
                )
            })?;
    }

    sleep_unless_failed(&shared, config.warmup).await?;

    // Measured phase. Nothing else runs while the main task switches phases
    // (one thread), so every echo falls on one side of each switch.
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

    // Let connections send their close frames and drain, within bounds.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        for task in tasks {
            let _ = task.await;
        }
    })
    .await;

    let messages = shared.messages.get();
    if messages == 0 {
        return Err("no echo received during the measured phase".into());
    }
    let latency = shared.latency.borrow();
    let us = |quantile: f64| latency.value_at_quantile(quantile) as f64 / 1e3;
    let per_msg_us = |cpu: Duration| cpu.as_secs_f64() * 1e6 / messages as f64;
    let report = EchoReport {
        mode: "echo",
        label: config.label.clone(),
        round: config.round,
        url: format!("ws://{}{}", config.target.authority, config.target.path),
        conns: config.conns,
        size: config.size,
        depth: config.depth,
        coalesce_us: config.coalesce.as_micros() as u64,
        refill_ahead: config.refill_ahead,
        splice: config.splice && config.size + 14 >= SPLICE_MIN_FRAME,
        refill_ahead_fallbacks: shared.refill_ahead_fallbacks.get(),
        warmup_s: config.warmup.as_secs_f64(),
        duration_s: config.duration.as_secs_f64(),
        elapsed_s: elapsed.as_secs_f64(),
        messages,
        msgs_per_s: messages as f64 / elapsed.as_secs_f64(),
        p50_us: us(0.5),
        p99_us: us(0.99),
        p999_us: us(0.999),
        max_us: latency.max() as f64 / 1e3,
        server_cpu_s: server_cpu.as_secs_f64(),
        server_cpu_us_per_msg: per_msg_us(server_cpu),
        gen_cpu_s: gen_cpu.as_secs_f64(),
        gen_cpu_us_per_msg: per_msg_us(gen_cpu),
        server_cpu_util: server_cpu.as_secs_f64() / elapsed.as_secs_f64(),
        gen_cpu_util: gen_cpu.as_secs_f64() / elapsed.as_secs_f64(),
        other_cpu_util: (machine_busy.as_secs_f64()
            - server_cpu.as_secs_f64()
            - gen_cpu.as_secs_f64())
            / elapsed.as_secs_f64(),
    };
    Ok(report)
}

/// Sleeps for `duration`, returning early with the error if a connection fails.
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

/// One connection's task: failures before the end of the measured phase
/// invalidate the run.
async fn connection(config: Rc<Config>, shared: Rc<Shared>, id: usize) {
    if let Err(e) = drive(&config, &shared, id).await {
        if shared.phase.get() != Phase::Done {
            shared.fail(format!("connection {id}: {e}"));
        }
    }
}

async fn drive(config: &Config, shared: &Shared, id: usize) -> Result<(), String> {
    let (stream, leftover) = ws::connect(&config.target).await?;
    shared.connected.set(shared.connected.get() + 1);
    shared.progress.notify_one();

    // Any mask is valid; vary it per connection. Frames are masked once here,
    // so sending costs no per-message work at all.
    let mask = (id as u32 ^ 0x5A5A_A5A5)
        .wrapping_mul(0x9E37_79B9)
        .to_le_bytes();
    let frame = ws::masked_frame(config.opcode, &config.payload, mask);
    // Twice the depth: room for refills sent ahead of reading (see `top_up`).
    // Leaked on purpose: with vmsplice, the kernel may still reference these
    // pages after the connection is gone, so they must never be reused.
    let batch: &'static [u8] = Box::leak(frame.repeat(2 * config.depth).into_boxed_slice());
    let splice = match config.splice && frame.len() >= SPLICE_MIN_FRAME {
        true => Some(Splice::new(batch.len())?),
        false => None,
    };
    let mut conn = Connection {
        config,
        shared,
        batch,
        splice,
        frame_len: frame.len(),
        echo_len: ws::server_frame_len(config.size),
        owed: 0,
        sent_at: VecDeque::with_capacity(2 * config.depth),
        buf: leftover,
        read_space: (2 * config.depth * (config.size + 14)).max(64 * 1024),
        received: 0,
        fragmented: None,
        refill_ahead: config.refill_ahead,
        stream,
    };
    conn.top_up(0);
    conn.flush()?;

    let mut closing = false;
    loop {
        if conn.shared.phase.get() == Phase::Done && !closing && !conn.output_pending() {
            // Close cleanly, then read until the server's close reply (or EOF).
            closing = true;
            let _ = conn.stream.write_all(&ws::close_frame(mask)).await;
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
        if (ready.is_readable() || ready.is_read_closed()) && conn.on_readable()? == Flow::Finished
        {
            return Ok(());
        }
    }
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Finished,
}

/// One connection's pipeline. Everything is done with non-blocking calls
/// between two readiness waits, so reading and writing never block each other
/// (a writer stuck in a large write while nobody reads could otherwise
/// deadlock with a server stuck writing echoes).
struct Connection<'a> {
    config: &'a Config,
    shared: &'a Shared,
    stream: TcpStream,
    /// `2 * depth` copies of the masked frame; what is owed is always a suffix.
    batch: &'static [u8],
    /// Set when frames are sent with vmsplice + splice instead of `write`.
    splice: Option<Splice>,
    frame_len: usize,
    /// Length of the (unmasked) frame the server echoes.
    echo_len: usize,
    /// Bytes at the end of `batch` still to be written.
    owed: usize,
    /// Send instants of the messages whose echo is not parsed yet, oldest
    /// first (echoes come back in order on one connection).
    sent_at: VecDeque<Instant>,
    /// Received bytes; after each parse, at most one partial frame.
    buf: Vec<u8>,
    read_space: usize,
    /// Complete echoes received, to check the content of one in `CONTENT_CHECK_EVERY`.
    received: u64,
    /// Payload bytes so far of a fragmented message being received.
    fragmented: Option<usize>,
    /// Whether to refill ahead of reading, from the byte count in the socket.
    /// Turned off for good if the count ever over-estimates the echoes (a
    /// server sending other frames or other framing), lest the pipeline
    /// grow past `depth`.
    refill_ahead: bool,
}

impl Connection<'_> {
    /// Queues new messages so that `depth` are in flight, counting as landed
    /// the `landed` echoes that sit complete in the socket but are not parsed.
    ///
    /// Refilling for echoes before reading them is what makes the refill
    /// carry the TCP ACK for them: reading first would make the kernel send
    /// a bare ACK from within `recv` (a whole extra loopback segment, which
    /// costs the generator more than the `recv` itself).
    fn top_up(&mut self, landed: usize) {
        if self.shared.phase.get() == Phase::Done {
            return;
        }
        let landed = landed.min(self.sent_at.len());
        let new = (self.config.depth + landed).saturating_sub(self.sent_at.len());
        if new > 0 {
            self.sent_at
                .extend(std::iter::repeat_n(Instant::now(), new));
            self.owed += new * self.frame_len;
            assert!(self.owed <= self.batch.len(), "pipeline overflow");
        }
    }

    /// Whether some output has not reached the socket yet.
    fn output_pending(&self) -> bool {
        self.owed > 0 || self.splice.as_ref().is_some_and(|s| s.in_pipe > 0)
    }

    /// Writes as much of what is owed as the socket takes now (one `write`
    /// in the common case).
    fn flush(&mut self) -> Result<(), String> {
        if let Some(splice) = &mut self.splice {
            return splice.flush(&self.stream, self.batch, &mut self.owed);
        }
        while self.owed > 0 {
            match self
                .stream
                .try_write(&self.batch[self.batch.len() - self.owed..])
            {
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
        if self.refill_ahead && !self.output_pending() {
            landed = (self.buf.len() + bytes_in_socket(&self.stream)?) / self.echo_len;
            self.top_up(landed);
            self.flush()?;
        }
        self.buf.reserve(self.read_space);
        let n = match read_available(&self.stream, &mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flow::Continue),
            Err(e) => return Err(format!("read: {e}")),
        };
        let received_at = Instant::now();
        let in_flight = self.sent_at.len();
        let flow = self.parse(received_at)?;
        if in_flight - self.sent_at.len() < landed {
            self.refill_ahead = false;
            let fallbacks = &self.shared.refill_ahead_fallbacks;
            fallbacks.set(fallbacks.get() + 1);
        }
        if flow == Flow::Continue && n == 0 {
            return match self.shared.phase.get() {
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
        let measuring = self.shared.phase.get() == Phase::Measure;
        let mut latency = self.shared.latency.borrow_mut();
        let mut measured = 0;
        let mut pos = 0;
        while let Some(head) = ws::parse_frame(&self.buf[pos..])? {
            let payload = &self.buf[pos + head.header_len..pos + head.total_len()];
            pos += head.total_len();
            let message_len = match (head.opcode, self.fragmented) {
                (ws::OP_CLOSE, _) => {
                    return match self.shared.phase.get() {
                        Phase::Done => Ok(Flow::Finished),
                        _ => Err("server sent a close frame".into()),
                    };
                }
                (ws::OP_PING | ws::OP_PONG, _) => continue,
                (ws::OP_CONTINUATION, Some(so_far)) => so_far + payload.len(),
                (ws::OP_CONTINUATION, None) => return Err("unexpected continuation frame".into()),
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
                && head.opcode != ws::OP_CONTINUATION
                && payload != config.payload
            {
                return Err("echoed payload differs from the one sent".into());
            }
            let sent = self
                .sent_at
                .pop_front()
                .ok_or("echo of a message that was never sent")?;
            if measuring {
                let nanos = received_at.saturating_duration_since(sent).as_nanos();
                latency.saturating_record(u64::try_from(nanos).unwrap_or(u64::MAX));
                measured += 1;
            }
        }
        self.shared
            .messages
            .set(self.shared.messages.get() + measured);
        // Drop what was parsed, keep a partial frame for the next read.
        if pos == self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..pos);
        }
        Ok(Flow::Continue)
    }
}

/// Sending without copying: `vmsplice` hands the pages of the (immutable,
/// leaked) batch to a pipe, and `splice` moves them into the socket. Over
/// loopback, the server's `recv` then copies straight from these pages, and
/// the generator is spared the copy into socket buffers that dominates its
/// cost for large messages.
struct Splice {
    read_end: OwnedFd,
    write_end: OwnedFd,
    /// Bytes handed to the pipe and not yet spliced into the socket.
    in_pipe: usize,
}

impl Splice {
    fn new(capacity: usize) -> Result<Splice, String> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two file descriptors into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
            return Err(format!("pipe2: {}", io::Error::last_os_error()));
        }
        // SAFETY: both descriptors were just opened and are owned by nobody else.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // A pipe as large as the batch (best effort: up to the system maximum).
        // SAFETY: F_SETPIPE_SZ takes an int argument and touches no memory.
        unsafe {
            libc::fcntl(
                write_end.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                capacity as libc::c_int,
            )
        };
        Ok(Splice {
            read_end,
            write_end,
            in_pipe: 0,
        })
    }

    /// Moves what is owed (the last `owed` bytes of `batch`) into the socket,
    /// as far as the pipe and the socket take it now.
    fn flush(&mut self, stream: &TcpStream, batch: &[u8], owed: &mut usize) -> Result<(), String> {
        loop {
            if self.in_pipe > 0 {
                let moved = stream.try_io(Interest::WRITABLE, || {
                    // SAFETY: plain descriptors, no user memory involved.
                    let n = unsafe {
                        libc::splice(
                            self.read_end.as_raw_fd(),
                            std::ptr::null_mut(),
                            stream.as_raw_fd(),
                            std::ptr::null_mut(),
                            self.in_pipe,
                            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
                        )
                    };
                    match n {
                        n if n < 0 => Err(io::Error::last_os_error()),
                        n => Ok(n as usize),
                    }
                });
                match moved {
                    Ok(n) => self.in_pipe -= n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) => return Err(format!("splice: {e}")),
                }
            } else if *owed > 0 {
                let chunk = &batch[batch.len() - *owed..];
                let iov = libc::iovec {
                    iov_base: chunk.as_ptr() as *mut libc::c_void,
                    iov_len: chunk.len(),
                };
                // SAFETY: the iovec describes live memory that is never
                // written or freed afterwards (the batch is leaked).
                let n = unsafe {
                    libc::vmsplice(self.write_end.as_raw_fd(), &iov, 1, libc::SPLICE_F_NONBLOCK)
                };
                if n <= 0 {
                    return Err(format!("vmsplice: {}", io::Error::last_os_error()));
                }
                *owed -= n as usize;
                self.in_pipe += n as usize;
            } else {
                return Ok(());
            }
        }
    }
}

/// Bytes waiting in the socket's receive queue (`FIONREAD`), read without
/// consuming them (and so without making the kernel send an ACK).
fn bytes_in_socket(stream: &TcpStream) -> Result<usize, String> {
    let mut waiting: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut waiting) };
    if rc < 0 {
        return Err(format!("FIONREAD: {}", io::Error::last_os_error()));
    }
    Ok(usize::try_from(waiting).unwrap_or(0))
}

/// Reads what the socket holds into the spare capacity of `buf` with one
/// `recv`; `Ok(0)` is end of stream.
///
/// A read shorter than the space offered drained the socket, so tokio is told
/// `WouldBlock` (the bytes are kept) to clear the readiness: otherwise the next
/// wake-up would begin with a `recv` that fails with `EAGAIN`. This is safe:
/// tokio only clears the readiness it observed before the call, not an event
/// that arrived since.
fn read_available(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut got = 0;
    let result = stream.try_io(Interest::READABLE, || {
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

fn summary(r: &EchoReport) -> String {
    format!(
        "{} {} conns x {} B, depth {}: {:.0} msgs/s, p50 {:.1} us, p99 {:.1} us, \
         server {:.2} us/msg ({:.0}% of a core), generator {:.2} us/msg ({:.0}% of a core), other load {:.0}% of a core",
        r.url,
        r.conns,
        r.size,
        r.depth,
        r.msgs_per_s,
        r.p50_us,
        r.p99_us,
        r.server_cpu_us_per_msg,
        r.server_cpu_util * 100.0,
        r.gen_cpu_us_per_msg,
        r.gen_cpu_util * 100.0,
        r.other_cpu_util * 100.0,
    )
}
