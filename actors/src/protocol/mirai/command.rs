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
use crate::model::{BotError, Command, CommandOutput, Friend, MessageTarget, UserId};
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

fn send(c: &Value, kind: &str) -> Result<Command, CallError> {
    let s: Send = content(c)?;
    let target = match kind {
        "sendFriendMessage" => MessageTarget::Friend(
            s.target
                .or(s.qq)
                .ok_or_else(|| CallError::Invalid("target or qq is required".into()))?,
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
    let message = chain::decode(&s.message_chain, ChainDirection::Send)
        .map_err(CallError::Invalid)?
        .segments;
    Ok(Command::SendMessage {
        target,
        message,
        quote: s.quote,
    })
}

/// Decodes a command word with its subCommand and content.
pub fn decode(command: &str, sub_command: Option<&str>, c: &Value) -> Result<MiraiCall, CallError> {
    let _ = sub_command; // used by groupConfig / memberInfo, which come with the full surface
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
        "memberList" => bot(Command::MemberList {
            group: content::<Target>(c)?.target,
        }),
        "botProfile" => bot(Command::BotProfile),
        "friendProfile" => bot(Command::FriendProfile {
            friend: content::<Target>(c)?.target,
        }),
        "memberProfile" => {
            let t: TargetMember = content(c)?;
            bot(Command::MemberProfile {
                group: t.target,
                member: t.member_id,
            })
        }
        "userProfile" => bot(Command::UserProfile {
            user: content::<Target>(c)?.target,
        }),
        "messageFromId" => {
            let m: MessageRef = content(c)?;
            bot(Command::MessageFromId {
                context: m.target,
                message_id: m.message_id,
            })
        }
        "recall" => {
            let m: MessageRef = content(c)?;
            bot(Command::Recall {
                context: m.target,
                message_id: m.message_id,
            })
        }
        "sendFriendMessage" | "sendGroupMessage" | "sendTempMessage" => {
            send(c, command).map(MiraiCall::Bot)
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
    HttpRoute {
        command,
        method,
        sub_command: None,
        needs_session: true,
    }
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
    route("recall", HttpMethod::Post),
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
        CommandOutput::Members(ms) => list(ms.iter().map(member).collect()),
        CommandOutput::Profile(p) => profile(p),
        CommandOutput::Message(m) => {
            json!({ "code": 0, "msg": "", "data": message_packet(m) })
        }
        CommandOutput::Sent { message_id } => {
            json!({ "code": 0, "msg": "success", "messageId": message_id })
        }
    }
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
        assert!(matches!(
            decode("sendTempMessage", None, &c),
            Err(CallError::Invalid(_))
        ));
    }

    #[test]
    fn missing_or_mistyped_content_is_400_and_unknown_commands_are_6() {
        assert_eq!(
            decode("memberList", None, &Value::Null)
                .unwrap_err()
                .state()
                .code,
            400
        );
        let bad = json!({"target":"abc"});
        assert_eq!(
            decode("memberList", None, &bad).unwrap_err().state().code,
            400
        );
        assert_eq!(
            decode("noSuchCommand", None, &json!({}))
                .unwrap_err()
                .state()
                .code,
            6
        );
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
        assert_eq!(
            http_path("resp_newFriendRequestEvent"),
            "/resp/newFriendRequestEvent"
        );
        assert_eq!(http_path("friendList"), "/friendList");
    }

    #[test]
    fn outputs_have_the_http_body_shapes() {
        assert_eq!(
            encode_output(&CommandOutput::Done),
            json!({"code":0,"msg":"success"})
        );
        assert_eq!(
            encode_output(&CommandOutput::Sent { message_id: 7 }),
            json!({"code":0,"msg":"success","messageId":7})
        );
        assert_eq!(
            encode_output(&CommandOutput::Friends(vec![])),
            json!({"code":0,"msg":"","data":[]})
        );
        assert_eq!(
            about(),
            json!({"code":0,"msg":"","data":{"version":"2.10.0"}})
        );
        assert_eq!(bot_list(&[1, 2]), json!({"code":0,"msg":"","data":[1,2]}));
        assert_eq!(verified("abc"), json!({"code":0,"session":"abc"}));
    }
}
