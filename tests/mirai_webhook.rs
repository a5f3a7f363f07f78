//! mirai-api-http's webhook adapter against a fake endpoint: headers and exact body, the
//! command a response carries, and in-order redelivery after the endpoint was down.

mod common;

use std::sync::Arc;
use std::time::Duration;

use botgate::listeners::Mount;
use common::*;
use serde_json::json;

fn mirai_webhook(addr: std::net::SocketAddr) -> String {
    // The scheme is left out on purpose: mirai-api-http accepts `host:port/path`.
    format!(
        "mirai:\n  adapters: [http, webhook]\n  verifyKey: \"1234567890\"\n  adapterSettings:\n    http: {{ host: 127.0.0.1, port: 0 }}\n    webhook:\n      destinations: [\"{addr}/hook\"]\n      extraHeaders: {{ Authorization: Bearer hook-secret }}\n      retryInterval: 50\n      maxRetryInterval: 200\n"
    )
}

#[actix_web::test]
async fn events_are_posted_with_bot_headers_and_the_exact_event_body() {
    let ep = Arc::new(Endpoint::default());
    let addr = start_endpoint(Arc::clone(&ep));
    let gw = start_gateway(WORLD, &mirai_webhook(addr)).await;
    let id =
        inject(&gw, 10001, group_message(30001, 20001, "to the hook")).await["messageId"].clone();
    inject(&gw, 10002, json!({"type":"BotOnlineEvent"})).await;
    wait_for_deliveries(&ep, 2).await;
    let received = ep.received.lock().expect("lock").clone();
    let (headers, _, body) = &received[0];
    let header = |name: &str| {
        headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    };
    assert_eq!(header("qq").as_deref(), Some("10001"));
    assert_eq!(header("x-qq").as_deref(), Some("10001"));
    assert_eq!(header("bot").as_deref(), Some("10001"));
    assert_eq!(header("x-bot").as_deref(), Some("10001"));
    assert_eq!(header("authorization").as_deref(), Some("Bearer hook-secret"));
    assert_eq!(header("content-type").as_deref(), Some("application/json; charset=UTF-8"));
    assert_eq!(body["type"], "GroupMessage");
    assert_eq!(body["messageChain"][0]["id"], id);
    assert_eq!(body["messageChain"][1], json!({"type":"Plain","text":"to the hook"}));
    // Webhook ignores sessions: every bot's events go out.
    assert_eq!(received[1].2, json!({"type":"BotOnlineEvent","qq":10002}));
    assert_eq!(
        received[1].0.iter().find(|(k, _)| k == "bot").map(|(_, v)| v.as_str()),
        Some("10002")
    );
}

#[actix_web::test]
async fn a_command_in_the_response_is_run_as_that_bot() {
    let ep = Arc::new(Endpoint::default());
    ep.answers.lock().expect("lock").push_back((
        200,
        json!({"command":"sendGroupMessage","content":{"target":30001,"messageChain":[{"type":"Plain","text":"answered by webhook"}]}}).to_string(),
    ));
    let addr = start_endpoint(Arc::clone(&ep));
    let gw = start_gateway(WORLD, &mirai_webhook(addr)).await;
    let id = inject(&gw, 10001, group_message(30001, 20001, "ping")).await["messageId"]
        .as_i64()
        .expect("id");
    let base = format!("http://{}", gw.addr_of(Mount::MiraiHttp).expect("http"));
    let key = http_session(&base, 10001).await;
    let got = wait_for_message(&base, &key, 30001, id + 1, WAIT)
        .await
        .expect("the webhook's command never ran");
    assert_eq!(got["messageChain"][1]["text"], "answered by webhook");
}

#[actix_web::test]
async fn events_wait_while_the_endpoint_fails_and_arrive_once_in_order() {
    let ep = Arc::new(Endpoint::default());
    {
        let mut answers = ep.answers.lock().expect("lock");
        for _ in 0..5 {
            answers.push_back((503, "busy".to_owned()));
        }
    }
    let addr = start_endpoint(Arc::clone(&ep));
    let gw = start_gateway(WORLD, &mirai_webhook(addr)).await;
    for i in 0..10 {
        inject(&gw, 10001, group_message(30001, 20001, &format!("n{i}"))).await;
    }
    wait_for_deliveries(&ep, 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let texts: Vec<String> = ep
        .received
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, _, b)| b["messageChain"][1]["text"].as_str().expect("text").to_owned())
        .collect();
    assert_eq!(texts, (0..10).map(|i| format!("n{i}")).collect::<Vec<_>>());
    let h = healthz(&gw).await;
    assert_eq!(h["destinations"][0]["adapter"], "mirai webhook");
    assert_eq!(h["destinations"][0]["connected"], true);
    assert_eq!(h["destinations"][0]["buffered"], 0);
}
