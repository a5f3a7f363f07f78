//! The outbound side of a served WebSocket: the connection actor encodes frames into a shared
//! buffer through its [`WsWriter`]. A batch of events is written by the actor itself, straight
//! from that buffer, when the socket takes it at once ([`WsWriter::flush_now`]) — one task poll
//! per client per event, as a hand-written server does; whatever the socket does not take, and
//! every other frame, is written by the socket's writing task ([`write_out`]), which takes the
//! pending bytes as one chunk. There is no per-connection channel and no second buffer: the
//! actor learns through `on_drain` when the task took a chunk, so it can refill the buffer up
//! to a high-water mark and leave the rest in its bounded outbox.

use std::any::Any;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll, Waker};

use actix_codec::Encoder;
use actix_http::ws::{CloseCode, CloseReason, Codec, Message};
use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;
use tokio::net::tcp::OwnedWriteHalf;

/// How the outbound side stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// A close frame is queued; the socket is shut down once it is written.
    Closing,
    /// The connection is to be dropped without flushing (a stalled client).
    Aborted,
}

/// What a connection actor and its socket's writing task share.
pub(super) struct Outbound {
    buf: BytesMut,
    codec: Codec,
    state: State,
    /// The writing task, parked until there is something to write.
    writer_waker: Option<Waker>,
    on_drain: Option<Box<dyn Fn() + Send>>,
    /// The socket, once the handshake's answer is written; shared with the writing task.
    socket: Option<Arc<OwnedWriteHalf>>,
    /// The writing task holds a chunk it has not finished: nothing may be written before it.
    in_flight: bool,
}

impl Outbound {
    /// A fresh outbound side, listed in `served`.
    pub(super) fn open(served: &ServedSockets) -> Arc<Mutex<Outbound>> {
        let shared = Arc::new(Mutex::new(Outbound {
            buf: BytesMut::new(),
            codec: Codec::new(),
            state: State::Open,
            writer_waker: None,
            on_drain: None,
            socket: None,
            in_flight: false,
        }));
        served.add(&shared);
        shared
    }

    fn wake_writer(&mut self) {
        if let Some(w) = self.writer_waker.take() {
            w.wake();
        }
    }

    /// Encodes `message` into the pending bytes; false when the connection no longer takes
    /// frames.
    fn encode(&mut self, message: Message) -> bool {
        if self.state != State::Open {
            return false;
        }
        // Encoding into a BytesMut cannot fail for server (unmasked) frames.
        let _ = self.codec.encode(message, &mut self.buf);
        true
    }
}

fn lock(shared: &Mutex<Outbound>) -> MutexGuard<'_, Outbound> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// The actor's handle on the outbound side of its connection. Dropping it (the actor stopped)
/// shuts the socket down once what is pending is written: a client that went away without a
/// close frame is released with its actor.
pub struct WsWriter {
    pub(super) shared: Arc<Mutex<Outbound>>,
}

/// The outbound sides of one gateway's served sockets, so that its graceful shutdown closes
/// them all with 1001 — and no other gateway's in the same process. Shared by the gateway's
/// listeners ([`super::ListenerOptions::served`]).
#[derive(Clone, Default)]
pub struct ServedSockets {
    list: Arc<Mutex<Vec<std::sync::Weak<Mutex<Outbound>>>>>,
}

impl ServedSockets {
    fn lock(&self) -> MutexGuard<'_, Vec<std::sync::Weak<Mutex<Outbound>>>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, shared: &Arc<Mutex<Outbound>>) {
        let mut served = self.lock();
        // Forget the sockets that are gone, now and then, so the list stays as long as the
        // number of open ones.
        if served.len() >= 64 && served.len().is_power_of_two() {
            served.retain(|w| w.strong_count() > 0);
        }
        served.push(Arc::downgrade(shared));
    }

    /// Closes every open socket with 1001 (going away) and `why`: clients see a proper
    /// close, not a reset, when botgate shuts down. Answers how many were open.
    pub fn close_all(&self, why: &str) -> usize {
        let served = std::mem::take(&mut *self.lock());
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
}

impl WsWriter {
    fn lock(&self) -> MutexGuard<'_, Outbound> {
        lock(&self.shared)
    }

    fn push(&self, message: Message) {
        let mut out = self.lock();
        if out.encode(message) {
            out.wake_writer();
        }
    }

    /// Queues a text frame.
    pub fn text(&self, text: ByteString) {
        self.push(Message::Text(text));
    }

    /// Queues the text frames of a batch that ends with [`WsWriter::flush_now`], under one
    /// lock (a pump's batch, not a lock per event); answers the bytes now pending.
    pub fn texts_of_batch(&self, texts: Vec<ByteString>) -> usize {
        let mut out = self.lock();
        for text in texts {
            if !out.encode(Message::Text(text)) {
                break;
            }
        }
        out.buf.len()
    }

    /// Writes the pending bytes to the socket now, if it takes them without waiting and the
    /// writing task has no chunk under way; whatever is left goes to that task. Answers
    /// whether nothing is left pending.
    pub fn flush_now(&self) -> bool {
        let mut out = self.lock();
        if out.buf.is_empty() {
            return true;
        }
        if out.state == State::Open && !out.in_flight {
            if let Some(socket) = out.socket.clone() {
                // Full, or broken: the writing task waits for room or meets the error.
                if let Ok(n) = socket.try_write(&out.buf) {
                    out.buf.advance(n);
                }
            }
        }
        let done = out.buf.is_empty();
        if !done {
            out.wake_writer();
        }
        done
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
        out.wake_writer();
    }

    /// Drops the connection without writing what is pending (a client that stopped reading).
    pub fn abort(&self) {
        let mut out = self.lock();
        out.state = State::Aborted;
        out.buf = BytesMut::new();
        out.wake_writer();
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
        out.wake_writer();
    }
}

/// What the writing task does next.
enum Next {
    /// Write this chunk.
    Write(BytesMut),
    /// Everything is written and a close was queued: shut the socket down.
    Shutdown,
    /// Drop the socket without flushing.
    Abort,
}

/// Takes what the actor has encoded, or parks the task until there is something.
fn poll_next(shared: &Mutex<Outbound>, cx: &mut Context<'_>) -> Poll<Next> {
    let mut out = lock(shared);
    match out.state {
        State::Aborted => return Poll::Ready(Next::Abort),
        _ if !out.buf.is_empty() => {
            let chunk = out.buf.split();
            out.in_flight = true;
            if let Some(f) = &out.on_drain {
                f();
            }
            return Poll::Ready(Next::Write(chunk));
        }
        State::Closing => return Poll::Ready(Next::Shutdown),
        State::Open => {}
    }
    match &out.writer_waker {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => out.writer_waker = Some(cx.waker().clone()),
    }
    Poll::Pending
}

/// How long a closing connection may take to flush what it has left (its close frame): a
/// client that stopped reading does not keep its socket past this.
const CLOSE_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the actor aborted the connection; if not, the task is woken when it does.
fn poll_aborted(shared: &Mutex<Outbound>, cx: &mut Context<'_>) -> bool {
    let mut out = lock(shared);
    if out.state == State::Aborted {
        return true;
    }
    match &out.writer_waker {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => out.writer_waker = Some(cx.waker().clone()),
    }
    false
}

/// Writes `chunk` whole; false when the socket failed or the actor aborted meanwhile (a
/// client that stopped reading must not hold its socket through a write that never ends).
async fn write_chunk(
    socket: &OwnedWriteHalf,
    shared: &Mutex<Outbound>,
    mut chunk: BytesMut,
) -> bool {
    while chunk.has_remaining() {
        let written = poll_fn(|cx| {
            if poll_aborted(shared, cx) {
                return Poll::Ready(None);
            }
            loop {
                if let Err(e) = ready!(socket.as_ref().poll_write_ready(cx)) {
                    return Poll::Ready(Some(Err(e)));
                }
                match socket.try_write(&chunk) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    result => return Poll::Ready(Some(result)),
                }
            }
        })
        .await;
        match written {
            Some(Ok(n)) if n > 0 => chunk.advance(n),
            Some(Ok(_)) => return false,
            Some(Err(e)) => {
                // The actor learns of the loss from its read side.
                log::debug!("served socket: write failed: {e}");
                return false;
            }
            None => return false,
        }
    }
    lock(shared).in_flight = false;
    true
}

/// Writes a connection's outbound frames to its socket until the actor closes, drops or
/// aborts it. `kept` lives as long as the socket (the connection's place under the
/// listener's limits).
pub(super) async fn write_out(
    socket: OwnedWriteHalf,
    shared: Arc<Mutex<Outbound>>,
    kept: Option<Box<dyn Any + Send>>,
) {
    let _kept = kept;
    let socket = Arc::new(socket);
    lock(&shared).socket = Some(Arc::clone(&socket));
    write_frames(&socket, &shared).await;
    // The socket's write side is shut down (FIN) when its last handle goes, here.
    lock(&shared).socket = None;
}

async fn write_frames(socket: &OwnedWriteHalf, shared: &Mutex<Outbound>) {
    loop {
        match poll_fn(|cx| poll_next(shared, cx)).await {
            Next::Write(chunk) => {
                let closing = lock(shared).state != State::Open;
                let written = write_chunk(socket, shared, chunk);
                let written = if closing {
                    actix_web::rt::time::timeout(CLOSE_FLUSH, written).await.unwrap_or(false)
                } else {
                    written.await
                };
                if !written {
                    return;
                }
            }
            Next::Shutdown | Next::Abort => return,
        }
    }
}
