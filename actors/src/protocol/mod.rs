//! Protocol codecs: pure functions between wire JSON and the [`crate::model`], with no I/O and
//! no actix types. Adapters and bot sources share them.

pub mod lenient;
pub mod mirai;
pub mod oicq;
pub mod onebot;
pub mod qqbot;
