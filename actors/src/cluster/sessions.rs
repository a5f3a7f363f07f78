//! mirai sessions shared by the nodes of a cluster, in the JetStream key-value bucket
//! `botgate_sessions`: a key verified on one node works on every other, and its reference
//! count (connections and bindings using it, as mirai-api-http counts them) is one number for
//! the whole cluster — changed by revision-checked updates, so two nodes changing it at once
//! both count. A session whose count falls to zero is closed, as in one process.

use async_nats::jetstream::kv;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{ClusterError, ClusterLink};
use crate::model::UserId;

/// The bucket.
pub const BUCKET: &str = "botgate_sessions";

/// How many times a reference change is retried when another node changed the session first.
const RETRIES: usize = 32;

/// One session as the cluster keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedSession {
    /// The bot it is bound to, once bound.
    pub bot: Option<UserId>,
    /// Connections and bindings using it, over every node.
    pub references: u32,
}

/// The cluster's sessions.
#[derive(Clone)]
pub struct Sessions {
    store: kv::Store,
}

impl Sessions {
    /// The bucket, created on first use.
    pub async fn open(link: &ClusterLink) -> Result<Self, ClusterError> {
        let about = "botgate: mirai sessions, shared by the nodes";
        let store = link.bucket(BUCKET, about, std::time::Duration::ZERO).await?;
        Ok(Sessions { store })
    }

    /// Creates session `key` (bound to `bot`, if given) with no references; an error if the
    /// key exists.
    pub async fn create(&self, key: &str, bot: Option<UserId>) -> Result<(), ClusterError> {
        let record = SharedSession { bot, references: 0 };
        self.store
            .create(key, encode(&record))
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::JetStream(format!("session {}: {e}", prefix(key))))
    }

    /// Session `key`, if it exists anywhere in the cluster.
    pub async fn get(&self, key: &str) -> Result<Option<SharedSession>, ClusterError> {
        let value = self
            .store
            .get(key)
            .await
            .map_err(|e| ClusterError::JetStream(format!("session {}: {e}", prefix(key))))?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Binds session `key` to `bot`.
    pub async fn bind(&self, key: &str, bot: UserId) -> Result<SharedSession, ClusterError> {
        self.change(key, |s| s.bot = Some(bot)).await?.ok_or_else(|| missing(key))
    }

    /// Adds `delta` references to session `key`; at zero the session is closed (answers
    /// `None` then).
    pub async fn reference(
        &self,
        key: &str,
        delta: i32,
    ) -> Result<Option<SharedSession>, ClusterError> {
        let next =
            self.change(key, |s| s.references = s.references.saturating_add_signed(delta)).await?;
        match next {
            Some(s) if s.references == 0 => {
                self.store
                    .delete(key)
                    .await
                    .map_err(|e| ClusterError::JetStream(format!("closing a session: {e}")))?;
                Ok(None)
            }
            other => Ok(other),
        }
    }

    /// Applies `f` to session `key` with a revision-checked update, retrying when another
    /// node changed it meanwhile; `None` if there is no such session.
    async fn change(
        &self,
        key: &str,
        f: impl Fn(&mut SharedSession),
    ) -> Result<Option<SharedSession>, ClusterError> {
        for _ in 0..RETRIES {
            let entry =
                self.store.entry(key).await.map_err(|e| {
                    ClusterError::JetStream(format!("session {}: {e}", prefix(key)))
                })?;
            let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
                return Ok(None);
            };
            let Ok(mut session) = serde_json::from_slice::<SharedSession>(&entry.value) else {
                return Err(ClusterError::JetStream(format!(
                    "session {} is unreadable",
                    prefix(key)
                )));
            };
            f(&mut session);
            if self.store.update(key, encode(&session), entry.revision).await.is_ok() {
                return Ok(Some(session));
            }
        }
        Err(ClusterError::JetStream(format!(
            "session {}: changed by other nodes {RETRIES} times in a row",
            prefix(key)
        )))
    }
}

fn encode(s: &SharedSession) -> Bytes {
    Bytes::from(serde_json::to_vec(s).unwrap_or_default())
}

/// Enough of a key for an error message, never the key.
fn prefix(key: &str) -> String {
    format!("{}…", key.chars().take(4).collect::<String>())
}

fn missing(key: &str) -> ClusterError {
    ClusterError::JetStream(format!("session {} does not exist", prefix(key)))
}
