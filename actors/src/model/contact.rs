//! Contacts of a bot account: friends, groups, group members, their profiles.

/// A QQ number or group number. QQ numbers exceed `i32`, and both protocols carry them as
/// 64-bit integers.
pub type UserId = i64;

/// A member's rank in a group. Ordered so that `Owner > Administrator > Member`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Permission {
    /// An ordinary member.
    Member,
    /// A group administrator.
    Administrator,
    /// The group owner.
    Owner,
}

/// A friend of the bot (also the shape used for strangers and for the bot itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Friend {
    /// The friend's QQ number.
    pub id: UserId,
    /// The friend's own nickname.
    pub nickname: String,
    /// The remark the bot gave this friend; empty when none.
    pub remark: String,
}

/// A group as the bot sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Group {
    /// The group number.
    pub id: UserId,
    /// The group's name.
    pub name: String,
    /// The bot's own permission in this group.
    pub permission: Permission,
}

/// A member of a group, as a snapshot taken when an event or answer is produced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// The member's QQ number.
    pub id: UserId,
    /// The member's group card (name card), or nickname when no card is set — the name shown
    /// in the group, and mirai's `memberName`.
    pub member_name: String,
    /// The member's own QQ nickname (OneBot distinguishes it from the card).
    pub nickname: String,
    /// The member's group card; empty when none is set.
    pub card: String,
    /// The member's special title; empty when none.
    pub special_title: String,
    /// The member's permission in the group.
    pub permission: Permission,
    /// When the member joined, in Unix seconds.
    pub join_timestamp: i64,
    /// When the member last spoke, in Unix seconds.
    pub last_speak_timestamp: i64,
    /// Seconds of mute left; 0 when not muted.
    pub mute_time_remaining: i64,
    /// The group this member belongs to.
    pub group: Group,
}

impl Member {
    /// An ordinary member of `group` known only by number and name (platforms that report
    /// no rank, card or dates).
    pub fn plain(id: UserId, name: &str, group: Group) -> Member {
        Member {
            id,
            member_name: name.to_owned(),
            nickname: name.to_owned(),
            card: String::new(),
            special_title: String::new(),
            permission: Permission::Member,
            join_timestamp: 0,
            last_speak_timestamp: 0,
            mute_time_remaining: 0,
            group,
        }
    }
}

/// Another client logged in to the bot's own account (a phone, a PC).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OtherClient {
    /// The client's id.
    pub id: i64,
    /// The client's platform name (`MOBILE`, `WINDOWS`, …).
    pub platform: String,
}

/// A user's sex as shown on the profile card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Sex {
    /// Not disclosed.
    #[default]
    Unknown,
    /// Male.
    Male,
    /// Female.
    Female,
}

/// A user's profile card.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// The user's nickname.
    pub nickname: String,
    /// The user's e-mail address; often empty.
    pub email: String,
    /// The user's age in years.
    pub age: i32,
    /// The user's QQ level.
    pub level: i32,
    /// The user's signature line.
    pub sign: String,
    /// The user's sex.
    pub sex: Sex,
}

/// A member's activity in a group (mirai's `active` object of `memberInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct MemberActive {
    /// The activity rank.
    pub rank: i32,
    /// Activity points.
    pub point: i32,
    /// Honours held (龙王, 群聊之火…).
    pub honors: Vec<String>,
    /// The "temperature" level.
    pub temperature: i32,
}

/// A group's settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct GroupConfig {
    /// The group's name.
    pub name: String,
    /// Whether confess talk (坦白说) is on.
    pub confess_talk: bool,
    /// Whether members may invite others.
    pub allow_member_invite: bool,
    /// Whether join requests are approved automatically.
    pub auto_approve: bool,
    /// Whether anonymous chat is allowed.
    pub anonymous_chat: bool,
    /// Whether everyone is muted.
    pub mute_all: bool,
}

/// A partial update of [`GroupConfig`]: `None` leaves a setting as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct GroupConfigUpdate {
    /// New name.
    pub name: Option<String>,
    /// New confess-talk switch.
    pub confess_talk: Option<bool>,
    /// New member-invite switch.
    pub allow_member_invite: Option<bool>,
    /// New auto-approve switch.
    pub auto_approve: Option<bool>,
    /// New anonymous-chat switch.
    pub anonymous_chat: Option<bool>,
    /// New mute-all switch.
    pub mute_all: Option<bool>,
}

/// A group announcement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Announcement {
    /// The group it belongs to.
    pub group: Group,
    /// Its text.
    pub content: String,
    /// Who published it.
    pub sender_id: UserId,
    /// Its id.
    pub fid: String,
    /// Whether every member confirmed it.
    pub all_confirmed: bool,
    /// How many members confirmed it.
    pub confirmed_members_count: i32,
    /// When it was published, Unix seconds.
    pub publication_time: i64,
}

/// A group essence message with who set it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Essence {
    /// The message.
    pub message_id: i32,
    /// Who wrote it.
    pub sender_id: UserId,
    /// Their display name.
    pub sender_nick: String,
    /// When it was sent, Unix seconds.
    pub sender_time: i64,
    /// Who made it essence.
    pub operator_id: UserId,
    /// Their display name.
    pub operator_nick: String,
    /// When, Unix seconds.
    pub operator_time: i64,
}
