//! The mirai-api-http reverse-ws adapter against a fake business server: verify, every
//! command of the first slice with exact JSON, pushed events, parameters and headers, wss,
//! redial with replay, bad input, large and fragmented frames.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

async fn connected(extra: &str) -> (botgate::Gateway, FakeServer, WsPeer) {
    let mut server = FakeServer::start(0).await;
    let gw = start_gateway(WORLD, &mirai_reverse_ws(&[dest(server.addr.port())], extra)).await;
    let conn = server.accept().await;
    (gw, server, conn)
}

#[actix_web::test]
async fn wrong_key_keeps_the_socket_open_and_the_right_key_binds_a_session() {
    let (_gw, _server, mut conn) = connected("").await;
    assert_eq!(conn.handshake.path, "/ws");

    conn.send(json!({"syncId":"1","command":"verify","content":{"verifyKey":"wrong","sessionKey":null,"qq":10001}})).await;
    assert_eq!(conn.recv_frame().await, json!({"code":1,"msg":"Auth Key错误"}));
    conn.ping().await;

    // Before verify: about and botList are answered, anything else is refused un-enveloped.
    assert_eq!(
        conn.call("2", "about", json!({})).await,
        json!({"code":0,"msg":"","data":{"version":"2.10.0"}})
    );
    assert_eq!(
        conn.call("3", "botList", Value::Null).await,
        json!({"code":0,"msg":"","data":[10001,10002]})
    );
    conn.send(json!({"syncId":"4","command":"friendList","content":{}})).await;
    assert_eq!(conn.recv_frame().await, json!({"code":1,"msg":"Auth Key错误"}));

    // A bot that does not exist: code 2, raw, still open.
    conn.send(json!({"syncId":"5","command":"verify","content":{"verifyKey":"1234567890","sessionKey":null,"qq":424242}})).await;
    assert_eq!(conn.recv_frame().await, json!({"code":2,"msg":"指定Bot不存在"}));
    // Unreadable verify content: code 1, raw.
    conn.send(json!({"syncId":"6","command":"verify","content":{"verifyKey":1,"qq":{}}})).await;
    assert_eq!(conn.recv_frame().await, json!({"code":1,"msg":"Auth Key错误"}));

    // The seed's own example sends qq as a string.
    conn.send(json!({"syncId":"7","command":"verify","subCommand":null,"content":{"verifyKey":"1234567890","sessionKey":null,"qq":"10001"}})).await;
    let ack = conn.recv_frame().await;
    assert_eq!(ack["syncId"], "7");
    assert_eq!(ack["data"]["code"], 0);
    let key = ack["data"]["session"].as_str().expect("session key");
    assert!(key.len() >= 16 && key.chars().all(|c| c.is_ascii_alphanumeric()), "{key}");
    assert_eq!(ack, json!({"syncId":"7","data":{"code":0,"session":key}}));
    assert_eq!(conn.call("8", "friendList", json!({})).await["code"], 0);
}

#[actix_web::test]
async fn every_command_of_the_first_slice_answers_exactly() {
    let (gw, _server, mut conn) = connected("").await;
    let key = conn.verify(10001).await;

    assert_eq!(
        conn.call("s", "sessionInfo", json!({})).await,
        json!({"code":0,"msg":"","data":{"sessionKey":key,"qq":{"id":10001,"nickname":"botgate","remark":""}}})
    );
    assert_eq!(
        conn.call("f", "friendList", json!({})).await,
        json!({"code":0,"msg":"","data":[{"id":20001,"nickname":"Alice","remark":"小A"},{"id":20002,"nickname":"Bob","remark":""}]})
    );
    let g1 = json!({"id":30001,"name":"Test Group","permission":"OWNER"});
    assert_eq!(
        conn.call("g", "groupList", json!({})).await,
        json!({"code":0,"msg":"","data":[g1,{"id":30002,"name":"Other Group","permission":"MEMBER"}]})
    );
    assert_eq!(
        conn.call("m", "memberList", json!({"target":30001})).await,
        json!({"code":0,"msg":"","data":[
            {"id":20001,"memberName":"AliceCard","specialTitle":"元老","permission":"ADMINISTRATOR","joinTimestamp":1600000000,"lastSpeakTimestamp":1600000000,"muteTimeRemaining":0,"group":g1,"active":null},
            {"id":20003,"memberName":"Carol","specialTitle":"","permission":"MEMBER","joinTimestamp":1700000000,"lastSpeakTimestamp":1700000000,"muteTimeRemaining":0,"group":g1,"active":null}
        ]})
    );
    assert_eq!(
        conn.call("m2", "memberList", json!({"target":99999})).await,
        json!({"code":5,"msg":"指定对象不存在"})
    );
    assert_eq!(
        conn.call("bp", "botProfile", json!({})).await,
        json!({"nickname":"botgate","email":"bot@example.com","age":3,"level":64,"sign":"hello","sex":"FEMALE"})
    );
    assert_eq!(
        conn.call("fp", "friendProfile", json!({"target":20001})).await,
        json!({"nickname":"Alice","email":"","age":20,"level":0,"sign":"","sex":"FEMALE"})
    );
    assert_eq!(
        conn.call("mp", "memberProfile", json!({"target":30001,"memberId":20003})).await,
        json!({"nickname":"Carol","email":"","age":0,"level":0,"sign":"","sex":"UNKNOWN"})
    );
    assert_eq!(
        conn.call("up", "userProfile", json!({"target":20004})).await,
        json!({"nickname":"Dave","email":"","age":0,"level":0,"sign":"","sex":"UNKNOWN"})
    );
    assert_eq!(
        conn.call("up2", "userProfile", json!({"target":1})).await,
        json!({"code":5,"msg":"指定对象不存在"})
    );

    // sendFriendMessage → messageFromId returns it as the bot's own (sync) message.
    let sent = conn
        .call(
            "sf",
            "sendFriendMessage",
            json!({"target":20001,"messageChain":[{"type":"Plain","text":"hi"}]}),
        )
        .await;
    assert_eq!((sent["code"].clone(), sent["msg"].clone()), (json!(0), json!("success")));
    let fid = sent["messageId"].as_i64().expect("messageId");
    let got = conn.call("mf", "messageFromId", json!({"messageId":fid,"target":20001})).await;
    let time = got["data"]["messageChain"][0]["time"].clone();
    assert_eq!(
        got,
        json!({"code":0,"msg":"","data":{"type":"FriendSyncMessage","messageChain":[{"type":"Source","id":fid,"time":time},{"type":"Plain","text":"hi"}],"subject":{"id":20001,"nickname":"Alice","remark":"小A"}}})
    );
    // The message belongs to friend 20001 only.
    assert_eq!(
        conn.call("mf2", "messageFromId", json!({"messageId":fid,"target":20002})).await["code"],
        5
    );
    assert_eq!(
        conn.call(
            "sf2",
            "sendFriendMessage",
            json!({"qq":99,"messageChain":[{"type":"Plain","text":"x"}]})
        )
        .await["code"],
        5
    );

    // sendGroupMessage quoting an incoming message.
    let incoming = inject(&gw, 10001, group_message(30001, 20003, "question")).await["messageId"]
        .as_i64()
        .expect("id");
    let pushed = conn.recv_frame().await;
    assert_eq!(pushed["data"]["type"], "GroupMessage");
    let sent = conn.call("sg", "sendGroupMessage", json!({"group":30001,"quote":incoming,"messageChain":[{"type":"At","target":20003},{"type":"Plain","text":" answer"},{"type":"Face","name":"微笑"}]})).await;
    let gid = sent["messageId"].as_i64().expect("messageId");
    let got = conn.call("mg", "messageFromId", json!({"messageId":gid,"target":30001})).await
        ["data"]
        .clone();
    assert_eq!(got["type"], "GroupSyncMessage");
    assert_eq!(got["subject"], g1);
    assert_eq!(
        got["messageChain"][1],
        json!({"type":"Quote","id":incoming,"senderId":20003,"targetId":30001,"groupId":30001,"origin":[{"type":"Plain","text":"question"}]})
    );
    assert_eq!(got["messageChain"][2], json!({"type":"At","target":20003,"display":""}));
    assert_eq!(
        got["messageChain"][4],
        json!({"type":"Face","faceId":14,"name":"微笑","isSuperFace":false})
    );
    assert_eq!(
        conn.call(
            "sg2",
            "sendGroupMessage",
            json!({"target":30001,"quote":999999,"messageChain":[{"type":"Plain","text":"x"}]})
        )
        .await["code"],
        5
    );

    // sendTempMessage needs qq and group.
    let sent = conn
        .call(
            "st",
            "sendTempMessage",
            json!({"qq":20003,"group":30001,"messageChain":[{"type":"Plain","text":"psst"}]}),
        )
        .await;
    assert_eq!(sent["code"], 0);
    let tid = sent["messageId"].as_i64().expect("id");
    assert_eq!(
        conn.call("mt", "messageFromId", json!({"messageId":tid,"target":20003})).await["data"]
            ["type"],
        "TempSyncMessage"
    );
    assert_eq!(
        conn.call("st2", "sendTempMessage", json!({"qq":20003,"messageChain":[]})).await,
        json!({"code":400,"msg":"无效参数"})
    );

    // recall: the group message goes, the recall event is pushed, the cache forgets it.
    assert_eq!(
        conn.call("r", "recall", json!({"target":30001,"messageId":gid})).await,
        json!({"code":0,"msg":"success"})
    );
    let event = conn.recv_frame().await;
    let time = event["data"]["time"].clone();
    assert_eq!(
        event,
        json!({"syncId":"-1","data":{"type":"GroupRecallEvent","authorId":10001,"messageId":gid,"time":time,"group":g1,"operator":null}})
    );
    assert_eq!(
        conn.call("r2", "recall", json!({"target":30001,"messageId":gid})).await,
        json!({"code":5,"msg":"指定对象不存在"})
    );
    assert_eq!(
        conn.call("mg2", "messageFromId", json!({"messageId":gid,"target":30001})).await["code"],
        5
    );
    // The bot owns 30001 and may recall a member's message.
    assert_eq!(
        conn.call("r3", "recall", json!({"target":30001,"messageId":incoming})).await["code"],
        0
    );
    assert_eq!(conn.recv_frame().await["data"]["authorId"], 20003);
    // A friend's message cannot be recalled by the bot.
    let fmsg = inject(&gw, 10001, json!({"type":"FriendMessage","sender":{"id":20002},"messageChain":[{"type":"Plain","text":"yo"}]})).await["messageId"].clone();
    conn.recv_frame().await;
    assert_eq!(
        conn.call("r4", "recall", json!({"target":20002,"messageId":fmsg})).await,
        json!({"code":10,"msg":"无操作权限"})
    );
    // The bot's own private message can.
    assert_eq!(conn.call("r5", "recall", json!({"target":20001,"messageId":fid})).await["code"], 0);
    let event = conn.recv_frame().await;
    let time = event["data"]["time"].clone();
    assert_eq!(
        event["data"],
        json!({"type":"FriendRecallEvent","authorId":10001,"messageId":fid,"time":time,"operator":10001})
    );
}

#[actix_web::test]
async fn injected_events_are_pushed_with_the_reserved_sync_id() {
    let (gw, _server, mut conn) = connected("").await;
    conn.verify(10001).await;

    let id = inject(&gw, 10001, group_message(30001, 20001, "hello")).await["messageId"]
        .as_i64()
        .expect("id");
    let frame = conn.recv_frame().await;
    let time = frame["data"]["messageChain"][0]["time"].clone();
    assert!(time.as_i64().is_some_and(|t| t > 1_700_000_000), "{frame}");
    assert_eq!(
        frame,
        json!({"syncId":"-1","data":{"type":"GroupMessage","messageChain":[{"type":"Source","id":id,"time":time},{"type":"Plain","text":"hello"}],
               "sender":{"id":20001,"memberName":"AliceCard","specialTitle":"元老","permission":"ADMINISTRATOR","joinTimestamp":1600000000,"lastSpeakTimestamp":time,"muteTimeRemaining":0,
                         "group":{"id":30001,"name":"Test Group","permission":"OWNER"},"active":null}}})
    );

    inject(&gw, 10001, json!({"type":"FriendMessage","sender":{"id":20001},"messageChain":[{"type":"Source","id":1,"time":1234},{"type":"AtAll"},{"type":"Image","imageId":"{X}.png","url":"http://img/x.png"}]})).await;
    let f = conn.recv_frame().await["data"].clone();
    assert_eq!(f["type"], "FriendMessage");
    assert_eq!(f["sender"], json!({"id":20001,"nickname":"Alice","remark":"小A"}));
    assert_eq!(f["messageChain"][0]["time"], 1234, "the client's time is kept, its id is not");
    assert_ne!(f["messageChain"][0]["id"], 1);
    assert_eq!(f["messageChain"][1], json!({"type":"AtAll","target":0}));
    assert_eq!(
        f["messageChain"][2],
        json!({"type":"Image","imageId":"{X}.png","url":"http://img/x.png","path":null,"base64":null,"width":0,"height":0,"size":0,"imageType":"UNKNOWN","isEmoji":false})
    );

    inject(&gw, 10001, json!({"type":"TempMessage","sender":{"id":20003,"group":{"id":30001}},"messageChain":[{"type":"Plain","text":"t"}]})).await;
    let t = conn.recv_frame().await["data"].clone();
    assert_eq!(
        (t["type"].clone(), t["sender"]["memberName"].clone()),
        (json!("TempMessage"), json!("Carol"))
    );

    inject(&gw, 10001, json!({"type":"GroupRecallEvent","authorId":20001,"messageId":id,"group":{"id":30001},"operator":{"id":20001}})).await;
    let r = conn.recv_frame().await["data"].clone();
    assert_eq!(r["type"], "GroupRecallEvent");
    assert_eq!(r["operator"]["id"], 20001);
    assert_eq!(r["time"], time, "the recalled message's own time");

    inject(
        &gw,
        10001,
        json!({"type":"FriendRecallEvent","authorId":20001,"messageId":77,"operator":20001}),
    )
    .await;
    let r = conn.recv_frame().await["data"].clone();
    assert_eq!(
        (r["type"].clone(), r["authorId"].clone(), r["operator"].clone()),
        (json!("FriendRecallEvent"), json!(20001), json!(20001))
    );

    inject(&gw, 10001, json!({"type":"BotOnlineEvent","qq":10001})).await;
    assert_eq!(
        conn.recv_frame().await,
        json!({"syncId":"-1","data":{"type":"BotOnlineEvent","qq":10001}})
    );

    // Another bot's events do not reach this session.
    inject(&gw, 10002, json!({"type":"BotOnlineEvent","qq":10002})).await;
    conn.expect_silence(Duration::from_millis(300)).await;
}

#[actix_web::test]
async fn a_custom_reserved_sync_id_written_as_a_number_is_sent_as_a_string() {
    let mut server = FakeServer::start(0).await;
    let mirai = mirai_reverse_ws(&[dest(server.addr.port())], "")
        .replace("heartbeatInterval: 0", "heartbeatInterval: 0\n      reservedSyncId: -7");
    let gw = start_gateway(WORLD, &mirai).await;
    let mut conn = server.accept().await;
    conn.verify(10001).await;
    inject(&gw, 10001, json!({"type":"BotOnlineEvent"})).await;
    assert_eq!(conn.recv_frame().await["syncId"], "-7");
}

#[actix_web::test]
async fn common_parameters_and_headers_are_overridden_per_destination() {
    let mut a = FakeServer::start(0).await;
    let mut b = FakeServer::start(0).await;
    let dest_a = format!(
        "{{ host: 127.0.0.1, port: {}, path: /a, protocol: ws, reconnectInterval: 100, extraParameters: {{ p: 1, common: mine }}, extraHeaders: {{ q: 1, commonHeader: overridden }} }}",
        a.addr.port()
    );
    let dest_b = format!(
        "{{ host: 127.0.0.1, port: {}, path: /b/c, protocol: ws, method: POST }}",
        b.addr.port()
    );
    let mirai = mirai_reverse_ws(&[dest_a, dest_b], "").replace(
        "heartbeatInterval: 0",
        "heartbeatInterval: 0\n      extraParameters: { common: shared, verifyKey: 1234567890 }\n      extraHeaders: { commonHeader: header, X-Token: abc }",
    );
    let _gw = start_gateway(WORLD, &mirai).await;
    let ca = a.accept().await.handshake;
    let cb = b.accept().await.handshake;

    assert_eq!(ca.path, "/a");
    assert_eq!(ca.query.get("p"), Some(&vec!["1".to_owned()]));
    assert_eq!(ca.query.get("common"), Some(&vec!["mine".to_owned()]), "overridden, not appended");
    assert_eq!(ca.query.get("verifyKey"), Some(&vec!["1234567890".to_owned()]));
    assert_eq!(ca.headers.get("q"), Some(&vec!["1".to_owned()]));
    assert_eq!(ca.headers.get("commonheader"), Some(&vec!["overridden".to_owned()]));
    assert_eq!(ca.headers.get("x-token"), Some(&vec!["abc".to_owned()]));

    assert_eq!(cb.path, "/b/c");
    assert_eq!(cb.method, "GET", "a WebSocket handshake is a GET whatever `method` says");
    assert_eq!(cb.query.get("common"), Some(&vec!["shared".to_owned()]));
    assert_eq!(cb.query.get("p"), None);
    assert_eq!(cb.headers.get("commonheader"), Some(&vec!["header".to_owned()]));
    assert_eq!(cb.headers.get("q"), None);
}

fn tls_acceptor() -> (tokio_rustls::TlsAcceptor, tempfile::NamedTempFile) {
    use tokio_rustls::rustls;
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate");
    let pem = cert.cert.pem();
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut file, pem.as_bytes()).expect("write pem");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .expect("server config");
    (tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)), file)
}

#[actix_web::test]
async fn wss_to_a_self_signed_server_trusted_through_ca_file() {
    let (acceptor, pem) = tls_acceptor();
    let mut server = FakeServer::start_with(0, Some(acceptor)).await;
    let d = format!(
        "{{ host: localhost, port: {}, path: /secure, protocol: wss, reconnectInterval: 100 }}",
        server.addr.port()
    );
    let mirai = mirai_reverse_ws(&[d], "").replace(
        "heartbeatInterval: 0",
        &format!("heartbeatInterval: 0\n      caFile: {}", pem.path().display()),
    );
    let gw = start_gateway(WORLD, &mirai).await;
    let mut conn = server.accept().await;
    assert_eq!(conn.handshake.path, "/secure");
    conn.verify(10001).await;
    inject(&gw, 10001, group_message(30001, 20001, "over tls")).await;
    assert_eq!(conn.recv_frame().await["data"]["messageChain"][1]["text"], "over tls");
}

#[actix_web::test]
async fn wss_without_trusting_the_certificate_keeps_redialling() {
    let (acceptor, _pem) = tls_acceptor();
    let mut server = FakeServer::start_with(0, Some(acceptor)).await;
    let d = format!(
        "{{ host: localhost, port: {}, path: /, protocol: wss, reconnectInterval: 50 }}",
        server.addr.port()
    );
    let gw = start_gateway(WORLD, &mirai_reverse_ws(&[d], "")).await;
    // Every attempt fails the TLS handshake, so no WebSocket connection is ever handed over.
    assert!(tokio::time::timeout(Duration::from_millis(800), server.accept()).await.is_err());
    assert_eq!(healthz(&gw).await["destinationsConnected"], 0);
}

#[actix_web::test]
async fn events_produced_while_the_server_is_away_arrive_once_in_order_after_it_verifies() {
    let (gw, server, mut conn) = connected("").await;
    conn.verify(10001).await;
    inject(&gw, 10001, group_message(30001, 20001, "before")).await;
    assert_eq!(conn.recv_frame().await["data"]["messageChain"][1]["text"], "before");

    let port = server.kill();
    drop(conn);
    wait_connected(&gw, 0).await;
    for i in 0..20 {
        inject(&gw, 10001, group_message(30001, 20001, &format!("while away {i}"))).await;
    }
    assert_eq!(healthz(&gw).await["destinations"][0]["buffered"], 20);

    let mut server = FakeServer::start(port).await;
    let mut conn = server.accept().await;
    // Nothing is pushed before verify.
    conn.expect_silence(Duration::from_millis(300)).await;
    conn.send(json!({"syncId":"v","command":"verify","content":{"verifyKey":"1234567890","sessionKey":null,"qq":10001}})).await;
    let first = conn.recv_frame().await;
    assert_eq!(first["syncId"], "v", "the verify ack comes before the replay");
    for i in 0..20 {
        let f = conn.recv_frame().await;
        assert_eq!(f["syncId"], "-1");
        assert_eq!(f["data"]["messageChain"][1]["text"], format!("while away {i}"));
    }
    conn.expect_silence(Duration::from_millis(300)).await;
    inject(&gw, 10001, group_message(30001, 20001, "after")).await;
    assert_eq!(conn.recv_frame().await["data"]["messageChain"][1]["text"], "after");
}

#[actix_web::test]
async fn the_replay_buffer_is_bounded_and_keeps_the_newest_events() {
    let mut server = FakeServer::start(0).await;
    let mirai = mirai_reverse_ws(&[dest(server.addr.port())], "")
        .replace("heartbeatInterval: 0", "heartbeatInterval: 0\n      replayBufferSize: 5");
    let gw = start_gateway(WORLD, &mirai).await;
    let mut conn = server.accept().await;
    conn.verify(10001).await;
    let port = server.kill();
    drop(conn);
    wait_connected(&gw, 0).await;
    for i in 0..12 {
        inject(&gw, 10001, group_message(30001, 20001, &format!("e{i}"))).await;
    }
    let status = healthz(&gw).await["destinations"][0].clone();
    assert_eq!((status["buffered"].clone(), status["dropped"].clone()), (json!(5), json!(7)));
    let mut server = FakeServer::start(port).await;
    let mut conn = server.accept().await;
    conn.verify(10001).await;
    for i in 7..12 {
        assert_eq!(conn.recv_frame().await["data"]["messageChain"][1]["text"], format!("e{i}"));
    }
    conn.expect_silence(Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn bad_input_gets_the_spec_replies_and_the_socket_stays_up() {
    let (_gw, _server, mut conn) = connected("").await;
    // Junk before verify is answered too, and does not close the socket.
    conn.send_raw(Message::text("{not json")).await;
    assert_eq!(conn.recv_frame().await, json!({"code":400,"msg":"无效参数"}));
    conn.verify(10001).await;

    conn.send_raw(Message::text("{not json")).await;
    assert_eq!(conn.recv_frame().await, json!({"code":400,"msg":"无效参数"}));
    conn.send_raw(Message::text(r#"{"syncId":"1","content":{}}"#)).await;
    assert_eq!(conn.recv_frame().await, json!({"code":400,"msg":"无效参数"}));
    conn.send_raw(Message::text("[1,2,3]")).await;
    assert_eq!(conn.recv_frame().await, json!({"code":400,"msg":"无效参数"}));

    assert_eq!(
        conn.call("u", "flyToTheMoon", json!({})).await,
        json!({"code":6,"msg":"指定操作不支持"})
    );
    assert_eq!(
        conn.call("w1", "memberList", json!({"target":"abc"})).await,
        json!({"code":400,"msg":"无效参数"})
    );
    assert_eq!(
        conn.call("w2", "memberList", Value::Null).await,
        json!({"code":400,"msg":"无效参数"})
    );
    assert_eq!(
        conn.call("w3", "sendGroupMessage", json!({"target":30001,"messageChain":"text"})).await,
        json!({"code":400,"msg":"无效参数"})
    );
    assert_eq!(
        conn.call(
            "w4",
            "sendGroupMessage",
            json!({"target":30001,"messageChain":[{"type":"Plain","text":5}]})
        )
        .await,
        json!({"code":400,"msg":"无效参数"})
    );
    assert_eq!(
        conn.call("v", "verify", json!({"verifyKey":"1234567890","qq":10001})).await,
        json!({"code":6,"msg":"指定操作不支持"})
    );

    // A numeric syncId is echoed as a string; extra envelope keys are ignored.
    conn.send(json!({"syncId":42,"command":"about","sessionKey":"ignored","content":{}})).await;
    assert_eq!(conn.reply("42").await["data"]["data"]["version"], "2.10.0");

    // Binary frames carry JSON like text frames; binary junk gets the 400.
    conn.send_raw(Message::binary(
        br#"{"syncId":"b","command":"groupList","content":{}}"#.to_vec(),
    ))
    .await;
    assert_eq!(conn.reply("b").await["data"]["code"], 0);
    conn.send_raw(Message::binary(vec![0xff, 0x00, 0xfe])).await;
    assert_eq!(conn.recv_frame().await, json!({"code":400,"msg":"无效参数"}));

    conn.ping().await;
    assert_eq!(conn.call("ok", "friendList", json!({})).await["code"], 0);
}

#[actix_web::test]
async fn frames_over_64_kib_and_fragmented_messages_work() {
    let (gw, _server, mut conn) = connected("").await;
    conn.verify(10001).await;

    // 200 KiB in each direction.
    let big = "x".repeat(200 * 1024);
    let card = json!({"k": big}).to_string();
    let sent = conn
        .call(
            "big",
            "sendGroupMessage",
            json!({"target":30001,"messageChain":[{"type":"Json","json":card}]}),
        )
        .await;
    assert_eq!(sent["code"], 0);
    let got = conn
        .call("bigget", "messageFromId", json!({"target":30001,"messageId":sent["messageId"]}))
        .await;
    assert_eq!(got["data"]["messageChain"][1]["json"].as_str().map(str::len), Some(card.len()));
    inject(&gw, 10001, json!({"type":"GroupMessage","sender":{"id":20001,"group":{"id":30001}},"messageChain":[{"type":"Xml","xml":big}]})).await;
    assert_eq!(
        conn.recv_frame().await["data"]["messageChain"][1]["xml"].as_str().map(str::len),
        Some(big.len())
    );

    // One request split over three frames.
    let text = json!({"syncId":"frag","command":"friendList","content":{}}).to_string();
    let (a, rest) = text.split_at(10);
    let (b, c) = rest.split_at(10);
    conn.send_raw(Message::Frame(Frame::message(
        a.as_bytes().to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await;
    conn.send_raw(Message::Frame(Frame::message(
        b.as_bytes().to_vec(),
        OpCode::Data(Data::Continue),
        false,
    )))
    .await;
    conn.send_raw(Message::Frame(Frame::message(
        c.as_bytes().to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await;
    assert_eq!(conn.reply("frag").await["data"]["code"], 0);
}

#[actix_web::test]
async fn frames_over_the_configured_limit_close_with_1009_and_the_link_is_redialled() {
    let mut server = FakeServer::start(0).await;
    let mirai = mirai_reverse_ws(&[dest(server.addr.port())], "");
    let yaml =
        format!("server: {{ host: 127.0.0.1, port: 0, max_frame_size: 4096 }}\n{WORLD}\n{mirai}");
    let gw = botgate::Gateway::start(botgate::Config::from_yaml_str(&yaml).expect("config"))
        .await
        .expect("start");
    let mut conn = server.accept().await;
    conn.verify(10001).await;
    conn.send(json!({"syncId":"huge","command":"about","content":{"pad":"y".repeat(8192)}})).await;
    // The oversized frame ends this connection; the destination dials again.
    let mut again = server.accept().await;
    again.verify(10001).await;
    inject(&gw, 10001, group_message(30001, 20001, "still here")).await;
    assert_eq!(again.recv_frame().await["data"]["messageChain"][1]["text"], "still here");
}

#[actix_web::test]
async fn refused_non_101_eof_and_tls_failures_all_go_back_to_redialling() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A port nobody listens on yet: connection refused.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = probe.local_addr().expect("addr").port();
    drop(probe);
    let gw = start_gateway(WORLD, &mirai_reverse_ws(&[dest(port)], "")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Then a server that answers the handshake with 404, then one that hangs up at once.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("rebind");
    let (mut s, _) =
        tokio::time::timeout(WAIT, listener.accept()).await.expect("dialled").expect("accept");
    let mut buf = [0u8; 1024];
    let _ = s.read(&mut buf).await;
    s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    drop(s);
    let (s, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("redialled after 404")
        .expect("accept");
    drop(s);
    let (mut s, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("redialled after EOF")
        .expect("accept");
    s.write_all(b"garbage that is not HTTP\r\n\r\n").await.expect("write");
    drop(s);
    drop(listener);

    // Finally a real server: the destination connects and works.
    let mut server = FakeServer::start(port).await;
    let mut conn = server.accept().await;
    conn.verify(10001).await;
    inject(&gw, 10001, group_message(30001, 20001, "made it")).await;
    assert_eq!(conn.recv_frame().await["data"]["messageChain"][1]["text"], "made it");
}

#[actix_web::test]
async fn a_session_key_bound_elsewhere_is_accepted_and_shared() {
    let mut a = FakeServer::start(0).await;
    let mut b = FakeServer::start(0).await;
    let gw =
        start_gateway(WORLD, &mirai_reverse_ws(&[dest(a.addr.port()), dest(b.addr.port())], ""))
            .await;
    let mut ca = a.accept().await;
    let mut cb = b.accept().await;
    let key = ca.verify(10001).await;
    let data =
        cb.call("v", "verify", json!({"verifyKey":"1234567890","sessionKey":key,"qq":null})).await;
    assert_eq!(data, json!({"code":0,"session":key}));
    assert_eq!(cb.call("s", "sessionInfo", json!({})).await["data"]["sessionKey"], key.as_str());
    // Unknown session key: code 3, raw, socket open.
    let (mut c, _gw2, _s2) = {
        let mut s = FakeServer::start(0).await;
        let g = start_gateway(WORLD, &mirai_reverse_ws(&[dest(s.addr.port())], "")).await;
        (s.accept().await, g, s)
    };
    c.send(json!({"syncId":"x","command":"verify","content":{"verifyKey":"1234567890","sessionKey":"nope","qq":null}})).await;
    assert_eq!(c.recv_frame().await, json!({"code":3,"msg":"Session失效或不存在"}));
    c.ping().await;
    // Both connections receive the bot's events.
    inject(&gw, 10001, group_message(30001, 20001, "fan-out")).await;
    assert_eq!(ca.recv_frame().await["data"]["messageChain"][1]["text"], "fan-out");
    assert_eq!(cb.recv_frame().await["data"]["messageChain"][1]["text"], "fan-out");
}

#[actix_web::test]
async fn single_mode_binds_the_first_bot_and_enable_verify_false_ignores_the_key() {
    let mut server = FakeServer::start(0).await;
    let _gw = start_gateway(
        WORLD,
        &mirai_reverse_ws(&[dest(server.addr.port())], "  singleMode: true\n"),
    )
    .await;
    let mut conn = server.accept().await;
    let data = conn
        .call("v", "verify", json!({"verifyKey":"1234567890","sessionKey":null,"qq":null}))
        .await;
    assert_eq!(data, json!({"code":0,"session":"SINGLE_SESSION"}));
    assert_eq!(conn.call("s", "sessionInfo", json!({})).await["data"]["qq"]["id"], 10001);

    let mut server = FakeServer::start(0).await;
    let mirai = mirai_reverse_ws(&[dest(server.addr.port())], "  enableVerify: false\n")
        .replace("  verifyKey: \"1234567890\"\n", "");
    let _gw = start_gateway(WORLD, &mirai).await;
    let mut conn = server.accept().await;
    let data = conn
        .call("v", "verify", json!({"verifyKey":"anything","sessionKey":null,"qq":10002}))
        .await;
    assert_eq!(data["code"], 0);
    assert_eq!(conn.call("s", "sessionInfo", json!({})).await["data"]["qq"]["nickname"], "second");
}

#[actix_web::test]
async fn the_sim_endpoint_checks_token_bot_and_body_and_healthz_reports_status() {
    let mut server = FakeServer::start(0).await;
    let yaml = format!(
        "server: {{ host: 127.0.0.1, port: 0, token: s3cret }}\n{WORLD}\n{}",
        mirai_reverse_ws(&[dest(server.addr.port())], "")
    );
    let gw = botgate::Gateway::start(botgate::Config::from_yaml_str(&yaml).expect("config"))
        .await
        .expect("start");
    let mut conn = server.accept().await;
    conn.verify(10001).await;
    let event = group_message(30001, 20001, "hi");

    let (status, body) = post_json(&gw, "/sim/10001/inject", &event, None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = post_json(&gw, "/sim/10001/inject", &event, Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, body) = post_json(&gw, "/sim/424242/inject", &event, Some("s3cret")).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) =
        post_json(&gw, "/sim/10001/inject", &json!({"type":"NoSuchEvent"}), Some("s3cret")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("NoSuchEvent")), "{body}");
    let (status, body) =
        post_json(&gw, "/sim/10001/inject", &group_message(30001, 99999, "x"), Some("s3cret"))
            .await;
    assert_eq!(status, 400, "a sender outside the world: {body}");
    let (status, body) = post_json(&gw, "/sim/10001/inject", &event, Some("s3cret")).await;
    assert_eq!(status, 200);
    assert!(body["messageId"].as_i64().is_some(), "{body}");
    assert_eq!(conn.recv_frame().await["data"]["messageChain"][1]["text"], "hi");

    let mut resp = awc::Client::default()
        .post(format!("http://{}/sim/10001/inject", gw.server_addr))
        .insert_header(("Authorization", "Bearer s3cret"))
        .insert_header(("Content-Type", "application/json"))
        .send_body("{broken")
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json error body");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("not JSON")));

    let h = healthz(&gw).await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["bots"][0]["qq"], 10001);
    assert_eq!(h["bots"][0]["subscribers"], 1);
    assert_eq!(h["bots"][1]["nickname"], "second");
    assert_eq!(h["destinationsConnected"], 1);
    assert_eq!(h["destinations"][0]["verifiedQq"], 10001);
    assert_eq!(h["listeners"][0]["address"], gw.server_addr.to_string());
}

#[actix_web::test]
async fn the_gateway_pings_and_redials_a_server_that_stops_answering() {
    let mut server = FakeServer::start(0).await;
    let mirai = mirai_reverse_ws(&[dest(server.addr.port())], "")
        .replace("heartbeatInterval: 0", "heartbeatInterval: 100");
    let gw = start_gateway(WORLD, &mirai).await;
    let mut conn = server.accept().await;
    conn.verify(10001).await;
    // While the server reads (tungstenite answers each ping), the link stays up.
    let mut pings = 0;
    while pings < 5 {
        if let Message::Ping(_) = conn.recv_any().await {
            pings += 1;
        }
    }
    assert_eq!(healthz(&gw).await["destinationsConnected"], 1);
    // A server that stops reading never answers; after three intervals the gateway redials.
    let mut again = server.accept().await;
    drop(conn);
    again.verify(10001).await;
    inject(&gw, 10001, group_message(30001, 20001, "back")).await;
    assert_eq!(again.recv_frame().await["data"]["messageChain"][1]["text"], "back");
}

/// Sends `m0`, `m1`, `m2` to group 30001 and answers their ids.
async fn send_three(conn: &mut WsPeer) -> Vec<Value> {
    let mut ids = Vec::new();
    for i in 0..3 {
        let sent = conn
            .call(
                &format!("s{i}"),
                "sendGroupMessage",
                json!({"target":30001,"messageChain":[{"type":"Plain","text":format!("m{i}")}]}),
            )
            .await;
        ids.push(sent["messageId"].clone());
    }
    ids
}

#[actix_web::test]
async fn cache_size_bounds_the_cache_and_the_store_resolves_what_it_evicted() {
    let (gw, _server, mut conn) = connected("  cacheSize: 2\n").await;
    conn.verify(10001).await;
    let ids = send_three(&mut conn).await;
    assert_eq!(healthz(&gw).await["bots"][0]["cachedMessages"], 2);
    for (i, id) in ids.iter().enumerate() {
        let got = conn
            .call(&format!("g{i}"), "messageFromId", json!({"target":30001,"messageId":id}))
            .await;
        assert_eq!(got["data"]["messageChain"][1]["text"], format!("m{i}"), "{got}");
    }
}

#[actix_web::test]
async fn the_store_keeps_store_messages_per_bot() {
    let mut server = FakeServer::start(0).await;
    let mirai = mirai_reverse_ws(&[dest(server.addr.port())], "  cacheSize: 1\n");
    let _gw = start_gateway_with("store_messages_per_bot: 2, ", WORLD, &mirai).await;
    let mut conn = server.accept().await;
    conn.verify(10001).await;
    let ids = send_three(&mut conn).await;
    let oldest =
        conn.call("old", "messageFromId", json!({"target":30001,"messageId":ids[0]})).await;
    assert_eq!(oldest["code"], 5, "beyond both bounds: {oldest}");
    let kept = conn.call("kept", "messageFromId", json!({"target":30001,"messageId":ids[1]})).await;
    assert_eq!(kept["data"]["messageChain"][1]["text"], "m1", "{kept}");
}

#[actix_web::test]
async fn a_short_outage_after_a_stable_link_is_redialled_promptly() {
    let mut server = FakeServer::start(0).await;
    let slow = format!(
        "{{ host: 127.0.0.1, port: {}, path: /ws, protocol: ws, reconnectInterval: 3000 }}",
        server.addr.port()
    );
    let mirai = mirai_reverse_ws(&[slow], "")
        .replace("maxReconnectInterval: 400", "maxReconnectInterval: 60000");
    let gw = start_gateway(WORLD, &mirai).await;
    let mut conn = server.accept().await;
    conn.verify(10001).await;
    // The link has been up for a while: its drop is most likely a restart, over in a moment.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let port = server.kill();
    drop(conn);
    wait_connected(&gw, 0).await;
    let down = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut server = FakeServer::start(port).await;
    let mut conn = server.accept().await;
    // Waiting out the 3 s reconnectInterval would take 2.4 s or more.
    assert!(down.elapsed() < Duration::from_millis(2000), "redialled after {:?}", down.elapsed());
    conn.verify(10001).await;
}

#[actix_web::test]
async fn a_command_flood_from_the_server_is_answered_busy() {
    let mut server = FakeServer::start(0).await;
    let mirai = mirai_reverse_ws(&[dest(server.addr.port())], "");
    let gw = start_gateway_with("max_in_flight: 2, ", WORLD, &mirai).await;
    let mut conn = server.accept().await;
    conn.verify(10001).await;
    const N: usize = 300;
    for i in 0..N {
        conn.send(json!({"syncId": i.to_string(), "command": "friendList", "content": {}})).await;
    }
    let mut busy = 0;
    for i in 0..N {
        let data = conn.reply(&i.to_string()).await["data"].clone();
        if data["code"] == 500 {
            assert!(data["msg"].as_str().is_some_and(|m| m.contains("in flight")), "{data}");
            busy += 1;
        } else {
            assert_eq!(data["code"], 0, "{data}");
        }
    }
    assert!(busy > 0, "no command was refused");
    assert_eq!(conn.call("after", "friendList", json!({})).await["code"], 0);
    drop(gw);
}
