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

/// The close reason a destination's server sees when another node takes the destination over.
pub fn moved() -> awc::ws::CloseReason {
    awc::ws::CloseReason {
        code: awc::ws::CloseCode::Away,
        description: Some("botgate: another node of the cluster delivers now".into()),
    }
}
