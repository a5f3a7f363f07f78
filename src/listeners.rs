//! Listeners: every adapter that serves on a host:port is mounted into one actix-web server
//! per distinct host:port (mirai's http and ws share 8080 by default).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App};
use botgate_actors::connection::clients::ClientDirectory;
use botgate_actors::connection::mirai_ws::{MiraiWsDirectory, MiraiWsSettings};
use botgate_actors::connection::onebot_ws::OneBotWsSettings;
use botgate_actors::connection::stats::ClientStats;
use botgate_actors::connection::ws_server;
use botgate_actors::secret::Secret;

use crate::config::{Config, ConfigError};
use crate::gateway::{Actors, StartError};
use crate::limits::{self, ConnectionLimits};
use crate::{
    admin, botgate_endpoints, console, mirai_http, mirai_ws, oicq_server, onebot_http,
    onebot_upstream, onebot_ws, qqbot_server, qqbot_webhook,
};

/// The address a listener is bound to, in its application's data: where a client that named
/// no host reached it.
#[derive(Debug, Clone, Copy)]
pub struct ListenerAddr(pub SocketAddr);

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mount {
    /// botgate's own `/healthz` and `/sim/…` (`server:`).
    Botgate,
    /// mirai-api-http's http adapter.
    MiraiHttp,
    /// mirai-api-http's forward ws adapter.
    MiraiWs,
    /// OneBot's HTTP API.
    OneBotHttp,
    /// OneBot's forward WebSocket.
    OneBotWs,
    /// The QQ official protocol served to its SDKs.
    QqBot,
    /// oicq_webd's push WebSocket and HTTP API.
    Oicq,
}

impl Mount {
    /// A short name for logs and `/healthz`.
    pub fn name(self) -> &'static str {
        match self {
            Mount::Botgate => "botgate",
            Mount::MiraiHttp => "mirai http",
            Mount::MiraiWs => "mirai ws",
            Mount::OneBotHttp => "onebot http",
            Mount::OneBotWs => "onebot ws",
            Mount::QqBot => "qqbot",
            Mount::Oicq => "oicq_webd",
        }
    }
}

/// Worker threads of each listener: two, as the benchmarks were tuned for the two-core
/// machines they run on.
const WORKERS: usize = 2;

/// State every handler of every listener shares.
pub struct AppState {
    /// The shared actors.
    pub actors: Actors,
    /// `server.token` for `/sim/…`.
    pub token: Secret,
    /// Forward ws client settings.
    pub mirai_ws: Arc<MiraiWsSettings>,
    /// Forward ws clients by path and key.
    pub mirai_ws_clients: MiraiWsDirectory,
    /// The http adapter's unread queues.
    pub mirai_http: mirai_http::HttpSessions,
    /// What each listener serves, where, and its connection limits; filled in once all are
    /// bound.
    pub listeners: std::sync::OnceLock<Vec<(String, SocketAddr, Arc<ConnectionLimits>)>>,
    /// The largest frame or body accepted.
    pub max_frame_size: usize,
    /// The OneBot adapters' settings, when `onebot:` is configured.
    pub onebot: Option<OneBotState>,
    /// Bots whose OneBot implementation dials botgate (`mode: reverse`): their access token
    /// and actor, by QQ number.
    pub onebot_upstreams:
        std::collections::HashMap<i64, (Secret, actix::Addr<botgate_actors::bot::BotActor>)>,
    /// Every served WebSocket client, for the admin API.
    pub clients: Arc<ClientDirectory>,
    /// The console's live sockets.
    pub console_stats: Arc<ClientStats>,
    /// The apps of the QQ official protocol served to SDKs.
    pub qqbot_apps: Arc<Vec<botgate_actors::connection::qqbot_served::socket::SocketApp>>,
    /// What oicq_webd's push clients share, when the format is served.
    pub oicq: Option<Arc<botgate_actors::connection::oicq_push::OicqPushSettings>>,
    /// The served gateway's client counters.
    pub qqbot_stats: Arc<botgate_actors::connection::stats::ClientStats>,
    /// Bots the QQ official platform pushes to (`transport: webhook`): the signing key of
    /// their secret and their actor, by app id.
    pub qqbot_webhooks: std::collections::HashMap<
        String,
        (ed25519_dalek::SigningKey, actix::Addr<botgate_actors::bot::BotActor>),
    >,
}

/// What the OneBot handlers share.
pub struct OneBotState {
    /// The served bot, format, heartbeat, outbox size.
    pub settings: Arc<OneBotWsSettings>,
    /// `access_token`.
    pub token: Secret,
}

/// A bound listener.
pub struct Listener {
    /// What it serves.
    pub mounts: Vec<Mount>,
    /// Where.
    pub addr: SocketAddr,
    /// Its connection limits and counts.
    pub limits: Arc<ConnectionLimits>,
}

/// The listeners the config asks for, grouped by host:port, in config order.
/// Listeners by host:port with what each serves.
type Plan = Vec<((String, u16), Vec<Mount>)>;

fn plan(config: &Config) -> Result<Plan, ConfigError> {
    let mut wanted = vec![((config.server.host.clone(), config.server.port), Mount::Botgate)];
    let mirai = &config.mirai;
    let settings = &mirai.adapter_settings;
    if mirai.adapters.iter().any(|a| a == "http") {
        wanted.push(((settings.http.host.clone(), settings.http.port), Mount::MiraiHttp));
    }
    if mirai.adapters.iter().any(|a| a == "ws") {
        wanted.push(((settings.ws.host.clone(), settings.ws.port), Mount::MiraiWs));
    }
    if let Some(ob) = &config.onebot {
        if ob.use_http {
            wanted.push(((ob.host.clone(), ob.port), Mount::OneBotHttp));
        }
        if ob.use_ws {
            wanted.push(((ob.ws_host.clone(), ob.ws_port), Mount::OneBotWs));
        }
    }
    if let Some(q) = config.qqbot.as_ref().filter(|q| q.enabled) {
        wanted.push(((q.host.clone(), q.port), Mount::QqBot));
    }
    if let Some(o) = config.oicq_webd.as_ref().filter(|o| o.enabled) {
        wanted.push(((o.host.clone(), o.port), Mount::Oicq));
    }
    let mut grouped: Vec<((String, u16), Vec<Mount>)> = Vec::new();
    for (addr, mount) in wanted {
        match grouped.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, mounts)) => mounts.push(mount),
            None => grouped.push((addr, vec![mount])),
        }
    }
    for ((host, port), mounts) in &grouped {
        let clash = if mounts.contains(&Mount::OneBotHttp) && mounts.len() > 1 {
            Some((
                "onebot.port",
                "the OneBot HTTP API answers every path, so it needs a port of its own",
            ))
        } else if mounts.contains(&Mount::Oicq) && mounts.len() > 1 {
            Some((
                "oicq_webd.port",
                "oicq_webd's WebSocket answers every path, so it needs a port of its own",
            ))
        } else if mounts.contains(&Mount::QqBot) && mounts.len() > 1 {
            Some((
                "qqbot.port",
                "the QQ official OpenAPI answers every path, so it needs a port of its own",
            ))
        } else if mounts.contains(&Mount::OneBotWs) && mounts.contains(&Mount::MiraiWs) {
            Some((
                "onebot.ws_port",
                "OneBot's /event would clash with mirai's /event on the same port",
            ))
        } else {
            None
        };
        if let Some((key, why)) = clash {
            return Err(ConfigError {
                key: key.to_owned(),
                message: format!(
                    "{host}:{port} is also used by another adapter; {why} (choose another port)"
                ),
            });
        }
    }
    Ok(grouped)
}

/// Binds every listener and starts serving.
pub fn start(
    config: &Config,
    actors: Actors,
) -> Result<(Vec<Listener>, Vec<actix_web::dev::Server>), StartError> {
    let clients = Arc::new(ClientDirectory::default());
    let stats = || Arc::new(ClientStats::listed_in(&clients));
    let onebot = match &config.onebot {
        Some(ob) => {
            let qq = ob.served_bot(&config.bots);
            let bot = actors.bots.iter().find(|(id, _, _)| *id == qq).map(|(_, _, a)| a.clone());
            bot.map(|bot| OneBotState {
                settings: Arc::new(OneBotWsSettings {
                    qq,
                    bot,
                    format: ob.message_format(),
                    heartbeat: ob.heartbeat(),
                    outbox_size: ob.outbox_size,
                    ping_interval: Duration::from_millis(ob.ws_ping_interval),
                    max_in_flight: config.server.max_in_flight,
                    stats: stats(),
                }),
                token: Secret::new(ob.access_token.clone()),
            })
        }
        None => None,
    };
    let onebot_upstreams = config
        .bots
        .iter()
        .filter_map(|b| {
            let ob = b.onebot.as_ref().filter(|ob| ob.mode == "reverse")?;
            let (_, _, bot) = actors.bots.iter().find(|(qq, _, _)| *qq == b.qq)?;
            Some((b.qq, (Secret::new(ob.access_token.clone()), bot.clone())))
        })
        .collect();
    let qqbot_apps = Arc::new(actors.qqbot_apps.clone());
    let oicq = config.oicq_webd.as_ref().filter(|o| o.enabled).and_then(|o| {
        let qq = o.served_bot(&config.bots);
        let (_, _, bot) = actors.bots.iter().find(|(b, _, _)| *b == qq)?;
        Some(Arc::new(botgate_actors::connection::oicq_push::OicqPushSettings {
            bot: bot.clone(),
            qq,
            outbox_size: config.mirai.adapter_settings.ws.outbox_size,
            stats: stats(),
            bundles: Default::default(),
        }))
    });
    let qqbot_webhooks = config
        .bots
        .iter()
        .filter_map(|b| {
            let q = b.qqbot.as_ref().filter(|q| q.transport == "webhook")?;
            let (_, _, bot) = actors.bots.iter().find(|(qq, _, _)| *qq == b.qq)?;
            let key = botgate_actors::protocol::qqbot::signature::key_of(&q.secret)?;
            Some((q.app_id.clone(), (key, bot.clone())))
        })
        .collect();
    let ws = &config.mirai.adapter_settings.ws;
    let state = web::Data::new(AppState {
        actors,
        token: Secret::new(config.server.token.clone()),
        mirai_ws: Arc::new(MiraiWsSettings {
            reserved_sync_id: ws.reserved_sync_id.0.clone(),
            heartbeat_interval: Duration::from_millis(ws.heartbeat_interval),
            outbox_size: ws.outbox_size,
            max_in_flight: config.server.max_in_flight,
            stats: stats(),
        }),
        mirai_ws_clients: MiraiWsDirectory::default(),
        mirai_http: mirai_http::HttpSessions::new(
            config.mirai.adapter_settings.http.unread_queue_max_size,
        ),
        listeners: std::sync::OnceLock::new(),
        max_frame_size: config.server.max_frame_size,
        onebot,
        onebot_upstreams,
        qqbot_webhooks,
        qqbot_apps,
        qqbot_stats: stats(),
        console_stats: stats(),
        clients,
        oicq,
    });
    let cors = config.mirai.adapter_settings.http.cors.clone();
    let mut listeners = Vec::new();
    let mut servers = Vec::new();
    for ((host, port), mounts) in plan(config)? {
        let state = state.clone();
        let app_mounts = mounts.clone();
        let cors = cors.clone();
        let body_limit = config.server.max_frame_size;
        let limits = ConnectionLimits::new(
            config.server.max_connections,
            config.server.max_connections_per_peer,
        );
        let bound = ws_server::bind((host.as_str(), port)).map_err(|source| StartError::Bind {
            addr: format!("{host}:{port}"),
            key: key_of(mounts[0]),
            source,
        })?;
        let addr =
            bound.first().and_then(|l| l.local_addr().ok()).ok_or_else(|| StartError::Bind {
                addr: format!("{host}:{port}"),
                key: key_of(mounts[0]),
                source: std::io::Error::other("no address bound"),
            })?;
        let on_connect = Arc::clone(&limits);
        let options = ws_server::ListenerOptions {
            workers: WORKERS,
            client_request_timeout: Duration::from_millis(config.server.handshake_timeout),
            shutdown_timeout: 5,
            on_connect: Some(Arc::new(move |tcp, data| on_connect.on_connect(tcp, data))),
            // An upgraded WebSocket keeps its place under the limits until its socket closes.
            keep: Some(Arc::new(limits::ConnectionSlot::kept)),
            served: state.actors.served.clone(),
        };
        let server = ws_server::serve(bound, options, move || {
            let mut app = App::new()
                .app_data(state.clone())
                .app_data(ListenerAddr(addr))
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(web::JsonConfig::default().limit(body_limit));
            // The http adapter's CORS wraps the whole listener it shares (as in mirai-api-http);
            // other listeners have no CORS policy at all.
            let with_cors = app_mounts.contains(&Mount::MiraiHttp);
            for mount in &app_mounts {
                app = match mount {
                    Mount::Botgate => app
                        .configure(botgate_endpoints::configure)
                        .configure(admin::configure)
                        .configure(console::configure)
                        .configure(onebot_upstream::configure)
                        .configure(qqbot_webhook::configure),
                    Mount::MiraiWs => app.configure(mirai_ws::configure),
                    Mount::MiraiHttp => app.configure(mirai_http::configure),
                    Mount::OneBotHttp => app.configure(onebot_http::configure),
                    Mount::OneBotWs => app.configure(onebot_ws::configure),
                    Mount::QqBot => app.configure(qqbot_server::configure),
                    Mount::Oicq => app.configure(oicq_server::configure),
                };
            }
            app.wrap(actix_web::middleware::Condition::new(with_cors, mirai_http::cors(&cors)))
                .wrap(actix_web::middleware::from_fn(limits::enforce))
        })
        .map_err(|source| StartError::Bind {
            addr: format!("{host}:{port}"),
            key: key_of(mounts[0]),
            source,
        })?;
        servers.push(server);
        listeners.push(Listener { mounts, addr, limits });
    }
    let described = listeners
        .iter()
        .map(|l| {
            let serves = l.mounts.iter().map(|m| m.name()).collect::<Vec<_>>().join(" + ");
            (serves, l.addr, Arc::clone(&l.limits))
        })
        .collect();
    let _ = state.listeners.set(described);
    Ok((listeners, servers))
}

fn key_of(mount: Mount) -> &'static str {
    match mount {
        Mount::Botgate => "server.host / server.port",
        Mount::MiraiHttp => "mirai.adapterSettings.http.host / port",
        Mount::MiraiWs => "mirai.adapterSettings.ws.host / port",
        Mount::OneBotHttp => "onebot.host / onebot.port",
        Mount::OneBotWs => "onebot.ws_host / onebot.ws_port",
        Mount::QqBot => "qqbot.host / qqbot.port",
        Mount::Oicq => "oicq_webd.host / oicq_webd.port",
    }
}
