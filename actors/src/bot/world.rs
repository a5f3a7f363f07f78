//! The simulated world of one bot account: its profile, friends, groups and members, loaded
//! from `config.yaml` and changed by commands the way the real platform would change them.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::model::{
    Announcement, BotError, Essence, Friend, Group, GroupConfig, Member, MessageEvent, OtherClient,
    Permission, Profile, RequestEvent, Sex, UserId,
};

/// The current time in Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A permission as written in config.yaml.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum PermissionSpec {
    /// The group owner.
    Owner,
    /// An administrator.
    #[serde(alias = "ADMIN")]
    Administrator,
    /// An ordinary member.
    #[default]
    Member,
}

impl From<PermissionSpec> for Permission {
    fn from(p: PermissionSpec) -> Self {
        match p {
            PermissionSpec::Owner => Permission::Owner,
            PermissionSpec::Administrator => Permission::Administrator,
            PermissionSpec::Member => Permission::Member,
        }
    }
}

/// A profile card as written in config.yaml; every key is optional.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// E-mail address.
    #[serde(default)]
    pub email: String,
    /// Age in years.
    #[serde(default)]
    pub age: i32,
    /// QQ level.
    #[serde(default)]
    pub level: i32,
    /// Signature line.
    #[serde(default)]
    pub sign: String,
    /// `UNKNOWN`, `MALE` or `FEMALE`.
    #[serde(default)]
    pub sex: SexSpec,
}

/// A sex as written in config.yaml.
#[derive(Debug, Clone, Copy, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum SexSpec {
    /// Not disclosed.
    #[default]
    Unknown,
    /// Male.
    Male,
    /// Female.
    Female,
}

impl ProfileSpec {
    fn to_profile(&self, nickname: &str) -> Profile {
        Profile {
            nickname: nickname.to_owned(),
            email: self.email.clone(),
            age: self.age,
            level: self.level,
            sign: self.sign.clone(),
            sex: match self.sex {
                SexSpec::Unknown => Sex::Unknown,
                SexSpec::Male => Sex::Male,
                SexSpec::Female => Sex::Female,
            },
        }
    }
}

/// A friend as written in config.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FriendSpec {
    /// QQ number.
    pub id: UserId,
    /// The friend's nickname.
    pub nickname: String,
    /// The bot's remark for the friend.
    #[serde(default)]
    pub remark: String,
    /// The friend's profile card.
    #[serde(default)]
    pub profile: ProfileSpec,
}

/// A group member as written in config.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemberSpec {
    /// QQ number.
    pub id: UserId,
    /// The member's nickname.
    pub nickname: String,
    /// The member's group card; the nickname shows when empty.
    #[serde(default)]
    pub card: String,
    /// `OWNER`, `ADMINISTRATOR` or `MEMBER`.
    #[serde(default)]
    pub permission: PermissionSpec,
    /// The member's special title.
    #[serde(default)]
    pub special_title: String,
    /// When the member joined, Unix seconds.
    #[serde(default)]
    pub join_timestamp: i64,
    /// The member's profile card.
    #[serde(default)]
    pub profile: ProfileSpec,
}

/// A group as written in config.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Group number.
    pub id: UserId,
    /// Group name.
    pub name: String,
    /// The bot's own permission in the group.
    #[serde(default)]
    pub permission: PermissionSpec,
    /// The other members.
    #[serde(default)]
    pub members: Vec<MemberSpec>,
}

/// Another client of the bot's own account as written in config.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherClientSpec {
    /// The client's id.
    pub id: i64,
    /// Its platform (`MOBILE`, `WINDOWS`, …).
    #[serde(default = "default_platform")]
    pub platform: String,
}

fn default_platform() -> String {
    "MOBILE".to_owned()
}

/// A simulated bot account as written under `bots[]` in config.yaml.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimulatedWorldSpec {
    /// The bot's nickname.
    #[serde(default)]
    pub nickname: String,
    /// The bot's profile card.
    #[serde(default)]
    pub profile: ProfileSpec,
    /// The bot's friends.
    #[serde(default)]
    pub friends: Vec<FriendSpec>,
    /// The groups the bot is in.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// Other clients logged in to the bot's account.
    #[serde(default)]
    pub other_clients: Vec<OtherClientSpec>,
}

impl SimulatedWorldSpec {
    /// Checks the world is possible; the error names the offending entry (relative to the
    /// bot's own config entry) and says how to fix it.
    pub fn validate(&self, bot: UserId) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (i, f) in self.friends.iter().enumerate() {
            if f.id == bot {
                return Err(format!("friends[{i}].id: the bot cannot be its own friend"));
            }
            if !seen.insert(f.id) {
                return Err(format!("friends[{i}].id: friend {} is listed twice", f.id));
            }
        }
        let mut groups = std::collections::HashSet::new();
        for (gi, g) in self.groups.iter().enumerate() {
            if !groups.insert(g.id) {
                return Err(format!("groups[{gi}].id: group {} is listed twice", g.id));
            }
            let mut owners = usize::from(g.permission == PermissionSpec::Owner);
            let mut members = std::collections::HashSet::new();
            for (mi, m) in g.members.iter().enumerate() {
                if m.id == bot {
                    return Err(format!(
                        "groups[{gi}].members[{mi}].id: the bot is a member of every group it is \
                         in; set its own rank with groups[{gi}].permission instead"
                    ));
                }
                if !members.insert(m.id) {
                    return Err(format!(
                        "groups[{gi}].members[{mi}].id: member {} is listed twice",
                        m.id
                    ));
                }
                owners += usize::from(m.permission == PermissionSpec::Owner);
            }
            if owners > 1 {
                return Err(format!(
                    "groups[{gi}]: a group has one OWNER, this one has {owners}; make the others \
                     ADMINISTRATOR or MEMBER"
                ));
            }
        }
        Ok(())
    }
}

/// How many messages of each contact the simulated platform keeps for `roamingMessages`.
pub const HISTORY_PER_CONTACT: usize = 1000;

/// A member's live state.
#[derive(Debug, Clone)]
pub(super) struct MemberState {
    pub(super) id: UserId,
    pub(super) nickname: String,
    pub(super) card: String,
    pub(super) permission: Permission,
    pub(super) special_title: String,
    pub(super) join_timestamp: i64,
    pub(super) last_speak_timestamp: i64,
    pub(super) mute_until: i64,
    pub(super) profile: Profile,
}

impl MemberState {
    /// A member who just joined.
    pub(super) fn joined(id: UserId, nickname: &str, now: i64) -> Self {
        MemberState {
            id,
            nickname: nickname.to_owned(),
            card: String::new(),
            permission: Permission::Member,
            special_title: String::new(),
            join_timestamp: now,
            last_speak_timestamp: now,
            mute_until: 0,
            profile: Profile { nickname: nickname.to_owned(), ..Profile::default() },
        }
    }
}

/// A group's live state.
#[derive(Debug, Clone)]
pub(super) struct GroupState {
    pub(super) id: UserId,
    pub(super) name: String,
    pub(super) bot_permission: Permission,
    pub(super) members: BTreeMap<UserId, MemberState>,
    pub(super) config: GroupConfig,
    pub(super) bot_mute_until: i64,
    pub(super) essence: Vec<Essence>,
    pub(super) announcements: Vec<Announcement>,
    /// Group honours (龙王, 群聊之火…) held by members.
    pub(super) honors: BTreeMap<UserId, Vec<String>>,
}

impl GroupState {
    /// A group the bot just joined, with no other member known yet.
    pub(super) fn joined(id: UserId, name: &str, bot_permission: Permission) -> Self {
        GroupState {
            id,
            name: name.to_owned(),
            bot_permission,
            members: BTreeMap::new(),
            config: GroupConfig {
                name: name.to_owned(),
                allow_member_invite: true,
                ..GroupConfig::default()
            },
            bot_mute_until: 0,
            essence: Vec::new(),
            announcements: Vec::new(),
            honors: BTreeMap::new(),
        }
    }

    pub(super) fn group(&self) -> Group {
        Group { id: self.id, name: self.name.clone(), permission: self.bot_permission }
    }

    pub(super) fn member(&self, m: &MemberState, now: i64) -> Member {
        Member {
            id: m.id,
            member_name: if m.card.is_empty() { m.nickname.clone() } else { m.card.clone() },
            nickname: m.nickname.clone(),
            card: m.card.clone(),
            special_title: m.special_title.clone(),
            permission: m.permission,
            join_timestamp: m.join_timestamp,
            last_speak_timestamp: m.last_speak_timestamp,
            mute_time_remaining: (m.mute_until - now).max(0),
            group: self.group(),
        }
    }
}

/// Whose history a message belongs to: private chats and groups have separate number spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum HistoryKey {
    /// A private chat (friend, stranger, temp session) with this user.
    Private(UserId),
    /// A group.
    Group(UserId),
}

/// The live state of one simulated account.
#[derive(Debug)]
pub struct SimWorld {
    pub(super) bot: UserId,
    pub(super) nickname: String,
    pub(super) profile: Profile,
    pub(super) friends: BTreeMap<UserId, (Friend, Profile)>,
    pub(super) groups: BTreeMap<UserId, GroupState>,
    pub(super) other_clients: Vec<OtherClient>,
    pub(super) history: HashMap<HistoryKey, VecDeque<Arc<MessageEvent>>>,
    pub(super) pending_requests: HashMap<i64, RequestEvent>,
    pub(super) blacklist: std::collections::HashSet<UserId>,
    next_message_id: i32,
    next_serial: i64,
}

impl SimWorld {
    /// Builds the world of bot `bot` from its (validated) spec.
    pub fn new(bot: UserId, spec: &SimulatedWorldSpec) -> Self {
        let nickname =
            if spec.nickname.is_empty() { format!("bot{bot}") } else { spec.nickname.clone() };
        let friends = spec
            .friends
            .iter()
            .map(|f| {
                let friend =
                    Friend { id: f.id, nickname: f.nickname.clone(), remark: f.remark.clone() };
                (f.id, (friend, f.profile.to_profile(&f.nickname)))
            })
            .collect();
        let groups = spec
            .groups
            .iter()
            .map(|g| {
                let members = g
                    .members
                    .iter()
                    .map(|m| {
                        let state = MemberState {
                            id: m.id,
                            nickname: m.nickname.clone(),
                            card: m.card.clone(),
                            permission: m.permission.into(),
                            special_title: m.special_title.clone(),
                            join_timestamp: m.join_timestamp,
                            last_speak_timestamp: m.join_timestamp,
                            mute_until: 0,
                            profile: m.profile.to_profile(&m.nickname),
                        };
                        (m.id, state)
                    })
                    .collect();
                let mut state = GroupState::joined(g.id, &g.name, g.permission.into());
                state.members = members;
                (g.id, state)
            })
            .collect();
        SimWorld {
            bot,
            profile: spec.profile.to_profile(&nickname),
            nickname,
            friends,
            groups,
            other_clients: spec
                .other_clients
                .iter()
                .map(|c| OtherClient { id: c.id, platform: c.platform.clone() })
                .collect(),
            history: HashMap::new(),
            pending_requests: HashMap::new(),
            blacklist: std::collections::HashSet::new(),
            next_message_id: 1,
            next_serial: 1,
        }
    }

    /// A fresh serial number (request event ids, announcement ids).
    pub(super) fn next_serial(&mut self) -> i64 {
        let n = self.next_serial;
        self.next_serial += 1;
        n
    }

    /// Records a message in its contact's history, keeping the newest
    /// [`HISTORY_PER_CONTACT`].
    pub(super) fn remember(&mut self, key: HistoryKey, message: Arc<MessageEvent>) {
        let history = self.history.entry(key).or_default();
        if history.len() >= HISTORY_PER_CONTACT {
            history.pop_front();
        }
        history.push_back(message);
    }

    pub(super) fn group_state_mut(&mut self, id: UserId) -> Result<&mut GroupState, BotError> {
        self.groups.get_mut(&id).ok_or_else(|| BotError::NoSuchElement(format!("group {id}")))
    }

    /// The bot's QQ number.
    pub fn bot_id(&self) -> UserId {
        self.bot
    }

    /// The bot as a friend-shaped contact.
    pub fn bot_contact(&self) -> Friend {
        Friend { id: self.bot, nickname: self.nickname.clone(), remark: String::new() }
    }

    /// The bot's profile card.
    pub fn bot_profile(&self) -> Profile {
        self.profile.clone()
    }

    /// Makes new message ids start after `last` (the highest id the store holds).
    pub fn continue_message_ids_after(&mut self, last: i32) {
        if last >= self.next_message_id {
            self.next_message_id = last.checked_add(1).unwrap_or(1);
        }
    }

    /// A fresh message id. Ids are unique across the whole account, which also makes them
    /// unique per contact as the protocols require.
    pub fn next_message_id(&mut self) -> i32 {
        let id = self.next_message_id;
        self.next_message_id = self.next_message_id.checked_add(1).unwrap_or(1);
        id
    }

    /// Every friend, by QQ number.
    pub fn friends(&self) -> Vec<Friend> {
        self.friends.values().map(|(f, _)| f.clone()).collect()
    }

    /// One friend.
    pub fn friend(&self, id: UserId) -> Result<Friend, BotError> {
        self.friends
            .get(&id)
            .map(|(f, _)| f.clone())
            .ok_or_else(|| BotError::NoSuchElement(format!("friend {id}")))
    }

    /// Every group, by number.
    pub fn groups(&self) -> Vec<Group> {
        self.groups.values().map(GroupState::group).collect()
    }

    pub(super) fn group_state(&self, id: UserId) -> Result<&GroupState, BotError> {
        self.groups.get(&id).ok_or_else(|| BotError::NoSuchElement(format!("group {id}")))
    }

    /// One group.
    pub fn group(&self, id: UserId) -> Result<Group, BotError> {
        self.group_state(id).map(GroupState::group)
    }

    /// A group's members, the bot excluded.
    pub fn members(&self, group: UserId) -> Result<Vec<Member>, BotError> {
        let g = self.group_state(group)?;
        let now = unix_now();
        Ok(g.members.values().map(|m| g.member(m, now)).collect())
    }

    /// The bot itself as a member of `group`, as OneBot implementations list it.
    pub fn bot_member(&self, group: UserId) -> Result<Member, BotError> {
        let g = self.group_state(group)?;
        let nickname = self.bot_contact().nickname;
        Ok(Member {
            id: self.bot_id(),
            member_name: nickname.clone(),
            nickname,
            card: String::new(),
            special_title: String::new(),
            permission: g.bot_permission,
            join_timestamp: 0,
            last_speak_timestamp: 0,
            mute_time_remaining: (g.bot_mute_until - unix_now()).max(0),
            group: g.group(),
        })
    }

    /// One member of a group (not the bot).
    pub fn member(&self, group: UserId, id: UserId) -> Result<Member, BotError> {
        let g = self.group_state(group)?;
        let m = g
            .members
            .get(&id)
            .ok_or_else(|| BotError::NoSuchElement(format!("member {id} of group {group}")))?;
        Ok(g.member(m, unix_now()))
    }

    /// Records that a member just spoke.
    pub fn touch_member(&mut self, group: UserId, id: UserId, at: i64) {
        if let Some(m) = self.groups.get_mut(&group).and_then(|g| g.members.get_mut(&id)) {
            m.last_speak_timestamp = at;
        }
    }

    /// Whether the bot may not speak in a group right now: muted itself, or mute-all is on
    /// and the bot is an ordinary member.
    pub fn bot_muted_in(&self, group: UserId) -> bool {
        self.groups.get(&group).is_some_and(|g| {
            g.bot_mute_until > unix_now()
                || (g.config.mute_all && g.bot_permission == Permission::Member)
        })
    }

    /// A friend's profile.
    pub fn friend_profile(&self, id: UserId) -> Result<Profile, BotError> {
        self.friends
            .get(&id)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| BotError::NoSuchElement(format!("friend {id}")))
    }

    /// A member's profile.
    pub fn member_profile(&self, group: UserId, id: UserId) -> Result<Profile, BotError> {
        let g = self.group_state(group)?;
        g.members
            .get(&id)
            .map(|m| m.profile.clone())
            .ok_or_else(|| BotError::NoSuchElement(format!("member {id} of group {group}")))
    }

    /// Any user's profile: the bot, a friend, or a member of any group.
    pub fn user_profile(&self, id: UserId) -> Result<Profile, BotError> {
        if id == self.bot {
            return Ok(self.bot_profile());
        }
        if let Some((_, p)) = self.friends.get(&id) {
            return Ok(p.clone());
        }
        self.groups
            .values()
            .find_map(|g| g.members.get(&id).map(|m| m.profile.clone()))
            .ok_or_else(|| BotError::NoSuchElement(format!("user {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> SimulatedWorldSpec {
        serde_json::from_value(serde_json::from_str(yaml).unwrap()).unwrap()
    }

    #[test]
    fn members_show_their_card_or_nickname_and_exclude_the_bot() {
        let s = spec(
            r#"{"nickname":"b","groups":[{"id":3,"name":"g","permission":"OWNER","members":[
                {"id":5,"nickname":"nick","card":"card"},{"id":6,"nickname":"plain","permission":"ADMIN"}]}]}"#,
        );
        s.validate(1).unwrap();
        let w = SimWorld::new(1, &s);
        let ms = w.members(3).unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].member_name, "card");
        assert_eq!(ms[1].member_name, "plain");
        assert_eq!(ms[1].permission, Permission::Administrator);
        assert_eq!(ms[0].group.permission, Permission::Owner);
        assert!(matches!(w.member(3, 1), Err(BotError::NoSuchElement(_))));
        assert!(matches!(w.members(4), Err(BotError::NoSuchElement(_))));
    }

    #[test]
    fn impossible_worlds_are_rejected_with_the_entry_named() {
        let two_owners = spec(
            r#"{"groups":[{"id":3,"name":"g","permission":"OWNER","members":[{"id":5,"nickname":"n","permission":"OWNER"}]}]}"#,
        );
        assert!(two_owners.validate(1).unwrap_err().starts_with("groups[0]"));
        let dup = spec(r#"{"friends":[{"id":2,"nickname":"a"},{"id":2,"nickname":"b"}]}"#);
        assert!(dup.validate(1).unwrap_err().starts_with("friends[1].id"));
        let bot_member =
            spec(r#"{"groups":[{"id":3,"name":"g","members":[{"id":1,"nickname":"me"}]}]}"#);
        assert!(bot_member.validate(1).unwrap_err().contains("groups[0].permission"));
    }
}
