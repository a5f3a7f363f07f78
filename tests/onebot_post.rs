//! OneBot v11 HTTP POST reporting against a fake endpoint: X-Self-ID and the HMAC-SHA1
//! signature of the exact body, quick operations executed, in-order redelivery, and a slow
//! endpoint that never delays the other adapters.

mod common;

use std::sync::Arc;
use std::time::Duration;

use botgate::listeners::Mount;
use botgate_actors::connection::http_post::signature;
use common::*;
use serde_json::{json, Value};

fn config(addr: std::net::SocketAddr, extra: &str) -> String {
    format!(
        "{}onebot:\n  use_http: false\n  post_url: http://{addr}/hook\n  secret: s3cret\n  post_message_format: array\n{extra}",
        mirai_http_ws("")
    )
}

#[actix_web::test]
async fn events_are_posted_signed_with_the_self_id() {
    let ep = Arc::new(Endpoint::default());
    let gw = start_gateway(WORLD, &config(start_endpoint(Arc::clone(&ep)), "")).await;
    let id =
        inject(&gw, 10001, group_message(30001, 20003, "hello post")).await["messageId"].clone();
    wait_for_deliveries(&ep, 1).await;
    let d = &ep.deliveries()[0];
    assert_eq!(Endpoint::header(d, "x-self-id").as_deref(), Some("10001"));
    assert_eq!(Endpoint::header(d, "content-type").as_deref(), Some("application/json"));
    assert_eq!(
        Endpoint::header(d, "x-signature"),
        Some(signature("s3cret", &d.1)),
        "signed over the exact bytes sent"
    );
    assert!(
        Endpoint::header(d, "x-signature").is_some_and(|s| s.starts_with("sha1=") && s.len() == 45)
    );
    let t = d.2["time"].clone();
    assert_eq!(
        d.2,
        json!({"time":t,"self_id":10001,"post_type":"message","message_type":"group","sub_type":"normal","group_id":30001,
               "anonymous":null,"message_id":id,"user_id":20003,"message":[{"type":"text","data":{"text":"hello post"}}],
               "raw_message":"hello post","font":0,
               "sender":{"user_id":20003,"nickname":"Carol","card":"","sex":"unknown","age":0,"area":"","level":"","role":"member","title":""}})
    );
    // Only OneBot's bot is reported.
    inject(&gw, 10002, json!({"type":"BotOnlineEvent"})).await;
    inject(&gw, 10001, json!({"type":"BotOnlineEvent"})).await;
    wait_for_deliveries(&ep, 2).await;
    assert_eq!(ep.deliveries()[1].2["self_id"], 10001);
}

#[actix_web::test]
async fn quick_operations_reply_and_answer_requests() {
    let ep = Arc::new(Endpoint::default());
    {
        let mut answers = ep.answers.lock().expect("lock");
        answers
            .push_back((200, json!({"reply":"pong [CQ:face,id=14]","at_sender":true}).to_string()));
        answers.push_back((200, json!({"approve":true,"remark":"friend"}).to_string()));
    }
    let gw = start_gateway(WORLD, &config(start_endpoint(Arc::clone(&ep)), "")).await;
    let base = format!("http://{}", gw.addr_of(Mount::MiraiHttp).expect("http"));
    let key = http_session(&base, 10001).await;
    let id = inject(&gw, 10001, group_message(30001, 20001, "ping")).await["messageId"]
        .as_i64()
        .expect("id");
    let reply = wait_for_message(&base, &key, 30001, id + 1, WAIT)
        .await
        .expect("the quick reply never came")["messageChain"]
        .clone();
    let client = awc::Client::default();
    assert_eq!(reply[1], json!({"type":"At","target":20001,"display":""}));
    assert_eq!(reply[3], json!({"type":"Plain","text":"pong "}));
    assert_eq!(reply[4]["faceId"], 14);

    inject(&gw, 10001, json!({"type":"NewFriendRequestEvent","fromId":40009,"groupId":0,"nick":"Zed","message":"hi"})).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let friends: Value = client
            .get(format!("{base}/friendList?sessionKey={key}"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if friends["data"].as_array().is_some_and(|l| l.iter().any(|f| f["id"] == 40009)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the request was never approved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let request = &ep.deliveries()[1].2;
    assert_eq!(
        (request["post_type"].clone(), request["request_type"].clone(), request["user_id"].clone()),
        (json!("request"), json!("friend"), json!(40009))
    );
}

#[actix_web::test]
async fn failures_are_redelivered_in_order_and_a_slow_endpoint_delays_no_one_else() {
    let ep = Arc::new(Endpoint::default());
    {
        let mut answers = ep.answers.lock().expect("lock");
        answers.push_back((503, String::new()));
        answers.push_back((500, String::new()));
    }
    *ep.delay.lock().expect("lock") = Duration::from_millis(300);
    let gw = start_gateway(WORLD, &config(start_endpoint(Arc::clone(&ep)), "")).await;
    let mut mirai = mirai_ws_client(&gw).await;
    let started = std::time::Instant::now();
    for i in 0..3 {
        inject(&gw, 10001, group_message(30001, 20001, &format!("n{i}"))).await;
    }
    for i in 0..3 {
        assert_eq!(mirai.recv_frame().await["data"]["messageChain"][1]["text"], format!("n{i}"));
    }
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "the mirai client waited for the POST endpoint"
    );
    wait_for_deliveries(&ep, 3).await;
    let texts: Vec<Value> =
        ep.deliveries().iter().map(|d| d.2["message"][0]["data"]["text"].clone()).collect();
    assert_eq!(texts, vec![json!("n0"), json!("n1"), json!("n2")]);
    let h = healthz(&gw).await;
    assert_eq!(h["destinations"][0]["adapter"], "onebot http post");
}

#[actix_web::test]
async fn the_retry_schedule_is_configurable() {
    let ep = Arc::new(Endpoint::default());
    ep.answers.lock().expect("lock").push_back((503, String::new()));
    let keys =
        "  post_retry_interval: 50\n  post_max_retry_interval: 100\n  post_buffer_size: 10\n";
    let gw = start_gateway(WORLD, &config(start_endpoint(Arc::clone(&ep)), keys)).await;
    let started = std::time::Instant::now();
    inject(&gw, 10001, group_message(30001, 20001, "retried")).await;
    wait_for_deliveries(&ep, 1).await;
    // The first answer failed; the retry came after ~50 ms, not the old fixed second.
    assert!(started.elapsed() < Duration::from_millis(600), "{:?}", started.elapsed());
    assert_eq!(ep.deliveries()[0].2["message"][0]["data"]["text"], "retried");

    let zero = format!(
        "server: {{ port: 0 }}\n{WORLD}\n{}",
        config("127.0.0.1:1".parse().expect("addr"), "  post_retry_interval: 0\n")
    );
    let err = botgate::Config::from_yaml_str(&zero).expect_err("refused");
    assert_eq!(err.key, "onebot.post_retry_interval");
}
