//! The server side of a WebSocket connection: the socket is taken out of actix-web's HTTP
//! dispatcher once the handshake is answered ([`takeover`]); [`WsFrames`] decodes what the
//! client sends ([`inbound`]), [`WsWriter`] encodes what goes out ([`outbound`]), and
//! [`ServedSocket`] is the protocol-independent half of every served client.

mod inbound;
mod outbound;
mod placement;
mod takeover;

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use actix_http::ws::{CloseCode, CloseReason, Frame, ProtocolError};
use bytes::Bytes;
use bytestring::ByteString;

pub use inbound::WsFrames;
pub use outbound::{ServedSockets, WsWriter};
pub use placement::{Placement, Site};
pub use takeover::{bind, serve, upgrade, upgrade_placed, Keep, ListenerOptions, OnConnect};

use super::frames::{FrameAssembler, Inbound};
use super::stats::{ClientStats, Departure};
use crate::log_throttle::LogThrottle;

/// How a connection's peer stands, judged by when it last sent anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pulse {
    /// Heard from within the interval.
    Alive,
    /// Quiet for an interval: ping it.
    Quiet,
    /// Silent for three intervals: drop it.
    Dead,
}

/// When a peer was last heard from, for heartbeat checks.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    last_seen: Instant,
}

impl Liveness {
    /// A peer heard from just now.
    pub fn new() -> Self {
        Liveness { last_seen: Instant::now() }
    }

    /// Notes that the peer sent something (any frame, a pong included).
    pub fn seen(&mut self) {
        self.last_seen = Instant::now();
    }

    /// How long the peer has been silent.
    pub fn silence(&self) -> Duration {
        self.last_seen.elapsed()
    }

    /// How the peer stands at a heartbeat of `interval`.
    pub fn check(&self, interval: Duration) -> Pulse {
        let silence = self.silence();
        if silence > interval * 3 {
            Pulse::Dead
        } else if silence >= interval {
            Pulse::Quiet
        } else {
            Pulse::Alive
        }
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Self::new()
    }
}

/// How many encoded bytes may wait for the socket before a client's events are left in its
/// outbox instead (where the outbox's bound then decides about a client that stopped reading).
pub const WRITE_HIGH_WATER: usize = 256 * 1024;

/// Warnings about undecodable frames, across every served client: a flood is counted, not
/// written.
static BAD_FRAMES: LogThrottle = LogThrottle::new(Duration::from_secs(10));

/// What a served client's frame asks of its protocol.
#[derive(Debug)]
pub enum Incoming {
    /// A whole message to decode.
    Message(Bytes),
    /// A fragment out of order: answer with the protocol's bad-request reply.
    OutOfOrder,
    /// Nothing (a control frame, answered here, or a fragment).
    Nothing,
    /// The connection is over (closed, lost or broken): stop the actor.
    Stop,
}

/// The protocol-independent half of a served WebSocket client: its writer, its frames, when
/// it was last heard from, why it left, and its adapter's counters. The adapters' connection
/// actors own one each and add their protocol.
pub struct ServedSocket {
    /// The outbound side.
    pub writer: WsWriter,
    assembler: FrameAssembler,
    liveness: Liveness,
    departure: Departure,
    stats: Arc<ClientStats>,
    label: &'static str,
    /// The client's address, for log lines.
    pub peer: SocketAddr,
    /// Its entry in the directory of clients (the admin API).
    pub client: Arc<super::clients::Entry>,
    /// Its adapter's delivered-frames counter, resolved once.
    frames: prometheus::IntCounter,
}

impl ServedSocket {
    /// A client of the adapter named `label` (for logs), counted in `stats` until dropped.
    pub fn new(
        writer: WsWriter,
        max_message_size: usize,
        stats: Arc<ClientStats>,
        label: &'static str,
        peer: SocketAddr,
    ) -> Self {
        stats.connected();
        let client = stats.directory.register(label, peer);
        let outbound = Arc::downgrade(&writer.shared);
        client.on_disconnect(move || {
            if let Some(shared) = outbound.upgrade() {
                let reason = "disconnected by the administrator";
                WsWriter { shared }.close(Some(CloseReason {
                    code: CloseCode::Normal,
                    description: Some(reason.to_owned()),
                }));
            }
        });
        ServedSocket {
            frames: crate::metrics::frames_counter(label),
            client,
            writer,
            assembler: FrameAssembler::new(max_message_size),
            liveness: Liveness::new(),
            departure: Departure::Closed,
            stats,
            label,
            peer,
        }
    }

    /// Takes one item of the inbound frame stream: control frames are answered here, broken
    /// input closes the connection with the RFC's code, a lost socket is noted.
    pub fn receive(&mut self, item: Result<Frame, ProtocolError>) -> Incoming {
        self.liveness.seen();
        match self.assembler.take_item(item) {
            Inbound::Message(data) => Incoming::Message(data),
            Inbound::Pending | Inbound::Pong => Incoming::Nothing,
            Inbound::Ping(data) => {
                self.writer.pong(data);
                Incoming::Nothing
            }
            Inbound::OutOfOrder => {
                self.bad_frame(format_args!("continuation frame out of order"));
                Incoming::OutOfOrder
            }
            Inbound::Fail(code, why) => {
                self.bad_frame(format_args!("{why}; closing"));
                self.close(code, &why);
                Incoming::Stop
            }
            Inbound::Lost(why) => {
                // A client that vanishes without a close frame: routine, not an error.
                log::debug!("{} {}: connection lost: {why}", self.label, self.peer);
                self.departure = Departure::Lost;
                Incoming::Stop
            }
            Inbound::Close(reason) => {
                log::debug!("{} {}: client closed: {reason:?}", self.label, self.peer);
                self.close(CloseCode::Normal, "");
                Incoming::Stop
            }
        }
    }

    /// Notes where the client lives, for the admin API.
    pub fn placed(&self, site: &Site) {
        if site.home().is_some() {
            self.client.beside_bots();
        }
    }

    /// Lists the client in the directory with its bot, session and outbox.
    pub fn describe<T: Send + 'static>(
        &self,
        bot: crate::model::UserId,
        session: Option<&str>,
        outbox: &crate::outbox::Outbox<T>,
    ) {
        self.client.bind(bot, session);
        let outbox = outbox.clone();
        self.client.watch_outbox(move || (outbox.len(), outbox.dropped()));
    }

    /// Calls `refill` each time the socket took the pending bytes while events still wait
    /// in `outbox` (the last pump stopped at the high-water mark). When the pump emptied it,
    /// the outbox's own waker fires on the next event: waking the actor for every chunk
    /// written would cost a message per event per client.
    pub fn refill_on_drain<T: Send + 'static>(
        &self,
        outbox: &crate::outbox::Outbox<T>,
        refill: impl Fn() + Send + 'static,
    ) {
        let outbox = outbox.clone();
        self.writer.on_drain(move || {
            if !outbox.is_empty() {
                refill();
            }
        });
    }

    /// Moves queued events from `outbox` into the writer, encoded by `encode`, until the
    /// write buffer reaches [`WRITE_HIGH_WATER`], and writes them to the socket at once when it
    /// takes them (then goes on with the outbox). Answers false when the outbox overflowed
    /// and closed: the client stopped reading and must be dropped.
    pub fn pump_events<T>(
        &self,
        outbox: &crate::outbox::Outbox<T>,
        mut encode: impl FnMut(&T) -> Option<ByteString>,
    ) -> bool {
        if outbox.is_closed() {
            return false;
        }
        let mut written = 0;
        let mut pending = self.writer.buffered();
        loop {
            while pending < WRITE_HIGH_WATER {
                let (items, _) = outbox.drain(64);
                if items.is_empty() {
                    break;
                }
                // Encoded outside the writer's lock, queued under one lock per batch.
                let frames: Vec<ByteString> = items.iter().filter_map(&mut encode).collect();
                written += frames.len() as u64;
                pending = self.writer.texts_of_batch(frames);
            }
            // What the socket did not take is the writing task's; its drain refills.
            if !self.writer.flush_now() || outbox.is_empty() {
                break;
            }
            pending = 0;
        }
        if written > 0 {
            self.frames.inc_by(written);
        }
        true
    }

    /// Counts an undecodable frame and warns about it (rate-limited across all clients).
    pub fn bad_frame(&self, what: std::fmt::Arguments<'_>) {
        self.stats.bad_frame();
        crate::warn_throttled!(BAD_FRAMES, "{} {}: {what}", self.label, self.peer);
    }

    /// Counts a command refused for too many in flight, and warns (rate-limited).
    pub fn busy(&self, in_flight: usize, what: &str) {
        self.stats.busy();
        crate::warn_throttled!(
            BAD_FRAMES,
            "{} {}: {in_flight} commands in flight; {what:?} refused",
            self.label,
            self.peer
        );
    }

    /// Queues a close frame with `code` and `why`; the connection ends once it is written.
    pub fn close(&mut self, code: CloseCode, why: &str) {
        self.writer.close(Some(CloseReason { code, description: Some(why.to_owned()) }));
    }

    /// Drops a client that stopped reading, without flushing what it did not read.
    pub fn evict(&mut self, why: std::fmt::Arguments<'_>) {
        log::warn!("{} {}: {why}; evicted", self.label, self.peer);
        self.departure = Departure::Evicted;
        self.writer.abort();
    }

    /// A heartbeat tick at `interval`: pings a quiet client; answers false (after closing it)
    /// for one silent for three intervals.
    pub fn heartbeat(&mut self, interval: Duration) -> bool {
        match self.liveness.check(interval) {
            Pulse::Alive => true,
            Pulse::Quiet => {
                self.writer.ping();
                true
            }
            Pulse::Dead => {
                log::info!(
                    "{} {}: silent for {:?}; dropped",
                    self.label,
                    self.peer,
                    self.liveness.silence()
                );
                self.departure = Departure::TimedOut;
                self.close(CloseCode::Away, "heartbeat timeout");
                false
            }
        }
    }

    /// The inbound stream ended: unless a close frame came first, the client vanished.
    pub fn finished(&mut self) {
        if self.writer.is_open() {
            log::debug!("{} {}: connection ended without a close frame", self.label, self.peer);
            self.departure = Departure::Lost;
        }
    }
}

impl Drop for ServedSocket {
    fn drop(&mut self) {
        self.stats.departed(self.departure);
    }
}
