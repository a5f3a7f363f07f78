//! `source: qqbot` — a bot of the QQ official platform (seed 003). Events arrive over the
//! gateway ([`QqGateway`], `transport: websocket`) or as webhook pushes to `/qqbot/webhook`
//! (`transport: webhook`); either way each dispatch is deduplicated by its event id (a resume
//! replays, the platform retries pushes) and each message by its id (overlapping intents
//! deliver one message twice), mapped into the model with numbers from the [`IdBook`], and
//! fanned out. Commands go to the OpenAPI ([`QqApi`]); sends are passive replies chosen by
//! [`PassiveReplies`]. What the platform cannot do is an error that says so.

mod commands;
mod ids;
mod passive;
mod webhook;

pub use self::webhook::QqWebhookPush;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use awc::http::Method;
use log::{debug, info, warn};
use serde_json::{json, Value};

pub(crate) use self::ids::IdBook;
use self::passive::PassiveReplies;
use super::Source;
use crate::bot::actor::BotActor;
use crate::bot::world::unix_now;
use crate::connection::qqbot_api::{QqApi, QqApiConfig};
use crate::connection::qqbot_gateway::{GatewayConfig, GatewayNotice, QqGateway};
use crate::model::{
    BotOfflineReason, Event, Friend, Group, MessageKind, Permission, SharedEvent, UserId,
};
use crate::protocol::qqbot::dispatch::{self, SelfIds};
use crate::store::{LoadIds, RecordIds};

/// Event and message ids remembered for deduplication.
const DEDUPE_MEMORY: usize = 8192;

/// How the platform reaches the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QqTransport {
    /// botgate holds a gateway session.
    WebSocket,
    /// The platform POSTs events to `/qqbot/webhook`.
    Webhook,
}

/// A `source: qqbot` bot's settings.
#[derive(Debug, Clone)]
pub struct QqBotConfig {
    /// How events arrive.
    pub transport: QqTransport,
    /// The OpenAPI and token endpoint.
    pub api: QqApiConfig,
    /// The gateway session (`transport: websocket`).
    pub gateway: GatewayConfig,
}

/// Ids seen lately, oldest forgotten first.
#[derive(Default)]
struct Recent {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Recent {
    /// Notes `id`; false when it was seen already.
    fn first_time(&mut self, id: &str) -> bool {
        if !self.set.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        while self.order.len() > DEDUPE_MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// The bot's state on the platform.
pub(crate) struct QqBotSource {
    config: QqBotConfig,
    api: Option<QqApi>,
    pub(crate) gateway: Option<Addr<QqGateway>>,
    ids: IdBook,
    passive: PassiveReplies,
    me: SelfIds,
    nickname: String,
    online: bool,
    ever_online: bool,
    /// Why the platform refuses the bot for good (4914/4915), if it does.
    stopped: Option<String>,
    events_seen: Recent,
    /// The webhook journal of the last run was processed (on the first time online, when
    /// the destinations have subscribed).
    journal_replayed: bool,
    messages_seen: Recent,
    /// Users who wrote to the bot (C2C and direct messages): the platform has no friend list.
    friends: BTreeMap<UserId, Friend>,
    /// Groups and channels the bot heard from: the platform lists neither.
    groups: BTreeMap<UserId, Group>,
}

impl QqBotSource {
    /// The source of bot `qq` with `config`, keeping `message_bound` message numbers.
    pub(crate) fn new(qq: UserId, config: QqBotConfig, message_bound: usize) -> Self {
        QqBotSource {
            config,
            api: None,
            gateway: None,
            ids: IdBook::new(qq, message_bound),
            passive: PassiveReplies::default(),
            me: SelfIds::default(),
            nickname: String::new(),
            online: false,
            ever_online: false,
            stopped: None,
            events_seen: Recent::default(),
            journal_replayed: false,
            messages_seen: Recent::default(),
            friends: BTreeMap::new(),
            groups: BTreeMap::new(),
        }
    }

    /// Whether events flow and commands can be sent.
    pub(crate) fn online(&self) -> bool {
        self.online
    }

    /// The bot's name on the platform.
    pub(crate) fn nickname(&self) -> &str {
        &self.nickname
    }

    /// Why the platform refuses the bot, if it does.
    pub(crate) fn problem(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Learns a contact from an event, so list commands can answer it.
    fn learn(&mut self, event: &Event) {
        let Event::Message(m) = event else {
            if let Event::BotJoinGroup { group, .. } = event {
                self.groups.insert(group.id, group.clone());
            }
            return;
        };
        match &m.kind {
            MessageKind::Friend { sender } => {
                self.friends.insert(sender.id, sender.clone());
            }
            MessageKind::Group { sender } | MessageKind::Guild { sender, .. } => {
                self.groups.entry(sender.group.id).or_insert_with(|| sender.group.clone());
            }
            _ => {}
        }
    }

    fn group(&self, id: UserId) -> Group {
        self.groups.get(&id).cloned().unwrap_or(Group {
            id,
            name: String::new(),
            permission: Permission::Member,
        })
    }
}

impl BotActor {
    fn qq(&mut self) -> &mut QqBotSource {
        match &mut self.source {
            Source::QqBot(s) => s,
            _ => unreachable!("only called for QQ official bots"),
        }
    }

    /// Loads the id maps, then opens the gateway session (or, for webhook bots, checks the
    /// app's credentials): nothing is mapped before every stored number is known.
    pub(crate) fn start_qqbot(&mut self, ctx: &mut Context<Self>) {
        let api = QqApi::new(self.qq().config.api.clone());
        self.qq().api = Some(api);
        self.load_id_book(ctx, |act| &mut act.qq().ids);
        match self.qq().config.transport {
            QqTransport::WebSocket => {
                let s = self.qq();
                let (config, api) = (s.config.gateway.clone(), s.api.clone());
                if let Some(api) = api {
                    let recipient = ctx.address().recipient();
                    self.qq().gateway = Some(QqGateway::new(config, api, recipient).start());
                }
            }
            QqTransport::Webhook => self.check_webhook_app(ctx),
        }
    }

    /// A webhook bot is online once its credentials work: `/users/@me` answers.
    fn check_webhook_app(&mut self, ctx: &mut Context<Self>) {
        let Some(api) = self.qq().api.clone() else {
            return;
        };
        let retry = self.qq().config.gateway.reconnect_interval;
        let me = async move { api.call(Method::GET, "/users/@me", None).await };
        ctx.spawn(me.into_actor(self).map(move |result, act, ctx| match result {
            Ok(user) => {
                act.on_gateway_notice(GatewayNotice::Ready { user }, ctx);
                if !std::mem::replace(&mut act.qq().journal_replayed, true) {
                    act.replay_webhook_journal(ctx);
                }
            }
            Err(e) => {
                warn!("bot {}: the QQ official platform refused the app: {e}", act.bot_id());
                ctx.run_later(retry.max(Duration::from_millis(100)), |act, ctx| {
                    act.check_webhook_app(ctx)
                });
            }
        }));
    }

    fn on_gateway_notice(&mut self, notice: GatewayNotice, ctx: &mut Context<Self>) {
        let qq = self.bot_id();
        match notice {
            GatewayNotice::Ready { user } => {
                let s = self.qq();
                s.me.user_id = user.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
                s.nickname = user.get("username").and_then(Value::as_str).unwrap_or("").to_owned();
                info!("bot {qq}: online on the QQ official platform as {}", s.nickname);
                self.come_online();
            }
            GatewayNotice::Resumed => self.come_online(),
            GatewayNotice::Dispatch { t, d, id } => self.on_dispatch(&t, &d, id.as_deref(), ctx),
            GatewayNotice::Down { why } => self.go_offline(&why),
            GatewayNotice::Stopped { why } => {
                self.qq().stopped = Some(why.clone());
                self.go_offline(&why);
            }
        }
    }

    fn come_online(&mut self) {
        let s = self.qq();
        if std::mem::replace(&mut s.online, true) {
            return;
        }
        let relogin = std::mem::replace(&mut s.ever_online, true);
        self.fan_out(vec![if relogin { Event::BotRelogin } else { Event::BotOnline }]);
    }

    fn go_offline(&mut self, why: &str) {
        if std::mem::replace(&mut self.qq().online, false) {
            warn!("bot {}: offline, {why}", self.bot_id());
            self.fan_out(vec![Event::BotOffline(BotOfflineReason::Dropped)]);
        }
    }

    /// Maps one dispatch and hands it to the subscribers, once.
    pub(super) fn on_dispatch(
        &mut self,
        t: &str,
        d: &Value,
        event_id: Option<&str>,
        ctx: &mut Context<Self>,
    ) {
        let qq = self.bot_id();
        if let Some(id) = event_id {
            if !self.qq().events_seen.first_time(id) {
                debug!("bot {qq}: {t} {id} was delivered already (resume replay or retry)");
                return;
            }
        }
        if t == "INTERACTION_CREATE" {
            self.acknowledge_interaction(d, ctx);
        }
        let s = self.qq();
        let decoded = dispatch::decode(t, d, event_id, &s.me, &mut s.ids);
        self.persist_ids();
        let inbound = match decoded {
            Ok(Some(inbound)) => inbound,
            Ok(None) => return,
            Err(why) => {
                warn!("bot {qq}: {t} not understood ({why}); dropped");
                return;
            }
        };
        let s = self.qq();
        if let Some(id) = &inbound.message_id {
            if !s.messages_seen.first_time(id) {
                debug!("bot {qq}: message {id} came again through {t} (overlapping intents)");
                return;
            }
        }
        if let Some(reply) = &inbound.reply {
            s.passive.record(reply, Instant::now());
        }
        s.learn(&inbound.event);
        let time = match &inbound.event {
            Event::Message(m) => m.source.time,
            _ => unix_now(),
        };
        if let Event::Message(m) = &inbound.event {
            if let Some(context) = m.kind.context_id() {
                self.cache.insert(context, Arc::new(m.clone()));
            }
        }
        self.fan_out_shared(SharedEvent::new(qq, time, inbound.event));
        self.record_changes(ctx);
    }

    /// Tells the platform an interaction was handled, so the user's button stops spinning.
    fn acknowledge_interaction(&mut self, d: &Value, ctx: &mut Context<Self>) {
        let (Some(api), Some(id)) = (self.qq().api.clone(), d.get("id").and_then(Value::as_str))
        else {
            return;
        };
        let path = format!("/interactions/{id}");
        let qq = self.bot_id();
        ctx.spawn(
            async move {
                if let Err(e) = api.call(Method::PUT, &path, Some(json!({"code": 0}))).await {
                    warn!("bot {qq}: interaction not acknowledged: {e}");
                }
            }
            .into_actor(self),
        );
    }

    /// Writes the numbers given since last time to the store.
    fn persist_ids(&mut self) {
        self.persist_id_book(|act| &mut act.qq().ids);
    }

    /// Loads a source's id book from the store before anything else runs: nothing is
    /// mapped before every stored number is known.
    pub(crate) fn load_id_book(
        &mut self,
        ctx: &mut Context<Self>,
        book: fn(&mut BotActor) -> &mut IdBook,
    ) {
        let bot = self.bot_id();
        let Some(store) = self.store.clone() else {
            return;
        };
        let load = store.send(LoadIds { bot });
        ctx.wait(load.into_actor(self).map(move |result, act, _| match result {
            Ok(Ok(stored)) => {
                debug!("bot {bot}: {} id mappings in the store", stored.len());
                book(act).load(stored);
            }
            Ok(Err(e)) => warn!("bot {bot}: reading the id maps failed: {e}"),
            Err(e) => warn!("bot {bot}: the store is unavailable: {e}"),
        }));
    }

    /// Writes the numbers a source's id book gave since last time to the store.
    pub(crate) fn persist_id_book(&mut self, book: fn(&mut BotActor) -> &mut IdBook) {
        let bot = self.bot_id();
        let mappings = book(self).take_new();
        if self.replicating() && !mappings.is_empty() {
            // In a cluster the next owner must give the same numbers the same meaning.
            self.replicate(crate::cluster::events::Replica::Ids(mappings.clone()));
        }
        if let (false, Some(store)) = (mappings.is_empty(), self.store.as_ref()) {
            store.do_send(RecordIds { bot, mappings });
        }
    }
}

impl Handler<GatewayNotice> for BotActor {
    type Result = ();

    fn handle(&mut self, notice: GatewayNotice, ctx: &mut Self::Context) {
        self.on_gateway_notice(notice, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::qqbot::dispatch::{ContactKey, IdMap};

    #[test]
    fn recent_ids_are_seen_once() {
        let mut r = Recent::default();
        assert!(r.first_time("a"));
        assert!(!r.first_time("a"));
        for i in 0..DEDUPE_MEMORY {
            r.first_time(&i.to_string());
        }
        assert!(r.first_time("a"), "forgotten after the bound");
    }

    #[test]
    fn learned_groups_keep_their_numbers() {
        let mut s = QqBotSource::new(
            1,
            QqBotConfig {
                transport: QqTransport::Webhook,
                api: QqApiConfig {
                    label: "t".into(),
                    app_id: "a".into(),
                    secret: String::new(),
                    api_base: String::new(),
                    token_url: String::new(),
                    timeout: Duration::from_secs(1),
                    tls: crate::connection::tls::client_config(&[]).expect("tls"),
                },
                gateway: GatewayConfig {
                    label: "t".into(),
                    intents: 1,
                    reconnect_interval: Duration::from_secs(1),
                    max_reconnect_interval: Duration::from_secs(1),
                    max_frame_size: 1 << 16,
                    tls: crate::connection::tls::client_config(&[]).expect("tls"),
                },
            },
            10,
        );
        let n = s.ids.contact(&ContactKey::Group("G".into()));
        s.learn(&Event::BotJoinGroup { group: s.group(n), invitor: None });
        assert_eq!(s.groups.keys().copied().collect::<Vec<_>>(), vec![n]);
    }
}
