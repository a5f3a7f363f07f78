//! The daemon's HTTP API (spec B.5) from the server's side: a route and its JSON body or
//! query into a command, and the command's output into the daemon's answer
//! `{"status":{"code":N}, ...}` (0 ok, -1 bad input or not found, -2 a send that failed).
//! The seed-era paths (`misc/`, member list and detail under `user/`) are served too.

use serde_json::{json, Map, Value};

use super::{content, ids, packet};
use crate::model::{
    BotError, Command, CommandOutput, GroupConfigUpdate, MessageTarget, RequestAnswer, RequestType,
    UserId,
};
use crate::protocol::lenient;

/// How a command's output is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{msgID}` of a message sent in `context`.
    MsgId {
        /// The contact the new message's id belongs to.
        context: UserId,
    },
    /// Nothing but the status.
    Done,
    /// `{basic:{id,nickname}}`.
    BasicInfo,
    /// `{list:[{id,nickname}]}`.
    Friends,
    /// `{list:[{id,name}]}`.
    Groups,
    /// `{list:[{id,nickname,alias}]}`.
    Members,
    /// `{info:{join_time,last_active_time,tag,isOwner,isAdmin}}`.
    MemberDetail,
    /// `{data:<msg packet data>}`.
    Message,
    /// `{msgs:[{id,time,nickname,msgContent}]}` of a forwarded bundle.
    Forwarded,
}

/// A request the API refuses before reaching the bot: the HTTP status and the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// 400 (missing keys), 404 (no such route).
    pub http: u16,
    /// Why, for the log.
    pub why: String,
}

fn missing(what: &str) -> Refused {
    Refused { http: 400, why: format!("{what} is required") }
}

/// The command of `method path` with `params` (the JSON body of a POST, the query of a GET).
pub fn command(
    method: &str,
    path: &str,
    params: &Map<String, Value>,
) -> Result<(Command, Shape), Refused> {
    let int = |k: &str| params.get(k).and_then(lenient::int_from_value).ok_or_else(|| missing(k));
    let boolean =
        |k: &str| params.get(k).and_then(lenient::bool_from_value).ok_or_else(|| missing(k));
    let msg_id = |k: &str| {
        params.get(k).and_then(Value::as_str).and_then(packet::msg_number).ok_or_else(|| missing(k))
    };
    let request = |kind| -> Result<(Command, Shape), Refused> {
        let event = params.get("eventID").and_then(Value::as_str).and_then(ids::parse_event_id);
        let Some((_, seq)) = event else {
            return Err(missing("eventID"));
        };
        let answer = if boolean("accept")? {
            RequestAnswer::Accept
        } else {
            RequestAnswer::Reject { blacklist: false }
        };
        let command = Command::RespondRequest {
            kind,
            event_id: seq as i64,
            from_id: None,
            group_id: None,
            answer,
            message: String::new(),
        };
        Ok((command, Shape::Done))
    };
    let path = path.trim_matches('/');
    Ok(match (method, path) {
        ("POST", "sendMsg/private" | "sendMsg/group") => {
            let dest = int("dest")?;
            let message =
                content::decode(params.get("msgContent").ok_or_else(|| missing("msgContent"))?)
                    .map_err(|why| Refused { http: 400, why })?;
            let quote = params
                .get("reply")
                .and_then(|r| r.get("id"))
                .and_then(Value::as_str)
                .and_then(packet::msg_number);
            let (target, context) = if path == "sendMsg/group" {
                (MessageTarget::Group(dest), dest)
            } else {
                match params.get("from").and_then(lenient::int_from_value).filter(|g| *g != 0) {
                    Some(group) => (MessageTarget::Temp { group, member: dest }, dest),
                    None => (MessageTarget::Friend(dest), dest),
                }
            };
            (Command::SendMessage { target, message, quote }, Shape::MsgId { context })
        }
        ("POST", "revoke/private" | "revoke/group") => {
            let command =
                Command::Recall { context: Some(int("channel")?), message_id: msg_id("msgID")? };
            (command, Shape::Done)
        }
        ("GET", "user/basicInfo") => (Command::BotInfo, Shape::BasicInfo),
        ("GET", "user/getFriendList") => (Command::FriendList, Shape::Friends),
        ("GET", "user/getGroupList") => (Command::GroupList, Shape::Groups),
        ("GET", "group/getMemberList" | "user/getMemberList") => {
            (Command::MemberList { group: int("group")?, with_bot: false }, Shape::Members)
        }
        ("GET", "group/getMemberDetail" | "user/getMemberDetail") => (
            Command::GetMemberInfo { group: int("group")?, member: int("member")? },
            Shape::MemberDetail,
        ),
        ("POST", "user/acceptFriend") => request(RequestType::NewFriend)?,
        ("POST", "user/acceptGroupInvite") => request(RequestType::BotInvitedJoinGroup)?,
        ("POST", "group/acceptJoin") => request(RequestType::MemberJoin)?,
        ("POST", "user/leaveGroup") => (Command::Quit { group: int("group")? }, Shape::Done),
        ("POST", "group/setGroupName") => {
            let name = params.get("name").and_then(Value::as_str).ok_or_else(|| missing("name"))?;
            let update =
                GroupConfigUpdate { name: Some(name.to_owned()), ..GroupConfigUpdate::default() };
            (Command::UpdateGroupConfig { group: int("group")?, update }, Shape::Done)
        }
        ("POST", "group/mute") => {
            let (group, target, duration) = (int("group")?, int("target")?, int("duration")?);
            let command = match (target, duration) {
                (0, d) => Command::MuteAll { group, enable: d != 0 },
                (member, 0) => Command::Unmute { group, member },
                (member, seconds) => Command::Mute { group, member, seconds },
            };
            (command, Shape::Done)
        }
        ("POST", "group/kick") => {
            let command = Command::Kick {
                group: int("group")?,
                member: int("who")?,
                block: false,
                message: String::new(),
            };
            (command, Shape::Done)
        }
        ("POST", "group/setAdmin") => {
            let command = Command::SetAdmin {
                group: int("group")?,
                member: int("who")?,
                assign: boolean("set")?,
            };
            (command, Shape::Done)
        }
        ("GET", "mesg/queryMsg" | "misc/queryMsg") => {
            let command = Command::MessageFromId {
                context: Some(int("channel")?),
                message_id: msg_id("id")?,
            };
            (command, Shape::Message)
        }
        ("GET", "mesg/parseForwardedMsg" | "misc/parseForwardedMsg") => {
            // botgate's bundle ids are the msgIDs of the messages that carry them.
            let id = params.get("id").and_then(Value::as_str).and_then(ids::parse_msg_id);
            let Some((_, seq, context)) = id else {
                return Err(missing("id"));
            };
            let command = Command::MessageFromId {
                context: Some(i64::from(context)),
                message_id: seq as i32,
            };
            (command, Shape::Forwarded)
        }
        _ => return Err(Refused { http: 404, why: format!("no route {method} /{path}") }),
    })
}

/// The daemon's answer to a command's result.
pub fn answer(bot: UserId, shape: Shape, result: Result<CommandOutput, BotError>) -> Value {
    let output = match result {
        Ok(o) => o,
        Err(e) => {
            let code = match (&e, shape) {
                (BotError::NoSuchElement(_) | BotError::InvalidParameter(_), _) => -1,
                (_, Shape::MsgId { .. }) => -2,
                _ => -1,
            };
            return json!({"status": {"code": code, "message": e.to_string()}});
        }
    };
    let mut v = json!({"status": {"code": 0}});
    match (shape, output) {
        (Shape::MsgId { context }, CommandOutput::Sent { message_id }) => {
            v["msgID"] = json!(packet::msg_id(context, message_id));
        }
        (Shape::BasicInfo, CommandOutput::Friend(me)) => {
            v["basic"] = json!({"id": me.id, "nickname": me.nickname});
        }
        (Shape::Friends, CommandOutput::Friends(list)) => {
            v["list"] = list.iter().map(|f| json!({"id": f.id, "nickname": f.nickname})).collect();
        }
        (Shape::Groups, CommandOutput::Groups(list)) => {
            v["list"] = list.iter().map(|g| json!({"id": g.id, "name": g.name})).collect();
        }
        (Shape::Members, CommandOutput::Members(list)) => {
            v["list"] = list
                .iter()
                .map(|m| json!({"id": m.id, "nickname": m.nickname, "alias": m.card}))
                .collect();
        }
        (Shape::MemberDetail, CommandOutput::MemberInfo(m, _)) => {
            use crate::model::Permission;
            v["info"] = json!({"join_time": m.join_timestamp, "last_active_time": m.last_speak_timestamp,
                "tag": m.special_title, "isOwner": m.permission == Permission::Owner,
                "isAdmin": m.permission == Permission::Administrator});
        }
        (Shape::Forwarded, CommandOutput::Message(m)) => {
            let nodes = m.message.iter().find_map(|s| match s {
                crate::model::Segment::Forward(nodes) => Some(nodes.as_slice()),
                _ => None,
            });
            match nodes {
                Some(nodes) => v["msgs"] = content::forward_msgs(nodes),
                None => return json!({"status": {"code": -1}}),
            }
        }
        (Shape::Message, CommandOutput::Message(m)) => {
            let p = packet::message(&m, bot, m.source.time, true);
            match p {
                Some(p) => v["data"] = p["data"].clone(),
                None => return json!({"status": {"code": -1}}),
            }
        }
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn routes_become_commands() {
        let (c, s) = command("POST", "/sendMsg/private", &params(json!({"dest": 20001, "from": 30001,
            "msgContent": [{"type": "text", "text": "hi"}], "reply": {"to": 1, "id": packet::msg_id(20001, 5)}}))).expect("ok");
        assert!(matches!(
            c,
            Command::SendMessage {
                target: MessageTarget::Temp { group: 30001, member: 20001 },
                quote: Some(5),
                ..
            }
        ));
        assert_eq!(s, Shape::MsgId { context: 20001 });
        assert_eq!(
            command("POST", "sendMsg/group", &params(json!({"msgContent": []}))).unwrap_err().http,
            400
        );
        assert_eq!(command("GET", "nope", &Map::new()).unwrap_err().http, 404);
        let (c, _) = command(
            "POST",
            "group/mute",
            &params(json!({"group": 1, "target": 0, "duration": 60})),
        )
        .expect("ok");
        assert_eq!(c, Command::MuteAll { group: 1, enable: true });
        let (c, _) = command(
            "POST",
            "user/acceptFriend",
            &params(json!({"who": 2, "eventID": ids::event_id(2, 7), "accept": true})),
        )
        .expect("ok");
        assert!(matches!(
            c,
            Command::RespondRequest { event_id: 7, answer: RequestAnswer::Accept, .. }
        ));
        let out =
            answer(1, Shape::MsgId { context: 30001 }, Ok(CommandOutput::Sent { message_id: 9 }));
        assert_eq!(out, json!({"status": {"code": 0}, "msgID": packet::msg_id(30001, 9)}));
        let failed = answer(1, Shape::MsgId { context: 1 }, Err(BotError::BotMuted));
        assert_eq!(failed["status"]["code"], -2);
    }
}
