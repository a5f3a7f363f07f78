//! The OneBot v11 codec from the other side: botgate as the *client* of an implementation
//! (NapCat, Lagrange.OneBot, LLOneBot, go-cqhttp, or another botgate). A model command becomes
//! an action request, the implementation's reply becomes the model's output or error, and its
//! contact objects become model contacts. Pure functions, like the rest of the codec.

use serde_json::{json, Value};

use super::message::to_array;
use crate::model::{
    BotError, Command, CommandOutput, Friend, Group, Member, MessageTarget, NudgeKind, Permission,
    Profile, RequestAnswer, RequestType, Segment, Sex,
};
use crate::protocol::lenient;

/// An action to send to the implementation: its name and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamAction {
    /// The action name (`send_group_msg`…).
    pub action: String,
    /// Its parameters.
    pub params: Value,
}

fn action(name: &str, params: Value) -> Result<UpstreamAction, BotError> {
    Ok(UpstreamAction { action: name.to_owned(), params })
}

/// A message as the implementation takes it: the segment array, a reply segment first for a
/// quote (OneBot has no separate quote parameter).
pub fn outgoing_message(message: &[Segment], quote: Option<i32>) -> Value {
    let mut array = to_array(message);
    if let (Some(id), Value::Array(items)) = (quote, &mut array) {
        items.insert(0, json!({"type": "reply", "data": {"id": id.to_string()}}));
    }
    array
}

/// A forward's nodes for `send_*_forward_msg`, with both spellings of the sender: go-cqhttp
/// and Lagrange read `uin` (Lagrange only as a string) and `name`, NapCat and LLOneBot
/// `user_id` and `nickname`.
pub fn forward_nodes(nodes: &[crate::model::ForwardNode]) -> Vec<Value> {
    nodes
        .iter()
        .map(|n| {
            let id = n.sender_id.to_string();
            json!({"type": "node", "data": {"user_id": id, "uin": id, "nickname": n.sender_name,
                   "name": n.sender_name, "time": n.time, "content": to_array(&n.message)}})
        })
        .collect()
}

/// The flag of a request, which answers need: botgate numbers requests for mirai clients and
/// keeps the implementation's flag for each.
pub type RequestFlag = String;

/// The action that carries out `command`, or why the implementation cannot. `flag_of` finds
/// the implementation's flag of a request botgate numbered.
pub fn action_for(
    command: &Command,
    flag_of: impl Fn(i64) -> Option<RequestFlag>,
) -> Result<UpstreamAction, BotError> {
    match command {
        Command::SendMessage { target, message, quote: None }
            if matches!(message.as_slice(), [Segment::Forward(_)]) =>
        {
            let [Segment::Forward(nodes)] = message.as_slice() else {
                unreachable!("matched above");
            };
            let messages = forward_nodes(nodes);
            match *target {
                MessageTarget::Group(group) => action(
                    "send_group_forward_msg",
                    json!({"group_id": group, "messages": messages}),
                ),
                MessageTarget::Friend(user) | MessageTarget::Temp { member: user, .. } => action(
                    "send_private_forward_msg",
                    json!({"user_id": user, "messages": messages}),
                ),
                MessageTarget::OtherClient(_) => Err(BotError::Unsupported(
                    "OneBot cannot send to the account's other clients".into(),
                )),
            }
        }
        Command::SendMessage { target, message, quote } => {
            let message = outgoing_message(message, *quote);
            match *target {
                MessageTarget::Group(group) => {
                    action("send_group_msg", json!({"group_id": group, "message": message}))
                }
                MessageTarget::Friend(user) => {
                    action("send_private_msg", json!({"user_id": user, "message": message}))
                }
                MessageTarget::Temp { group, member } => action(
                    "send_private_msg",
                    json!({"user_id": member, "group_id": group, "message": message}),
                ),
                MessageTarget::OtherClient(_) => Err(BotError::Unsupported(
                    "OneBot cannot send to the account's other clients".into(),
                )),
            }
        }
        Command::SendChannelMessage { guild_id, channel_id, message, quote } => action(
            "send_guild_channel_msg",
            json!({"guild_id": guild_id, "channel_id": channel_id,
                   "message": outgoing_message(message, *quote)}),
        ),
        Command::Recall { message_id, .. } => {
            action("delete_msg", json!({"message_id": message_id}))
        }
        Command::MessageFromId { message_id, .. } => {
            action("get_msg", json!({"message_id": message_id}))
        }
        Command::FriendList => action("get_friend_list", json!({})),
        Command::GroupList => action("get_group_list", json!({})),
        Command::MemberList { group, .. } | Command::LatestMemberList { group, .. } => {
            action("get_group_member_list", json!({"group_id": group}))
        }
        Command::GroupInfo { group } | Command::GetGroupConfig { group } => {
            action("get_group_info", json!({"group_id": group}))
        }
        Command::BotInfo | Command::BotProfile => action("get_login_info", json!({})),
        Command::FriendProfile { friend: user } | Command::UserProfile { user } => {
            action("get_stranger_info", json!({"user_id": user}))
        }
        Command::MemberProfile { group, member } | Command::GetMemberInfo { group, member } => {
            action("get_group_member_info", json!({"group_id": group, "user_id": member}))
        }
        Command::Mute { group, member, seconds } => action(
            "set_group_ban",
            json!({"group_id": group, "user_id": member, "duration": seconds}),
        ),
        Command::Unmute { group, member } => {
            action("set_group_ban", json!({"group_id": group, "user_id": member, "duration": 0}))
        }
        Command::Kick { group, member, block, .. } => action(
            "set_group_kick",
            json!({"group_id": group, "user_id": member, "reject_add_request": block}),
        ),
        Command::Quit { group } => action("set_group_leave", json!({"group_id": group})),
        Command::MuteAll { group, enable } => {
            action("set_group_whole_ban", json!({"group_id": group, "enable": enable}))
        }
        Command::SetEssence { message_id, .. } => {
            action("set_essence_msg", json!({"message_id": message_id}))
        }
        Command::RemoveEssence { message_id, .. } => {
            action("delete_essence_msg", json!({"message_id": message_id}))
        }
        Command::EssenceList { group } => {
            action("get_essence_msg_list", json!({"group_id": group}))
        }
        Command::DeleteFriend { friend } => action("delete_friend", json!({"user_id": friend})),
        Command::SetAdmin { group, member, assign } => action(
            "set_group_admin",
            json!({"group_id": group, "user_id": member, "enable": assign}),
        ),
        Command::UpdateMemberInfo { group, member, card: Some(card), special_title: None } => {
            action("set_group_card", json!({"group_id": group, "user_id": member, "card": card}))
        }
        Command::UpdateMemberInfo { group, member, card: None, special_title: Some(title) } => {
            action(
                "set_group_special_title",
                json!({"group_id": group, "user_id": member, "special_title": title}),
            )
        }
        Command::UpdateGroupConfig { group, update } => match &update.name {
            Some(name) => action("set_group_name", json!({"group_id": group, "group_name": name})),
            None => Err(BotError::Unsupported(
                "OneBot changes only a group's name among its settings".into(),
            )),
        },
        Command::SendNudge { target, subject, kind } => match kind {
            NudgeKind::Group => {
                action("group_poke", json!({"group_id": subject, "user_id": target}))
            }
            NudgeKind::Friend | NudgeKind::Stranger => {
                action("friend_poke", json!({"user_id": target}))
            }
        },
        Command::RoamingMessages { .. } => Err(BotError::Unsupported(
            "chat history of a OneBot account is served from the store".into(),
        )),
        Command::RespondRequest { kind, event_id, answer, message, .. } => {
            let flag = flag_of(*event_id)
                .ok_or_else(|| BotError::NoSuchElement(format!("request {event_id}")))?;
            let approve = matches!(answer, RequestAnswer::Accept);
            match kind {
                RequestType::NewFriend => action(
                    "set_friend_add_request",
                    json!({"flag": flag, "approve": approve, "remark": ""}),
                ),
                RequestType::MemberJoin | RequestType::BotInvitedJoinGroup => {
                    let sub = if *kind == RequestType::MemberJoin { "add" } else { "invite" };
                    action(
                        "set_group_add_request",
                        json!({"flag": flag, "sub_type": sub, "type": sub, "approve": approve,
                               "reason": message}),
                    )
                }
            }
        }
        other => Err(BotError::Unsupported(format!(
            "{} is not available on a OneBot account",
            command_name(other)
        ))),
    }
}

fn command_name(command: &Command) -> String {
    let debug = format!("{command:?}");
    debug.split([' ', '{', '(']).next().unwrap_or("this command").to_owned()
}

/// The error an implementation's failed reply means, its own words kept.
pub fn error_from(reply: &Value) -> BotError {
    let retcode = reply.get("retcode").and_then(lenient::int_from_value).unwrap_or(-1);
    let words = ["wording", "message", "msg"]
        .iter()
        .filter_map(|k| reply.get(*k).and_then(Value::as_str))
        .find(|s| !s.is_empty())
        .unwrap_or("")
        .to_owned();
    let why = if words.is_empty() { format!("retcode {retcode}") } else { words };
    match retcode {
        100 | 1400 => BotError::InvalidParameter(why),
        102 | 103 | 1403 => BotError::PermissionDenied(why),
        404 | 1404 => BotError::Unsupported(why),
        _ => BotError::Internal(why),
    }
}

/// Whether a reply envelope reports success (`retcode` 0; `async` counts as accepted).
pub fn succeeded(reply: &Value) -> bool {
    let retcode = reply.get("retcode").and_then(lenient::int_from_value);
    retcode == Some(0) || reply.get("status").and_then(Value::as_str) == Some("async")
}

fn int(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(lenient::int_from_value).unwrap_or(0)
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A friend from a `get_friend_list` entry or a private message's `sender`.
pub fn friend_from(v: &Value) -> Friend {
    Friend { id: int(v, "user_id"), nickname: text(v, "nickname"), remark: text(v, "remark") }
}

/// A group from a `get_group_list` entry; the bot's permission is learned from its member
/// entry, so it starts as `Member`.
pub fn group_from(v: &Value) -> Group {
    Group { id: int(v, "group_id"), name: text(v, "group_name"), permission: Permission::Member }
}

/// A role string (`owner`, `admin`, `member`) as a permission.
pub fn permission_from(role: &str) -> Permission {
    match role {
        "owner" => Permission::Owner,
        "admin" | "administrator" => Permission::Administrator,
        _ => Permission::Member,
    }
}

/// A member of `group` from a member-list entry or a group message's `sender`.
pub fn member_from(v: &Value, group: &Group) -> Member {
    let nickname = text(v, "nickname");
    let card = text(v, "card");
    Member {
        id: int(v, "user_id"),
        member_name: if card.is_empty() { nickname.clone() } else { card.clone() },
        nickname,
        card,
        special_title: text(v, "title"),
        permission: permission_from(&text(v, "role")),
        join_timestamp: int(v, "join_time"),
        last_speak_timestamp: int(v, "last_sent_time"),
        mute_time_remaining: int(v, "shut_up_timestamp")
            .saturating_sub(crate::bot::unix_now())
            .max(0),
        group: group.clone(),
    }
}

/// A profile from `get_stranger_info` / `get_login_info` data.
pub fn profile_from(v: &Value) -> Profile {
    Profile {
        nickname: text(v, "nickname"),
        email: String::new(),
        age: i32::try_from(int(v, "age")).unwrap_or(0),
        level: i32::try_from(int(v, "level")).unwrap_or(0),
        sign: text(v, "sign"),
        sex: match text(v, "sex").as_str() {
            "male" => Sex::Male,
            "female" => Sex::Female,
            _ => Sex::Unknown,
        },
    }
}

/// The data of a successful reply as the model's output of `command`. Lists and messages
/// that the bot's own caches answer are built there; this covers what comes back as is.
pub fn output_from(command: &Command, data: &Value) -> Result<CommandOutput, BotError> {
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    Ok(match command {
        Command::SendMessage { .. } => {
            let id = data
                .get("message_id")
                .and_then(lenient::int32_from_value)
                .ok_or_else(|| BotError::Internal(format!("no message_id in {data}")))?;
            CommandOutput::Sent { message_id: id }
        }
        Command::FriendList => CommandOutput::Friends(list(data).iter().map(friend_from).collect()),
        Command::GroupList => CommandOutput::Groups(list(data).iter().map(group_from).collect()),
        Command::BotInfo => CommandOutput::Friend(Friend {
            id: int(data, "user_id"),
            nickname: text(data, "nickname"),
            remark: String::new(),
        }),
        Command::BotProfile | Command::FriendProfile { .. } | Command::UserProfile { .. } => {
            CommandOutput::Profile(profile_from(data))
        }
        Command::MemberProfile { .. } => CommandOutput::Profile(profile_from(data)),
        _ => CommandOutput::Done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_become_actions_with_the_quote_as_a_reply_segment() {
        let send = Command::SendMessage {
            target: MessageTarget::Group(30001),
            message: vec![Segment::Text("hi".into())],
            quote: Some(7),
        };
        let a = action_for(&send, |_| None).expect("action");
        assert_eq!(a.action, "send_group_msg");
        assert_eq!(
            a.params,
            json!({"group_id":30001,"message":[{"type":"reply","data":{"id":"7"}},
                   {"type":"text","data":{"text":"hi"}}]})
        );
        let out = output_from(&send, &json!({"message_id": 12})).expect("output");
        assert_eq!(out, CommandOutput::Sent { message_id: 12 });
    }

    #[test]
    fn failed_replies_keep_the_implementations_words() {
        let e = error_from(&json!({"status":"failed","retcode":100,"wording":"消息不存在"}));
        assert_eq!(e, BotError::InvalidParameter("消息不存在".into()));
        let e = error_from(&json!({"status":"failed","retcode":1200,"message":"发送超时"}));
        assert_eq!(e, BotError::Internal("发送超时".into()));
        assert!(succeeded(&json!({"status":"ok","retcode":0})));
        assert!(!succeeded(&json!({"status":"failed","retcode":1})));
    }

    #[test]
    fn requests_are_answered_with_the_kept_flag() {
        let answer = Command::RespondRequest {
            kind: RequestType::NewFriend,
            event_id: 3,
            from_id: None,
            group_id: None,
            answer: RequestAnswer::Accept,
            message: String::new(),
        };
        let a = action_for(&answer, |id| (id == 3).then(|| "f-3".to_owned())).expect("action");
        assert_eq!(a.params["flag"], "f-3");
        assert!(action_for(&answer, |_| None).is_err());
    }

    #[test]
    fn members_carry_card_role_and_title() {
        let g = Group { id: 1, name: "g".into(), permission: Permission::Member };
        let m = member_from(
            &json!({"user_id":"5","nickname":"n","card":"","role":"admin","title":"t"}),
            &g,
        );
        assert_eq!(
            (m.id, m.member_name.as_str(), m.permission),
            (5, "n", Permission::Administrator)
        );
    }
}
