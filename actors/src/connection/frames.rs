//! Reassembly of fragmented WebSocket messages: continuation frames are joined into one
//! message (actix hands them over one by one), bounded by the configured maximum size.

use actix_http::ws::Item;
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
}

/// Joins continuation frames into messages.
#[derive(Debug)]
pub struct FrameAssembler {
    buf: Option<BytesMut>,
    max_size: usize,
}

impl FrameAssembler {
    /// An assembler for messages of at most `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        FrameAssembler { buf: None, max_size }
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
        match item {
            Item::FirstText(data) | Item::FirstBinary(data) => {
                let out_of_order = self.buf.is_some();
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
                Ok(()) => self
                    .buf
                    .take()
                    .map(|b| Assembled::Message(b.freeze()))
                    .unwrap_or(Assembled::OutOfOrder),
                Err(e) => e,
            },
        }
    }

    /// Forgets any partial message (after a reconnect).
    pub fn reset(&mut self) {
        self.buf = None;
    }
}

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
}
