//! Dispatches (op 0) into the model. The platform's ids are strings — openids, guild and
//! channel snowflakes, message ids — and the model's are integers: an [`IdMap`] supplied by
//! the source gives each a stable number, so this stays a pure function.

use serde_json::Value;

use super::content;
use crate::model::{
    Event, Friend, Group, GuildEvent, Member, MessageEvent, MessageKind, MessageSource, Permission,
    UserId,
};
use crate::protocol::lenient;

/// A platform id that is a contact, by kind. One numbering covers every kind, so a number
/// names exactly one of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContactKey {
    /// A QQ group, by `group_openid`.
    Group(String),
    /// A member of a QQ group: `member_openid` differs per group, so both are the key.
    Member {
        /// The group's openid.
        group: String,
        /// The member's openid in that group.
        member: String,
    },
    /// A user of C2C messages, by `user_openid`.
    User(String),
    /// A guild channel (shown as a group).
    Channel(String),
    /// A guild user, by id.
    GuildUser(String),
    /// A direct-message session inside a guild, by its pseudo-guild id (shown as a friend).
    Direct(String),
}

impl ContactKey {
    /// The key as stored: its kind, a colon, the id(s).
    pub fn encode(&self) -> String {
        match self {
            ContactKey::Group(id) => format!("group:{id}"),
            ContactKey::Member { group, member } => format!("member:{group}:{member}"),
            ContactKey::User(id) => format!("user:{id}"),
            ContactKey::Channel(id) => format!("channel:{id}"),
            ContactKey::GuildUser(id) => format!("guild_user:{id}"),
            ContactKey::Direct(id) => format!("dm:{id}"),
        }
    }

    /// The key a stored string names.
    pub fn decode(s: &str) -> Option<ContactKey> {
        let (kind, id) = s.split_once(':')?;
        let id = id.to_owned();
        Some(match kind {
            "group" => ContactKey::Group(id),
            "member" => {
                let (group, member) = id.split_once(':')?;
                ContactKey::Member { group: group.to_owned(), member: member.to_owned() }
            }
            "user" => ContactKey::User(id),
            "channel" => ContactKey::Channel(id),
            "guild_user" => ContactKey::GuildUser(id),
            "dm" => ContactKey::Direct(id),
            _ => return None,
        })
    }
}

/// Numbers for the platform's ids, given by the source (which keeps them stable).
pub trait IdMap {
    /// The number of a contact, given now if it has none.
    fn contact(&mut self, key: &ContactKey) -> UserId;
    /// The number of a message, given now if it has none (always fits `i32`).
    fn message(&mut self, platform_id: &str) -> i32;
    /// The number of a message seen before, if any.
    fn known_message(&self, platform_id: &str) -> Option<i32>;
}

/// Where a reply to an event goes: the platform's URL scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `/v2/groups/{group_openid}`.
    Group(String),
    /// `/v2/users/{user_openid}`.
    User(String),
    /// `/channels/{channel_id}`.
    Channel(String),
    /// `/dms/{guild_id}`.
    Direct(String),
}

/// What a passive reply may name: the message (`msg_id`) or the event (`event_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRef {
    /// Where the reply goes.
    pub scope: Scope,
    /// The received message's platform id.
    pub msg_id: Option<String>,
    /// The event's id, for events that allow a passive reply without a message.
    pub event_id: Option<String>,
}

/// A dispatch in the model's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The event.
    pub event: Event,
    /// What a reply to it may name.
    pub reply: Option<ReplyRef>,
    /// The message's platform id (messages only), for deduplication across intents.
    pub message_id: Option<String>,
}

/// Who the bot is on the platform, for recognising mentions of it and its own messages.
#[derive(Debug, Clone, Default)]
pub struct SelfIds {
    /// The bot's guild user id (READY `user.id`).
    pub user_id: String,
}

/// Maps a dispatch `t` with body `d` and event id `event_id`; `Ok(None)` for dispatches that
/// are the session's business (READY, RESUMED) or the bot's own messages.
pub fn decode(
    t: &str,
    d: &Value,
    event_id: Option<&str>,
    me: &SelfIds,
    ids: &mut impl IdMap,
) -> Result<Option<Inbound>, String> {
    let event_id = event_id.map(str::to_owned);
    let reply = |scope: Scope, msg_id: Option<String>| {
        Some(ReplyRef { scope, msg_id, event_id: event_id.clone() })
    };
    let time = timestamp(d.get("timestamp")).unwrap_or_else(crate::bot::unix_now);
    let inbound = match t {
        "READY" | "RESUMED" => return Ok(None),
        "C2C_MESSAGE_CREATE" => {
            let openid = author_id(d, "user_openid")?;
            let sender = Friend {
                id: ids.contact(&ContactKey::User(openid.clone())),
                nickname: String::new(),
                remark: String::new(),
            };
            let (message, id) = message_body(d, time, ids, |_, _| {})?;
            let event = Event::Message(MessageEvent {
                kind: MessageKind::Friend { sender },
                source: message.0,
                message: message.1,
            });
            Inbound {
                event,
                reply: reply(Scope::User(openid), Some(id.clone())),
                message_id: Some(id),
            }
        }
        "GROUP_AT_MESSAGE_CREATE" | "GROUP_MESSAGE_CREATE" => {
            let group_openid = text_of(d, &["group_openid", "group_id"])?;
            let member_openid = author_id(d, "member_openid")?;
            let group = group_of(ids, &group_openid);
            let mut member = member_of(ids, &group, &group_openid, &member_openid, "");
            // The author's rank, where the push carries it.
            let role = d.get("author").and_then(|a| a.get("member_role")).and_then(Value::as_str);
            member.permission = match role {
                Some("owner") => Permission::Owner,
                Some("admin") => Permission::Administrator,
                _ => Permission::Member,
            };
            let at = t == "GROUP_AT_MESSAGE_CREATE";
            let (message, id) = message_body(d, time, ids, |segments, _| {
                if at {
                    content::strip_leading_mention(segments, None);
                }
            })?;
            let event = Event::Message(MessageEvent {
                kind: MessageKind::Group { sender: member },
                source: message.0,
                message: message.1,
            });
            Inbound {
                event,
                reply: reply(Scope::Group(group_openid), Some(id.clone())),
                message_id: Some(id),
            }
        }
        "AT_MESSAGE_CREATE" | "MESSAGE_CREATE" => {
            let author = d.get("author").unwrap_or(&Value::Null);
            let author_id = text_of(author, &["id"])?;
            if !me.user_id.is_empty() && author_id == me.user_id {
                return Ok(None);
            }
            let channel_id = text_of(d, &["channel_id"])?;
            let guild_id = text_of(d, &["guild_id"]).unwrap_or_default();
            let username = str_of(author, "username");
            let nick = d.get("member").map(|m| str_of(m, "nick")).unwrap_or_default();
            let group = Group {
                id: ids.contact(&ContactKey::Channel(channel_id.clone())),
                name: String::new(),
                permission: Permission::Member,
            };
            let sender = Member {
                id: ids.contact(&ContactKey::GuildUser(author_id.clone())),
                member_name: if nick.is_empty() { username.clone() } else { nick.clone() },
                nickname: username,
                card: nick,
                special_title: String::new(),
                permission: Permission::Member,
                join_timestamp: 0,
                last_speak_timestamp: time,
                mute_time_remaining: 0,
                group,
            };
            let bot = (!me.user_id.is_empty())
                .then(|| ids.contact(&ContactKey::GuildUser(me.user_id.clone())));
            let (message, id) = message_body(d, time, ids, |segments, _| {
                if bot.is_some() {
                    content::strip_leading_mention(segments, bot);
                }
            })?;
            let event = Event::Message(MessageEvent {
                kind: MessageKind::Guild {
                    sender,
                    guild_id,
                    channel_id: channel_id.clone(),
                    author_id,
                },
                source: message.0,
                message: message.1,
            });
            Inbound {
                event,
                reply: reply(Scope::Channel(channel_id), Some(id.clone())),
                message_id: Some(id),
            }
        }
        "DIRECT_MESSAGE_CREATE" => {
            let author = d.get("author").unwrap_or(&Value::Null);
            if !me.user_id.is_empty() && str_of(author, "id") == me.user_id {
                return Ok(None);
            }
            let dm = text_of(d, &["guild_id"])?;
            let sender = Friend {
                id: ids.contact(&ContactKey::Direct(dm.clone())),
                nickname: str_of(author, "username"),
                remark: String::new(),
            };
            let (message, id) = message_body(d, time, ids, |_, _| {})?;
            let event = Event::Message(MessageEvent {
                kind: MessageKind::Friend { sender },
                source: message.0,
                message: message.1,
            });
            Inbound {
                event,
                reply: reply(Scope::Direct(dm), Some(id.clone())),
                message_id: Some(id),
            }
        }
        "MESSAGE_DELETE" | "PUBLIC_MESSAGE_DELETE" | "DIRECT_MESSAGE_DELETE" => {
            let message = d.get("message").unwrap_or(&Value::Null);
            let platform_id = text_of(message, &["id"])?;
            let Some(message_id) = ids.known_message(&platform_id) else {
                // Clients never saw it: there is nothing for them to forget.
                return Ok(None);
            };
            let author = message.get("author").map(|a| str_of(a, "id")).unwrap_or_default();
            let operator = d.get("op_user").map(|u| str_of(u, "id")).unwrap_or_default();
            let event = if t == "DIRECT_MESSAGE_DELETE" {
                let dm = text_of(message, &["guild_id"])?;
                let friend = ids.contact(&ContactKey::Direct(dm));
                Event::FriendRecall { author_id: friend, message_id, time, operator: friend }
            } else {
                let channel = text_of(message, &["channel_id"])?;
                let group = Group {
                    id: ids.contact(&ContactKey::Channel(channel)),
                    name: String::new(),
                    permission: Permission::Member,
                };
                let operator = (!operator.is_empty()).then(|| {
                    let id = ids.contact(&ContactKey::GuildUser(operator.clone()));
                    plain_member(id, &group, "")
                });
                Event::GroupRecall {
                    author_id: ids.contact(&ContactKey::GuildUser(author)),
                    message_id,
                    time,
                    group,
                    operator,
                }
            };
            Inbound { event, reply: None, message_id: None }
        }
        "FRIEND_ADD" | "FRIEND_DEL" => {
            let openid = text_of(d, &["openid", "user_openid"])?;
            let friend = Friend {
                id: ids.contact(&ContactKey::User(openid.clone())),
                nickname: str_of(d, "nick"),
                remark: String::new(),
            };
            let event = if t == "FRIEND_ADD" {
                Event::FriendAdd { friend, stranger: false }
            } else {
                Event::FriendDelete { friend }
            };
            Inbound { event, reply: reply(Scope::User(openid), None), message_id: None }
        }
        "GROUP_ADD_ROBOT" | "GROUP_DEL_ROBOT" | "GROUP_MEMBER_ADD" | "GROUP_MEMBER_REMOVE" => {
            let group_openid = text_of(d, &["group_openid", "group_id"])?;
            let group = group_of(ids, &group_openid);
            let operator = text_of(d, &["op_member_openid"])
                .ok()
                .map(|op| member_of(ids, &group, &group_openid, &op, ""));
            let event = match t {
                "GROUP_ADD_ROBOT" => Event::BotJoinGroup { group, invitor: operator },
                "GROUP_DEL_ROBOT" => Event::BotLeaveKick { group, operator },
                _ => {
                    let who = text_of(d, &["member_openid", "user_openid"])
                        .or_else(|_| text_of(d, &["op_member_openid"]))?;
                    let member = member_of(ids, &group, &group_openid, &who, "");
                    if t == "GROUP_MEMBER_ADD" {
                        Event::MemberJoin { member, invitor: None }
                    } else {
                        Event::MemberLeaveQuit { member }
                    }
                }
            };
            let scope = Scope::Group(group_openid);
            let reply = (t == "GROUP_ADD_ROBOT").then(|| reply(scope, None)).flatten();
            Inbound { event, reply, message_id: None }
        }
        _ => {
            // Guild, channel, reaction, audit, audio, forum, interaction and opt-in/opt-out
            // events: the model carries them as they came.
            let scope = match t {
                "GROUP_MSG_RECEIVE" => text_of(d, &["group_openid"]).ok().map(Scope::Group),
                "C2C_MSG_RECEIVE" => text_of(d, &["openid", "user_openid"]).ok().map(Scope::User),
                "INTERACTION_CREATE" => text_of(d, &["group_openid"])
                    .ok()
                    .map(Scope::Group)
                    .or_else(|| text_of(d, &["user_openid"]).ok().map(Scope::User)),
                _ => None,
            };
            let event = Event::Guild(GuildEvent { kind: t.to_owned(), data: d.clone() });
            Inbound { event, reply: scope.and_then(|s| reply(s, None)), message_id: None }
        }
    };
    Ok(Some(inbound))
}

type Body = (MessageSource, Vec<crate::model::Segment>);

/// A message's source and segments: content markup, then attachments.
fn message_body(
    d: &Value,
    time: i64,
    ids: &mut impl IdMap,
    adjust: impl FnOnce(&mut Vec<crate::model::Segment>, &Value),
) -> Result<(Body, String), String> {
    let platform_id = text_of(d, &["id"])?;
    let mentions = d.get("mentions").and_then(Value::as_array).cloned().unwrap_or_default();
    let raw = d.get("content").and_then(Value::as_str).unwrap_or("");
    let mut segments = content::parse(raw, |id| {
        let name = mentions
            .iter()
            .find(|m| m.get("id").and_then(Value::as_str) == Some(id))
            .map(|m| str_of(m, "username"))
            .unwrap_or_default();
        let display = if name.is_empty() { String::new() } else { format!("@{name}") };
        (ids.contact(&ContactKey::GuildUser(id.to_owned())), display)
    });
    adjust(&mut segments, d);
    segments.extend(content::attachments(d.get("attachments").unwrap_or(&Value::Null)));
    let id = ids.message(&platform_id);
    Ok(((MessageSource { id, time }, segments), platform_id))
}

fn group_of(ids: &mut impl IdMap, openid: &str) -> Group {
    Group {
        id: ids.contact(&ContactKey::Group(openid.to_owned())),
        name: String::new(),
        permission: Permission::Member,
    }
}

fn member_of(
    ids: &mut impl IdMap,
    group: &Group,
    group_openid: &str,
    openid: &str,
    name: &str,
) -> Member {
    let key = ContactKey::Member { group: group_openid.to_owned(), member: openid.to_owned() };
    plain_member(ids.contact(&key), group, name)
}

fn plain_member(id: UserId, group: &Group, name: &str) -> Member {
    Member::plain(id, name, group.clone())
}

/// The author's id under `openid_key`, or `author.id` (the spelling botgo reads).
fn author_id(d: &Value, openid_key: &str) -> Result<String, String> {
    let author = d.get("author").unwrap_or(&Value::Null);
    text_of(author, &[openid_key, "id"]).map_err(|_| format!("no author.{openid_key}"))
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// The first of `keys` present as a non-empty string (or a number, rendered).
fn text_of(v: &Value, keys: &[&str]) -> Result<String, String> {
    keys.iter()
        .find_map(|k| match v.get(*k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .ok_or_else(|| format!("no {}", keys.join(" or ")))
}

/// Unix seconds of a timestamp: an RFC 3339 string (`2021-05-20T15:14:58+08:00`), or a
/// number of seconds (the robot and friend events send one).
pub fn timestamp(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    if let Some(n) = lenient::int_from_value(v) {
        return Some(n);
    }
    rfc3339(v.as_str()?)
}

fn rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh = rest.get(1..3)?.parse::<i64>().ok()?;
            let om = rest.get(4..6).and_then(|m| m.parse::<i64>().ok()).unwrap_or(0);
            sign * (oh * 3600 + om * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::model::Segment;

    #[derive(Default)]
    struct Ids {
        contacts: HashMap<ContactKey, UserId>,
        messages: HashMap<String, i32>,
    }

    impl IdMap for Ids {
        fn contact(&mut self, key: &ContactKey) -> UserId {
            let next = 1000 + self.contacts.len() as i64;
            *self.contacts.entry(key.clone()).or_insert(next)
        }
        fn message(&mut self, id: &str) -> i32 {
            let next = 1 + self.messages.len() as i32;
            *self.messages.entry(id.to_owned()).or_insert(next)
        }
        fn known_message(&self, id: &str) -> Option<i32> {
            self.messages.get(id).copied()
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339("2021-05-20T15:14:58+08:00"), Some(1_621_494_898));
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339("2024-10-15T16:33:15.123+08:00"), Some(1_728_981_195));
        assert_eq!(timestamp(Some(&json!(1700000000))), Some(1_700_000_000));
        assert_eq!(rfc3339("yesterday"), None);
    }

    #[test]
    fn group_and_c2c_messages_get_stable_numbers() {
        let mut ids = Ids::default();
        let me = SelfIds { user_id: "99".into() };
        let d = json!({"id": "M1", "content": " hello &amp; bye", "timestamp": "2021-05-20T15:14:58+08:00",
            "group_openid": "G1", "group_id": "G1", "author": {"member_openid": "U1", "id": "U1"}});
        let a = decode("GROUP_AT_MESSAGE_CREATE", &d, Some("E1"), &me, &mut ids)
            .expect("ok")
            .expect("some");
        let Event::Message(m) = &a.event else { panic!("{a:?}") };
        let MessageKind::Group { sender } = &m.kind else { panic!("{m:?}") };
        assert_eq!((sender.group.id, sender.id, m.source.id), (1000, 1001, 1));
        assert_eq!(m.message, vec![Segment::Text("hello & bye".into())]);
        assert_eq!(
            a.reply.as_ref().map(|r| (&r.scope, r.msg_id.as_deref())),
            Some((&Scope::Group("G1".into()), Some("M1")))
        );
        // The same message through GROUP_MESSAGE_CREATE keeps its number.
        let b = decode("GROUP_MESSAGE_CREATE", &d, Some("E2"), &me, &mut ids)
            .expect("ok")
            .expect("some");
        assert_eq!(b.message_id.as_deref(), Some("M1"));
        let Event::Message(m2) = &b.event else { panic!() };
        assert_eq!(m2.source.id, 1);

        let d = json!({"id": "M2", "content": "hi", "author": {"user_openid": "U9"},
            "attachments": [{"url": "x/a.png", "content_type": "image/png"}]});
        let c = decode("C2C_MESSAGE_CREATE", &d, None, &me, &mut ids).expect("ok").expect("some");
        let Event::Message(m) = &c.event else { panic!() };
        assert!(matches!(&m.kind, MessageKind::Friend { sender } if sender.id == 1002));
        assert_eq!(m.message.len(), 2);
        assert!(decode("C2C_MESSAGE_CREATE", &json!({"id": "x"}), None, &me, &mut ids).is_err());
    }

    #[test]
    fn guild_messages_recalls_and_robot_events() {
        let mut ids = Ids::default();
        let me = SelfIds { user_id: "99".into() };
        let d = json!({"id": "M1", "channel_id": "C1", "guild_id": "GU", "content": "<@!99> ping <@!5>",
            "author": {"id": "7", "username": "alice"}, "member": {"nick": "Al"},
            "mentions": [{"id": "5", "username": "bob"}]});
        let a = decode("AT_MESSAGE_CREATE", &d, None, &me, &mut ids).expect("ok").expect("some");
        let Event::Message(m) = &a.event else { panic!() };
        let MessageKind::Guild { sender, channel_id, .. } = &m.kind else { panic!("{m:?}") };
        assert_eq!((sender.member_name.as_str(), channel_id.as_str()), ("Al", "C1"));
        assert_eq!(m.message[0], Segment::Text("ping ".into()));
        assert!(matches!(&m.message[1], Segment::At { display, .. } if display == "@bob"));
        let own = json!({"id": "M9", "channel_id": "C1", "author": {"id": "99"}, "content": "x"});
        assert_eq!(decode("MESSAGE_CREATE", &own, None, &me, &mut ids), Ok(None));

        let del = json!({"message": {"id": "M1", "channel_id": "C1", "author": {"id": "7"}}, "op_user": {"id": "7"}});
        let r =
            decode("PUBLIC_MESSAGE_DELETE", &del, None, &me, &mut ids).expect("ok").expect("some");
        assert!(matches!(r.event, Event::GroupRecall { message_id: 1, .. }));
        let unknown = json!({"message": {"id": "never", "channel_id": "C1"}});
        assert_eq!(decode("MESSAGE_DELETE", &unknown, None, &me, &mut ids), Ok(None));

        let add = json!({"timestamp": 1700000000, "group_openid": "G2", "op_member_openid": "U3"});
        let j =
            decode("GROUP_ADD_ROBOT", &add, Some("EV"), &me, &mut ids).expect("ok").expect("some");
        assert!(matches!(&j.event, Event::BotJoinGroup { invitor: Some(_), .. }));
        assert_eq!(j.reply.and_then(|r| r.event_id).as_deref(), Some("EV"));
        let i = decode(
            "INTERACTION_CREATE",
            &json!({"id": "I1", "user_openid": "U9"}),
            Some("EV2"),
            &me,
            &mut ids,
        )
        .expect("ok")
        .expect("some");
        assert!(matches!(&i.event, Event::Guild(g) if g.kind == "INTERACTION_CREATE"));
        assert_eq!(i.reply.map(|r| r.scope), Some(Scope::User("U9".into())));
        assert_eq!(
            ContactKey::decode(
                &ContactKey::Member { group: "G".into(), member: "M".into() }.encode()
            ),
            Some(ContactKey::Member { group: "G".into(), member: "M".into() })
        );
    }
}
