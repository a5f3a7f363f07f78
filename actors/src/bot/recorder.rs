//! Writes a bot's message changes (from its cache's journal) to the store in batches: one
//! batch in flight at a time, the next holding whatever arrived meanwhile, so a busy bot
//! writes big transactions instead of queueing one per message. The batch waiting to be
//! written is bounded; past the bound the oldest changes are dropped, counted and logged
//! (ids then resolve only while the cache has them).

use std::collections::VecDeque;
use std::time::Duration;

use actix::prelude::*;
use log::warn;

use super::actor::BotActor;
use crate::log_throttle::LogThrottle;
use crate::model::UserId;
use crate::store::{MessageChange, RecordMessages, StoreActor};

/// The most changes waiting while a batch is being written.
const MAX_PENDING: usize = 200_000;

/// While the store falls behind every change dropped would be a line; the total is in each.
static FALLS_BEHIND: LogThrottle = LogThrottle::new(Duration::from_secs(10));

/// A bot's link to the store's `messages` table.
pub(super) struct Recorder {
    store: Option<Addr<StoreActor>>,
    /// Oldest first; a queue, because past the bound each change pushed drops the oldest.
    pending: VecDeque<MessageChange>,
    writing: usize,
    dropped: u64,
}

impl Recorder {
    /// Records into `store`; `None` records nothing (the cache alone resolves ids).
    pub(super) fn new(store: Option<Addr<StoreActor>>) -> Self {
        Recorder { store, pending: VecDeque::new(), writing: 0, dropped: 0 }
    }

    /// The store, when there is one.
    pub(super) fn store(&self) -> Option<&Addr<StoreActor>> {
        self.store.as_ref()
    }

    fn push(&mut self, bot: UserId, changes: Vec<MessageChange>) {
        if self.store.is_none() || changes.is_empty() {
            return;
        }
        self.pending.extend(changes);
        if self.pending.len() > MAX_PENDING {
            let excess = self.pending.len() - MAX_PENDING;
            self.pending.drain(..excess);
            self.dropped += excess as u64;
            crate::warn_throttled!(
                FALLS_BEHIND,
                "bot {bot}: the store falls behind; {} message changes not stored so far",
                self.dropped
            );
        }
    }
}

impl BotActor {
    /// Takes what the cache journaled and writes it, unless a batch is being written (then
    /// it goes with the next one).
    pub(super) fn record_changes(&mut self, ctx: &mut Context<Self>) {
        let bot = self.bot_id();
        let changes = self.cache.take_changes();
        if self.replicating() && !changes.is_empty() {
            // In a cluster the owner's changes reach the other nodes' stores too.
            self.replicate(crate::cluster::events::Replica::Messages(changes.clone()));
        }
        self.recorder.push(bot, changes);
        self.flush_store(ctx);
    }

    fn flush_store(&mut self, ctx: &mut Context<Self>) {
        if self.recorder.writing == 0 {
            self.write_pending(ctx);
        }
    }

    /// Sends what is pending now, even while a batch is being written: a lookup sent after
    /// it then sees every change (the store handles its mailbox in order).
    pub(super) fn write_pending(&mut self, ctx: &mut Context<Self>) {
        let bot = self.bot_id();
        let recorder = &mut self.recorder;
        let Some(store) = recorder.store.clone() else {
            return;
        };
        if recorder.pending.is_empty() {
            return;
        }
        recorder.writing += 1;
        let changes = Vec::from(std::mem::take(&mut recorder.pending));
        let write = store.send(RecordMessages { bot, changes });
        ctx.spawn(write.into_actor(self).map(move |result, act, ctx| {
            act.recorder.writing -= 1;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!("bot {bot}: storing messages failed: {e}"),
                Err(e) => warn!("bot {bot}: the store is unavailable: {e}"),
            }
            act.flush_store(ctx);
        }));
    }
}

/// Writes what the bot has not stored yet and answers once the store has it (a shutdown
/// waits for this, so a SIGTERM loses no message).
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Flush;

impl actix::Handler<Flush> for BotActor {
    type Result = actix::ResponseFuture<()>;

    fn handle(&mut self, _: Flush, ctx: &mut Context<Self>) -> Self::Result {
        let bot = self.bot_id();
        let changes = self.cache.take_changes();
        self.recorder.push(bot, changes);
        self.write_pending(ctx);
        let store = self.recorder.store().cloned();
        Box::pin(async move {
            // The store takes its mailbox in order: an answer to this comes after the write.
            if let Some(store) = store {
                let _ = store.send(crate::store::StoredCount { bot }).await;
            }
        })
    }
}
