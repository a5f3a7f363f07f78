//! mirai commands (spec §5): decoding `command` + `subCommand` + `content` into a
//! [`MiraiCall`], and encoding results into the `data` a mirai client expects.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::chain::{self, ChainDirection};
use super::contact::{friend, group, member, profile};
use super::event::message_packet;
use super::state::StateCode;
use super::MIRAI_API_HTTP_VERSION;
use crate::model::Member;
use crate::model::{
    Announcement, BotError, Command, CommandOutput, Friend, GroupConfig, GroupConfigUpdate,
    HistoryTarget, MemberActive, MessageTarget, NudgeKind, RequestAnswer, RequestType, UserId,
};
use crate::protocol::lenient;

/// The content of a `verify` command. Every key is optional and may be null.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyContent {
    /// The verifyKey the client presents.
    pub verify_key: Option<String>,
    /// An existing session to attach to.
    pub session_key: Option<String>,
    /// The bot account to bind a new session to.
    pub qq: Option<UserId>,
}

/// A decoded mirai command.
#[derive(Debug, Clone, PartialEq)]
pub enum MiraiCall {
    /// `verify`: authenticate the connection.
    Verify(VerifyContent),
    /// `about`: the plugin version.
    About,
    /// `botList`: the accounts this gateway holds.
    BotList,
    /// `sessionInfo`: the connection's session and its bot.
    SessionInfo,
    /// Any command that the bound bot answers.
    Bot(Command),
}

/// Why a command could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The command word (or its subCommand) is unknown: code 6.
    Unsupported,
    /// The content is missing or malformed: code 400; the text says what, for the log.
    Invalid(String),
}

impl CallError {
    /// The state code this error is answered with.
    pub fn state(&self) -> StateCode {
        match self {
            CallError::Unsupported => StateCode::no_operate_support(),
            CallError::Invalid(_) => StateCode::invalid_parameter(),
        }
    }
}

fn content<T: DeserializeOwned>(c: &Value) -> Result<T, CallError> {
    if c.is_null() {
        return Err(CallError::Invalid("`content` is missing".to_owned()));
    }
    T::deserialize(c).map_err(|e| CallError::Invalid(e.to_string()))
}

#[derive(Deserialize)]
struct Target {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetMember {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
    #[serde(deserialize_with = "lenient::int")]
    member_id: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageRef {
    #[serde(deserialize_with = "lenient::int32")]
    message_id: i32,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    target: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Send {
    #[serde(default, deserialize_with = "lenient::opt_int")]
    target: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    qq: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    group: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int32")]
    quote: Option<i32>,
    message_chain: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Verify {
    #[serde(default)]
    verify_key: Option<String>,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    qq: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Roaming {
    #[serde(deserialize_with = "lenient::int")]
    time_start: i64,
    #[serde(deserialize_with = "lenient::int")]
    time_end: i64,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    target: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    qq: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    group: Option<i64>,
}

#[derive(Deserialize)]
struct Nudge {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
    #[serde(deserialize_with = "lenient::int")]
    subject: i64,
    kind: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MuteDto {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
    #[serde(default, deserialize_with = "lenient::int")]
    member_id: i64,
    #[serde(default, deserialize_with = "lenient::int")]
    time: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KickDto {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
    #[serde(deserialize_with = "lenient::int")]
    member_id: i64,
    #[serde(default, deserialize_with = "lenient::boolean")]
    block: bool,
    #[serde(default)]
    msg: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Essence {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
    #[serde(deserialize_with = "lenient::int32")]
    message_id: i32,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConfigDto {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    confess_talk: Option<bool>,
    #[serde(default)]
    allow_member_invite: Option<bool>,
    #[serde(default)]
    auto_approve: Option<bool>,
    #[serde(default)]
    anonymous_chat: Option<bool>,
    #[serde(default)]
    mute_all: Option<bool>,
}

#[derive(Deserialize)]
struct GroupConfigSet {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
    config: ConfigDto,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct InfoDto {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    special_title: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemberInfoSet {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
    #[serde(deserialize_with = "lenient::int")]
    member_id: i64,
    info: InfoDto,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdminDto {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
    #[serde(deserialize_with = "lenient::int")]
    member_id: i64,
    #[serde(deserialize_with = "lenient::boolean")]
    assign: bool,
}

#[derive(Deserialize)]
struct AnnoList {
    #[serde(deserialize_with = "lenient::int")]
    id: i64,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    offset: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    size: Option<i64>,
}

#[derive(Deserialize)]
struct AnnoPublish {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
    content: String,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pinned: bool,
}

#[derive(Deserialize)]
struct AnnoDelete {
    #[serde(deserialize_with = "lenient::int")]
    id: i64,
    fid: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Respond {
    #[serde(deserialize_with = "lenient::int")]
    event_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    from_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    group_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    operate: i64,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LatestMembers {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
    #[serde(default)]
    member_ids: Value,
}

fn roaming(c: &Value) -> Result<Command, CallError> {
    let r: Roaming = content(c)?;
    let target = match (r.target, r.qq, r.group) {
        (Some(t), _, _) => HistoryTarget::FriendOrGroup(t),
        (None, Some(member), Some(group)) => HistoryTarget::Member { group, member },
        (None, Some(friend), None) => HistoryTarget::Friend(friend),
        (None, None, Some(group)) => HistoryTarget::Group(group),
        (None, None, None) => {
            return Err(CallError::Invalid("target, qq or group is required".to_owned()))
        }
    };
    Ok(Command::RoamingMessages { target, time_start: r.time_start, time_end: r.time_end })
}

fn nudge(c: &Value) -> Result<Command, CallError> {
    let n: Nudge = content(c)?;
    let kind = match n.kind.as_str() {
        "Friend" | "friend" => NudgeKind::Friend,
        "Stranger" | "stranger" => NudgeKind::Stranger,
        "Group" | "group" => NudgeKind::Group,
        other => return Err(CallError::Invalid(format!("unknown nudge kind {other:?}"))),
    };
    Ok(Command::SendNudge { target: n.target, subject: n.subject, kind })
}

fn respond(c: &Value, kind: RequestType) -> Result<Command, CallError> {
    let r: Respond = content(c)?;
    let answer = match (kind, r.operate) {
        (_, 0) => RequestAnswer::Accept,
        (RequestType::NewFriend, 1) | (RequestType::MemberJoin, 1) => {
            RequestAnswer::Reject { blacklist: false }
        }
        (RequestType::NewFriend, 2) | (RequestType::MemberJoin, 3) => {
            RequestAnswer::Reject { blacklist: true }
        }
        (RequestType::MemberJoin, 2) => RequestAnswer::Ignore { blacklist: false },
        (RequestType::MemberJoin, 4) => RequestAnswer::Ignore { blacklist: true },
        (RequestType::BotInvitedJoinGroup, _) => RequestAnswer::Reject { blacklist: false },
        (_, other) => return Err(CallError::Invalid(format!("unknown operate {other}"))),
    };
    Ok(Command::RespondRequest {
        kind,
        event_id: r.event_id,
        from_id: Some(r.from_id),
        group_id: Some(r.group_id),
        answer,
        message: r.message.unwrap_or_default(),
    })
}

fn id_list(v: &Value) -> Result<Vec<i64>, CallError> {
    let bad = || CallError::Invalid("memberIds must be a list of numbers".to_owned());
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => {
            items.iter().map(|i| lenient::int_from_value(i).ok_or_else(bad)).collect()
        }
        single => lenient::int_from_value(single).map(|i| vec![i]).ok_or_else(bad),
    }
}

fn send(c: &Value, kind: &str) -> Result<Command, CallError> {
    let s: Send = content(c)?;
    let target = match kind {
        "sendFriendMessage" => MessageTarget::Friend(
            s.target
                .or(s.qq)
                .ok_or_else(|| CallError::Invalid("target or qq is required".into()))?,
        ),
        "sendOtherClientMessage" => MessageTarget::OtherClient(
            s.target.ok_or_else(|| CallError::Invalid("target is required".into()))?,
        ),
        "sendGroupMessage" => MessageTarget::Group(
            s.target
                .or(s.group)
                .ok_or_else(|| CallError::Invalid("target or group is required".into()))?,
        ),
        _ => match (s.group, s.qq) {
            (Some(group), Some(member)) => MessageTarget::Temp { group, member },
            _ => return Err(CallError::Invalid("qq and group are both required".into())),
        },
    };
    let message =
        chain::decode(&s.message_chain, ChainDirection::Send).map_err(CallError::Invalid)?.segments;
    Ok(Command::SendMessage { target, message, quote: s.quote })
}

/// Decodes a command word with its subCommand and content.
pub fn decode(command: &str, sub_command: Option<&str>, c: &Value) -> Result<MiraiCall, CallError> {
    let bot = |cmd| Ok(MiraiCall::Bot(cmd));
    match command {
        "verify" => {
            // Unparsable content is an auth failure, as in mirai-api-http.
            let v: Verify = content(c)?;
            Ok(MiraiCall::Verify(VerifyContent {
                verify_key: v.verify_key,
                session_key: v.session_key,
                qq: v.qq,
            }))
        }
        "about" => Ok(MiraiCall::About),
        "botList" => Ok(MiraiCall::BotList),
        "sessionInfo" => Ok(MiraiCall::SessionInfo),
        "friendList" => bot(Command::FriendList),
        "groupList" => bot(Command::GroupList),
        "memberList" => {
            bot(Command::MemberList { group: content::<Target>(c)?.target, with_bot: false })
        }
        "botProfile" => bot(Command::BotProfile),
        "friendProfile" => bot(Command::FriendProfile { friend: content::<Target>(c)?.target }),
        "memberProfile" => {
            let t: TargetMember = content(c)?;
            bot(Command::MemberProfile { group: t.target, member: t.member_id })
        }
        "userProfile" => bot(Command::UserProfile { user: content::<Target>(c)?.target }),
        "messageFromId" => {
            let m: MessageRef = content(c)?;
            bot(Command::MessageFromId { context: m.target, message_id: m.message_id })
        }
        "recall" => {
            let m: MessageRef = content(c)?;
            bot(Command::Recall { context: m.target, message_id: m.message_id })
        }
        "sendFriendMessage" | "sendGroupMessage" | "sendTempMessage" | "sendOtherClientMessage" => {
            send(c, command).map(MiraiCall::Bot)
        }
        "roamingMessages" => roaming(c).map(MiraiCall::Bot),
        "sendNudge" => nudge(c).map(MiraiCall::Bot),
        "deleteFriend" => bot(Command::DeleteFriend { friend: content::<Target>(c)?.target }),
        "mute" => {
            let m: MuteDto = content(c)?;
            bot(Command::Mute { group: m.target, member: m.member_id, seconds: m.time })
        }
        "unmute" => {
            let m: MuteDto = content(c)?;
            bot(Command::Unmute { group: m.target, member: m.member_id })
        }
        "kick" => {
            let k: KickDto = content(c)?;
            bot(Command::Kick {
                group: k.target,
                member: k.member_id,
                block: k.block,
                message: k.msg.unwrap_or_default(),
            })
        }
        "quit" => bot(Command::Quit { group: content::<Target>(c)?.target }),
        "muteAll" => bot(Command::MuteAll { group: content::<Target>(c)?.target, enable: true }),
        "unmuteAll" => bot(Command::MuteAll { group: content::<Target>(c)?.target, enable: false }),
        "setEssence" => {
            let e: Essence = content(c)?;
            bot(Command::SetEssence { group: Some(e.target), message_id: e.message_id })
        }
        "groupConfig" => match sub_command {
            Some("get") => bot(Command::GetGroupConfig { group: content::<Target>(c)?.target }),
            Some("update") => {
                let g: GroupConfigSet = content(c)?;
                let update = GroupConfigUpdate {
                    name: g.config.name,
                    confess_talk: g.config.confess_talk,
                    allow_member_invite: g.config.allow_member_invite,
                    auto_approve: g.config.auto_approve,
                    anonymous_chat: g.config.anonymous_chat,
                    mute_all: g.config.mute_all,
                };
                bot(Command::UpdateGroupConfig { group: g.target, update })
            }
            _ => Err(CallError::Unsupported),
        },
        "memberInfo" => match sub_command {
            Some("get") => {
                let t: TargetMember = content(c)?;
                bot(Command::GetMemberInfo { group: t.target, member: t.member_id })
            }
            Some("update") => {
                let m: MemberInfoSet = content(c)?;
                bot(Command::UpdateMemberInfo {
                    group: m.target,
                    member: m.member_id,
                    card: m.info.name,
                    special_title: m.info.special_title,
                })
            }
            _ => Err(CallError::Unsupported),
        },
        "memberAdmin" => {
            let a: AdminDto = content(c)?;
            bot(Command::SetAdmin { group: a.target, member: a.member_id, assign: a.assign })
        }
        "anno_list" => {
            let a: AnnoList = content(c)?;
            bot(Command::ListAnnouncements {
                group: a.id,
                offset: a.offset.unwrap_or(0).max(0) as usize,
                size: a.size.map_or(usize::MAX, |s| s.max(0) as usize),
            })
        }
        "anno_publish" => {
            let a: AnnoPublish = content(c)?;
            bot(Command::PublishAnnouncement {
                group: a.target,
                content: a.content,
                pinned: a.pinned,
            })
        }
        "anno_delete" => {
            let a: AnnoDelete = content(c)?;
            bot(Command::DeleteAnnouncement { group: a.id, fid: a.fid })
        }
        "resp_newFriendRequestEvent" => respond(c, RequestType::NewFriend).map(MiraiCall::Bot),
        "resp_memberJoinRequestEvent" => respond(c, RequestType::MemberJoin).map(MiraiCall::Bot),
        "resp_botInvitedJoinGroupRequestEvent" => {
            respond(c, RequestType::BotInvitedJoinGroup).map(MiraiCall::Bot)
        }
        "latestMemberList" => {
            let l: LatestMembers = content(c)?;
            bot(Command::LatestMemberList { group: l.target, members: id_list(&l.member_ids)? })
        }
        _ => Err(CallError::Unsupported),
    }
}

/// The HTTP method a command is called with on the http adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// Parameters in the query.
    Get,
    /// Parameters in a JSON body.
    Post,
}

/// A command's route on the http adapter: `command` at `/` + the name with `_` → `/`, with
/// the subCommand the method implies (`groupConfig` GET = get, POST = update).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRoute {
    /// The ws command word.
    pub command: &'static str,
    /// The method.
    pub method: HttpMethod,
    /// The subCommand this method means.
    pub sub_command: Option<&'static str>,
    /// Whether the route needs a session (`about` and `botList` do not).
    pub needs_session: bool,
}

const fn route(command: &'static str, method: HttpMethod) -> HttpRoute {
    HttpRoute { command, method, sub_command: None, needs_session: true }
}

const fn sub_route(command: &'static str, method: HttpMethod, sub: &'static str) -> HttpRoute {
    HttpRoute { command, method, sub_command: Some(sub), needs_session: true }
}

/// Every command the http adapter serves, besides the session and queue endpoints.
pub const HTTP_ROUTES: &[HttpRoute] = &[
    HttpRoute {
        command: "about",
        method: HttpMethod::Get,
        sub_command: None,
        needs_session: false,
    },
    HttpRoute {
        command: "botList",
        method: HttpMethod::Get,
        sub_command: None,
        needs_session: false,
    },
    route("sessionInfo", HttpMethod::Get),
    route("messageFromId", HttpMethod::Get),
    route("friendList", HttpMethod::Get),
    route("groupList", HttpMethod::Get),
    route("memberList", HttpMethod::Get),
    route("botProfile", HttpMethod::Get),
    route("friendProfile", HttpMethod::Get),
    route("memberProfile", HttpMethod::Get),
    route("userProfile", HttpMethod::Get),
    route("sendFriendMessage", HttpMethod::Post),
    route("sendGroupMessage", HttpMethod::Post),
    route("sendTempMessage", HttpMethod::Post),
    route("sendOtherClientMessage", HttpMethod::Post),
    route("sendNudge", HttpMethod::Post),
    route("recall", HttpMethod::Post),
    route("roamingMessages", HttpMethod::Post),
    route("latestMemberList", HttpMethod::Get),
    route("deleteFriend", HttpMethod::Post),
    route("mute", HttpMethod::Post),
    route("unmute", HttpMethod::Post),
    route("kick", HttpMethod::Post),
    route("quit", HttpMethod::Post),
    route("muteAll", HttpMethod::Post),
    route("unmuteAll", HttpMethod::Post),
    route("setEssence", HttpMethod::Post),
    sub_route("groupConfig", HttpMethod::Get, "get"),
    sub_route("groupConfig", HttpMethod::Post, "update"),
    sub_route("memberInfo", HttpMethod::Get, "get"),
    sub_route("memberInfo", HttpMethod::Post, "update"),
    route("memberAdmin", HttpMethod::Post),
    route("anno_list", HttpMethod::Get),
    route("anno_publish", HttpMethod::Post),
    route("anno_delete", HttpMethod::Post),
    route("resp_newFriendRequestEvent", HttpMethod::Post),
    route("resp_memberJoinRequestEvent", HttpMethod::Post),
    route("resp_botInvitedJoinGroupRequestEvent", HttpMethod::Post),
];

/// The http path of a command: `/` + its name with `_` → `/` (`anno_list` → `/anno/list`).
pub fn http_path(command: &str) -> String {
    format!("/{}", command.replace('_', "/"))
}

fn list(items: Vec<Value>) -> Value {
    json!({ "code": 0, "msg": "", "data": items })
}

/// The `data` of a successful bot command, in the shape of the HTTP endpoint's body.
pub fn encode_output(out: &CommandOutput) -> Value {
    match out {
        CommandOutput::Done => StateCode::success().to_json(),
        CommandOutput::Friend(f) => json!({ "code": 0, "msg": "", "data": friend(f) }),
        CommandOutput::Friends(fs) => list(fs.iter().map(friend).collect()),
        CommandOutput::Groups(gs) => list(gs.iter().map(group).collect()),
        CommandOutput::GroupInfo(g, _) => json!({ "code": 0, "msg": "", "data": group(g) }),
        CommandOutput::Members(ms) => list(ms.iter().map(member).collect()),
        CommandOutput::Profile(p) => profile(p),
        CommandOutput::Message(m) => {
            json!({ "code": 0, "msg": "", "data": message_packet(m) })
        }
        CommandOutput::Sent { message_id } => {
            json!({ "code": 0, "msg": "success", "messageId": message_id })
        }
        CommandOutput::Messages(ms) => list(ms.iter().filter_map(|m| message_packet(m)).collect()),
        CommandOutput::GroupConfig(g) => group_config(g),
        CommandOutput::MemberInfo(m, active) => member_info(m, active),
        CommandOutput::Announcements(list_) => list(list_.iter().map(announcement).collect()),
        CommandOutput::Announcement(a) => json!({ "code": 0, "msg": "", "data": announcement(a) }),
        // mirai-api-http has no honour listing; no mirai command produces this.
        CommandOutput::Honors(holders) => list(
            holders.iter().map(|(m, h)| json!({ "member": member(m), "honors": h })).collect(),
        ),
        // mirai-api-http has no essence listing; no mirai command produces this.
        CommandOutput::Essences(items) => list(items.iter().map(|e| json!({
            "messageId": e.message_id, "senderId": e.sender_id, "senderTime": e.sender_time,
            "operatorId": e.operator_id, "operatorTime": e.operator_time,
        })).collect()),
    }
}

fn group_config(g: &GroupConfig) -> Value {
    json!({
        "name": g.name,
        "confessTalk": g.confess_talk,
        "allowMemberInvite": g.allow_member_invite,
        "autoApprove": g.auto_approve,
        "anonymousChat": g.anonymous_chat,
        "muteAll": g.mute_all,
    })
}

fn member_info(m: &Member, active: &MemberActive) -> Value {
    let mut v = member(m);
    v["active"] = json!({
        "rank": active.rank,
        "point": active.point,
        "honors": active.honors,
        "temperature": active.temperature,
    });
    v
}

fn announcement(a: &Announcement) -> Value {
    json!({
        "group": group(&a.group),
        "content": a.content,
        "senderId": a.sender_id,
        "fid": a.fid,
        "allConfirmed": a.all_confirmed,
        "confirmedMembersCount": a.confirmed_members_count,
        "publicationTime": a.publication_time,
    })
}

/// The `data` of a failed command: its state code.
pub fn encode_error(err: &BotError) -> Value {
    StateCode::from(err).to_json()
}

/// The `data` of `about`.
pub fn about() -> Value {
    json!({ "code": 0, "msg": "", "data": { "version": MIRAI_API_HTTP_VERSION } })
}

/// The `data` of `botList`.
pub fn bot_list(bots: &[UserId]) -> Value {
    json!({ "code": 0, "msg": "", "data": bots })
}

/// The `data` of `sessionInfo`.
pub fn session_info(session_key: &str, bot: &Friend) -> Value {
    json!({ "code": 0, "msg": "", "data": { "sessionKey": session_key, "qq": friend(bot) } })
}

/// The `data` of a successful verify: `{"code":0,"session":"…"}`.
pub fn verified(session_key: &str) -> Value {
    json!({ "code": 0, "session": session_key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Segment;

    #[test]
    fn send_group_message_accepts_target_or_group_and_numeric_strings() {
        let c = json!({"target":"30001","messageChain":[{"type":"Plain","text":"hi"}]});
        assert_eq!(
            decode("sendGroupMessage", None, &c).unwrap(),
            MiraiCall::Bot(Command::SendMessage {
                target: MessageTarget::Group(30001),
                message: vec![Segment::Text("hi".into())],
                quote: None,
            })
        );
        let c = json!({"group":30001,"quote":5,"messageChain":[]});
        assert!(matches!(
            decode("sendGroupMessage", None, &c).unwrap(),
            MiraiCall::Bot(Command::SendMessage { quote: Some(5), .. })
        ));
    }

    #[test]
    fn temp_message_needs_both_qq_and_group() {
        let c = json!({"qq":1,"messageChain":[]});
        assert!(matches!(decode("sendTempMessage", None, &c), Err(CallError::Invalid(_))));
    }

    #[test]
    fn missing_or_mistyped_content_is_400_and_unknown_commands_are_6() {
        assert_eq!(decode("memberList", None, &Value::Null).unwrap_err().state().code, 400);
        let bad = json!({"target":"abc"});
        assert_eq!(decode("memberList", None, &bad).unwrap_err().state().code, 400);
        assert_eq!(decode("noSuchCommand", None, &json!({})).unwrap_err().state().code, 6);
    }

    #[test]
    fn verify_accepts_nulls_and_string_qq() {
        let c = json!({"verifyKey":"k","sessionKey":null,"qq":"10001"});
        assert_eq!(
            decode("verify", None, &c).unwrap(),
            MiraiCall::Verify(VerifyContent {
                verify_key: Some("k".into()),
                session_key: None,
                qq: Some(10001)
            })
        );
    }

    #[test]
    fn http_paths_replace_underscores() {
        assert_eq!(http_path("anno_list"), "/anno/list");
        assert_eq!(http_path("resp_newFriendRequestEvent"), "/resp/newFriendRequestEvent");
        assert_eq!(http_path("friendList"), "/friendList");
    }

    #[test]
    fn outputs_have_the_http_body_shapes() {
        assert_eq!(encode_output(&CommandOutput::Done), json!({"code":0,"msg":"success"}));
        assert_eq!(
            encode_output(&CommandOutput::Sent { message_id: 7 }),
            json!({"code":0,"msg":"success","messageId":7})
        );
        assert_eq!(
            encode_output(&CommandOutput::Friends(vec![])),
            json!({"code":0,"msg":"","data":[]})
        );
        assert_eq!(about(), json!({"code":0,"msg":"","data":{"version":"2.10.0"}}));
        assert_eq!(bot_list(&[1, 2]), json!({"code":0,"msg":"","data":[1,2]}));
        assert_eq!(verified("abc"), json!({"code":0,"session":"abc"}));
    }
}
