//! A bot account in a cluster (DESIGN.md, "Cluster"). Every node has a [`BotActor`] for every
//! account; only the owner's runs the source. The owner publishes each event once to the
//! JetStream stream, and every node — the owner too — fans out what it follows from the
//! stream to its local subscribers, so a client sees one order whichever node it is on and
//! whoever owns the bot. A non-owner sends commands and injections to the owner; a destination
//! subscribing with a durable name reads from its recorded position instead (`cluster::feed`).

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;
use log::{info, warn};
use tokio::sync::{mpsc, oneshot};

use super::actor::{BotActor, SubscriptionId};
use super::sources::Source;
use crate::cluster::commands::{self, Answer, Request, Serving};
use crate::cluster::events::{self, Batch, Published, Replica};
use crate::cluster::feed::Feed;
use crate::cluster::ClusterLink;
use crate::log_throttle::LogThrottle;
use crate::model::{BotError, SharedEvent, StreamPosition, UserId};
use crate::store::{MessageChange, RecordIds};
use crate::warn_throttled;

/// Failed publishes are retried; their warnings are throttled while NATS is away.
static PUBLISH_FAILED: LogThrottle = LogThrottle::new(Duration::from_secs(10));

/// The first and the longest wait between two attempts to publish one event.
const PUBLISH_RETRY: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// How long a follower waits before following again after its consumer failed.
const FOLLOW_RETRY: Duration = Duration::from_millis(500);

/// What the publisher is handed, in order.
enum Outgoing {
    /// An event to publish.
    Event(Box<Published>),
    /// State the other nodes keep alike (messages, id maps).
    Replica(Replica),
    /// Answered once everything before it is in the stream.
    Barrier(oneshot::Sender<()>),
}

/// A bot actor's part in the cluster.
pub(super) struct ClusterRole {
    link: ClusterLink,
    owner: bool,
    publisher: Option<mpsc::UnboundedSender<Outgoing>>,
    serving: Option<Serving>,
    /// Durable feeds of destinations, by their subscription (`None` while starting).
    pub(super) feeds: HashMap<SubscriptionId, Option<Feed>>,
    /// The highest message id seen, so a new owner's simulated world never reuses one.
    last_message_id: i32,
    command_timeout: Duration,
    follower: Option<tokio::task::JoinHandle<()>>,
}

impl ClusterRole {
    /// A role on `link`; commands forwarded to the owner wait `command_timeout`.
    pub(super) fn new(link: ClusterLink, command_timeout: Duration) -> Self {
        ClusterRole {
            link,
            owner: false,
            publisher: None,
            serving: None,
            feeds: HashMap::new(),
            last_message_id: 0,
            command_timeout,
            follower: None,
        }
    }

    /// The link, for durable feeds.
    pub(super) fn link(&self) -> &ClusterLink {
        &self.link
    }

    /// Queues an event for the stream (the owner's path).
    fn publish(&mut self, bot: UserId, shared: SharedEvent) {
        let link = &self.link;
        let publisher = self.publisher.get_or_insert_with(|| start_publisher(link.clone(), bot));
        let published = Published { bot: shared.bot, time: shared.time, event: shared.event };
        let _ = publisher.send(Outgoing::Event(Box::new(published)));
    }

    /// Queues state for the other nodes (the owner's path).
    pub(super) fn replicate(&mut self, bot: UserId, replica: Replica) {
        if !self.owner {
            return;
        }
        let link = &self.link;
        let publisher = self.publisher.get_or_insert_with(|| start_publisher(link.clone(), bot));
        let _ = publisher.send(Outgoing::Replica(replica));
    }

    /// Resolves once every event queued so far is in the stream.
    fn accepted(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        match &self.publisher {
            Some(publisher) => {
                let _ = publisher.send(Outgoing::Barrier(tx));
            }
            None => {
                let _ = tx.send(());
            }
        }
        rx
    }
}

impl Drop for ClusterRole {
    fn drop(&mut self) {
        if let Some(follower) = self.follower.take() {
            follower.abort();
        }
    }
}

/// The most events one stream message carries.
const MAX_BATCH: usize = 256;

/// Publishes events in order: whatever queued while the previous publish was being
/// acknowledged goes out as one batch (group commit), retried under the same id until the
/// stream has it (its duplicate window stores a retried batch once).
fn start_publisher(link: ClusterLink, bot: UserId) -> mpsc::UnboundedSender<Outgoing> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let boot = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    tokio::spawn(async move {
        let mut n = 0u64;
        let mut batch = Batch::default();
        let mut barriers: Vec<oneshot::Sender<()>> = Vec::new();
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    Outgoing::Event(published) => batch.events.push(*published),
                    Outgoing::Replica(replica) => batch.replicas.push(replica),
                    // Answered once what came before it is in the stream.
                    Outgoing::Barrier(done) => barriers.push(done),
                }
                if batch.events.len() + batch.replicas.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if !batch.events.is_empty() || !batch.replicas.is_empty() {
                n += 1;
                let id = format!("{}-{bot}-{boot}-{n}", link.node);
                let mut delay = PUBLISH_RETRY.0;
                while let Err(e) = events::publish(&link, bot, &batch, &id).await {
                    warn_throttled!(PUBLISH_FAILED, "cluster: bot {bot}: {e}; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(PUBLISH_RETRY.1);
                }
                batch = Batch::default();
            }
            for done in barriers.drain(..) {
                let _ = done.send(());
            }
        }
    });
    tx
}

/// One batch read from the stream.
#[derive(Message)]
#[rtype(result = "()")]
struct Followed(u64, Batch);

/// Makes this node the bot's owner (`true`) or not; answered once the change is complete —
/// on giving up, once the source and the command service stopped and every event it
/// produced is in the stream, so the next owner's events come after them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetOwner(pub bool);

impl BotActor {
    /// Takes part in the cluster on `link`; commands forwarded to the owner wait at most
    /// `command_timeout`. The source runs only while this node owns the account.
    pub fn with_cluster(mut self, link: ClusterLink, command_timeout: Duration) -> Self {
        self.cluster = Some(ClusterRole::new(link, command_timeout));
        self
    }

    /// Whether events go through the stream: the owner publishes, every node follows.
    pub(super) fn publish_clustered(&mut self, shared: SharedEvent) -> Option<SharedEvent> {
        let bot = self.bot_id();
        match self.cluster.as_mut() {
            Some(role) => {
                role.publish(bot, shared);
                None
            }
            None => Some(shared),
        }
    }

    /// Where a request must go instead of this node's source: the owner, when another node
    /// is (or no node is yet).
    pub(super) fn forward_to(&self) -> Option<(ClusterLink, Duration)> {
        self.cluster
            .as_ref()
            .filter(|role| !role.owner)
            .map(|role| (role.link.clone(), role.command_timeout))
    }

    /// Sends the request `request` builds to the owner, when another node owns the bot (the
    /// request is only built then: one process pays nothing for it).
    pub(super) fn forward(
        &self,
        request: impl FnOnce() -> Request,
    ) -> Option<futures_util::future::BoxFuture<'static, Result<Answer, BotError>>> {
        let (link, timeout) = self.forward_to()?;
        let (request, bot) = (request(), self.bot_id());
        Some(Box::pin(async move {
            match commands::ask(&link, bot, &request, timeout).await? {
                Answer::Failed(e) => Err(e),
                answer => Ok(answer),
            }
        }))
    }

    /// Resolves once this owner's events so far are in the stream (at once outside a
    /// cluster).
    pub(super) fn accepted(&mut self) -> oneshot::Receiver<()> {
        match self.cluster.as_mut() {
            Some(role) => role.accepted(),
            None => {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(());
                rx
            }
        }
    }

    /// Starts following the bot's events from the stream's end, for the local subscribers.
    pub(super) fn start_following(&mut self, ctx: &mut Context<Self>) {
        let bot = self.bot_id();
        let Some(role) = self.cluster.as_mut() else {
            return;
        };
        let (link, addr) = (role.link.clone(), ctx.address());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Only when botgate is tearing down (start-up failed after the bots started).
            warn!("cluster: bot {bot}: no runtime to follow the stream in");
            return;
        };
        role.follower = Some(runtime.spawn(async move {
            let mut next: Option<u64> = None;
            loop {
                if next.is_none() {
                    // From the end as it is now: whatever is published after this is seen,
                    // however long creating the consumer takes.
                    next = match events::stream(&link).await {
                        Ok(mut s) => s.info().await.ok().map(|i| i.state.last_sequence + 1),
                        Err(_) => None,
                    };
                }
                match events::follow(&link, bot, next).await {
                    Ok(events) => {
                        futures_util::pin_mut!(events);
                        while let Some(item) = events.next().await {
                            match item {
                                Ok((sequence, batch)) => {
                                    next = Some(sequence + 1);
                                    // Waits for room in a full mailbox rather than lose one.
                                    if addr.send(Followed(sequence, batch)).await.is_err() {
                                        return;
                                    }
                                }
                                Err(e) => {
                                    warn!("cluster: bot {bot}: {e}; following again");
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => warn!("cluster: bot {bot}: {e}; following again"),
                }
                if !addr.connected() {
                    return;
                }
                tokio::time::sleep(FOLLOW_RETRY).await;
            }
        }));
    }
}

impl Handler<Followed> for BotActor {
    type Result = ();

    fn handle(&mut self, msg: Followed, ctx: &mut Self::Context) {
        let Followed(sequence, batch) = msg;
        let owner = self.cluster.as_ref().is_some_and(|role| role.owner);
        if !owner && !batch.replicas.is_empty() {
            // The owner's state, kept alike here should this node own the bot next.
            self.apply_replicas(batch.replicas, ctx);
        }
        for (index, published) in batch.events.into_iter().enumerate() {
            let at = StreamPosition { sequence, index };
            self.deliver_local(
                SharedEvent::new(published.bot, published.time, published.event).at(at),
            );
        }
    }
}

impl BotActor {
    /// Takes in the owner's message store changes and id mappings.
    fn apply_replicas(&mut self, replicas: Vec<Replica>, ctx: &mut Context<Self>) {
        let bot = self.bot_id();
        for replica in replicas {
            match replica {
                Replica::Messages(changes) => {
                    for change in changes {
                        match change {
                            MessageChange::Added(context, message) => {
                                if let Some(role) = self.cluster.as_mut() {
                                    role.last_message_id =
                                        role.last_message_id.max(message.source.id);
                                }
                                self.cache.insert(context, message);
                            }
                            MessageChange::Removed(context, id) => {
                                self.cache.remove(context, id);
                            }
                        }
                    }
                    self.record_changes(ctx);
                }
                Replica::Ids(mappings) => {
                    if let Some(store) = self.store.as_ref() {
                        store.do_send(RecordIds { bot, mappings });
                    }
                }
            }
        }
    }

    /// Whether this node owns the bot in a cluster, so its state changes are replicated.
    pub(super) fn replicating(&self) -> bool {
        self.cluster.as_ref().is_some_and(|role| role.owner)
    }

    /// The owner's side: what the store is told is told to the other nodes too.
    pub(super) fn replicate(&mut self, replica: Replica) {
        let bot = self.bot_id();
        if let Some(role) = self.cluster.as_mut() {
            role.replicate(bot, replica);
        }
    }
}

impl Handler<SetOwner> for BotActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: SetOwner, ctx: &mut Self::Context) -> Self::Result {
        let bot = self.bot_id();
        let Some(role) = self.cluster.as_mut() else {
            return Box::pin(fut::ready(()));
        };
        if role.owner == msg.0 {
            return Box::pin(fut::ready(()));
        }
        role.owner = msg.0;
        if msg.0 {
            info!("bot {bot}: this node owns it now; its source starts");
            let last = role.last_message_id;
            let link = role.link.clone();
            if let Source::Simulated(world) = &mut self.source {
                world.continue_message_ids_after(last);
            }
            self.start_source(ctx);
            let addr = ctx.address();
            Box::pin(async move { commands::serve(&link, bot, addr).await }.into_actor(self).map(
                move |served, act, _| match (served, act.cluster.as_mut()) {
                    (Ok(serving), Some(role)) if role.owner => role.serving = Some(serving),
                    // Given up meanwhile: dropping it withdraws it.
                    (Ok(_), _) => {}
                    (Err(e), _) => warn!("bot {bot}: serving its commands failed: {e}"),
                },
            ))
        } else {
            info!("bot {bot}: another node owns it now; its source stops");
            let serving = role.serving.take();
            let accepted = role.accepted();
            self.stop_source();
            Box::pin(
                async move {
                    if let Some(serving) = serving {
                        serving.stop().await;
                    }
                    let _ = accepted.await;
                }
                .into_actor(self),
            )
        }
    }
}

impl BotActor {
    /// Starts destination `name`'s durable feed into `outbox` for subscription `id`.
    pub(super) fn start_feed(
        &mut self,
        id: SubscriptionId,
        name: String,
        outbox: crate::bot::EventOutbox,
        link: ClusterLink,
        ctx: &mut Context<Self>,
    ) {
        let bot = self.bot_id();
        if let Some(role) = self.cluster.as_mut() {
            role.feeds.insert(id, None);
        }
        let started = async move { crate::cluster::feed::start(&link, bot, &name, outbox).await };
        ctx.spawn(started.into_actor(self).map(move |result, act, ctx| match result {
            Ok(feed) => match act.cluster.as_mut().and_then(|role| role.feeds.get_mut(&id)) {
                Some(slot) => *slot = Some(feed),
                // Unsubscribed while it started.
                None => {
                    ctx.spawn(feed.stop().into_actor(act));
                }
            },
            Err(e) => warn!("bot {bot}: a destination's feed did not start: {e}"),
        }));
    }
}
