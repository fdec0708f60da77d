//! `avalanche`: N Socket.IO clients connected, then all of them lose their
//! connection at once and come back with socket.io-client's reconnection
//! backoff; how long until all are back, how many attempts failed, and how
//! many of the server's `tick` broadcasts reached each client.
//!
//! The server emits `tick` [SEQUENCE, WALL CLOCK MS] to every socket every
//! 100 ms or so (the bench servers do with `TICK_MS`). Two storms:
//!
//! * `--mode restart`: the generator kills the server (`--server-pid`,
//!   SIGKILL) and runs `--restart-cmd` (through `sh -c`), which must start a
//!   fresh server on the same port; that server is the generator's child and
//!   is killed when the run ends. Delivery: for each client, the ticks the
//!   new server emitted after the client's reconnection (server clock later
//!   than the client's clock when the CONNECT reply arrived) and up to the
//!   end of the window, against those it received.
//! * `--mode cut`: the server stays up; the generator resets every TCP
//!   connection at once (`SO_LINGER` 0), and every client reconnects with
//!   the `pid` and last `offset` it got (connection state recovery). Delivery
//!   is counted over every tick after the last one each client saw before the
//!   cut: those emitted before its reconnection ("during") only arrive if the
//!   server recovered the session, those after it ("after") in any case.
//!
//! Backoff as socket.io-client: the n-th attempt after a loss waits
//! `min(delay * 2^n, max)`, moved by up to `randomization` of itself either
//! way at random; a successful connection resets n.

use std::cell::{Cell, RefCell};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::{JoinHandle, LocalSet};

use super::net::{self, Connector, Target, MAX_FRAME};
use super::wire::{classify, engine_target, Packet};
use super::{bounded, AvalancheArgs, Progress, Report, StormMode, Transport};

/// Largest tick sequence number kept (a day of ticks every 10 ms).
const MAX_SEQ: u64 = 10_000_000;
/// How long the initial connections may take, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long ticks in flight at the end of the window get to arrive.
const GRACE: Duration = Duration::from_secs(1);

/// Figures of the `avalanche` scenario.
#[derive(Serialize, Default, Debug)]
pub struct AvalancheFigures {
    /// `restart` or `cut`.
    pub storm_mode: &'static str,
    /// The generator's open-file limit after raising it.
    pub fd_limit: u64,
    /// Seconds to connect the N clients at the start.
    pub initial_connect_s: f64,
    /// Failed connection attempts at the start.
    pub initial_failed: usize,
    /// Clients connected again after the storm.
    pub back: usize,
    /// Seconds from the kill (or cut) until all N were connected again;
    /// `None` if some never came back within `--storm-timeout`.
    pub all_back_s: Option<f64>,
    /// Per-client reconnection time (kill or cut to CONNECT reply), seconds.
    pub reconnect_p50_s: f64,
    pub reconnect_p99_s: f64,
    pub reconnect_max_s: f64,
    /// Connection attempts after the storm, and how many failed.
    pub storm_attempts: usize,
    pub storm_failed: usize,
    /// First error of a failed attempt after the storm.
    pub storm_first_error: Option<String>,
    /// Clients that lost their connection again after coming back.
    pub dropped_again: usize,
    /// Seconds observed after all were back (or the timeout).
    pub window_s: f64,
    /// Ticks due after each client's reconnection (summed over clients),
    /// and those that arrived.
    pub after_expected: u64,
    pub after_delivered: u64,
    /// `after_delivered / after_expected`.
    pub after_ratio: f64,
    /// Clients that got less than 99.9% of their ticks due after reconnection.
    pub clients_below_999: usize,
    /// Cut mode: ticks emitted between each client's last tick before the
    /// cut and its reconnection, and those that arrived (replayed).
    pub during_expected: Option<u64>,
    pub during_delivered: Option<u64>,
    pub during_ratio: Option<f64>,
    /// Cut mode: clients whose session was recovered (same socket id).
    pub recovered: Option<usize>,
    /// Ticks with an unparsable payload.
    pub bad_ticks: u64,
}

impl AvalancheFigures {
    /// Rows of the human-readable table.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![
            ("storm", self.storm_mode.to_string()),
            (
                "initial connect",
                format!(
                    "{:.2} s ({} failed attempts)",
                    self.initial_connect_s, self.initial_failed
                ),
            ),
            (
                "all back after",
                match self.all_back_s {
                    Some(s) => format!("{s:.2} s"),
                    None => format!("never ({} back)", self.back),
                },
            ),
            (
                "reconnect time",
                format!(
                    "p50 {:.2} s, p99 {:.2} s, max {:.2} s",
                    self.reconnect_p50_s, self.reconnect_p99_s, self.reconnect_max_s
                ),
            ),
            (
                "storm attempts",
                format!(
                    "{} ({} failed{}), {} dropped again",
                    self.storm_attempts,
                    self.storm_failed,
                    self.storm_first_error
                        .as_ref()
                        .map(|e| format!("; first: {e}"))
                        .unwrap_or_default(),
                    self.dropped_again
                ),
            ),
            (
                "delivery after",
                format!(
                    "{:.4}% ({} of {}; {} clients below 99.9%) over {:.1} s",
                    self.after_ratio * 100.0,
                    self.after_delivered,
                    self.after_expected,
                    self.clients_below_999,
                    self.window_s
                ),
            ),
        ];
        if let (Some(ratio), Some(d), Some(e), Some(r)) = (
            self.during_ratio,
            self.during_delivered,
            self.during_expected,
            self.recovered,
        ) {
            rows.push((
                "delivery during",
                format!("{:.4}% ({d} of {e}); {r} sessions recovered", ratio * 100.0),
            ));
        }
        if self.bad_ticks > 0 {
            rows.push(("bad ticks", self.bad_ticks.to_string()));
        }
        rows
    }
}

/// What one client saw.
#[derive(Default)]
struct ClientRec {
    /// Socket id, recovery id and last offset of its connection before the storm.
    sid: Option<String>,
    pid: Option<String>,
    offset: Option<String>,
    /// Highest tick sequence seen before the storm.
    last_seq_before: u64,
    /// First reconnection after the storm: when, and the wall clock (ms).
    back_at: Option<Instant>,
    back_at_ms: u64,
    /// Whether that reconnection got the old socket id back.
    recovered: bool,
    /// Connections after the storm.
    reconnects: u32,
    /// Tick sequences received on connections opened after the storm.
    post: Vec<u32>,
}

struct Setup {
    target: Target,
    connector: Connector,
    mode: StormMode,
    backoff: Backoff,
    /// How long one connection attempt may take.
    attempt_timeout: Duration,
}

struct Shared {
    /// 0 before the storm, 1 from its start.
    storm: watch::Sender<u32>,
    /// Clients connected now.
    open: Cell<usize>,
    /// Clients that completed their first connection.
    connected_initial: Cell<usize>,
    failed_initial: Cell<usize>,
    /// Clients back after the storm.
    back: Cell<usize>,
    storm_attempts: Cell<usize>,
    storm_failed: Cell<usize>,
    first_error: RefCell<Option<String>>,
    /// First error of a failed attempt before the storm.
    first_initial_error: RefCell<Option<String>>,
    /// Server wall clock (ms) of each tick sequence seen (0: not seen).
    tick_ms: RefCell<Vec<u64>>,
    /// Whether ticks are still recorded.
    recording: Cell<bool>,
    bad_ticks: Cell<u64>,
    clients: RefCell<Vec<ClientRec>>,
}

impl Shared {
    fn storm_started(&self) -> bool {
        *self.storm.borrow() > 0
    }

    fn failed(&self, error: String) {
        if self.storm_started() {
            self.storm_failed.set(self.storm_failed.get() + 1);
            self.first_error.borrow_mut().get_or_insert(error);
        } else {
            self.failed_initial.set(self.failed_initial.get() + 1);
            self.first_initial_error.borrow_mut().get_or_insert(error);
        }
    }
}

/// socket.io-client's reconnection delays.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// First delay (`reconnectionDelay`), ms.
    pub min_ms: u64,
    /// Longest delay (`reconnectionDelayMax`), ms.
    pub max_ms: u64,
    /// `randomizationFactor`, in [0, 1].
    pub jitter: f64,
}

impl Backoff {
    /// The delay before attempt `attempt` (0 for the first after a loss),
    /// given two uniform random numbers in [0, 1).
    pub fn delay(&self, attempt: u32, r1: f64, r2: f64) -> Duration {
        let base = self.min_ms as f64 * 2f64.powi(attempt.min(40) as i32);
        let deviation = (r1 * self.jitter * base).floor();
        let ms = if (r2 * 10.0).floor() as u64 & 1 == 0 {
            base - deviation
        } else {
            base + deviation
        };
        Duration::from_millis(ms.clamp(0.0, self.max_ms as f64) as u64)
    }
}

/// xorshift64*: the jitter of each client.
struct Rng(u64);

impl Rng {
    fn new(id: usize) -> Rng {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Rng((u64::from_ne_bytes(seed) ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    /// A uniform number in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A tick `42["tick",SEQ,MS]` or, with recovery, `42["tick",SEQ,MS,"OFFSET"]`:
/// the sequence, the server's clock and the offset.
pub fn parse_tick(packet: &[u8]) -> Option<(u64, u64, Option<&[u8]>)> {
    fn number(s: &[u8]) -> Option<(u64, &[u8])> {
        let end = s
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(s.len());
        let n = std::str::from_utf8(s.get(..end)?).ok()?.parse().ok()?;
        Some((n, s.get(end..)?))
    }
    let rest = packet.strip_prefix(b"42[\"tick\",")?;
    let (seq, rest) = number(rest)?;
    let (ms, rest) = number(rest.strip_prefix(b",")?)?;
    if rest == b"]" {
        return Some((seq, ms, None));
    }
    let offset = rest.strip_prefix(b",\"")?.strip_suffix(b"\"]")?;
    Some((seq, ms, Some(offset)))
}

/// The CONNECT packet: `40`, or `40{"pid":..,"offset":..}` to recover.
pub fn connect_packet(pid: Option<&str>, offset: Option<&str>) -> Vec<u8> {
    match (pid, offset) {
        (Some(pid), Some(offset)) => {
            let auth = serde_json::json!({ "pid": pid, "offset": offset });
            format!("40{auth}").into_bytes()
        }
        _ => b"40".to_vec(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One Socket.IO connection over WebSocket.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    mask: [u8; 4],
}

impl Conn {
    /// Hands the payload of every complete text frame to `f` until it
    /// returns `false`; the rest stays buffered. An error when the server
    /// closed the WebSocket.
    fn drain(&mut self, mut f: impl FnMut(&[u8]) -> Result<bool, String>) -> Result<(), String> {
        let mut pos = 0;
        let mut result = Ok(());
        while let Some(head) = net::parse_frame(self.buf.get(pos..).unwrap_or_default(), MAX_FRAME)?
        {
            let payload = self
                .buf
                .get(pos + head.header_len..pos + head.total_len())
                .unwrap_or_default();
            pos += head.total_len();
            match head.opcode {
                net::OP_CLOSE => {
                    result = Err("server closed the WebSocket".into());
                    break;
                }
                net::OP_TEXT if head.fin => match f(payload) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                },
                net::OP_PING | net::OP_PONG => {}
                _ => return Err("unexpected frame".into()),
            }
        }
        self.buf.drain(..pos);
        result
    }

    async fn read_more(&mut self) -> Result<(), String> {
        self.buf.reserve(4096);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err("server closed the connection".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    async fn send_text(&mut self, text: &[u8]) -> Result<(), String> {
        let frame = net::masked_frame(net::OP_TEXT, text, self.mask);
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| format!("write: {e}"))
    }
}

/// A connection, its socket id, its recovery id, and the events that came
/// before the CONNECT reply (a recovering server replays missed events first).
type Connected = (Conn, String, Option<String>, Vec<Vec<u8>>);

/// Connects, upgrades, and joins `/` (recovering with `pid` and `offset` when
/// given).
async fn connect(
    setup: &Setup,
    id: usize,
    pid: Option<&str>,
    offset: Option<&str>,
) -> Result<Connected, String> {
    let mut stream = setup.connector.connect().await?;
    let buf = net::ws_handshake(&mut stream, &setup.target).await?;
    let mask = (id as u32 ^ 0xA5A5_5A5A)
        .wrapping_mul(0x9E37_79B9)
        .to_le_bytes();
    let mut conn = Conn { stream, buf, mask };
    let mut opened = false;
    while !opened {
        conn.drain(|p| {
            opened = p.starts_with(b"0{");
            Ok(!opened)
        })?;
        if !opened {
            conn.read_more().await?;
        }
    }
    conn.send_text(&connect_packet(pid, offset)).await?;
    let mut reply: Option<Vec<u8>> = None;
    let mut early = Vec::new();
    while reply.is_none() {
        conn.drain(|p| {
            if let Some(json) = p.strip_prefix(b"40") {
                reply = Some(json.to_vec());
                return Ok(false);
            }
            if let Packet::Event(e) = classify(p)? {
                early.push(e.to_vec());
            }
            Ok(true)
        })?;
        if reply.is_none() {
            conn.read_more().await?;
        }
    }
    let value: serde_json::Value = serde_json::from_slice(reply.as_deref().unwrap_or_default())
        .map_err(|e| format!("CONNECT reply: {e}"))?;
    let sid = value["sid"].as_str().unwrap_or_default().to_string();
    let pid = value["pid"].as_str().map(str::to_string);
    Ok((conn, sid, pid, early))
}

/// One client: connects, keeps its connection, reconnects with backoff.
async fn client(id: usize, setup: Rc<Setup>, shared: Rc<Shared>) {
    let mut rng = Rng::new(id);
    let mut storm = shared.storm.subscribe();
    let mut attempt = 0u32;
    loop {
        let post = *storm.borrow_and_update() > 0;
        let (pid, offset) = if post && setup.mode == StormMode::Cut {
            let clients = shared.clients.borrow();
            let rec = clients.get(id);
            (
                rec.and_then(|r| r.pid.clone()),
                rec.and_then(|r| r.offset.clone()),
            )
        } else {
            (None, None)
        };
        if post {
            shared.storm_attempts.set(shared.storm_attempts.get() + 1);
        }
        // An attempt that hangs (a server that accepted the TCP connection
        // but never answers under the storm) fails and is tried again, as
        // socket.io-client's `timeout` does.
        let attempt_result = tokio::time::timeout(
            setup.attempt_timeout,
            connect(&setup, id, pid.as_deref(), offset.as_deref()),
        )
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "connection attempt timed out after {:?}",
                setup.attempt_timeout
            ))
        });
        match attempt_result {
            Err(e) => shared.failed(e),
            Ok((mut conn, sid, pid, early)) => {
                attempt = 0;
                // Ticks after this point belong to the storm if it started
                // meanwhile (in restart mode, only the new server answers).
                let post = *storm.borrow_and_update() > 0;
                {
                    let mut clients = shared.clients.borrow_mut();
                    if let Some(rec) = clients.get_mut(id) {
                        if post {
                            rec.reconnects += 1;
                            if rec.back_at.is_none() {
                                rec.back_at = Some(Instant::now());
                                rec.back_at_ms = now_ms();
                                rec.recovered = rec.sid.as_deref() == Some(sid.as_str());
                                shared.back.set(shared.back.get() + 1);
                            }
                        } else {
                            if rec.sid.is_none() {
                                shared
                                    .connected_initial
                                    .set(shared.connected_initial.get() + 1);
                            }
                            rec.sid = Some(sid);
                            rec.pid = pid;
                        }
                    }
                }
                for event in &early {
                    on_tick(event, id, post, &shared);
                }
                shared.open.set(shared.open.get() + 1);
                let cut = setup.mode == StormMode::Cut && !post;
                let _ = session(&mut conn, id, post, cut, &mut storm, &shared).await;
                shared.open.set(shared.open.get() - 1);
                if cut && *storm.borrow() > 0 {
                    // Reset, not FIN: the connection is lost, not closed.
                    let _ =
                        rustix::net::sockopt::set_socket_linger(&conn.stream, Some(Duration::ZERO));
                }
                drop(conn);
            }
        }
        let delay = setup.backoff.delay(attempt, rng.next(), rng.next());
        attempt = attempt.saturating_add(1);
        tokio::time::sleep(delay).await;
    }
}

/// Reads ticks and answers pings until the connection ends (or, with `cut`,
/// the storm starts).
async fn session(
    conn: &mut Conn,
    id: usize,
    post: bool,
    cut: bool,
    storm: &mut watch::Receiver<u32>,
    shared: &Shared,
) -> Result<(), String> {
    loop {
        let mut pings = 0;
        conn.drain(|p| {
            match classify(p)? {
                Packet::Ping => pings += 1,
                Packet::Event(e) => on_tick(e, id, post, shared),
                _ => {}
            }
            Ok(true)
        })?;
        for _ in 0..pings {
            conn.send_text(b"3").await?;
        }
        tokio::select! {
            changed = storm.changed(), if cut => {
                if changed.is_err() || *storm.borrow() > 0 {
                    return Ok(());
                }
            }
            read = conn.read_more() => read?,
        }
    }
}

fn on_tick(packet: &[u8], id: usize, post: bool, shared: &Shared) {
    if !shared.recording.get() {
        return;
    }
    let Some((seq, ms, offset)) = parse_tick(packet).filter(|t| t.0 > 0 && t.0 <= MAX_SEQ) else {
        if packet.starts_with(b"42[\"tick\"") {
            shared.bad_ticks.set(shared.bad_ticks.get() + 1);
        }
        return;
    };
    // In restart mode, the old server's sequence numbers are not the new one's.
    if post || !shared.storm_started() {
        let mut ticks = shared.tick_ms.borrow_mut();
        let index = seq as usize;
        if ticks.len() <= index {
            ticks.resize(index + 1, 0);
        }
        if let Some(slot) = ticks.get_mut(index) {
            *slot = ms;
        }
    }
    let mut clients = shared.clients.borrow_mut();
    let Some(rec) = clients.get_mut(id) else {
        return;
    };
    if let Some(offset) = offset {
        rec.offset = Some(String::from_utf8_lossy(offset).into_owned());
    }
    if post {
        rec.post.push(seq as u32);
    } else {
        rec.last_seq_before = rec.last_seq_before.max(seq);
    }
}

/// Kills its child process when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether process `pid` is gone, or a zombie whose threads have all ended
/// (the leader turns zombie first; the sockets close with the last thread).
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']));
            let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count);
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
            zombie && threads <= 1 && fds == 0
        }
    }
}

/// Kills the server and starts `cmd` (through `sh -c`).
async fn restart(pid: u32, cmd: &str) -> Result<KillOnDrop, String> {
    let target = rustix::process::Pid::from_raw(pid as i32).ok_or("bad --server-pid")?;
    rustix::process::kill_process(target, rustix::process::Signal::KILL)
        .map_err(|e| format!("kill {pid}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_dead(pid) {
        if Instant::now() > deadline {
            return Err(format!("server {pid} still alive 10 s after SIGKILL"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("--restart-cmd: {e}"))?;
    Ok(KillOnDrop(child))
}

/// The `q` quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(index).copied().unwrap_or(0.0)
}

/// Delivery counts of one client: (after expected, after delivered, during
/// expected, during delivered), given the server clock of every tick
/// (`tick_ms`, gaps filled) and the end of the window.
fn client_delivery(rec: &ClientRec, tick_ms: &[u64], end_ms: u64, cut: bool) -> [u64; 4] {
    let mut got = rec.post.clone();
    got.sort_unstable();
    got.dedup();
    let received = |s: usize| got.binary_search(&(s as u32)).is_ok();
    let mut counts = [0u64; 4];
    let Some(_) = rec.back_at else {
        return counts;
    };
    let first = if cut {
        rec.last_seq_before as usize + 1
    } else {
        1
    };
    for (seq, &ms) in tick_ms.iter().enumerate().skip(first.max(1)) {
        if ms == 0 || ms > end_ms {
            continue;
        }
        let slot = if ms > rec.back_at_ms {
            0
        } else if cut {
            2
        } else {
            continue;
        };
        counts[slot] += 1;
        if received(seq) {
            counts[slot + 1] += 1;
        }
    }
    counts
}

/// Runs the scenario.
pub fn run(args: AvalancheArgs) -> Result<Report, String> {
    let common = &args.common;
    let conns = bounded("conns", args.conns, super::MAX_CONNS)?;
    bounded("max-pending", args.max_pending, 100_000)?;
    if !(args.rate > 0.0 && args.rate <= 1e6) {
        return Err("--rate must be in (0, 1e6]".into());
    }
    if !(0.0..=1.0).contains(&args.randomization) || args.reconnect_delay_ms == 0 {
        return Err("--randomization must be in [0, 1], --reconnect-delay-ms above 0".into());
    }
    let hold = super::seconds("hold", args.hold)?;
    let after = super::seconds("after", args.after)?;
    let storm_timeout = super::seconds("storm-timeout", args.storm_timeout)?;
    if args.attempt_timeout_ms == 0 {
        return Err("--attempt-timeout-ms must be above 0".into());
    }
    let attempt_timeout = Duration::from_millis(args.attempt_timeout_ms);
    let restart_cmd = match args.mode {
        StormMode::Restart => Some((
            common
                .server_pid
                .ok_or("--mode restart needs --server-pid")?,
            args.restart_cmd
                .clone()
                .ok_or("--mode restart needs --restart-cmd")?,
        )),
        StormMode::Cut => None,
    };
    let target = engine_target(&common.url, Transport::Websocket)?;
    let fd_limit = super::prepare(common)?;
    let runtime = super::runtime(common.coalesce_us)?;
    let started_at = Instant::now();
    let figures = LocalSet::new().block_on(&runtime, async {
        let setup = Rc::new(Setup {
            connector: Connector::new(&target, common.source_addrs).await?,
            target,
            mode: args.mode,
            backoff: Backoff {
                min_ms: args.reconnect_delay_ms,
                max_ms: args.reconnect_delay_max_ms.max(args.reconnect_delay_ms),
                jitter: args.randomization,
            },
            attempt_timeout,
        });
        let (storm, _) = watch::channel(0u32);
        let shared = Rc::new(Shared {
            storm,
            open: Cell::new(0),
            connected_initial: Cell::new(0),
            failed_initial: Cell::new(0),
            back: Cell::new(0),
            storm_attempts: Cell::new(0),
            storm_failed: Cell::new(0),
            first_error: RefCell::new(None),
            first_initial_error: RefCell::new(None),
            tick_ms: RefCell::new(Vec::new()),
            recording: Cell::new(true),
            bad_ticks: Cell::new(0),
            clients: RefCell::new((0..conns).map(|_| ClientRec::default()).collect()),
        });
        let progress = Progress::new(common, conns as u64, "clients");
        let mut figures = AvalancheFigures {
            storm_mode: match args.mode {
                StormMode::Restart => "restart",
                StormMode::Cut => "cut",
            },
            fd_limit,
            ..AvalancheFigures::default()
        };

        // 1. Connect every client.
        progress.stage("connect", conns as u64);
        let started = Instant::now();
        let deadline = started + CONNECT_TIMEOUT;
        let mut tasks: Vec<JoinHandle<()>> = Vec::with_capacity(conns);
        let gap = Duration::from_secs_f64(1.0 / args.rate);
        let mut next = tokio::time::Instant::now();
        for id in 0..conns {
            while tasks.len() - shared.connected_initial.get() >= args.max_pending {
                if Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep_until(next).await;
            next += gap;
            tasks.push(tokio::task::spawn_local(client(
                id,
                setup.clone(),
                shared.clone(),
            )));
            if id % 64 == 0 {
                progress.set(shared.connected_initial.get() as u64, String::new());
            }
        }
        while shared.connected_initial.get() < conns && Instant::now() < deadline {
            progress.set(shared.connected_initial.get() as u64, String::new());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        figures.initial_connect_s = started.elapsed().as_secs_f64();
        figures.initial_failed = shared.failed_initial.get();
        if shared.connected_initial.get() < conns {
            return Err(format!(
                "only {} of {conns} clients connected in {CONNECT_TIMEOUT:?} ({} failed attempts; first error: {})",
                shared.connected_initial.get(),
                shared.failed_initial.get(),
                shared
                    .first_initial_error
                    .borrow()
                    .as_deref()
                    .unwrap_or("none"),
            ));
        }
        progress.stage("hold", hold.as_millis() as u64);
        tokio::time::sleep(hold).await;

        // 2. The storm.
        progress.stage("storm", conns as u64);
        let storm_at = Instant::now();
        let _server = match &restart_cmd {
            Some((pid, cmd)) => {
                let _ = shared.storm.send(1);
                Some(restart(*pid, cmd).await?)
            }
            None => {
                let _ = shared.storm.send(1);
                None
            }
        };
        let deadline = storm_at + storm_timeout;
        while shared.back.get() < conns && Instant::now() < deadline {
            progress.set(
                shared.back.get() as u64,
                format!("{} failed", shared.storm_failed.get()),
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if shared.back.get() >= conns {
            figures.all_back_s = Some(storm_at.elapsed().as_secs_f64());
        }

        // 3. The window.
        progress.stage("window", after.as_millis() as u64);
        let window_start = Instant::now();
        tokio::time::sleep(after).await;
        let end_ms = now_ms();
        figures.window_s = window_start.elapsed().as_secs_f64();
        tokio::time::sleep(GRACE).await;
        shared.recording.set(false);
        progress.finish();
        for task in &tasks {
            task.abort();
        }

        // 4. Figures.
        figures.back = shared.back.get();
        figures.storm_attempts = shared.storm_attempts.get();
        figures.storm_failed = shared.storm_failed.get();
        figures.storm_first_error = shared.first_error.borrow().clone();
        figures.bad_ticks = shared.bad_ticks.get();
        let mut tick_ms = shared.tick_ms.borrow().clone();
        // A tick nobody received takes the clock of the one before it.
        for i in 1..tick_ms.len() {
            if tick_ms.get(i) == Some(&0) {
                tick_ms[i] = tick_ms[i - 1];
            }
        }
        let cut = args.mode == StormMode::Cut;
        let clients = shared.clients.borrow();
        let mut reconnect: Vec<f64> = Vec::with_capacity(conns);
        let mut totals = [0u64; 4];
        let mut recovered = 0;
        for rec in clients.iter() {
            if let Some(at) = rec.back_at {
                reconnect.push(at.duration_since(storm_at).as_secs_f64());
            }
            figures.dropped_again += usize::from(rec.reconnects > 1);
            recovered += usize::from(rec.recovered);
            let counts = client_delivery(rec, &tick_ms, end_ms, cut);
            if counts[1] * 1000 < counts[0] * 999 {
                figures.clients_below_999 += 1;
            }
            for (total, count) in totals.iter_mut().zip(counts) {
                *total += count;
            }
        }
        reconnect.sort_by(f64::total_cmp);
        figures.reconnect_p50_s = quantile(&reconnect, 0.5);
        figures.reconnect_p99_s = quantile(&reconnect, 0.99);
        figures.reconnect_max_s = reconnect.last().copied().unwrap_or(0.0);
        figures.after_expected = totals[0];
        figures.after_delivered = totals[1];
        figures.after_ratio = totals[1] as f64 / totals[0].max(1) as f64;
        if cut {
            figures.during_expected = Some(totals[2]);
            figures.during_delivered = Some(totals[3]);
            figures.during_ratio = Some(totals[3] as f64 / totals[2].max(1) as f64);
            figures.recovered = Some(recovered);
        }
        Ok::<_, String>(figures)
    })?;
    Ok(Report {
        scenario: "avalanche",
        transport: "websocket",
        label: common.label.clone(),
        round: common.round,
        url: common.url.clone(),
        conns,
        source_addrs: common.source_addrs,
        coalesce_us: common.coalesce_us,
        elapsed_s: started_at.elapsed().as_secs_f64(),
        avalanche: Some(figures),
        ..Report::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ticks_with_and_without_offsets() {
        assert_eq!(
            parse_tick(br#"42["tick",17,1700000000123]"#),
            Some((17, 1_700_000_000_123, None))
        );
        assert_eq!(
            parse_tick(br#"42["tick",3,9,"MzQ-1"]"#),
            Some((3, 9, Some(&b"MzQ-1"[..])))
        );
        assert_eq!(parse_tick(br#"42["tock",3,9]"#), None);
        assert_eq!(parse_tick(br#"42["tick",[3,9]]"#), None);
        assert_eq!(parse_tick(br#"42["tick",3]"#), None);
    }

    #[test]
    fn connect_packet_carries_pid_and_offset_only_together() {
        assert_eq!(connect_packet(None, None), b"40");
        assert_eq!(connect_packet(Some("p"), None), b"40");
        assert_eq!(
            connect_packet(Some("p\""), Some("o")),
            br#"40{"offset":"o","pid":"p\""}"#
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_maximum() {
        let b = Backoff {
            min_ms: 1000,
            max_ms: 5000,
            jitter: 0.5,
        };
        // r2 picks the direction: an even digit subtracts, an odd one adds.
        assert_eq!(b.delay(0, 0.0, 0.0), Duration::from_millis(1000));
        assert_eq!(b.delay(0, 0.99, 0.0), Duration::from_millis(505));
        assert_eq!(b.delay(0, 0.5, 0.15), Duration::from_millis(1250));
        assert_eq!(b.delay(1, 0.5, 0.0), Duration::from_millis(1500));
        assert_eq!(b.delay(2, 0.0, 0.0), Duration::from_millis(4000));
        assert_eq!(b.delay(3, 0.0, 0.0), Duration::from_millis(5000));
        assert_eq!(b.delay(50, 0.9, 0.95), Duration::from_millis(5000));
    }

    #[test]
    fn delivery_counts_ticks_after_reconnection_and_during_the_cut() {
        // Ticks 1..=6 at 100, 200, ... ms; the client saw up to 2 before the
        // cut, came back at 350 ms, got 3 (replayed), 5 and 6; the window
        // ends at 550 ms.
        let tick_ms = [0, 100, 200, 300, 400, 500, 600];
        let rec = ClientRec {
            last_seq_before: 2,
            back_at: Some(Instant::now()),
            back_at_ms: 350,
            post: vec![5, 3],
            ..ClientRec::default()
        };
        assert_eq!(client_delivery(&rec, &tick_ms, 550, true), [2, 1, 1, 1]);
        // Restart: only the ticks after the reconnection count.
        assert_eq!(client_delivery(&rec, &tick_ms, 550, false), [2, 1, 0, 0]);
        let never = ClientRec::default();
        assert_eq!(client_delivery(&never, &tick_ms, 550, true), [0; 4]);
    }

    #[test]
    fn quantiles_of_sorted_values() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
