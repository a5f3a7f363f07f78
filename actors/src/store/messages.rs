//! The `messages` table: every message a bot saw or sent — its id, the contact the id is
//! unique within, sender, time, and the model's message as JSON — bounded per bot.

use std::sync::Arc;

use actix::prelude::*;
use log::warn;
use rusqlite::{params, Connection, OptionalExtension};

use super::StoreActor;
use crate::model::{MessageEvent, UserId};

/// Creates the table and its indexes when they do not exist.
pub(super) fn create(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS messages (
             seq     INTEGER PRIMARY KEY,
             bot     INTEGER NOT NULL,
             context INTEGER NOT NULL,
             id      INTEGER NOT NULL,
             sender  INTEGER NOT NULL,
             time    INTEGER NOT NULL,
             body    TEXT NOT NULL,
             UNIQUE (bot, context, id) ON CONFLICT REPLACE
         );
         CREATE INDEX IF NOT EXISTS messages_by_id ON messages (bot, id);
         CREATE INDEX IF NOT EXISTS messages_by_bot ON messages (bot, seq);",
    )
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
            // Keep the newest `messages_per_bot`: delete the oldest rows past the bound, as
            // many as there are (the count is kept here, so no pass over the table).
            let excess = count.saturating_sub(self.config.messages_per_bot);
            if excess > 0 {
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
}
