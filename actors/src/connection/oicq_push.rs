//! [`OicqPushClient`]: a client of the oicq_webd format's WebSocket — push-only, as the
//! daemon's: every event of the served bot as one text frame (its packet serialized once for
//! every client), frames from the client ignored, a ping every 3 s and a client that stops
//! answering dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_http::ws::{Frame, ProtocolError};
use bytestring::ByteString;
use log::debug;

use super::stats::ClientStats;
use super::ws_server::{Incoming, ServedSocket, WsFrames, WsWriter};
use crate::bot::{BotActor, EventFilter, EventOutbox, Subscribe, SubscriptionId, Unsubscribe};
use crate::outbox::{Outbox, OverflowPolicy};
use crate::protocol::oicq::packet;

/// The daemon's ping interval.
pub const PING_INTERVAL: Duration = Duration::from_secs(3);

/// What every push client of a listener shares.
pub struct OicqPushSettings {
    /// The served bot.
    pub bot: Addr<BotActor>,
    /// Its account.
    pub qq: crate::model::UserId,
    /// Events waiting for a slow client at most; beyond, it is dropped.
    pub outbox_size: usize,
    /// Client counters.
    pub stats: Arc<ClientStats>,
    /// Bundles clients built with `mesg/genForwardedMsg`, by the id they were given.
    pub bundles: ForwardBundles,
}

/// The bundles kept, oldest first, with the count of all ever built (for ids).
type Kept = (u64, std::collections::VecDeque<(String, Vec<crate::model::ForwardNode>)>);

/// Forwarded bundles built through the HTTP API, kept for the sends that name them (the
/// newest [`BUNDLES_KEPT`]).
#[derive(Default)]
pub struct ForwardBundles {
    inner: std::sync::Mutex<Kept>,
}

/// How many built bundles are kept.
pub const BUNDLES_KEPT: usize = 1024;

impl ForwardBundles {
    /// Keeps `nodes`; answers the id to send them by.
    pub fn add(&self, nodes: Vec<crate::model::ForwardNode>) -> String {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.0 += 1;
        let id = format!("botgate-forward-{}", inner.0);
        inner.1.push_back((id.clone(), nodes));
        while inner.1.len() > BUNDLES_KEPT {
            inner.1.pop_front();
        }
        id
    }

    /// The nodes of bundle `id`.
    pub fn get(&self, id: &str) -> Option<Vec<crate::model::ForwardNode>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.1.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone())
    }
}

/// One push client.
pub struct OicqPushClient {
    socket: ServedSocket,
    settings: Arc<OicqPushSettings>,
    outbox: EventOutbox,
    subscription: Option<SubscriptionId>,
}

impl OicqPushClient {
    /// Starts the actor of a client, reading `frames`.
    pub fn start(
        writer: WsWriter,
        frames: WsFrames,
        max_message_size: usize,
        settings: Arc<OicqPushSettings>,
        peer: SocketAddr,
    ) -> Addr<Self> {
        let outbox = Outbox::new(settings.outbox_size, OverflowPolicy::Close);
        let stats = Arc::clone(&settings.stats);
        let socket = ServedSocket::new(writer, max_message_size, stats, "oicq_webd ws", peer);
        socket.describe(settings.qq, None, &outbox);
        OicqPushClient::create(move |ctx| {
            ctx.add_stream(frames);
            OicqPushClient { socket, settings, outbox, subscription: None }
        })
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        let alive = self.socket.pump_events(&self.outbox, |e| {
            packet::encoded(e).and_then(|b| ByteString::try_from(b.clone()).ok())
        });
        if !alive {
            let queued = self.settings.outbox_size;
            self.socket.evict(format_args!("client too slow, {queued} events queued"));
            ctx.stop();
        }
    }
}

impl Actor for OicqPushClient {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(PING_INTERVAL, |act, ctx| {
            if !act.socket.heartbeat(PING_INTERVAL) {
                ctx.stop();
            }
        });
        let addr = ctx.address();
        self.outbox.set_waker(move || addr.do_send(Pump));
        let addr = ctx.address();
        self.socket.refill_on_drain(&self.outbox, move || addr.do_send(Pump));
        let subscribe = Subscribe {
            outbox: self.outbox.clone(),
            filter: EventFilter::All,
            label: format!("oicq_webd ws {}", self.socket.peer),
            durable: None,
        };
        ctx.spawn(self.settings.bot.send(subscribe).into_actor(self).map(|r, act, ctx| match r {
            Ok(id) => act.subscription = Some(id),
            Err(_) => ctx.stop(),
        }));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.outbox.close();
        if let Some(id) = self.subscription.take() {
            self.settings.bot.do_send(Unsubscribe(id));
        }
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for OicqPushClient {
    fn handle(&mut self, item: Result<Frame, ProtocolError>, ctx: &mut Self::Context) {
        match self.socket.receive(item) {
            Incoming::Message(_) => {
                // The daemon's socket carries no requests: commands go over HTTP.
                debug!("oicq_webd ws {}: frame from a push-only client ignored", self.socket.peer);
            }
            Incoming::OutOfOrder | Incoming::Nothing => {}
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

impl Handler<Pump> for OicqPushClient {
    type Result = ();

    fn handle(&mut self, _: Pump, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}
