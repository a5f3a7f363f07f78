//! Start-up: the shared actors are started once, before the HTTP server, and handed to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use botgate_actors::bot::{BotActor, MediaRoot};
use botgate_actors::cluster::sessions::Sessions;
use botgate_actors::cluster::ClusterLink;
use botgate_actors::connection::http_post::{HttpPostConfig, HttpPostDestination, PostProtocol};
use botgate_actors::connection::onebot_reverse::{OneBotReverseClient, OneBotReverseConfig};
use botgate_actors::connection::onebot_upstream::{probe_login, UpstreamConfig, UpstreamMode};
use botgate_actors::connection::onebot_ws::OneBotRole;
use botgate_actors::connection::reverse_ws::{DestinationConfig, ReverseWsDestination};
use botgate_actors::connection::shutdown::ShutDown;
use botgate_actors::connection::tls;
use botgate_actors::connection::ws_server;
use botgate_actors::registry::{self, RegistryConfig, SessionRegistry};
use botgate_actors::secret::Secret;
use botgate_actors::store::{Barrier, MessageStore, MessageStoreConfig, StoreActor};
use log::{info, warn};

use crate::config::{
    merged, Config, OneBotSourceSpec, QqBotSourceSpec, SourceKind, WebhookSetting,
};
use crate::listeners::{self, Listener};
use botgate_actors::bot::Flush;
use botgate_actors::bot::{QqBotConfig, QqTransport};
use botgate_actors::connection::oicq_link::OicqConfig;
use botgate_actors::connection::qqbot_api::QqApiConfig;
use botgate_actors::connection::qqbot_gateway::GatewayConfig;
use botgate_actors::connection::qqbot_served::app::{AppTokens, AskReconnect, QqApp, QqAppConfig};
use botgate_actors::connection::qqbot_served::socket::SocketApp;
use botgate_actors::connection::qqbot_served::webhook::WebhookConfig;

/// How long a created but unbound session lives, as in mirai-api-http.
const UNBOUND_SESSION_TTL: Duration = Duration::from_secs(180);

/// How long one call to the QQ official platform may take.
const QQBOT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The first redial delay of a QQ official gateway session (faster after a stable session).
const QQBOT_RECONNECT: Duration = Duration::from_secs(1);

/// The longest redial delay of a QQ official gateway session.
const QQBOT_MAX_RECONNECT: Duration = Duration::from_secs(60);

/// How often a OneBot source pings its implementation; silent for three intervals, the link
/// is redialled (NapCat's own heartbeat is every 30 s; a ping is answered at once).
const UPSTREAM_HEARTBEAT: Duration = Duration::from_secs(10);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config names something that cannot be used; the text names the key.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source} (change {key} or stop what uses the port)")]
    Bind {
        /// The address.
        addr: String,
        /// The config key that sets it.
        key: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The actors every adapter shares.
#[derive(Clone)]
pub struct Actors {
    /// The session registry.
    pub registry: Addr<SessionRegistry>,
    /// Every bot account, in config order, with its source kind.
    pub bots: Vec<(i64, SourceKind, Addr<BotActor>)>,
    /// The mirai reverse-ws destinations.
    pub destinations: Vec<Addr<ReverseWsDestination>>,
    /// The mirai webhook destinations.
    pub webhooks: Vec<Addr<HttpPostDestination>>,
    /// OneBot's HTTP POST destination.
    pub onebot_posts: Vec<Addr<HttpPostDestination>>,
    /// OneBot's reverse WebSocket connections.
    pub onebot_reverse: Vec<Addr<OneBotReverseClient>>,
    /// The durable store: outbound items and id maps.
    pub store: Addr<StoreActor>,
    /// The message store.
    pub messages: Addr<MessageStore>,
    /// The apps of the QQ official protocol served to SDKs.
    pub qqbot_apps: Vec<SocketApp>,
    /// The cluster link, when this process is one node of a cluster.
    pub cluster: Option<ClusterLink>,
    /// In a cluster, where a bot whose link reached this node is claimed for it.
    pub claims: Option<crate::cluster::Claims>,
    /// Which thread each forward ws connection lives on: beside these bots or on a worker.
    pub placement: ws_server::Placement,
    /// Every WebSocket this gateway's listeners serve, which its shutdown closes with 1001.
    pub served: ws_server::ServedSockets,
}

/// How many forward ws connections live on the bots' thread at once (`connection/ws_server/
/// placement.rs`): a deployment's bot frameworks and business servers; a fan-out to
/// hundreds of clients is written by the listeners' workers.
pub const BESIDE_THE_BOTS: usize = 8;

/// A running gateway.
pub struct Gateway {
    /// Where `server:` (healthz, sim) listens; with `port: 0` this is the port picked.
    pub server_addr: SocketAddr,
    /// Every listener with what it serves.
    pub listeners: Vec<Listener>,
    /// The shared actors.
    pub actors: Actors,
    handles: Vec<actix_web::dev::ServerHandle>,
    running: Vec<actix_web::rt::task::JoinHandle<std::io::Result<()>>>,
    /// This node's leases, in a cluster.
    node: std::sync::Mutex<Option<crate::cluster::Node>>,
}

impl Gateway {
    /// Starts everything the config describes. Must run inside an actix system.
    pub async fn start(config: Config) -> Result<Gateway, StartError> {
        let config = learn_accounts(config).await?;
        let link = match &config.cluster {
            Some(cluster) => Some(crate::cluster::connect(cluster).await?),
            None => None,
        };
        let sessions = match &link {
            Some(link) => Some(crate::cluster::sessions(link).await?),
            None => None,
        };
        let (claims, asks) = match &link {
            Some(link) => {
                let (claims, asks) = crate::cluster::Claims::new(link.clone());
                (Some(claims), Some(asks))
            }
            None => (None, None),
        };
        let mut actors = start_actors(&config, link, sessions)?;
        actors.claims = claims;
        announce_metrics(&config, &actors);
        let (listeners, servers) = listeners::start(&config, actors.clone())?;
        for l in &listeners {
            let names: Vec<&str> = l.mounts.iter().map(|m| m.name()).collect();
            info!("listening on {} for {}", l.addr, names.join(" + "));
        }
        let server_addr = listeners
            .iter()
            .find(|l| l.mounts.contains(&listeners::Mount::Botgate))
            .map(|l| l.addr)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let handles = servers.iter().map(|s| s.handle()).collect();
        // A server only accepts connections while its future is polled.
        let running = servers.into_iter().map(actix_web::rt::spawn).collect();
        let node = match (&actors.cluster, asks) {
            (Some(link), Some(asks)) => {
                let pinned = config
                    .bots
                    .iter()
                    .filter(|b| b.onebot.as_ref().is_some_and(|ob| ob.mode == "reverse"))
                    .map(|b| b.qq)
                    .collect();
                Some(crate::cluster::Node::start(link.clone(), &actors, &pinned, asks).await?)
            }
            _ => None,
        };
        let node = std::sync::Mutex::new(node);
        Ok(Gateway { server_addr, listeners, actors, handles, running, node })
    }

    /// Where the listener serving `mount` is bound.
    pub fn addr_of(&self, mount: listeners::Mount) -> Option<SocketAddr> {
        self.listeners.iter().find(|l| l.mounts.contains(&mount)).map(|l| l.addr)
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully ([`Gateway::shutdown`]).
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        use actix_web::rt::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let running = std::mem::take(&mut self.running);
        let servers = futures_util::future::try_join_all(
            running.into_iter().map(|r| async { r.await.map_err(std::io::Error::other)? }),
        );
        tokio_select(servers, term.recv(), int.recv()).await?;
        self.shutdown().await;
        Ok(())
    }

    /// Stops gracefully: SDK sessions of the served QQ protocol are asked to reconnect (op 7),
    /// every served WebSocket client is closed with 1001, the listeners stop (finishing
    /// requests in flight, so nothing new is accepted), every bot's unstored messages are
    /// written, every destination stores what waits for it and closes its link with 1001,
    /// and the store writes what it was sent.
    pub async fn shutdown(&self) {
        info!("shutting down");
        for app in &self.actors.qqbot_apps {
            let _ = app.app.send(AskReconnect).await;
        }
        // Let the sockets' actors write the op 7 frames before the close frames.
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        let closed = self.actors.served.close_all("botgate is shutting down");
        self.stop().await;
        let node = self.node.lock().ok().and_then(|mut n| n.take());
        if let Some(mut node) = node {
            // Sources stop, destinations record what they delivered, leases go back: the
            // other nodes take over at once instead of after a lease.
            node.leave().await;
        }
        let flushes = self.actors.bots.iter().map(|(_, _, bot)| bot.send(Flush));
        futures_util::future::join_all(flushes).await;
        let a = &self.actors;
        let destinations: Vec<actix::Recipient<ShutDown>> = (a.destinations.iter())
            .map(|d| d.clone().recipient())
            .chain(a.webhooks.iter().chain(&a.onebot_posts).map(|d| d.clone().recipient()))
            .chain(a.onebot_reverse.iter().map(|d| d.clone().recipient()))
            .collect();
        futures_util::future::join_all(destinations.iter().map(|d| d.send(ShutDown))).await;
        let _ = a.store.send(Barrier).await;
        let _ = a.messages.send(Barrier).await;
        info!("{closed} clients closed with 1001; messages and waiting events stored");
    }

    /// Stops every listener gracefully, and with them their connections — those on the bots'
    /// thread too, which outlives the listeners' workers.
    pub async fn stop(&self) {
        for handle in &self.handles {
            handle.stop(true).await;
        }
        self.actors.placement.hang_up();
    }
}

/// Makes the metrics of what this config runs exist from the start (at zero).
fn announce_metrics(config: &Config, actors: &Actors) {
    let bots: Vec<(i64, &str)> =
        actors.bots.iter().map(|(qq, source, _)| (*qq, source.name())).collect();
    let mut adapters = vec!["console"];
    let mut links = Vec::new();
    let mut posts = Vec::new();
    let mirai = &config.mirai.adapters;
    if mirai.iter().any(|a| a == "ws") {
        adapters.push("mirai ws");
    }
    if !actors.destinations.is_empty() {
        adapters.push("mirai reverse-ws");
        links.push("mirai reverse-ws");
    }
    if !actors.webhooks.is_empty() {
        adapters.push("mirai webhook");
        posts.push("mirai webhook");
    }
    if let Some(ob) = &config.onebot {
        if ob.use_ws {
            adapters.push("OneBot ws");
        }
    }
    if !actors.onebot_posts.is_empty() {
        adapters.push("onebot http post");
        posts.push("onebot http post");
    }
    if !actors.onebot_reverse.is_empty() {
        adapters.push("onebot reverse ws");
        links.push("onebot reverse ws");
    }
    if !actors.qqbot_apps.is_empty() {
        adapters.push("qqbot gateway");
    }
    if config.oicq_webd.as_ref().is_some_and(|o| o.enabled) {
        adapters.push("oicq_webd ws");
    }
    for (_, source, _) in &actors.bots {
        match source {
            SourceKind::Onebot => links.push("onebot source"),
            SourceKind::Qqbot => links.push("qqbot gateway source"),
            SourceKind::OicqWebd => links.push("oicq-webd source"),
            SourceKind::Simulated => {}
        }
    }
    botgate_actors::metrics::announce(&bots, &adapters, &links, &posts);
}

/// How a OneBot-sourced bot reaches its implementation.
fn upstream_config(
    qq: i64,
    ob: &OneBotSourceSpec,
    config: &Config,
    tls: &Arc<rustls::ClientConfig>,
) -> UpstreamConfig {
    UpstreamConfig {
        label: qq.to_string(),
        mode: if ob.mode == "reverse" { UpstreamMode::Reverse } else { UpstreamMode::Forward },
        url: ob.url.clone(),
        access_token: ob.access_token.clone(),
        reconnect_interval: Duration::from_millis(ob.reconnect_interval),
        max_reconnect_interval: Duration::from_millis(ob.max_reconnect_interval),
        action_timeout: Duration::from_millis(ob.action_timeout),
        heartbeat_interval: UPSTREAM_HEARTBEAT,
        max_frame_size: config.server.max_frame_size,
        tls: Arc::clone(tls),
    }
}

/// How a QQ official bot reaches the platform.
fn qqbot_config(
    qq: i64,
    q: &QqBotSourceSpec,
    config: &Config,
    tls: &Arc<rustls::ClientConfig>,
) -> QqBotConfig {
    let label = format!("bot {qq}");
    QqBotConfig {
        transport: if q.transport == "webhook" {
            QqTransport::Webhook
        } else {
            QqTransport::WebSocket
        },
        api: QqApiConfig {
            label: label.clone(),
            app_id: q.app_id.clone(),
            secret: q.secret.clone(),
            api_base: q.api_base.clone(),
            token_url: q.token_url.clone(),
            timeout: QQBOT_CALL_TIMEOUT,
            tls: Arc::clone(tls),
        },
        gateway: GatewayConfig {
            label,
            // Validated at load: a config that got here has a mask.
            intents: q.intent_mask().unwrap_or(1),
            reconnect_interval: QQBOT_RECONNECT,
            max_reconnect_interval: QQBOT_MAX_RECONNECT,
            max_frame_size: config.server.max_frame_size,
            tls: Arc::clone(tls),
        },
    }
}

/// Waits for the servers to end on their own, or for either signal.
async fn tokio_select(
    servers: impl std::future::Future<Output = std::io::Result<Vec<()>>>,
    term: impl std::future::Future<Output = Option<()>>,
    int: impl std::future::Future<Output = Option<()>>,
) -> std::io::Result<()> {
    futures_util::pin_mut!(servers, term, int);
    let signalled = futures_util::future::select(term, int);
    match futures_util::future::select(servers, signalled).await {
        futures_util::future::Either::Left((result, _)) => result.map(|_| ()),
        futures_util::future::Either::Right(_) => Ok(()),
    }
}

/// Starts one app actor per `qqbot.apps` entry.
fn served_qqbot_apps(
    config: &Config,
    bots: &[(i64, SourceKind, Addr<BotActor>)],
    store: &Addr<StoreActor>,
    tls: &Arc<rustls::ClientConfig>,
    mut durability: impl FnMut() -> Option<String>,
) -> Vec<SocketApp> {
    let Some(q) = config.qqbot.as_ref().filter(|q| q.enabled) else {
        return Vec::new();
    };
    q.apps
        .iter()
        .filter_map(|a| {
            let qq = a.served_bot(&config.bots);
            let (_, _, bot) = bots.iter().find(|(b, _, _)| *b == qq)?;
            let tokens = AppTokens::new(&a.app_id, &a.secret);
            let webhook = !a.webhook.is_empty();
            let app = QqApp::new(QqAppConfig {
                app_id: a.app_id.clone(),
                secret: a.secret.clone(),
                bot: qq,
                bot_addr: bot.clone(),
                store: Some(store.clone()),
                outbox_size: config.mirai.adapter_settings.ws.outbox_size,
                webhook: (!a.webhook.is_empty()).then(|| WebhookConfig {
                    app_id: a.app_id.clone(),
                    secret: a.secret.clone(),
                    url: a.webhook.clone(),
                    buffer_size: config.mirai.adapter_settings.ws.outbox_size,
                    retry_interval: QQBOT_RECONNECT,
                    max_retry_interval: QQBOT_MAX_RECONNECT,
                    tls: Arc::clone(tls),
                }),
                webhook_durable: if webhook { durability() } else { None },
            })
            .start();
            info!("qqbot: app {} serves bot {qq}", a.app_id);
            let (app_id, secret) = (a.app_id.clone(), a.secret.clone());
            Some(SocketApp { app, app_id, secret, tokens, webhook })
        })
        .collect()
}

/// Fills in the `qq` a forward OneBot bot entry left out, from its implementation's
/// `get_login_info`; an implementation that cannot be asked stops start-up naming the key.
async fn learn_accounts(mut config: Config) -> Result<Config, StartError> {
    let tls = tls::client_config(&[])
        .map_err(|e| crate::config::ConfigError { key: "bots".into(), message: e })?;
    for i in 0..config.bots.len() {
        let b = &config.bots[i];
        let Some(ob) = b.onebot.as_ref().filter(|ob| ob.mode == "forward") else {
            continue;
        };
        if b.qq != 0 {
            check_account(i, b.qq, ob, &config, &tls).await?;
            continue;
        }
        let upstream = upstream_config(0, ob, &config, &tls);
        let qq = probe_login(&upstream).await.map_err(|why| crate::config::ConfigError {
            key: format!("bots[{i}].qq"),
            message: format!(
                "is left out, and the implementation cannot tell it: {why}; give the \
                 account's QQ number or start the implementation first"
            ),
        })?;
        info!("bots[{i}]: the implementation at {} is logged in as {qq}", ob.url);
        if config.bots.iter().any(|other| other.qq == qq) {
            return Err(crate::config::ConfigError {
                key: format!("bots[{i}].qq"),
                message: format!(
                    "the implementation is logged in as {qq}, which another entry already is"
                ),
            }
            .into());
        }
        config.bots[i].qq = qq;
    }
    Ok(config)
}

/// How long start-up asks an implementation for the account of an entry that names it.
const START_UP_PROBE: Duration = Duration::from_secs(3);

/// Asks the implementation of entry `i`, which names account `qq`, which account it is logged
/// in as: another one stops start-up naming the key; no answer (it is down) does not — the
/// link checks again at every login.
async fn check_account(
    i: usize,
    qq: i64,
    ob: &OneBotSourceSpec,
    config: &Config,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(), StartError> {
    let mut upstream = upstream_config(qq, ob, config, tls);
    upstream.action_timeout = upstream.action_timeout.min(START_UP_PROBE);
    match probe_login(&upstream).await {
        Ok(user) if user == qq => Ok(()),
        Ok(user) => Err(crate::config::ConfigError {
            key: format!("bots[{i}].qq"),
            message: format!(
                "is {qq}, but the implementation at {} is logged in as {user}; fix the entry's \
                 qq (or leave it out to take the implementation's) or point url at the right \
                 implementation",
                ob.url
            ),
        }
        .into()),
        Err(why) => {
            warn!("bots[{i}]: account {qq} not checked at start-up ({why}); checked at login");
            Ok(())
        }
    }
}

fn start_actors(
    config: &Config,
    cluster: Option<ClusterLink>,
    shared_sessions: Option<Sessions>,
) -> Result<Actors, StartError> {
    let mirai = &config.mirai;
    let media_root = MediaRoot::new(config.server.media_root.as_deref().map(std::path::Path::new))
        .map_err(|e| crate::config::ConfigError {
            key: "server.media_root".into(),
            message: format!("cannot be resolved: {e}; point it at an existing folder"),
        })?;
    let data_dir = &config.server.data_dir;
    let data_dir = (!data_dir.is_empty()).then(|| std::path::Path::new(data_dir));
    let unwritable = |e: botgate_actors::store::StoreError| crate::config::ConfigError {
        key: "server.data_dir".into(),
        message: format!(
            "{e}; point it at a folder botgate may write (\"\" keeps the store in memory)"
        ),
    };
    // The message store first: it moves the messages an earlier version kept in the durable
    // store's file out of it.
    let messages = MessageStore::start(
        data_dir,
        MessageStoreConfig {
            messages_per_bot: config.server.store_messages_per_bot,
            priority: config.server.store_messages_priority,
        },
    )
    .map_err(unwritable)?;
    let store =
        StoreActor::start(data_dir, config.server.store_messages_per_bot).map_err(unwritable)?;
    let tls = tls::client_config(&[])
        .map_err(|e| crate::config::ConfigError { key: "bots".into(), message: e })?;
    let bots: Vec<(i64, SourceKind, Addr<BotActor>)> = config
        .bots
        .iter()
        .map(|b| {
            let actor = match (b.source, &b.onebot, &b.qqbot, &b.oicq_webd) {
                (SourceKind::Onebot, Some(ob), _, _) => {
                    let upstream = upstream_config(b.qq, ob, config, &tls);
                    BotActor::onebot(b.qq, upstream, mirai.cache_size)
                }
                (SourceKind::OicqWebd, _, _, Some(o)) => {
                    let oicq = OicqConfig {
                        label: b.qq.to_string(),
                        url: o.url.clone(),
                        reconnect_interval: Duration::from_millis(o.reconnect_interval),
                        max_reconnect_interval: QQBOT_MAX_RECONNECT,
                        action_timeout: Duration::from_millis(o.action_timeout),
                        max_frame_size: config.server.max_frame_size,
                        tls: Arc::clone(&tls),
                    };
                    BotActor::oicq(
                        b.qq,
                        oicq,
                        mirai.cache_size,
                        config.server.store_messages_per_bot,
                    )
                }
                (SourceKind::Qqbot, _, Some(q), _) => BotActor::qqbot(
                    b.qq,
                    qqbot_config(b.qq, q, config, &tls),
                    mirai.cache_size,
                    config.server.store_messages_per_bot,
                ),
                _ => BotActor::simulated(b.qq, &b.simulated, mirai.cache_size),
            }
            .with_media_root(media_root.clone())
            .with_stores(store.clone(), messages.clone());
            let actor = match &cluster {
                Some(link) => actor.with_cluster(link.clone(), crate::cluster::COMMAND_TIMEOUT),
                None => actor,
            };
            info!("bot {} ({:?}) started", b.qq, b.source);
            (b.qq, b.source, actor.start())
        })
        .collect();
    let registry_config = RegistryConfig {
        verify_key: Secret::new(mirai.verify_key.clone()),
        enable_verify: mirai.enable_verify,
        single_mode: mirai.single_mode,
        unbound_session_ttl: UNBOUND_SESSION_TTL,
    };
    registry::log_mode(&registry_config);
    let registry = SessionRegistry::new(
        registry_config,
        bots.iter().map(|(qq, _, addr)| (*qq, addr.clone())).collect(),
    );
    let registry = match shared_sessions {
        Some(shared) => registry.with_shared(shared),
        None => registry,
    }
    .start();
    // In a cluster the stream keeps what waits for a destination and its position says what
    // it was sent; alone, the store does. Destinations are numbered as the admin API does.
    let mut next_destination = 0;
    let durability = |next: &mut usize| {
        let index = std::mem::replace(next, *next + 1);
        match cluster {
            Some(_) => (None, Some(crate::cluster::durable_name(index))),
            None => (Some(store.clone()), None),
        }
    };
    let mut destinations = Vec::new();
    if mirai.adapters.iter().any(|a| a == "reverse-ws") {
        for mut cfg in destination_configs(config)? {
            info!("mirai reverse-ws: destination {}", cfg.display_name);
            cfg.expects = expected_bot(&cfg, &bots);
            (cfg.store, cfg.durable) = durability(&mut next_destination);
            destinations.push(ReverseWsDestination::new(cfg, registry.clone()).start());
        }
    }
    let mut webhooks = Vec::new();
    if mirai.adapters.iter().any(|a| a == "webhook") {
        let wh = &mirai.adapter_settings.webhook;
        let tls = tls::client_config(&[]).map_err(|e| crate::config::ConfigError {
            key: "mirai.adapterSettings.webhook".into(),
            message: e,
        })?;
        let all_bots: Vec<_> = bots.iter().map(|(qq, _, addr)| (*qq, addr.clone())).collect();
        for d in &wh.destinations {
            let (store, durable) = durability(&mut next_destination);
            let config = HttpPostConfig {
                url: WebhookSetting::url(d),
                headers: merged(&wh.extra_headers, &Default::default()),
                connect_timeout: Duration::from_millis(wh.timeout.connect_timeout_millis),
                request_timeout: Duration::from_millis(wh.timeout.request_timeout_millis),
                retry_interval: Duration::from_millis(wh.retry_interval),
                max_retry_interval: Duration::from_millis(wh.max_retry_interval),
                buffer_size: wh.buffer_size,
                tls: Arc::clone(&tls),
                protocol: PostProtocol::MiraiWebhook,
                store,
                durable,
            };
            info!("mirai webhook: destination {}", config.url);
            webhooks
                .push(HttpPostDestination::new(config, registry.clone(), all_bots.clone()).start());
        }
    }
    let mut onebot_posts = Vec::new();
    if let Some(ob) = config.onebot.as_ref().filter(|ob| !ob.post_url.is_empty()) {
        let qq = ob.served_bot(&config.bots);
        let served: Vec<_> =
            bots.iter().filter(|(id, _, _)| *id == qq).map(|(id, _, a)| (*id, a.clone())).collect();
        let tls = tls::client_config(&[]).map_err(|e| crate::config::ConfigError {
            key: "onebot.post_url".into(),
            message: e,
        })?;
        let timeout = Duration::from_secs(if ob.post_timeout == 0 { 60 } else { ob.post_timeout });
        let (store, durable) = durability(&mut next_destination);
        let config = HttpPostConfig {
            url: ob.post_url.clone(),
            headers: Vec::new(),
            connect_timeout: timeout,
            request_timeout: timeout,
            retry_interval: Duration::from_millis(ob.post_retry_interval),
            max_retry_interval: Duration::from_millis(ob.post_max_retry_interval),
            buffer_size: ob.post_buffer_size,
            tls,
            protocol: PostProtocol::OneBot {
                secret: Secret::new(ob.secret.clone()),
                format: ob.message_format(),
            },
            store,
            durable,
        };
        info!("onebot http post: {}", config.url);
        onebot_posts.push(HttpPostDestination::new(config, registry.clone(), served).start());
    }
    let mut onebot_reverse = Vec::new();
    if let Some(ob) = config.onebot.as_ref().filter(|ob| ob.use_ws_reverse) {
        let qq = ob.served_bot(&config.bots);
        if let Some((_, _, bot)) = bots.iter().find(|(id, _, _)| *id == qq) {
            let tls = tls::client_config(&[]).map_err(|e| crate::config::ConfigError {
                key: "onebot.ws_reverse_url".into(),
                message: e,
            })?;
            let or_default =
                |url: &str| if url.is_empty() { ob.ws_reverse_url.clone() } else { url.to_owned() };
            let roles = if ob.ws_reverse_use_universal_client {
                vec![(OneBotRole::Universal, ob.ws_reverse_url.clone())]
            } else {
                vec![
                    (OneBotRole::Api, or_default(&ob.ws_reverse_api_url)),
                    (OneBotRole::Event, or_default(&ob.ws_reverse_event_url)),
                ]
            };
            for (role, url) in roles {
                let (store, durable) = durability(&mut next_destination);
                let config = OneBotReverseConfig {
                    url,
                    role,
                    qq,
                    bot: bot.clone(),
                    authorization: (!ob.access_token.is_empty()).then(|| {
                        format!("{} {}", ob.ws_reverse_authorization_scheme, ob.access_token)
                    }),
                    reconnect_interval: Duration::from_millis(ob.ws_reverse_reconnect_interval),
                    reconnect_on_code_1000: ob.ws_reverse_reconnect_on_code_1000,
                    max_frame_size: config.server.max_frame_size,
                    buffer_size: ob.ws_reverse_buffer_size,
                    format: ob.message_format(),
                    heartbeat: ob.heartbeat(),
                    tls: Arc::clone(&tls),
                    max_in_flight: config.server.max_in_flight,
                    store,
                    durable,
                };
                info!("onebot reverse ws: {} ({})", config.url, role.client_role());
                onebot_reverse.push(OneBotReverseClient::new(config).start());
            }
        }
    }
    // An app's webhook is an outbound destination too, numbered after the others.
    let qqbot_apps =
        served_qqbot_apps(config, &bots, &store, &tls, || durability(&mut next_destination).1);
    Ok(Actors {
        registry,
        bots,
        destinations,
        webhooks,
        onebot_posts,
        onebot_reverse,
        store,
        messages,
        qqbot_apps,
        cluster,
        claims: None,
        // The bots run on this thread's arbiter: the connections placed beside them join it.
        placement: ws_server::Placement::new(actix::Arbiter::current(), BESIDE_THE_BOTS),
        served: ws_server::ServedSockets::default(),
    })
}

fn host_for_url(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The bot a reverse-ws destination keeps events for before its server first verifies (after
/// a restart, say): the one named by a `qq` parameter or header, else the only bot.
fn expected_bot(
    cfg: &DestinationConfig,
    bots: &[(i64, SourceKind, Addr<BotActor>)],
) -> Option<(i64, Addr<BotActor>)> {
    let named = cfg
        .query
        .iter()
        .chain(&cfg.headers)
        .find(|(k, _)| k.eq_ignore_ascii_case("qq"))
        .and_then(|(_, v)| v.trim().parse::<i64>().ok());
    let found = match (named, bots) {
        (Some(qq), _) => bots.iter().find(|(id, _, _)| *id == qq),
        (None, [only]) => Some(only),
        (None, _) => None,
    };
    found.map(|(qq, _, bot)| (*qq, bot.clone()))
}

/// Resolves each reverse-ws destination: URL with merged parameters, merged headers, TLS.
pub fn destination_configs(config: &Config) -> Result<Vec<DestinationConfig>, StartError> {
    let rws = &config.mirai.adapter_settings.reverse_ws;
    let key = "mirai.adapterSettings.reverse-ws.caFile";
    let mut pems = Vec::new();
    if let Some(path) = &rws.ca_file {
        let pem = std::fs::read(path).map_err(|e| crate::config::ConfigError {
            key: key.into(),
            message: format!("cannot read {path}: {e}"),
        })?;
        pems.push(pem);
    }
    let tls = tls::client_config(&pems)
        .map_err(|e| crate::config::ConfigError { key: key.into(), message: e })?;
    let mut out = Vec::new();
    for d in &rws.destinations {
        if !d.method.eq_ignore_ascii_case("GET") {
            warn!(
                "reverse-ws {}:{}{}: method {} requested, but a WebSocket handshake is a GET \
                 request (RFC 6455); dialling with GET",
                d.host, d.port, d.path, d.method
            );
        }
        let base = format!("{}://{}:{}{}", d.protocol, host_for_url(&d.host), d.port, d.path);
        let params = merged(&rws.extra_parameters, &d.extra_parameters);
        let url = if params.is_empty() {
            base.clone()
        } else {
            let query = serde_urlencoded::to_string(&params).unwrap_or_default();
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}{query}")
        };
        out.push(DestinationConfig {
            url,
            query: params,
            display_name: base,
            headers: merged(&rws.extra_headers, &d.extra_headers),
            reserved_sync_id: rws.reserved_sync_id.0.clone(),
            reconnect_interval: Duration::from_millis(d.reconnect_interval),
            max_reconnect_interval: Duration::from_millis(rws.max_reconnect_interval),
            max_frame_size: config.server.max_frame_size,
            replay_buffer_size: rws.replay_buffer_size,
            heartbeat_interval: Duration::from_millis(rws.heartbeat_interval),
            max_in_flight: config.server.max_in_flight,
            tls: Arc::clone(&tls),
            // Set by start_actors, which owns the store, the bots and the cluster.
            store: None,
            expects: None,
            durable: None,
        });
    }
    Ok(out)
}
