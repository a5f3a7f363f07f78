//! Decoding OneBot v11 event objects: for `POST /sim/{qq}/inject` (a OneBot event injected
//! into a simulated bot) and for `.handle_quick_operation`'s `context`. Contacts come as ids;
//! the simulated world supplies names and ranks.

use serde_json::Value;

use super::message;
use crate::model::{
    BotOfflineReason, Event, Friend, Group, GroupChange, InjectedOrigin, Member, MessageEvent,
    MessageKind, MessageSource, NudgeSubject, Permission, Quote, RequestEvent, RequestKind,
    Segment, SimulatedInput, UserId,
};
use crate::protocol::lenient;

fn int(v: &Value, key: &str) -> Result<i64, String> {
    v.get(key).and_then(lenient::int_from_value).ok_or_else(|| format!("missing integer `{key}`"))
}

fn int32(v: &Value, key: &str) -> Result<i32, String> {
    v.get(key)
        .and_then(lenient::int32_from_value)
        .ok_or_else(|| format!("missing 32-bit integer `{key}`"))
}

fn opt_int(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(lenient::int_from_value).unwrap_or(0)
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

fn group(id: UserId) -> Group {
    Group { id, name: String::new(), permission: Permission::Member }
}

fn member(group_id: UserId, id: UserId) -> Member {
    Member {
        id,
        member_name: String::new(),
        nickname: String::new(),
        card: String::new(),
        special_title: String::new(),
        permission: Permission::Member,
        join_timestamp: 0,
        last_speak_timestamp: 0,
        mute_time_remaining: 0,
        group: group(group_id),
    }
}

fn friend(id: UserId, nickname: String) -> Friend {
    Friend { id, nickname, remark: String::new() }
}

/// Decodes a OneBot event object into a model event.
pub fn decode_event(v: &Value) -> Result<Event, String> {
    let self_id = opt_int(v, "self_id");
    let post_type =
        v.get("post_type").and_then(Value::as_str).ok_or("missing string `post_type`")?;
    match post_type {
        "message" => {
            let user = int(v, "user_id")?;
            let sender = v.get("sender").cloned().unwrap_or(Value::Null);
            let kind = match (text(v, "message_type").as_str(), text(v, "sub_type").as_str()) {
                ("group", _) => MessageKind::Group { sender: member(int(v, "group_id")?, user) },
                ("private", "group") => {
                    let g = v
                        .get("temp_source")
                        .and_then(lenient::int_from_value)
                        .unwrap_or_else(|| opt_int(&sender, "group_id"));
                    MessageKind::Temp { sender: member(g, user) }
                }
                ("private", "other") => {
                    MessageKind::Stranger { sender: friend(user, text(&sender, "nickname")) }
                }
                ("private", _) => {
                    MessageKind::Friend { sender: friend(user, text(&sender, "nickname")) }
                }
                (other, _) => return Err(format!("unknown message_type {other:?}")),
            };
            let decoded = message::decode(v.get("message").unwrap_or(&Value::Null), false)?;
            let mut segments = decoded.segments;
            if let Some(id) = decoded.reply_to {
                let g = kind.group().map_or(0, |g| g.id);
                segments.insert(
                    0,
                    Segment::Quote(Quote {
                        id,
                        sender_id: 0,
                        target_id: kind.context_id().unwrap_or(0),
                        group_id: g,
                        origin: vec![],
                    }),
                );
            }
            let source =
                MessageSource { id: int32(v, "message_id").unwrap_or(0), time: opt_int(v, "time") };
            Ok(Event::Message(MessageEvent { kind, source, message: segments }))
        }
        "notice" => {
            let g = opt_int(v, "group_id");
            let user = opt_int(v, "user_id");
            let operator = opt_int(v, "operator_id");
            let op_member = (operator != 0 && operator != self_id).then(|| member(g, operator));
            Ok(match (text(v, "notice_type").as_str(), text(v, "sub_type").as_str()) {
                ("group_recall", _) => Event::GroupRecall {
                    author_id: user,
                    message_id: int32(v, "message_id")?,
                    time: opt_int(v, "time"),
                    group: group(g),
                    operator: op_member,
                },
                ("friend_recall", _) => Event::FriendRecall {
                    author_id: user,
                    message_id: int32(v, "message_id")?,
                    time: opt_int(v, "time"),
                    operator: user,
                },
                ("group_increase", _) if user == self_id => {
                    Event::BotJoinGroup { group: group(g), invitor: op_member }
                }
                ("group_increase", _) => {
                    Event::MemberJoin { member: member(g, user), invitor: op_member }
                }
                ("group_decrease", "kick_me") => {
                    Event::BotLeaveKick { group: group(g), operator: op_member }
                }
                ("group_decrease", "leave") if user == self_id => {
                    Event::BotLeaveActive { group: group(g) }
                }
                ("group_decrease", "leave") => Event::MemberLeaveQuit { member: member(g, user) },
                ("group_decrease", _) => {
                    Event::MemberLeaveKick { member: member(g, user), operator: op_member }
                }
                ("group_ban", sub) if user == 0 => Event::GroupSettingChange {
                    group: group(g),
                    change: GroupChange::MuteAll { origin: sub != "ban", current: sub == "ban" },
                    operator: op_member,
                },
                ("group_ban", "ban") if user == self_id => Event::BotMute {
                    duration_seconds: opt_int(v, "duration"),
                    operator: member(g, operator),
                },
                ("group_ban", _) if user == self_id => {
                    Event::BotUnmute { operator: member(g, operator) }
                }
                ("group_ban", "ban") => Event::MemberMute {
                    member: member(g, user),
                    duration_seconds: opt_int(v, "duration"),
                    operator: op_member,
                },
                ("group_ban", _) => {
                    Event::MemberUnmute { member: member(g, user), operator: op_member }
                }
                ("group_admin", sub) => {
                    let (origin, current) = if sub == "set" {
                        (Permission::Member, Permission::Administrator)
                    } else {
                        (Permission::Administrator, Permission::Member)
                    };
                    Event::MemberPermissionChange { member: member(g, user), origin, current }
                }
                ("friend_add", _) => {
                    Event::FriendAdd { friend: friend(user, String::new()), stranger: false }
                }
                ("notify", "poke") => Event::Nudge {
                    from_id: user,
                    target: opt_int(v, "target_id"),
                    subject: if g != 0 {
                        NudgeSubject::Group(group(g))
                    } else {
                        NudgeSubject::Friend(friend(user, String::new()))
                    },
                    action: "戳了戳".to_owned(),
                    suffix: String::new(),
                },
                (kind, sub) => return Err(format!("notice {kind:?}/{sub:?} cannot be injected")),
            })
        }
        "request" => {
            let event_id = text(v, "flag").parse().unwrap_or(0);
            let kind = match (text(v, "request_type").as_str(), text(v, "sub_type").as_str()) {
                ("friend", _) => RequestKind::NewFriend,
                ("group", "invite") => {
                    RequestKind::BotInvitedJoinGroup { group_name: String::new() }
                }
                ("group", _) => RequestKind::MemberJoin {
                    group_name: String::new(),
                    invitor_id: v
                        .get("invitor_id")
                        .and_then(lenient::int_from_value)
                        .filter(|i| *i != 0),
                },
                (other, _) => return Err(format!("unknown request_type {other:?}")),
            };
            Ok(Event::Request(RequestEvent {
                event_id,
                from_id: int(v, "user_id")?,
                group_id: opt_int(v, "group_id"),
                nick: String::new(),
                message: text(v, "comment"),
                kind,
            }))
        }
        "meta_event" => match text(v, "sub_type").as_str() {
            "enable" | "connect" => Ok(Event::BotOnline),
            "disable" => Ok(Event::BotOffline(BotOfflineReason::Active)),
            other => Err(format!("meta event {other:?} cannot be injected")),
        },
        other => Err(format!("unknown post_type {other:?}")),
    }
}

/// Decodes a OneBot event object posted to a simulated bot.
pub fn decode_input(v: &Value) -> Result<SimulatedInput, String> {
    Ok(match decode_event(v)? {
        Event::Message(m) => {
            let origin = match &m.kind {
                MessageKind::Group { sender } => {
                    InjectedOrigin::Group { group: sender.group.id, member: sender.id }
                }
                MessageKind::Temp { sender } => {
                    InjectedOrigin::Temp { group: sender.group.id, member: sender.id }
                }
                MessageKind::Stranger { sender } => {
                    InjectedOrigin::Stranger { id: sender.id, nickname: sender.nickname.clone() }
                }
                _ => InjectedOrigin::Friend(m.kind.context_id().unwrap_or(0)),
            };
            let source = (m.source.time > 0).then_some(m.source);
            SimulatedInput::Message { origin, message: m.message, source }
        }
        Event::GroupRecall { group, author_id, message_id, operator, .. } => {
            SimulatedInput::GroupRecall {
                group: group.id,
                author_id,
                message_id,
                operator: operator.map(|o| o.id),
            }
        }
        Event::FriendRecall { author_id, message_id, operator, .. } => {
            SimulatedInput::FriendRecall { author_id, message_id, operator }
        }
        other => SimulatedInput::Event(Box::new(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_group_message_with_a_reply_decodes() {
        let v = json!({"post_type":"message","message_type":"group","sub_type":"normal","group_id":30001,"user_id":"20001",
                       "message_id":5,"time":100,"self_id":10001,"message":"[CQ:reply,id=3]hi"});
        let Event::Message(m) = decode_event(&v).unwrap() else { panic!() };
        assert!(
            matches!(&m.kind, MessageKind::Group { sender } if sender.id == 20001 && sender.group.id == 30001)
        );
        assert_eq!((m.source.id, m.source.time), (5, 100));
        assert!(matches!(&m.message[0], Segment::Quote(q) if q.id == 3));
        assert_eq!(m.message[1], Segment::Text("hi".into()));
    }

    #[test]
    fn notices_requests_and_junk() {
        let ban = json!({"post_type":"notice","notice_type":"group_ban","sub_type":"ban","group_id":1,"user_id":2,"operator_id":3,"duration":60,"self_id":9});
        assert!(matches!(
            decode_event(&ban).unwrap(),
            Event::MemberMute { duration_seconds: 60, .. }
        ));
        let whole = json!({"post_type":"notice","notice_type":"group_ban","sub_type":"lift_ban","group_id":1,"user_id":0,"operator_id":3,"self_id":9});
        assert!(matches!(
            decode_event(&whole).unwrap(),
            Event::GroupSettingChange { change: GroupChange::MuteAll { current: false, .. }, .. }
        ));
        let req = json!({"post_type":"request","request_type":"group","sub_type":"add","group_id":1,"user_id":2,"comment":"c","flag":"77"});
        assert!(matches!(
            decode_event(&req).unwrap(),
            Event::Request(RequestEvent { event_id: 77, .. })
        ));
        assert!(decode_event(&json!({"post_type":"nope"})).is_err());
        assert!(decode_event(&json!({"message_type":"group"})).is_err());
    }
}
