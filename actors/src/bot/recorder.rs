//! Writes a bot's message changes (from its cache's journal) to the store in batches: one
//! batch in flight at a time, the next holding whatever arrived meanwhile, so a busy bot
//! writes big transactions instead of queueing one per message. The batch waiting to be
//! written is bounded by backpressure: once it holds [`BACKPRESSURE`] changes the bot waits
//! for the store to take them before it handles anything else, so a flood of sends or
//! events slows to what the store writes instead of queueing without bound or dropping.

use std::time::Duration;

use actix::prelude::*;
use log::warn;

use super::actor::BotActor;
use crate::log_throttle::LogThrottle;
use crate::store::{MessageChange, MessageStore, RecordMessages};

/// Changes waiting past which the bot waits for the store. The store writes behind the event
/// and command paths (the more so at background priority), so on a busy machine it lags;
/// this is how far. A change holds its message (shared with the cache while the cache has
/// it): 200,000 are some 80 MB at most.
const BACKPRESSURE: usize = 200_000;

/// A line each time the bot waits for its store would be one per batch during a flood.
static WAITS: LogThrottle = LogThrottle::new(Duration::from_secs(10));

/// A bot's link to its message store.
pub(super) struct Recorder {
    store: Option<Addr<MessageStore>>,
    pending: Vec<MessageChange>,
    writing: usize,
}

impl Recorder {
    /// Records into `store`; `None` records nothing (the cache alone resolves ids).
    pub(super) fn new(store: Option<Addr<MessageStore>>) -> Self {
        Recorder { store, pending: Vec::new(), writing: 0 }
    }

    /// The store, when there is one.
    pub(super) fn store(&self) -> Option<&Addr<MessageStore>> {
        self.store.as_ref()
    }

    fn push(&mut self, changes: Vec<MessageChange>) {
        if self.store.is_some() {
            self.pending.extend(changes);
        }
    }
}

/// Whether the bot goes on while a batch is written, or waits for it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// The write runs beside the bot's other work.
    Beside,
    /// The bot handles nothing else until the store has the batch.
    Wait,
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
        self.recorder.push(changes);
        if self.recorder.pending.len() >= BACKPRESSURE {
            crate::warn_throttled!(
                WAITS,
                "bot {bot}: its store is {} message changes behind; the bot waits for it",
                self.recorder.pending.len()
            );
            self.send_pending(ctx, Pace::Wait);
        } else {
            self.flush_store(ctx);
        }
    }

    fn flush_store(&mut self, ctx: &mut Context<Self>) {
        if self.recorder.writing == 0 {
            self.send_pending(ctx, Pace::Beside);
        }
    }

    /// Sends what is pending now, even while a batch is being written: a lookup sent after
    /// it then sees every change (the store handles its mailbox in order).
    pub(super) fn write_pending(&mut self, ctx: &mut Context<Self>) {
        self.send_pending(ctx, Pace::Beside);
    }

    /// [`Self::write_pending`] at a pace: a bot that waits for this batch waits for the one
    /// before it too.
    fn send_pending(&mut self, ctx: &mut Context<Self>, pace: Pace) {
        let bot = self.bot_id();
        let recorder = &mut self.recorder;
        let Some(store) = recorder.store.as_ref() else {
            return;
        };
        if recorder.pending.is_empty() {
            return;
        }
        recorder.writing += 1;
        let changes = std::mem::take(&mut recorder.pending);
        // Sent from the borrowed address: a clone of it would allocate twice per batch.
        let write = store.send(RecordMessages { bot, changes });
        let written = write.into_actor(self).map(move |result, act, ctx| {
            act.recorder.writing -= 1;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!("bot {bot}: storing messages failed: {e}"),
                Err(e) => warn!("bot {bot}: the store is unavailable: {e}"),
            }
            act.flush_store(ctx);
        });
        match pace {
            Pace::Beside => {
                ctx.spawn(written);
            }
            Pace::Wait => ctx.wait(written),
        }
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
        let changes = self.cache.take_changes();
        self.recorder.push(changes);
        self.write_pending(ctx);
        let store = self.recorder.store().cloned();
        Box::pin(async move {
            // The store takes its mailbox in order and writes everything queued before it
            // answers a barrier: the answer comes after the write.
            if let Some(store) = store {
                let _ = store.send(crate::store::Barrier).await;
            }
        })
    }
}
