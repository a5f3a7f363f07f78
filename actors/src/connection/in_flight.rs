//! How many commands one connection has running. Commands on a connection run concurrently;
//! without a bound a peer could start any number and grow the gateway's memory without end,
//! so past `server.max_in_flight` a command is answered at once with the protocol's error
//! (never queued, never stalling the connection).

/// The commands a connection has running, and its bound.
#[derive(Debug, Clone, Copy)]
pub struct InFlight {
    running: usize,
    max: usize,
}

impl InFlight {
    /// At most `max` commands at once.
    pub fn new(max: usize) -> Self {
        InFlight { running: 0, max }
    }

    /// Starts a command if there is room; false: refuse it.
    pub fn try_start(&mut self) -> bool {
        if self.running >= self.max {
            return false;
        }
        self.running += 1;
        true
    }

    /// A command finished (answered, or its connection went).
    pub fn finish(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    /// How many are running.
    pub fn running(&self) -> usize {
        self.running
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_bound_and_makes_room_as_commands_finish() {
        let mut f = InFlight::new(2);
        assert!(f.try_start() && f.try_start());
        assert!(!f.try_start());
        f.finish();
        assert!(f.try_start());
        assert_eq!(f.running(), 2);
    }
}
