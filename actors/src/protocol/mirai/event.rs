//! Events in mirai's shapes (spec §6.1 message packets, §7 events), as pushed to clients.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::chain;
use super::contact::{friend, group, member, opt_member, other_client, permission_name};
use crate::model::{
    BotOfflineReason, Event, GroupChange, MessageEvent, MessageKind, MessageSource, NudgeSubject,
    RequestKind, SharedEvent, WireFormat,
};
use crate::protocol::lenient;

fn tagged(kind: &str, fields: Value) -> Value {
    let mut obj = Map::new();
    obj.insert("type".to_owned(), Value::String(kind.to_owned()));
    if let Value::Object(rest) = fields {
        obj.extend(rest);
    }
    Value::Object(obj)
}

/// A message packet: `{"type", "messageChain", "sender"|"subject"}`, the chain starting with
/// its `Source`.
pub fn message_packet(m: &MessageEvent) -> Option<Value> {
    let chain = chain::encode(Some(&m.source), &m.message);
    let (kind, key, contact) = match &m.kind {
        MessageKind::Friend { sender } => ("FriendMessage", "sender", friend(sender)),
        // A guild channel is shown as a group (its number from the id map).
        MessageKind::Group { sender } | MessageKind::Guild { sender, .. } => {
            ("GroupMessage", "sender", member(sender))
        }
        MessageKind::Temp { sender } => ("TempMessage", "sender", member(sender)),
        MessageKind::Stranger { sender } => ("StrangerMessage", "sender", friend(sender)),
        MessageKind::OtherClient { sender } => {
            ("OtherClientMessage", "sender", other_client(sender))
        }
        MessageKind::FriendSync { subject } => ("FriendSyncMessage", "subject", friend(subject)),
        MessageKind::GroupSync { subject } => ("GroupSyncMessage", "subject", group(subject)),
        MessageKind::TempSync { subject } => ("TempSyncMessage", "subject", member(subject)),
        MessageKind::StrangerSync { subject } => {
            ("StrangerSyncMessage", "subject", friend(subject))
        }
    };
    let mut obj = Map::new();
    obj.insert("type".to_owned(), Value::String(kind.to_owned()));
    obj.insert("messageChain".to_owned(), chain);
    obj.insert(key.to_owned(), contact);
    Some(Value::Object(obj))
}

fn nudge_subject(s: &NudgeSubject) -> Value {
    let (kind, fields) = match s {
        NudgeSubject::Friend(f) => ("Friend", friend(f)),
        NudgeSubject::Group(g) => ("Group", group(g)),
        NudgeSubject::Stranger(f) => ("Stranger", friend(f)),
        NudgeSubject::OtherClient(c) => ("OtherClient", other_client(c)),
    };
    let mut obj = Map::new();
    obj.insert("kind".to_owned(), Value::String(kind.to_owned()));
    if let Value::Object(rest) = fields {
        obj.extend(rest);
    }
    Value::Object(obj)
}

/// Encodes an event as mirai pushes it; `None` when mirai has no such event (it is then not
/// sent to mirai clients).
pub fn encode(event: &Event) -> Option<Value> {
    let v = match event {
        Event::Message(m) => return message_packet(m),
        Event::FriendRecall { author_id, message_id, time, operator } => tagged(
            "FriendRecallEvent",
            json!({"authorId": author_id, "messageId": message_id, "time": time, "operator": operator}),
        ),
        Event::GroupRecall { author_id, message_id, time, group: g, operator } => tagged(
            "GroupRecallEvent",
            json!({"authorId": author_id, "messageId": message_id, "time": time,
                   "group": group(g), "operator": opt_member(operator.as_ref())}),
        ),
        // The bot's qq is filled in by `encode_for_bot`; these carry no other data.
        Event::BotOnline => tagged("BotOnlineEvent", json!({})),
        Event::BotOffline(BotOfflineReason::Active) => tagged("BotOfflineEventActive", json!({})),
        Event::BotOffline(BotOfflineReason::Force { title, message }) => {
            tagged("BotOfflineEventForce", json!({"title": title, "message": message}))
        }
        Event::BotOffline(BotOfflineReason::Dropped) => tagged("BotOfflineEventDropped", json!({})),
        Event::BotRelogin => tagged("BotReloginEvent", json!({})),
        Event::FriendInputStatusChanged { friend: f, inputting } => tagged(
            "FriendInputStatusChangedEvent",
            json!({"friend": friend(f), "inputting": inputting}),
        ),
        Event::FriendNickChanged { friend: f, from, to } => {
            tagged("FriendNickChangedEvent", json!({"friend": friend(f), "from": from, "to": to}))
        }
        Event::FriendAdd { friend: f, stranger } => {
            tagged("FriendAddEvent", json!({"friend": friend(f), "stranger": stranger}))
        }
        Event::FriendDelete { friend: f } => {
            tagged("FriendDeleteEvent", json!({"friend": friend(f)}))
        }
        Event::BotGroupPermissionChange { group: g, origin, current } => tagged(
            "BotGroupPermissionChangeEvent",
            json!({"origin": permission_name(*origin), "current": permission_name(*current),
                   "group": group(g)}),
        ),
        Event::BotMute { duration_seconds, operator } => tagged(
            "BotMuteEvent",
            json!({"durationSeconds": duration_seconds, "operator": member(operator)}),
        ),
        Event::BotUnmute { operator } => {
            tagged("BotUnmuteEvent", json!({"operator": member(operator)}))
        }
        Event::BotJoinGroup { group: g, invitor } => tagged(
            "BotJoinGroupEvent",
            json!({"group": group(g), "invitor": opt_member(invitor.as_ref())}),
        ),
        Event::BotLeaveActive { group: g } => {
            tagged("BotLeaveEventActive", json!({"group": group(g)}))
        }
        Event::BotLeaveKick { group: g, operator } => tagged(
            "BotLeaveEventKick",
            json!({"group": group(g), "operator": opt_member(operator.as_ref())}),
        ),
        Event::BotLeaveDisband { group: g, operator } => tagged(
            "BotLeaveEventDisband",
            json!({"group": group(g), "operator": opt_member(operator.as_ref())}),
        ),
        Event::Nudge { from_id, target, subject, action, suffix } => tagged(
            "NudgeEvent",
            json!({"fromId": from_id, "subject": nudge_subject(subject), "action": action,
                   "suffix": suffix, "target": target}),
        ),
        Event::GroupSettingChange { group: g, change, operator } => {
            let op = opt_member(operator.as_ref());
            match change {
                GroupChange::Name { origin, current } => tagged(
                    "GroupNameChangeEvent",
                    json!({"origin": origin, "current": current, "group": group(g), "operator": op}),
                ),
                GroupChange::MuteAll { origin, current } => tagged(
                    "GroupMuteAllEvent",
                    json!({"origin": origin, "current": current, "group": group(g), "operator": op}),
                ),
                GroupChange::AllowAnonymousChat { origin, current } => tagged(
                    "GroupAllowAnonymousChatEvent",
                    json!({"origin": origin, "current": current, "group": group(g), "operator": op}),
                ),
                GroupChange::AllowConfessTalk { origin, current, is_by_bot } => tagged(
                    "GroupAllowConfessTalkEvent",
                    json!({"origin": origin, "current": current, "group": group(g),
                           "isByBot": is_by_bot}),
                ),
                GroupChange::AllowMemberInvite { origin, current } => tagged(
                    "GroupAllowMemberInviteEvent",
                    json!({"origin": origin, "current": current, "group": group(g), "operator": op}),
                ),
            }
        }
        Event::MemberJoin { member: m, invitor } => tagged(
            "MemberJoinEvent",
            json!({"member": member(m), "invitor": opt_member(invitor.as_ref())}),
        ),
        Event::MemberLeaveKick { member: m, operator } => tagged(
            "MemberLeaveEventKick",
            json!({"member": member(m), "operator": opt_member(operator.as_ref())}),
        ),
        Event::MemberLeaveQuit { member: m } => {
            tagged("MemberLeaveEventQuit", json!({"member": member(m)}))
        }
        Event::MemberCardChange { member: m, origin, current } => tagged(
            "MemberCardChangeEvent",
            json!({"origin": origin, "current": current, "member": member(m)}),
        ),
        Event::MemberSpecialTitleChange { member: m, origin, current } => tagged(
            "MemberSpecialTitleChangeEvent",
            json!({"origin": origin, "current": current, "member": member(m)}),
        ),
        Event::MemberPermissionChange { member: m, origin, current } => tagged(
            "MemberPermissionChangeEvent",
            json!({"origin": permission_name(*origin), "current": permission_name(*current),
                   "member": member(m)}),
        ),
        Event::MemberMute { member: m, duration_seconds, operator } => tagged(
            "MemberMuteEvent",
            json!({"durationSeconds": duration_seconds, "member": member(m),
                   "operator": opt_member(operator.as_ref())}),
        ),
        Event::MemberUnmute { member: m, operator } => tagged(
            "MemberUnmuteEvent",
            json!({"member": member(m), "operator": opt_member(operator.as_ref())}),
        ),
        Event::MemberHonorChange { member: m, achieve, honor } => tagged(
            "MemberHonorChangeEvent",
            json!({"member": member(m), "action": if *achieve { "achieve" } else { "lose" },
                   "honor": honor}),
        ),
        Event::Request(r) => match &r.kind {
            RequestKind::NewFriend => tagged(
                "NewFriendRequestEvent",
                json!({"eventId": r.event_id, "message": r.message, "fromId": r.from_id,
                       "groupId": r.group_id, "nick": r.nick}),
            ),
            RequestKind::MemberJoin { group_name, invitor_id } => tagged(
                "MemberJoinRequestEvent",
                json!({"eventId": r.event_id, "message": r.message, "fromId": r.from_id,
                       "groupId": r.group_id, "groupName": group_name, "nick": r.nick,
                       "invitorId": invitor_id}),
            ),
            RequestKind::BotInvitedJoinGroup { group_name } => tagged(
                "BotInvitedJoinGroupRequestEvent",
                json!({"eventId": r.event_id, "message": r.message, "fromId": r.from_id,
                       "groupId": r.group_id, "groupName": group_name, "nick": r.nick}),
            ),
        },
        Event::OtherClientOnline { client } => {
            tagged("OtherClientOnlineEvent", json!({"client": other_client(client)}))
        }
        Event::OtherClientOffline { client } => {
            tagged("OtherClientOfflineEvent", json!({"client": other_client(client)}))
        }
        Event::CommandExecuted { name, friend: f, member: m, args } => tagged(
            "CommandExecutedEvent",
            json!({"name": name, "friend": f.as_ref().map(friend), "member": opt_member(m.as_ref()),
                   "args": chain::encode(None, args)}),
        ),
        Event::Guild(g) => {
            log::debug!("mirai cannot express guild event {}; not sent to mirai clients", g.kind);
            return None;
        }
        Event::Unmapped { kind } => {
            log::debug!("mirai has no event for the platform's {kind}; not sent to mirai clients");
            return None;
        }
    };
    Some(v)
}

/// The push frame `{"syncId":<reserved>,"data":<event>}` of a shared event. The event is
/// serialized once for every mirai client; each frame only wraps those bytes. `None` when
/// mirai cannot express the event.
pub fn push_frame(event: &SharedEvent, reserved_sync_id: &str) -> Option<Bytes> {
    if reserved_sync_id == DEFAULT_RESERVED_SYNC_ID {
        return event
            .encoded(WireFormat::MiraiDefaultPush, |_| {
                encoded(event)
                    .map(|json| super::envelope::push_frame(DEFAULT_RESERVED_SYNC_ID, json))
            })
            .cloned();
    }
    let json = encoded(event)?;
    Some(super::envelope::push_frame(reserved_sync_id, json))
}

/// mirai-api-http's default `reservedSyncId`.
pub const DEFAULT_RESERVED_SYNC_ID: &str = "-1";

/// The event's mirai JSON, serialized at most once per event.
pub fn encoded(event: &SharedEvent) -> Option<&Bytes> {
    let bot = event.bot;
    event.encoded(WireFormat::Mirai, |e| {
        encode_for_bot(bot, e).and_then(|v| serde_json::to_vec(&v).ok()).map(Bytes::from)
    })
}

/// Encodes an event of bot `bot`: the bot online/offline events carry the bot's `qq`.
pub fn encode_for_bot(bot: i64, event: &Event) -> Option<Value> {
    let mut v = encode(event)?;
    if matches!(event, Event::BotOnline | Event::BotOffline(_) | Event::BotRelogin) {
        if let Value::Object(obj) = &mut v {
            let mut with_qq = Map::new();
            let kind = obj.remove("type").unwrap_or(Value::Null);
            with_qq.insert("type".to_owned(), kind);
            with_qq.insert("qq".to_owned(), json!(bot));
            with_qq.extend(std::mem::take(obj));
            *obj = with_qq;
        }
    }
    Some(v)
}

/// The `Source` a message carries (used by tests and by adapters that need the id).
pub fn source_of(packet: &Value) -> Option<MessageSource> {
    let first = packet.get("messageChain")?.as_array()?.first()?;
    if first.get("type")?.as_str()? != "Source" {
        return None;
    }
    Some(MessageSource {
        id: lenient::int32_from_value(first.get("id")?)?,
        time: lenient::int_from_value(first.get("time")?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Friend, Group, Member, Permission, Segment};

    fn group_sample() -> Group {
        Group { id: 30001, name: "G".into(), permission: Permission::Member }
    }

    fn member_sample() -> Member {
        Member {
            id: 20001,
            member_name: "Alice".into(),
            nickname: "Alice".into(),
            card: String::new(),
            special_title: String::new(),
            permission: Permission::Member,
            join_timestamp: 1,
            last_speak_timestamp: 2,
            mute_time_remaining: 0,
            group: group_sample(),
        }
    }

    #[test]
    fn group_message_packet_is_exact() {
        let m = MessageEvent {
            kind: MessageKind::Group { sender: member_sample() },
            source: MessageSource { id: 3, time: 100 },
            message: vec![Segment::Text("hi".into())],
        };
        assert_eq!(
            serde_json::to_string(&message_packet(&m).unwrap()).unwrap(),
            r#"{"type":"GroupMessage","messageChain":[{"type":"Source","id":3,"time":100},{"type":"Plain","text":"hi"}],"sender":{"id":20001,"memberName":"Alice","specialTitle":"","permission":"MEMBER","joinTimestamp":1,"lastSpeakTimestamp":2,"muteTimeRemaining":0,"group":{"id":30001,"name":"G","permission":"MEMBER"},"active":null}}"#
        );
    }

    #[test]
    fn friend_and_temp_and_sync_packets() {
        let f = Friend { id: 1, nickname: "n".into(), remark: "r".into() };
        let m = MessageEvent {
            kind: MessageKind::Friend { sender: f.clone() },
            source: MessageSource { id: 1, time: 2 },
            message: vec![],
        };
        assert_eq!(
            message_packet(&m).unwrap(),
            json!({"type":"FriendMessage","messageChain":[{"type":"Source","id":1,"time":2}],
                   "sender":{"id":1,"nickname":"n","remark":"r"}})
        );
        let m = MessageEvent { kind: MessageKind::Temp { sender: member_sample() }, ..m };
        assert_eq!(message_packet(&m).unwrap()["type"], "TempMessage");
        let m = MessageEvent { kind: MessageKind::GroupSync { subject: group_sample() }, ..m };
        let p = message_packet(&m).unwrap();
        assert_eq!(p["type"], "GroupSyncMessage");
        assert_eq!(p["subject"], json!({"id":30001,"name":"G","permission":"MEMBER"}));
    }

    #[test]
    fn recall_and_bot_events_are_exact() {
        let e = Event::FriendRecall { author_id: 1, message_id: 2, time: 3, operator: 1 };
        assert_eq!(
            serde_json::to_string(&encode(&e).unwrap()).unwrap(),
            r#"{"type":"FriendRecallEvent","authorId":1,"messageId":2,"time":3,"operator":1}"#
        );
        let e = Event::GroupRecall {
            author_id: 10001,
            message_id: 2,
            time: 3,
            group: group_sample(),
            operator: None,
        };
        assert_eq!(
            serde_json::to_string(&encode(&e).unwrap()).unwrap(),
            r#"{"type":"GroupRecallEvent","authorId":10001,"messageId":2,"time":3,"group":{"id":30001,"name":"G","permission":"MEMBER"},"operator":null}"#
        );
        assert_eq!(
            serde_json::to_string(&encode_for_bot(10001, &Event::BotOnline).unwrap()).unwrap(),
            r#"{"type":"BotOnlineEvent","qq":10001}"#
        );
    }

    #[test]
    fn source_of_reads_the_first_element() {
        let p = json!({"messageChain":[{"type":"Source","id":5,"time":6}]});
        assert_eq!(source_of(&p), Some(MessageSource { id: 5, time: 6 }));
    }
}
