//! Ownership leases: every resource (a bot account's source, an outbound destination) has one
//! owner node, held by a key in the JetStream key-value bucket `botgate_owners`. The bucket's
//! entries live `lease` without a write, so an owner that stops renewing — dead, or cut off
//! from NATS — loses its keys and another node creates them. Renewals are revision-checked
//! updates: a node whose key was taken over finds out at its next renewal and lets go.
//!
//! Ownership spreads evenly: every node also keeps a `node.<name>` key alive, and takes
//! resources only while it holds fewer than its fair share (the resources divided by the live
//! nodes, rounded up). A node over its share gives one back per round, so resources move to a
//! joining node gradually, never all at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use log::{debug, info, warn};
use tokio::sync::watch;

use super::{ClusterError, ClusterLink};

/// The key-value bucket of leases.
pub const BUCKET: &str = "botgate_owners";

/// What one node holds, as it last saw it.
pub type Owned = BTreeSet<String>;

/// The lease keeper of one node.
pub struct Leases {
    store: kv::Store,
    node: String,
    lease: Duration,
    resources: Vec<String>,
    /// Owned resources and the revision of their last renewal.
    held: BTreeMap<String, u64>,
    heartbeat: Option<u64>,
    handover: Option<Handover>,
}

/// Where a node hears that it is about to give a resource back (over its fair share): the
/// resource and a sender to answer once it stopped using it. The lease is deleted after the
/// answer (or a third of a lease), so the next owner never overlaps with this one.
pub type Handover = tokio::sync::mpsc::UnboundedSender<(String, tokio::sync::oneshot::Sender<()>)>;

fn own_key(resource: &str) -> String {
    format!("own.{resource}")
}

impl Leases {
    /// A keeper for `resources` (names of letters, digits, `.`, `-` and `_`), on `link`.
    pub async fn new(link: &ClusterLink, resources: Vec<String>) -> Result<Self, ClusterError> {
        let about = "botgate: which node owns each bot and destination";
        let store = link.bucket(BUCKET, about, link.lease).await?;
        Ok(Leases {
            store,
            node: link.node.clone(),
            lease: link.lease,
            resources,
            held: BTreeMap::new(),
            heartbeat: None,
            handover: None,
        })
    }

    /// Asks `handover` before giving a resource back (see [`Handover`]).
    pub fn with_handover(mut self, handover: Handover) -> Self {
        self.handover = Some(handover);
        self
    }

    /// Keeps the leases until `stop` turns true, publishing what this node owns on `owned`
    /// after every round; on stopping, gives every lease back so others take over at once.
    pub async fn run(mut self, owned: watch::Sender<Owned>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
            self.round().await;
            let now: Owned = self.held.keys().cloned().collect();
            owned.send_if_modified(|seen| {
                let changed = *seen != now;
                *seen = now.clone();
                changed
            });
        }
        self.release_all().await;
        owned.send_replace(Owned::new());
    }

    /// One round: heartbeat, renewals, giving back over the fair share, taking under it.
    async fn round(&mut self) {
        self.beat().await;
        let lost: Vec<String> = {
            let mut lost = Vec::new();
            for (resource, revision) in self.held.clone() {
                let value = Bytes::from(self.node.clone());
                match self.store.update(own_key(&resource), value, revision).await {
                    Ok(next) => {
                        self.held.insert(resource, next);
                    }
                    Err(e) => {
                        warn!("cluster: lease of {resource} lost ({e})");
                        lost.push(resource);
                    }
                }
            }
            lost
        };
        for resource in lost {
            self.held.remove(&resource);
        }
        let fair = self.fair_share().await;
        if self.held.len() > fair {
            if let Some(resource) = self.held.keys().next_back().cloned() {
                info!(
                    "cluster: {} holds more than its share ({fair}); giving back {resource}",
                    self.node
                );
                if let Some(handover) = &self.handover {
                    let (done, stopped) = tokio::sync::oneshot::channel();
                    if handover.send((resource.clone(), done)).is_ok() {
                        let _ = tokio::time::timeout(self.lease / 3, stopped).await;
                    }
                }
                self.release(&resource).await;
            }
        }
        for resource in self.resources.clone() {
            if self.held.len() >= fair {
                break;
            }
            if self.held.contains_key(&resource) {
                continue;
            }
            let value = Bytes::from(self.node.clone());
            if let Ok(revision) = self.store.create(own_key(&resource), value).await {
                info!("cluster: {} now owns {resource}", self.node);
                self.held.insert(resource, revision);
            }
        }
    }

    /// Keeps `node.<name>` alive: the other nodes count this one in their fair share.
    async fn beat(&mut self) {
        let key = format!("node.{}", self.node);
        let value = Bytes::from(self.node.clone());
        let written = match self.heartbeat {
            Some(revision) => self.store.update(&key, value.clone(), revision).await.ok(),
            None => None,
        };
        self.heartbeat = match written {
            Some(revision) => Some(revision),
            // First beat, or the key expired or was taken: write it afresh.
            None => self.store.put(&key, value).await.ok(),
        };
    }

    /// The most resources this node should hold: all of them over the live nodes, rounded up.
    async fn fair_share(&self) -> usize {
        let mut nodes = 0usize;
        match self.store.keys().await {
            Ok(mut keys) => {
                while let Some(key) = keys.next().await {
                    if key.is_ok_and(|k| k.starts_with("node.")) {
                        nodes += 1;
                    }
                }
            }
            Err(e) => debug!("cluster: listing the live nodes failed: {e}"),
        }
        self.resources.len().div_ceil(nodes.max(1))
    }

    async fn release(&mut self, resource: &str) {
        if self.held.remove(resource).is_some() {
            if let Err(e) = self.store.delete(own_key(resource)).await {
                warn!("cluster: giving back {resource} failed ({e}); it expires instead");
            }
        }
    }

    async fn release_all(&mut self) {
        for resource in self.held.keys().cloned().collect::<Vec<_>>() {
            self.release(&resource).await;
        }
        let _ = self.store.delete(format!("node.{}", self.node)).await;
    }
}

/// The owner of every resource, as the bucket says now (for `/healthz` and the admin API).
pub async fn owners(link: &ClusterLink) -> Result<BTreeMap<String, String>, ClusterError> {
    let store = link
        .jetstream
        .get_key_value(BUCKET)
        .await
        .map_err(|e| ClusterError::JetStream(format!("bucket {BUCKET}: {e}")))?;
    let mut keys =
        store.keys().await.map_err(|e| ClusterError::JetStream(format!("listing leases: {e}")))?;
    let mut owners = BTreeMap::new();
    while let Some(Ok(key)) = keys.next().await {
        let Some(resource) = key.strip_prefix("own.") else {
            continue;
        };
        if let Ok(Some(value)) = store.get(&key).await {
            owners.insert(resource.to_owned(), String::from_utf8_lossy(&value).into_owned());
        }
    }
    Ok(owners)
}
