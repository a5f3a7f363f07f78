//! [`BotActor`]: one per bot account. It owns the account's source (the simulated world), its
//! message cache and its subscribers; it answers commands and fans every event out to the
//! subscribers' outboxes without ever waiting on one of them. Every message it sees or sends
//! goes to the store, which resolves ids the cache no longer holds.

use std::sync::Arc;

use actix::prelude::*;
use log::{debug, warn};

use super::cache::MessageCache;
use super::cluster::ClusterRole;
use super::media_root::MediaRoot;
use super::recorder::Recorder;
use super::sources::oicq::OicqSource;
use super::sources::onebot::OneBotSource;
use super::sources::qqbot::{QqBotConfig, QqBotSource};
use super::sources::Source;
use super::world::{SimWorld, SimulatedWorldSpec};
use crate::cluster::commands::{Answer, Request};
use crate::connection::oicq_link::OicqConfig;
use crate::connection::onebot_upstream::UpstreamConfig;
use crate::model::{
    BotError, Command, CommandOutput, Event, MessageTarget, SharedEvent, SimulatedInput, UserId,
};
use crate::outbox::{Delivery, Outbox};
use crate::store::{FindMessage, MessageStore, StoreActor, StoredBefore};

/// The outbox a subscriber hands to a bot: events arrive in it as shared `Arc`s.
pub type EventOutbox = Outbox<Arc<SharedEvent>>;

/// Which events a subscriber wants (mirai's `/all`, `/message`, `/event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFilter {
    /// Every event.
    All,
    /// Only messages.
    Messages,
    /// Only non-message events.
    Events,
}

impl EventFilter {
    fn accepts(self, event: &Event) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Messages => event.is_message(),
            EventFilter::Events => !event.is_message(),
        }
    }
}

/// Identifies one subscription so it can be ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionId(u64);

struct Subscriber {
    id: SubscriptionId,
    outbox: EventOutbox,
    filter: EventFilter,
    label: String,
}

/// One bot account.
pub struct BotActor {
    qq: UserId,
    pub(super) source: Source,
    pub(super) cache: MessageCache,
    subscribers: Vec<Subscriber>,
    next_subscription: u64,
    media_root: MediaRoot,
    pub(super) recorder: Recorder,
    /// The durable store: the id maps of a source whose ids are not integers, and a
    /// webhook's journal.
    pub(super) store: Option<Addr<StoreActor>>,
    /// Its events-received counter, resolved once.
    received: Option<prometheus::IntCounter>,
    /// Its part in a cluster, if botgate runs as one.
    pub(super) cluster: Option<ClusterRole>,
}

impl BotActor {
    /// A simulated account built from its config entry, with a message cache of
    /// `cache_size` messages.
    pub fn simulated(qq: UserId, spec: &SimulatedWorldSpec, cache_size: usize) -> Self {
        Self::with_source(qq, Source::Simulated(SimWorld::new(qq, spec)), cache_size)
    }

    /// An account held by a OneBot v11 implementation reached through `upstream`.
    pub fn onebot(qq: UserId, upstream: UpstreamConfig, cache_size: usize) -> Self {
        Self::with_source(qq, Source::OneBot(OneBotSource::new(upstream)), cache_size)
    }

    /// An account of the QQ official bot platform; `message_bound` message numbers are kept.
    pub fn qqbot(qq: UserId, config: QqBotConfig, cache_size: usize, message_bound: usize) -> Self {
        Self::with_source(
            qq,
            Source::QqBot(QqBotSource::new(qq, config, message_bound)),
            cache_size,
        )
    }

    /// An account held by an oicq_webd daemon; `message_bound` msgID numbers are kept.
    pub fn oicq(qq: UserId, config: OicqConfig, cache_size: usize, message_bound: usize) -> Self {
        Self::with_source(qq, Source::Oicq(OicqSource::new(qq, config, message_bound)), cache_size)
    }

    fn with_source(qq: UserId, source: Source, cache_size: usize) -> Self {
        BotActor {
            qq,
            source,
            cache: MessageCache::new(cache_size),
            subscribers: Vec::new(),
            next_subscription: 1,
            media_root: MediaRoot::default(),
            recorder: Recorder::new(None),
            store: None,
            received: None,
            cluster: None,
        }
    }

    /// Records every message in `messages`, which also resolves ids the cache evicted, and
    /// keeps id maps and a webhook's journal in `store`.
    pub fn with_stores(mut self, store: Addr<StoreActor>, messages: Addr<MessageStore>) -> Self {
        self.recorder = Recorder::new(Some(messages));
        self.store = Some(store);
        self
    }

    /// The account's QQ number.
    pub fn bot_id(&self) -> UserId {
        self.qq
    }

    /// Lets clients send local files from under `root` (by default none).
    pub fn with_media_root(mut self, root: MediaRoot) -> Self {
        self.media_root = root;
        self
    }

    /// Delivers injected traffic and fans out what it produced.
    pub(super) fn inject_input(&mut self, input: SimulatedInput) -> Result<Option<i32>, BotError> {
        let Source::Simulated(world) = &mut self.source else {
            return Err(not_simulated());
        };
        let mut events = Vec::new();
        let result = world.inject(input, &mut self.cache, &mut events);
        self.fan_out(events);
        result
    }

    /// Fails unless `member` is in `group` of this bot's world.
    pub(super) fn check_member(&self, group: UserId, member: UserId) -> Result<(), BotError> {
        match &self.source {
            Source::Simulated(world) => world.member(group, member).map(|_| ()),
            _ => Err(not_simulated()),
        }
    }

    pub(super) fn fan_out(&mut self, events: Vec<Event>) {
        let now = super::world::unix_now();
        for event in events {
            self.fan_out_shared(SharedEvent::new(self.qq, now, event));
        }
    }

    /// Hands one event to every subscriber that wants it — in a cluster, through the stream
    /// (every node, this one too, delivers it when it comes back).
    pub(super) fn fan_out_shared(&mut self, shared: SharedEvent) {
        let bot = self.qq;
        let source = self.source.name();
        self.received.get_or_insert_with(|| crate::metrics::events_received(bot, source)).inc();
        if let Some(shared) = self.publish_clustered(shared) {
            self.deliver_local(shared);
        }
    }

    /// Hands one event to every local subscriber that wants it.
    pub(super) fn deliver_local(&mut self, shared: SharedEvent) {
        let bot = self.qq;
        let shared = Arc::new(shared);
        self.subscribers.retain(|s| {
            if !s.filter.accepts(&shared.event) {
                return true;
            }
            match s.outbox.push(Arc::clone(&shared)) {
                Delivery::Queued => true,
                Delivery::DroppedOldest => {
                    let dropped = s.outbox.dropped();
                    if dropped.is_power_of_two() {
                        warn!(
                            "bot {bot}: outbox of {} is full; {dropped} oldest events dropped so \
                             far",
                            s.label
                        );
                    }
                    true
                }
                Delivery::Closed => {
                    debug!("bot {bot}: subscriber {} closed its outbox", s.label);
                    false
                }
            }
        });
    }
}

impl Actor for BotActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Commands from many connections queue here; a roomy mailbox keeps senders from
        // waiting on each other under load.
        ctx.set_mailbox_capacity(4096);
        debug!("bot {} started", self.qq);
        if self.cluster.is_some() {
            // The source starts once this node owns the account.
            self.start_following(ctx);
        } else {
            self.start_source(ctx);
        }
        if let Some(store) = self.recorder.store() {
            // New message ids continue after the stored ones, so an id never names two
            // messages across a restart. Nothing else runs until this is known.
            let bot = self.bot_id();
            let count = store.send(StoredBefore { bot });
            ctx.wait(count.into_actor(self).map(move |result, act, _| match result {
                Ok((stored, last_id)) => {
                    debug!("bot {bot}: {stored} messages in the store");
                    if let (Some(last), Source::Simulated(world)) = (last_id, &mut act.source) {
                        world.continue_message_ids_after(last);
                    }
                }
                Err(e) => warn!("bot {bot}: the store is unavailable: {e}"),
            }));
        }
    }
}

impl BotActor {
    /// Starts the source's platform link (a simulated world needs none).
    pub(super) fn start_source(&mut self, ctx: &mut Context<Self>) {
        match &mut self.source {
            Source::OneBot(source) => source.start_link(ctx.address().recipient()),
            Source::QqBot(_) => self.start_qqbot(ctx),
            Source::Oicq(_) => self.start_oicq(ctx),
            Source::Simulated(_) => {}
        }
    }

    /// Stops the source's platform link, when another node takes the account over.
    pub(super) fn stop_source(&mut self) {
        use crate::connection::ws_client::StopLink;
        match &mut self.source {
            Source::OneBot(source) => source.stop_link(),
            Source::QqBot(source) => {
                if let Some(gateway) = source.gateway.take() {
                    gateway.do_send(StopLink);
                }
            }
            Source::Oicq(source) => {
                if let Some(link) = source.link.take() {
                    link.do_send(StopLink);
                }
            }
            Source::Simulated(_) => {}
        }
    }
}

/// Runs a command against the bot.
#[derive(Message)]
#[rtype(result = "Result<CommandOutput, BotError>")]
pub struct Execute(pub Command);

/// How the bot answers a command: at once, or once something it waits for (the store, a
/// platform) has answered — without holding up its other messages meanwhile.
pub enum Reply {
    /// The answer is ready.
    Now(Result<CommandOutput, BotError>),
    /// The answer comes from a future that runs in the actor's context.
    Later(ResponseActFuture<BotActor, Result<CommandOutput, BotError>>),
}

impl actix::dev::MessageResponse<BotActor, Execute> for Reply {
    fn handle(
        self,
        ctx: &mut Context<BotActor>,
        tx: Option<actix::dev::OneshotSender<Result<CommandOutput, BotError>>>,
    ) {
        match self {
            Reply::Now(result) => {
                if let Some(tx) = tx {
                    // The asker may have given up waiting; nothing to do then.
                    let _ = tx.send(result);
                }
            }
            Reply::Later(future) => {
                actix::dev::MessageResponse::<BotActor, Execute>::handle(future, ctx, tx)
            }
        }
    }
}

/// The message a command names (the contact when known, and the id): the cache must hold
/// it before the command runs.
fn referenced_message(command: &Command) -> Option<(Option<UserId>, i32)> {
    match command {
        Command::MessageFromId { context, message_id }
        | Command::Recall { context, message_id } => Some((*context, *message_id)),
        Command::SetEssence { group, message_id }
        | Command::RemoveEssence { group, message_id } => Some((*group, *message_id)),
        Command::SendMessage { target, quote: Some(quote), .. } => {
            let context = match *target {
                MessageTarget::Friend(id) | MessageTarget::Group(id) => id,
                MessageTarget::Temp { member, .. } => member,
                MessageTarget::OtherClient(id) => id,
            };
            Some((Some(context), *quote))
        }
        _ => None,
    }
}

impl BotActor {
    /// Runs a command whose referenced message (if any) the cache now holds.
    fn run(&mut self, command: Command, ctx: &mut Context<Self>) -> Reply {
        let world = match &mut self.source {
            Source::Simulated(world) => world,
            Source::OneBot(_) => return self.run_onebot(command, ctx),
            Source::QqBot(_) => return self.run_qqbot(command, ctx),
            Source::Oicq(_) => return self.run_oicq(command, ctx),
        };
        let mut events = Vec::new();
        let result = world.execute(command, &mut self.cache, &mut events);
        self.fan_out(events);
        self.record_changes(ctx);
        Reply::Now(result)
    }
}

/// Shows a message the bot sent for the admin console to every subscriber, as the account's
/// own message sent from another client (mirai's `GroupSyncMessage`, OneBot's
/// `message_sent`): the console is such a client. Answers whether the message was found.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct EchoSent {
    /// The contact the message is in (the group, or the friend).
    pub context: UserId,
    /// Its id.
    pub message_id: i32,
}

impl Handler<EchoSent> for BotActor {
    type Result = bool;

    fn handle(&mut self, msg: EchoSent, _: &mut Self::Context) -> bool {
        let Some((_, sent)) = self.cache.get(Some(msg.context), msg.message_id) else {
            return false;
        };
        let event = Event::Message(crate::model::MessageEvent::clone(sent));
        let shared = SharedEvent::new(self.qq, sent.source.time, event);
        self.fan_out_shared(shared);
        true
    }
}

impl Handler<Execute> for BotActor {
    type Result = Reply;

    fn handle(&mut self, msg: Execute, ctx: &mut Self::Context) -> Reply {
        let mut command = msg.0;
        if let Err(e) = self.media_root.check_command(&mut command) {
            return Reply::Now(Err(e));
        }
        if let Some(forwarded) = self.forward(|| Request::Execute(command.clone())) {
            // Another node owns the account: it runs the command.
            return Reply::Later(Box::pin(
                forwarded.into_actor(self).map(|answer, _, _| answer?.output()),
            ));
        }
        let missing = referenced_message(&command)
            .filter(|(context, id)| self.cache.get(*context, *id).is_none());
        if let (Some((context, id)), Some(store)) = (missing, self.recorder.store().cloned()) {
            self.write_pending(ctx);
            // The cache no longer holds the message: fetch it from the store first, after
            // everything not yet written (the message may have just left the cache).
            let find = store.send(FindMessage { bot: self.bot_id(), context, id });
            return Reply::Later(Box::pin(find.into_actor(self).then(move |found, act, ctx| {
                match found {
                    Ok(Ok(Some(stored))) => {
                        act.cache.restore(stored.context, Arc::new(stored.message))
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => {
                        warn!("bot {}: looking up message {id} failed: {e}", act.bot_id())
                    }
                    Err(e) => warn!("bot {}: the store is unavailable: {e}", act.bot_id()),
                }
                match act.run(command, ctx) {
                    Reply::Now(result) => Box::pin(fut::ready(result)),
                    Reply::Later(later) => later,
                }
            })));
        }
        self.run(command, ctx)
    }
}

impl BotActor {
    /// A message from the cache (which the store refilled if it had to): platform sources
    /// answer `MessageFromId` from here, as their platforms forget sooner.
    pub(crate) fn cached_message(&self, context: Option<UserId>, id: i32) -> Reply {
        Reply::Now(
            self.cache
                .get(context, id)
                .map(|(_, m)| CommandOutput::Message(Arc::clone(m)))
                .ok_or_else(|| BotError::NoSuchElement(format!("message {id}"))),
        )
    }
}

/// The error of a simulated-only operation on another kind of bot.
fn not_simulated() -> BotError {
    BotError::Unsupported("only a simulated bot takes injected traffic".into())
}

/// Delivers injected traffic to a simulated bot; answers the new message's id, if any.
#[derive(Message)]
#[rtype(result = "Result<Option<i32>, BotError>")]
pub struct Inject(pub SimulatedInput);

impl Handler<Inject> for BotActor {
    type Result = ResponseActFuture<Self, Result<Option<i32>, BotError>>;

    /// Answers once what the injection produced is accepted: at once in one process, once
    /// in the stream in a cluster (from the owner, wherever it was asked).
    fn handle(&mut self, msg: Inject, ctx: &mut Self::Context) -> Self::Result {
        if let Some(forwarded) = self.forward(|| Request::Inject(msg.0.clone())) {
            return Box::pin(forwarded.into_actor(self).map(|answer, _, _| match answer? {
                Answer::Injected(id) => Ok(id),
                other => Err(BotError::Internal(format!("an unexpected answer {other:?}"))),
            }));
        }
        let result = self.inject_input(msg.0);
        self.record_changes(ctx);
        let accepted = self.accepted();
        Box::pin(
            async move {
                if accepted.await.is_err() {
                    return Err(BotError::Internal("the event stream is unavailable".into()));
                }
                result
            }
            .into_actor(self),
        )
    }
}

/// Starts delivering events into `outbox`. `label` names the subscriber in log lines.
#[derive(Message)]
#[rtype(result = "SubscriptionId")]
pub struct Subscribe {
    /// Where events go.
    pub outbox: EventOutbox,
    /// Which events.
    pub filter: EventFilter,
    /// Who is subscribing, for logs.
    pub label: String,
    /// In a cluster, the durable name of an outbound destination: it then reads from the
    /// position it last delivered, whichever node delivered it ([`crate::cluster::feed`]).
    /// Clients of one node leave it out.
    pub durable: Option<String>,
}

impl Handler<Subscribe> for BotActor {
    type Result = MessageResult<Subscribe>;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Self::Context) -> Self::Result {
        let id = SubscriptionId(self.next_subscription);
        self.next_subscription += 1;
        if msg.outbox.is_closed() {
            // The subscriber went away before its request arrived.
            return MessageResult(id);
        }
        debug!("bot {}: {} subscribed", self.qq, msg.label);
        if let (Some(name), Some(role)) = (msg.durable, self.cluster.as_ref()) {
            self.start_feed(id, name, msg.outbox, role.link().clone(), ctx);
            return MessageResult(id);
        }
        self.subscribers.push(Subscriber {
            id,
            outbox: msg.outbox,
            filter: msg.filter,
            label: msg.label,
        });
        MessageResult(id)
    }
}

/// Stops delivering events to a subscription.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe(pub SubscriptionId);

impl Handler<Unsubscribe> for BotActor {
    type Result = ResponseFuture<()>;

    /// Answered once a durable feed recorded what its destination delivered.
    fn handle(&mut self, msg: Unsubscribe, _: &mut Self::Context) -> Self::Result {
        self.subscribers.retain(|s| s.id != msg.0);
        let feed = self.cluster.as_mut().and_then(|role| role.feeds.remove(&msg.0)).flatten();
        Box::pin(async move {
            if let Some(feed) = feed {
                feed.stop().await;
            }
        })
    }
}

/// A bot's status, for `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BotStatus {
    /// The account.
    pub qq: UserId,
    /// Its nickname.
    pub nickname: String,
    /// How many subscribers receive its events.
    pub subscribers: usize,
    /// How many messages its cache holds.
    pub cached_messages: usize,
    /// Whether the account is online (a platform source's link is up and logged in).
    pub online: bool,
    /// Whether a platform source is still fetching what it missed while its link was down
    /// (live events wait meanwhile).
    pub catching_up: bool,
    /// Why the platform refuses the account for good, if it does (a banned bot).
    pub problem: Option<String>,
}

/// Asks a bot for its status.
#[derive(Message)]
#[rtype(result = "BotStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for BotActor {
    type Result = ResponseActFuture<Self, BotStatus>;

    /// In a cluster a node that does not own the account asks the owner how the account
    /// stands (its link is there), keeping its own subscriber count.
    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> Self::Result {
        let local = self.status();
        let Some(forwarded) = self.forward(|| Request::Status) else {
            return Box::pin(fut::ready(local));
        };
        // A health probe must answer promptly: the owner gets a short while, not a command's.
        let forwarded = tokio::time::timeout(crate::cluster::commands::STATUS_TIMEOUT, forwarded);
        Box::pin(forwarded.into_actor(self).map(move |answer, _, _| match answer {
            Ok(Ok(Answer::Status(owner))) => BotStatus {
                subscribers: local.subscribers,
                cached_messages: local.cached_messages,
                ..*owner
            },
            // No owner yet, or it did not answer: what this node knows.
            _ => local,
        }))
    }
}

impl BotActor {
    /// The account's status as this node sees it.
    pub(super) fn status(&mut self) -> BotStatus {
        // A subscriber whose outbox closed is gone even if no event has found that out yet.
        self.subscribers.retain(|s| !s.outbox.is_closed());
        BotStatus {
            qq: self.qq,
            nickname: match &self.source {
                Source::Simulated(world) => world.bot_contact().nickname,
                Source::OneBot(source) => source.nickname().to_owned(),
                Source::QqBot(source) => source.nickname().to_owned(),
                Source::Oicq(source) => source.nickname().to_owned(),
            },
            subscribers: self.subscribers.len(),
            cached_messages: self.cache.len(),
            online: match &self.source {
                Source::Simulated(_) => true,
                Source::OneBot(source) => source.online(),
                Source::QqBot(source) => source.online(),
                Source::Oicq(source) => source.online(),
            },
            catching_up: match &self.source {
                Source::Simulated(_) => false,
                Source::OneBot(source) => source.catching_up(),
                Source::QqBot(_) | Source::Oicq(_) => false,
            },
            problem: match &self.source {
                Source::QqBot(source) => source.problem().map(str::to_owned),
                _ => None,
            },
        }
    }
}
