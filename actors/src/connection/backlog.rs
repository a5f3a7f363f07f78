//! [`Backlog`]: what a WebSocket destination keeps for its server while it is away, in the
//! store's `outbound` table, so a restart does not lose it. The destination appends batches
//! while disconnected and, once its server is back, loads the backlog, writes it first and
//! acknowledges each item. One home for the bookkeeping the reverse WebSocket destinations
//! (mirai, OneBot) share: the append under way, the count in the store, what the bound drops.

use std::future::Future;

use actix::prelude::*;
use bytes::Bytes;

use crate::model::UserId;
use crate::store::{AckOutbound, AppendOutbound, LoadOutbound, OutboundItem, StoreActor};

/// The store's reply to an append: the rows and how many older ones the bound dropped.
pub type AppendReply = Result<Result<(Vec<i64>, usize), String>, MailboxError>;

/// A destination's durable backlog.
pub struct Backlog {
    store: Option<Addr<StoreActor>>,
    key: String,
    bound: usize,
    stored: usize,
    appending: usize,
    dropped: u64,
}

impl Backlog {
    /// The backlog of destination `key` in `store`, kept to `bound` items (the oldest go).
    pub fn new(store: Option<Addr<StoreActor>>, key: String, bound: usize) -> Self {
        Backlog { store, key, bound: bound.max(1), stored: 0, appending: 0, dropped: 0 }
    }

    /// Whether there is a store to keep a backlog in.
    pub fn durable(&self) -> bool {
        self.store.is_some()
    }

    /// Whether an append is under way (a load waits for it, so the order holds).
    pub fn appending(&self) -> bool {
        self.appending > 0
    }

    /// Items waiting in the store, the append under way included, within the bound.
    pub fn len(&self) -> usize {
        (self.stored + self.appending).min(self.bound)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items the bound dropped (counted when the append is made; it completes shortly).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Starts appending `items`; answers the store's reply to hand to [`Backlog::appended`].
    /// `None` without a store, or with nothing to append.
    pub fn append(
        &mut self,
        items: Vec<(UserId, Bytes)>,
    ) -> Option<impl Future<Output = AppendReply>> {
        let store = self.store.clone()?;
        if items.is_empty() {
            return None;
        }
        let n = items.len();
        self.dropped += (self.stored + n).saturating_sub(self.bound) as u64;
        self.appending = n;
        Some(store.send(AppendOutbound { dest: self.key.clone(), bound: self.bound, items }))
    }

    /// Takes the reply of the append under way; answers an error to log, if any.
    pub fn appended(&mut self, result: AppendReply) -> Option<String> {
        let n = std::mem::take(&mut self.appending);
        match result {
            Ok(Ok((_, dropped))) => {
                self.stored = (self.stored + n).saturating_sub(dropped);
                None
            }
            Ok(Err(e)) => Some(format!("not stored: {e}")),
            Err(e) => Some(format!("the store is unavailable: {e}")),
        }
    }

    /// Appends `items` at shutdown, after any append under way (the store answers in
    /// order), and resolves once they are written; a failure is logged.
    pub fn shelve(&mut self, items: Vec<(UserId, Bytes)>) -> impl Future<Output = ()> {
        let store = self.store.clone().filter(|_| !items.is_empty());
        let n = items.len();
        self.stored += n;
        let (key, bound) = (self.key.clone(), self.bound);
        async move {
            let Some(store) = store else {
                return;
            };
            match store.send(AppendOutbound { dest: key.clone(), bound, items }).await {
                Ok(Ok(_)) => log::info!("{key}: {n} waiting events stored for the next run"),
                Ok(Err(e)) => log::warn!("{key}: {n} events not stored at shutdown: {e}"),
                Err(e) => log::warn!("{key}: {n} events not stored at shutdown: {e}"),
            }
        }
    }

    /// Loads the backlog, oldest first (empty without a store or on an error).
    pub fn load(&self) -> impl Future<Output = Vec<OutboundItem>> {
        let load =
            self.store.clone().map(|store| store.send(LoadOutbound { dest: self.key.clone() }));
        async move {
            match load {
                Some(request) => match request.await {
                    Ok(Ok(items)) => items,
                    Ok(Err(e)) => {
                        log::warn!("backlog: reading failed: {e}");
                        Vec::new()
                    }
                    Err(e) => {
                        log::warn!("backlog: the store is unavailable: {e}");
                        Vec::new()
                    }
                },
                None => Vec::new(),
            }
        }
    }

    /// Notes what a load found (at start-up).
    pub fn found(&mut self, items: usize) {
        self.stored = items;
    }

    /// Writes loaded `items` of bot `bot` to the server with `write`, oldest first, until a
    /// write fails (the rest stays stored); items of another bot, or not text, leave the
    /// store unwritten. Answers how many were written.
    pub fn replay(
        &mut self,
        items: Vec<OutboundItem>,
        bot: Option<UserId>,
        mut write: impl FnMut(bytestring::ByteString) -> bool,
    ) -> usize {
        let mut written = 0;
        for item in items {
            if Some(item.bot) == bot {
                if let Ok(text) = bytestring::ByteString::try_from(item.body) {
                    if !write(text) {
                        break;
                    }
                    written += 1;
                }
            }
            self.done(item.seq);
        }
        written
    }

    /// An item was written to the server (or dropped for good): it leaves the store.
    pub fn done(&mut self, seq: i64) {
        if let Some(store) = &self.store {
            store.do_send(AckOutbound { seq });
        }
        self.stored = self.stored.saturating_sub(1);
    }
}
