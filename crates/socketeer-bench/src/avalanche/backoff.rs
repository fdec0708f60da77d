//! socket.io-client's reconnection backoff, and each client's jitter.

use std::time::Duration;

/// socket.io-client's reconnection delays.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// First delay (`reconnectionDelay`), ms.
    pub min_ms: u64,
    /// Longest delay (`reconnectionDelayMax`), ms.
    pub max_ms: u64,
    /// `randomizationFactor`, in [0, 1].
    pub jitter: f64,
}

impl Backoff {
    /// The delay before attempt `attempt` (0 for the first after a loss),
    /// given two uniform random numbers in [0, 1).
    pub fn delay(&self, attempt: u32, r1: f64, r2: f64) -> Duration {
        let base = self.min_ms as f64 * 2f64.powi(attempt.min(40) as i32);
        let deviation = (r1 * self.jitter * base).floor();
        let ms = if (r2 * 10.0).floor() as u64 & 1 == 0 {
            base - deviation
        } else {
            base + deviation
        };
        Duration::from_millis(ms.clamp(0.0, self.max_ms as f64) as u64)
    }
}

/// xorshift64*: the jitter of each client.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(id: usize) -> Rng {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Rng((u64::from_ne_bytes(seed) ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    /// A uniform number in [0, 1).
    pub(super) fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_maximum() {
        let b = Backoff {
            min_ms: 1000,
            max_ms: 5000,
            jitter: 0.5,
        };
        // r2 picks the direction: an even digit subtracts, an odd one adds.
        assert_eq!(b.delay(0, 0.0, 0.0), Duration::from_millis(1000));
        assert_eq!(b.delay(0, 0.99, 0.0), Duration::from_millis(505));
        assert_eq!(b.delay(0, 0.5, 0.15), Duration::from_millis(1250));
        assert_eq!(b.delay(1, 0.5, 0.0), Duration::from_millis(1500));
        assert_eq!(b.delay(2, 0.0, 0.0), Duration::from_millis(4000));
        assert_eq!(b.delay(3, 0.0, 0.0), Duration::from_millis(5000));
        assert_eq!(b.delay(50, 0.9, 0.95), Duration::from_millis(5000));
    }
}
