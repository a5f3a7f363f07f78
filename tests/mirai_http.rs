//! mirai-api-http's http adapter: verify/bind/release, commands at their paths, the session
//! key transports, the unread queue, errors as HTTP 200, CORS, and sessions shared with ws.

mod common;

use botgate::listeners::Mount;
use common::*;
use serde_json::{json, Value};

struct Http {
    base: String,
    client: awc::Client,
}

impl Http {
    fn new(gw: &botgate::Gateway) -> Self {
        Http {
            base: format!("http://{}", gw.addr_of(Mount::MiraiHttp).expect("http")),
            client: awc::Client::default(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let mut r =
            self.client.post(format!("{}{path}", self.base)).send_json(&body).await.expect("post");
        assert_eq!(r.status().as_u16(), 200, "{path}");
        r.json().limit(64 << 20).await.expect("json")
    }

    async fn get(&self, path_and_query: &str) -> Value {
        self.get_with(path_and_query, &[]).await
    }

    async fn get_with(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Value {
        let mut req = self.client.get(format!("{}{path_and_query}", self.base));
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        let mut r = req.send().await.expect("get");
        assert_eq!(r.status().as_u16(), 200, "{path_and_query}");
        r.json().limit(64 << 20).await.expect("json")
    }

    async fn session(&self, qq: i64) -> String {
        let v = self.post("/verify", json!({"verifyKey":"1234567890"})).await;
        assert_eq!(v["code"], 0, "{v}");
        let key = v["session"].as_str().expect("session").to_owned();
        assert_eq!(
            self.post("/bind", json!({"sessionKey":key,"qq":qq})).await,
            json!({"code":0,"msg":"success"})
        );
        key
    }
}

#[actix_web::test]
async fn verify_bind_call_release() {
    let gw = start_gateway(WORLD, &mirai_http_ws("")).await;
    let http = Http::new(&gw);
    assert_eq!(
        http.post("/verify", json!({"verifyKey":"wrong"})).await,
        json!({"code":1,"msg":"Auth Key错误"})
    );
    assert_eq!(http.post("/verify", json!({})).await, json!({"code":400,"msg":"无效参数"}));
    let v = http.post("/verify", json!({"verifyKey":"1234567890"})).await;
    let key = v["session"].as_str().expect("key").to_owned();
    assert_eq!(v, json!({"code":0,"session":key}));
    // Not bound yet: code 4. Unknown: code 3. No bot: code 2.
    assert_eq!(
        http.get(&format!("/friendList?sessionKey={key}")).await,
        json!({"code":4,"msg":"Session未认证"})
    );
    assert_eq!(
        http.get("/friendList?sessionKey=nope").await,
        json!({"code":3,"msg":"Session失效或不存在"})
    );
    assert_eq!(http.post("/bind", json!({"sessionKey":key,"qq":5})).await["code"], 2);
    assert_eq!(
        http.post("/bind", json!({"sessionKey":key,"qq":10001})).await,
        json!({"code":0,"msg":"success"})
    );

    let friends = http.get(&format!("/friendList?sessionKey={key}")).await;
    assert_eq!(friends["data"][0], json!({"id":20001,"nickname":"Alice","remark":"小A"}));
    assert_eq!(
        http.get(&format!("/sessionInfo?sessionKey={key}")).await,
        json!({"code":0,"msg":"","data":{"sessionKey":key,"qq":{"id":10001,"nickname":"botgate","remark":""}}})
    );
    assert_eq!(http.get("/about").await, json!({"code":0,"msg":"","data":{"version":"2.10.0"}}));
    assert_eq!(http.get("/botList").await["data"], json!([10001, 10002]));

    // Release with the wrong bot: code 5; right bot: success, then the key is gone.
    assert_eq!(http.post("/release", json!({"sessionKey":key,"qq":10002})).await["code"], 5);
    assert_eq!(
        http.post("/release", json!({"sessionKey":key,"qq":10001})).await,
        json!({"code":0,"msg":"success"})
    );
    assert_eq!(http.get(&format!("/friendList?sessionKey={key}")).await["code"], 3);
}

#[actix_web::test]
async fn every_session_key_transport_works_and_unknown_query_parameters_are_ignored() {
    let gw = start_gateway(WORLD, &mirai_http_ws("")).await;
    let http = Http::new(&gw);
    let key = http.session(10001).await;
    let expect_group = |v: Value| assert_eq!(v["data"][0]["name"], "Test Group", "{v}");
    expect_group(http.get_with("/groupList", &[("sessionKey", &key)]).await);
    expect_group(
        http.get_with("/groupList", &[("Authorization", &format!("session {key}"))]).await,
    );
    expect_group(
        http.get_with("/groupList", &[("Authorization", &format!("SessionKey {key}"))]).await,
    );
    expect_group(http.get(&format!("/groupList?sessionKey={key}&_=1700000000&foo=bar")).await);
    let sent = http
        .post("/sendGroupMessage", json!({"sessionKey":key,"target":30001,"messageChain":[{"type":"Plain","text":"via http"}]}))
        .await;
    assert_eq!((sent["code"].clone(), sent["msg"].clone()), (json!(0), json!("success")));
    let got = http
        .get(&format!(
            "/messageFromId?sessionKey={key}&target=30001&messageId={}",
            sent["messageId"]
        ))
        .await;
    assert_eq!(got["data"]["messageChain"][1]["text"], "via http");
    assert_eq!(
        http.get(&format!("/memberProfile?sessionKey={key}&target=30001&memberId=20003")).await
            ["nickname"],
        "Carol"
    );
    // Errors are HTTP 200 with the state code; a broken body is 400 无效参数.
    assert_eq!(
        http.get(&format!("/memberList?sessionKey={key}&target=1")).await,
        json!({"code":5,"msg":"指定对象不存在"})
    );
    let mut r = awc::Client::default()
        .post(format!("{}/sendGroupMessage", http.base))
        .insert_header(("sessionKey", key.as_str()))
        .insert_header(("Content-Type", "application/json"))
        .send_body("{broken")
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.expect("json"), json!({"code":400,"msg":"无效参数"}));
    assert_eq!(
        http.post(
            "/recall",
            json!({"sessionKey":key,"target":30001,"messageId":sent["messageId"]})
        )
        .await["code"],
        0
    );
}

#[actix_web::test]
async fn the_unread_queue_fetches_peeks_and_counts() {
    let gw = start_gateway(WORLD, &mirai_http_ws("")).await;
    let http = Http::new(&gw);
    let key = http.session(10001).await;
    for i in 0..5 {
        inject(&gw, 10001, group_message(30001, 20001, &format!("q{i}"))).await;
    }
    let texts = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .expect("list")
            .iter()
            .map(|e| e["messageChain"][1]["text"].as_str().expect("text").to_owned())
            .collect()
    };
    assert_eq!(
        http.get(&format!("/countMessage?sessionKey={key}")).await,
        json!({"code":0,"msg":"","data":5})
    );
    assert_eq!(
        texts(&http.get(&format!("/peekMessage?sessionKey={key}&count=2")).await),
        ["q0", "q1"]
    );
    assert_eq!(
        texts(&http.get(&format!("/peekLatestMessage?sessionKey={key}&count=2")).await),
        ["q3", "q4"]
    );
    assert_eq!(texts(&http.get(&format!("/peakMessage?sessionKey={key}&count=1")).await), ["q0"]);
    assert_eq!(http.get(&format!("/countMessage?sessionKey={key}")).await["data"], 5);
    assert_eq!(
        texts(&http.get(&format!("/fetchLatestMessage?sessionKey={key}&count=1")).await),
        ["q4"]
    );
    let fetched = http.get(&format!("/fetchMessage?sessionKey={key}")).await;
    assert_eq!(fetched["code"], 0);
    assert_eq!(fetched["msg"], "");
    assert_eq!(fetched["data"][0]["type"], "GroupMessage");
    assert_eq!(texts(&fetched), ["q0", "q1", "q2", "q3"]);
    assert_eq!(http.get(&format!("/countMessage?sessionKey={key}")).await["data"], 0);
}

#[actix_web::test]
async fn the_unread_queue_is_bounded_by_unread_queue_max_size() {
    let mirai = mirai_http_ws("").replace(
        "http: { host: 127.0.0.1, port: 0 }",
        "http: { host: 127.0.0.1, port: 0, unreadQueueMaxSize: 3 }",
    );
    let gw = start_gateway(WORLD, &mirai).await;
    let http = Http::new(&gw);
    let key = http.session(10001).await;
    for i in 0..6 {
        inject(&gw, 10001, group_message(30001, 20001, &format!("q{i}"))).await;
    }
    assert_eq!(http.get(&format!("/countMessage?sessionKey={key}")).await["data"], 3);
}

#[actix_web::test]
async fn sessions_cross_between_http_and_ws() {
    let gw = start_gateway(WORLD, &mirai_http_ws("")).await;
    let http = Http::new(&gw);
    let ws_addr = gw.addr_of(Mount::MiraiWs).expect("ws");
    // A key from /verify + /bind works on ws…
    let key = http.session(10001).await;
    let mut c = ws_client(ws_addr, &format!("/all?verifyKey=1234567890&sessionKey={key}"), &[])
        .await
        .expect("ws");
    assert_eq!(c.recv_frame().await["data"]["session"], key.as_str());
    // …and the ws disconnect does not end the http session.
    c.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(http.get(&format!("/groupList?sessionKey={key}")).await["code"], 0);
    // A key from ws works on http (as nonebot's mirai adapter uses it) but has no unread queue.
    let mut c = ws_client(ws_addr, "/all?verifyKey=1234567890&qq=10001", &[]).await.expect("ws");
    let ws_key = c.recv_frame().await["data"]["session"].as_str().expect("key").to_owned();
    let sent = http
        .post("/sendFriendMessage", json!({"sessionKey":ws_key,"target":20001,"messageChain":[{"type":"Plain","text":"x"}]}))
        .await;
    assert_eq!(sent["code"], 0);
    assert_eq!(
        http.get(&format!("/fetchMessage?sessionKey={ws_key}")).await,
        json!({"code":500,"msg":"Not a http session"})
    );
    // When the ws connection that created it ends, the key is gone.
    c.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(http.get(&format!("/groupList?sessionKey={ws_key}")).await["code"], 3);
}

#[actix_web::test]
async fn single_mode_on_http() {
    let gw = start_gateway(WORLD, &mirai_http_ws("  singleMode: true\n")).await;
    let http = Http::new(&gw);
    assert_eq!(
        http.post("/verify", json!({"verifyKey":"1234567890"})).await,
        json!({"code":0,"session":"SINGLE_SESSION"})
    );
    assert_eq!(
        http.post("/bind", json!({"sessionKey":"SINGLE_SESSION","qq":10001})).await,
        json!({"code":6,"msg":"指定操作不支持"})
    );
    // Any key, or none, resolves to the single session.
    assert_eq!(http.get("/sessionInfo").await["data"]["sessionKey"], "SINGLE_SESSION");
    // The ws adapter shares the same single session at the same time.
    let ws = gw.addr_of(Mount::MiraiWs).expect("ws");
    let mut c = ws_client(ws, "/all?verifyKey=1234567890", &[]).await.expect("ws");
    assert_eq!(
        c.recv_frame().await,
        json!({"syncId":"","data":{"code":0,"session":"SINGLE_SESSION"}})
    );
    let mut wrong = ws_client(ws, "/all?verifyKey=nope", &[]).await.expect("ws");
    assert_eq!(wrong.recv_frame().await["data"]["code"], 1);
    inject(&gw, 10001, group_message(30001, 20001, "single")).await;
    assert_eq!(c.recv_frame().await["data"]["messageChain"][1]["text"], "single");
    assert_eq!(
        http.get("/fetchMessage?sessionKey=whatever").await["data"][0]["messageChain"][1]["text"],
        "single"
    );
    // A ws client leaving does not end the single session for http.
    c.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(http.get("/sessionInfo").await["data"]["sessionKey"], "SINGLE_SESSION");
}

#[actix_web::test]
async fn cors_allows_the_configured_origins() {
    let gw = start_gateway(WORLD, &mirai_http_ws("")).await;
    let http = Http::new(&gw);
    let r = awc::Client::default()
        .get(format!("{}/about", http.base))
        .insert_header(("Origin", "http://example.com"))
        .send()
        .await
        .expect("get");
    assert!(r.headers().get("access-control-allow-origin").is_some(), "{:?}", r.headers());

    let mirai = mirai_http_ws("").replace(
        "http: { host: 127.0.0.1, port: 0 }",
        "http: { host: 127.0.0.1, port: 0, cors: [\"good.example\"] }",
    );
    let gw = start_gateway(WORLD, &mirai).await;
    let base = format!("http://{}", gw.addr_of(Mount::MiraiHttp).expect("http"));
    let ok = awc::Client::default()
        .get(format!("{base}/about"))
        .insert_header(("Origin", "https://good.example"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        ok.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("https://good.example")
    );
    let bad = awc::Client::default()
        .get(format!("{base}/about"))
        .insert_header(("Origin", "https://evil.example"))
        .send()
        .await
        .expect("get");
    assert!(bad.headers().get("access-control-allow-origin").is_none());
}
