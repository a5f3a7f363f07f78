//! `source: oicq-webd`: an account held by an oicq_webd daemon. A chain — botgate A serves
//! the daemon's format from its simulated world, botgate B's bot is sourced from A — and a
//! fake daemon of the seed's generation written here.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use botgate::listeners::Mount;
use common::*;
use serde_json::{json, Value};

async fn onebot_call(c: &mut WsPeer, action: &str, params: Value) -> Value {
    let echo = format!("e-{action}");
    c.send(json!({"action": action, "params": params, "echo": echo})).await;
    loop {
        let f = c.recv_frame().await;
        if f["echo"] == echo.as_str() {
            return f;
        }
    }
}

async fn next_of(c: &mut WsPeer, key: &str, values: &[&str]) -> Value {
    loop {
        let f = c.recv_frame().await;
        let v = if key == "mirai" { &f["data"]["type"] } else { &f[key] };
        if values.iter().any(|t| v == *t) {
            return f;
        }
    }
}

/// Botgate B: bot 10001 from the daemon at `url`, mirai http + ws and OneBot's forward ws.
async fn downstream(url: &str) -> botgate::Gateway {
    let world = format!(
        "bots:\n  - qq: 10001\n    source: oicq-webd\n    oicq_webd:\n      url: {url}\n      reconnect_interval: 100\n      action_timeout: 2000\n"
    );
    let onebot = "onebot:\n  use_http: false\n  use_ws: true\n  ws_host: 127.0.0.3\n  ws_port: 0\n  post_message_format: array\n";
    start_gateway(&world, &format!("{}{onebot}", mirai_http_ws(""))).await
}

#[actix_web::test]
async fn a_chained_botgate_serves_mirai_and_onebot_clients_from_the_daemon_format() {
    let oicq = "oicq_webd:\n  host: 127.0.0.5\n  port: 0\n  bot: 10001\n";
    let a = start_gateway(WORLD, &format!("{}{oicq}", mirai_http_ws(""))).await;
    let url = format!("http://{}", a.addr_of(Mount::Oicq).expect("A's oicq listener"));
    let b = downstream(&url).await;
    wait_online(&b, true).await;
    let mut mirai = mirai_ws_client(&b).await;
    let mut onebot = onebot_client(&b).await;

    inject(&a, 10001, group_message(30001, 20001, "hello through oicq")).await;
    let m = next_of(&mut mirai, "mirai", &["GroupMessage"]).await["data"].clone();
    assert_eq!(m["messageChain"][1]["text"], "hello through oicq");
    assert_eq!(
        (m["sender"]["id"].clone(), m["sender"]["group"]["id"].clone()),
        (json!(20001), json!(30001))
    );
    assert_eq!(m["sender"]["memberName"], "AliceCard");
    let o = next_of(&mut onebot, "post_type", &["message"]).await;
    assert_eq!(
        (o["group_id"].clone(), o["message"][0]["data"]["text"].clone()),
        (json!(30001), json!("hello through oicq"))
    );
    assert_eq!(o["message_id"], m["messageChain"][0]["id"], "one id in both protocols");

    // A forwarded bundle travels as an id; B expands it through A's mesg/parseForwardedMsg,
    // and what follows waits behind it.
    inject(&a, 10001, json!({"type": "GroupMessage", "sender": {"id": 20001, "group": {"id": 30001}},
        "messageChain": [{"type": "Forward", "nodeList": [
            {"senderId": 20003, "time": 1_700_000_000, "senderName": "Carol", "messageChain": [{"type": "Plain", "text": "node one"}]},
            {"senderId": 20001, "time": 1_700_000_001, "senderName": "Alice", "messageChain": [{"type": "Plain", "text": "node two"}]}]}]})).await;
    inject(&a, 10001, group_message(30001, 20001, "after the bundle")).await;
    let f = next_of(&mut mirai, "mirai", &["GroupMessage"]).await["data"].clone();
    let nodes = f["messageChain"][1]["nodeList"].as_array().cloned().unwrap_or_default();
    assert_eq!(nodes.len(), 2, "{f}");
    assert_eq!(
        (nodes[0]["senderName"].clone(), nodes[1]["messageChain"][0]["text"].clone()),
        (json!("Carol"), json!("node two"))
    );
    let after = next_of(&mut mirai, "mirai", &["GroupMessage"]).await["data"].clone();
    assert_eq!(after["messageChain"][1]["text"], "after the bundle");

    let r = mirai
        .call(
            "s",
            "sendGroupMessage",
            json!({"target": 30001, "quote": m["messageChain"][0]["id"],
        "messageChain": [{"type": "Plain", "text": "mirai via oicq"}]}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let r = onebot_call(
        &mut onebot,
        "send_group_msg",
        json!({"group_id": 30001, "message": "onebot via oicq"}),
    )
    .await;
    assert_eq!(r["retcode"], 0, "{r}");
    // Lists come from the daemon's API.
    let r = onebot_call(&mut onebot, "get_group_member_list", json!({"group_id": 30001})).await;
    assert!(r["data"].as_array().is_some_and(|l| l.iter().any(|m| m["user_id"] == 20001)), "{r}");

    let http_a = format!("http://{}", a.addr_of(Mount::MiraiHttp).expect("A's http"));
    let key = http_session(&http_a, 10001).await;
    let roaming: Value = awc::Client::default()
        .post(format!("{http_a}/roamingMessages"))
        .send_json(&json!({"sessionKey": key, "timeStart": 0, "timeEnd": 9_999_999_999i64, "target": 30001}))
        .await
        .expect("roaming")
        .json()
        .await
        .expect("json");
    let texts: Vec<String> = roaming["data"]
        .as_array()
        .expect("list")
        .iter()
        .flat_map(|m| m["messageChain"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["text"].as_str().map(str::to_owned))
        .collect();
    assert!(
        texts.contains(&"mirai via oicq".to_owned())
            && texts.contains(&"onebot via oicq".to_owned()),
        "{texts:?}"
    );
    let quoted = roaming["data"]
        .as_array()
        .expect("list")
        .iter()
        .find(|m| {
            m["messageChain"]
                .as_array()
                .is_some_and(|c| c.iter().any(|e| e["text"] == "mirai via oicq"))
        })
        .expect("the reply");
    assert_eq!(quoted["messageChain"][1]["type"], "Quote", "the quote reached A: {quoted}");
}

/// A fake daemon of the seed's generation: the push socket at `/` and the HTTP API on one
/// port; it records the API calls and lets the test push packets.
struct FakeDaemon {
    addr: std::net::SocketAddr,
    pushers: Arc<Mutex<Vec<botgate_actors::connection::ws_server::WsWriter>>>,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl FakeDaemon {
    fn start() -> FakeDaemon {
        use actix_web::{web, App, HttpRequest, HttpResponse};
        use botgate_actors::connection::ws_server;
        let pushers: Arc<Mutex<Vec<botgate_actors::connection::ws_server::WsWriter>>> =
            Arc::default();
        let calls: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let (p, c) = (pushers.clone(), calls.clone());
        let listeners = ws_server::bind("127.0.0.1:0").expect("bind");
        let addr = listeners[0].local_addr().expect("bound address");
        let server =
            ws_server::serve(listeners, ws_server::ListenerOptions::default(), move || {
                let (p, c) = (p.clone(), c.clone());
                App::new().default_service(web::to(move |req: HttpRequest, body: web::Payload| {
                    let (p, c) = (p.clone(), c.clone());
                    async move {
                        if req.headers().contains_key("Upgrade") {
                            let (resp, writer, frames) = ws_server::upgrade(&req, 1 << 20)?;
                            // Keep reading so pongs and closes are seen.
                            actix_web::rt::spawn(async move {
                                use futures_util::StreamExt;
                                let mut frames = frames;
                                while frames.next().await.is_some() {}
                            });
                            p.lock().expect("lock").push(writer);
                            return Ok::<_, actix_web::Error>(resp);
                        }
                        let bytes = body.to_bytes().await.unwrap_or_default();
                        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        let path = req.path().trim_matches('/').to_owned();
                        c.lock().expect("lock").push((path.clone(), v));
                        let answer = match path.as_str() {
                            // The seed-era daemon has no basicInfo: it answers -1.
                            "user/basicInfo" => json!({"status": {"code": -1}}),
                            "sendMsg/group" | "sendMsg/private" => {
                                json!({"status": {"code": 0}, "msgID": "AQAAAAIAAAADAAAA"})
                            }
                            _ => json!({"status": {"code": 0}}),
                        };
                        Ok(HttpResponse::Ok().json(answer))
                    }
                }))
            })
            .expect("serve");
        actix_web::rt::spawn(server);
        FakeDaemon { addr, pushers, calls }
    }

    fn push(&self, packet: Value) {
        for w in self.pushers.lock().expect("lock").iter() {
            w.text(packet.to_string().into());
        }
    }

    async fn wait_call(&self, path: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some((_, v)) = self.calls.lock().expect("lock").iter().find(|(p, _)| p == path) {
                return v.clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "the daemon never got {path}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[actix_web::test]
async fn the_seed_generation_of_the_daemon_is_understood() {
    let daemon = FakeDaemon::start();
    let b = downstream(&format!("http://{}", daemon.addr)).await;
    wait_online(&b, true).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while daemon.pushers.lock().expect("lock").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never dialled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut mirai = mirai_ws_client(&b).await;

    // The seed's shapes: top-level time, reply.text, revokee, a stranger's group in channel.
    let quoted = "AQAAAAEAAAABAAAA";
    daemon.push(json!({"type": "msg", "time": 1_641_000_000, "data": {"type": "group", "known": true,
        "channel": 30001, "sender": 20001, "msgID": "AQAAAAUAAAAFAAAA",
        "msgContent": [{"type": "mention", "target": 10001, "displayText": "@bot"}, {"type": "text", "text": " hi"}],
        "reply": {"to": 10001, "time": 1_640_999_999, "text": "earlier", "id": quoted}}}));
    let m = next_of(&mut mirai, "mirai", &["GroupMessage"]).await["data"].clone();
    assert_eq!(m["messageChain"][0]["time"], 1_641_000_000);
    assert_eq!(m["messageChain"][1]["type"], "Quote");
    assert_eq!(m["messageChain"][1]["origin"][0]["text"], "earlier");
    assert_eq!(
        (m["messageChain"][2]["type"].clone(), m["messageChain"][2]["target"].clone()),
        (json!("At"), json!(10001))
    );
    let group_msg_id = m["messageChain"][0]["id"].clone();

    daemon.push(json!({"type": "msg", "time": 1_641_000_001, "data": {"type": "private", "known": false,
        "channel": 30001, "sender": 20005, "msgID": "AQAAAAYAAAAGAAAA", "msgContent": [{"type": "text", "text": "psst"}]}}));
    let t = next_of(&mut mirai, "mirai", &["TempMessage"]).await["data"].clone();
    assert_eq!(
        (t["sender"]["id"].clone(), t["sender"]["group"]["id"].clone()),
        (json!(20005), json!(30001))
    );

    daemon.push(
        json!({"type": "revoke", "time": 1_641_000_002, "data": {"type": "group", "revoker": 20002,
        "revokee": 20001, "channel": 30001, "msgID": "AQAAAAUAAAAFAAAA"}}),
    );
    let r = next_of(&mut mirai, "mirai", &["GroupRecallEvent"]).await["data"].clone();
    assert_eq!(
        (r["authorId"].clone(), r["messageId"].clone(), r["operator"]["id"].clone()),
        (json!(20001), group_msg_id, json!(20002))
    );

    daemon.push(json!({"type": "user", "time": 1_641_000_003, "data": {"type": "newFriendRequest",
        "who": 20009, "nick": "Zed", "source": "", "comment": "add me"}}));
    let req = next_of(&mut mirai, "mirai", &["NewFriendRequestEvent"]).await["data"].clone();
    assert_eq!(
        (req["fromId"].clone(), req["nick"].clone(), req["message"].clone()),
        (json!(20009), json!("Zed"), json!("add me"))
    );
    let r = mirai
        .call(
            "a",
            "resp_newFriendRequestEvent",
            json!({"eventId": req["eventId"], "fromId": 20009,
        "groupId": 0, "operate": 0, "message": ""}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let call = daemon.wait_call("user/acceptFriend").await;
    assert_eq!((call["who"].clone(), call["accept"].clone()), (json!(20009), json!(true)));

    daemon.push(json!({"type": "group", "time": 1_641_000_004, "data": {"type": "mute", "who": 0,
        "group": 30001, "operator": 20002, "duration": 600}}));
    let mute = next_of(&mut mirai, "mirai", &["GroupMuteAllEvent"]).await["data"].clone();
    assert_eq!(mute["current"], true);

    // A send goes over HTTP with msgContent; the daemon's msgID becomes the message's number.
    let r = mirai
        .call(
            "s",
            "sendGroupMessage",
            json!({"target": 30001, "messageChain": [
        {"type": "Plain", "text": "hey "}, {"type": "Face", "faceId": 14}]}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let call = daemon.wait_call("sendMsg/group").await;
    assert_eq!(call["dest"], 30001);
    assert_eq!(call["msgContent"][0], json!({"type": "text", "text": "hey "}));
    assert_eq!(call["msgContent"][1]["type"], "emoji");
    assert_eq!(call["msgContent"][1]["id"], 14);

    // The daemon drops the socket: clients hear the bot went offline; it is redialled and
    // comes back as a relogin.
    let dialled = daemon.pushers.lock().expect("lock").len();
    for w in daemon.pushers.lock().expect("lock").drain(..) {
        w.close(None);
    }
    next_of(&mut mirai, "mirai", &["BotOfflineEventDropped"]).await;
    next_of(&mut mirai, "mirai", &["BotReloginEvent"]).await;
    assert!(dialled >= 1);
    assert!(!daemon.pushers.lock().expect("lock").is_empty(), "redialled");
}
