//! Redial and retry delays for outbound connections, with jitter so that many destinations
//! restarting together do not redial in lockstep.
//!
//! The schedule: a link that was up for a while and then dropped is redialled fast — from
//! [`FAST_START`] doubling up to the configured interval — because most drops are a server
//! restart or a blip that is over in a second, and waiting a whole interval (5 s by default)
//! makes every short outage that long. Then [`STEADY_ATTEMPTS`] tries at the interval itself
//! (mirai-api-http's fixed `reconnectInterval`), and only then doubling up to the maximum, so a
//! server that is away for long is not hammered. A link that drops soon after it came up (a
//! server that accepts and closes) does not restart the schedule: its delays keep growing.

use std::time::{Duration, Instant};

use rand::Rng;

/// The first delay after a link that was up dropped.
pub const FAST_START: Duration = Duration::from_millis(100);

/// How many attempts are made at the configured interval before delays grow.
pub const STEADY_ATTEMPTS: u32 = 5;

/// How long a link must have been up for its drop to restart the schedule fast.
const STABLE: Duration = Duration::from_secs(1);

/// Computes successive redial delays.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    delay: Duration,
    steady_left: u32,
    up_since: Option<Instant>,
}

impl Backoff {
    /// Delays start at `base` and, after the steady attempts, double up to `max` (never below
    /// `base`).
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max: max.max(base),
            delay: base,
            steady_left: STEADY_ATTEMPTS,
            up_since: None,
        }
    }

    /// The next delay, scaled by a random factor in [0.8, 1.2).
    pub fn next_delay(&mut self) -> Duration {
        let raw = self.delay;
        if self.delay < self.base {
            self.delay = (self.delay * 2).min(self.base);
        } else if self.steady_left > 0 {
            self.steady_left -= 1;
        } else {
            self.delay = self.delay.saturating_mul(2).min(self.max);
        }
        raw.mul_f64(rand::rng().random_range(0.8..1.2))
    }

    /// Starts over from `base` (after a request succeeded).
    pub fn reset(&mut self) {
        self.delay = self.base;
        self.steady_left = STEADY_ATTEMPTS;
    }

    /// Notes that a link came up.
    pub fn link_up(&mut self) {
        self.up_since = Some(Instant::now());
    }

    /// Notes that the link went down and answers the delay before the first redial: fast if
    /// the link had been up for a while, else the schedule goes on where it was.
    pub fn link_down(&mut self) -> Duration {
        if self.up_since.take().is_some_and(|t| t.elapsed() >= STABLE) {
            self.delay = FAST_START.min(self.base);
            self.steady_left = STEADY_ATTEMPTS;
        }
        self.next_delay()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(d: Duration, ms: u64) -> bool {
        let ms = ms as f64;
        d.as_secs_f64() * 1000.0 >= ms * 0.8 - 0.001 && d.as_secs_f64() * 1000.0 < ms * 1.2
    }

    #[test]
    fn steady_at_the_interval_then_growing_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        for _ in 0..=STEADY_ATTEMPTS {
            assert!(within(b.next_delay(), 100));
        }
        assert!(within(b.next_delay(), 200));
        assert!(within(b.next_delay(), 400));
        for _ in 0..10 {
            assert!(b.next_delay() < Duration::from_millis(1200));
        }
        b.reset();
        assert!(within(b.next_delay(), 100));
    }

    #[test]
    fn a_stable_link_that_drops_is_redialled_fast() {
        let mut b = Backoff::new(Duration::from_millis(5000), Duration::from_millis(60_000));
        b.link_up();
        b.up_since = Some(Instant::now() - STABLE);
        assert!(within(b.link_down(), 100));
        assert!(within(b.next_delay(), 200));
        assert!(within(b.next_delay(), 400));
        for _ in 0..4 {
            b.next_delay();
        }
        assert!(within(b.next_delay(), 5000));
    }

    #[test]
    fn a_link_that_drops_at_once_keeps_growing() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(10_000));
        for _ in 0..=STEADY_ATTEMPTS {
            b.next_delay();
        }
        b.link_up();
        assert!(within(b.link_down(), 200), "a flapping server is not redialled fast");
    }
}
