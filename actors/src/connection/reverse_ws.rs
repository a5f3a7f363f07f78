//! [`ReverseWsDestination`]: mirai-api-http's reverse-ws adapter, one actor per destination.
//!
//! botgate dials the business server, waits for its `verify` command, then serves commands
//! and pushes the bound bot's events. When the link drops it redials forever with backoff and
//! jitter; meanwhile events wait in the destination's outbox (a bounded replay buffer that
//! outlives each connection) and are delivered in order once the server has verified again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::io::{SinkWrite, WriteHandler};
use actix::prelude::*;
use awc::error::WsProtocolError;
use awc::ws::{CloseCode, CloseReason, Message};
use bytes::Bytes;
use bytestring::ByteString;
use log::{debug, info, warn};

use super::backlog::Backlog;
use super::backoff::Backoff;
use super::frames::{FrameAssembler, Inbound};
use super::in_flight::InFlight;
use super::mirai_calls;
use super::shutdown::{self, Settled, ShutDown};
use super::standby::{self, SetActive};
use super::ws_client::{self, LinkEvent, WsSink, WsStream};
use crate::bot::{BotActor, EventFilter, EventOutbox, Subscribe, SubscriptionId, Unsubscribe};
use crate::log_throttle::LogThrottle;
use crate::model::{SharedEvent, UserId};
use crate::outbox::{Outbox, OverflowPolicy};
use crate::protocol::mirai::command::{self as mirai_command, CallError, MiraiCall};
use crate::protocol::mirai::envelope::{self, Request};
use crate::protocol::mirai::event as mirai_event;
use crate::protocol::mirai::state::StateCode;
use crate::registry::{Authenticate, BoundSession, Release, SessionRegistry};
use crate::store::StoreActor;
use crate::warn_throttled;

/// Events written to the socket per drain; a burst larger than this is written in several
/// rounds so commands interleave with a long replay.
const DRAIN_BATCH: usize = 512;

/// Everything one destination needs, resolved from the config.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    /// The full URL dialled, query included.
    pub url: String,
    /// The query's parameters.
    pub query: Vec<(String, String)>,
    /// The URL without its query, for log lines (queries may carry secrets).
    pub display_name: String,
    /// Extra handshake headers, merged from the common and the destination's own.
    pub headers: Vec<(String, String)>,
    /// The syncId of pushed events.
    pub reserved_sync_id: String,
    /// The first redial delay.
    pub reconnect_interval: Duration,
    /// The longest redial delay backoff grows to.
    pub max_reconnect_interval: Duration,
    /// The largest frame (and reassembled message) accepted, in bytes.
    pub max_frame_size: usize,
    /// How many events wait for the server while it is away; the oldest are dropped beyond.
    pub replay_buffer_size: usize,
    /// How many commands the server may have running at once; more are answered code 500.
    pub max_in_flight: usize,
    /// How often to ping the server; a server silent for three intervals is redialled.
    /// Zero disables pings.
    pub heartbeat_interval: Duration,
    /// TLS settings for `wss`.
    pub tls: Arc<rustls::ClientConfig>,
    /// Where events wait durably while the server is away (the store's `outbound` table).
    pub store: Option<Addr<StoreActor>>,
    /// The bot whose events are kept from the start, before the server first verifies (a
    /// restart must not lose what comes meanwhile); a verify for another bot replaces it.
    pub expects: Option<(UserId, Addr<BotActor>)>,
    /// In a cluster, the destination's durable name: its events come from its recorded
    /// position in the stream, and it runs only on the node that owns it.
    pub durable: Option<String>,
}

/// Warnings about refused commands: a flood is counted, not written.
static BUSY: LogThrottle = LogThrottle::new(Duration::from_secs(10));

struct Link {
    sink: SinkWrite<Message, WsSink>,
    assembler: FrameAssembler,
    session: Option<BoundSession>,
    last_seen: Instant,
}

/// The bot this destination receives events from, kept across reconnects.
struct Subscription {
    qq: UserId,
    bot: Addr<BotActor>,
    id: Option<SubscriptionId>,
}

/// A destination's state, for `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStatus {
    /// The URL without its query.
    pub name: String,
    /// Whether a connection is open.
    pub connected: bool,
    /// The bot the server verified for, if it has.
    pub verified_qq: Option<UserId>,
    /// Events waiting for delivery.
    pub buffered: usize,
    /// Why the last connection or delivery failed, if one has.
    pub last_error: Option<String>,
    /// Events dropped because the buffer was full.
    pub dropped: u64,
}

/// The reverse-ws connection actor for one destination.
pub struct ReverseWsDestination {
    config: DestinationConfig,
    registry: Addr<SessionRegistry>,
    outbox: EventOutbox,
    subscription: Option<Subscription>,
    link: Option<Link>,
    generation: u64,
    backoff: Backoff,
    in_flight: InFlight,
    /// What waits in the store for the server while it is away.
    backlog: Backlog,
    /// The backlog is being written to a newly verified server.
    replaying: bool,
    /// botgate is stopping: no redial, events go to the store.
    closing: bool,
    /// Why the last connection failed or ended, for the admin API.
    last_error: Option<String>,
    /// The redial waiting out its delay.
    pending_dial: Option<SpawnHandle>,
    /// Waiters for the last link's close at shutdown.
    link_closed: Settled,
    /// In a cluster, another node owns the destination: nothing is dialled or delivered.
    standby: bool,
}

impl ReverseWsDestination {
    /// A destination that will dial `config.url` once started.
    pub fn new(config: DestinationConfig, registry: Addr<SessionRegistry>) -> Self {
        let outbox = Outbox::new(config.replay_buffer_size, OverflowPolicy::DropOldest);
        let backoff = Backoff::new(config.reconnect_interval, config.max_reconnect_interval);
        let in_flight = InFlight::new(config.max_in_flight);
        let backlog = Backlog::new(
            config.store.clone(),
            format!("mirai-reverse-ws {}", config.display_name),
            config.replay_buffer_size,
        );
        let standby = config.durable.is_some();
        ReverseWsDestination {
            standby,
            config,
            registry,
            outbox,
            subscription: None,
            link: None,
            generation: 0,
            backoff,
            in_flight,
            backlog,
            replaying: false,
            closing: false,
            last_error: None,
            pending_dial: None,
            link_closed: Settled::default(),
        }
    }

    /// Moves what waits in the outbox into the store while the server is away, so a restart
    /// does not lose it.
    fn persist(&mut self, ctx: &mut Context<Self>) {
        let Some(qq) = self.subscription.as_ref().map(|s| s.qq) else {
            return;
        };
        if self.backlog.appending() || !self.backlog.durable() || self.outbox.is_empty() {
            return;
        }
        let (batch, _) = self.outbox.drain(DRAIN_BATCH);
        let items = batch
            .iter()
            .filter_map(|e| mirai_event::push_frame(e, &self.config.reserved_sync_id))
            .map(|frame| (qq, frame))
            .collect();
        let Some(append) = self.backlog.append(items) else {
            return;
        };
        ctx.spawn(append.into_actor(self).map(|result, act, ctx| {
            if let Some(why) = act.backlog.appended(result) {
                warn!("reverse-ws {}: {why}", act.config.display_name);
            }
            if act.session().is_some() {
                act.replay(ctx);
            } else {
                act.persist(ctx);
            }
        }));
    }

    /// Writes the backlog to the newly verified server, oldest first, before the outbox;
    /// events of another bot (the server verified for a different one) are dropped.
    fn replay(&mut self, ctx: &mut Context<Self>) {
        if self.backlog.appending() {
            // The append under way replays when it is done.
            return;
        }
        self.replaying = true;
        ctx.spawn(self.backlog.load().into_actor(self).map(|items, act, ctx| {
            act.replaying = false;
            let qq = act.session().map(|s| s.qq);
            let link = &mut act.link;
            let written = act.backlog.replay(items, qq, |text| {
                link.as_mut().is_some_and(|l| l.sink.write(Message::Text(text)).is_ok())
            });
            crate::metrics::frames_delivered("mirai reverse-ws", written as u64);
            if written > 0 {
                info!(
                    "reverse-ws {}: {written} events kept while it was away delivered",
                    act.config.display_name
                );
            }
            act.start_draining(ctx);
        }));
    }

    fn start_draining(&mut self, ctx: &mut Context<Self>) {
        let addr = ctx.address();
        self.outbox.set_waker(move || addr.do_send(DrainOutbox));
        ctx.notify(DrainOutbox);
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.closing || self.standby {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        let dial = ws_client::dial(
            &self.config.url,
            &self.config.headers,
            self.config.max_frame_size,
            &self.config.tls,
        );
        debug!("reverse-ws {}: dialling", self.config.display_name);
        ctx.spawn(dial.into_actor(self).map(move |result, act, ctx| {
            if generation != act.generation {
                return;
            }
            match result {
                Ok((sink, stream)) => act.on_connected(sink, stream, generation, ctx),
                Err(e) => {
                    warn!("reverse-ws {}: connection failed: {e}", act.config.display_name);
                    act.last_error = Some(format!("connection failed: {e}"));
                    act.schedule_redial(ctx);
                }
            }
        }));
    }

    fn on_connected(
        &mut self,
        sink: WsSink,
        stream: WsStream,
        generation: u64,
        ctx: &mut Context<Self>,
    ) {
        info!("reverse-ws {}: connected; waiting for verify", self.config.display_name);
        self.backoff.link_up();
        ctx.add_stream(ws_client::tag_frames(stream, generation));
        self.link = Some(Link {
            sink: SinkWrite::new(sink, ctx),
            assembler: FrameAssembler::new(self.config.max_frame_size),
            session: None,
            last_seen: Instant::now(),
        });
    }

    fn schedule_redial(&mut self, ctx: &mut Context<Self>) {
        let delay = self.backoff.next_delay();
        debug!("reverse-ws {}: redialling in {delay:?}", self.config.display_name);
        self.pending_dial = Some(ctx.run_later(delay, |act, ctx| act.connect(ctx)));
    }

    /// Ends the current connection (if any) and redials.
    fn drop_link(&mut self, ctx: &mut Context<Self>, close: Option<CloseReason>) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        self.generation += 1;
        self.last_error = Some(match &close {
            Some(reason) => format!("disconnected ({:?})", reason.code),
            None => "disconnected".to_owned(),
        });
        // While the server is away events go to the store as they come.
        let addr = ctx.address();
        self.outbox.set_waker(move || addr.do_send(DrainOutbox));
        if let Some(reason) = close {
            let _ = link.sink.write(Message::Close(Some(reason)));
        }
        link.sink.close();
        if let Some(session) = link.session {
            self.registry.do_send(Release { session_key: session.key });
        }
        crate::metrics::reconnect("mirai reverse-ws");

        info!(
            "reverse-ws {}: disconnected; {} events wait for the server",
            self.config.display_name,
            self.outbox.len() + self.backlog.len()
        );
        self.persist(ctx);
        let delay = self.backoff.link_down();
        debug!("reverse-ws {}: redialling in {delay:?}", self.config.display_name);
        self.pending_dial = Some(ctx.run_later(delay, |act, ctx| act.connect(ctx)));
    }

    /// The session the server verified on the current connection, if it has.
    fn session(&self) -> Option<&BoundSession> {
        self.link.as_ref().and_then(|l| l.session.as_ref())
    }

    fn send_text(&mut self, text: String) {
        if let Some(link) = self.link.as_mut() {
            if link.sink.write(Message::Text(text.into())).is_err() {
                debug!("reverse-ws {}: write after close dropped", self.config.display_name);
            }
        }
    }

    fn send_raw_state(&mut self, state: StateCode) {
        self.send_text(state.to_json().to_string());
    }

    fn on_message(&mut self, data: Bytes, ctx: &mut Context<Self>) {
        let request = match envelope::parse_request(&data) {
            Ok(r) => r,
            Err(e) => {
                warn!("reverse-ws {}: {e}", self.config.display_name);
                self.send_raw_state(StateCode::invalid_parameter());
                return;
            }
        };
        if self.session().is_none() {
            match request.command.as_str() {
                "verify" => self.verify(request, ctx),
                "about" | "botList" => self.dispatch(request, ctx),
                other => {
                    debug!("reverse-ws {}: {other:?} before verify", self.config.display_name);
                    self.send_raw_state(StateCode::auth_key_fail());
                }
            }
        } else {
            self.dispatch(request, ctx);
        }
    }

    fn verify(&mut self, request: Request, ctx: &mut Context<Self>) {
        let content = match mirai_command::decode("verify", None, &request.content) {
            Ok(MiraiCall::Verify(v)) => v,
            _ => {
                warn!("reverse-ws {}: unreadable verify content", self.config.display_name);
                self.send_raw_state(StateCode::auth_key_fail());
                return;
            }
        };
        let generation = self.generation;
        let auth = Authenticate {
            verify_key: content.verify_key,
            session_key: content.session_key,
            qq: content.qq,
        };
        let sync_id = request.sync_id;
        ctx.spawn(self.registry.send(auth).into_actor(self).map(move |result, act, ctx| {
            if generation != act.generation {
                if let Ok(Ok(session)) = result {
                    act.registry.do_send(Release { session_key: session.key });
                }
                return;
            }
            match result {
                Ok(Ok(session)) => act.on_verified(session, sync_id, ctx),
                Ok(Err(e)) => {
                    warn!("reverse-ws {}: verify failed: {e}", act.config.display_name);
                    act.send_raw_state(StateCode::from(&e));
                }
                Err(e) => {
                    warn!("reverse-ws {}: registry unavailable: {e}", act.config.display_name);
                    act.send_raw_state(StateCode::from(&crate::model::BotError::Internal(
                        e.to_string(),
                    )));
                }
            }
        }));
    }

    fn on_verified(
        &mut self,
        session: BoundSession,
        sync_id: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        info!("reverse-ws {}: verified for bot {}", self.config.display_name, session.qq);
        let ack = envelope::response(sync_id.as_deref(), &mirai_command::verified(&session.key));
        self.send_text(ack);
        let same_bot = self.subscription.as_ref().is_some_and(|s| s.qq == session.qq);
        if !same_bot {
            if let Some(old) = self.subscription.take() {
                if let Some(id) = old.id {
                    old.bot.do_send(Unsubscribe(id));
                }
                let (stale, _) = self.outbox.drain(usize::MAX);
                if !stale.is_empty() {
                    info!(
                        "reverse-ws {}: now verified for another bot; {} buffered events of \
                         bot {} discarded",
                        self.config.display_name,
                        stale.len(),
                        old.qq
                    );
                }
            }
            self.subscribe(session.qq, session.bot.clone(), ctx);
        }
        if let Some(link) = self.link.as_mut() {
            link.session = Some(session);
        }
        self.replay(ctx);
    }

    fn subscribe(&mut self, qq: UserId, bot: Addr<BotActor>, ctx: &mut Context<Self>) {
        self.subscription = Some(Subscription { qq, bot: bot.clone(), id: None });
        let subscribe = Subscribe {
            outbox: self.outbox.clone(),
            filter: EventFilter::All,
            label: format!("reverse-ws {}", self.config.display_name),
            durable: self.config.durable.clone(),
        };
        ctx.spawn(bot.clone().send(subscribe).into_actor(self).map(move |result, act, _| {
            match (result, act.subscription.as_mut()) {
                (Ok(id), Some(sub)) if sub.qq == qq => sub.id = Some(id),
                (Ok(id), _) => {
                    // Verified for another bot meanwhile: this subscription is stale.
                    bot.do_send(Unsubscribe(id));
                }
                (Err(e), _) => {
                    warn!("reverse-ws {}: subscribe failed: {e}", act.config.display_name)
                }
            }
        }));
    }

    fn dispatch(&mut self, request: Request, ctx: &mut Context<Self>) {
        let call = match mirai_command::decode(
            &request.command,
            request.sub_command.as_deref(),
            &request.content,
        ) {
            Ok(call) => call,
            Err(e) => {
                if let CallError::Invalid(why) = &e {
                    debug!("reverse-ws {}: {}: {why}", self.config.display_name, request.command);
                }
                let reply = envelope::response(request.sync_id.as_deref(), &e.state().to_json());
                self.send_text(reply);
                return;
            }
        };
        let sync_id = request.sync_id;
        if !self.in_flight.try_start() {
            warn_throttled!(
                BUSY,
                "reverse-ws {}: {} commands in flight; {:?} refused",
                self.config.display_name,
                self.in_flight.running(),
                request.command
            );
            let busy = StateCode::busy(self.in_flight.max()).to_json();
            self.send_text(envelope::response(sync_id.as_deref(), &busy));
            return;
        }
        let generation = self.generation;
        let run = mirai_calls::run(call, self.session(), &self.registry);
        ctx.spawn(run.into_actor(self).map(move |data, act, _| {
            act.in_flight.finish();
            if generation == act.generation {
                act.send_text(envelope::response(sync_id.as_deref(), &data));
            }
        }));
    }

    fn push_frame(&self, event: &SharedEvent) -> Option<Message> {
        let frame = mirai_event::push_frame(event, &self.config.reserved_sync_id)?;
        ByteString::try_from(frame).ok().map(Message::Text)
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let interval = self.config.heartbeat_interval;
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if link.last_seen.elapsed() > interval * 3 {
            warn!(
                "reverse-ws {}: server silent for {:?}; redialling",
                self.config.display_name,
                link.last_seen.elapsed()
            );
            self.drop_link(
                ctx,
                Some(CloseReason {
                    code: CloseCode::Away,
                    description: Some("heartbeat timeout".into()),
                }),
            );
        } else {
            let _ = link.sink.write(Message::Ping(Bytes::new()));
        }
    }
}

impl Actor for ReverseWsDestination {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if !self.config.heartbeat_interval.is_zero() {
            ctx.run_interval(self.config.heartbeat_interval, |act, ctx| act.heartbeat(ctx));
        }
        if !self.standby {
            self.activate(ctx);
        }
    }
}

impl ReverseWsDestination {
    /// Starts the destination's work: its bot's events, its backlog, its link.
    fn activate(&mut self, ctx: &mut Context<Self>) {
        if let Some((qq, bot)) = self.config.expects.clone() {
            // Until the server verifies, its bot's events go to the store as they come.
            let addr = ctx.address();
            self.outbox.set_waker(move || addr.do_send(DrainOutbox));
            self.subscribe(qq, bot, ctx);
        }
        ctx.wait(self.backlog.load().into_actor(self).map(|items, act, _| {
            act.backlog.found(items.len());
            if !items.is_empty() {
                info!(
                    "reverse-ws {}: {} events left by the last run wait for the server",
                    act.config.display_name,
                    items.len()
                );
            }
        }));
        self.connect(ctx);
    }
}

impl StreamHandler<LinkEvent> for ReverseWsDestination {
    fn handle(&mut self, event: LinkEvent, ctx: &mut Self::Context) {
        if event.generation != self.generation {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        link.last_seen = Instant::now();
        let Some(item) = event.item else {
            debug!("reverse-ws {}: stream ended", self.config.display_name);
            self.drop_link(ctx, None);
            return;
        };
        match link.assembler.take_item(item) {
            Inbound::Message(data) => self.on_message(data, ctx),
            Inbound::Pending | Inbound::Pong => {}
            Inbound::Ping(data) => {
                let _ = link.sink.write(Message::Pong(data));
            }
            Inbound::OutOfOrder => {
                warn!("reverse-ws {}: continuation frame out of order", self.config.display_name);
                self.send_raw_state(StateCode::invalid_parameter());
            }
            Inbound::Fail(code, why) => {
                warn!("reverse-ws {}: {why}; closing", self.config.display_name);
                self.drop_link(ctx, Some(CloseReason { code, description: Some(why) }));
            }
            Inbound::Lost(why) => {
                info!("reverse-ws {}: connection lost: {why}", self.config.display_name);
                self.drop_link(ctx, None);
            }
            Inbound::Close(reason) => {
                info!(
                    "reverse-ws {}: server closed the connection: {reason:?}",
                    self.config.display_name
                );
                self.drop_link(ctx, Some(reason.unwrap_or_else(|| CloseCode::Normal.into())));
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // Each connection's stream ends with an explicit `item: None`; the actor lives on.
    }
}

impl WriteHandler<WsProtocolError> for ReverseWsDestination {
    fn error(&mut self, err: WsProtocolError, _: &mut Self::Context) -> Running {
        warn!("reverse-ws {}: write failed: {err}", self.config.display_name);
        Running::Continue
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // The read side notices the same disconnect and redials; the actor lives on.
        self.link_closed.notify();
    }
}

/// Wakes the destination to write what its outbox holds.
#[derive(Message)]
#[rtype(result = "()")]
struct DrainOutbox;

impl Handler<DrainOutbox> for ReverseWsDestination {
    type Result = ();

    fn handle(&mut self, _: DrainOutbox, ctx: &mut Self::Context) {
        if self.session().is_none() {
            return self.persist(ctx);
        }
        // Older events are on their way into the store or out of it: new ones wait, or
        // they would overtake them. The append's end replays, and the replay drains.
        if self.replaying || self.backlog.appending() {
            return;
        }
        let (batch, more) = self.outbox.drain(DRAIN_BATCH);
        let frames: Vec<Option<Message>> = batch.iter().map(|e| self.push_frame(e)).collect();
        if let Some(link) = self.link.as_mut() {
            let mut written = 0;
            for (event, frame) in batch.iter().zip(frames) {
                if let Some(frame) = frame {
                    if link.sink.write(frame).is_err() {
                        break;
                    }
                    written += 1;
                }
                // Written (or not expressible in mirai's format): a durable feed moves on.
                event.delivered();
            }
            crate::metrics::frames_delivered("mirai reverse-ws", written);
        }
        if more {
            ctx.notify(DrainOutbox);
        }
    }
}

impl Handler<ShutDown> for ReverseWsDestination {
    type Result = ResponseActFuture<Self, ()>;

    /// The server gets what was written and a 1001; what waits goes to the store.
    fn handle(&mut self, _: ShutDown, _: &mut Self::Context) -> Self::Result {
        self.closing = true;
        self.generation += 1;
        let closed = self.link.take().map(|mut link| {
            if let Some(session) = link.session {
                self.registry.do_send(Release { session_key: session.key });
            }
            shutdown::close_away(&mut link.sink, &mut self.link_closed)
        });
        let qq = self.subscription.as_ref().map(|s| s.qq);
        let (waiting, _) = self.outbox.drain(usize::MAX);
        let items = qq
            .map(|qq| {
                waiting
                    .iter()
                    .filter_map(|e| mirai_event::push_frame(e, &self.config.reserved_sync_id))
                    .map(|frame| (qq, frame))
                    .collect()
            })
            .unwrap_or_default();
        let stored = self.backlog.shelve(items);
        Box::pin(shutdown::finish(stored, closed).into_actor(self))
    }
}

/// Asks a destination for its status.
#[derive(Message)]
#[rtype(result = "DestinationStatus")]
pub struct GetDestinationStatus;

/// Asks a destination to try again now: a WebSocket destination redials (dropping its link,
/// if it has one), an HTTP POST destination retries its next event without waiting out its
/// backoff.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Redial;

impl Handler<Redial> for ReverseWsDestination {
    type Result = ();

    fn handle(&mut self, _: Redial, ctx: &mut Self::Context) {
        if self.closing {
            return;
        }
        info!("reverse-ws {}: redial asked for", self.config.display_name);
        if self.link.is_some() {
            let reason =
                CloseReason { code: CloseCode::Restart, description: Some("redial".into()) };
            self.drop_link(ctx, Some(reason));
        }
        if let Some(pending) = self.pending_dial.take() {
            ctx.cancel_future(pending);
        }
        self.backoff.reset();
        self.connect(ctx);
    }
}

impl Handler<SetActive> for ReverseWsDestination {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: SetActive, ctx: &mut Self::Context) -> Self::Result {
        if msg.0 != self.standby {
            return Box::pin(fut::ready(()));
        }
        self.standby = !msg.0;
        if msg.0 {
            info!("reverse-ws {}: this node delivers to it now", self.config.display_name);
            self.backoff.reset();
            self.activate(ctx);
            return Box::pin(fut::ready(()));
        }
        info!("reverse-ws {}: another node delivers to it now", self.config.display_name);
        self.generation += 1;
        if let Some(pending) = self.pending_dial.take() {
            ctx.cancel_future(pending);
        }
        let closed = self.link.take().map(|mut link| {
            if let Some(session) = link.session {
                self.registry.do_send(Release { session_key: session.key });
            }
            standby::close_moved(&mut link.sink, &mut self.link_closed)
        });
        let unsubscribed =
            self.subscription.take().and_then(|s| Some(s.bot.send(Unsubscribe(s.id?))));
        Box::pin(standby::stand_down(unsubscribed, closed).into_actor(self).map(|_, act, _| {
            // Not delivered here: the next owner reads them again from the stream.
            let (undelivered, _) = act.outbox.drain(usize::MAX);
            debug!(
                "reverse-ws {}: {} undelivered events left to the next owner",
                act.config.display_name,
                undelivered.len()
            );
        }))
    }
}

impl Handler<GetDestinationStatus> for ReverseWsDestination {
    type Result = MessageResult<GetDestinationStatus>;

    fn handle(&mut self, _: GetDestinationStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(DestinationStatus {
            name: self.config.display_name.clone(),
            connected: self.link.is_some(),
            verified_qq: self.link.as_ref().and_then(|l| l.session.as_ref().map(|s| s.qq)),
            buffered: self.outbox.len() + self.backlog.len(),
            dropped: self.outbox.dropped() + self.backlog.dropped(),
            last_error: self.last_error.clone(),
        })
    }
}
