//! botgate's core: the protocol-neutral model, the protocol codecs, and the actors that move
//! events and commands between bot accounts and clients.
//!
//! Data flows one way. Events go source → [`bot::BotActor`] → subscribers (connection actors)
//! → codec → socket; commands go socket → codec → [`model::Command`] → `BotActor` → result →
//! codec. Codecs in [`protocol`] are pure functions with no I/O so they are tested on their own.

pub mod bot;
pub mod cluster;
pub mod connection;
pub mod log_throttle;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod protocol;
pub mod registry;
pub mod secret;
pub mod store;
