//! Real mirai clients from PyPI against the gateway: YiriMirai (forward ws, auth in headers)
//! and nonebot2 with nonebot-adapter-mirai (events over forward ws, API over http with the
//! ws-issued session key). In each a bot handler receives an injected group message and
//! replies; the reply is read back with `messageFromId`. `tests/run` creates the venvs.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use botgate::listeners::Mount;
use common::*;
use serde_json::Value;

struct PyBot {
    child: Child,
    log: PathBuf,
}

impl PyBot {
    fn start(
        venv: &str,
        script: &str,
        addr: std::net::SocketAddr,
        log_dir: &std::path::Path,
    ) -> PyBot {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv").join(venv).join("bin/python");
        assert!(
            python.exists(),
            "{} is missing: run tests/run (it creates the interop venvs with tests/interop/setup.sh)",
            python.display()
        );
        let log = log_dir.join(format!("{venv}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(python)
            .arg(root.join("tests/interop").join(script))
            .args(["127.0.0.1", &addr.port().to_string(), "10001", "1234567890"])
            .env("PYTHONUNBUFFERED", "1")
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the python bot");
        PyBot { child, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PyBot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one client: waits for it to connect, injects "ping", and waits for its reply.
async fn ping_pong(venv: &str, script: &str, expected_reply: &str) {
    let gw = start_gateway(WORLD, &mirai_http_ws("")).await;
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws");
    let base = format!("http://{}", gw.addr_of(Mount::MiraiHttp).expect("http"));
    let logs = tempfile::tempdir().expect("tempdir");
    let bot = PyBot::start(venv, script, addr, logs.path());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while healthz(&gw).await["miraiWsClients"] != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{venv} never connected:\n{}",
            bot.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the client finish its own start-up (session bookkeeping) before the event.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let key = http_session(&base, 10001).await;
    let injected = inject(&gw, 10001, group_message(30001, 20001, "ping")).await["messageId"]
        .as_i64()
        .expect("id");
    let reply_id = injected + 1;
    let client = awc::Client::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let reply = loop {
        let v: Value = client
            .get(format!("{base}/messageFromId?sessionKey={key}&target=30001&messageId={reply_id}"))
            .send()
            .await
            .expect("messageFromId")
            .json()
            .await
            .expect("json");
        if v["code"] == 0 {
            break v["data"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{venv} never replied:\n{}", bot.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(reply["type"], "GroupSyncMessage", "{reply}");
    assert_eq!(reply["subject"]["id"], 30001);
    let text: String = reply["messageChain"]
        .as_array()
        .expect("chain")
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(text, expected_reply, "{reply}\n{}", bot.output());
}

#[actix_web::test]
async fn yirimirai_replies_over_forward_ws() {
    ping_pong("interop-yiri", "yiri_bot.py", "pong from YiriMirai to AliceCard").await;
}

#[actix_web::test]
async fn nonebot_mirai_adapter_replies_over_http_with_the_ws_session_key() {
    ping_pong("interop-nonebot", "nonebot_bot.py", "pong from nonebot to AliceCard").await;
}
