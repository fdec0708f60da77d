//! The result of one run: a JSON object (`--json`) or a table for people.

use serde::Serialize;

/// One run's results. Fields that a scenario does not measure stay at their
/// defaults (`None` ones are left out of the JSON).
#[derive(Serialize, Default, Debug)]
pub struct Report {
    /// `ws-echo`, `io-echo`, `io-broadcast`, `io-cluster` (`io-broadcast`
    /// with `--redis`), `connections` or `handshakes`.
    pub scenario: &'static str,
    /// `websocket` or `polling`; `wss` for WebSocket over TLS.
    pub transport: &'static str,
    /// `--label`.
    pub label: String,
    /// `--round`.
    pub round: u32,
    /// The server URL.
    pub url: String,
    /// Connections (receivers for `io-broadcast`).
    pub conns: usize,
    /// Message (payload) size in bytes.
    pub size: usize,
    /// Messages in flight per connection (broadcasts in flight for `io-broadcast`);
    /// with `rate`, the most in flight per connection.
    pub depth: usize,
    /// Fixed offered rate, messages per second in all (`--rate`), if any
    /// (broadcasts per second for `io-broadcast`); `msgs_per_s` is the
    /// achieved rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Messages due at the offered rate but not sent, because `depth` were
    /// already in flight on their connection (broadcasts: `window` in
    /// flight) (measured phase).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed: Option<u64>,
    /// Source addresses used.
    pub source_addrs: u8,
    /// Wake-up coalescing, microseconds.
    pub coalesce_us: u64,
    /// Warm-up asked for, seconds.
    pub warmup_s: f64,
    /// Measured phase asked for, seconds.
    pub duration_s: f64,
    /// Actual length of the measured phase, seconds.
    pub elapsed_s: f64,
    /// Round-trips completed in the measured phase (broadcasts that reached
    /// every receiver for `io-broadcast`).
    pub messages: u64,
    /// `messages` per second.
    pub msgs_per_s: f64,
    /// Single-receiver deliveries in the measured phase (the unit of the CPU
    /// figures; equal to `messages` but for `io-broadcast`).
    pub deliveries: u64,
    /// `deliveries` per second.
    pub deliveries_per_s: f64,
    /// Latency percentiles (microseconds): send to reply, or send to the
    /// delivery to the last receiver for `io-broadcast`.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest latency.
    pub max_us: f64,
    /// Server CPU time over the measured phase, seconds (`--server-pid`).
    pub server_cpu_s: Option<f64>,
    /// Server CPU per delivery, microseconds.
    pub server_cpu_us_per_msg: Option<f64>,
    /// Server's share of one core.
    pub server_cpu_util: Option<f64>,
    /// Server user CPU per delivery, microseconds (tick resolution).
    pub server_user_us_per_msg: Option<f64>,
    /// Server system CPU per delivery, microseconds (tick resolution).
    pub server_sys_us_per_msg: Option<f64>,
    /// Server system calls per delivery (`--count-syscalls`), summed over
    /// the servers of a cluster like the CPU figures.
    pub server_syscalls_per_msg: Option<f64>,
    /// Generator CPU time (user + system), seconds.
    pub gen_cpu_s: f64,
    /// Generator user time, seconds (tick resolution).
    pub gen_user_s: f64,
    /// Generator system time, seconds (tick resolution).
    pub gen_sys_s: f64,
    /// Generator CPU per delivery, microseconds.
    pub gen_cpu_us_per_msg: f64,
    /// Generator's share of one core: near 100%, the generator limited the run.
    pub gen_cpu_util: f64,
    /// Cores' worth of CPU used by everything else meanwhile (disturbance).
    pub other_cpu_util: f64,
    /// `handshakes`: attempts that failed (every phase).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<u64>,
    /// Engine.IO pings answered during the run.
    pub pings: u64,
    /// permessage-deflate figures (`--deflate`).
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub deflate: Option<DeflateFigures>,
    /// `connections` scenario figures.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub connections: Option<ConnFigures>,
    /// Cluster figures (`io-broadcast` with `--also-url` or `--redis`).
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub cluster: Option<ClusterFigures>,
    /// `avalanche` scenario figures.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub avalanche: Option<super::AvalancheFigures>,
}

/// Figures of a broadcast across the servers of a cluster. The server CPU
/// fields of [`Report`] are then summed over every server.
#[derive(Serialize, Default, Debug)]
pub struct ClusterFigures {
    /// Servers the receivers were spread over (the sender on the first).
    pub servers: usize,
    /// Broadcasts the sender sent during the measured phase.
    pub broadcasts_sent: u64,
    /// Deliveries to the receivers of the other servers (the ones that
    /// crossed servers) in the measured phase.
    pub remote_deliveries: u64,
    /// CPU of the other servers per delivery to their receivers, user time,
    /// microseconds (tick resolution).
    pub remote_server_user_us_per_delivery: Option<f64>,
    /// The same, system time.
    pub remote_server_sys_us_per_delivery: Option<f64>,
    /// The same, user + system.
    pub remote_server_cpu_us_per_delivery: Option<f64>,
    /// System calls of the other servers per delivery to their receivers
    /// (`--count-syscalls`).
    pub remote_server_syscalls_per_delivery: Option<f64>,
    /// PUBLISH calls Redis ran during the measured phase (`--redis`).
    pub publish_calls: Option<u64>,
    /// `publish_calls / broadcasts_sent`.
    pub publish_per_broadcast: Option<f64>,
}

/// permessage-deflate figures of a run with `--deflate`.
#[derive(Serialize, Default, Debug)]
pub struct DeflateFigures {
    /// Short name of the offer: `default`, `w10`, `nct`, `w10 nct`.
    pub deflate: String,
    /// The `Sec-WebSocket-Extensions` offer.
    pub deflate_offer: String,
    /// The server's response (of the first connection).
    pub deflate_response: String,
    /// Mean compressed payload the generator sends per message, bytes.
    pub client_wire_bytes_per_msg: f64,
    /// Mean payload the server sent per echo, bytes (measured phase;
    /// `connections`: the warm-up messages).
    pub server_wire_bytes_per_msg: f64,
    /// Echoes that came compressed (RSV1) out of all echoes checked.
    pub compressed_echoes: u64,
    /// Echoes inflated (when compressed) and compared with what was sent.
    pub checked_echoes: u64,
}

/// Figures of the `connections` scenario.
#[derive(Serialize, Default, Debug)]
pub struct ConnFigures {
    /// `ws` or `io`.
    pub protocol: &'static str,
    /// The generator's open-file soft limit after raising it.
    pub fd_limit: u64,
    /// Connections open (handshake complete) after the opening phase.
    pub opened: usize,
    /// Connection attempts that failed.
    pub failed: usize,
    /// Seconds the opening phase took.
    pub connect_s: f64,
    /// `opened / connect_s`.
    pub connect_rate: f64,
    /// Server RSS before opening, bytes.
    pub rss_before: Option<u64>,
    /// Server RSS with every connection open, after `--hold`.
    pub rss_open: Option<u64>,
    /// Server's open file descriptors with every connection open.
    pub server_fds_open: Option<usize>,
    /// Server's open file descriptors after the churn and `--hold`.
    pub server_fds_after_churn: Option<usize>,
    /// `(rss_open - rss_before) / opened`, bytes.
    pub rss_per_conn: Option<f64>,
    /// Heartbeat: connections asked (WebSocket pings sent) or checked.
    pub heartbeat_checked: usize,
    /// Heartbeat: pongs received (WebSocket) or connections that answered a
    /// server ping during the window (Socket.IO).
    pub heartbeat_answered: usize,
    /// Heartbeat: seconds until the last answer (WebSocket) or the window.
    pub heartbeat_s: f64,
    /// Heartbeat: Engine.IO pings answered during the window (Socket.IO).
    pub heartbeat_pings: u64,
    /// Heartbeat: server CPU time during the window, seconds (`--server-pid`).
    pub heartbeat_server_cpu_s: Option<f64>,
    /// Connections still open after the heartbeat round.
    pub alive: usize,
    /// Churn: connections closed and reopened.
    pub churned: usize,
    /// Churn: reopen attempts that failed.
    pub churn_failed: usize,
    /// Churn: seconds it took.
    pub churn_s: f64,
    /// Server RSS after the churn and `--hold`.
    pub rss_after_churn: Option<u64>,
    /// Connections open after the churn.
    pub alive_after_churn: usize,
}

fn kb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

impl Report {
    /// The report as an aligned two-column table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            (
                "scenario",
                format!("{} over {}", self.scenario, self.transport),
            ),
            ("url", self.url.clone()),
        ];
        if let Some(avalanche) = &self.avalanche {
            rows.push(("clients", self.conns.to_string()));
            rows.extend(avalanche.rows());
        }
        match &self.connections {
            _ if self.avalanche.is_some() => {}
            None => {
                let broadcast = self.scenario == "io-broadcast" || self.scenario == "io-cluster";
                let depth = if broadcast { "window" } else { "depth" };
                let load = match self.rate {
                    _ if self.scenario == "handshakes" => {
                        format!("{} connections in progress at once", self.conns)
                    }
                    Some(rate) if broadcast => format!(
                        "{} receivers x {} B at {rate:.0} broadcasts/s offered (at most {} \
                         in flight; {} missed)",
                        self.conns,
                        self.size,
                        self.depth,
                        self.missed.unwrap_or(0)
                    ),
                    Some(rate) => format!(
                        "{} conns x {} B at {rate:.0} msgs/s offered (at most {} in flight \
                         per connection; {} missed)",
                        self.conns,
                        self.size,
                        self.depth,
                        self.missed.unwrap_or(0)
                    ),
                    None => format!(
                        "{} conns x {} B, {depth} {}",
                        self.conns, self.size, self.depth
                    ),
                };
                rows.push(("load", load));
                rows.push((
                    "measured",
                    format!(
                        "{:.2} s after {:.1} s warm-up",
                        self.elapsed_s, self.warmup_s
                    ),
                ));
                let per_s = match self.scenario {
                    "handshakes" => "handshakes/s",
                    _ => "msgs/s",
                };
                let achieved = match self.rate {
                    Some(rate) if rate > 0.0 => {
                        format!(
                            "; {:.1}% of the offered rate",
                            self.msgs_per_s * 100.0 / rate
                        )
                    }
                    _ => String::new(),
                };
                rows.push((
                    per_s,
                    format!(
                        "{:.0} ({} in all{achieved})",
                        self.msgs_per_s, self.messages
                    ),
                ));
                if let Some(c) = &self.cluster {
                    rows.push((
                        "cluster",
                        format!(
                            "{} servers, {} broadcasts sent, {} deliveries crossed servers",
                            c.servers, c.broadcasts_sent, c.remote_deliveries
                        ),
                    ));
                    if let (Some(u), Some(s)) = (
                        c.remote_server_user_us_per_delivery,
                        c.remote_server_sys_us_per_delivery,
                    ) {
                        rows.push((
                            "other servers CPU",
                            format!("{u:.2} / {s:.2} us user/sys per delivery to their receivers"),
                        ));
                    }
                    if let Some(n) = c.remote_server_syscalls_per_delivery {
                        rows.push((
                            "other servers syscalls",
                            format!("{n:.2} per delivery to their receivers"),
                        ));
                    }
                    if let (Some(calls), Some(per)) = (c.publish_calls, c.publish_per_broadcast) {
                        rows.push((
                            "redis PUBLISH",
                            format!("{calls} calls, {per:.3} per broadcast"),
                        ));
                    }
                }
                if broadcast {
                    rows.push((
                        "deliveries/s",
                        format!("{:.0} ({} in all)", self.deliveries_per_s, self.deliveries),
                    ));
                }
                rows.push((
                    "latency",
                    format!(
                        "p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
                        self.p50_us, self.p99_us, self.p999_us, self.max_us
                    ),
                ));
                let unit = match (broadcast, self.scenario) {
                    (true, _) => "delivery",
                    (false, "handshakes") => "handshake",
                    _ => "msg",
                };
                if let Some(failed) = self.failed {
                    rows.push(("failed", failed.to_string()));
                }
                if let (Some(per), Some(util)) = (self.server_cpu_us_per_msg, self.server_cpu_util)
                {
                    rows.push((
                        "server CPU",
                        format!("{per:.2} us/{unit} ({:.0}% of a core)", util * 100.0),
                    ));
                    if let (Some(u), Some(s)) =
                        (self.server_user_us_per_msg, self.server_sys_us_per_msg)
                    {
                        rows.push(("server user/sys", format!("{u:.2} / {s:.2} us/{unit}")));
                    }
                    if let Some(n) = self.server_syscalls_per_msg {
                        rows.push(("server syscalls", format!("{n:.2} per {unit}")));
                    }
                } else {
                    rows.push(("server CPU", "(no --server-pid)".into()));
                }
                rows.push((
                    "generator CPU",
                    format!(
                        "{:.2} us/{unit} ({:.0}% of a core; user {:.2} s, sys {:.2} s)",
                        self.gen_cpu_us_per_msg,
                        self.gen_cpu_util * 100.0,
                        self.gen_user_s,
                        self.gen_sys_s
                    ),
                ));
                rows.push((
                    "other load",
                    format!("{:.0}% of a core", self.other_cpu_util * 100.0),
                ));
                if self.scenario.starts_with("io-") {
                    rows.push(("pings answered", self.pings.to_string()));
                }
            }
            Some(c) => {
                rows.push(("protocol", c.protocol.to_string()));
                rows.push((
                    "opened",
                    format!(
                        "{} of {} ({} failed) in {:.2} s: {:.0} conn/s",
                        c.opened, self.conns, c.failed, c.connect_s, c.connect_rate
                    ),
                ));
                rows.push(("fd limit", c.fd_limit.to_string()));
                if let (Some(before), Some(open)) = (c.rss_before, c.rss_open) {
                    rows.push((
                        "server RSS",
                        format!(
                            "{} before, {} open: {:.0} bytes/conn",
                            kb(before),
                            kb(open),
                            c.rss_per_conn.unwrap_or(f64::NAN)
                        ),
                    ));
                }
                rows.push((
                    "heartbeat",
                    format!(
                        "{} of {} answered in {:.2} s; {} alive",
                        c.heartbeat_answered, c.heartbeat_checked, c.heartbeat_s, c.alive
                    ),
                ));
                if let Some(cpu) = c.heartbeat_server_cpu_s {
                    let answers = c.heartbeat_answered.max(1) as f64;
                    rows.push((
                        "heartbeat server CPU",
                        format!(
                            "{cpu:.2} s ({:.1} us per answered connection)",
                            cpu * 1e6 / answers
                        ),
                    ));
                }
                if c.churn_s > 0.0 {
                    rows.push((
                        "churn",
                        format!(
                            "{} reopened ({} failed) in {:.1} s; {} alive after",
                            c.churned, c.churn_failed, c.churn_s, c.alive_after_churn
                        ),
                    ));
                    if let Some(after) = c.rss_after_churn {
                        rows.push(("server RSS after churn", kb(after)));
                    }
                    if let (Some(open), Some(after)) = (c.server_fds_open, c.server_fds_after_churn)
                    {
                        rows.push(("server fds", format!("{open} open, {after} after churn")));
                    }
                }
                rows.push((
                    "generator CPU",
                    format!(
                        "{:.2} s ({:.0}% of a core)",
                        self.gen_cpu_s,
                        self.gen_cpu_util * 100.0
                    ),
                ));
                if self.pings > 0 {
                    rows.push(("pings answered", self.pings.to_string()));
                }
            }
        }
        if let Some(d) = &self.deflate {
            rows.push((
                "deflate offer",
                format!("{} ({})", d.deflate_offer, d.deflate),
            ));
            rows.push(("deflate response", d.deflate_response.clone()));
            rows.push((
                "deflate bytes/msg",
                format!(
                    "{:.0} sent (compressed alone), {:.0} echoed",
                    d.client_wire_bytes_per_msg, d.server_wire_bytes_per_msg
                ),
            ));
            rows.push((
                "echoes compressed",
                format!("{} of {} checked", d.compressed_echoes, d.checked_echoes),
            ));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (key, value) in rows {
            out.push_str(&format!("{key:<width$}  {value}\n"));
        }
        out
    }
}
