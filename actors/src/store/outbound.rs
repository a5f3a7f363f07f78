//! The `outbound` table: what an outbound destination has accepted and not yet delivered, in
//! order — appended before an event counts as accepted, deleted once the destination has it,
//! and delivered first after a restart. Bounded per destination like its memory buffer: the
//! oldest rows go beyond it, counted.

use actix::prelude::*;
use bytes::Bytes;
use rusqlite::{params, Connection};

use super::StoreActor;
use crate::model::UserId;

/// Creates the table when it does not exist.
pub(super) fn create(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS outbound (
             seq  INTEGER PRIMARY KEY,
             dest TEXT NOT NULL,
             bot  INTEGER NOT NULL,
             body BLOB NOT NULL
         );
         CREATE INDEX IF NOT EXISTS outbound_by_dest ON outbound (dest, seq);",
    )
}

/// One accepted item: the bot it came from and its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundItem {
    /// Its row, which acknowledges it.
    pub seq: i64,
    /// The bot whose event it is.
    pub bot: UserId,
    /// What is sent.
    pub body: Bytes,
}

/// Appends items for `dest`, keeping at most `bound`; answers their rows and how many older
/// ones the bound dropped.
#[derive(Message)]
#[rtype(result = "Result<(Vec<i64>, usize), String>")]
pub struct AppendOutbound {
    /// The destination's key.
    pub dest: String,
    /// Rows kept at most for it.
    pub bound: usize,
    /// (bot, bytes) in order.
    pub items: Vec<(UserId, Bytes)>,
}

/// Deletes a delivered item.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct AckOutbound {
    /// The row.
    pub seq: i64,
}

/// Everything `dest` has not delivered, oldest first.
#[derive(Message)]
#[rtype(result = "Result<Vec<OutboundItem>, String>")]
pub struct LoadOutbound {
    /// The destination's key.
    pub dest: String,
}

impl StoreActor {
    fn append_outbound(&mut self, msg: &AppendOutbound) -> rusqlite::Result<(Vec<i64>, usize)> {
        let tx = self.db.transaction()?;
        let mut seqs = Vec::with_capacity(msg.items.len());
        let dropped;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO outbound (dest, bot, body) VALUES (?1, ?2, ?3)")?;
            for (bot, body) in &msg.items {
                insert.execute(params![msg.dest, bot, body.as_ref()])?;
                seqs.push(tx.last_insert_rowid());
            }
            dropped = tx.execute(
                "DELETE FROM outbound WHERE seq IN (
                     SELECT seq FROM outbound WHERE dest = ?1 ORDER BY seq DESC LIMIT -1 OFFSET ?2)",
                params![msg.dest, msg.bound.max(1) as i64],
            )?;
        }
        tx.commit()?;
        Ok((seqs, dropped))
    }

    fn load_outbound(&mut self, dest: &str) -> rusqlite::Result<Vec<OutboundItem>> {
        let mut query = self
            .db
            .prepare_cached("SELECT seq, bot, body FROM outbound WHERE dest = ?1 ORDER BY seq")?;
        let rows = query.query_map(params![dest], |r| {
            Ok(OutboundItem {
                seq: r.get(0)?,
                bot: r.get(1)?,
                body: Bytes::from(r.get::<_, Vec<u8>>(2)?),
            })
        })?;
        rows.collect()
    }
}

impl Handler<AppendOutbound> for StoreActor {
    type Result = Result<(Vec<i64>, usize), String>;

    fn handle(&mut self, msg: AppendOutbound, _: &mut Self::Context) -> Self::Result {
        self.append_outbound(&msg).map_err(|e| e.to_string())
    }
}

impl Handler<AckOutbound> for StoreActor {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: AckOutbound, _: &mut Self::Context) -> Self::Result {
        self.db
            .execute("DELETE FROM outbound WHERE seq = ?1", params![msg.seq])
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl Handler<LoadOutbound> for StoreActor {
    type Result = Result<Vec<OutboundItem>, String>;

    fn handle(&mut self, msg: LoadOutbound, _: &mut Self::Context) -> Self::Result {
        self.load_outbound(&msg.dest).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::super::StoreActor;
    use super::*;

    #[actix::test]
    async fn items_outlive_a_reopen_in_order_bounded_and_acknowledged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StoreActor::start(Some(dir.path()), 10).expect("store");
        let items = (1..=4).map(|i| (7, Bytes::from(format!("event {i}")))).collect();
        let (seqs, dropped) = store
            .send(AppendOutbound { dest: "a".into(), bound: 3, items })
            .await
            .expect("mailbox")
            .expect("append");
        assert_eq!((seqs.len(), dropped), (4, 1), "the oldest went beyond the bound");
        let other = vec![(7, Bytes::from("other"))];
        store
            .send(AppendOutbound { dest: "b".into(), bound: 3, items: other })
            .await
            .expect("mb")
            .expect("append");
        store.send(AckOutbound { seq: seqs[1] }).await.expect("mb").expect("ack");
        drop(store);
        let store = StoreActor::start(Some(dir.path()), 10).expect("reopened");
        let left = store.send(LoadOutbound { dest: "a".into() }).await.expect("mb").expect("load");
        let bodies: Vec<Bytes> = left.iter().map(|i| i.body.clone()).collect();
        assert_eq!(bodies, vec![Bytes::from("event 3"), Bytes::from("event 4")]);
        assert_eq!(left[0].bot, 7);
    }
}
