//! Durable feeds: how an outbound destination of a cluster reads a bot's events. Its position
//! — where the next undelivered event is: a stream message's sequence and an index in its
//! batch — is a key of the JetStream key-value bucket `botgate_positions`, written by
//! revision-checked updates after delivery. A feed
//! reads the bot's subject with an ordered consumer from the position onwards (gap-free and
//! in order, across NATS restarts), so a destination's next owner continues after the last
//! event its previous owner delivered: none lost, none twice.
//!
//! The feed waits while the destination's outbox is full (the stream holds what it has not
//! read), so a server away for long loses nothing to the outbox's bound.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use log::{debug, info, warn};
use tokio::sync::{mpsc, oneshot};

use super::events::{follow, stream};
use super::{ClusterError, ClusterLink};
use crate::bot::EventOutbox;
use crate::model::{Receipt, SharedEvent, StreamPosition, UserId};
use crate::outbox::Delivery;

/// The key-value bucket of destinations' positions.
pub const BUCKET: &str = "botgate_positions";

/// How long the feed waits before following again after its consumer failed.
const RETRY: Duration = Duration::from_millis(500);

/// How soon a stopping feed writes its last position again when NATS did not take it.
const FINISH_RETRY: Duration = Duration::from_millis(50);

/// How often a feed whose outbox is full looks again.
const FULL_POLL: Duration = Duration::from_millis(5);

/// The most events a feed hands its destination beyond the recorded position. A destination
/// owner killed with `kill -9` has written at most these without recording them, and its
/// next owner delivers them again: the bound on repeats (the protocols have no
/// acknowledgement that would make a kill exact).
pub const WINDOW: usize = 128;

/// Where a destination is in a bot's events: every event before (stream sequence, index in
/// that message's batch) is delivered. Ordered as the events are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// The stream message.
    pub sequence: u64,
    /// The first undelivered event in its batch.
    pub index: usize,
}

impl Position {
    fn encode(self) -> Bytes {
        Bytes::from(format!("{}:{}", self.sequence, self.index))
    }

    fn decode(value: &[u8]) -> Option<Position> {
        let (sequence, index) = std::str::from_utf8(value).ok()?.split_once(':')?;
        Some(Position { sequence: sequence.parse().ok()?, index: index.parse().ok()? })
    }
}

/// A running feed; [`Feed::stop`] ends it after recording the last delivered position.
pub struct Feed {
    stop: Option<oneshot::Sender<oneshot::Sender<()>>>,
}

impl Feed {
    /// Stops reading and records the position of everything delivered so far; returns once
    /// recorded, so the destination's next owner starts right after it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let (done, recorded) = oneshot::channel();
            if stop.send(done).is_ok() {
                let _ = recorded.await;
            }
        }
    }
}

/// The position key of destination `name` for bot `bot`.
fn position_key(name: &str, bot: UserId) -> String {
    let name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{name}.{bot}")
}

/// Where destination `name` is in bot `bot`'s events, and the key's revision. A destination
/// seen for the first time starts at the stream's end.
async fn position(
    link: &ClusterLink,
    store: &kv::Store,
    key: &str,
) -> Result<(Position, u64), ClusterError> {
    let read = |e: &dyn std::fmt::Display| ClusterError::JetStream(format!("position {key}: {e}"));
    if let Some(entry) = store.entry(key).await.map_err(|e| read(&e))? {
        if entry.operation == kv::Operation::Put {
            let at = Position::decode(&entry.value).ok_or_else(|| read(&"not a position"))?;
            return Ok((at, entry.revision));
        }
    }
    let mut events = stream(link).await?;
    let last = events.info().await.map_err(|e| read(&e))?.state.last_sequence;
    let at = Position { sequence: last + 1, index: 0 };
    match store.create(key, at.encode()).await {
        Ok(revision) => {
            info!("cluster: {key} starts at event {}", at.sequence);
            Ok((at, revision))
        }
        // Another node created it meanwhile: take its value.
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
            Box::pin(position(link, store, key)).await
        }
        Err(e) => Err(read(&e)),
    }
}

/// Starts feeding bot `bot`'s events to destination `name`'s `outbox` from its recorded
/// position; each event carries a receipt the destination signals once delivered.
pub async fn start(
    link: &ClusterLink,
    bot: UserId,
    name: &str,
    outbox: EventOutbox,
) -> Result<Feed, ClusterError> {
    let about = "botgate: where each destination is in each bot's events";
    let store = link.bucket(BUCKET, about, Duration::ZERO).await?;
    let key = position_key(name, bot);
    let (at, revision) = position(link, &store, &key).await?;
    let (stop, stopping) = oneshot::channel();
    let run = Run { link: link.clone(), bot, store, key, delivered: at, revision, unrecorded: at };
    tokio::spawn(run.feed(outbox, at, stopping));
    Ok(Feed { stop: Some(stop) })
}

struct Run {
    link: ClusterLink,
    bot: UserId,
    store: kv::Store,
    key: String,
    /// Where the destination is, as recorded.
    delivered: Position,
    revision: u64,
    /// A position delivered but not recorded yet (NATS was away): recorded again shortly.
    unrecorded: Position,
}

impl Run {
    async fn feed(
        mut self,
        outbox: EventOutbox,
        from: Position,
        mut stopping: oneshot::Receiver<oneshot::Sender<()>>,
    ) {
        let (receipts, mut delivered) = mpsc::unbounded_channel::<Position>();
        // Read but not yet in the outbox (it was full, or the window was), oldest first.
        let mut pending: VecDeque<(Position, SharedEvent)> = VecDeque::new();
        // Handed to the destination and not yet recorded as delivered: each event's position.
        let mut handed: VecDeque<Position> = VecDeque::new();
        // Where reading continues: the batch after the last one read.
        let mut next = from;
        'follow: loop {
            let events = match follow(&self.link, self.bot, Some(next.sequence)).await {
                Ok(events) => events,
                Err(e) => {
                    warn!("cluster: {}: {e}; following again", self.key);
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => continue 'follow,
                        done = &mut stopping => return self.finish(&mut delivered, done.ok()).await,
                    }
                }
            };
            futures_util::pin_mut!(events);
            loop {
                while let Some(at) = handed.front() {
                    if *at > self.delivered {
                        break;
                    }
                    handed.pop_front();
                }
                while !pending.is_empty() && outbox.has_room() && handed.len() < WINDOW {
                    let Some((at, event)) = pending.pop_front() else { break };
                    handed.push_back(at);
                    if matches!(outbox.push(std::sync::Arc::new(event)), Delivery::Closed) {
                        debug!("cluster: {}: the destination closed its outbox", self.key);
                        return self.finish(&mut delivered, None).await;
                    }
                }
                let reading = pending.is_empty();
                tokio::select! {
                    biased;
                    done = &mut stopping => return self.finish(&mut delivered, done.ok()).await,
                    Some(first) = delivered.recv() => {
                        if !self.record(first, &mut delivered).await {
                            return;
                        }
                    }
                    _ = tokio::time::sleep(RETRY), if self.unrecorded > self.delivered => {
                        if !self.record(self.unrecorded, &mut delivered).await {
                            return;
                        }
                    }
                    _ = tokio::time::sleep(FULL_POLL), if !reading => {}
                    item = events.next(), if reading => match item {
                        Some(Ok((sequence, batch))) => {
                            // The first batch may be partly delivered already.
                            let skip = if sequence == next.sequence { next.index } else { 0 };
                            next = Position { sequence: sequence + 1, index: 0 };
                            for (index, published) in batch.events.into_iter().enumerate().skip(skip) {
                                let receipts = receipts.clone();
                                let at = Position { sequence, index: index + 1 };
                                let receipt = Receipt::new(move || {
                                    let _ = receipts.send(at);
                                });
                                let event = SharedEvent::new(published.bot, published.time, published.event)
                                    .at(StreamPosition { sequence, index })
                                    .with_receipt(receipt);
                                pending.push_back((at, event));
                            }
                        }
                        Some(Err(e)) => {
                            warn!(
                                "cluster: {}: {e}; following again from {}",
                                self.key, next.sequence
                            );
                            continue 'follow;
                        }
                        None => continue 'follow,
                    },
                }
            }
        }
    }

    /// Records the highest of `first` and every receipt already waiting; false once another
    /// node has written the position (this one no longer owns the destination).
    async fn record(
        &mut self,
        first: Position,
        delivered: &mut mpsc::UnboundedReceiver<Position>,
    ) -> bool {
        let mut highest = first;
        while let Ok(more) = delivered.try_recv() {
            highest = highest.max(more);
        }
        if highest <= self.delivered {
            return true;
        }
        match self.store.update(&self.key, highest.encode(), self.revision).await {
            Ok(revision) => {
                self.revision = revision;
                self.delivered = highest;
                true
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                // An earlier write whose answer was lost (NATS restarting) may have landed:
                // the key then holds a position of this feed's own, and the feed carries on.
                let ours = |entry: &kv::Entry| {
                    let at = Position::decode(&entry.value)?;
                    (self.delivered..=highest).contains(&at).then_some(at)
                };
                match self.store.entry(&self.key).await {
                    Ok(Some(entry)) if ours(&entry).is_some() => {
                        self.delivered = ours(&entry).unwrap_or(self.delivered);
                        self.revision = entry.revision;
                        Box::pin(self.record(highest, delivered)).await
                    }
                    _ => {
                        warn!(
                            "cluster: {}: another node moved the position; this feed stops",
                            self.key
                        );
                        false
                    }
                }
            }
            Err(e) => {
                // NATS away: written again shortly, or with the next receipt.
                warn!("cluster: {}: recording the position failed: {e}", self.key);
                self.unrecorded = highest;
                true
            }
        }
    }

    async fn finish(
        mut self,
        delivered: &mut mpsc::UnboundedReceiver<Position>,
        done: Option<oneshot::Sender<()>>,
    ) {
        // NATS may be away (the node stands down because its lease could not be renewed):
        // the position is written as soon as it is back, so the next owner, which needs NATS
        // too, most likely finds it — for a lease at most, then the next owner repeats what
        // is unrecorded (at most the window).
        let deadline = tokio::time::Instant::now() + self.link.lease;
        loop {
            let first = delivered.try_recv().unwrap_or_default().max(self.unrecorded);
            if first <= self.delivered || !self.record(first, delivered).await {
                break;
            }
            if self.unrecorded <= self.delivered {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                warn!("cluster: {}: the last position could not be recorded", self.key);
                break;
            }
            tokio::time::sleep(FINISH_RETRY).await;
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}
