//! The console: one page at `/` of the `server:` listener (HTML, CSS and JavaScript compiled
//! into the binary — no CDN, no build step), and its live WebSocket at `/api/live`: the admin
//! API's overview every second, and every event of every bot as it happens, each in its mirai
//! and its OneBot JSON. A browser cannot set headers on a WebSocket, so the token comes as
//! `?token=`; a wrong one is refused before the upgrade.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_http::ws::{Frame, ProtocolError};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::bot::SubscriptionId;
use botgate_actors::bot::{BotActor, EventFilter, EventOutbox, Subscribe, Unsubscribe};
use botgate_actors::connection::ws_server::{self, Incoming, ServedSocket, WsFrames, WsWriter};
use botgate_actors::model::SharedEvent;
use botgate_actors::outbox::{Outbox, OverflowPolicy};
use botgate_actors::protocol::mirai::event as mirai_event;
use botgate_actors::protocol::onebot::event::{self as onebot_event, MessageFormat};
use bytestring::ByteString;
use serde_json::{json, Value};

use crate::botgate_endpoints::unauthorized;
use crate::listeners::AppState;

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

/// How often the tables are sent.
const REFRESH: Duration = Duration::from_secs(1);
/// Events waiting for a slow console at most; beyond, it is dropped (it reconnects).
const OUTBOX: usize = 4096;

/// Mounts the page, its assets and the live socket.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { asset(PAGE, "text/html; charset=utf-8") }))
        .route(
            "/console.js",
            web::get().to(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route("/console.css", web::get().to(|| async { asset(STYLE, "text/css; charset=utf-8") }))
        .route("/api/live", web::get().to(live));
}

fn asset(body: &'static str, content_type: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // The page runs only its own script and style, and talks only to this listener.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

async fn live(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let token =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("token").cloned())
            .unwrap_or_default();
    if !state.token.is_empty() && !state.token.matches(&token) {
        return Ok(unauthorized(&req));
    }
    let peer = req.peer_addr().unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let (response, writer, frames) = ws_server::upgrade(&req, state.max_frame_size)?;
    ConsoleSocket::start(writer, frames, state.into_inner(), peer);
    Ok(response)
}

/// One console's live socket.
pub struct ConsoleSocket {
    socket: ServedSocket,
    state: Arc<AppState>,
    outbox: EventOutbox,
    subscriptions: Vec<(Addr<BotActor>, SubscriptionId)>,
}

impl ConsoleSocket {
    fn start(writer: WsWriter, frames: WsFrames, state: Arc<AppState>, peer: std::net::SocketAddr) {
        let stats = Arc::clone(&state.console_stats);
        let socket = ServedSocket::new(writer, state.max_frame_size, stats, "console", peer);
        let outbox = Outbox::new(OUTBOX, OverflowPolicy::Close);
        ConsoleSocket::create(move |ctx| {
            ctx.add_stream(frames);
            ConsoleSocket { socket, state, outbox, subscriptions: Vec::new() }
        });
    }

    fn send(&self, v: &Value) {
        self.socket.writer.text(v.to_string().into());
    }

    fn refresh(&mut self, ctx: &mut Context<Self>) {
        let state = Arc::clone(&self.state);
        let overview = async move { crate::admin::overview_json(&state).await };
        ctx.spawn(overview.into_actor(self).map(|data, act, _| {
            act.send(&json!({"type": "overview", "data": data}));
        }));
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        let alive = self.socket.pump_events(&self.outbox, |e| Some(ByteString::from(frame(e))));
        if !alive {
            self.socket.evict(format_args!("console too slow, {OUTBOX} events queued"));
            ctx.stop();
        }
    }
}

/// An event as the console shows it: its kind, and its mirai and OneBot JSON — the bytes every
/// other client of those protocols gets, encoded once per event and shared.
fn frame(e: &SharedEvent) -> String {
    let mirai = mirai_event::encoded(e);
    let onebot = onebot_event::encoded(e, MessageFormat::Array);
    let kind = mirai
        .and_then(mirai_kind)
        .or_else(|| onebot.and_then(onebot_kind))
        .unwrap_or_else(|| "Unmapped".to_owned());
    let raw = |b: Option<&bytes::Bytes>| {
        b.map_or("null".into(), |b| String::from_utf8_lossy(b).into_owned())
    };
    format!(
        r#"{{"type":"event","bot":{},"time":{},"kind":{},"mirai":{},"onebot":{}}}"#,
        e.bot,
        e.time,
        Value::String(kind),
        raw(mirai),
        raw(onebot)
    )
}

/// A mirai event's `type`.
fn mirai_kind(encoded: &bytes::Bytes) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_slice::<Kind>(encoded).ok().map(|k| k.kind)
}

/// `post_type` and its sub-kind, for events mirai has no name for.
fn onebot_kind(encoded: &bytes::Bytes) -> Option<String> {
    let v: serde_json::Map<String, Value> = serde_json::from_slice(encoded).ok()?;
    let post = v.get("post_type").and_then(Value::as_str)?;
    let sub = ["message_type", "notice_type", "request_type", "meta_event_type"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .unwrap_or("");
    Some(format!("{post}.{sub}"))
}

impl Actor for ConsoleSocket {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let addr = ctx.address();
        self.outbox.set_waker(move || addr.do_send(Pump));
        let addr = ctx.address();
        self.socket.refill_on_drain(&self.outbox, move || addr.do_send(Pump));
        for (qq, _, bot) in &self.state.actors.bots {
            let subscribe = Subscribe {
                outbox: self.outbox.clone(),
                filter: EventFilter::All,
                label: format!("console {}", self.socket.peer),
                durable: None,
            };
            let bot = bot.clone();
            let qq = *qq;
            ctx.spawn(bot.clone().send(subscribe).into_actor(self).map(move |r, act, _| match r {
                Ok(id) => act.subscriptions.push((bot, id)),
                Err(e) => log::warn!("console: subscribing to bot {qq} failed: {e}"),
            }));
        }
        self.refresh(ctx);
        ctx.run_interval(REFRESH, |act, ctx| act.refresh(ctx));
        ctx.run_interval(Duration::from_secs(30), |act, ctx| {
            if !act.socket.heartbeat(Duration::from_secs(30)) {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.outbox.close();
        for (bot, id) in self.subscriptions.drain(..) {
            bot.do_send(Unsubscribe(id));
        }
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for ConsoleSocket {
    fn handle(&mut self, item: Result<Frame, ProtocolError>, ctx: &mut Self::Context) {
        match self.socket.receive(item) {
            // The console sends its commands over the admin API, not this socket.
            Incoming::Message(_) | Incoming::OutOfOrder | Incoming::Nothing => {}
            Incoming::Stop => ctx.stop(),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.socket.finished();
        ctx.stop();
    }
}

/// Wakes the socket to write queued events.
#[derive(Message)]
#[rtype(result = "()")]
struct Pump;

impl Handler<Pump> for ConsoleSocket {
    type Result = ();

    fn handle(&mut self, _: Pump, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}
