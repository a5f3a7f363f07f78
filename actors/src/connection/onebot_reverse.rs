//! [`OneBotReverseClient`]: OneBot v11's reverse WebSocket, one actor per connection role
//! (Universal, or API and Event). botgate dials the client's server with `X-Self-ID`,
//! `X-Client-Role`, `User-Agent` and `Authorization`, sends the `lifecycle`/`connect` event
//! first on event-carrying connections, answers actions on API-carrying ones, and redials every
//! `ws_reverse_reconnect_interval` (after a close with code 1000 only when configured to).
//! Events produced while it is away wait in a bounded buffer and arrive in order afterwards.

use std::sync::Arc;
use std::time::Duration;

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
use super::onebot_calls;
use super::onebot_ws::OneBotRole;
use super::reverse_ws::{DestinationStatus, GetDestinationStatus, Redial};
use super::shutdown::{self, Settled, ShutDown};
use super::standby::{self, SetActive};
use super::ws_client::{self, LinkEvent, WsSink, WsStream};
use crate::bot::{
    unix_now, BotActor, EventFilter, EventOutbox, Subscribe, SubscriptionId, Unsubscribe,
};
use crate::log_throttle::LogThrottle;
use crate::model::UserId;
use crate::outbox::{Outbox, OverflowPolicy};
use crate::protocol::onebot::action;
use crate::protocol::onebot::event::{self as onebot_event, MessageFormat};
use crate::store::StoreActor;
use crate::warn_throttled;

/// Everything one reverse connection needs, resolved from the config.
#[derive(Debug, Clone)]
pub struct OneBotReverseConfig {
    /// The URL dialled.
    pub url: String,
    /// What the connection carries.
    pub role: OneBotRole,
    /// The bot served.
    pub qq: UserId,
    /// Its actor.
    pub bot: Addr<BotActor>,
    /// `Authorization: <scheme> <token>` when the token is not empty.
    pub authorization: Option<String>,
    /// Delay between dials.
    pub reconnect_interval: Duration,
    /// Whether a close with code 1000 is followed by a redial.
    pub reconnect_on_code_1000: bool,
    /// Largest frame accepted.
    pub max_frame_size: usize,
    /// Events kept while the server is away.
    pub buffer_size: usize,
    /// How messages are posted.
    pub format: MessageFormat,
    /// Heartbeat meta events every this often; `None`: none.
    pub heartbeat: Option<Duration>,
    /// TLS for `wss`.
    pub tls: Arc<rustls::ClientConfig>,
    /// How many actions the server may have running at once; more are answered retcode 1429.
    pub max_in_flight: usize,
    /// Where events wait durably while the server is away.
    pub store: Option<Addr<StoreActor>>,
    /// In a cluster, the destination's durable name: its events come from its recorded
    /// position in the stream, and it dials only from the node that owns it.
    pub durable: Option<String>,
}

/// Warnings about refused commands: a flood is counted, not written.
static BUSY: LogThrottle = LogThrottle::new(Duration::from_secs(10));

struct Link {
    sink: SinkWrite<Message, WsSink>,
    assembler: FrameAssembler,
}

/// The reverse WebSocket actor for one role.
pub struct OneBotReverseClient {
    config: OneBotReverseConfig,
    outbox: EventOutbox,
    link: Option<Link>,
    generation: u64,
    backoff: Backoff,
    in_flight: InFlight,
    stopped_by_1000: bool,
    /// What waits in the store for the server while it is away.
    backlog: Backlog,
    /// The backlog is being written to a server that just connected.
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
    /// The bot's subscription (event roles), ended when the destination stands down.
    subscription: Option<SubscriptionId>,
}

impl OneBotReverseClient {
    /// A client that dials `config.url` once started.
    pub fn new(config: OneBotReverseConfig) -> Self {
        let outbox = Outbox::new(config.buffer_size, OverflowPolicy::DropOldest);
        // A fixed interval (with jitter), as CQHTTP's ws_reverse_reconnect_interval says.
        let backoff = Backoff::new(config.reconnect_interval, config.reconnect_interval);
        let in_flight = InFlight::new(config.max_in_flight);
        let backlog = Backlog::new(
            config.store.clone().filter(|_| config.role.events()),
            format!("onebot-reverse {} ({})", config.url, config.role.client_role()),
            config.buffer_size,
        );
        let standby = config.durable.is_some();
        OneBotReverseClient {
            standby,
            subscription: None,
            config,
            outbox,
            link: None,
            generation: 0,
            backoff,
            in_flight,
            stopped_by_1000: false,
            backlog,
            replaying: false,
            closing: false,
            last_error: None,
            pending_dial: None,
            link_closed: Settled::default(),
        }
    }

    /// Moves what waits in the outbox into the store while the server is away.
    fn persist(&mut self, ctx: &mut Context<Self>) {
        if self.backlog.appending() || !self.backlog.durable() || self.outbox.is_empty() {
            return;
        }
        let (batch, _) = self.outbox.drain(512);
        let format = self.config.format;
        let qq = self.config.qq;
        let items = batch
            .iter()
            .filter_map(|e| onebot_event::encoded(e, format).cloned())
            .map(|b| (qq, b))
            .collect();
        let Some(append) = self.backlog.append(items) else {
            return;
        };
        ctx.spawn(append.into_actor(self).map(|result, act, ctx| {
            if let Some(why) = act.backlog.appended(result) {
                warn!("onebot reverse {}: {why}", act.config.url);
            }
            if act.link.is_some() {
                act.replay(ctx);
            } else {
                act.persist(ctx);
            }
        }));
    }

    /// Writes the backlog to the server that just connected, oldest first, then the outbox.
    fn replay(&mut self, ctx: &mut Context<Self>) {
        if self.backlog.appending() {
            // The append under way replays when it is done.
            return;
        }
        self.replaying = true;
        ctx.spawn(self.backlog.load().into_actor(self).map(|items, act, ctx| {
            act.replaying = false;
            let link = &mut act.link;
            let written = act.backlog.replay(items, Some(act.config.qq), |text| {
                link.as_mut().is_some_and(|l| l.sink.write(Message::Text(text)).is_ok())
            });
            crate::metrics::frames_delivered("onebot reverse ws", written as u64);
            if written > 0 {
                info!(
                    "onebot reverse {}: {written} events kept while it was away delivered",
                    act.config.url
                );
            }
            let addr = ctx.address();
            act.outbox.set_waker(move || addr.do_send(Drain));
            ctx.notify(Drain);
        }));
    }

    fn headers(&self) -> Vec<(String, String)> {
        let mut h = vec![
            ("X-Self-ID".to_owned(), self.config.qq.to_string()),
            ("X-Client-Role".to_owned(), self.config.role.client_role().to_owned()),
            ("User-Agent".to_owned(), concat!("botgate/", env!("CARGO_PKG_VERSION")).to_owned()),
        ];
        if let Some(auth) = &self.config.authorization {
            h.push(("Authorization".to_owned(), auth.clone()));
        }
        h
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.closing || self.standby {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        let dial = ws_client::dial(
            &self.config.url,
            &self.headers(),
            self.config.max_frame_size,
            &self.config.tls,
        );
        ctx.spawn(dial.into_actor(self).map(move |result, act, ctx| {
            if generation != act.generation {
                return;
            }
            match result {
                Ok((sink, stream)) => act.on_connected(sink, stream, generation, ctx),
                Err(e) => {
                    debug!("onebot reverse {} ({:?}): {e}", act.config.url, act.config.role);
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
        info!("onebot reverse {} ({:?}): connected", self.config.url, self.config.role);
        ctx.add_stream(ws_client::tag_frames(stream, generation));
        self.link = Some(Link {
            sink: SinkWrite::new(sink, ctx),
            assembler: FrameAssembler::new(self.config.max_frame_size),
        });
        if self.config.role.events() {
            self.send_json(&onebot_event::lifecycle(self.config.qq, unix_now(), "connect"));
            self.replay(ctx);
        }
    }

    fn schedule_redial(&mut self, ctx: &mut Context<Self>) {
        if self.stopped_by_1000 {
            return;
        }
        let delay = self.backoff.next_delay();
        self.pending_dial = Some(ctx.run_later(delay, |act, ctx| act.connect(ctx)));
    }

    fn drop_link(&mut self, ctx: &mut Context<Self>) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        self.generation += 1;
        // While the server is away events go to the store as they come.
        let addr = ctx.address();
        self.outbox.set_waker(move || addr.do_send(Drain));
        link.sink.close();
        crate::metrics::reconnect("onebot reverse ws");
        self.last_error = Some("disconnected".to_owned());
        info!(
            "onebot reverse {} ({:?}): disconnected; {} events wait",
            self.config.url,
            self.config.role,
            self.outbox.len() + self.backlog.len()
        );
        self.persist(ctx);
        self.schedule_redial(ctx);
    }

    fn send_text(&mut self, text: ByteString) {
        if let Some(link) = self.link.as_mut() {
            let _ = link.sink.write(Message::Text(text));
        }
    }

    fn send_json(&mut self, v: &impl serde::Serialize) {
        // A Value or an envelope serializes without fail (string keys only).
        self.send_text(serde_json::to_string(v).unwrap_or_default().into());
    }

    fn on_message(&mut self, data: &[u8], ctx: &mut Context<Self>) {
        if !self.config.role.calls() {
            debug!("onebot reverse {}: frame on an Event connection ignored", self.config.url);
            return;
        }
        let request = match action::parse_request(data) {
            Ok(r) => r,
            Err(why) => {
                warn!("onebot reverse {}: {why}", self.config.url);
                self.send_json(&action::failed(1400, &why, None));
                return;
            }
        };
        if !self.in_flight.try_start() {
            warn_throttled!(
                BUSY,
                "onebot reverse {}: {} actions in flight; {:?} refused",
                self.config.url,
                self.in_flight.running(),
                request.action
            );
            self.send_json(&action::busy(self.in_flight.max(), request.echo.as_ref()));
            return;
        }
        let (bot, qq, generation) = (self.config.bot.clone(), self.config.qq, self.generation);
        let run = async move {
            onebot_calls::run(
                &request.action,
                &request.params,
                request.echo.as_ref(),
                &bot,
                qq,
                1404,
            )
            .await
        };
        ctx.spawn(run.into_actor(self).map(move |envelope, act, _| {
            act.in_flight.finish();
            if generation == act.generation {
                act.send_json(&envelope);
            }
        }));
    }
}

impl Actor for OneBotReverseClient {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let (true, Some(every)) = (self.config.role.events(), self.config.heartbeat) {
            ctx.run_interval(every, move |act, ctx| {
                if act.link.is_some() {
                    let beat =
                        onebot_calls::heartbeat(act.config.bot.clone(), act.config.qq, every);
                    ctx.spawn(beat.into_actor(act).map(|beat, act, _| act.send_json(&beat)));
                }
            });
        }
        if !self.standby {
            self.activate(ctx);
        }
    }
}

impl OneBotReverseClient {
    /// Starts the destination's work: its backlog, its bot's events, its link.
    fn activate(&mut self, ctx: &mut Context<Self>) {
        ctx.wait(self.backlog.load().into_actor(self).map(|items, act, _| {
            act.backlog.found(items.len());
            if !items.is_empty() {
                info!(
                    "onebot reverse {}: {} events left by the last run wait for the server",
                    act.config.url,
                    items.len()
                );
            }
        }));
        if self.config.role.events() {
            // Until the first connection, events go to the store as they come.
            let addr = ctx.address();
            self.outbox.set_waker(move || addr.do_send(Drain));
            // Subscribed from the start: events produced before the first connection wait too.
            let subscribe = Subscribe {
                outbox: self.outbox.clone(),
                filter: EventFilter::All,
                label: format!("onebot reverse {} ({:?})", self.config.url, self.config.role),
                durable: self.config.durable.clone(),
            };
            ctx.spawn(self.config.bot.send(subscribe).into_actor(self).map(|r, act, _| match r {
                Ok(id) if act.standby => act.config.bot.do_send(Unsubscribe(id)),
                Ok(id) => act.subscription = Some(id),
                Err(e) => warn!("onebot reverse {}: subscribe failed: {e}", act.config.url),
            }));
        }
        self.connect(ctx);
    }
}

impl Handler<SetActive> for OneBotReverseClient {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: SetActive, ctx: &mut Self::Context) -> Self::Result {
        if msg.0 != self.standby {
            return Box::pin(fut::ready(()));
        }
        self.standby = !msg.0;
        let (url, role) = (self.config.url.clone(), self.config.role);
        if msg.0 {
            info!("onebot reverse {url} ({role:?}): this node dials it now");
            self.backoff.reset();
            self.stopped_by_1000 = false;
            self.activate(ctx);
            return Box::pin(fut::ready(()));
        }
        info!("onebot reverse {url} ({role:?}): another node dials it now");
        self.generation += 1;
        if let Some(pending) = self.pending_dial.take() {
            ctx.cancel_future(pending);
        }
        let closed = (self.link.take())
            .map(|mut link| standby::close_moved(&mut link.sink, &mut self.link_closed));
        let unsubscribed = self.subscription.take().map(|id| self.config.bot.send(Unsubscribe(id)));
        Box::pin(
            standby::stand_down(unsubscribed, closed)
                .into_actor(self)
                // Not delivered here: the next owner reads them again from the stream.
                .map(|_, act, _| drop(act.outbox.drain(usize::MAX))),
        )
    }
}

impl StreamHandler<LinkEvent> for OneBotReverseClient {
    fn handle(&mut self, event: LinkEvent, ctx: &mut Self::Context) {
        if event.generation != self.generation {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let Some(item) = event.item else {
            return self.drop_link(ctx);
        };
        match link.assembler.take_item(item) {
            Inbound::Message(data) => self.on_message(&data, ctx),
            Inbound::Pending | Inbound::Pong => {}
            Inbound::Ping(data) => {
                let _ = link.sink.write(Message::Pong(data));
            }
            Inbound::OutOfOrder | Inbound::Lost(_) => self.drop_link(ctx),
            Inbound::Fail(code, why) => {
                warn!("onebot reverse {}: {why}; closing", self.config.url);
                let _ = link
                    .sink
                    .write(Message::Close(Some(CloseReason { code, description: Some(why) })));
                self.drop_link(ctx);
            }
            Inbound::Close(reason) => {
                let normal = reason.as_ref().is_none_or(|r| r.code == CloseCode::Normal);
                if normal && !self.config.reconnect_on_code_1000 {
                    info!("onebot reverse {}: closed with 1000; not redialling (ws_reverse_reconnect_on_code_1000)", self.config.url);
                    self.stopped_by_1000 = true;
                }
                self.drop_link(ctx);
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

impl WriteHandler<WsProtocolError> for OneBotReverseClient {
    fn error(&mut self, err: WsProtocolError, _: &mut Self::Context) -> Running {
        warn!("onebot reverse {}: write failed: {err}", self.config.url);
        Running::Continue
    }

    fn finished(&mut self, _: &mut Self::Context) {
        self.link_closed.notify();
    }
}

/// Wakes the client to write buffered events.
#[derive(Message)]
#[rtype(result = "()")]
struct Drain;

impl Handler<Drain> for OneBotReverseClient {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Self::Context) {
        if self.link.is_none() {
            return self.persist(ctx);
        }
        // Older events are on their way into the store or out of it: new ones wait, or
        // they would overtake them. The append's end replays, and the replay drains.
        if self.replaying || self.backlog.appending() {
            return;
        }
        let (events, more) = self.outbox.drain(512);
        let format = self.config.format;
        let mut written = 0;
        for e in &events {
            if let Some(bytes) = onebot_event::encoded(e, format).cloned() {
                if let Ok(text) = ByteString::try_from(Bytes::clone(&bytes)) {
                    self.send_text(text);
                    written += 1;
                }
            }
            // Written (or not expressible): a durable feed moves on.
            e.delivered();
        }
        crate::metrics::frames_delivered("onebot reverse ws", written);
        if more {
            ctx.notify(Drain);
        }
    }
}

impl Handler<ShutDown> for OneBotReverseClient {
    type Result = ResponseActFuture<Self, ()>;

    /// The server gets what was written and a 1001; what waits goes to the store.
    fn handle(&mut self, _: ShutDown, _: &mut Self::Context) -> Self::Result {
        self.closing = true;
        self.generation += 1;
        let closed = self
            .link
            .take()
            .map(|mut link| shutdown::close_away(&mut link.sink, &mut self.link_closed));
        let (waiting, _) = self.outbox.drain(usize::MAX);
        let (format, qq) = (self.config.format, self.config.qq);
        let items = waiting
            .iter()
            .filter_map(|e| onebot_event::encoded(e, format).cloned())
            .map(|b| (qq, b))
            .collect();
        let stored = self.backlog.shelve(items);
        Box::pin(shutdown::finish(stored, closed).into_actor(self))
    }
}

impl Handler<Redial> for OneBotReverseClient {
    type Result = ();

    fn handle(&mut self, _: Redial, ctx: &mut Self::Context) {
        if self.closing {
            return;
        }
        info!("onebot reverse {}: redial asked for", self.config.url);
        self.stopped_by_1000 = false;
        self.drop_link(ctx);
        if let Some(pending) = self.pending_dial.take() {
            ctx.cancel_future(pending);
        }
        self.connect(ctx);
    }
}

impl Handler<GetDestinationStatus> for OneBotReverseClient {
    type Result = MessageResult<GetDestinationStatus>;

    fn handle(&mut self, _: GetDestinationStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(DestinationStatus {
            name: format!("{} ({})", self.config.url, self.config.role.client_role()),
            connected: self.link.is_some(),
            verified_qq: None,
            buffered: self.outbox.len() + self.backlog.len(),
            dropped: self.outbox.dropped() + self.backlog.dropped(),
            last_error: self.last_error.clone(),
        })
    }
}
