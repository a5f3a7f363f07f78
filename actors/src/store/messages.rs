//! The `messages` table: every message a bot saw or sent — its id, the contact the id is
//! unique within, sender, time, and the model's message as JSON — bounded per bot.

use std::sync::Arc;

use actix::prelude::*;
use log::warn;
use rusqlite::{params, Connection, OptionalExtension};

use super::StoreActor;
use crate::model::{MessageEvent, UserId};

/// The table: one b-tree for the rows and two indexes — the unique (bot, id, context) that
/// resolves an id within a contact or in any contact, and (bot, seq) that finds a bot's oldest
/// rows to prune. Every index is written on every insert and delete: the store's cost per
/// message is mostly these b-trees.
const TABLE: &str = "CREATE TABLE IF NOT EXISTS messages (
         seq     INTEGER PRIMARY KEY,
         bot     INTEGER NOT NULL,
         context INTEGER NOT NULL,
         id      INTEGER NOT NULL,
         sender  INTEGER NOT NULL,
         time    INTEGER NOT NULL,
         body    TEXT NOT NULL,
         UNIQUE (bot, id, context) ON CONFLICT REPLACE
     );
     CREATE INDEX IF NOT EXISTS messages_by_bot ON messages (bot, seq);";

/// Creates the table and its indexes when they do not exist, and moves the rows of the
/// first layout (unique on (bot, context, id) plus an index on (bot, id): one b-tree more
/// per message) into the current one.
pub(super) fn create(db: &mut Connection) -> rusqlite::Result<()> {
    let first_layout = db
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'messages_by_id'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !first_layout {
        return db.execute_batch(TABLE);
    }
    let tx = db.transaction()?;
    tx.execute_batch(
        "DROP INDEX messages_by_id;
         DROP INDEX messages_by_bot;
         ALTER TABLE messages RENAME TO messages_first_layout;",
    )?;
    tx.execute_batch(TABLE)?;
    tx.execute_batch(
        "INSERT INTO messages (seq, bot, context, id, sender, time, body)
             SELECT seq, bot, context, id, sender, time, body FROM messages_first_layout;
         DROP TABLE messages_first_layout;",
    )?;
    tx.commit()
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
    fn record(&mut self, bot: UserId, changes: &[MessageChange]) -> rusqlite::Result<()> {
        let known = self.counts.get(&bot).copied();
        let tx = self.db.transaction()?;
        let mut count = match known {
            Some(c) => c,
            None => {
                tx.query_row("SELECT count(*) FROM messages WHERE bot = ?1", params![bot], |r| {
                    r.get::<_, i64>(0)
                })? as usize
            }
        };
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO messages (bot, context, id, sender, time, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
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
                        insert.execute(params![
                            bot,
                            context,
                            m.source.id,
                            m.kind.sender_id(bot),
                            m.source.time,
                            body
                        ])?;
                        // A replaced row counts twice until the next prune trims one extra.
                        count += 1;
                    }
                    MessageChange::Removed(context, id) => {
                        count = count.saturating_sub(delete.execute(params![bot, context, id])?);
                    }
                }
            }
            // Keep the newest `messages_per_bot`: once a bot is a sixteenth past the bound,
            // delete its oldest rows down to the bound in one statement — one row deleted
            // with every row inserted doubled the store's work (the count is kept here, so
            // no pass over the table).
            let bound = self.config.messages_per_bot;
            let excess = count.saturating_sub(bound);
            if excess > bound / 16 {
                let deleted = tx.execute(
                    "DELETE FROM messages WHERE seq IN (
                         SELECT seq FROM messages WHERE bot = ?1 ORDER BY seq LIMIT ?2)",
                    params![bot, excess as i64],
                )?;
                count = count.saturating_sub(deleted);
            }
        }
        tx.commit()?;
        self.counts.insert(bot, count);
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
        let store = StoreActor::start(Some(dir.path()), StoreConfig { messages_per_bot: 3 })
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

    #[actix::test]
    async fn a_database_of_the_first_layout_is_moved_to_the_current_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = Connection::open(dir.path().join(super::super::DATABASE_FILE)).expect("db");
            db.execute_batch(
                "CREATE TABLE messages (
                     seq INTEGER PRIMARY KEY, bot INTEGER NOT NULL, context INTEGER NOT NULL,
                     id INTEGER NOT NULL, sender INTEGER NOT NULL, time INTEGER NOT NULL,
                     body TEXT NOT NULL, UNIQUE (bot, context, id) ON CONFLICT REPLACE);
                 CREATE INDEX messages_by_id ON messages (bot, id);
                 CREATE INDEX messages_by_bot ON messages (bot, seq);",
            )
            .expect("the first layout");
            let body = serde_json::to_string(&*message(7, 20001, "kept")).expect("json");
            db.execute(
                "INSERT INTO messages (bot, context, id, sender, time, body)
                 VALUES (1, 20001, 7, 20001, 1700000007, ?1)",
                params![body],
            )
            .expect("a row");
        }
        let store = StoreActor::start(Some(dir.path()), StoreConfig { messages_per_bot: 10 })
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
        assert!(indexes.iter().any(|n| n == "messages_by_bot"), "{indexes:?}");
    }

    #[actix::test]
    async fn a_large_bound_is_kept_with_its_slack_and_trimmed_in_one_go() {
        let store = StoreActor::start(None, StoreConfig { messages_per_bot: 32 }).expect("store");
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
