//! A fake QQ official bot platform, written to behave like the real one for botgate's
//! `source: qqbot`: the token endpoint (`expires_in` as a string), `/gateway/bot` with its
//! session start limit, a gateway that sends Hello, answers Identify with READY and Resume
//! with a replay of what the session missed and RESUMED, acknowledges heartbeats (or not), and
//! takes scripted faults (op 7, op 9, close codes, a dropped socket); OpenAPI endpoints that
//! check the token, record every request, and enforce the passive-reply rules and `msg_seq`
//! uniqueness as the platform does; and a webhook sender that signs (and mis-signs) pushes.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// The app the fake knows.
pub const APP_ID: &str = "102000001";
/// Its secret.
pub const SECRET: &str = "fake-platform-secret";
/// The bot's guild user id.
pub const BOT_USER: &str = "1357924680";

const WAIT: Duration = Duration::from_secs(10);

/// One request to the OpenAPI.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

/// What the fake knows and saw.
pub struct State {
    pub tokens_issued: u32,
    valid_tokens: HashSet<String>,
    /// What the token endpoint sends as `expires_in`.
    pub expires_in: Value,
    pub requests: Vec<Recorded>,
    /// Identify (op 2) and Resume (op 6) frames, in order.
    pub greetings: Vec<Value>,
    pub heartbeats: Vec<Value>,
    pub connections: u32,
    /// Heartbeats are not acknowledged while set.
    pub silent_acks: bool,
    pub heartbeat_ms: u64,
    /// `session_start_limit.remaining`.
    pub sessions_remaining: i64,
    /// A resume replays this many events before the client's `seq` too (the platform may).
    pub replay_overlap: u64,
    sessions: HashMap<String, Vec<(u64, String)>>,
    current: Option<String>,
    live: bool,
    next_s: u64,
    next_event: u64,
    next_sent: u64,
    /// Received messages by id: when, and how many replies they had.
    received: HashMap<String, (Instant, u32)>,
    events: HashSet<String>,
    pub seqs: HashSet<(String, u64)>,
}

enum Out {
    Text(String),
    Close(u16),
    Abort,
}

/// The fake platform.
pub struct FakeQq {
    pub http: SocketAddr,
    pub ws: SocketAddr,
    pub state: Arc<Mutex<State>>,
    conn: Arc<Mutex<Option<mpsc::UnboundedSender<Out>>>>,
}

impl FakeQq {
    /// Starts the HTTP side and the gateway on ephemeral ports.
    pub async fn start() -> FakeQq {
        let state = Arc::new(Mutex::new(State {
            tokens_issued: 0,
            valid_tokens: HashSet::new(),
            expires_in: json!("7200"),
            requests: Vec::new(),
            greetings: Vec::new(),
            heartbeats: Vec::new(),
            connections: 0,
            silent_acks: false,
            heartbeat_ms: 45_000,
            sessions_remaining: 1000,
            replay_overlap: 0,
            sessions: HashMap::new(),
            current: None,
            live: false,
            next_s: 1,
            next_event: 1,
            next_sent: 1,
            received: HashMap::new(),
            events: HashSet::new(),
            seqs: HashSet::new(),
        }));
        let conn = Arc::new(Mutex::new(None));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gateway");
        let ws = listener.local_addr().expect("addr");
        let (s, c) = (Arc::clone(&state), Arc::clone(&conn));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve_gateway(tcp, Arc::clone(&s), Arc::clone(&c)));
            }
        });
        let http = start_http(Arc::clone(&state), ws);
        FakeQq { http, ws, state, conn }
    }

    /// The `qqbot:` section of a bot entry pointing at this fake.
    pub fn bot_section(&self, transport: &str) -> String {
        format!(
            "{{app_id: \"{APP_ID}\", secret: {SECRET}, transport: {transport}, \
             intents: [GUILDS, PUBLIC_GUILD_MESSAGES, DIRECT_MESSAGE, GROUP_AND_C2C_EVENT, INTERACTION], \
             api_base: \"http://{}\", token_url: \"http://{}/app/getAppAccessToken\"}}",
            self.http, self.http
        )
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("lock")
    }

    /// Pushes a dispatch to the session (logged for resumes; sent if the session is live).
    /// Answers its event id.
    pub fn dispatch(&self, t: &str, d: Value) -> String {
        let mut st = self.lock();
        let id = format!("EV-{}", st.next_event);
        st.next_event += 1;
        if let Some(msg) = d.get("id").and_then(Value::as_str) {
            if t.contains("MESSAGE_CREATE") {
                st.received.insert(msg.to_owned(), (Instant::now(), 0));
            }
        }
        st.events.insert(id.clone());
        let s = st.next_s;
        st.next_s += 1;
        let frame = json!({"op": 0, "s": s, "t": t, "id": id, "d": d}).to_string();
        if let Some(session) = st.current.clone() {
            st.sessions.entry(session).or_default().push((s, frame.clone()));
        }
        let live = st.live;
        drop(st);
        if live {
            self.send_out(Out::Text(frame));
        }
        id
    }

    /// Notes a message the platform pushed by webhook, so replies to it are passive.
    pub fn note_received(&self, msg_id: &str, event_id: &str) {
        let mut st = self.lock();
        st.received.insert(msg_id.to_owned(), (Instant::now(), 0));
        st.events.insert(event_id.to_owned());
    }

    /// A frame as it is, to the connection.
    pub fn send_raw(&self, frame: Value) {
        self.send_out(Out::Text(frame.to_string()));
    }

    /// Closes the connection with `code`.
    pub fn close(&self, code: u16) {
        self.send_out(Out::Close(code));
    }

    /// Drops the TCP connection without a close frame.
    pub fn abort(&self) {
        self.send_out(Out::Abort);
    }

    fn send_out(&self, out: Out) {
        if let Some(tx) = self.conn.lock().expect("lock").as_ref() {
            let _ = tx.send(out);
        }
    }

    /// Invalidates every token issued (the next call with one gets 401 / 11244).
    pub fn expire_tokens(&self) {
        self.lock().valid_tokens.clear();
    }

    /// Waits until `n` greetings (op 2 / op 6) arrived; answers the `n`-th.
    pub async fn greeting(&self, n: usize) -> Value {
        self.wait_for(|st| st.greetings.get(n - 1).cloned(), &format!("greeting {n}")).await
    }

    /// Waits until the session is live (READY or RESUMED sent).
    pub async fn wait_live(&self) {
        self.wait_for(|st| st.live.then_some(()), "a live session").await
    }

    /// Requests to `path_prefix` with `method`, in order.
    pub fn requests(&self, method: &str, path_prefix: &str) -> Vec<Recorded> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    /// Waits until `n` such requests arrived.
    pub async fn wait_requests(&self, method: &str, path_prefix: &str, n: usize) -> Vec<Recorded> {
        let what = format!("{n} {method} {path_prefix}");
        self.wait_for(
            |st| {
                let list: Vec<Recorded> = st
                    .requests
                    .iter()
                    .filter(|r| r.method == method && r.path.starts_with(path_prefix))
                    .cloned()
                    .collect();
                (list.len() >= n).then_some(list)
            },
            &what,
        )
        .await
    }

    pub async fn wait_for<T>(&self, mut f: impl FnMut(&State) -> Option<T>, what: &str) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(v) = f(&self.lock()) {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "the fake platform never saw {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn serve_gateway(
    tcp: tokio::net::TcpStream,
    state: Arc<Mutex<State>>,
    conn: Arc<Mutex<Option<mpsc::UnboundedSender<Out>>>>,
) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    *conn.lock().expect("lock") = Some(tx);
    let (hello, generation) = {
        let mut st = state.lock().expect("lock");
        st.connections += 1;
        st.live = false;
        let generation = st.connections;
        (json!({"op": 10, "d": {"heartbeat_interval": st.heartbeat_ms}}), generation)
    };
    if ws.send(Message::Text(hello.to_string().into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            frame = ws.next() => {
                let Some(Ok(frame)) = frame else { break };
                let Message::Text(text) = frame else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                for reply in on_client_frame(&state, &v) {
                    match reply {
                        Out::Text(t) => { if ws.send(Message::Text(t.into())).await.is_err() { break; } }
                        Out::Close(code) => {
                            let _ = ws.close(Some(CloseFrame { code: CloseCode::from(code), reason: "".into() })).await;
                        }
                        Out::Abort => break,
                    }
                }
            }
            out = rx.recv() => match out {
                Some(Out::Text(t)) => { if ws.send(Message::Text(t.into())).await.is_err() { break; } }
                Some(Out::Close(code)) => {
                    let _ = ws.close(Some(CloseFrame { code: CloseCode::from(code), reason: "fault".into() })).await;
                    break;
                }
                Some(Out::Abort) | None => break,
            }
        }
    }
    let mut st = state.lock().expect("lock");
    if st.connections == generation {
        st.live = false;
    }
}

fn on_client_frame(state: &Arc<Mutex<State>>, v: &Value) -> Vec<Out> {
    let mut st = state.lock().expect("lock");
    let op = v["op"].as_u64().unwrap_or(99);
    let token_ok = |st: &State| {
        let t = v["d"]["token"].as_str().unwrap_or("");
        let bare = t.strip_prefix("QQBot ").unwrap_or(t);
        st.valid_tokens.contains(bare)
    };
    match op {
        2 => {
            st.greetings.push(v.clone());
            if !token_ok(&st) {
                return vec![Out::Close(4004)];
            }
            let session = format!("sess-{}", st.greetings.len());
            st.current = Some(session.clone());
            st.sessions.insert(session.clone(), Vec::new());
            let s = st.next_s;
            st.next_s += 1;
            let ready = json!({"op": 0, "s": s, "t": "READY", "d": {"version": 1, "session_id": session,
                "user": {"id": BOT_USER, "username": "fakebot", "bot": true}, "shard": [0, 1]}});
            st.live = true;
            vec![Out::Text(ready.to_string())]
        }
        6 => {
            st.greetings.push(v.clone());
            let session = v["d"]["session_id"].as_str().unwrap_or("").to_owned();
            let seq = v["d"]["seq"].as_u64().unwrap_or(0);
            let Some(log) = st.sessions.get(&session).cloned().filter(|_| token_ok(&st)) else {
                return vec![Out::Text(json!({"op": 9, "d": false}).to_string())];
            };
            st.current = Some(session);
            let from = seq.saturating_sub(st.replay_overlap);
            let mut out: Vec<Out> =
                log.into_iter().filter(|(s, _)| *s > from).map(|(_, f)| Out::Text(f)).collect();
            let s = st.next_s;
            st.next_s += 1;
            out.push(Out::Text(json!({"op": 0, "s": s, "t": "RESUMED", "d": ""}).to_string()));
            st.live = true;
            out
        }
        1 => {
            st.heartbeats.push(v["d"].clone());
            if st.silent_acks {
                Vec::new()
            } else {
                vec![Out::Text(json!({"op": 11}).to_string())]
            }
        }
        _ => Vec::new(),
    }
}

fn start_http(state: Arc<Mutex<State>>, ws: SocketAddr) -> SocketAddr {
    use actix_web::{web, App, HttpServer};
    let data = web::Data::new((state, ws));
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).default_service(web::to(openapi))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind");
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    addr
}

type Shared = (Arc<Mutex<State>>, SocketAddr);

fn answer(status: u16, body: Value) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .insert_header(("X-Tps-trace-ID", "fake-trace"))
        .json(body)
}

async fn openapi(
    req: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
    data: actix_web::web::Data<Shared>,
) -> actix_web::HttpResponse {
    let (state, ws) = data.get_ref();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let mut st = state.lock().expect("lock");
    if path == "/app/getAppAccessToken" {
        if body["appId"] != APP_ID || body["clientSecret"] != SECRET {
            return answer(400, json!({"code": 100016, "message": "invalid appid or secret"}));
        }
        st.tokens_issued += 1;
        let token = format!("tok-{}", st.tokens_issued);
        st.valid_tokens.insert(token.clone());
        return answer(200, json!({"access_token": token, "expires_in": st.expires_in.clone()}));
    }
    st.requests.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
        body: body.clone(),
    });
    let auth = headers.get("authorization").map(String::as_str).unwrap_or("");
    let token_ok = auth.strip_prefix("QQBot ").is_some_and(|t| st.valid_tokens.contains(t));
    if !token_ok || headers.get("x-union-appid").map(String::as_str) != Some(APP_ID) {
        return answer(401, json!({"message": "token not exist or expire", "code": 11244}));
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["gateway", "bot"]) => answer(
            200,
            json!({"url": format!("ws://{ws}/websocket"), "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": st.sessions_remaining,
                                    "reset_after": 1500, "max_concurrency": 1}}),
        ),
        ("GET", ["users", "@me"]) => {
            answer(200, json!({"id": BOT_USER, "username": "fakebot", "bot": true}))
        }
        ("POST", ["v2", "groups" | "users", _, "files"]) => {
            let n = st.next_sent;
            st.next_sent += 1;
            answer(
                200,
                json!({"file_uuid": format!("u{n}"), "file_info": format!("FI-{n}"), "ttl": 0}),
            )
        }
        ("POST", ["v2", scope @ ("groups" | "users"), _, "messages"]) => {
            let limit = if *scope == "groups" { 300 } else { 3600 };
            passive_send(&mut st, &body, limit, true)
        }
        ("POST", ["channels" | "dms", _, "messages"]) => passive_send(&mut st, &body, 300, false),
        ("DELETE", _) | ("PUT", ["interactions", _]) => answer(200, Value::Null),
        _ => answer(404, json!({"message": "no such api", "code": 404})),
    }
}

/// The platform's rules for a message: a passive reply to a message received within the
/// window (at most 5 replies, each `msg_seq` once) or to a known event; nothing proactive.
fn passive_send(st: &mut State, body: &Value, window_s: u64, v2: bool) -> actix_web::HttpResponse {
    if let Some(msg_id) = body["msg_id"].as_str() {
        let Some((at, replies)) = st.received.get(msg_id).copied() else {
            return answer(400, json!({"code": 40034024, "message": "msg_id not found"}));
        };
        if at.elapsed() > Duration::from_secs(window_s) {
            return answer(400, json!({"code": 40034005, "message": "被动回复已过期"}));
        }
        if v2 {
            let seq = body["msg_seq"].as_u64().unwrap_or(1);
            if !st.seqs.insert((msg_id.to_owned(), seq)) {
                return answer(
                    400,
                    json!({"code": 40054005, "message": "消息被去重，请检查请求msgseq"}),
                );
            }
            if replies >= 5 {
                return answer(400, json!({"code": 40034128, "message": "被动回复次数已用完"}));
            }
        }
        st.received.insert(msg_id.to_owned(), (at, replies + 1));
    } else if let Some(event_id) = body["event_id"].as_str() {
        if !st.events.contains(event_id) {
            return answer(400, json!({"code": 40034026, "message": "event_id not found"}));
        }
    } else {
        return answer(400, json!({"code": 40034102, "message": "主动消息失败, 无权限"}));
    }
    let n = st.next_sent;
    st.next_sent += 1;
    answer(200, json!({"id": format!("SENT-{n}"), "timestamp": "2026-12-01T12:00:00+08:00"}))
}

/// Signs a webhook push with the app secret, as the platform does.
pub fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    use ed25519_dalek::Signer;
    let seed: Vec<u8> = secret.bytes().cycle().take(32).collect();
    let key = ed25519_dalek::SigningKey::from_bytes(&seed.try_into().expect("32 bytes"));
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body.as_bytes());
    hex_encode(&key.sign(&message).to_bytes())
}

/// The public key of the app secret, to check botgate's op 13 answers.
pub fn verify(secret: &str, message: &[u8], signature_hex: &str) -> bool {
    use ed25519_dalek::Verifier;
    let seed: Vec<u8> = secret.bytes().cycle().take(32).collect();
    let key = ed25519_dalek::SigningKey::from_bytes(&seed.try_into().expect("32 bytes"));
    let bytes: Vec<u8> = (0..signature_hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(signature_hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return false;
    };
    key.verifying_key().verify(message, &ed25519_dalek::Signature::from_bytes(&bytes)).is_ok()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// POSTs a webhook push to botgate, signed with `secret` at `timestamp`.
pub async fn push(url: &str, secret: &str, timestamp: &str, body: &str) -> (u16, Value) {
    let signature = sign(secret, timestamp, body);
    let mut r = awc::Client::default()
        .post(url)
        .insert_header(("X-Bot-Appid", APP_ID))
        .insert_header(("X-Signature-Timestamp", timestamp))
        .insert_header(("X-Signature-Ed25519", signature))
        .insert_header(("User-Agent", "QQBot-Callback"))
        .insert_header(("Content-Type", "application/json"))
        .send_body(body.to_owned())
        .await
        .expect("webhook push");
    let status = r.status().as_u16();
    let bytes = r.body().await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Now as the platform writes timestamps: RFC 3339 in Beijing time.
pub fn now_rfc3339() -> String {
    botgate_actors::protocol::qqbot::served::rfc3339(botgate_actors::bot::unix_now())
}
