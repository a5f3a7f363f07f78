//! The `id_maps` table: a platform's ids that are not integers (QQ official openids, guild
//! and channel ids, message ids) and the integers botgate gave them, per bot and space.
//! Both directions are unique, so the map is reversible and collision-free; a number once
//! given keeps its meaning across restarts. The message space is bounded like the
//! `messages` table (the oldest mappings go first); contacts are kept.

use actix::prelude::*;
use rusqlite::{params, Connection};

use super::StoreActor;
use crate::model::UserId;

/// Creates the table when it does not exist.
pub(super) fn create(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS id_maps (
             seq   INTEGER PRIMARY KEY,
             bot   INTEGER NOT NULL,
             space TEXT NOT NULL,
             key   TEXT NOT NULL,
             id    INTEGER NOT NULL,
             UNIQUE (bot, space, key),
             UNIQUE (bot, space, id)
         );",
    )
}

/// Which numbering an id belongs to: contacts (one sequence for every kind of contact, so a
/// number names one thing) or messages (int32, OneBot's `message_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum IdSpace {
    /// Groups, users, members, guilds, channels, direct-message sessions.
    Contact,
    /// Messages.
    Message,
    /// Openids botgate gave the contacts of a bot it serves to an SDK: the key holds the
    /// openid and what it names, the number only orders them.
    Openid,
}

impl IdSpace {
    fn name(self) -> &'static str {
        match self {
            IdSpace::Contact => "contact",
            IdSpace::Message => "message",
            IdSpace::Openid => "openid",
        }
    }
}

/// One mapping: the platform's key (its kind prefixed, e.g. `group:9F3A…`) and its number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdMapping {
    /// The numbering.
    pub space: IdSpace,
    /// The platform's id, prefixed with its kind.
    pub key: String,
    /// The number botgate gave it.
    pub id: i64,
}

/// Records new mappings of one bot (numbers are given by the bot's source, which alone
/// allocates them; this only makes them last).
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct RecordIds {
    /// The bot.
    pub bot: UserId,
    /// The new mappings, oldest first.
    pub mappings: Vec<IdMapping>,
}

/// Every mapping of one bot, oldest first.
#[derive(Message)]
#[rtype(result = "Result<Vec<IdMapping>, String>")]
pub struct LoadIds {
    /// The bot.
    pub bot: UserId,
}

impl StoreActor {
    fn record_ids(&mut self, msg: &RecordIds) -> rusqlite::Result<()> {
        let tx = self.db.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO id_maps (bot, space, key, id) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for m in &msg.mappings {
                if insert.execute(params![msg.bot, m.space.name(), m.key, m.id])? == 0 {
                    log::warn!(
                        "store: mapping {} → {} of bot {} conflicts with a stored one; kept the \
                         stored one",
                        m.key,
                        m.id,
                        msg.bot
                    );
                }
            }
            let bound = self.message_ids_per_bot as i64;
            tx.execute(
                "DELETE FROM id_maps WHERE seq IN (
                     SELECT seq FROM id_maps WHERE bot = ?1 AND space = 'message'
                     ORDER BY seq DESC LIMIT -1 OFFSET ?2)",
                params![msg.bot, bound],
            )?;
        }
        tx.commit()
    }

    fn load_ids(&mut self, bot: UserId) -> rusqlite::Result<Vec<IdMapping>> {
        let mut query = self
            .db
            .prepare_cached("SELECT space, key, id FROM id_maps WHERE bot = ?1 ORDER BY seq")?;
        let rows = query.query_map(params![bot], |r| {
            let space: String = r.get(0)?;
            Ok(IdMapping {
                space: match space.as_str() {
                    "message" => IdSpace::Message,
                    "openid" => IdSpace::Openid,
                    _ => IdSpace::Contact,
                },
                key: r.get(1)?,
                id: r.get(2)?,
            })
        })?;
        rows.collect()
    }
}

impl Handler<RecordIds> for StoreActor {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: RecordIds, _: &mut Self::Context) -> Self::Result {
        self.record_ids(&msg).map_err(|e| e.to_string())
    }
}

impl Handler<LoadIds> for StoreActor {
    type Result = Result<Vec<IdMapping>, String>;

    fn handle(&mut self, msg: LoadIds, _: &mut Self::Context) -> Self::Result {
        self.load_ids(msg.bot).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::super::StoreActor;
    use super::*;

    fn mapping(space: IdSpace, key: &str, id: i64) -> IdMapping {
        IdMapping { space, key: key.to_owned(), id }
    }

    #[actix::test]
    async fn mappings_survive_a_reopen_are_unique_and_messages_are_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StoreActor::start(Some(dir.path()), 2).expect("store");
        let mappings = vec![
            mapping(IdSpace::Contact, "group:A", 100_001),
            mapping(IdSpace::Contact, "user:B", 100_002),
            mapping(IdSpace::Message, "m1", 1),
            mapping(IdSpace::Message, "m2", 2),
            mapping(IdSpace::Message, "m3", 3),
            // A second number for a known key is refused: the first one stands.
            mapping(IdSpace::Contact, "group:A", 100_009),
        ];
        store.send(RecordIds { bot: 1, mappings }).await.expect("mailbox").expect("record");
        let other = vec![mapping(IdSpace::Contact, "group:A", 100_001)];
        store.send(RecordIds { bot: 2, mappings: other }).await.expect("mb").expect("rec");
        drop(store);

        let store = StoreActor::start(Some(dir.path()), 2).expect("reopened");
        let loaded = store.send(LoadIds { bot: 1 }).await.expect("mb").expect("load");
        assert_eq!(
            loaded,
            vec![
                mapping(IdSpace::Contact, "group:A", 100_001),
                mapping(IdSpace::Contact, "user:B", 100_002),
                mapping(IdSpace::Message, "m2", 2),
                mapping(IdSpace::Message, "m3", 3),
            ]
        );
        assert_eq!(store.send(LoadIds { bot: 2 }).await.expect("mb").expect("load").len(), 1);
    }
}
