//! Cluster mode: three botgate processes and a real `nats-server` with JetStream (Debian's
//! package, installed by `.ci/run`). Clients on every node receive the events of a bot owned
//! by another; a command from a non-owner runs on the owner; SIGKILL of the owner of the bot
//! and of a reverse-ws destination under a stream of events loses nothing and repeats
//! nothing; a NATS restart loses nothing.

mod common;

#[path = "../actors/tests/nats/mod.rs"]
mod nats;

mod fake_qq;

mod fake_sdk;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// One node's ports.
struct Ports {
    server: u16,
    http: u16,
    ws: u16,
    /// The QQ official protocol's listener (when an app is served).
    qq: u16,
}

/// Destinations beside the mirai reverse-ws one every node has.
#[derive(Clone, Default)]
struct More {
    /// A mirai webhook URL.
    webhook: Option<String>,
    /// A OneBot HTTP POST URL.
    onebot_post: Option<String>,
    /// A OneBot reverse WebSocket (universal) URL.
    onebot_reverse: Option<String>,
    /// The `bots:` section instead of the simulated world's.
    bots: Option<String>,
    /// A served QQ official app for bot 10001 whose dispatches go to this webhook URL.
    qqbot_webhook: Option<String>,
}

fn node_config(name: &str, ports: &Ports, nats: &str, destination: u16, more: &More) -> String {
    let webhook = match &more.webhook {
        Some(url) => format!(
            "    webhook:\n      destinations: [\"{url}\"]\n      retryInterval: 100\n      \
             maxRetryInterval: 200\n"
        ),
        None => String::new(),
    };
    let adapters = if more.webhook.is_some() {
        "http, ws, reverse-ws, webhook"
    } else {
        "http, ws, reverse-ws"
    };
    let onebot = if more.onebot_post.is_some() || more.onebot_reverse.is_some() {
        let post = more.onebot_post.as_deref().unwrap_or("");
        let reverse = match &more.onebot_reverse {
            Some(url) => format!(
                "  use_ws_reverse: true\n  ws_reverse_use_universal_client: true\n  \
                 ws_reverse_url: {url}\n  ws_reverse_reconnect_interval: 100\n"
            ),
            None => String::new(),
        };
        format!(
            "onebot:\n  use_http: false\n  use_ws: false\n  enable_heartbeat: false\n  \
             post_url: \"{post}\"\n  post_retry_interval: 100\n  post_max_retry_interval: 200\n{reverse}"
        )
    } else {
        String::new()
    };
    let world = more.bots.as_deref().unwrap_or(WORLD);
    let qqbot = match &more.qqbot_webhook {
        Some(url) => format!(
            "qqbot:\n  host: 127.0.0.1\n  port: {}\n  apps:\n    - {{ app_id: \"{}\", secret: {}, \
             bot: 10001, webhook: \"{url}\" }}\n",
            ports.qq,
            fake_qq::APP_ID,
            fake_qq::SECRET
        ),
        None => String::new(),
    };
    format!(
        "server: {{ host: 127.0.0.1, port: {} }}\n{world}\nmirai:\n  adapters: [{adapters}]\n  \
         verifyKey: \"1234567890\"\n  adapterSettings:\n    http: {{ host: 127.0.0.1, port: {} }}\n    \
         ws: {{ host: 127.0.0.1, port: {}, heartbeatInterval: 0 }}\n    reverse-ws:\n      \
         heartbeatInterval: 0\n      maxReconnectInterval: 400\n      destinations:\n        - {}\n\
         {webhook}{onebot}{qqbot}cluster: {{ nats: \"{nats}\", node: {name}, lease: 2000 }}\n",
        ports.server,
        ports.http,
        ports.ws,
        dest(destination)
    )
}

/// A running cluster: NATS, the nodes (by name) and the business server's record.
struct Cluster {
    nats: nats::Nats,
    nodes: Vec<(String, Ports, Option<Running>)>,
}

impl Cluster {
    async fn start(destination: u16) -> Cluster {
        Self::start_with(destination, &More::default()).await
    }

    async fn start_with(destination: u16, more: &More) -> Cluster {
        let nats = nats::nats_server();
        let mut nodes = Vec::new();
        for name in ["gate-a", "gate-b", "gate-c"] {
            // A port picked free may be taken by a parallel test before the node binds it:
            // then the node exits, and it starts again on other ports.
            let mut attempts = 0;
            let (ports, running) = loop {
                let ports = Ports {
                    server: free_port(),
                    http: free_port(),
                    ws: free_port(),
                    qq: free_port(),
                };
                let config = node_config(name, &ports, &nats.url, destination, more);
                let inherit = std::process::Stdio::inherit();
                match Running::try_start(&config, ports.server, inherit, "warn").await {
                    Ok(running) => break (ports, running),
                    Err(why) if attempts < 3 => eprintln!("{name}: {why}; trying other ports"),
                    Err(why) => panic!("{name} did not start: {why}"),
                }
                attempts += 1;
            };
            nodes.push((name.to_owned(), ports, Some(running)));
        }
        Cluster { nats, nodes }
    }

    fn ports(&self, name: &str) -> &Ports {
        &self.nodes.iter().find(|(n, _, _)| n == name).expect("node").1
    }

    /// The owners of bot 10001 and of the destination, once both have one, asked of `node`.
    async fn owners(&self, node: &str) -> (String, String) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let h = healthz_at(self.ports(node).server).await;
            let bot = h["bots"][0]["owner"].as_str().map(str::to_owned);
            let dest = h["destinations"][0]["owner"].as_str().map(str::to_owned);
            if let (Some(bot), Some(dest)) = (bot, dest) {
                return (bot, dest);
            }
            assert!(tokio::time::Instant::now() < deadline, "no owners: {h}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until ownership is spread: no node owns more than `share` resources.
    async fn wait_spread(&self, share: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let h = healthz_at(self.ports("gate-a").server).await;
            let owners: Vec<String> = ["bots", "destinations"]
                .iter()
                .flat_map(|k| h[k].as_array().cloned().unwrap_or_default())
                .map(|r| r["owner"].as_str().unwrap_or("").to_owned())
                .collect();
            let most = ["gate-a", "gate-b", "gate-c"]
                .iter()
                .map(|n| owners.iter().filter(|o| o == n).count())
                .max()
                .unwrap_or(0);
            if owners.iter().all(|o| !o.is_empty()) && most <= share {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "never spread: {owners:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn kill(&mut self, name: &str) {
        let node = self.nodes.iter_mut().find(|(n, _, _)| n == name).expect("node");
        // Dropping a Running is kill -9.
        node.2.take();
    }
}

/// The text of the next group message a mirai ws client gets (the account's own events — a
/// relogin after a takeover — pass by).
async fn group_text(client: &mut WsPeer) -> String {
    loop {
        let frame = client.recv_frame().await;
        if frame["data"]["type"] == "GroupMessage" {
            return frame["data"]["messageChain"][1]["text"].as_str().unwrap_or("").to_owned();
        }
    }
}

/// Injects a group message with `text` through `server`; whether it was accepted.
async fn say(server: u16, text: &str) -> bool {
    let request = awc::Client::default()
        .post(format!("http://127.0.0.1:{server}/sim/10001/inject"))
        .timeout(Duration::from_secs(15))
        .send_json(&group_message(30001, 20001, text));
    matches!(request.await, Ok(r) if r.status().is_success())
}

/// A business server taking the destination's connections, one after another, verifying
/// each for bot 10001 and recording every message text it is pushed, in arrival order.
fn record_destination(port: u16) -> Arc<Mutex<Vec<String>>> {
    record_ws(port, true, |v| v["data"]["messageChain"][1]["text"].as_str().map(str::to_owned))
}

/// A WebSocket server taking a destination's connections, one after another (verifying
/// each for bot 10001 when `verify`), recording what `text` finds in each frame.
fn record_ws(
    port: u16,
    verify: bool,
    text: fn(&Value) -> Option<String>,
) -> Arc<Mutex<Vec<String>>> {
    let texts = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&texts);
    actix_web::rt::spawn(async move {
        let mut server = FakeServer::start(port).await;
        // Owners come and go: a connection may be long in coming.
        while let Some(mut conn) = server.next_connection().await {
            let record = Arc::clone(&record);
            actix_web::rt::spawn(async move {
                if verify {
                    conn.verify(10001).await;
                }
                let mut ws = conn.into_inner();
                use futures_util::StreamExt;
                while let Some(Ok(message)) = ws.next().await {
                    let Ok(frame) = message.to_text() else { continue };
                    let Ok(v) = serde_json::from_str::<Value>(frame) else { continue };
                    if let Some(t) = text(&v) {
                        record.lock().expect("record").push(t);
                    }
                }
            });
        }
    });
    texts
}

/// The texts an HTTP endpoint was POSTed, found by `text` in each body, in arrival order.
fn posted(ep: &Endpoint, text: fn(&Value) -> Option<String>) -> Vec<String> {
    ep.deliveries().iter().filter_map(|(_, _, v)| text(v)).collect()
}

/// A mirai ws client of bot 10001 on `port`, past its connect ack.
async fn client(port: u16) -> WsPeer {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = ws_client(addr, "/all?verifyKey=1234567890&qq=10001", &[]).await.expect("ws");
    assert_eq!(c.recv_frame().await["data"]["code"], 0);
    c
}

/// How many events a destination may get again after its owner's kill -9: those it wrote in
/// the last position round trip (in practice none at these rates; a WebSocket or a POST has
/// no acknowledgement that would make a kill exact).
const KILL_REPEATS: usize = 8;

/// The accepted events the destination got: each once, in order (events whose acceptance
/// the injector never heard of may appear, once, in their place).
fn check_exactly_once(received: &[String], accepted: &[u64]) {
    check_delivery(received, accepted, 0);
}

/// The destination got every accepted event, in order; the only repeats allowed are at most
/// `repeats` events delivered again right after a kill -9 of the destination's owner (written
/// to the socket, not yet recorded as delivered): one step back, then in order again.
fn check_delivery(received: &[String], accepted: &[u64], repeats: usize) {
    let numbers: Vec<u64> =
        received.iter().filter_map(|t| t.strip_prefix('e')?.parse().ok()).collect();
    let around = |i: usize| &numbers[i.saturating_sub(3)..(i + 3).min(numbers.len())];
    let mut seen = std::collections::BTreeSet::new();
    let mut repeated = 0;
    let mut stepped_back = false;
    for (i, pair) in numbers.windows(2).enumerate() {
        if pair[1] <= pair[0] {
            assert!(!stepped_back && repeats > 0, "out of order at {:?}", around(i + 1));
            stepped_back = true;
        }
    }
    for n in &numbers {
        if !seen.insert(*n) {
            repeated += 1;
        }
    }
    assert!(repeated <= repeats, "{repeated} events delivered twice (at most {repeats} allowed)");
    let missing: Vec<&u64> = accepted.iter().filter(|n| !seen.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "{} accepted events lost, first {:?}",
        missing.len(),
        missing.first()
    );
    eprintln!(
        "{} events accepted, {} delivered ({} whose acceptance the injector did not hear), {} \
         repeated at the kill",
        accepted.len(),
        seen.len(),
        seen.len() - accepted.len().min(seen.len()),
        repeated
    );
}

/// Injects `e<n>` through `server` from `from` on, one after another, until `stop`; records
/// the accepted numbers.
fn inject_stream(
    server: u16,
    accepted: Arc<Mutex<Vec<u64>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut n = 0u64;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            if say(server, &format!("e{n}")).await {
                accepted.lock().expect("accepted").push(n);
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            n += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

/// Waits until `accepted` holds `n` more events than it did.
async fn wait_accepted(accepted: &Mutex<Vec<u64>>, n: usize) {
    let start = accepted.lock().expect("accepted").len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while accepted.lock().expect("accepted").len() < start + n {
        assert!(tokio::time::Instant::now() < deadline, "events stopped being accepted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the destination got every accepted event (or fails after a while).
async fn wait_received(received: &Mutex<Vec<String>>, accepted: &[u64]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got: std::collections::BTreeSet<String> =
            received.lock().expect("record").iter().cloned().collect();
        if accepted.iter().all(|n| got.contains(&format!("e{n}"))) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn events_reach_every_node_and_commands_reach_the_owner() {
    let destination = free_port();
    let received = record_destination(destination);
    let cluster = Cluster::start(destination).await;
    let (owner, _) = cluster.owners("gate-a").await;
    // Every node sees the same owner.
    for node in ["gate-b", "gate-c"] {
        assert_eq!(cluster.owners(node).await.0, owner);
    }
    let others: Vec<&str> =
        ["gate-a", "gate-b", "gate-c"].into_iter().filter(|n| *n != owner).collect();
    let mut clients = Vec::new();
    for node in ["gate-a", "gate-b", "gate-c"] {
        clients.push(client(cluster.ports(node).ws).await);
    }
    // Injected on a node that does not own the bot: the owner's world produces the event,
    // and every node's client gets it once.
    assert!(say(cluster.ports(others[0]).server, "hello cluster").await);
    for c in &mut clients {
        let frame = c.recv_frame().await;
        assert_eq!(frame["data"]["messageChain"][1]["text"], "hello cluster", "{frame}");
        c.expect_silence(Duration::from_millis(100)).await;
    }
    // A command from a non-owner runs on the owner: the message it sends is known there
    // (messageFromId asked on the other non-owner, which asks the owner).
    let base = |node: &str| format!("http://127.0.0.1:{}", cluster.ports(node).http);
    let key = http_session(&base(others[1]), 10001).await;
    let sent: Value = awc::Client::default()
        .post(format!("{}/sendGroupMessage", base(others[1])))
        .send_json(&json!({"sessionKey": key, "target": 30001,
                           "messageChain": [{"type": "Plain", "text": "from a non-owner"}]}))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(sent["code"], 0, "{sent}");
    let id = sent["messageId"].as_i64().expect("messageId");
    let key = http_session(&base(others[0]), 10001).await;
    let found = wait_for_message(&base(others[0]), &key, 30001, id, WAIT).await;
    let found = found.expect("the owner knows the message a non-owner's client sent");
    assert_eq!(found["messageChain"][1]["text"], "from a non-owner");
    // The destination got the injected event once, from its owner only.
    wait_received(&received, &[]).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !received.lock().expect("record").contains(&"hello cluster".to_owned()) {
        assert!(tokio::time::Instant::now() < deadline, "the destination never got it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*received.lock().expect("record"), vec!["hello cluster".to_owned()]);
    // The admin API's redial works from any node: another node asks the owner (once
    // ownership has settled: three resources, one per node). The server sees a new
    // connection each time, and nothing is delivered twice.
    cluster.wait_spread(1).await;
    let (_, dest_owner) = cluster.owners("gate-a").await;
    for node in ["gate-a", "gate-b", "gate-c"] {
        let url =
            format!("http://127.0.0.1:{}/api/destinations/0/redial", cluster.ports(node).server);
        let mut r = awc::Client::default().post(url).send().await.expect("redial");
        let body: Value = r.json().await.expect("json");
        assert_eq!(r.status().as_u16(), 200, "{node}: {body}");
        if node != dest_owner {
            assert_eq!(body["node"], dest_owner.as_str(), "{body}");
        }
    }
    assert!(say(cluster.ports(others[1]).server, "after the redials").await);
    let deadline = tokio::time::Instant::now() + WAIT;
    while received.lock().expect("record").len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "nothing after the redials");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = received.lock().expect("record").clone();
    assert_eq!(got, vec!["hello cluster".to_owned(), "after the redials".to_owned()]);
}

#[actix_web::test]
async fn sigkill_of_the_owners_loses_and_repeats_nothing() {
    let destination = free_port();
    let received = record_destination(destination);
    let mut cluster = Cluster::start(destination).await;
    let (bot_owner, dest_owner) = cluster.owners("gate-a").await;
    let survivor = ["gate-a", "gate-b", "gate-c"]
        .into_iter()
        .find(|n| *n != bot_owner && *n != dest_owner)
        .expect("a node that owns neither")
        .to_owned();
    let server = cluster.ports(&survivor).server;
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let injector = inject_stream(server, Arc::clone(&accepted), Arc::clone(&stop));
    wait_accepted(&accepted, 200).await;
    cluster.kill(&bot_owner);
    if dest_owner != bot_owner {
        cluster.kill(&dest_owner);
    }
    // The survivor takes both over; events keep being accepted.
    wait_accepted(&accepted, 200).await;
    let (bot_now, dest_now) = cluster.owners(&survivor).await;
    assert_eq!((bot_now.as_str(), dest_now.as_str()), (survivor.as_str(), survivor.as_str()));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = injector.await;
    let accepted = accepted.lock().expect("accepted").clone();
    wait_received(&received, &accepted).await;
    check_delivery(&received.lock().expect("record"), &accepted, KILL_REPEATS);
}

#[actix_web::test]
async fn a_nats_restart_loses_nothing() {
    let destination = free_port();
    let received = record_destination(destination);
    let mut cluster = Cluster::start(destination).await;
    let (bot_owner, _) = cluster.owners("gate-a").await;
    let other = ["gate-a", "gate-b", "gate-c"].into_iter().find(|n| *n != bot_owner).expect("node");
    let server = cluster.ports(other).server;
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let injector = inject_stream(server, Arc::clone(&accepted), Arc::clone(&stop));
    wait_accepted(&accepted, 100).await;
    cluster.nats.restart();
    wait_accepted(&accepted, 100).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = injector.await;
    let accepted = accepted.lock().expect("accepted").clone();
    wait_received(&received, &accepted).await;
    check_exactly_once(&received.lock().expect("record"), &accepted);
}

#[actix_web::test]
async fn every_destination_kind_delivers_once_in_order_across_owner_deaths() {
    let destination = free_port();
    let mirai_ws = record_destination(destination);
    let onebot_ws_port = free_port();
    let onebot_ws = record_ws(onebot_ws_port, false, |v| {
        (v["post_type"] == "message").then(|| v["raw_message"].as_str().map(str::to_owned))?
    });
    let webhook = Arc::new(Endpoint::default());
    let webhook_addr = start_endpoint(Arc::clone(&webhook));
    let post = Arc::new(Endpoint::default());
    let post_addr = start_endpoint(Arc::clone(&post));
    let more = More {
        webhook: Some(format!("http://{webhook_addr}/hook")),
        onebot_post: Some(format!("http://{post_addr}/hook")),
        onebot_reverse: Some(format!("ws://127.0.0.1:{onebot_ws_port}/")),
        ..More::default()
    };
    let mut cluster = Cluster::start_with(destination, &more).await;
    cluster.wait_spread(2).await;
    let (bot_owner, _) = cluster.owners("gate-a").await;
    // Six resources (two bots, four destinations) over three nodes: two each. One node that
    // does not own the bot survives; the other two are killed.
    let survivor = ["gate-a", "gate-b", "gate-c"]
        .into_iter()
        .find(|n| *n != bot_owner)
        .expect("a node that does not own the bot")
        .to_owned();
    let server = cluster.ports(&survivor).server;
    let h = healthz_at(server).await;
    let owners: Vec<&str> =
        (0..4).map(|i| h["destinations"][i]["owner"].as_str().unwrap_or("")).collect();
    eprintln!("bot 10001 on {bot_owner}; destinations on {owners:?}; {survivor} survives");
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let injector = inject_stream(server, Arc::clone(&accepted), Arc::clone(&stop));
    wait_accepted(&accepted, 150).await;
    for node in ["gate-a", "gate-b", "gate-c"] {
        if node != survivor {
            cluster.kill(node);
        }
    }
    wait_accepted(&accepted, 150).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = injector.await;
    let accepted = accepted.lock().expect("accepted").clone();
    let h = healthz_at(server).await;
    for i in 0..4 {
        assert_eq!(h["destinations"][i]["owner"], survivor.as_str(), "{h}");
    }
    let mirai_text = |v: &Value| v["messageChain"][1]["text"].as_str().map(str::to_owned);
    let onebot_text = |v: &Value| {
        (v["post_type"] == "message").then(|| v["raw_message"].as_str().map(str::to_owned))?
    };
    wait_received(&mirai_ws, &accepted).await;
    wait_received(&onebot_ws, &accepted).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline
        && !accepted.iter().all(|n| {
            let e = format!("e{n}");
            posted(&webhook, mirai_text).contains(&e) && posted(&post, onebot_text).contains(&e)
        })
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check_delivery(&mirai_ws.lock().expect("record"), &accepted, KILL_REPEATS);
    check_delivery(&onebot_ws.lock().expect("record"), &accepted, KILL_REPEATS);
    check_delivery(&posted(&webhook, mirai_text), &accepted, KILL_REPEATS);
    check_delivery(&posted(&post, onebot_text), &accepted, KILL_REPEATS);
}

/// POSTs `body` to `path` on a node's mirai http adapter; answers the JSON.
async fn mirai_post(port: u16, path: &str, body: Value) -> Value {
    awc::Client::default()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .send_json(&body)
        .await
        .expect("mirai http")
        .json()
        .await
        .expect("json")
}

/// Sends a group message with session `key` through node `port`; answers the code.
async fn send_with(port: u16, key: &str) -> Value {
    let body = json!({"sessionKey": key, "target": 30001,
                      "messageChain": [{"type": "Plain", "text": "shared session"}]});
    mirai_post(port, "/sendGroupMessage", body).await["code"].clone()
}

#[actix_web::test]
async fn a_session_verified_on_one_node_works_on_every_node() {
    let destination = free_port();
    let _received = record_destination(destination);
    let cluster = Cluster::start(destination).await;
    let http = |n: &str| cluster.ports(n).http;
    // /verify on a, /bind on b, a command on c.
    let verified = mirai_post(http("gate-a"), "/verify", json!({"verifyKey": "1234567890"})).await;
    let key = verified["session"].as_str().expect("session key").to_owned();
    let bound = mirai_post(http("gate-b"), "/bind", json!({"sessionKey": key, "qq": 10001})).await;
    assert_eq!(bound["code"], 0, "{bound}");
    assert_eq!(send_with(http("gate-c"), &key).await, 0);
    // A ws client on b attaches to it: one more reference, counted by every node.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], cluster.ports("gate-b").ws));
    let path = format!("/all?verifyKey=1234567890&sessionKey={key}");
    let mut ws = ws_client(addr, &path, &[]).await.expect("ws");
    let ack = ws.recv_frame().await;
    assert_eq!(
        (ack["data"]["code"].clone(), ack["data"]["session"].clone()),
        (json!(0), json!(key))
    );
    // /release on c drops the binding; the ws client on b still holds the session.
    let released =
        mirai_post(http("gate-c"), "/release", json!({"sessionKey": key, "qq": 10001})).await;
    assert_eq!(released["code"], 0, "{released}");
    assert_eq!(send_with(http("gate-a"), &key).await, 0, "the ws client still holds it");
    // The last user leaves: the session is closed on every node.
    ws.close().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    for node in ["gate-a", "gate-b", "gate-c"] {
        loop {
            let code = send_with(http(node), &key).await;
            if code == 3 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{node} still takes it ({code})");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // A key never issued, or a wrong verifyKey, is refused on every node as on one.
    assert_eq!(send_with(http("gate-b"), "nosuchkey").await, 3);
    let wrong = mirai_post(http("gate-c"), "/verify", json!({"verifyKey": "wrong"})).await;
    assert_eq!(wrong["code"], 1, "{wrong}");
}

#[actix_web::test]
async fn a_destination_taken_over_mid_burst_resumes_inside_a_batch() {
    let destination = free_port();
    let received = record_destination(destination);
    let mut cluster = Cluster::start(destination).await;
    // Three resources over three nodes: the bot's owner is not the destination's.
    cluster.wait_spread(1).await;
    let (bot_owner, dest_owner) = cluster.owners("gate-a").await;
    assert_ne!(bot_owner, dest_owner);
    // Generated as fast as the owner's world can: the owner publishes what queues while a
    // publish is acknowledged as one batch, so positions fall inside batches.
    let count = 20_000;
    let traffic = awc::Client::default()
        .post(format!("http://127.0.0.1:{}/sim/10001/traffic", cluster.ports(&bot_owner).server))
        .send_json(&json!({"group": 30001, "member": 20001, "count": count, "rate": 10_000}))
        .await
        .expect("traffic");
    assert_eq!(traffic.status().as_u16(), 202);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while received.lock().expect("record").len() < count / 4 {
        assert!(tokio::time::Instant::now() < deadline, "the burst never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.kill(&dest_owner);
    let numbers = || -> Vec<String> {
        let texts = received.lock().expect("record").clone();
        texts
            .iter()
            .filter_map(|t| Some(format!("e{}", t.strip_prefix("bench ")?.split(' ').next()?)))
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let distinct = || numbers().iter().collect::<std::collections::BTreeSet<_>>().len();
    while distinct() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} generated events arrived",
            distinct()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all: Vec<u64> = (0..count as u64).collect();
    // What the dead owner wrote in its last position round trip may come again: the
    // WebSocket has no acknowledgement that would make a kill -9 exact.
    check_delivery(&numbers(), &all, botgate_actors::cluster::feed::WINDOW);
}

#[actix_web::test]
async fn only_the_owner_runs_a_platform_source_and_another_takes_it_over() {
    let destination = free_port();
    let _received = record_destination(destination);
    let mut napcat = FakeServer::napcat(0, 10001).await;
    let url = format!("ws://127.0.0.1:{}/", napcat.addr.port());
    let bots = format!(
        "bots:\n  - qq: 10001\n    source: onebot\n    onebot: {{ url: \"{url}\", \
         reconnect_interval: 100 }}\n"
    );
    let more = More { bots: Some(bots), ..More::default() };
    let mut cluster = Cluster::start_with(destination, &more).await;
    let (owner, _) = cluster.owners("gate-a").await;
    let other = ["gate-a", "gate-b", "gate-c"].into_iter().find(|n| *n != owner).expect("node");
    // One link to the implementation, from the owner only.
    let mut link = napcat.accept().await;
    napcat_login(&mut link).await;
    let extra = tokio::time::timeout(Duration::from_millis(1500), napcat.next_connection()).await;
    assert!(extra.is_err(), "a node that does not own the account dialled it too");
    // A node that does not own it reports the owner's view of the link.
    let deadline = tokio::time::Instant::now() + WAIT;
    while healthz_at(cluster.ports(other).server).await["bots"][0]["online"] != true {
        assert!(tokio::time::Instant::now() < deadline, "never online on {other}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The platform's event reaches a client of another node.
    let mut c = client(cluster.ports(other).ws).await;
    link.send(napcat_group_message(1, 20002, "from napcat")).await;
    assert_eq!(group_text(&mut c).await, "from napcat");
    // The owner dies: another node takes the account over and dials the implementation.
    cluster.kill(&owner);
    let mut link = napcat.accept().await;
    napcat_login(&mut link).await;
    let survivor = ["gate-a", "gate-b", "gate-c"]
        .into_iter()
        .find(|n| *n != owner && *n != other)
        .expect("a third node");
    let mut c2 = client(cluster.ports(survivor).ws).await;
    link.send(napcat_group_message(2, 20002, "after the takeover")).await;
    assert_eq!(group_text(&mut c).await, "after the takeover");
    assert_eq!(group_text(&mut c2).await, "after the takeover");
}

#[actix_web::test]
async fn the_next_owner_knows_the_last_owners_messages_and_continues_their_ids() {
    let destination = free_port();
    let _received = record_destination(destination);
    let mut cluster = Cluster::start(destination).await;
    cluster.wait_spread(1).await;
    let (owner, _) = cluster.owners("gate-a").await;
    let asker = ["gate-a", "gate-b", "gate-c"].into_iter().find(|n| *n != owner).expect("node");
    let http = cluster.ports(asker).http;
    let base = format!("http://127.0.0.1:{http}");
    let key = http_session(&base, 10001).await;
    let send = |text: &'static str| {
        let key = key.clone();
        async move {
            let body = json!({"sessionKey": key, "target": 30001,
                              "messageChain": [{"type": "Plain", "text": text}]});
            let sent = mirai_post(http, "/sendGroupMessage", body).await;
            assert_eq!(sent["code"], 0, "{sent}");
            sent["messageId"].as_i64().expect("messageId")
        }
    };
    let server = cluster.ports(asker).server;
    let inject = |text: &'static str| async move {
        let r: Value = awc::Client::default()
            .post(format!("http://127.0.0.1:{server}/sim/10001/inject"))
            .send_json(&group_message(30001, 20001, text))
            .await
            .expect("inject")
            .json()
            .await
            .expect("json");
        r["messageId"].as_i64().expect("messageId")
    };
    // The owner sends one message (a command forwarded to it) and sees one.
    let sent = send("sent by the first owner").await;
    let seen = inject("seen by the first owner").await;
    // Let the replicas reach the other nodes' stores (they travel with the event).
    let mut c = client(cluster.ports(asker).ws).await;
    let marker = inject("marker").await;
    assert_eq!(c.recv_frame().await["data"]["messageChain"][1]["text"], "marker");
    cluster.kill(&owner);
    let deadline = tokio::time::Instant::now() + WAIT;
    while cluster.owners(asker).await.0 == owner {
        assert!(tokio::time::Instant::now() < deadline, "never taken over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The next owner resolves the first owner's messages (its store got them) …
    let found = wait_for_message(&base, &key, 30001, sent, WAIT).await;
    let found = found.expect("the message the first owner sent");
    assert_eq!(found["messageChain"][1]["text"], "sent by the first owner");
    let found = wait_for_message(&base, &key, 30001, seen, WAIT).await.expect("the one it saw");
    assert_eq!(found["messageChain"][1]["text"], "seen by the first owner");
    // … and never gives one of their ids to another message.
    let next_seen = inject("seen by the next owner").await;
    let next_sent = send("sent by the next owner").await;
    let last = sent.max(seen).max(marker);
    assert!(
        next_seen > last && next_sent > next_seen,
        "{sent} {seen} {marker} {next_seen} {next_sent}"
    );
}

#[actix_web::test]
async fn a_qq_webhook_push_to_any_node_reaches_the_owner_and_every_client() {
    let destination = free_port();
    let _received = record_destination(destination);
    let fake = fake_qq::FakeQq::start().await;
    let bots = format!(
        "bots:\n  - qq: 10001\n    source: qqbot\n    qqbot: {}\n",
        fake.bot_section("webhook")
    );
    let more = More { bots: Some(bots), ..More::default() };
    let cluster = Cluster::start_with(destination, &more).await;
    let (owner, _) = cluster.owners("gate-a").await;
    let others: Vec<&str> =
        ["gate-a", "gate-b", "gate-c"].into_iter().filter(|n| *n != owner).collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    while healthz_at(cluster.ports(others[0]).server).await["bots"][0]["online"] != true {
        assert!(tokio::time::Instant::now() < deadline, "the webhook bot never came online");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c = client(cluster.ports(others[1]).ws).await;
    // The platform posts to a node that does not own the account (a load balancer in front
    // of the nodes): acknowledged once the owner journaled it, delivered everywhere.
    let url = format!("http://127.0.0.1:{}/qqbot/webhook", cluster.ports(others[0]).server);
    let d = json!({"id": "W-1", "content": "pushed anywhere", "timestamp": fake_qq::now_rfc3339(),
                   "group_openid": "GW", "group_id": "GW",
                   "author": {"member_openid": "UW", "id": "UW"}});
    let body =
        json!({"op": 0, "s": 1, "t": "GROUP_AT_MESSAGE_CREATE", "id": "EVW-1", "d": d}).to_string();
    fake.note_received("W-1", "EVW-1");
    let now = botgate_actors::bot::unix_now().to_string();
    let (status, answer) = fake_qq::push(&url, fake_qq::SECRET, &now, &body).await;
    assert_eq!((status, answer), (200, json!({"op": 12, "d": 0})));
    let frame = c.recv_frame().await;
    assert_eq!(frame["data"]["messageChain"][1]["text"], "pushed anywhere", "{frame}");
    assert_eq!(fake.lock().connections, 0, "a webhook bot opens no gateway session");
}

/// Dials node `server`'s `/onebot/upstream` as NapCat's reverse WebSocket client for bot
/// 10001 (it dials again while the node answers 503: the account is changing hands).
async fn dial_reverse(server: u16) -> WsPeer {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server));
    let headers =
        [("X-Self-ID", "10001"), ("Authorization", "Bearer tok"), ("X-Client-Role", "Universal")];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match ws_client(addr, "/onebot/upstream", &headers).await {
            Ok(peer) => return peer,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "never accepted: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `node` reports `expected` as the owner of bot 10001.
async fn wait_bot_owner(cluster: &Cluster, node: &str, expected: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while cluster.owners(node).await.0 != expected {
        assert!(tokio::time::Instant::now() < deadline, "{expected} never owned bot 10001");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn a_reverse_onebot_account_is_owned_by_the_node_its_implementation_dialled() {
    let destination = free_port();
    let _received = record_destination(destination);
    let bots = "bots:\n  - qq: 10001\n    source: onebot\n    onebot: { mode: reverse, \
                access_token: tok }\n";
    let more = More { bots: Some(bots.to_owned()), ..More::default() };
    let mut cluster = Cluster::start_with(destination, &more).await;
    // NapCat dials gate-b: gate-b owns the account, whatever the shares say.
    let mut napcat = dial_reverse(cluster.ports("gate-b").server).await;
    napcat_login(&mut napcat).await;
    wait_bot_owner(&cluster, "gate-a", "gate-b").await;
    let mut on_c = client(cluster.ports("gate-c").ws).await;
    napcat.send(napcat_group_message(1, 20002, "dialled gate-b")).await;
    assert_eq!(group_text(&mut on_c).await, "dialled gate-b");
    // A command on gate-a reaches the implementation through gate-b.
    let mut on_a = client(cluster.ports("gate-a").ws).await;
    on_a.send(json!({"syncId": "s", "command": "sendGroupMessage", "content": {"target": 30001,
                     "messageChain": [{"type": "Plain", "text": "via gate-a"}]}}))
        .await;
    let call = napcat.recv_frame().await;
    assert_eq!(call["action"], "send_group_msg", "{call}");
    napcat
        .send(json!({"status": "ok", "retcode": 0, "data": {"message_id": 42},
                     "echo": call["echo"]}))
        .await;
    assert_eq!(on_a.reply("s").await["data"]["messageId"], 42);

    // It dials gate-c (a load balancer picked another node): gate-b lets go and closes its
    // link with 1001; gate-c owns the account.
    let mut again = dial_reverse(cluster.ports("gate-c").server).await;
    assert_eq!(napcat.recv_close().await.0, 1001);
    napcat_login(&mut again).await;
    wait_bot_owner(&cluster, "gate-a", "gate-c").await;
    again.send(napcat_group_message(2, 20002, "dialled gate-c")).await;
    assert_eq!(group_text(&mut on_a).await, "dialled gate-c");

    // gate-c dies: the implementation dials gate-a, which takes the account once the dead
    // node's lease ran out.
    cluster.kill("gate-c");
    let mut third = dial_reverse(cluster.ports("gate-a").server).await;
    napcat_login(&mut third).await;
    wait_bot_owner(&cluster, "gate-b", "gate-a").await;
    let mut on_b = client(cluster.ports("gate-b").ws).await;
    third.send(napcat_group_message(3, 20002, "dialled gate-a")).await;
    assert_eq!(group_text(&mut on_a).await, "dialled gate-a");
    assert_eq!(group_text(&mut on_b).await, "dialled gate-a");
}

/// A group message from member 20001 of group 30001 that @s bot 10001 (an SDK's webhook
/// gets those), with `text`, injected through `server`; whether it was accepted.
async fn say_at(server: u16, text: &str) -> bool {
    let event = json!({"type": "GroupMessage", "sender": {"id": 20001, "group": {"id": 30001}},
                       "messageChain": [{"type": "At", "target": 10001},
                                        {"type": "Plain", "text": text}]});
    let request = awc::Client::default()
        .post(format!("http://127.0.0.1:{server}/sim/10001/inject"))
        .timeout(Duration::from_secs(15))
        .send_json(&event);
    matches!(request.await, Ok(r) if r.status().is_success())
}

/// A session of the served QQ official protocol on `port` with the group and C2C intents,
/// with a token fetched from `token_port` — as behind a load balancer that spreads requests
/// over the nodes.
async fn qq_session(token_port: u16, port: u16) -> WsPeer {
    let token: Value = awc::Client::default()
        .post(format!("http://127.0.0.1:{token_port}/app/getAppAccessToken"))
        .send_json(&json!({"appId": fake_qq::APP_ID, "clientSecret": fake_qq::SECRET}))
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = token["access_token"].as_str().expect("access_token").to_owned();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut ws = ws_client(addr, "/websocket", &[]).await.expect("dial");
    assert_eq!(ws.recv_frame().await["op"], 10, "hello");
    ws.send(json!({"op": 2, "d": {"token": format!("QQBot {token}"), "intents": 1 << 25,
                                  "shard": [0, 1]}}))
        .await;
    assert_eq!(ws.recv_frame().await["t"], "READY");
    ws
}

#[actix_web::test]
async fn a_served_apps_webhook_is_sent_by_one_owner_and_taken_over_in_order() {
    let destination = free_port();
    let _received = record_destination(destination);
    let sdk = Arc::new(fake_sdk::Sdk { secret: fake_qq::SECRET.to_owned(), ..Default::default() });
    let sdk_addr = fake_sdk::start_sdk(Arc::clone(&sdk));
    let more =
        More { qqbot_webhook: Some(format!("http://{sdk_addr}/qq/webhook")), ..More::default() };
    let mut cluster = Cluster::start_with(destination, &more).await;
    // Two bots, the mirai reverse-ws destination and the app's webhook over three nodes.
    cluster.wait_spread(2).await;
    let h = healthz_at(cluster.ports("gate-a").server).await;
    let hook = &h["destinations"][1];
    assert_eq!(hook["adapter"], "qqbot webhook", "{h}");
    let hook_owner = hook["owner"].as_str().expect("an owner").to_owned();
    let others: Vec<&str> =
        ["gate-a", "gate-b", "gate-c"].into_iter().filter(|n| *n != hook_owner).collect();
    // A session on another node sees the same event under the same id as the webhook; its
    // token came from a third node.
    let mut session = qq_session(cluster.ports(others[1]).qq, cluster.ports(others[0]).qq).await;
    assert!(say_at(cluster.ports(others[1]).server, "e0").await);
    let dispatch = session.recv_frame().await;
    assert_eq!(dispatch["t"], "GROUP_AT_MESSAGE_CREATE", "{dispatch}");
    let deadline = tokio::time::Instant::now() + WAIT;
    let pushed = loop {
        if let Some(first) = sdk.dispatches().into_iter().next() {
            break first;
        }
        assert!(tokio::time::Instant::now() < deadline, "the webhook got nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(pushed["id"], dispatch["id"], "one id for one event on every node");
    let deliveries_of = |sdk: &fake_sdk::Sdk| -> Vec<String> {
        sdk.pushes
            .lock()
            .expect("lock")
            .iter()
            .map(|(headers, body)| (headers.get("x-signature-ed25519").is_some(), body))
            .filter_map(|(signed, body)| {
                let v: Value = serde_json::from_str(body).ok()?;
                (signed && v["op"] == 0)
                    .then(|| v["d"]["content"].as_str().map(|c| c.trim().to_owned()))?
            })
            .collect()
    };
    // Injections one after another from a node that keeps running; the webhook's owner is
    // killed half-way: the next owner validates the address again and goes on from the last
    // acknowledged dispatch.
    let injector = cluster.ports(others[1]).server;
    let mut accepted = vec![0u64];
    let mut n = 1u64;
    let mut killed = false;
    while accepted.len() < 120 {
        if say_at(injector, &format!("e{n}")).await {
            accepted.push(n);
        }
        n += 1;
        if accepted.len() == 60 && !killed {
            cluster.kill(&hook_owner);
            killed = true;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got: std::collections::BTreeSet<String> = deliveries_of(&sdk).into_iter().collect();
        if accepted.iter().all(|n| got.contains(&format!("e{n}"))) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the webhook never got them all");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check_delivery(&deliveries_of(&sdk), &accepted, KILL_REPEATS);
    let validations =
        sdk.pushes.lock().expect("lock").iter().filter(|(_, b)| b.contains("\"op\":13")).count();
    assert!(validations >= 2, "the next owner validates the address again ({validations})");
}
