//! The admin API and `/metrics` over real HTTP: what the gateway holds (bots, sessions,
//! clients, destinations), the operator's actions (send, inject, disconnect, redial), the
//! token that guards them, and every metric family Prometheus scrapes.

mod common;

use std::time::Duration;

use botgate::gateway::BESIDE_THE_BOTS;
use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "admin-secret";

/// The simulated world with mirai ws + http, OneBot's forward ws, a mirai reverse-ws
/// destination on `ws_port` (redialled only when asked: its interval is a minute) and a
/// webhook nobody answers.
async fn gateway(token: &str, ws_port: u16, dead_port: u16) -> botgate::Gateway {
    let mirai = format!(
        "mirai:\n  adapters: [http, ws, reverse-ws, webhook]\n  verifyKey: \"1234567890\"\n  \
         adapterSettings:\n    http: {{ host: 127.0.0.1, port: 0 }}\n    \
         ws: {{ host: 127.0.0.1, port: 0, heartbeatInterval: 0 }}\n    reverse-ws:\n      \
         heartbeatInterval: 0\n      maxReconnectInterval: 60000\n      destinations:\n        \
         - {{ host: 127.0.0.1, port: {ws_port}, path: /ws, protocol: ws, reconnectInterval: 60000 }}\n    \
         webhook:\n      destinations: [\"http://127.0.0.1:{dead_port}/hook\"]\n      \
         retryInterval: 20\n      maxRetryInterval: 50\n\
         onebot:\n  use_http: false\n  use_ws: true\n  ws_host: 127.0.0.3\n  ws_port: 0\n  \
         enable_heartbeat: false\n"
    );
    let server = if token.is_empty() { String::new() } else { format!("token: {token}, ") };
    start_gateway_with(&server, WORLD, &mirai).await
}

async fn get(gw: &botgate::Gateway, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = awc::Client::default().get(format!("http://{}{path}", gw.server_addr));
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let mut resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.body().limit(16 << 20).await.expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn get_json(gw: &botgate::Gateway, path: &str) -> Value {
    let (status, body) = get(gw, path, Some(TOKEN)).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Waits until bot 10001 has `n` subscribers (the clients' subscriptions are asynchronous).
async fn subscribed(gw: &botgate::Gateway, n: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while healthz(gw).await["bots"][0]["subscribers"] != n {
        assert!(tokio::time::Instant::now() < deadline, "{}", healthz(gw).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of the sample `name{labels}` (labels as Prometheus writes them), if present.
fn sample(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (key, value) = l.rsplit_once(' ')?;
        (key == name_and_labels).then(|| value.parse().ok()).flatten()
    })
}

#[actix_web::test]
async fn the_admin_api_shows_bots_sessions_clients_and_destinations() {
    let (ws_port, dead) = (free_port(), free_port());
    let gw = gateway(TOKEN, ws_port, dead).await;
    let _mirai = mirai_ws_client(&gw).await;
    let _onebot = onebot_client(&gw).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let overview = loop {
        let o = get_json(&gw, "/api/overview").await;
        let failed = o["destinations"][0]["lastError"].as_str().is_some();
        if o["clients"].as_array().is_some_and(|c| c.len() == 2) && failed {
            break o;
        }
        assert!(tokio::time::Instant::now() < deadline, "{o}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let bot = &overview["bots"][0];
    assert_eq!((bot["qq"].clone(), bot["source"].clone()), (json!(10001), json!("simulated")));
    assert_eq!(bot["link"], "online");
    assert!(bot["subscribers"].as_u64().is_some_and(|n| n >= 3), "{bot}");
    let sessions = overview["sessions"].as_array().expect("sessions");
    let mirai_session = sessions
        .iter()
        .find(|s| s["adapters"] == json!(["mirai ws"]))
        .unwrap_or_else(|| panic!("no session used by the mirai ws client: {sessions:?}"));
    assert_eq!(mirai_session["bot"], 10001);
    assert_eq!(mirai_session["keyPrefix"].as_str().map(str::len), Some(4), "never the whole key");
    let clients = overview["clients"].as_array().expect("clients");
    let adapters: Vec<&str> = clients.iter().filter_map(|c| c["adapter"].as_str()).collect();
    assert_eq!(adapters, vec!["mirai ws", "OneBot ws"]);
    // The first connections live beside the bots.
    let threads: Vec<&str> = clients.iter().filter_map(|c| c["thread"].as_str()).collect();
    assert_eq!(threads, vec!["bots", "bots"]);
    for c in clients {
        assert_eq!(c["bot"], 10001, "{c}");
        assert!(c["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{c}");
        assert_eq!((c["outbox"].clone(), c["dropped"].clone()), (json!(0), json!(0)), "{c}");
    }
    let reverse = &overview["destinations"][0];
    assert_eq!(reverse["adapter"], "mirai reverse-ws");
    assert_eq!(reverse["connected"], false);
    assert!(reverse["lastError"].as_str().is_some_and(|e| e.starts_with("connection failed")));
    assert_eq!(overview["destinations"][1]["adapter"], "mirai webhook");
    // The parts on their own.
    assert_eq!(get_json(&gw, "/api/bots").await, overview["bots"]);
    assert_eq!(get_json(&gw, "/api/clients").await.as_array().map(Vec::len), Some(2));
    assert!(get_json(&gw, "/api/sessions").await.is_array());
    assert!(get_json(&gw, "/api/destinations").await.is_array());
}

/// The `thread` of each client the admin API lists, oldest first.
async fn threads(gw: &botgate::Gateway) -> Vec<String> {
    let clients = get_json(gw, "/api/clients").await;
    let clients = clients.as_array().cloned().unwrap_or_default();
    clients.iter().filter_map(|c| c["thread"].as_str().map(str::to_owned)).collect()
}

#[actix_web::test]
async fn the_first_connections_live_beside_the_bots_and_every_one_answers_and_hears() {
    let (ws_port, dead) = (free_port(), free_port());
    let gw = gateway(TOKEN, ws_port, dead).await;
    let mut mirai = Vec::new();
    for _ in 0..=BESIDE_THE_BOTS {
        mirai.push(mirai_ws_client(&gw).await);
    }
    let mut onebot = onebot_client(&gw).await;
    // The clients and the webhook destination.
    subscribed(&gw, BESIDE_THE_BOTS as u64 + 3).await;
    // The bots' thread takes the first connections, whichever adapter they are for; the
    // listeners' workers the rest.
    let mut expected = vec!["bots"; BESIDE_THE_BOTS];
    expected.extend(["worker", "worker"]);
    assert_eq!(threads(&gw).await, expected);

    // Commands are answered and events heard wherever a connection lives.
    for (i, c) in mirai.iter_mut().enumerate() {
        let content = json!({"target": 30001, "messageChain": [{"type": "Plain", "text": "hi"}]});
        let data = c.call(&format!("s{i}"), "sendGroupMessage", content).await;
        assert_eq!(data["code"], 0, "{data}");
        assert!(data["messageId"].as_i64().is_some(), "{data}");
    }
    onebot.send(json!({"action": "get_login_info", "echo": "e"})).await;
    let answer = onebot.recv_frame().await;
    assert_eq!((&answer["retcode"], &answer["data"]["user_id"]), (&json!(0), &json!(10001)));
    let event = group_message(30001, 20001, "to every thread");
    let (status, body) = post_json(&gw, "/sim/10001/inject", &event, Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    for c in &mut mirai {
        let event = c.recv_frame().await;
        assert_eq!(event["data"]["messageChain"][1]["text"], "to every thread", "{event}");
    }
    let event = onebot.recv_frame().await;
    assert_eq!(event["raw_message"], "to every thread", "{event}");

    // A closed connection gives its place back: the next one takes it.
    mirai.remove(0).close().await;
    let mut expected = vec!["bots"; BESIDE_THE_BOTS - 1];
    expected.extend(["worker", "worker"]);
    let deadline = tokio::time::Instant::now() + WAIT;
    while threads(&gw).await != expected {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", threads(&gw).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut last = mirai_ws_client(&gw).await;
    expected.push("bots");
    assert_eq!(threads(&gw).await, expected);
    let content = json!({"target": 30001, "messageChain": [{"type": "Plain", "text": "again"}]});
    assert_eq!(last.call("again", "sendGroupMessage", content).await["code"], 0);
}

#[actix_web::test]
async fn stopping_the_gateway_ends_the_connections_beside_the_bots_too() {
    let (ws_port, dead) = (free_port(), free_port());
    let gw = gateway(TOKEN, ws_port, dead).await;
    let subscribers = || async {
        let status = gw.actors.bots[0].2.send(botgate_actors::bot::GetStatus).await;
        status.expect("the bot runs on").subscribers
    };
    let mut clients = Vec::new();
    for _ in 0..=BESIDE_THE_BOTS {
        clients.push(mirai_ws_client(&gw).await);
    }
    // The clients and the webhook destination, whose subscription outlives the listeners.
    subscribed(&gw, BESIDE_THE_BOTS as u64 + 2).await;
    assert_eq!(threads(&gw).await.iter().filter(|t| *t == "worker").count(), 1);
    gw.stop().await;
    for (i, c) in clients.iter_mut().enumerate() {
        let at = if i < BESIDE_THE_BOTS { "beside the bots" } else { "on a worker" };
        assert!(c.closed().await, "a connection {at} outlived the gateway");
    }
    // Their actors are gone too: their subscriptions left the bot, which runs on.
    let deadline = tokio::time::Instant::now() + WAIT;
    while subscribers().await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "a subscriber outlived the gateway");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn the_operator_sends_injects_disconnects_and_redials() {
    let (ws_port, dead) = (free_port(), free_port());
    let gw = gateway(TOKEN, ws_port, dead).await;
    let mut mirai = mirai_ws_client(&gw).await;
    let mut onebot = onebot_client(&gw).await;
    subscribed(&gw, 3).await;

    // Send as the bot: the other clients of the account see it as the account's own message.
    let send = json!({"target": {"group": 30001},
                      "message": [{"type": "Plain", "text": "from the console "},
                                  {"type": "At", "target": 20001}]});
    let (status, body) = post_json(&gw, "/api/bots/10001/send", &send, Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let id = body["messageId"].as_i64().expect("messageId");
    let sync = mirai.recv_frame().await["data"].clone();
    assert_eq!(sync["type"], "GroupSyncMessage", "{sync}");
    assert_eq!(sync["messageChain"][0]["id"], id);
    assert_eq!(sync["messageChain"][1]["text"], "from the console ");
    assert_eq!(sync["messageChain"][2]["target"], 20001);
    let (status, body) = post_json(
        &gw,
        "/api/bots/10001/send",
        &json!({"target": {"group": 1}, "message": "x"}),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 400, "a group the bot is not in: {body}");
    let (status, _) =
        post_json(&gw, "/api/bots/10001/send", &json!({"message": "no target"}), Some(TOKEN)).await;
    assert_eq!(status, 400);

    // Inject into the simulated bot.
    let (status, body) = post_json(
        &gw,
        "/api/bots/10001/inject",
        &group_message(30001, 20001, "injected"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let event = mirai.recv_frame().await["data"].clone();
    assert_eq!(
        (event["type"].clone(), event["messageChain"][1]["text"].clone()),
        (json!("GroupMessage"), json!("injected"))
    );

    // Disconnect the OneBot client.
    let clients = get_json(&gw, "/api/clients").await;
    let id = clients
        .as_array()
        .and_then(|c| c.iter().find(|c| c["adapter"] == "OneBot ws"))
        .and_then(|c| c["id"].as_u64())
        .expect("the OneBot client is listed");
    let (status, _) =
        post_json(&gw, &format!("/api/clients/{id}/disconnect"), &json!({}), Some(TOKEN)).await;
    assert_eq!(status, 200);
    loop {
        match onebot.recv_any().await {
            tokio_tungstenite::tungstenite::Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 1000);
                assert_eq!(frame.reason.as_str(), "disconnected by the administrator");
                break;
            }
            tokio_tungstenite::tungstenite::Message::Text(_) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    let (status, _) =
        post_json(&gw, "/api/clients/999999/disconnect", &json!({}), Some(TOKEN)).await;
    assert_eq!(status, 404);

    // Redial: the business server is up now; without the redial botgate would wait a minute.
    let mut business = FakeServer::start(ws_port).await;
    let (status, body) =
        post_json(&gw, "/api/destinations/0/redial", &json!({}), Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let mut conn = business.accept().await;
    conn.verify(10001).await;
    let (status, _) = post_json(&gw, "/api/destinations/99/redial", &json!({}), Some(TOKEN)).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn the_token_guards_the_admin_api_and_metrics() {
    let gw = gateway(TOKEN, free_port(), free_port()).await;
    for path in ["/api/overview", "/api/bots", "/api/clients", "/metrics"] {
        assert_eq!(get(&gw, path, None).await.0, 401, "{path} without a token");
        assert_eq!(get(&gw, path, Some("wrong")).await.0, 401, "{path} with a wrong token");
        assert_eq!(get(&gw, path, Some(TOKEN)).await.0, 200, "{path} with the token");
    }
    let (status, _) = post_json(
        &gw,
        "/api/bots/10001/send",
        &json!({"target": {"group": 30001}, "message": "x"}),
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(get(&gw, "/healthz", None).await.0, 200, "health checks need no token");
    // What the config runs is in the scrape from the start, at zero if nothing happened yet.
    let (_, metrics) = get(&gw, "/metrics", Some(TOKEN)).await;
    for series in [
        "botgate_frames_delivered_total{adapter=\"console\"}",
        "botgate_events_received_total{bot=\"10002\",source=\"simulated\"}",
        "botgate_reconnects_total{link=\"mirai reverse-ws\"}",
        "botgate_http_post_retries_total{destination=\"mirai webhook\"}",
    ] {
        assert!(sample(&metrics, series).is_some(), "no {series} in\n{metrics}");
    }
}

#[actix_web::test]
async fn metrics_show_events_frames_commands_clients_destinations_and_the_process() {
    let (ws_port, dead) = (free_port(), free_port());
    let gw = gateway("", ws_port, dead).await;
    let mut business = FakeServer::start(ws_port).await;
    let mut conn = business.accept().await;
    conn.verify(10001).await;
    let mut mirai = mirai_ws_client(&gw).await;
    subscribed(&gw, 3).await;
    inject(&gw, 10001, group_message(30001, 20001, "counted")).await;
    mirai.recv_frame().await;
    conn.recv_frame().await;
    let r = mirai
        .call(
            "1",
            "sendGroupMessage",
            json!({"target": 30001, "messageChain": [{"type": "Plain", "text": "hi"}]}),
        )
        .await;
    assert_eq!(r["code"], 0);
    // The business server goes away: a reconnect; the webhook nobody answers: retries.
    business.kill();
    drop(conn);
    let deadline = tokio::time::Instant::now() + WAIT;
    let metrics = loop {
        let (status, m) = get(&gw, "/metrics", None).await;
        assert_eq!(status, 200);
        let reconnected =
            sample(&m, "botgate_reconnects_total{link=\"mirai reverse-ws\"}").is_some();
        let retried = m.contains("botgate_http_post_retries_total{destination=\"mirai webhook\"}");
        if reconnected && retried {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let at_least = |key: &str, n: f64| {
        let v = sample(&metrics, key).unwrap_or_else(|| panic!("no {key} in\n{metrics}"));
        assert!(v >= n, "{key} = {v}, expected at least {n}");
    };
    at_least("botgate_events_received_total{bot=\"10001\",source=\"simulated\"}", 1.0);
    at_least("botgate_frames_delivered_total{adapter=\"mirai ws\"}", 1.0);
    at_least("botgate_frames_delivered_total{adapter=\"mirai reverse-ws\"}", 1.0);
    at_least(
        "botgate_command_duration_seconds_count{command=\"SendMessage\",protocol=\"mirai\"}",
        1.0,
    );
    at_least("botgate_reconnects_total{link=\"mirai reverse-ws\"}", 1.0);
    at_least("botgate_clients_connected{adapter=\"mirai ws\"}", 1.0);
    at_least("botgate_bot_online{bot=\"10001\",source=\"simulated\"}", 1.0);
    at_least("botgate_bot_subscribers{bot=\"10001\",source=\"simulated\"}", 1.0);
    let webhook = "adapter=\"mirai webhook\",destination=\"http://127.0.0.1";
    assert!(metrics.contains(&format!("botgate_destination_buffered{{{webhook}")), "{metrics}");
    assert!(metrics.contains(&format!("botgate_outbox_dropped_total{{{webhook}")), "{metrics}");
    assert!(metrics
        .contains("botgate_client_departures_total{adapter=\"mirai ws\",reason=\"evicted\"}"));
    assert!(metrics.contains("# TYPE botgate_command_duration_seconds histogram"));
    assert!(metrics.contains("# TYPE botgate_events_received_total counter"));
    for process in ["process_resident_memory_bytes", "process_open_fds"] {
        let v = sample(&metrics, process).unwrap_or_else(|| panic!("no {process} in\n{metrics}"));
        assert!(v > 0.0, "{process} = {v}");
    }
    // Whole seconds: a test's process may not have used one yet.
    assert!(sample(&metrics, "process_cpu_seconds_total").is_some(), "{metrics}");
}
