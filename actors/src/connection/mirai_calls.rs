//! Running a decoded mirai call for a session: one implementation for every mirai adapter
//! (reverse-ws, forward ws, http, webhook), answering the `data` each of them sends back.

use actix::Addr;
use serde_json::Value;

use crate::bot::Execute;
use crate::model::{BotError, Command, CommandOutput, UserId};
use crate::protocol::mirai::command::{self as mirai_command, MiraiCall};
use crate::protocol::mirai::state::StateCode;
use crate::registry::{BoundSession, ListBots, SessionRegistry};

/// Runs `call` for `session` (`None` before authentication, when only `about` and `botList`
/// make sense) and answers the response's `data`.
pub async fn run(
    call: MiraiCall,
    session: Option<BoundSession>,
    registry: Addr<SessionRegistry>,
) -> Value {
    match call {
        MiraiCall::About => mirai_command::about(),
        // Authentication has its own path on every adapter; once authenticated it is unsupported.
        MiraiCall::Verify(_) => StateCode::no_operate_support().to_json(),
        MiraiCall::BotList => match registry.send(ListBots).await {
            Ok(bots) => {
                let ids: Vec<UserId> = bots.into_iter().map(|(id, _)| id).collect();
                mirai_command::bot_list(&ids)
            }
            Err(e) => unavailable(e),
        },
        MiraiCall::SessionInfo => {
            let Some(session) = session else {
                return StateCode::not_verify_session().to_json();
            };
            match session.bot.send(Execute(Command::BotInfo)).await {
                Ok(Ok(CommandOutput::Friend(bot))) => {
                    mirai_command::session_info(&session.key, &bot)
                }
                Ok(Ok(other)) => unexpected(other),
                Ok(Err(e)) => mirai_command::encode_error(&e),
                Err(e) => unavailable(e),
            }
        }
        MiraiCall::Bot(command) => {
            let Some(session) = session else {
                return StateCode::not_verify_session().to_json();
            };
            let _timer = crate::metrics::command_timer("mirai", command.name());
            match session.bot.send(Execute(command)).await {
                Ok(Ok(out)) => mirai_command::encode_output(&out),
                Ok(Err(e)) => mirai_command::encode_error(&e),
                Err(e) => unavailable(e),
            }
        }
    }
}

fn unavailable(e: actix::MailboxError) -> Value {
    mirai_command::encode_error(&BotError::Internal(format!("actor unavailable: {e}")))
}

fn unexpected(out: CommandOutput) -> Value {
    mirai_command::encode_error(&BotError::Internal(format!("unexpected answer {out:?}")))
}
