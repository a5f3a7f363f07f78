//! [`SessionRegistry`]: the one actor that checks verifyKeys, creates and binds session keys,
//! counts each session's users across adapters, expires unbound sessions, implements
//! `singleMode` / `enableVerify`, and knows the address of every bot account.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use log::{debug, info, warn};
use rand::distr::Alphanumeric;
use rand::Rng;

use crate::bot::BotActor;
use crate::cluster::sessions::{Sessions, SharedSession};
use crate::model::UserId;
use crate::secret::Secret;

/// The key of the one shared session in `singleMode`, as mirai-api-http names it.
pub const SINGLE_SESSION: &str = "SINGLE_SESSION";

/// Length of generated session keys. mirai-api-http uses 8 characters; 16 alphanumerics
/// (95 bits) cannot be guessed, and no client depends on the length.
const SESSION_KEY_LEN: usize = 16;

/// Why a session operation failed. The mirai codec maps these to state codes 1–4, 6, 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The verifyKey is wrong.
    #[error("wrong verifyKey")]
    AuthKeyFail,
    /// The requested bot account does not exist.
    #[error("no such bot")]
    NoBot,
    /// The session key is unknown (never issued, expired or released).
    #[error("unknown session")]
    IllegalSession,
    /// The session exists but is not bound to a bot yet.
    #[error("session not bound")]
    NotVerified,
    /// Neither a session key nor a qq was given.
    #[error("a sessionKey or a qq is required")]
    MissingParameter,
    /// The operation makes no sense in this mode (`bind` in singleMode).
    #[error("not supported in this mode")]
    Unsupported,
}

/// The registry's settings, from the `mirai:` section of the config.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The configured verifyKey.
    pub verify_key: Secret,
    /// Whether verifyKey is checked at all.
    pub enable_verify: bool,
    /// Whether every client shares the one `SINGLE_SESSION` bound to the first bot.
    pub single_mode: bool,
    /// How long a created but unbound session lives (3 minutes in mirai-api-http).
    pub unbound_session_ttl: Duration,
}

/// A session bound to a bot, handed to the adapter that authenticated it.
#[derive(Debug, Clone)]
pub struct BoundSession {
    /// The session key.
    pub key: String,
    /// The bot account it is bound to.
    pub qq: UserId,
    /// The bot's actor.
    pub bot: Addr<BotActor>,
}

#[derive(Debug)]
struct Session {
    bot: Option<UserId>,
    refs: u32,
}

/// The session registry actor.
pub struct SessionRegistry {
    config: RegistryConfig,
    bots: Vec<(UserId, Addr<BotActor>)>,
    /// This node's sessions; in a cluster, every session of the cluster as the bucket's
    /// watch reported it, with this node's references.
    sessions: HashMap<String, Session>,
    /// In a cluster, the sessions every node shares.
    shared: Option<Sessions>,
}

/// A registry's answer that may wait for the cluster's sessions.
type Answer<T> = ResponseActFuture<SessionRegistry, Result<T, SessionError>>;

fn ready<T: 'static>(result: Result<T, SessionError>) -> Answer<T> {
    Box::pin(fut::ready(result))
}

/// Logs a failed change of the cluster's sessions: the session then works on this node.
fn shared_failed(what: &str, e: &crate::cluster::ClusterError) {
    warn!("sessions: {what} not shared with the cluster: {e}");
}

impl SessionRegistry {
    /// A registry over the given bots, in config order (the first is `singleMode`'s bot).
    pub fn new(config: RegistryConfig, bots: Vec<(UserId, Addr<BotActor>)>) -> Self {
        SessionRegistry { config, bots, sessions: HashMap::new(), shared: None }
    }

    /// In a cluster: sessions are created, bound, counted and closed in `shared`, so a key
    /// verified on one node works on every node (`singleMode`'s one session is the same on
    /// every node by name).
    pub fn with_shared(mut self, shared: Sessions) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Session `key` from the cluster, when this node does not know it (yet): created or
    /// bound on another node a moment ago.
    fn fetch(
        &self,
        key: String,
    ) -> Option<impl std::future::Future<Output = Option<SharedSession>>> {
        let shared = self.shared.clone()?;
        Some(async move {
            match shared.get(&key).await {
                Ok(found) => found,
                Err(e) => {
                    shared_failed("a lookup", &e);
                    None
                }
            }
        })
    }

    /// Adds `delta` references to `key` in the cluster.
    fn share_reference(&self, key: &str, delta: i32) -> impl std::future::Future<Output = ()> {
        let (shared, key) = (self.shared.clone(), key.to_owned());
        async move {
            if let Some(shared) = shared {
                if let Err(e) = shared.reference(&key, delta).await {
                    shared_failed("a reference", &e);
                }
            }
        }
    }

    fn bot(&self, qq: UserId) -> Option<&Addr<BotActor>> {
        self.bots.iter().find(|(id, _)| *id == qq).map(|(_, a)| a)
    }

    fn check_key(&self, presented: Option<&str>) -> Result<(), SessionError> {
        if !self.config.enable_verify {
            return Ok(());
        }
        match presented {
            Some(k) if self.config.verify_key.matches(k) => Ok(()),
            _ => Err(SessionError::AuthKeyFail),
        }
    }

    fn new_key(&self) -> String {
        loop {
            let key: String = rand::rng()
                .sample_iter(&Alphanumeric)
                .take(SESSION_KEY_LEN)
                .map(char::from)
                .collect();
            if !self.sessions.contains_key(&key) && key != SINGLE_SESSION {
                return key;
            }
        }
    }

    fn bound(&self, key: &str) -> Result<BoundSession, SessionError> {
        let session = self.sessions.get(key).ok_or(SessionError::IllegalSession)?;
        let qq = session.bot.ok_or(SessionError::NotVerified)?;
        let bot = self.bot(qq).ok_or(SessionError::NoBot)?.clone();
        Ok(BoundSession { key: key.to_owned(), qq, bot })
    }

    /// The single session, created and bound to the first bot on first use.
    fn single_session(&mut self) -> Result<BoundSession, SessionError> {
        let (qq, _) = self.bots.first().ok_or(SessionError::NoBot)?;
        let qq = *qq;
        self.sessions
            .entry(SINGLE_SESSION.to_owned())
            .or_insert(Session { bot: Some(qq), refs: 0 });
        self.bound(SINGLE_SESSION)
    }
}

impl Actor for SessionRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        if let Some(shared) = self.shared.clone() {
            // Every node's view follows the bucket: sessions created, bound and closed
            // elsewhere.
            let watch = async move { shared.watch().await };
            ctx.wait(watch.into_actor(self).map(|watch, _, ctx| match watch {
                Ok(changes) => {
                    ctx.add_stream(changes);
                }
                Err(e) => warn!("sessions: {e}; sessions of other nodes are looked up instead"),
            }));
        }
    }
}

impl StreamHandler<(String, Option<SharedSession>)> for SessionRegistry {
    fn handle(&mut self, (key, session): (String, Option<SharedSession>), _: &mut Context<Self>) {
        match session {
            Some(s) => self.learn(key, s),
            None => {
                self.sessions.remove(&key);
            }
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {
        warn!("sessions: the cluster's watch ended; sessions of other nodes are looked up");
    }
}

/// One-step authentication of a ws or reverse-ws connection (mirai-api-http's order: key,
/// single mode, new session for `qq`, existing `sessionKey`). On success the session's
/// reference count goes up by one; the connection sends [`Release`] when it ends.
#[derive(Message)]
#[rtype(result = "Result<BoundSession, SessionError>")]
pub struct Authenticate {
    /// The verifyKey presented.
    pub verify_key: Option<String>,
    /// An existing session key to attach to.
    pub session_key: Option<String>,
    /// A bot to bind a new session to.
    pub qq: Option<UserId>,
}

impl Handler<Authenticate> for SessionRegistry {
    type Result = Answer<BoundSession>;

    fn handle(&mut self, msg: Authenticate, _: &mut Self::Context) -> Self::Result {
        if let Err(e) = self.check_key(msg.verify_key.as_deref()) {
            return ready(Err(e));
        }
        let session_key = msg.session_key.filter(|k| !k.is_empty());
        if self.config.single_mode {
            return ready(self.single_session().map(|bound| self.attach(bound)));
        }
        match (session_key, msg.qq) {
            (Some(key), _) => match (self.bound(&key), self.fetch(key.clone())) {
                (Err(SessionError::IllegalSession), Some(fetch)) => {
                    // Verified on another node a moment ago: this node learns it first.
                    Box::pin(fetch.into_actor(self).then(move |found, act, _| {
                        if let Some(found) = found {
                            act.learn(key.clone(), found);
                        }
                        let bound = act.bound(&key).map(|bound| act.attach(bound));
                        let shared = bound.as_ref().ok().map(|_| act.share_reference(&key, 1));
                        async move {
                            if let Some(shared) = shared {
                                shared.await;
                            }
                            bound
                        }
                        .into_actor(act)
                    }))
                }
                (Ok(bound), _) => {
                    let bound = self.attach(bound);
                    let shared = self.share_reference(&bound.key, 1);
                    Box::pin(
                        async move {
                            shared.await;
                            Ok(bound)
                        }
                        .into_actor(self),
                    )
                }
                (Err(e), _) => ready(Err(e)),
            },
            (None, Some(qq)) => {
                let Some(bot) = self.bot(qq).cloned() else {
                    return ready(Err(SessionError::NoBot));
                };
                let key = self.new_key();
                self.sessions.insert(key.clone(), Session { bot: Some(qq), refs: 0 });
                let bound = self.attach(BoundSession { key, qq, bot });
                let shared = self.shared.clone();
                Box::pin(
                    async move {
                        if let Some(shared) = shared {
                            let created = shared.create(&bound.key, Some(qq)).await;
                            let counted = match created {
                                Ok(()) => shared.reference(&bound.key, 1).await.map(|_| ()),
                                Err(e) => Err(e),
                            };
                            if let Err(e) = counted {
                                shared_failed("a new session", &e);
                            }
                        }
                        Ok(bound)
                    }
                    .into_actor(self),
                )
            }
            (None, None) => ready(Err(SessionError::MissingParameter)),
        }
    }
}

impl SessionRegistry {
    /// Takes in a session as the cluster has it (this node's references unchanged).
    fn learn(&mut self, key: String, found: SharedSession) {
        self.sessions.entry(key).or_insert(Session { bot: None, refs: 0 }).bot = found.bot;
    }

    /// Counts one more user of `bound` on this node.
    fn attach(&mut self, bound: BoundSession) -> BoundSession {
        if let Some(s) = self.sessions.get_mut(&bound.key) {
            s.refs += 1;
        }
        debug!("session bound to bot {} (adapter connection attached)", bound.qq);
        bound
    }
}

/// Creates a session for the two-step http flow (`/verify`); it must be bound with [`Bind`]
/// before it expires. In `singleMode` this answers the single session, already bound.
#[derive(Message)]
#[rtype(result = "Result<String, SessionError>")]
pub struct CreateSession {
    /// The verifyKey presented.
    pub verify_key: Option<String>,
}

impl Handler<CreateSession> for SessionRegistry {
    type Result = Answer<String>;

    fn handle(&mut self, msg: CreateSession, ctx: &mut Self::Context) -> Self::Result {
        if let Err(e) = self.check_key(msg.verify_key.as_deref()) {
            return ready(Err(e));
        }
        if self.config.single_mode {
            return ready(self.single_session().map(|s| s.key));
        }
        let key = self.new_key();
        self.sessions.insert(key.clone(), Session { bot: None, refs: 0 });
        let expiring = key.clone();
        ctx.run_later(self.config.unbound_session_ttl, move |act, ctx| {
            if act.sessions.get(&expiring).is_some_and(|s| s.bot.is_none()) {
                act.sessions.remove(&expiring);
                debug!("an unbound session expired");
            }
            if let Some(shared) = act.shared.clone() {
                // Bound on another node meanwhile, it lives on.
                let close = async move { shared.close_if_unbound(&expiring).await };
                ctx.spawn(close.into_actor(act).map(|closed, _, _| {
                    if let Err(e) = closed {
                        shared_failed("an expiry", &e);
                    }
                }));
            }
        });
        let shared = self.shared.clone();
        Box::pin(
            async move {
                if let Some(shared) = shared {
                    if let Err(e) = shared.create(&key, None).await {
                        shared_failed("a new session", &e);
                    }
                }
                Ok(key)
            }
            .into_actor(self),
        )
    }
}

/// Binds a created session to a bot (`/bind`); binding counts as one reference.
#[derive(Message)]
#[rtype(result = "Result<(), SessionError>")]
pub struct Bind {
    /// The session key from [`CreateSession`].
    pub session_key: String,
    /// The bot account.
    pub qq: UserId,
}

impl Handler<Bind> for SessionRegistry {
    type Result = Answer<()>;

    fn handle(&mut self, msg: Bind, _: &mut Self::Context) -> Self::Result {
        if self.config.single_mode {
            return ready(Err(SessionError::Unsupported));
        }
        if self.bot(msg.qq).is_none() {
            return ready(Err(SessionError::NoBot));
        }
        let known = self.sessions.contains_key(&msg.session_key);
        let Some(fetch) = self.fetch(msg.session_key.clone()).filter(|_| !known) else {
            return self.bind_known(msg);
        };
        // Created on another node (its /verify went there): learn it, then bind it.
        Box::pin(fetch.into_actor(self).then(move |found, act, _| {
            if let Some(found) = found {
                act.learn(msg.session_key.clone(), found);
            }
            act.bind_known(msg)
        }))
    }
}

impl SessionRegistry {
    /// Binds a session this node knows; binding counts as one reference, on every node.
    fn bind_known(&mut self, msg: Bind) -> Answer<()> {
        let Some(session) = self.sessions.get_mut(&msg.session_key) else {
            return ready(Err(SessionError::IllegalSession));
        };
        if session.bot.is_some() {
            return ready(Ok(()));
        }
        session.bot = Some(msg.qq);
        session.refs += 1;
        let shared = self.shared.clone();
        Box::pin(
            async move {
                if let Some(shared) = shared {
                    let bound = shared.bind(&msg.session_key, msg.qq).await;
                    let counted = match bound {
                        Ok(_) => shared.reference(&msg.session_key, 1).await.map(|_| ()),
                        Err(e) => Err(e),
                    };
                    if let Err(e) = counted {
                        shared_failed("a binding", &e);
                    }
                }
                Ok(())
            }
            .into_actor(self),
        )
    }
}

/// Drops one reference to a session; at zero the session is closed. The single session
/// lives as long as the gateway.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release {
    /// The session key.
    pub session_key: String,
}

impl Handler<Release> for SessionRegistry {
    type Result = ();

    fn handle(&mut self, msg: Release, ctx: &mut Self::Context) {
        if msg.session_key == SINGLE_SESSION {
            if let Some(s) = self.sessions.get_mut(&msg.session_key) {
                s.refs = s.refs.saturating_sub(1);
            }
            return;
        }
        if self.shared.is_some() {
            // Closed when the cluster's count reaches zero; the watch removes it here.
            if let Some(s) = self.sessions.get_mut(&msg.session_key) {
                s.refs = s.refs.saturating_sub(1);
            }
            let released = self.share_reference(&msg.session_key, -1);
            ctx.spawn(released.into_actor(self));
            return;
        }
        if let Some(s) = self.sessions.get_mut(&msg.session_key) {
            s.refs = s.refs.saturating_sub(1);
            if s.refs == 0 {
                self.sessions.remove(&msg.session_key);
                debug!("a session was released by its last user and closed");
            }
        }
    }
}

/// Looks up a bound session (for adapters that carry the key on every request).
#[derive(Message)]
#[rtype(result = "Result<BoundSession, SessionError>")]
pub struct Lookup {
    /// The session key.
    pub session_key: String,
}

impl Handler<Lookup> for SessionRegistry {
    type Result = Answer<BoundSession>;

    fn handle(&mut self, msg: Lookup, _: &mut Self::Context) -> Self::Result {
        if self.config.single_mode {
            return ready(self.single_session());
        }
        match (self.bound(&msg.session_key), self.fetch(msg.session_key.clone())) {
            (Err(SessionError::IllegalSession), Some(fetch)) => {
                let key = msg.session_key;
                Box::pin(fetch.into_actor(self).map(move |found, act, _| {
                    if let Some(found) = found {
                        act.learn(key.clone(), found);
                    }
                    act.bound(&key)
                }))
            }
            (result, _) => ready(result),
        }
    }
}

/// The bot accounts, in config order.
#[derive(Message)]
#[rtype(result = "Vec<(UserId, Addr<BotActor>)>")]
pub struct ListBots;

impl Handler<ListBots> for SessionRegistry {
    type Result = MessageResult<ListBots>;

    fn handle(&mut self, _: ListBots, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.bots.clone())
    }
}

/// How many sessions exist and how many users each has, for status pages and tests.
#[derive(Message)]
#[rtype(result = "SessionStats")]
pub struct GetSessionStats;

/// Counts of sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStats {
    /// All sessions.
    pub sessions: usize,
    /// Sessions not bound yet.
    pub unbound: usize,
    /// References summed over all sessions.
    pub references: u32,
}

impl Handler<GetSessionStats> for SessionRegistry {
    type Result = MessageResult<GetSessionStats>;

    fn handle(&mut self, _: GetSessionStats, _: &mut Self::Context) -> Self::Result {
        let mut stats = SessionStats { sessions: self.sessions.len(), ..Default::default() };
        for s in self.sessions.values() {
            stats.unbound += usize::from(s.bot.is_none());
            stats.references += s.refs;
        }
        MessageResult(stats)
    }
}

/// Every session, for the admin API: never the whole key.
#[derive(Message)]
#[rtype(result = "Vec<SessionInfo>")]
pub struct ListSessions;

/// One session as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The key's first four characters.
    pub key_prefix: String,
    /// The bot it is bound to, once bound.
    pub bot: Option<UserId>,
    /// Connections and bindings using it.
    pub references: u32,
}

impl Handler<ListSessions> for SessionRegistry {
    type Result = MessageResult<ListSessions>;

    fn handle(&mut self, _: ListSessions, _: &mut Self::Context) -> Self::Result {
        let mut all: Vec<SessionInfo> = self
            .sessions
            .iter()
            .map(|(key, s)| SessionInfo {
                key_prefix: key.chars().take(4).collect(),
                bot: s.bot,
                references: s.refs,
            })
            .collect();
        all.sort_by(|a, b| (a.bot, &a.key_prefix).cmp(&(b.bot, &b.key_prefix)));
        MessageResult(all)
    }
}

/// Logs the registry's mode once at start-up (never the key).
pub fn log_mode(config: &RegistryConfig) {
    info!(
        "sessions: enableVerify={} singleMode={} (unbound sessions expire after {:?})",
        config.enable_verify, config.single_mode, config.unbound_session_ttl
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::SimulatedWorldSpec;

    fn registry(single: bool, verify: bool, ttl_ms: u64) -> Addr<SessionRegistry> {
        let bot = BotActor::simulated(10001, &SimulatedWorldSpec::default(), 16).start();
        SessionRegistry::new(
            RegistryConfig {
                verify_key: Secret::new("key"),
                enable_verify: verify,
                single_mode: single,
                unbound_session_ttl: Duration::from_millis(ttl_ms),
            },
            vec![(10001, bot)],
        )
        .start()
    }

    fn auth(key: &str, session: Option<&str>, qq: Option<i64>) -> Authenticate {
        Authenticate {
            verify_key: Some(key.to_owned()),
            session_key: session.map(str::to_owned),
            qq,
        }
    }

    #[actix::test]
    async fn authenticate_follows_mirais_decision_order() {
        let r = registry(false, true, 60_000);
        assert_eq!(
            r.send(auth("bad", None, Some(10001))).await.unwrap().unwrap_err(),
            SessionError::AuthKeyFail
        );
        assert_eq!(
            r.send(auth("key", None, Some(1))).await.unwrap().unwrap_err(),
            SessionError::NoBot
        );
        assert_eq!(
            r.send(auth("key", None, None)).await.unwrap().unwrap_err(),
            SessionError::MissingParameter
        );
        assert_eq!(
            r.send(auth("key", Some("nope"), None)).await.unwrap().unwrap_err(),
            SessionError::IllegalSession
        );
        let s = r.send(auth("key", None, Some(10001))).await.unwrap().unwrap();
        assert_eq!(s.qq, 10001);
        assert_eq!(s.key.len(), SESSION_KEY_LEN);
        // Reusing the key adds a reference; two releases close it.
        let again = r.send(auth("key", Some(&s.key), None)).await.unwrap().unwrap();
        assert_eq!(again.key, s.key);
        assert_eq!(r.send(GetSessionStats).await.unwrap().references, 2);
        r.send(Release { session_key: s.key.clone() }).await.unwrap();
        assert!(r.send(Lookup { session_key: s.key.clone() }).await.unwrap().is_ok());
        r.send(Release { session_key: s.key.clone() }).await.unwrap();
        assert_eq!(
            r.send(Lookup { session_key: s.key }).await.unwrap().unwrap_err(),
            SessionError::IllegalSession
        );
    }

    #[actix::test]
    async fn enable_verify_false_ignores_the_key() {
        let r = registry(false, false, 60_000);
        assert!(r.send(auth("anything", None, Some(10001))).await.unwrap().is_ok());
    }

    #[actix::test]
    async fn single_mode_shares_one_session_that_outlives_its_users() {
        let r = registry(true, true, 60_000);
        let a = r.send(auth("key", None, None)).await.unwrap().unwrap();
        let b = r.send(auth("key", Some("whatever"), Some(5))).await.unwrap().unwrap();
        assert_eq!((a.key.as_str(), b.key.as_str()), (SINGLE_SESSION, SINGLE_SESSION));
        r.send(Release { session_key: a.key.clone() }).await.unwrap();
        r.send(Release { session_key: b.key }).await.unwrap();
        assert!(r.send(Lookup { session_key: a.key }).await.unwrap().is_ok());
        let bind = Bind { session_key: SINGLE_SESSION.into(), qq: 10001 };
        assert_eq!(r.send(bind).await.unwrap().unwrap_err(), SessionError::Unsupported);
        assert_eq!(
            r.send(auth("bad", None, None)).await.unwrap().unwrap_err(),
            SessionError::AuthKeyFail
        );
    }

    #[actix::test]
    async fn unbound_sessions_expire_and_bound_ones_do_not() {
        let r = registry(false, true, 50);
        let idle = r.send(CreateSession { verify_key: Some("key".into()) }).await.unwrap().unwrap();
        let used = r.send(CreateSession { verify_key: Some("key".into()) }).await.unwrap().unwrap();
        assert_eq!(
            r.send(Lookup { session_key: idle.clone() }).await.unwrap().unwrap_err(),
            SessionError::NotVerified
        );
        r.send(Bind { session_key: used.clone(), qq: 10001 }).await.unwrap().unwrap();
        actix::clock::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            r.send(Lookup { session_key: idle }).await.unwrap().unwrap_err(),
            SessionError::IllegalSession
        );
        assert!(r.send(Lookup { session_key: used.clone() }).await.unwrap().is_ok());
        // A bound http key works for a ws connection too.
        assert!(r.send(auth("key", Some(&used), None)).await.unwrap().is_ok());
    }
}
