//! Packets of a daemon into the model, either generation: the seed's (top-level `time`,
//! `reply.text`, `revokee`, private `channel` = the stranger's origin group) and the later
//! one (`data.time`, `reply.summary`, `eventID`, names, private `channel` = the peer with the
//! origin in `ref_channel`). Message ids are the daemon's base64 `msgID`s, numbered by the
//! caller.

use serde_json::Value;

use super::content;
use crate::model::{
    BotOfflineReason, Event, Friend, Group, GroupChange, Member, MessageEvent, MessageKind,
    MessageSource, Permission, Quote, RequestEvent, RequestKind, UserId,
};
use crate::protocol::lenient;

/// A packet in the model's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The event.
    pub event: Event,
    /// A request's `eventID`, to answer it by.
    pub request: Option<String>,
}

fn int(v: &Value, k: &str) -> UserId {
    v.get(k).and_then(lenient::int_from_value).unwrap_or(0)
}

fn text(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// A member of `group` known by number (and name, when the packet has one).
pub fn member(id: UserId, group: UserId, name: &str, group_name: &str) -> Member {
    let group = Group { id: group, name: group_name.to_owned(), permission: Permission::Member };
    Member::plain(id, name, group)
}

fn friend(id: UserId, nick: &str) -> Friend {
    Friend { id, nickname: nick.to_owned(), remark: String::new() }
}

/// Reads one packet of bot `bot`; `message` numbers a `msgID`. `Ok(None)` for a packet the
/// model has no event for.
pub fn read(
    packet: &Value,
    bot: UserId,
    mut message: impl FnMut(&str) -> i32,
) -> Result<Option<Read>, String> {
    let kind = packet.get("type").and_then(Value::as_str).ok_or("no type")?;
    let d = packet.get("data").ok_or("no data")?;
    let sub = d.get("type").and_then(Value::as_str).unwrap_or("");
    let time = d
        .get("time")
        .or_else(|| packet.get("time"))
        .and_then(lenient::int_from_value)
        .unwrap_or_else(crate::bot::unix_now);
    let plain = |event| Ok(Some(Read { event, request: None }));
    match (kind, sub) {
        ("msg", "group" | "private") => {
            let sender = int(d, "sender");
            let channel = int(d, "channel");
            let known = d.get("known").and_then(lenient::bool_from_value).unwrap_or(true);
            let nick = text(d, "sender_nick");
            let msg_kind = if sub == "group" {
                MessageKind::Group {
                    sender: member(sender, channel, &nick, &text(d, "channel_name")),
                }
            } else if known {
                MessageKind::Friend { sender: friend(sender, &nick) }
            } else {
                // The seed puts a stranger's origin group in `channel`; later daemons put the
                // peer there and the origin in `ref_channel`.
                let origin = match int(d, "ref_channel") {
                    0 if channel != sender => channel,
                    r => r,
                };
                // The origin's name: `ref_channel_name`, or the seed's `channel_name` when
                // `channel` is the origin.
                let origin_name = match text(d, "ref_channel_name") {
                    name if name.is_empty() && origin == channel => text(d, "channel_name"),
                    name => name,
                };
                if origin != 0 {
                    MessageKind::Temp { sender: member(sender, origin, &nick, &origin_name) }
                } else {
                    MessageKind::Stranger { sender: friend(sender, &nick) }
                }
            };
            let context = msg_kind.context_id().unwrap_or(sender);
            let mut segments = content::decode(d.get("msgContent").unwrap_or(&Value::Null))?;
            if let Some(reply) = d.get("reply").filter(|r| r.is_object()) {
                let quoted = reply.get("summary").or_else(|| reply.get("text"));
                let preview = quoted.and_then(Value::as_str).unwrap_or("").to_owned();
                let id = reply.get("id").and_then(Value::as_str).map(&mut message).unwrap_or(0);
                segments.insert(
                    0,
                    crate::model::Segment::Quote(Quote {
                        id,
                        sender_id: int(reply, "to"),
                        target_id: context,
                        group_id: if sub == "group" { channel } else { 0 },
                        origin: vec![crate::model::Segment::Text(preview)],
                    }),
                );
            }
            let msg_id = d.get("msgID").and_then(Value::as_str).ok_or("no msgID")?;
            let source = MessageSource { id: message(msg_id), time };
            plain(Event::Message(MessageEvent { kind: msg_kind, source, message: segments }))
        }
        ("revoke", "group" | "private") => {
            let msg_id = d.get("msgID").and_then(Value::as_str).ok_or("no msgID")?;
            let message_id = message(msg_id);
            let revoker = int(d, "revoker");
            let channel = int(d, "channel");
            // Later daemons leave out `revokee`: the revoker then stands for the author.
            let author = d.get("revokee").and_then(lenient::int_from_value).unwrap_or(revoker);
            if sub == "group" {
                let operator = (revoker != bot).then(|| member(revoker, channel, "", ""));
                let group =
                    Group { id: channel, name: String::new(), permission: Permission::Member };
                plain(Event::GroupRecall { author_id: author, message_id, time, group, operator })
            } else {
                plain(Event::FriendRecall {
                    author_id: channel,
                    message_id,
                    time,
                    operator: revoker,
                })
            }
        }
        ("user", "online") => plain(Event::BotOnline),
        ("user", "offline") => plain(Event::BotOffline(BotOfflineReason::Dropped)),
        ("user", "newFriendRequest") | ("user", "groupInvite") | ("group", "joinRequest") => {
            let request_kind = match sub {
                "newFriendRequest" => RequestKind::NewFriend,
                "groupInvite" => {
                    RequestKind::BotInvitedJoinGroup { group_name: text(d, "groupName") }
                }
                _ => RequestKind::MemberJoin {
                    group_name: String::new(),
                    invitor_id: Some(int(d, "inviter")).filter(|i| *i != 0),
                },
            };
            let (from_id, group_id) = match sub {
                "groupInvite" => (int(d, "inviter"), int(d, "group")),
                // The seed's `source` is a text; later daemons send the group number.
                "newFriendRequest" => (int(d, "who"), int(d, "source")),
                _ => (int(d, "who"), int(d, "group")),
            };
            let event = Event::Request(RequestEvent {
                event_id: 0,
                from_id,
                group_id,
                nick: text(d, "nick"),
                message: text(d, "comment"),
                kind: request_kind,
            });
            Ok(Some(Read {
                event,
                request: d.get("eventID").and_then(Value::as_str).map(str::to_owned),
            }))
        }
        ("user", "friendAdded") => plain(Event::FriendAdd {
            friend: friend(int(d, "who"), &text(d, "nick")),
            stranger: false,
        }),
        ("user", "friendRemoved") => {
            plain(Event::FriendDelete { friend: friend(int(d, "who"), &text(d, "nick")) })
        }
        ("user", "groupJoined") => {
            let group = Group {
                id: int(d, "which"),
                name: text(d, "name"),
                permission: Permission::Member,
            };
            plain(Event::BotJoinGroup { group, invitor: None })
        }
        ("user", "groupLeft") => {
            let group = Group {
                id: int(d, "which"),
                name: text(d, "name"),
                permission: Permission::Member,
            };
            match int(d, "operator") {
                0 => plain(Event::BotLeaveActive { group }),
                op if op == bot => plain(Event::BotLeaveActive { group }),
                op => {
                    let operator = Some(member(op, group.id, "", &group.name));
                    plain(Event::BotLeaveKick { group, operator })
                }
            }
        }
        ("group", "mute") => {
            let (who, group, op, duration) =
                (int(d, "who"), int(d, "group"), int(d, "operator"), int(d, "duration"));
            let operator = member(op, group, "", "");
            let by = (op != bot).then(|| operator.clone());
            let event = match (who, duration) {
                (0, _) => Event::GroupSettingChange {
                    group: operator.group.clone(),
                    change: GroupChange::MuteAll { origin: duration == 0, current: duration != 0 },
                    operator: by,
                },
                (w, 0) if w == bot => Event::BotUnmute { operator },
                (w, _) if w == bot => Event::BotMute { duration_seconds: duration, operator },
                (w, 0) => Event::MemberUnmute { member: member(w, group, "", ""), operator: by },
                (w, _) => Event::MemberMute {
                    member: member(w, group, "", ""),
                    duration_seconds: duration,
                    operator: by,
                },
            };
            plain(event)
        }
        ("group", "admin") => {
            let (who, group) = (int(d, "who"), int(d, "group"));
            let status = d.get("status").and_then(lenient::bool_from_value).unwrap_or(false);
            let (origin, current) = if status {
                (Permission::Member, Permission::Administrator)
            } else {
                (Permission::Administrator, Permission::Member)
            };
            if who == bot {
                let group = Group { id: group, name: String::new(), permission: current };
                plain(Event::BotGroupPermissionChange { group, origin, current })
            } else {
                plain(Event::MemberPermissionChange {
                    member: member(who, group, "", ""),
                    origin,
                    current,
                })
            }
        }
        ("group", "memberJoined") => {
            let m =
                member(int(d, "who"), int(d, "group"), &text(d, "nick"), &text(d, "group_name"));
            plain(Event::MemberJoin { member: m, invitor: None })
        }
        ("group", "memberLeft") => {
            let (who, op) = (int(d, "who"), int(d, "operator"));
            let m = member(who, int(d, "group"), &text(d, "nick"), &text(d, "group_name"));
            if op == 0 || op == who {
                plain(Event::MemberLeaveQuit { member: m })
            } else {
                let operator = (op != bot).then(|| member(op, m.group.id, "", &m.group.name));
                plain(Event::MemberLeaveKick { member: m, operator })
            }
        }
        _ => {
            log::debug!("oicq: packet {kind}/{sub} has no model counterpart");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::packet;
    use super::*;

    fn ids(id: &str) -> i32 {
        packet::msg_number(id).unwrap_or(99)
    }

    /// Every packet of the seed, as the seed writes it, read and written back: the seed's
    /// fields come back exactly (the later generation's fields are added).
    #[test]
    fn every_seed_packet_round_trips() {
        let bot = 10001;
        let seed = [
            json!({"type": "msg", "time": 5, "data": {"type": "group", "known": true, "channel": 30001, "sender": 20001,
                   "msgID": packet::msg_id(30001, 7), "msgContent": [{"type": "text", "text": "hi"}]}}),
            json!({"type": "msg", "time": 5, "data": {"type": "private", "known": true, "channel": 0, "sender": 20001,
                   "msgID": packet::msg_id(20001, 8), "msgContent": [{"type": "text", "text": "yo"}],
                   "reply": {"to": 10001, "time": 0, "text": "old", "id": packet::msg_id(20001, 3)}}}),
            json!({"type": "msg", "time": 5, "data": {"type": "private", "known": false, "channel": 30001, "sender": 20005,
                   "msgID": packet::msg_id(20005, 9), "msgContent": []}}),
            json!({"type": "revoke", "time": 5, "data": {"type": "group", "revoker": 20002, "revokee": 20001, "channel": 30001, "msgID": packet::msg_id(30001, 7)}}),
            json!({"type": "revoke", "time": 5, "data": {"type": "private", "revoker": 20001, "revokee": 20001, "channel": 20001, "msgID": packet::msg_id(20001, 8)}}),
            json!({"type": "user", "time": 5, "data": {"type": "online"}}),
            json!({"type": "user", "time": 5, "data": {"type": "offline"}}),
            json!({"type": "user", "time": 5, "data": {"type": "newFriendRequest", "who": 20009, "nick": "Z", "source": 0, "comment": "hello"}}),
            json!({"type": "user", "time": 5, "data": {"type": "groupInvite", "group": 30009, "groupName": "G", "inviter": 20009}}),
            json!({"type": "user", "time": 5, "data": {"type": "friendAdded", "who": 20009, "nick": "Z"}}),
            json!({"type": "user", "time": 5, "data": {"type": "friendRemoved", "who": 20009, "nick": "Z"}}),
            json!({"type": "user", "time": 5, "data": {"type": "groupJoined", "which": 30009}}),
            json!({"type": "user", "time": 5, "data": {"type": "groupLeft", "which": 30009, "operator": 20002}}),
            json!({"type": "group", "time": 5, "data": {"type": "joinRequest", "who": 20009, "group": 30001, "comment": "let me in", "inviter": 0}}),
            json!({"type": "group", "time": 5, "data": {"type": "mute", "who": 20001, "group": 30001, "operator": 20002, "duration": 60}}),
            json!({"type": "group", "time": 5, "data": {"type": "mute", "who": 0, "group": 30001, "operator": 20002, "duration": 0}}),
            json!({"type": "group", "time": 5, "data": {"type": "admin", "who": 20001, "group": 30001, "status": true}}),
            json!({"type": "group", "time": 5, "data": {"type": "memberJoined", "who": 20009, "group": 30001}}),
            json!({"type": "group", "time": 5, "data": {"type": "memberLeft", "who": 20009, "group": 30001, "operator": 20002}}),
        ];
        for p in seed {
            let read = read(&p, bot, ids).expect("read").expect("an event");
            let back = packet::packet(&read.event, bot, 5).expect("a packet");
            assert_eq!(back["type"], p["type"], "{p}");
            assert_eq!(back["time"], p["time"], "{p}");
            for (k, v) in p["data"].as_object().expect("data") {
                if k == "reply" {
                    for (rk, rv) in v.as_object().expect("reply") {
                        assert_eq!(&back["data"]["reply"][rk], rv, "reply.{rk} of {p}\n{back}");
                    }
                    continue;
                }
                assert_eq!(&back["data"][k], v, "{k} of {p}\n{back}");
            }
        }
    }

    #[test]
    fn the_later_generation_is_read_too() {
        let later = json!({"type": "msg", "data": {"type": "private", "time": 9, "known": false, "channel": 20005,
            "sender": 20005, "ref_channel": 30001, "sender_nick": "E", "msgID": packet::msg_id(20005, 1),
            "msgContent": [], "reply": {"to": 1, "time": 0, "summary": "s", "id": packet::msg_id(20005, 0)}}});
        let r = read(&later, 10001, ids).expect("read").expect("event");
        let Event::Message(m) = r.event else { panic!() };
        assert_eq!(m.source.time, 9);
        assert!(
            matches!(&m.kind, MessageKind::Temp { sender } if sender.group.id == 30001 && sender.nickname == "E")
        );
        assert!(
            matches!(&m.message[0], crate::model::Segment::Quote(q) if q.origin == vec![crate::model::Segment::Text("s".into())])
        );
        let req = json!({"type": "user", "data": {"type": "newFriendRequest", "who": 2, "nick": "n", "source": 30001, "comment": "c", "eventID": "EID"}});
        let r = read(&req, 10001, ids).expect("read").expect("event");
        assert_eq!(r.request.as_deref(), Some("EID"));
        let revoke = json!({"type": "revoke", "data": {"type": "group", "time": 1, "revoker": 20001, "channel": 30001, "known": true, "msgID": packet::msg_id(30001, 4)}});
        assert!(matches!(
            read(&revoke, 10001, ids).expect("read").expect("event").event,
            Event::GroupRecall { author_id: 20001, message_id: 4, .. }
        ));
        assert!(read(&json!({"type": "msg"}), 1, ids).is_err());
        assert_eq!(read(&json!({"type": "user", "data": {"type": "unknown"}}), 1, ids), Ok(None));
    }
}
