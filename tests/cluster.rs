//! Cluster mode: three botgate processes and a real `nats-server` with JetStream (Debian's
//! package, installed by `.ci/run`). Clients on every node receive the events of a bot owned
//! by another; a command from a non-owner runs on the owner; SIGKILL of the owner of the bot
//! and of a reverse-ws destination under a stream of events loses nothing and repeats
//! nothing; a NATS restart loses nothing.

mod common;

#[path = "../actors/tests/nats/mod.rs"]
mod nats;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// One node's ports.
struct Ports {
    server: u16,
    http: u16,
    ws: u16,
}

fn node_config(name: &str, ports: &Ports, nats: &str, destination: u16) -> String {
    format!(
        "server: {{ host: 127.0.0.1, port: {} }}\n{WORLD}\nmirai:\n  adapters: [http, ws, reverse-ws]\n  \
         verifyKey: \"1234567890\"\n  adapterSettings:\n    http: {{ host: 127.0.0.1, port: {} }}\n    \
         ws: {{ host: 127.0.0.1, port: {}, heartbeatInterval: 0 }}\n    reverse-ws:\n      \
         heartbeatInterval: 0\n      maxReconnectInterval: 400\n      destinations:\n        - {}\n\
         cluster: {{ nats: \"{nats}\", node: {name}, lease: 1000 }}\n",
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
        let nats = nats::nats_server();
        let mut nodes = Vec::new();
        for name in ["gate-a", "gate-b", "gate-c"] {
            let ports = Ports { server: free_port(), http: free_port(), ws: free_port() };
            let config = node_config(name, &ports, &nats.url, destination);
            let running = Running::start_logging(
                &config,
                ports.server,
                std::process::Stdio::inherit(),
                "warn",
            )
            .await;
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

    fn kill(&mut self, name: &str) {
        let node = self.nodes.iter_mut().find(|(n, _, _)| n == name).expect("node");
        // Dropping a Running is kill -9.
        node.2.take();
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
    let texts = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&texts);
    actix_web::rt::spawn(async move {
        let mut server = FakeServer::start(port).await;
        // Owners come and go: a connection may be long in coming.
        while let Some(mut conn) = server.next_connection().await {
            let record = Arc::clone(&record);
            actix_web::rt::spawn(async move {
                conn.verify(10001).await;
                let mut ws = conn.into_inner();
                use futures_util::StreamExt;
                while let Some(Ok(message)) = ws.next().await {
                    let Ok(text) = message.to_text() else { continue };
                    let Ok(v) = serde_json::from_str::<Value>(text) else { continue };
                    if let Some(t) = v["data"]["messageChain"][1]["text"].as_str() {
                        record.lock().expect("record").push(t.to_owned());
                    }
                }
            });
        }
    });
    texts
}

/// A mirai ws client of bot 10001 on `port`, past its connect ack.
async fn client(port: u16) -> WsPeer {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = ws_client(addr, "/all?verifyKey=1234567890&qq=10001", &[]).await.expect("ws");
    assert_eq!(c.recv_frame().await["data"]["code"], 0);
    c
}

/// The accepted events the destination got: each once, in order (events whose acceptance
/// the injector never heard of may appear, once, in their place).
fn check_exactly_once(received: &[String], accepted: &[u64]) {
    let numbers: Vec<u64> =
        received.iter().filter_map(|t| t.strip_prefix('e')?.parse().ok()).collect();
    let mut seen = std::collections::BTreeSet::new();
    for n in &numbers {
        assert!(seen.insert(*n), "event e{n} delivered twice: {numbers:?}");
    }
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "out of order: {numbers:?}");
    let missing: Vec<&u64> = accepted.iter().filter(|n| !seen.contains(n)).collect();
    assert!(missing.is_empty(), "accepted events lost: {missing:?}");
    eprintln!(
        "{} events accepted, {} delivered ({} whose acceptance the injector did not hear)",
        accepted.len(),
        numbers.len(),
        numbers.len() - accepted.len()
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
    check_exactly_once(&received.lock().expect("record"), &accepted);
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
