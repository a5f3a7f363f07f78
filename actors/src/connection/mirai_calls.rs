//! Running a decoded mirai call for a session: one implementation for every mirai adapter
//! (reverse-ws, forward ws, http, webhook), answering the `data` each of them sends back.

use actix::Addr;
use futures_util::future::LocalBoxFuture;
use serde_json::Value;

use crate::bot::Execute;
use crate::model::{BotError, Command, CommandOutput, UserId};
use crate::protocol::mirai::command::{self as mirai_command, MiraiCall};
use crate::protocol::mirai::state::StateCode;
use crate::registry::{BoundSession, ListBots, SessionRegistry};

/// Runs `call` for `session` (`None` before authentication, when only `about` and `botList`
/// make sense) and answers the response's `data`.
///
/// The request to the bot (or the registry) is sent here, from borrows, and the future only
/// awaits its answer: a command costs no clone of the session's or the registry's address
/// (each clone of an actix address allocates twice), and what the future holds is what it
/// needs.
pub fn run(
    call: MiraiCall,
    session: Option<&BoundSession>,
    registry: &Addr<SessionRegistry>,
) -> LocalBoxFuture<'static, Value> {
    match call {
        MiraiCall::About => ready(mirai_command::about()),
        // Authentication has its own path on every adapter; once authenticated it is unsupported.
        MiraiCall::Verify(_) => ready(StateCode::no_operate_support().to_json()),
        MiraiCall::BotList => {
            let bots = registry.send(ListBots);
            Box::pin(async move {
                match bots.await {
                    Ok(bots) => {
                        let ids: Vec<UserId> = bots.into_iter().map(|(id, _)| id).collect();
                        mirai_command::bot_list(&ids)
                    }
                    Err(e) => unavailable(e),
                }
            })
        }
        MiraiCall::SessionInfo => {
            let Some(session) = session else {
                return ready(StateCode::not_verify_session().to_json());
            };
            let (key, info) = (session.key.clone(), session.bot.send(Execute(Command::BotInfo)));
            Box::pin(async move {
                match info.await {
                    Ok(Ok(CommandOutput::Friend(bot))) => mirai_command::session_info(&key, &bot),
                    Ok(Ok(other)) => unexpected(other),
                    Ok(Err(e)) => mirai_command::encode_error(&e),
                    Err(e) => unavailable(e),
                }
            })
        }
        MiraiCall::Bot(command) => {
            let Some(session) = session else {
                return ready(StateCode::not_verify_session().to_json());
            };
            let timer = crate::metrics::command_timer("mirai", command.name());
            let done = session.bot.send(Execute(command));
            Box::pin(async move {
                let data = match done.await {
                    Ok(Ok(out)) => mirai_command::encode_output(&out),
                    Ok(Err(e)) => mirai_command::encode_error(&e),
                    Err(e) => unavailable(e),
                };
                drop(timer);
                data
            })
        }
    }
}

/// An answer known at once.
fn ready(data: Value) -> LocalBoxFuture<'static, Value> {
    Box::pin(std::future::ready(data))
}

fn unavailable(e: actix::MailboxError) -> Value {
    mirai_command::encode_error(&BotError::Internal(format!("actor unavailable: {e}")))
}

fn unexpected(out: CommandOutput) -> Value {
    mirai_command::encode_error(&BotError::Internal(format!("unexpected answer {out:?}")))
}
