//! The messages of `messages.sqlite`: every message a bot saw or sent — its id, the contact
//! the id is unique within, and the model's message as JSON — in rows of up to [`BATCH`]
//! messages, bounded per bot.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use actix::prelude::*;
use log::{info, warn};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::checkpoint::{Checkpointer, WRITER_FALLBACK_PAGES};
use super::{open, StoreError, StorePriority, DATABASE_FILE, MESSAGES_FILE};
use crate::model::{MessageEvent, UserId};

/// How many low bits of `seq` number a bot's rows; the bits above are its slot in
/// `message_bots`. 2^44 rows per bot, 2^19 bots.
const SEQ_BITS: u32 = 44;

/// The most bots one database numbers.
const MAX_SLOT: i64 = (1 << (63 - SEQ_BITS)) - 1;

/// Messages one row holds at most. A row per message cost SQLite 2.4–3.4 µs of CPU per
/// message — two b-tree inserts, and two deletes when retention drops it — on the cores
/// the command path needs (at 200,000 commands a second, most of one); a row per batch costs
/// it a twentieth of the b-tree work.
const BATCH: usize = 64;

/// The tables: the rows, keyed by `seq` = the bot's slot in the high bits and a count of
/// its rows in the low ones, so a bot's rows are one range of the table's own b-tree, oldest
/// first — pruning a bot is a range delete — each holding up to [`BATCH`] messages: `ids`
/// the JSON array of their `[context, id]`, `body` the JSON array of the messages, `n` how
/// many, `top` the highest id. A lookup searches the `ids` of a bot's rows, newest first,
/// for the pair (SQLite's `instr`, no index to keep up on every write): a fallback for
/// messages the bots' caches no longer hold: 3–6 ms for an id not there among 105,000
/// messages.
const TABLES: &str = "CREATE TABLE IF NOT EXISTS message_batches (
         seq  INTEGER PRIMARY KEY,
         bot  INTEGER NOT NULL,
         n    INTEGER NOT NULL,
         top  INTEGER NOT NULL,
         ids  TEXT NOT NULL,
         body TEXT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS message_bots (
         bot  INTEGER PRIMARY KEY,
         slot INTEGER NOT NULL UNIQUE
     );";

/// A message per row, for people and scripts: `sqlite3 data/messages.sqlite 'select time,
/// body from messages where id = 42'`.
const VIEW: &str = "CREATE VIEW IF NOT EXISTS messages AS
     SELECT b.bot AS bot, json_extract(i.value, '$[0]') AS context,
            json_extract(i.value, '$[1]') AS id,
            json_extract(m.value, '$.source.time') AS time, m.value AS body
     FROM message_batches b, json_each(b.ids) i, json_each(b.body) m
     WHERE i.key = m.key";

/// The `messages` table of the layouts before rows held batches (one row per message): what
/// a database of theirs is read from once.
const LEGACY_TABLE: &str = "CREATE TABLE IF NOT EXISTS messages (
         seq     INTEGER PRIMARY KEY,
         bot     INTEGER NOT NULL,
         context INTEGER NOT NULL,
         id      INTEGER NOT NULL,
         sender  INTEGER NOT NULL,
         time    INTEGER NOT NULL,
         body    TEXT NOT NULL,
         UNIQUE (bot, id, context) ON CONFLICT REPLACE
     )";

/// Creates the tables when they do not exist, moves the messages an earlier version kept in
/// `earlier` (`botgate.sqlite`) here, and puts the rows of the one-row-per-message layout
/// into batches.
fn create(db: &mut Connection, earlier: Option<&Path>) -> rusqlite::Result<()> {
    db.execute_batch(TABLES)?;
    let legacy = |db: &Connection| -> rusqlite::Result<bool> {
        db.query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'",
            [],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
    };
    if let Some(file) = earlier.filter(|file| file.is_file()) {
        move_from(db, file)?;
    }
    if legacy(db)? {
        let batched = batch_legacy_rows(db)?;
        if batched > 0 {
            info!("store: {batched} messages put into rows of up to {BATCH}");
        }
    }
    db.execute_batch(VIEW)
}

/// Puts the rows of the `messages` table (one message each) into rows of up to [`BATCH`]
/// of one bot each, in their order, and drops the table: one transaction.
fn batch_legacy_rows(db: &mut Connection) -> rusqlite::Result<usize> {
    let tx = db.transaction()?;
    let mut moved = 0;
    {
        let mut select =
            tx.prepare("SELECT seq, bot, context, id, body FROM messages ORDER BY seq")?;
        let mut rows = select.query([])?;
        // A batch takes the `seq` of its first message: unique, in the bot's range, in order.
        let mut batch: Option<(i64, UserId, Batch)> = None;
        while let Some(row) = rows.next()? {
            let (seq, bot, context, id, body): (i64, UserId, UserId, i32, String) =
                (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
            if let Some((first, owner, full)) = batch.take() {
                if owner == bot && full.len() < BATCH {
                    batch = Some((first, owner, full));
                } else {
                    full.insert(&tx, first, owner)?;
                }
            }
            let (_, _, open) = batch.get_or_insert_with(|| (seq, bot, Batch::default()));
            open.push(context, id, body);
            moved += 1;
        }
        if let Some((first, owner, last)) = batch {
            last.insert(&tx, first, owner)?;
        }
    }
    tx.execute_batch("DROP TABLE messages")?;
    tx.commit()?;
    Ok(moved)
}

/// Messages on their way into (or out of) one row: each with its contact, its id and its
/// JSON.
#[derive(Default)]
struct Batch {
    entries: Vec<(UserId, i32, String)>,
}

impl Batch {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn push(&mut self, context: UserId, id: i32, json: String) {
        self.entries.push((context, id, json));
    }

    /// Reads a row's `ids` and `body` back.
    fn parse(ids: &str, body: &str) -> Result<Batch, serde_json::Error> {
        let ids: Vec<(UserId, i32)> = serde_json::from_str(ids)?;
        let bodies: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(body)?;
        let entries = ids
            .into_iter()
            .zip(bodies)
            .map(|((context, id), json)| (context, id, String::from(Box::<str>::from(json))))
            .collect();
        Ok(Batch { entries })
    }

    /// The row's `n`, `top`, `ids` and `body`.
    fn columns(&self) -> (i64, i32, String, String) {
        let mut ids = String::with_capacity(self.entries.len() * 16 + 2);
        let mut body = String::with_capacity(self.entries.iter().map(|e| e.2.len() + 1).sum());
        ids.push('[');
        body.push('[');
        for (i, (context, id, json)) in self.entries.iter().enumerate() {
            if i > 0 {
                ids.push(',');
                body.push(',');
            }
            let _ = write!(ids, "[{context},{id}]");
            body.push_str(json);
        }
        ids.push(']');
        body.push(']');
        let top = self.entries.iter().map(|e| e.1).max().unwrap_or(i32::MIN);
        (self.entries.len() as i64, top, ids, body)
    }

    /// Writes the batch as the row `seq` of `bot` (replacing one there).
    fn insert(&self, tx: &Transaction<'_>, seq: i64, bot: UserId) -> rusqlite::Result<()> {
        let (n, top, ids, body) = self.columns();
        tx.prepare_cached(
            "INSERT OR REPLACE INTO message_batches (seq, bot, n, top, ids, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![seq, bot, n, top, ids, body])?;
        Ok(())
    }
}

/// The last `seq` of the range that starts at `first`.
fn last_of(first: i64) -> i64 {
    first | ((1 << SEQ_BITS) - 1)
}

/// What `instr` looks for in a row's `ids`: the pair, or with no contact the id in any.
fn needle(context: Option<UserId>, id: i32) -> String {
    match context {
        Some(context) => format!("[{context},{id}]"),
        None => format!(",{id}]"),
    }
}

/// Moves the `messages` table of `file`, where versions before the split kept it beside the
/// durable tables, into this database and drops it there. The move is one transaction over
/// both files; SQLite makes it atomic per file only, so a crash between the two commits
/// leaves the rows in both — and the next start moves them again onto the same `seq`s, which
/// replaces them with themselves.
fn move_from(db: &mut Connection, file: &Path) -> rusqlite::Result<()> {
    db.execute("ATTACH DATABASE ?1 AS earlier", params![file.to_string_lossy()])?;
    let moved = move_attached(db);
    if let Ok(n @ 1..) = moved {
        info!("store: moved {n} messages from {} to {MESSAGES_FILE}", file.display());
        // The dropped table's pages would stay in the file, free, at its size.
        if let Err(e) = db.execute_batch("VACUUM earlier") {
            warn!("store: compacting {} after the move failed: {e}", file.display());
        }
    }
    let detached = db.execute_batch("DETACH DATABASE earlier");
    moved?;
    detached
}

/// [`move_from`] once `earlier` is attached: the rows it moved.
fn move_attached(db: &mut Connection) -> rusqlite::Result<usize> {
    let exists = |db: &Connection, name: &str| -> rusqlite::Result<bool> {
        db.query_row(
            "SELECT 1 FROM earlier.sqlite_master WHERE type = 'table' AND name = ?1",
            params![name],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
    };
    if !exists(db, "messages")? {
        return Ok(0);
    }
    let numbered = exists(db, "message_bots")?;
    let tx = db.transaction()?;
    // They land in the one-row-per-message table, put into batches next; the view takes
    // its name.
    let view: Option<()> = tx
        .query_row(
            "SELECT 1 FROM main.sqlite_master WHERE type = 'view' AND name = 'messages'",
            [],
            |_| Ok(()),
        )
        .optional()?;
    if view.is_some() {
        tx.execute_batch("DROP VIEW main.messages")?;
    }
    tx.execute_batch(LEGACY_TABLE)?;
    let moved = if numbered {
        tx.execute(
            "INSERT OR REPLACE INTO main.message_bots (bot, slot)
                 SELECT bot, slot FROM earlier.message_bots",
            [],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO main.messages (seq, bot, context, id, sender, time, body)
                 SELECT seq, bot, context, id, sender, time, body FROM earlier.messages",
            [],
        )?
    } else {
        // The layouts before that numbered all bots' rows in one sequence, with an index
        // on (bot, seq) to find a bot's oldest (and, in the first, one on (bot, id)
        // besides the unique one): each bot gets a slot, its rows their order.
        tx.execute(
            "INSERT OR REPLACE INTO main.message_bots (bot, slot)
                 SELECT bot, row_number() OVER (ORDER BY bot)
                 FROM (SELECT DISTINCT bot FROM earlier.messages)",
            [],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO main.messages (seq, bot, context, id, sender, time, body)
                 SELECT (b.slot << ?1) | row_number() OVER (PARTITION BY m.bot ORDER BY m.seq),
                        m.bot, m.context, m.id, m.sender, m.time, m.body
                 FROM earlier.messages m JOIN main.message_bots b ON b.bot = m.bot",
            params![SEQ_BITS],
        )?
    };
    tx.execute_batch("DROP TABLE earlier.messages; DROP TABLE IF EXISTS earlier.message_bots;")?;
    tx.commit()?;
    Ok(moved)
}

/// The connection to `messages.sqlite` and what is known of each bot's rows: what writes,
/// looks up and counts messages, for whichever thread holds it.
pub(super) struct MessageRows {
    db: Connection,
    /// Messages kept per bot.
    messages_per_bot: usize,
    /// Where each bot's rows are and how many, read once and kept up to date, so numbering
    /// and retention need no query per batch.
    bots: HashMap<UserId, BotRows>,
    /// What checkpoints the WAL off this thread (none in memory).
    checkpointer: Option<Checkpointer>,
}

impl MessageRows {
    /// Opens (creating when needed) `messages.sqlite` in `data_dir`, moving the messages an
    /// earlier version kept in `botgate.sqlite` into it, or an in-memory database when
    /// `data_dir` is `None`.
    pub(super) fn open(
        data_dir: Option<&Path>,
        messages_per_bot: usize,
        priority: StorePriority,
    ) -> Result<MessageRows, StoreError> {
        let earlier = data_dir.map(|dir| dir.join(DATABASE_FILE));
        let db = open(data_dir, MESSAGES_FILE, |db| create(db, earlier.as_deref()))?;
        let checkpointer = match data_dir {
            Some(dir) => {
                db.pragma_update(None, "wal_autocheckpoint", WRITER_FALLBACK_PAGES).map_err(
                    |source| StoreError::Database { path: MESSAGES_FILE.to_owned(), source },
                )?;
                Some(Checkpointer::start(&dir.join(MESSAGES_FILE), priority)?)
            }
            None => None,
        };
        Ok(MessageRows { db, messages_per_bot, bots: HashMap::new(), checkpointer })
    }
}

/// Why a batch of changes was not written.
#[derive(Debug, thiserror::Error)]
pub(super) enum RecordError {
    /// SQLite's error.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    /// The numbering ran out (bots in the database, or messages of one bot).
    #[error("{0}")]
    Full(String),
}

/// Where a bot's rows are in the table, read once per bot and then kept here, so neither
/// numbering a message nor retention needs a query.
#[derive(Debug, Clone, Copy)]
struct BotRows {
    /// The first `seq` of the bot's range.
    first: i64,
    /// The `seq` its next message gets.
    next: i64,
    /// Its messages (a message added again under its id counts twice: the archive keeps
    /// both, a lookup finds the newer).
    count: usize,
}

impl BotRows {
    /// The last `seq` of the bot's range.
    fn last(&self) -> i64 {
        last_of(self.first)
    }

    /// Finds the bot's slot, giving it the next one when it has none yet, and counts its
    /// rows.
    fn load(db: &Connection, bot: UserId) -> Result<BotRows, RecordError> {
        let known: Option<i64> = db
            .query_row("SELECT slot FROM message_bots WHERE bot = ?1", params![bot], |r| r.get(0))
            .optional()?;
        let slot = match known {
            Some(slot) => slot,
            None => {
                let slot: i64 =
                    db.query_row("SELECT coalesce(max(slot), 0) + 1 FROM message_bots", [], |r| {
                        r.get(0)
                    })?;
                if slot > MAX_SLOT {
                    return Err(RecordError::Full(format!(
                        "the store numbers at most {MAX_SLOT} bots"
                    )));
                }
                db.execute(
                    "INSERT INTO message_bots (bot, slot) VALUES (?1, ?2)",
                    params![bot, slot],
                )?;
                slot
            }
        };
        let first = slot << SEQ_BITS;
        let mut rows = BotRows { first, next: first + 1, count: 0 };
        let (count, newest): (i64, Option<i64>) = db.query_row(
            "SELECT coalesce(sum(n), 0), max(seq) FROM message_batches WHERE seq BETWEEN ?1 AND ?2",
            params![first, rows.last()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        rows.count = count as usize;
        if let Some(newest) = newest {
            rows.next = newest + 1;
        }
        Ok(rows)
    }
}

/// A change to a bot's messages, in the order it happened.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum MessageChange {
    /// A message seen or sent, under the contact its id is unique within.
    Added(UserId, Arc<MessageEvent>),
    /// A message recalled: it no longer resolves.
    Removed(UserId, i32),
}

/// Writes a batch of changes to one bot's messages in one transaction.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct RecordMessages {
    /// The bot.
    pub bot: UserId,
    /// What changed, oldest first.
    pub changes: Vec<MessageChange>,
}

/// A message found in the store, with the contact it belongs to.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// The contact the message id is unique within.
    pub context: UserId,
    /// The message.
    pub message: MessageEvent,
}

/// Looks a message up by id — within `context`, or the newest with that id in any contact.
#[derive(Message)]
#[rtype(result = "Result<Option<StoredMessage>, String>")]
pub struct FindMessage {
    /// The bot.
    pub bot: UserId,
    /// The contact, when known.
    pub context: Option<UserId>,
    /// The message id.
    pub id: i32,
}

/// A bot's stored message count and highest message id: what is written, not what waits to
/// be.
#[derive(Message)]
#[rtype(result = "Result<(usize, Option<i32>), String>")]
pub struct StoredCount {
    /// The bot.
    pub bot: UserId,
}

/// A bot's message count and highest message id when the store opened: what a bot starting
/// in this run numbers on after.
#[derive(Message)]
#[rtype(result = "(usize, Option<i32>)")]
pub struct StoredBefore {
    /// The bot.
    pub bot: UserId,
}

impl MessageRows {
    /// Writes `changes` to `bot`'s messages in one transaction.
    pub(super) fn record(
        &mut self,
        bot: UserId,
        changes: &[MessageChange],
    ) -> Result<(), RecordError> {
        let tx = self.db.transaction()?;
        // Changed in memory only once the transaction commits: a rolled back batch leaves
        // the numbering and the count as the database has them.
        let mut rows = match self.bots.get(&bot) {
            Some(rows) => *rows,
            None => BotRows::load(&tx, bot)?,
        };
        let mut batch = Batch::default();
        for change in changes {
            match change {
                MessageChange::Added(context, m) => {
                    let json = match serde_json::to_string(m.as_ref()) {
                        Ok(json) => json,
                        Err(e) => {
                            warn!("store: message {} not serializable: {e}", m.source.id);
                            continue;
                        }
                    };
                    batch.push(*context, m.source.id, json);
                    if batch.len() == BATCH {
                        rows.append(&tx, bot, std::mem::take(&mut batch))?;
                    }
                }
                MessageChange::Removed(context, id) => {
                    let before = batch.len();
                    batch.entries.retain(|(c, i, _)| (c, i) != (context, id));
                    rows.count = rows.count.saturating_sub(before - batch.len());
                    let removed = rows.remove(&tx, *context, *id)?;
                    rows.count = rows.count.saturating_sub(removed);
                }
            }
        }
        if batch.len() > 0 {
            rows.append(&tx, bot, batch)?;
        }
        // Keep the newest `messages_per_bot`: once a bot is a sixteenth past the bound, its
        // oldest go down to the bound in one go — whole rows, and the first messages of the
        // row that straddles it.
        let bound = self.messages_per_bot;
        let excess = rows.count.saturating_sub(bound);
        if excess > bound / 16 {
            rows.trim(&tx, excess)?;
        }
        tx.commit()?;
        self.bots.insert(bot, rows);
        if let Some(checkpointer) = &mut self.checkpointer {
            checkpointer.committed();
        }
        Ok(())
    }

    /// Looks a message up: the newest with its id (in its contact, when given).
    pub(super) fn find(&mut self, msg: &FindMessage) -> rusqlite::Result<Option<StoredMessage>> {
        let Some((first, last)) = self.range(msg.bot)? else {
            return Ok(None);
        };
        let row: Option<(String, String)> = self
            .db
            .prepare_cached(
                "SELECT ids, body FROM message_batches
                 WHERE seq BETWEEN ?1 AND ?2 AND instr(ids, ?3) > 0
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row(params![first, last, needle(msg.context, msg.id)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((ids, body)) = row else {
            return Ok(None);
        };
        let unreadable = |e: &dyn std::fmt::Display| {
            warn!("store: message {} of bot {} unreadable: {e}", msg.id, msg.bot);
        };
        let batch = match Batch::parse(&ids, &body) {
            Ok(batch) => batch,
            Err(e) => {
                unreadable(&e);
                return Ok(None);
            }
        };
        let found = batch.entries.into_iter().rev().find(|(context, id, _)| {
            *id == msg.id && msg.context.is_none_or(|wanted| wanted == *context)
        });
        Ok(found.and_then(|(context, _, json)| match serde_json::from_str(&json) {
            Ok(message) => Some(StoredMessage { context, message }),
            Err(e) => {
                unreadable(&e);
                None
            }
        }))
    }
}

impl BotRows {
    /// Writes `batch` as the bot's next row.
    fn append(
        &mut self,
        tx: &Transaction<'_>,
        bot: UserId,
        batch: Batch,
    ) -> Result<(), RecordError> {
        if self.next > self.last() {
            return Err(RecordError::Full(format!(
                "bot {bot} has used all 2^{SEQ_BITS} row numbers"
            )));
        }
        batch.insert(tx, self.next, bot)?;
        self.next += 1;
        self.count += batch.len();
        Ok(())
    }

    /// Removes every message `id` of `context` from the bot's rows; answers how many.
    fn remove(&self, tx: &Transaction<'_>, context: UserId, id: i32) -> Result<usize, RecordError> {
        let hits: Vec<(i64, String, String)> = tx
            .prepare_cached(
                "SELECT seq, ids, body FROM message_batches
                 WHERE seq BETWEEN ?1 AND ?2 AND instr(ids, ?3) > 0",
            )?
            .query_map(params![self.first, self.last(), needle(Some(context), id)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut removed = 0;
        for (seq, ids, body) in hits {
            let Ok(mut batch) = Batch::parse(&ids, &body) else {
                warn!("store: row {seq} unreadable; message {id} stays in it");
                continue;
            };
            let before = batch.len();
            batch.entries.retain(|(c, i, _)| (*c, *i) != (context, id));
            removed += before - batch.len();
            self.rewrite(tx, seq, &batch)?;
        }
        Ok(removed)
    }

    /// Deletes the bot's oldest `excess` messages.
    fn trim(&mut self, tx: &Transaction<'_>, excess: usize) -> Result<(), RecordError> {
        let oldest: Vec<(i64, usize)> = {
            let mut select = tx.prepare_cached(
                "SELECT seq, n FROM message_batches WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
            )?;
            let mut rows = select.query(params![self.first, self.last()])?;
            let mut oldest = Vec::new();
            let mut covered = 0;
            while covered < excess {
                let Some(row) = rows.next()? else { break };
                let (seq, n): (i64, i64) = (row.get(0)?, row.get(1)?);
                covered += n as usize;
                oldest.push((seq, n as usize));
            }
            oldest
        };
        let mut left = excess;
        let mut whole = None;
        for (seq, n) in oldest {
            if n <= left {
                whole = Some(seq);
                left -= n;
                self.count = self.count.saturating_sub(n);
                continue;
            }
            // The row that straddles the bound loses its first `left` messages.
            let (ids, body): (String, String) = tx.query_row(
                "SELECT ids, body FROM message_batches WHERE seq = ?1",
                params![seq],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if let Ok(mut batch) = Batch::parse(&ids, &body) {
                batch.entries.drain(..left);
                self.rewrite(tx, seq, &batch)?;
                self.count = self.count.saturating_sub(left);
            }
            break;
        }
        if let Some(upto) = whole {
            tx.prepare_cached("DELETE FROM message_batches WHERE seq BETWEEN ?1 AND ?2")?
                .execute(params![self.first, upto])?;
        }
        Ok(())
    }

    /// Writes `batch` back as row `seq`, or deletes the row when nothing is left of it.
    fn rewrite(&self, tx: &Transaction<'_>, seq: i64, batch: &Batch) -> rusqlite::Result<()> {
        if batch.len() == 0 {
            tx.prepare_cached("DELETE FROM message_batches WHERE seq = ?1")?
                .execute(params![seq])?;
            return Ok(());
        }
        let (n, top, ids, body) = batch.columns();
        tx.prepare_cached(
            "UPDATE message_batches SET n = ?2, top = ?3, ids = ?4, body = ?5 WHERE seq = ?1",
        )?
        .execute(params![seq, n, top, ids, body])?;
        Ok(())
    }
}

impl MessageRows {
    /// The first and last `seq` of a bot's range, when it has a slot.
    fn range(&self, bot: UserId) -> rusqlite::Result<Option<(i64, i64)>> {
        let slot = self
            .db
            .prepare_cached("SELECT slot FROM message_bots WHERE bot = ?1")?
            .query_row(params![bot], |r| r.get::<_, i64>(0))
            .optional()?;
        Ok(slot.map(|slot| (slot << SEQ_BITS, last_of(slot << SEQ_BITS))))
    }

    /// A bot's stored message count and highest message id.
    pub(super) fn count(&mut self, bot: UserId) -> rusqlite::Result<(usize, Option<i32>)> {
        let Some((first, last)) = self.range(bot)? else {
            return Ok((0, None));
        };
        self.db
            .prepare_cached(
                "SELECT coalesce(sum(n), 0), max(top) FROM message_batches
                 WHERE seq BETWEEN ?1 AND ?2",
            )?
            .query_row(params![first, last], |r| Ok((r.get::<_, i64>(0)? as usize, r.get(1)?)))
    }

    /// Every bot's stored message count and highest message id.
    pub(super) fn counts(&mut self) -> rusqlite::Result<HashMap<UserId, (usize, Option<i32>)>> {
        self.db
            .prepare("SELECT bot, sum(n), max(top) FROM message_batches GROUP BY bot")?
            .query_map([], |r| Ok((r.get(0)?, (r.get::<_, i64>(1)? as usize, r.get(2)?))))?
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        MessageStore, MessageStoreConfig, StorePriority, DATABASE_FILE, MESSAGES_FILE,
    };
    use super::*;
    use crate::model::{Friend, MessageKind, MessageSource, Segment};

    /// `bot`'s count once everything sent to `store` before is written.
    async fn stored(
        store: &Addr<MessageStore>,
        bot: UserId,
    ) -> Result<(usize, Option<i32>), String> {
        store.send(super::super::Barrier).await.expect("mailbox");
        store.send(StoredCount { bot }).await.expect("mailbox")
    }

    fn message(id: i32, from: UserId, text: &str) -> Arc<MessageEvent> {
        Arc::new(MessageEvent {
            kind: MessageKind::Friend {
                sender: Friend { id: from, nickname: "A".into(), remark: String::new() },
            },
            source: MessageSource { id, time: 1_700_000_000 + i64::from(id) },
            message: vec![Segment::Text(text.into())],
        })
    }

    #[actix::test]
    async fn messages_resolve_by_id_are_removed_and_bounded_per_bot() {
        for priority in [StorePriority::Normal, StorePriority::Background] {
            resolve_remove_and_bound(priority).await;
        }
    }

    async fn resolve_remove_and_bound(priority: StorePriority) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MessageStore::start(
            Some(dir.path()),
            MessageStoreConfig { messages_per_bot: 3, priority },
        )
        .expect("store");
        let changes =
            (1..=5).map(|i| MessageChange::Added(20001, message(i, 20001, "hi"))).collect();
        store.send(RecordMessages { bot: 1, changes }).await.expect("mailbox").expect("record");
        let other = vec![MessageChange::Added(20002, message(9, 20002, "other bot"))];
        store.send(RecordMessages { bot: 2, changes: other }).await.expect("mb").expect("rec");

        let find = |bot, context, id| store.send(FindMessage { bot, context, id });
        assert!(find(1, Some(20001), 2).await.expect("mb").expect("q").is_none(), "bounded");
        let m = find(1, None, 5).await.expect("mb").expect("q").expect("found");
        assert_eq!((m.context, m.message), (20001, (*message(5, 20001, "hi")).clone()));
        assert!(find(1, Some(20002), 5).await.expect("mb").expect("q").is_none());
        assert_eq!(stored(&store, 1).await, Ok((3, Some(5))));
        assert_eq!(stored(&store, 2).await, Ok((1, Some(9))));

        let removed = vec![MessageChange::Removed(20001, 5)];
        store.send(RecordMessages { bot: 1, changes: removed }).await.expect("mb").expect("rec");
        assert!(find(1, None, 5).await.expect("mb").expect("q").is_none());
        assert!(dir.path().join(MESSAGES_FILE).is_file());
    }

    /// A database in `dir` made with an earlier layout's `schema`, holding a message from
    /// 20001 in group 20001 for each (bot, id), in that order of arrival.
    fn earlier_layout(dir: &std::path::Path, schema: &str, rows: &[(UserId, i32, &str)]) {
        let db = Connection::open(dir.join(DATABASE_FILE)).expect("db");
        db.execute_batch(schema).expect("the earlier layout");
        for (bot, id, text) in rows {
            let body = serde_json::to_string(&*message(*id, 20001, text)).expect("json");
            db.execute(
                "INSERT INTO messages (bot, context, id, sender, time, body)
                 VALUES (?1, 20001, ?2, 20001, 1700000000, ?3)",
                params![bot, id, body],
            )
            .expect("a row");
        }
    }

    #[actix::test]
    async fn a_database_of_the_first_layout_is_moved_to_the_current_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        earlier_layout(
            dir.path(),
            "CREATE TABLE messages (
                 seq INTEGER PRIMARY KEY, bot INTEGER NOT NULL, context INTEGER NOT NULL,
                 id INTEGER NOT NULL, sender INTEGER NOT NULL, time INTEGER NOT NULL,
                 body TEXT NOT NULL, UNIQUE (bot, context, id) ON CONFLICT REPLACE);
             CREATE INDEX messages_by_id ON messages (bot, id);
             CREATE INDEX messages_by_bot ON messages (bot, seq);",
            &[(1, 7, "kept")],
        );
        let store = MessageStore::start(
            Some(dir.path()),
            MessageStoreConfig { messages_per_bot: 10, ..Default::default() },
        )
        .expect("store");
        let found = store.send(FindMessage { bot: 1, context: None, id: 7 }).await.expect("mb");
        let found = found.expect("query").expect("the row moved");
        assert_eq!((found.context, found.message), (20001, (*message(7, 20001, "kept")).clone()));
        let changes = vec![MessageChange::Added(20001, message(7, 20001, "replaced"))];
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        // The archive keeps both; a lookup finds the newer.
        assert_eq!(stored(&store, 1).await, Ok((2, Some(7))));
        let found = store.send(FindMessage { bot: 1, context: Some(20001), id: 7 }).await;
        let found = found.expect("mb").expect("query").expect("found");
        assert_eq!(found.message, (*message(7, 20001, "replaced")).clone());
        drop(store);
        assert_eq!(names(&dir.path().join(DATABASE_FILE)), Vec::<String>::new(), "moved out");
        assert_eq!(names(&dir.path().join(MESSAGES_FILE)), current_layout(), "no old index");
    }

    /// The tables and indexes of the database `file`.
    fn names(file: &std::path::Path) -> Vec<String> {
        let db = Connection::open(file).expect("db");
        let names = db
            .prepare("SELECT name FROM sqlite_master ORDER BY name")
            .expect("query")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("names");
        names
    }

    /// What [`names`] lists for a database holding only the current layout.
    fn current_layout() -> Vec<String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("current.sqlite");
        create(&mut Connection::open(&file).expect("db"), None).expect("tables");
        names(&file)
    }

    /// Writes `rows` — (bot, id), in order of arrival — in the one-row-per-message layout
    /// to `file`, each bot's slot its number.
    fn numbered_layout(file: &std::path::Path, rows: &[(UserId, i32)]) {
        let db = Connection::open(file).expect("db");
        db.execute_batch(LEGACY_TABLE).expect("the table");
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS message_bots (
                 bot INTEGER PRIMARY KEY, slot INTEGER NOT NULL UNIQUE)",
        )
        .expect("the slots");
        for (n, (bot, id)) in rows.iter().enumerate() {
            let body = serde_json::to_string(&*message(*id, 20001, "old")).expect("json");
            db.execute("INSERT OR IGNORE INTO message_bots (bot, slot) VALUES (?1, ?1)", [bot])
                .expect("a slot");
            db.execute(
                "INSERT INTO messages (seq, bot, context, id, sender, time, body)
                 VALUES ((?1 << ?2) | ?3, ?1, 20001, ?4, 20001, 1700000000, ?5)",
                params![bot, SEQ_BITS, n as i64 + 1, id, body],
            )
            .expect("a row");
        }
    }

    #[actix::test]
    async fn the_messages_in_botgate_sqlite_move_to_their_own_file_and_the_rest_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let durable = dir.path().join(DATABASE_FILE);
        // As the version before the split left it: the messages beside the outbound table.
        let rows = [(1, 30), (2, 50), (1, 10), (1, 20)];
        numbered_layout(&durable, &rows);
        super::super::outbound::create(&Connection::open(&durable).expect("db")).expect("table");
        Connection::open(&durable)
            .expect("db")
            .execute("INSERT INTO outbound (dest, bot, body) VALUES ('d', 1, x'01')", [])
            .expect("an outbound row");
        // And as a crash between the move's two commits leaves it: the rows in both files.
        numbered_layout(&dir.path().join(MESSAGES_FILE), &rows);

        let store = MessageStore::start(
            Some(dir.path()),
            MessageStoreConfig { messages_per_bot: 3, ..Default::default() },
        )
        .expect("store");
        let count = |bot| stored(&store, bot);
        assert_eq!(count(1).await, Ok((3, Some(30))), "each row once");
        assert_eq!(count(2).await, Ok((1, Some(50))));
        // Bot 1's next message goes after its moved rows: the bound then drops id 30, the
        // first to arrive.
        let changes = vec![MessageChange::Added(20001, message(5, 20001, "new"))];
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        let find = |id| store.send(FindMessage { bot: 1, context: Some(20001), id });
        assert!(find(30).await.expect("mb").expect("q").is_none(), "the oldest went");
        for id in [10, 20, 5] {
            assert!(find(id).await.expect("mb").expect("q").is_some(), "id {id} kept");
        }
        drop(store);
        let db = Connection::open(&durable).expect("db");
        assert_eq!(names(&durable), ["outbound", "outbound_by_dest"], "the messages moved out");
        let here = dir.path().join(MESSAGES_FILE);
        assert_eq!(names(&here), current_layout(), "one row per message no more");
        let kept: i64 = db.query_row("SELECT count(*) FROM outbound", [], |r| r.get(0)).expect("n");
        assert_eq!(kept, 1, "the outbound row stays where it was");
    }

    #[actix::test]
    async fn a_database_of_the_second_layout_keeps_each_bots_order_when_moved() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Two bots' rows interleaved, and ids that are not in the order of arrival.
        let rows =
            [(2, 50), (1, 30), (2, 40), (1, 10), (1, 20), (2, 60)].map(|(b, i)| (b, i, "old"));
        earlier_layout(
            dir.path(),
            "CREATE TABLE messages (
                 seq INTEGER PRIMARY KEY, bot INTEGER NOT NULL, context INTEGER NOT NULL,
                 id INTEGER NOT NULL, sender INTEGER NOT NULL, time INTEGER NOT NULL,
                 body TEXT NOT NULL, UNIQUE (bot, id, context) ON CONFLICT REPLACE);
             CREATE INDEX messages_by_bot ON messages (bot, seq);",
            &rows,
        );
        let store = MessageStore::start(
            Some(dir.path()),
            MessageStoreConfig { messages_per_bot: 3, ..Default::default() },
        )
        .expect("store");
        let count = |bot| stored(&store, bot);
        assert_eq!(count(1).await, Ok((3, Some(30))));
        assert_eq!(count(2).await, Ok((3, Some(60))));
        // One more for bot 1 goes after its moved rows: the bound then drops its oldest,
        // id 30 (the first to arrive), and leaves bot 2 alone.
        let changes = vec![MessageChange::Added(20001, message(5, 20001, "new"))];
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        let find = |bot, id| store.send(FindMessage { bot, context: Some(20001), id });
        assert!(find(1, 30).await.expect("mb").expect("q").is_none(), "the oldest went");
        for id in [10, 20, 5] {
            assert!(find(1, id).await.expect("mb").expect("q").is_some(), "id {id} kept");
        }
        assert_eq!(count(2).await, Ok((3, Some(60))));
        drop(store);

        // A restart numbers on after the newest row.
        let store = MessageStore::start(
            Some(dir.path()),
            MessageStoreConfig { messages_per_bot: 3, ..Default::default() },
        )
        .expect("store");
        let changes = vec![MessageChange::Added(20001, message(7, 20001, "after"))];
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        let find = |bot, id| store.send(FindMessage { bot, context: Some(20001), id });
        assert!(find(1, 10).await.expect("mb").expect("q").is_none(), "then id 10");
        for id in [20, 5, 7] {
            assert!(find(1, id).await.expect("mb").expect("q").is_some(), "id {id} kept");
        }
    }

    #[actix::test]
    async fn a_large_bound_is_kept_with_its_slack_and_trimmed_in_one_go() {
        let store = MessageStore::start(
            None,
            MessageStoreConfig { messages_per_bot: 32, ..Default::default() },
        )
        .expect("store");
        let count = || stored(&store, 1);
        for i in 1..=34 {
            let changes = vec![MessageChange::Added(20001, message(i, 20001, "m"))];
            store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        }
        // 34 is within 32 + 32/16: nothing is deleted yet.
        assert_eq!(count().await, Ok((34, Some(34))));
        let changes = vec![MessageChange::Added(20001, message(35, 20001, "m"))];
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        assert_eq!(count().await, Ok((32, Some(35))), "trimmed to the bound");
        let oldest = store.send(FindMessage { bot: 1, context: Some(20001), id: 4 });
        assert!(oldest.await.expect("mb").expect("q").is_some(), "the newest 32 are kept");
        let gone = store.send(FindMessage { bot: 1, context: Some(20001), id: 3 });
        assert!(gone.await.expect("mb").expect("q").is_none());
    }

    /// The store's rows on disk: each row's message count, oldest first.
    fn row_sizes(dir: &std::path::Path) -> Vec<i64> {
        let db = Connection::open(dir.join(MESSAGES_FILE)).expect("db");
        let sizes = db
            .prepare("SELECT n FROM message_batches ORDER BY seq")
            .expect("query")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("sizes");
        sizes
    }

    #[actix::test]
    async fn messages_go_into_rows_of_64_and_resolve_exactly_by_contact_and_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            MessageStore::start(Some(dir.path()), MessageStoreConfig::default()).expect("store");
        let changes =
            (1..=200).map(|i| MessageChange::Added(20001, message(i, 20001, "m"))).collect();
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        // Ids whose text contains another's, and a contact whose text contains another's.
        let changes = vec![
            MessageChange::Added(120001, message(-5, 120001, "minus five elsewhere")),
            MessageChange::Added(120001, message(1005, 120001, "elsewhere")),
        ];
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        store.send(super::super::Barrier).await.expect("written");
        assert_eq!(row_sizes(dir.path()), [64, 64, 64, 8, 2]);
        let find = |context, id| store.send(FindMessage { bot: 1, context, id });
        for id in [1, 64, 65, 130, 200] {
            let found = find(Some(20001), id).await.expect("mb").expect("q").expect("found");
            assert_eq!((found.context, found.message.source.id), (20001, id));
        }
        let found = find(None, 5).await.expect("mb").expect("q").expect("found");
        assert_eq!((found.context, found.message.source.id), (20001, 5), "not -5, not 1005");
        let found = find(None, -5).await.expect("mb").expect("q").expect("found");
        assert_eq!((found.context, found.message.source.id), (120001, -5));
        assert!(
            find(Some(20001), 1005).await.expect("mb").expect("q").is_none(),
            "another contact"
        );
        assert!(find(Some(20001), 201).await.expect("mb").expect("q").is_none());
        assert!(store
            .send(FindMessage { bot: 2, context: None, id: 5 })
            .await
            .expect("mb")
            .expect("q")
            .is_none());
        // One message per row of the view, for sqlite3 at the command line.
        let db = Connection::open(dir.path().join(MESSAGES_FILE)).expect("db");
        let (n, time): (i64, i64) = db
            .query_row(
                "SELECT count(*), max(time) FROM messages WHERE bot = 1 AND context = 20001",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("the view");
        assert_eq!((n, time), (200, 1_700_000_200));
    }

    #[actix::test]
    async fn a_recall_removes_the_message_from_its_row_or_before_it_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            MessageStore::start(Some(dir.path()), MessageStoreConfig::default()).expect("store");
        let changes =
            (1..=70).map(|i| MessageChange::Added(20001, message(i, 20001, "m"))).collect();
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        let changes = vec![
            MessageChange::Removed(20001, 3),
            MessageChange::Added(20001, message(71, 20001, "sent")),
            MessageChange::Removed(20001, 71),
            MessageChange::Removed(20001, 66),
            MessageChange::Removed(20002, 4),
        ];
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        let find = |id| store.send(FindMessage { bot: 1, context: Some(20001), id });
        for id in [3, 66, 71] {
            assert!(find(id).await.expect("mb").expect("q").is_none(), "id {id} recalled");
        }
        for id in [2, 4, 65, 67, 70] {
            assert!(find(id).await.expect("mb").expect("q").is_some(), "id {id} kept");
        }
        assert_eq!(stored(&store, 1).await, Ok((68, Some(70))));
        assert_eq!(row_sizes(dir.path()), [63, 5], "the recalls rewrote the rows");
    }

    #[actix::test]
    async fn the_bound_drops_whole_rows_and_the_first_messages_of_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = MessageStoreConfig { messages_per_bot: 100, ..Default::default() };
        let store = MessageStore::start(Some(dir.path()), config).expect("store");
        let changes =
            (1..=170).map(|i| MessageChange::Added(20001, message(i, 20001, "m"))).collect();
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        // 170 is past 100 + 100/16: the oldest 70 go, one whole row of 64 and 6 of the next.
        assert_eq!(stored(&store, 1).await, Ok((100, Some(170))));
        assert_eq!(row_sizes(dir.path()), [58, 42]);
        let find = |id| store.send(FindMessage { bot: 1, context: Some(20001), id });
        assert!(find(70).await.expect("mb").expect("q").is_none());
        assert!(find(71).await.expect("mb").expect("q").is_some());
    }
}
