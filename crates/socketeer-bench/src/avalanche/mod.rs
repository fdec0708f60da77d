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

mod backoff;
mod client;
mod figures;
mod restart;
mod state;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::{JoinHandle, LocalSet};

use super::net::Connector;
use super::wire::engine_target;
use super::{bounded, AvalancheArgs, Progress, Report, StormMode, Transport};
use backoff::Backoff;
use client::{client, now_ms};
use figures::{client_delivery, quantile};
use restart::restart;
use state::{ClientRec, Setup, Shared};

pub use figures::AvalancheFigures;

/// Largest tick sequence number kept (a day of ticks every 10 ms).
const MAX_SEQ: u64 = 10_000_000;
/// How long the initial connections may take, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long ticks in flight at the end of the window get to arrive.
const GRACE: Duration = Duration::from_secs(1);

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
