//! Commands: what a client can ask of a bot, as one enum both client protocols decode into,
//! and the protocol-neutral results.

use std::sync::Arc;

use super::contact::{Friend, Group, Member, Profile, UserId};
use super::event::MessageEvent;
use super::message::Segment;

/// Where a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageTarget {
    /// A friend (or, failing that, a stranger) by QQ number.
    Friend(UserId),
    /// A group by number.
    Group(UserId),
    /// A group member in a temp session.
    Temp {
        /// The group the session goes through.
        group: UserId,
        /// The member's QQ number.
        member: UserId,
    },
}

/// The contact a message id is looked up in: the friend/stranger/member id for private
/// messages, the group id for group messages (message ids are unique only per contact).
pub type MessageContext = UserId;

/// A request to a bot account.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// The bot's own account as a friend-shaped contact.
    BotInfo,
    /// The bot's friends.
    FriendList,
    /// The groups the bot is in.
    GroupList,
    /// The members of one group, the bot excluded.
    MemberList {
        /// The group.
        group: UserId,
    },
    /// The bot's own profile.
    BotProfile,
    /// A friend's profile.
    FriendProfile {
        /// The friend.
        friend: UserId,
    },
    /// A group member's profile.
    MemberProfile {
        /// The group.
        group: UserId,
        /// The member.
        member: UserId,
    },
    /// Any user's profile.
    UserProfile {
        /// The user.
        user: UserId,
    },
    /// A cached message by id.
    MessageFromId {
        /// The contact the message belongs to; `None` searches every contact (older clients
        /// send no target).
        context: Option<MessageContext>,
        /// The message id.
        message_id: i32,
    },
    /// Send a message.
    SendMessage {
        /// Where to.
        target: MessageTarget,
        /// What.
        message: Vec<Segment>,
        /// The id of a message in the same contact to reply to.
        quote: Option<i32>,
    },
    /// Recall a message.
    Recall {
        /// The contact the message belongs to; `None` searches every contact.
        context: Option<MessageContext>,
        /// The message id.
        message_id: i32,
    },
}

/// The result of a successful command.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutput {
    /// The command succeeded and returns nothing.
    Done,
    /// One friend-shaped contact.
    Friend(Friend),
    /// A list of friends.
    Friends(Vec<Friend>),
    /// A list of groups.
    Groups(Vec<Group>),
    /// A list of members.
    Members(Vec<Member>),
    /// A profile card.
    Profile(Profile),
    /// A cached message.
    Message(Arc<MessageEvent>),
    /// A message was sent and got this id.
    Sent {
        /// The new message's id.
        message_id: i32,
    },
}
