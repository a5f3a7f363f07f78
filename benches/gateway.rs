//! The gateway benchmark: botgate's mirai forward ws adapter against a bare tokio-tungstenite
//! broadcast/echo server doing the same job with the same frames, in the same run, on loopback.
//!
//! `cargo bench --bench gateway` prints, for each scenario, botgate's figure, the bare server's,
//! their ratio, and the floor DESIGN.md sets. Both servers run as child processes (botgate is
//! the release binary; the bare server is this program re-executed with `--bare-server`), so
//! their memory is measured alone; the load generator is one lean hand-framed client shared
//! by both. `BENCH_SCALE=0.2` shrinks every workload for a quick run.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};

#[path = "gateway/cluster.rs"]
mod cluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const VERIFY_KEY: &str = "bench-key";
/// Text size that makes a GroupMessage push frame of about 420 bytes on both servers.
const TEXT_SIZE: usize = 48;

fn now_micros() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

fn scale(n: usize) -> usize {
    let s: f64 = std::env::var("BENCH_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    ((n as f64 * s) as usize).max(1)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

// ---------------------------------------------------------------------------------------------
// The lean client: a WebSocket handshake and hand-parsed frames, so the load generator costs
// as little as possible and the same for both servers.

struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    async fn open(addr: SocketAddr, path: &str) -> std::io::Result<Conn> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             verifyKey: {VERIFY_KEY}\r\nqq: 10001\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut buf = BytesMut::with_capacity(16 * 1024);
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                if !buf.starts_with(b"HTTP/1.1 101") {
                    return Err(std::io::Error::other(
                        String::from_utf8_lossy(&buf[..end]).into_owned(),
                    ));
                }
                buf.advance(end + 4);
                return Ok(Conn { stream, buf });
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::other("closed during the handshake"));
            }
        }
    }

    /// The next data frame's payload (server frames are unmasked; control frames skipped).
    async fn frame(&mut self) -> std::io::Result<BytesMut> {
        loop {
            if let Some(payload) = self.parse() {
                match payload {
                    (0x1 | 0x2, p) => return Ok(p),
                    (0x8, _) => return Err(std::io::Error::other("closed by the server")),
                    _ => continue,
                }
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(std::io::Error::other("connection ended"));
            }
        }
    }

    fn parse(&mut self) -> Option<(u8, BytesMut)> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let opcode = b[0] & 0x0f;
        let (len, header) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().ok()?) as usize, 10),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if b.len() < header + len {
            return None;
        }
        self.buf.advance(header);
        Some((opcode, self.buf.split_to(len)))
    }

    /// Appends a masked text frame to `out` (client frames must be masked).
    fn encode(out: &mut Vec<u8>, payload: &[u8]) {
        const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
        out.push(0x81);
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    }
}

/// The production time a generated message carries (`bench <seq> <µs> …`).
fn stamp(frame: &[u8]) -> Option<u128> {
    let at = frame.windows(6).position(|w| w == b"bench ")? + 6;
    let rest = &frame[at..];
    let sp = rest.iter().position(|&c| c == b' ')?;
    let digits = &rest[sp + 1..];
    let end = digits.iter().position(|c| !c.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// The syncId at the start of a response (`{"syncId":"123",…`).
fn sync_id(frame: &[u8]) -> Option<u64> {
    let rest = frame.strip_prefix(b"{\"syncId\":\"")?;
    let end = rest.iter().position(|&c| c == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// The echo of a OneBot response (`…,"echo":"123"}`).
fn echo_id(frame: &[u8]) -> Option<u64> {
    let at = frame.windows(8).rposition(|w| w == b"\"echo\":\"")? + 8;
    let rest = &frame[at..];
    let end = rest.iter().position(|&c| c == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// Which client protocol a scenario speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// mirai-api-http forward ws.
    Mirai,
    /// OneBot v11 forward ws.
    OneBot,
}

impl Proto {
    fn request(self, id: usize) -> String {
        match self {
            Proto::Mirai => format!(
                "{{\"syncId\":\"{id}\",\"command\":\"sendGroupMessage\",\"content\":{{\"target\":30001,\"messageChain\":[{{\"type\":\"Plain\",\"text\":\"hello\"}}]}}}}"
            ),
            Proto::OneBot => format!(
                "{{\"action\":\"send_group_msg\",\"params\":{{\"group_id\":30001,\"message\":\"hello\"}},\"echo\":\"{id}\"}}"
            ),
        }
    }

    fn response_id(self, frame: &[u8]) -> Option<u64> {
        match self {
            Proto::Mirai => sync_id(frame),
            Proto::OneBot => echo_id(frame),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The two servers under test.

/// What the load generator needs to know about a server.
struct Server {
    name: &'static str,
    child: Child,
    ws: SocketAddr,
    /// botgate's HTTP listener for `/sim/…/traffic`; the bare server takes a control frame.
    http: Option<SocketAddr>,
    broadcast_path: &'static str,
    command_path: &'static str,
    /// botgate's OneBot forward ws listener; the bare server serves both protocols on `ws`.
    onebot_ws: Option<SocketAddr>,
    /// botgate's config file and store, removed when the server is dropped (after its process
    /// ends) so that runs do not fill the disk.
    _files: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory named after `name` for a botgate's config and store, and the path of
/// the store inside it, fresh as a deployment's is, which no earlier run filled.
fn botgate_files(name: &str) -> (tempfile::TempDir, String) {
    let files = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir()
        .expect("create the bench's temporary directory");
    let data = files.path().join("data").display().to_string();
    (files, data)
}

/// Starts the release binary on `config`, written into `files`.
fn spawn_botgate(files: &tempfile::TempDir, config: &str) -> Child {
    let path = files.path().join("config.yaml");
    std::fs::write(&path, config).expect("write the bench config");
    Command::new(env!("CARGO_BIN_EXE_botgate"))
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start botgate")
}

impl Server {
    fn botgate() -> Server {
        Self::botgate_with("botgate", "", "")
    }

    /// botgate writing its messages in the background (`server.store_messages_priority`).
    fn botgate_background() -> Server {
        Self::botgate_with("botgate-background", ", store_messages_priority: background", "")
    }

    /// botgate with `server_keys` added to its `server:` map and `extra` appended to its
    /// config (a `cluster:` section), its store and config files named after `name`.
    fn botgate_with(name: &'static str, server_keys: &str, extra: &str) -> Server {
        let (http, ws, onebot) = (free_port(), free_port(), free_port());
        let (files, data) = botgate_files(&format!("{name}-bench"));
        let config = format!(
            "server: {{ host: 127.0.0.1, port: {http}, max_connections: 20000, \
             max_connections_per_peer: 20000, data_dir: {data:?}{server_keys} }}\n\
             bots:\n  - qq: 10001\n    source: simulated\n    simulated:\n      nickname: botgate\n      \
             groups: [{{ id: 30001, name: Bench Group, permission: OWNER, members: [{{ id: 20001, nickname: Alice, card: AliceCard, permission: ADMINISTRATOR, joinTimestamp: 1600000000 }}] }}]\n\
             mirai:\n  adapters: [ws]\n  verifyKey: {VERIFY_KEY}\n  adapterSettings:\n    \
             ws: {{ host: 127.0.0.1, port: {ws}, heartbeatInterval: 0, outboxSize: 65536 }}\n\
             onebot:\n  use_http: false\n  use_ws: true\n  ws_host: 127.0.0.1\n  ws_port: {onebot}\n  \
             post_message_format: array\n  outbox_size: 65536\n  ws_ping_interval: 0\n{extra}"
        );
        let child = spawn_botgate(&files, &config);
        Server {
            name,
            child,
            ws: SocketAddr::from(([127, 0, 0, 1], ws)),
            http: Some(SocketAddr::from(([127, 0, 0, 1], http))),
            broadcast_path: "/all",
            command_path: "/all",
            onebot_ws: Some(SocketAddr::from(([127, 0, 0, 1], onebot))),
            _files: Some(files),
        }
    }

    /// botgate B: bot 10001 sourced from `upstream`'s OneBot forward ws, serving mirai's ws.
    /// Its traffic is fired on the upstream. Answers once B's bot is online.
    async fn relay(upstream: &Server) -> Server {
        let (http, ws) = (free_port(), free_port());
        let onebot = upstream.onebot_ws.expect("the upstream serves OneBot");
        let (files, data) = botgate_files("botgate-bench-relay");
        let config = format!(
            "server: {{ host: 127.0.0.1, port: {http}, max_connections: 20000, \
             max_connections_per_peer: 20000, data_dir: {data:?} }}\n\
             bots:\n  - qq: 10001\n    source: onebot\n    onebot: {{ url: \"ws://{onebot}/\" }}\n\
             mirai:\n  adapters: [ws]\n  verifyKey: {VERIFY_KEY}\n  adapterSettings:\n    \
             ws: {{ host: 127.0.0.1, port: {ws}, heartbeatInterval: 0, outboxSize: 65536 }}\n"
        );
        let child = spawn_botgate(&files, &config);
        let relay = Server {
            name: "botgate B",
            child,
            ws: SocketAddr::from(([127, 0, 0, 1], ws)),
            http: upstream.http,
            broadcast_path: "/all",
            command_path: "/all",
            onebot_ws: None,
            _files: Some(files),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let online = async {
                let mut s = TcpStream::connect(("127.0.0.1", http)).await.ok()?;
                let req = "GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
                s.write_all(req.as_bytes()).await.ok()?;
                let mut resp = Vec::new();
                s.read_to_end(&mut resp).await.ok()?;
                Some(String::from_utf8_lossy(&resp).contains("\"online\":true"))
            };
            if online.await == Some(true) {
                break;
            }
            assert!(Instant::now() < deadline, "botgate B never came online");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        relay
    }

    /// Where `proto`'s clients connect for events (`broadcast`) or commands, and whether the
    /// server sends a first frame (mirai's connect ack, OneBot's lifecycle, the bare server's
    /// ack) before anything else.
    fn endpoint(&self, proto: Proto, broadcast: bool) -> (SocketAddr, String, bool) {
        match (proto, self.onebot_ws) {
            (Proto::OneBot, Some(ob)) if broadcast => (ob, "/event".to_owned(), true),
            (Proto::OneBot, Some(ob)) => (ob, "/api".to_owned(), false),
            _ => {
                let path = if broadcast { self.broadcast_path } else { self.command_path };
                (self.ws, format!("{path}?verifyKey={VERIFY_KEY}&qq=10001"), true)
            }
        }
    }

    fn bare() -> Server {
        let mut child = Command::new(std::env::current_exe().expect("this program"))
            .arg("--bare-server")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the bare server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("the bare server's port");
        let port: u16 = line.trim().parse().expect("a port number");
        Server {
            name: "bare",
            child,
            ws: SocketAddr::from(([127, 0, 0, 1], port)),
            http: None,
            broadcast_path: "/all",
            command_path: "/echo",
            onebot_ws: None,
            _files: None,
        }
    }

    async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Conn::open(
            self.ws,
            &format!("{}?verifyKey={VERIFY_KEY}&qq=10001", self.broadcast_path),
        )
        .await
        .is_err()
        {
            assert!(Instant::now() < deadline, "{} never came up", self.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// CPU time the server's threads have used so far, in nanoseconds (the sum of every
    /// thread's `schedstat`, which counts in nanoseconds, unlike `stat`'s clock ticks).
    fn cpu_ns(&self) -> u64 {
        let tasks = format!("/proc/{}/task", self.child.id());
        let Ok(entries) = std::fs::read_dir(tasks) else {
            return 0;
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }

    /// Waits until the server is idle — under 5 % of a core over 50 ms — so that work left
    /// from one trial (botgate's store writing what it was handed) is neither charged to the
    /// next trial nor to the other server's; answers how long that took.
    async fn settle(&self) -> Duration {
        let start = Instant::now();
        let window = Duration::from_millis(50);
        let mut before = self.cpu_ns();
        loop {
            tokio::time::sleep(window).await;
            let now = self.cpu_ns();
            let busy = now.saturating_sub(before);
            before = now;
            if busy < window.as_nanos() as u64 / 20 || start.elapsed() > Duration::from_secs(60) {
                return start.elapsed();
            }
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Asks the server to produce `count` events at `rate`/s (0 = as fast as it can).
    async fn fire(&self, count: usize, rate: usize) {
        match self.http {
            Some(http) => {
                let body = format!(
                    "{{\"group\":30001,\"member\":20001,\"count\":{count},\"rate\":{rate},\"size\":{TEXT_SIZE}}}"
                );
                let mut s = TcpStream::connect(http).await.expect("botgate http");
                let req = format!(
                    "POST /sim/10001/traffic HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(req.as_bytes()).await.expect("send");
                let mut resp = Vec::new();
                let _ = s.read_to_end(&mut resp).await;
                assert!(resp.starts_with(b"HTTP/1.1 202"), "{}", String::from_utf8_lossy(&resp));
            }
            None => {
                let mut c = Conn::open(self.ws, "/control").await.expect("control");
                let mut out = Vec::new();
                Conn::encode(&mut out, format!("FIRE {count} {rate} {TEXT_SIZE}").as_bytes());
                c.stream.write_all(&out).await.expect("fire");
                let _ = c.frame().await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Fan-out figures: frames per second, delivery latency (ms) and the servers' CPU time per
/// delivered frame (ns).
struct FanOut {
    frames_per_sec: f64,
    p50: f64,
    p99: f64,
    frame_bytes: usize,
    cpu_per_frame: f64,
}

async fn fan_out(
    server: &Server,
    proto: Proto,
    clients: usize,
    events: usize,
    rate: usize,
) -> FanOut {
    fan_out_over(&[server], proto, clients, events, rate).await
}

/// Fan-out with the clients spread evenly over `servers` (the nodes of a cluster); the first
/// server fires the events.
async fn fan_out_over(
    servers: &[&Server],
    proto: Proto,
    clients: usize,
    events: usize,
    rate: usize,
) -> FanOut {
    for s in servers {
        s.settle().await;
    }
    let mut conns = Vec::with_capacity(clients);
    for i in 0..clients {
        let (addr, path, first_frame) = servers[i % servers.len()].endpoint(proto, true);
        let mut c = Conn::open(addr, &path).await.expect("connect");
        if first_frame {
            c.frame().await.expect("the first frame");
        }
        conns.push(c);
    }
    let server = servers[0];
    let frame_bytes = Arc::new(AtomicU64::new(0));
    let cpu_before: u64 = servers.iter().map(|s| s.cpu_ns()).sum();
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let frame_bytes = Arc::clone(&frame_bytes);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(if rate > 0 { events } else { 0 });
                for _ in 0..events {
                    let f = c.frame().await.expect("an event frame");
                    if rate > 0 {
                        if let Some(t) = stamp(&f) {
                            latencies.push((now_micros().saturating_sub(t)) as f64 / 1000.0);
                        }
                    }
                    frame_bytes.store(f.len() as u64, Ordering::Relaxed);
                }
                latencies
            })
        })
        .collect();
    server.fire(events, rate).await;
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a client task"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = servers.iter().map(|s| s.cpu_ns()).sum::<u64>().saturating_sub(cpu_before);
    all.sort_by(f64::total_cmp);
    FanOut {
        frames_per_sec: (clients * events) as f64 / elapsed,
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
        frame_bytes: frame_bytes.load(Ordering::Relaxed) as usize,
        cpu_per_frame: cpu as f64 / (clients * events) as f64,
    }
}

/// Command figures: commands per second and round-trip latency (ms).
struct Commands {
    per_sec: f64,
    p50: f64,
    p99: f64,
    /// The server's CPU time per command from the first request until it is idle again —
    /// with what it left to do after the last answer (botgate's store catching up).
    cpu_us: f64,
    /// How long after the last answer the server was busy still.
    settle: Duration,
}

async fn commands(
    server: &Server,
    proto: Proto,
    connections: usize,
    in_flight: usize,
    per_connection: usize,
) -> Commands {
    let (addr, path, first_frame) = server.endpoint(proto, false);
    server.settle().await;
    let mut conns = Vec::new();
    for _ in 0..connections {
        let mut c = Conn::open(addr, &path).await.expect("connect");
        if first_frame {
            c.frame().await.expect("the first frame");
        }
        conns.push(c);
    }
    let start = Instant::now();
    let cpu_before = server.cpu_ns();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let mut sent_at = vec![Instant::now(); per_connection];
                let mut latencies = Vec::with_capacity(per_connection);
                let mut next = 0usize;
                let mut out = Vec::with_capacity(64 * 1024);
                let request =
                    |id: usize, out: &mut Vec<u8>| Conn::encode(out, proto.request(id).as_bytes());
                while next < in_flight.min(per_connection) {
                    sent_at[next] = Instant::now();
                    request(next, &mut out);
                    next += 1;
                }
                c.stream.write_all(&out).await.expect("send");
                for _ in 0..per_connection {
                    let f = c.frame().await.expect("a response");
                    let id = proto.response_id(&f).expect("a response id") as usize;
                    latencies.push(sent_at[id].elapsed().as_secs_f64() * 1000.0);
                    if next < per_connection {
                        out.clear();
                        sent_at[next] = Instant::now();
                        request(next, &mut out);
                        next += 1;
                        c.stream.write_all(&out).await.expect("send");
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a client task"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let settle = server.settle().await;
    let cpu = server.cpu_ns().saturating_sub(cpu_before);
    all.sort_by(f64::total_cmp);
    Commands {
        per_sec: all.len() as f64 / elapsed,
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        cpu_us: cpu as f64 / 1000.0 / all.len().max(1) as f64,
        settle,
    }
}

/// RSS per idle connection, KiB.
async fn idle(server: &Server, connections: usize) -> f64 {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib();
    let path = format!("{}?verifyKey={VERIFY_KEY}&qq=10001", server.broadcast_path);
    let mut conns = Vec::with_capacity(connections);
    for chunk in 0..connections.div_ceil(100) {
        let opened = futures_util::future::join_all((0..100.min(connections - chunk * 100)).map(
            |_| async {
                let mut c = Conn::open(server.ws, &path).await.expect("connect");
                c.frame().await.expect("the connect ack");
                c
            },
        ))
        .await;
        conns.extend(opened);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib();
    drop(conns);
    (after.saturating_sub(before)) as f64 / connections as f64
}

// ---------------------------------------------------------------------------------------------
// The bare server: tokio-tungstenite, a broadcast channel, an echo that parses the envelope.

mod bare {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::sync::broadcast;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    use tokio_tungstenite::tungstenite::Message;

    /// The same GroupMessage push frame botgate sends, with the text in the middle.
    pub fn frame(id: u64, text: &str) -> String {
        let time = now_micros() / 1_000_000;
        format!(
            "{{\"syncId\":\"-1\",\"data\":{{\"type\":\"GroupMessage\",\"messageChain\":[{{\"type\":\"Source\",\"id\":{id},\"time\":{time}}},\
             {{\"type\":\"Plain\",\"text\":\"{text}\"}}],\"sender\":{{\"id\":20001,\"memberName\":\"AliceCard\",\"specialTitle\":\"\",\
             \"permission\":\"ADMINISTRATOR\",\"joinTimestamp\":1600000000,\"lastSpeakTimestamp\":{time},\"muteTimeRemaining\":0,\
             \"group\":{{\"id\":30001,\"name\":\"Bench Group\",\"permission\":\"OWNER\"}},\"active\":null}}}}}}"
        )
    }

    #[allow(clippy::result_large_err)] // the signature tungstenite requires
    fn remember_path(
        path: Arc<std::sync::Mutex<String>>,
    ) -> impl FnOnce(
        &Request,
        Response,
    ) -> Result<
        Response,
        tokio_tungstenite::tungstenite::handshake::server::ErrorResponse,
    > {
        move |req, resp| {
            *path.lock().expect("lock") = req.uri().path().to_owned();
            Ok(resp)
        }
    }

    pub fn run() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            println!("{}", listener.local_addr().expect("addr").port());
            let (tx, _) = broadcast::channel::<Arc<str>>(1 << 16);
            let next_id = Arc::new(AtomicU64::new(1));
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let _ = tcp.set_nodelay(true);
                let tx = tx.clone();
                let next_id = Arc::clone(&next_id);
                tokio::spawn(async move {
                    let path = Arc::new(std::sync::Mutex::new(String::new()));
                    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, remember_path(Arc::clone(&path))).await else { return };
                    let path = path.lock().expect("lock").clone();
                    let (mut sink, mut stream) = ws.split();
                    // Subscribed before the first frame: a client that has it hears every
                    // event fired after, as botgate's do.
                    let subscription = (path == "/all").then(|| tx.subscribe());
                    let _ = sink.send(Message::text("{\"syncId\":\"\",\"data\":{\"code\":0,\"session\":\"bare\"}}")).await;
                    match (path.as_str(), subscription) {
                        ("/all", Some(mut rx)) => {
                            // Idle clients cost only what a waiting task costs.
                            while let Ok(first) = rx.recv().await {
                                let _ = sink.feed(Message::text(&*first)).await;
                                while let Ok(more) = rx.try_recv() {
                                    let _ = sink.feed(Message::text(&*more)).await;
                                }
                                if sink.flush().await.is_err() {
                                    return;
                                }
                            }
                        }
                        ("/echo", _) => {
                            while let Some(Ok(msg)) = stream.next().await {
                                let Message::Text(text) = msg else { continue };
                                let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
                                let id = next_id.fetch_add(1, Ordering::Relaxed);
                                let reply = match v.get("echo") {
                                    Some(echo) => serde_json::json!({"status": "ok", "retcode": 0, "data": {"message_id": id}, "message": "", "wording": "", "echo": echo}),
                                    None => serde_json::json!({"syncId": v["syncId"], "data": {"code": 0, "msg": "success", "messageId": id}}),
                                };
                                let _ = sink.feed(Message::text(reply.to_string())).await;
                                if sink.flush().await.is_err() {
                                    return;
                                }
                            }
                        }
                        ("/control", _) => {
                            if let Some(Ok(Message::Text(cmd))) = stream.next().await {
                                let parts: Vec<usize> = cmd.split(' ').skip(1).filter_map(|p| p.parse().ok()).collect();
                                let (count, rate, size) = (parts[0], parts[1], parts[2]);
                                let _ = sink.send(Message::text("ok")).await;
                                let tick = if rate == 0 { None } else { Some(Duration::from_secs_f64(1.0 / rate as f64)) };
                                for seq in 0..count {
                                    let text = botgate_actors::bot::traffic_text(seq as u32, size);
                                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                                    let _ = tx.send(Arc::from(frame(id, &text)));
                                    if let Some(t) = tick {
                                        tokio::time::sleep(t).await;
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                });
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------

struct Row {
    scenario: String,
    botgate: String,
    bare: String,
    ratio: f64,
    /// The ratio's range over the trials, when the scenario ran more than once.
    range: Option<(f64, f64)>,
    floor: String,
    ok: bool,
}

/// How many times each scenario runs: its figures are printed as the median and the range.
const TRIALS: usize = 3;

/// The median, lowest and highest of some trials' figures.
#[derive(Clone, Copy)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    /// The spread of `figure` over `trials`.
    fn over<T>(trials: &[T], figure: impl Fn(&T) -> f64) -> Spread {
        Spread::of(&trials.iter().map(figure).collect::<Vec<_>>())
    }

    fn of(values: &[f64]) -> Spread {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Spread {
            median: percentile(&sorted, 0.5),
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
        }
    }

    /// "median (min–max)", each figure shown by `show`.
    fn show(self, show: impl Fn(f64) -> String) -> String {
        format!("{} ({}–{})", show(self.median), show(self.min), show(self.max))
    }
}

fn main() {
    if std::env::args().any(|a| a == "--bare-server") {
        bare::run();
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let rows = rt.block_on(run_all());
    println!();
    println!("| scenario | botgate | bare tokio-tungstenite | ratio | floor | |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let range = r.range.map_or(String::new(), |(lo, hi)| format!(" ({lo:.2}–{hi:.2})"));
        println!(
            "| {} | {} | {} | {:.2}×{range} | {} | {} |",
            r.scenario,
            r.botgate,
            r.bare,
            r.ratio,
            r.floor,
            if r.ok { "ok" } else { "BELOW FLOOR" }
        );
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    println!("\nbench: {} passed, {failed} failed", rows.len() - failed);
}

/// Whether a scenario group runs: `BENCH_ONLY=idle,fanout,commands,relay,cluster` (default:
/// all).
fn enabled(group: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|g| g.trim() == group))
}

async fn run_all() -> Vec<Row> {
    let mut rows = Vec::new();
    if enabled("idle") {
        rows.extend(idle_rows().await);
    }
    if enabled("fanout") || enabled("commands") {
        rows.extend(load_rows().await);
    }
    if enabled("relay") {
        rows.extend(relay_rows().await);
    }
    if enabled("cluster") {
        rows.extend(cluster::rows().await);
    }
    rows
}

/// What a platform source adds: botgate B, sourced from botgate A over OneBot, against the
/// same work done on A directly, in the same run ("bare" column = A directly).
async fn relay_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let a = Server::botgate();
    a.ready().await;
    let b = Server::relay(&a).await;
    b.ready().await;
    let events = scale(1_000);
    let direct = fan_out(&a, Proto::Mirai, 1000, events, 0).await;
    let relayed = fan_out(&b, Proto::Mirai, 1000, events, 0).await;
    eprintln!(
        "relay fan-out 1000: through B {:.0} frames/s, A directly {:.0}",
        relayed.frames_per_sec, direct.frames_per_sec
    );
    let ratio = relayed.frames_per_sec / direct.frames_per_sec;
    rows.push(Row {
        scenario: "relay: events from a OneBot upstream to 1000 mirai clients (B vs A directly)"
            .to_owned(),
        botgate: format!("{:.0} k frames/s", relayed.frames_per_sec / 1000.0),
        bare: format!("{:.0} k frames/s", direct.frames_per_sec / 1000.0),
        ratio,
        range: None,
        floor: "≥ 0.7×".to_owned(),
        ok: ratio >= 0.7,
    });
    // Latency added by the relay: one command at a time, so queueing does not hide it.
    let per = scale(10_000);
    let dc = commands(&a, Proto::Mirai, 1, 1, per).await;
    let rc = commands(&b, Proto::Mirai, 1, 1, per).await;
    eprintln!(
        "relay commands 1×1: through B p50 {:.3} ms, A directly p50 {:.3} ms",
        rc.p50, dc.p50
    );
    let added = rc.p50 - dc.p50;
    rows.push(Row {
        scenario: format!(
            "relay: mirai sendGroupMessage through B to A, 1 in flight (p50 / p99; +{added:.2} ms p50)"
        ),
        botgate: format!("{:.1} k/s ({:.2} / {:.2} ms)", rc.per_sec / 1000.0, rc.p50, rc.p99),
        bare: format!("{:.1} k/s ({:.2} / {:.2} ms)", dc.per_sec / 1000.0, dc.p50, dc.p99),
        ratio: rc.per_sec / dc.per_sec,
        range: None,
        floor: "p50 + < 0.3 ms".to_owned(),
        ok: added < 0.3,
    });
    // Throughput through the relay with a pipeline, for the record.
    let per = scale(50_000);
    let dc = commands(&a, Proto::Mirai, 1, 64, per).await;
    let rc = commands(&b, Proto::Mirai, 1, 64, per).await;
    eprintln!("relay commands 1×64: through B {:.0}/s, A directly {:.0}/s", rc.per_sec, dc.per_sec);
    rows.push(Row {
        scenario: "relay: mirai sendGroupMessage through B to A, 1 × 64 in flight (p50 / p99)"
            .to_owned(),
        botgate: format!("{:.0} k/s ({:.2} / {:.2} ms)", rc.per_sec / 1000.0, rc.p50, rc.p99),
        bare: format!("{:.0} k/s ({:.2} / {:.2} ms)", dc.per_sec / 1000.0, dc.p50, dc.p99),
        ratio: rc.per_sec / dc.per_sec,
        range: None,
        floor: "—".to_owned(),
        ok: true,
    });
    rows
}

async fn idle_rows() -> Vec<Row> {
    // On fresh processes each trial: RSS does not shrink when connections close.
    let n_idle = scale(10_000);
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..TRIALS {
        let (b, g) = (Server::bare(), Server::botgate());
        b.ready().await;
        g.ready().await;
        let bare_kib = idle(&b, n_idle).await;
        let botgate_kib = idle(&g, n_idle).await;
        eprintln!("idle: botgate {botgate_kib:.1} KiB, bare {bare_kib:.1} KiB per connection");
        ours.push(botgate_kib);
        theirs.push(bare_kib);
        ratios.push(botgate_kib / bare_kib);
    }
    let (ours, theirs, ratio) = (Spread::of(&ours), Spread::of(&theirs), Spread::of(&ratios));
    vec![Row {
        scenario: format!("{n_idle} idle connections, RSS each"),
        botgate: ours.show(|v| format!("{v:.1} KiB")),
        bare: theirs.show(|v| format!("{v:.1} KiB")),
        ratio: ratio.median,
        range: Some((ratio.min, ratio.max)),
        floor: "≤ 10 KiB".to_owned(),
        ok: ours.median <= 10.0,
    }]
}

async fn load_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let (mut b, mut g) = (Server::bare(), Server::botgate());
    b.ready().await;
    g.ready().await;
    let fanout = if enabled("fanout") {
        vec![
            (Proto::Mirai, 100, scale(5_000)),
            (Proto::Mirai, 1000, scale(1_000)),
            (Proto::OneBot, 1000, scale(1_000)),
        ]
    } else {
        vec![]
    };
    for (proto, clients, events) in fanout {
        let mut trials = Vec::new();
        for _ in 0..TRIALS {
            let gb = fan_out(&g, proto, clients, events, 0).await;
            let bb = fan_out(&b, proto, clients, events, 0).await;
            eprintln!(
                "{proto:?} fan-out {clients}: botgate {:.0} frames/s ({} B, {:.0} ns CPU each), \
                 bare {:.0} ({} B, {:.0} ns)",
                gb.frames_per_sec,
                gb.frame_bytes,
                gb.cpu_per_frame,
                bb.frames_per_sec,
                bb.frame_bytes,
                bb.cpu_per_frame
            );
            trials.push((gb, bb));
        }
        let rate = Spread::over(&trials, |(g, b)| g.frames_per_sec / b.frames_per_sec);
        let kframes = |v: f64| format!("{:.0} k", v / 1000.0);
        let target = clients == 1000;
        rows.push(Row {
            scenario: format!(
                "{proto:?} fan-out to {clients} clients, as fast as possible, frames/s ({} B frames)",
                trials[0].0.frame_bytes
            ),
            botgate: Spread::over(&trials, |(g, _)| g.frames_per_sec).show(kframes),
            bare: Spread::over(&trials, |(_, b)| b.frames_per_sec).show(kframes),
            ratio: rate.median,
            range: Some((rate.min, rate.max)),
            floor: if target { "≥ 0.8×".to_owned() } else { "—".to_owned() },
            ok: !target || rate.median >= 0.8,
        });
        let cpu = Spread::over(&trials, |(g, b)| g.cpu_per_frame / b.cpu_per_frame);
        let ns = |v: f64| format!("{v:.0} ns");
        rows.push(Row {
            scenario: format!(
                "{proto:?} fan-out to {clients} clients: server CPU per delivered frame"
            ),
            botgate: Spread::over(&trials, |(g, _)| g.cpu_per_frame).show(ns),
            bare: Spread::over(&trials, |(_, b)| b.cpu_per_frame).show(ns),
            ratio: cpu.median,
            range: Some((cpu.min, cpu.max)),
            floor: if target { "≤ 1.3×".to_owned() } else { "—".to_owned() },
            ok: !target || cpu.median <= 1.3,
        });
    }
    let paced = if enabled("fanout") { vec![(1000, 100, 3), (100, 1000, 2)] } else { vec![] };
    for (clients, rate, seconds) in paced {
        let events = scale(rate * seconds);
        let mut trials = Vec::new();
        for _ in 0..TRIALS {
            let gb = fan_out(&g, Proto::Mirai, clients, events, rate).await;
            let bb = fan_out(&b, Proto::Mirai, clients, events, rate).await;
            eprintln!(
                "fan-out {clients}×{rate}/s: botgate p50 {:.2} p99 {:.2}, bare p50 {:.2} p99 {:.2}",
                gb.p50, gb.p99, bb.p50, bb.p99
            );
            trials.push((gb, bb));
        }
        let ms = |v: f64| format!("{v:.1}");
        let p99 = Spread::over(&trials, |(g, b)| g.p99 / b.p99);
        let target = rate == 100;
        rows.push(Row {
            scenario: format!(
                "Mirai fan-out to {clients} clients × {rate} events/s, latency p50 / p99 (ms)"
            ),
            botgate: format!(
                "{} / {}",
                Spread::over(&trials, |(g, _)| g.p50).show(ms),
                Spread::over(&trials, |(g, _)| g.p99).show(ms)
            ),
            bare: format!(
                "{} / {}",
                Spread::over(&trials, |(_, b)| b.p50).show(ms),
                Spread::over(&trials, |(_, b)| b.p99).show(ms)
            ),
            ratio: p99.median,
            range: Some((p99.min, p99.max)),
            floor: if target { "p99 ≤ 1.2× bare".to_owned() } else { "—".to_owned() },
            ok: !target || p99.median <= 1.2,
        });
    }
    if enabled("fanout") && enabled("commands") {
        // The commands start on fresh servers: the fan-out's millions of events leave
        // botgate's store writing their backlog for seconds, which would be measured as the
        // commands' cost. Each command's own message is still stored.
        drop((b, g));
        (b, g) = (Server::bare(), Server::botgate());
        b.ready().await;
        g.ready().await;
    }
    // The pipelined rows once more with the messages written in the background: what
    // `server.store_messages_priority` trades (see the README's "The store").
    let background = if enabled("commands") {
        let s = Server::botgate_background();
        s.ready().await;
        Some(s)
    } else {
        None
    };
    let mut loads = Vec::new();
    if enabled("commands") {
        loads = vec![
            (&g, "", Proto::Mirai, 1, 64, scale(100_000)),
            (&g, "", Proto::Mirai, 100, 8, scale(200_000)),
            (&g, "", Proto::OneBot, 1, 64, scale(100_000)),
            (&g, "", Proto::OneBot, 100, 8, scale(200_000)),
        ];
    }
    if let Some(bg) = &background {
        let variant = " (store_messages_priority: background)";
        loads.push((bg, variant, Proto::Mirai, 1, 64, scale(100_000)));
        loads.push((bg, variant, Proto::OneBot, 1, 64, scale(100_000)));
    }
    for (g, variant, proto, connections, in_flight, total) in loads {
        let per = (total / connections).max(in_flight);
        let mut trials = Vec::new();
        for _ in 0..TRIALS {
            let gc = commands(g, proto, connections, in_flight, per).await;
            let bc = commands(&b, proto, connections, in_flight, per).await;
            eprintln!(
                "{proto:?} commands {connections}×{in_flight}{variant}: botgate {:.0}/s p99 {:.2} \
                 {:.2} µs CPU each, idle {:.2} s after; bare {:.0}/s p99 {:.2} {:.2} µs CPU each",
                gc.per_sec,
                gc.p99,
                gc.cpu_us,
                gc.settle.as_secs_f64(),
                bc.per_sec,
                bc.p99,
                bc.cpu_us
            );
            trials.push((gc, bc));
        }
        let ratio = Spread::over(&trials, |(g, b)| g.per_sec / b.per_sec);
        let ours_p99 = Spread::over(&trials, |(g, _)| g.p99);
        let single = connections == 1;
        let k = |v: f64| format!("{:.0} k/s", v / 1000.0);
        let ms = |v: f64| format!("{v:.2}");
        rows.push(Row {
            scenario: format!(
                "{}, {connections} connection(s) × {in_flight} in flight{variant}: rate, p99 (ms)",
                if proto == Proto::Mirai {
                    "mirai sendGroupMessage"
                } else {
                    "OneBot send_group_msg"
                }
            ),
            botgate: format!(
                "{}, {}",
                Spread::over(&trials, |(g, _)| g.per_sec).show(k),
                ours_p99.show(ms)
            ),
            bare: format!(
                "{}, {}",
                Spread::over(&trials, |(_, b)| b.per_sec).show(k),
                Spread::over(&trials, |(_, b)| b.p99).show(ms)
            ),
            ratio: ratio.median,
            range: Some((ratio.min, ratio.max)),
            floor: if single { "≥ 0.9×, p99 < 1 ms".to_owned() } else { "≥ 0.9×".to_owned() },
            ok: ratio.median >= 0.9 && (!single || ours_p99.median < 1.0),
        });
        let cpu = Spread::over(&trials, |(g, b)| g.cpu_us / b.cpu_us);
        let us = |v: f64| format!("{v:.2} µs");
        rows.push(Row {
            scenario: "… server CPU per command until idle again (botgate: with its store's \
                       catch-up; busy after the last answer)"
                .to_owned(),
            botgate: format!(
                "{} ({})",
                Spread::over(&trials, |(g, _)| g.cpu_us).show(us),
                Spread::over(&trials, |(g, _)| g.settle.as_secs_f64())
                    .show(|v| format!("{v:.2} s"))
            ),
            bare: Spread::over(&trials, |(_, b)| b.cpu_us).show(us),
            ratio: cpu.median,
            range: Some((cpu.min, cpu.max)),
            floor: "—".to_owned(),
            ok: true,
        });
    }
    rows
}
