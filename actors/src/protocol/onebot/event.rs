//! Events in OneBot v11's shapes (spec §5, §2): message, notice, request and meta events, all
//! ids JSON integers, messages in the configured post format with `raw_message` always a CQ
//! string. Events OneBot has no shape for are not sent to OneBot clients (debug log).

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::message::{to_array, to_cq_string};
use crate::model::{
    BotOfflineReason, Event, GroupChange, Member, MessageEvent, MessageKind, NudgeSubject,
    Permission, RequestKind, SharedEvent, UserId, WireFormat,
};

/// How message content is posted (`post_message_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageFormat {
    /// CQ-code strings (CQHTTP's default).
    #[default]
    String,
    /// Segment arrays.
    Array,
}

fn role(p: Permission) -> &'static str {
    match p {
        Permission::Owner => "owner",
        Permission::Administrator => "admin",
        Permission::Member => "member",
    }
}

fn base(bot: UserId, time: i64, post_type: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("time".into(), json!(time));
    m.insert("self_id".into(), json!(bot));
    m.insert("post_type".into(), json!(post_type));
    m
}

fn with(mut m: Map<String, Value>, fields: Value) -> Value {
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    Value::Object(m)
}

fn member_sender(m: &Member) -> Value {
    json!({
        "user_id": m.id,
        "nickname": m.nickname,
        "card": m.card,
        "sex": "unknown",
        "age": 0,
        "area": "",
        "level": "",
        "role": role(m.permission),
        "title": m.special_title,
    })
}

fn message(bot: UserId, m: &MessageEvent, format: MessageFormat) -> Option<Value> {
    let content = match format {
        MessageFormat::String => Value::String(to_cq_string(&m.message)),
        MessageFormat::Array => to_array(&m.message),
    };
    let raw = to_cq_string(&m.message);
    let b = base(bot, m.source.time, "message");
    let common = |user: UserId, sender: Value| {
        json!({"message_id": m.source.id, "user_id": user, "message": content, "raw_message": raw,
               "font": 0, "sender": sender})
    };
    let fields = match &m.kind {
        MessageKind::Group { sender } => {
            let mut f = json!({"message_type": "group", "sub_type": "normal", "group_id": sender.group.id, "anonymous": null});
            merge(&mut f, common(sender.id, member_sender(sender)));
            f
        }
        MessageKind::Friend { sender } | MessageKind::Stranger { sender } => {
            let sub = if matches!(m.kind, MessageKind::Friend { .. }) { "friend" } else { "other" };
            let mut f = json!({"message_type": "private", "sub_type": sub});
            merge(
                &mut f,
                common(
                    sender.id,
                    json!({"user_id": sender.id, "nickname": sender.nickname, "sex": "unknown", "age": 0}),
                ),
            );
            f
        }
        MessageKind::Temp { sender } => {
            let mut f = json!({"message_type": "private", "sub_type": "group", "temp_source": sender.group.id});
            let mut s = json!({"user_id": sender.id, "nickname": sender.nickname, "sex": "unknown", "age": 0});
            s["group_id"] = json!(sender.group.id);
            merge(&mut f, common(sender.id, s));
            f
        }
        MessageKind::Guild { sender, guild_id, channel_id, author_id } => {
            // go-cqhttp's guild message: string ids throughout.
            return Some(with(
                b,
                json!({"message_type": "guild", "sub_type": "channel", "guild_id": guild_id,
                       "channel_id": channel_id, "user_id": author_id,
                       "message_id": m.source.id.to_string(), "message": content,
                       "raw_message": raw,
                       "sender": {"user_id": author_id, "tiny_id": author_id,
                                  "nickname": sender.nickname}}),
            ));
        }
        _ => {
            log::debug!("OneBot has no event for messages the bot's account sent; not posted");
            return None;
        }
    };
    Some(with(b, fields))
}

/// A message as chat history lists it (`get_group_msg_history`): every message of the chat,
/// the bot's own included as go-cqhttp lists them — the shape of a message event, sent by
/// the bot (`user_id` = `self_id`, the bot's role in the group).
pub fn history_entry(bot: UserId, m: &MessageEvent, format: MessageFormat) -> Option<Value> {
    let mut fields = match &m.kind {
        MessageKind::GroupSync { subject } => {
            json!({"message_type": "group", "sub_type": "normal", "group_id": subject.id,
                   "anonymous": null, "sender": {"user_id": bot, "nickname": "", "card": "",
                   "sex": "unknown", "age": 0, "area": "", "level": "",
                   "role": role(subject.permission), "title": ""}})
        }
        MessageKind::FriendSync { .. } | MessageKind::TempSync { .. } => {
            json!({"message_type": "private", "sub_type": "friend",
                   "sender": {"user_id": bot, "nickname": "", "sex": "unknown", "age": 0}})
        }
        _ => return message(bot, m, format),
    };
    let content = match format {
        MessageFormat::String => Value::String(to_cq_string(&m.message)),
        MessageFormat::Array => to_array(&m.message),
    };
    merge(
        &mut fields,
        json!({"message_id": m.source.id, "user_id": bot, "message": content,
               "raw_message": to_cq_string(&m.message), "font": 0}),
    );
    Some(with(base(bot, m.source.time, "message"), fields))
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

fn notice(bot: UserId, time: i64, kind: &str, fields: Value) -> Value {
    let mut b = base(bot, time, "notice");
    b.insert("notice_type".into(), json!(kind));
    with(b, fields)
}

fn honor_type(honor: &str) -> &'static str {
    match honor {
        "龙王" => "talkative",
        "群聊之火" | "群聊炽焰" => "performer",
        "快乐源泉" => "emotion",
        "冒尖小春笋" => "strong_newbie",
        _ => "legend",
    }
}

/// Encodes an event of bot `bot` at `time` (Unix seconds) for OneBot clients.
pub fn encode(bot: UserId, time: i64, event: &Event, format: MessageFormat) -> Option<Value> {
    let op = |m: &Option<Member>| m.as_ref().map_or(bot, |m| m.id);
    Some(match event {
        Event::Message(m) => return message(bot, m, format),
        Event::FriendRecall { author_id, message_id, .. } => notice(
            bot,
            time,
            "friend_recall",
            json!({"user_id": author_id, "message_id": message_id}),
        ),
        Event::GroupRecall { author_id, message_id, group, operator, .. } => notice(
            bot,
            time,
            "group_recall",
            json!({"group_id": group.id, "user_id": author_id, "operator_id": op(operator), "message_id": message_id}),
        ),
        Event::MemberJoin { member, invitor } => notice(
            bot,
            time,
            "group_increase",
            json!({"sub_type": if invitor.is_some() { "invite" } else { "approve" }, "group_id": member.group.id,
                   "operator_id": invitor.as_ref().map_or(0, |i| i.id), "user_id": member.id}),
        ),
        Event::BotJoinGroup { group, invitor } => notice(
            bot,
            time,
            "group_increase",
            json!({"sub_type": if invitor.is_some() { "invite" } else { "approve" }, "group_id": group.id,
                   "operator_id": invitor.as_ref().map_or(0, |i| i.id), "user_id": bot}),
        ),
        Event::MemberLeaveKick { member, operator } => notice(
            bot,
            time,
            "group_decrease",
            json!({"sub_type": "kick", "group_id": member.group.id, "operator_id": op(operator), "user_id": member.id}),
        ),
        Event::MemberLeaveQuit { member } => notice(
            bot,
            time,
            "group_decrease",
            json!({"sub_type": "leave", "group_id": member.group.id, "operator_id": member.id, "user_id": member.id}),
        ),
        Event::BotLeaveActive { group } => notice(
            bot,
            time,
            "group_decrease",
            json!({"sub_type": "leave", "group_id": group.id, "operator_id": bot, "user_id": bot}),
        ),
        Event::BotLeaveKick { group, operator } | Event::BotLeaveDisband { group, operator } => {
            notice(
                bot,
                time,
                "group_decrease",
                json!({"sub_type": "kick_me", "group_id": group.id, "operator_id": operator.as_ref().map_or(0, |m| m.id), "user_id": bot}),
            )
        }
        Event::MemberMute { member, duration_seconds, operator } => notice(
            bot,
            time,
            "group_ban",
            json!({"sub_type": "ban", "group_id": member.group.id, "operator_id": op(operator), "user_id": member.id, "duration": duration_seconds}),
        ),
        Event::MemberUnmute { member, operator } => notice(
            bot,
            time,
            "group_ban",
            json!({"sub_type": "lift_ban", "group_id": member.group.id, "operator_id": op(operator), "user_id": member.id, "duration": 0}),
        ),
        Event::BotMute { duration_seconds, operator } => notice(
            bot,
            time,
            "group_ban",
            json!({"sub_type": "ban", "group_id": operator.group.id, "operator_id": operator.id, "user_id": bot, "duration": duration_seconds}),
        ),
        Event::BotUnmute { operator } => notice(
            bot,
            time,
            "group_ban",
            json!({"sub_type": "lift_ban", "group_id": operator.group.id, "operator_id": operator.id, "user_id": bot, "duration": 0}),
        ),
        Event::GroupSettingChange {
            group,
            change: GroupChange::MuteAll { current, .. },
            operator,
        } => notice(
            bot,
            time,
            "group_ban",
            json!({"sub_type": if *current { "ban" } else { "lift_ban" }, "group_id": group.id, "operator_id": op(operator),
                   "user_id": 0, "duration": if *current { -1 } else { 0 }}),
        ),
        Event::MemberPermissionChange { member, origin, current } => {
            let sub = match (origin, current) {
                (_, Permission::Administrator) => "set",
                (Permission::Administrator, _) => "unset",
                _ => return None,
            };
            notice(
                bot,
                time,
                "group_admin",
                json!({"sub_type": sub, "group_id": member.group.id, "user_id": member.id}),
            )
        }
        Event::FriendAdd { friend, .. } => {
            notice(bot, time, "friend_add", json!({"user_id": friend.id}))
        }
        Event::Nudge { from_id, target, subject, .. } => {
            let mut f = json!({"sub_type": "poke", "user_id": from_id, "sender_id": from_id, "target_id": target});
            if let NudgeSubject::Group(g) = subject {
                f["group_id"] = json!(g.id);
            }
            notice(bot, time, "notify", f)
        }
        Event::MemberHonorChange { member, achieve: true, honor } => notice(
            bot,
            time,
            "notify",
            json!({"sub_type": "honor", "group_id": member.group.id, "user_id": member.id, "honor_type": honor_type(honor)}),
        ),
        Event::MemberSpecialTitleChange { member, current, .. } => notice(
            bot,
            time,
            "notify",
            json!({"sub_type": "title", "group_id": member.group.id, "user_id": member.id, "title": current}),
        ),
        Event::MemberCardChange { member, origin, current } => notice(
            bot,
            time,
            "group_card",
            json!({"group_id": member.group.id, "user_id": member.id, "card_new": current, "card_old": origin}),
        ),
        Event::Request(r) => {
            let mut b = base(bot, time, "request");
            let flag = r.event_id.to_string();
            let fields = match &r.kind {
                RequestKind::NewFriend => {
                    json!({"request_type": "friend", "user_id": r.from_id, "comment": r.message, "flag": flag})
                }
                RequestKind::MemberJoin { invitor_id, .. } => {
                    json!({"request_type": "group", "sub_type": "add", "group_id": r.group_id,
                    "user_id": r.from_id, "comment": r.message, "flag": flag, "invitor_id": invitor_id.unwrap_or(0)})
                }
                RequestKind::BotInvitedJoinGroup { .. } => {
                    json!({"request_type": "group", "sub_type": "invite", "group_id": r.group_id,
                    "user_id": r.from_id, "comment": "", "flag": flag, "invitor_id": 0})
                }
            };
            if let Value::Object(f) = fields {
                b.extend(f);
            }
            Value::Object(b)
        }
        Event::BotOnline | Event::BotRelogin => lifecycle(bot, time, "enable"),
        Event::BotOffline(
            BotOfflineReason::Active | BotOfflineReason::Force { .. } | BotOfflineReason::Dropped,
        ) => lifecycle(bot, time, "disable"),
        other => {
            log::debug!("OneBot has no shape for {other:?}; not posted");
            return None;
        }
    })
}

/// The event's OneBot JSON in `format`, serialized at most once per event and format.
pub fn encoded(event: &SharedEvent, format: MessageFormat) -> Option<&Bytes> {
    let wire = match format {
        MessageFormat::Array => WireFormat::OneBotArray,
        MessageFormat::String => WireFormat::OneBotString,
    };
    event.encoded(wire, |e| {
        encode(event.bot, event.time, e, format)
            .and_then(|v| serde_json::to_vec(&v).ok())
            .map(Bytes::from)
    })
}

/// A `meta_event`/`lifecycle` event (`enable`, `disable`, `connect`).
pub fn lifecycle(bot: UserId, time: i64, sub_type: &str) -> Value {
    let mut b = base(bot, time, "meta_event");
    b.insert("meta_event_type".into(), json!("lifecycle"));
    b.insert("sub_type".into(), json!(sub_type));
    Value::Object(b)
}

/// A `meta_event`/`heartbeat` event; `interval_ms` is the time to the next one.
pub fn heartbeat(bot: UserId, time: i64, online: bool, interval_ms: u64) -> Value {
    let mut b = base(bot, time, "meta_event");
    b.insert("meta_event_type".into(), json!("heartbeat"));
    b.insert("status".into(), json!({"online": online, "good": true}));
    b.insert("interval".into(), json!(interval_ms));
    Value::Object(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Friend, Group, MessageSource, RequestEvent, Segment};

    fn group() -> Group {
        Group { id: 30001, name: "G".into(), permission: Permission::Owner }
    }

    fn member() -> Member {
        Member {
            id: 20001,
            member_name: "Card".into(),
            nickname: "Alice".into(),
            card: "Card".into(),
            special_title: "元老".into(),
            permission: Permission::Administrator,
            join_timestamp: 1,
            last_speak_timestamp: 2,
            mute_time_remaining: 0,
            group: group(),
        }
    }

    #[test]
    fn group_message_in_both_formats_with_integer_ids() {
        let m = MessageEvent {
            kind: MessageKind::Group { sender: member() },
            source: MessageSource { id: 7, time: 1700000000 },
            message: vec![
                Segment::Text("hi [x]".into()),
                Segment::At { target: 10001, display: String::new() },
            ],
        };
        let e = Event::Message(m);
        assert_eq!(
            encode(10001, 0, &e, MessageFormat::Array).unwrap(),
            json!({"time":1700000000,"self_id":10001,"post_type":"message","message_type":"group","sub_type":"normal",
                   "group_id":30001,"anonymous":null,"message_id":7,"user_id":20001,
                   "message":[{"type":"text","data":{"text":"hi [x]"}},{"type":"at","data":{"qq":"10001"}}],
                   "raw_message":"hi &#91;x&#93;[CQ:at,qq=10001]","font":0,
                   "sender":{"user_id":20001,"nickname":"Alice","card":"Card","sex":"unknown","age":0,"area":"","level":"","role":"admin","title":"元老"}})
        );
        let s = encode(10001, 0, &e, MessageFormat::String).unwrap();
        assert_eq!(s["message"], "hi &#91;x&#93;[CQ:at,qq=10001]");
    }

    #[test]
    fn private_messages_and_notices() {
        let f = Friend { id: 20002, nickname: "Bob".into(), remark: String::new() };
        let m = Event::Message(MessageEvent {
            kind: MessageKind::Friend { sender: f },
            source: MessageSource { id: 3, time: 5 },
            message: vec![Segment::Text("yo".into())],
        });
        let v = encode(1, 0, &m, MessageFormat::String).unwrap();
        assert_eq!(
            (v["message_type"].clone(), v["sub_type"].clone(), v["sender"]["nickname"].clone()),
            (json!("private"), json!("friend"), json!("Bob"))
        );
        let recall = Event::GroupRecall {
            author_id: 20001,
            message_id: 7,
            time: 9,
            group: group(),
            operator: None,
        };
        assert_eq!(
            encode(1, 100, &recall, MessageFormat::Array).unwrap(),
            json!({"time":100,"self_id":1,"post_type":"notice","notice_type":"group_recall","group_id":30001,"user_id":20001,"operator_id":1,"message_id":7})
        );
        let ban = Event::MemberMute { member: member(), duration_seconds: 60, operator: None };
        assert_eq!(
            encode(1, 100, &ban, MessageFormat::Array).unwrap(),
            json!({"time":100,"self_id":1,"post_type":"notice","notice_type":"group_ban","sub_type":"ban","group_id":30001,"operator_id":1,"user_id":20001,"duration":60})
        );
    }

    #[test]
    fn requests_carry_a_flag_and_meta_events_have_their_shapes() {
        let r = Event::Request(RequestEvent {
            event_id: 42,
            from_id: 5,
            group_id: 30001,
            nick: "n".into(),
            message: "let me in".into(),
            kind: RequestKind::MemberJoin { group_name: "G".into(), invitor_id: None },
        });
        assert_eq!(
            encode(1, 100, &r, MessageFormat::Array).unwrap(),
            json!({"time":100,"self_id":1,"post_type":"request","request_type":"group","sub_type":"add","group_id":30001,"user_id":5,"comment":"let me in","flag":"42","invitor_id":0})
        );
        assert_eq!(
            lifecycle(1, 100, "connect"),
            json!({"time":100,"self_id":1,"post_type":"meta_event","meta_event_type":"lifecycle","sub_type":"connect"})
        );
        assert_eq!(
            heartbeat(1, 100, true, 5000),
            json!({"time":100,"self_id":1,"post_type":"meta_event","meta_event_type":"heartbeat","status":{"online":true,"good":true},"interval":5000})
        );
        assert!(encode(
            1,
            0,
            &Event::OtherClientOnline {
                client: crate::model::OtherClient { id: 1, platform: "x".into() }
            },
            MessageFormat::Array
        )
        .is_none());
    }
}
