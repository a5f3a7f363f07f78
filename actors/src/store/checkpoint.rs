//! Checkpoints of `messages.sqlite`'s write-ahead log, on a thread of their own at the
//! lowest priority.
//!
//! A commit appends to the WAL; a checkpoint copies the WAL into the database file and
//! `fsync`s both. Left to the writer (SQLite's default, every 1,000 pages) that happened on
//! the store's thread about fourteen times a second under the pipelined commands, and the
//! writeback the `fsync` does on its caller's core took it from the command path: their p99
//! doubled. Here a thread of its own checkpoints with a connection of its own (a passive
//! checkpoint never blocks the writer, nor waits for it), at most ten times a second and
//! only after commits — at nice 19, or in the idle class with
//! `store_messages_priority: background`. The writer keeps a fallback,
//! [`WRITER_FALLBACK_PAGES`], for a machine so busy that this thread never runs.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use log::warn;
use rusqlite::Connection;

use super::{run_at_lowest_nice, run_in_background, StoreError, StorePriority};

/// How long commits are gathered into one checkpoint.
const GATHER: Duration = Duration::from_millis(100);

/// WAL pages (4 KiB) past which the writer checkpoints itself: 64 MiB, at the pipelined
/// commands' pace about once a second instead of fourteen times. It also bounds the WAL
/// when writes never pause long enough for a checkpoint to finish with nothing new behind
/// it, the moment SQLite can start the log over.
pub(super) const WRITER_FALLBACK_PAGES: i64 = 16_384;

/// The handle the writer keeps: tells the checkpoint thread a commit happened. Dropping it
/// ends the thread once its current gather or checkpoint is over, without waiting for it.
pub(super) struct Checkpointer {
    committed: SyncSender<()>,
    /// The thread, never joined: at shutdown on a saturated machine it may not get a core
    /// for a while, and nothing depends on its work (the next open reads the WAL).
    #[cfg_attr(not(test), allow(dead_code))]
    thread: JoinHandle<()>,
    /// Whether the thread's end was logged.
    gone: bool,
}

impl Checkpointer {
    /// Opens a second connection to `file` (a database in WAL mode) and starts the thread
    /// that checkpoints it.
    pub(super) fn start(file: &Path, priority: StorePriority) -> Result<Checkpointer, StoreError> {
        let shown = file.display().to_string();
        let db = Connection::open(file)
            .and_then(|db| db.pragma_update(None, "synchronous", "NORMAL").map(|()| db))
            .map_err(|source| StoreError::Database { path: shown.clone(), source })?;
        let (committed, commits) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("botgate-checkpoint".to_owned())
            .spawn(move || {
                match priority {
                    StorePriority::Normal => run_at_lowest_nice(),
                    StorePriority::Background => run_in_background(),
                }
                checkpoint_after_commits(&db, &commits, &shown, GATHER)
            })
            .map_err(|source| StoreError::Thread { source })?;
        Ok(Checkpointer { committed, thread, gone: false })
    }

    /// Tells the thread a transaction was committed (never blocks: one waiting signal is
    /// enough).
    pub(super) fn committed(&mut self) {
        if let Err(TrySendError::Disconnected(())) = self.committed.try_send(()) {
            if !self.gone {
                self.gone = true;
                warn!("store: the checkpoint thread is gone; the writer checkpoints alone");
            }
        }
    }
}

/// The thread: waits for a commit, sleeps through the [`GATHER`] after it, checkpoints,
/// until the writer's handle is dropped.
///
/// Only the first commit after a checkpoint wakes it. The thread does not listen while it
/// gathers, so a commit then finds the channel's one place taken (or fills it) and wakes
/// nobody: under pipelined commands the store commits thousands of times a second, and a
/// thread woken for each of them (as when it listened throughout) switched as often as the
/// command path's own thread, each wake-up a system call on the writer and a scheduler
/// round on a core the command path needs.
fn checkpoint_after_commits(
    db: &Connection,
    commits: &Receiver<()>,
    shown: &str,
    gather: Duration,
) {
    while commits.recv().is_ok() {
        std::thread::sleep(gather);
        // The checkpoint takes in what was committed while this thread slept: their signal
        // goes with it, and a commit from now on brings the next round.
        if let Err(TryRecvError::Disconnected) = commits.try_recv() {
            return;
        }
        let done: rusqlite::Result<(i64, i64, i64)> =
            db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            });
        if let Err(e) = done {
            warn!("store: checkpointing {shown} failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// The database file's length: what checkpoints have copied into it.
    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    /// A database in WAL mode in a directory of its own, and a connection that writes it.
    fn wal_database() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("messages.sqlite");
        let writer = Connection::open(&file).expect("open");
        writer.pragma_update(None, "journal_mode", "WAL").expect("wal");
        (dir, file, writer)
    }

    #[test]
    fn commits_reach_the_database_file_without_the_writer_checkpointing() {
        let (_dir, file, writer) = wal_database();
        writer.pragma_update(None, "wal_autocheckpoint", WRITER_FALLBACK_PAGES).expect("pragma");
        writer.execute_batch("CREATE TABLE t (body TEXT)").expect("table");
        let before = file_len(&file);
        let mut checkpointer = Checkpointer::start(&file, StorePriority::Normal).expect("start");
        // About 400 pages: far below the writer's own threshold.
        let body = "x".repeat(4000);
        for _ in 0..400 {
            writer.execute("INSERT INTO t (body) VALUES (?1)", [&body]).expect("insert");
            checkpointer.committed();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while file_len(&file) < before + 400 * 4000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            file_len(&file) >= before + 400 * 4000,
            "the database file holds {} bytes; the WAL was not checkpointed into it",
            file_len(&file)
        );
    }

    #[test]
    fn dropping_the_handle_ends_the_thread() {
        let (_dir, file, _writer) = wal_database();
        let Checkpointer { committed, thread, .. } =
            Checkpointer::start(&file, StorePriority::Normal).expect("start");
        committed.send(()).expect("the thread listens");
        drop(committed);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(thread.is_finished(), "the checkpoint thread outlived its handle");
    }

    #[test]
    fn commits_during_a_gather_wake_nobody() {
        let (_dir, file, _writer) = wal_database();
        let db = Connection::open(&file).expect("open");
        let (committed, commits) = mpsc::sync_channel(1);
        // A gather longer than the test: the thread sleeps through the rest of it.
        std::thread::spawn(move || {
            checkpoint_after_commits(&db, &commits, "test", Duration::from_secs(3600))
        });
        committed.send(()).expect("the first commit");
        // Once the thread has taken the first signal, the next fills the channel's place.
        let deadline = Instant::now() + Duration::from_secs(20);
        while committed.try_send(()).is_err() {
            assert!(Instant::now() < deadline, "the thread never took the first commit");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        for _ in 0..100 {
            assert!(
                matches!(committed.try_send(()), Err(TrySendError::Full(()))),
                "a commit during the gather was taken: it woke the thread"
            );
        }
    }
}
