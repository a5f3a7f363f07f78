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
//!
//! Some resources follow a link instead: a bot whose OneBot implementation dials botgate
//! (`mode: reverse`) is owned by the node its connection reached. Such a resource is
//! *pinned*: no node takes it for its share; the node holding the link takes it on request
//! ([`Ask::Take`]), asking the holder to let go ([`Ask::Release`]) when another holds it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use log::{debug, info, warn};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

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
    /// Owned resources: the revision of their last renewal and when it was sent.
    held: BTreeMap<String, Held>,
    heartbeat: Option<u64>,
    handover: Option<Handover>,
    /// The live nodes at the last count.
    nodes: usize,
    /// How long after a renewal was sent its lease still counts here (three quarters of it).
    fence: Duration,
    /// Resources taken only on request (see the module's doc), not for a share.
    pinned: BTreeSet<String>,
    asks: Option<mpsc::UnboundedReceiver<Ask>>,
}

/// What a node asks of its keeper between rounds.
#[derive(Debug)]
pub enum Ask {
    /// Take `resource` now if no node holds it: answered `Ok`, or the holder when one does
    /// (`None` when it could not be read).
    Take(String, oneshot::Sender<Result<(), Option<String>>>),
    /// Give `resource` back now (after its handover): another node holds its link.
    Release(String, oneshot::Sender<()>),
}

/// A lease this node holds.
#[derive(Clone, Copy)]
struct Held {
    revision: u64,
    /// When the write that made `revision` was sent: the bucket expires the entry no sooner
    /// than a lease after this.
    sent: tokio::time::Instant,
}

/// Where a node hears that it is about to give a resource back (over its fair share): the
/// resource and a sender to answer once it stopped using it. The lease is deleted after the
/// answer (or a third of a lease), so the next owner never overlaps with this one.
pub type Handover = mpsc::UnboundedSender<(String, oneshot::Sender<()>)>;

/// The resources of `held` whose leases still count, `fence` after their renewals were sent,
/// and when the first of them stops counting. Both are taken at one instant: a lease that
/// ends between two readings of the clock would otherwise be published as counting with no
/// end left to wait for, and stay published.
fn standing(held: &BTreeMap<String, Held>, fence: Duration) -> (Owned, Option<Instant>) {
    let now = Instant::now();
    let mut owned = Owned::new();
    let mut first_end: Option<Instant> = None;
    for (name, end) in held.iter().map(|(name, h)| (name, h.sent + fence)) {
        if end > now {
            owned.insert(name.clone());
            first_end = Some(first_end.map_or(end, |first| first.min(end)));
        }
    }
    (owned, first_end)
}

/// The next request, or never when there is no channel (or it closed).
async fn next_ask(asks: &mut Option<mpsc::UnboundedReceiver<Ask>>) -> Option<Ask> {
    match asks {
        Some(asks) => match asks.recv().await {
            Some(ask) => Some(ask),
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`, or for ever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

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
            nodes: 1,
            fence: link.lease * 3 / 4,
            pinned: BTreeSet::new(),
            asks: None,
        })
    }

    /// Adds `resources` taken only on request, and where those requests come from.
    pub fn with_pinned(
        mut self,
        resources: impl IntoIterator<Item = String>,
        asks: mpsc::UnboundedReceiver<Ask>,
    ) -> Self {
        self.pinned.extend(resources);
        self.asks = Some(asks);
        self
    }

    /// Asks `handover` before giving a resource back (see [`Handover`]).
    pub fn with_handover(mut self, handover: Handover) -> Self {
        self.handover = Some(handover);
        self
    }

    /// Keeps the leases until `stop` turns true, publishing what this node owns on `owned`
    /// after every round; on stopping, gives every lease back so others take over at once.
    ///
    /// A lease whose renewal is late — NATS slow or away, or this process starved — stops
    /// counting as owned at three quarters of the lease after its last renewal was sent, so
    /// the node stops using the resource before the bucket lets another node take it: two
    /// owners never deliver at once.
    pub async fn run(mut self, owned: watch::Sender<Owned>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let fence = self.fence;
        // Publishes what counts as owned now; answers when the first of it stops counting.
        let publish = |held: &BTreeMap<String, Held>| {
            let (now, first_end) = standing(held, fence);
            owned.send_if_modified(|seen| {
                let changed = *seen != now;
                *seen = now;
                changed
            });
            first_end
        };
        let mut asks = self.asks.take();
        let mut first_end = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => {}
                _ = sleep_until(first_end) => {}
                Some(ask) = next_ask(&mut asks) => {
                    self.answer(ask).await;
                    first_end = publish(&self.held);
                    continue;
                }
            }
            if *stop.borrow() {
                break;
            }
            first_end = publish(&self.held);
            // The round may wait on NATS for a while: meanwhile leases it has not renewed
            // yet still stop counting at their time.
            let before = self.held.clone();
            {
                let round = self.round();
                tokio::pin!(round);
                loop {
                    tokio::select! {
                        _ = &mut round => break,
                        _ = sleep_until(first_end) => first_end = publish(&before),
                    }
                }
            }
            first_end = publish(&self.held);
        }
        self.release_all().await;
        owned.send_replace(Owned::new());
    }

    /// One round: heartbeat, renewals, giving back over the fair share, taking under it.
    async fn round(&mut self) {
        self.beat().await;
        let lost: Vec<String> = {
            let mut lost = Vec::new();
            for (resource, held) in self.held.clone() {
                let value = Bytes::from(self.node.clone());
                let sent = Instant::now();
                match self.store.update(own_key(&resource), value, held.revision).await {
                    Ok(revision) => {
                        self.held.insert(resource, Held { revision, sent });
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
        if self.shared().len() > fair {
            if let Some(resource) = self.shared().pop() {
                info!(
                    "cluster: {} holds more than its share ({fair}); giving back {resource}",
                    self.node
                );
                self.hand_back(&resource).await;
            }
        }
        for resource in self.resources.clone() {
            if self.shared().len() >= fair {
                break;
            }
            if self.held.contains_key(&resource) {
                continue;
            }
            let value = Bytes::from(self.node.clone());
            let sent = Instant::now();
            if let Ok(revision) = self.store.create(own_key(&resource), value).await {
                info!("cluster: {} now owns {resource}", self.node);
                self.held.insert(resource, Held { revision, sent });
            }
        }
    }

    /// The held resources taken for a share (not pinned), in order.
    fn shared(&self) -> Vec<String> {
        self.held.keys().filter(|r| !self.pinned.contains(*r)).cloned().collect()
    }

    /// Answers a request between rounds.
    async fn answer(&mut self, ask: Ask) {
        match ask {
            Ask::Take(resource, answer) => {
                let taken = if self.held.contains_key(&resource) {
                    Ok(())
                } else {
                    let value = Bytes::from(self.node.clone());
                    let sent = Instant::now();
                    match self.store.create(own_key(&resource), value).await {
                        Ok(revision) => {
                            info!("cluster: {} now owns {resource} (its link is here)", self.node);
                            self.held.insert(resource.clone(), Held { revision, sent });
                            Ok(())
                        }
                        Err(_) => Err(match self.store.get(own_key(&resource)).await {
                            Ok(Some(holder)) => Some(String::from_utf8_lossy(&holder).into_owned()),
                            _ => None,
                        }),
                    }
                };
                let _ = answer.send(taken);
            }
            Ask::Release(resource, answer) => {
                if self.held.contains_key(&resource) {
                    info!("cluster: {} lets {resource} go: another node holds its link", self.node);
                    self.hand_back(&resource).await;
                }
                let _ = answer.send(());
            }
        }
    }

    /// Gives `resource` back: its user stops first (the handover), then the lease goes, so
    /// the next owner never overlaps with this one.
    async fn hand_back(&mut self, resource: &str) {
        if let Some(handover) = &self.handover {
            let (done, stopped) = oneshot::channel();
            if handover.send((resource.to_owned(), done)).is_ok() {
                let _ = tokio::time::timeout(self.lease / 3, stopped).await;
            }
        }
        self.release(resource).await;
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
    /// When the bucket cannot be read, the last count stands (one bad read must not make a
    /// node think it is alone and take everything).
    async fn fair_share(&mut self) -> usize {
        match listing(&self.store, "node.").await {
            Ok(nodes) => self.nodes = nodes.len().max(1),
            Err(e) => debug!("cluster: listing the live nodes failed: {e}"),
        }
        self.resources.len().div_ceil(self.nodes)
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
    listing(&store, "own.").await
}

/// The live keys of `store` starting with `prefix` (the prefix taken off) and their values.
///
/// The bucket's stream is asked which subjects it holds, then each is read. Not
/// `Store::keys`: its consumer counts the messages pending when it starts and ends only when
/// it has seen that many — an entry that expires meanwhile (leases expire all the time) leaves
/// it waiting for the bucket's next write.
async fn listing(
    store: &kv::Store,
    prefix: &str,
) -> Result<BTreeMap<String, String>, ClusterError> {
    let failed =
        |e: &dyn std::fmt::Display| ClusterError::JetStream(format!("listing {prefix}*: {e}"));
    let subjects = format!("{}{prefix}>", store.prefix);
    let mut info = store.stream.info_with_subjects(&subjects).await.map_err(|e| failed(&e))?;
    let mut keys = Vec::new();
    while let Some(subject) = info.next().await {
        let (subject, _) = subject.map_err(|e| failed(&e))?;
        if let Some(key) = subject.strip_prefix(store.prefix.as_str()) {
            keys.push(key.to_owned());
        }
    }
    let mut live = BTreeMap::new();
    for key in keys {
        // A key whose last entry is a deletion reads as none.
        if let Some(value) = store.get(&key).await.map_err(|e| failed(&e))? {
            let name = key.strip_prefix(prefix).unwrap_or(&key).to_owned();
            live.insert(name, String::from_utf8_lossy(&value).into_owned());
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_and_when_the_first_of_it_ends_are_read_together() {
        let fence = Duration::from_secs(10);
        let now = Instant::now();
        let renewed = |ago: u64| Held { revision: 1, sent: now - Duration::from_secs(ago) };
        let held: BTreeMap<String, Held> = [("bot.1", 30), ("bot.2", 2), ("dest.0", 5)]
            .into_iter()
            .map(|(name, ago)| (name.to_owned(), renewed(ago)))
            .collect();
        let (owned, first_end) = standing(&held, fence);
        assert_eq!(owned, ["bot.2", "dest.0"].map(str::to_owned).into());
        assert_eq!(first_end, Some(held["dest.0"].sent + fence));
        let (owned, first_end) = standing(&[("bot.1".to_owned(), renewed(30))].into(), fence);
        assert!(owned.is_empty() && first_end.is_none());
    }
}
