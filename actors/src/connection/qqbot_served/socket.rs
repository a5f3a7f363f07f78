//! [`QqGatewaySocket`]: one SDK's WebSocket on `/websocket`, speaking the gateway as the
//! platform does: Hello first, Identify (with `QQBot <token>`, the legacy `Bot appid.token`,
//! or the bare token botgo sends on resume) answered with READY, Resume answered with the
//! missed dispatches and RESUMED (or op 9 when the session cannot be resumed), heartbeats
//! acknowledged, and the platform's close codes: 4001 unknown op, 4002 bad payload, 4004 bad
//! token, 4005 identified twice, 4009 no heartbeat for two intervals.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{CloseCode, Frame, ProtocolError};
use log::debug;
use serde_json::{json, Value};

use super::app::{AppTokens, Detach, Identify, QqApp, Resume, SessionFrame};
use crate::connection::stats::ClientStats;
use crate::connection::ws_server::{Incoming, ServedSocket, WsFrames, WsWriter};
use crate::protocol::lenient;
use crate::protocol::qqbot::payload::{self, Payload};

/// The heartbeat interval Hello announces (the platform's).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(41_250);

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// What a socket needs of its app.
#[derive(Clone)]
pub struct SocketApp {
    /// The app.
    pub app: Addr<QqApp>,
    /// Its app id (legacy tokens name it).
    pub app_id: String,
    /// Its secret (the legacy static token).
    pub secret: String,
    /// Its access tokens.
    pub tokens: AppTokens,
    /// Whether its dispatches are POSTed to a webhook: the app is then one of the outbound
    /// destinations (status, redial, a cluster's ownership).
    pub webhook: bool,
}

impl SocketApp {
    /// Whether a gateway `token` is the app's: `QQBot <access token>`, `Bot appid.token`, or
    /// a bare access token.
    pub fn accepts(&self, token: &str) -> bool {
        let token = token.trim();
        if let Some(legacy) = token.strip_prefix("Bot ") {
            return match legacy.split_once('.') {
                Some((app, t)) => app == self.app_id && (t == self.secret || self.tokens.valid(t)),
                None => self.tokens.valid(legacy),
            };
        }
        self.tokens.valid(token.strip_prefix("QQBot ").unwrap_or(token))
    }
}

/// One gateway socket.
pub struct QqGatewaySocket {
    socket: ServedSocket,
    /// Every app of the listener: the token picks one.
    apps: Arc<Vec<SocketApp>>,
    app: Option<SocketApp>,
    conn_id: u64,
    session: Option<String>,
    heartbeat: Duration,
    last_beat: Instant,
}

impl QqGatewaySocket {
    /// Starts the socket's actor, reading `frames`.
    pub fn start(
        writer: WsWriter,
        frames: WsFrames,
        max_message_size: usize,
        stats: Arc<ClientStats>,
        peer: SocketAddr,
        apps: Arc<Vec<SocketApp>>,
        heartbeat: Duration,
    ) -> Addr<Self> {
        let socket = ServedSocket::new(writer, max_message_size, stats, "qqbot gateway", peer);
        QqGatewaySocket::create(move |ctx| {
            ctx.add_stream(frames);
            QqGatewaySocket {
                socket,
                apps,
                app: None,
                conn_id: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
                session: None,
                heartbeat,
                last_beat: Instant::now(),
            }
        })
    }

    fn send(&self, frame: &str) {
        self.socket.writer.text(frame.into());
    }

    fn close(&mut self, code: u16, why: &str, ctx: &mut Context<Self>) {
        debug!("qqbot gateway {}: closing with {code}: {why}", self.socket.peer);
        self.socket.close(CloseCode::Other(code), why);
        ctx.stop();
    }

    fn on_text(&mut self, data: &[u8], ctx: &mut Context<Self>) {
        let p = match Payload::parse(data) {
            Ok(p) => p,
            Err(e) => {
                self.socket.bad_frame(format_args!("gateway frame: {e}"));
                return self.close(4002, "invalid payload", ctx);
            }
        };
        match p.op {
            payload::HEARTBEAT => {
                self.last_beat = Instant::now();
                self.send(&json!({"op": payload::HEARTBEAT_ACK}).to_string());
            }
            payload::IDENTIFY => self.identify(&p.d, ctx),
            payload::RESUME => self.resume(&p.d, ctx),
            other => self.close(4001, &format!("invalid opcode {other}"), ctx),
        }
    }

    /// The app whose token `d` carries.
    fn app_of(&self, d: &Value) -> Option<SocketApp> {
        let token = d.get("token").and_then(Value::as_str).unwrap_or("");
        self.apps.iter().find(|a| a.accepts(token)).cloned()
    }

    fn identify(&mut self, d: &Value, ctx: &mut Context<Self>) {
        if self.session.is_some() {
            return self.close(4005, "already authenticated", ctx);
        }
        let Some(app) = self.app_of(d) else {
            return self.close(4004, "authentication failed", ctx);
        };
        let intents = d
            .get("intents")
            .and_then(lenient::int_from_value)
            .and_then(|i| u64::try_from(i).ok())
            .filter(|i| *i != 0)
            // botgo identifies with GUILDS when no handler asked for more.
            .unwrap_or(1);
        let identify = Identify {
            intents,
            shard: d.get("shard").cloned().unwrap_or(Value::Null),
            conn_id: self.conn_id,
            conn: ctx.address().recipient(),
        };
        let ask = app.app.send(identify);
        self.app = Some(app);
        ctx.wait(ask.into_actor(self).map(|answer, act, ctx| match answer {
            Ok((session, ready)) => {
                act.session = Some(session);
                act.send(&ready);
            }
            Err(_) => act.close(4900, "internal error", ctx),
        }));
    }

    fn resume(&mut self, d: &Value, ctx: &mut Context<Self>) {
        if self.session.is_some() {
            return self.close(4005, "already authenticated", ctx);
        }
        let Some(app) = self.app_of(d) else {
            return self.close(4004, "authentication failed", ctx);
        };
        let session_id = d.get("session_id").and_then(Value::as_str).unwrap_or("").to_owned();
        let seq = d.get("seq").and_then(lenient::int_from_value).unwrap_or(0).max(0) as u64;
        let resume = Resume {
            session_id: session_id.clone(),
            seq,
            conn_id: self.conn_id,
            conn: ctx.address().recipient(),
        };
        let ask = app.app.send(resume);
        self.app = Some(app);
        ctx.wait(ask.into_actor(self).map(move |answer, act, _| match answer {
            Ok(Some(frames)) => {
                act.session = Some(session_id);
                for frame in frames {
                    act.send(&frame);
                }
            }
            _ => act.send(&json!({"op": payload::INVALID_SESSION, "d": false}).to_string()),
        }));
    }
}

impl Actor for QqGatewaySocket {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let hello = json!({"op": payload::HELLO,
                           "d": {"heartbeat_interval": self.heartbeat.as_millis() as u64}});
        self.send(&hello.to_string());
        ctx.run_interval(self.heartbeat, |act, ctx| {
            // Two intervals without a heartbeat: the platform calls the connection expired.
            if act.last_beat.elapsed() > act.heartbeat * 2 {
                act.close(4009, "session timed out", ctx);
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let (Some(session_id), Some(app)) = (self.session.take(), &self.app) {
            app.app.do_send(Detach { session_id, conn_id: self.conn_id });
        }
    }
}

impl Handler<SessionFrame> for QqGatewaySocket {
    type Result = ();

    fn handle(&mut self, frame: SessionFrame, _: &mut Self::Context) {
        crate::metrics::frames_delivered("qqbot gateway", 1);
        self.send(&frame.0);
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for QqGatewaySocket {
    fn handle(&mut self, item: Result<Frame, ProtocolError>, ctx: &mut Self::Context) {
        match self.socket.receive(item) {
            Incoming::Message(data) => self.on_text(&data, ctx),
            Incoming::OutOfOrder => self.close(4002, "invalid payload", ctx),
            Incoming::Nothing => {}
            Incoming::Stop => ctx.stop(),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.socket.finished();
        ctx.stop();
    }
}
