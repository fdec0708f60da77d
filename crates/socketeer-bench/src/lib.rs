//! `socketeer bench`: a load generator for WebSocket and Socket.IO servers.
//!
//! Scenarios (one subcommand each):
//! * `ws-echo`: C WebSocket connections keep D messages of S bytes in flight
//!   against an echo server; messages/s, latency, CPU per message;
//! * `io-echo`: Socket.IO event + acknowledgement round-trips (or `echo`
//!   events answered by `echo` events), over WebSocket or long-polling;
//! * `io-broadcast`: C receivers, one sender; deliveries/s and the time for
//!   the LAST receiver to get each broadcast; with `--also-url` the
//!   receivers are spread over the servers of a cluster, and with `--redis`
//!   the Redis they share counts its PUBLISH calls (scenario `io-cluster`);
//! * `connections`: opens C idle connections (WebSocket or Socket.IO) at a
//!   given rate, holds them, checks that every one answers a heartbeat, can
//!   churn them, and reports the server's resident memory per connection;
//! * `avalanche`: N Socket.IO clients lose their connection at once (server
//!   restart, or every connection cut) and reconnect with socket.io-client's
//!   backoff; time until all are back, and how many `tick` broadcasts
//!   reached them (see `avalanche/mod.rs`);
//! * `handshakes`: K clients open, upgrade and close connections one after
//!   another (with a full TLS handshake over `wss://`); handshakes/s and
//!   server CPU per handshake.
//!
//! `ws-echo`, `io-echo` and `handshakes` also run over `wss://` (`--ca`:
//! the certificate to trust), with rustls; `io-echo --transport polling`
//! over `https://`.
//!
//! `ws-echo`, `io-echo` (over WebSocket) and `io-broadcast` also run at a
//! fixed offered rate (`--rate`: open loop, latency from when each message
//! was due, those due with the pipeline full counted as missed; the
//! Socket.IO scenarios' schedule is in `pace.rs`), so that every target
//! gets the same load whatever the generator's own ceiling.
//!
//! The generator is built not to be the bottleneck: one thread (pin it to a
//! core), hand-made client frames masked once, every connection's output in
//! one `write`, every complete frame parsed out of each `recv`, and wake-ups
//! coalesced (`--coalesce-us`). Its own CPU time is reported beside the
//! server's (`--server-pid`, from `/proc/PID/stat`) so that a run limited by
//! the generator shows it. With `--count-syscalls` the server's system calls
//! over the measured phase are counted too (`perf stat`, see `syscalls.rs`).

#![forbid(unsafe_code)]

mod avalanche;
mod broadcast;
mod conns;
mod deflate;
mod duplex;
mod echo;
mod handshakes;
mod io;
mod net;
mod pace;
mod poll;
mod redis_info;
mod report;
mod sys;
mod syscalls;
mod tls;
mod wire;
mod ws_echo;

use std::cell::Cell;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use avalanche::AvalancheFigures;
pub use report::Report;

/// Upper bounds on what a run may ask for (everything is bounded).
const MAX_DURATION_S: f64 = 3600.0;
const MAX_CONNS: usize = 1_000_000;
const MAX_SIZE: usize = 16 * 1024 * 1024;
const MAX_DEPTH: usize = 4096;

/// Command-line arguments of `socketeer bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// WebSocket echo: C connections x S bytes, D messages in flight each.
    WsEcho(WsEchoArgs),
    /// Socket.IO event + ack round-trips (or echo events).
    IoEcho(IoEchoArgs),
    /// Socket.IO broadcast: C receivers, one sender, fan-out deliveries/s.
    IoBroadcast(IoBroadcastArgs),
    /// Idle connections: open C at a rate, hold, heartbeat, churn, RSS.
    Connections(ConnArgs),
    /// Reconnect avalanche: N Socket.IO clients lose their connection at
    /// once (server restart or cut) and come back with backoff.
    Avalanche(AvalancheArgs),
    /// Opening handshakes per second: connect, TLS (wss://), upgrade,
    /// close, K at a time.
    Handshakes(HandshakeArgs),
}

/// Options every scenario takes.
#[derive(clap::Args, Clone, Debug)]
pub struct Common {
    /// Server URL: ws://HOST:PORT[/PATH] (http:// is accepted too).
    /// Socket.IO scenarios default the path to /socket.io/. ws-echo,
    /// io-echo and handshakes also take wss:// (with --ca; io-echo over
    /// polling: https://).
    #[arg(long)]
    url: String,
    /// PEM certificate(s) to trust for a wss:// or https:// URL (a self-signed server
    /// certificate, or its CA). Sessions are never resumed: every
    /// connection makes a full TLS handshake.
    #[arg(long, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// PID of the server: its CPU time and RSS are read from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Spread connections over the loopback source addresses 127.0.0.1 to
    /// 127.0.0.N (bound before connect), to exceed one address's ephemeral ports.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=254))]
    source_addrs: u8,
    /// Sleep this long before each poll for events, so that one wake-up
    /// serves a burst of replies (0 disables).
    #[arg(long, default_value_t = 50)]
    coalesce_us: u64,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress bar (it is drawn on stderr, and only on a terminal).
    #[arg(long)]
    no_progress: bool,
    /// Free-form label copied into the report (the target's name).
    #[arg(long, default_value = "")]
    label: String,
    /// Round number copied into the report.
    #[arg(long, default_value_t = 0)]
    round: u32,
}

/// Options of the throughput scenarios.
#[derive(clap::Args, Clone, Debug)]
pub struct Timing {
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Count the servers' system calls during the measured phase (`perf
    /// stat -e raw_syscalls:sys_enter -p PID`, needs perf and the right to
    /// trace the servers); reported per message, delivery or handshake.
    /// Without perf,
    /// a warning and no figure. Counting costs the server CPU (the
    /// tracepoint runs in each of its system calls): compare CPU figures of
    /// runs without it.
    #[arg(long)]
    count_syscalls: bool,
}

/// permessage-deflate options (`ws-echo`, `connections --protocol ws`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DeflateArgs {
    /// Offer permessage-deflate (RFC 7692) and require the server to accept
    /// it: ws-echo then sends 1 KiB-like JSON text messages (`--size`
    /// bytes, 64 different ones), compressed, and inflates and checks every
    /// echo; connections sends `--warm-messages` of them per connection
    /// before idling, so that both directions have carried a compressed
    /// message.
    #[arg(long)]
    deflate: bool,
    /// With --deflate: offer windows of 2^N bytes both ways
    /// (`server_max_window_bits=N; client_max_window_bits=N`), N in 9..=15.
    #[arg(long, requires = "deflate", value_parser = clap::value_parser!(u8).range(9..=15))]
    window_bits: Option<u8>,
    /// With --deflate: offer `server_no_context_takeover;
    /// client_no_context_takeover` (no history kept between messages).
    #[arg(long, requires = "deflate")]
    no_context_takeover: bool,
}

impl DeflateArgs {
    /// The offer, when `--deflate` is given.
    fn offer(&self) -> Option<deflate::Offer> {
        self.deflate.then_some(deflate::Offer {
            window_bits: self.window_bits,
            no_context_takeover: self.no_context_takeover,
        })
    }
}

/// `ws-echo` options.
#[derive(clap::Args, Clone, Debug)]
pub struct WsEchoArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    timing: Timing,
    #[command(flatten)]
    deflate: DeflateArgs,
    /// Connections.
    #[arg(long, short = 'c', default_value_t = 100)]
    conns: usize,
    /// Message size in bytes.
    #[arg(long, short = 's', default_value_t = 64)]
    size: usize,
    /// Messages in flight per connection.
    #[arg(long, short = 'd', default_value_t = 4)]
    depth: usize,
    /// Send text messages (default binary).
    #[arg(long)]
    text: bool,
    /// Do not write refills before reading the echoes they replace.
    #[arg(long)]
    no_refill_ahead: bool,
    /// Fixed offered rate, messages per second in all (spread evenly over
    /// the connections), instead of keeping `depth` in flight: every target
    /// then gets the same load and the same chances to batch. `depth`
    /// becomes the most messages in flight per connection; a message due
    /// when that many are in flight is not sent and counts as missed.
    /// Latency is measured from when each message was due.
    #[arg(long)]
    rate: Option<f64>,
}

/// Engine.IO transport of the Socket.IO scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// WebSocket from the start (`transport=websocket`).
    Websocket,
    /// HTTP long-polling only.
    Polling,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Websocket => "websocket",
            Transport::Polling => "polling",
        }
    }
}

/// How the server answers an `io-echo` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Reply {
    /// `message-with-ack` with an ack id; the server calls the ack.
    Ack,
    /// `echo` event; the server emits `echo` back.
    Event,
}

/// `io-echo` options.
#[derive(clap::Args, Clone, Debug)]
pub struct IoEchoArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    timing: Timing,
    /// Connections.
    #[arg(long, short = 'c', default_value_t = 100)]
    conns: usize,
    /// Payload string length in bytes.
    #[arg(long, short = 's', default_value_t = 64)]
    size: usize,
    /// Round-trips in flight per connection.
    #[arg(long, short = 'd', default_value_t = 1)]
    depth: usize,
    /// Engine.IO transport.
    #[arg(long, value_enum, default_value_t = Transport::Websocket)]
    transport: Transport,
    /// What the server does with each message.
    #[arg(long, value_enum, default_value_t = Reply::Ack)]
    reply: Reply,
    /// Fixed offered rate, messages (acks or echo events) per second in
    /// all, spread evenly over the connections, instead of keeping `depth`
    /// in flight: every target then gets the same load and the same chances
    /// to batch, whatever the generator's own ceiling. `depth` becomes the
    /// most messages in flight per connection; a message due when that
    /// many are in flight is not sent and counts as missed, and the report
    /// gives the achieved rate beside the offered one. Latency is measured
    /// from when each message was due. Over long-polling a connection with
    /// nothing in flight sleeps until its next message is due, then POSTs
    /// it and GETs the answer. Not over TLS.
    #[arg(long)]
    rate: Option<f64>,
}

/// `io-broadcast` options.
#[derive(clap::Args, Clone, Debug)]
pub struct IoBroadcastArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    timing: Timing,
    /// Receivers (the sender is one of them).
    #[arg(long, short = 'c', default_value_t = 1000)]
    conns: usize,
    /// Payload string length in bytes (at least 10: a sequence number).
    #[arg(long, short = 's', default_value_t = 64)]
    size: usize,
    /// Broadcasts in flight: a new one leaves when the oldest reached
    /// everyone (with `--rate`: the most in flight).
    #[arg(long, short = 'w', default_value_t = 4)]
    window: usize,
    /// Fixed offered rate, broadcasts per second, instead of sending a new
    /// one whenever one completes: every target gets the same load. A
    /// broadcast due when `window` are in flight is not sent and counts as
    /// missed, and the report gives the achieved rate beside the offered
    /// one. Latency is measured from when each broadcast was due.
    #[arg(long)]
    rate: Option<f64>,
    /// Another server of the same cluster (repeatable): the receivers are
    /// spread over `--url` and these in turn (receiver i on server i mod
    /// n), the sender (receiver 0) is on `--url`.
    #[arg(long = "also-url", value_name = "URL")]
    also_urls: Vec<String>,
    /// PID of an `--also-url` server (repeatable, same order): its CPU time
    /// is added to `--server-pid`'s, and reported per delivery to its own
    /// receivers (the cost of a delivery that crossed servers).
    #[arg(long = "also-server-pid", value_name = "PID")]
    also_server_pids: Vec<u32>,
    /// The Redis server (HOST:PORT) the cluster shares: its PUBLISH calls
    /// during the measured phase (`INFO commandstats`) are counted and
    /// reported per broadcast sent; the report's scenario is `io-cluster`.
    #[arg(long, value_name = "HOST:PORT")]
    redis: Option<String>,
}

/// `handshakes` options.
#[derive(clap::Args, Clone, Debug)]
pub struct HandshakeArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    timing: Timing,
    /// Connections in progress at once (each opens, upgrades and closes
    /// one connection after another).
    #[arg(long, short = 'c', default_value_t = 64)]
    in_flight: usize,
    /// Give up when more than this many attempts failed.
    #[arg(long, default_value_t = 100)]
    max_failures: u64,
}

/// Protocol of the `connections` scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// Plain WebSocket connections.
    Ws,
    /// Socket.IO sessions (namespace `/`).
    Io,
}

/// `connections` options.
#[derive(clap::Args, Clone, Debug)]
pub struct ConnArgs {
    #[command(flatten)]
    common: Common,
    /// Connections to open.
    #[arg(long, short = 'c', default_value_t = 1000)]
    conns: usize,
    /// Connections opened per second (at most).
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Connection attempts in progress at once, at most.
    #[arg(long, default_value_t = 256)]
    max_pending: usize,
    /// Seconds to let the server settle before reading its RSS.
    #[arg(long, default_value_t = 2.0)]
    hold: f64,
    /// WebSocket or Socket.IO.
    #[arg(long, value_enum, default_value_t = Protocol::Ws)]
    protocol: Protocol,
    /// Engine.IO transport (Socket.IO only).
    #[arg(long, value_enum, default_value_t = Transport::Websocket)]
    transport: Transport,
    /// Skip the heartbeat round.
    #[arg(long)]
    no_heartbeat: bool,
    /// Seconds to wait for heartbeat answers (WebSocket); Socket.IO waits
    /// one ping interval plus this.
    #[arg(long, default_value_t = 10.0)]
    heartbeat_timeout: f64,
    /// Churn: connections closed and reopened per second (0: no churn).
    #[arg(long, default_value_t = 0.0)]
    churn_rate: f64,
    /// Churn: seconds.
    #[arg(long, default_value_t = 30.0)]
    churn_duration: f64,
    /// Give up when this many connection attempts failed.
    #[arg(long, default_value_t = 100)]
    max_failures: usize,
    /// WebSocket only.
    #[command(flatten)]
    deflate: DeflateArgs,
    /// With --deflate: compressed messages each connection sends, waiting
    /// for each echo, before it idles (0: none, the compression state may
    /// then not exist yet on the server).
    #[arg(long, default_value_t = 1, requires = "deflate")]
    warm_messages: usize,
    /// With --deflate: size of those messages, bytes.
    #[arg(long, default_value_t = 1024, requires = "deflate")]
    warm_size: usize,
}

/// How the `avalanche` storm happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StormMode {
    /// Kill the server (`--server-pid`) and start a fresh one (`--restart-cmd`).
    Restart,
    /// Keep the server; reset every client's connection at once (clients
    /// reconnect with their recovery id and offset).
    Cut,
}

/// `avalanche` options.
#[derive(clap::Args, Clone, Debug)]
pub struct AvalancheArgs {
    #[command(flatten)]
    common: Common,
    /// Socket.IO clients (over WebSocket).
    #[arg(long, short = 'c', default_value_t = 10_000)]
    conns: usize,
    /// Clients connected per second at the start (at most).
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Initial connections in progress at once, at most.
    #[arg(long, default_value_t = 256)]
    max_pending: usize,
    /// Restart the server, or cut every connection (state recovery).
    #[arg(long, value_enum, default_value_t = StormMode::Restart)]
    mode: StormMode,
    /// Restart mode: shell command (`sh -c`) that starts a fresh server on
    /// the same port; it should `exec` the server, which is killed at the end.
    #[arg(long)]
    restart_cmd: Option<String>,
    /// Seconds connected before the storm.
    #[arg(long, default_value_t = 3.0)]
    hold: f64,
    /// Seconds observed after every client is back.
    #[arg(long, default_value_t = 10.0)]
    after: f64,
    /// Seconds to wait for every client to come back.
    #[arg(long, default_value_t = 60.0)]
    storm_timeout: f64,
    /// Backoff: first reconnection delay in ms (socket.io-client's
    /// `reconnectionDelay`).
    #[arg(long, default_value_t = 1000)]
    reconnect_delay_ms: u64,
    /// Backoff: longest delay in ms (`reconnectionDelayMax`).
    #[arg(long, default_value_t = 5000)]
    reconnect_delay_max_ms: u64,
    /// Backoff: jitter (`randomizationFactor`).
    #[arg(long, default_value_t = 0.5)]
    randomization: f64,
    /// Milliseconds a connection attempt may take (TCP, upgrade, Engine.IO
    /// open and Socket.IO connect) before it counts as failed and the
    /// client backs off and tries again (socket.io-client's `timeout`).
    #[arg(long, default_value_t = 20_000)]
    attempt_timeout_ms: u64,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let (common, outcome) = match args.scenario {
        Scenario::WsEcho(a) => (a.common.clone(), ws_echo::run(a)),
        Scenario::IoEcho(a) => (a.common.clone(), io::run_echo(a)),
        Scenario::IoBroadcast(a) => (a.common.clone(), broadcast::run(a)),
        Scenario::Connections(a) => (a.common.clone(), conns::run(a)),
        Scenario::Avalanche(a) => (a.common.clone(), avalanche::run(a)),
        Scenario::Handshakes(a) => (a.common.clone(), handshakes::run(a)),
    };
    match outcome {
        Ok(report) => {
            if common.json {
                match serde_json::to_string(&report) {
                    Ok(line) => println!("{line}"),
                    Err(e) => {
                        eprintln!("socketeer bench: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("socketeer bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Checks a seconds option and turns it into a `Duration`.
fn seconds(name: &str, value: f64) -> Result<Duration, String> {
    if !(0.0..=MAX_DURATION_S).contains(&value) {
        return Err(format!("--{name} must be between 0 and {MAX_DURATION_S} s"));
    }
    Ok(Duration::from_secs_f64(value))
}

/// Checks a count option against `1..=max`.
fn bounded(name: &str, value: usize, max: usize) -> Result<usize, String> {
    if value == 0 || value > max {
        return Err(format!("--{name} must be between 1 and {max}"));
    }
    Ok(value)
}

/// Prepares the process: raises the open-file limit, checks the server PID.
fn prepare(common: &Common) -> Result<u64, String> {
    let limit = sys::raise_nofile_limit()?;
    if let Some(pid) = common.server_pid {
        sys::check_alive(pid)?;
    }
    Ok(limit)
}

/// Builds the single-threaded runtime every scenario runs on.
///
/// With a non-zero `coalesce`, the thread sleeps that long each time it runs
/// out of work, just before it blocks in `epoll_wait`. Replies that arrive
/// meanwhile are picked up together: one wake-up, one `read` per connection
/// for a burst and one `write` for all the frames owed in return.
fn runtime(coalesce_us: u64) -> Result<tokio::runtime::Runtime, String> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    if coalesce_us > 0 {
        let coalesce = Duration::from_micros(coalesce_us.min(10_000));
        builder.on_thread_park(move || std::thread::sleep(coalesce));
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the tokio runtime: {e}"))
}

/// The phase of a throughput run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Warmup,
    Measure,
    Done,
}

/// A progress bar on stderr (hidden when stderr is not a terminal, or with
/// `--no-progress`).
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(common: &Common, len: u64, unit: &str) -> Progress {
        let target = if common.no_progress {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr_with_hz(4)
        };
        let bar = ProgressBar::with_draw_target(Some(len), target);
        let template = format!("{{prefix:>9}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar }
    }

    fn stage(&self, prefix: &'static str, len: u64) {
        self.bar.set_prefix(prefix);
        self.bar.set_length(len);
        self.bar.set_position(0);
    }

    fn set(&self, pos: u64, message: String) {
        self.bar.set_position(pos);
        self.bar.set_message(message);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// What is sampled at both ends of a measured phase besides the
/// generator's own CPU time: the servers' CPU time and, for a cluster, the
/// PUBLISH calls of its Redis.
#[derive(Clone, Debug, Default)]
struct Probes {
    /// Server PIDs (none, one, or every server of a cluster).
    pids: Vec<u32>,
    /// Redis `HOST:PORT` whose `cmdstat_publish` calls are read.
    redis: Option<String>,
    /// Count the system calls of `pids` too (`--count-syscalls`).
    syscalls: bool,
}

impl Probes {
    /// The one server of `--server-pid`, if any.
    fn server(pid: Option<u32>) -> Probes {
        Probes {
            pids: pid.into_iter().collect(),
            redis: None,
            syscalls: false,
        }
    }

    /// The same, counting the servers' system calls when `count` is set.
    fn count_syscalls(self, count: bool) -> Probes {
        Probes {
            syscalls: count,
            ..self
        }
    }
}

/// CPU figures over one measured phase.
#[derive(Clone, Debug)]
struct CpuSample {
    at: Instant,
    /// The servers' CPU time, summed.
    server: Option<Duration>,
    /// The servers' user and system time, summed.
    server_split: Option<(Duration, Duration)>,
    /// Each server's user and system time, in the order of the PIDs.
    per_server: Vec<(Duration, Duration)>,
    gen: Duration,
    gen_split: (Duration, Duration),
    machine: Duration,
    /// PUBLISH calls Redis has run (`Probes::redis`).
    publish_calls: Option<u64>,
    /// System calls of each server since the other sample, in the order of
    /// the PIDs (`Probes::syscalls`; only in the sample that ends a phase).
    syscalls: Option<Vec<u64>>,
}

impl CpuSample {
    fn take(probes: &Probes) -> Result<CpuSample, String> {
        let publish_calls = probes
            .redis
            .as_deref()
            .map(redis_info::publish_calls)
            .transpose()?;
        let at = Instant::now();
        let per_server = probes
            .pids
            .iter()
            .map(|&p| sys::proc_cpu(Some(p)))
            .collect::<Result<Vec<_>, _>>()?;
        let server_split = (!per_server.is_empty()).then(|| {
            per_server
                .iter()
                .fold((Duration::ZERO, Duration::ZERO), |(u, s), (pu, ps)| {
                    (u + *pu, s + *ps)
                })
        });
        let server = server_split.map(|(u, s)| u + s);
        Ok(CpuSample {
            at,
            server,
            server_split,
            per_server,
            gen: sys::self_cpu(),
            gen_split: sys::proc_cpu(None)?,
            machine: sys::machine_busy()?,
            publish_calls,
            syscalls: None,
        })
    }

    /// Fills the phase's length (`elapsed_s`) and the CPU fields of `report`
    /// for the phase from `self` to `end`, per `units` (messages or
    /// deliveries).
    fn fill(&self, end: &CpuSample, units: u64, report: &mut Report) -> Result<(), String> {
        report.elapsed_s = end.at.duration_since(self.at).as_secs_f64();
        let secs = report.elapsed_s.max(1e-9);
        let per_unit = |d: Duration| d.as_secs_f64() * 1e6 / units.max(1) as f64;
        let gen = end.gen.saturating_sub(self.gen);
        report.gen_cpu_s = gen.as_secs_f64();
        report.gen_user_s = end
            .gen_split
            .0
            .saturating_sub(self.gen_split.0)
            .as_secs_f64();
        report.gen_sys_s = end
            .gen_split
            .1
            .saturating_sub(self.gen_split.1)
            .as_secs_f64();
        report.gen_cpu_util = gen.as_secs_f64() / secs;
        report.gen_cpu_us_per_msg = per_unit(gen);
        let mut other = end.machine.saturating_sub(self.machine).as_secs_f64() - gen.as_secs_f64();
        if let (Some(a), Some(b)) = (self.server, end.server) {
            let server = b
                .checked_sub(a)
                .ok_or("server CPU time went backwards (was the server restarted?)")?;
            report.server_cpu_s = Some(server.as_secs_f64());
            report.server_cpu_us_per_msg = Some(per_unit(server));
            report.server_cpu_util = Some(server.as_secs_f64() / secs);
            other -= server.as_secs_f64();
        }
        if let (Some((u0, s0)), Some((u1, s1))) = (self.server_split, end.server_split) {
            report.server_user_us_per_msg = Some(per_unit(u1.saturating_sub(u0)));
            report.server_sys_us_per_msg = Some(per_unit(s1.saturating_sub(s0)));
        }
        if let Some(counts) = &end.syscalls {
            report.server_syscalls_per_msg =
                Some(counts.iter().sum::<u64>() as f64 / units.max(1) as f64);
        }
        report.other_cpu_util = (other / secs).max(0.0);
        Ok(())
    }
}

/// A counter that only one thread touches.
fn bump(cell: &Cell<u64>, by: u64) {
    cell.set(cell.get() + by);
}

/// State every connection of a throughput run shares (one thread, so `Cell`s).
struct RunState {
    phase: Cell<Phase>,
    /// Connections ready (handshake done).
    ready: Cell<usize>,
    /// Replies received in every phase (for the progress bar).
    replies: Cell<u64>,
    /// First connection failure; the run is invalid once set.
    failure: std::cell::RefCell<Option<String>>,
    /// Wakes the main task on progress (a connection ready or failed).
    wake: tokio::sync::Notify,
}

/// How long to wait for all connections to be ready.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connections get to close cleanly after the measured phase.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

impl RunState {
    fn new() -> RunState {
        RunState {
            phase: Cell::new(Phase::Warmup),
            ready: Cell::new(0),
            replies: Cell::new(0),
            failure: std::cell::RefCell::new(None),
            wake: tokio::sync::Notify::new(),
        }
    }

    fn fail(&self, message: String) {
        if self.phase.get() != Phase::Done {
            self.failure.borrow_mut().get_or_insert(message);
        }
        self.wake.notify_one();
    }

    fn check(&self) -> Result<(), String> {
        match &*self.failure.borrow() {
            None => Ok(()),
            Some(message) => Err(message.clone()),
        }
    }

    fn set_ready(&self) {
        self.ready.set(self.ready.get() + 1);
        self.wake.notify_one();
    }

    /// Sleeps `duration` (ticking the progress bar) unless a connection fails.
    async fn sleep(&self, duration: Duration, progress: &Progress) -> Result<(), String> {
        let start = tokio::time::Instant::now();
        let deadline = start + duration;
        let mut last = (start, self.replies.get());
        loop {
            self.check()?;
            let tick = (tokio::time::Instant::now() + Duration::from_millis(250)).min(deadline);
            let _ = tokio::time::timeout_at(tick, self.wake.notified()).await;
            let now = tokio::time::Instant::now();
            if now.duration_since(last.0) >= Duration::from_millis(200) {
                let replies = self.replies.get();
                let rate = (replies - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                progress.set(
                    now.duration_since(start).min(duration).as_millis() as u64,
                    format!("ms, {rate:.0} replies/s"),
                );
                last = (now, replies);
            }
            if now >= deadline {
                return self.check();
            }
        }
    }

    /// Waits until `conns` connections are ready.
    async fn wait_ready(&self, conns: usize, progress: &Progress) -> Result<(), String> {
        progress.stage("connect", conns as u64);
        let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
        while self.ready.get() < conns {
            self.check()?;
            progress.set(self.ready.get() as u64, String::new());
            let tick = (tokio::time::Instant::now() + Duration::from_millis(250)).min(deadline);
            let _ = tokio::time::timeout_at(tick, self.wake.notified()).await;
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "only {} of {conns} connections ready after {CONNECT_TIMEOUT:?}",
                    self.ready.get()
                ));
            }
        }
        self.check()
    }

    /// Warm-up, then the measured phase between two CPU samples.
    async fn warm_up_and_measure(
        &self,
        timing: &Timing,
        probes: &Probes,
        progress: &Progress,
    ) -> Result<(CpuSample, CpuSample), String> {
        let warmup = seconds("warmup", timing.warmup)?;
        let duration = seconds("duration", timing.duration)?;
        // perf is slow to start: it starts with the warm-up, counter off.
        let mut counter = if probes.syscalls {
            syscall_warning(syscalls::SyscallCounter::start(&probes.pids))
        } else {
            None
        };
        progress.stage("warm-up", warmup.as_millis() as u64);
        self.sleep(warmup, progress).await?;
        if let Some(c) = &mut counter {
            if syscall_warning(c.enable().await).is_none() {
                counter = None;
            }
        }
        let start = CpuSample::take(probes)?;
        self.phase.set(Phase::Measure);
        progress.stage("measure", duration.as_millis() as u64);
        self.sleep(duration, progress).await?;
        self.phase.set(Phase::Done);
        let mut end = CpuSample::take(probes)?;
        if let Some(c) = counter {
            end.syscalls = syscall_warning(c.finish().await);
        }
        progress.finish();
        Ok((start, end))
    }
}

/// The value, or `None` after a one-line warning on stderr: a run whose
/// system calls cannot be counted goes on without the figure.
fn syscall_warning<T>(result: Result<T, String>) -> Option<T> {
    result
        .map_err(|e| eprintln!("socketeer bench: warning: no system call count: {e}"))
        .ok()
}

/// Waits (bounded) for the connection tasks to end after the run.
async fn join_all(mut tasks: Vec<tokio::task::JoinHandle<()>>) {
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        for task in &mut tasks.iter_mut() {
            let _ = task.await;
        }
    })
    .await;
    for task in tasks {
        task.abort();
    }
}

/// Latency percentiles from a histogram of nanoseconds into `report`.
fn fill_latency(histogram: &hdrhistogram::Histogram<u64>, report: &mut Report) {
    let us = |q: f64| histogram.value_at_quantile(q) as f64 / 1e3;
    report.p50_us = us(0.5);
    report.p99_us = us(0.99);
    report.p999_us = us(0.999);
    report.max_us = histogram.max() as f64 / 1e3;
}

/// A latency histogram: 1 ns to 60 s, 3 significant digits.
fn histogram() -> Result<hdrhistogram::Histogram<u64>, String> {
    hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())
}

/// Records one latency sample.
fn record(histogram: &mut hdrhistogram::Histogram<u64>, sent: Instant, received: Instant) {
    let nanos = received.saturating_duration_since(sent).as_nanos();
    histogram.saturating_record(u64::try_from(nanos).unwrap_or(u64::MAX));
}
