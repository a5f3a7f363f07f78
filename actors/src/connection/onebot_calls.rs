//! Running a decoded OneBot action for a bot: one implementation for every OneBot adapter
//! (HTTP API, forward ws, reverse ws), answering the response envelope.

use actix::Addr;
use serde_json::Value;

use crate::bot::{BotActor, Execute};
use crate::model::UserId;
use crate::protocol::onebot::action::{self, ActionError, OneBotCall};

/// Decodes and runs `action` with `params` for bot `qq`; answers the envelope with `echo`.
pub async fn run(
    action: &str,
    params: &Value,
    echo: Option<&Value>,
    bot: &Addr<BotActor>,
    qq: UserId,
    unknown_retcode: i64,
) -> Value {
    let call = match action::decode(action, params) {
        Ok(call) => call,
        Err(ActionError::Unknown(name)) => {
            log::debug!("OneBot action {name:?} is not supported");
            return action::failed(unknown_retcode, &format!("API不存在: {name}"), echo);
        }
        Err(ActionError::BadParams(why)) => return action::failed(100, &why, echo),
    };
    match call {
        OneBotCall::Fixed(data) => action::ok(data, echo),
        OneBotCall::Bot(command, shape) => match bot.send(Execute(command)).await {
            Ok(Ok(out)) => action::ok(action::encode_output(qq, shape, &out), echo),
            Ok(Err(e)) => {
                let (code, msg) = action::retcode(&e);
                action::failed(code, &msg, echo)
            }
            Err(e) => action::failed(200, &format!("bot unavailable: {e}"), echo),
        },
    }
}
