//! Contacts of a bot account: friends, groups, group members, their profiles.

/// A QQ number or group number. QQ numbers exceed `i32`, and both protocols carry them as
/// 64-bit integers.
pub type UserId = i64;

/// A member's rank in a group. Ordered so that `Owner > Administrator > Member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// An ordinary member.
    Member,
    /// A group administrator.
    Administrator,
    /// The group owner.
    Owner,
}

/// A friend of the bot (also the shape used for strangers and for the bot itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Friend {
    /// The friend's QQ number.
    pub id: UserId,
    /// The friend's own nickname.
    pub nickname: String,
    /// The remark the bot gave this friend; empty when none.
    pub remark: String,
}

/// A group as the bot sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The group number.
    pub id: UserId,
    /// The group's name.
    pub name: String,
    /// The bot's own permission in this group.
    pub permission: Permission,
}

/// A member of a group, as a snapshot taken when an event or answer is produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's QQ number.
    pub id: UserId,
    /// The member's group card (name card), or nickname when no card is set.
    pub member_name: String,
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

/// Another client logged in to the bot's own account (a phone, a PC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherClient {
    /// The client's id.
    pub id: i64,
    /// The client's platform name (`MOBILE`, `WINDOWS`, …).
    pub platform: String,
}

/// A user's sex as shown on the profile card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
