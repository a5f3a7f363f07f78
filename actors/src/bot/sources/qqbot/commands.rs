//! Commands of a QQ official bot: sends and recalls through the OpenAPI, lists from what the
//! bot has heard, and a clear error for what the platform does not offer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use awc::http::Method;
use base64::Engine;
use serde_json::Value;

use crate::bot::actor::{BotActor, Reply};
use crate::bot::world::unix_now;
use crate::connection::qqbot_api::{ApiError, QqApi};
use crate::model::{
    BotError, Command, CommandOutput, Friend, MessageEvent, MessageKind, MessageSource,
    MessageTarget, Segment, UserId,
};
use crate::protocol::qqbot::dispatch::{ContactKey, IdMap, Scope};
use crate::protocol::qqbot::outgoing::{self, MediaData, Outgoing, PassiveFields};

/// Why the platform cannot do what a command asks, or `None` when it can.
fn unsupported(command: &Command) -> Option<&'static str> {
    Some(match command {
        Command::MemberList { .. } | Command::LatestMemberList { .. } => {
            "the QQ official platform lists no members of QQ groups (members are openids that \
             differ per group and bot)"
        }
        Command::Kick { .. } => "a bot on the QQ official platform cannot kick group members",
        Command::Mute { .. } | Command::Unmute { .. } | Command::MuteAll { .. } => {
            "a bot on the QQ official platform cannot mute members of QQ groups"
        }
        Command::SendMessage { target: MessageTarget::Temp { .. }, .. } => {
            "the QQ official platform has no temp sessions; reply in the group or C2C"
        }
        Command::SendMessage { target: MessageTarget::OtherClient(_), .. } => {
            "a QQ official bot has no other clients"
        }
        Command::RoamingMessages { .. } => {
            "the QQ official platform keeps no chat history for bots"
        }
        Command::SendNudge { .. } => "a bot on the QQ official platform cannot nudge",
        Command::RespondRequest { .. } => "the QQ official platform sends bots no requests",
        _ => return None,
    })
}

impl BotActor {
    /// Runs a command against the platform, or from what the bot has heard.
    pub(crate) fn run_qqbot(&mut self, command: Command, ctx: &mut Context<Self>) -> Reply {
        let qq = self.bot_id();
        if let Some(why) = unsupported(&command) {
            return Reply::Now(Err(BotError::Unsupported(why.into())));
        }
        let s = self.qq();
        let answer = match &command {
            Command::BotInfo => Ok(CommandOutput::Friend(Friend {
                id: qq,
                nickname: s.nickname.clone(),
                remark: String::new(),
            })),
            Command::FriendList => {
                Ok(CommandOutput::Friends(s.friends.values().cloned().collect()))
            }
            Command::GroupList => Ok(CommandOutput::Groups(s.groups.values().cloned().collect())),
            Command::GroupInfo { group } if s.groups.contains_key(group) => {
                Ok(CommandOutput::GroupInfo(s.group(*group), 0))
            }
            Command::GroupInfo { group } => Err(BotError::NoSuchElement(format!("group {group}"))),
            Command::MessageFromId { context, message_id } => {
                return self.cached_message(*context, *message_id);
            }
            Command::SendMessage { .. }
            | Command::SendChannelMessage { .. }
            | Command::Recall { .. } => {
                return self.qq_remote(command, ctx);
            }
            other => Err(BotError::Unsupported(format!(
                "{} is not available for a bot on the QQ official platform",
                command_name(other)
            ))),
        };
        Reply::Now(answer)
    }

    fn qq_remote(&mut self, command: Command, ctx: &mut Context<Self>) -> Reply {
        let qq = self.bot_id();
        let s = self.qq();
        if let Some(why) = &s.stopped {
            return Reply::Now(Err(BotError::Internal(format!("bot {qq} is stopped: {why}"))));
        }
        let Some(api) = s.api.clone() else {
            return Reply::Now(Err(BotError::Internal(format!("bot {qq} has not started"))));
        };
        match command {
            Command::SendMessage { target, message, quote } => {
                self.qq_send(api, target, message, quote, ctx)
            }
            Command::SendChannelMessage { channel_id, message, quote, .. } => {
                // A channel the bot heard from has a number; one it did not gets one now.
                let number = self.qq().ids.contact(&ContactKey::Channel(channel_id));
                self.persist_ids();
                self.qq_send(api, MessageTarget::Group(number), message, quote, ctx)
            }
            Command::Recall { context, message_id } => self.qq_recall(api, context, message_id),
            _ => Reply::Now(Err(BotError::Internal("not a remote command".into()))),
        }
    }

    fn qq_send(
        &mut self,
        api: QqApi,
        target: MessageTarget,
        message: Vec<Segment>,
        quote: Option<i32>,
        _: &mut Context<Self>,
    ) -> Reply {
        let s = self.qq();
        let (number, kind) = match target {
            MessageTarget::Group(n) => (n, "group"),
            MessageTarget::Friend(n) => (n, "friend"),
            _ => return Reply::Now(Err(BotError::Unsupported("no such target".into()))),
        };
        let scope = match (s.ids.contact_of(number), kind) {
            (Some(ContactKey::Group(id)), "group") => Scope::Group(id.clone()),
            (Some(ContactKey::Channel(id)), "group") => Scope::Channel(id.clone()),
            (Some(ContactKey::User(id)), "friend") => Scope::User(id.clone()),
            (Some(ContactKey::Direct(id)), "friend") => Scope::Direct(id.clone()),
            _ => return Reply::Now(Err(BotError::NoSuchElement(format!("{kind} {number}")))),
        };
        let ids = &s.ids;
        let mention = |n: UserId| match ids.contact_of(n) {
            Some(ContactKey::GuildUser(id)) => Some(id.clone()),
            _ => None,
        };
        let mut out = match outgoing::plan(&message, &scope, mention) {
            Ok(out) => out,
            Err(e) => return Reply::Now(Err(e)),
        };
        out.quote = out.quote.or(quote);
        let quoted = match out.quote {
            Some(q) => match s.ids.message_key(q) {
                Some(key) => Some(key.to_owned()),
                None => return Reply::Now(Err(BotError::NoSuchElement(format!("message {q}")))),
            },
            None => None,
        };
        if let (Some(key), Some(q)) = (&quoted, out.quote) {
            if !s.passive.knows(key) {
                // Quoting a message from before a restart: the store knows when it came.
                let sent_at = self.cache.get(Some(number), q).map(|(_, m)| m.source.time);
                if let Some(sent_at) = sent_at {
                    let age = Duration::from_secs(unix_now().saturating_sub(sent_at).max(0) as u64);
                    self.qq().passive.adopt(key, scope.clone(), age, Instant::now());
                }
            }
        }
        let s = self.qq();
        let fields = match s.passive.choose(&scope, quoted.as_deref(), Instant::now()) {
            Ok(f) => f,
            Err(e) => return Reply::Now(Err(e)),
        };
        let request = send_message(api, scope.clone(), out, fields.clone());
        Reply::Later(Box::pin(request.into_actor(self).map(move |answer, act, ctx| {
            let answer = answer.map_err(BotError::from)?;
            let platform_id = match answer.get("id") {
                Some(Value::String(id)) if !id.is_empty() => id.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(BotError::Internal(format!(
                        "the QQ official platform answered without a message id: {answer}"
                    )))
                }
            };
            act.qq().passive.replied(&fields);
            let message_id = act.qq().ids.message(&platform_id);
            act.persist_ids();
            act.remember_sent(number, &scope, message_id, message, quote);
            act.record_changes(ctx);
            Ok(CommandOutput::Sent { message_id })
        })))
    }

    /// Keeps a sent message in the cache, so clients can quote and recall it.
    fn remember_sent(
        &mut self,
        number: UserId,
        scope: &Scope,
        message_id: i32,
        mut message: Vec<Segment>,
        quote: Option<i32>,
    ) {
        let qq = self.bot_id();
        let s = self.qq();
        let kind = match scope {
            Scope::Group(_) | Scope::Channel(_) => {
                MessageKind::GroupSync { subject: s.group(number) }
            }
            Scope::User(_) | Scope::Direct(_) => MessageKind::FriendSync {
                subject: s.friends.get(&number).cloned().unwrap_or(Friend {
                    id: number,
                    nickname: String::new(),
                    remark: String::new(),
                }),
            },
        };
        if let Some(q) = quote {
            if let Some((_, origin)) = self.cache.get(Some(number), q) {
                let quoted = crate::model::Quote {
                    id: q,
                    sender_id: origin.kind.sender_id(qq),
                    target_id: number,
                    group_id: origin.kind.group().map_or(0, |g| g.id),
                    origin: origin.message.clone(),
                };
                message.insert(0, Segment::Quote(quoted));
            }
        }
        let sent = MessageEvent {
            kind,
            source: MessageSource { id: message_id, time: unix_now() },
            message,
        };
        self.cache.insert(number, Arc::new(sent));
    }

    fn qq_recall(&mut self, api: QqApi, context: Option<UserId>, message_id: i32) -> Reply {
        let Some((number, _)) = self.cache.get(context, message_id) else {
            return Reply::Now(Err(BotError::NoSuchElement(format!("message {message_id}"))));
        };
        let s = self.qq();
        let Some(platform_id) = s.ids.message_key(message_id).map(str::to_owned) else {
            return Reply::Now(Err(BotError::NoSuchElement(format!("message {message_id}"))));
        };
        let path = match s.ids.contact_of(number) {
            Some(ContactKey::Group(id)) => format!("/v2/groups/{id}/messages/{platform_id}"),
            Some(ContactKey::User(id)) => format!("/v2/users/{id}/messages/{platform_id}"),
            Some(ContactKey::Channel(id)) => {
                format!("/channels/{id}/messages/{platform_id}?hidetip=false")
            }
            Some(ContactKey::Direct(id)) => format!("/dms/{id}/messages/{platform_id}"),
            _ => return Reply::Now(Err(BotError::NoSuchElement(format!("contact {number}")))),
        };
        let request = async move { api.call(Method::DELETE, &path, None).await };
        Reply::Later(Box::pin(request.into_actor(self).map(move |answer, act, ctx| {
            answer.map_err(BotError::from)?;
            act.cache.remove(number, message_id);
            act.record_changes(ctx);
            Ok(CommandOutput::Done)
        })))
    }
}

/// Uploads the media (groups and C2C), then posts the message.
async fn send_message(
    api: QqApi,
    scope: Scope,
    out: Outgoing,
    fields: PassiveFields,
) -> Result<Value, ApiError> {
    let file_info = match (&out.media, outgoing::files_path(&scope)) {
        (Some((kind, data)), Some(path)) => {
            let data = match data {
                MediaData::Path(file) => {
                    let bytes = std::fs::read(file).map_err(|e| ApiError {
                        status: None,
                        code: None,
                        message: format!("cannot read {file}: {e}"),
                    })?;
                    MediaData::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
                other => other.clone(),
            };
            let answer =
                api.call(Method::POST, &path, Some(outgoing::upload_body(*kind, &data))).await?;
            match answer.get("file_info") {
                Some(info) if !info.is_null() => Some(info.clone()),
                _ => {
                    return Err(ApiError {
                        status: None,
                        code: None,
                        message: format!("the upload answered no file_info: {answer}"),
                    })
                }
            }
        }
        (Some((_, MediaData::Url(_))), None) | (None, _) => None,
        (Some(_), None) => {
            return Err(ApiError {
                status: None,
                code: None,
                message: "guild channels and direct messages take images by URL only".into(),
            })
        }
    };
    let body = outgoing::message_body(&scope, &out, file_info.as_ref(), &fields);
    api.call(Method::POST, &outgoing::messages_path(&scope), Some(body)).await
}

/// A command's name for error messages.
fn command_name(command: &Command) -> String {
    let debug = format!("{command:?}");
    debug.split([' ', '{', '(']).next().unwrap_or("this command").to_owned()
}
