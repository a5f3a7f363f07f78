//! The message store: the actor every bot records its messages through and looks them up
//! with, and, at background priority, the thread that writes them behind the event and
//! command paths.
//!
//! At `normal` (the default) the actor writes every batch itself. At `background` it queues
//! a batch and answers at once; a thread of the idle scheduling class takes the queue a chunk
//! at a time and gives way to the busy paths between chunks ([`GiveWay`]). What waits for
//! the store — a lookup, a barrier (a bot's Flush, a shutdown), a queue past its bound — has
//! the actor's own thread, at normal priority, write what is queued first: on a machine
//! other processes saturate, the idle class gets almost no CPU. A count reads what is
//! written, and a bot's start reads the counts taken when the store opened.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use actix::prelude::*;
use log::warn;

use super::give_way::{self, GiveWay};
use super::messages::MessageRows;
use super::{
    lock, run_in_background, Barrier, FindMessage, MessageChange, MessageStoreConfig,
    RecordMessages, StoreError, StorePriority, StoredBefore, StoredCount, StoredMessage,
    MESSAGES_FILE,
};
use crate::model::UserId;

/// Changes queued past which the actor writes the queue itself instead of leaving it to the
/// background thread, which is that far behind: the store's memory stays bounded, and the
/// bot that sent the batch waits for it (the recorder sends one batch at a time).
const QUEUE_BOUND: usize = 100_000;

/// The message store's actor: records, looks up and counts messages in `messages.sqlite`
/// on a thread of its own at normal priority.
pub struct MessageStore {
    shared: Arc<Shared>,
    /// Whether a background thread writes the queue.
    behind: bool,
    /// Each bot's message count and highest id when the store opened.
    opened_with: HashMap<UserId, (usize, Option<i32>)>,
}

/// What the actor and the background thread share.
struct Shared {
    /// The connection; held while a batch or a chunk of one is written.
    rows: Mutex<MessageRows>,
    /// Batches waiting to be written, oldest first.
    queue: Mutex<Queue>,
    /// Signalled when a batch is queued or the store closes.
    queued: Condvar,
}

/// Changes waiting to be written.
#[derive(Default)]
struct Queue {
    /// Each with its bot, oldest first: a chunk is taken off the front without moving the
    /// rest.
    changes: VecDeque<(UserId, MessageChange)>,
    /// Set when the actor is gone: the background thread writes what is left and ends.
    closed: bool,
}

impl Queue {
    /// Takes the oldest changes of one bot, at most `most`.
    fn take(&mut self, most: usize) -> Option<(UserId, Vec<MessageChange>)> {
        let bot = self.changes.front()?.0;
        let n = self.changes.iter().take(most).take_while(|(b, _)| *b == bot).count();
        Some((bot, self.changes.drain(..n).map(|(_, change)| change).collect()))
    }
}

impl Actor for MessageStore {
    type Context = SyncContext<Self>;
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.queued.notify_all();
    }
}

impl MessageStore {
    /// Opens (creating when needed) `messages.sqlite` in `data_dir`, moving the messages an
    /// earlier version kept in `botgate.sqlite` into it, or an in-memory database when
    /// `data_dir` is `None`; starts the actor on a thread of its own, and at background
    /// priority the thread that writes behind it.
    pub fn start(
        data_dir: Option<&Path>,
        config: MessageStoreConfig,
    ) -> Result<Addr<Self>, StoreError> {
        let mut rows = MessageRows::open(data_dir, config.messages_per_bot, config.priority)?;
        let opened_with = rows
            .counts()
            .map_err(|source| StoreError::Database { path: MESSAGES_FILE.to_owned(), source })?;
        let shared = Arc::new(Shared {
            rows: Mutex::new(rows),
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
        });
        let behind = config.priority == StorePriority::Background;
        if behind {
            let writer = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("botgate-messages".to_owned())
                .spawn(move || write_behind(&writer))
                .map_err(|source| StoreError::Thread { source })?;
        }
        Ok(SyncArbiter::start(1, move || MessageStore {
            shared: Arc::clone(&shared),
            behind,
            opened_with: opened_with.clone(),
        }))
    }

    /// Writes everything queued, on the actor's thread; answers the first error.
    fn catch_up(&self) -> Result<(), String> {
        let mut rows = lock(&self.shared.rows);
        let mut failed = Ok(());
        // Taken under the rows' lock: a chunk the background thread took is written by then,
        // so these go after it, in order.
        while let Some((bot, batch)) = lock(&self.shared.queue).take(usize::MAX) {
            if let Err(e) = rows.record(bot, &batch) {
                warn!("bot {bot}: storing messages failed: {e}");
                if failed.is_ok() {
                    failed = Err(e.to_string());
                }
            }
        }
        failed
    }
}

/// The background thread: writes the queue a chunk at a time in the idle scheduling class,
/// giving way between chunks, until the actor is gone and the queue empty.
fn write_behind(shared: &Shared) {
    run_in_background();
    let mut give_way = GiveWay::for_this_thread();
    loop {
        {
            let mut queue = lock(&shared.queue);
            while queue.changes.is_empty() {
                if queue.closed {
                    return;
                }
                queue = shared.queued.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
        }
        {
            let mut rows = lock(&shared.rows);
            // Taken under the rows' lock, so the actor's catch-up writes after this chunk.
            let Some((bot, chunk)) = lock(&shared.queue).take(give_way::EVERY) else {
                continue;
            };
            if let Err(e) = rows.record(bot, &chunk) {
                warn!("bot {bot}: storing messages failed: {e}");
            }
        }
        give_way.between_chunks();
    }
}

impl Handler<RecordMessages> for MessageStore {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: RecordMessages, _: &mut Self::Context) -> Self::Result {
        if !self.behind {
            let mut rows = lock(&self.shared.rows);
            let mut chunks = msg.changes.chunks(give_way::EVERY).peekable();
            while let Some(chunk) = chunks.next() {
                rows.record(msg.bot, chunk).map_err(|e| e.to_string())?;
                if chunks.peek().is_some() {
                    std::thread::yield_now();
                }
            }
            return Ok(());
        }
        let over = {
            let mut queue = lock(&self.shared.queue);
            queue.changes.extend(msg.changes.into_iter().map(|change| (msg.bot, change)));
            queue.changes.len() > QUEUE_BOUND
        };
        self.shared.queued.notify_one();
        if over {
            self.catch_up()
        } else {
            Ok(())
        }
    }
}

impl Handler<FindMessage> for MessageStore {
    type Result = Result<Option<StoredMessage>, String>;

    fn handle(&mut self, msg: FindMessage, _: &mut Self::Context) -> Self::Result {
        // Written and logged whatever failed: the lookup still answers from what is stored.
        let _ = self.catch_up();
        lock(&self.shared.rows).find(&msg).map_err(|e| e.to_string())
    }
}

impl Handler<StoredCount> for MessageStore {
    type Result = Result<(usize, Option<i32>), String>;

    fn handle(&mut self, msg: StoredCount, _: &mut Self::Context) -> Self::Result {
        lock(&self.shared.rows).count(msg.bot).map_err(|e| e.to_string())
    }
}

impl Handler<StoredBefore> for MessageStore {
    type Result = MessageResult<StoredBefore>;

    fn handle(&mut self, msg: StoredBefore, _: &mut Self::Context) -> Self::Result {
        // Read when the store opened: a bot starting waits for nothing else, and never for
        // the rows a background thread — which a machine busy with other work may not run
        // for a second — holds.
        MessageResult(self.opened_with.get(&msg.bot).copied().unwrap_or((0, None)))
    }
}

impl Handler<Barrier> for MessageStore {
    type Result = ();

    fn handle(&mut self, _: Barrier, _: &mut Self::Context) {
        let _ = self.catch_up();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Friend, MessageEvent, MessageKind, MessageSource, Segment};

    fn added(id: i32) -> MessageChange {
        MessageChange::Added(
            20001,
            Arc::new(MessageEvent {
                kind: MessageKind::Friend {
                    sender: Friend { id: 20001, nickname: "A".into(), remark: String::new() },
                },
                source: MessageSource { id, time: 1_700_000_000 },
                message: vec![Segment::Text("hi".into())],
            }),
        )
    }

    fn background() -> MessageStoreConfig {
        MessageStoreConfig { priority: StorePriority::Background, ..Default::default() }
    }

    /// The rows of `messages.sqlite` in `dir`, read over a connection of the test's own.
    fn rows_on_disk(dir: &Path) -> i64 {
        let db = rusqlite::Connection::open(dir.join(super::super::MESSAGES_FILE)).expect("db");
        db.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).expect("count")
    }

    #[actix::test]
    async fn in_the_background_the_queue_is_written_without_anyone_waiting_for_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MessageStore::start(Some(dir.path()), background()).expect("store");
        let changes = (1..=200).map(added).collect();
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("queued");
        // Nothing asks the actor for these: the background thread alone writes them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while rows_on_disk(dir.path()) < 200 {
            assert!(std::time::Instant::now() < deadline, "never written in the background");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    #[actix::test]
    async fn a_bot_starting_learns_what_was_stored_before_the_store_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MessageStore::start(Some(dir.path()), background()).expect("store");
        let changes = (1..=3).map(added).collect();
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("queued");
        store.send(Barrier).await.expect("written");
        drop(store);
        let store = MessageStore::start(Some(dir.path()), background()).expect("reopened");
        assert_eq!(store.send(StoredBefore { bot: 1 }).await.expect("mb"), (3, Some(3)));
        assert_eq!(store.send(StoredBefore { bot: 2 }).await.expect("mb"), (0, None));
        let changes = vec![added(4)];
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("queued");
        store.send(Barrier).await.expect("written");
        assert_eq!(store.send(StoredBefore { bot: 1 }).await.expect("mb"), (3, Some(3)));
        assert_eq!(store.send(StoredCount { bot: 1 }).await.expect("mb"), Ok((4, Some(4))));
    }

    #[actix::test]
    async fn at_normal_priority_a_batch_is_written_before_it_is_answered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = MessageStoreConfig { priority: StorePriority::Normal, ..Default::default() };
        let store = MessageStore::start(Some(dir.path()), config).expect("store");
        let changes = (1..=200).map(added).collect();
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("written");
        assert_eq!(rows_on_disk(dir.path()), 200);
    }

    #[test]
    fn a_queue_hands_out_chunks_in_order() {
        let change = |id| MessageChange::Removed(1, id);
        let mut queue = Queue::default();
        queue.changes.extend((0..5).map(|id| (1, change(id))));
        queue.changes.push_back((2, change(9)));
        let ids = |batch: &[MessageChange]| -> Vec<i32> {
            batch
                .iter()
                .map(|c| match c {
                    MessageChange::Removed(_, id) => *id,
                    MessageChange::Added(..) => -1,
                })
                .collect()
        };
        let (bot, first) = queue.take(2).expect("a chunk");
        assert_eq!((bot, ids(&first)), (1, vec![0, 1]));
        let (bot, rest) = queue.take(usize::MAX).expect("the rest");
        assert_eq!((bot, ids(&rest)), (1, vec![2, 3, 4]));
        let (bot, last) = queue.take(2).expect("the next batch");
        assert_eq!((bot, ids(&last)), (2, vec![9]));
        assert!(queue.take(2).is_none());
        assert!(queue.changes.is_empty());
    }
}
