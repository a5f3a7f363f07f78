//! [`QqApp`]: one app of the QQ official protocol served to SDK bots, driving one bot
//! account. It subscribes to the bot once, turns each event into the platform's dispatches
//! (each body serialized once) and hands them to every gateway session whose intents want
//! them, keeping a bounded log per session so a resume replays what the session missed. It
//! gives contacts their openids (derived from the app's secret, remembered in the store so
//! they resolve after a restart), enforces the passive-reply rules on sends and turns them
//! into commands of the bot.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use log::{debug, info, warn};
use serde_json::{json, Value};

use super::rules::ReplyRules;
use super::webhook::{QqWebhookSender, WebhookConfig, WebhookDispatch};
use crate::bot::{
    BotActor, EventFilter, EventOutbox, Execute, Subscribe, SubscriptionId, Unsubscribe,
};
use crate::connection::reverse_ws::{DestinationStatus, GetDestinationStatus, Redial};
use crate::connection::standby::SetActive;
use crate::model::{BotError, Command, CommandOutput, Media, MessageTarget, SharedEvent, UserId};
use crate::outbox::{Outbox, OverflowPolicy};
use crate::protocol::qqbot::served::{self, OpenidOf, Refusal, ReplyScope, Upload};
use crate::secret::{hmac_sha1, same_bytes, Secret};
use crate::store::{IdMapping, IdSpace, LoadIds, RecordIds, StoreActor};

/// Frames a session keeps for resumes.
const SESSION_LOG: usize = 2048;

/// How long a session whose socket went away waits for a resume.
const SESSION_LINGER: Duration = Duration::from_secs(300);

/// How long an access token is valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(7200);

/// How long an uploaded file's `file_info` can be sent.
const UPLOAD_TTL: Duration = Duration::from_secs(3600);

/// The access tokens of one app, shared by its HTTP handlers and gateway sockets.
///
/// A token carries its own expiry and an HMAC of it under the app's secret, so whichever
/// botgate holds the same app — another node of a cluster behind a load balancer, or this
/// one after a restart — accepts it until it expires, as the platform does; a token kept
/// only in the memory of the node that issued it would be refused (code 11244) by the
/// others, and SDKs keep a token until it expires.
#[derive(Clone)]
pub struct AppTokens {
    app_id: Arc<str>,
    secret: Secret,
}

/// Bytes of a token before its text encoding: the expiry, a random nonce, the MAC.
const TOKEN_EXPIRY: usize = 8;
const TOKEN_NONCE: usize = 12;
const TOKEN_MAC: usize = 20;
const TOKEN_BYTES: usize = TOKEN_EXPIRY + TOKEN_NONCE + TOKEN_MAC;

impl AppTokens {
    /// The tokens of the app `app_id` whose secret is `secret`.
    pub fn new(app_id: &str, secret: &str) -> Self {
        AppTokens { app_id: app_id.into(), secret: Secret::new(secret) }
    }

    /// Issues a new token, valid for [`TOKEN_LIFETIME`].
    pub fn issue(&self) -> String {
        self.issue_at(unix_now())
    }

    /// Whether `token` was issued for this app (by any botgate with its secret) and has not
    /// expired.
    pub fn valid(&self, token: &str) -> bool {
        self.valid_at(token, unix_now())
    }

    fn issue_at(&self, now: u64) -> String {
        use rand::Rng;
        let mut bytes = [0u8; TOKEN_BYTES];
        let expiry = now.saturating_add(TOKEN_LIFETIME.as_secs());
        bytes[..TOKEN_EXPIRY].copy_from_slice(&expiry.to_be_bytes());
        rand::rng().fill(&mut bytes[TOKEN_EXPIRY..TOKEN_EXPIRY + TOKEN_NONCE]);
        let mac = self.mac(&bytes[..TOKEN_EXPIRY + TOKEN_NONCE]);
        bytes[TOKEN_EXPIRY + TOKEN_NONCE..].copy_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn valid_at(&self, token: &str, now: u64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        let Ok(bytes) = <[u8; TOKEN_BYTES]>::try_from(bytes.as_slice()) else {
            return false;
        };
        let (signed, tag) = bytes.split_at(TOKEN_EXPIRY + TOKEN_NONCE);
        let mut expiry = [0u8; TOKEN_EXPIRY];
        expiry.copy_from_slice(&signed[..TOKEN_EXPIRY]);
        // The MAC is checked in constant time, and before the expiry is believed.
        same_bytes(&self.mac(signed), tag) && u64::from_be_bytes(expiry) > now
    }

    /// The MAC of a token's signed part: keyed by the app's secret, over the app id too, so
    /// a token of one app is no token of another with the same secret.
    fn mac(&self, signed: &[u8]) -> [u8; TOKEN_MAC] {
        let parts: [&[u8]; 4] = [b"botgate access token\0", self.app_id.as_bytes(), b"\0", signed];
        hmac_sha1(self.secret.expose(), &parts)
    }
}

/// Seconds since the Unix epoch: tokens outlive this process, so their expiry is wall time.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// One served app's settings.
#[derive(Clone)]
pub struct QqAppConfig {
    /// The app id.
    pub app_id: String,
    /// The app secret (tokens, openids, webhook signatures).
    pub secret: String,
    /// The bot account the app drives.
    pub bot: UserId,
    /// Its actor.
    pub bot_addr: Addr<BotActor>,
    /// Where openids are remembered.
    pub store: Option<Addr<StoreActor>>,
    /// Events queued for the app at most (oldest dropped beyond, counted).
    pub outbox_size: usize,
    /// The SDK's webhook, when dispatches are also POSTed there.
    pub webhook: Option<WebhookConfig>,
    /// In a cluster, the webhook's durable name: only the node owning it sends, reading the
    /// bot's events from its recorded position.
    pub webhook_durable: Option<String>,
}

/// The events a webhook gets: those of the group, C2C and interaction intents (a webhook's
/// events are chosen in the platform's console, not by intents; the all-group-messages
/// opt-in is not among the defaults).
const WEBHOOK_INTENTS: u64 = (1 << 25) | (1 << 26);

/// A frame for a gateway socket to write.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SessionFrame(pub Arc<str>);

struct Session {
    intents: u64,
    log: VecDeque<(u64, Arc<str>)>,
    next_s: u64,
    conn: Option<(u64, Recipient<SessionFrame>)>,
    detached_at: Option<Instant>,
}

/// The served app actor.
pub struct QqApp {
    config: QqAppConfig,
    outbox: EventOutbox,
    rules: ReplyRules,
    openids: HashMap<String, OpenidOf>,
    by_contact: HashMap<OpenidOf, String>,
    next_openid_row: i64,
    uploads: HashMap<String, (Upload, Instant)>,
    sessions: HashMap<String, Session>,
    nonce: String,
    counter: u64,
    nickname: String,
    webhook: Option<Addr<QqWebhookSender>>,
    webhook_s: u64,
    /// In a cluster, the webhook's own feed of the bot's events (from its position).
    webhook_feed: EventOutbox,
    webhook_subscription: Option<SubscriptionId>,
    webhook_standby: bool,
}

impl QqApp {
    /// An app of `config`; it subscribes to its bot once started.
    pub fn new(config: QqAppConfig) -> Self {
        use rand::Rng;
        let outbox = Outbox::new(config.outbox_size, OverflowPolicy::DropOldest);
        // A durable feed waits for room rather than overflow.
        let webhook_feed = Outbox::new(config.outbox_size, OverflowPolicy::DropOldest);
        let webhook_standby = config.webhook_durable.is_some();
        let nonce: String =
            rand::rng().sample_iter(rand::distr::Alphanumeric).take(6).map(char::from).collect();
        QqApp {
            config,
            outbox,
            rules: ReplyRules::default(),
            openids: HashMap::new(),
            by_contact: HashMap::new(),
            next_openid_row: 1,
            uploads: HashMap::new(),
            sessions: HashMap::new(),
            nonce,
            counter: 0,
            nickname: String::new(),
            webhook: None,
            webhook_s: 1,
            webhook_feed,
            webhook_subscription: None,
            webhook_standby,
        }
    }

    fn next_id(&mut self, kind: &str) -> String {
        self.counter += 1;
        format!("{kind}:{}{:x}", self.nonce, self.counter)
    }

    /// The id of dispatch `n` of an event: in a cluster made of the event's place in the
    /// stream, so every node (and the webhook's sender) gives it the same one and a passive
    /// reply naming it is accepted on any node.
    fn event_id(&mut self, kind: &str, shared: &SharedEvent, n: usize) -> String {
        match shared.position() {
            Some(at) => format!("{kind}:c{:x}.{}.{n}", at.sequence, at.index),
            None => self.next_id(kind),
        }
    }

    /// A dispatch as the webhook gets it, numbered in the webhook's own sequence.
    fn webhook_frame(&mut self, t: &str, event_id: &str, body: &str) -> Arc<str> {
        let s = self.webhook_s;
        self.webhook_s += 1;
        format!("{{\"op\":0,\"s\":{s},\"t\":\"{t}\",\"id\":\"{event_id}\",\"d\":{body}}}").into()
    }

    /// The openid of `of`, remembered for the way back.
    fn openid(&mut self, of: OpenidOf) -> String {
        // An HMAC per contact, not per event: a busy group's openid is computed once.
        if let Some(id) = self.by_contact.get(&of) {
            return id.clone();
        }
        let id = served::openid(&self.config.secret, of);
        self.by_contact.insert(of, id.clone());
        if !self.openids.contains_key(&id) {
            self.openids.insert(id.clone(), of);
            if let Some(store) = &self.config.store {
                let row = self.next_openid_row;
                self.next_openid_row += 1;
                let key = format!("{}={}", id, encode_of(of));
                store.do_send(RecordIds {
                    bot: self.config.bot,
                    mappings: vec![IdMapping { space: IdSpace::Openid, key, id: row }],
                });
            }
        }
        id
    }

    /// The group or user an openid in a URL names.
    fn scope_of(&self, kind: ScopeKind, openid: &str) -> Result<ReplyScope, Refusal> {
        match (kind, self.openids.get(openid)) {
            (ScopeKind::Group, Some(OpenidOf::Group(g))) => Ok(ReplyScope::Group(*g)),
            (ScopeKind::User, Some(OpenidOf::User(u))) => Ok(ReplyScope::User(*u)),
            (ScopeKind::Group, _) => {
                Err(Refusal { code: 40054003, message: "group_openid 无效".into() })
            }
            (ScopeKind::User, _) => {
                Err(Refusal { code: 40054004, message: "openid 无效".into() })
            }
        }
    }

    fn on_events(&mut self) {
        loop {
            let (batch, more) = self.outbox.drain(256);
            for shared in batch {
                let bot = self.config.bot;
                let list =
                    served::dispatches(&shared.event, bot, shared.time, |of| self.openid(of));
                for (n, dispatch) in list.into_iter().enumerate() {
                    let event_id = self.event_id(dispatch.t, &shared, n);
                    self.deliver(dispatch, event_id);
                }
            }
            if !more {
                break;
            }
        }
    }

    /// The webhook's events in a cluster: each event's webhook dispatches go to the sender,
    /// the last carrying the event, delivered once acknowledged (at once when it has none).
    fn on_webhook_events(&mut self) {
        let Some(webhook) = self.webhook.clone() else {
            return;
        };
        loop {
            let (batch, more) = self.webhook_feed.drain(256);
            for shared in batch {
                let bot = self.config.bot;
                let list =
                    served::dispatches(&shared.event, bot, shared.time, |of| self.openid(of));
                let mut frames = Vec::new();
                for (n, dispatch) in list.into_iter().enumerate() {
                    if dispatch.intent & WEBHOOK_INTENTS != 0 {
                        let event_id = self.event_id(dispatch.t, &shared, n);
                        let body = dispatch.d.to_string();
                        frames.push(self.webhook_frame(dispatch.t, &event_id, &body));
                    }
                }
                let Some(last) = frames.pop() else {
                    shared.delivered();
                    continue;
                };
                for frame in frames {
                    webhook.do_send(WebhookDispatch { frame, event: None });
                }
                webhook.do_send(WebhookDispatch { frame: last, event: Some(shared) });
            }
            if !more {
                break;
            }
        }
    }

    fn deliver(&mut self, dispatch: served::Dispatch, event_id: String) {
        let now = Instant::now();
        match &dispatch.reply {
            Some((scope, Some(msg_id))) => self.rules.received(msg_id, *scope, now),
            Some((scope, None)) => self.rules.event(&event_id, *scope, now),
            None => {}
        }
        // The body is serialized once; each session's frame only adds its own `s`.
        let body = dispatch.d.to_string();
        // In a cluster the webhook reads its own durable feed (on_webhook_events).
        let live = self.config.webhook_durable.is_none();
        if let Some(webhook) =
            self.webhook.clone().filter(|_| live && dispatch.intent & WEBHOOK_INTENTS != 0)
        {
            let frame = self.webhook_frame(dispatch.t, &event_id, &body);
            webhook.do_send(WebhookDispatch { frame, event: None });
        }
        for session in self.sessions.values_mut() {
            if session.intents & dispatch.intent == 0 {
                continue;
            }
            let s = session.next_s;
            session.next_s += 1;
            let frame: Arc<str> = format!(
                "{{\"op\":0,\"s\":{s},\"t\":\"{}\",\"id\":\"{event_id}\",\"d\":{body}}}",
                dispatch.t
            )
            .into();
            session.log.push_back((s, Arc::clone(&frame)));
            while session.log.len() > SESSION_LOG {
                session.log.pop_front();
            }
            if let Some((_, conn)) = &session.conn {
                conn.do_send(SessionFrame(frame));
            }
        }
    }

    fn prune(&mut self) {
        let now = Instant::now();
        self.sessions.retain(|id, s| {
            let keep = s.detached_at.is_none_or(|t| now.duration_since(t) < SESSION_LINGER);
            if !keep {
                debug!("qqbot app: session {id} expired without a resume");
            }
            keep
        });
        self.uploads.retain(|_, (_, at)| now.duration_since(*at) < UPLOAD_TTL);
    }
}

fn encode_of(of: OpenidOf) -> String {
    match of {
        OpenidOf::Group(g) => format!("group:{g}"),
        OpenidOf::Member { group, member } => format!("member:{group}:{member}"),
        OpenidOf::User(u) => format!("user:{u}"),
    }
}

fn decode_of(s: &str) -> Option<OpenidOf> {
    let mut parts = s.split(':');
    let kind = parts.next()?;
    let a: UserId = parts.next()?.parse().ok()?;
    Some(match kind {
        "group" => OpenidOf::Group(a),
        "user" => OpenidOf::User(a),
        "member" => OpenidOf::Member { group: a, member: parts.next()?.parse().ok()? },
        _ => return None,
    })
}

/// Which kind of openid a URL holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// `/v2/groups/{group_openid}`.
    Group,
    /// `/v2/users/{openid}`.
    User,
}

/// Wakes the app to take the bot's queued events.
#[derive(Message)]
#[rtype(result = "()")]
struct Pump;

impl Actor for QqApp {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let addr = ctx.address();
        self.outbox.set_waker(move || addr.do_send(Pump));
        let addr = ctx.address();
        self.webhook_feed.set_waker(move || addr.do_send(PumpWebhook));
        let subscribe = Subscribe {
            outbox: self.outbox.clone(),
            filter: EventFilter::All,
            label: format!("qqbot app {}", self.config.app_id),
            durable: None,
        };
        self.config.bot_addr.do_send(subscribe);
        if let Some(store) = self.config.store.clone() {
            let load = store.send(LoadIds { bot: self.config.bot });
            ctx.wait(load.into_actor(self).map(|result, act, _| match result {
                Ok(Ok(rows)) => {
                    for row in rows.into_iter().filter(|r| r.space == IdSpace::Openid) {
                        act.next_openid_row = act.next_openid_row.max(row.id + 1);
                        if let Some((openid, of)) = row.key.split_once('=') {
                            if let Some(of) = decode_of(of) {
                                act.openids.insert(openid.to_owned(), of);
                            }
                        }
                    }
                }
                Ok(Err(e)) => warn!("qqbot app: reading openids failed: {e}"),
                Err(e) => warn!("qqbot app: the store is unavailable: {e}"),
            }));
        }
        // Waited for, like the openids: a `/users/@me` or READY handled before the bot's name
        // came back said "" (a loaded machine made it happen). Bounded: a bot whose platform
        // does not answer leaves the name empty rather than the app stopped.
        let name =
            self.config.bot_addr.send(Execute(Command::BotInfo)).timeout(Duration::from_secs(5));
        ctx.wait(name.into_actor(self).map(|result, act, _| {
            if let Ok(Ok(CommandOutput::Friend(me))) = result {
                act.nickname = me.nickname;
            }
        }));
        ctx.run_interval(Duration::from_secs(30), |act, _| act.prune());
        if let Some(webhook) = self.config.webhook.clone() {
            info!("qqbot app {}: dispatches go to {}", self.config.app_id, webhook.url);
            let clustered = self.config.webhook_durable.is_some();
            self.webhook = Some(QqWebhookSender::new(webhook, clustered).start());
        }
        info!("qqbot app {} drives bot {}", self.config.app_id, self.config.bot);
    }
}

impl Handler<Pump> for QqApp {
    type Result = ();

    fn handle(&mut self, _: Pump, _: &mut Self::Context) {
        self.on_events();
    }
}

/// Wakes the app to take its webhook feed's events (in a cluster).
#[derive(Message)]
#[rtype(result = "()")]
struct PumpWebhook;

impl Handler<PumpWebhook> for QqApp {
    type Result = ();

    fn handle(&mut self, _: PumpWebhook, _: &mut Self::Context) {
        self.on_webhook_events();
    }
}

impl Handler<SetActive> for QqApp {
    type Result = ResponseActFuture<Self, ()>;

    /// The app's webhook as a cluster's destination: on its owner the sender is active and
    /// fed from the webhook's durable feed; standing down, the sender lets a POST in flight
    /// be answered, then the feed records its position for the next owner.
    fn handle(&mut self, msg: SetActive, ctx: &mut Self::Context) -> Self::Result {
        let (Some(webhook), Some(durable)) =
            (self.webhook.clone(), self.config.webhook_durable.clone())
        else {
            return Box::pin(fut::ready(()));
        };
        if msg.0 != self.webhook_standby {
            return Box::pin(fut::ready(()));
        }
        self.webhook_standby = !msg.0;
        if msg.0 {
            webhook.do_send(SetActive(true));
            let bot = self.config.bot_addr.clone();
            let subscribe = Subscribe {
                outbox: self.webhook_feed.clone(),
                filter: EventFilter::All,
                label: format!("qqbot app {} webhook", self.config.app_id),
                durable: Some(durable),
            };
            let app_id = self.config.app_id.clone();
            ctx.spawn(bot.send(subscribe).into_actor(self).map(move |r, act, _| match r {
                Ok(id) if act.webhook_standby => bot.do_send(Unsubscribe(id)),
                Ok(id) => act.webhook_subscription = Some(id),
                Err(e) => warn!("qqbot app {app_id}: its webhook's feed did not start: {e}"),
            }));
            return Box::pin(fut::ready(()));
        }
        let subscription = self.webhook_subscription.take();
        let bot = self.config.bot_addr.clone();
        Box::pin(
            async move {
                let _ = webhook.send(SetActive(false)).await;
                if let Some(id) = subscription {
                    let _ = bot.send(Unsubscribe(id)).await;
                }
            }
            .into_actor(self)
            .map(|_, act, _| {
                // What the feed handed over and was not sent is the next owner's.
                let _ = act.webhook_feed.drain(usize::MAX);
            }),
        )
    }
}

impl Handler<Redial> for QqApp {
    type Result = ();

    fn handle(&mut self, msg: Redial, _: &mut Self::Context) {
        if let Some(webhook) = &self.webhook {
            webhook.do_send(msg);
        }
    }
}

impl Handler<GetDestinationStatus> for QqApp {
    type Result = ResponseFuture<DestinationStatus>;

    fn handle(&mut self, msg: GetDestinationStatus, _: &mut Self::Context) -> Self::Result {
        let webhook = self.webhook.clone();
        let app_id = self.config.app_id.clone();
        Box::pin(async move {
            let unavailable = DestinationStatus {
                name: format!("qqbot app {app_id} (no webhook)"),
                connected: false,
                verified_qq: None,
                buffered: 0,
                dropped: 0,
                last_error: None,
            };
            match webhook {
                Some(webhook) => webhook.send(msg).await.unwrap_or(unavailable),
                None => unavailable,
            }
        })
    }
}

/// Starts a session (op 2): answers its id and the READY frame.
#[derive(Message)]
#[rtype(result = "(String, Arc<str>)")]
pub struct Identify {
    /// The intents identified with.
    pub intents: u64,
    /// The shard asked for.
    pub shard: Value,
    /// The socket's number.
    pub conn_id: u64,
    /// Where its frames go.
    pub conn: Recipient<SessionFrame>,
}

impl Handler<Identify> for QqApp {
    type Result = MessageResult<Identify>;

    fn handle(&mut self, msg: Identify, _: &mut Self::Context) -> Self::Result {
        let session_id = self.next_id("session");
        let shard = if msg.shard.as_array().is_some_and(|a| a.len() == 2) {
            msg.shard
        } else {
            json!([0, 1])
        };
        let ready = json!({"op": 0, "s": 1, "t": "READY", "d": {
            "version": 1, "session_id": session_id,
            "user": {"id": self.config.bot.to_string(), "username": self.nickname, "bot": true,
                     "status": 1},
            "shard": shard}});
        self.sessions.insert(
            session_id.clone(),
            Session {
                intents: msg.intents,
                log: VecDeque::new(),
                next_s: 2,
                conn: Some((msg.conn_id, msg.conn)),
                detached_at: None,
            },
        );
        debug!("qqbot app {}: session {session_id} identified", self.config.app_id);
        MessageResult((session_id, ready.to_string().into()))
    }
}

/// Resumes a session (op 6): answers what it missed after `seq` and RESUMED, or `None`
/// when it cannot be resumed (unknown, expired, or more missed than its log holds).
#[derive(Message)]
#[rtype(result = "Option<Vec<Arc<str>>>")]
pub struct Resume {
    /// The session.
    pub session_id: String,
    /// The last `s` the client saw.
    pub seq: u64,
    /// The socket's number.
    pub conn_id: u64,
    /// Where its frames go.
    pub conn: Recipient<SessionFrame>,
}

impl Handler<Resume> for QqApp {
    type Result = Option<Vec<Arc<str>>>;

    fn handle(&mut self, msg: Resume, _: &mut Self::Context) -> Self::Result {
        let session = self.sessions.get_mut(&msg.session_id)?;
        let oldest = session.log.front().map_or(session.next_s, |(s, _)| *s);
        if msg.seq + 1 < oldest || msg.seq >= session.next_s {
            return None;
        }
        let mut frames: Vec<Arc<str>> =
            session.log.iter().filter(|(s, _)| *s > msg.seq).map(|(_, f)| Arc::clone(f)).collect();
        let s = session.next_s;
        session.next_s += 1;
        frames.push(format!("{{\"op\":0,\"s\":{s},\"t\":\"RESUMED\",\"d\":\"\"}}").into());
        session.conn = Some((msg.conn_id, msg.conn));
        session.detached_at = None;
        Some(frames)
    }
}

/// A session's socket went away; the session waits for a resume.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Detach {
    /// The session.
    pub session_id: String,
    /// The socket's number (a newer socket may already have resumed it).
    pub conn_id: u64,
}

impl Handler<Detach> for QqApp {
    type Result = ();

    fn handle(&mut self, msg: Detach, _: &mut Self::Context) {
        if let Some(s) = self.sessions.get_mut(&msg.session_id) {
            if s.conn.as_ref().is_some_and(|(id, _)| *id == msg.conn_id) {
                s.conn = None;
                s.detached_at = Some(Instant::now());
            }
        }
    }
}

/// Asks every live session to reconnect (op 7), as the platform does before a gateway goes
/// away: the SDKs resume, or identify afresh if botgate restarted.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AskReconnect;

impl Handler<AskReconnect> for QqApp {
    type Result = ();

    fn handle(&mut self, _: AskReconnect, _: &mut Self::Context) {
        let frame: Arc<str> =
            json!({"op": crate::protocol::qqbot::payload::RECONNECT}).to_string().into();
        for session in self.sessions.values() {
            if let Some((_, conn)) = &session.conn {
                conn.do_send(SessionFrame(Arc::clone(&frame)));
            }
        }
    }
}

/// How many sessions have a socket now (for `/healthz`).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct LiveSessions;

impl Handler<LiveSessions> for QqApp {
    type Result = usize;

    fn handle(&mut self, _: LiveSessions, _: &mut Self::Context) -> usize {
        self.sessions.values().filter(|s| s.conn.is_some()).count()
    }
}

/// The bot as `/users/@me` shows it.
#[derive(Message)]
#[rtype(result = "Value")]
pub struct Me;

impl Handler<Me> for QqApp {
    type Result = MessageResult<Me>;

    fn handle(&mut self, _: Me, _: &mut Self::Context) -> Self::Result {
        MessageResult(json!({"id": self.config.bot.to_string(), "username": self.nickname,
                             "avatar": "", "bot": true, "union_openid": "", "union_user_account": ""}))
    }
}

/// A message an SDK posts to a group or user.
#[derive(Message)]
#[rtype(result = "Result<Value, Refusal>")]
pub struct PostMessage {
    /// Group or user.
    pub kind: ScopeKind,
    /// The openid in the URL.
    pub openid: String,
    /// The body.
    pub body: Value,
}

impl Handler<PostMessage> for QqApp {
    type Result = ResponseActFuture<Self, Result<Value, Refusal>>;

    fn handle(&mut self, msg: PostMessage, _: &mut Self::Context) -> Self::Result {
        let ready = (|| {
            let scope = self.scope_of(msg.kind, &msg.openid)?;
            let uploads = &self.uploads;
            let openids = &self.openids;
            let segments = served::message_of_body(
                &msg.body,
                |info| uploads.get(info).map(|(u, _)| u.clone()),
                |openid| match openids.get(openid) {
                    Some(OpenidOf::Member { member, .. }) => Some(*member),
                    _ => None,
                },
            )?;
            let passive = self.rules.check(scope, &msg.body, Instant::now())?;
            Ok::<_, Refusal>((scope, segments, passive))
        })();
        let (scope, segments, passive) = match ready {
            Ok(r) => r,
            Err(e) => return Box::pin(fut::ready(Err(e))),
        };
        let target = match scope {
            ReplyScope::Group(g) => MessageTarget::Group(g),
            ReplyScope::User(u) => MessageTarget::Friend(u),
        };
        let timer = crate::metrics::command_timer("qqbot", "SendMessage");
        let send = self.config.bot_addr.send(Execute(Command::SendMessage {
            target,
            message: segments,
            quote: None,
        }));
        Box::pin(send.into_actor(self).map(move |result, act, _| {
            drop(timer);
            let message_id = match result {
                Ok(Ok(CommandOutput::Sent { message_id })) => message_id,
                Ok(Ok(other)) => return Err(refusal_of(&BotError::Internal(format!("{other:?}")))),
                Ok(Err(e)) => return Err(refusal_of(&e)),
                Err(e) => return Err(refusal_of(&BotError::Internal(e.to_string()))),
            };
            act.rules.replied(&passive);
            Ok(json!({"id": served::message_id(message_id),
                      "timestamp": served::rfc3339(crate::bot::unix_now())}))
        }))
    }
}

fn refusal_of(e: &BotError) -> Refusal {
    let code = match e {
        BotError::NoSuchElement(_) => 40054003,
        BotError::BotMuted => 40054002,
        BotError::PermissionDenied(_) => 40054001,
        BotError::MessageTooLarge => 40054007,
        BotError::InvalidParameter(_) => 40034001,
        _ => 50000,
    };
    Refusal { code, message: e.to_string() }
}

/// A file an SDK uploads (`/v2/{groups|users}/{openid}/files`).
#[derive(Message)]
#[rtype(result = "Result<Value, Refusal>")]
pub struct UploadFile {
    /// Group or user.
    pub kind: ScopeKind,
    /// The openid in the URL.
    pub openid: String,
    /// The body: `file_type`, `url` or `file_data`, `srv_send_msg`.
    pub body: Value,
}

impl Handler<UploadFile> for QqApp {
    type Result = Result<Value, Refusal>;

    fn handle(&mut self, msg: UploadFile, _: &mut Self::Context) -> Self::Result {
        self.scope_of(msg.kind, &msg.openid)?;
        let body = &msg.body;
        let file_type = body.get("file_type").and_then(crate::protocol::lenient::int_from_value);
        let Some(file_type @ 1..=4) = file_type else {
            return Err(Refusal { code: 40034001, message: "file_type 不合法".into() });
        };
        if body.get("srv_send_msg").and_then(Value::as_bool) == Some(true) {
            return Err(Refusal {
                code: 40034102, message: "主动消息失败, 无权限".into()
            });
        }
        let text = |k: &str| body.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let media = match (text("url"), text("file_data")) {
            (Some(url), _) => Media { url: Some(url.to_owned()), ..Media::default() },
            (None, Some(data)) => Media { base64: Some(data.to_owned()), ..Media::default() },
            (None, None) => {
                return Err(Refusal { code: 40034001, message: "需要 url 或 file_data".into() })
            }
        };
        let info = self.next_id("file");
        let info = base64_of(&info);
        self.uploads.insert(info.clone(), (Upload { file_type, media }, Instant::now()));
        Ok(json!({"file_uuid": info, "file_info": info, "ttl": UPLOAD_TTL.as_secs()}))
    }
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(s)
}

/// Recalls a message an SDK sent (`DELETE /v2/{groups|users}/{openid}/messages/{id}`).
#[derive(Message)]
#[rtype(result = "Result<(), Refusal>")]
pub struct RecallMessage {
    /// Group or user.
    pub kind: ScopeKind,
    /// The openid in the URL.
    pub openid: String,
    /// The message id.
    pub message_id: String,
}

impl Handler<RecallMessage> for QqApp {
    type Result = ResponseFuture<Result<(), Refusal>>;

    fn handle(&mut self, msg: RecallMessage, _: &mut Self::Context) -> Self::Result {
        let scope = match self.scope_of(msg.kind, &msg.openid) {
            Ok(s) => s,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let Some(id) = served::message_number(&msg.message_id) else {
            let e = Refusal { code: 40034024, message: "message_id 不存在".into() };
            return Box::pin(std::future::ready(Err(e)));
        };
        let context = match scope {
            ReplyScope::Group(g) | ReplyScope::User(g) => g,
        };
        let recall = self
            .config
            .bot_addr
            .send(Execute(Command::Recall { context: Some(context), message_id: id }));
        Box::pin(async move {
            let _timer = crate::metrics::command_timer("qqbot", "Recall");
            match recall.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(refusal_of(&e)),
                Err(e) => Err(refusal_of(&BotError::Internal(e.to_string()))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_633_600;

    #[test]
    fn a_token_holds_on_any_botgate_with_the_app_until_it_expires() {
        let issuer = AppTokens::new("102000001", "s3cret");
        let token = issuer.issue_at(NOW);
        // Another node, or this one after a restart: the same app, nothing shared in memory.
        let other = AppTokens::new("102000001", "s3cret");
        assert!(other.valid_at(&token, NOW));
        assert!(other.valid_at(&token, NOW + TOKEN_LIFETIME.as_secs() - 1));
        assert!(!other.valid_at(&token, NOW + TOKEN_LIFETIME.as_secs()), "expired");
        assert_ne!(issuer.issue_at(NOW), token, "each token is new");
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn a_token_of_another_app_or_secret_or_altered_is_refused() {
        let tokens = AppTokens::new("102000001", "s3cret");
        let token = tokens.issue_at(NOW);
        assert!(!AppTokens::new("102000002", "s3cret").valid_at(&token, NOW));
        assert!(!AppTokens::new("102000001", "other").valid_at(&token, NOW));
        // A later expiry written into a real token breaks its MAC.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        bytes[..TOKEN_EXPIRY].copy_from_slice(&(NOW + 86_400 * 365).to_be_bytes());
        assert!(!tokens.valid_at(&URL_SAFE_NO_PAD.encode(&bytes), NOW));
        for garbage in ["", "abc", "!!!!", &token[..token.len() - 2], &format!("{token}AA")] {
            assert!(!tokens.valid_at(garbage, NOW), "{garbage:?}");
        }
    }
}
