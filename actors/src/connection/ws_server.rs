//! The server side of a WebSocket connection on actix-web, built on actix-http's frame codec.
//!
//! Inbound, [`WsFrames`] decodes the request payload into frames. Outbound, the response body
//! [`WsBody`] pulls whatever the connection actor has encoded into a shared buffer through its
//! [`WsWriter`]: there is no per-connection channel, every poll writes all pending frames as
//! one chunk, and the actor learns through `on_drain` when the socket took them, so it can
//! refill the buffer up to a high-water mark and leave the rest in its bounded outbox.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use actix_codec::{Decoder, Encoder};
use actix_http::ws::{CloseCode, CloseReason, Codec, Frame, Message, ProtocolError};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;

use super::frames::{FrameAssembler, Inbound};
use super::stats::{ClientStats, Departure};
use crate::log_throttle::LogThrottle;

/// How the outbound side stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// A close frame is queued; the body ends once it is written.
    Closing,
    /// The connection is to be dropped without flushing (a stalled client).
    Aborted,
}

struct Outbound {
    buf: BytesMut,
    codec: Codec,
    state: State,
    body_waker: Option<Waker>,
    on_drain: Option<Box<dyn Fn() + Send>>,
}

/// The actor's handle on the outbound side of its connection. Dropping it (the actor stopped)
/// ends the response body once what is pending is written, so the server closes the socket:
/// a client that went away without a close frame is released with its actor.
pub struct WsWriter {
    shared: Arc<Mutex<Outbound>>,
}

/// Every served socket's outbound side, so a shutdown can close them all with 1001.
static SERVED: Mutex<Vec<std::sync::Weak<Mutex<Outbound>>>> = Mutex::new(Vec::new());

fn register(shared: &Arc<Mutex<Outbound>>) {
    let mut served = SERVED.lock().unwrap_or_else(|p| p.into_inner());
    // Forget the sockets that are gone, now and then, so the list stays as long as the
    // number of open ones.
    if served.len() >= 64 && served.len().is_power_of_two() {
        served.retain(|w| w.strong_count() > 0);
    }
    served.push(Arc::downgrade(shared));
}

/// Closes every open served socket with 1001 (going away) and `why`: clients see a proper
/// close, not a reset, when botgate shuts down. Answers how many were open.
pub fn close_all_served(why: &str) -> usize {
    let served = std::mem::take(&mut *SERVED.lock().unwrap_or_else(|p| p.into_inner()));
    let mut closed = 0;
    for shared in served.iter().filter_map(std::sync::Weak::upgrade) {
        let writer = WsWriter { shared };
        if writer.is_open() {
            writer.close(Some(CloseReason {
                code: CloseCode::Away,
                description: Some(why.to_owned()),
            }));
            closed += 1;
        }
    }
    closed
}

impl WsWriter {
    fn lock(&self) -> MutexGuard<'_, Outbound> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, message: Message) {
        let mut out = self.lock();
        if out.state != State::Open {
            return;
        }
        let Outbound { buf, codec, .. } = &mut *out;
        // Encoding into a BytesMut cannot fail for server (unmasked) frames.
        let _ = codec.encode(message, buf);
        if let Some(w) = out.body_waker.take() {
            w.wake();
        }
    }

    /// Queues a text frame.
    pub fn text(&self, text: ByteString) {
        self.push(Message::Text(text));
    }

    /// Queues a ping.
    pub fn ping(&self) {
        self.push(Message::Ping(Bytes::new()));
    }

    /// Queues a pong answering `data`.
    pub fn pong(&self, data: Bytes) {
        self.push(Message::Pong(data));
    }

    /// Queues a close frame; the connection ends once everything before it is written.
    pub fn close(&self, reason: Option<CloseReason>) {
        self.push(Message::Close(reason));
        let mut out = self.lock();
        if out.state == State::Open {
            out.state = State::Closing;
        }
        if let Some(w) = out.body_waker.take() {
            w.wake();
        }
    }

    /// Drops the connection without writing what is pending (a client that stopped reading).
    pub fn abort(&self) {
        let mut out = self.lock();
        out.state = State::Aborted;
        out.buf = BytesMut::new();
        if let Some(w) = out.body_waker.take() {
            w.wake();
        }
    }

    /// Bytes encoded but not yet taken by the socket.
    pub fn buffered(&self) -> usize {
        self.lock().buf.len()
    }

    /// Whether the outbound side still takes frames.
    pub fn is_open(&self) -> bool {
        self.lock().state == State::Open
    }

    /// Sets what to call each time the socket took the pending bytes.
    pub fn on_drain(&self, f: impl Fn() + Send + 'static) {
        self.lock().on_drain = Some(Box::new(f));
    }
}

impl Drop for WsWriter {
    fn drop(&mut self) {
        let mut out = self.lock();
        if out.state == State::Open {
            out.state = State::Closing;
        }
        out.on_drain = None;
        if let Some(w) = out.body_waker.take() {
            w.wake();
        }
    }
}

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

/// The response body: pending frames, one chunk per poll.
pub struct WsBody {
    shared: Arc<Mutex<Outbound>>,
}

impl Stream for WsBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut out = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if out.state == State::Aborted {
            return Poll::Ready(Some(Err(std::io::Error::other("connection aborted"))));
        }
        if !out.buf.is_empty() {
            let chunk = out.buf.split().freeze();
            if let Some(f) = &out.on_drain {
                f();
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        if out.state == State::Closing {
            return Poll::Ready(None);
        }
        out.body_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Inbound frames decoded from the request payload.
pub struct WsFrames {
    payload: web::Payload,
    buf: BytesMut,
    codec: Codec,
    ended: bool,
}

impl Stream for WsFrames {
    type Item = Result<Frame, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.codec.decode(&mut this.buf) {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Ok(None) if this.ended => return Poll::Ready(None),
                Ok(None) => {}
                Err(e) => {
                    this.ended = true;
                    this.buf.clear();
                    return Poll::Ready(Some(Err(e)));
                }
            }
            match Pin::new(&mut this.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.buf.extend_from_slice(&chunk),
                Poll::Ready(Some(Err(e))) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(ProtocolError::Io(std::io::Error::other(
                        e.to_string(),
                    )))));
                }
                Poll::Ready(None) => {
                    if this.buf.is_empty() {
                        return Poll::Ready(None);
                    }
                    this.ended = true;
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// How many encoded bytes may wait for the socket before a client's events are left in its
/// outbox instead (where the outbox's bound then decides about a client that stopped reading).
pub const WRITE_HIGH_WATER: usize = 256 * 1024;

/// Answers a WebSocket handshake: the 101 response (whose body is the outbound side), the
/// writer for the connection actor, and the inbound frames (at most `max_frame_size` each).
pub fn upgrade(
    req: &HttpRequest,
    payload: web::Payload,
    max_frame_size: usize,
) -> Result<(HttpResponse, WsWriter, WsFrames), actix_web::Error> {
    let mut response = actix_http::ws::handshake(req.head())?;
    let shared = Arc::new(Mutex::new(Outbound {
        buf: BytesMut::new(),
        codec: Codec::new(),
        state: State::Open,
        body_waker: None,
        on_drain: None,
    }));
    let body = WsBody { shared: Arc::clone(&shared) };
    register(&shared);
    let response =
        HttpResponse::from(response.message_body(actix_web::body::BodyStream::new(body))?)
            .map_into_boxed_body();
    let frames = WsFrames {
        payload,
        buf: BytesMut::new(),
        codec: Codec::new().max_size(max_frame_size),
        ended: false,
    };
    Ok((response, WsWriter { shared }, frames))
}

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
    /// write buffer reaches [`WRITE_HIGH_WATER`]. Answers false when the outbox overflowed
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
        while self.writer.buffered() < WRITE_HIGH_WATER {
            let (items, _) = outbox.drain(64);
            if items.is_empty() {
                break;
            }
            for item in &items {
                if let Some(frame) = encode(item) {
                    self.writer.text(frame);
                    written += 1;
                }
            }
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
