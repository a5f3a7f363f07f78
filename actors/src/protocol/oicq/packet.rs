//! Model events as the daemon pushes them: the seed's shape (top-level `time`, `reply.text`,
//! `revokee`, operators as QQ numbers) plus the later fields (`data.time`, `reply.summary`,
//! `eventID`, names, `msgString`). `None` for events the daemon has no packet for.

use serde_json::{json, Value};

use super::content;
use super::ids;
use crate::model::{
    Event, GroupChange, MessageEvent, MessageKind, Permission, RequestKind, Segment, UserId,
};

/// The packet of a shared event, serialized once for every oicq_webd client; `None` when the
/// daemon has no packet for it.
pub fn encoded(event: &crate::model::SharedEvent) -> Option<&bytes::Bytes> {
    event.encoded(crate::model::WireFormat::Oicq, |e| {
        packet(e, event.bot, event.time).map(|v| bytes::Bytes::from(v.to_string()))
    })
}

/// The `msgID` botgate gives message `id` of `context` (the id travels as oicq's `seq`, the
/// context as its `rand`, so a client's `msgID` leads back to both).
pub fn msg_id(context: UserId, id: i32) -> String {
    ids::msg_id(0, id as u32, context as u32)
}

/// The message number inside a `msgID` botgate gave.
pub fn msg_number(msg_id: &str) -> Option<i32> {
    ids::parse_msg_id(msg_id).map(|(_, seq, _)| seq as i32)
}

fn wrap(kind: &str, time: i64, mut data: Value) -> Value {
    data["time"] = json!(time);
    json!({"type": kind, "time": time, "data": data})
}

/// The packet of an event of bot `bot` at `time`.
pub fn packet(event: &Event, bot: UserId, time: i64) -> Option<Value> {
    let v = match event {
        Event::Message(m) => return message(m, bot, time, false),
        Event::GroupRecall { author_id, message_id, group, operator, .. } => wrap(
            "revoke",
            time,
            json!({"type": "group", "revoker": operator.as_ref().map_or(bot, |o| o.id),
                   "revokee": author_id, "channel": group.id, "known": true,
                   "msgID": msg_id(group.id, *message_id)}),
        ),
        Event::FriendRecall { author_id, message_id, operator, .. } => wrap(
            "revoke",
            time,
            json!({"type": "private", "revoker": operator, "revokee": author_id,
                   "channel": author_id, "known": true, "msgID": msg_id(*author_id, *message_id)}),
        ),
        Event::BotOnline | Event::BotRelogin => wrap("user", time, json!({"type": "online"})),
        Event::BotOffline(_) => wrap("user", time, json!({"type": "offline"})),
        Event::Request(r) => {
            let event_id = ids::event_id(r.from_id as u64, r.event_id as u64);
            match &r.kind {
                RequestKind::NewFriend => wrap(
                    "user",
                    time,
                    json!({"type": "newFriendRequest", "who": r.from_id, "nick": r.nick,
                           "source": r.group_id, "comment": r.message, "eventID": event_id}),
                ),
                RequestKind::BotInvitedJoinGroup { group_name } => wrap(
                    "user",
                    time,
                    json!({"type": "groupInvite", "group": r.group_id, "groupName": group_name,
                           "inviter": r.from_id, "eventID": event_id}),
                ),
                RequestKind::MemberJoin { invitor_id, .. } => wrap(
                    "group",
                    time,
                    json!({"type": "joinRequest", "who": r.from_id, "group": r.group_id,
                           "comment": r.message, "inviter": invitor_id.unwrap_or(0),
                           "nick": r.nick, "eventID": event_id}),
                ),
            }
        }
        Event::FriendAdd { friend, .. } => wrap(
            "user",
            time,
            json!({"type": "friendAdded", "who": friend.id, "nick": friend.nickname}),
        ),
        Event::FriendDelete { friend } => wrap(
            "user",
            time,
            json!({"type": "friendRemoved", "who": friend.id, "nick": friend.nickname}),
        ),
        Event::BotJoinGroup { group, .. } => wrap(
            "user",
            time,
            json!({"type": "groupJoined", "which": group.id, "name": group.name}),
        ),
        Event::BotLeaveActive { group } => wrap(
            "user",
            time,
            json!({"type": "groupLeft", "which": group.id, "operator": bot, "name": group.name}),
        ),
        Event::BotLeaveKick { group, operator } | Event::BotLeaveDisband { group, operator } => {
            wrap(
                "user",
                time,
                json!({"type": "groupLeft", "which": group.id,
                       "operator": operator.as_ref().map_or(0, |o| o.id), "name": group.name}),
            )
        }
        Event::MemberMute { member, duration_seconds, operator } => mute(
            member.group.id,
            member.id,
            operator.as_ref().map_or(bot, |o| o.id),
            *duration_seconds,
            time,
        ),
        Event::MemberUnmute { member, operator } => {
            mute(member.group.id, member.id, operator.as_ref().map_or(bot, |o| o.id), 0, time)
        }
        Event::BotMute { duration_seconds, operator } => {
            mute(operator.group.id, bot, operator.id, *duration_seconds, time)
        }
        Event::BotUnmute { operator } => mute(operator.group.id, bot, operator.id, 0, time),
        Event::GroupSettingChange {
            group,
            change: GroupChange::MuteAll { current, .. },
            operator,
        } => {
            // oicq reports a whole-group mute with the longest duration.
            let duration = if *current { i64::from(u32::MAX) } else { 0 };
            mute(group.id, 0, operator.as_ref().map_or(bot, |o| o.id), duration, time)
        }
        Event::MemberPermissionChange { member, current, .. } => {
            admin(member.group.id, member.id, *current == Permission::Administrator, time)
        }
        Event::BotGroupPermissionChange { group, current, .. } => {
            admin(group.id, bot, *current == Permission::Administrator, time)
        }
        Event::MemberJoin { member, .. } => wrap(
            "group",
            time,
            json!({"type": "memberJoined", "who": member.id, "group": member.group.id,
                   "nick": member.member_name, "group_name": member.group.name}),
        ),
        Event::MemberLeaveQuit { member } => wrap(
            "group",
            time,
            json!({"type": "memberLeft", "who": member.id, "group": member.group.id,
                   "operator": member.id, "nick": member.member_name,
                   "group_name": member.group.name}),
        ),
        Event::MemberLeaveKick { member, operator } => wrap(
            "group",
            time,
            json!({"type": "memberLeft", "who": member.id, "group": member.group.id,
                   "operator": operator.as_ref().map_or(bot, |o| o.id),
                   "nick": member.member_name, "group_name": member.group.name}),
        ),
        _ => return None,
    };
    Some(v)
}

fn mute(group: UserId, who: UserId, operator: UserId, duration: i64, time: i64) -> Value {
    wrap(
        "group",
        time,
        json!({"type": "mute", "who": who, "group": group, "operator": operator,
               "duration": duration}),
    )
}

fn admin(group: UserId, who: UserId, status: bool, time: i64) -> Value {
    wrap("group", time, json!({"type": "admin", "who": who, "group": group, "status": status}))
}

/// A message's packet; `own` includes the bot's own messages (the daemon does not push them,
/// but `mesg/queryMsg` finds them).
pub fn message(m: &MessageEvent, bot: UserId, time: i64, own: bool) -> Option<Value> {
    let context = m.kind.context_id()?;
    let (kind, known, channel, sender, nick, channel_name, ref_channel) = match &m.kind {
        MessageKind::Group { sender } => (
            "group",
            true,
            sender.group.id,
            sender.id,
            sender.member_name.clone(),
            sender.group.name.clone(),
            0,
        ),
        MessageKind::Friend { sender } => {
            ("private", true, 0, sender.id, sender.nickname.clone(), String::new(), 0)
        }
        MessageKind::Stranger { sender } => {
            ("private", false, 0, sender.id, sender.nickname.clone(), String::new(), 0)
        }
        MessageKind::Temp { sender } => (
            "private",
            false,
            sender.group.id,
            sender.id,
            sender.member_name.clone(),
            sender.group.name.clone(),
            sender.group.id,
        ),
        MessageKind::GroupSync { subject } if own => {
            ("group", true, subject.id, bot, String::new(), subject.name.clone(), 0)
        }
        MessageKind::FriendSync { subject } | MessageKind::StrangerSync { subject } if own => {
            ("private", true, subject.id, bot, String::new(), String::new(), 0)
        }
        _ => return None,
    };
    let mut data = json!({"type": kind, "known": known, "channel": channel, "sender": sender,
        "msgID": msg_id(context, m.source.id), "msgContent": content::encode(&m.message, Some(&msg_id(context, m.source.id))),
        "channel_name": channel_name, "sender_nick": nick, "ref_channel": ref_channel,
        "ref_channel_name": if ref_channel != 0 { channel_name.as_str() } else { "" },
        "msgString": content::plain(&m.message)});
    if let Some(Segment::Quote(q)) = m.message.iter().find(|s| matches!(s, Segment::Quote(_))) {
        let text = content::plain(&q.origin);
        data["reply"] = json!({"to": q.sender_id, "time": 0, "text": text, "summary": text,
                               "id": msg_id(context, q.id)});
    }
    Some(wrap("msg", time, data))
}
