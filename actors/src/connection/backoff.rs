//! Redial delays for outbound connections: exponential from the configured interval, capped,
//! with jitter so that many destinations restarting together do not redial in lockstep.

use std::time::Duration;

use rand::Rng;

/// Computes successive redial delays.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays start at `base` and double up to `max` (never below `base`).
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max: max.max(base), attempt: 0 }
    }

    /// The next delay: `base · 2^attempt`, capped at `max`, then scaled by a random factor in
    /// [0.8, 1.2).
    pub fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(16));
        let raw = self.base.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        raw.mul_f64(rand::rng().random_range(0.8..1.2))
    }

    /// Starts over from `base` (after a connection succeeded).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(80) && first < Duration::from_millis(120));
        let second = b.next_delay();
        assert!(second >= Duration::from_millis(160) && second < Duration::from_millis(240));
        for _ in 0..10 {
            assert!(b.next_delay() < Duration::from_millis(1200));
        }
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(120));
    }
}
