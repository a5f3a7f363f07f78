//! Inbound WebSocket frames as the connection actors act on them: continuation frames joined
//! into one message (actix hands them over one by one), bounded by the configured maximum
//! size, and text checked to be UTF-8 as RFC 6455 §8.1 requires (close code 1007 otherwise).
//! Every WebSocket endpoint, served or dialled, reads its frames through [`FrameAssembler`].

use actix_http::ws::{CloseCode, CloseReason, Frame, Item, ProtocolError};
use bytes::{Bytes, BytesMut};

/// What a continuation frame completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled {
    /// A whole message (text and binary alike: both carry JSON in these protocols).
    Message(Bytes),
    /// More fragments are expected.
    Pending,
    /// The message grew past the limit; the fragments were discarded.
    TooLarge,
    /// A fragment arrived out of order (a `Continue` with no first frame, or a second first
    /// frame); the partial message was discarded.
    OutOfOrder,
    /// A fragmented text message was not valid UTF-8.
    InvalidUtf8,
}

/// What one inbound frame asks of the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A whole data message to decode.
    Message(Bytes),
    /// Answer with a pong carrying this payload.
    Ping(Bytes),
    /// A pong: proof of life, nothing to do.
    Pong,
    /// The peer closed the connection.
    Close(Option<CloseReason>),
    /// A fragment of a message still arriving.
    Pending,
    /// A fragment out of order: the partial message was discarded, the connection stays.
    OutOfOrder,
    /// The peer broke the protocol: close the connection with this code and reason.
    Fail(CloseCode, String),
    /// The socket failed under the frames (a reset, or the end of a connection that vanished
    /// without a close frame): nothing can be sent any more.
    Lost(String),
}

/// Joins continuation frames into messages.
#[derive(Debug)]
pub struct FrameAssembler {
    buf: Option<BytesMut>,
    text: bool,
    max_size: usize,
}

impl FrameAssembler {
    /// An assembler for messages of at most `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        FrameAssembler { buf: None, text: false, max_size }
    }

    fn append(&mut self, data: &[u8]) -> Result<(), Assembled> {
        let Some(buf) = self.buf.as_mut() else {
            return Err(Assembled::OutOfOrder);
        };
        if buf.len() + data.len() > self.max_size {
            self.buf = None;
            return Err(Assembled::TooLarge);
        }
        buf.extend_from_slice(data);
        Ok(())
    }

    /// Takes one continuation item.
    pub fn push(&mut self, item: Item) -> Assembled {
        let text = matches!(item, Item::FirstText(_));
        match item {
            Item::FirstText(data) | Item::FirstBinary(data) => {
                let out_of_order = self.buf.is_some();
                self.text = text;
                self.buf = Some(BytesMut::new());
                if let Err(e) = self.append(&data) {
                    return e;
                }
                if out_of_order {
                    Assembled::OutOfOrder
                } else {
                    Assembled::Pending
                }
            }
            Item::Continue(data) => match self.append(&data) {
                Ok(()) => Assembled::Pending,
                Err(e) => e,
            },
            Item::Last(data) => match self.append(&data) {
                Ok(()) => match self.buf.take() {
                    Some(b) if self.text && std::str::from_utf8(&b).is_err() => {
                        Assembled::InvalidUtf8
                    }
                    Some(b) => Assembled::Message(b.freeze()),
                    None => Assembled::OutOfOrder,
                },
                Err(e) => e,
            },
        }
    }

    /// Forgets any partial message (after a reconnect).
    pub fn reset(&mut self) {
        self.buf = None;
    }

    /// Classifies one inbound frame, joining fragments and checking text for UTF-8.
    pub fn take(&mut self, frame: Frame) -> Inbound {
        match frame {
            Frame::Text(data) if std::str::from_utf8(&data).is_err() => {
                Inbound::Fail(CloseCode::Invalid, INVALID_UTF8.to_owned())
            }
            Frame::Text(data) | Frame::Binary(data) => Inbound::Message(data),
            Frame::Continuation(item) => match self.push(item) {
                Assembled::Message(data) => Inbound::Message(data),
                Assembled::Pending => Inbound::Pending,
                Assembled::TooLarge => {
                    Inbound::Fail(CloseCode::Size, "message too large".to_owned())
                }
                Assembled::OutOfOrder => Inbound::OutOfOrder,
                Assembled::InvalidUtf8 => {
                    Inbound::Fail(CloseCode::Invalid, INVALID_UTF8.to_owned())
                }
            },
            Frame::Ping(data) => Inbound::Ping(data),
            Frame::Pong(_) => Inbound::Pong,
            Frame::Close(reason) => Inbound::Close(reason),
        }
    }

    /// Classifies one item of a connection's frame stream: a frame as [`take`](Self::take)
    /// does, a read error as the peer gone or as a protocol violation to close on.
    pub fn take_item(&mut self, item: Result<Frame, ProtocolError>) -> Inbound {
        match item {
            Ok(frame) => self.take(frame),
            Err(ProtocolError::Io(e)) => Inbound::Lost(e.to_string()),
            Err(e) => {
                let code = match e {
                    ProtocolError::Overflow => CloseCode::Size,
                    _ => CloseCode::Protocol,
                };
                Inbound::Fail(code, e.to_string())
            }
        }
    }
}

/// The close reason of a text message that is not UTF-8.
const INVALID_UTF8: &str = "invalid UTF-8 in a text message";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_fragments_into_one_message() {
        let mut a = FrameAssembler::new(100);
        assert_eq!(a.push(Item::FirstText(Bytes::from_static(b"{\"a\""))), Assembled::Pending);
        assert_eq!(a.push(Item::Continue(Bytes::from_static(b":"))), Assembled::Pending);
        assert_eq!(
            a.push(Item::Last(Bytes::from_static(b"1}"))),
            Assembled::Message(Bytes::from_static(b"{\"a\":1}"))
        );
    }

    #[test]
    fn enforces_the_size_limit_and_order() {
        let mut a = FrameAssembler::new(4);
        a.push(Item::FirstBinary(Bytes::from_static(b"abc")));
        assert_eq!(a.push(Item::Last(Bytes::from_static(b"de"))), Assembled::TooLarge);
        assert_eq!(a.push(Item::Continue(Bytes::from_static(b"x"))), Assembled::OutOfOrder);
        a.push(Item::FirstText(Bytes::from_static(b"a")));
        assert_eq!(a.push(Item::FirstText(Bytes::from_static(b"b"))), Assembled::OutOfOrder);
        assert_eq!(
            a.push(Item::Last(Bytes::from_static(b"c"))),
            Assembled::Message(Bytes::from_static(b"bc"))
        );
    }

    #[test]
    fn text_that_is_not_utf8_fails_with_1007_binary_passes() {
        let mut a = FrameAssembler::new(100);
        let bad = Bytes::from_static(b"{\"a\":\"\xff\"}");
        assert_eq!(
            a.take(Frame::Text(bad.clone())),
            Inbound::Fail(CloseCode::Invalid, INVALID_UTF8.to_owned())
        );
        assert_eq!(a.take(Frame::Binary(bad.clone())), Inbound::Message(bad));
        a.take(Frame::Continuation(Item::FirstText(Bytes::from_static(b"\xe4\xbd"))));
        assert_eq!(
            a.take(Frame::Continuation(Item::Last(Bytes::from_static(b"\xa0")))),
            Inbound::Message(Bytes::from("你".as_bytes()))
        );
        a.take(Frame::Continuation(Item::FirstText(Bytes::from_static(b"\xe4\xbd"))));
        assert_eq!(
            a.take(Frame::Continuation(Item::Last(Bytes::from_static(b"x")))),
            Inbound::Fail(CloseCode::Invalid, INVALID_UTF8.to_owned())
        );
        a.take(Frame::Continuation(Item::FirstBinary(Bytes::from_static(b"\xff"))));
        assert_eq!(
            a.take(Frame::Continuation(Item::Last(Bytes::new()))),
            Inbound::Message(Bytes::from_static(b"\xff"))
        );
    }
}
