//! The cluster group (`BENCH_ONLY=cluster`): botgate over NATS JetStream on this machine.
//! A cluster of one node against the same process without `cluster:` (what the stream adds
//! per event), three nodes against one (fan-out with the clients spread over the nodes), and
//! commands sent to a node that does not own the bot (NATS request-reply) against the owner.
//! Needs Debian's `nats-server`; without it the group says so and measures nothing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{commands, fan_out, fan_out_over, free_port, scale, Proto, Row, Server};

/// A nats-server with JetStream on a free port and a store of its own.
struct Nats {
    child: Child,
    url: String,
    dir: std::path::PathBuf,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nats_binary() -> Option<String> {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| (*p).to_owned())
}

impl Nats {
    fn start(binary: &str, name: &str) -> Nats {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("{name}-nats-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nats { child, url: format!("nats://127.0.0.1:{port}"), dir }
    }
}

/// A botgate node of the cluster on `nats`.
fn node(name: &'static str, nats: &Nats) -> Server {
    let extra = format!("cluster: {{ nats: \"{}\", node: {name}, lease: 2000 }}\n", nats.url);
    Server::botgate_with(name, "", &extra)
}

/// `/healthz` of `server`, as JSON.
async fn healthz(server: &Server) -> serde_json::Value {
    let Some(http) = server.http else {
        return serde_json::Value::Null;
    };
    let answer = async {
        let mut s = TcpStream::connect(http).await.ok()?;
        let req = "GET /healthz HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n";
        s.write_all(req.as_bytes()).await.ok()?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await.ok()?;
        let text = String::from_utf8_lossy(&resp).into_owned();
        let body = text.split_once("\r\n\r\n")?.1.to_owned();
        serde_json::from_str(&body).ok()
    };
    answer.await.unwrap_or(serde_json::Value::Null)
}

/// The node owning bot 10001, once one does, asked of `server`.
async fn owner(server: &Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(owner) = healthz(server).await["bots"][0]["owner"].as_str() {
            return owner.to_owned();
        }
        assert!(Instant::now() < deadline, "no node owns bot 10001");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn row(scenario: String, cluster: String, baseline: String, ratio: f64) -> Row {
    let floor = "—".to_owned();
    Row { scenario, botgate: cluster, bare: baseline, ratio, range: None, floor, ok: true }
}

/// The group's rows; the capacity model's inputs are printed as they are measured.
pub(super) async fn rows() -> Vec<Row> {
    let Some(binary) = nats_binary() else {
        eprintln!("cluster: nats-server is not installed (apt-get install nats-server); not run");
        return Vec::new();
    };
    let mut rows = Vec::new();
    let (events, stream_events) = (scale(1_000), scale(20_000));

    // What the stream adds: a cluster of one node against one process, same work.
    let alone = Server::botgate();
    alone.ready().await;
    let nats = Nats::start(&binary, "solo");
    let solo = node("solo", &nats);
    solo.ready().await;
    owner(&solo).await;
    let a1 = fan_out(&alone, Proto::Mirai, 1, stream_events, 0).await;
    let s1 = fan_out(&solo, Proto::Mirai, 1, stream_events, 0).await;
    let added_us = 1e6 / s1.frames_per_sec - 1e6 / a1.frames_per_sec;
    eprintln!(
        "cluster: one bot's events/s: alone {:.0}, through the stream {:.0} (+{added_us:.1} µs each)",
        a1.frames_per_sec, s1.frames_per_sec
    );
    rows.push(row(
        "cluster: one bot's events through the stream to 1 client, as fast as possible (1 node vs \
         no cluster)"
            .to_owned(),
        format!("{:.1} k events/s", s1.frames_per_sec / 1000.0),
        format!("{:.1} k events/s", a1.frames_per_sec / 1000.0),
        s1.frames_per_sec / a1.frames_per_sec,
    ));
    let a1000 = fan_out(&alone, Proto::Mirai, 1000, events, 0).await;
    let s1000 = fan_out(&solo, Proto::Mirai, 1000, events, 0).await;
    eprintln!(
        "cluster: fan-out 1000: alone {:.0} frames/s, one node {:.0}",
        a1000.frames_per_sec, s1000.frames_per_sec
    );
    rows.push(row(
        "cluster: fan-out to 1000 mirai clients (1 node vs no cluster)".to_owned(),
        format!("{:.0} k frames/s", s1000.frames_per_sec / 1000.0),
        format!("{:.0} k frames/s", a1000.frames_per_sec / 1000.0),
        s1000.frames_per_sec / a1000.frames_per_sec,
    ));
    // What the stream adds to an event's latency, at a rate far below the ceiling.
    let paced = scale(300);
    let al = fan_out(&alone, Proto::Mirai, 100, paced, 100).await;
    let sl = fan_out(&solo, Proto::Mirai, 100, paced, 100).await;
    eprintln!(
        "cluster: 100 clients × 100 events/s: alone p50 {:.2} p99 {:.2} ms, one node p50 {:.2} \
         p99 {:.2} ms",
        al.p50, al.p99, sl.p50, sl.p99
    );
    rows.push(row(
        "cluster: fan-out to 100 mirai clients × 100 events/s, latency p50 / p99 (1 node vs no \
         cluster)"
            .to_owned(),
        format!("{:.2} / {:.2} ms", sl.p50, sl.p99),
        format!("{:.2} / {:.2} ms", al.p50, al.p99),
        sl.p99 / al.p99,
    ));
    let per = scale(50_000);
    let ac = commands(&alone, Proto::Mirai, 1, 64, per).await;
    let sc = commands(&solo, Proto::Mirai, 1, 64, per).await;
    drop((alone, solo, nats));

    // Three nodes on the same machine (and the same two cores).
    let nats = Nats::start(&binary, "trio");
    let nodes = [node("gate-a", &nats), node("gate-b", &nats), node("gate-c", &nats)];
    for n in &nodes {
        n.ready().await;
    }
    let owner_name = owner(&nodes[0]).await;
    let owner_node = nodes.iter().find(|n| n.name == owner_name).expect("the owner is a node");
    let other = nodes.iter().find(|n| n.name != owner_name).expect("a non-owner");
    let spread: Vec<&Server> = nodes.iter().collect();
    let t1000 = fan_out_over(&spread, Proto::Mirai, 1000, events, 0).await;
    eprintln!(
        "cluster: fan-out 1000 over three nodes {:.0} frames/s, one node {:.0}",
        t1000.frames_per_sec, s1000.frames_per_sec
    );
    rows.push(row(
        "cluster: fan-out to 1000 mirai clients spread over 3 nodes (3 nodes vs 1 node)".to_owned(),
        format!("{:.0} k frames/s", t1000.frames_per_sec / 1000.0),
        format!("{:.0} k frames/s", s1000.frames_per_sec / 1000.0),
        t1000.frames_per_sec / s1000.frames_per_sec,
    ));
    let oc = commands(owner_node, Proto::Mirai, 1, 64, per).await;
    let fc = commands(other, Proto::Mirai, 1, 64, per).await;
    eprintln!(
        "cluster: sendGroupMessage 1×64: on the owner {:.0}/s p50 {:.2} ms, forwarded {:.0}/s p50 \
         {:.2} ms; alone {:.0}/s, one node {:.0}/s",
        oc.per_sec, oc.p50, fc.per_sec, fc.p50, ac.per_sec, sc.per_sec
    );
    rows.push(row(
        "cluster: mirai sendGroupMessage 1 × 64 in flight on a non-owner node (forwarded by NATS) \
         vs on the owner (p50 / p99)"
            .to_owned(),
        format!("{:.1} k/s ({:.2} / {:.2} ms)", fc.per_sec / 1000.0, fc.p50, fc.p99),
        format!("{:.1} k/s ({:.2} / {:.2} ms)", oc.per_sec / 1000.0, oc.p50, oc.p99),
        fc.per_sec / oc.per_sec,
    ));
    let per8 = scale(200_000) / 100;
    let oc8 = commands(owner_node, Proto::Mirai, 100, 8, per8).await;
    let fc8 = commands(other, Proto::Mirai, 100, 8, per8).await;
    rows.push(row(
        "cluster: mirai sendGroupMessage 100 × 8 in flight on a non-owner node vs on the owner"
            .to_owned(),
        format!("{:.1} k/s ({:.2} / {:.2} ms)", fc8.per_sec / 1000.0, fc8.p50, fc8.p99),
        format!("{:.1} k/s ({:.2} / {:.2} ms)", oc8.per_sec / 1000.0, oc8.p50, oc8.p99),
        fc8.per_sec / oc8.per_sec,
    ));
    eprintln!(
        "cluster model inputs: per-bot stream ceiling {:.0} events/s; stream cost {added_us:.1} µs \
         per event; one node {:.0} frames/s, three nodes {:.0} frames/s on one machine; commands \
         1×64 alone {:.0}/s, owner in a cluster {:.0}/s, forwarded {:.0}/s",
        s1.frames_per_sec,
        s1000.frames_per_sec,
        t1000.frames_per_sec,
        ac.per_sec,
        sc.per_sec,
        fc.per_sec
    );
    rows
}
