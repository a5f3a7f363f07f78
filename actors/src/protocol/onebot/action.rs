//! OneBot actions (spec §3, §4): requests `{"action","params","echo"}`, every standard action
//! the model can serve decoded into a [`Command`], results encoded into the `data` OneBot
//! clients expect, and the response envelope with `echo` returned untouched.

use serde_json::{json, Value};

use super::event::{self as onebot_event, MessageFormat};
use super::message::{self, to_array};
use crate::model::{
    BotError, Command, CommandOutput, GroupConfigUpdate, HistoryTarget, Member, MessageEvent,
    MessageKind, MessageTarget, NudgeKind, Permission, Profile, RequestAnswer, RequestType,
    Segment, Sex, UserId,
};
use crate::protocol::lenient;

/// A decoded action request.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRequest {
    /// The action name, `_async` suffix included.
    pub action: String,
    /// The parameters (an object; `{}` when absent).
    pub params: Value,
    /// The request's echo, any JSON value, returned untouched.
    pub echo: Option<Value>,
}

/// Parses a WebSocket request frame; an error means retcode 1400.
pub fn parse_request(frame: &[u8]) -> Result<ActionRequest, String> {
    let v: Value = serde_json::from_slice(frame).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut obj) = v else {
        return Err("the request is not a JSON object".to_owned());
    };
    let action = match obj.remove("action") {
        Some(Value::String(a)) => a,
        _ => return Err("`action` must be a string".to_owned()),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => json!({}),
        Some(p @ Value::Object(_)) => p,
        Some(_) => return Err("`params` must be an object".to_owned()),
    };
    Ok(ActionRequest { action, params, echo: obj.remove("echo") })
}

/// How a command's output becomes `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `null`.
    Null,
    /// `{"message_id"}`.
    MessageId,
    /// `{"message_id"}` with the id as a string (guild messages).
    GuildMessageId,
    /// `{"message_id","forward_id"}`.
    ForwardSent,
    /// `get_msg`'s message object.
    Message,
    /// `{"user_id","nickname"}`.
    LoginInfo,
    /// `get_stranger_info` for this user.
    Stranger(UserId),
    /// `[{"user_id","nickname","remark"}]`.
    Friends,
    /// `[group info]`.
    Groups,
    /// One group info.
    GroupInfo,
    /// One member info.
    MemberInfo,
    /// `[member info]`.
    Members,
    /// `{"messages":[message events]}`.
    History,
    /// `{"notice_id"}`.
    NoticeId,
    /// `[{"notice_id","sender_id","publish_time","message"}]`.
    Notices,
    /// `[{"sender_id","sender_nick","sender_time","operator_id","operator_nick","operator_time","message_id"}]`.
    Essences,
    /// `get_group_honor_info`'s lists for this group.
    Honors(UserId),
}

/// A decoded action.
#[derive(Debug, Clone, PartialEq)]
pub enum OneBotCall {
    /// A command for the bot, and how its result is shaped.
    Bot(Command, Shape),
    /// An answer that needs no bot (`can_send_image`, `get_version_info`…).
    Fixed(Value),
}

/// Why an action could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// No such action: retcode 1404 (WebSocket) / 404 (HTTP).
    Unknown(String),
    /// Missing or malformed parameters: retcode 100, as CQHTTP and go-cqhttp answer.
    BadParams(String),
}

struct Params<'a>(&'a Value);

impl Params<'_> {
    fn opt_int(&self, key: &str) -> Result<Option<i64>, ActionError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => lenient::int_from_value(v)
                .map(Some)
                .ok_or_else(|| ActionError::BadParams(format!("{key} must be a number, got {v}"))),
        }
    }
    fn int(&self, key: &str) -> Result<i64, ActionError> {
        self.opt_int(key)?.ok_or_else(|| ActionError::BadParams(format!("{key} is required")))
    }
    fn int32(&self, key: &str) -> Result<i32, ActionError> {
        let n = self.int(key)?;
        i32::try_from(n)
            .map_err(|_| ActionError::BadParams(format!("{key} must be a 32-bit integer, got {n}")))
    }
    fn bool_or(&self, key: &str, default: bool) -> Result<bool, ActionError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::String(s)) if s == "yes" => Ok(true),
            Some(Value::String(s)) if s == "no" => Ok(false),
            Some(v) => lenient::bool_from_value(v)
                .ok_or_else(|| ActionError::BadParams(format!("{key} must be a boolean, got {v}"))),
        }
    }
    fn string(&self, key: &str) -> String {
        match self.0.get(key) {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(v) => v.to_string(),
        }
    }
    fn message(&self, key: &str) -> Result<message::Outgoing, ActionError> {
        let auto_escape = self.bool_or("auto_escape", false)?;
        let m =
            self.0.get(key).ok_or_else(|| ActionError::BadParams(format!("{key} is required")))?;
        message::decode(m, auto_escape).map_err(ActionError::BadParams)
    }
}

fn send(target: MessageTarget, m: message::Outgoing) -> OneBotCall {
    OneBotCall::Bot(
        Command::SendMessage { target, message: m.segments, quote: m.reply_to },
        Shape::MessageId,
    )
}

fn forward(target: MessageTarget, p: &Params) -> Result<OneBotCall, ActionError> {
    let m = p.message("messages")?;
    if !matches!(m.segments.as_slice(), [Segment::Forward(_)]) {
        return Err(ActionError::BadParams("messages must be node segments".to_owned()));
    }
    Ok(OneBotCall::Bot(
        Command::SendMessage { target, message: m.segments, quote: None },
        Shape::ForwardSent,
    ))
}

fn request_answer(p: &Params, kind: RequestType) -> Result<OneBotCall, ActionError> {
    let flag = p.string("flag");
    let event_id = flag
        .trim()
        .parse()
        .map_err(|_| ActionError::BadParams(format!("unknown flag {flag:?}")))?;
    let answer = if p.bool_or("approve", true)? {
        RequestAnswer::Accept
    } else {
        RequestAnswer::Reject { blacklist: false }
    };
    Ok(OneBotCall::Bot(
        Command::RespondRequest {
            kind,
            event_id,
            from_id: None,
            group_id: None,
            answer,
            message: p.string("reason"),
        },
        Shape::Null,
    ))
}

/// Decodes an action and its parameters. The `_async` suffix runs the action normally and
/// answers its result (go-cqhttp and NapCat do; the spec's `status:"async"` breaks koishi).
pub fn decode(action: &str, params: &Value) -> Result<OneBotCall, ActionError> {
    let action = action.strip_suffix("_async").unwrap_or(action);
    let p = Params(params);
    let bot = |c: Command, s: Shape| Ok(OneBotCall::Bot(c, s));
    let null = |c: Command| Ok(OneBotCall::Bot(c, Shape::Null));
    match action {
        "send_private_msg" => {
            let user = p.int("user_id")?;
            let target = match p.opt_int("group_id")? {
                Some(group) => MessageTarget::Temp { group, member: user },
                None => MessageTarget::Friend(user),
            };
            Ok(send(target, p.message("message")?))
        }
        "send_group_msg" => {
            Ok(send(MessageTarget::Group(p.int("group_id")?), p.message("message")?))
        }
        "send_msg" => {
            let target = match (
                p.string("message_type").as_str(),
                p.opt_int("user_id")?,
                p.opt_int("group_id")?,
            ) {
                ("private", Some(u), _) => MessageTarget::Friend(u),
                ("group", _, Some(g)) => MessageTarget::Group(g),
                ("", Some(u), _) if u != 0 => MessageTarget::Friend(u),
                ("", _, Some(g)) => MessageTarget::Group(g),
                _ => {
                    return Err(ActionError::BadParams(
                        "message_type with user_id or group_id is required".to_owned(),
                    ))
                }
            };
            Ok(send(target, p.message("message")?))
        }
        "send_guild_channel_msg" => {
            let m = p.message("message")?;
            let command = Command::SendChannelMessage {
                guild_id: p.string("guild_id"),
                channel_id: p.string("channel_id"),
                message: m.segments,
                quote: m.reply_to,
            };
            bot(command, Shape::GuildMessageId)
        }
        "send_group_forward_msg" => forward(MessageTarget::Group(p.int("group_id")?), &p),
        "send_private_forward_msg" => forward(MessageTarget::Friend(p.int("user_id")?), &p),
        "delete_msg" => null(Command::Recall { context: None, message_id: p.int32("message_id")? }),
        "get_msg" => bot(
            Command::MessageFromId { context: None, message_id: p.int32("message_id")? },
            Shape::Message,
        ),
        "get_login_info" => bot(Command::BotInfo, Shape::LoginInfo),
        "get_stranger_info" => {
            let user = p.int("user_id")?;
            bot(Command::UserProfile { user }, Shape::Stranger(user))
        }
        "get_friend_list" => bot(Command::FriendList, Shape::Friends),
        "get_group_list" => bot(Command::GroupList, Shape::Groups),
        "get_group_info" => bot(Command::GroupInfo { group: p.int("group_id")? }, Shape::GroupInfo),
        "get_group_member_info" => bot(
            Command::GetMemberInfo { group: p.int("group_id")?, member: p.int("user_id")? },
            Shape::MemberInfo,
        ),
        "get_group_member_list" => {
            bot(Command::MemberList { group: p.int("group_id")?, with_bot: true }, Shape::Members)
        }
        "set_group_kick" => null(Command::Kick {
            group: p.int("group_id")?,
            member: p.int("user_id")?,
            block: p.bool_or("reject_add_request", false)?,
            message: String::new(),
        }),
        "set_group_ban" => {
            let (group, member) = (p.int("group_id")?, p.int("user_id")?);
            match p.opt_int("duration")?.unwrap_or(1800) {
                0 => null(Command::Unmute { group, member }),
                seconds => null(Command::Mute { group, member, seconds }),
            }
        }
        "set_group_whole_ban" => {
            null(Command::MuteAll { group: p.int("group_id")?, enable: p.bool_or("enable", true)? })
        }
        "set_group_admin" => null(Command::SetAdmin {
            group: p.int("group_id")?,
            member: p.int("user_id")?,
            assign: p.bool_or("enable", true)?,
        }),
        "set_group_card" => null(Command::UpdateMemberInfo {
            group: p.int("group_id")?,
            member: p.int("user_id")?,
            card: Some(p.string("card")),
            special_title: None,
        }),
        "set_group_special_title" => null(Command::UpdateMemberInfo {
            group: p.int("group_id")?,
            member: p.int("user_id")?,
            card: None,
            special_title: Some(p.string("special_title")),
        }),
        "set_group_name" => null(Command::UpdateGroupConfig {
            group: p.int("group_id")?,
            update: GroupConfigUpdate { name: Some(p.string("group_name")), ..Default::default() },
        }),
        "set_group_leave" => null(Command::Quit { group: p.int("group_id")? }),
        "set_group_anonymous" => null(Command::UpdateGroupConfig {
            group: p.int("group_id")?,
            update: GroupConfigUpdate {
                anonymous_chat: Some(p.bool_or("enable", true)?),
                ..Default::default()
            },
        }),
        "set_friend_add_request" => request_answer(&p, RequestType::NewFriend),
        "set_group_add_request" => {
            let sub = if p.string("sub_type").is_empty() {
                p.string("type")
            } else {
                p.string("sub_type")
            };
            let kind = match sub.as_str() {
                "add" => RequestType::MemberJoin,
                "invite" => RequestType::BotInvitedJoinGroup,
                other => {
                    return Err(ActionError::BadParams(format!(
                        "sub_type must be add or invite, got {other:?}"
                    )))
                }
            };
            request_answer(&p, kind)
        }
        "delete_friend" => {
            let user = p.opt_int("user_id")?.map_or_else(|| p.int("id"), Ok)?;
            null(Command::DeleteFriend { friend: user })
        }
        "get_group_msg_history" => bot(
            Command::RoamingMessages {
                target: HistoryTarget::Group(p.int("group_id")?),
                time_start: 0,
                time_end: i64::MAX,
            },
            Shape::History,
        ),
        "get_group_honor_info" => {
            let group = p.int("group_id")?;
            bot(Command::GroupHonors { group }, Shape::Honors(group))
        }
        "set_essence_msg" => {
            null(Command::SetEssence { group: None, message_id: p.int32("message_id")? })
        }
        "delete_essence_msg" => {
            null(Command::RemoveEssence { group: None, message_id: p.int32("message_id")? })
        }
        "get_essence_msg_list" => {
            bot(Command::EssenceList { group: p.int("group_id")? }, Shape::Essences)
        }
        "_send_group_notice" => bot(
            Command::PublishAnnouncement {
                group: p.int("group_id")?,
                content: p.string("content"),
                pinned: false,
            },
            Shape::NoticeId,
        ),
        "_get_group_notice" => bot(
            Command::ListAnnouncements { group: p.int("group_id")?, offset: 0, size: usize::MAX },
            Shape::Notices,
        ),
        "_del_group_notice" => null(Command::DeleteAnnouncement {
            group: p.int("group_id")?,
            fid: p.string("notice_id"),
        }),
        "send_poke" | "group_poke" | "friend_poke" => {
            let user = p.int("user_id")?;
            match (action, p.opt_int("group_id")?) {
                ("friend_poke", _) | ("send_poke", None) => null(Command::SendNudge {
                    target: user,
                    subject: user,
                    kind: NudgeKind::Friend,
                }),
                (_, Some(group)) => null(Command::SendNudge {
                    target: user,
                    subject: group,
                    kind: NudgeKind::Group,
                }),
                (_, None) => Err(ActionError::BadParams("group_id is required".to_owned())),
            }
        }
        "can_send_image" | "can_send_record" => Ok(OneBotCall::Fixed(json!({ "yes": true }))),
        "get_status" => Ok(OneBotCall::Fixed(json!({ "online": true, "good": true }))),
        "get_version_info" => Ok(OneBotCall::Fixed(json!({
            "app_name": "botgate",
            "app_version": env!("CARGO_PKG_VERSION"),
            "protocol_version": "v11",
        }))),
        other => Err(ActionError::Unknown(other.to_owned())),
    }
}

fn role(p: Permission) -> &'static str {
    match p {
        Permission::Owner => "owner",
        Permission::Administrator => "admin",
        Permission::Member => "member",
    }
}

fn member_info(m: &Member) -> Value {
    json!({
        "group_id": m.group.id, "user_id": m.id, "nickname": m.nickname, "card": m.card,
        "sex": "unknown", "age": 0, "area": "", "join_time": m.join_timestamp,
        "last_sent_time": m.last_speak_timestamp, "level": "1", "role": role(m.permission),
        "unfriendly": false, "title": m.special_title, "title_expire_time": 0,
        "card_changeable": false, "shut_up_timestamp": if m.mute_time_remaining > 0 {
            crate::bot::unix_now() + m.mute_time_remaining } else { 0 },
    })
}

fn group_info(g: &crate::model::Group, members: usize) -> Value {
    json!({ "group_id": g.id, "group_name": g.name, "member_count": members, "max_member_count": 500 })
}

fn sex(p: &Profile) -> &'static str {
    match p.sex {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Unknown => "unknown",
    }
}

fn get_msg(bot: UserId, m: &MessageEvent) -> Value {
    let (message_type, sender) = match &m.kind {
        MessageKind::Group { sender } | MessageKind::Temp { sender } => (
            if matches!(m.kind, MessageKind::Group { .. }) { "group" } else { "private" },
            json!({"user_id": sender.id, "nickname": sender.nickname}),
        ),
        MessageKind::Friend { sender } | MessageKind::Stranger { sender } => {
            ("private", json!({"user_id": sender.id, "nickname": sender.nickname}))
        }
        MessageKind::GroupSync { .. } => ("group", json!({"user_id": bot, "nickname": ""})),
        _ => ("private", json!({"user_id": m.kind.sender_id(bot), "nickname": ""})),
    };
    let mut v = json!({"time": m.source.time, "message_type": message_type, "message_id": m.source.id,
                       "real_id": m.source.id, "sender": sender, "message": to_array(&m.message)});
    if let Some(g) = m.kind.group() {
        v["group_id"] = json!(g.id);
    }
    v
}

/// The `data` of a successful command, as `shape` says.
pub fn encode_output(bot: UserId, shape: Shape, out: &CommandOutput) -> Value {
    match (shape, out) {
        (Shape::MessageId, CommandOutput::Sent { message_id }) => json!({ "message_id": message_id }),
        // go-cqhttp's guild message ids are strings.
        (Shape::GuildMessageId, CommandOutput::Sent { message_id }) => {
            json!({ "message_id": message_id.to_string() })
        }
        (Shape::ForwardSent, CommandOutput::Sent { message_id }) => {
            json!({ "message_id": message_id, "forward_id": message_id.to_string() })
        }
        (Shape::Message, CommandOutput::Message(m)) => get_msg(bot, m),
        (Shape::LoginInfo, CommandOutput::Friend(f)) => json!({ "user_id": f.id, "nickname": f.nickname }),
        (Shape::Stranger(user), CommandOutput::Profile(p)) => {
            json!({ "user_id": user, "nickname": p.nickname, "sex": sex(p), "age": p.age, "sign": p.sign, "level": p.level })
        }
        (Shape::Friends, CommandOutput::Friends(fs)) => {
            Value::Array(fs.iter().map(|f| json!({ "user_id": f.id, "nickname": f.nickname, "remark": f.remark })).collect())
        }
        (Shape::Groups, CommandOutput::Groups(gs)) => Value::Array(gs.iter().map(|g| group_info(g, 0)).collect()),
        (Shape::GroupInfo, CommandOutput::GroupInfo(g, n)) => group_info(g, *n),
        (Shape::MemberInfo, CommandOutput::MemberInfo(m, _)) => member_info(m),
        (Shape::Members, CommandOutput::Members(ms)) => Value::Array(ms.iter().map(member_info).collect()),
        (Shape::History, CommandOutput::Messages(ms)) => json!({ "messages": ms.iter().filter_map(|m| {
            onebot_event::history_entry(bot, m, MessageFormat::Array)
        }).collect::<Vec<_>>() }),
        (Shape::NoticeId, CommandOutput::Announcement(a)) => json!({ "notice_id": a.fid }),
        (Shape::Notices, CommandOutput::Announcements(list)) => Value::Array(list.iter().map(|a| json!({
            "notice_id": a.fid, "sender_id": a.sender_id, "publish_time": a.publication_time,
            "message": { "text": a.content, "images": [] },
        })).collect()),
        (Shape::Honors(group), CommandOutput::Honors(holders)) => honor_info(group, holders),
        (Shape::Essences, CommandOutput::Essences(list)) => Value::Array(list.iter().map(|e| json!({
            "sender_id": e.sender_id, "sender_nick": e.sender_nick, "sender_time": e.sender_time,
            "operator_id": e.operator_id, "operator_nick": e.operator_nick, "operator_time": e.operator_time,
            "message_id": e.message_id,
        })).collect()),
        _ => Value::Null,
    }
}

/// `get_group_honor_info`'s data: one list per honour type, and the current 龙王.
fn honor_info(group_id: UserId, holders: &[(Member, Vec<String>)]) -> Value {
    let item = |m: &Member, description: &str| {
        json!({ "user_id": m.id, "nickname": m.nickname,
                "avatar": format!("https://q1.qlogo.cn/g?b=qq&nk={}&s=640", m.id), "description": description })
    };
    let list = |names: &[&str], description: &str| -> Vec<Value> {
        holders
            .iter()
            .filter(|(_, h)| h.iter().any(|x| names.contains(&x.as_str())))
            .map(|(m, _)| item(m, description))
            .collect()
    };
    let talkative = list(&["龙王"], "龙王");
    json!({
        "group_id": group_id,
        "current_talkative": talkative.first().map(|t| json!({
            "user_id": t["user_id"], "nickname": t["nickname"], "avatar": t["avatar"], "day_count": 1 })),
        "talkative_list": talkative,
        "performer_list": list(&["群聊之火", "群聊炽焰"], "群聊之火"),
        "legend_list": list(&["一笔当先"], "一笔当先"),
        "strong_newbie_list": list(&["冒尖小春笋"], "冒尖小春笋"),
        "emotion_list": list(&["快乐源泉"], "快乐源泉"),
    })
}

/// A retcode and message for a failed command (go-cqhttp style: 100 for bad requests and
/// missing objects, 102 when the bot lacks the right, 200 for anything else).
pub fn retcode(err: &BotError) -> (i64, String) {
    let code = match err {
        BotError::InvalidParameter(_) | BotError::NoSuchElement(_) | BotError::FileNotFound(_) => {
            100
        }
        BotError::PermissionDenied(_) | BotError::BotMuted | BotError::LocalFileRefused(_) => 102,
        BotError::NoSuchBot | BotError::Unsupported(_) => 1404,
        BotError::MessageTooLarge | BotError::Internal(_) => 200,
    };
    (code, err.to_string())
}

/// A response envelope as an action's run answers it, for the adapter to serialize. A success
/// is written straight from its data: building the spec's six-key object as a `Value` cost a
/// map and six allocated keys per response (the largest part of encoding a reply).
#[derive(Debug)]
pub enum Envelope {
    /// `{"status":"ok","retcode":0,"data":…,"message":"","wording":"","echo":…}` (no `echo`
    /// when the request had none), in that order.
    Ok {
        /// The action's data.
        data: Value,
        /// The request's echo, when it had one.
        echo: Option<Value>,
    },
    /// Any other envelope, already built: a failure, or an implementation's own reply.
    Built(Value),
}

impl Envelope {
    /// A success with `data`, echoing `echo`.
    pub fn ok(data: Value, echo: Option<&Value>) -> Self {
        Envelope::Ok { data, echo: echo.cloned() }
    }
}

impl serde::Serialize for Envelope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Success<'a> {
            status: &'static str,
            retcode: i64,
            data: &'a Value,
            message: &'static str,
            wording: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            echo: Option<&'a Value>,
        }
        match self {
            Envelope::Ok { data, echo } => Success {
                status: "ok",
                retcode: 0,
                data,
                message: "",
                wording: "",
                echo: echo.as_ref(),
            }
            .serialize(serializer),
            Envelope::Built(v) => v.serialize(serializer),
        }
    }
}

impl From<Value> for Envelope {
    fn from(v: Value) -> Self {
        Envelope::Built(v)
    }
}

/// The WebSocket retcode of an action refused because too many run on its connection (HTTP's
/// 429, in the 14xx family OneBot uses for HTTP statuses on WebSockets).
pub const RETCODE_BUSY: i64 = 1429;

/// The envelope of an action refused because its connection runs `limit` already.
pub fn busy(limit: usize, echo: Option<&Value>) -> Value {
    let why =
        format!("too many actions in flight on this connection (limit {limit}); wait for replies");
    failed(RETCODE_BUSY, &why, echo)
}

/// A failed response envelope.
pub fn failed(retcode: i64, message: &str, echo: Option<&Value>) -> Value {
    let mut v = json!({ "status": "failed", "retcode": retcode, "data": null, "message": message, "wording": message });
    if let Some(e) = echo {
        v["echo"] = e.clone();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Friend;

    #[test]
    fn a_success_envelope_is_written_byte_for_byte_in_the_spec_order() {
        let data = json!({"message_id": 1_234_567, "nested": {"b": [1, "two"], "a": null}});
        let head = r#"{"status":"ok","retcode":0,"data":{"message_id":1234567,"nested":{"b":[1,"two"],"a":null}},"message":"","wording":"""#;
        for (echo, tail) in [
            (None, "}"),
            (Some(json!("17")), r#","echo":"17"}"#),
            (Some(json!({"seq": 3})), r#","echo":{"seq":3}}"#),
            (Some(json!(null)), r#","echo":null}"#),
        ] {
            let direct =
                serde_json::to_string(&Envelope::ok(data.clone(), echo.as_ref())).expect("json");
            assert_eq!(direct, format!("{head}{tail}"));
        }
        let failure = failed(100, "bad", None);
        assert_eq!(serde_json::to_value(Envelope::from(failure.clone())).expect("json"), failure);
    }

    #[test]
    fn requests_keep_their_echo_of_any_type_and_junk_is_1400() {
        for echo in [json!("17"), json!({"seq": 3}), json!(5), json!(null)] {
            let frame = json!({"action":"get_status","params":{},"echo":echo}).to_string();
            assert_eq!(parse_request(frame.as_bytes()).unwrap().echo, Some(echo));
        }
        assert_eq!(parse_request(br#"{"action":"x"}"#).unwrap().echo, None);
        assert!(parse_request(b"{oops").is_err());
        assert!(parse_request(br#"{"action":5}"#).is_err());
        assert!(parse_request(br#"{"action":"x","params":[1]}"#).is_err());
    }

    #[test]
    fn sends_accept_numeric_strings_cq_strings_and_arrays() {
        let call =
            decode("send_group_msg", &json!({"group_id":"30001","message":"[CQ:reply,id=5]hi"}))
                .unwrap();
        assert_eq!(
            call,
            OneBotCall::Bot(
                Command::SendMessage {
                    target: MessageTarget::Group(30001),
                    message: vec![Segment::Text("hi".into())],
                    quote: Some(5)
                },
                Shape::MessageId
            )
        );
        let call = decode(
            "send_msg_async",
            &json!({"user_id":20001,"message":[{"type":"text","data":{"text":"x"}}]}),
        )
        .unwrap();
        assert!(matches!(
            call,
            OneBotCall::Bot(Command::SendMessage { target: MessageTarget::Friend(20001), .. }, _)
        ));
        let temp = decode(
            "send_private_msg",
            &json!({"user_id":1,"group_id":2,"message":"x","auto_escape":true}),
        )
        .unwrap();
        assert!(matches!(
            temp,
            OneBotCall::Bot(
                Command::SendMessage { target: MessageTarget::Temp { group: 2, member: 1 }, .. },
                _
            )
        ));
    }

    #[test]
    fn admin_actions_map_with_their_defaults() {
        assert_eq!(
            decode("set_group_ban", &json!({"group_id":1,"user_id":2})).unwrap(),
            OneBotCall::Bot(Command::Mute { group: 1, member: 2, seconds: 1800 }, Shape::Null)
        );
        assert_eq!(
            decode("set_group_ban", &json!({"group_id":1,"user_id":2,"duration":0})).unwrap(),
            OneBotCall::Bot(Command::Unmute { group: 1, member: 2 }, Shape::Null)
        );
        assert_eq!(
            decode("set_group_add_request", &json!({"flag":"42","sub_type":"add","approve":"no"}))
                .unwrap(),
            OneBotCall::Bot(
                Command::RespondRequest {
                    kind: RequestType::MemberJoin,
                    event_id: 42,
                    from_id: None,
                    group_id: None,
                    answer: RequestAnswer::Reject { blacklist: false },
                    message: String::new()
                },
                Shape::Null
            )
        );
        assert_eq!(
            decode("no_such_action", &json!({})),
            Err(ActionError::Unknown("no_such_action".into()))
        );
        assert!(matches!(
            decode("send_group_msg", &json!({"group_id":"abc","message":"x"})),
            Err(ActionError::BadParams(_))
        ));
        assert!(matches!(decode("get_group_info", &json!({})), Err(ActionError::BadParams(_))));
    }

    #[test]
    fn envelopes_and_data_shapes() {
        assert_eq!(
            serde_json::to_value(Envelope::ok(json!({"message_id":7}), Some(&json!({"seq":1}))))
                .expect("json"),
            json!({"status":"ok","retcode":0,"data":{"message_id":7},"message":"","wording":"","echo":{"seq":1}})
        );
        assert_eq!(
            failed(1404, "no", None),
            json!({"status":"failed","retcode":1404,"data":null,"message":"no","wording":"no"})
        );
        let f = CommandOutput::Friends(vec![Friend {
            id: 1,
            nickname: "a".into(),
            remark: "b".into(),
        }]);
        assert_eq!(
            encode_output(9, Shape::Friends, &f),
            json!([{"user_id":1,"nickname":"a","remark":"b"}])
        );
        assert_eq!(
            encode_output(
                9,
                Shape::LoginInfo,
                &CommandOutput::Friend(Friend {
                    id: 9,
                    nickname: "bot".into(),
                    remark: String::new()
                })
            ),
            json!({"user_id":9,"nickname":"bot"})
        );
        assert_eq!(retcode(&BotError::PermissionDenied("x".into())).0, 102);
    }
}
