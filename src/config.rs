//! `config.yaml`: the schema, its defaults, and the checks that stop start-up with a message
//! naming the key and the fix. The `mirai:` section keeps mirai-api-http's own key names so a
//! `setting.yml` can be pasted under it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use botgate_actors::bot::SimulatedWorldSpec;
use botgate_actors::protocol::onebot::event::MessageFormat;
use botgate_actors::store::StorePriority;
use serde::{Deserialize, Deserializer};

/// A configuration error: which key is wrong and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key's path, e.g. `mirai.adapterSettings.reverse-ws.destinations[0].protocol`.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { key: key.into(), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() || self.key == "." {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// A YAML scalar read as a string (`p: 1` and `p: "1"` are the same parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::String(s) => Ok(Scalar(s)),
            serde_yaml::Value::Number(n) => Ok(Scalar(n.to_string())),
            serde_yaml::Value::Bool(b) => Ok(Scalar(b.to_string())),
            serde_yaml::Value::Null => Ok(Scalar(String::new())),
            _ => Err(serde::de::Error::custom("expected a string, number or boolean")),
        }
    }
}

/// botgate's own listener: `/healthz` and the simulated bots' `/sim/…` endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Bind address.
    #[serde(default = "default_server_host")]
    pub host: String,
    /// Bind port (0 picks a free one).
    #[serde(default = "default_server_port")]
    pub port: u16,
    /// When set, the admin API, the console, `/metrics` and `/sim/…` require
    /// `Authorization: Bearer <token>`; required when `host` is not a loopback address.
    #[serde(default)]
    pub token: String,
    /// The largest WebSocket frame (and reassembled message) botgate accepts, in bytes.
    #[serde(default = "default_max_frame_size")]
    pub max_frame_size: usize,
    /// The folder clients may send local files from (mirai `path`, OneBot `file://` or a plain
    /// path); absent: no local file is read for a client.
    #[serde(default)]
    pub media_root: Option<String>,
    /// How long a new connection may take to send its request (the WebSocket handshake), ms.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout: u64,
    /// The most connections one listener holds at once; more are answered 503 and closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// The most connections one peer address holds on one listener; more are answered 429.
    #[serde(default = "default_max_connections_per_peer")]
    pub max_connections_per_peer: usize,
    /// The most commands one WebSocket connection may have running at once; more are
    /// answered at once with the protocol's error.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Where the stores (`botgate.sqlite`, `messages.sqlite`) live; empty: in-memory stores
    /// that a restart forgets.
    #[serde(default = "default_data_dir")]
    pub data_dir: String,
    /// Messages the store keeps per bot (at least; the oldest are deleted in one go once a
    /// bot has a sixteenth more).
    #[serde(default = "default_store_messages_per_bot")]
    pub store_messages_per_bot: usize,
    /// How the message store writes: `normal` (default) or `background`.
    /// Also read as `store_priority`, its name when it was the one store's.
    #[serde(default, alias = "store_priority")]
    pub store_messages_priority: StorePriority,
}

fn default_server_host() -> String {
    "127.0.0.1".to_owned()
}
fn default_server_port() -> u16 {
    9000
}
fn default_max_frame_size() -> usize {
    16 * 1024 * 1024
}
fn default_handshake_timeout() -> u64 {
    5000
}
fn default_max_connections() -> usize {
    10_000
}
fn default_max_connections_per_peer() -> usize {
    1000
}
fn default_max_in_flight() -> usize {
    1024
}
fn default_data_dir() -> String {
    "./data".to_owned()
}
fn default_store_messages_per_bot() -> usize {
    botgate_actors::store::MessageStoreConfig::default().messages_per_bot
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: default_server_host(),
            port: default_server_port(),
            token: String::new(),
            max_frame_size: default_max_frame_size(),
            media_root: None,
            handshake_timeout: default_handshake_timeout(),
            max_connections: default_max_connections(),
            max_connections_per_peer: default_max_connections_per_peer(),
            max_in_flight: default_max_in_flight(),
            data_dir: default_data_dir(),
            store_messages_per_bot: default_store_messages_per_bot(),
            store_messages_priority: StorePriority::default(),
        }
    }
}

/// Where a bot account lives.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// The embedded simulated world.
    Simulated,
    /// A OneBot v11 implementation (NapCat, Lagrange.OneBot, LLOneBot, go-cqhttp).
    Onebot,
    /// The QQ official bot platform, over its WebSocket gateway or webhook.
    Qqbot,
    /// An oicq_webd daemon: its push WebSocket and HTTP API.
    OicqWebd,
}

impl SourceKind {
    /// The name `source:` gives it (and the metrics' `source` label).
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Simulated => "simulated",
            SourceKind::Onebot => "onebot",
            SourceKind::Qqbot => "qqbot",
            SourceKind::OicqWebd => "oicq-webd",
        }
    }
}

/// `bots[].oicq_webd`: the daemon that holds the account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OicqSourceSpec {
    /// The HTTP API base; the push WebSocket is the same host and port.
    pub url: String,
    /// First redial delay, ms; doubles with jitter up to a minute.
    #[serde(default = "default_oicq_reconnect")]
    pub reconnect_interval: u64,
    /// How long one API call may take, ms.
    #[serde(default = "default_action_timeout")]
    pub action_timeout: u64,
}

/// Fails naming the first of `settings` (under `key`) that is 0 ms.
fn at_least_one_ms(key: &str, settings: &[(&str, u64)]) -> Result<(), ConfigError> {
    match settings.iter().find(|(_, value)| *value == 0) {
        Some((name, _)) => Err(ConfigError::new(format!("{key}.{name}"), "must be at least 1 ms")),
        None => Ok(()),
    }
}

fn default_oicq_reconnect() -> u64 {
    3000
}

impl OicqSourceSpec {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(ConfigError::new(
                format!("{key}.url"),
                format!(
                    "{:?} is not the daemon's HTTP address; give e.g. http://127.0.0.1:8888 (the \
                     WebSocket is the same host and port)",
                    self.url
                ),
            ));
        }
        at_least_one_ms(
            key,
            &[
                ("reconnect_interval", self.reconnect_interval),
                ("action_timeout", self.action_timeout),
            ],
        )
    }
}

/// One entry of `bots[].qqbot.intents`: the platform's name or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IntentItem {
    /// A bit mask.
    Number(u64),
    /// A name (`GUILDS`, `GROUP_AND_C2C_EVENT`…).
    Name(String),
}

/// `bots[].qqbot.intents`: a list of names and numbers, or one number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IntentsSetting {
    /// A list.
    List(Vec<IntentItem>),
    /// One mask or name.
    One(IntentItem),
}

/// `bots[].qqbot`: the app on the QQ official bot platform that is this account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QqBotSourceSpec {
    /// The app's id (a string on the platform: keep the quotes).
    #[serde(deserialize_with = "string_or_number")]
    pub app_id: String,
    /// The app's clientSecret: access tokens and webhook signatures.
    #[serde(default)]
    pub secret: String,
    /// `websocket` (botgate holds a gateway session) or `webhook` (the platform POSTs to
    /// `/qqbot/webhook` on the `server:` listener).
    #[serde(default = "default_qqbot_transport")]
    pub transport: String,
    /// The events subscribed to (websocket only: webhook events are chosen in the console).
    #[serde(default)]
    pub intents: Option<IntentsSetting>,
    /// The OpenAPI base.
    #[serde(default = "default_qqbot_api_base")]
    pub api_base: String,
    /// The access token endpoint.
    #[serde(default = "default_qqbot_token_url")]
    pub token_url: String,
}

fn default_qqbot_transport() -> String {
    "websocket".to_owned()
}
fn default_qqbot_api_base() -> String {
    "https://api.sgroup.qq.com".to_owned()
}
fn default_qqbot_token_url() -> String {
    "https://bots.qq.com/app/getAppAccessToken".to_owned()
}

/// The intents a bot subscribes to when the entry names none: the example's.
pub const DEFAULT_QQBOT_INTENTS: &[&str] = &[
    "GUILDS",
    "GUILD_MEMBERS",
    "PUBLIC_GUILD_MESSAGES",
    "DIRECT_MESSAGE",
    "GROUP_AND_C2C_EVENT",
    "INTERACTION",
];

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(u64),
    }
    Ok(match Either::deserialize(d)? {
        Either::S(s) => s,
        Either::N(n) => n.to_string(),
    })
}

impl QqBotSourceSpec {
    /// The intents as one mask.
    pub fn intent_mask(&self) -> Result<u64, String> {
        use botgate_actors::protocol::qqbot::intents::parse_one;
        let items: Vec<IntentItem> = match &self.intents {
            None => {
                DEFAULT_QQBOT_INTENTS.iter().map(|n| IntentItem::Name((*n).to_owned())).collect()
            }
            Some(IntentsSetting::List(list)) => list.clone(),
            Some(IntentsSetting::One(item)) => vec![item.clone()],
        };
        items.iter().try_fold(0u64, |mask, item| match item {
            IntentItem::Number(n) => Ok(mask | n),
            IntentItem::Name(name) => parse_one(name).map(|bit| mask | bit),
        })
    }

    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.app_id.trim().is_empty() {
            return Err(ConfigError::new(
                format!("{key}.app_id"),
                "give the app's AppID from the bot's console (q.qq.com → 开发 → 开发设置)",
            ));
        }
        if self.secret.is_empty() {
            return Err(ConfigError::new(
                format!("{key}.secret"),
                "give the app's AppSecret (clientSecret) from the bot's console: access tokens \
                 and webhook signatures need it",
            ));
        }
        if !matches!(self.transport.as_str(), "websocket" | "webhook") {
            return Err(ConfigError::new(
                format!("{key}.transport"),
                format!(
                    "{:?} is not a transport; use websocket (botgate holds a gateway session) or \
                     webhook (the platform POSTs to /qqbot/webhook)",
                    self.transport
                ),
            ));
        }
        let mask = self.intent_mask().map_err(|e| ConfigError::new(format!("{key}.intents"), e))?;
        if mask == 0 {
            return Err(ConfigError::new(
                format!("{key}.intents"),
                "subscribe to at least one intent",
            ));
        }
        for (name, url) in [("api_base", &self.api_base), ("token_url", &self.token_url)] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::new(
                    format!("{key}.{name}"),
                    format!("{url:?} is not an http(s) URL"),
                ));
            }
        }
        Ok(())
    }
}

/// `bots[].onebot`: how to reach the OneBot v11 implementation that holds the account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneBotSourceSpec {
    /// `forward`: botgate dials the implementation's WebSocket server at `url`; `reverse`: the
    /// implementation dials `/onebot/upstream` on the `server:` listener.
    #[serde(default = "default_source_mode")]
    pub mode: String,
    /// The implementation's forward WebSocket URL.
    #[serde(default)]
    pub url: String,
    /// Sent as `Authorization: Bearer` and `?access_token=`.
    #[serde(default)]
    pub access_token: String,
    /// First redial delay, ms; doubles with jitter up to `max_reconnect_interval`.
    #[serde(default = "default_onebot_reconnect")]
    pub reconnect_interval: u64,
    /// The longest redial delay, ms.
    #[serde(default = "default_max_reconnect_interval")]
    pub max_reconnect_interval: u64,
    /// How long one action may take, ms.
    #[serde(default = "default_action_timeout")]
    pub action_timeout: u64,
}

fn default_source_mode() -> String {
    "forward".to_owned()
}
fn default_action_timeout() -> u64 {
    10_000
}

/// One entry of `bots:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// The account's QQ number; 0 (absent) for a forward OneBot source: learned from the
    /// implementation's `get_login_info` at start-up.
    #[serde(default)]
    pub qq: i64,
    /// Where the account lives.
    pub source: SourceKind,
    /// The simulated world (for `source: simulated`).
    #[serde(default)]
    pub simulated: SimulatedWorldSpec,
    /// The OneBot implementation (for `source: onebot`).
    #[serde(default)]
    pub onebot: Option<OneBotSourceSpec>,
    /// The QQ official platform's app (for `source: qqbot`).
    #[serde(default)]
    pub qqbot: Option<QqBotSourceSpec>,
    /// The oicq_webd daemon (for `source: oicq-webd`).
    #[serde(default)]
    pub oicq_webd: Option<OicqSourceSpec>,
}

/// `mirai.adapterSettings.reverse-ws.destinations[]`, keys as in mirai-api-http.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DestinationSetting {
    /// Server host.
    #[serde(default = "default_mirai_host")]
    pub host: String,
    /// Server port.
    #[serde(default = "default_mirai_port")]
    pub port: u16,
    /// Request path.
    #[serde(default = "default_path")]
    pub path: String,
    /// `ws` or `wss` (required).
    pub protocol: String,
    /// The handshake's HTTP method. WebSocket handshakes are GET (RFC 6455).
    #[serde(default = "default_method")]
    pub method: String,
    /// Query parameters of this destination; they override the common ones key by key.
    #[serde(default)]
    pub extra_parameters: BTreeMap<String, Scalar>,
    /// Headers of this destination; they override the common ones key by key.
    #[serde(default)]
    pub extra_headers: BTreeMap<String, Scalar>,
    /// First redial delay in milliseconds.
    #[serde(default = "default_reconnect_interval")]
    pub reconnect_interval: u64,
}

fn default_mirai_host() -> String {
    "localhost".to_owned()
}
fn default_mirai_port() -> u16 {
    8080
}
fn default_path() -> String {
    "/".to_owned()
}
fn default_method() -> String {
    "GET".to_owned()
}
fn default_reconnect_interval() -> u64 {
    5000
}

/// `mirai.adapterSettings.reverse-ws`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReverseWsSetting {
    /// The servers to dial.
    #[serde(default)]
    pub destinations: Vec<DestinationSetting>,
    /// Query parameters for every destination.
    #[serde(default)]
    pub extra_parameters: BTreeMap<String, Scalar>,
    /// Headers for every destination.
    #[serde(default)]
    pub extra_headers: BTreeMap<String, Scalar>,
    /// syncId of pushed events (YAML `-1` reads as `"-1"`).
    #[serde(default = "default_reserved_sync_id")]
    pub reserved_sync_id: Scalar,
    /// botgate: events kept per destination while its server is away.
    #[serde(default = "default_replay_buffer_size")]
    pub replay_buffer_size: usize,
    /// botgate: ping interval in milliseconds; 0 disables pings.
    #[serde(default = "default_heartbeat_interval")]
    pub heartbeat_interval: u64,
    /// botgate: the longest redial delay in milliseconds that backoff grows to.
    #[serde(default = "default_max_reconnect_interval")]
    pub max_reconnect_interval: u64,
    /// botgate: a PEM file of CA certificates trusted for `wss` besides the public roots.
    #[serde(default)]
    pub ca_file: Option<String>,
}

fn default_reserved_sync_id() -> Scalar {
    Scalar("-1".to_owned())
}
fn default_replay_buffer_size() -> usize {
    10_000
}
fn default_heartbeat_interval() -> u64 {
    30_000
}
fn default_max_reconnect_interval() -> u64 {
    60_000
}

impl Default for ReverseWsSetting {
    fn default() -> Self {
        ReverseWsSetting {
            destinations: Vec::new(),
            extra_parameters: BTreeMap::new(),
            extra_headers: BTreeMap::new(),
            reserved_sync_id: default_reserved_sync_id(),
            replay_buffer_size: default_replay_buffer_size(),
            heartbeat_interval: default_heartbeat_interval(),
            max_reconnect_interval: default_max_reconnect_interval(),
            ca_file: None,
        }
    }
}

/// `mirai.adapterSettings.http`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpSetting {
    /// Bind address.
    #[serde(default = "default_mirai_host")]
    pub host: String,
    /// Bind port; http and ws may share it.
    #[serde(default = "default_mirai_port")]
    pub port: u16,
    /// Allowed CORS origins; `*` allows any.
    #[serde(default = "default_cors")]
    pub cors: Vec<String>,
    /// Events kept per http session for fetchMessage; 0 keeps none.
    #[serde(default = "default_unread_queue")]
    pub unread_queue_max_size: usize,
}

fn default_cors() -> Vec<String> {
    vec!["*".to_owned()]
}
fn default_unread_queue() -> usize {
    100
}

impl Default for HttpSetting {
    fn default() -> Self {
        HttpSetting {
            host: default_mirai_host(),
            port: default_mirai_port(),
            cors: default_cors(),
            unread_queue_max_size: default_unread_queue(),
        }
    }
}

/// `mirai.adapterSettings.ws`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WsSetting {
    /// Bind address.
    #[serde(default = "default_mirai_host")]
    pub host: String,
    /// Bind port; http and ws may share it.
    #[serde(default = "default_mirai_port")]
    pub port: u16,
    /// syncId of pushed events (YAML `-1` reads as `"-1"`).
    #[serde(default = "default_reserved_sync_id")]
    pub reserved_sync_id: Scalar,
    /// botgate: how often idle clients are pinged, ms; silent for 3 intervals → dropped; 0 = off.
    #[serde(default = "default_heartbeat_interval")]
    pub heartbeat_interval: u64,
    /// botgate: events that may wait for a slow client before it is closed.
    #[serde(default = "default_outbox_size")]
    pub outbox_size: usize,
}

fn default_outbox_size() -> usize {
    4096
}

impl Default for WsSetting {
    fn default() -> Self {
        WsSetting {
            host: default_mirai_host(),
            port: default_mirai_port(),
            reserved_sync_id: default_reserved_sync_id(),
            heartbeat_interval: default_heartbeat_interval(),
            outbox_size: default_outbox_size(),
        }
    }
}

/// `mirai.adapterSettings.webhook.timeout`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookTimeout {
    /// Whole request, ms.
    #[serde(default = "default_webhook_timeout")]
    pub request_timeout_millis: u64,
    /// Connecting, ms.
    #[serde(default = "default_webhook_timeout")]
    pub connect_timeout_millis: u64,
    /// Accepted for compatibility; the request timeout bounds reads too.
    #[serde(default = "default_webhook_timeout")]
    pub socket_timeout_millis: u64,
}

fn default_webhook_timeout() -> u64 {
    10_000
}

impl Default for WebhookTimeout {
    fn default() -> Self {
        WebhookTimeout {
            request_timeout_millis: default_webhook_timeout(),
            connect_timeout_millis: default_webhook_timeout(),
            socket_timeout_millis: default_webhook_timeout(),
        }
    }
}

/// `mirai.adapterSettings.webhook`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookSetting {
    /// URLs every event is POSTed to; the scheme is optional (`localhost:9999/x` is http).
    #[serde(default)]
    pub destinations: Vec<String>,
    /// Headers added to every POST.
    #[serde(default)]
    pub extra_headers: BTreeMap<String, Scalar>,
    /// Timeouts.
    #[serde(default)]
    pub timeout: WebhookTimeout,
    /// botgate: events kept per destination while it fails; the oldest are dropped beyond.
    #[serde(default = "default_replay_buffer_size")]
    pub buffer_size: usize,
    /// botgate: first retry delay after a failed POST, ms; doubles up to maxRetryInterval.
    #[serde(default = "default_retry_interval")]
    pub retry_interval: u64,
    /// botgate: the longest retry delay, ms.
    #[serde(default = "default_max_reconnect_interval")]
    pub max_retry_interval: u64,
}

fn default_retry_interval() -> u64 {
    1000
}

impl Default for WebhookSetting {
    fn default() -> Self {
        WebhookSetting {
            destinations: Vec::new(),
            extra_headers: BTreeMap::new(),
            timeout: WebhookTimeout::default(),
            buffer_size: default_replay_buffer_size(),
            retry_interval: default_retry_interval(),
            max_retry_interval: default_max_reconnect_interval(),
        }
    }
}

impl WebhookSetting {
    /// A destination as a full URL (`http://` added when no scheme is given).
    pub fn url(destination: &str) -> String {
        if destination.starts_with("http://") || destination.starts_with("https://") {
            destination.to_owned()
        } else {
            format!("http://{destination}")
        }
    }
}

/// `mirai.adapterSettings`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterSettings {
    /// The http adapter.
    #[serde(default)]
    pub http: HttpSetting,
    /// The forward ws adapter.
    #[serde(default)]
    pub ws: WsSetting,
    /// The reverse-ws adapter.
    #[serde(default, rename = "reverse-ws")]
    pub reverse_ws: ReverseWsSetting,
    /// The webhook adapter.
    #[serde(default)]
    pub webhook: WebhookSetting,
}

/// The `mirai:` section: mirai-api-http's `setting.yml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MiraiConfig {
    /// Adapters to run: `http`, `ws`, `reverse-ws`, `webhook`.
    #[serde(default)]
    pub adapters: Vec<String>,
    /// Accepted for compatibility; botgate's logging is set with `RUST_LOG`.
    #[serde(default)]
    pub debug: bool,
    /// Whether clients must present `verifyKey`.
    #[serde(default = "default_true")]
    pub enable_verify: bool,
    /// The key clients present.
    #[serde(default)]
    pub verify_key: String,
    /// One shared session bound to the first bot.
    #[serde(default)]
    pub single_mode: bool,
    /// Messages cached per bot for messageFromId / recall / quote.
    #[serde(default = "default_cache_size")]
    pub cache_size: usize,
    /// The message-cache implementation; only `built-in` exists.
    #[serde(default = "default_persistence")]
    pub persistence_factory: String,
    /// Per-adapter settings.
    #[serde(default)]
    pub adapter_settings: AdapterSettings,
}

fn default_true() -> bool {
    true
}
fn default_cache_size() -> usize {
    4096
}
fn default_persistence() -> String {
    "built-in".to_owned()
}

impl Default for MiraiConfig {
    fn default() -> Self {
        MiraiConfig {
            adapters: Vec::new(),
            debug: false,
            enable_verify: true,
            verify_key: String::new(),
            single_mode: false,
            cache_size: default_cache_size(),
            persistence_factory: default_persistence(),
            adapter_settings: AdapterSettings::default(),
        }
    }
}

/// The adapters this version serves.
pub const AVAILABLE_MIRAI_ADAPTERS: &[&str] = &["http", "ws", "reverse-ws", "webhook"];
/// The adapter names mirai-api-http knows; the ones not yet available are refused by name.
const KNOWN_MIRAI_ADAPTERS: &[&str] = &["http", "ws", "reverse-ws", "webhook"];

/// The `onebot:` section: CQHTTP 4.15's keys, unchanged, plus botgate's `bot` and `outbox_size`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneBotConfig {
    /// botgate: the bot account these adapters serve (default: the first under `bots:`).
    #[serde(default)]
    pub bot: Option<i64>,
    /// Serve the HTTP API.
    #[serde(default = "default_true")]
    pub use_http: bool,
    /// HTTP API bind address.
    #[serde(default = "default_onebot_host")]
    pub host: String,
    /// HTTP API port.
    #[serde(default = "default_onebot_http_port")]
    pub port: u16,
    /// Serve the forward WebSocket (`/`, `/api`, `/event`).
    #[serde(default)]
    pub use_ws: bool,
    /// Forward WebSocket bind address.
    #[serde(default = "default_onebot_host")]
    pub ws_host: String,
    /// Forward WebSocket port.
    #[serde(default = "default_onebot_ws_port")]
    pub ws_port: u16,
    /// Dial reverse WebSockets.
    #[serde(default)]
    pub use_ws_reverse: bool,
    /// Reverse WebSocket URL for both roles.
    #[serde(default)]
    pub ws_reverse_url: String,
    /// Reverse WebSocket URL of the API role.
    #[serde(default)]
    pub ws_reverse_api_url: String,
    /// Reverse WebSocket URL of the Event role.
    #[serde(default)]
    pub ws_reverse_event_url: String,
    /// One Universal connection instead of API + Event.
    #[serde(default)]
    pub ws_reverse_use_universal_client: bool,
    /// Reverse WebSocket redial delay, ms.
    #[serde(default = "default_onebot_reconnect")]
    pub ws_reverse_reconnect_interval: u64,
    /// Redial after a close with code 1000.
    #[serde(default = "default_true")]
    pub ws_reverse_reconnect_on_code_1000: bool,
    /// botgate: the scheme of the reverse WebSocket's `Authorization` header — `Bearer`
    /// (accepted by every current server) or `Token` (CQHTTP's, as seed 004 shows).
    #[serde(default = "default_auth_scheme")]
    pub ws_reverse_authorization_scheme: String,
    /// botgate: events kept per reverse connection while its server is away.
    #[serde(default = "default_replay_buffer_size")]
    pub ws_reverse_buffer_size: usize,
    /// Token clients present (Bearer/Token header or `access_token` query); empty: none.
    #[serde(default)]
    pub access_token: String,
    /// HMAC-SHA1 key for HTTP POST signatures.
    #[serde(default)]
    pub secret: String,
    /// HTTP POST event reporting URL; empty: none.
    #[serde(default)]
    pub post_url: String,
    /// HTTP POST timeout, seconds; 0: the default of 60 s (a POST never waits forever).
    #[serde(default)]
    pub post_timeout: u64,
    /// `string` (CQ codes) or `array` (segments).
    #[serde(default = "default_post_format")]
    pub post_message_format: String,
    /// Send heartbeat meta events.
    #[serde(default)]
    pub enable_heartbeat: bool,
    /// Heartbeat interval, ms.
    #[serde(default = "default_onebot_heartbeat")]
    pub heartbeat_interval: u64,
    /// botgate: events that may wait for a slow ws client before it is closed.
    #[serde(default = "default_outbox_size")]
    pub outbox_size: usize,
    /// botgate: forward ws clients idle this long are pinged, ms; silent for three intervals →
    /// dropped; 0 = never.
    #[serde(default = "default_ws_ping_interval")]
    pub ws_ping_interval: u64,
    /// botgate: first retry delay after a failed HTTP POST, ms; doubles up to
    /// `post_max_retry_interval`.
    #[serde(default = "default_retry_interval")]
    pub post_retry_interval: u64,
    /// botgate: the longest HTTP POST retry delay, ms.
    #[serde(default = "default_max_reconnect_interval")]
    pub post_max_retry_interval: u64,
    /// botgate: events kept while the HTTP POST endpoint fails; oldest dropped beyond.
    #[serde(default = "default_replay_buffer_size")]
    pub post_buffer_size: usize,
}

impl OneBotSourceSpec {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match self.mode.as_str() {
            "forward" | "reverse" => {}
            other => {
                return Err(ConfigError::new(
                    format!("{key}.mode"),
                    format!(
                        "{other:?} is not a mode; use forward (botgate dials url) or reverse (the \
                         implementation dials ws://<server.host>:<server.port>/onebot/upstream)"
                    ),
                ))
            }
        }
        let reverse = self.mode == "reverse";
        if reverse && !self.url.is_empty() {
            return Err(ConfigError::new(
                format!("{key}.url"),
                "in reverse mode the implementation dials botgate; remove url, and point the \
                 implementation at ws://<server.host>:<server.port>/onebot/upstream",
            ));
        }
        let websocket_url = self.url.starts_with("ws://") || self.url.starts_with("wss://");
        if !reverse && !websocket_url {
            return Err(ConfigError::new(
                format!("{key}.url"),
                format!(
                    "{:?} is not a WebSocket URL; give the implementation's forward WebSocket, \
                     e.g. ws://127.0.0.1:3001/",
                    self.url
                ),
            ));
        }
        at_least_one_ms(
            key,
            &[
                ("reconnect_interval", self.reconnect_interval),
                ("action_timeout", self.action_timeout),
            ],
        )
    }
}

impl OneBotConfig {
    /// The account OneBot serves: `bot`, else the first under `bots:`.
    pub fn served_bot(&self, bots: &[BotConfig]) -> i64 {
        self.bot.or_else(|| bots.first().map(|b| b.qq)).unwrap_or_default()
    }

    /// `post_message_format` as the codec's format.
    pub fn message_format(&self) -> MessageFormat {
        if self.post_message_format == "array" {
            MessageFormat::Array
        } else {
            MessageFormat::String
        }
    }

    /// The heartbeat interval, when heartbeats are on.
    pub fn heartbeat(&self) -> Option<std::time::Duration> {
        self.enable_heartbeat.then(|| std::time::Duration::from_millis(self.heartbeat_interval))
    }
}

fn default_onebot_host() -> String {
    "0.0.0.0".to_owned()
}
fn default_onebot_http_port() -> u16 {
    5700
}
fn default_onebot_ws_port() -> u16 {
    6700
}
fn default_onebot_reconnect() -> u64 {
    3000
}
fn default_auth_scheme() -> String {
    "Bearer".to_owned()
}
fn default_post_format() -> String {
    "string".to_owned()
}
fn default_onebot_heartbeat() -> u64 {
    15_000
}
fn default_ws_ping_interval() -> u64 {
    30_000
}

/// The whole of `config.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// botgate's own listener.
    #[serde(default)]
    pub server: ServerConfig,
    /// The bot accounts.
    #[serde(default)]
    pub bots: Vec<BotConfig>,
    /// The mirai-api-http side.
    #[serde(default)]
    pub mirai: MiraiConfig,
    /// The OneBot v11 side; absent: no OneBot adapter runs.
    #[serde(default)]
    pub onebot: Option<OneBotConfig>,
    /// The QQ official bot protocol served to its SDKs; absent: not served.
    #[serde(default)]
    pub qqbot: Option<QqBotServeConfig>,
    /// oicq_webd's push WebSocket and HTTP API, served from one bot; absent: not served.
    #[serde(default)]
    pub oicq_webd: Option<OicqServeConfig>,
    /// Several botgate processes sharing the bots over NATS JetStream; absent: one process.
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
}

/// `cluster:`: this process is one node of a cluster over NATS JetStream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// NATS server URLs, comma-separated (`nats://host:4222`).
    pub nats: String,
    /// This node's name, unique per process.
    pub node: String,
    /// How long, in ms, an owner's lease lasts without renewal.
    #[serde(default = "default_lease")]
    pub lease: u64,
}

fn default_lease() -> u64 {
    5000
}

impl ClusterConfig {
    /// The NATS URLs, each checked.
    pub fn urls(&self) -> Result<Vec<String>, ConfigError> {
        let urls: Vec<String> = self
            .nats
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        if urls.is_empty() {
            return Err(ConfigError::new(
                "cluster.nats",
                "is empty; give the NATS server(s), e.g. nats://127.0.0.1:4222",
            ));
        }
        for url in &urls {
            let scheme = url.split_once("://").map(|(s, _)| s);
            if !matches!(scheme, Some("nats" | "tls" | "ws" | "wss")) {
                return Err(ConfigError::new(
                    "cluster.nats",
                    format!("{url:?} is not a NATS URL; write nats://host:port (or tls://, ws://, wss://)"),
                ));
            }
        }
        Ok(urls)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.urls()?;
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if self.node.is_empty() || !self.node.chars().all(valid) {
            return Err(ConfigError::new(
                "cluster.node",
                format!(
                    "{:?}: name this node with letters, digits, - and _ (it is part of NATS \
                     subjects), unique in the cluster, e.g. gate-a",
                    self.node
                ),
            ));
        }
        if self.lease < 1000 {
            return Err(ConfigError::new(
                "cluster.lease",
                format!(
                    "{} ms is too short: a lease is renewed every third of it over the network; \
                     use at least 1000 (default 5000)",
                    self.lease
                ),
            ));
        }
        Ok(())
    }
}

/// `oicq_webd:`: the daemon's format served from one of botgate's accounts, so clients
/// written for oicq_webd drive it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OicqServeConfig {
    /// Whether the listener runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Its host.
    #[serde(default = "default_server_host")]
    pub host: String,
    /// Its port: the WebSocket on any path, the HTTP API beside it.
    #[serde(default = "default_oicq_port")]
    pub port: u16,
    /// The account served; default: the first under `bots:`.
    #[serde(default)]
    pub bot: Option<i64>,
}

fn default_oicq_port() -> u16 {
    8888
}

impl OicqServeConfig {
    /// The account served.
    pub fn served_bot(&self, bots: &[BotConfig]) -> i64 {
        self.bot.or_else(|| bots.first().map(|b| b.qq)).unwrap_or_default()
    }
}

/// `qqbot:`: the QQ official bot protocol served to the platform's SDKs (qq-botpy, nonebot's
/// QQ adapter, botgo) from botgate's accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QqBotServeConfig {
    /// Whether the listener runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Its host.
    #[serde(default = "default_server_host")]
    pub host: String,
    /// Its port: token endpoint, `/gateway`, `/gateway/bot`, `/websocket` and the OpenAPI.
    #[serde(default = "default_qqbot_port")]
    pub port: u16,
    /// The apps served, each driving one bot.
    #[serde(default)]
    pub apps: Vec<QqServedAppSetting>,
}

/// `qqbot.apps[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QqServedAppSetting {
    /// The app id SDKs log in with.
    #[serde(deserialize_with = "string_or_number")]
    pub app_id: String,
    /// The secret they log in with (and webhook pushes are signed with).
    pub secret: String,
    /// The bot account the app drives; default: the first under `bots:`.
    #[serde(default)]
    pub bot: Option<i64>,
    /// The SDK's webhook URL: events are POSTed there, signed, instead of only over the gateway.
    #[serde(default)]
    pub webhook: String,
}

fn default_qqbot_port() -> u16 {
    8090
}

impl QqBotServeConfig {
    fn validate(&self, bots: &[BotConfig]) -> Result<(), ConfigError> {
        if self.apps.is_empty() {
            return Err(ConfigError::new(
                "qqbot.apps",
                "serve at least one app: - { app_id: \"102000001\", secret: some-secret, bot: 10001 }",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, app) in self.apps.iter().enumerate() {
            let key = format!("qqbot.apps[{i}]");
            if app.app_id.trim().is_empty() || !seen.insert(app.app_id.clone()) {
                return Err(ConfigError::new(
                    format!("{key}.app_id"),
                    "give each app an app_id of its own (SDKs log in with it)",
                ));
            }
            if app.secret.is_empty() {
                return Err(ConfigError::new(
                    format!("{key}.secret"),
                    "give the app a secret: SDKs fetch tokens with it, and openids and webhook \
                     signatures derive from it",
                ));
            }
            let bot = app.served_bot(bots);
            if !bots.iter().any(|b| b.qq == bot) {
                return Err(ConfigError::new(
                    format!("{key}.bot"),
                    format!("bot {bot} is not under bots:; name one of the accounts there"),
                ));
            }
            let url = &app.webhook;
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::new(
                    format!("{key}.webhook"),
                    format!(
                        "{url:?} is not an http(s) URL; give the SDK's webhook address or \"\""
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl QqServedAppSetting {
    /// The bot the app drives: `bot`, else the first under `bots:`.
    pub fn served_bot(&self, bots: &[BotConfig]) -> i64 {
        self.bot.or_else(|| bots.first().map(|b| b.qq)).unwrap_or_default()
    }
}

impl Config {
    /// Parses and validates YAML text.
    pub fn from_yaml_str(text: &str) -> Result<Config, ConfigError> {
        // Syntax first, so a broken file is reported as such rather than against some key.
        serde_yaml::from_str::<serde_yaml::Value>(text)
            .map_err(|e| ConfigError::new("", format!("not valid YAML: {e}")))?;
        let de = serde_yaml::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let mut message = e.inner().to_string();
            // serde_yaml appends the location; keep it, it points at the line.
            if message.starts_with("unknown field") {
                message.push_str(" (remove it or fix its spelling)");
            }
            ConfigError::new(key, message)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                "",
                format!(
                    "cannot read {}: {e} (pass the file with --config FILE; the repository \
                     ships a documented config.yaml)",
                    path.display()
                ),
            )
        })?;
        Self::from_yaml_str(&text)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(cluster) = &self.cluster {
            cluster.validate()?;
        }
        if self.server.token.is_empty() && !is_loopback(&self.server.host) {
            return Err(ConfigError::new(
                "server.token",
                format!(
                    "is empty while server.host is {:?}, reachable from other machines: the \
                     admin API and /sim would be open to them; set a token (clients send \
                     Authorization: Bearer <token>), or listen on 127.0.0.1",
                    self.server.host
                ),
            ));
        }
        if self.bots.is_empty() {
            return Err(ConfigError::new(
                "bots",
                "no bot accounts; add at least one entry like `- qq: 10001` with `source: simulated`",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, bot) in self.bots.iter().enumerate() {
            let learned = bot.qq == 0
                && bot.source == SourceKind::Onebot
                && bot.onebot.as_ref().is_some_and(|ob| ob.mode == "forward");
            if learned {
                // Learned at start-up from get_login_info.
                continue;
            }
            if bot.qq <= 0 {
                return Err(ConfigError::new(
                    format!("bots[{i}].qq"),
                    "must be a positive QQ number (only a forward OneBot source may leave it out: \
                     botgate then asks the implementation)",
                ));
            }
            if !seen.insert(bot.qq) {
                return Err(ConfigError::new(
                    format!("bots[{i}].qq"),
                    format!("bot {} is listed twice; each account appears once", bot.qq),
                ));
            }
            bot.simulated
                .validate(bot.qq)
                .map_err(|e| ConfigError::new(format!("bots[{i}].simulated"), e))?;
            match (bot.source, &bot.onebot) {
                (SourceKind::Onebot, None) => {
                    return Err(ConfigError::new(
                        format!("bots[{i}].onebot"),
                        "source: onebot needs an onebot: section with the implementation's url",
                    ))
                }
                (SourceKind::Simulated | SourceKind::Qqbot | SourceKind::OicqWebd, Some(_)) => {
                    return Err(ConfigError::new(
                        format!("bots[{i}].onebot"),
                        "only a bot with source: onebot takes an onebot: section; remove it or \
                         change source",
                    ))
                }
                (SourceKind::Onebot, Some(ob)) => ob.validate(&format!("bots[{i}].onebot"))?,
                _ => {}
            }
            match (bot.source, &bot.oicq_webd) {
                (SourceKind::OicqWebd, None) => {
                    return Err(ConfigError::new(
                        format!("bots[{i}].oicq_webd"),
                        "source: oicq-webd needs an oicq_webd: section with the daemon's url",
                    ))
                }
                (SourceKind::OicqWebd, Some(o)) => o.validate(&format!("bots[{i}].oicq_webd"))?,
                (_, Some(_)) => {
                    return Err(ConfigError::new(
                        format!("bots[{i}].oicq_webd"),
                        "only a bot with source: oicq-webd takes an oicq_webd: section; remove it \
                         or change source",
                    ))
                }
                _ => {}
            }
            match (bot.source, &bot.qqbot) {
                (SourceKind::Qqbot, None) => {
                    return Err(ConfigError::new(
                        format!("bots[{i}].qqbot"),
                        "source: qqbot needs a qqbot: section with the app's app_id and secret",
                    ))
                }
                (SourceKind::Qqbot, Some(q)) => q.validate(&format!("bots[{i}].qqbot"))?,
                (_, Some(_)) => {
                    return Err(ConfigError::new(
                        format!("bots[{i}].qqbot"),
                        "only a bot with source: qqbot takes a qqbot: section; remove it or \
                         change source",
                    ))
                }
                _ => {}
            }
        }
        if let Some(q) = self.qqbot.as_ref().filter(|q| q.enabled) {
            q.validate(&self.bots)?;
        }
        if let Some(o) = self.oicq_webd.as_ref().filter(|o| o.enabled) {
            let bot = o.served_bot(&self.bots);
            if !self.bots.iter().any(|b| b.qq == bot) {
                return Err(ConfigError::new(
                    "oicq_webd.bot",
                    format!("bot {bot} is not under bots:; name one of the accounts there"),
                ));
            }
        }
        let m = &self.mirai;
        for (i, name) in m.adapters.iter().enumerate() {
            if !KNOWN_MIRAI_ADAPTERS.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    format!("mirai.adapters[{i}]"),
                    format!("unknown adapter {name:?}; use one of {AVAILABLE_MIRAI_ADAPTERS:?}"),
                ));
            }
            if !AVAILABLE_MIRAI_ADAPTERS.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    format!("mirai.adapters[{i}]"),
                    format!(
                        "the {name:?} adapter is not available in this version; remove it (available: \
                         {AVAILABLE_MIRAI_ADAPTERS:?})"
                    ),
                ));
            }
        }
        if m.enable_verify && m.verify_key.is_empty() {
            return Err(ConfigError::new(
                "mirai.verifyKey",
                "is empty while enableVerify is true; set a verifyKey, or set enableVerify: false",
            ));
        }
        if m.persistence_factory != "built-in" {
            return Err(ConfigError::new(
                "mirai.persistenceFactory",
                "only \"built-in\" exists; remove the key or set it to built-in",
            ));
        }
        if m.adapter_settings.ws.outbox_size == 0 {
            return Err(ConfigError::new(
                "mirai.adapterSettings.ws.outboxSize",
                "must be at least 1 (events wait there for each client)",
            ));
        }
        if self.server.max_frame_size < 1024 {
            return Err(ConfigError::new("server.max_frame_size", "must be at least 1024 bytes"));
        }
        let server = &self.server;
        for (key, value) in [
            ("server.handshake_timeout", server.handshake_timeout as usize),
            ("server.max_connections", server.max_connections),
            ("server.max_connections_per_peer", server.max_connections_per_peer),
            ("server.max_in_flight", server.max_in_flight),
            ("server.store_messages_per_bot", server.store_messages_per_bot),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        if let Some(root) = &server.media_root {
            let usable = std::fs::canonicalize(root).map(|p| p.is_dir()).unwrap_or(false);
            if !usable {
                return Err(ConfigError::new(
                    "server.media_root",
                    format!("{root:?} is not an existing folder; create it or remove the key"),
                ));
            }
        }
        let rws = &m.adapter_settings.reverse_ws;
        let key = "mirai.adapterSettings.reverse-ws";
        if rws.replay_buffer_size == 0 {
            return Err(ConfigError::new(
                format!("{key}.replayBufferSize"),
                "must be at least 1 (events produced while a server is away wait there)",
            ));
        }
        if self.mirai.adapters.iter().any(|a| a == "reverse-ws") && rws.destinations.is_empty() {
            return Err(ConfigError::new(
                format!("{key}.destinations"),
                "the reverse-ws adapter is enabled but has no destinations; add one or remove \
                 reverse-ws from mirai.adapters",
            ));
        }
        for (i, d) in rws.destinations.iter().enumerate() {
            let dkey = format!("{key}.destinations[{i}]");
            if d.protocol != "ws" && d.protocol != "wss" {
                return Err(ConfigError::new(
                    format!("{dkey}.protocol"),
                    format!("{:?} is not a WebSocket scheme; use ws or wss", d.protocol),
                ));
            }
            if !d.path.starts_with('/') {
                return Err(ConfigError::new(format!("{dkey}.path"), "must start with /"));
            }
            if d.method.parse::<actix_web::http::Method>().is_err() {
                return Err(ConfigError::new(format!("{dkey}.method"), "is not an HTTP method"));
            }
            if d.reconnect_interval == 0 {
                return Err(ConfigError::new(
                    format!("{dkey}.reconnectInterval"),
                    "must be at least 1 millisecond",
                ));
            }
            for (name, _) in merged(&rws.extra_headers, &d.extra_headers) {
                if actix_web::http::header::HeaderName::try_from(name.as_str()).is_err() {
                    return Err(ConfigError::new(
                        format!("{dkey}.extraHeaders.{name}"),
                        "is not a valid HTTP header name",
                    ));
                }
            }
        }
        let wh = &m.adapter_settings.webhook;
        let wkey = "mirai.adapterSettings.webhook";
        if m.adapters.iter().any(|a| a == "webhook") && wh.destinations.is_empty() {
            return Err(ConfigError::new(
                format!("{wkey}.destinations"),
                "the webhook adapter is enabled but has no destinations; add a URL or remove \
                 webhook from mirai.adapters",
            ));
        }
        for (i, d) in wh.destinations.iter().enumerate() {
            if WebhookSetting::url(d).parse::<actix_web::http::Uri>().is_err() {
                return Err(ConfigError::new(
                    format!("{wkey}.destinations[{i}]"),
                    format!("{d:?} is not a URL"),
                ));
            }
        }
        if wh.buffer_size == 0 {
            return Err(ConfigError::new(format!("{wkey}.bufferSize"), "must be at least 1"));
        }
        if wh.retry_interval == 0 {
            return Err(ConfigError::new(
                format!("{wkey}.retryInterval"),
                "must be at least 1 millisecond",
            ));
        }
        if let Some(ob) = &self.onebot {
            if let Some(bot) = ob.bot.filter(|b| !self.bots.iter().any(|x| x.qq == *b)) {
                return Err(ConfigError::new(
                    "onebot.bot",
                    format!("bot {bot} is not listed under bots:"),
                ));
            }
            if ob.use_ws_reverse {
                let needed: &[(&str, &str)] = if ob.ws_reverse_use_universal_client {
                    &[("ws_reverse_url", &ob.ws_reverse_url)]
                } else {
                    &[
                        ("ws_reverse_api_url", &ob.ws_reverse_api_url),
                        ("ws_reverse_event_url", &ob.ws_reverse_event_url),
                    ]
                };
                for (key, url) in needed {
                    let url = if url.is_empty() { &ob.ws_reverse_url } else { *url };
                    if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                        return Err(ConfigError::new(
                            format!("onebot.{key}"),
                            "needs a ws:// or wss:// URL (or set ws_reverse_url for every role)",
                        ));
                    }
                }
                if ob.ws_reverse_reconnect_interval == 0 {
                    return Err(ConfigError::new(
                        "onebot.ws_reverse_reconnect_interval",
                        "must be at least 1 ms",
                    ));
                }
                if ob.ws_reverse_buffer_size == 0 {
                    return Err(ConfigError::new(
                        "onebot.ws_reverse_buffer_size",
                        "must be at least 1",
                    ));
                }
                if ob.ws_reverse_authorization_scheme != "Bearer"
                    && ob.ws_reverse_authorization_scheme != "Token"
                {
                    return Err(ConfigError::new(
                        "onebot.ws_reverse_authorization_scheme",
                        "must be Bearer or Token",
                    ));
                }
            }
            if !ob.post_url.is_empty() && ob.post_url.parse::<actix_web::http::Uri>().is_err() {
                return Err(ConfigError::new(
                    "onebot.post_url",
                    format!("{:?} is not a URL", ob.post_url),
                ));
            }
            if ob.post_message_format != "string" && ob.post_message_format != "array" {
                return Err(ConfigError::new(
                    "onebot.post_message_format",
                    "must be string or array",
                ));
            }
            if ob.enable_heartbeat && ob.heartbeat_interval == 0 {
                return Err(ConfigError::new("onebot.heartbeat_interval", "must be at least 1 ms"));
            }
            if ob.outbox_size == 0 {
                return Err(ConfigError::new("onebot.outbox_size", "must be at least 1"));
            }
            if ob.post_retry_interval == 0 {
                return Err(ConfigError::new(
                    "onebot.post_retry_interval",
                    "must be at least 1 ms (a failing endpoint is retried after it)",
                ));
            }
            if ob.post_buffer_size == 0 {
                return Err(ConfigError::new("onebot.post_buffer_size", "must be at least 1"));
            }
        }
        if let Some(ca) = &rws.ca_file {
            if !Path::new(ca).is_file() {
                return Err(ConfigError::new(
                    format!("{key}.caFile"),
                    format!("{ca} does not exist; point it at a PEM file or remove the key"),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `host` only listens on this machine (`localhost`, `127.x.x.x`, `::1`).
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Common values overridden key by key by a destination's own (as seed 000 says).
pub fn merged(
    common: &BTreeMap<String, Scalar>,
    own: &BTreeMap<String, Scalar>,
) -> Vec<(String, String)> {
    let mut all: BTreeMap<&str, &str> =
        common.iter().map(|(k, v)| (k.as_str(), v.0.as_str())).collect();
    for (k, v) in own {
        all.insert(k, &v.0);
    }
    all.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "bots: [{qq: 10001, source: simulated}]\nmirai:\n  verifyKey: k\n";

    #[test]
    fn the_cluster_section_is_checked_key_by_key() {
        let parse =
            |cluster: &str| Config::from_yaml_str(&format!("{MINIMAL}cluster: {cluster}\n"));
        let c = parse("{ nats: \"nats://127.0.0.1:4222, nats://10.0.0.2:4222\", node: gate-a }")
            .unwrap();
        let cluster = c.cluster.unwrap();
        assert_eq!(cluster.lease, 5000);
        assert_eq!(cluster.urls().unwrap().len(), 2);
        for (bad, key) in [
            ("{ nats: \"\", node: a }", "cluster.nats"),
            ("{ nats: \"http://x:4222\", node: a }", "cluster.nats"),
            ("{ nats: \"nats://x:4222\", node: \"gate a\" }", "cluster.node"),
            ("{ nats: \"nats://x:4222\", node: a, lease: 100 }", "cluster.lease"),
        ] {
            assert_eq!(parse(bad).unwrap_err().key, key, "{bad}");
        }
        assert!(parse("{ nats: \"nats://x:4222\", node: a, lees: 5 }").is_err(), "a misspelt key");
        assert!(Config::from_yaml_str(MINIMAL).unwrap().cluster.is_none());
    }

    #[test]
    fn a_listener_other_machines_reach_needs_a_token() {
        let open = |host: &str, token: &str| {
            Config::from_yaml_str(&format!(
                "server: {{ host: \"{host}\", token: \"{token}\" }}\n{MINIMAL}"
            ))
        };
        let e = open("0.0.0.0", "").unwrap_err();
        assert_eq!(e.key, "server.token");
        assert!(e.message.contains("0.0.0.0"), "{}", e.message);
        assert!(open("192.168.1.5", "").is_err());
        assert!(open("0.0.0.0", "s3cret").is_ok());
        for local in ["127.0.0.1", "127.0.0.4", "localhost", "::1", "[::1]"] {
            assert!(open(local, "").is_ok(), "{local}");
        }
    }

    #[test]
    fn the_message_store_priority_is_background_or_normal() {
        let parse = |key: &str, p: &str| {
            Config::from_yaml_str(&format!("server: {{ {key}: {p} }}\n{MINIMAL}"))
        };
        let priority = |key, p| parse(key, p).unwrap().server.store_messages_priority;
        assert_eq!(priority("store_messages_priority", "normal"), StorePriority::Normal);
        assert_eq!(priority("store_messages_priority", "background"), StorePriority::Background);
        assert_eq!(priority("store_priority", "normal"), StorePriority::Normal, "its old name");
        let default = Config::from_yaml_str(MINIMAL).unwrap().server.store_messages_priority;
        assert_eq!(default, StorePriority::Normal);
        let e = parse("store_messages_priority", "high").unwrap_err();
        assert_eq!(e.key, "server.store_messages_priority");
        assert!(e.message.contains("background"), "{e}");
    }

    #[test]
    fn defaults_fill_every_key() {
        let c = Config::from_yaml_str(MINIMAL).unwrap();
        assert_eq!((c.server.host.as_str(), c.server.port), ("127.0.0.1", 9000));
        assert!(c.mirai.enable_verify);
        assert_eq!(c.mirai.cache_size, 4096);
        assert_eq!(c.mirai.adapter_settings.reverse_ws.reserved_sync_id.0, "-1");
    }

    #[test]
    fn reserved_sync_id_written_as_a_number_is_a_string() {
        let c = Config::from_yaml_str(&format!(
            "{MINIMAL}  adapterSettings: {{reverse-ws: {{reservedSyncId: -5}}}}\n"
        ))
        .unwrap();
        assert_eq!(c.mirai.adapter_settings.reverse_ws.reserved_sync_id.0, "-5");
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key() {
        let e = Config::from_yaml_str(&format!("{MINIMAL}  verfyKey: x\n")).unwrap_err();
        assert_eq!(e.key, "mirai.verfyKey");
        assert!(e.message.contains("verfyKey"), "{e}");
        let e = Config::from_yaml_str("bots: [{qq: abc, source: simulated}]").unwrap_err();
        assert_eq!(e.key, "bots[0].qq", "{e}");
        let e = Config::from_yaml_str(
            "bots: [{qq: 1, source: simulated}]\nmirai:\n  verifyKey: k\n  adapterSettings:\n    reverse-ws:\n      destinations: [{protocol: http}]\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "mirai.adapterSettings.reverse-ws.destinations[0].protocol");
    }

    #[test]
    fn broken_yaml_says_where() {
        let e = Config::from_yaml_str("bots: [\n  - qq: 1\n mirai: x").unwrap_err();
        assert!(e.to_string().starts_with("not valid YAML"), "{e}");
        assert!(e.to_string().contains("line"), "{e}");
    }

    #[test]
    fn impossible_values_are_refused_with_a_fix() {
        let e = Config::from_yaml_str("bots: [{qq: 10001, source: simulated}]").unwrap_err();
        assert_eq!(e.key, "mirai.verifyKey");
        assert!(e.message.contains("enableVerify: false"));
        let e = Config::from_yaml_str(&format!("{MINIMAL}  adapters: [reverse-ws]\n")).unwrap_err();
        assert!(e.key.ends_with("reverse-ws.destinations"), "{e}");
        let e = Config::from_yaml_str("mirai: {verifyKey: k}").unwrap_err();
        assert_eq!(e.key, "bots");
        let e = Config::from_yaml_str(&format!("{MINIMAL}  adapters: [webhook]\n")).unwrap_err();
        assert!(e.key.ends_with("webhook.destinations"), "{e}");
        let e = Config::from_yaml_str(&format!("{MINIMAL}  adapters: [telegram]\n")).unwrap_err();
        assert_eq!(e.key, "mirai.adapters[0]");
    }

    #[test]
    fn destination_values_override_common_ones_key_by_key() {
        let s = |v: &str| Scalar(v.to_owned());
        let common = BTreeMap::from([("a".to_owned(), s("1")), ("b".to_owned(), s("2"))]);
        let own = BTreeMap::from([("b".to_owned(), s("3")), ("c".to_owned(), s("4"))]);
        assert_eq!(
            merged(&common, &own),
            vec![("a".into(), "1".into()), ("b".into(), "3".into()), ("c".into(), "4".into())]
        );
    }

    #[test]
    fn qqbot_entries_are_checked_key_by_key() {
        let entry = |qqbot: &str| {
            format!("bots: [{{qq: 4000000001, source: qqbot, qqbot: {qqbot}}}]\nmirai:\n  verifyKey: k\n")
        };
        let c = Config::from_yaml_str(&entry("{app_id: \"1\", secret: s}")).expect("defaults");
        let q = c.bots[0].qqbot.as_ref().expect("qqbot");
        assert_eq!(
            (q.transport.as_str(), q.api_base.as_str()),
            ("websocket", "https://api.sgroup.qq.com")
        );
        assert_eq!(q.intent_mask(), Ok(1 | 2 | (1 << 30) | (1 << 12) | (1 << 25) | (1 << 26)));
        let c = Config::from_yaml_str(&entry("{app_id: 102, secret: s, intents: [GUILDS, 512]}"))
            .expect("numbers");
        let q = c.bots[0].qqbot.as_ref().expect("qqbot");
        assert_eq!((q.app_id.as_str(), q.intent_mask()), ("102", Ok(513)));
        for (bad, key) in [
            ("{app_id: \"1\"}", "bots[0].qqbot.secret"),
            ("{app_id: \"\", secret: s}", "bots[0].qqbot.app_id"),
            ("{app_id: \"1\", secret: s, transport: grpc}", "bots[0].qqbot.transport"),
            ("{app_id: \"1\", secret: s, intents: [GUILD]}", "bots[0].qqbot.intents"),
            ("{app_id: \"1\", secret: s, api_base: api.sgroup.qq.com}", "bots[0].qqbot.api_base"),
        ] {
            let e = Config::from_yaml_str(&entry(bad)).unwrap_err();
            assert_eq!(e.key, key, "{bad}: {e}");
        }
        let e = Config::from_yaml_str(
            "bots: [{qq: 4000000001, source: qqbot}]\nmirai:\n  verifyKey: k\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "bots[0].qqbot");
    }
}
