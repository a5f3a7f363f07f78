//! The binary as the README runs it: `botgate --config config.yaml` on the bundled config.

mod common;

use std::process::Command;

use common::*;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_botgate");

fn bundled_config() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml"))
        .expect("config.yaml")
}

#[test]
fn the_bundled_config_is_valid() {
    let out = Command::new(BIN)
        .args(["--check", "--config", concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml")])
        .output()
        .expect("run botgate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_bad_config_stops_start_up_naming_the_key_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, bundled_config().replace("protocol: ws ", "protocol: tcp "))
        .expect("write");
    let out = Command::new(BIN).arg("--config").arg(&path).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mirai.adapterSettings.reverse-ws.destinations[0].protocol"), "{err}");
    assert!(err.contains("use ws or wss"), "{err}");

    let unhealthy = Command::new(BIN)
        .args(["--healthcheck", "--config", concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml")])
        .output()
        .expect("run");
    assert!(!unhealthy.status.success(), "nothing listens on the bundled port in tests");

    // A cluster whose NATS does not answer stops start-up naming the key: no silent single
    // node.
    std::fs::write(
        &path,
        format!(
            "{}\ncluster: {{ nats: \"nats://127.0.0.1:{}\", node: gate-a }}\n",
            bundled_config(),
            free_port()
        ),
    )
    .expect("write");
    let out = Command::new(BIN).arg("--config").arg(&path).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cluster.nats") && err.contains("cannot connect"), "{err}");

    let missing =
        Command::new(BIN).args(["--config", "/no/such/config.yaml"]).output().expect("run");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--config FILE"));
}

#[actix_web::test]
async fn the_binary_on_the_bundled_config_serves_the_readme_walkthrough() {
    let mut server = FakeServer::start(0).await;
    let http_port = free_port();
    let mirai_port = free_port();
    let qqbot_port = free_port();
    let config = bundled_config()
        .replace("port: 8090", &format!("port: {qqbot_port}"))
        .replace("port: 8888", &format!("port: {}", free_port()))
        .replace("port: 9000", &format!("port: {http_port}"))
        .replace("port: 8080", &format!("port: {mirai_port}"))
        .replace("port: 8081", &format!("port: {}", server.addr.port()))
        .replace("port: 5700", &format!("port: {}", free_port()))
        .replace("ws_port: 6700", &format!("ws_port: {}", free_port()));
    let _child = Running::start(&config, http_port).await;
    let base = format!("http://127.0.0.1:{http_port}");
    let client = awc::Client::default();

    let mut conn = server.accept().await;
    conn.verify(10001).await;
    assert_eq!(conn.call("g", "groupList", json!({})).await["data"][0]["name"], "botgate 测试群");
    let mut resp = client
        .post(format!("{base}/sim/10001/inject"))
        .send_json(&group_message(30001, 20002, "hello botgate"))
        .await
        .expect("inject");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.expect("json");
    let frame = conn.recv_frame().await;
    assert_eq!(frame["syncId"], "-1");
    assert_eq!(frame["data"]["messageChain"][0]["id"], body["messageId"]);
    assert_eq!(frame["data"]["sender"]["memberName"], "Bob");
    let reply = conn
        .call(
            "r",
            "sendGroupMessage",
            json!({"target":30001,"messageChain":[{"type":"Plain","text":"hi Bob"}]}),
        )
        .await;
    assert_eq!(reply["code"], 0);

    // The bundled config serves the QQ official protocol: its dev app gets a token.
    let token: Value = client
        .post(format!("http://127.0.0.1:{qqbot_port}/app/getAppAccessToken"))
        .send_json(&json!({"appId": "102000001", "clientSecret": "botgate-dev-secret"}))
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_eq!(token["expires_in"], "7200", "{token}");
}
