//! The OneBot v11 (CQHTTP) codec: message segments and CQ codes, events, actions. Shared by the OneBot client
//! adapters and the OneBot upstream source.

pub mod action;
pub mod cq;
pub mod decode;
pub mod event;
pub mod message;
pub mod quick;
pub mod upstream;
