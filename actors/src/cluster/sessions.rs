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
        let bound = self.change(key, |s| s.bot = Some(bot)).await?;
        bound.map(|(s, _)| s).ok_or_else(|| missing(key))
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
            Some((s, revision)) if s.references == 0 => {
                // Only if no node took a reference since: then the session lives on.
                match self.store.delete_expect_revision(key, Some(revision)).await {
                    Ok(()) => Ok(None),
                    Err(_) => self.get(key).await,
                }
            }
            other => Ok(other.map(|(s, _)| s)),
        }
    }

    /// Closes session `key` if it is still unbound and unused (its creator's expiry timer:
    /// mirai-api-http closes a session not bound within three minutes).
    pub async fn close_if_unbound(&self, key: &str) -> Result<(), ClusterError> {
        let entry = self
            .store
            .entry(key)
            .await
            .map_err(|e| ClusterError::JetStream(format!("session {}: {e}", prefix(key))))?;
        let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
            return Ok(());
        };
        let session = serde_json::from_slice::<SharedSession>(&entry.value).ok();
        if session.is_some_and(|s| s.bot.is_none() && s.references == 0) {
            // A bind on another node meanwhile changes the revision and keeps it.
            let _ = self.store.delete_expect_revision(key, Some(entry.revision)).await;
        }
        Ok(())
    }

    /// Every change to the cluster's sessions from now on: a session as it now is, or
    /// `None` when it was closed.
    pub async fn watch(
        &self,
    ) -> Result<impl futures_util::Stream<Item = (String, Option<SharedSession>)>, ClusterError>
    {
        use futures_util::StreamExt;
        let watch = self
            .store
            .watch_all()
            .await
            .map_err(|e| ClusterError::JetStream(format!("watching sessions: {e}")))?;
        Ok(watch.filter_map(|entry| async move {
            let entry = entry.ok()?;
            let session = match entry.operation {
                kv::Operation::Put => serde_json::from_slice(&entry.value).ok(),
                kv::Operation::Delete | kv::Operation::Purge => None,
            };
            Some((entry.key, session))
        }))
    }

    /// Applies `f` to session `key` with a revision-checked update, retrying when another
    /// node changed it meanwhile; `None` if there is no such session.
    async fn change(
        &self,
        key: &str,
        f: impl Fn(&mut SharedSession),
    ) -> Result<Option<(SharedSession, u64)>, ClusterError> {
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
            if let Ok(revision) = self.store.update(key, encode(&session), entry.revision).await {
                return Ok(Some((session, revision)));
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
