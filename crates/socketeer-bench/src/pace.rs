//! Fixed offered rates (`io-echo --rate`, `io-broadcast --rate`): when each
//! send falls due.
//!
//! The offered rate is split evenly over `n` streams (the connections of
//! `io-echo`; the one sender of `io-broadcast`): each stream sends every
//! `gap = n / rate` seconds, and stream `i` is shifted by `i / n` of a gap,
//! so that the streams' sends interleave instead of falling due together.
//! Send `k` of stream `i` is due at `epoch + (k + i / n) * gap`, computed
//! from the epoch every time (no drift, however long the run).
//!
//! The load is open-loop: a send that falls due is made then, whatever
//! happened to the earlier ones; the caller decides whether it can be sent
//! (fewer than the allowed number in flight) or is missed, and times its
//! reply from when it was due, so that a server that falls behind shows it
//! in the latency and in the misses, not only in a lower achieved rate.
//! tokio's timers have millisecond resolution: a stream whose gap is below
//! a millisecond sends the few that fell due meanwhile at each wake-up.

use std::time::{Duration, Instant};

/// Highest `--rate` accepted, sends per second.
pub const MAX_RATE: f64 = 1e8;

/// Checks a `--rate` value: sends per second, in `(0, MAX_RATE]`.
pub fn check_rate(rate: f64) -> Result<f64, String> {
    if rate > 0.0 && rate <= MAX_RATE {
        Ok(rate)
    } else {
        Err(format!("--rate must be in (0, {MAX_RATE:e}]"))
    }
}

/// The send schedule of one stream.
#[derive(Clone, Debug)]
pub struct Pacer {
    epoch: Instant,
    /// Nanoseconds between two sends of this stream.
    gap_ns: f64,
    /// This stream's shift, in gaps (`index / streams`, in `[0, 1)`).
    phase: f64,
    /// The next send (the number of sends that fell due before it).
    next: u64,
}

impl Pacer {
    /// Stream `index` of `streams` sharing `rate` sends per second in all
    /// (`rate` checked by [`check_rate`], `index < streams`), from `epoch`.
    pub fn new(epoch: Instant, rate: f64, streams: usize, index: usize) -> Pacer {
        let streams = streams.max(1);
        Pacer {
            epoch,
            gap_ns: streams as f64 / rate * 1e9,
            phase: (index % streams) as f64 / streams as f64,
            next: 0,
        }
    }

    /// When send `k` falls due.
    fn due(&self, k: u64) -> Instant {
        let ns = ((k as f64 + self.phase) * self.gap_ns).round();
        self.epoch + Duration::from_nanos(ns as u64)
    }

    /// When the next send falls due.
    pub fn next_due(&self) -> Instant {
        self.due(self.next)
    }

    /// The next send, if it is due by `now` (then it counts as made: the
    /// caller sends it or counts it missed); call again until `None`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Instant> {
        let due = self.due(self.next);
        (due <= now).then(|| {
            self.next += 1;
            due
        })
    }

    /// Drops, uncounted, the sends due before `now` (a stream that starts
    /// late, after its connection is ready).
    pub fn skip_to(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos() as f64;
        let mut k = (elapsed / self.gap_ns - self.phase).ceil().max(0.0) as u64;
        // Rounding: settle on the first send due at or after `now`.
        while k > 0 && self.due(k - 1) >= now {
            k -= 1;
        }
        while self.due(k) < now {
            k += 1;
        }
        self.next = self.next.max(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(d: Duration) -> u128 {
        d.as_micros()
    }

    /// Every send due by `now`, as offsets from `epoch` in microseconds.
    fn drain(pacer: &mut Pacer, epoch: Instant, now: Instant) -> Vec<u128> {
        std::iter::from_fn(|| pacer.pop_due(now))
            .map(|due| us(due - epoch))
            .collect()
    }

    #[test]
    fn one_stream_sends_every_gap_from_the_epoch() {
        let epoch = Instant::now();
        let mut pacer = Pacer::new(epoch, 1000.0, 1, 0);
        assert_eq!(pacer.next_due(), epoch);
        let now = epoch + Duration::from_micros(4500);
        assert_eq!(drain(&mut pacer, epoch, now), [0, 1000, 2000, 3000, 4000]);
        assert_eq!(pacer.pop_due(now), None);
        assert_eq!(us(pacer.next_due() - epoch), 5000);
        // A send due exactly now is due.
        let at = pacer.next_due();
        assert_eq!(pacer.pop_due(at), Some(at));
    }

    #[test]
    fn streams_share_the_rate_and_interleave_evenly() {
        let epoch = Instant::now();
        // 4,000/s over 4 streams: each sends every 1 ms, shifted by 250 µs.
        let mut all: Vec<u128> = Vec::new();
        for index in 0..4 {
            let mut pacer = Pacer::new(epoch, 4000.0, 4, index);
            let sends = drain(&mut pacer, epoch, epoch + Duration::from_micros(2999));
            assert_eq!(sends.len(), 3, "stream {index}: {sends:?}");
            assert_eq!(sends[0], 250 * index as u128);
            all.extend(sends);
        }
        all.sort_unstable();
        let gaps: Vec<u128> = all.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g == 250), "{gaps:?}");
        // 12 sends in 3 ms: 4,000/s.
        assert_eq!(all.len(), 12);
    }

    #[test]
    fn a_late_caller_gets_every_send_it_owes_in_order() {
        let epoch = Instant::now();
        let mut pacer = Pacer::new(epoch, 10_000.0, 1, 0);
        // Nothing asked for 10 ms: the 101 sends due meanwhile come at once,
        // each with its own due time (the latency counts from there).
        let sends = drain(&mut pacer, epoch, epoch + Duration::from_millis(10));
        assert_eq!(sends.len(), 101);
        assert!(sends.windows(2).all(|w| w[1] - w[0] == 100));
    }

    #[test]
    fn skipping_drops_the_past_sends_only() {
        let epoch = Instant::now();
        let mut pacer = Pacer::new(epoch, 1000.0, 2, 1);
        // Stream 1 of 2 at 1,000/s: every 2 ms from 1 ms.
        pacer.skip_to(epoch + Duration::from_micros(4200));
        assert_eq!(us(pacer.next_due() - epoch), 5000);
        // A send due exactly at the skip is kept.
        pacer.skip_to(epoch + Duration::from_millis(5));
        assert_eq!(us(pacer.next_due() - epoch), 5000);
        // Skipping never goes back.
        pacer.skip_to(epoch);
        assert_eq!(us(pacer.next_due() - epoch), 5000);
        let sends = drain(&mut pacer, epoch, epoch + Duration::from_millis(9));
        assert_eq!(sends, [5000, 7000, 9000]);
        // Before the epoch: nothing skipped.
        let mut early = Pacer::new(epoch + Duration::from_secs(1), 1000.0, 1, 0);
        early.skip_to(epoch);
        assert_eq!(early.next_due(), epoch + Duration::from_secs(1));
    }

    #[test]
    fn due_times_do_not_drift() {
        let epoch = Instant::now();
        // 3 sends per second: a gap of 333,333,333.3 ns.
        let mut pacer = Pacer::new(epoch, 3.0, 1, 0);
        pacer.skip_to(epoch + Duration::from_secs(3000));
        assert_eq!(pacer.next_due(), epoch + Duration::from_secs(3000));
        assert_eq!(pacer.next, 9000);
    }

    #[test]
    fn rates_are_checked() {
        assert_eq!(check_rate(150_000.0), Ok(150_000.0));
        assert_eq!(check_rate(MAX_RATE), Ok(MAX_RATE));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e8] {
            assert!(check_rate(bad).is_err(), "{bad}");
        }
    }
}
