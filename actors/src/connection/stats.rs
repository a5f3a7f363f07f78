//! Counters of a served WebSocket adapter's clients, for `/healthz`: how many are connected
//! and why the others went — so a leak, a wave of crashing bots or a hostile peer shows up
//! as a number, not only as log lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::clients::ClientDirectory;

use serde_json::{json, Value};

/// One adapter's client counters, and the directory its clients are listed in.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Where the adapter's clients are listed (shared by every adapter of a gateway).
    pub directory: Arc<ClientDirectory>,
    connected: AtomicU64,
    closed: AtomicU64,
    lost: AtomicU64,
    timed_out: AtomicU64,
    evicted: AtomicU64,
    bad_frames: AtomicU64,
    busy: AtomicU64,
}

/// Why a client's connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// A close handshake, or botgate closed it (replaced, protocol error).
    Closed,
    /// The socket ended without a close frame (a crashed or killed client: FIN or reset).
    Lost,
    /// Silent for three heartbeat intervals.
    TimedOut,
    /// Its outbox overflowed: it stopped reading.
    Evicted,
}

impl ClientStats {
    /// Counters of an adapter whose clients are listed in `directory`.
    pub fn listed_in(directory: &Arc<ClientDirectory>) -> Self {
        ClientStats { directory: Arc::clone(directory), ..ClientStats::default() }
    }

    /// A client connected.
    pub fn connected(&self) {
        self.connected.fetch_add(1, Ordering::Relaxed);
    }

    /// A client's connection ended for `why`.
    pub fn departed(&self, why: Departure) {
        // Release: what the client did before it went (closing its outbox) is visible to a
        // reader that sees it counted (`to_json`).
        self.connected.fetch_sub(1, Ordering::Release);
        let counter = match why {
            Departure::Closed => &self.closed,
            Departure::Lost => &self.lost,
            Departure::TimedOut => &self.timed_out,
            Departure::Evicted => &self.evicted,
        };
        counter.fetch_add(1, Ordering::Release);
    }

    /// A frame could not be decoded (bad JSON, not a request).
    pub fn bad_frame(&self) {
        self.bad_frames.fetch_add(1, Ordering::Relaxed);
    }

    /// A command was refused because too many were in flight on its connection.
    pub fn busy(&self) {
        self.busy.fetch_add(1, Ordering::Relaxed);
    }

    /// How many clients are connected now.
    pub fn live(&self) -> u64 {
        self.connected.load(Ordering::Relaxed)
    }

    /// The counters for metrics: clients connected now, then each departure reason with
    /// its running total, and the bad frames and refused commands.
    pub fn metrics(&self) -> (u64, [(&'static str, u64); 4], u64, u64) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (
            get(&self.connected),
            [
                ("closed", get(&self.closed)),
                ("lost", get(&self.lost)),
                ("timed_out", get(&self.timed_out)),
                ("evicted", get(&self.evicted)),
            ],
            get(&self.bad_frames),
            get(&self.busy),
        )
    }

    /// The counters as `/healthz` shows them.
    pub fn to_json(&self) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Acquire);
        json!({
            "connected": get(&self.connected),
            "closed": get(&self.closed),
            "lostWithoutClose": get(&self.lost),
            "heartbeatTimeouts": get(&self.timed_out),
            "evictedSlow": get(&self.evicted),
            "badFrames": get(&self.bad_frames),
            "commandsRefusedBusy": get(&self.busy),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departures_leave_the_live_count_and_are_counted_by_reason() {
        let s = ClientStats::default();
        for _ in 0..3 {
            s.connected();
        }
        s.departed(Departure::Lost);
        s.departed(Departure::TimedOut);
        assert_eq!(s.live(), 1);
        let j = s.to_json();
        assert_eq!(j["lostWithoutClose"], 1);
        assert_eq!(j["heartbeatTimeouts"], 1);
        assert_eq!(j["connected"], 1);
    }
}
