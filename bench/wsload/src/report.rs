//! The `report` subcommand: turns the JSON lines of many runs into Markdown
//! tables of medians, one row per (cell, target).
//!
//! The `(min)` column is the lowest server CPU per message over the rounds:
//! interference only ever adds cost, so it is the least disturbed figure.
//! `max generator core use` near 100% means the generator, not the server,
//! limited a run.
//! The CPU ratio column divides a target's median server CPU per message by the
//! lower of the fastwebsockets and tungstenite medians in the same cell (the
//! best peer); the idle table does the same with bytes per connection.

use serde_json::Value;

/// Labels of the reference peers that the ratios are computed against.
const PEERS: [&str; 2] = ["fastwebsockets", "tungstenite"];

pub fn main(args: &[String]) -> Result<(), String> {
    let [path] = args else {
        return Err("usage: wsload report FILE.jsonl".into());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut runs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let run: Value =
            serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        runs.push(run);
    }
    print!("{}", render(&runs));
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

/// Distinct values in order of first appearance.
fn distinct<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Ratio of `value` to the best (lowest) peer median, formatted.
fn ratio(value: f64, peer_medians: &[f64]) -> String {
    let best = peer_medians
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .fold(f64::NAN, f64::min);
    if best.is_nan() || best <= 0.0 || value.is_nan() {
        "n/a".into()
    } else {
        format!("{:.2}", value / best)
    }
}

fn render(runs: &[Value]) -> String {
    let mut out = String::new();
    let echo: Vec<&Value> = runs.iter().filter(|r| r["mode"] == "echo").collect();
    let idle: Vec<&Value> = runs.iter().filter(|r| r["mode"] == "idle").collect();

    if !echo.is_empty() {
        out.push_str(
            "### Echo (medians over rounds)\n\n\
             | conns × size | depth | target | runs | msgs/s | p50 µs | p99 µs | server CPU µs/msg | (min) | generator CPU µs/msg | max generator core use | server CPU ratio vs best peer | max other load (cores) |\n\
             |---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        let cell_of = |r: &Value| {
            (
                num(r, "conns") as u64,
                num(r, "size") as u64,
                num(r, "depth") as u64,
            )
        };
        for cell in distinct(echo.iter().map(|r| cell_of(r))) {
            let in_cell: Vec<&Value> = echo
                .iter()
                .copied()
                .filter(|r| cell_of(r) == cell)
                .collect();
            let med = |target: &str, key: &str| {
                median(
                    in_cell
                        .iter()
                        .filter(|r| label(r) == target)
                        .map(|r| num(r, key))
                        .collect(),
                )
            };
            let peer_cpu: Vec<f64> = PEERS
                .iter()
                .map(|p| med(p, "server_cpu_us_per_msg"))
                .collect();
            for target in distinct(in_cell.iter().map(|r| label(r))) {
                let runs = in_cell.iter().filter(|r| label(r) == target).count();
                let cpu = med(target, "server_cpu_us_per_msg");
                out.push_str(&format!(
                    "| {} × {} B | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0}% | {} | {:.2} |\n",
                    cell.0,
                    cell.1,
                    cell.2,
                    target,
                    runs,
                    med(target, "msgs_per_s"),
                    med(target, "p50_us"),
                    med(target, "p99_us"),
                    cpu,
                    in_cell
                        .iter()
                        .filter(|r| label(r) == target)
                        .map(|r| num(r, "server_cpu_us_per_msg"))
                        .fold(f64::NAN, f64::min),
                    med(target, "gen_cpu_us_per_msg"),
                    100.0
                        * in_cell
                            .iter()
                            .filter(|r| label(r) == target)
                            .map(|r| num(r, "gen_cpu_util"))
                            .fold(f64::NAN, f64::max),
                    ratio(cpu, &peer_cpu),
                    in_cell
                        .iter()
                        .filter(|r| label(r) == target)
                        .map(|r| num(r, "other_cpu_util"))
                        .fold(f64::NAN, f64::max),
                ));
            }
        }
        out.push('\n');
    }

    if !idle.is_empty() {
        out.push_str(
            "### Idle connections (server RSS growth)\n\n\
             | target | conns | runs | RSS before MiB | RSS after MiB | KB per conn | ratio vs best peer |\n\
             |---|--:|--:|--:|--:|--:|--:|\n",
        );
        let med = |target: &str, key: &str| {
            median(
                idle.iter()
                    .filter(|r| label(r) == target)
                    .map(|r| num(r, key))
                    .collect(),
            )
        };
        let peer_bytes: Vec<f64> = PEERS.iter().map(|p| med(p, "bytes_per_conn")).collect();
        for target in distinct(idle.iter().map(|r| label(r))) {
            let bytes = med(target, "bytes_per_conn");
            out.push_str(&format!(
                "| {} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {} |\n",
                target,
                med(target, "conns"),
                idle.iter().filter(|r| label(r) == target).count(),
                med(target, "rss_before") / 1048576.0,
                med(target, "rss_after") / 1048576.0,
                bytes / 1000.0,
                ratio(bytes, &peer_bytes),
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn ratios_use_the_best_peer() {
        assert_eq!(ratio(6.0, &[4.0, 3.0]), "2.00");
        assert_eq!(ratio(6.0, &[f64::NAN, 3.0]), "2.00");
        assert_eq!(ratio(6.0, &[f64::NAN, f64::NAN]), "n/a");
    }

    #[test]
    fn renders_a_row_per_target_and_cell() {
        let runs: Vec<Value> = [
            r#"{"mode":"echo","label":"tungstenite","conns":100,"size":64,"depth":4,"msgs_per_s":1,"p50_us":1,"p99_us":1,"server_cpu_us_per_msg":4,"gen_cpu_us_per_msg":1}"#,
            r#"{"mode":"echo","label":"socketeer","conns":100,"size":64,"depth":4,"msgs_per_s":1,"p50_us":1,"p99_us":1,"server_cpu_us_per_msg":2,"gen_cpu_us_per_msg":1,"gen_cpu_util":0.5,"other_cpu_util":0.01}"#,
            r#"{"mode":"idle","label":"tungstenite","conns":10,"rss_before":0,"rss_after":10000,"bytes_per_conn":1000}"#,
        ]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
        let md = render(&runs);
        assert!(
            md.contains(
                "| 100 × 64 B | 4 | socketeer | 1 | 1 | 1 | 1 | 2.00 | 2.00 | 1.00 | 50% | 0.50 | 0.01 |"
            ),
            "{md}"
        );
        assert!(md.contains("| tungstenite | 10 | 1 |"), "{md}");
    }
}
