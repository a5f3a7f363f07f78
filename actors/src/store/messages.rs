//! The `messages` table: every message a bot saw or sent — its id, the contact the id is
//! unique within, sender, time, and the model's message as JSON — bounded per bot.

use std::sync::Arc;

use actix::prelude::*;
use log::warn;
use rusqlite::{params, Connection, OptionalExtension};

use super::StoreActor;
use crate::model::{MessageEvent, UserId};

/// How many low bits of `seq` number a bot's messages; the bits above are its slot in
/// `message_bots`. 2^44 messages per bot (five years at 100,000 a second), 2^19 bots.
const SEQ_BITS: u32 = 44;

/// The most bots one database numbers.
const MAX_SLOT: i64 = (1 << (63 - SEQ_BITS)) - 1;

/// The tables: the rows, keyed by `seq` = the bot's slot in the high bits and a count of
/// its messages in the low ones, so a bot's rows are one range of the table's own b-tree,
/// oldest first — pruning a bot is a range delete and needs no index of its own — and one
/// index, the unique (bot, id, context) that resolves an id within a contact or in any
/// contact. Every b-tree is written on every insert and delete: the store's cost per
/// message is mostly these two.
const TABLES: &str = "CREATE TABLE IF NOT EXISTS messages (
         seq     INTEGER PRIMARY KEY,
         bot     INTEGER NOT NULL,
         context INTEGER NOT NULL,
         id      INTEGER NOT NULL,
         sender  INTEGER NOT NULL,
         time    INTEGER NOT NULL,
         body    TEXT NOT NULL,
         UNIQUE (bot, id, context) ON CONFLICT REPLACE
     );
     CREATE TABLE IF NOT EXISTS message_bots (
         bot  INTEGER PRIMARY KEY,
         slot INTEGER NOT NULL UNIQUE
     );";

/// Creates the tables when they do not exist, and moves the rows of an earlier layout —
/// one numbering of all bots' rows, with an index on (bot, seq) to find a bot's oldest
/// (and, in the first, one on (bot, id) besides the unique one): one or two b-trees more
/// per message — into the current one, each bot's rows in their order.
pub(super) fn create(db: &mut Connection) -> rusqlite::Result<()> {
    let exists = |db: &Connection, kind: &str, name: &str| -> rusqlite::Result<bool> {
        db.query_row(
            "SELECT 1 FROM sqlite_master WHERE type = ?1 AND name = ?2",
            params![kind, name],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
    };
    let earlier_layout = exists(db, "table", "messages")? && !exists(db, "table", "message_bots")?;
    if !earlier_layout {
        return db.execute_batch(TABLES);
    }
    let tx = db.transaction()?;
    tx.execute_batch(
        "DROP INDEX IF EXISTS messages_by_id;
         DROP INDEX IF EXISTS messages_by_bot;
         ALTER TABLE messages RENAME TO messages_earlier_layout;",
    )?;
    tx.execute_batch(TABLES)?;
    tx.execute(
        "INSERT INTO message_bots (bot, slot)
             SELECT bot, row_number() OVER (ORDER BY bot)
             FROM (SELECT DISTINCT bot FROM messages_earlier_layout)",
        [],
    )?;
    tx.execute(
        "INSERT INTO messages (seq, bot, context, id, sender, time, body)
             SELECT (b.slot << ?1) | row_number() OVER (PARTITION BY m.bot ORDER BY m.seq),
                    m.bot, m.context, m.id, m.sender, m.time, m.body
             FROM messages_earlier_layout m JOIN message_bots b ON b.bot = m.bot",
        params![SEQ_BITS],
    )?;
    tx.execute_batch("DROP TABLE messages_earlier_layout;")?;
    tx.commit()
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
pub(super) struct BotRows {
    /// The first `seq` of the bot's range.
    first: i64,
    /// The `seq` its next message gets.
    next: i64,
    /// Its rows (a replaced row counts twice until the next prune trims one extra).
    count: usize,
}

impl BotRows {
    /// The last `seq` of the bot's range.
    fn last(&self) -> i64 {
        self.first | ((1 << SEQ_BITS) - 1)
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
            "SELECT count(*), max(seq) FROM messages WHERE seq BETWEEN ?1 AND ?2",
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

/// A bot's stored message count and highest message id.
#[derive(Message)]
#[rtype(result = "Result<(usize, Option<i32>), String>")]
pub struct StoredCount {
    /// The bot.
    pub bot: UserId,
}

impl StoreActor {
    fn record(&mut self, bot: UserId, changes: &[MessageChange]) -> Result<(), RecordError> {
        let tx = self.db.transaction()?;
        // Changed in memory only once the transaction commits: a rolled back batch leaves
        // the numbering and the count as the database has them.
        let mut rows = match self.bots.get(&bot) {
            Some(rows) => *rows,
            None => BotRows::load(&tx, bot)?,
        };
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO messages (seq, bot, context, id, sender, time, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut delete = tx.prepare_cached(
                "DELETE FROM messages WHERE bot = ?1 AND context = ?2 AND id = ?3",
            )?;
            for change in changes {
                match change {
                    MessageChange::Added(context, m) => {
                        let body = match serde_json::to_string(m.as_ref()) {
                            Ok(b) => b,
                            Err(e) => {
                                warn!("store: message {} not serializable: {e}", m.source.id);
                                continue;
                            }
                        };
                        if rows.next > rows.last() {
                            return Err(RecordError::Full(format!(
                                "bot {bot} has used all 2^{SEQ_BITS} message numbers"
                            )));
                        }
                        insert.execute(params![
                            rows.next,
                            bot,
                            context,
                            m.source.id,
                            m.kind.sender_id(bot),
                            m.source.time,
                            body
                        ])?;
                        rows.next += 1;
                        rows.count += 1;
                    }
                    MessageChange::Removed(context, id) => {
                        rows.count =
                            rows.count.saturating_sub(delete.execute(params![bot, context, id])?);
                    }
                }
            }
            // Keep the newest `messages_per_bot`: once a bot is a sixteenth past the bound,
            // delete its oldest rows down to the bound in one statement — one row deleted
            // with every row inserted doubled the store's work. Its oldest are the start of
            // its range of the table.
            let bound = self.config.messages_per_bot;
            let excess = rows.count.saturating_sub(bound);
            if excess > bound / 16 {
                let deleted = tx
                    .prepare_cached(
                        "DELETE FROM messages WHERE seq IN (
                         SELECT seq FROM messages WHERE seq BETWEEN ?1 AND ?2
                         ORDER BY seq LIMIT ?3)",
                    )?
                    .execute(params![rows.first, rows.last(), excess as i64])?;
                rows.count = rows.count.saturating_sub(deleted);
            }
        }
        tx.commit()?;
        self.bots.insert(bot, rows);
        Ok(())
    }

    fn find(&mut self, msg: &FindMessage) -> rusqlite::Result<Option<StoredMessage>> {
        let row = match msg.context {
            Some(context) => self
                .db
                .prepare_cached(
                    "SELECT context, body FROM messages WHERE bot = ?1 AND context = ?2 AND id = ?3",
                )?
                .query_row(params![msg.bot, context, msg.id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?,
            None => self
                .db
                .prepare_cached(
                    "SELECT context, body FROM messages WHERE bot = ?1 AND id = ?2
                     ORDER BY seq DESC LIMIT 1",
                )?
                .query_row(params![msg.bot, msg.id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?,
        };
        Ok(row.and_then(|(context, body): (UserId, String)| {
            match serde_json::from_str::<MessageEvent>(&body) {
                Ok(message) => Some(StoredMessage { context, message }),
                Err(e) => {
                    warn!("store: message {} of bot {} unreadable: {e}", msg.id, msg.bot);
                    None
                }
            }
        }))
    }
}

impl Handler<RecordMessages> for StoreActor {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: RecordMessages, _: &mut Self::Context) -> Self::Result {
        self.record(msg.bot, &msg.changes).map_err(|e| e.to_string())
    }
}

impl Handler<FindMessage> for StoreActor {
    type Result = Result<Option<StoredMessage>, String>;

    fn handle(&mut self, msg: FindMessage, _: &mut Self::Context) -> Self::Result {
        self.find(&msg).map_err(|e| e.to_string())
    }
}

impl Handler<StoredCount> for StoreActor {
    type Result = Result<(usize, Option<i32>), String>;

    fn handle(&mut self, msg: StoredCount, _: &mut Self::Context) -> Self::Result {
        self.db
            .prepare_cached("SELECT count(*), max(id) FROM messages WHERE bot = ?1")
            .and_then(|mut s| {
                s.query_row(params![msg.bot], |r| Ok((r.get::<_, i64>(0)? as usize, r.get(1)?)))
            })
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{StoreActor, StoreConfig};
    use super::*;
    use crate::model::{Friend, MessageKind, MessageSource, Segment};

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
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StoreActor::start(
            Some(dir.path()),
            StoreConfig { messages_per_bot: 3, ..Default::default() },
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
        assert_eq!(store.send(StoredCount { bot: 1 }).await.expect("mb"), Ok((3, Some(5))));
        assert_eq!(store.send(StoredCount { bot: 2 }).await.expect("mb"), Ok((1, Some(9))));

        let removed = vec![MessageChange::Removed(20001, 5)];
        store.send(RecordMessages { bot: 1, changes: removed }).await.expect("mb").expect("rec");
        assert!(find(1, None, 5).await.expect("mb").expect("q").is_none());
        assert!(dir.path().join(super::super::DATABASE_FILE).is_file());
    }

    /// A database in `dir` made with an earlier layout's `schema`, holding a message from
    /// 20001 in group 20001 for each (bot, id), in that order of arrival.
    fn earlier_layout(dir: &std::path::Path, schema: &str, rows: &[(UserId, i32, &str)]) {
        let db = Connection::open(dir.join(super::super::DATABASE_FILE)).expect("db");
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
        let store = StoreActor::start(
            Some(dir.path()),
            StoreConfig { messages_per_bot: 10, ..Default::default() },
        )
        .expect("store");
        let found = store.send(FindMessage { bot: 1, context: None, id: 7 }).await.expect("mb");
        let found = found.expect("query").expect("the row moved");
        assert_eq!((found.context, found.message), (20001, (*message(7, 20001, "kept")).clone()));
        let changes = vec![MessageChange::Added(20001, message(7, 20001, "replaced"))];
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        assert_eq!(store.send(StoredCount { bot: 1 }).await.expect("mb"), Ok((1, Some(7))));
        drop(store);
        let db = Connection::open(dir.path().join(super::super::DATABASE_FILE)).expect("db");
        let indexes: Vec<String> = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
            .expect("query")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("names");
        assert!(!indexes.iter().any(|n| n == "messages_by_id"), "{indexes:?}");
        assert!(!indexes.iter().any(|n| n == "messages_by_bot"), "{indexes:?}");
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
        let store = StoreActor::start(
            Some(dir.path()),
            StoreConfig { messages_per_bot: 3, ..Default::default() },
        )
        .expect("store");
        let count = |bot| store.send(StoredCount { bot });
        assert_eq!(count(1).await.expect("mb"), Ok((3, Some(30))));
        assert_eq!(count(2).await.expect("mb"), Ok((3, Some(60))));
        // One more for bot 1 goes after its moved rows: the bound then drops its oldest,
        // id 30 (the first to arrive), and leaves bot 2 alone.
        let changes = vec![MessageChange::Added(20001, message(5, 20001, "new"))];
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        let find = |bot, id| store.send(FindMessage { bot, context: Some(20001), id });
        assert!(find(1, 30).await.expect("mb").expect("q").is_none(), "the oldest went");
        for id in [10, 20, 5] {
            assert!(find(1, id).await.expect("mb").expect("q").is_some(), "id {id} kept");
        }
        assert_eq!(count(2).await.expect("mb"), Ok((3, Some(60))));
        drop(store);

        // A restart numbers on after the newest row.
        let store = StoreActor::start(
            Some(dir.path()),
            StoreConfig { messages_per_bot: 3, ..Default::default() },
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
        let store =
            StoreActor::start(None, StoreConfig { messages_per_bot: 32, ..Default::default() })
                .expect("store");
        let count = || store.send(StoredCount { bot: 1 });
        for i in 1..=34 {
            let changes = vec![MessageChange::Added(20001, message(i, 20001, "m"))];
            store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        }
        // 34 is within 32 + 32/16: nothing is deleted yet.
        assert_eq!(count().await.expect("mb"), Ok((34, Some(34))));
        let changes = vec![MessageChange::Added(20001, message(35, 20001, "m"))];
        store.send(RecordMessages { bot: 1, changes }).await.expect("mb").expect("record");
        assert_eq!(count().await.expect("mb"), Ok((32, Some(35))), "trimmed to the bound");
        let oldest = store.send(FindMessage { bot: 1, context: Some(20001), id: 4 });
        assert!(oldest.await.expect("mb").expect("q").is_some(), "the newest 32 are kept");
        let gone = store.send(FindMessage { bot: 1, context: Some(20001), id: 3 });
        assert!(gone.await.expect("mb").expect("q").is_none());
    }
}
