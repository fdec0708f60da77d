//! The inbound rate guard of a session ([`InboundRate`],
//! `EngineIoConfig::max_inbound_rate`): a token bucket, Sans-I/O (the
//! session's task passes the time in). A session whose bucket is empty
//! stops reading until the next token is due: the client is slowed by
//! TCP backpressure (or, on polling, by the late answer to its POST), and
//! nothing it sent is lost.

use std::time::{Duration, Instant};

/// Most messages one session may have handled, on average and in a burst
/// (see `EngineIoConfig::max_inbound_rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundRate {
    /// Messages per second, on average (0 counts as 1).
    pub per_second: u32,
    /// Messages that may arrive at once after a quiet period: the
    /// bucket's size (0 counts as 1).
    pub burst: u32,
}

/// One token in bucket units: a token is a nanosecond of a one-message-
/// per-second rate, so that refills are exact in integers.
const TOKEN: u128 = 1_000_000_000;

/// A token bucket for one session: full at first, one token per message,
/// refilled at [`InboundRate::per_second`] up to [`InboundRate::burst`].
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    per_second: u128,
    capacity: u128,
    /// In units of `1 / TOKEN` of a token.
    level: u128,
    /// When `level` was last brought up to date.
    at: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub(crate) fn new(rate: InboundRate, now: Instant) -> Self {
        let capacity = u128::from(rate.burst.max(1)) * TOKEN;
        TokenBucket {
            per_second: u128::from(rate.per_second.max(1)),
            capacity,
            level: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let Some(elapsed) = now.checked_duration_since(self.at) else {
            return;
        };
        let added = elapsed.as_nanos().saturating_mul(self.per_second);
        self.level = self.level.saturating_add(added).min(self.capacity);
        self.at = now;
    }

    /// `None` when a message may be handled at `now`; else when the next
    /// one may (an instant that went back is taken as the latest one seen).
    pub(crate) fn ready_at(&mut self, now: Instant) -> Option<Instant> {
        self.refill(now);
        if self.level >= TOKEN {
            return None;
        }
        // Rounded up: at that instant the token is whole.
        let missing = TOKEN - self.level;
        let nanos = missing.div_ceil(self.per_second);
        let wait = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        Some(self.at.checked_add(wait).unwrap_or(self.at))
    }

    /// Spends one token (a message was handled). Call after
    /// [`ready_at`](Self::ready_at) said `None`; with no whole token left
    /// it takes what there is.
    pub(crate) fn take(&mut self) {
        self.level = self.level.saturating_sub(TOKEN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(per_second: u32, burst: u32) -> (TokenBucket, Instant) {
        let t0 = Instant::now();
        (TokenBucket::new(InboundRate { per_second, burst }, t0), t0)
    }

    /// Takes tokens at `now` until none is left; how many it took.
    fn drain(b: &mut TokenBucket, now: Instant) -> u32 {
        let mut n = 0;
        while b.ready_at(now).is_none() {
            b.take();
            n += 1;
            assert!(n <= 1_000_000, "bucket never empties");
        }
        n
    }

    #[test]
    fn a_full_bucket_gives_its_burst_then_waits_for_the_rate() {
        let (mut b, t0) = bucket(100, 10);
        assert_eq!(drain(&mut b, t0), 10);
        // 100 per second: the next token 10 ms later, to the nanosecond.
        assert_eq!(b.ready_at(t0), Some(t0 + Duration::from_millis(10)));
        let almost = t0 + Duration::from_millis(10) - Duration::from_nanos(1);
        assert_eq!(b.ready_at(almost), Some(t0 + Duration::from_millis(10)));
        assert_eq!(b.ready_at(t0 + Duration::from_millis(10)), None);
        b.take();
        assert_eq!(
            b.ready_at(t0 + Duration::from_millis(10)),
            Some(t0 + Duration::from_millis(20))
        );
    }

    #[test]
    fn refills_up_to_the_burst_only() {
        let (mut b, t0) = bucket(1_000, 5);
        assert_eq!(drain(&mut b, t0), 5);
        // An hour of quiet still gives only the burst.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(drain(&mut b, later), 5);
        // 2.5 ms at 1,000 per second: two whole tokens, half of the next.
        let t = later + Duration::from_micros(2_500);
        assert_eq!(drain(&mut b, t), 2);
        assert_eq!(b.ready_at(t), Some(t + Duration::from_micros(500)));
    }

    #[test]
    fn the_long_run_rate_is_the_configured_one() {
        let (mut b, t0) = bucket(20_000, 1_000);
        // A client that always has a message waiting, checked every 1 ms
        // for 10 s: the burst, then 20 per millisecond.
        let mut handled = drain(&mut b, t0);
        for ms in 1..=10_000u64 {
            handled += drain(&mut b, t0 + Duration::from_millis(ms));
        }
        assert_eq!(handled, 1_000 + 200_000);
    }

    #[test]
    fn zero_counts_as_one_and_time_going_back_adds_nothing() {
        let (mut b, t0) = bucket(0, 0);
        assert_eq!(drain(&mut b, t0), 1);
        assert_eq!(b.ready_at(t0), Some(t0 + Duration::from_secs(1)));
        let (mut b, t0) = bucket(10, 1);
        let later = t0 + Duration::from_secs(1);
        assert_eq!(drain(&mut b, later), 1);
        // An earlier instant (a caller's stale `now`) neither refills nor
        // panics.
        assert_eq!(b.ready_at(t0), Some(later + Duration::from_millis(100)));
        assert_eq!(b.ready_at(later + Duration::from_millis(100)), None);
    }

    #[test]
    fn huge_rates_do_not_overflow() {
        let (mut b, t0) = bucket(u32::MAX, u32::MAX);
        b.take();
        assert_eq!(
            b.ready_at(t0 + Duration::from_secs(u64::from(u32::MAX))),
            None
        );
        let (mut b, t0) = bucket(u32::MAX, 1);
        b.take();
        assert_eq!(b.ready_at(t0), Some(t0 + Duration::from_nanos(1)));
    }
}
