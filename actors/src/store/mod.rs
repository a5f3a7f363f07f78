//! The store: two embedded SQLite databases (bundled SQLite, WAL) under `server.data_dir`,
//! each written and read by one actor on a thread of its own — never on a thread that
//! carries events.
//!
//! - `botgate.sqlite`, the [`StoreActor`]: what outbound destinations accepted and have not
//!   delivered, and the id maps of platforms whose ids are not integers — what a restart or
//!   a `kill -9` must not lose, and what a POST destination waits for before it answers. Its
//!   thread runs at normal priority.
//! - `messages.sqlite`, the [`MessageStore`]: every message a bot saw or sent, so ids
//!   resolve after a platform (or the message cache) forgot them and across restarts.
//!   `server.store_messages_priority` chooses whether its thread writes each batch as it
//!   comes (`normal`, the default) or a thread of the idle class writes behind the event and
//!   command paths (`background`).
//!
//! Two files, because SQLite lets one connection at a time write a file: the archive's
//! writes — and a background writer holding the lock — would make the durable writes wait.
//! Both are ordinary SQLite databases: `sqlite3 data/messages.sqlite 'select * from messages
//! where id = 42'` looks a message up (a view; the messages are stored 64 to a row).

mod checkpoint;
mod give_way;
mod id_maps;
mod messages;
mod outbound;
mod write_behind;

use std::path::Path;
use std::sync::Mutex;

use actix::prelude::*;
use rusqlite::Connection;

pub use id_maps::{IdMapping, IdSpace, LoadIds, RecordIds};
pub use messages::{
    FindMessage, MessageChange, RecordMessages, StoredBefore, StoredCount, StoredMessage,
};
pub use outbound::{AckOutbound, AppendOutbound, LoadOutbound, OutboundItem};
pub use write_behind::MessageStore;

/// The file name of the durable database (outbound items, id maps) inside `server.data_dir`.
pub const DATABASE_FILE: &str = "botgate.sqlite";

/// The file name of the messages database inside `server.data_dir`.
pub const MESSAGES_FILE: &str = "messages.sqlite";

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder could not be created.
    #[error("cannot create {path}: {source}")]
    Folder {
        /// The folder.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The thread that writes messages behind the event paths could not be started.
    #[error("cannot start the message store's thread: {source}")]
    Thread {
        /// The OS error.
        source: std::io::Error,
    },
    /// SQLite refused to open or set up the database.
    #[error("cannot open {path}: {source}")]
    Database {
        /// The database file.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

/// The settings of the [`MessageStore`].
#[derive(Debug, Clone)]
pub struct MessageStoreConfig {
    /// Messages kept per bot: the newest this many at least; once a bot has a sixteenth
    /// more, its oldest are deleted down to this many.
    pub messages_per_bot: usize,
    /// How its messages are written.
    pub priority: StorePriority,
}

impl Default for MessageStoreConfig {
    fn default() -> Self {
        MessageStoreConfig { messages_per_bot: 100_000, priority: StorePriority::default() }
    }
}

/// How the message store writes (`server.store_messages_priority`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorePriority {
    /// Written behind the event and command paths, by a thread of the idle scheduling class
    /// that gives way to them while they are busy and catches up when they are quiet. What
    /// waits for the store — a lookup of a message the cache evicted, a shutdown — has the
    /// store's own thread, at normal priority, write what is queued first; but it may wait
    /// for the chunk the background thread holds, and a machine other processes saturate
    /// runs that thread rarely — nor can the process end before it has run: there, a
    /// `kill -9` took botgate 0.65–0.8 s to exit instead of milliseconds, and a platform's
    /// events sent meanwhile were lost. The WAL's checkpoint thread runs in the idle class
    /// too. For a machine botgate has to itself.
    Background,
    /// Every batch written when it arrives, by the store's thread at normal priority, 64
    /// messages to a transaction with the core given up between two, and the WAL
    /// checkpointed by a thread at nice 19: the store takes its share of a busy machine in
    /// slices short enough for the command path's tail latency.
    #[default]
    Normal,
}

/// The durable store's actor: owns the connection to `botgate.sqlite`; runs on its own
/// thread at normal priority.
pub struct StoreActor {
    db: Connection,
    /// Message ids kept mapped per bot (`server.store_messages_per_bot`, as messages are).
    message_ids_per_bot: usize,
}

impl Actor for StoreActor {
    type Context = SyncContext<Self>;
}

/// Answered once a store has handled everything sent to it before: the last step of a
/// graceful shutdown, so acknowledgements sent without waiting are written too.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Barrier;

impl Handler<Barrier> for StoreActor {
    type Result = ();

    fn handle(&mut self, _: Barrier, _: &mut Self::Context) {}
}

impl StoreActor {
    /// Opens (creating when needed) `botgate.sqlite` in `data_dir`, or an in-memory database
    /// when `data_dir` is `None`, and starts the actor on a thread of its own; a bot's
    /// newest `message_ids_per_bot` message id mappings are kept.
    pub fn start(
        data_dir: Option<&Path>,
        message_ids_per_bot: usize,
    ) -> Result<Addr<Self>, StoreError> {
        let db = open(data_dir, DATABASE_FILE, |db| {
            id_maps::create(db)?;
            outbound::create(db)
        })?;
        // SyncArbiter builds the actor in its thread from a factory; the one connection opened
        // here (so that errors reach start-up) is handed over once.
        let slot = Mutex::new(Some(db));
        Ok(SyncArbiter::start(1, move || {
            let db = lock(&slot)
                .take()
                .unwrap_or_else(|| Connection::open_in_memory().expect("an in-memory database"));
            StoreActor { db, message_ids_per_bot }
        }))
    }
}

/// Locks `mutex`, taking over from a thread that panicked while holding it (what it guards
/// is left as it was: a SQLite transaction not committed is rolled back).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Puts the calling thread (the one that writes messages behind the event paths) in the
/// idle scheduling class (SCHED_IDLE on Linux): it runs on a core nobody else wants, and a
/// thread of the event or command paths woken onto its core preempts it at once. At the
/// lowest nice value instead, a woken thread could wait out the writer's time slice: with
/// the writer on a core, the pipelined commands' p99 was three times the bare server's.
fn run_in_background() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
        log::warn!("store: cannot lower its thread's priority ({e:?}); it runs at normal priority");
    }
}

/// Gives the calling thread the lowest nice value (19): it yields to the command path
/// within its time slice, yet gets a core often enough that a `kill -9` ended the process
/// within 0.2 s on a machine two busy loops saturate (in the idle class the checkpoint
/// thread, starved mid-checkpoint, held the exit up for 0.14–0.95 s).
fn run_at_lowest_nice() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let normal = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, normal)
    {
        log::warn!("store: cannot lower the checkpoint thread's priority ({e:?})");
    }
}

/// Opens `file` in `data_dir` (or an in-memory database), in WAL mode, and lets `setup`
/// create its tables.
fn open(
    data_dir: Option<&Path>,
    file: &str,
    setup: impl FnOnce(&mut Connection) -> rusqlite::Result<()>,
) -> Result<Connection, StoreError> {
    let (mut db, shown) = match data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::Folder { path: dir.display().to_string(), source })?;
            let file = dir.join(file);
            let shown = file.display().to_string();
            let db = Connection::open(&file)
                .map_err(|source| StoreError::Database { path: shown.clone(), source })?;
            (db, shown)
        }
        None => {
            let db = Connection::open_in_memory()
                .map_err(|source| StoreError::Database { path: ":memory:".to_owned(), source })?;
            (db, ":memory:".to_owned())
        }
    };
    let prepare = |db: &mut Connection| -> rusqlite::Result<()> {
        // WAL: readers never block the writer; NORMAL: durable at checkpoints, fast commits.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        setup(db)
    };
    prepare(&mut db).map_err(|source| StoreError::Database { path: shown, source })?;
    Ok(db)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The scheduling policy of the calling thread, from `/proc/thread-self/stat` (field 41).
    fn policy() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        // The command name (field 2) may hold spaces; the fields after it are plain.
        let after_name = stat.rsplit(')').next().expect("fields");
        after_name.split_whitespace().nth(38).expect("policy").parse().expect("a number")
    }

    #[test]
    fn a_background_thread_runs_only_when_a_core_is_idle() {
        let (before, after) = std::thread::spawn(|| {
            let before = policy();
            super::run_in_background();
            (before, policy())
        })
        .join()
        .expect("thread");
        // SCHED_OTHER is 0 and SCHED_IDLE 5 in Linux's uapi/linux/sched.h.
        assert_eq!((before, after), (0, 5));
    }
}
