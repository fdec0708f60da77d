//! The scenario's figures, and the delivery accounting behind them.

use serde::Serialize;

use super::state::ClientRec;

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

/// The `q` quantile of sorted values.
pub(super) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(index).copied().unwrap_or(0.0)
}

/// Delivery counts of one client: (after expected, after delivered, during
/// expected, during delivered), given the server clock of every tick
/// (`tick_ms`, gaps filled) and the end of the window.
pub(super) fn client_delivery(
    rec: &ClientRec,
    tick_ms: &[u64],
    end_ms: u64,
    cut: bool,
) -> [u64; 4] {
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

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
