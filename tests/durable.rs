//! Durable delivery: an event a destination accepted survives the process. A OneBot HTTP
//! POST endpoint is down while events are accepted; botgate is killed (`kill -9`), started
//! again, stopped with SIGTERM, started again — and the endpoint, once up, gets every event
//! once, in order. A mirai reverse-ws server away while events come gets them after a `kill
//! -9` and a restart, in order, before new ones; so does a OneBot reverse WebSocket server
//! that never connected before the kill.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn config(server: u16, post: u16, data_dir: &std::path::Path) -> String {
    format!(
        "server: {{ port: {server}, data_dir: {:?} }}\n{WORLD}\nmirai:\n  adapters: []\n  \
         enableVerify: false\nonebot:\n  use_http: false\n  use_ws: false\n  \
         enable_heartbeat: false\n  post_url: http://127.0.0.1:{post}/\n  \
         post_retry_interval: 100\n  post_max_retry_interval: 200\n",
        data_dir.display().to_string()
    )
}

/// A mirai reverse-ws destination on `ws`, the store in `data`.
fn reverse_ws_config(server: u16, ws: u16, data: &std::path::Path) -> String {
    format!(
        "server: {{ port: {server}, data_dir: {:?} }}\n{WORLD}\n{}",
        data.display().to_string(),
        mirai_reverse_ws(&[dest(ws)], "")
    )
}

fn sigterm(gw: &Running) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &gw.pid().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
}

async fn buffered(server: u16) -> Value {
    healthz_at(server).await["destinations"][0]["buffered"].clone()
}

async fn wait_buffered(server: u16, n: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while buffered(server).await != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {n} buffered: {}",
            healthz_at(server).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until botgate exits by itself after a SIGTERM: its listeners close before it has
/// written what it holds, and dropping `gw` before the exit would `kill -9` that shutdown.
async fn exited(gw: &mut Running) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while gw.child.try_wait().expect("the child's status").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "SIGTERM did not stop botgate");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the store's `outbound` table in `data` holds `n` events: what `buffered`
/// counts includes an append still under way, which a `kill -9` may cut ("The store" runs
/// behind a busy machine), and the promise is for what was written.
async fn wait_written(data: &std::path::Path, n: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let db = rusqlite::Connection::open(data.join("botgate.sqlite")).expect("the store");
    db.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    loop {
        let written: i64 =
            db.query_row("SELECT count(*) FROM outbound", [], |r| r.get(0)).expect("count");
        if written == n {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {n} written: {written}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn say(server: u16, text: &str) {
    let r = awc::Client::default()
        .post(format!("http://127.0.0.1:{server}/sim/10001/inject"))
        .send_json(&group_message(30001, 20001, text))
        .await
        .expect("inject");
    assert_eq!(r.status().as_u16(), 200);
}

#[actix_web::test]
async fn accepted_events_survive_kill_9_and_sigterm_in_order_once() {
    let data = tempfile::tempdir().expect("tempdir");
    let (server, post) = (free_port(), free_port());
    let config = config(server, post, data.path());
    {
        let _gw = Running::start(&config, server).await;
        for text in ["one", "two", "three"] {
            say(server, text).await;
        }
        wait_buffered(server, 3).await;
        wait_written(data.path(), 3).await;
        // Dropped: kill -9.
    }
    {
        let mut gw = Running::start(&config, server).await;
        wait_buffered(server, 3).await;
        say(server, "four").await;
        wait_buffered(server, 4).await;
        sigterm(&gw);
        exited(&mut gw).await;
    }
    // The endpoint comes up; botgate starts once more and delivers what was left, first.
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let recorded = got.clone();
    let endpoint = actix_web::HttpServer::new(move || {
        let recorded = recorded.clone();
        actix_web::App::new().default_service(actix_web::web::to(
            move |body: actix_web::web::Bytes| {
                let recorded = recorded.clone();
                async move {
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        recorded.lock().expect("lock").push(v);
                    }
                    actix_web::HttpResponse::NoContent().finish()
                }
            },
        ))
    })
    .workers(1)
    .bind(("127.0.0.1", post))
    .expect("bind the endpoint");
    actix_web::rt::spawn(endpoint.run());
    let _gw = Running::start(&config, server).await;
    say(server, "five").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let texts = loop {
        let texts: Vec<Value> = got
            .lock()
            .expect("lock")
            .iter()
            .filter(|e| e["post_type"] == "message")
            .map(|e| e["raw_message"].clone())
            .collect();
        if texts.len() >= 5 {
            break texts;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {texts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        texts,
        vec![json!("one"), json!("two"), json!("three"), json!("four"), json!("five")]
    );
    assert_eq!(
        got.lock().expect("lock").iter().filter(|e| e["post_type"] == "message").count(),
        5,
        "none twice"
    );
    wait_buffered(server, 0).await;
}

#[actix_web::test]
async fn events_kept_for_an_absent_reverse_ws_server_survive_kill_9() {
    let data = tempfile::tempdir().expect("tempdir");
    let (server, ws) = (free_port(), free_port());
    let config = reverse_ws_config(server, ws, data.path());
    {
        let mut business = FakeServer::start(ws).await;
        let _gw = Running::start(&config, server).await;
        let mut conn = business.accept().await;
        conn.verify(10001).await;
        // The business server goes away; events wait for it.
        business.kill();
        drop(conn);
        let deadline = tokio::time::Instant::now() + WAIT;
        while healthz_at(server).await["destinations"][0]["connected"] != false {
            assert!(tokio::time::Instant::now() < deadline, "never noticed the server left");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for text in ["one", "two", "three"] {
            say(server, text).await;
        }
        wait_buffered(server, 3).await;
        wait_written(data.path(), 3).await;
        // Dropped: kill -9.
    }
    let _gw = Running::start(&config, server).await;
    wait_buffered(server, 3).await;
    let mut business = FakeServer::start(ws).await;
    let mut conn = business.accept().await;
    conn.verify(10001).await;
    for text in ["one", "two", "three"] {
        assert_eq!(conn.recv_frame().await["data"]["messageChain"][1]["text"], text);
    }
    say(server, "four").await;
    assert_eq!(conn.recv_frame().await["data"]["messageChain"][1]["text"], "four");
    conn.expect_silence(Duration::from_millis(200)).await;
    wait_buffered(server, 0).await;
}

#[actix_web::test]
async fn events_kept_for_an_absent_onebot_reverse_server_survive_kill_9() {
    let data = tempfile::tempdir().expect("tempdir");
    let (server, ws) = (free_port(), free_port());
    let config = format!(
        "server: {{ port: {server}, data_dir: {:?} }}\n{WORLD}\nmirai:\n  adapters: []\n  \
         enableVerify: false\nonebot:\n  use_http: false\n  use_ws: false\n  \
         enable_heartbeat: false\n  use_ws_reverse: true\n  \
         ws_reverse_use_universal_client: true\n  ws_reverse_url: ws://127.0.0.1:{ws}/\n  \
         ws_reverse_reconnect_interval: 100\n",
        data.path().display().to_string()
    );
    {
        // Nobody listens: the events wait.
        let _gw = Running::start(&config, server).await;
        for text in ["one", "two", "three"] {
            say(server, text).await;
        }
        wait_buffered(server, 3).await;
        wait_written(data.path(), 3).await;
    }
    let _gw = Running::start(&config, server).await;
    wait_buffered(server, 3).await;
    let mut business = FakeServer::start(ws).await;
    let mut conn = business.accept().await;
    assert_eq!(conn.recv_frame().await["meta_event_type"], "lifecycle");
    for text in ["one", "two", "three"] {
        assert_eq!(conn.recv_frame().await["raw_message"], text);
    }
    say(server, "four").await;
    assert_eq!(conn.recv_frame().await["raw_message"], "four");
    wait_buffered(server, 0).await;
}

#[actix_web::test]
async fn sigterm_closes_clients_with_1001_and_stores_every_message() {
    let data = tempfile::tempdir().expect("tempdir");
    let (server, mirai) = (free_port(), free_port());
    let config = format!(
        "server: {{ port: {server}, data_dir: {:?} }}\n{WORLD}\nmirai:\n  adapters: [ws]\n  \
         verifyKey: \"1234567890\"\n  adapterSettings:\n    ws: {{ host: 127.0.0.1, port: {mirai}, heartbeatInterval: 0 }}\n",
        data.path().display().to_string()
    );
    {
        let mut gw = Running::start(&config, server).await;
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], mirai).into();
        let mut client =
            ws_client(addr, "/all?verifyKey=1234567890&qq=10001", &[]).await.expect("ws");
        assert_eq!(client.recv_frame().await["data"]["code"], 0);
        for text in ["one", "two", "three"] {
            say(server, text).await;
            assert_eq!(client.recv_frame().await["data"]["messageChain"][1]["text"], text);
        }
        sigterm(&gw);
        let (code, reason) = client.recv_close().await;
        assert_eq!((code, reason.as_str()), (1001, "botgate is shutting down"));
        exited(&mut gw).await;
    }
    let _gw = Running::start(&config, server).await;
    assert_eq!(
        healthz_at(server).await["bots"][0]["storedMessages"],
        3,
        "every message was written"
    );
}

#[actix_web::test]
async fn sigterm_closes_destination_links_with_1001() {
    let data = tempfile::tempdir().expect("tempdir");
    let (server, ws) = (free_port(), free_port());
    let config = reverse_ws_config(server, ws, data.path());
    let mut business = FakeServer::start(ws).await;
    let gw = Running::start(&config, server).await;
    let mut conn = business.accept().await;
    conn.verify(10001).await;
    say(server, "one").await;
    assert_eq!(conn.recv_frame().await["data"]["messageChain"][1]["text"], "one");
    sigterm(&gw);
    let (code, reason) = conn.recv_close().await;
    assert_eq!((code, reason.as_str()), (1001, "botgate is shutting down"));
}
