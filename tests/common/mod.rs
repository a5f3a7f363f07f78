//! Test harness: the real gateway on ephemeral ports, a fake business server (a tokio
//! WebSocket server the reverse-ws adapter dials), and small HTTP helpers.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use botgate::{Config, Gateway};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How long a test waits for a frame before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// The bot world most tests use: bot 10001 owns group 30001 and is a member of 30002.
pub const WORLD: &str = r#"
bots:
  - qq: 10001
    source: simulated
    simulated:
      nickname: botgate
      profile: { email: bot@example.com, age: 3, level: 64, sign: hello, sex: FEMALE }
      friends:
        - { id: 20001, nickname: Alice, remark: 小A, profile: { age: 20, sex: FEMALE } }
        - { id: 20002, nickname: Bob }
      groups:
        - id: 30001
          name: Test Group
          permission: OWNER
          members:
            - { id: 20001, nickname: Alice, card: AliceCard, permission: ADMINISTRATOR, specialTitle: 元老, joinTimestamp: 1600000000 }
            - { id: 20003, nickname: Carol, joinTimestamp: 1700000000 }
        - id: 30002
          name: Other Group
          members:
            - { id: 20004, nickname: Dave, permission: OWNER }
  - qq: 10002
    source: simulated
    simulated: { nickname: second }
"#;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What the fake server saw in a handshake.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, Vec<String>>,
    pub headers: HashMap<String, Vec<String>>,
}

/// One WebSocket connection: one the gateway opened to a fake server, or a client's
/// connection to the gateway.
pub struct WsPeer {
    pub handshake: Handshake,
    ws: WebSocketStream<Box<dyn Io>>,
    pending: VecDeque<Value>,
}

impl WsPeer {
    /// The WebSocket itself, for tests that drive reading and writing apart.
    pub fn into_inner(self) -> WebSocketStream<Box<dyn Io>> {
        self.ws
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// The next data frame as JSON (pings are answered by tungstenite itself).
    pub async fn recv_frame(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            return v;
        }
        self.read_frame().await
    }

    async fn read_frame(&mut self) -> Value {
        // One deadline for the data frame: a server that pings every few seconds must not
        // keep a test waiting for ever.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await;
            let message = next
                .expect("timed out waiting for a data frame")
                .expect("connection ended")
                .expect("read error");
            match message {
                Message::Text(t) => return serde_json::from_str(&t).expect("frame is JSON"),
                Message::Binary(b) => return serde_json::from_slice(&b).expect("frame is JSON"),
                Message::Close(c) => panic!("gateway closed the connection: {c:?}"),
                _ => continue,
            }
        }
    }

    /// The reply with this syncId; frames with other syncIds are kept for `recv_frame`.
    pub async fn reply(&mut self, sync_id: &str) -> Value {
        if let Some(pos) = self.pending.iter().position(|v| v["syncId"] == sync_id) {
            return self.pending.remove(pos).expect("present");
        }
        loop {
            let v = self.read_frame().await;
            if v["syncId"] == sync_id {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    /// Sends a command and answers the reply's `data`.
    pub async fn call(&mut self, sync_id: &str, command: &str, content: Value) -> Value {
        self.send(
            json!({"syncId": sync_id, "command": command, "subCommand": null, "content": content}),
        )
        .await;
        self.reply(sync_id).await["data"].clone()
    }

    /// Verifies for `qq` with the right key; answers the session key.
    pub async fn verify(&mut self, qq: i64) -> String {
        let data = self
            .call(
                "verify-1",
                "verify",
                json!({"verifyKey": "1234567890", "sessionKey": null, "qq": qq}),
            )
            .await;
        assert_eq!(data["code"], 0, "verify failed: {data}");
        data["session"].as_str().expect("session").to_owned()
    }

    /// Fails if any data frame arrives within `d`.
    pub async fn expect_silence(&mut self, d: Duration) {
        assert!(self.pending.is_empty(), "unexpected frames: {:?}", self.pending);
        match tokio::time::timeout(d, self.ws.next()).await {
            Err(_) => {}
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("expected silence, got {other:?}"),
        }
    }

    /// Whether the connection is still open (a ping round-trips).
    pub async fn ping(&mut self) {
        self.ws.send(Message::Ping(b"p".to_vec().into())).await.expect("ping");
        loop {
            let msg = self.recv_any().await;
            match msg {
                Message::Pong(_) => return,
                Message::Close(c) => panic!("closed: {c:?}"),
                Message::Text(t) => self.pending.push_back(serde_json::from_str(&t).expect("json")),
                _ => {}
            }
        }
    }

    /// The next frame of any kind (tungstenite answers pings while the connection is read).
    pub async fn recv_any(&mut self) -> Message {
        tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("timed out waiting for a frame")
            .expect("connection ended")
            .expect("read error")
    }

    /// Reads until the gateway's close frame; answers its code and reason.
    pub async fn recv_close(&mut self) -> (u16, String) {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string())
                }
                Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
                Some(Ok(Message::Text(t))) => panic!("expected a close frame, got {t}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("expected a close frame, got error {e}"),
            }
        }
    }

    /// Whether the gateway has closed the connection (a close frame or EOF within `WAIT`).
    pub async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Connects to the gateway as a WebSocket client, with extra handshake headers.
pub async fn ws_client(
    addr: SocketAddr,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> Result<WsPeer, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}{path_and_query}").into_client_request()?;
    for (k, v) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            http::HeaderValue::from_str(v).expect("header value"),
        );
    }
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let io: Box<dyn Io> = Box::new(tcp);
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, io, Some(config)).await?;
    Ok(WsPeer { handshake: Handshake::default(), ws, pending: VecDeque::new() })
}

/// A `mirai:` section with the http and ws adapters sharing one ephemeral port.
pub fn mirai_http_ws(extra: &str) -> String {
    format!(
        "mirai:\n  adapters: [http, ws]\n  verifyKey: \"1234567890\"\n{extra}  adapterSettings:\n    http: {{ host: 127.0.0.1, port: 0 }}\n    ws: {{ host: 127.0.0.1, port: 0, heartbeatInterval: 0 }}\n"
    )
}

/// A WebSocket server standing in for a business server.
pub struct FakeServer {
    pub addr: SocketAddr,
    conns: mpsc::UnboundedReceiver<WsPeer>,
    task: tokio::task::JoinHandle<()>,
}

fn parse_query(q: &str) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default() {
        out.entry(k).or_default().push(v);
    }
    out
}

impl FakeServer {
    pub async fn start(port: u16) -> FakeServer {
        Self::start_with(port, None).await
    }

    pub async fn start_with(port: u16, tls: Option<tokio_rustls::TlsAcceptor>) -> FakeServer {
        Self::start_full(port, tls, None).await
    }

    /// A fake OneBot implementation logged in as `user`: it answers botgate's start-up probe
    /// (`get_login_info` with echo `botgate:probe`) itself and hands the test every other
    /// connection, its first frame kept for `recv_frame`.
    pub async fn napcat(port: u16, user: i64) -> FakeServer {
        Self::start_full(port, None, Some(user)).await
    }

    async fn start_full(
        port: u16,
        tls: Option<tokio_rustls::TlsAcceptor>,
        probe_user: Option<i64>,
    ) -> FakeServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind fake server");
        let addr = listener.local_addr().expect("addr");
        let (tx, conns) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let tx = tx.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let io: Box<dyn Io> = match tls {
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(s) => Box::new(s),
                            Err(_) => return,
                        },
                        None => Box::new(tcp),
                    };
                    let seen = Arc::new(Mutex::new(Handshake::default()));
                    let record = Arc::clone(&seen);
                    #[allow(clippy::result_large_err)] // the signature tungstenite requires
                    let callback = move |req: &Request, resp: Response| {
                        let mut h = record.lock().expect("lock");
                        h.method = req.method().to_string();
                        h.path = req.uri().path().to_owned();
                        h.query = parse_query(req.uri().query().unwrap_or(""));
                        for (k, v) in req.headers() {
                            h.headers
                                .entry(k.as_str().to_owned())
                                .or_default()
                                .push(v.to_str().unwrap_or("").to_owned());
                        }
                        Ok(resp)
                    };
                    let config =
                        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                            .max_message_size(Some(64 << 20))
                            .max_frame_size(Some(64 << 20));
                    let Ok(ws) =
                        tokio_tungstenite::accept_hdr_async_with_config(io, callback, Some(config))
                            .await
                    else {
                        return;
                    };
                    let handshake = seen.lock().expect("lock").clone();
                    let mut peer = WsPeer { handshake, ws, pending: VecDeque::new() };
                    if let Some(user) = probe_user {
                        let first = peer.read_frame().await;
                        if first["echo"] == "botgate:probe" {
                            peer.send(json!({"status":"ok","retcode":0,"echo":"botgate:probe",
                                             "data":{"user_id":user,"nickname":"napcat bot"}}))
                                .await;
                            return;
                        }
                        peer.pending.push_back(first);
                    }
                    let _ = tx.send(peer);
                });
            }
        });
        FakeServer { addr, conns, task }
    }

    /// The next connection the gateway opens.
    pub async fn accept(&mut self) -> WsPeer {
        tokio::time::timeout(WAIT, self.conns.recv())
            .await
            .expect("the gateway did not connect")
            .expect("server task ended")
    }

    /// The next connection the gateway opens, however long that takes (`None` once the
    /// server stopped).
    pub async fn next_connection(&mut self) -> Option<WsPeer> {
        self.conns.recv().await
    }

    /// Stops listening; connections already handed out are closed by dropping them.
    pub fn kill(self) -> u16 {
        self.task.abort();
        self.addr.port()
    }
}

/// Starts the gateway on an ephemeral port with `world` plus the `mirai:` section given.
pub async fn start_gateway(world: &str, mirai: &str) -> Gateway {
    start_gateway_with("", world, mirai).await
}

/// Like [`start_gateway`], with more `server:` keys (`"max_in_flight: 4, "`; mind the comma).
pub async fn start_gateway_with(server: &str, world: &str, rest: &str) -> Gateway {
    // Each gateway gets a store of its own, in memory unless the test names a data_dir.
    let store = if server.contains("data_dir") { "" } else { "data_dir: \"\", " };
    let yaml = format!("server: {{ {server}{store}host: 127.0.0.1, port: 0 }}\n{world}\n{rest}");
    let config = Config::from_yaml_str(&yaml).unwrap_or_else(|e| panic!("config: {e}\n{yaml}"));
    Gateway::start(config).await.expect("gateway starts")
}

/// A `mirai:` section with reverse-ws dialling the given destinations (YAML flow items).
pub fn mirai_reverse_ws(destinations: &[String], extra: &str) -> String {
    format!(
        "mirai:\n  adapters: [reverse-ws]\n  verifyKey: \"1234567890\"\n{extra}  adapterSettings:\n    reverse-ws:\n      heartbeatInterval: 0\n      maxReconnectInterval: 400\n      destinations:\n{}",
        destinations.iter().map(|d| format!("        - {d}\n")).collect::<String>()
    )
}

/// A plain-ws destination for a fake server.
pub fn dest(port: u16) -> String {
    format!("{{ host: 127.0.0.1, port: {port}, path: /ws, protocol: ws, reconnectInterval: 100 }}")
}

pub async fn post_json(
    gw: &Gateway,
    path: &str,
    body: &Value,
    token: Option<&str>,
) -> (u16, Value) {
    let mut req = awc::Client::default().post(format!("http://{}{path}", gw.server_addr));
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let mut resp = req.send_json(body).await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().limit(64 << 20).await.unwrap_or(Value::Null);
    (status, body)
}

pub async fn inject(gw: &Gateway, qq: i64, event: Value) -> Value {
    let (status, body) = post_json(gw, &format!("/sim/{qq}/inject"), &event, None).await;
    assert_eq!(status, 200, "inject failed: {body}");
    body
}

pub async fn healthz(gw: &Gateway) -> Value {
    let mut resp = awc::Client::default()
        .get(format!("http://{}/healthz", gw.server_addr))
        .send()
        .await
        .expect("healthz");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("healthz json")
}

/// `/healthz` of a botgate binary whose `server:` listens on `port`.
pub async fn healthz_at(port: u16) -> Value {
    let mut resp = awc::Client::default()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("healthz");
    resp.json().await.expect("healthz json")
}

/// Waits until `/healthz` reports `n` connected destinations.
pub async fn wait_connected(gw: &Gateway, n: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if healthz(gw).await["destinationsConnected"] == n {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "destinations never reached {n} connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A group message from member `from` of group `group`.
pub fn group_message(group: i64, from: i64, text: &str) -> Value {
    json!({"type": "GroupMessage", "sender": {"id": from, "group": {"id": group}},
           "messageChain": [{"type": "Plain", "text": text}]})
}

/// `/verify` + `/bind` on the mirai http adapter at `base`; answers the bound session key.
pub async fn http_session(base: &str, qq: i64) -> String {
    let client = awc::Client::default();
    let v: Value = client
        .post(format!("{base}/verify"))
        .send_json(&json!({"verifyKey":"1234567890"}))
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    let key = v["session"].as_str().expect("key").to_owned();
    let b: Value = client
        .post(format!("{base}/bind"))
        .send_json(&json!({"sessionKey":key,"qq":qq}))
        .await
        .expect("bind")
        .json()
        .await
        .expect("json");
    assert_eq!(b["code"], 0, "bind: {b}");
    key
}

/// A mirai forward ws client of bot 10001 on `/all`, its connect ack already read.
pub async fn mirai_ws_client(gw: &Gateway) -> WsPeer {
    let addr = gw.addr_of(botgate::listeners::Mount::MiraiWs).expect("ws listener");
    let mut c = ws_client(addr, "/all?verifyKey=1234567890&qq=10001", &[]).await.expect("ws");
    assert_eq!(c.recv_frame().await["data"]["code"], 0);
    c
}

/// A OneBot client on the forward WebSocket's `/`, past its lifecycle event.
pub async fn onebot_client(gw: &Gateway) -> WsPeer {
    let addr = gw.addr_of(botgate::listeners::Mount::OneBotWs).expect("onebot ws");
    let mut c = ws_client(addr, "/", &[]).await.expect("onebot client");
    assert_eq!(c.recv_frame().await["meta_event_type"], "lifecycle");
    c
}

/// One delivery to a [`FakeEndpoint`]: headers, raw body, JSON body.
pub type Delivery = (Vec<(String, String)>, Vec<u8>, Value);

/// A fake HTTP endpoint for webhook / HTTP POST tests: records deliveries and answers them
/// from a script (status, body, delay); unscripted requests get 200 with no body.
#[derive(Default)]
pub struct Endpoint {
    pub received: Mutex<Vec<Delivery>>,
    pub answers: Mutex<VecDeque<(u16, String)>>,
    pub delay: Mutex<Duration>,
}

impl Endpoint {
    pub fn header(d: &Delivery, name: &str) -> Option<String> {
        d.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.received.lock().expect("lock").clone()
    }
}

async fn endpoint_hook(
    req: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
    ep: actix_web::web::Data<Endpoint>,
) -> actix_web::HttpResponse {
    let delay = *ep.delay.lock().expect("lock");
    tokio::time::sleep(delay).await;
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let answer = ep.answers.lock().expect("lock").pop_front();
    let (status, reply) = answer.unwrap_or((200, String::new()));
    if status == 200 {
        let value = serde_json::from_slice(&body).expect("the POSTed body is JSON");
        ep.received.lock().expect("lock").push((headers, body.to_vec(), value));
    }
    actix_web::HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .body(reply)
}

/// Serves `ep` at `/hook` on an ephemeral port.
pub fn start_endpoint(ep: Arc<Endpoint>) -> SocketAddr {
    use actix_web::{web, App, HttpServer};
    let data = web::Data::from(ep);
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).route("/hook", web::post().to(endpoint_hook))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind");
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    addr
}

/// Waits until `ep` has `n` deliveries.
pub async fn wait_for_deliveries(ep: &Endpoint, n: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while ep.received.lock().expect("lock").len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} deliveries",
            ep.received.lock().expect("lock").len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls mirai's `messageFromId` on the http adapter at `base` until message `id` of `target`
/// exists; answers its packet, or `None` after `within`.
pub async fn wait_for_message(
    base: &str,
    key: &str,
    target: i64,
    id: i64,
    within: Duration,
) -> Option<Value> {
    let client = awc::Client::default();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let v: Value = client
            .get(format!("{base}/messageFromId?sessionKey={key}&target={target}&messageId={id}"))
            .send()
            .await
            .expect("messageFromId")
            .json()
            .await
            .expect("json");
        if v["code"] == 0 {
            return Some(v["data"].clone());
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    probe.local_addr().expect("addr").port()
}

/// The botgate binary running as a child process; killed when dropped.
pub struct Running {
    pub child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Starts the binary on `config` and waits until `/healthz` on `server_port` answers.
    pub async fn start(config: &str, server_port: u16) -> Running {
        Self::start_logging(config, server_port, std::process::Stdio::null(), "warn").await
    }

    /// Like [`Running::start`], with the binary's stderr going to `stderr` at `level`.
    pub async fn start_logging(
        config: &str,
        server_port: u16,
        stderr: std::process::Stdio,
        level: &str,
    ) -> Running {
        match Self::try_start(config, server_port, stderr, level).await {
            Ok(running) => running,
            Err(why) => panic!("botgate did not start: {why}"),
        }
    }

    /// Starts the binary and waits for `/healthz`; an error if the process exits first (a
    /// port another test took meanwhile, say) or never answers.
    pub async fn try_start(
        config: &str,
        server_port: u16,
        stderr: std::process::Stdio,
        level: &str,
    ) -> Result<Running, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, config).expect("write config");
        // Run in the temporary folder, so the default `./data` store is the test's own.
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_botgate"))
            .current_dir(dir.path())
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", level)
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start botgate");
        let mut running = Running { child, _dir: dir };
        let client = awc::Client::default();
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let url = format!("http://127.0.0.1:{server_port}/healthz");
            if let Ok(resp) = client.get(url).send().await {
                if resp.status().is_success() {
                    return Ok(running);
                }
            }
            if let Ok(Some(status)) = running.child.try_wait() {
                return Err(format!("it exited ({status})"));
            }
            if std::time::Instant::now() >= deadline {
                return Err("healthz never answered".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy in front of `target` whose connections the test can cut at will: the fault a
/// restarting implementation or a broken network gives, without restarting anything.
pub struct TcpProxy {
    pub addr: SocketAddr,
    cut: tokio::sync::broadcast::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on an ephemeral port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (cut, _) = tokio::sync::broadcast::channel::<()>(16);
        let cuts = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut on_cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = on_cut.recv() => {}
                    }
                });
            }
        });
        TcpProxy { addr, cut, task }
    }

    /// Drops every connection open now (both ends see the socket close).
    pub fn cut(&self) {
        let _ = self.cut.send(());
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Botgate A of a chain: the simulated world, serving OneBot's forward WebSocket and mirai's
/// http + ws.
pub async fn chain_upstream() -> Gateway {
    let onebot =
        "onebot:\n  use_http: false\n  use_ws: true\n  ws_host: 127.0.0.2\n  ws_port: 0\n  \
                  post_message_format: array\n";
    start_gateway(WORLD, &format!("{}{onebot}", mirai_http_ws(""))).await
}

/// Botgate B of a chain: bot 10001 from the OneBot implementation at `url` (`extra` adds keys
/// to its `onebot:`), serving mirai's http + ws and OneBot's forward WebSocket.
pub async fn chain_downstream(url: &str, extra: &str) -> Gateway {
    let world = format!(
        "bots:\n  - qq: 10001\n    source: onebot\n    onebot:\n      url: {url}\n      \
         reconnect_interval: 100\n      max_reconnect_interval: 400\n      action_timeout: 2000\n{extra}"
    );
    let onebot = "onebot:\n  use_http: false\n  use_ws: true\n  ws_host: 127.0.0.3\n  ws_port: 0\n";
    start_gateway(&world, &format!("{}{onebot}", mirai_http_ws(""))).await
}

/// Waits until bot 10001 of `gw` is online (or offline) by `/healthz`.
pub async fn wait_online(gw: &Gateway, online: bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let h = healthz(gw).await;
        if h["bots"][0]["online"] == online {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "bot never became online={online}: {h}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Plays NapCat's part of a connection: answers the login handshake and the list calls the
/// source makes, leaving the peer ready for the test.
pub async fn napcat_login(peer: &mut WsPeer) {
    // NapCat greets every connection with a lifecycle event and then sends heartbeats; they
    // are the link's business and must never reach clients.
    peer.send(
        json!({"time":1,"self_id":10001,"post_type":"meta_event","meta_event_type":"lifecycle",
                     "sub_type":"connect"}),
    )
    .await;
    peer.send(
        json!({"time":1,"self_id":10001,"post_type":"meta_event","meta_event_type":"heartbeat",
                     "status":{"online":true,"good":true},"interval":30000}),
    )
    .await;
    let mut answered = 0;
    while answered < 4 {
        let call = peer.recv_frame().await;
        let data = match call["action"].as_str() {
            Some("get_login_info") => json!({"user_id": 10001, "nickname": "napcat bot"}),
            Some("get_version_info") => {
                json!({"app_name": "NapCat.Onebot", "app_version": "4.8.0", "protocol_version": "v11"})
            }
            Some("get_friend_list") => {
                json!([{"user_id": 20001, "nickname": "Alice", "remark": "小A"}])
            }
            Some("get_group_list") => {
                json!([{"group_id": 30001, "group_name": "NapCat Group", "member_count": 2}])
            }
            other => panic!("unexpected call during login: {other:?}: {call}"),
        };
        peer.send(json!({"status":"ok","retcode":0,"data":data,"message":"","wording":"",
                         "echo":call["echo"],"stream":"normal-action"}))
            .await;
        answered += 1;
    }
}

/// A group message event as NapCat pushes it.
pub fn napcat_group_message(id: i64, user: i64, text: &str) -> Value {
    json!({"self_id":10001,"user_id":user,"time":1_764_000_000,"message_id":id,"message_seq":id,
           "real_id":id,"message_type":"group","sub_type":"normal","group_id":30001,
           "sender":{"user_id":user,"nickname":"Bob","card":"","role":"member"},
           "raw_message":text,"font":14,"message_format":"array","post_type":"message",
           "message":[{"type":"text","data":{"text":text}}]})
}
