//! Events: everything that happens to a bot account, in one enum that every seed's events map
//! into (mirai-api-http, OneBot v11, the QQ official gateway, oicq_webd).

use std::sync::OnceLock;

use bytes::Bytes;

use super::contact::{Friend, Group, Member, OtherClient, Permission, UserId};
use super::message::{MessageSource, Segment};

/// Who sent a message and where it was sent.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum MessageKind {
    /// A private message from a friend.
    Friend {
        /// The friend who sent it.
        sender: Friend,
    },
    /// A message in a group.
    Group {
        /// The member who sent it.
        sender: Member,
    },
    /// A private message from a group member who is not a friend ("temp session").
    Temp {
        /// The member who sent it; `sender.group` is the group it came through.
        sender: Member,
    },
    /// A private message from a stranger.
    Stranger {
        /// The stranger who sent it.
        sender: Friend,
    },
    /// A message from another client of the bot's own account.
    OtherClient {
        /// The client that sent it.
        sender: OtherClient,
    },
    /// A message the bot's account sent to a friend (from any client, this gateway included).
    FriendSync {
        /// The friend it was sent to.
        subject: Friend,
    },
    /// A message the bot's account sent to a group.
    GroupSync {
        /// The group it was sent to.
        subject: Group,
    },
    /// A message the bot's account sent to a group member in a temp session.
    TempSync {
        /// The member it was sent to.
        subject: Member,
    },
    /// A message the bot's account sent to a stranger.
    StrangerSync {
        /// The stranger it was sent to.
        subject: Friend,
    },
    /// A message in a channel of a QQ guild (QQ official platform). The channel is shown as a
    /// group and the author as its member, by the numbers botgate gave their string ids;
    /// the ids themselves are kept for protocols that carry them (go-cqhttp's guild messages).
    Guild {
        /// The author as a member of the channel's group.
        sender: Member,
        /// The guild's id.
        guild_id: String,
        /// The channel's id.
        channel_id: String,
        /// The author's guild user id.
        author_id: String,
    },
}

impl MessageKind {
    /// The id of the contact this message belongs to: the friend, stranger or member for
    /// private messages, the group for group messages. Message ids are unique only within it.
    pub fn context_id(&self) -> Option<UserId> {
        match self {
            MessageKind::Friend { sender } | MessageKind::Stranger { sender } => Some(sender.id),
            MessageKind::Group { sender } | MessageKind::Guild { sender, .. } => {
                Some(sender.group.id)
            }
            MessageKind::Temp { sender } => Some(sender.id),
            MessageKind::OtherClient { sender } => Some(sender.id),
            MessageKind::FriendSync { subject } | MessageKind::StrangerSync { subject } => {
                Some(subject.id)
            }
            MessageKind::GroupSync { subject } => Some(subject.id),
            MessageKind::TempSync { subject } => Some(subject.id),
        }
    }

    /// The group a message belongs to, if any.
    pub fn group(&self) -> Option<&Group> {
        match self {
            MessageKind::Group { sender }
            | MessageKind::Temp { sender }
            | MessageKind::Guild { sender, .. } => Some(&sender.group),
            MessageKind::TempSync { subject } => Some(&subject.group),
            MessageKind::GroupSync { subject } => Some(subject),
            _ => None,
        }
    }

    /// Who sent the message; `bot` for the sync kinds, which the bot's own account sent.
    pub fn sender_id(&self, bot: UserId) -> UserId {
        match self {
            MessageKind::Friend { sender } | MessageKind::Stranger { sender } => sender.id,
            MessageKind::Group { sender }
            | MessageKind::Temp { sender }
            | MessageKind::Guild { sender, .. } => sender.id,
            MessageKind::OtherClient { .. }
            | MessageKind::FriendSync { .. }
            | MessageKind::GroupSync { .. }
            | MessageKind::TempSync { .. }
            | MessageKind::StrangerSync { .. } => bot,
        }
    }
}

/// A message received or sent by the bot.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MessageEvent {
    /// Who sent it and where.
    pub kind: MessageKind,
    /// Its id and time.
    pub source: MessageSource,
    /// Its content.
    pub message: Vec<Segment>,
}

/// Why the bot went offline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BotOfflineReason {
    /// The bot logged out on purpose.
    Active,
    /// Another login forced the bot off.
    Force {
        /// The notice's title.
        title: String,
        /// The notice's text.
        message: String,
    },
    /// The connection to the platform dropped.
    Dropped,
}

/// A change of one group setting, with its old and new value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GroupChange {
    /// The group was renamed.
    Name {
        /// The old name.
        origin: String,
        /// The new name.
        current: String,
    },
    /// Mute-all was switched.
    MuteAll {
        /// Whether it was on.
        origin: bool,
        /// Whether it is on now.
        current: bool,
    },
    /// Anonymous chat was switched.
    AllowAnonymousChat {
        /// Whether it was allowed.
        origin: bool,
        /// Whether it is allowed now.
        current: bool,
    },
    /// Confess talk (坦白说) was switched.
    AllowConfessTalk {
        /// Whether it was allowed.
        origin: bool,
        /// Whether it is allowed now.
        current: bool,
        /// Whether the bot made the change.
        is_by_bot: bool,
    },
    /// Members inviting others was switched.
    AllowMemberInvite {
        /// Whether it was allowed.
        origin: bool,
        /// Whether it is allowed now.
        current: bool,
    },
}

/// What a request event asks the bot to decide.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RequestKind {
    /// Someone wants to become the bot's friend.
    NewFriend,
    /// Someone wants to join a group the bot administers.
    MemberJoin {
        /// The group's name.
        group_name: String,
        /// Who invited them, if anyone.
        invitor_id: Option<UserId>,
    },
    /// Someone invited the bot into a group.
    BotInvitedJoinGroup {
        /// The group's name.
        group_name: String,
    },
}

/// A request waiting for the bot's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestEvent {
    /// The request's id, used to answer it.
    pub event_id: i64,
    /// Who asked (for an invitation: who invited the bot).
    pub from_id: UserId,
    /// The group concerned; 0 when none.
    pub group_id: UserId,
    /// The asker's nickname.
    pub nick: String,
    /// The message that came with the request.
    pub message: String,
    /// What is asked.
    pub kind: RequestKind,
}

/// The contact a nudge happened in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NudgeSubject {
    /// In a private chat with a friend.
    Friend(Friend),
    /// In a group.
    Group(Group),
    /// In a private chat with a stranger.
    Stranger(Friend),
    /// From another client of the bot's account.
    OtherClient(OtherClient),
}

/// An event of the QQ official bot platform that has no QQ-group counterpart (guilds,
/// channels, reactions, audio, forums, audits, interactions). `kind` is the platform's event
/// name (`GUILD_CREATE`, `MESSAGE_REACTION_ADD`…) and `data` its payload as received.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GuildEvent {
    /// The platform's event name.
    pub kind: String,
    /// The payload as the platform sent it.
    pub data: serde_json::Value,
}

/// Everything that can happen to a bot account.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)] // the field names are the documentation; each variant says what it is
pub enum Event {
    /// A message was received (or sent, for the sync kinds).
    Message(MessageEvent),
    /// A friend's private message was recalled.
    FriendRecall { author_id: UserId, message_id: i32, time: i64, operator: UserId },
    /// A group message was recalled; `operator` None means the bot did it.
    GroupRecall {
        author_id: UserId,
        message_id: i32,
        time: i64,
        group: Group,
        operator: Option<Member>,
    },
    /// The bot logged in.
    BotOnline,
    /// The bot went offline.
    BotOffline(BotOfflineReason),
    /// The bot logged in again after going offline.
    BotRelogin,
    /// A friend started or stopped typing.
    FriendInputStatusChanged { friend: Friend, inputting: bool },
    /// A friend changed their nickname.
    FriendNickChanged { friend: Friend, from: String, to: String },
    /// A friend was added; `stranger` when a stranger became a friend.
    FriendAdd { friend: Friend, stranger: bool },
    /// A friend was deleted.
    FriendDelete { friend: Friend },
    /// The bot's permission in a group changed.
    BotGroupPermissionChange { group: Group, origin: Permission, current: Permission },
    /// The bot was muted in the operator's group.
    BotMute { duration_seconds: i64, operator: Member },
    /// The bot was unmuted.
    BotUnmute { operator: Member },
    /// The bot joined a group.
    BotJoinGroup { group: Group, invitor: Option<Member> },
    /// The bot left a group on its own.
    BotLeaveActive { group: Group },
    /// The bot was kicked from a group.
    BotLeaveKick { group: Group, operator: Option<Member> },
    /// A group the bot was in was disbanded.
    BotLeaveDisband { group: Group, operator: Option<Member> },
    /// Someone nudged someone.
    Nudge { from_id: UserId, target: UserId, subject: NudgeSubject, action: String, suffix: String },
    /// A group setting changed; `operator` None means the bot did it.
    GroupSettingChange { group: Group, change: GroupChange, operator: Option<Member> },
    /// A member joined a group.
    MemberJoin { member: Member, invitor: Option<Member> },
    /// A member was kicked; `operator` None means the bot did it.
    MemberLeaveKick { member: Member, operator: Option<Member> },
    /// A member left on their own.
    MemberLeaveQuit { member: Member },
    /// A member's group card changed.
    MemberCardChange { member: Member, origin: String, current: String },
    /// A member's special title changed.
    MemberSpecialTitleChange { member: Member, origin: String, current: String },
    /// A member's permission changed.
    MemberPermissionChange { member: Member, origin: Permission, current: Permission },
    /// A member was muted; `operator` None means the bot did it.
    MemberMute { member: Member, duration_seconds: i64, operator: Option<Member> },
    /// A member was unmuted.
    MemberUnmute { member: Member, operator: Option<Member> },
    /// A member gained or lost a group honour (龙王, 群聊之火…).
    MemberHonorChange { member: Member, achieve: bool, honor: String },
    /// A request waits for the bot's answer.
    Request(RequestEvent),
    /// Another client of the bot's account came online.
    OtherClientOnline { client: OtherClient },
    /// Another client of the bot's account went offline.
    OtherClientOffline { client: OtherClient },
    /// A console command was executed.
    CommandExecuted {
        name: String,
        friend: Option<Friend>,
        member: Option<Member>,
        args: Vec<Segment>,
    },
    /// A platform event the model has no counterpart for (a OneBot implementation's extension
    /// events); clients of the platform's own protocol get its raw JSON, others nothing.
    Unmapped {
        /// What it was, for logs (`notice/group_msg_emoji_like`…).
        kind: String,
    },
    /// A QQ official platform event with no group-world counterpart.
    Guild(GuildEvent),
}

impl Event {
    /// Whether this is a message (mirai's `/message` channel) rather than another event.
    pub fn is_message(&self) -> bool {
        matches!(self, Event::Message(_))
    }
}

/// The wire formats an event is serialized into. Each event is serialized at most once per
/// format, however many clients receive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WireFormat {
    /// A mirai-api-http event object.
    Mirai = 0,
    /// A mirai-api-http push frame with the default reservedSyncId `"-1"`, which nearly every
    /// client uses: the whole frame is then shared, not only the event inside it.
    MiraiDefaultPush = 1,
    /// A OneBot event with messages as segment arrays.
    OneBotArray = 2,
    /// A OneBot event with messages as CQ-code strings.
    OneBotString = 3,
    /// An oicq_webd push packet.
    Oicq = 4,
}

const WIRE_FORMATS: usize = 5;

/// An event of one bot, shared by every subscriber through an `Arc`, carrying its encodings
/// so that the first connection to need a format pays for it and the rest reuse the bytes.
#[derive(Debug)]
pub struct SharedEvent {
    /// The bot account the event happened to.
    pub bot: UserId,
    /// When the bot emitted it, Unix seconds (OneBot's `time`).
    pub time: i64,
    /// The event.
    pub event: Event,
    encoded: [OnceLock<Option<Bytes>>; WIRE_FORMATS],
    receipt: Option<Receipt>,
    position: Option<StreamPosition>,
}

/// Where a cluster's event stream holds an event: the same on every node, so a protocol
/// that gives events ids (the QQ official protocol's `id`) gives every node's clients the
/// same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPosition {
    /// The stream message (a batch of events).
    pub sequence: u64,
    /// The event's index in that batch.
    pub index: usize,
}

/// What a destination signals once it delivered an event that came from a durable feed (a
/// cluster's JetStream consumer): the feed then acknowledges it, so the next owner of the
/// destination continues after it.
pub struct Receipt(Box<dyn Fn() + Send + Sync>);

impl Receipt {
    /// A receipt that runs `signal` on delivery.
    pub fn new(signal: impl Fn() + Send + Sync + 'static) -> Self {
        Receipt(Box::new(signal))
    }
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Receipt")
    }
}

impl SharedEvent {
    /// Wraps an event of bot `bot`, emitted at `time`, for fan-out.
    pub fn new(bot: UserId, time: i64, event: Event) -> Self {
        SharedEvent { bot, time, event, encoded: Default::default(), receipt: None, position: None }
    }

    /// Records where the cluster's stream holds the event.
    pub fn at(mut self, position: StreamPosition) -> Self {
        self.position = Some(position);
        self
    }

    /// Where the cluster's stream holds the event (`None` outside a cluster).
    pub fn position(&self) -> Option<StreamPosition> {
        self.position
    }

    /// Attaches the receipt a destination signals once it delivered this event.
    pub fn with_receipt(mut self, receipt: Receipt) -> Self {
        self.receipt = Some(receipt);
        self
    }

    /// Tells the event's durable feed (if it came from one) that it was delivered; a no-op
    /// for events fanned out live.
    pub fn delivered(&self) {
        if let Some(receipt) = &self.receipt {
            (receipt.0)();
        }
    }

    /// Sets the event's OneBot encoding to `raw`, the exact bytes a OneBot implementation
    /// sent: OneBot clients then get the platform's own JSON untouched (its extension fields
    /// and segments included), whatever their message format.
    pub fn with_onebot_raw(self, raw: Bytes) -> Self {
        let _ = self.encoded[WireFormat::OneBotArray as usize].set(Some(raw.clone()));
        let _ = self.encoded[WireFormat::OneBotString as usize].set(Some(raw));
        self
    }

    /// The event in `format`, produced by `encode` on first use and cached; `None` when the
    /// format cannot express this event.
    pub fn encoded(
        &self,
        format: WireFormat,
        encode: impl FnOnce(&Event) -> Option<Bytes>,
    ) -> Option<&Bytes> {
        self.encoded[format as usize].get_or_init(|| encode(&self.event)).as_ref()
    }
}
