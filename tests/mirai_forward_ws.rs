//! mirai-api-http's forward ws adapter: handshake auth from query or headers, the connect ack,
//! failures answered then closed, channels, replacement, pings, slow clients.

mod common;

use std::time::Duration;

use botgate::listeners::Mount;
use common::*;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

async fn gateway(extra: &str) -> (botgate::Gateway, std::net::SocketAddr) {
    let gw = start_gateway(WORLD, &mirai_http_ws(extra)).await;
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws listener");
    (gw, addr)
}

async fn connect_all(addr: std::net::SocketAddr, path: &str) -> (WsPeer, String) {
    let mut c = ws_client(addr, &format!("{path}?verifyKey=1234567890&qq=10001"), &[])
        .await
        .expect("connect");
    let ack = c.recv_frame().await;
    let key = ack["data"]["session"].as_str().expect("session").to_owned();
    assert_eq!(ack, json!({"syncId":"","data":{"code":0,"session":key}}));
    (c, key)
}

#[actix_web::test]
async fn query_auth_acks_first_then_serves_commands_and_events() {
    let (gw, addr) = gateway("").await;
    let (mut c, key) = connect_all(addr, "/all").await;
    assert_eq!(c.call("1", "sessionInfo", json!({})).await["data"]["sessionKey"], key.as_str());
    inject(&gw, 10001, group_message(30001, 20001, "hi ws")).await;
    let f = c.recv_frame().await;
    assert_eq!(f["syncId"], "-1");
    assert_eq!(f["data"]["messageChain"][1]["text"], "hi ws");
    inject(&gw, 10001, json!({"type":"BotOnlineEvent"})).await;
    assert_eq!(
        c.recv_frame().await,
        json!({"syncId":"-1","data":{"type":"BotOnlineEvent","qq":10001}})
    );
}

#[actix_web::test]
async fn header_auth_as_yirimirai_sends_it() {
    let (_gw, addr) = gateway("").await;
    let mut c = ws_client(addr, "/all", &[("verifyKey", "1234567890"), ("qq", "10002")])
        .await
        .expect("connect");
    assert_eq!(c.recv_frame().await["data"]["code"], 0);
    assert_eq!(c.call("s", "sessionInfo", json!({})).await["data"]["qq"]["nickname"], "second");
}

#[actix_web::test]
async fn auth_failures_are_answered_in_the_socket_then_closed_with_1000() {
    let (_gw, addr) = gateway("").await;
    let cases = [
        ("/all?verifyKey=wrong&qq=10001", json!({"code":1,"msg":"Auth Key错误"})),
        ("/all?verifyKey=1234567890&qq=424242", json!({"code":2,"msg":"指定Bot不存在"})),
        (
            "/all?verifyKey=1234567890&sessionKey=nope",
            json!({"code":3,"msg":"Session失效或不存在"}),
        ),
        ("/all?verifyKey=1234567890", json!({"code":400,"msg":"无效参数"})),
        ("/all?verifyKey=1234567890&qq=abc", json!({"code":400,"msg":"无效参数"})),
    ];
    for (path, expected) in cases {
        let mut c = ws_client(addr, path, &[]).await.expect("connect");
        assert_eq!(c.recv_frame().await, json!({"syncId":"","data":expected}), "{path}");
        let (code, reason) = c.recv_close().await;
        assert_eq!(code, 1000, "{path}");
        assert_eq!(reason, expected["msg"].as_str().expect("msg"), "{path}");
    }
}

#[actix_web::test]
async fn message_and_event_channels_filter() {
    let (gw, addr) = gateway("").await;
    let (mut messages, _) = connect_all(addr, "/message").await;
    let (mut events, _) = connect_all(addr, "/event").await;
    inject(&gw, 10001, group_message(30001, 20001, "m")).await;
    inject(&gw, 10001, json!({"type":"BotOnlineEvent"})).await;
    assert_eq!(messages.recv_frame().await["data"]["type"], "GroupMessage");
    assert_eq!(events.recv_frame().await["data"]["type"], "BotOnlineEvent");
    messages.expect_silence(Duration::from_millis(200)).await;
    events.expect_silence(Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn a_second_connection_with_the_same_key_on_the_same_path_replaces_the_first() {
    let (gw, addr) = gateway("").await;
    let (mut first, key) = connect_all(addr, "/all").await;
    let (mut other_path, _) = {
        let mut c = ws_client(addr, &format!("/event?verifyKey=1234567890&sessionKey={key}"), &[])
            .await
            .expect("connect");
        assert_eq!(c.recv_frame().await["data"]["session"], key.as_str());
        (c, ())
    };
    let mut second = ws_client(addr, &format!("/all?verifyKey=1234567890&sessionKey={key}"), &[])
        .await
        .expect("connect");
    assert_eq!(second.recv_frame().await["data"]["session"], key.as_str());
    assert!(first.closed().await, "the older /all connection is closed");
    inject(&gw, 10001, json!({"type":"BotOnlineEvent"})).await;
    assert_eq!(second.recv_frame().await["data"]["type"], "BotOnlineEvent");
    assert_eq!(other_path.recv_frame().await["data"]["type"], "BotOnlineEvent");
}

#[actix_web::test]
async fn client_pings_are_answered_and_bad_input_keeps_the_socket_open() {
    let (_gw, addr) = gateway("").await;
    let (mut c, _) = connect_all(addr, "/all").await;
    c.ping().await;
    c.send_raw(Message::text("{oops")).await;
    assert_eq!(c.recv_frame().await, json!({"code":400,"msg":"无效参数"}));
    assert_eq!(
        c.call("u", "noSuchCommand", json!({})).await,
        json!({"code":6,"msg":"指定操作不支持"})
    );
    assert_eq!(
        c.call("t", "memberList", json!({"target":[1]})).await,
        json!({"code":400,"msg":"无效参数"})
    );
    assert_eq!(c.call("f", "fetchMessage", json!({})).await["code"], 6, "http-only on ws");
    c.send_raw(Message::binary(br#"{"syncId":"b","command":"about"}"#.to_vec())).await;
    assert_eq!(c.reply("b").await["data"]["data"]["version"], "2.10.0");
    c.ping().await;
}

#[actix_web::test]
async fn idle_clients_are_pinged_and_dead_ones_dropped() {
    let gw = start_gateway(
        WORLD,
        &mirai_http_ws("").replace("heartbeatInterval: 0", "heartbeatInterval: 200"),
    )
    .await;
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws");
    let (mut alive, _) = connect_all(addr, "/all").await;
    // `alive` reads all the time (tungstenite answers each ping while reading).
    let pings = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&pings);
    let reader = actix_web::rt::spawn(async move {
        loop {
            if let Message::Ping(_) = alive.recv_any().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    let deadline = tokio::time::Instant::now() + WAIT;
    while pings.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no pings");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // This one never reads, so it never answers a ping: dropped after three intervals.
    let (_dead, _) = connect_all(addr, "/event").await;
    assert_eq!(healthz(&gw).await["miraiWsClients"], 2);
    while healthz(&gw).await["miraiWsClients"] != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the dead client was never dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!reader.is_finished(), "the reading client is still connected");
    reader.abort();
}

#[actix_web::test]
async fn a_client_that_stops_reading_is_evicted_without_slowing_the_others() {
    let gw = start_gateway(
        WORLD,
        &mirai_http_ws("").replace("heartbeatInterval: 0", "heartbeatInterval: 0, outboxSize: 16"),
    )
    .await;
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws");
    let (mut reader, _) = connect_all(addr, "/all").await;
    let (_stalled, _) = connect_all(addr, "/all").await;
    let payload = "z".repeat(200 * 1024);
    let total = 200;
    let reading = actix_web::rt::spawn(async move {
        for i in 0..total {
            let f = reader.recv_frame().await;
            assert_eq!(f["data"]["messageChain"][2]["text"], format!("{i}"));
        }
        reader
    });
    for i in 0..total {
        let event = json!({"type":"GroupMessage","sender":{"id":20001,"group":{"id":30001}},
                           "messageChain":[{"type":"Xml","xml":payload},{"type":"Plain","text":format!("{i}")}]});
        inject(&gw, 10001, event).await;
    }
    let _reader =
        tokio::time::timeout(WAIT * 3, reading).await.expect("reader kept up").expect("reader ok");
    let deadline = tokio::time::Instant::now() + WAIT;
    while healthz(&gw).await["miraiWsClients"] != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the stalled client was never evicted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(healthz(&gw).await["bots"][0]["subscribers"], 1);
    // Its socket is dropped too, though it still will not read: the listener (which also
    // serves /healthz) holds the reader's place and the asking request's only.
    let places = |h: &serde_json::Value| -> u64 {
        let listeners = h["listeners"].as_array().cloned().unwrap_or_default();
        let served = listeners.iter().filter(|l| l["serves"] != "botgate");
        served.map(|l| l["connections"].as_u64().unwrap_or(u64::MAX)).sum()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let h = healthz(&gw).await;
        if places(&h) == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the evicted socket is held: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn generated_traffic_arrives_in_order_at_the_requested_rate() {
    let (gw, addr) = gateway("").await;
    let (mut c, _) = connect_all(addr, "/message").await;
    let job = json!({"group":30001,"member":20003,"count":50,"rate":500,"size":120});
    let (status, body) = post_json(&gw, "/sim/10001/traffic", &job, None).await;
    assert_eq!((status, body), (202, json!({"accepted":50,"rate":500})));
    let started = std::time::Instant::now();
    for i in 0..50 {
        let f = c.recv_frame().await;
        let text = f["data"]["messageChain"][1]["text"].as_str().expect("text").to_owned();
        assert!(text.starts_with(&format!("bench {i} ")), "{text}");
        assert_eq!(text.len(), 120);
        assert!(botgate_actors::bot::traffic_timestamp(&text).is_some());
        assert_eq!(f["data"]["sender"]["id"], 20003);
    }
    // 50 messages at 500/s take about 100 ms; far less would mean the rate is ignored.
    assert!(started.elapsed() >= Duration::from_millis(60), "{:?}", started.elapsed());
    let (status, _) =
        post_json(&gw, "/sim/10001/traffic", &json!({"group":30001,"member":99,"count":1}), None)
            .await;
    assert_eq!(status, 400, "a sender outside the world");
    let (status, _) = post_json(&gw, "/sim/10001/traffic", &json!({"count":1}), None).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn generated_traffic_keeps_its_rate_by_deadline() {
    let (gw, addr) = gateway("").await;
    let (mut c, _) = connect_all(addr, "/message").await;
    // Message n is due n/2000 s after the start: the last of 6,001 at 3 s.
    let job = json!({"group":30001,"member":20003,"count":6001,"rate":2000});
    let started = std::time::Instant::now();
    let (status, _) = post_json(&gw, "/sim/10001/traffic", &job, None).await;
    assert_eq!(status, 202);
    for i in 0..6001 {
        let f = c.recv_frame().await;
        let text = f["data"]["messageChain"][1]["text"].as_str().expect("text").to_owned();
        assert!(text.starts_with(&format!("bench {i} ")), "{text}");
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!((2.85..=3.15).contains(&elapsed), "2,000/s for 3 s took {elapsed:.3} s");
}

#[actix_web::test]
async fn a_gateway_shutting_down_closes_its_own_clients_with_1001_and_no_others() {
    let (leaving, _) = gateway("").await;
    let (staying, _) = gateway("").await;
    let mut gone = mirai_ws_client(&leaving).await;
    let mut kept = mirai_ws_client(&staying).await;
    leaving.shutdown().await;
    assert_eq!(gone.recv_close().await, (1001, "botgate is shutting down".to_owned()));
    // The other gateway of this process serves its client on: commands and events.
    assert_eq!(kept.call("1", "about", json!({})).await["code"], 0);
    inject(&staying, 10001, group_message(30001, 20001, "still here")).await;
    assert_eq!(kept.recv_frame().await["data"]["messageChain"][1]["text"], "still here");
}
