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

use actix_codec::{Decoder, Encoder};
use actix_http::ws::{CloseReason, Codec, Frame, Message, ProtocolError};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;

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

/// The actor's handle on the outbound side of its connection.
#[derive(Clone)]
pub struct WsWriter {
    shared: Arc<Mutex<Outbound>>,
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

/// Moves queued events from `outbox` into `writer`, encoded by `encode`, until the write
/// buffer reaches [`WRITE_HIGH_WATER`]. Answers false when the outbox overflowed and closed:
/// the client stopped reading and must be dropped.
pub fn pump_events<T>(
    outbox: &crate::outbox::Outbox<T>,
    writer: &WsWriter,
    mut encode: impl FnMut(&T) -> Option<ByteString>,
) -> bool {
    if outbox.is_closed() {
        return false;
    }
    while writer.buffered() < WRITE_HIGH_WATER {
        let (items, _) = outbox.drain(64);
        if items.is_empty() {
            break;
        }
        for item in &items {
            if let Some(frame) = encode(item) {
                writer.text(frame);
            }
        }
    }
    true
}

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
