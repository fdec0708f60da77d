//! Reconnection delays: the exponential backoff of socket.io-client
//! (`backo2`), with the randomness passed in.

use std::time::Duration;

/// Exponential backoff with jitter, as socket.io-client's `backo2`:
///
/// ```text
/// ms = min * factor^attempt
/// deviation = floor(rand * jitter * ms)
/// ms = ms - deviation   if floor(rand * 10) is even
///      ms + deviation   otherwise
/// delay = min(ms, max)
/// ```
///
/// where `attempt` counts the delays asked since the last
/// [`reset`](Self::reset) (starting at 0) and `rand` is uniform in `[0, 1)`.
/// The caller gives `rand`, so a sequence is reproducible.
///
/// ```
/// use std::time::Duration;
/// use socketeer::client::Backoff;
///
/// let mut b = Backoff::new(Duration::from_millis(1000), Duration::from_millis(5000), 0.5);
/// assert_eq!(b.duration(0.0), Duration::from_millis(1000)); // no deviation
/// assert_eq!(b.duration(0.25), Duration::from_millis(1750)); // 2000 - 250 (2 is even)
/// assert_eq!(b.duration(0.15), Duration::from_millis(4300)); // 4000 + 300 (1 is odd)
/// assert_eq!(b.duration(0.0), Duration::from_millis(5000)); // 8000, capped
/// assert_eq!(b.attempts(), 4);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    min_ms: f64,
    max_ms: f64,
    factor: f64,
    jitter: f64,
    attempts: u32,
}

impl Backoff {
    /// A backoff from `min` to `max` with factor 2 and `jitter` (the
    /// randomization factor; outside `(0, 1]` it means none, as in backo2).
    pub fn new(min: Duration, max: Duration, jitter: f64) -> Backoff {
        Backoff {
            min_ms: min.as_secs_f64() * 1000.0,
            max_ms: max.as_secs_f64() * 1000.0,
            factor: 2.0,
            jitter: if jitter > 0.0 && jitter <= 1.0 {
                jitter
            } else {
                0.0
            },
            attempts: 0,
        }
    }

    /// The next delay, given `rand` uniform in `[0, 1)` (clamped there).
    /// Counts one attempt.
    pub fn duration(&mut self, rand: f64) -> Duration {
        let rand = if rand.is_finite() {
            rand.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let exp = i32::try_from(self.attempts).unwrap_or(i32::MAX);
        self.attempts = self.attempts.saturating_add(1);
        let mut ms = self.min_ms * self.factor.powi(exp);
        if self.jitter > 0.0 {
            let deviation = (rand * self.jitter * ms).floor();
            // JS `Math.floor(rand * 10) & 1`; rand < 1 keeps it in 0..=10.
            let bit = (rand * 10.0).floor() as u32 & 1;
            ms = if bit == 0 {
                ms - deviation
            } else {
                ms + deviation
            };
        }
        // `| 0` in JS truncates towards zero.
        let ms = ms.min(self.max_ms).max(0.0).trunc();
        Duration::from_millis(if ms.is_finite() { ms as u64 } else { 0 })
    }

    /// The delays counted since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Starts over at `min`.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

/// A small seeded pseudo-random generator (SplitMix64) for the backoff
/// jitter: reproducible from its seed, no I/O.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
