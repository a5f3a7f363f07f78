//! [`OneBotWsClient`]: one actor per client of the OneBot forward WebSocket (`/` universal,
//! `/api` calls only, `/event` events only). Event connections get the `lifecycle`/`connect`
//! meta event first, heartbeats when enabled, and the bot's events through a bounded outbox;
//! calls run concurrently and each answer carries its request's `echo` untouched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Frame, ProtocolError};
use bytestring::ByteString;
use log::{debug, warn};

use super::frames::{Assembled, FrameAssembler};
use super::onebot_calls;
use super::ws_server::{self, WsFrames, WsWriter};
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
}

/// One OneBot forward ws client.
pub struct OneBotWsClient {
    writer: WsWriter,
    assembler: FrameAssembler,
    settings: Arc<OneBotWsSettings>,
    role: OneBotRole,
    outbox: EventOutbox,
    subscription: Option<SubscriptionId>,
    peer: SocketAddr,
}

impl OneBotWsClient {
    /// Starts the actor of a client on `role`'s path.
    pub fn start(
        writer: WsWriter,
        frames: WsFrames,
        max_message_size: usize,
        settings: Arc<OneBotWsSettings>,
        role: OneBotRole,
        peer: SocketAddr,
    ) -> Addr<Self> {
        let outbox = Outbox::new(settings.outbox_size, OverflowPolicy::Close);
        OneBotWsClient::create(move |ctx| {
            ctx.add_stream(frames);
            OneBotWsClient {
                writer,
                assembler: FrameAssembler::new(max_message_size),
                settings,
                role,
                outbox,
                subscription: None,
                peer,
            }
        })
    }

    fn send_json(&self, v: &serde_json::Value) {
        self.writer.text(v.to_string().into());
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        let format = self.settings.format;
        let alive = ws_server::pump_events(&self.outbox, &self.writer, |e| {
            onebot_event::encoded(e, format).and_then(|b| ByteString::try_from(b.clone()).ok())
        });
        if !alive {
            warn!(
                "OneBot ws {}: client too slow, {} events queued; evicted",
                self.peer, self.settings.outbox_size
            );
            self.writer.abort();
            ctx.stop();
        }
    }

    fn on_text(&mut self, data: &[u8], ctx: &mut Context<Self>) {
        if !self.role.calls() {
            debug!("OneBot ws {}: frame on /event ignored", self.peer);
            return;
        }
        let request = match action::parse_request(data) {
            Ok(r) => r,
            Err(why) => {
                warn!("OneBot ws {}: {why}", self.peer);
                self.send_json(&action::failed(1400, &why, None));
                return;
            }
        };
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
        ctx.spawn(run.into_actor(self).map(|envelope, act, _| act.send_json(&envelope)));
    }
}

impl Actor for OneBotWsClient {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if !self.role.events() {
            return;
        }
        // nonebot discards every frame until it sees this one, and takes self_id from it.
        self.send_json(&onebot_event::lifecycle(self.settings.qq, unix_now(), "connect"));
        let addr = ctx.address();
        self.outbox.set_waker(move || addr.do_send(Pump));
        let addr = ctx.address();
        self.writer.on_drain(move || addr.do_send(Pump));
        let subscribe = Subscribe {
            outbox: self.outbox.clone(),
            filter: EventFilter::All,
            label: format!("OneBot ws {}", self.peer),
        };
        ctx.spawn(self.settings.bot.send(subscribe).into_actor(self).map(|r, act, ctx| match r {
            Ok(id) => act.subscription = Some(id),
            Err(_) => ctx.stop(),
        }));
        if let Some(every) = self.settings.heartbeat {
            ctx.run_interval(every, move |act, _| {
                let beat = onebot_event::heartbeat(
                    act.settings.qq,
                    unix_now(),
                    true,
                    every.as_millis() as u64,
                );
                act.send_json(&beat);
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
        match item {
            Ok(Frame::Text(data) | Frame::Binary(data)) => self.on_text(&data, ctx),
            Ok(Frame::Continuation(item)) => match self.assembler.push(item) {
                Assembled::Message(data) => self.on_text(&data, ctx),
                Assembled::Pending => {}
                Assembled::TooLarge => {
                    self.writer
                        .close(Some(CloseReason { code: CloseCode::Size, description: None }));
                    ctx.stop();
                }
                Assembled::OutOfOrder => {
                    self.send_json(&action::failed(1400, "continuation frame out of order", None))
                }
            },
            Ok(Frame::Ping(data)) => self.writer.pong(data),
            Ok(Frame::Pong(_)) => {}
            Ok(Frame::Close(_)) => {
                self.writer.close(Some(CloseCode::Normal.into()));
                ctx.stop();
            }
            Err(ProtocolError::Io(e)) => {
                debug!("OneBot ws {}: connection lost: {e}", self.peer);
                ctx.stop();
            }
            Err(e) => {
                warn!("OneBot ws {}: protocol error: {e}", self.peer);
                let code = if matches!(e, ProtocolError::Overflow) {
                    CloseCode::Size
                } else {
                    CloseCode::Protocol
                };
                self.writer.close(Some(CloseReason { code, description: Some(e.to_string()) }));
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
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
