//! The inbound side of a served WebSocket: frames decoded straight from the socket's read half.
//!
//! An idle connection holds no read buffer: the socket is read only once it is readable, into
//! a buffer taken then and given back when everything read has been decoded — at 10,000 idle
//! clients an 8 KiB buffer each would be most of the gateway's memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame, ProtocolError};
use bytes::BytesMut;
use futures_util::Stream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::oneshot;

use super::placement::Hangup;

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 4096;

/// The read half of an upgraded socket and the bytes that arrived with the handshake.
pub(super) struct ReadSide {
    pub(super) socket: OwnedReadHalf,
    pub(super) early: BytesMut,
}

enum Source {
    /// The handshake's answer is not written yet; the listener hands the socket over then.
    Waiting(oneshot::Receiver<ReadSide>),
    Reading(OwnedReadHalf),
    Ended,
}

/// Inbound frames of a served WebSocket, at most `max_frame_size` each.
pub struct WsFrames {
    source: Source,
    buf: BytesMut,
    codec: Codec,
    /// Ends the frames of a connection on the bots' thread when its listeners stop.
    hangup: Option<Arc<Hangup>>,
}

impl WsFrames {
    /// Frames of the socket that will arrive on `handover`.
    pub(super) fn new(
        handover: oneshot::Receiver<ReadSide>,
        max_frame_size: usize,
        hangup: Option<Arc<Hangup>>,
    ) -> Self {
        WsFrames {
            source: Source::Waiting(handover),
            buf: BytesMut::new(),
            codec: Codec::new().max_size(max_frame_size),
            hangup,
        }
    }

    /// Reads what the socket has into the buffer: `Ready(Ok(true))` when something came,
    /// `Ready(Ok(false))` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        loop {
            match &mut self.source {
                Source::Waiting(handover) => match ready!(Pin::new(handover).poll(cx)) {
                    Ok(side) => {
                        self.buf = side.early;
                        self.source = Source::Reading(side.socket);
                        if !self.buf.is_empty() {
                            return Poll::Ready(Ok(true));
                        }
                    }
                    // The handshake's answer was never written: there is no connection.
                    Err(_) => return Poll::Ready(Ok(false)),
                },
                Source::Reading(socket) => {
                    ready!(socket.as_ref().poll_read_ready(cx))?;
                    self.buf.reserve(READ_CHUNK);
                    // Through `AsyncRead` rather than `try_read_buf`: a read that leaves room
                    // in the buffer tells tokio the socket is drained, so the next poll waits
                    // for it without a `recvfrom` answering EAGAIN — one system call fewer
                    // per wake-up.
                    match ready!(tokio_util::io::poll_read_buf(Pin::new(socket), cx, &mut self.buf))
                    {
                        Ok(0) => return Poll::Ready(Ok(false)),
                        Ok(_) => return Poll::Ready(Ok(true)),
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                Source::Ended => return Poll::Ready(Ok(false)),
            }
        }
    }
}

impl Stream for WsFrames {
    type Item = Result<Frame, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.hangup.as_ref().is_some_and(|h| h.poll(cx)) {
            this.source = Source::Ended;
            this.buf = BytesMut::new();
            return Poll::Ready(None);
        }
        loop {
            match this.codec.decode(&mut this.buf) {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Ok(None) => {}
                Err(e) => {
                    this.source = Source::Ended;
                    this.buf = BytesMut::new();
                    return Poll::Ready(Some(Err(e)));
                }
            }
            if matches!(this.source, Source::Ended) {
                return Poll::Ready(None);
            }
            if this.buf.is_empty() {
                // Everything read is decoded: give the buffer back while the client is quiet.
                this.buf = BytesMut::new();
            }
            match this.poll_fill(cx) {
                Poll::Ready(Ok(true)) => {}
                Poll::Ready(Ok(false)) => {
                    // A frame cut short by the end of the stream is lost with the connection.
                    this.source = Source::Ended;
                    this.buf = BytesMut::new();
                    return Poll::Ready(None);
                }
                Poll::Ready(Err(e)) => {
                    this.source = Source::Ended;
                    this.buf = BytesMut::new();
                    return Poll::Ready(Some(Err(ProtocolError::Io(e))));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
