//! The protocol-neutral model: what a bot account is, what happens to it, and what can be asked
//! of it. Every protocol codec maps its wire format into and out of these types.

mod command;
mod contact;
mod error;
mod event;
mod input;
mod message;

pub use command::{
    Command, CommandOutput, HistoryTarget, MessageContext, MessageTarget, NudgeKind, RequestAnswer,
    RequestType,
};
pub use contact::{
    Announcement, Essence, Friend, Group, GroupConfig, GroupConfigUpdate, Member, MemberActive,
    OtherClient, Permission, Profile, Sex, UserId,
};
pub use error::BotError;
pub use event::{
    BotOfflineReason, Event, GroupChange, GuildEvent, MessageEvent, MessageKind, NudgeSubject,
    Receipt, RequestEvent, RequestKind, SharedEvent, StreamPosition, WireFormat,
};
pub use input::{InjectedOrigin, SimulatedInput};
pub use message::{ForwardNode, Media, MessageSource, Quote, Segment};
