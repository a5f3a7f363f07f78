//! What a hostile or broken client sends: text frames that are not UTF-8, numbers out of range,
//! unbounded generator jobs, command floods, connections dropped mid-handshake, floods of bad
//! frames — each answered the protocol's way, bounded, counted, and logged without flooding.

mod common;

use std::time::Duration;

use botgate::listeners::Mount;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

fn onebot(extra: &str) -> String {
    format!(
        "{}onebot:\n  use_http: true\n  host: 127.0.0.2\n  port: 0\n  use_ws: true\n  \
         ws_host: 127.0.0.3\n  ws_port: 0\n{extra}",
        mirai_http_ws("")
    )
}

/// A text frame whose payload is not UTF-8.
fn bad_text() -> Message {
    Message::Frame(Frame::message(
        b"{\"syncId\":\"1\",\"command\":\"about\xff\"}".to_vec(),
        OpCode::Data(Data::Text),
        true,
    ))
}

async fn mirai_client(gw: &botgate::Gateway) -> WsPeer {
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws");
    let mut c = ws_client(addr, "/all?verifyKey=1234567890&qq=10001", &[]).await.expect("ws");
    assert_eq!(c.recv_frame().await["data"]["code"], 0);
    c
}

async fn onebot_client(gw: &botgate::Gateway, path: &str) -> WsPeer {
    let addr = gw.addr_of(Mount::OneBotWs).expect("onebot ws");
    ws_client(addr, path, &[]).await.expect("ws")
}

#[actix_web::test]
async fn text_that_is_not_utf8_closes_with_1007_on_both_adapters() {
    let gw = start_gateway(WORLD, &onebot("")).await;
    let mut c = mirai_client(&gw).await;
    c.send_raw(bad_text()).await;
    assert_eq!(c.recv_close().await.0, 1007);

    let mut o = onebot_client(&gw, "/api").await;
    o.send_raw(bad_text()).await;
    assert_eq!(o.recv_close().await.0, 1007);

    // Binary frames carry JSON as bytes and are not held to UTF-8: bad JSON, not a close.
    let mut c = mirai_client(&gw).await;
    c.send_raw(Message::binary(b"{\xff}".to_vec())).await;
    assert_eq!(c.recv_frame().await, json!({"code":400,"msg":"无效参数"}));
    let h = healthz(&gw).await;
    assert_eq!(h["clients"]["miraiWs"]["badFrames"], 2, "{h}");
}

#[actix_web::test]
async fn numbers_out_of_range_are_parameter_errors_not_clamped() {
    let gw = start_gateway(WORLD, &onebot("")).await;
    let mut c = mirai_client(&gw).await;
    let huge = "99999999999999999999999";
    let raw = format!(
        r#"{{"syncId":"t","command":"sendGroupMessage","content":{{"target":{huge},"messageChain":[{{"type":"Plain","text":"x"}}]}}}}"#
    );
    c.send_raw(Message::text(raw)).await;
    assert_eq!(c.reply("t").await["data"], json!({"code":400,"msg":"无效参数"}));
    let at = c
        .call(
            "a",
            "sendGroupMessage",
            json!({"target":30001,"messageChain":[{"type":"At","target":1e30}]}),
        )
        .await;
    assert_eq!(at, json!({"code":400,"msg":"无效参数"}), "an At to 1e30 is not sent");
    let recall = c.call("r", "recall", json!({"target":30001,"messageId":2_147_483_648_i64})).await;
    assert_eq!(recall["code"], 400, "message ids are 32-bit: {recall}");

    let mut o = onebot_client(&gw, "/api").await;
    for (action, params) in [
        ("send_group_msg", json!({"group_id": 1e30, "message": "x"})),
        ("delete_msg", json!({"message_id": 4_294_967_296_i64})),
        ("get_msg", json!({"message_id": "99999999999999999999"})),
    ] {
        o.send(json!({"action": action, "params": params, "echo": action})).await;
        let reply = o.recv_frame().await;
        assert_eq!((reply["retcode"].clone(), reply["echo"].clone()), (json!(100), json!(action)));
    }
}

#[actix_web::test]
async fn generator_jobs_are_bounded() {
    let gw = start_gateway(WORLD, &mirai_http_ws("")).await;
    for (job, field) in [
        (json!({"group":30001,"member":20001,"count":1,"size":1_000_000_000_000_u64}), "size"),
        (json!({"group":30001,"member":20001,"count":100_000_000,"rate":10}), "count"),
        (json!({"group":30001,"member":20001,"count":1,"rate":100_000_000}), "rate"),
    ] {
        let (status, body) = post_json(&gw, "/sim/10001/traffic", &job, None).await;
        assert_eq!(status, 400, "{job}");
        let error = body["error"].as_str().unwrap_or("");
        assert!(error.contains(field) && error.contains("limit"), "{error}");
    }
    assert_eq!(healthz(&gw).await["bots"][0]["cachedMessages"], 0, "nothing was produced");
}

#[actix_web::test]
async fn a_command_flood_is_answered_busy_never_queued_without_bound() {
    let gw = start_gateway_with("max_in_flight: 2, ", WORLD, &onebot("")).await;
    const N: usize = 300;
    let frames: String = (0..N)
        .map(|i| format!(r#"{{"syncId":"{i}","command":"friendList","content":{{}}}}"#))
        .collect::<Vec<_>>()
        .join("\n");
    let mut c = mirai_client(&gw).await;
    // All at once, so the connection sees many before any answer can come back.
    for f in frames.lines() {
        c.send_raw(Message::text(f.to_owned())).await;
    }
    let (mut ok, mut busy) = (0, 0);
    for i in 0..N {
        let data = c.reply(&i.to_string()).await["data"].clone();
        match data["code"].as_i64() {
            Some(0) => ok += 1,
            Some(500) if data["msg"].as_str().is_some_and(|m| m.contains("in flight")) => busy += 1,
            _ => panic!("unexpected reply {data}"),
        }
    }
    assert!(busy > 0 && ok > 0, "{ok} answered, {busy} refused");
    assert_eq!(c.call("after", "friendList", json!({})).await["code"], 0, "still open");

    let mut o = onebot_client(&gw, "/api").await;
    for i in 0..N {
        o.send(json!({"action":"get_friend_list","echo":i})).await;
    }
    let mut busy = 0;
    for _ in 0..N {
        let reply = o.recv_frame().await;
        if reply["retcode"] == 1429 {
            busy += 1;
        } else {
            assert_eq!(reply["retcode"], 0, "{reply}");
        }
    }
    assert!(busy > 0, "no OneBot action was refused");
    let h = healthz(&gw).await;
    assert!(h["clients"]["onebotWs"]["commandsRefusedBusy"].as_u64() > Some(0), "{h}");
}

#[actix_web::test]
async fn subscriber_counts_are_exact_after_clients_leave_mid_handshake() {
    let gw = start_gateway(WORLD, &mirai_http_ws("")).await;
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws");
    let request = "GET /all?verifyKey=1234567890&qq=10001 HTTP/1.1\r\nHost: x\r\n\
                   Upgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    // Each client leaves right after asking: its actor may stop before the bot has it.
    for _ in 0..200 {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(request.as_bytes()).await.expect("write");
        drop(s);
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let h = healthz(&gw).await;
        let ws = &h["clients"]["miraiWs"];
        // Every client has come and gone: one whose handshake the server has not read yet
        // is not counted as connected, and subscribes after this look.
        let departed: u64 = ["closed", "lostWithoutClose", "heartbeatTimeouts", "evictedSlow"]
            .iter()
            .filter_map(|k| ws[*k].as_u64())
            .sum();
        if ws["connected"] == 0 && departed == 200 {
            assert_eq!(h["bots"][0]["subscribers"], 0, "no event needed to notice: {h}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "clients never left: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_flood_of_bad_frames_is_logged_a_few_times_with_a_count() {
    let (server, mirai) = (free_port(), free_port());
    let config = format!(
        "server: {{ port: {server} }}\n{WORLD}\nmirai:\n  adapters: [ws]\n  \
         verifyKey: \"1234567890\"\n  adapterSettings:\n    ws: {{ host: 127.0.0.1, port: {mirai} }}\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("botgate.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let _gw = Running::start_logging(&config, server, log.into(), "info").await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], mirai));
    let mut c = ws_client(addr, "/all?verifyKey=1234567890&qq=10001", &[]).await.expect("ws");
    c.recv_frame().await;
    const BAD: usize = 5000;
    let (mut sink, mut stream) = c.into_inner().split();
    let writer = tokio::spawn(async move {
        for _ in 0..BAD {
            sink.feed(Message::text("{oops")).await.expect("send");
        }
        sink.flush().await.expect("flush");
        sink
    });
    let mut answered = 0;
    while answered < BAD {
        if let Some(Ok(Message::Text(t))) = stream.next().await {
            assert_eq!(serde_json::from_str::<Value>(&t).expect("json")["code"], 400);
            answered += 1;
        }
    }
    drop(writer.await.expect("writer"));
    let text = std::fs::read_to_string(&log_path).expect("log");
    let warnings = text.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings <= 20, "{warnings} warning lines for {BAD} bad frames");
    assert!(warnings >= 1, "the first bad frames are logged:\n{text}");
    let h = healthz_at(server).await;
    assert_eq!(h["clients"]["miraiWs"]["badFrames"], BAD, "every bad frame is counted");
}
