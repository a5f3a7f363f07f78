//! Rate-limited log lines. A hostile or broken peer can send thousands of bad frames a second;
//! one warning each would flood the log (20,000 frames made 2.8 MB in a tenth of a second).
//! A [`LogThrottle`] lets a burst of lines through per window and counts the rest, and the
//! next line that gets through says how many were suppressed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines allowed per window before the rest are counted instead of written.
const BURST: u32 = 10;

struct Window {
    started: Option<Instant>,
    written: u32,
    suppressed: u64,
}

/// A rate limit for one kind of log line; usually a `static` at the call site.
pub struct LogThrottle {
    window: Duration,
    state: Mutex<Window>,
}

impl LogThrottle {
    /// A limit of a few lines per `window`.
    pub const fn new(window: Duration) -> Self {
        LogThrottle {
            window,
            state: Mutex::new(Window { started: None, written: 0, suppressed: 0 }),
        }
    }

    /// Whether to write this occurrence: `Some(n)` with the number of lines suppressed since
    /// the last one written, `None` to count it and stay quiet.
    pub fn allow(&self) -> Option<u64> {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if w.started.is_none_or(|s| now.duration_since(s) >= self.window) {
            w.started = Some(now);
            w.written = 0;
        }
        if w.written < BURST {
            w.written += 1;
            Some(std::mem::take(&mut w.suppressed))
        } else {
            w.suppressed += 1;
            None
        }
    }
}

/// The suffix a throttled line carries when lines were suppressed before it.
pub fn suppressed_note(suppressed: u64) -> String {
    if suppressed == 0 {
        String::new()
    } else {
        format!(" ({suppressed} similar lines suppressed)")
    }
}

/// `warn!` through a [`LogThrottle`]: `warn_throttled!(THROTTLE, "fmt", args…)`.
#[macro_export]
macro_rules! warn_throttled {
    ($throttle:expr, $($arg:tt)+) => {
        if let Some(suppressed) = $throttle.allow() {
            log::warn!(
                "{}{}",
                format_args!($($arg)+),
                $crate::log_throttle::suppressed_note(suppressed)
            );
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_lines_are_counted_and_reported() {
        let t = LogThrottle::new(Duration::from_millis(200));
        for _ in 0..BURST {
            assert_eq!(t.allow(), Some(0));
        }
        for _ in 0..1000 {
            assert_eq!(t.allow(), None);
        }
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(t.allow(), Some(1000));
        assert_eq!(t.allow(), Some(0));
    }

    #[test]
    fn the_note_names_the_count() {
        assert_eq!(suppressed_note(0), "");
        assert_eq!(suppressed_note(3), " (3 similar lines suppressed)");
    }
}
