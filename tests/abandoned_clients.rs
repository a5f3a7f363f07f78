//! Clients that go away without a close frame — a crashed bot (TCP FIN, no close) or one that
//! vanished (silent: no FIN, no pong) — are released: the binary's file descriptors and memory
//! return to their baseline after thousands of them, and `/healthz` counts each departure.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connections of each kind per round (half mirai ws, half OneBot ws).
const ROUND: usize = 5000;

/// Rounds opened and abandoned before the baseline is taken.
const WARM_UP_ROUNDS: usize = 3;

/// Opens a WebSocket connection by hand and reads the 101 response, nothing else.
async fn open_ws(port: u16, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.expect("handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).await.expect("response head");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

/// Opens `ROUND` connections, alternating mirai's `/all` and OneBot's `/`.
async fn open_round(mirai: u16, onebot: u16) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(ROUND);
    for i in 0..ROUND {
        conns.push(if i % 2 == 0 {
            open_ws(mirai, "/all?verifyKey=1234567890&qq=10001").await
        } else {
            open_ws(onebot, "/").await
        });
    }
    conns
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fd dir").count()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Waits until no client is connected and the fds are back to `baseline`.
async fn wait_released(port: u16, pid: u32, baseline: usize, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let h = healthz_at(port).await;
        let live = h["clients"]["miraiWs"]["connected"].as_u64().unwrap_or(u64::MAX)
            + h["clients"]["onebotWs"]["connected"].as_u64().unwrap_or(u64::MAX);
        // A listener gives its place back when actix has closed the socket, a moment after
        // the client's actor stopped: wait for both.
        let places: u64 = h["listeners"]
            .as_array()
            .map(|ls| {
                ls.iter()
                    .filter(|l| l["serves"] != "botgate")
                    .map(|l| l["connections"].as_u64().unwrap_or(u64::MAX))
                    .sum()
            })
            .unwrap_or(u64::MAX);
        if live == 0 && places == 0 && fds(pid) <= baseline + 2 {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "not released: {live} clients connected, {places} listener places held, {} fds \
             (baseline {baseline})",
            fds(pid)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn counter(h: &Value, name: &str) -> u64 {
    h["clients"]["miraiWs"][name].as_u64().unwrap_or(0)
        + h["clients"]["onebotWs"][name].as_u64().unwrap_or(0)
}

/// A gateway whose mirai and OneBot ws adapters ping idle clients every `heartbeat` ms (0:
/// never), with its warmed-up baseline of descriptors and memory.
struct Subject {
    gw: Running,
    server: u16,
    mirai: u16,
    onebot: u16,
    base_fds: usize,
    base_rss: u64,
}

impl Subject {
    async fn start(heartbeat: u64) -> Subject {
        let (server, mirai, onebot) = (free_port(), free_port(), free_port());
        let config = format!(
            "server: {{ port: {server}, max_connections: 20000, max_connections_per_peer: 20000 }}\n\
             {WORLD}\
             mirai:\n  adapters: [ws]\n  verifyKey: \"1234567890\"\n  adapterSettings:\n    \
             ws: {{ host: 127.0.0.1, port: {mirai}, heartbeatInterval: {heartbeat} }}\n\
             onebot:\n  use_http: false\n  use_ws: true\n  ws_host: 127.0.0.1\n  \
             ws_port: {onebot}\n  ws_ping_interval: {heartbeat}\n"
        );
        let gw = Running::start(&config, server).await;
        let pid = gw.pid();
        // Warm-up rounds grow the allocator's per-thread arenas to their working size (glibc
        // keeps freed memory for reuse: measured, RSS plateaus after two or three rounds);
        // the baseline is taken after them, once the descriptor count has settled.
        let idle_fds = fds(pid);
        for _ in 0..WARM_UP_ROUNDS {
            drop(open_round(mirai, onebot).await);
            wait_released(server, pid, idle_fds + 8, Duration::from_secs(30)).await;
        }
        let mut base_fds = fds(pid);
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if fds(pid) == base_fds {
                break;
            }
            base_fds = fds(pid);
        }
        let base_rss = rss_kib(pid);
        Subject { gw, server, mirai, onebot, base_fds, base_rss }
    }

    /// Checks that memory and every listener's places are back to the baseline.
    fn check_baseline(&self, h: &Value) {
        let rss = rss_kib(self.gw.pid());
        assert!(
            rss <= self.base_rss + self.base_rss / 5 + 4096,
            "RSS grew from {} KiB to {rss} KiB over {ROUND} abandoned connections",
            self.base_rss
        );
        let listeners = h["listeners"].as_array().expect("listeners");
        for listener in listeners.iter().filter(|l| l["serves"] != "botgate") {
            assert_eq!(listener["connections"], 0, "every place is given back: {listener}");
        }
    }
}

#[actix_web::test]
async fn crashed_clients_are_released_at_once_without_a_heartbeat() {
    // No heartbeat at all: only the end of the socket (FIN, no close frame) can free them.
    let s = Subject::start(0).await;
    let pid = s.gw.pid();
    let conns = open_round(s.mirai, s.onebot).await;
    let open_fds = fds(pid);
    assert!(open_fds >= s.base_fds + ROUND, "open: {open_fds} fds, base {}", s.base_fds);
    let before = counter(&healthz_at(s.server).await, "lostWithoutClose");
    // A process that dies gets its sockets closed by the kernel: a FIN, no close frame. The
    // client side stays readable, as a dead process's half-closed socket does until the peer
    // closes too; a server that never does keeps it in CLOSE-WAIT forever.
    let mut conns = conns;
    for c in &mut conns {
        c.shutdown().await.expect("FIN");
    }
    let h = wait_released(s.server, pid, s.base_fds, Duration::from_secs(20)).await;
    assert_eq!(counter(&h, "lostWithoutClose") - before, ROUND as u64, "{h}");
    drop(conns);
    s.check_baseline(&h);
}

#[actix_web::test]
async fn vanished_clients_are_released_by_the_heartbeat() {
    // The sockets stay open but nothing is read or answered: three silent intervals free them.
    let s = Subject::start(1000).await;
    let pid = s.gw.pid();
    let before = healthz_at(s.server).await;
    let conns = open_round(s.mirai, s.onebot).await;
    let h = wait_released(s.server, pid, s.base_fds, Duration::from_secs(20)).await;
    let delta = |name| counter(&h, name) - counter(&before, name);
    assert_eq!(delta("heartbeatTimeouts"), ROUND as u64, "{h}");
    assert_eq!(delta("lostWithoutClose"), 0, "{h}");
    drop(conns);
    s.check_baseline(&h);
}
