//! [`OicqLink`]: the push WebSocket of a `source: oicq-webd` bot's daemon. It dials the
//! daemon's host and port with the dialler every outbound link uses, redials forever with
//! backoff and jitter, answers the daemon's pings (and drops a link silent for three ping
//! intervals), and hands every packet to the bot. Commands go over the daemon's HTTP API
//! ([`OicqApi`]), not this socket.

use std::sync::Arc;
use std::time::Duration;

use actix::io::{SinkWrite, WriteHandler};
use actix::prelude::*;
use awc::error::WsProtocolError;
use awc::ws::Message;
use bytes::Bytes;
use log::{debug, info, warn};
use serde_json::Value;

use super::backoff::Backoff;
use super::frames::{FrameAssembler, Inbound};
use super::ws_client::{self, LinkEvent, WsSink, WsStream};
use super::ws_server::{Liveness, Pulse};
use crate::model::BotError;
use crate::protocol::lenient;

/// How the daemon is reached.
#[derive(Debug, Clone)]
pub struct OicqConfig {
    /// The bot, for logs.
    pub label: String,
    /// The HTTP API base, e.g. `http://127.0.0.1:8888`; the WebSocket is the same host:port.
    pub url: String,
    /// The first redial delay.
    pub reconnect_interval: Duration,
    /// The longest redial delay.
    pub max_reconnect_interval: Duration,
    /// How long an API call may take.
    pub action_timeout: Duration,
    /// The largest frame accepted.
    pub max_frame_size: usize,
    /// TLS for `https`/`wss`.
    pub tls: Arc<rustls::ClientConfig>,
}

impl OicqConfig {
    /// The WebSocket URL: the API's scheme turned into ws(s), its host and port.
    pub fn ws_url(&self) -> String {
        let url = self.url.trim_end_matches('/');
        if let Some(rest) = url.strip_prefix("https://") {
            format!("wss://{rest}/")
        } else if let Some(rest) = url.strip_prefix("http://") {
            format!("ws://{rest}/")
        } else {
            format!("{url}/")
        }
    }
}

/// What the link tells its bot.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum OicqNotice {
    /// Connected.
    Up,
    /// The link went down; it is being redialled.
    Down {
        /// Why.
        why: String,
    },
    /// A packet.
    Packet(Value),
}

/// The daemon pings every 3 s: three intervals of silence mean a dead link.
const LIVENESS_INTERVAL: Duration = Duration::from_secs(3);

struct Link {
    sink: SinkWrite<Message, WsSink>,
    assembler: FrameAssembler,
    liveness: Liveness,
}

/// The link actor.
pub struct OicqLink {
    config: OicqConfig,
    bot: Recipient<OicqNotice>,
    link: Option<Link>,
    generation: u64,
    backoff: Backoff,
}

impl OicqLink {
    /// A link that dials once started and reports to `bot`.
    pub fn new(config: OicqConfig, bot: Recipient<OicqNotice>) -> Self {
        let backoff = Backoff::new(config.reconnect_interval, config.max_reconnect_interval);
        OicqLink { config, bot, link: None, generation: 0, backoff }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        let generation = self.generation;
        let url = self.config.ws_url();
        let dial = ws_client::dial(&url, &[], self.config.max_frame_size, &self.config.tls);
        ctx.spawn(dial.into_actor(self).map(move |result, act, ctx| {
            if generation != act.generation {
                return;
            }
            match result {
                Ok((sink, stream)) => act.on_connected(sink, stream, generation, ctx),
                Err(e) => {
                    warn!("oicq source {}: cannot reach {url}: {e}", act.config.label);
                    let delay = act.backoff.next_delay();
                    ctx.run_later(delay, |act, ctx| act.connect(ctx));
                }
            }
        }));
    }

    fn on_connected(&mut self, sink: WsSink, stream: WsStream, gen: u64, ctx: &mut Context<Self>) {
        info!("oicq source {}: connected to {}", self.config.label, self.config.ws_url());
        self.backoff.link_up();
        ctx.add_stream(ws_client::tag_frames(stream, gen));
        self.link = Some(Link {
            sink: SinkWrite::new(sink, ctx),
            assembler: FrameAssembler::new(self.config.max_frame_size),
            liveness: Liveness::new(),
        });
        self.bot.do_send(OicqNotice::Up);
    }

    fn drop_link(&mut self, ctx: &mut Context<Self>, why: &str) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        self.generation += 1;
        crate::metrics::reconnect("oicq-webd source");
        link.sink.close();
        self.bot.do_send(OicqNotice::Down { why: why.to_owned() });
        let delay = self.backoff.link_down();
        info!("oicq source {}: link down ({why}); redialling in {delay:?}", self.config.label);
        ctx.run_later(delay, |act, ctx| act.connect(ctx));
    }
}

impl Actor for OicqLink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(LIVENESS_INTERVAL, |act, ctx| {
            let Some(link) = act.link.as_mut() else {
                return;
            };
            match link.liveness.check(LIVENESS_INTERVAL) {
                Pulse::Alive => {}
                Pulse::Quiet => {
                    let _ = link.sink.write(Message::Ping(Bytes::new()));
                }
                Pulse::Dead => act.drop_link(ctx, "silent for three ping intervals"),
            }
        });
        self.connect(ctx);
    }
}

impl StreamHandler<LinkEvent> for OicqLink {
    fn handle(&mut self, event: LinkEvent, ctx: &mut Self::Context) {
        if event.generation != self.generation {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        link.liveness.seen();
        let Some(item) = event.item else {
            return self.drop_link(ctx, "the daemon closed the connection");
        };
        match link.assembler.take_item(item) {
            Inbound::Message(data) => match serde_json::from_slice::<Value>(&data) {
                Ok(packet) => self.bot.do_send(OicqNotice::Packet(packet)),
                Err(e) => warn!("oicq source {}: frame is not JSON: {e}", self.config.label),
            },
            Inbound::Ping(data) => {
                let _ = link.sink.write(Message::Pong(data));
            }
            Inbound::Pending | Inbound::Pong | Inbound::OutOfOrder => {}
            Inbound::Fail(_, why) | Inbound::Lost(why) => self.drop_link(ctx, &why),
            Inbound::Close(reason) => {
                self.drop_link(ctx, &format!("closed by the daemon ({reason:?})"))
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // Each connection's stream ends with an explicit `item: None`; the actor lives on.
    }
}

impl WriteHandler<WsProtocolError> for OicqLink {
    fn error(&mut self, err: WsProtocolError, _: &mut Self::Context) -> Running {
        warn!("oicq source {}: write failed: {err}", self.config.label);
        Running::Continue
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

/// The daemon's HTTP API: GETs with a query, POSTs with a JSON body; answers the body when
/// `status.code` is 0, else the error it means (-1 bad input or not found, -2 a send that
/// failed).
#[derive(Clone)]
pub struct OicqApi {
    base: String,
    client: awc::Client,
}

impl OicqApi {
    /// The API at `config.url`.
    pub fn new(config: &OicqConfig) -> Self {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().rustls_0_23(Arc::clone(&config.tls)))
            .timeout(config.action_timeout)
            .finish();
        OicqApi { base: config.url.trim_end_matches('/').to_owned(), client }
    }

    /// Calls `route` (GET with `query`, or POST with `body`).
    pub async fn call(
        &self,
        route: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, BotError> {
        let url = format!("{}/{route}", self.base);
        let sent = match body {
            Some(b) => self.client.post(url).send_json(&b).await,
            None => {
                let q = serde_urlencoded::to_string(query).unwrap_or_default();
                let url = if q.is_empty() { url } else { format!("{url}?{q}") };
                self.client.get(url).send().await
            }
        };
        let mut response =
            sent.map_err(|e| BotError::Internal(format!("oicq_webd unreachable: {e}")))?;
        let status = response.status();
        let answer: Value = response.json().limit(16 << 20).await.map_err(|e| {
            BotError::Internal(format!("oicq_webd answered HTTP {status} without JSON: {e}"))
        })?;
        let code =
            answer.get("status").and_then(|s| s.get("code")).and_then(lenient::int_from_value);
        match code {
            Some(0) => Ok(answer),
            Some(-2) => Err(BotError::Internal(format!("oicq_webd could not send ({route})"))),
            Some(-1) => Err(BotError::NoSuchElement(format!(
                "oicq_webd refused {route} (bad input or unknown target)"
            ))),
            other => {
                debug!("oicq_webd {route}: status {other:?}, HTTP {status}");
                Err(BotError::Internal(format!("oicq_webd answered {route} with HTTP {status}")))
            }
        }
    }
}

impl Handler<crate::connection::ws_client::StopLink> for OicqLink {
    type Result = ();

    fn handle(&mut self, _: crate::connection::ws_client::StopLink, ctx: &mut Self::Context) {
        log::info!("the link stops: another node of the cluster holds the account");
        ctx.stop();
    }
}
