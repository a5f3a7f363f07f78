//! [`QqGateway`]: the WebSocket session of a `source: qqbot` bot with the platform's gateway
//! (spec A.3, A.8). It asks `/gateway/bot` where to dial (waiting out an exhausted
//! `session_start_limit`), dials with the dialler every outbound link uses, waits for Hello,
//! identifies (or resumes a session it had, so the platform replays what was missed),
//! heartbeats with the last `s` and treats a heartbeat left unacknowledged as a dead link.
//! op 7 resumes, op 9 identifies afresh; close codes act as the platform's table says, and
//! 4914/4915 stop the bot with the reason — never a redial loop. Dispatches go to the bot
//! with their event ids; the bot deduplicates what a resume replays.

use std::time::{Duration, Instant};

use actix::io::{SinkWrite, WriteHandler};
use actix::prelude::*;
use awc::error::WsProtocolError;
use awc::http::Method;
use awc::ws::{CloseReason, Message};
use log::{debug, error, info, warn};
use serde_json::Value;

use super::backoff::Backoff;
use super::frames::{FrameAssembler, Inbound};
use super::qqbot_api::QqApi;
use super::ws_client::{self, LinkEvent, WsSink, WsStream};
use crate::protocol::lenient;
use crate::protocol::qqbot::payload::{self, CloseAction, Payload};

/// The heartbeat interval until Hello says otherwise.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(45);

/// How long a rate-limited (4008) session waits before it resumes.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(5);

/// The session's settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The bot, for logs.
    pub label: String,
    /// The intents identified with.
    pub intents: u64,
    /// The first redial delay.
    pub reconnect_interval: Duration,
    /// The longest redial delay.
    pub max_reconnect_interval: Duration,
    /// The largest frame accepted.
    pub max_frame_size: usize,
    /// TLS for `wss`.
    pub tls: std::sync::Arc<rustls::ClientConfig>,
}

/// What the session tells its bot.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum GatewayNotice {
    /// READY: a new session; `user` is the bot's platform user.
    Ready {
        /// READY's `user` object.
        user: Value,
    },
    /// RESUMED: the session continues; what was missed has been replayed before this.
    Resumed,
    /// A dispatch.
    Dispatch {
        /// The event name.
        t: String,
        /// The body.
        d: Value,
        /// The event id.
        id: Option<String>,
    },
    /// The link went down; it is being redialled.
    Down {
        /// Why.
        why: String,
    },
    /// The platform refuses this bot for good (4914 delisted, 4915 banned): no redial.
    Stopped {
        /// Why, with the close code.
        why: String,
    },
}

struct Link {
    sink: SinkWrite<Message, WsSink>,
    assembler: FrameAssembler,
    /// Whether Identify or Resume was sent on this connection.
    greeted: bool,
    /// READY or RESUMED arrived: the session is live on this connection.
    live: bool,
    /// A heartbeat was sent and not acknowledged yet.
    awaiting_ack: bool,
    heartbeat: Option<SpawnHandle>,
}

/// The gateway session actor.
pub struct QqGateway {
    config: GatewayConfig,
    api: QqApi,
    bot: Recipient<GatewayNotice>,
    link: Option<Link>,
    generation: u64,
    backoff: Backoff,
    session_id: Option<String>,
    seq: Option<u64>,
    /// When the last Identify was sent (identifies are spaced by `max_concurrency`).
    last_identify: Option<Instant>,
    identify_spacing: Duration,
    stopped: bool,
}

impl QqGateway {
    /// A session that dials once started and reports to `bot`.
    pub fn new(config: GatewayConfig, api: QqApi, bot: Recipient<GatewayNotice>) -> Self {
        let backoff = Backoff::new(config.reconnect_interval, config.max_reconnect_interval);
        QqGateway {
            config,
            api,
            bot,
            link: None,
            generation: 0,
            backoff,
            session_id: None,
            seq: None,
            last_identify: None,
            identify_spacing: Duration::from_secs(1),
            stopped: false,
        }
    }

    fn redial(&mut self, delay: Duration, ctx: &mut Context<Self>) {
        if self.stopped {
            return;
        }
        ctx.run_later(delay, |act, ctx| act.connect(ctx));
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        let generation = self.generation;
        let api = self.api.clone();
        let max_frame_size = self.config.max_frame_size;
        let tls = self.config.tls.clone();
        let label = self.config.label.clone();
        let dial = async move {
            let info = api
                .call(Method::GET, "/gateway/bot", None)
                .await
                .map_err(|e| (format!("/gateway/bot failed: {e}"), None))?;
            let limit = info.get("session_start_limit").unwrap_or(&Value::Null);
            let remaining = limit.get("remaining").and_then(lenient::int_from_value);
            if remaining == Some(0) {
                let reset_after =
                    limit.get("reset_after").and_then(lenient::int_from_value).unwrap_or(60_000);
                let wait = Duration::from_millis(reset_after.clamp(1_000, 86_400_000) as u64);
                return Err((
                    format!("session start limit reached; the platform allows more in {wait:?}"),
                    Some(wait),
                ));
            }
            let concurrency =
                limit.get("max_concurrency").and_then(lenient::int_from_value).unwrap_or(1).max(1);
            let url = info.get("url").and_then(Value::as_str).unwrap_or("").to_owned();
            if url.is_empty() {
                return Err(("/gateway/bot answered no url".to_owned(), None));
            }
            debug!("qqbot source {label}: dialling {url}");
            let (sink, stream) = ws_client::dial(&url, &[], max_frame_size, &tls)
                .await
                .map_err(|e| (format!("cannot reach the gateway {url}: {e}"), None))?;
            Ok((sink, stream, concurrency))
        };
        ctx.spawn(dial.into_actor(self).map(move |result, act, ctx| {
            if generation != act.generation {
                return;
            }
            match result {
                Ok((sink, stream, concurrency)) => {
                    // botgo's spacing: 2 s per session start divided among the concurrency.
                    act.identify_spacing =
                        Duration::from_millis((2000 / concurrency as u64).max(1000));
                    act.on_connected(sink, stream, generation, ctx)
                }
                Err((why, wait)) => {
                    warn!("qqbot source {}: {why}", act.config.label);
                    let delay = wait.unwrap_or_else(|| act.backoff.next_delay());
                    act.redial(delay, ctx);
                }
            }
        }));
    }

    fn on_connected(&mut self, sink: WsSink, stream: WsStream, gen: u64, ctx: &mut Context<Self>) {
        info!("qqbot source {}: connected to the gateway", self.config.label);
        self.backoff.link_up();
        ctx.add_stream(ws_client::tag_frames(stream, gen));
        self.link = Some(Link {
            sink: SinkWrite::new(sink, ctx),
            assembler: FrameAssembler::new(self.config.max_frame_size),
            greeted: false,
            live: false,
            awaiting_ack: false,
            heartbeat: None,
        });
    }

    fn send(&mut self, text: String) {
        if let Some(link) = self.link.as_mut() {
            if link.sink.write(Message::Text(text.into())).is_err() {
                debug!("qqbot source {}: write to a closing socket", self.config.label);
            }
        }
    }

    /// Identifies or resumes, once the token is at hand.
    fn greet(&mut self, ctx: &mut Context<Self>) {
        let generation = self.generation;
        let resume = self.session_id.clone().zip(self.seq.or(Some(0)));
        let wait = match (&resume, self.last_identify) {
            (None, Some(last)) => self.identify_spacing.saturating_sub(last.elapsed()),
            _ => Duration::ZERO,
        };
        if let Some(link) = self.link.as_mut() {
            link.greeted = true;
        }
        let api = self.api.clone();
        let fetch = async move {
            actix_web::rt::time::sleep(wait).await;
            api.token().await
        };
        ctx.spawn(fetch.into_actor(self).map(move |token, act, ctx| {
            if generation != act.generation {
                return;
            }
            let token = match token {
                Ok(t) => t,
                Err(e) => {
                    warn!("qqbot source {}: no access token: {e}", act.config.label);
                    return act.drop_link(
                        ctx,
                        &format!("no access token: {e}"),
                        CloseAction::Resume,
                    );
                }
            };
            let frame = match &resume {
                Some((session, seq)) => {
                    debug!("qqbot source {}: resuming {session} after {seq}", act.config.label);
                    payload::resume(&format!("QQBot {token}"), session, *seq)
                }
                None => {
                    act.last_identify = Some(Instant::now());
                    payload::identify(&format!("QQBot {token}"), act.config.intents, [0, 1])
                }
            };
            act.send(frame);
        }));
    }

    fn start_heartbeat(&mut self, interval: Duration, ctx: &mut Context<Self>) {
        let generation = self.generation;
        let handle = ctx.run_interval(interval, move |act, ctx| {
            if generation != act.generation {
                return;
            }
            let Some(link) = act.link.as_mut() else {
                return;
            };
            if link.awaiting_ack {
                return act.drop_link(
                    ctx,
                    "the gateway left a heartbeat unacknowledged",
                    CloseAction::Resume,
                );
            }
            link.awaiting_ack = true;
            let frame = payload::heartbeat(act.seq);
            act.send(frame);
        });
        if let Some(old) = self.link.as_mut().and_then(|l| l.heartbeat.replace(handle)) {
            ctx.cancel_future(old);
        }
    }

    /// Ends the current connection and acts as `action` says.
    fn drop_link(&mut self, ctx: &mut Context<Self>, why: &str, action: CloseAction) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        self.generation += 1;
        crate::metrics::reconnect("qqbot gateway source");
        if let Some(h) = link.heartbeat.take() {
            ctx.cancel_future(h);
        }
        let _ = link.sink.write(Message::Close(None));
        link.sink.close();
        if link.live {
            self.bot.do_send(GatewayNotice::Down { why: why.to_owned() });
        }
        let mut delay = self.backoff.link_down();
        match action {
            CloseAction::Resume => {}
            CloseAction::Identify => self.forget_session(),
            CloseAction::RefreshToken => {
                self.forget_session();
                self.api.forget_any_token();
            }
            CloseAction::Wait => delay = delay.max(RATE_LIMIT_WAIT),
            CloseAction::Fatal => {
                self.stopped = true;
                error!(
                    "qqbot source {}: {why}; the bot is stopped — fix it in the platform's \
                     console (q.qq.com), then restart botgate",
                    self.config.label
                );
                self.bot.do_send(GatewayNotice::Stopped { why: why.to_owned() });
                return;
            }
        }
        info!("qqbot source {}: link down ({why}); redialling in {delay:?}", self.config.label);
        self.redial(delay, ctx);
    }

    fn forget_session(&mut self) {
        self.session_id = None;
        self.seq = None;
    }

    fn on_payload(&mut self, p: Payload, ctx: &mut Context<Self>) {
        if let Some(s) = p.s.filter(|s| *s > 0) {
            self.seq = Some(s);
        }
        match p.op {
            payload::HELLO => {
                let ms = p.d.get("heartbeat_interval").and_then(lenient::int_from_value);
                let interval = ms
                    .filter(|ms| *ms > 0)
                    .map_or(DEFAULT_HEARTBEAT, |ms| Duration::from_millis(ms as u64));
                self.start_heartbeat(interval, ctx);
                if self.link.as_ref().is_some_and(|l| !l.greeted) {
                    self.greet(ctx);
                }
            }
            payload::HEARTBEAT_ACK => {
                if let Some(link) = self.link.as_mut() {
                    link.awaiting_ack = false;
                }
            }
            payload::HEARTBEAT => {
                let frame = payload::heartbeat(self.seq);
                self.send(frame);
            }
            payload::RECONNECT => {
                self.drop_link(ctx, "the gateway asked for a reconnect (op 7)", CloseAction::Resume)
            }
            payload::INVALID_SESSION => self.drop_link(
                ctx,
                "the gateway invalidated the session (op 9)",
                CloseAction::Identify,
            ),
            payload::DISPATCH => self.on_dispatch(p),
            other => debug!("qqbot source {}: op {other} ignored", self.config.label),
        }
    }

    fn on_dispatch(&mut self, p: Payload) {
        let t = p.t.unwrap_or_default();
        match t.as_str() {
            "READY" => {
                self.session_id = p.d.get("session_id").and_then(Value::as_str).map(str::to_owned);
                info!(
                    "qqbot source {}: session {} ready",
                    self.config.label,
                    self.session_id.as_deref().unwrap_or("?")
                );
                if let Some(link) = self.link.as_mut() {
                    link.live = true;
                }
                self.backoff.reset();
                let user = p.d.get("user").cloned().unwrap_or(Value::Null);
                self.bot.do_send(GatewayNotice::Ready { user });
            }
            "RESUMED" => {
                info!("qqbot source {}: session resumed", self.config.label);
                if let Some(link) = self.link.as_mut() {
                    link.live = true;
                }
                self.backoff.reset();
                self.bot.do_send(GatewayNotice::Resumed);
            }
            _ => self.bot.do_send(GatewayNotice::Dispatch { t, d: p.d, id: p.id }),
        }
    }
}

impl Actor for QqGateway {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.connect(ctx);
    }
}

impl StreamHandler<LinkEvent> for QqGateway {
    fn handle(&mut self, event: LinkEvent, ctx: &mut Self::Context) {
        if event.generation != self.generation {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let Some(item) = event.item else {
            return self.drop_link(ctx, "the gateway closed the connection", CloseAction::Resume);
        };
        match link.assembler.take_item(item) {
            Inbound::Message(data) => match Payload::parse(&data) {
                Ok(p) => self.on_payload(p, ctx),
                Err(e) => warn!("qqbot source {}: gateway frame ignored: {e}", self.config.label),
            },
            Inbound::Ping(data) => {
                let _ = link.sink.write(Message::Pong(data));
            }
            Inbound::Pending | Inbound::Pong | Inbound::OutOfOrder => {}
            Inbound::Fail(code, why) => {
                let _ = link.sink.write(Message::Close(Some(CloseReason {
                    code,
                    description: Some(why.clone()),
                })));
                self.drop_link(ctx, &why, CloseAction::Resume);
            }
            Inbound::Lost(why) => self.drop_link(ctx, &why, CloseAction::Resume),
            Inbound::Close(reason) => {
                let code = reason.as_ref().map(|r| u16::from(r.code));
                let why = match code {
                    Some(c) => {
                        format!("the gateway closed with {c} ({})", payload::close_meaning(c))
                    }
                    None => "the gateway closed the connection".to_owned(),
                };
                self.drop_link(ctx, &why, payload::close_action(code));
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // Each connection's stream ends with an explicit `item: None`; the actor lives on.
    }
}

impl WriteHandler<WsProtocolError> for QqGateway {
    fn error(&mut self, err: WsProtocolError, _: &mut Self::Context) -> Running {
        warn!("qqbot source {}: write failed: {err}", self.config.label);
        Running::Continue
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

impl Handler<crate::connection::ws_client::StopLink> for QqGateway {
    type Result = ();

    fn handle(&mut self, _: crate::connection::ws_client::StopLink, ctx: &mut Self::Context) {
        log::info!("the link stops: another node of the cluster holds the account");
        ctx.stop();
    }
}
