//! The mirai-api-http v2 codec: chain elements, contacts, events, the ws envelope, commands
//! and state codes, exactly as mirai-api-http 2.10 puts them on the wire.

pub mod chain;
pub mod command;
pub mod contact;
pub mod decode;
pub mod envelope;
pub mod event;
pub mod mirai_code;
pub mod state;

/// The mirai-api-http version botgate answers `about` with; SDKs check it.
pub const MIRAI_API_HTTP_VERSION: &str = "2.10.0";
