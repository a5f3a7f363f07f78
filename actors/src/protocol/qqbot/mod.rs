//! The QQ official bot platform's codec (seed 003): the gateway's payload envelope, op codes
//! and close codes, intents, webhook signatures, dispatches into the model, and the OpenAPI
//! bodies of messages. Shared by the `qqbot` source and (later) the adapter that serves the
//! protocol to the platform's SDKs.

pub mod content;
pub mod dispatch;
pub mod intents;
pub mod outgoing;
pub mod payload;
pub mod served;
pub mod signature;
