//! [`HttpPostDestination`]: events POSTed to an HTTP endpoint, one actor per destination URL,
//! for mirai-api-http's webhook adapter and OneBot's HTTP POST reporting alike.
//!
//! Events are POSTed one at a time and in order. A destination that is down, times out or
//! answers 5xx gets the same event again after a backoff; events produced meanwhile wait in a
//! bounded buffer. That buffer is durable: each event's exact body is appended to the store's
//! `outbound` table before it is posted and deleted once the destination has it, and after a
//! restart what is left is delivered first, in order — a crash loses at most events that had
//! not reached the destination's actor yet. What differs per protocol is the body, the headers (`qq`/`bot` for mirai;
//! `X-Self-ID` and an HMAC-SHA1 `X-Signature` for OneBot) and what a response body means (a
//! mirai command; a OneBot quick operation).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use log::{debug, info, warn};
use serde_json::Value;

use super::backoff::Backoff;
use super::mirai_calls;
use super::reverse_ws::{DestinationStatus, GetDestinationStatus, Redial};
use super::shutdown::{self, Settled, ShutDown};
use super::standby::{self, SetActive};
use crate::bot::{
    BotActor, EventFilter, EventOutbox, Execute, Subscribe, SubscriptionId, Unsubscribe,
};
use crate::log_throttle::LogThrottle;
use crate::model::{SharedEvent, UserId};
use crate::outbox::{Outbox, OverflowPolicy};
use crate::protocol::mirai::command::{self as mirai_command, MiraiCall};
use crate::protocol::mirai::event as mirai_event;
use crate::protocol::onebot::event::{self as onebot_event, MessageFormat};
use crate::protocol::onebot::quick;
use crate::registry::{BoundSession, SessionRegistry};
use crate::secret::Secret;
use crate::store::{AckOutbound, AppendOutbound, LoadOutbound, StoreActor};

/// The commands a webhook response may carry (mirai-api-http's list; no queries).
const ALLOWED_COMMANDS: &[&str] = &[
    "resp_newFriendRequestEvent",
    "resp_memberJoinRequestEvent",
    "resp_botInvitedJoinGroupRequestEvent",
    "deleteFriend",
    "muteAll",
    "unmuteAll",
    "mute",
    "unmute",
    "kick",
    "quit",
    "setEssence",
    "groupConfig",
    "memberInfo",
    "memberAdmin",
    "sendFriendMessage",
    "sendGroupMessage",
    "sendTempMessage",
    "sendOtherClientMessage",
    "recall",
    "sendNudge",
    "anno_publish",
    "anno_delete",
];

/// Which protocol a destination speaks.
#[derive(Debug, Clone)]
pub enum PostProtocol {
    /// mirai-api-http's webhook: every bot's events; a reply may carry a command.
    MiraiWebhook,
    /// OneBot's HTTP POST: a reply may carry a quick operation.
    OneBot {
        /// HMAC-SHA1 key for `X-Signature`; empty: no signature.
        secret: Secret,
        /// How messages are posted.
        format: MessageFormat,
    },
}

/// Everything one HTTP POST destination needs, resolved from the config.
#[derive(Debug, Clone)]
pub struct HttpPostConfig {
    /// The URL POSTed to.
    pub url: String,
    /// Extra headers for every POST.
    pub headers: Vec<(String, String)>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// First retry delay; doubles up to `max_retry_interval`.
    pub retry_interval: Duration,
    /// Longest retry delay.
    pub max_retry_interval: Duration,
    /// Events kept while the destination is failing; the oldest are dropped beyond.
    pub buffer_size: usize,
    /// TLS settings for `https`.
    pub tls: Arc<rustls::ClientConfig>,
    /// The protocol.
    pub protocol: PostProtocol,
    /// Where accepted events wait durably (the store's `outbound` table).
    pub store: Option<Addr<StoreActor>>,
    /// In a cluster, the destination's durable name: its events come from its recorded
    /// position in the stream (the stream is its buffer), and it posts only on the node that
    /// owns it.
    pub durable: Option<String>,
}

impl HttpPostConfig {
    /// The destination's key in the store: its protocol and URL.
    fn durable_key(&self) -> String {
        let kind = match self.protocol {
            PostProtocol::MiraiWebhook => "mirai-webhook",
            PostProtocol::OneBot { .. } => "onebot-post",
        };
        format!("{kind} {}", self.url)
    }

    /// The adapter, for metrics.
    fn kind(&self) -> &'static str {
        match self.protocol {
            PostProtocol::MiraiWebhook => "mirai webhook",
            PostProtocol::OneBot { .. } => "onebot http post",
        }
    }
}

/// An accepted event waiting for the destination: its store row, bot, body and (while it
/// is in memory) the event itself, for the reply's quick operation.
struct Queued {
    seq: Option<i64>,
    bot: UserId,
    body: Bytes,
    event: Option<Arc<SharedEvent>>,
}

/// How a POST went.
enum Outcome {
    /// Delivered; the body, if any, may carry a command.
    Delivered(Bytes),
    /// The destination refused this event (4xx); retrying will not help.
    Refused(u16),
    /// Down, timed out or 5xx: try again later.
    Failed(String),
}

/// The connection actor for one HTTP POST destination.
pub struct HttpPostDestination {
    config: HttpPostConfig,
    client: awc::Client,
    registry: Addr<SessionRegistry>,
    bots: Vec<(UserId, Addr<BotActor>)>,
    outbox: EventOutbox,
    /// Accepted events, oldest first; the front is being posted.
    queue: VecDeque<Queued>,
    /// An append to the store is under way (the outbox waits meanwhile).
    appending: bool,
    posting: bool,
    healthy: bool,
    backoff: Backoff,
    /// Events the durable buffer's bound dropped.
    dropped: u64,
    /// botgate is stopping: no new POST starts.
    closing: bool,
    /// A POST is waiting for its answer (not a retry delay).
    requesting: bool,
    /// Waiters for that answer at shutdown.
    answered: Settled,
    /// Failure streaks reported in the log.
    failures: LogThrottle,
    /// The current failure streak was reported (so its end is too).
    failure_reported: bool,
    /// Why the last POST failed, for the admin API.
    last_error: Option<String>,
    /// The retry waiting out its backoff.
    pending_retry: Option<SpawnHandle>,
    /// In a cluster, another node owns the destination: nothing is posted.
    standby: bool,
    /// The bots' subscriptions, ended when the destination stands down.
    subscriptions: Vec<(Addr<BotActor>, SubscriptionId)>,
}

/// `sha1=<hex HMAC-SHA1 of body>`, the `X-Signature` of OneBot's HTTP POST.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let digest = crate::secret::hmac_sha1(secret, &[body]);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha1={hex}")
}

impl HttpPostDestination {
    /// A destination POSTing every event of `bots`.
    pub fn new(
        config: HttpPostConfig,
        registry: Addr<SessionRegistry>,
        bots: Vec<(UserId, Addr<BotActor>)>,
    ) -> Self {
        let client = awc::Client::builder()
            .connector(
                awc::Connector::new()
                    .timeout(config.connect_timeout)
                    .rustls_0_23(Arc::clone(&config.tls)),
            )
            .timeout(config.request_timeout)
            .finish();
        let outbox = Outbox::new(config.buffer_size, OverflowPolicy::DropOldest);
        let backoff = Backoff::new(config.retry_interval, config.max_retry_interval);
        let standby = config.durable.is_some();
        HttpPostDestination {
            standby,
            subscriptions: Vec::new(),
            config,
            client,
            registry,
            bots,
            outbox,
            queue: VecDeque::new(),
            appending: false,
            posting: false,
            healthy: true,
            backoff,
            dropped: 0,
            closing: false,
            requesting: false,
            answered: Settled::default(),
            failures: LogThrottle::new(Duration::from_secs(10)),
            failure_reported: false,
            last_error: None,
            pending_retry: None,
        }
    }

    /// The body of an event in this destination's protocol, if it has one.
    fn encode(&self, event: &SharedEvent) -> Option<Bytes> {
        match &self.config.protocol {
            PostProtocol::MiraiWebhook => mirai_event::encoded(event).cloned(),
            PostProtocol::OneBot { format, .. } => onebot_event::encoded(event, *format).cloned(),
        }
    }

    /// Takes what the bots queued into the durable queue (appending it to the store first),
    /// then posts the front of the queue, unless a POST (or a retry wait) is under way.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if !self.appending && !self.outbox.is_empty() {
            let (events, _) = self.outbox.drain(256);
            // In a cluster an event this protocol cannot express still takes its turn (with
            // no body): its receipt moves the destination's position in order.
            let keep_empty = self.config.durable.is_some();
            let fresh: Vec<Queued> = events
                .into_iter()
                .filter_map(|e| {
                    let body = match self.encode(&e) {
                        Some(body) => body,
                        None if keep_empty => Bytes::new(),
                        None => return None,
                    };
                    Some(Queued { seq: None, bot: e.bot, body, event: Some(e) })
                })
                .collect();
            if let (false, Some(store)) = (fresh.is_empty(), self.config.store.clone()) {
                self.appending = true;
                let append = AppendOutbound {
                    dest: self.config.durable_key(),
                    bound: self.config.buffer_size,
                    items: fresh.iter().map(|q| (q.bot, q.body.clone())).collect(),
                };
                ctx.spawn(store.send(append).into_actor(self).map(move |result, act, ctx| {
                    act.appending = false;
                    let mut fresh = fresh;
                    match result {
                        Ok(Ok((seqs, dropped))) => {
                            for (q, seq) in fresh.iter_mut().zip(seqs) {
                                q.seq = Some(seq);
                            }
                            act.note_dropped(dropped);
                        }
                        Ok(Err(e)) => {
                            warn!("http post {}: not stored durably: {e}", act.config.url)
                        }
                        Err(e) => {
                            warn!("http post {}: the store is unavailable: {e}", act.config.url)
                        }
                    }
                    act.enqueue(fresh);
                    act.pump(ctx);
                }));
            } else {
                self.enqueue(fresh);
            }
        }
        if self.posting || self.closing || self.standby {
            return;
        }
        while self.queue.front().is_some_and(|q| q.body.is_empty()) {
            // Nothing to post for it: delivered as far as its feed is concerned.
            self.delivered();
        }
        let Some(front) = self.queue.front() else {
            return;
        };
        let (bot_id, body) = (front.bot, front.body.clone());
        self.posting = true;
        self.requesting = true;
        let bot = bot_id.to_string();
        let mut request = self.client.post(self.config.url.as_str());
        request = match &self.config.protocol {
            PostProtocol::MiraiWebhook => request
                .insert_header(("Content-Type", "application/json; charset=UTF-8"))
                .insert_header(("qq", bot.as_str()))
                .insert_header(("X-qq", bot.as_str()))
                .insert_header(("bot", bot.as_str()))
                .insert_header(("X-bot", bot.as_str())),
            PostProtocol::OneBot { secret, .. } => {
                let mut r = request
                    .insert_header(("Content-Type", "application/json"))
                    .insert_header(("X-Self-ID", bot.as_str()))
                    .insert_header(("User-Agent", concat!("botgate/", env!("CARGO_PKG_VERSION"))));
                if !secret.is_empty() {
                    r = r.insert_header(("X-Signature", signature(secret.expose(), &body)));
                }
                r
            }
        };
        for (name, value) in &self.config.headers {
            request = request.insert_header((name.as_str(), value.as_str()));
        }
        let post = async move {
            let mut response = match request.send_body(body).await {
                Ok(r) => r,
                Err(e) => return Outcome::Failed(e.to_string()),
            };
            let status = response.status();
            if status.is_server_error() {
                return Outcome::Failed(format!("HTTP {status}"));
            }
            if status.is_client_error() {
                return Outcome::Refused(status.as_u16());
            }
            Outcome::Delivered(response.body().limit(16 << 20).await.unwrap_or_default())
        };
        ctx.spawn(post.into_actor(self).map(move |outcome, act, ctx| {
            act.posting = false;
            act.requesting = false;
            let Some(outcome) = act.settle(outcome) else {
                return;
            };
            match outcome {
                Outcome::Delivered(body) => {
                    crate::metrics::frames_delivered(act.config.kind(), 1);
                    if std::mem::take(&mut act.failure_reported) {
                        info!("http post {}: delivering again", act.config.url);
                    }
                    act.healthy = true;
                    act.backoff.reset();
                    if let Some(done) = act.delivered() {
                        act.run_reply(&done, &body, ctx);
                    }
                    act.pump(ctx);
                }
                Outcome::Refused(status) => {
                    act.last_error = Some(format!("HTTP {status}; the event was not retried"));
                    let kind = act.queue.front().map(Queued::kind).unwrap_or_default();
                    warn!(
                        "webhook {}: HTTP {status} for a {kind} event; not retried",
                        act.config.url
                    );
                    act.delivered();
                    act.pump(ctx);
                }
                Outcome::Failed(why) => {
                    crate::metrics::post_retry(act.config.kind());
                    // A flaky endpoint fails and recovers many times a second: the streaks
                    // are reported through a throttle, each recovery only after its report.
                    if act.healthy {
                        if let Some(suppressed) = act.failures.allow() {
                            act.failure_reported = true;
                            warn!(
                                "http post {}: {why}; retrying with backoff, {} events wait{}",
                                act.config.url,
                                act.outbox.len() + act.queue.len(),
                                crate::log_throttle::suppressed_note(suppressed)
                            );
                        }
                    }
                    act.healthy = false;
                    act.last_error = Some(why);
                    act.posting = true;
                    let delay = act.backoff.next_delay();
                    act.pending_retry = Some(ctx.run_later(delay, |act, ctx| {
                        act.pending_retry = None;
                        act.posting = false;
                        act.pump(ctx);
                    }));
                }
            }
        }));
    }

    /// Acts on a response body: a mirai command, or a OneBot quick operation, run as the
    /// event's bot; results are not reported back.
    fn run_reply(&mut self, done: &Queued, body: &[u8], ctx: &mut Context<Self>) {
        if body.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let Ok(reply) = serde_json::from_slice::<Value>(body) else {
            debug!("http post {}: response is not JSON; ignored", self.config.url);
            return;
        };
        let Some((_, bot)) = self.bots.iter().find(|(id, _)| *id == done.bot) else {
            return;
        };
        let bot = bot.clone();
        let url = self.config.url.clone();
        match &self.config.protocol {
            PostProtocol::MiraiWebhook => self.run_mirai_reply(done.bot, bot, &reply, ctx),
            PostProtocol::OneBot { .. } => {
                match done.model().map(|e| quick::commands(&e, &reply)) {
                    None => debug!("http post {url}: the event of a quick operation is unreadable"),
                    Some(commands) => match commands {
                        Ok(commands) => {
                            for command in commands {
                                let url = url.clone();
                                ctx.spawn(bot.send(Execute(command)).into_actor(self).map(
                                    move |r, _, _| {
                                        debug!("http post {url}: quick operation answered {r:?}");
                                    },
                                ));
                            }
                        }
                        Err(e) => warn!("http post {url}: {e}"),
                    },
                }
            }
        }
    }

    fn run_mirai_reply(
        &mut self,
        qq: UserId,
        bot: Addr<BotActor>,
        reply: &Value,
        ctx: &mut Context<Self>,
    ) {
        let Some(command) = reply.get("command").and_then(Value::as_str).filter(|c| !c.is_empty())
        else {
            return;
        };
        if !ALLOWED_COMMANDS.contains(&command) {
            warn!(
                "webhook {}: command {command:?} is not allowed in a webhook response",
                self.config.url
            );
            return;
        }
        let sub = matches!(command, "groupConfig" | "memberInfo").then_some("update");
        let content = reply.get("content").cloned().unwrap_or(Value::Null);
        let call = match mirai_command::decode(command, sub, &content) {
            Ok(call @ MiraiCall::Bot(_)) => call,
            Ok(_) => return,
            Err(e) => {
                warn!("webhook {}: {command}: {e:?}", self.config.url);
                return;
            }
        };
        let session = BoundSession { key: String::new(), qq, bot };
        let url = self.config.url.clone();
        let command = command.to_owned();
        ctx.spawn(mirai_calls::run(call, Some(&session), &self.registry).into_actor(self).map(
            move |data, _, _| {
                debug!("webhook {url}: {command} answered {data}");
            },
        ));
    }
}

impl Queued {
    /// The event in the model: in memory, or read back from the stored body (after a
    /// restart), for a quick operation's reply.
    fn model(&self) -> Option<crate::model::Event> {
        if let Some(e) = &self.event {
            return Some(e.event.clone());
        }
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        crate::protocol::onebot::decode::decode_event(&v).ok()
    }

    /// What kind of event it is, for logs.
    fn kind(&self) -> String {
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        [field("type"), field("post_type")]
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect::<Vec<_>>()
            .join("/")
    }
}

impl HttpPostDestination {
    fn enqueue(&mut self, fresh: Vec<Queued>) {
        self.queue.extend(fresh);
        // Without the store the memory queue keeps the same bound.
        while self.queue.len() > self.config.buffer_size.max(1) + 1 {
            if self.queue.remove(1).is_some() {
                self.note_dropped(1);
            }
        }
    }

    fn note_dropped(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self.dropped;
        self.dropped += n as u64;
        if before == 0 || (before.leading_zeros() != self.dropped.leading_zeros()) {
            warn!(
                "http post {}: the endpoint is away and the buffer is full; {} oldest events \
                 dropped so far",
                self.config.url, self.dropped
            );
        }
    }

    /// At shutdown, a delivered front is acknowledged to the store and the wait ends;
    /// nothing else happens (no reply is run, no retry is scheduled).
    fn settle(&mut self, outcome: Outcome) -> Option<Outcome> {
        if !self.closing && !self.standby {
            return Some(outcome);
        }
        if matches!(outcome, Outcome::Delivered(_) | Outcome::Refused(_)) {
            self.delivered();
        }
        self.answered.notify();
        None
    }

    /// The front is delivered (or refused for good): it leaves the queue and the store.
    fn delivered(&mut self) -> Option<Queued> {
        let done = self.queue.pop_front()?;
        if let (Some(seq), Some(store)) = (done.seq, self.config.store.as_ref()) {
            store.do_send(AckOutbound { seq });
        }
        if let Some(event) = &done.event {
            event.delivered();
        }
        Some(done)
    }
}

impl Actor for HttpPostDestination {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let addr = ctx.address();
        self.outbox.set_waker(move || addr.do_send(Pump));
        if !self.standby {
            self.activate(ctx);
        }
    }
}

impl HttpPostDestination {
    /// Starts the destination's work: what an earlier run left, then its bots' events.
    fn activate(&mut self, ctx: &mut Context<Self>) {
        if let Some(store) = self.config.store.clone() {
            // What an earlier run accepted and did not deliver goes first.
            let load = store.send(LoadOutbound { dest: self.config.durable_key() });
            ctx.wait(load.into_actor(self).map(|result, act, _| match result {
                Ok(Ok(items)) => {
                    if !items.is_empty() {
                        info!(
                            "http post {}: {} events left by the last run are delivered first",
                            act.config.url,
                            items.len()
                        );
                    }
                    act.queue.extend(items.into_iter().map(|i| Queued {
                        seq: Some(i.seq),
                        bot: i.bot,
                        body: i.body,
                        event: None,
                    }));
                }
                Ok(Err(e)) => warn!("http post {}: reading the buffer failed: {e}", act.config.url),
                Err(e) => warn!("http post {}: the store is unavailable: {e}", act.config.url),
            }));
            ctx.run_later(std::time::Duration::ZERO, |act, ctx| act.pump(ctx));
        }
        for (qq, bot) in self.bots.clone() {
            let subscribe = Subscribe {
                outbox: self.outbox.clone(),
                filter: EventFilter::All,
                label: format!("http post {}", self.config.url),
                durable: self.config.durable.clone(),
            };
            ctx.spawn(bot.send(subscribe).into_actor(self).map(move |r, act, _| match r {
                Ok(id) if act.standby => bot.do_send(Unsubscribe(id)),
                Ok(id) => act.subscriptions.push((bot, id)),
                Err(e) => {
                    warn!("http post {}: subscribing to bot {qq} failed: {e}", act.config.url)
                }
            }));
        }
    }
}

impl Handler<SetActive> for HttpPostDestination {
    type Result = ResponseActFuture<Self, ()>;

    /// Standing down: no new POST; the one in flight is given a moment to be answered (a
    /// delivered event is recorded, not posted again by the next owner), then the feeds
    /// record their positions and what waits is left to the next owner.
    fn handle(&mut self, msg: SetActive, ctx: &mut Self::Context) -> Self::Result {
        if msg.0 != self.standby {
            return Box::pin(fut::ready(()));
        }
        self.standby = !msg.0;
        if msg.0 {
            info!("http post {}: this node posts to it now", self.config.url);
            self.backoff.reset();
            self.healthy = true;
            self.activate(ctx);
            return Box::pin(fut::ready(()));
        }
        info!("http post {}: another node posts to it now", self.config.url);
        if let Some(pending) = self.pending_retry.take() {
            ctx.cancel_future(pending);
            self.posting = false;
        }
        let answered = self.requesting.then(|| self.answered.wait());
        let subscriptions = std::mem::take(&mut self.subscriptions);
        Box::pin(
            async move {
                // The answer first: a delivered POST's receipt must reach its feed before
                // the feed ends (`send` posts the message at once, so not before this).
                if let Some(answered) = answered {
                    answered.await;
                }
                let ends = subscriptions.into_iter().map(|(bot, id)| bot.send(Unsubscribe(id)));
                standby::stand_down(ends, None::<std::future::Ready<()>>).await;
            }
            .into_actor(self)
            .map(|_, act, _| {
                let (undelivered, _) = act.outbox.drain(usize::MAX);
                let queued = std::mem::take(&mut act.queue).len();
                debug!(
                    "http post {}: {} undelivered events left to the next owner",
                    act.config.url,
                    undelivered.len() + queued
                );
                act.posting = false;
            }),
        )
    }
}

/// Wakes the destination to post what waits.
#[derive(Message)]
#[rtype(result = "()")]
struct Pump;

impl Handler<Pump> for HttpPostDestination {
    type Result = ();

    fn handle(&mut self, _: Pump, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}

impl Handler<ShutDown> for HttpPostDestination {
    type Result = ResponseActFuture<Self, ()>;

    /// What waits in memory goes to the store; a POST in flight is given a moment to be
    /// answered, so a delivered event is not posted again by the next run.
    fn handle(&mut self, _: ShutDown, _: &mut Self::Context) -> Self::Result {
        self.closing = true;
        let (waiting, _) = self.outbox.drain(usize::MAX);
        let items: Vec<(UserId, Bytes)> =
            waiting.iter().filter_map(|e| Some((e.bot, self.encode(e)?))).collect();
        let stored = self.config.store.clone().filter(|_| !items.is_empty()).map(|store| {
            let append = AppendOutbound {
                dest: self.config.durable_key(),
                bound: self.config.buffer_size,
                items,
            };
            let url = self.config.url.clone();
            async move {
                if let Err(e) = store.send(append).await.map_err(|e| e.to_string()).and_then(|r| r)
                {
                    warn!("http post {url}: events not stored at shutdown: {e}");
                }
            }
        });
        let answered = self.requesting.then(|| self.answered.wait());
        Box::pin(
            shutdown::finish(
                async move {
                    if let Some(stored) = stored {
                        stored.await;
                    }
                },
                answered,
            )
            .into_actor(self),
        )
    }
}

impl Handler<Redial> for HttpPostDestination {
    type Result = ();

    /// Retries now: the backoff under way is cut short.
    fn handle(&mut self, _: Redial, ctx: &mut Self::Context) {
        if let Some(pending) = self.pending_retry.take() {
            ctx.cancel_future(pending);
            self.posting = false;
        }
        self.backoff.reset();
        self.pump(ctx);
    }
}

impl Handler<GetDestinationStatus> for HttpPostDestination {
    type Result = MessageResult<GetDestinationStatus>;

    fn handle(&mut self, _: GetDestinationStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(DestinationStatus {
            name: self.config.url.clone(),
            connected: self.healthy,
            verified_qq: None,
            buffered: self.outbox.len() + self.queue.len(),
            dropped: self.outbox.dropped() + self.dropped,
            last_error: self.last_error.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn signature_is_hex_hmac_sha1_of_the_exact_body() {
        // RFC 2202 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }
}
