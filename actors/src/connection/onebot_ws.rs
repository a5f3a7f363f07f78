//! [`OneBotWsClient`]: one actor per client of the OneBot forward WebSocket (`/` universal,
//! `/api` calls only, `/event` events only). Event connections get the `lifecycle`/`connect`
//! meta event first, heartbeats when enabled, and the bot's events through a bounded outbox;
//! calls run concurrently and each answer carries its request's `echo` untouched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_http::ws::{Frame, ProtocolError};
use bytestring::ByteString;
use log::debug;

use super::in_flight::InFlight;
use super::onebot_calls;
use super::stats::ClientStats;
use super::ws_server::{Incoming, ServedSocket, Site, WsFrames, WsWriter};
use crate::bot::{
    unix_now, BotActor, EventFilter, EventOutbox, Subscribe, SubscriptionId, Unsubscribe,
};
use crate::model::UserId;
use crate::outbox::{Outbox, OverflowPolicy};
use crate::protocol::onebot::action;
use crate::protocol::onebot::event::{self as onebot_event, MessageFormat};

/// What a connection carries, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneBotRole {
    /// `/`: calls and events.
    Universal,
    /// `/api`: calls only.
    Api,
    /// `/event`: events only.
    Event,
}

impl OneBotRole {
    /// The role served at `path`.
    pub fn from_path(path: &str) -> Option<Self> {
        match path.trim_end_matches('/') {
            "" => Some(OneBotRole::Universal),
            "/api" => Some(OneBotRole::Api),
            "/event" => Some(OneBotRole::Event),
            _ => None,
        }
    }

    /// Whether the role carries events.
    pub fn events(self) -> bool {
        self != OneBotRole::Api
    }

    /// Whether the role carries calls.
    pub fn calls(self) -> bool {
        self != OneBotRole::Event
    }

    /// The `X-Client-Role` a reverse WebSocket of this role sends.
    pub fn client_role(self) -> &'static str {
        match self {
            OneBotRole::Universal => "Universal",
            OneBotRole::Api => "API",
            OneBotRole::Event => "Event",
        }
    }
}

/// Settings shared by every OneBot ws client.
#[derive(Debug, Clone)]
pub struct OneBotWsSettings {
    /// The bot the OneBot adapters serve.
    pub qq: UserId,
    /// Its actor.
    pub bot: Addr<BotActor>,
    /// How messages are posted.
    pub format: MessageFormat,
    /// Heartbeat meta events every this often; `None` disables them.
    pub heartbeat: Option<Duration>,
    /// Events that may wait for a slow client before it is closed.
    pub outbox_size: usize,
    /// How often an idle client is pinged; silent for three intervals → dropped. Zero: never.
    pub ping_interval: Duration,
    /// How many actions one connection may have running; more are answered at once with
    /// retcode 1429 instead of queueing without bound.
    pub max_in_flight: usize,
    /// The adapter's client counters.
    pub stats: Arc<ClientStats>,
}

/// One OneBot forward ws client.
pub struct OneBotWsClient {
    socket: ServedSocket,
    settings: Arc<OneBotWsSettings>,
    role: OneBotRole,
    outbox: EventOutbox,
    subscription: Option<SubscriptionId>,
    in_flight: InFlight,
}

impl OneBotWsClient {
    /// Starts the actor of a client on `role`'s path, at the connection's `site`.
    pub fn start(
        writer: WsWriter,
        frames: WsFrames,
        max_message_size: usize,
        settings: Arc<OneBotWsSettings>,
        role: OneBotRole,
        peer: SocketAddr,
        site: &Site,
    ) -> Addr<Self> {
        let outbox = Outbox::new(settings.outbox_size, OverflowPolicy::Close);
        let stats = Arc::clone(&settings.stats);
        let socket = ServedSocket::new(writer, max_message_size, stats, "OneBot ws", peer);
        socket.placed(site);
        socket.describe(settings.qq, None, &outbox);
        site.start(move |ctx| {
            ctx.add_stream(frames);
            let in_flight = InFlight::new(settings.max_in_flight);
            OneBotWsClient { socket, settings, role, outbox, subscription: None, in_flight }
        })
    }

    fn send_json(&self, v: &impl serde::Serialize) {
        // A Value or an envelope serializes without fail (string keys only).
        self.socket.writer.text(serde_json::to_string(v).unwrap_or_default().into());
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        let format = self.settings.format;
        let alive = self.socket.pump_events(&self.outbox, |e| {
            onebot_event::encoded(e, format).and_then(|b| ByteString::try_from(b.clone()).ok())
        });
        if !alive {
            let queued = self.settings.outbox_size;
            self.socket.evict(format_args!("client too slow, {queued} events queued"));
            ctx.stop();
        }
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        if !self.socket.heartbeat(self.settings.ping_interval) {
            ctx.stop();
        }
    }

    fn on_text(&mut self, data: &[u8], ctx: &mut Context<Self>) {
        if !self.role.calls() {
            debug!("OneBot ws {}: frame on /event ignored", self.socket.peer);
            return;
        }
        let request = match action::parse_request(data) {
            Ok(r) => r,
            Err(why) => {
                self.socket.bad_frame(format_args!("{why}"));
                self.send_json(&action::failed(1400, &why, None));
                return;
            }
        };
        if !self.in_flight.try_start() {
            self.socket.busy(self.in_flight.running(), &request.action);
            self.send_json(&action::busy(self.in_flight.max(), request.echo.as_ref()));
            return;
        }
        let settings = Arc::clone(&self.settings);
        let run = async move {
            onebot_calls::run(
                &request.action,
                &request.params,
                request.echo.as_ref(),
                &settings.bot,
                settings.qq,
                1404,
            )
            .await
        };
        ctx.spawn(run.into_actor(self).map(|envelope, act, _| {
            act.in_flight.finish();
            act.send_json(&envelope);
        }));
    }
}

impl Actor for OneBotWsClient {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if !self.settings.ping_interval.is_zero() {
            ctx.run_interval(self.settings.ping_interval, |act, ctx| act.heartbeat(ctx));
        }
        if !self.role.events() {
            return;
        }
        let addr = ctx.address();
        self.socket.refill_on_drain(&self.outbox, move || addr.do_send(Pump));
        let subscribe = Subscribe {
            outbox: self.outbox.clone(),
            filter: EventFilter::All,
            label: format!("OneBot ws {}", self.socket.peer),
            durable: None,
        };
        ctx.spawn(self.settings.bot.send(subscribe).into_actor(self).map(|r, act, ctx| match r {
            Ok(id) => {
                act.subscription = Some(id);
                // nonebot discards every frame until it sees this one, and takes self_id from
                // it. Sent once subscribed, it promises every later event; events that came
                // meanwhile waited in the outbox and follow it.
                act.send_json(&onebot_event::lifecycle(act.settings.qq, unix_now(), "connect"));
                let addr = ctx.address();
                act.outbox.set_waker(move || addr.do_send(Pump));
                ctx.notify(Pump);
            }
            Err(_) => ctx.stop(),
        }));
        if let Some(every) = self.settings.heartbeat {
            ctx.run_interval(every, move |act, ctx| {
                let beat =
                    onebot_calls::heartbeat(act.settings.bot.clone(), act.settings.qq, every);
                ctx.spawn(beat.into_actor(act).map(|beat, act, _| act.send_json(&beat)));
            });
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.outbox.close();
        if let Some(id) = self.subscription.take() {
            self.settings.bot.do_send(Unsubscribe(id));
        }
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for OneBotWsClient {
    fn handle(&mut self, item: Result<Frame, ProtocolError>, ctx: &mut Self::Context) {
        match self.socket.receive(item) {
            Incoming::Message(data) => self.on_text(&data, ctx),
            Incoming::OutOfOrder => {
                self.send_json(&action::failed(1400, "continuation frame out of order", None))
            }
            Incoming::Nothing => {}
            Incoming::Stop => ctx.stop(),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.socket.finished();
        ctx.stop();
    }
}

/// Wakes the client to write queued events.
#[derive(Message)]
#[rtype(result = "()")]
struct Pump;

impl Handler<Pump> for OneBotWsClient {
    type Result = ();

    fn handle(&mut self, _: Pump, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}
