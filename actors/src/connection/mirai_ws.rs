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
use std::time::Duration;

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Frame, ProtocolError};
use bytestring::ByteString;
use log::{debug, info, warn};
use serde_json::json;

use super::in_flight::InFlight;
use super::mirai_calls;
use super::stats::ClientStats;
use super::ws_server::{Incoming, ServedSocket, Site, WsFrames, WsWriter};
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
    /// How many commands one connection may have running; more are answered at once with
    /// code 500 instead of queueing without bound.
    pub max_in_flight: usize,
    /// The adapter's client counters.
    pub stats: Arc<ClientStats>,
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
    socket: ServedSocket,
    settings: Arc<MiraiWsSettings>,
    registry: Addr<SessionRegistry>,
    session: BoundSession,
    channel: MiraiWsChannel,
    directory: MiraiWsDirectory,
    outbox: EventOutbox,
    subscription: Option<SubscriptionId>,
    in_flight: InFlight,
}

impl MiraiWsClient {
    /// Starts the actor of a client authenticated as `session` on `channel`, reading `stream`
    /// and writing `ws`, at the connection's `site`. The stream goes straight into the actor's
    /// context rather than into its state, which every idle connection would otherwise carry.
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
        site: &Site,
    ) -> Addr<Self> {
        let outbox = Outbox::new(settings.outbox_size, OverflowPolicy::Close);
        let stats = Arc::clone(&settings.stats);
        let socket = ServedSocket::new(writer, max_message_size, stats, "mirai ws", peer);
        socket.placed(site);
        socket.describe(session.qq, Some(&session.key), &outbox);
        let in_flight = InFlight::new(settings.max_in_flight);
        site.start(move |ctx| {
            ctx.add_stream(frames);
            MiraiWsClient {
                id: NEXT_CLIENT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                socket,
                settings,
                registry,
                session,
                channel,
                directory,
                outbox,
                subscription: None,
                in_flight,
            }
        })
    }

    fn reply(&mut self, text: String, ctx: &mut Context<Self>) {
        let unread = self.socket.writer.buffered();
        if unread > MAX_UNREAD_BYTES {
            self.socket.evict(format_args!("{unread} bytes of replies unread"));
            ctx.stop();
            return;
        }
        self.socket.writer.text(text.into());
    }

    /// Moves queued events into the write buffer, up to the high-water mark.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        let reserved = &self.settings.reserved_sync_id;
        let alive = self.socket.pump_events(&self.outbox, |e| {
            mirai_event::push_frame(e, reserved).and_then(|f| ByteString::try_from(f).ok())
        });
        if !alive {
            let queued = self.settings.outbox_size;
            self.socket.evict(format_args!("client too slow, {queued} events queued"));
            ctx.stop();
        }
    }

    fn on_text(&mut self, data: &[u8], ctx: &mut Context<Self>) {
        let request = match envelope::parse_request(data) {
            Ok(r) => r,
            Err(e) => {
                self.socket.bad_frame(format_args!("{e}"));
                self.reply(StateCode::invalid_parameter().to_json().to_string(), ctx);
                return;
            }
        };
        let sync_id = request.sync_id;
        if !self.in_flight.try_start() {
            self.socket.busy(self.in_flight.running(), &request.command);
            let busy = StateCode::busy(self.in_flight.max()).to_json();
            self.reply(envelope::response(sync_id.as_deref(), &busy), ctx);
            return;
        }
        let call = match mirai_command::decode(
            &request.command,
            request.sub_command.as_deref(),
            &request.content,
        ) {
            Ok(call) => call,
            Err(e) => {
                self.in_flight.finish();
                debug!("mirai ws {}: {}: {e:?}", self.socket.peer, request.command);
                self.reply(envelope::response(sync_id.as_deref(), &e.state().to_json()), ctx);
                return;
            }
        };
        let run = mirai_calls::run(call, Some(&self.session), &self.registry);
        ctx.spawn(run.into_actor(self).map(move |data, act, ctx| {
            act.in_flight.finish();
            act.reply(envelope::response(sync_id.as_deref(), &data), ctx);
        }));
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        if !self.socket.heartbeat(self.settings.heartbeat_interval) {
            ctx.stop();
        }
    }
}

impl Actor for MiraiWsClient {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let addr = ctx.address();
        self.socket.refill_on_drain(&self.outbox, move || addr.do_send(Pump));
        let directory_key = (self.channel, self.session.key.clone());
        self.directory.register(directory_key, self.id, ctx.address());
        let subscribe = Subscribe {
            outbox: self.outbox.clone(),
            filter: self.channel.filter(),
            label: format!("mirai ws {}", self.socket.peer),
            durable: None,
        };
        ctx.spawn(self.session.bot.send(subscribe).into_actor(self).map(|result, act, ctx| {
            match result {
                Ok(id) => {
                    act.subscription = Some(id);
                    // The connect ack is the first frame, and is sent once the client is
                    // subscribed: every event after it reaches the client. Events that came
                    // meanwhile waited in the outbox and follow the ack.
                    let ack =
                        json!({"syncId": "", "data": mirai_command::verified(&act.session.key)});
                    act.reply(ack.to_string(), ctx);
                    let addr = ctx.address();
                    act.outbox.set_waker(move || addr.do_send(Pump));
                    ctx.notify(Pump);
                }
                Err(e) => {
                    warn!("mirai ws {}: subscribe failed: {e}", act.socket.peer);
                    ctx.stop();
                }
            }
        }));
        if !self.settings.heartbeat_interval.is_zero() {
            ctx.run_interval(self.settings.heartbeat_interval, |act, ctx| act.heartbeat(ctx));
        }
        debug!("mirai ws {}: connected for bot {}", self.socket.peer, self.session.qq);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.outbox.close();
        if let Some(id) = self.subscription.take() {
            self.session.bot.do_send(Unsubscribe(id));
        }
        self.directory.unregister(&(self.channel, self.session.key.clone()), self.id);
        self.registry.do_send(Release { session_key: self.session.key.clone() });
        debug!("mirai ws {}: disconnected", self.socket.peer);
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for MiraiWsClient {
    fn handle(&mut self, item: Result<Frame, ProtocolError>, ctx: &mut Self::Context) {
        match self.socket.receive(item) {
            Incoming::Message(data) => self.on_text(&data, ctx),
            Incoming::OutOfOrder => {
                self.reply(StateCode::invalid_parameter().to_json().to_string(), ctx)
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
        let peer = self.socket.peer;
        info!("mirai ws {peer}: replaced by a newer connection with the same session");
        self.socket.close(CloseCode::Normal, "replaced by a newer connection");
        ctx.stop();
    }
}

/// Answers an authentication failure the way mirai-api-http does — an enveloped state code
/// with an empty syncId — then closes with code 1000 and the message as reason.
pub fn reject(writer: &WsWriter, state: StateCode) {
    writer.text(json!({"syncId": "", "data": state.to_json()}).to_string().into());
    writer.close(Some(CloseReason { code: CloseCode::Normal, description: Some(state.msg) }));
}
