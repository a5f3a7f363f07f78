//! mirai-api-http state codes (`{"code","msg"}`) and how [`BotError`] maps onto them.

use serde_json::{json, Value};

use crate::model::BotError;

/// A state code with its message, as every mirai error reply carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCode {
    /// The numeric code.
    pub code: i32,
    /// The message text, exactly as mirai-api-http words it.
    pub msg: String,
}

impl StateCode {
    fn new(code: i32, msg: impl Into<String>) -> Self {
        StateCode { code, msg: msg.into() }
    }

    /// 0: success.
    pub fn success() -> Self {
        Self::new(0, "success")
    }
    /// 1: wrong verifyKey.
    pub fn auth_key_fail() -> Self {
        Self::new(1, "Auth Key错误")
    }
    /// 2: the bot does not exist.
    pub fn no_bot() -> Self {
        Self::new(2, "指定Bot不存在")
    }
    /// 3: the session does not exist.
    pub fn illegal_session() -> Self {
        Self::new(3, "Session失效或不存在")
    }
    /// 4: the session exists but is not bound.
    pub fn not_verify_session() -> Self {
        Self::new(4, "Session未认证")
    }
    /// 5: the target object does not exist.
    pub fn no_element() -> Self {
        Self::new(5, "指定对象不存在")
    }
    /// 6: the operation is not supported.
    pub fn no_operate_support() -> Self {
        Self::new(6, "指定操作不支持")
    }
    /// 500: a command refused because its connection has `limit` commands running already.
    pub fn busy(limit: usize) -> Self {
        StateCode::new(
            500,
            format!(
                "too many commands in flight on this connection (limit {limit}); wait for replies"
            ),
        )
    }

    /// 400: invalid parameters.
    pub fn invalid_parameter() -> Self {
        Self::new(400, "无效参数")
    }

    /// The `{"code","msg"}` object.
    pub fn to_json(&self) -> Value {
        json!({ "code": self.code, "msg": self.msg })
    }
}

impl From<&BotError> for StateCode {
    fn from(err: &BotError) -> Self {
        match err {
            BotError::NoSuchBot => StateCode::no_bot(),
            BotError::NoSuchElement(_) => StateCode::no_element(),
            BotError::Unsupported(_) => StateCode::no_operate_support(),
            BotError::FileNotFound(path) => StateCode::new(6, format!("文件不存在：{path}")),
            BotError::PermissionDenied(_) => StateCode::new(10, "无操作权限"),
            BotError::LocalFileRefused(why) => StateCode::new(10, format!("无操作权限：{why}")),
            BotError::BotMuted => StateCode::new(20, "Bot被禁言"),
            BotError::MessageTooLarge => StateCode::new(30, "消息过长"),
            BotError::InvalidParameter(_) => StateCode::invalid_parameter(),
            BotError::Internal(msg) => StateCode::new(500, msg.clone()),
        }
    }
}

impl From<&crate::registry::SessionError> for StateCode {
    fn from(err: &crate::registry::SessionError) -> Self {
        use crate::registry::SessionError as E;
        match err {
            E::AuthKeyFail => StateCode::auth_key_fail(),
            E::NoBot => StateCode::no_bot(),
            E::IllegalSession => StateCode::illegal_session(),
            E::NotVerified => StateCode::not_verify_session(),
            E::MissingParameter => StateCode::invalid_parameter(),
            E::Unsupported => StateCode::no_operate_support(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_errors_map_to_mirai_codes_and_messages() {
        let cases = [
            (BotError::NoSuchBot, 2, "指定Bot不存在"),
            (BotError::NoSuchElement("group 1".into()), 5, "指定对象不存在"),
            (BotError::Unsupported("x".into()), 6, "指定操作不支持"),
            (BotError::FileNotFound("/a.png".into()), 6, "文件不存在：/a.png"),
            (BotError::PermissionDenied("x".into()), 10, "无操作权限"),
            (BotError::BotMuted, 20, "Bot被禁言"),
            (BotError::MessageTooLarge, 30, "消息过长"),
            (BotError::InvalidParameter("x".into()), 400, "无效参数"),
            (BotError::Internal("boom".into()), 500, "boom"),
        ];
        for (err, code, msg) in cases {
            let sc = StateCode::from(&err);
            assert_eq!(sc.to_json(), json!({"code": code, "msg": msg}), "{err:?}");
        }
    }
}
