//! Commands: what a client can ask of a bot, as one enum both client protocols decode into,
//! and the protocol-neutral results.

use std::sync::Arc;

use super::contact::{
    Announcement, Essence, Friend, Group, GroupConfig, GroupConfigUpdate, Member, MemberActive,
    Profile, UserId,
};
use super::event::MessageEvent;
use super::message::Segment;

/// Where a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Another client of the bot's own account.
    OtherClient(i64),
}

/// Whose chat history `RoamingMessages` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HistoryTarget {
    /// A friend if the bot has one with this number, else a group (mirai's `target`).
    FriendOrGroup(UserId),
    /// A friend's private chat.
    Friend(UserId),
    /// A group.
    Group(UserId),
    /// A temp session with a group member.
    Member {
        /// The group.
        group: UserId,
        /// The member.
        member: UserId,
    },
}

/// Where a nudge is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NudgeKind {
    /// To a friend (`subject` = the friend).
    Friend,
    /// To a stranger.
    Stranger,
    /// To a member of group `subject`.
    Group,
}

/// Which kind of request an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RequestType {
    /// Someone asked to be the bot's friend.
    NewFriend,
    /// Someone asked to join a group the bot administers.
    MemberJoin,
    /// Someone invited the bot into a group.
    BotInvitedJoinGroup,
}

/// The answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RequestAnswer {
    /// Accept it.
    Accept,
    /// Reject it; `blacklist` also blocks the asker.
    Reject {
        /// Block further requests.
        blacklist: bool,
    },
    /// Ignore it; `blacklist` also blocks the asker.
    Ignore {
        /// Block further requests.
        blacklist: bool,
    },
}

/// The contact a message id is looked up in: the friend/stranger/member id for private
/// messages, the group id for group messages (message ids are unique only per contact).
pub type MessageContext = UserId;

/// A request to a bot account.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    /// The bot's own account as a friend-shaped contact.
    BotInfo,
    /// The bot's friends.
    FriendList,
    /// The groups the bot is in.
    GroupList,
    /// One group with its member count.
    GroupInfo {
        /// The group.
        group: UserId,
    },
    /// The members of one group, the bot excluded.
    MemberList {
        /// The group.
        group: UserId,
        /// Whether the bot's own entry is listed too (OneBot implementations list it; mirai
        /// does not).
        with_bot: bool,
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
    /// Send a message to a channel of a QQ guild (go-cqhttp's `send_guild_channel_msg`),
    /// named by the platform's string ids.
    SendChannelMessage {
        /// The guild's id.
        guild_id: String,
        /// The channel's id.
        channel_id: String,
        /// What.
        message: Vec<Segment>,
        /// The id of a message in that channel to reply to.
        quote: Option<i32>,
    },
    /// Recall a message.
    Recall {
        /// The contact the message belongs to; `None` searches every contact.
        context: Option<MessageContext>,
        /// The message id.
        message_id: i32,
    },
    /// Chat history between two times (Unix seconds, inclusive).
    RoamingMessages {
        /// Whose history.
        target: HistoryTarget,
        /// From.
        time_start: i64,
        /// To.
        time_end: i64,
    },
    /// Nudge someone.
    SendNudge {
        /// Who is nudged.
        target: UserId,
        /// The friend, stranger or group it happens in.
        subject: UserId,
        /// Which kind of contact `subject` is.
        kind: NudgeKind,
    },
    /// Delete a friend.
    DeleteFriend {
        /// The friend.
        friend: UserId,
    },
    /// Mute a member.
    Mute {
        /// The group.
        group: UserId,
        /// The member.
        member: UserId,
        /// For how long, seconds (1 s to 30 days).
        seconds: i64,
    },
    /// Unmute a member.
    Unmute {
        /// The group.
        group: UserId,
        /// The member.
        member: UserId,
    },
    /// Remove a member from a group.
    Kick {
        /// The group.
        group: UserId,
        /// The member.
        member: UserId,
        /// Also refuse their future join requests.
        block: bool,
        /// The message shown to them.
        message: String,
    },
    /// Leave a group.
    Quit {
        /// The group.
        group: UserId,
    },
    /// Switch mute-all.
    MuteAll {
        /// The group.
        group: UserId,
        /// On or off.
        enable: bool,
    },
    /// Mark a group message as essence.
    SetEssence {
        /// The group; `None` finds it from the message (OneBot names only the message).
        group: Option<UserId>,
        /// The message.
        message_id: i32,
    },
    /// Unmark an essence message.
    RemoveEssence {
        /// The group; `None` finds it from the message.
        group: Option<UserId>,
        /// The message.
        message_id: i32,
    },
    /// A group's essence messages.
    EssenceList {
        /// The group.
        group: UserId,
    },
    /// Who holds which honour in a group.
    GroupHonors {
        /// The group.
        group: UserId,
    },
    /// A group's settings.
    GetGroupConfig {
        /// The group.
        group: UserId,
    },
    /// Change a group's settings.
    UpdateGroupConfig {
        /// The group.
        group: UserId,
        /// What to change.
        update: GroupConfigUpdate,
    },
    /// A member with their activity.
    GetMemberInfo {
        /// The group.
        group: UserId,
        /// The member.
        member: UserId,
    },
    /// Change a member's card or special title.
    UpdateMemberInfo {
        /// The group.
        group: UserId,
        /// The member.
        member: UserId,
        /// New group card.
        card: Option<String>,
        /// New special title.
        special_title: Option<String>,
    },
    /// Make or unmake an administrator.
    SetAdmin {
        /// The group.
        group: UserId,
        /// The member.
        member: UserId,
        /// Make (true) or unmake (false).
        assign: bool,
    },
    /// A group's announcements, newest first.
    ListAnnouncements {
        /// The group.
        group: UserId,
        /// How many to skip.
        offset: usize,
        /// How many at most.
        size: usize,
    },
    /// Publish an announcement.
    PublishAnnouncement {
        /// The group.
        group: UserId,
        /// Its text.
        content: String,
        /// Pin it.
        pinned: bool,
    },
    /// Delete an announcement.
    DeleteAnnouncement {
        /// The group.
        group: UserId,
        /// Its id.
        fid: String,
    },
    /// Answer a request event.
    RespondRequest {
        /// Which kind of request.
        kind: RequestType,
        /// The request's id.
        event_id: i64,
        /// Who asked; `None` when the protocol names the request by id alone (OneBot's flag).
        from_id: Option<UserId>,
        /// The group concerned (0: none); `None` as for `from_id`.
        group_id: Option<UserId>,
        /// The answer.
        answer: RequestAnswer,
        /// The message sent with the answer.
        message: String,
    },
    /// Members of a group fresh from the platform; an empty list means all.
    LatestMemberList {
        /// The group.
        group: UserId,
        /// The members wanted.
        members: Vec<UserId>,
    },
}

impl Command {
    /// The command's name (its variant), for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::BotInfo => "BotInfo",
            Command::FriendList => "FriendList",
            Command::GroupList => "GroupList",
            Command::GroupInfo { .. } => "GroupInfo",
            Command::MemberList { .. } => "MemberList",
            Command::BotProfile => "BotProfile",
            Command::FriendProfile { .. } => "FriendProfile",
            Command::MemberProfile { .. } => "MemberProfile",
            Command::UserProfile { .. } => "UserProfile",
            Command::MessageFromId { .. } => "MessageFromId",
            Command::SendMessage { .. } => "SendMessage",
            Command::SendChannelMessage { .. } => "SendChannelMessage",
            Command::Recall { .. } => "Recall",
            Command::RoamingMessages { .. } => "RoamingMessages",
            Command::SendNudge { .. } => "SendNudge",
            Command::DeleteFriend { .. } => "DeleteFriend",
            Command::Mute { .. } => "Mute",
            Command::Unmute { .. } => "Unmute",
            Command::Kick { .. } => "Kick",
            Command::Quit { .. } => "Quit",
            Command::MuteAll { .. } => "MuteAll",
            Command::SetEssence { .. } => "SetEssence",
            Command::RemoveEssence { .. } => "RemoveEssence",
            Command::EssenceList { .. } => "EssenceList",
            Command::GroupHonors { .. } => "GroupHonors",
            Command::GetGroupConfig { .. } => "GetGroupConfig",
            Command::UpdateGroupConfig { .. } => "UpdateGroupConfig",
            Command::GetMemberInfo { .. } => "GetMemberInfo",
            Command::UpdateMemberInfo { .. } => "UpdateMemberInfo",
            Command::SetAdmin { .. } => "SetAdmin",
            Command::ListAnnouncements { .. } => "ListAnnouncements",
            Command::PublishAnnouncement { .. } => "PublishAnnouncement",
            Command::DeleteAnnouncement { .. } => "DeleteAnnouncement",
            Command::RespondRequest { .. } => "RespondRequest",
            Command::LatestMemberList { .. } => "LatestMemberList",
        }
    }
}

/// The result of a successful command.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum CommandOutput {
    /// The command succeeded and returns nothing.
    Done,
    /// One friend-shaped contact.
    Friend(Friend),
    /// A list of friends.
    Friends(Vec<Friend>),
    /// A list of groups.
    Groups(Vec<Group>),
    /// One group and how many members it has (the bot included).
    GroupInfo(Group, usize),
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
    /// Several messages (chat history).
    Messages(Vec<Arc<MessageEvent>>),
    /// A group's settings.
    GroupConfig(GroupConfig),
    /// A member with their activity.
    MemberInfo(Member, MemberActive),
    /// Announcements.
    Announcements(Vec<Announcement>),
    /// One announcement.
    Announcement(Announcement),
    /// Essence messages.
    Essences(Vec<Essence>),
    /// Members with the honours they hold.
    Honors(Vec<(Member, Vec<String>)>),
}
