//! What a simulated platform is told happened: the input of `POST /sim/{qq}/inject`, decoded
//! from any client protocol. Contacts are named by id only; the simulated world fills in the
//! rest (names, permissions) from its own state, as a real platform would.

use super::command::MessageTarget;
use super::contact::UserId;
use super::event::Event;
use super::message::{MessageSource, Segment};

/// Who sends an injected message, and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InjectedOrigin {
    /// A friend's private message.
    Friend(UserId),
    /// A member's message in a group.
    Group {
        /// The group.
        group: UserId,
        /// The sending member.
        member: UserId,
    },
    /// A member's temp-session message through a group.
    Temp {
        /// The group.
        group: UserId,
        /// The sending member.
        member: UserId,
    },
    /// A stranger's private message.
    Stranger {
        /// The stranger's QQ number.
        id: UserId,
        /// The stranger's nickname, as the event carried it.
        nickname: String,
    },
    /// A message from another client of the bot's own account.
    OtherClient(i64),
    /// A message the bot's account sent from another client (a "sync" message).
    Sync {
        /// Where it was sent.
        target: MessageTarget,
        /// Whether a friend target is a stranger.
        stranger: bool,
    },
}

/// One injected happening.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SimulatedInput {
    /// A message arrives. A `source` id the client chose is ignored: the platform assigns ids.
    Message {
        /// Who sends it.
        origin: InjectedOrigin,
        /// Its content.
        message: Vec<Segment>,
        /// The source element the client sent, if any (its time is kept).
        source: Option<MessageSource>,
    },
    /// A friend recalls a private message.
    FriendRecall {
        /// Who sent the message (the friend or the bot).
        author_id: UserId,
        /// The message id.
        message_id: i32,
        /// Who recalled it.
        operator: UserId,
    },
    /// Someone recalls a group message.
    GroupRecall {
        /// The group.
        group: UserId,
        /// Who sent the message.
        author_id: UserId,
        /// The message id.
        message_id: i32,
        /// Who recalled it; `None` for the bot.
        operator: Option<UserId>,
    },
    /// A platform event; the world applies what it says and re-takes its contacts.
    Event(Box<Event>),
}
