//! The soak harness: the botgate binary, as a child process, under a steady stream of events
//! while everything around it fails — WebSocket destinations killed and restarted, HTTP POST
//! endpoints refusing and timing out, the platform source dropping its link, botgate itself
//! stopped with SIGTERM and killed with `kill -9` — and a ledger of every event it accepted,
//! checked against what each destination received: lost, duplicated, out of order, and what
//! was in flight into a socket that died (or not yet written when botgate was killed).
//!
//! Shared by `tests/soak.rs` (a short run in CI, asserting the targets) and `benches/soak.rs`
//! (the full run whose figures the README gives). It runs inside an actix system.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

const VERIFY_KEY: &str = "soak-key";
const PLATFORM_QQ: i64 = 3_000_000_001;
/// How long after a destination's server died an event may still have been written into its
/// socket: the time botgate takes to read the close.
const CLOSE_NOTICE: Duration = Duration::from_millis(250);
/// How long before a `kill -9` an accepted event may not yet have been written anywhere.
const KILL_WINDOW: Duration = Duration::from_millis(500);

/// What a run does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The botgate binary.
    pub botgate: PathBuf,
    /// How long events are produced.
    pub duration: Duration,
    /// Events per second injected into the simulated bot.
    pub sim_rate: u32,
    /// Events per second the fake OneBot platform sends.
    pub platform_rate: u32,
    /// Times each WebSocket destination's server is killed and restarted.
    pub ws_kills: u32,
    /// Percent of POSTs answered 500.
    pub post_failure_percent: u64,
    /// POSTs per endpoint left unanswered past botgate's timeout.
    pub post_timeouts: u32,
    /// Times the platform drops botgate's link.
    pub source_drops: u32,
}

impl Plan {
    /// The full soak: two minutes, 500 events/s, every destination killed 100 times.
    pub fn full(botgate: PathBuf) -> Plan {
        Plan {
            botgate,
            duration: Duration::from_secs(120),
            sim_rate: 400,
            platform_rate: 100,
            ws_kills: 100,
            post_failure_percent: 30,
            post_timeouts: 10,
            source_drops: 20,
        }
    }

    /// The short run CI makes: the same faults, fewer of them.
    pub fn short(botgate: PathBuf) -> Plan {
        Plan {
            duration: Duration::from_secs(15),
            ws_kills: 10,
            post_timeouts: 2,
            source_drops: 3,
            ..Plan::full(botgate)
        }
    }
}

/// Which producer an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Stream {
    /// Injected into the simulated bot over `/sim/10001/inject`.
    Sim,
    /// Sent by the fake OneBot platform for bot 3000000001.
    Platform,
}

/// One event as a destination received it.
#[derive(Debug, Clone)]
struct Arrival {
    stream: Stream,
    n: u64,
    at: Instant,
    /// The POST was left unanswered past botgate's timeout: botgate will send it again.
    ack_lost: bool,
}

/// Everything one destination received, and when its server was killed.
struct Record {
    name: &'static str,
    /// Whether the protocol acknowledges each event (HTTP POST).
    acked: bool,
    streams: Vec<Stream>,
    arrivals: Vec<Arrival>,
    kills: Vec<Instant>,
    refused: u64,
    hung: u64,
}

type Shared = Arc<Mutex<Record>>;

fn record(name: &'static str, acked: bool, streams: &[Stream]) -> Shared {
    Arc::new(Mutex::new(Record {
        name,
        acked,
        streams: streams.to_vec(),
        arrivals: Vec::new(),
        kills: Vec::new(),
        refused: 0,
        hung: 0,
    }))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The event's producer and number, from any of the formats botgate posts.
fn event_id(v: &Value) -> Option<(Stream, u64)> {
    let chain = v["data"]["messageChain"].as_array().or_else(|| v["messageChain"].as_array());
    let text = match chain {
        Some(chain) => chain.iter().find(|m| m["type"] == "Plain")?["text"].as_str()?,
        None => v["raw_message"].as_str()?,
    };
    let (kind, n) = text.split_once(' ')?;
    let stream = match kind {
        "sim" => Stream::Sim,
        "plat" => Stream::Platform,
        _ => return None,
    };
    Some((stream, n.parse().ok()?))
}

/// Every event botgate accepted, and when the faults happened.
#[derive(Default)]
struct Ledger {
    /// Injected events botgate answered 200: when the request was sent and answered.
    sim: BTreeMap<u64, (Instant, Instant)>,
    /// Injections refused (botgate restarting).
    refused: u64,
    /// Platform events: when sent, and on which of its connections.
    platform: BTreeMap<u64, (Instant, u64)>,
    /// When each platform connection died.
    platform_deaths: HashMap<u64, Instant>,
    sigterm: Option<Instant>,
    kill9: Option<Instant>,
    /// How long botgate took to exit after SIGTERM and after `kill -9`: every event sent to
    /// it in that time is in a dying process.
    exits: (Duration, Duration),
}

/// A tiny deterministic generator: the faults are the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

// ---------------------------------------------------------------------------------------------
// WebSocket destinations: a mirai reverse-ws business server (verifies for a bot) or a OneBot
// reverse WebSocket server, killed and restarted on the same port.

struct WsDestination {
    port: u16,
    verify_qq: Option<i64>,
    record: Shared,
    listener: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl WsDestination {
    fn new(record: Shared, verify_qq: Option<i64>) -> WsDestination {
        WsDestination {
            port: free_port(),
            verify_qq,
            record,
            listener: None,
            conns: Arc::default(),
        }
    }

    async fn start(&mut self) {
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        let (record, conns, verify_qq) = (self.record.clone(), self.conns.clone(), self.verify_qq);
        self.listener = Some(tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let record = record.clone();
                lock(&conns).push(tokio::spawn(serve_destination(tcp, record, verify_qq)));
            }
        }));
    }

    /// The server dies: its listener and every connection, unread data included.
    fn kill(&mut self) {
        if let Some(l) = self.listener.take() {
            l.abort();
        }
        for c in lock(&self.conns).drain(..) {
            c.abort();
        }
        lock(&self.record).kills.push(Instant::now());
    }
}

async fn serve_destination(tcp: tokio::net::TcpStream, record: Shared, verify_qq: Option<i64>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    if let Some(qq) = verify_qq {
        let verify = json!({"syncId": "soak-verify", "command": "verify", "subCommand": null,
                            "content": {"verifyKey": VERIFY_KEY, "sessionKey": null, "qq": qq}});
        if ws.send(Message::text(verify.to_string())).await.is_err() {
            return;
        }
    }
    while let Some(Ok(frame)) = ws.next().await {
        let Message::Text(text) = frame else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if let Some((stream, n)) = event_id(&v) {
            let arrival = Arrival { stream, n, at: Instant::now(), ack_lost: false };
            lock(&record).arrivals.push(arrival);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP POST endpoints: a share of requests answered 500, a few left hanging past botgate's
// timeout (the endpoint got the event; botgate cannot know and posts it again).

struct Endpoint {
    port: u16,
    handle: actix_web::dev::ServerHandle,
}

fn start_endpoint(
    record: Shared,
    failure_percent: u64,
    hang_at: Vec<Instant>,
    hang_for: Duration,
) -> Endpoint {
    let port = free_port();
    let counter = Arc::new(AtomicU64::new(0));
    let hangs = Arc::new(Mutex::new(VecDeque::from(hang_at)));
    let server = actix_web::HttpServer::new(move || {
        let (record, counter, hangs) = (record.clone(), counter.clone(), hangs.clone());
        actix_web::App::new().default_service(actix_web::web::to(
            move |body: actix_web::web::Bytes| {
                let (record, counter, hangs) = (record.clone(), counter.clone(), hangs.clone());
                async move {
                    let k = counter.fetch_add(1, Ordering::Relaxed);
                    let id = serde_json::from_slice::<Value>(&body).ok().and_then(|v| event_id(&v));
                    let hang = {
                        let mut due = lock(&hangs);
                        let now = Instant::now();
                        let hang = due.front().is_some_and(|t| *t <= now) && id.is_some();
                        if hang {
                            due.pop_front();
                        }
                        hang
                    };
                    let fail = XorShift(k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1).next() % 100
                        < failure_percent;
                    if !hang && fail {
                        lock(&record).refused += 1;
                        return actix_web::HttpResponse::InternalServerError().finish();
                    }
                    if let Some((stream, n)) = id {
                        let mut r = lock(&record);
                        r.hung += u64::from(hang);
                        r.arrivals.push(Arrival { stream, n, at: Instant::now(), ack_lost: hang });
                    }
                    if hang {
                        actix_web::rt::time::sleep(hang_for).await;
                    }
                    actix_web::HttpResponse::NoContent().finish()
                }
            },
        ))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", port))
    .expect("bind an endpoint")
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Endpoint { port, handle }
}

// ---------------------------------------------------------------------------------------------
// The fake OneBot platform (a NapCat): botgate dials it; it answers every action and sends
// group messages while a logged-in connection is up, and drops the link when told to.

/// The platform's logged-in connection: its number and where its events go.
type Live = Arc<Mutex<Option<(u64, tokio::sync::mpsc::UnboundedSender<String>)>>>;

/// The platform's connections, by number.
type Conns = Arc<Mutex<Vec<(u64, JoinHandle<()>)>>>;

struct Platform {
    port: u16,
    live: Live,
    conns: Conns,
    ledger: Arc<Mutex<Ledger>>,
}

impl Platform {
    async fn start(ledger: Arc<Mutex<Ledger>>) -> Platform {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the platform");
        let port = listener.local_addr().expect("addr").port();
        let live: Live = Arc::default();
        let conns: Conns = Arc::default();
        let (l2, c2, ledger2) = (live.clone(), conns.clone(), ledger.clone());
        tokio::spawn(async move {
            let mut next = 0u64;
            while let Ok((tcp, _)) = listener.accept().await {
                next += 1;
                let task = tokio::spawn(serve_platform(tcp, next, l2.clone(), ledger2.clone()));
                lock(&c2).push((next, task));
            }
        });
        Platform { port, live, conns, ledger }
    }

    /// The platform drops botgate's link.
    fn drop_link(&self) {
        let now = Instant::now();
        let dropped: Vec<_> = lock(&self.conns).drain(..).collect();
        let mut ledger = lock(&self.ledger);
        for (id, task) in dropped {
            task.abort();
            ledger.platform_deaths.entry(id).or_insert(now);
        }
        *lock(&self.live) = None;
    }

    /// Sends event `n` on the live connection, if there is one; answers whether it did.
    fn send(&self, n: u64) -> bool {
        let live = lock(&self.live);
        let Some((conn, tx)) = live.as_ref() else {
            return false;
        };
        let event = json!({
            "time": 1_700_000_000 + n, "self_id": PLATFORM_QQ, "post_type": "message",
            "message_type": "group", "sub_type": "normal", "message_id": n as i64 + 1,
            "group_id": 40001, "user_id": 50001, "anonymous": null, "font": 0,
            "message": [{"type": "text", "data": {"text": format!("plat {n}")}}],
            "raw_message": format!("plat {n}"),
            "sender": {"user_id": 50001, "nickname": "P", "card": "", "role": "member"}
        });
        if tx.send(event.to_string()).is_err() {
            return false;
        }
        lock(&self.ledger).platform.insert(n, (Instant::now(), *conn));
        true
    }
}

async fn serve_platform(
    tcp: tokio::net::TcpStream,
    id: u64,
    live: Live,
    ledger: Arc<Mutex<Ledger>>,
) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut tx = Some(tx);
    loop {
        tokio::select! {
            frame = ws.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    if matches!(frame, Some(Ok(_))) { continue; }
                    break;
                };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                let action = v["action"].as_str().unwrap_or_default().to_owned();
                let data = match action.as_str() {
                    "get_login_info" => json!({"user_id": PLATFORM_QQ, "nickname": "platform bot"}),
                    "get_version_info" => json!({"app_name": "soak-napcat", "app_version": "1",
                                                 "protocol_version": "v11"}),
                    a if a.ends_with("_list") => json!([]),
                    _ => Value::Null,
                };
                let reply = json!({"status": "ok", "retcode": 0, "data": data, "echo": v["echo"]});
                if ws.send(Message::text(reply.to_string())).await.is_err() {
                    break;
                }
                // Logged in once botgate asked for the version (its last start-up step).
                if action == "get_version_info" {
                    if let Some(tx) = tx.take() {
                        *lock(&live) = Some((id, tx));
                    }
                }
            }
            Some(event) = events.recv() => {
                if ws.send(Message::text(event)).await.is_err() {
                    break;
                }
            }
        }
    }
    let mut live = lock(&live);
    if live.as_ref().is_some_and(|(c, _)| *c == id) {
        *live = None;
    }
    lock(&ledger).platform_deaths.entry(id).or_insert_with(Instant::now);
}

// ---------------------------------------------------------------------------------------------
// botgate itself.

struct Botgate {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Botgate {
    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("botgate.log"))
            .expect("open the log");
        let child = Command::new(&self.binary)
            .current_dir(&self.dir)
            .arg("--config")
            .arg(self.dir.join("config.yaml"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start botgate");
        self.child = Some(child);
        let client = awc::Client::default();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let url = format!("http://127.0.0.1:{}/healthz", self.port);
            if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "botgate never answered /healthz");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill {signal} failed");
        }
    }

    /// Waits for the process to exit (after a signal).
    async fn exited(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "botgate did not exit");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("botgate.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Botgate {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn config(server: u16, platform: u16, ws: &[u16; 3], webhook: u16, post: u16) -> String {
    format!(
        r#"server: {{ host: 127.0.0.1, port: {server}, data_dir: ./data }}
bots:
  - qq: 10001
    source: simulated
    simulated:
      groups:
        - id: 30001
          name: soak
          members: [{{ id: 20001, nickname: Alice }}]
  - qq: {PLATFORM_QQ}
    source: onebot
    onebot: {{ url: "ws://127.0.0.1:{platform}/", reconnect_interval: 50, max_reconnect_interval: 200, action_timeout: 2000 }}
mirai:
  adapters: [reverse-ws, webhook]
  verifyKey: {VERIFY_KEY}
  adapterSettings:
    reverse-ws:
      destinations:
        - {{ host: 127.0.0.1, port: {}, path: /, protocol: ws, reconnectInterval: 50, extraParameters: {{ qq: 10001 }} }}
        - {{ host: 127.0.0.1, port: {}, path: /, protocol: ws, reconnectInterval: 50, extraParameters: {{ qq: {PLATFORM_QQ} }} }}
      maxReconnectInterval: 200
      heartbeatInterval: 0
      replayBufferSize: 100000
    webhook:
      destinations: ["http://127.0.0.1:{webhook}/hook"]
      timeout: {{ requestTimeoutMillis: 300, connectTimeoutMillis: 300 }}
      bufferSize: 100000
      retryInterval: 5
      maxRetryInterval: 40
onebot:
  bot: 10001
  use_http: false
  use_ws: false
  enable_heartbeat: false
  post_message_format: string
  post_url: http://127.0.0.1:{post}/
  post_timeout: 1
  post_retry_interval: 5
  post_max_retry_interval: 40
  post_buffer_size: 100000
  use_ws_reverse: true
  ws_reverse_use_universal_client: true
  ws_reverse_url: ws://127.0.0.1:{}/
  ws_reverse_reconnect_interval: 50
  ws_reverse_buffer_size: 100000
qqbot: {{ enabled: false }}
oicq_webd: {{ enabled: false }}
"#,
        ws[0], ws[1], ws[2]
    )
}

// ---------------------------------------------------------------------------------------------
// The run.

/// One destination's figures.
#[derive(Debug, Clone, Default)]
pub struct DestinationReport {
    /// The destination.
    pub name: &'static str,
    /// Whether its protocol acknowledges events.
    pub acked: bool,
    /// Accepted events meant for it.
    pub expected: usize,
    /// Distinct events it received.
    pub delivered: usize,
    /// Missing, and not explained by a socket that died or a `kill -9`.
    pub lost: usize,
    /// Missing: written by botgate into this destination's socket, which died before the
    /// server read it.
    pub in_flight: usize,
    /// Missing: written by the platform into its socket to botgate, which died before
    /// botgate read it (lost for every destination alike).
    pub platform_in_flight: usize,
    /// Missing: accepted in the last moment before `kill -9`, not yet written anywhere.
    pub unwritten_at_kill: usize,
    /// Received again because the endpoint's answer came after botgate's timeout.
    pub dup_ack_lost: usize,
    /// Received again because botgate was killed before it recorded the delivery.
    pub dup_kill: usize,
    /// Received again for no reason the protocol gives.
    pub dup_other: usize,
    /// First received after a later event.
    pub out_of_order: usize,
    /// Times its server was killed.
    pub kills: usize,
    /// POSTs answered 500.
    pub refused: u64,
    /// POSTs left hanging past the timeout.
    pub hung: u64,
}

/// A run's figures.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The run's length and rates.
    pub plan: String,
    /// Injected events botgate accepted.
    pub accepted_sim: usize,
    /// Injections refused while botgate restarted.
    pub refused_sim: u64,
    /// Events the platform sent.
    pub sent_platform: usize,
    /// Platform links dropped (by the platform or by botgate's restarts).
    pub platform_drops: usize,
    /// Per destination.
    pub destinations: Vec<DestinationReport>,
    /// How long botgate took to exit after SIGTERM and after `kill -9`.
    pub exits: (Duration, Duration),
    /// How long the destinations took to catch up after the last event.
    pub drain: Duration,
    /// The tail of botgate's log, for a failure message.
    pub log_tail: String,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.plan)?;
        writeln!(
            f,
            "accepted: {} injected ({} refused while botgate restarted), {} from the platform \
             over {} links; caught up {:.1} s after the last event; exited {} ms after SIGTERM, \
             {} ms after kill -9",
            self.accepted_sim,
            self.refused_sim,
            self.sent_platform,
            self.platform_drops + 1,
            self.drain.as_secs_f64(),
            self.exits.0.as_millis(),
            self.exits.1.as_millis()
        )?;
        writeln!(
            f,
            "| destination | faults | expected | delivered | lost | in flight into its dead \
             socket | in flight from the platform | unwritten at kill -9 | duplicates: ack \
             lost / after kill -9 / other | out of order |"
        )?;
        writeln!(f, "|---|---|---:|---:|---:|---:|---:|---:|---|---:|")?;
        for d in &self.destinations {
            let faults = if d.acked {
                format!("{} × 500, {} timeouts", d.refused, d.hung)
            } else {
                format!("killed {}×", d.kills)
            };
            writeln!(
                f,
                "| {} | {faults} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} |",
                d.name,
                d.expected,
                d.delivered,
                d.lost,
                d.in_flight,
                d.platform_in_flight,
                d.unwritten_at_kill,
                d.dup_ack_lost,
                d.dup_kill,
                d.dup_other,
                d.out_of_order
            )?;
        }
        Ok(())
    }
}

/// Runs the plan and reports.
pub async fn run(plan: Plan) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger: Arc<Mutex<Ledger>> = Arc::default();
    let mirai_sim = record("mirai reverse-ws (bot 10001)", false, &[Stream::Sim]);
    let mirai_platform =
        record("mirai reverse-ws (OneBot-sourced bot)", false, &[Stream::Platform]);
    let onebot_reverse = record("OneBot reverse ws", false, &[Stream::Sim]);
    let webhook = record("mirai webhook", true, &[Stream::Sim, Stream::Platform]);
    let onebot_post = record("OneBot HTTP POST", true, &[Stream::Sim]);

    let mut ws = [
        WsDestination::new(mirai_sim.clone(), Some(10001)),
        WsDestination::new(mirai_platform.clone(), Some(PLATFORM_QQ)),
        WsDestination::new(onebot_reverse.clone(), None),
    ];
    for d in &mut ws {
        d.start().await;
    }
    let start = Instant::now();
    let spread = |count: u32, offset: f64| -> Vec<Instant> {
        (0..count)
            .map(|i| start + plan.duration.mul_f64((i as f64 + offset) / count.max(1) as f64))
            .collect()
    };
    let webhook_ep = start_endpoint(
        webhook.clone(),
        plan.post_failure_percent,
        spread(plan.post_timeouts, 0.3),
        Duration::from_millis(600),
    );
    let post_ep = start_endpoint(
        onebot_post.clone(),
        plan.post_failure_percent,
        spread(plan.post_timeouts, 0.6),
        Duration::from_millis(1300),
    );
    let platform = Arc::new(Platform::start(ledger.clone()).await);
    let server = free_port();
    let ports = [ws[0].port, ws[1].port, ws[2].port];
    std::fs::write(
        dir.path().join("config.yaml"),
        config(server, platform.port, &ports, webhook_ep.port, post_ep.port),
    )
    .expect("write the config");
    let mut botgate = Botgate {
        binary: plan.botgate.clone(),
        dir: dir.path().to_owned(),
        port: server,
        child: None,
    };
    botgate.start().await;
    let start = Instant::now();
    let producing = Arc::new(AtomicBool::new(true));

    // The simulated bot's events: one injection after another at the rate.
    let injector = {
        let (ledger, producing) = (ledger.clone(), producing.clone());
        let every = Duration::from_secs(1) / plan.sim_rate.max(1);
        actix_web::rt::spawn(async move {
            let client = awc::Client::builder().timeout(Duration::from_secs(5)).finish();
            let url = format!("http://127.0.0.1:{server}/sim/10001/inject");
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut n = 0u64;
            while producing.load(Ordering::Relaxed) {
                tick.tick().await;
                n += 1;
                let body = json!({"type": "GroupMessage",
                                  "sender": {"id": 20001, "group": {"id": 30001}},
                                  "messageChain": [{"type": "Plain", "text": format!("sim {n}")}]});
                let sent = Instant::now();
                let accepted = client
                    .post(url.as_str())
                    .send_json(&body)
                    .await
                    .is_ok_and(|r| r.status().is_success());
                let mut ledger = lock(&ledger);
                if accepted {
                    ledger.sim.insert(n, (sent, Instant::now()));
                } else {
                    ledger.refused += 1;
                }
            }
        })
    };
    // The platform's events, sent while botgate is logged in.
    let platform_events = {
        let (platform, producing) = (platform.clone(), producing.clone());
        let every = Duration::from_secs(1) / plan.platform_rate.max(1);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut n = 0u64;
            while producing.load(Ordering::Relaxed) {
                tick.tick().await;
                if platform.send(n + 1) {
                    n += 1;
                }
            }
        })
    };

    // The faults, in time order.
    enum Fault {
        KillWs(usize),
        DropPlatform,
        SigTerm,
        Kill9,
    }
    let mut faults: Vec<(Instant, Fault)> = Vec::new();
    for (i, offset) in [0.15, 0.45, 0.75].into_iter().enumerate() {
        faults.extend(spread(plan.ws_kills, offset).into_iter().map(|t| (t, Fault::KillWs(i))));
    }
    faults.extend(spread(plan.source_drops, 0.5).into_iter().map(|t| (t, Fault::DropPlatform)));
    faults.push((start + plan.duration.mul_f64(0.34), Fault::SigTerm));
    faults.push((start + plan.duration.mul_f64(0.67), Fault::Kill9));
    faults.sort_by_key(|(t, _)| *t);
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    let mut down: Vec<(Instant, usize)> = Vec::new();
    for (at, fault) in faults {
        // Restart servers whose downtime ended before this fault.
        while let Some(pos) = down.iter().position(|(until, _)| *until <= at) {
            let (until, i) = down.remove(pos);
            tokio::time::sleep_until(until.into()).await;
            ws[i].start().await;
        }
        tokio::time::sleep_until(at.into()).await;
        match fault {
            Fault::KillWs(i) => {
                if !down.iter().any(|(_, j)| *j == i) {
                    ws[i].kill();
                    let downtime = Duration::from_millis(20 + rng.next() % 300);
                    down.push((Instant::now() + downtime, i));
                }
            }
            Fault::DropPlatform => platform.drop_link(),
            Fault::SigTerm => {
                let signalled = Instant::now();
                lock(&ledger).sigterm = Some(signalled);
                botgate.signal("-TERM");
                botgate.exited().await;
                lock(&ledger).exits.0 = signalled.elapsed();
                botgate.start().await;
            }
            Fault::Kill9 => {
                let signalled = Instant::now();
                botgate.signal("-KILL");
                botgate.exited().await;
                // Dead now: what it answered before this was accepted before the kill.
                {
                    let mut ledger = lock(&ledger);
                    ledger.kill9 = Some(Instant::now());
                    ledger.exits.1 = signalled.elapsed();
                }
                botgate.start().await;
            }
        }
    }
    for (until, i) in std::mem::take(&mut down) {
        tokio::time::sleep_until(until.into()).await;
        ws[i].start().await;
    }
    tokio::time::sleep_until((start + plan.duration).into()).await;
    producing.store(false, Ordering::Relaxed);
    let _ = injector.await;
    let _ = platform_events.await;
    let produced_until = Instant::now();

    // Catching up: every destination connected, nothing buffered, arrivals settled.
    let records = [&mirai_sim, &mirai_platform, &onebot_reverse, &webhook, &onebot_post];
    let client = awc::Client::default();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last_total = usize::MAX;
    let mut settled_since = Instant::now();
    loop {
        let total: usize = records.iter().map(|r| lock(r).arrivals.len()).sum();
        let healthz: Value =
            match client.get(format!("http://127.0.0.1:{server}/healthz")).send().await {
                Ok(mut r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
        let idle = healthz["destinations"]
            .as_array()
            .is_some_and(|ds| ds.iter().all(|d| d["buffered"] == 0 && d["connected"] == true));
        if total != last_total || !idle {
            last_total = total;
            settled_since = Instant::now();
        }
        if settled_since.elapsed() > Duration::from_millis(1500) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain = settled_since.saturating_duration_since(produced_until);
    let log_tail = botgate.log_tail();
    drop(botgate);
    webhook_ep.handle.stop(false).await;
    post_ep.handle.stop(false).await;
    let ledger = lock(&ledger);
    let destinations = records.iter().map(|r| analyse(&lock(r), &ledger)).collect();
    for d in &mut ws {
        d.kill();
    }
    Report {
        plan: format!(
            "{} s at {} + {} events/s; each WebSocket destination killed {}×; POSTs {} % \
             refused, {} timeouts per endpoint; platform link dropped {}×; one SIGTERM, one \
             kill -9",
            plan.duration.as_secs(),
            plan.sim_rate,
            plan.platform_rate,
            plan.ws_kills,
            plan.post_failure_percent,
            plan.post_timeouts,
            plan.source_drops
        ),
        accepted_sim: ledger.sim.len(),
        refused_sim: ledger.refused,
        sent_platform: ledger.platform.len(),
        platform_drops: ledger.platform_deaths.len(),
        destinations,
        exits: ledger.exits,
        drain,
        log_tail,
    }
}

/// Checks one destination's arrivals against the ledger.
fn analyse(r: &Record, ledger: &Ledger) -> DestinationReport {
    let mut report = DestinationReport {
        name: r.name,
        acked: r.acked,
        kills: r.kills.len(),
        refused: r.refused,
        hung: r.hung,
        ..DestinationReport::default()
    };
    let in_kill_window = |t: Instant| ledger.kill9.is_some_and(|k| t <= k && t + KILL_WINDOW >= k);
    for &stream in &r.streams {
        let arrivals: Vec<&Arrival> = r.arrivals.iter().filter(|a| a.stream == stream).collect();
        // Duplicates and order.
        let mut seen: HashMap<u64, &Arrival> = HashMap::new();
        let mut highest = 0u64;
        for a in &arrivals {
            if let Some(first) = seen.get(&a.n) {
                if first.ack_lost {
                    report.dup_ack_lost += 1;
                } else if in_kill_window(first.at) && ledger.kill9.is_some_and(|k| a.at > k) {
                    report.dup_kill += 1;
                } else {
                    report.dup_other += 1;
                }
                continue;
            }
            if a.n < highest {
                report.out_of_order += 1;
                if std::env::var_os("SOAK_DEBUG").is_some() && report.out_of_order < 20 {
                    eprintln!(
                        "{}: {} after {highest} at {:?}; kills {:?}; sigterm {:?} kill9 {:?}",
                        r.name, a.n, a.at, r.kills, ledger.sigterm, ledger.kill9
                    );
                }
            }
            highest = highest.max(a.n);
            seen.insert(a.n, a);
        }
        // What is missing, and why.
        let expected: Vec<(u64, Instant, Instant, Option<u64>)> = match stream {
            Stream::Sim => ledger.sim.iter().map(|(n, (s, a))| (*n, *s, *a, None)).collect(),
            Stream::Platform => {
                ledger.platform.iter().map(|(n, (s, c))| (*n, *s, *s, Some(*c))).collect()
            }
        };
        report.expected += expected.len();
        // Around each kill of the server: the last event it had read and the first it read
        // from the next connection.
        let windows: Vec<(Instant, u64, u64)> = r
            .kills
            .iter()
            .map(|&k| {
                let before = arrivals.iter().filter(|a| a.at <= k).map(|a| a.n).max();
                let after = arrivals.iter().filter(|a| a.at > k).map(|a| a.n).min();
                (k, before.unwrap_or(0), after.unwrap_or(u64::MAX))
            })
            .collect();
        let received: HashSet<u64> = seen.keys().copied().collect();
        report.delivered += expected.iter().filter(|(n, ..)| received.contains(n)).count();
        for &(n, sent, accepted, conn) in &expected {
            if received.contains(&n) {
                continue;
            }
            if in_kill_window(accepted) {
                report.unwritten_at_kill += 1;
                continue;
            }
            // The platform's socket died with n unread: no later event of that connection
            // reached this destination.
            let platform_socket = conn.is_some_and(|c| {
                ledger.platform_deaths.contains_key(&c)
                    && !ledger
                        .platform
                        .range(n + 1..)
                        .any(|(m, (_, mc))| *mc == c && received.contains(m))
            });
            // This destination's socket died with n written and unread.
            let destination_socket = windows
                .iter()
                .any(|&(k, before, after)| sent <= k + CLOSE_NOTICE && n > before && n < after);
            if platform_socket {
                report.platform_in_flight += 1;
            } else if !r.acked && destination_socket {
                report.in_flight += 1;
            } else {
                report.lost += 1;
                if std::env::var_os("SOAK_DEBUG").is_some() {
                    eprintln!(
                        "{}: lost {n} sent {sent:?} accepted {accepted:?}; kill -9 {:?}, kills {:?}",
                        r.name, ledger.kill9, r.kills
                    );
                }
            }
        }
    }
    report
}
