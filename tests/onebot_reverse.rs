//! OneBot v11 reverse WebSocket against fake servers: handshake headers, lifecycle first,
//! Universal and split API/Event roles, actions with echo, replay after the server returns,
//! and code 1000 honoured.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn config(universal: bool, urls: &str, extra: &str) -> String {
    format!(
        "{}onebot:\n  use_http: false\n  use_ws_reverse: true\n  ws_reverse_use_universal_client: {universal}\n{urls}  ws_reverse_reconnect_interval: 100\n  access_token: tok\n  post_message_format: array\n{extra}",
        mirai_http_ws("")
    )
}

#[actix_web::test]
async fn a_universal_connection_sends_its_headers_lifecycle_events_and_answers() {
    let mut server = FakeServer::start(0).await;
    let urls = format!("  ws_reverse_url: ws://127.0.0.1:{}/onebot/v11/ws\n", server.addr.port());
    let gw = start_gateway(WORLD, &config(true, &urls, "")).await;
    let mut c = server.accept().await;
    let h = &c.handshake;
    assert_eq!(h.path, "/onebot/v11/ws");
    assert_eq!(h.headers.get("x-self-id"), Some(&vec!["10001".to_owned()]));
    assert_eq!(h.headers.get("x-client-role"), Some(&vec!["Universal".to_owned()]));
    assert_eq!(h.headers.get("authorization"), Some(&vec!["Bearer tok".to_owned()]));
    assert!(h.headers.get("user-agent").is_some_and(|v| v[0].starts_with("botgate/")));
    let first = c.recv_frame().await;
    assert_eq!(
        (first["meta_event_type"].clone(), first["sub_type"].clone(), first["self_id"].clone()),
        (json!("lifecycle"), json!("connect"), json!(10001))
    );
    let id =
        inject(&gw, 10001, group_message(30001, 20001, "to reverse")).await["messageId"].clone();
    let e = c.recv_frame().await;
    assert_eq!(
        (e["post_type"].clone(), e["message_id"].clone(), e["message"][0]["data"]["text"].clone()),
        (json!("message"), id, json!("to reverse"))
    );
    c.send(json!({"action":"get_login_info","echo":{"seq":1}})).await;
    assert_eq!(
        c.recv_frame().await,
        json!({"status":"ok","retcode":0,"data":{"user_id":10001,"nickname":"botgate"},"message":"","wording":"","echo":{"seq":1}})
    );
    assert_eq!(healthz(&gw).await["destinations"][0]["adapter"], "onebot reverse ws");
}

#[actix_web::test]
async fn split_roles_carry_their_half_and_the_token_scheme_is_configurable() {
    let mut api = FakeServer::start(0).await;
    let mut events = FakeServer::start(0).await;
    let urls = format!(
        "  ws_reverse_api_url: ws://127.0.0.1:{}/api\n  ws_reverse_event_url: ws://127.0.0.1:{}/event\n",
        api.addr.port(),
        events.addr.port()
    );
    let gw =
        start_gateway(WORLD, &config(false, &urls, "  ws_reverse_authorization_scheme: Token\n"))
            .await;
    let mut a = api.accept().await;
    let mut e = events.accept().await;
    assert_eq!(a.handshake.headers.get("x-client-role"), Some(&vec!["API".to_owned()]));
    assert_eq!(e.handshake.headers.get("x-client-role"), Some(&vec!["Event".to_owned()]));
    assert_eq!(a.handshake.headers.get("authorization"), Some(&vec!["Token tok".to_owned()]));
    assert_eq!(e.recv_frame().await["sub_type"], "connect");
    a.send(json!({"action":"send_group_msg","params":{"group_id":30001,"message":"from api"},"echo":"7"})).await;
    let r = a.recv_frame().await;
    assert_eq!((r["retcode"].clone(), r["echo"].clone()), (json!(0), json!("7")));
    inject(&gw, 10001, json!({"type":"BotOnlineEvent"})).await;
    assert_eq!(e.recv_frame().await["sub_type"], "enable");
    a.expect_silence(Duration::from_millis(200)).await;
    e.send(json!({"action":"get_status","echo":"1"})).await;
    e.expect_silence(Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn events_wait_for_the_server_and_arrive_in_order_after_the_lifecycle() {
    let mut server = FakeServer::start(0).await;
    let urls = format!("  ws_reverse_url: ws://127.0.0.1:{}/\n", server.addr.port());
    let gw = start_gateway(WORLD, &config(true, &urls, "")).await;
    let mut c = server.accept().await;
    c.recv_frame().await;
    let port = server.kill();
    drop(c);
    let deadline = tokio::time::Instant::now() + WAIT;
    while healthz(&gw).await["destinations"][0]["connected"] != false {
        assert!(tokio::time::Instant::now() < deadline, "never noticed the server left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..5 {
        inject(&gw, 10001, group_message(30001, 20001, &format!("away {i}"))).await;
    }
    let mut server = FakeServer::start(port).await;
    let mut c = server.accept().await;
    assert_eq!(c.recv_frame().await["sub_type"], "connect", "lifecycle comes first");
    for i in 0..5 {
        assert_eq!(c.recv_frame().await["message"][0]["data"]["text"], format!("away {i}"));
    }
    c.expect_silence(Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn a_close_with_1000_ends_redialling_when_configured() {
    let mut server = FakeServer::start(0).await;
    let urls = format!("  ws_reverse_url: ws://127.0.0.1:{}/\n", server.addr.port());
    let _gw =
        start_gateway(WORLD, &config(true, &urls, "  ws_reverse_reconnect_on_code_1000: false\n"))
            .await;
    let c = server.accept().await;
    c.close().await;
    assert!(
        tokio::time::timeout(Duration::from_millis(600), server.accept()).await.is_err(),
        "redialled after 1000"
    );

    let mut server = FakeServer::start(0).await;
    let urls = format!("  ws_reverse_url: ws://127.0.0.1:{}/\n", server.addr.port());
    let _gw = start_gateway(WORLD, &config(true, &urls, "")).await;
    let c = server.accept().await;
    c.close().await;
    let _again = server.accept().await;
}

#[actix_web::test]
async fn an_action_flood_from_the_server_is_answered_1429() {
    let mut server = FakeServer::start(0).await;
    let urls = format!("  ws_reverse_url: ws://127.0.0.1:{}/onebot/v11/ws\n", server.addr.port());
    let _gw = start_gateway_with("max_in_flight: 2, ", WORLD, &config(true, &urls, "")).await;
    let mut c = server.accept().await;
    assert_eq!(c.recv_frame().await["meta_event_type"], "lifecycle");
    const N: usize = 300;
    for i in 0..N {
        c.send(json!({"action":"get_friend_list","echo":i})).await;
    }
    let mut busy = 0;
    for _ in 0..N {
        let reply = c.recv_frame().await;
        match reply["retcode"].as_i64() {
            Some(1429) => busy += 1,
            Some(0) => {}
            _ => panic!("unexpected {reply}"),
        }
    }
    assert!(busy > 0, "no action was refused");
}
