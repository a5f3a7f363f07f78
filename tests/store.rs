//! The store (`server.data_dir`): messages a bot saw or sent resolve after a restart of the
//! binary, new ids continue after the stored ones, and an unusable folder stops start-up
//! naming the key.

mod common;

use common::*;
use serde_json::{json, Value};

async fn call(base: &str, path: &str, body: Value) -> Value {
    let mut resp = awc::Client::default()
        .post(format!("{base}{path}"))
        .send_json(&body)
        .await
        .expect("request");
    let bytes = resp.body().await.expect("body");
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&bytes)))
}

async fn get(base: &str, path: &str, query: &[(&str, String)]) -> Value {
    let query = serde_urlencoded::to_string(query).expect("query");
    let mut resp =
        awc::Client::default().get(format!("{base}{path}?{query}")).send().await.expect("request");
    resp.json().await.expect("json")
}

fn config(server: u16, mirai: u16, data_dir: &std::path::Path) -> String {
    format!(
        "server: {{ port: {server}, data_dir: {:?} }}\n{WORLD}\nmirai:\n  adapters: [http]\n  \
         verifyKey: \"1234567890\"\n  cacheSize: 1\n  adapterSettings:\n    \
         http: {{ host: 127.0.0.1, port: {mirai} }}\n",
        data_dir.display().to_string()
    )
}

#[actix_web::test]
async fn messages_resolve_across_a_restart_and_ids_continue() {
    let data = tempfile::tempdir().expect("tempdir");
    let (server, mirai) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{mirai}");
    let send = |key: &str, text: &str| json!({"sessionKey":key,"target":30001,"messageChain":[{"type":"Plain","text":text}]});

    let first_id = {
        let _gw = Running::start(&config(server, mirai, data.path()), server).await;
        let key = http_session(&base, 10001).await;
        let sent = call(&base, "/sendGroupMessage", send(&key, "before the restart")).await;
        // A second message pushes the first out of the one-message cache.
        call(&base, "/sendGroupMessage", send(&key, "filler")).await;
        // Writes are batched behind the event path; a kill -9 loses what is not yet written.
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let h = healthz_at(server).await;
            if h["bots"][0]["storedMessages"] == 2 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never stored: {h}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        sent["messageId"].as_i64().expect("id")
    };
    assert!(data.path().join("messages.sqlite").is_file());

    let _gw = Running::start(&config(server, mirai, data.path()), server).await;
    let key = http_session(&base, 10001).await;
    let lookup = [
        ("sessionKey", key.clone()),
        ("target", "30001".to_owned()),
        ("messageId", first_id.to_string()),
    ];
    let found = get(&base, "/messageFromId", &lookup).await;
    assert_eq!(found["code"], 0, "{found}");
    assert_eq!(found["data"]["messageChain"][1]["text"], "before the restart");
    assert_eq!(found["data"]["type"], "GroupSyncMessage");
    let next = call(&base, "/sendGroupMessage", send(&key, "after")).await;
    assert!(next["messageId"].as_i64() > Some(first_id + 1), "ids continue: {next}");
    // A message from before the restart can be quoted and recalled like any other.
    let quoted = json!({"sessionKey":key,"target":30001,"quote":first_id,
                        "messageChain":[{"type":"Plain","text":"re"}]});
    assert_eq!(call(&base, "/sendGroupMessage", quoted).await["code"], 0);
    let recall = json!({"sessionKey":key,"target":30001,"messageId":first_id});
    assert_eq!(call(&base, "/recall", recall).await["code"], 0);
    assert_eq!(get(&base, "/messageFromId", &lookup).await["code"], 5, "recalled");
}

#[actix_web::test]
async fn an_unusable_data_dir_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a folder").expect("write");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config(free_port(), free_port(), &file.join("data"))).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_botgate"))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.data_dir"), "{err}");
}

#[actix_web::test]
async fn a_flood_faster_than_the_store_is_stored_whole() {
    // Generated as fast as the bot can: several times what the store writes, so the bot
    // runs ahead of its store until the backpressure makes it wait — and nothing is dropped.
    let count = 400_000;
    let data = tempfile::tempdir().expect("tempdir");
    let (server, mirai) = (free_port(), free_port());
    let config = config(server, mirai, data.path()).replacen(
        "data_dir:",
        "store_messages_per_bot: 1000000, data_dir:",
        1,
    );
    let _gw = Running::start(&config, server).await;
    let traffic = awc::Client::default()
        .post(format!("http://127.0.0.1:{server}/sim/10001/traffic"))
        .send_json(&json!({"group": 30001, "member": 20001, "count": count, "rate": 0}))
        .await
        .expect("traffic");
    assert_eq!(traffic.status().as_u16(), 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let h = healthz_at(server).await;
        if h["bots"][0]["storedMessages"] == count {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not all stored: {h}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
