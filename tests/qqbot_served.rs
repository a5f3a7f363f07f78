//! The QQ official protocol served to SDK bots (`qqbot:`): a chain — botgate A serves it from
//! its simulated world, botgate B's bot is `source: qqbot` on A — and the platform's rules
//! checked over raw HTTP and a raw gateway socket.

mod common;
mod fake_qq;
mod fake_sdk;

use std::time::Duration;

use botgate::listeners::Mount;
use common::*;
use fake_sdk::{start_sdk, Sdk};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const APP: &str = "102000001";
const SECRET: &str = "botgate-dev-secret";

/// Botgate A: the shared world, mirai http + ws, and the QQ official protocol for bot 10001.
async fn served() -> botgate::Gateway {
    let qqbot = format!(
        "qqbot:\n  host: 127.0.0.4\n  port: 0\n  apps:\n    - {{ app_id: \"{APP}\", secret: {SECRET}, bot: 10001 }}\n"
    );
    start_gateway(WORLD, &format!("{}{qqbot}", mirai_http_ws(""))).await
}

fn base(gw: &botgate::Gateway) -> String {
    format!("http://{}", gw.addr_of(Mount::QqBot).expect("qqbot listener"))
}

async fn access_token(gw: &botgate::Gateway) -> String {
    let (status, v) = http(
        gw,
        "POST",
        "/app/getAppAccessToken",
        None,
        Some(json!({"appId": APP, "clientSecret": SECRET})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["expires_in"], "7200", "a string, as the platform sends it");
    v["access_token"].as_str().expect("token").to_owned()
}

async fn http(
    gw: &botgate::Gateway,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = awc::Client::default();
    let url = format!("{}{path}", base(gw));
    let mut req = client.request(method.parse().expect("method"), url);
    if let Some(t) = token {
        req = req
            .insert_header(("Authorization", format!("QQBot {t}")))
            .insert_header(("X-Union-Appid", APP));
    }
    let mut resp = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    }
    .expect("request");
    let status = resp.status().as_u16();
    let bytes = resp.body().await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

type Gateway =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn dial(gw: &botgate::Gateway) -> Gateway {
    let url = format!("ws://{}/websocket", gw.addr_of(Mount::QqBot).expect("listener"));
    let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("dial");
    ws
}

async fn frame(ws: &mut Gateway) -> Value {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        match m {
            Message::Text(t) => return serde_json::from_str(&t).expect("json"),
            Message::Close(c) => return json!({"closed": c.map(|c| u16::from(c.code))}),
            _ => continue,
        }
    }
}

async fn send(ws: &mut Gateway, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.expect("send");
}

fn at_bot(group: i64, from: i64, text: &str) -> Value {
    json!({"type": "GroupMessage", "sender": {"id": from, "group": {"id": group}},
           "messageChain": [{"type": "At", "target": 10001}, {"type": "Plain", "text": text}]})
}

/// A token is the app's, not the process's: SDKs keep one until it expires, across a
/// restart of botgate and across the nodes a load balancer spreads them over.
#[actix_web::test]
async fn a_token_outlives_the_botgate_that_issued_it() {
    let first = served().await;
    let token = access_token(&first).await;
    // `stop`, not `shutdown`: shutting down closes every served socket of the process, the
    // other tests' in this binary among them.
    first.stop().await;
    drop(first);
    let second = served().await;
    let (status, me) = http(&second, "GET", "/users/@me", Some(&token), None).await;
    assert_eq!((status, &me["username"]), (200, &json!("botgate")), "{me}");
    let (status, refused) = http(&second, "GET", "/users/@me", Some("forged"), None).await;
    assert_eq!((status, &refused["code"]), (401, &json!(11244)), "{refused}");
}

#[actix_web::test]
async fn the_gateway_speaks_the_platforms_protocol() {
    let gw = served().await;
    let token = access_token(&gw).await;
    let mut ws = dial(&gw).await;
    let hello = frame(&mut ws).await;
    assert_eq!(
        (hello["op"].clone(), hello["d"]["heartbeat_interval"].clone()),
        (json!(10), json!(41250))
    );
    send(&mut ws, json!({"op": 2, "d": {"token": format!("QQBot {token}"), "intents": 1 << 25, "shard": [0, 1], "properties": {}}})).await;
    let ready = frame(&mut ws).await;
    assert_eq!(
        (ready["op"].clone(), ready["t"].clone(), ready["s"].clone()),
        (json!(0), json!("READY"), json!(1))
    );
    assert_eq!(ready["d"]["shard"], json!([0, 1]));
    assert_eq!(ready["d"]["user"]["bot"], true);
    let session = ready["d"]["session_id"].as_str().expect("session").to_owned();
    send(&mut ws, json!({"op": 1, "d": 1})).await;
    assert_eq!(frame(&mut ws).await["op"], 11);

    inject(&gw, 10001, at_bot(30001, 20001, " hello")).await;
    let d = frame(&mut ws).await;
    assert_eq!(
        (d["op"].clone(), d["t"].clone(), d["s"].clone()),
        (json!(0), json!("GROUP_AT_MESSAGE_CREATE"), json!(2))
    );
    assert!(d["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(d["d"]["content"], " hello");
    let group_openid = d["d"]["group_openid"].as_str().expect("openid").to_owned();
    assert_eq!(group_openid.len(), 32);
    assert!(group_openid.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    // Without the all-messages intent, a message that does not @ the bot is not dispatched.
    inject(&gw, 10001, group_message(30001, 20001, "not for the bot")).await;
    inject(&gw, 10001, json!({"type": "FriendMessage", "sender": {"id": 20001}, "messageChain": [{"type": "Plain", "text": "private"}]})).await;
    let c2c = frame(&mut ws).await;
    assert_eq!((c2c["t"].clone(), c2c["s"].clone()), (json!("C2C_MESSAGE_CREATE"), json!(3)));

    // The socket drops; what happens meanwhile is replayed on resume, then RESUMED.
    drop(ws);
    tokio::time::sleep(Duration::from_millis(100)).await;
    inject(&gw, 10001, at_bot(30001, 20003, " missed")).await;
    let mut ws = dial(&gw).await;
    assert_eq!(frame(&mut ws).await["op"], 10);
    // botgo resumes with the bare token.
    send(&mut ws, json!({"op": 6, "d": {"token": token, "session_id": session, "seq": 3}})).await;
    let missed = frame(&mut ws).await;
    assert_eq!(
        (missed["t"].clone(), missed["s"].clone(), missed["d"]["content"].clone()),
        (json!("GROUP_AT_MESSAGE_CREATE"), json!(4), json!(" missed"))
    );
    let resumed = frame(&mut ws).await;
    assert_eq!((resumed["t"].clone(), resumed["d"].clone()), (json!("RESUMED"), json!("")));

    // An unknown session cannot be resumed: op 9. A bad token closes 4004; bad JSON 4002.
    let mut other = dial(&gw).await;
    frame(&mut other).await;
    send(&mut other, json!({"op": 6, "d": {"token": token, "session_id": "nope", "seq": 1}})).await;
    assert_eq!(frame(&mut other).await, json!({"op": 9, "d": false}));
    let mut bad = dial(&gw).await;
    frame(&mut bad).await;
    send(&mut bad, json!({"op": 2, "d": {"token": "QQBot wrong", "intents": 1}})).await;
    assert_eq!(frame(&mut bad).await, json!({"closed": 4004}));
    let mut garbage = dial(&gw).await;
    frame(&mut garbage).await;
    garbage.send(Message::Text("{not json".into())).await.expect("send");
    assert_eq!(frame(&mut garbage).await, json!({"closed": 4002}));
}

#[actix_web::test]
async fn sends_follow_the_platforms_passive_reply_rules() {
    let gw = served().await;
    let token = access_token(&gw).await;
    let (status, v) = http(
        &gw,
        "POST",
        "/app/getAppAccessToken",
        None,
        Some(json!({"appId": APP, "clientSecret": "wrong"})),
    )
    .await;
    assert_eq!(status, 401);
    assert!(v.get("access_token").is_none());
    assert_eq!(http(&gw, "GET", "/users/@me", Some("forged"), None).await.1["code"], 11244);
    let (_, me) = http(&gw, "GET", "/users/@me", Some(&token), None).await;
    assert_eq!(me["username"], "botgate");
    // The legacy scheme `Bot appid.token` is accepted; the guild listing SDKs call is empty.
    let legacy = awc::Client::default()
        .get(format!("{}/users/@me/guilds", base(&gw)))
        .insert_header(("Authorization", format!("Bot {APP}.{token}")))
        .send()
        .await
        .expect("guilds")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(legacy, json!([]));
    let (_, g) = http(&gw, "GET", "/gateway", Some(&token), None).await;
    assert!(g["url"].as_str().is_some_and(|u| u.starts_with("ws://")), "{g}");
    let (_, g) = http(&gw, "GET", "/gateway/bot", Some(&token), None).await;
    assert!(g["url"].as_str().is_some_and(|u| u.ends_with("/websocket")), "{g}");
    assert_eq!(g["session_start_limit"]["max_concurrency"], 1);

    let mut ws = dial(&gw).await;
    frame(&mut ws).await;
    send(&mut ws, json!({"op": 2, "d": {"token": format!("QQBot {token}"), "intents": 1 << 25}}))
        .await;
    frame(&mut ws).await;
    inject(&gw, 10001, at_bot(30001, 20001, " ping")).await;
    let d = frame(&mut ws).await["d"].clone();
    let (group, msg_id) = (
        d["group_openid"].as_str().expect("g").to_owned(),
        d["id"].as_str().expect("id").to_owned(),
    );
    let path = format!("/v2/groups/{group}/messages");

    let (status, e) = http(
        &gw,
        "POST",
        &path,
        Some(&token),
        Some(json!({"content": "proactive", "msg_type": 0})),
    )
    .await;
    assert_eq!((status, e["code"].clone()), (400, json!(40034102)));
    let (_, e) = http(
        &gw,
        "POST",
        &path,
        Some(&token),
        Some(json!({"content": "x", "msg_type": 0, "msg_id": "ROBOT1.0_999"})),
    )
    .await;
    assert_eq!(e["code"], 40034024);
    for seq in 1..=5 {
        let (status, r) = http(&gw, "POST", &path, Some(&token), Some(json!({"content": format!("pong {seq}"), "msg_type": 0, "msg_id": msg_id, "msg_seq": seq}))).await;
        assert_eq!(status, 200, "{r}");
        assert!(r["id"].as_str().is_some());
        if seq == 1 {
            let (_, dup) = http(
                &gw,
                "POST",
                &path,
                Some(&token),
                Some(json!({"content": "again", "msg_type": 0, "msg_id": msg_id, "msg_seq": 1})),
            )
            .await;
            assert_eq!(dup["code"], 40054005);
        }
    }
    let (_, e) = http(
        &gw,
        "POST",
        &path,
        Some(&token),
        Some(json!({"content": "sixth", "msg_type": 0, "msg_id": msg_id, "msg_seq": 9})),
    )
    .await;
    assert_eq!(e["code"], 40034128);

    // Media: uploaded, then sent as msg_type 7 — an image in the simulated group.
    inject(&gw, 10001, at_bot(30001, 20001, " picture?")).await;
    let msg2 = frame(&mut ws).await["d"]["id"].as_str().expect("id").to_owned();
    let (_, up) = http(
        &gw,
        "POST",
        &format!("/v2/groups/{group}/files"),
        Some(&token),
        Some(json!({"file_type": 1, "url": "https://example.com/a.png", "srv_send_msg": false})),
    )
    .await;
    let info = up["file_info"].as_str().expect("file_info").to_owned();
    let (status, sent) = http(&gw, "POST", &path, Some(&token),
        Some(json!({"content": " ", "msg_type": 7, "media": {"file_info": info}, "msg_id": msg2, "msg_seq": 1}))).await;
    assert_eq!(status, 200, "{sent}");
    // Recalled through the platform's endpoint.
    let sent_id = sent["id"].as_str().expect("id");
    let (status, _) = http(&gw, "DELETE", &format!("{path}/{sent_id}"), Some(&token), None).await;
    assert_eq!(status, 200);

    let key =
        http_session(&format!("http://{}", gw.addr_of(Mount::MiraiHttp).expect("http")), 10001)
            .await;
    let client = awc::Client::default();
    let roaming: Value = client
        .post(format!("http://{}/roamingMessages", gw.addr_of(Mount::MiraiHttp).expect("http")))
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
        .map(|m| {
            m["messageChain"][1]["text"]
                .as_str()
                .unwrap_or(m["messageChain"][1]["type"].as_str().unwrap_or(""))
                .to_owned()
        })
        .collect();
    assert!(texts.contains(&"pong 5".to_owned()), "{texts:?}");
    assert!(
        !texts.contains(&"sixth".to_owned()) && !texts.contains(&"proactive".to_owned()),
        "{texts:?}"
    );
}

#[actix_web::test]
async fn a_chained_botgate_consumes_the_served_protocol() {
    let a = served().await;
    let addr = a.addr_of(Mount::QqBot).expect("A's qqbot");
    let world = format!(
        "bots:\n  - qq: 4000000001\n    source: qqbot\n    qqbot: {{app_id: \"{APP}\", secret: {SECRET}, \
         transport: websocket, intents: [GROUP_AND_C2C_EVENT], api_base: \"http://{addr}\", \
         token_url: \"http://{addr}/app/getAppAccessToken\"}}\n"
    );
    let b = start_gateway(&world, &mirai_http_ws("")).await;
    wait_online(&b, true).await;
    let addr_b = b.addr_of(Mount::MiraiWs).expect("B's ws");
    let mut mirai =
        ws_client(addr_b, "/all?verifyKey=1234567890&qq=4000000001", &[]).await.expect("ws");
    assert_eq!(mirai.recv_frame().await["data"]["code"], 0);

    inject(&a, 10001, at_bot(30001, 20001, " hello B")).await;
    let m = loop {
        let f = mirai.recv_frame().await;
        if f["data"]["type"] == "GroupMessage" {
            break f["data"].clone();
        }
    };
    assert_eq!(m["messageChain"][1]["text"], "hello B");
    let group = m["sender"]["group"]["id"].clone();
    let r = mirai
        .call(
            "r",
            "sendGroupMessage",
            json!({"target": group, "messageChain": [{"type": "Plain", "text": "hi from B"}]}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");

    inject(&a, 10001, json!({"type": "FriendMessage", "sender": {"id": 20001}, "messageChain": [{"type": "Plain", "text": "dm"}]})).await;
    let f = loop {
        let f = mirai.recv_frame().await;
        if f["data"]["type"] == "FriendMessage" {
            break f["data"].clone();
        }
    };
    let r = mirai.call("f", "sendFriendMessage", json!({"target": f["sender"]["id"], "messageChain": [{"type": "Plain", "text": "dm back"}]})).await;
    assert_eq!(r["code"], 0, "{r}");

    // Both replies are in A's world.
    let http_a = format!("http://{}", a.addr_of(Mount::MiraiHttp).expect("A's http"));
    let key = http_session(&http_a, 10001).await;
    let client = awc::Client::default();
    for (target, text) in [(30001, "hi from B"), (20001, "dm back")] {
        let roaming: Value = client
            .post(format!("{http_a}/roamingMessages"))
            .send_json(&json!({"sessionKey": key, "timeStart": 0, "timeEnd": 9_999_999_999i64, "target": target}))
            .await
            .expect("roaming")
            .json()
            .await
            .expect("json");
        let found = roaming["data"]
            .as_array()
            .expect("list")
            .iter()
            .any(|m| m["messageChain"][1]["text"] == text);
        assert!(found, "{text} not in A's history of {target}: {roaming}");
    }
}

async fn served_with_webhook(url: &str) -> botgate::Gateway {
    let qqbot = format!(
        "qqbot:\n  host: 127.0.0.4\n  port: 0\n  apps:\n    - {{ app_id: \"{APP}\", secret: {SECRET}, bot: 10001, webhook: \"{url}\" }}\n"
    );
    start_gateway(WORLD, &format!("{}{qqbot}", mirai_http_ws(""))).await
}

#[actix_web::test]
async fn webhook_delivery_validates_first_then_signs_and_redelivers_in_order() {
    let sdk = std::sync::Arc::new(Sdk { secret: SECRET.to_owned(), ..Sdk::default() });
    sdk.answers.lock().expect("lock").push_back(503);
    let addr = start_sdk(sdk.clone());
    let gw = served_with_webhook(&format!("http://{addr}/qq/webhook")).await;
    let wait = |n: usize| {
        let sdk = sdk.clone();
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let pushes = sdk.pushes.lock().expect("lock").clone();
                if pushes.len() >= n {
                    return pushes;
                }
                assert!(tokio::time::Instant::now() < deadline, "only {} pushes", pushes.len());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let first = wait(1).await;
    assert!(first[0].1.contains("\"op\":13"), "validation comes first: {:?}", first[0]);
    inject(&gw, 10001, at_bot(30001, 20001, " one")).await;
    inject(&gw, 10001, json!({"type": "FriendMessage", "sender": {"id": 20001}, "messageChain": [{"type": "Plain", "text": "two"}]})).await;
    // The first dispatch is refused once (503) and sent again before the second.
    let pushes = wait(4).await;
    let bodies: Vec<Value> =
        pushes[1..].iter().map(|(_, b)| serde_json::from_str(b).expect("json")).collect();
    assert_eq!(bodies[0], bodies[1], "redelivered as it was");
    assert_eq!(bodies[0]["t"], "GROUP_AT_MESSAGE_CREATE");
    assert_eq!(bodies[2]["t"], "C2C_MESSAGE_CREATE");
    for (headers, body) in &pushes {
        assert_eq!(headers["x-bot-appid"], APP);
        assert_eq!(headers["user-agent"], "QQBot-Callback");
        let signed = format!("{}{body}", headers["x-signature-timestamp"]);
        assert!(
            fake_qq::verify(SECRET, signed.as_bytes(), &headers["x-signature-ed25519"]),
            "signed as the platform signs"
        );
    }
}

#[actix_web::test]
async fn a_webhook_that_cannot_sign_the_validation_gets_no_dispatch() {
    let sdk = std::sync::Arc::new(Sdk { secret: "another secret".to_owned(), ..Sdk::default() });
    let addr = start_sdk(sdk.clone());
    let gw = served_with_webhook(&format!("http://{addr}/qq/webhook")).await;
    inject(&gw, 10001, at_bot(30001, 20001, " secret")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pushes = sdk.pushes.lock().expect("lock").clone();
    assert!(!pushes.is_empty());
    assert!(pushes.iter().all(|(_, b)| b.contains("\"op\":13")), "{pushes:?}");
}
