//! Webhook pushes of a `transport: webhook` bot, journaled. The platform does not send a
//! push again once botgate acknowledged it, so a push is appended to the store's `outbound`
//! table (key `qqbot-webhook <app_id>`) before the acknowledgement, and deleted once the bot
//! has mapped it and handed it to its subscribers. Pushes a crash left there are processed
//! at the next start, once the bot is online (its destinations subscribed by then): an
//! acknowledged push is never lost — after a `kill -9` it may be delivered twice.

use actix::prelude::*;
use bytes::Bytes;
use log::{info, warn};

use super::super::Source;
use crate::bot::actor::BotActor;
use crate::cluster::commands::Request;
use crate::protocol::qqbot::payload::Payload;
use crate::store::{AckOutbound, AppendOutbound, LoadOutbound};

/// Pushes the journal keeps at most (the oldest go beyond; the platform retries nothing it
/// was told it has).
const JOURNAL_BOUND: usize = 10_000;

/// A webhook push for a `transport: webhook` bot, its signature already checked: the parsed
/// payload and the exact body, for the journal. Answered once the push is journaled (or, if
/// it cannot be, with why: the platform is then asked to retry).
#[derive(Message, Debug)]
#[rtype(result = "Result<(), String>")]
pub struct QqWebhookPush {
    /// The payload.
    pub payload: Payload,
    /// Its exact bytes.
    pub body: Bytes,
}

impl BotActor {
    fn journal_key(&mut self) -> String {
        format!("qqbot-webhook {}", self.qq().config.api.app_id)
    }

    fn process_push(&mut self, p: &Payload, ctx: &mut Context<Self>) {
        let t = p.t.clone().unwrap_or_default();
        self.on_dispatch(&t, &p.d, p.id.as_deref(), ctx);
    }

    /// Processes what an earlier run journaled and did not finish, oldest first.
    pub(super) fn replay_webhook_journal(&mut self, ctx: &mut Context<Self>) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let load = store.send(LoadOutbound { dest: self.journal_key() });
        ctx.wait(load.into_actor(self).map(move |result, act, ctx| {
            let items = match result {
                Ok(Ok(items)) => items,
                Ok(Err(e)) => {
                    return warn!("bot {}: reading the webhook journal: {e}", act.bot_id())
                }
                Err(e) => return warn!("bot {}: the store is unavailable: {e}", act.bot_id()),
            };
            if !items.is_empty() {
                info!(
                    "bot {}: {} acknowledged webhook pushes left by the last run processed",
                    act.bot_id(),
                    items.len()
                );
            }
            for item in items {
                match Payload::parse(&item.body) {
                    Ok(p) => act.process_push(&p, ctx),
                    Err(e) => warn!("bot {}: a journaled push is unreadable: {e}", act.bot_id()),
                }
                store.do_send(AckOutbound { seq: item.seq });
            }
        }));
    }
}

impl Handler<QqWebhookPush> for BotActor {
    type Result = ResponseActFuture<Self, Result<(), String>>;

    fn handle(&mut self, push: QqWebhookPush, ctx: &mut Self::Context) -> Self::Result {
        if !matches!(self.source, Source::QqBot(_)) {
            return Box::pin(fut::ready(Err("not a QQ official bot".to_owned())));
        }
        let body = || Request::WebhookPush(String::from_utf8_lossy(&push.body).into_owned());
        if let Some(forwarded) = self.forward(body) {
            // The platform reached a node that does not own the account: the owner takes it.
            return Box::pin(
                forwarded
                    .into_actor(self)
                    .map(|answer, _, _| answer.map(|_| ()).map_err(|e| e.to_string())),
            );
        }
        let Some(store) = self.store.clone() else {
            self.process_push(&push.payload, ctx);
            return Box::pin(fut::ready(Ok(())));
        };
        let append = store.send(AppendOutbound {
            dest: self.journal_key(),
            bound: JOURNAL_BOUND,
            items: vec![(self.bot_id(), push.body)],
        });
        let payload = push.payload;
        Box::pin(append.into_actor(self).map(move |result, act, ctx| {
            let seq = match result {
                Ok(Ok((seqs, _))) => seqs.first().copied(),
                Ok(Err(e)) => return Err(format!("not journaled: {e}")),
                Err(e) => return Err(format!("the store is unavailable: {e}")),
            };
            act.process_push(&payload, ctx);
            if let Some(seq) = seq {
                store.do_send(AckOutbound { seq });
            }
            Ok(())
        }))
    }
}
