//! [`ShutDown`]: an outbound destination's last step when botgate stops gracefully. What
//! waits for the destination goes to the store (delivered first by the next run), the link
//! is closed with 1001 after what was written to it, and a request in flight is given a
//! moment to be answered, so its acknowledgement is recorded rather than repeated.

use std::time::Duration;

use actix::io::SinkWrite;
use actix::prelude::*;
use awc::ws::{CloseCode, CloseReason, Message};
use tokio::sync::oneshot;

use super::ws_client::WsSink;

/// How long a destination waits for its link to flush and close, or for a POST in flight to
/// be answered, before botgate exits regardless.
pub const GRACE: Duration = Duration::from_secs(2);

/// Asks a destination to store what waits and close; answered once it has.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShutDown;

/// Listeners for "the thing in flight is over" (a link closed, a POST answered).
#[derive(Default)]
pub struct Settled {
    waiters: Vec<oneshot::Sender<()>>,
}

impl Settled {
    /// A future that resolves when [`Settled::notify`] is called, or after [`GRACE`].
    pub fn wait(&mut self) -> impl std::future::Future<Output = ()> {
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        async move {
            let _ = tokio::time::timeout(GRACE, rx).await;
        }
    }

    /// Wakes every waiter.
    pub fn notify(&mut self) {
        for tx in self.waiters.drain(..) {
            let _ = tx.send(());
        }
    }
}

/// Closes a link with 1001 after what was written to it; resolves when `closed` is notified
/// (the sink's `finished`), or after [`GRACE`].
pub fn close_away(
    sink: &mut SinkWrite<Message, WsSink>,
    closed: &mut Settled,
) -> impl std::future::Future<Output = ()> {
    let reason =
        CloseReason { code: CloseCode::Away, description: Some("botgate is shutting down".into()) };
    close_with(sink, closed, reason)
}

/// Closes a link with `reason` after what was written to it; resolves when `closed` is
/// notified (the sink's `finished`), or after [`GRACE`].
pub fn close_with(
    sink: &mut SinkWrite<Message, WsSink>,
    closed: &mut Settled,
    reason: CloseReason,
) -> impl std::future::Future<Output = ()> {
    let _ = sink.write(Message::Close(Some(reason)));
    sink.close();
    closed.wait()
}

/// A destination's shutdown: its waiting events stored, then its link closed.
pub async fn finish(
    stored: impl std::future::Future<Output = ()>,
    closed: Option<impl std::future::Future<Output = ()>>,
) {
    stored.await;
    if let Some(closed) = closed {
        closed.await;
    }
}
