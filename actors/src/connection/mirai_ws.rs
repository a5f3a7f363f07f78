//! [`MiraiWsClient`]: one actor per client of mirai-api-http's forward ws adapter (`/all`,
//! `/message`, `/event`). The client authenticated in the handshake; the actor answers its
//! commands concurrently and pushes its bot's events.
//!
//! Replies and events are encoded into the connection's write buffer, which the socket takes
//! as one chunk whenever it can; the buffer is refilled from the outbox up to a high-water mark
//! each time it drains. A client that stops reading therefore stalls only itself: its outbox
//! fills and, at the bound, the connection is dropped and the eviction logged. Idle clients
//! are pinged; one silent for three intervals is dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Frame, ProtocolError};
use bytestring::ByteString;
use log::{debug, info, warn};
use serde_json::json;

use super::frames::{Assembled, FrameAssembler};
use super::mirai_calls;
use super::ws_server::{self, WsFrames, WsWriter};
use crate::bot::{EventFilter, EventOutbox, Subscribe, SubscriptionId, Unsubscribe};
use crate::outbox::{Outbox, OverflowPolicy};
use crate::protocol::mirai::command as mirai_command;
use crate::protocol::mirai::envelope;
use crate::protocol::mirai::event as mirai_event;
use crate::protocol::mirai::state::StateCode;
use crate::registry::{BoundSession, Release, SessionRegistry};

/// Settings shared by every forward ws client.
#[derive(Debug, Clone)]
pub struct MiraiWsSettings {
    /// The syncId of pushed events.
    pub reserved_sync_id: String,
    /// How often an idle client is pinged; silent for three intervals → dropped. Zero: never.
    pub heartbeat_interval: Duration,
    /// How many events may wait for a slow client before it is closed.
    pub outbox_size: usize,
}

/// Which mirai ws path a client connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MiraiWsChannel {
    /// `/all`: messages and events.
    All,
    /// `/message`: messages only.
    Message,
    /// `/event`: events only.
    Event,
}

impl MiraiWsChannel {
    /// The channel served at `path` (`/all`, `/message`, `/event`).
    pub fn from_path(path: &str) -> Option<Self> {
        match path.trim_end_matches('/') {
            "/all" => Some(MiraiWsChannel::All),
            "/message" => Some(MiraiWsChannel::Message),
            "/event" => Some(MiraiWsChannel::Event),
            _ => None,
        }
    }

    fn filter(self) -> EventFilter {
        match self {
            MiraiWsChannel::All => EventFilter::All,
            MiraiWsChannel::Message => EventFilter::Messages,
            MiraiWsChannel::Event => EventFilter::Events,
        }
    }
}

/// A client's place in the directory: its path and session key.
type DirectoryKey = (MiraiWsChannel, String);

/// Who holds a place: the client's id (to tell it from its replacement) and address.
type DirectoryEntry = (u64, Addr<MiraiWsClient>);

/// The live clients by (path, session key): a second client with the same key on the same
/// path replaces the first, as in mirai-api-http.
#[derive(Clone, Default)]
pub struct MiraiWsDirectory {
    clients: Arc<Mutex<HashMap<DirectoryKey, DirectoryEntry>>>,
}

impl MiraiWsDirectory {
    fn register(&self, key: DirectoryKey, id: u64, addr: Addr<MiraiWsClient>) {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, old)) = map.insert(key, (id, addr)) {
            old.do_send(Replaced);
        }
    }

    fn unregister(&self, key: &DirectoryKey, id: u64) {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|(current, _)| *current == id) {
            map.remove(key);
        }
    }

    /// How many clients are connected.
    pub fn len(&self) -> usize {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How many encoded bytes may wait for a client that sends commands but does not read the
/// replies before it is disconnected.
const MAX_UNREAD_BYTES: usize = 16 * 1024 * 1024;

static NEXT_CLIENT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// One forward ws client.
pub struct MiraiWsClient {
    id: u64,
    writer: WsWriter,
    assembler: FrameAssembler,
    settings: Arc<MiraiWsSettings>,
    registry: Addr<SessionRegistry>,
    session: BoundSession,
    channel: MiraiWsChannel,
    directory: MiraiWsDirectory,
    outbox: EventOutbox,
    subscription: Option<SubscriptionId>,
    last_seen: Instant,
    peer: SocketAddr,
}

impl MiraiWsClient {
    /// Starts the actor of a client authenticated as `session` on `channel`, reading `stream`
    /// and writing `ws`. The stream goes straight into the actor's context rather than into
    /// its state, which every idle connection would otherwise carry.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        writer: WsWriter,
        frames: WsFrames,
        max_message_size: usize,
        settings: Arc<MiraiWsSettings>,
        registry: Addr<SessionRegistry>,
        session: BoundSession,
        channel: MiraiWsChannel,
        directory: MiraiWsDirectory,
        peer: SocketAddr,
    ) -> Addr<Self> {
        let outbox = Outbox::new(settings.outbox_size, OverflowPolicy::Close);
        MiraiWsClient::create(move |ctx| {
            ctx.add_stream(frames);
            MiraiWsClient {
                id: NEXT_CLIENT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                writer,
                assembler: FrameAssembler::new(max_message_size),
                settings,
                registry,
                session,
                channel,
                directory,
                outbox,
                subscription: None,
                last_seen: Instant::now(),
                peer,
            }
        })
    }

    fn reply(&mut self, text: String, ctx: &mut Context<Self>) {
        if self.writer.buffered() > MAX_UNREAD_BYTES {
            warn!(
                "mirai ws {}: {} bytes of replies unread; closing",
                self.peer,
                self.writer.buffered()
            );
            self.writer.abort();
            ctx.stop();
            return;
        }
        self.writer.text(text.into());
    }

    /// Moves queued events into the write buffer, up to the high-water mark.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        let reserved = &self.settings.reserved_sync_id;
        let alive = ws_server::pump_events(&self.outbox, &self.writer, |e| {
            mirai_event::push_frame(e, reserved).and_then(|f| ByteString::try_from(f).ok())
        });
        if !alive {
            warn!(
                "mirai ws {}: client too slow, {} events queued; evicted",
                self.peer, self.settings.outbox_size
            );
            self.writer.abort();
            ctx.stop();
        }
    }

    fn close(&mut self, ctx: &mut Context<Self>, code: CloseCode, why: &str) {
        self.writer.close(Some(CloseReason { code, description: Some(why.to_owned()) }));
        ctx.stop();
    }

    fn on_text(&mut self, data: &[u8], ctx: &mut Context<Self>) {
        let request = match envelope::parse_request(data) {
            Ok(r) => r,
            Err(e) => {
                warn!("mirai ws {}: {e}", self.peer);
                self.reply(StateCode::invalid_parameter().to_json().to_string(), ctx);
                return;
            }
        };
        let sync_id = request.sync_id;
        let call = match mirai_command::decode(
            &request.command,
            request.sub_command.as_deref(),
            &request.content,
        ) {
            Ok(call) => call,
            Err(e) => {
                debug!("mirai ws {}: {}: {e:?}", self.peer, request.command);
                self.reply(envelope::response(sync_id.as_deref(), &e.state().to_json()), ctx);
                return;
            }
        };
        let run = mirai_calls::run(call, Some(self.session.clone()), self.registry.clone());
        ctx.spawn(run.into_actor(self).map(move |data, act, ctx| {
            act.reply(envelope::response(sync_id.as_deref(), &data), ctx);
        }));
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let interval = self.settings.heartbeat_interval;
        if self.last_seen.elapsed() > interval * 3 {
            info!("mirai ws {}: silent for {:?}; dropped", self.peer, self.last_seen.elapsed());
            self.close(ctx, CloseCode::Away, "heartbeat timeout");
            return;
        }
        if self.last_seen.elapsed() >= interval {
            self.writer.ping();
        }
    }
}

impl Actor for MiraiWsClient {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // The connect ack is the first frame, before any event.
        let ack = json!({"syncId": "", "data": mirai_command::verified(&self.session.key)});
        self.reply(ack.to_string(), ctx);
        let addr = ctx.address();
        self.writer.on_drain(move || addr.do_send(Pump));
        let directory_key = (self.channel, self.session.key.clone());
        self.directory.register(directory_key, self.id, ctx.address());
        let addr = ctx.address();
        self.outbox.set_waker(move || addr.do_send(Pump));
        let subscribe = Subscribe {
            outbox: self.outbox.clone(),
            filter: self.channel.filter(),
            label: format!("mirai ws {}", self.peer),
        };
        ctx.spawn(self.session.bot.send(subscribe).into_actor(self).map(|result, act, ctx| {
            match result {
                Ok(id) => act.subscription = Some(id),
                Err(e) => {
                    warn!("mirai ws {}: subscribe failed: {e}", act.peer);
                    ctx.stop();
                }
            }
        }));
        if !self.settings.heartbeat_interval.is_zero() {
            ctx.run_interval(self.settings.heartbeat_interval, |act, ctx| act.heartbeat(ctx));
        }
        debug!("mirai ws {}: connected for bot {}", self.peer, self.session.qq);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.outbox.close();
        if let Some(id) = self.subscription.take() {
            self.session.bot.do_send(Unsubscribe(id));
        }
        self.directory.unregister(&(self.channel, self.session.key.clone()), self.id);
        self.registry.do_send(Release { session_key: self.session.key.clone() });
        debug!("mirai ws {}: disconnected", self.peer);
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for MiraiWsClient {
    fn handle(&mut self, item: Result<Frame, ProtocolError>, ctx: &mut Self::Context) {
        self.last_seen = Instant::now();
        match item {
            Ok(Frame::Text(data) | Frame::Binary(data)) => self.on_text(&data, ctx),
            Ok(Frame::Continuation(item)) => match self.assembler.push(item) {
                Assembled::Message(data) => self.on_text(&data, ctx),
                Assembled::Pending => {}
                Assembled::TooLarge => self.close(ctx, CloseCode::Size, "message too large"),
                Assembled::OutOfOrder => {
                    warn!("mirai ws {}: continuation frame out of order", self.peer);
                    self.reply(StateCode::invalid_parameter().to_json().to_string(), ctx);
                }
            },
            Ok(Frame::Ping(data)) => self.writer.pong(data),
            Ok(Frame::Pong(_)) => {}
            Ok(Frame::Close(reason)) => {
                debug!("mirai ws {}: client closed: {reason:?}", self.peer);
                self.close(ctx, CloseCode::Normal, "");
            }
            Err(ProtocolError::Io(e)) => {
                // A client that vanishes without a close frame: routine, not an error.
                debug!("mirai ws {}: connection lost: {e}", self.peer);
                ctx.stop();
            }
            Err(e) => {
                warn!("mirai ws {}: protocol error: {e}", self.peer);
                let code = match e {
                    ProtocolError::Overflow => CloseCode::Size,
                    _ => CloseCode::Protocol,
                };
                self.close(ctx, code, &e.to_string());
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Wakes the client to write what is queued.
#[derive(Message)]
#[rtype(result = "()")]
struct Pump;

impl Handler<Pump> for MiraiWsClient {
    type Result = ();

    fn handle(&mut self, _: Pump, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}

/// Tells a client a newer connection with its key took its path.
#[derive(Message)]
#[rtype(result = "()")]
struct Replaced;

impl Handler<Replaced> for MiraiWsClient {
    type Result = ();

    fn handle(&mut self, _: Replaced, ctx: &mut Self::Context) {
        info!("mirai ws {}: replaced by a newer connection with the same session", self.peer);
        self.close(ctx, CloseCode::Normal, "replaced by a newer connection");
    }
}

/// Answers an authentication failure the way mirai-api-http does — an enveloped state code
/// with an empty syncId — then closes with code 1000 and the message as reason.
pub fn reject(writer: &WsWriter, state: StateCode) {
    writer.text(json!({"syncId": "", "data": state.to_json()}).to_string().into());
    writer.close(Some(CloseReason { code: CloseCode::Normal, description: Some(state.msg) }));
}
