//! The `idle` scenario: server memory per idle WebSocket connection.
//!
//! Reads the server's resident set size, opens `conns` connections at a
//! bounded rate (each one completing the handshake), lets the server settle for
//! `hold` seconds, reads the RSS again and reports the growth per connection.
//! All connections are then closed with a close frame and dropped.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpStream;
use tokio::task::LocalSet;

use crate::args::Args;
use crate::echo::seconds;
use crate::procfs;
use crate::ws::{self, Target};

struct Config {
    target: Target,
    server_pid: u32,
    conns: usize,
    /// Connections opened per second.
    rate: f64,
    hold: Duration,
    label: String,
}

/// One run's results, printed as one JSON object with `--json`.
#[derive(Serialize)]
struct IdleReport {
    mode: &'static str,
    label: String,
    url: String,
    conns: usize,
    rate: f64,
    hold_s: f64,
    /// Time taken to open all connections.
    open_s: f64,
    rss_before: u64,
    rss_after: u64,
    bytes_per_conn: f64,
}

pub fn main(mut args: Args) -> Result<(), String> {
    let config = Config {
        target: Target::parse(&args.required::<String>("url")?)?,
        server_pid: args.required("server-pid")?,
        conns: args.or("conns", 10_000)?,
        rate: args.or("rate", 2_000.0)?,
        hold: seconds(args.or("hold", 2.0)?)?,
        label: args.or("label", String::new())?,
    };
    let json = args.flag("json")?;
    args.finish()?;
    if config.conns == 0 || !config.rate.is_finite() || config.rate <= 0.0 {
        return Err("--conns and --rate must be positive".into());
    }
    crate::raise_fd_limit();
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).map_err(|e| e.to_string())?;
    if soft < config.conns as u64 + 64 {
        return Err(format!(
            "open-file limit {soft} is too low for {} connections",
            config.conns
        ));
    }
    procfs::check_alive(config.server_pid)?;

    let runtime = crate::runtime(Duration::ZERO)?;
    let report = LocalSet::new().block_on(&runtime, run(&config))?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "{}: {} idle connections: RSS {:.1} MiB -> {:.1} MiB, {:.0} bytes per connection",
            report.url,
            report.conns,
            report.rss_before as f64 / 1048576.0,
            report.rss_after as f64 / 1048576.0,
            report.bytes_per_conn
        );
    }
    Ok(())
}

async fn run(config: &Config) -> Result<IdleReport, String> {
    let rss_before = procfs::rss_bytes(config.server_pid)?;

    // Start one handshake every 1/rate seconds; handshakes overlap freely.
    let start = Instant::now();
    let mut pending = Vec::with_capacity(config.conns);
    for i in 0..config.conns {
        let due = start + Duration::from_secs_f64(i as f64 / config.rate);
        tokio::time::sleep_until(due.into()).await;
        let target = config.target.clone();
        pending.push(tokio::task::spawn_local(async move {
            ws::connect(&target).await
        }));
    }
    let mut open: Vec<TcpStream> = Vec::with_capacity(config.conns);
    let mut failures = 0usize;
    let mut first_failure = None;
    for task in pending {
        match task.await.map_err(|e| e.to_string())? {
            Ok((stream, _)) => open.push(stream),
            Err(e) => {
                failures += 1;
                first_failure.get_or_insert(e);
            }
        }
    }
    let open_s = start.elapsed().as_secs_f64();
    if let Some(e) = first_failure {
        return Err(format!(
            "{failures} of {} connections failed, first: {e}",
            config.conns
        ));
    }

    tokio::time::sleep(config.hold).await;
    procfs::check_alive(config.server_pid)?;
    let rss_after = procfs::rss_bytes(config.server_pid)?;

    // Close politely (best effort: the frame is tiny and the socket idle), then drop.
    let close = ws::close_frame([1, 2, 3, 4]);
    for stream in &open {
        let _ = stream.try_write(&close);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(open);

    Ok(IdleReport {
        mode: "idle",
        label: config.label.clone(),
        url: format!("ws://{}{}", config.target.authority, config.target.path),
        conns: config.conns,
        rate: config.rate,
        hold_s: config.hold.as_secs_f64(),
        open_s,
        rss_before,
        rss_after,
        bytes_per_conn: (rss_after as f64 - rss_before as f64) / config.conns as f64,
    })
}
