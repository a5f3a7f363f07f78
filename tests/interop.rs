//! Real clients from PyPI against the gateway: YiriMirai (mirai forward ws, auth in headers),
//! nonebot2 with nonebot-adapter-mirai (events over mirai ws, API over http with the ws-issued
//! session key), and nonebot2 with nonebot-adapter-onebot (OneBot forward ws with a token). In
//! each a bot handler receives an injected group message and replies; the reply is read back
//! with `messageFromId`. `tests/run` creates the venvs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use botgate::listeners::Mount;
use common::*;

struct PyBot {
    child: Child,
    log: PathBuf,
}

impl PyBot {
    fn start(venv: &str, script: &str, args: &[String], log_dir: &Path) -> PyBot {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv").join(venv).join("bin/python");
        assert!(
            python.exists(),
            "{} is missing: run tests/run (it creates the interop venvs with tests/interop/setup.sh)",
            python.display()
        );
        let log = log_dir.join(format!("{script}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(python)
            .arg(root.join("tests/interop").join(script))
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            // Some SDKs write files where they run (botpy its botpy.log): the test's folder.
            .current_dir(log_dir)
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

/// Waits until the client subscribed to bot 10001's events.
async fn wait_for_subscriber(gw: &botgate::Gateway, bot: &PyBot, who: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while healthz(gw).await["bots"][0]["subscribers"] != 1 {
        assert!(tokio::time::Instant::now() < deadline, "{who} never connected:\n{}", bot.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the client finish its own start-up (session bookkeeping) before the event.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Injects "ping" from Alice into group 30001 and waits for the client's reply.
async fn expect_reply(gw: &botgate::Gateway, bot: &PyBot, who: &str, expected: &str) {
    let base = format!("http://{}", gw.addr_of(Mount::MiraiHttp).expect("http"));
    let key = http_session(&base, 10001).await;
    let injected = inject(gw, 10001, group_message(30001, 20001, "ping")).await["messageId"]
        .as_i64()
        .expect("id");
    let reply = wait_for_message(&base, &key, 30001, injected + 1, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("{who} never replied:\n{}", bot.output()));
    assert_eq!(reply["type"], "GroupSyncMessage", "{reply}");
    assert_eq!(reply["subject"]["id"], 30001);
    let text: String = reply["messageChain"]
        .as_array()
        .expect("chain")
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(text, expected, "{reply}\n{}", bot.output());
}

/// The command line of a mirai client script: host, port, bot and verifyKey.
fn mirai_client_args(addr: std::net::SocketAddr) -> [String; 4] {
    ["127.0.0.1".to_owned(), addr.port().to_string(), "10001".to_owned(), "1234567890".to_owned()]
}

/// Runs one mirai client against the mirai ws adapter.
async fn mirai_ping_pong(venv: &str, script: &str, expected: &str) {
    let gw = start_gateway(WORLD, &mirai_http_ws("")).await;
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws");
    let logs = tempfile::tempdir().expect("tempdir");
    let args = mirai_client_args(addr);
    let bot = PyBot::start(venv, script, &args, logs.path());
    wait_for_subscriber(&gw, &bot, venv).await;
    expect_reply(&gw, &bot, venv, expected).await;
}

#[actix_web::test]
async fn yirimirai_replies_over_forward_ws() {
    mirai_ping_pong("interop-yiri", "yiri_bot.py", "pong from YiriMirai to AliceCard").await;
}

#[actix_web::test]
async fn nonebot_mirai_adapter_replies_over_http_with_the_ws_session_key() {
    mirai_ping_pong("interop-nonebot", "nonebot_bot.py", "pong from nonebot to AliceCard").await;
}

#[actix_web::test]
async fn nonebot_onebot_adapter_replies_over_the_onebot_forward_websocket() {
    let config = format!(
        "{}onebot:\n  use_http: false\n  use_ws: true\n  ws_host: 127.0.0.3\n  ws_port: 0\n  access_token: tok\n",
        mirai_http_ws("")
    );
    let gw = start_gateway(WORLD, &config).await;
    let addr = gw.addr_of(Mount::OneBotWs).expect("onebot ws");
    let logs = tempfile::tempdir().expect("tempdir");
    let args =
        ["forward".to_owned(), addr.ip().to_string(), addr.port().to_string(), "tok".to_owned()];
    let bot = PyBot::start("interop-nonebot", "nonebot_onebot_bot.py", &args, logs.path());
    wait_for_subscriber(&gw, &bot, "nonebot onebot").await;
    expect_reply(&gw, &bot, "nonebot onebot", "pong from nonebot forward to AliceCard").await;
}

#[actix_web::test]
async fn nonebot_onebot_adapter_replies_over_the_onebot_reverse_websocket() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let logs = tempfile::tempdir().expect("tempdir");
    let args = ["reverse".to_owned(), "127.0.0.1".to_owned(), port.to_string(), "tok".to_owned()];
    let bot = PyBot::start("interop-nonebot", "nonebot_onebot_bot.py", &args, logs.path());
    let config = format!(
        "{}onebot:\n  use_http: false\n  use_ws_reverse: true\n  ws_reverse_use_universal_client: true\n  ws_reverse_url: ws://127.0.0.1:{port}/onebot/v11/ws\n  ws_reverse_reconnect_interval: 200\n  access_token: tok\n",
        mirai_http_ws("")
    );
    let gw = start_gateway(WORLD, &config).await;
    // botgate redials until nonebot's server is up and accepts the Universal connection.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while healthz(&gw).await["destinations"][0]["connected"] != true {
        assert!(tokio::time::Instant::now() < deadline, "never connected:\n{}", bot.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    expect_reply(&gw, &bot, "nonebot onebot reverse", "pong from nonebot reverse to AliceCard")
        .await;
}

/// Starts an aiocqhttp bot in `mode` on a free port; answers it and the port.
fn aiocqhttp(mode: &str, logs: &Path) -> (PyBot, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let args = [
        mode.to_owned(),
        "127.0.0.1".to_owned(),
        port.to_string(),
        "tok".to_owned(),
        "s3cret".to_owned(),
    ];
    (PyBot::start("interop-aiocqhttp", "aiocqhttp_bot.py", &args, logs), port)
}

#[actix_web::test]
async fn aiocqhttp_replies_over_reverse_websockets_with_split_api_and_event_roles() {
    let logs = tempfile::tempdir().expect("tempdir");
    let (bot, port) = aiocqhttp("ws", logs.path());
    let config = format!(
        "{}onebot:\n  use_http: false\n  use_ws_reverse: true\n  ws_reverse_api_url: ws://127.0.0.1:{port}/ws/api/\n  ws_reverse_event_url: ws://127.0.0.1:{port}/ws/event/\n  ws_reverse_reconnect_interval: 200\n  access_token: tok\n",
        mirai_http_ws("")
    );
    let gw = start_gateway(WORLD, &config).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let h = healthz(&gw).await;
        if h["destinations"][0]["connected"] == true && h["destinations"][1]["connected"] == true {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never connected:\n{}", bot.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    expect_reply(&gw, &bot, "aiocqhttp ws", "pong from aiocqhttp ws to AliceCard").await;
}

#[actix_web::test]
async fn aiocqhttp_replies_to_signed_http_posts_with_a_quick_operation() {
    let logs = tempfile::tempdir().expect("tempdir");
    let (bot, port) = aiocqhttp("post", logs.path());
    // Wait for the receiver to listen before events are posted to it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "aiocqhttp never listened:\n{}",
            bot.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let config = format!(
        "{}onebot:\n  use_http: false\n  post_url: http://127.0.0.1:{port}/\n  secret: s3cret\n",
        mirai_http_ws("")
    );
    let gw = start_gateway(WORLD, &config).await;
    expect_reply(&gw, &bot, "aiocqhttp post", "pong from aiocqhttp post to AliceCard").await;
}

/// Botgate A (simulated, serving OneBot) and botgate B sourced from it, B online.
async fn chain() -> (botgate::Gateway, botgate::Gateway) {
    let a = chain_upstream().await;
    let url = format!("ws://{}/", a.addr_of(Mount::OneBotWs).expect("A's onebot ws"));
    let b = chain_downstream(&url, "").await;
    wait_online(&b, true).await;
    (a, b)
}

#[actix_web::test]
async fn yirimirai_on_a_chained_botgate_replies_into_the_upstream_world() {
    let (a, b) = chain().await;
    let addr = b.addr_of(Mount::MiraiWs).expect("B's mirai ws");
    let logs = tempfile::tempdir().expect("tempdir");
    let args = mirai_client_args(addr);
    let bot = PyBot::start("interop-yiri", "yiri_bot.py", &args, logs.path());
    wait_for_subscriber(&b, &bot, "YiriMirai on B").await;
    // Injected into A, answered by YiriMirai on B, the answer read back in A's world.
    expect_reply(&a, &bot, "YiriMirai on B", "pong from YiriMirai to AliceCard").await;
}

#[actix_web::test]
async fn nonebot_onebot_adapter_on_a_chained_botgate_replies_into_the_upstream_world() {
    let (a, b) = chain().await;
    let addr = b.addr_of(Mount::OneBotWs).expect("B's onebot ws");
    let logs = tempfile::tempdir().expect("tempdir");
    let args =
        ["forward".to_owned(), addr.ip().to_string(), addr.port().to_string(), String::new()];
    let bot = PyBot::start("interop-nonebot", "nonebot_onebot_bot.py", &args, logs.path());
    wait_for_subscriber(&b, &bot, "nonebot onebot on B").await;
    expect_reply(&a, &bot, "nonebot onebot on B", "pong from nonebot forward to AliceCard").await;
}

/// Botgate serving the QQ official protocol for bot 10001 (app 102000001), with mirai http to
/// read replies back; and the SDK bot `script` (with `mode` first when given) pointed at it,
/// its session identified.
async fn official_sdk(
    script: &str,
    mode: Option<&str>,
) -> (botgate::Gateway, PyBot, tempfile::TempDir) {
    let qqbot = "qqbot:\n  host: 127.0.0.4\n  port: 0\n  apps:\n    - { app_id: \"102000001\", secret: botgate-dev-secret, bot: 10001 }\n";
    let gw = start_gateway(WORLD, &format!("{}{qqbot}", mirai_http_ws(""))).await;
    let addr = gw.addr_of(Mount::QqBot).expect("qqbot listener");
    let logs = tempfile::tempdir().expect("tempdir");
    let mut args: Vec<String> = mode.into_iter().map(str::to_owned).collect();
    args.extend([
        addr.ip().to_string(),
        addr.port().to_string(),
        "102000001".to_owned(),
        "botgate-dev-secret".to_owned(),
    ]);
    let bot = PyBot::start("interop-qq", script, &args, logs.path());
    wait_for_qq_session(&gw, &bot, script).await;
    (gw, bot, logs)
}

/// Waits until the SDK bot identified on `gw`'s served gateway.
async fn wait_for_qq_session(gw: &botgate::Gateway, bot: &PyBot, who: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while healthz(gw).await["qqbotApps"][0]["sessions"] != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{who} never identified:\n{}",
            bot.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the SDK finish its own start-up before the event.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Injects "ping" at the bot in group 30001 and privately from Alice; each gets its reply.
async fn official_ping_pong(
    gw: &botgate::Gateway,
    bot: &PyBot,
    group_reply: &str,
    c2c_reply: &str,
) {
    let base = format!("http://{}", gw.addr_of(Mount::MiraiHttp).expect("http"));
    let key = http_session(&base, 10001).await;
    let at = serde_json::json!({"type": "GroupMessage", "sender": {"id": 20001, "group": {"id": 30001}},
        "messageChain": [{"type": "At", "target": 10001}, {"type": "Plain", "text": " ping"}]});
    let friend = serde_json::json!({"type": "FriendMessage", "sender": {"id": 20001},
        "messageChain": [{"type": "Plain", "text": "ping"}]});
    for (event, context, expected) in [(at, 30001, group_reply), (friend, 20001, c2c_reply)] {
        let injected = inject(gw, 10001, event).await["messageId"].as_i64().expect("id");
        let reply = wait_for_message(&base, &key, context, injected + 1, Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("no reply to {context}:\n{}", bot.output()));
        let text: String = reply["messageChain"]
            .as_array()
            .expect("chain")
            .iter()
            .filter_map(|e| e["text"].as_str())
            .collect();
        assert_eq!(text, expected, "{reply}\n{}", bot.output());
    }
}

#[actix_web::test]
async fn qq_botpy_runs_unchanged_against_the_simulated_world() {
    let (gw, bot, _logs) = official_sdk("botpy_bot.py", None).await;
    official_ping_pong(&gw, &bot, "pong from botpy", "pong from botpy c2c").await;
}

#[actix_web::test]
async fn nonebot_qq_adapter_runs_unchanged_against_the_simulated_world() {
    let (gw, bot, _logs) = official_sdk("nonebot_qq_bot.py", Some("websocket")).await;
    official_ping_pong(&gw, &bot, "pong from nonebot qq group", "pong from nonebot qq c2c").await;
}

#[actix_web::test]
async fn nonebot_qq_adapter_runs_unchanged_over_a_signed_webhook() {
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let qq_port = std::net::TcpListener::bind("127.0.0.4:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let logs = tempfile::tempdir().expect("tempdir");
    let args = [
        "webhook".to_owned(),
        "127.0.0.4".to_owned(),
        qq_port.to_string(),
        "102000001".to_owned(),
        "botgate-dev-secret".to_owned(),
        listen.to_string(),
    ];
    let bot = PyBot::start("interop-qq", "nonebot_qq_bot.py", &args, logs.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while tokio::net::TcpStream::connect(("127.0.0.1", listen)).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nonebot never listened:\n{}",
            bot.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let qqbot = format!(
        "qqbot:\n  host: 127.0.0.4\n  port: {qq_port}\n  apps:\n    - {{ app_id: \"102000001\", secret: botgate-dev-secret, bot: 10001, webhook: \"http://127.0.0.1:{listen}/qq/webhook\" }}\n"
    );
    let gw = start_gateway(WORLD, &format!("{}{qqbot}", mirai_http_ws(""))).await;
    official_ping_pong(&gw, &bot, "pong from nonebot qq group", "pong from nonebot qq c2c").await;
}

#[actix_web::test]
async fn qq_botpy_drives_a_onebot_sourced_account_through_a_chain() {
    // A: the simulated world, serving OneBot. B: bot 10001 held through A's OneBot, served to
    // the SDK as the QQ official protocol. The reply lands in A's world.
    let a = chain_upstream().await;
    let url = format!("ws://{}/", a.addr_of(Mount::OneBotWs).expect("A's onebot ws"));
    let world = format!(
        "bots:\n  - qq: 10001\n    source: onebot\n    onebot:\n      url: {url}\n      reconnect_interval: 100\n"
    );
    let qqbot = "qqbot:\n  host: 127.0.0.4\n  port: 0\n  apps:\n    - { app_id: \"102000001\", secret: botgate-dev-secret, bot: 10001 }\n";
    let b = start_gateway(&world, &format!("{}{qqbot}", mirai_http_ws(""))).await;
    wait_online(&b, true).await;
    let addr = b.addr_of(Mount::QqBot).expect("B's qqbot listener");
    let logs = tempfile::tempdir().expect("tempdir");
    let args = [
        addr.ip().to_string(),
        addr.port().to_string(),
        "102000001".to_owned(),
        "botgate-dev-secret".to_owned(),
    ];
    let bot = PyBot::start("interop-qq", "botpy_bot.py", &args, logs.path());
    wait_for_qq_session(&b, &bot, "botpy").await;
    official_ping_pong(&a, &bot, "pong from botpy", "pong from botpy c2c").await;
}
