//! `bench-report RAW.jsonl RESULTS.md CHART.svg [HEADER.md]`: turns the JSON
//! lines of many `socketeer bench --json` runs into Markdown tables of
//! medians (one table per scenario cell, one row per target) and an SVG
//! chart of the main figures.
//!
//! Ratios are to the `socketeer` row of the same cell: a target's median
//! server CPU per message divided by socketeer's (above 1: the target needs
//! more CPU than socketeer), and its messages per second divided by
//! socketeer's. The `(min)` column is the lowest server CPU per message over
//! the rounds: interference only ever adds cost, so it is the least disturbed
//! figure. `max generator core use` near 100% means the generator, not the
//! server, limited a run.
//!
//! `handshakes` cells (opening handshakes per second, with TLS for `wss`)
//! read the same, per handshake instead of per message.
//!
//! Cells at a fixed offered rate (`socketeer bench --rate`) are told apart
//! by their title (`at N msgs/s offered`, `at N broadcasts/s offered`) and
//! have one more column: the achieved rate as a share of the offered one,
//! and the messages (broadcasts) missed because the pipeline was full. A
//! server that kept up is near 100% with nothing missed; well below that,
//! the cell saturated it and its figures read like an unpaced cell's (a few
//! misses alone are stalls longer than the pipeline covers).
//!
//! `io-cluster` cells get a table of their own: one row per target and
//! number of servers (the cluster, then the same target as one server), the
//! server CPU summed over the servers, the latency and CPU added by the
//! cluster over one server, the CPU of the servers that only received
//! broadcasts from another server per delivery to their clients (the cost of
//! a cross-server delivery) and the Redis PUBLISH calls per broadcast.
//!
//! permessage-deflate runs (`socketeer bench --deflate`) form cells of their
//! own, one per offer (`default`, `w10`, `nct`, ...), with, under the table,
//! the bytes on the wire per message and what each server answered to the
//! offer (compare targets only where they negotiated the same settings).
//! The `syscalls/unit` columns are the servers' system calls per message or
//! delivery over the measured phase (`socketeer bench --count-syscalls`),
//! `–` for runs without the count. Counting costs the server CPU, so when
//! a cell has runs without a count, the runs with one are left out of every
//! other figure (`scripts/bench` counts in runs of their own), and a target
//! with only counted runs there gets no row.

use std::fmt::Write as _;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

/// The row the ratios are computed against.
const REFERENCE: &str = "socketeer";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("bench-report: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (raw, md, svg, header) = match args {
        [raw, md, svg] => (raw, md, svg, None),
        [raw, md, svg, header] => (raw, md, svg, Some(header)),
        _ => return Err("usage: bench-report RAW.jsonl RESULTS.md CHART.svg [HEADER.md]".into()),
    };
    let text = std::fs::read_to_string(raw).map_err(|e| format!("{raw}: {e}"))?;
    let mut runs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if !line.trim().is_empty() {
            runs.push(
                serde_json::from_str::<Value>(line).map_err(|e| format!("{raw}:{}: {e}", n + 1))?,
            );
        }
    }
    let cells = cells(&runs);
    let mut out = match header {
        Some(h) => std::fs::read_to_string(h).map_err(|e| format!("{h}: {e}"))?,
        None => String::new(),
    };
    for cell in &cells {
        out.push_str(&render(cell));
    }
    std::fs::write(md, &out).map_err(|e| format!("{md}: {e}"))?;
    chart(&cells, svg)?;
    print!("{out}");
    Ok(())
}

fn num(run: &Value, key: &str) -> f64 {
    run[key].as_f64().unwrap_or(f64::NAN)
}

fn label(run: &Value) -> &str {
    run["label"].as_str().unwrap_or("?")
}

/// Median of the non-NaN values (mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| !v.is_nan());
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Runs of one scenario cell (same scenario, transport, conns, size, depth).
struct Cell<'a> {
    key: String,
    title: String,
    connections: bool,
    broadcast: bool,
    cluster: bool,
    /// Opening handshakes (`handshakes`): the unit is one handshake.
    handshakes: bool,
    /// The permessage-deflate offer's name, for runs with `--deflate`.
    deflate: Option<String>,
    /// The fixed offered rate (`--rate`), if any.
    rate: Option<f64>,
    runs: Vec<&'a Value>,
}

impl Cell<'_> {
    fn labels(&self) -> Vec<&str> {
        let mut labels: Vec<&str> = Vec::new();
        for r in self.runs.iter().filter(|r| self.figures_from(r)) {
            if !labels.contains(&label(r)) {
                labels.push(label(r));
            }
        }
        labels
    }

    fn median(&self, target: &str, key: &str) -> f64 {
        median(
            self.runs_for(target, key)
                .into_iter()
                .map(|r| num(r, key))
                .collect(),
        )
    }

    /// Whether the figures but the system calls come from `run`: not when
    /// it counted them and the cell has runs that did not (counting costs
    /// the server CPU).
    fn figures_from(&self, run: &Value) -> bool {
        !counted(run) || self.runs.iter().all(|r| counted(r))
    }

    /// The runs of `target` that the figures come from ([`Self::figures_from`]).
    fn of(&self, target: &str) -> Vec<&Value> {
        self.runs
            .iter()
            .copied()
            .filter(|r| label(r) == target && self.figures_from(r))
            .collect()
    }

    /// The runs of `target` that figure `key` comes from: the counting runs
    /// for a system call figure, else [`Self::of`].
    fn runs_for(&self, target: &str, key: &str) -> Vec<&Value> {
        if key.contains("syscalls") {
            self.runs
                .iter()
                .copied()
                .filter(|r| label(r) == target && counted(r))
                .collect()
        } else {
            self.of(target)
        }
    }
}

/// Whether the run counted the server's system calls (`--count-syscalls`).
fn counted(run: &Value) -> bool {
    run["server_syscalls_per_msg"].as_f64().is_some()
}

fn cells(runs: &[Value]) -> Vec<Cell<'_>> {
    let mut cells: Vec<Cell<'_>> = Vec::new();
    for r in runs {
        let scenario = r["scenario"].as_str().unwrap_or("?");
        let transport = r["transport"].as_str().unwrap_or("?");
        let (conns, size, depth) = (&r["conns"], &r["size"], &r["depth"]);
        let connections = scenario == "connections";
        let protocol = r["protocol"].as_str().unwrap_or("");
        let rate = r["rate"].as_f64();
        let deflate = r["deflate"].as_str().map(str::to_string);
        let key = format!(
            "{scenario}/{protocol}/{transport}/{conns}/{size}/{depth}/{rate:?}/{deflate:?}"
        );
        let title = if let (true, Some(offer)) = (connections, &deflate) {
            format!(
                "Idle WebSocket connections with permessage-deflate ({offer}), \
                 after one compressed message each way: {conns}"
            )
        } else if let Some(offer) = &deflate {
            format!(
                "{scenario} with permessage-deflate ({offer}): {conns} connections x {size} B \
                 JSON text at {:.0} msgs/s offered (at most {depth} in flight each)",
                rate.unwrap_or(f64::NAN)
            )
        } else if connections {
            if protocol == "io" {
                format!("Idle Socket.IO connections over {transport}: {conns}")
            } else {
                format!("Idle WebSocket connections: {conns}")
            }
        } else if scenario == "handshakes" {
            let tls = if transport == "wss" { "TLS, " } else { "" };
            format!("{scenario} over {transport}: {conns} in flight (connect, {tls}upgrade, close)")
        } else if let (true, Some(rate)) = (scenario == "io-broadcast", rate) {
            format!(
                "{scenario}: {conns} receivers x {size} B at {rate:.0} broadcasts/s offered \
                 (at most {depth} in flight)"
            )
        } else if scenario == "io-broadcast" {
            format!("{scenario}: {conns} receivers x {size} B, window {depth}")
        } else if scenario == "io-cluster" {
            format!(
                "{scenario}: {conns} receivers x {size} B, window {depth}, spread over the servers of one Redis"
            )
        } else if let Some(rate) = rate {
            format!(
                "{scenario} over {transport}: {conns} connections x {size} B \
                 at {rate:.0} msgs/s offered (at most {depth} in flight each)"
            )
        } else {
            format!("{scenario} over {transport}: {conns} connections x {size} B, depth {depth}")
        };
        match cells.iter_mut().find(|c| c.key == key) {
            Some(cell) => cell.runs.push(r),
            None => cells.push(Cell {
                key,
                title,
                connections,
                broadcast: scenario == "io-broadcast",
                cluster: scenario == "io-cluster",
                handshakes: scenario == "handshakes",
                deflate,
                rate,
                runs: vec![r],
            }),
        }
    }
    cells
}

/// `v` with `digits` decimals, or `–` when absent (NaN).
fn dash(v: f64, digits: usize) -> String {
    if v.is_nan() {
        "–".to_string()
    } else {
        format!("{v:.digits$}")
    }
}

fn ratio(value: f64, reference: f64) -> String {
    if value.is_nan() || reference.is_nan() || reference <= 0.0 {
        "n/a".into()
    } else {
        format!("{:.2}", value / reference)
    }
}

fn servers(run: &Value) -> u64 {
    run["servers"].as_u64().unwrap_or(1)
}

/// Median of `key` over the runs of `target` with `n` servers.
fn median_of(cell: &Cell<'_>, target: &str, n: u64, key: &str) -> f64 {
    median(
        cell.runs_for(target, key)
            .into_iter()
            .filter(|r| servers(r) == n)
            .map(|r| num(r, key))
            .collect(),
    )
}

fn render_cluster(cell: &Cell<'_>) -> String {
    let mut out = format!("### {}\n\n", cell.title);
    out.push_str(
        "| target | servers | runs | broadcasts/s | deliveries/s | p50 µs | p99 µs | added p50 / p99 µs | server CPU µs/delivery (sum) | user / sys | syscalls/delivery (sum) | × one server | cross-server CPU µs/delivery | user / sys | cross-server syscalls/delivery | cross-server ratio to socketeer | PUBLISH per broadcast | max generator core use | max other load |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut counts: Vec<u64> = cell.runs.iter().map(|r| servers(r)).collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts.dedup();
    let cluster_n = counts.first().copied().unwrap_or(1);
    let cross_ref = median_of(
        cell,
        REFERENCE,
        cluster_n,
        "remote_server_cpu_us_per_delivery",
    );
    for target in cell.labels() {
        let one = |k: &str| median_of(cell, target, 1, k);
        for &n in &counts {
            let runs: Vec<&Value> = cell
                .of(target)
                .into_iter()
                .filter(|r| servers(r) == n)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let m = |k: &str| median_of(cell, target, n, k);
            let max = |k: &str| {
                runs.iter()
                    .map(|r| num(r, k))
                    .filter(|v| !v.is_nan())
                    .fold(f64::NAN, f64::max)
            };
            let (added, times) = if n == 1 {
                ("–".to_string(), "–".to_string())
            } else {
                (
                    format!(
                        "{} / {}",
                        dash(m("p50_us") - one("p50_us"), 0),
                        dash(m("p99_us") - one("p99_us"), 0)
                    ),
                    ratio(m("server_cpu_us_per_msg"), one("server_cpu_us_per_msg")),
                )
            };
            let _ = writeln!(
                out,
                "| {target} | {n} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {added} | {:.2} | {:.2} / {:.2} | {} | {times} | {} | {} / {} | {} | {} | {} | {:.0}% | {:.0}% |",
                runs.len(),
                m("msgs_per_s"),
                m("deliveries_per_s"),
                m("p50_us"),
                m("p99_us"),
                m("server_cpu_us_per_msg"),
                m("server_user_us_per_msg"),
                m("server_sys_us_per_msg"),
                dash(m("server_syscalls_per_msg"), 2),
                dash(m("remote_server_cpu_us_per_delivery"), 2),
                dash(m("remote_server_user_us_per_delivery"), 2),
                dash(m("remote_server_sys_us_per_delivery"), 2),
                dash(m("remote_server_syscalls_per_delivery"), 2),
                if n == 1 { "–".to_string() } else { ratio(m("remote_server_cpu_us_per_delivery"), cross_ref) },
                dash(m("publish_per_broadcast"), 3),
                max("gen_cpu_util") * 100.0,
                max("other_cpu_util") * 100.0,
            );
        }
    }
    out.push('\n');
    out
}

/// Under a permessage-deflate table: each target's answer to the offer and
/// the bytes on the wire per message.
fn negotiated(cell: &Cell<'_>) -> String {
    let Some(offer) = cell.deflate.as_deref() else {
        return String::new();
    };
    let first = |target: &str, key: &str| {
        cell.of(target)
            .first()
            .and_then(|r| r[key].as_str())
            .unwrap_or("?")
            .to_string()
    };
    let mut out = format!(
        "Offer `{}` ({offer}). Echo payload bytes on the wire per 1 KiB message (the \
         generator sends {:.0}); echoes compressed / checked; the server's answer:\n\n",
        cell.runs
            .first()
            .and_then(|r| r["deflate_offer"].as_str())
            .unwrap_or("?"),
        cell.median(REFERENCE, "client_wire_bytes_per_msg"),
    );
    for target in cell.labels() {
        let _ = writeln!(
            out,
            "- {target}: {:.0} B; {:.0} / {:.0}; `{}`",
            cell.median(target, "server_wire_bytes_per_msg"),
            cell.median(target, "compressed_echoes"),
            cell.median(target, "checked_echoes"),
            first(target, "deflate_response"),
        );
    }
    out.push('\n');
    out
}

fn render(cell: &Cell<'_>) -> String {
    if cell.cluster {
        return render_cluster(cell);
    }
    let mut out = format!("### {}\n\n", cell.title);
    if cell.connections {
        out.push_str(
            "| target | runs | opened | connect rate /s | server RSS bytes/conn | heartbeat answered | RSS ratio to socketeer | churned | failed | RSS after churn − open (MB) | alive after churn |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let reference = cell.median(REFERENCE, "rss_per_conn");
        for target in cell.labels() {
            let runs = cell.of(target);
            let m = |k: &str| cell.median(target, k);
            let churn_delta = median(
                runs.iter()
                    .map(|r| (num(r, "rss_after_churn") - num(r, "rss_open")) / 1e6)
                    .collect(),
            );
            let _ = writeln!(
                out,
                "| {target} | {} | {:.0} | {:.0} | {:.0} | {:.0} / {:.0} | {} | {:.0} | {:.0} | {} | {} |",
                runs.len(),
                m("opened"),
                m("connect_rate"),
                m("rss_per_conn"),
                m("heartbeat_answered"),
                m("heartbeat_checked"),
                ratio(m("rss_per_conn"), reference),
                m("churned"),
                m("failed") + m("churn_failed"),
                if churn_delta.is_nan() { "n/a".into() } else { format!("{churn_delta:+.1}") },
                if m("churned").is_nan() || m("churned") == 0.0 { "n/a".into() } else { format!("{:.0}", m("alive_after_churn")) },
            );
        }
        out.push('\n');
        out.push_str(&negotiated(cell));
        return out;
    }
    let (unit, rate) = match (cell.broadcast, cell.handshakes) {
        (true, _) => ("delivery", "msgs"),
        (_, true) => ("handshake", "handshakes"),
        _ => ("msg", "msgs"),
    };
    let _ = write!(
        out,
        "| target | runs | {rate}/s |{}{} p50 µs | p99 µs | server CPU µs/{unit} | (min) | user / sys µs/{unit} | syscalls/{unit} | CPU ratio to socketeer | {rate}/s ratio to socketeer | generator CPU µs/{unit} | max generator core use | max other load |\n\
         |---|---:|---:|{}{}---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        if cell.rate.is_some() { " % of offered (missed) |" } else { "" },
        match (cell.broadcast, cell.handshakes) {
            (true, _) => " deliveries/s |",
            (_, true) => " failed (all runs) |",
            _ => "",
        },
        if cell.rate.is_some() { "---:|" } else { "" },
        if cell.broadcast || cell.handshakes { "---:|" } else { "" },
    );
    let cpu_ref = cell.median(REFERENCE, "server_cpu_us_per_msg");
    let rate_ref = cell.median(REFERENCE, "msgs_per_s");
    for target in cell.labels() {
        let runs = cell.of(target);
        let m = |k: &str| cell.median(target, k);
        let fold = |k: &str, f: fn(f64, f64) -> f64| {
            runs.iter()
                .map(|r| num(r, k))
                .filter(|v| !v.is_nan())
                .fold(f64::NAN, f)
        };
        let _ = writeln!(
            out,
            "| {target} | {} | {:.0} |{}{} {:.1} | {:.1} | {:.2} | {:.2} | {:.2} / {:.2} | {} | {} | {} | {:.2} | {:.0}% | {:.0}% |",
            runs.len(),
            m("msgs_per_s"),
            match cell.rate {
                Some(offered) => format!(
                    " {:.1}% ({:.0}) |",
                    m("msgs_per_s") * 100.0 / offered,
                    m("missed")
                ),
                None => String::new(),
            },
            match (cell.broadcast, cell.handshakes) {
                (true, _) => format!(" {:.0} |", m("deliveries_per_s")),
                (_, true) => format!(" {:.0} |", runs.iter().map(|r| num(r, "failed")).sum::<f64>()),
                _ => String::new(),
            },
            m("p50_us"),
            m("p99_us"),
            m("server_cpu_us_per_msg"),
            fold("server_cpu_us_per_msg", f64::min),
            m("server_user_us_per_msg"),
            m("server_sys_us_per_msg"),
            dash(m("server_syscalls_per_msg"), 2),
            ratio(m("server_cpu_us_per_msg"), cpu_ref),
            ratio(m("msgs_per_s"), rate_ref),
            m("gen_cpu_us_per_msg"),
            fold("gen_cpu_util", f64::max) * 100.0,
            fold("other_cpu_util", f64::max) * 100.0,
        );
    }
    out.push('\n');
    out.push_str(&negotiated(cell));
    out
}

const COLORS: [RGBColor; 7] = [
    RGBColor(0x2b, 0x6c, 0xb0),
    RGBColor(0xdd, 0x84, 0x52),
    RGBColor(0x55, 0xa8, 0x68),
    RGBColor(0xc4, 0x4e, 0x52),
    RGBColor(0x81, 0x72, 0xb3),
    RGBColor(0x93, 0x78, 0x60),
    RGBColor(0x8c, 0x8c, 0x8c),
];

/// A chart panel: title, unit, and one (target, value) per bar.
type Panel = (String, String, Vec<(String, f64)>);

/// One bar chart per cell: server CPU per message (or RSS per connection),
/// lower is better; socketeer's bar first and in blue.
fn chart(cells: &[Cell<'_>], path: &str) -> Result<(), String> {
    let panels: Vec<Panel> = cells
        .iter()
        .map(|cell| {
            let (key, unit) = if cell.connections {
                ("rss_per_conn", "server RSS bytes per connection")
            } else if cell.cluster {
                (
                    "remote_server_cpu_us_per_delivery",
                    "CPU µs per cross-server delivery",
                )
            } else if cell.broadcast {
                ("server_cpu_us_per_msg", "server CPU µs per delivery")
            } else if cell.handshakes {
                ("server_cpu_us_per_msg", "server CPU µs per handshake")
            } else {
                ("server_cpu_us_per_msg", "server CPU µs per message")
            };
            let mut labels = cell.labels();
            labels.sort_by_key(|l| *l != REFERENCE);
            let bars = labels
                .into_iter()
                .map(|l| (l.to_string(), cell.median(l, key)))
                .filter(|(_, v)| v.is_finite())
                .collect();
            (cell.title.clone(), unit.to_string(), bars)
        })
        .filter(|(_, _, bars): &Panel| !bars.is_empty())
        .collect();
    if panels.is_empty() {
        return Err("no run to chart".into());
    }
    let columns = 2usize;
    let rows = panels.len().div_ceil(columns);
    let root = SVGBackend::new(path, (1200, 330 * rows as u32)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("{path}: {e}");
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((rows, columns));
    for ((title, unit, bars), area) in panels.iter().zip(areas.iter()) {
        let max = bars.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(1e-9) * 1.2;
        let n = bars.len();
        let names: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d((0..n.saturating_sub(1)).into_segmented(), 0.0..max)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(unit.as_str())
            .y_label_formatter(&|v| {
                if max >= 100.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            })
            .light_line_style(WHITE)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let color = COLORS[i % COLORS.len()];
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), *v),
                    ],
                    color.filled(),
                );
                bar.set_margin(0, 0, 12, 12);
                bar
            }))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let text = if *v >= 100.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.2}")
                };
                let style =
                    TextStyle::from(("sans-serif", 13)).pos(Pos::new(HPos::Center, VPos::Bottom));
                Text::new(text, (SegmentValue::CenterOf(i), *v), style)
            }))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
