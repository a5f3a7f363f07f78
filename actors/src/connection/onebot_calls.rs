//! Running a decoded OneBot action for a bot: one implementation for every OneBot adapter
//! (HTTP API, forward ws, reverse ws), answering the response envelope.

use actix::Addr;
use serde_json::Value;

use crate::bot::{BotActor, Execute, ForwardAction};
use crate::model::{BotError, UserId};
use crate::protocol::onebot::action::{self, ActionError, Envelope, OneBotCall};
use crate::protocol::onebot::{decode, quick};

/// Decodes and runs `action` with `params` for bot `qq`; answers the envelope with `echo`.
pub async fn run(
    action: &str,
    params: &Value,
    echo: Option<&Value>,
    bot: &Addr<BotActor>,
    qq: UserId,
    unknown_retcode: i64,
) -> Envelope {
    if action.strip_suffix("_async").unwrap_or(action) == ".handle_quick_operation" {
        return quick_operation(params, echo, bot).await;
    }
    let call = match action::decode(action, params) {
        Ok(call) => call,
        Err(ActionError::Unknown(name)) => {
            // A bot held by a OneBot implementation gets the action as it came (NapCat has
            // over a hundred extension actions); its reply comes back as the implementation
            // wrote it, with this client's echo.
            let forward = ForwardAction { action: name.clone(), params: params.clone() };
            let reply = match bot.send(forward).await {
                Ok(Ok(mut reply)) => {
                    if let Value::Object(fields) = &mut reply {
                        match echo {
                            Some(e) => fields.insert("echo".to_owned(), e.clone()),
                            None => fields.remove("echo"),
                        };
                    }
                    reply
                }
                Ok(Err(BotError::Unsupported(_))) => {
                    log::debug!("OneBot action {name:?} is not supported");
                    action::failed(unknown_retcode, &format!("API不存在: {name}"), echo)
                }
                Ok(Err(e)) => {
                    let (code, msg) = action::retcode(&e);
                    action::failed(code, &msg, echo)
                }
                Err(e) => action::failed(200, &format!("bot unavailable: {e}"), echo),
            };
            return reply.into();
        }
        Err(ActionError::BadParams(why)) => return action::failed(100, &why, echo).into(),
    };
    match call {
        OneBotCall::Fixed(data) => Envelope::ok(data, echo),
        OneBotCall::Bot(command, shape) => {
            let _timer = crate::metrics::command_timer("onebot", command.name());
            match bot.send(Execute(command)).await {
                Ok(Ok(out)) => Envelope::ok(action::encode_output(qq, shape, &out), echo),
                Ok(Err(e)) => {
                    let (code, msg) = action::retcode(&e);
                    action::failed(code, &msg, echo).into()
                }
                Err(e) => action::failed(200, &format!("bot unavailable: {e}"), echo).into(),
            }
        }
    }
}

/// A heartbeat meta event of bot `qq` every `every`, its `status.online` the bot's own (false
/// while a platform source's link is down).
pub async fn heartbeat(bot: Addr<BotActor>, qq: UserId, every: std::time::Duration) -> Value {
    let online = bot.send(crate::bot::GetStatus).await.is_ok_and(|s| s.online);
    crate::protocol::onebot::event::heartbeat(
        qq,
        crate::bot::unix_now(),
        online,
        every.as_millis() as u64,
    )
}

/// `.handle_quick_operation`: `params.context` is the event, `params.operation` the quick
/// operation, as an HTTP POST endpoint would have answered it.
async fn quick_operation(params: &Value, echo: Option<&Value>, bot: &Addr<BotActor>) -> Envelope {
    let commands = params
        .get("context")
        .ok_or_else(|| "context is required".to_owned())
        .and_then(decode::decode_event)
        .and_then(|event| quick::commands(&event, params.get("operation").unwrap_or(&Value::Null)));
    let commands = match commands {
        Ok(c) => c,
        Err(why) => return action::failed(100, &why, echo).into(),
    };
    for command in commands {
        match bot.send(Execute(command)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                let (code, msg) = action::retcode(&e);
                return action::failed(code, &msg, echo).into();
            }
            Err(e) => return action::failed(200, &format!("bot unavailable: {e}"), echo).into(),
        }
    }
    Envelope::ok(Value::Null, echo)
}
