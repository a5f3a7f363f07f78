//! oicq_webd's format served from the simulated bot (`oicq_webd:`): the push WebSocket on any
//! path and the HTTP API, with the daemon's answers.

mod common;

use botgate::listeners::Mount;
use common::*;
use serde_json::{json, Value};

async fn served() -> botgate::Gateway {
    let oicq = "oicq_webd:\n  host: 127.0.0.5\n  port: 0\n  bot: 10001\n";
    start_gateway(WORLD, &format!("{}{oicq}", mirai_http_ws(""))).await
}

async fn api(gw: &botgate::Gateway, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("http://{}/{path}", gw.addr_of(Mount::Oicq).expect("oicq listener"));
    let req = awc::Client::default().request(method.parse().expect("method"), url);
    let mut resp = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    }
    .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn pushes_every_event_as_one_packet_on_any_path() {
    let gw = served().await;
    let addr = gw.addr_of(Mount::Oicq).expect("listener");
    let mut ws = ws_client(addr, "/any/path/at/all", &[]).await.expect("ws");
    let mut second = ws_client(addr, "/", &[]).await.expect("ws");
    // Both clients subscribe to the bot before the event.
    let deadline = tokio::time::Instant::now() + WAIT;
    while healthz(&gw).await["bots"][0]["subscribers"] != 2 {
        assert!(tokio::time::Instant::now() < deadline, "the push clients never subscribed");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    inject(&gw, 10001, group_message(30001, 20001, "hello oicq")).await;
    for c in [&mut ws, &mut second] {
        let p = c.recv_frame().await;
        assert_eq!(p["type"], "msg");
        let d = &p["data"];
        assert_eq!(
            (d["type"].clone(), d["known"].clone(), d["channel"].clone(), d["sender"].clone()),
            (json!("group"), json!(true), json!(30001), json!(20001))
        );
        assert_eq!(d["msgContent"], json!([{"type": "text", "text": "hello oicq"}]));
        assert_eq!(p["time"], d["time"], "the seed's top-level time and the later data.time");
        assert_eq!(d["sender_nick"], "AliceCard");
        assert!(d["msgID"].as_str().is_some_and(|m| m.len() == 16), "{d}");
    }
}

#[actix_web::test]
async fn the_http_api_answers_as_the_daemon() {
    let gw = served().await;
    let (status, v) = api(&gw, "GET", "", None).await;
    assert_eq!((status, v["name"].clone()), (200, json!("oicq2-webapid")));
    let (_, v) = api(&gw, "GET", "user/basicInfo", None).await;
    assert_eq!(v, json!({"status": {"code": 0}, "basic": {"id": 10001, "nickname": "botgate"}}));
    let (_, v) = api(&gw, "GET", "user/getFriendList", None).await;
    assert_eq!(v["list"][0], json!({"id": 20001, "nickname": "Alice"}));
    let (_, v) = api(&gw, "GET", "group/getMemberList?group=30001", None).await;
    assert_eq!(v["list"][0], json!({"id": 20001, "nickname": "Alice", "alias": "AliceCard"}));

    let (status, v) = api(
        &gw,
        "POST",
        "sendMsg/group",
        Some(json!({"dest": 30001, "msgContent": [{"type": "text", "text": "from oicq client"}]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["status"]["code"], 0, "{v}");
    let msg_id = v["msgID"].as_str().expect("msgID").to_owned();
    let (_, q) = api(
        &gw,
        "GET",
        &format!("mesg/queryMsg?type=group&id={}&channel=30001", urlencode(&msg_id)),
        None,
    )
    .await;
    assert_eq!(q["data"]["msgContent"][0]["text"], "from oicq client", "{q}");
    let (_, v) =
        api(&gw, "POST", "revoke/group", Some(json!({"channel": 30001, "msgID": msg_id}))).await;
    assert_eq!(v, json!({"status": {"code": 0}}));

    // Not JSON: 415. Missing keys: 400. Unknown groups: code -1.
    let url = format!("http://{}/sendMsg/group", gw.addr_of(Mount::Oicq).expect("listener"));
    let r = awc::Client::default()
        .post(url)
        .insert_header(("Content-Type", "text/plain"))
        .send_body("dest=1")
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 415);
    let (status, v) = api(&gw, "POST", "sendMsg/group", Some(json!({"msgContent": []}))).await;
    assert_eq!((status, v["status"]["code"].clone()), (400, json!(-1)));
    let (_, v) = api(
        &gw,
        "POST",
        "sendMsg/group",
        Some(json!({"dest": 99999, "msgContent": [{"type": "text", "text": "x"}]})),
    )
    .await;
    assert_eq!(v["status"]["code"], -1, "{v}");
}

#[actix_web::test]
async fn forwarded_bundles_are_built_sent_and_parsed() {
    let gw = served().await;
    let msgs = json!([{"id": 20001, "time": 1_700_000_000, "nickname": "Alice",
                       "msgContent": [{"type": "text", "text": "node"}]}]);
    let (_, v) = api(&gw, "POST", "mesg/genForwardedMsg", Some(json!({"msgs": msgs}))).await;
    let id = v["id"].as_str().expect("id").to_owned();
    let (_, parsed) = api(&gw, "GET", &format!("mesg/parseForwardedMsg?id={id}"), None).await;
    assert_eq!(parsed["msgs"], msgs);
    let (_, sent) = api(
        &gw,
        "POST",
        "sendMsg/group",
        Some(json!({"dest": 30001,
        "msgContent": [{"type": "forwarded", "id": id}]})),
    )
    .await;
    assert_eq!(sent["status"]["code"], 0, "{sent}");
    let msg_id = sent["msgID"].as_str().expect("msgID").to_owned();
    // The sent bundle resolves by its message's msgID, as pushed bundles do.
    let (_, parsed) =
        api(&gw, "GET", &format!("mesg/parseForwardedMsg?id={}", urlencode(&msg_id)), None).await;
    assert_eq!(parsed["msgs"][0]["nickname"], "Alice", "{parsed}");
    let (status, _) = api(
        &gw,
        "POST",
        "sendMsg/group",
        Some(json!({"dest": 30001,
        "msgContent": [{"type": "forwarded", "id": "nope"}]})),
    )
    .await;
    assert_eq!(status, 400);
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).expect("encode").trim_start_matches("x=").to_owned()
}
