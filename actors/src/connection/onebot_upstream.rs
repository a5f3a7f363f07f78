//! [`OneBotUpstream`]: the link of a `source: onebot` bot to its OneBot v11 implementation
//! (NapCat, Lagrange.OneBot, LLOneBot, go-cqhttp, another botgate), over the implementation's
//! forward WebSocket. It dials with the dialler the reverse adapters use, redials forever with
//! backoff and jitter, and watches liveness with pings. Actions are sent with an `echo` of
//! their own and matched to replies by it — many in flight at once, each with its timeout;
//! extra fields and further frames for an answered echo are tolerated. On every (re)connect it
//! asks `get_login_info` and `get_version_info` again before reporting the link up. Events
//! go to the bot actor with the implementation's own bytes.
//!
//! In reverse mode the implementation dials botgate instead (`/onebot/upstream` on the
//! `server:` listener) and the accepted socket becomes the link; everything else is the same.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::io::{SinkWrite, WriteHandler};
use actix::prelude::*;
use awc::error::WsProtocolError;
use awc::ws::{CloseCode, CloseReason, Message};
use bytes::Bytes;
use log::{debug, info, warn};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::backoff::Backoff;
use super::frames::{FrameAssembler, Inbound};
use super::ws_client::{self, LinkEvent, WsSink, WsStream};
use super::ws_server::{Liveness, Pulse, WsFrames, WsWriter};
use crate::model::BotError;
use crate::protocol::lenient;

/// Who opens the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamMode {
    /// botgate dials the implementation's forward WebSocket.
    Forward,
    /// The implementation dials botgate (its reverse WebSocket client).
    Reverse,
}

/// Where and how to reach the implementation.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// The bot this link serves, for logs.
    pub label: String,
    /// Who opens the link.
    pub mode: UpstreamMode,
    /// The implementation's forward WebSocket URL.
    pub url: String,
    /// The access token: sent as `Authorization: Bearer` and `?access_token=`.
    pub access_token: String,
    /// The first redial delay.
    pub reconnect_interval: Duration,
    /// The longest redial delay.
    pub max_reconnect_interval: Duration,
    /// How long an action may take.
    pub action_timeout: Duration,
    /// How often to ping; silent for three intervals → redialled.
    pub heartbeat_interval: Duration,
    /// The largest frame accepted.
    pub max_frame_size: usize,
    /// TLS for `wss`.
    pub tls: Arc<rustls::ClientConfig>,
}

/// What the link tells its bot.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum UpstreamNotice {
    /// Connected and logged in: `get_login_info`'s data and `get_version_info`'s `app_name`.
    Up {
        /// The account's `user_id` and `nickname`.
        login: Value,
        /// The implementation (`NapCat.Onebot`, `Lagrange.OneBot`…), for its quirks.
        app_name: String,
    },
    /// The link went down; commands fail fast until it is back.
    Down {
        /// Why.
        why: String,
    },
    /// An event, parsed and as the implementation's bytes.
    Event {
        /// The event object.
        event: Value,
        /// Its exact bytes.
        raw: Bytes,
    },
}

/// Sends an action and answers the implementation's whole reply envelope.
#[derive(Message, Debug)]
#[rtype(result = "Result<Value, BotError>")]
pub struct CallUpstream {
    /// The action.
    pub action: String,
    /// Its parameters.
    pub params: Value,
}

/// The link's outbound side: a socket botgate dialled, or one it accepted.
enum LinkIo {
    Dialled(SinkWrite<Message, WsSink>),
    Accepted(WsWriter),
}

impl LinkIo {
    /// Writes a text frame; false once the socket no longer takes frames.
    fn text(&mut self, text: String) -> bool {
        match self {
            LinkIo::Dialled(sink) => sink.write(Message::Text(text.into())).is_ok(),
            LinkIo::Accepted(writer) => {
                writer.text(text.into());
                writer.is_open()
            }
        }
    }

    fn ping(&mut self) {
        match self {
            LinkIo::Dialled(sink) => {
                let _ = sink.write(Message::Ping(Bytes::new()));
            }
            LinkIo::Accepted(writer) => writer.ping(),
        }
    }

    fn pong(&mut self, data: Bytes) {
        match self {
            LinkIo::Dialled(sink) => {
                let _ = sink.write(Message::Pong(data));
            }
            LinkIo::Accepted(writer) => writer.pong(data),
        }
    }

    fn close(&mut self, reason: Option<CloseReason>) {
        match self {
            LinkIo::Dialled(sink) => {
                if reason.is_some() {
                    let _ = sink.write(Message::Close(reason));
                }
                sink.close();
            }
            LinkIo::Accepted(writer) => writer.close(reason),
        }
    }
}

struct Link {
    io: LinkIo,
    assembler: FrameAssembler,
    liveness: Liveness,
    /// Set once get_login_info answered on this connection.
    ready: bool,
}

type Pending = HashMap<String, oneshot::Sender<Result<Value, BotError>>>;

/// The link actor.
pub struct OneBotUpstream {
    config: UpstreamConfig,
    bot: Recipient<UpstreamNotice>,
    link: Option<Link>,
    generation: u64,
    backoff: Backoff,
    pending: Pending,
    next_echo: u64,
}

impl OneBotUpstream {
    /// A link that dials once started and reports to `bot`.
    pub fn new(config: UpstreamConfig, bot: Recipient<UpstreamNotice>) -> Self {
        let backoff = Backoff::new(config.reconnect_interval, config.max_reconnect_interval);
        OneBotUpstream {
            config,
            bot,
            link: None,
            generation: 0,
            backoff,
            pending: HashMap::new(),
            next_echo: 1,
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        let generation = self.generation;
        let mut headers = Vec::new();
        if !self.config.access_token.is_empty() {
            headers
                .push(("Authorization".to_owned(), format!("Bearer {}", self.config.access_token)));
        }
        let dial = ws_client::dial(
            &dial_url(&self.config),
            &headers,
            self.config.max_frame_size,
            &self.config.tls,
        );
        debug!("onebot source {}: dialling {}", self.config.label, self.config.url);
        ctx.spawn(dial.into_actor(self).map(move |result, act, ctx| {
            if generation != act.generation {
                return;
            }
            match result {
                Ok((sink, stream)) => act.on_connected(sink, stream, generation, ctx),
                Err(e) => {
                    warn!(
                        "onebot source {}: cannot reach {}: {e}",
                        act.config.label, act.config.url
                    );
                    let delay = act.backoff.next_delay();
                    ctx.run_later(delay, |act, ctx| act.connect(ctx));
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
        info!("onebot source {}: connected to {}", self.config.label, self.config.url);
        self.backoff.link_up();
        ctx.add_stream(ws_client::tag_frames(stream, generation));
        let io = LinkIo::Dialled(SinkWrite::new(sink, ctx));
        self.open_link(io, generation, ctx);
    }

    /// Takes a socket the implementation dialled (reverse mode); a newer one replaces the
    /// link it had.
    fn on_accepted(&mut self, writer: WsWriter, peer: &str, ctx: &mut Context<Self>) -> u64 {
        if self.link.is_some() {
            info!(
                "onebot source {}: {peer} dialled again; the older link is replaced",
                self.config.label
            );
            self.drop_link(ctx, "replaced by a newer connection of the implementation");
        }
        self.generation += 1;
        let generation = self.generation;
        info!("onebot source {}: the implementation connected from {peer}", self.config.label);
        self.open_link(LinkIo::Accepted(writer), generation, ctx);
        generation
    }

    /// Sets up a fresh link and logs in on it.
    fn open_link(&mut self, io: LinkIo, generation: u64, ctx: &mut Context<Self>) {
        self.link = Some(Link {
            io,
            assembler: FrameAssembler::new(self.config.max_frame_size),
            liveness: Liveness::new(),
            ready: false,
        });
        // Log in again on every connection: the account may have changed (Overflow #123).
        let login = self.send_action("get_login_info", json!({}));
        let version = self.send_action("get_version_info", json!({}));
        let timeout = self.config.action_timeout;
        let handshake = async move {
            let login = await_reply(login, timeout).await?;
            // An implementation without get_version_info is still usable.
            let app_name = await_reply(version, timeout)
                .await
                .ok()
                .and_then(|v| v["data"]["app_name"].as_str().map(str::to_owned))
                .unwrap_or_default();
            Ok::<_, BotError>((login, app_name))
        };
        ctx.spawn(handshake.into_actor(self).map(move |result, act, ctx| {
            if generation != act.generation {
                return;
            }
            match result {
                Ok((reply, app_name))
                    if reply.get("retcode").and_then(lenient::int_from_value) == Some(0) =>
                {
                    if let Some(link) = act.link.as_mut() {
                        link.ready = true;
                    }
                    info!(
                        "onebot source {}: logged in as {} on {}",
                        act.config.label,
                        reply["data"]["user_id"],
                        if app_name.is_empty() { "an unnamed implementation" } else { &app_name }
                    );
                    act.bot.do_send(UpstreamNotice::Up { login: reply["data"].clone(), app_name });
                }
                Ok((reply, _)) => {
                    warn!("onebot source {}: get_login_info failed: {reply}", act.config.label);
                    act.drop_link(ctx, "get_login_info failed");
                }
                Err(e) => {
                    warn!("onebot source {}: no login info: {e}", act.config.label);
                    act.drop_link(ctx, "no answer to get_login_info");
                }
            }
        }));
    }

    /// Writes an action with a fresh echo and answers where its reply will arrive.
    fn send_action(
        &mut self,
        action: &str,
        params: Value,
    ) -> oneshot::Receiver<Result<Value, BotError>> {
        let (tx, rx) = oneshot::channel();
        let Some(link) = self.link.as_mut() else {
            let _ = tx.send(Err(link_down()));
            return rx;
        };
        let echo = format!("botgate:{}", self.next_echo);
        self.next_echo += 1;
        let frame = json!({"action": action, "params": params, "echo": echo});
        if !link.io.text(frame.to_string()) {
            let _ = tx.send(Err(link_down()));
            return rx;
        }
        self.pending.insert(echo, tx);
        rx
    }

    fn drop_link(&mut self, ctx: &mut Context<Self>, why: &str) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        self.generation += 1;
        crate::metrics::reconnect("onebot source");
        link.io.close(None);
        // Actions waiting on this connection will get no answer: fail them now.
        for (_, tx) in self.pending.drain() {
            let _ = tx.send(Err(link_down()));
        }
        if link.ready {
            self.bot.do_send(UpstreamNotice::Down { why: why.to_owned() });
        }
        if self.config.mode == UpstreamMode::Reverse {
            info!(
                "onebot source {}: link down ({why}); waiting for the implementation to dial again",
                self.config.label
            );
            return;
        }
        let delay = self.backoff.link_down();
        info!("onebot source {}: link down ({why}); redialling in {delay:?}", self.config.label);
        ctx.run_later(delay, |act, ctx| act.connect(ctx));
    }

    fn on_frame(&mut self, data: Bytes, ctx: &mut Context<Self>) {
        let frame: Value = match serde_json::from_slice(&data) {
            Ok(v) => v,
            Err(e) => {
                warn!("onebot source {}: frame is not JSON: {e}", self.config.label);
                return;
            }
        };
        if frame.get("post_type").is_some() {
            self.on_event(frame, data);
            return;
        }
        let echo = match frame.get("echo") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => {
                debug!(
                    "onebot source {}: frame without echo or post_type ignored",
                    self.config.label
                );
                return;
            }
        };
        // NapCat's stream actions send several frames per echo; the last is the answer.
        if frame.get("stream").and_then(Value::as_str) == Some("stream-action")
            && frame.get("data").and_then(|d| d.get("type")).and_then(Value::as_str)
                != Some("response")
        {
            return;
        }
        match self.pending.remove(&echo) {
            Some(tx) => {
                let _ = tx.send(Ok(frame));
            }
            None => {
                debug!("onebot source {}: reply for {echo} nobody waits for", self.config.label)
            }
        }
        let _ = ctx;
    }

    fn on_event(&mut self, event: Value, raw: Bytes) {
        if event.get("post_type").and_then(Value::as_str) == Some("meta_event") {
            // Heartbeats and lifecycle are the link's business, not the clients'.
            return;
        }
        self.bot.do_send(UpstreamNotice::Event { event, raw });
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        match link.liveness.check(self.config.heartbeat_interval) {
            Pulse::Alive => {}
            Pulse::Quiet => {
                link.io.ping();
            }
            Pulse::Dead => self.drop_link(ctx, "silent for three heartbeat intervals"),
        }
    }
}

/// The URL to dial: `url` with `access_token` added to the query.
fn dial_url(config: &UpstreamConfig) -> String {
    if config.access_token.is_empty() {
        return config.url.clone();
    }
    let sep = if config.url.contains('?') { '&' } else { '?' };
    let query =
        serde_urlencoded::to_string([("access_token", &config.access_token)]).unwrap_or_default();
    format!("{}{sep}{query}", config.url)
}

/// Dials the implementation once and asks `get_login_info`: the account it is logged in as.
/// For start-up, where a bot entry leaves out its `qq` or names one to check.
pub async fn probe_login(config: &UpstreamConfig) -> Result<i64, String> {
    use futures_util::{SinkExt, StreamExt};
    let mut headers = Vec::new();
    if !config.access_token.is_empty() {
        headers.push(("Authorization".to_owned(), format!("Bearer {}", config.access_token)));
    }
    let ask = async {
        let (mut sink, mut stream) =
            ws_client::dial(&dial_url(config), &headers, config.max_frame_size, &config.tls)
                .await
                .map_err(|e| format!("cannot reach {}: {e}", config.url))?;
        let request = json!({"action": "get_login_info", "params": {}, "echo": "botgate:probe"});
        sink.send(Message::Text(request.to_string().into()))
            .await
            .map_err(|e| format!("cannot write to {}: {e}", config.url))?;
        let mut assembler = FrameAssembler::new(config.max_frame_size);
        while let Some(item) = stream.next().await {
            let Inbound::Message(data) = assembler.take_item(item) else {
                continue;
            };
            let Ok(frame) = serde_json::from_slice::<Value>(&data) else {
                continue;
            };
            if frame.get("echo").and_then(Value::as_str) == Some("botgate:probe") {
                let _ = sink.close().await;
                return frame["data"]
                    .get("user_id")
                    .and_then(lenient::int_from_value)
                    .ok_or_else(|| format!("get_login_info answered without a user_id: {frame}"));
            }
        }
        Err(format!("{} closed the connection before answering", config.url))
    };
    tokio::time::timeout(config.action_timeout, ask)
        .await
        .map_err(|_| format!("{} did not answer get_login_info in time", config.url))?
}

fn link_down() -> BotError {
    BotError::Internal(
        "the OneBot implementation is not connected; botgate is redialling it".into(),
    )
}

async fn await_reply(
    rx: oneshot::Receiver<Result<Value, BotError>>,
    timeout: Duration,
) -> Result<Value, BotError> {
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(link_down()),
        Err(_) => Err(BotError::Internal(format!(
            "the OneBot implementation did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

impl Actor for OneBotUpstream {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if !self.config.heartbeat_interval.is_zero() {
            ctx.run_interval(self.config.heartbeat_interval, |act, ctx| act.heartbeat(ctx));
        }
        if self.config.mode == UpstreamMode::Forward {
            self.connect(ctx);
        }
    }
}

/// A socket the implementation dialled (reverse mode), after its handshake was checked.
/// Answers the connection's number: its frames are read on the worker thread that accepted
/// it (a request payload cannot leave it) and arrive as [`LinkEvent`]s tagged with it.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct AcceptLink {
    /// Its outbound side.
    pub writer: WsWriter,
    /// Who dialled, for logs.
    pub peer: String,
}

impl Handler<AcceptLink> for OneBotUpstream {
    type Result = MessageResult<AcceptLink>;

    fn handle(&mut self, msg: AcceptLink, ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.on_accepted(msg.writer, &msg.peer, ctx))
    }
}

impl Handler<LinkEvent> for OneBotUpstream {
    type Result = ();

    fn handle(&mut self, event: LinkEvent, ctx: &mut Self::Context) {
        self.on_link_event(event, ctx);
    }
}

/// Reads an accepted socket's frames on the thread that accepted it and hands them to
/// `link` as connection `generation`'s, ending with the end marker.
pub async fn pump_accepted(mut frames: WsFrames, link: Addr<OneBotUpstream>, generation: u64) {
    use futures_util::StreamExt;
    while let Some(item) = frames.next().await {
        link.do_send(LinkEvent { generation, item: Some(item) });
    }
    link.do_send(LinkEvent { generation, item: None });
}

impl Handler<CallUpstream> for OneBotUpstream {
    type Result = ResponseFuture<Result<Value, BotError>>;

    fn handle(&mut self, msg: CallUpstream, _: &mut Self::Context) -> Self::Result {
        let ready = self.link.as_ref().is_some_and(|l| l.ready);
        let rx = if ready {
            self.send_action(&msg.action, msg.params)
        } else {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(Err(link_down()));
            rx
        };
        let timeout = self.config.action_timeout;
        Box::pin(await_reply(rx, timeout))
    }
}

impl StreamHandler<LinkEvent> for OneBotUpstream {
    fn handle(&mut self, event: LinkEvent, ctx: &mut Self::Context) {
        self.on_link_event(event, ctx);
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // Each connection's stream ends with an explicit `item: None`; the actor lives on.
    }
}

impl OneBotUpstream {
    fn on_link_event(&mut self, event: LinkEvent, ctx: &mut Context<Self>) {
        if event.generation != self.generation {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        link.liveness.seen();
        let Some(item) = event.item else {
            return self.drop_link(ctx, "the implementation closed the connection");
        };
        match link.assembler.take_item(item) {
            Inbound::Message(data) => self.on_frame(data, ctx),
            Inbound::Pending | Inbound::Pong | Inbound::OutOfOrder => {}
            Inbound::Ping(data) => {
                link.io.pong(data);
            }
            Inbound::Fail(code, why) => {
                link.io.close(Some(CloseReason { code, description: Some(why.clone()) }));
                self.drop_link(ctx, &why);
            }
            Inbound::Lost(why) => self.drop_link(ctx, &why),
            Inbound::Close(reason) => {
                let code = reason.as_ref().map_or(CloseCode::Normal, |r| r.code);
                self.drop_link(ctx, &format!("closed by the implementation ({code:?})"));
            }
        }
    }
}

impl WriteHandler<WsProtocolError> for OneBotUpstream {
    fn error(&mut self, err: WsProtocolError, _: &mut Self::Context) -> Running {
        warn!("onebot source {}: write failed: {err}", self.config.label);
        Running::Continue
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

impl Handler<crate::connection::ws_client::StopLink> for OneBotUpstream {
    type Result = ();

    fn handle(&mut self, _: crate::connection::ws_client::StopLink, ctx: &mut Self::Context) {
        log::info!("the link stops: another node of the cluster holds the account");
        if let Some(mut link) = self.link.take() {
            // 1001: the implementation dials again, and reaches the node that holds it now.
            let description = "botgate: another node of the cluster holds the account";
            link.io.close(Some(CloseReason {
                code: CloseCode::Away,
                description: Some(description.into()),
            }));
        }
        ctx.stop();
    }
}
