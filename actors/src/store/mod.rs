//! The store: one embedded SQLite database (bundled SQLite, WAL) under `server.data_dir`,
//! written and read by one [`StoreActor`] on a `SyncArbiter` thread — never on a thread that
//! carries events. It keeps every message a bot saw or sent, so ids resolve after a platform
//! (or the message cache) forgot them and across restarts, the id maps of platforms whose ids
//! are not integers, and what outbound destinations accepted and have not delivered.
//!
//! The file is an ordinary SQLite database: `sqlite3 data/botgate.sqlite 'select * from
//! messages where id = 42'` looks a message up.

mod id_maps;
mod messages;
mod outbound;

use std::path::Path;
use std::sync::Mutex;

use actix::prelude::*;
use rusqlite::Connection;

pub use id_maps::{IdMapping, IdSpace, LoadIds, RecordIds};
pub use messages::{FindMessage, MessageChange, RecordMessages, StoredCount, StoredMessage};
pub use outbound::{AckOutbound, AppendOutbound, LoadOutbound, OutboundItem};

/// The file name of the database inside `server.data_dir`.
pub const DATABASE_FILE: &str = "botgate.sqlite";

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
    /// SQLite refused to open or set up the database.
    #[error("cannot open {path}: {source}")]
    Database {
        /// The database file.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

/// The store's settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Messages kept per bot: the newest this many at least; once a bot has a sixteenth
    /// more, its oldest are deleted down to this many.
    pub messages_per_bot: usize,
    /// The CPU priority of the store's thread.
    pub priority: StorePriority,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { messages_per_bot: 100_000, priority: StorePriority::default() }
    }
}

/// The CPU priority of the store's thread (`server.store_priority`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorePriority {
    /// The lowest (nice 19): events and command answers go first on a busy machine and the
    /// store writes behind them. What waits for the store — a POST destination's append, a
    /// lookup of a message the cache evicted, a shutdown's writes — waits behind every busy
    /// thread of the machine too, other processes' included.
    Background,
    /// The priority of every other thread: the store takes its share of a busy machine, so
    /// the durable paths keep their pace when other work saturates it.
    #[default]
    Normal,
}

/// The store actor: owns the database connection; runs on its own thread.
pub struct StoreActor {
    db: Connection,
    config: StoreConfig,
    /// Where each bot's rows are and how many, read once and kept up to date, so numbering
    /// and retention need no query per batch.
    bots: std::collections::HashMap<crate::model::UserId, messages::BotRows>,
}

impl Actor for StoreActor {
    type Context = SyncContext<Self>;
}

/// Answered once the store has handled everything sent to it before: the last step of a
/// graceful shutdown, so acknowledgements sent without waiting are written too.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Barrier;

impl Handler<Barrier> for StoreActor {
    type Result = ();

    fn handle(&mut self, _: Barrier, _: &mut Self::Context) {}
}

impl StoreActor {
    /// Opens (creating when needed) the database in `data_dir`, or an in-memory one when
    /// `data_dir` is `None`, and starts the actor on a thread of its own.
    pub fn start(data_dir: Option<&Path>, config: StoreConfig) -> Result<Addr<Self>, StoreError> {
        let db = open(data_dir)?;
        // SyncArbiter builds the actor in its thread from a factory; the one connection
        // opened here (so that errors reach start-up) is handed over once.
        let slot = Mutex::new(Some(db));
        Ok(SyncArbiter::start(1, move || {
            if config.priority == StorePriority::Background {
                run_in_background();
            }
            let db =
                slot.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_else(|| {
                    Connection::open_in_memory().expect("an in-memory database")
                });
            StoreActor { db, config: config.clone(), bots: Default::default() }
        }))
    }
}

/// Puts the calling thread (the store's) at the lowest CPU priority (nice 19 on Linux), for
/// [`StorePriority::Background`]: its writes are behind the event and command paths, which
/// answer first when the machine is busy — a batch of writes on a core took the core a
/// pipelined command path needed and made its p99 three times the bare server's. RocksDB
/// lowers its compaction threads the same way. The store still gets every core nobody else
/// wants, and a bot whose store falls far behind waits for it (the recorder's backpressure).
fn run_in_background() {
    use thread_priority::{set_current_thread_priority, ThreadPriority};
    if let Err(e) = set_current_thread_priority(ThreadPriority::Min) {
        log::warn!("store: cannot lower its thread's priority ({e:?}); it runs at normal priority");
    }
}

fn open(data_dir: Option<&Path>) -> Result<Connection, StoreError> {
    let (mut db, shown) = match data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::Folder { path: dir.display().to_string(), source })?;
            let file = dir.join(DATABASE_FILE);
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
    let setup = |db: &mut Connection| -> rusqlite::Result<()> {
        // WAL: readers never block the writer; NORMAL: durable at checkpoints, fast commits.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        messages::create(db)?;
        id_maps::create(db)?;
        outbound::create(db)
    };
    setup(&mut db).map_err(|source| StoreError::Database { path: shown, source })?;
    Ok(db)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The nice value of the calling thread, from `/proc/thread-self/stat` (field 19).
    fn nice() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        // The command name (field 2) may hold spaces; the fields after it are plain.
        let after_name = stat.rsplit(')').next().expect("fields");
        after_name.split_whitespace().nth(16).expect("nice").parse().expect("a number")
    }

    #[test]
    fn the_store_thread_runs_at_the_lowest_priority() {
        let (before, after) = std::thread::spawn(|| {
            let before = nice();
            super::run_in_background();
            (before, nice())
        })
        .join()
        .expect("thread");
        assert_eq!(after, 19, "from {before}");
    }
}
