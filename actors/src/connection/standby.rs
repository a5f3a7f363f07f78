//! [`SetActive`]: in a cluster every node has every outbound destination's actor, and only
//! the owner's is active (dialling, reading the destination's durable feed, delivering).
//! The others stand by until their node takes the destination over.

use actix::prelude::*;

/// Makes a destination active (`true`: its node owns it) or standing by; answered once the
/// change is complete — on standing down, once its link is closed and its feed has recorded
/// what it delivered, so the next owner starts right after it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetActive(pub bool);

/// Closes a destination's link with 1001 ("another node delivers now") after what was
/// written; resolves once closed, or after the shutdown grace.
pub fn close_moved(
    sink: &mut actix::io::SinkWrite<awc::ws::Message, super::ws_client::WsSink>,
    closed: &mut super::shutdown::Settled,
) -> impl std::future::Future<Output = ()> {
    let reason = awc::ws::CloseReason {
        code: awc::ws::CloseCode::Away,
        description: Some("botgate: another node of the cluster delivers now".into()),
    };
    super::shutdown::close_with(sink, closed, reason)
}

/// A destination standing down: its feeds end (each recording what was delivered), then its
/// link's close (if it had one) is awaited.
pub async fn stand_down<U, C>(unsubscribed: impl IntoIterator<Item = U>, closed: Option<C>)
where
    U: std::future::Future,
    C: std::future::Future<Output = ()>,
{
    futures_util::future::join_all(unsubscribed).await;
    if let Some(closed) = closed {
        closed.await;
    }
}
