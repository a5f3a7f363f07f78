//! Quick operations: the JSON an HTTP POST endpoint answers an event with (spec §5), turned
//! into commands for the bot. Message events take `reply` (with `auto_escape`, `at_sender`),
//! `delete`, `kick`, `ban` (`ban_duration`, 30 minutes by default); request events take
//! `approve` (with `remark` / `reason`). Absent fields do nothing.

use serde_json::Value;

use super::message;
use crate::model::{
    Command, Event, MessageKind, MessageTarget, RequestAnswer, RequestKind, RequestType, Segment,
};
use crate::protocol::lenient;

fn flag(op: &Value, key: &str) -> bool {
    op.get(key).and_then(lenient::bool_from_value).unwrap_or(false)
}

/// The commands a quick operation on `event` asks for (possibly none).
pub fn commands(event: &Event, op: &Value) -> Result<Vec<Command>, String> {
    if !op.is_object() {
        return Err("a quick operation must be a JSON object".to_owned());
    }
    let mut out = Vec::new();
    match event {
        Event::Message(m) => {
            let (target, group, sender) = match &m.kind {
                MessageKind::Group { sender } => {
                    (MessageTarget::Group(sender.group.id), Some(sender.group.id), sender.id)
                }
                MessageKind::Temp { sender } => (
                    MessageTarget::Temp { group: sender.group.id, member: sender.id },
                    None,
                    sender.id,
                ),
                MessageKind::Friend { sender } | MessageKind::Stranger { sender } => {
                    (MessageTarget::Friend(sender.id), None, sender.id)
                }
                _ => return Ok(out),
            };
            if let Some(reply) = op.get("reply").filter(|r| !r.is_null()) {
                let mut decoded = message::decode(reply, flag(op, "auto_escape"))?;
                if group.is_some() && flag(op, "at_sender") {
                    decoded
                        .segments
                        .insert(0, Segment::At { target: sender, display: String::new() });
                    decoded.segments.insert(1, Segment::Text(" ".to_owned()));
                }
                out.push(Command::SendMessage {
                    target,
                    message: decoded.segments,
                    quote: decoded.reply_to,
                });
            }
            if let Some(g) = group {
                if flag(op, "delete") {
                    out.push(Command::Recall { context: Some(g), message_id: m.source.id });
                }
                if flag(op, "kick") {
                    out.push(Command::Kick {
                        group: g,
                        member: sender,
                        block: flag(op, "reject_add_request"),
                        message: String::new(),
                    });
                }
                if flag(op, "ban") {
                    let seconds =
                        op.get("ban_duration").and_then(lenient::int_from_value).unwrap_or(30 * 60);
                    out.push(Command::Mute { group: g, member: sender, seconds });
                }
            }
        }
        Event::Request(r) => {
            if let Some(approve) = op.get("approve").and_then(lenient::bool_from_value) {
                let kind = match r.kind {
                    RequestKind::NewFriend => RequestType::NewFriend,
                    RequestKind::MemberJoin { .. } => RequestType::MemberJoin,
                    RequestKind::BotInvitedJoinGroup { .. } => RequestType::BotInvitedJoinGroup,
                };
                let text = |k: &str| op.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                out.push(Command::RespondRequest {
                    kind,
                    event_id: r.event_id,
                    from_id: Some(r.from_id),
                    group_id: Some(r.group_id),
                    answer: if approve {
                        RequestAnswer::Accept
                    } else {
                        RequestAnswer::Reject { blacklist: false }
                    },
                    message: if text("reason").is_empty() {
                        text("remark")
                    } else {
                        text("reason")
                    },
                });
            }
        }
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Group, Member, MessageEvent, MessageSource, Permission};
    use serde_json::json;

    fn group_message() -> Event {
        Event::Message(MessageEvent {
            kind: MessageKind::Group {
                sender: Member {
                    id: 5,
                    member_name: "m".into(),
                    nickname: "m".into(),
                    card: String::new(),
                    special_title: String::new(),
                    permission: Permission::Member,
                    join_timestamp: 0,
                    last_speak_timestamp: 0,
                    mute_time_remaining: 0,
                    group: Group { id: 9, name: "g".into(), permission: Permission::Owner },
                },
            },
            source: MessageSource { id: 77, time: 0 },
            message: vec![],
        })
    }

    #[test]
    fn a_group_message_quick_operation_replies_deletes_kicks_and_bans() {
        let cmds = commands(&group_message(), &json!({"reply":"hi","at_sender":true,"delete":true,"kick":true,"ban":true,"ban_duration":60})).unwrap();
        assert_eq!(
            cmds,
            vec![
                Command::SendMessage {
                    target: MessageTarget::Group(9),
                    message: vec![
                        Segment::At { target: 5, display: String::new() },
                        Segment::Text(" ".into()),
                        Segment::Text("hi".into())
                    ],
                    quote: None
                },
                Command::Recall { context: Some(9), message_id: 77 },
                Command::Kick { group: 9, member: 5, block: false, message: String::new() },
                Command::Mute { group: 9, member: 5, seconds: 60 },
            ]
        );
        assert!(commands(&group_message(), &json!({})).unwrap().is_empty());
        assert!(commands(&group_message(), &json!("reply")).is_err());
    }
}
