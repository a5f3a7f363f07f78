//! `source: onebot`: an account held by a OneBot v11 implementation. A chain — botgate A
//! serves OneBot from its simulated world, botgate B's bot is sourced from A — and a fake
//! NapCat written here, with its echo replies, `message_sent`, string request flags, extension
//! events and a socket that drops.

mod common;

use std::time::Duration;

use botgate::listeners::Mount;
use common::*;
use serde_json::{json, Value};

/// Waits until the bot is online and has delivered what its last outage missed.
async fn wait_caught_up(gw: &botgate::Gateway) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let h = healthz(gw).await;
        if h["bots"][0]["online"] == true && h["bots"][0]["catchingUp"] == false {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never caught up: {h}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The next frame that is not a heartbeat.
async fn next_event(c: &mut WsPeer) -> Value {
    loop {
        let f = c.recv_frame().await;
        if f["meta_event_type"] != "heartbeat" {
            return f;
        }
    }
}

#[actix_web::test]
async fn a_chained_botgate_serves_mirai_and_onebot_clients_from_the_upstream() {
    let a = chain_upstream().await;
    let url = format!("ws://{}/", a.addr_of(Mount::OneBotWs).expect("A's onebot ws"));
    let b = chain_downstream(&url, "").await;
    wait_online(&b, true).await;
    let mut mirai = mirai_ws_client(&b).await;
    let mut direct = onebot_client(&a).await;
    let mut through = onebot_client(&b).await;

    // An event in A's world reaches B's mirai client translated, with the sender's names.
    let id =
        inject(&a, 10001, group_message(30001, 20001, "hello from A")).await["messageId"].clone();
    let f = mirai.recv_frame().await;
    assert_eq!(f["data"]["type"], "GroupMessage");
    assert_eq!(f["data"]["messageChain"][0]["id"], id);
    assert_eq!(f["data"]["messageChain"][1]["text"], "hello from A");
    assert_eq!(f["data"]["sender"]["memberName"], "AliceCard");
    assert_eq!(f["data"]["sender"]["permission"], "ADMINISTRATOR");
    assert_eq!(f["data"]["sender"]["group"]["name"], "Test Group", "from the group list");
    // …and B's OneBot client gets exactly what A sent, untouched.
    assert_eq!(next_event(&mut through).await, next_event(&mut direct).await);

    // B's mirai client answers, quoting it: the reply is in A's world.
    let reply = mirai
        .call(
            "r",
            "sendGroupMessage",
            json!({"target":30001,"quote":id,"messageChain":[{"type":"Plain","text":"hi A"}]}),
        )
        .await;
    assert_eq!(reply["code"], 0, "{reply}");
    let sent_id = reply["messageId"].clone();
    let mut on_a = mirai_ws_client(&a).await;
    let in_a = on_a.call("m", "messageFromId", json!({"target":30001,"messageId":sent_id})).await;
    assert_eq!(in_a["data"]["messageChain"][2]["text"], "hi A", "{in_a}");
    assert_eq!(in_a["data"]["messageChain"][1]["type"], "Quote");
    // B resolves both ids itself, without asking A.
    let mine = mirai.call("g", "messageFromId", json!({"target":30001,"messageId":sent_id})).await;
    assert_eq!(mine["data"]["type"], "GroupSyncMessage", "{mine}");
    let theirs = mirai.call("h", "messageFromId", json!({"target":30001,"messageId":id})).await;
    assert_eq!(theirs["data"]["messageChain"][1]["text"], "hello from A");

    // Lists come from A once, then from B's own contacts.
    let groups = mirai.call("l", "groupList", json!({})).await;
    assert_eq!(groups["data"][0]["name"], "Test Group", "{groups}");
    let members = mirai.call("ml", "memberList", json!({"target":30001})).await;
    let names: Vec<&str> = members["data"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["memberName"].as_str())
        .collect();
    assert_eq!(names, ["AliceCard", "Carol"], "{members}");
    assert_eq!(members["data"][0]["group"]["permission"], "OWNER", "the bot's rank in A");

    // A mute through B happens in A's world, and A's event comes back through B.
    let mute = mirai.call("mu", "mute", json!({"target":30001,"memberId":20003,"time":60})).await;
    assert_eq!(mute["code"], 0, "{mute}");
    let e = mirai.recv_frame().await;
    assert_eq!(e["data"]["type"], "MemberMuteEvent", "{e}");
    assert_eq!(e["data"]["member"]["memberName"], "Carol");
    // A's refusal keeps A's words.
    let denied = mirai.call("k", "kick", json!({"target":30002,"memberId":20004})).await;
    assert_eq!(denied["code"], 10, "{denied}");

    // A forward goes as send_group_forward_msg and lands in A's world with its nodes.
    let node = json!({"senderId":20001,"time":5,"senderName":"Alice",
                      "messageChain":[{"type":"Plain","text":"forwarded"}]});
    let fwd = mirai
        .call(
            "f",
            "sendGroupMessage",
            json!({"target":30001,"messageChain":[{"type":"Forward","nodeList":[node]}]}),
        )
        .await;
    assert_eq!(fwd["code"], 0, "{fwd}");
    let in_a = on_a
        .call("fa", "messageFromId", json!({"target":30001,"messageId":fwd["messageId"]}))
        .await;
    let forward = &in_a["data"]["messageChain"][1];
    assert_eq!(forward["type"], "Forward", "{in_a}");
    assert_eq!(forward["nodeList"][0]["senderId"], 20001);
    assert_eq!(forward["nodeList"][0]["messageChain"][0]["text"], "forwarded");
}

/// A fake NapCat logged in as 10001 and botgate B sourced from it, B online; the link's
/// connection is handed back for the test to play NapCat on.
async fn napcat_online() -> (FakeServer, botgate::Gateway, WsPeer) {
    let mut napcat = FakeServer::napcat(0, 10001).await;
    let b = chain_downstream(&format!("ws://127.0.0.1:{}/", napcat.addr.port()), "").await;
    let mut peer = napcat.accept().await;
    napcat_login(&mut peer).await;
    wait_online(&b, true).await;
    (napcat, b, peer)
}

#[actix_web::test]
async fn a_napcat_like_implementation_drops_restarts_and_speaks_its_dialect() {
    let mut napcat = FakeServer::napcat(0, 10001).await;
    let url = format!("ws://127.0.0.1:{}/", napcat.addr.port());
    let world_extra = "      access_token: \"s3cr3t\"\n";
    let b = chain_downstream(&url, world_extra).await;
    let mut peer = napcat.accept().await;
    let h = &peer.handshake;
    assert_eq!(h.headers.get("authorization"), Some(&vec!["Bearer s3cr3t".to_owned()]));
    assert_eq!(h.query.get("access_token"), Some(&vec!["s3cr3t".to_owned()]));
    napcat_login(&mut peer).await;
    wait_online(&b, true).await;
    let mut mirai = mirai_ws_client(&b).await;
    let mut onebot = onebot_client(&b).await;

    // Two clients asking a cold group's members at once: one call to NapCat answers both.
    for id in ["m1", "m2"] {
        mirai.send(json!({"syncId":id,"command":"memberList","content":{"target":30001}})).await;
    }
    let call = peer.recv_frame().await;
    assert_eq!(call["action"], "get_group_member_list");
    peer.expect_silence(Duration::from_millis(200)).await;
    let members = json!([{"user_id":10001,"nickname":"napcat bot","role":"owner"},
                         {"user_id":20002,"nickname":"Bob","card":"","role":"member"}]);
    peer.send(json!({"status":"ok","retcode":0,"data":members,"echo":call["echo"]})).await;
    for id in ["m1", "m2"] {
        let list = mirai.reply(id).await["data"].clone();
        assert_eq!(list["data"][0]["memberName"], "Bob", "{list}");
        assert_eq!(list["data"][0]["group"]["permission"], "OWNER");
    }

    // A message with NapCat's extra fields: mirai gets it translated, OneBot untouched.
    peer.send(napcat_group_message(-1_234_567, 20002, "from napcat")).await;
    let f = mirai.recv_frame().await;
    assert_eq!(f["data"]["messageChain"][0]["id"], -1_234_567, "negative ids are kept");
    assert_eq!(f["data"]["sender"]["memberName"], "Bob");
    assert_eq!(f["data"]["sender"]["group"]["name"], "NapCat Group");
    let raw = next_event(&mut onebot).await;
    assert_eq!(raw, napcat_group_message(-1_234_567, 20002, "from napcat"));

    // A link share: mirai has no share element and gets the structmsg light app QQ uses.
    let mut share = napcat_group_message(-7, 20002, "");
    share["message"] = json!([{"type":"share","data":{"url":"https://a.example/x","title":"T",
                                                      "content":"C","image":""}}]);
    peer.send(share.clone()).await;
    let app = mirai.recv_frame().await["data"]["messageChain"][1].clone();
    assert_eq!(app["type"], "App", "{app}");
    let card: Value =
        serde_json::from_str(app["content"].as_str().expect("content")).expect("json");
    assert_eq!(card["meta"]["news"]["jumpUrl"], "https://a.example/x");
    assert_eq!(next_event(&mut onebot).await, share);

    // An extension event the model has no place for still reaches OneBot clients.
    let emoji = json!({"post_type":"notice","notice_type":"group_msg_emoji_like","group_id":30001,
                       "user_id":20002,"message_id":-1_234_567,"likes":[{"emoji_id":"76","count":1}],
                       "self_id":10001,"time":1_764_000_001});
    peer.send(emoji.clone()).await;
    assert_eq!(next_event(&mut onebot).await, emoji);

    // An extension action botgate does not know goes to NapCat as it came; NapCat's reply
    // comes back whole, with the client's echo.
    onebot.send(json!({"action":"get_rkey","params":{"x":[1,2]},"echo":{"n":1}})).await;
    let call = peer.recv_frame().await;
    assert_eq!(
        (call["action"].clone(), call["params"].clone()),
        (json!("get_rkey"), json!({"x":[1,2]}))
    );
    let rkeys = json!([{"type":"private","rkey":"&rkey=abc","created_at":1,"ttl":"3600"}]);
    peer.send(json!({"status":"ok","retcode":0,"data":rkeys,"message":"","wording":"",
                     "echo":call["echo"],"stream":"normal-action"}))
        .await;
    assert_eq!(
        onebot.recv_frame().await,
        json!({"status":"ok","retcode":0,"data":rkeys,"message":"","wording":"","echo":{"n":1},
               "stream":"normal-action"})
    );

    // A send: the action carries the quote as a reply segment; the reply's extra fields are
    // tolerated; NapCat's message_sent echo of it is not reported as another client's message.
    mirai
        .send(json!({"syncId":"s","command":"sendGroupMessage","content":{"target":30001,
                     "quote":-1_234_567,"messageChain":[{"type":"Plain","text":"answer"}]}}))
        .await;
    let call = peer.recv_frame().await;
    assert_eq!(call["action"], "send_group_msg");
    assert_eq!(call["params"]["message"][0], json!({"type":"reply","data":{"id":"-1234567"}}));
    peer.send(json!({"status":"ok","retcode":0,"data":{"message_id":77},"message":"","wording":"",
                     "echo":call["echo"],"stream":"normal-action"}))
        .await;
    assert_eq!(mirai.reply("s").await["data"], json!({"code":0,"msg":"success","messageId":77}));
    let mut echo = napcat_group_message(77, 10001, "answer");
    echo["post_type"] = json!("message_sent");
    echo["message_sent_type"] = json!("self");
    peer.send(echo).await;
    // A request with NapCat's string flag is answered through resp_* with that flag.
    peer.send(json!({"post_type":"request","request_type":"friend","user_id":20009,
                     "comment":"hi","flag":"1764000000000|20009","self_id":10001,"time":1}))
        .await;
    let request = mirai.recv_frame().await;
    assert_eq!(request["data"]["type"], "NewFriendRequestEvent", "the echo was not reported");
    let event_id = request["data"]["eventId"].clone();
    mirai
        .send(json!({"syncId":"q","command":"resp_newFriendRequestEvent","content":{
                     "eventId":event_id,"fromId":20009,"groupId":0,"operate":0,"message":""}}))
        .await;
    let call = peer.recv_frame().await;
    assert_eq!(call["action"], "set_friend_add_request");
    assert_eq!(call["params"]["flag"], "1764000000000|20009");
    assert_eq!(call["params"]["approve"], true);
    peer.send(json!({"status":"ok","retcode":0,"data":null,"echo":call["echo"]})).await;
    assert_eq!(mirai.reply("q").await["data"]["code"], 0);

    // NapCat forgot the id after a restart; botgate did not.
    let got =
        mirai.call("g", "messageFromId", json!({"target":30001,"messageId":-1_234_567})).await;
    assert_eq!(got["data"]["messageChain"][1]["text"], "from napcat", "{got}");

    // A failure keeps NapCat's words.
    mirai
        .send(json!({"syncId":"x","command":"recall","content":{"target":30001,"messageId":77}}))
        .await;
    let call = peer.recv_frame().await;
    assert_eq!(call["action"], "delete_msg");
    peer.send(json!({"status":"failed","retcode":200,"data":null,"message":"撤回失败: 超时",
                     "wording":"撤回失败: 超时","echo":call["echo"]}))
        .await;
    assert_eq!(mirai.reply("x").await["data"], json!({"code":500,"msg":"撤回失败: 超时"}));

    // The socket drops: mirai clients hear the bot went offline, commands fail at once.
    let port = napcat.kill();
    drop(peer);
    let offline = mirai.recv_frame().await;
    assert_eq!(offline["data"]["type"], "BotOfflineEventDropped", "{offline}");
    let failed = mirai
        .call(
            "f",
            "sendGroupMessage",
            json!({"target":30001,"messageChain":[{"type":"Plain","text":"while away"}]}),
        )
        .await;
    assert_eq!(failed["code"], 500);
    assert!(failed["msg"].as_str().unwrap_or("").contains("offline"), "{failed}");

    // NapCat is back: the link logs in again and mirai clients hear of it.
    let mut napcat = FakeServer::napcat(port, 10001).await;
    let mut peer = napcat.accept().await;
    napcat_login(&mut peer).await;
    let back = mirai.recv_frame().await;
    assert_eq!(back["data"], json!({"type":"BotReloginEvent","qq":10001}));
    // A live message arrives while the history is being fetched: it waits for what was missed.
    peer.send(napcat_group_message(5, 20002, "after the restart")).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let mut missed_in_group = napcat_group_message(3, 20002, "missed in the group");
    missed_in_group["time"] = json!(now);
    let missed_in_private = json!({"self_id":10001,"user_id":20001,"time":now + 1,"message_id":4,
        "message_type":"private","sub_type":"friend","post_type":"message",
        "sender":{"user_id":20001,"nickname":"Alice"},"message":[{"type":"text","data":{"text":"missed in private"}}]});
    for _ in 0..2 {
        let call = peer.recv_frame().await;
        let messages = match call["action"].as_str() {
            Some("get_group_msg_history") => vec![
                napcat_group_message(-1_234_567, 20002, "from napcat"),
                missed_in_group.clone(),
            ],
            Some("get_friend_msg_history") => vec![missed_in_private.clone()],
            other => panic!("unexpected backfill call {other:?}"),
        };
        peer.send(
            json!({"status":"ok","retcode":0,"data":{"messages":messages},"echo":call["echo"]}),
        )
        .await;
    }
    let texts: Vec<String> =
        [mirai.recv_frame().await, mirai.recv_frame().await, mirai.recv_frame().await]
            .iter()
            .map(|f| f["data"]["messageChain"][1]["text"].as_str().unwrap_or("").to_owned())
            .collect();
    assert_eq!(texts, ["missed in the group", "missed in private", "after the restart"]);
}

#[actix_web::test]
async fn an_implementation_logged_in_as_another_account_stops_start_up() {
    let napcat = FakeServer::napcat(0, 99999).await;
    let world = format!(
        "bots:\n  - qq: 10001\n    source: onebot\n    onebot: {{ url: \"ws://127.0.0.1:{}/\" }}\n",
        napcat.addr.port()
    );
    let yaml = format!(
        "server: {{ host: 127.0.0.1, port: 0, data_dir: \"\" }}\n{world}\n{}",
        mirai_http_ws("")
    );
    let config = botgate::Config::from_yaml_str(&yaml).expect("config");
    let err = botgate::Gateway::start(config).await.err().expect("refused").to_string();
    assert!(err.contains("bots[0].qq") && err.contains("99999"), "{err}");
}

#[actix_web::test]
async fn an_implementation_that_logs_in_as_another_account_later_is_not_bound() {
    let mut napcat = FakeServer::napcat(0, 10001).await;
    let url = format!("ws://127.0.0.1:{}/", napcat.addr.port());
    let b = chain_downstream(&url, "").await;
    let mut peer = napcat.accept().await;
    let call = peer.recv_frame().await;
    assert_eq!(call["action"], "get_login_info");
    peer.send(json!({"status":"ok","retcode":0,"data":{"user_id":99999,"nickname":"other"},
                     "echo":call["echo"]}))
        .await;
    let call = peer.recv_frame().await;
    peer.send(json!({"status":"ok","retcode":0,"data":{"app_name":"x"},"echo":call["echo"]})).await;
    peer.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(healthz(&b).await["bots"][0]["online"], false);
}

#[actix_web::test]
async fn twenty_cuts_under_a_stream_of_events_lose_and_repeat_nothing() {
    let _ = env_logger::builder().is_test(true).try_init();
    let a = chain_upstream().await;
    let proxy = TcpProxy::start(a.addr_of(Mount::OneBotWs).expect("A's onebot ws")).await;
    let b = chain_downstream(&format!("ws://{}/", proxy.addr), "").await;
    wait_online(&b, true).await;
    let mirai = mirai_ws_client(&b).await;

    // What B's mirai client sees: message texts and link events, in order.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let reader = actix_web::rt::spawn(async move {
        let mut mirai = mirai;
        loop {
            let f = mirai.recv_frame().await;
            if seen_tx.send(f["data"].clone()).is_err() {
                return;
            }
        }
    });
    // A stream of group messages in A's world, while the link to A is cut 20 times.
    let producing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = std::sync::Arc::clone(&producing);
    let a_addr = a.server_addr;
    let producer = actix_web::rt::spawn(async move {
        let client = awc::Client::default();
        let mut sent = 0;
        while flag.load(std::sync::atomic::Ordering::SeqCst) {
            let body = group_message(30001, 20001, &format!("n{sent}"));
            let resp =
                client.post(format!("http://{a_addr}/sim/10001/inject")).send_json(&body).await;
            assert_eq!(resp.expect("inject").status().as_u16(), 200);
            sent += 1;
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        sent
    });
    for _ in 0..20 {
        wait_caught_up(&b).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        proxy.cut();
        wait_online(&b, false).await;
    }
    wait_online(&b, true).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    producing.store(false, std::sync::atomic::Ordering::SeqCst);
    let sent = producer.await.expect("producer");
    assert!(sent > 100, "only {sent} messages were produced");

    let (mut texts, mut offline, mut relogin) = (Vec::new(), 0, 0);
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    while texts.len() < sent {
        let Ok(Some(data)) = tokio::time::timeout_at(deadline, seen.recv()).await else {
            let got: std::collections::HashSet<&String> = texts.iter().collect();
            let missing: Vec<usize> =
                (0..sent).filter(|i| !got.contains(&format!("n{i}"))).collect();
            panic!(
                "{} of {sent} messages arrived; missing {:?}…",
                texts.len(),
                &missing[..missing.len().min(40)]
            );
        };
        match data["type"].as_str() {
            Some("GroupMessage") => {
                texts.push(data["messageChain"][1]["text"].as_str().expect("text").to_owned())
            }
            Some("BotOfflineEventDropped") => {
                assert_eq!(offline, relogin, "offline twice without a relogin");
                offline += 1;
            }
            Some("BotReloginEvent") => {
                relogin += 1;
                assert_eq!(offline, relogin, "relogin without an offline");
            }
            other => panic!("unexpected {other:?}: {data}"),
        }
    }
    let expected: Vec<String> = (0..sent).map(|i| format!("n{i}")).collect();
    if let Some(i) = (0..sent).find(|&i| texts[i] != expected[i]) {
        panic!("not every message once in order: at {i}: {:?}", &texts[i..(i + 20).min(sent)]);
    }
    assert_eq!((offline, relogin), (20, 20));
    reader.abort();
}

async fn dial_upstream(b: &botgate::Gateway, headers: &[(&str, &str)]) -> Result<WsPeer, u16> {
    use tokio_tungstenite::tungstenite::Error;
    match ws_client(b.server_addr, "/onebot/upstream", headers).await {
        Ok(peer) => Ok(peer),
        Err(Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected handshake failure: {e}"),
    }
}

#[actix_web::test]
async fn in_reverse_mode_the_implementation_dials_botgate_and_becomes_the_link() {
    let world = "bots:\n  - qq: 10001\n    source: onebot\n    onebot: { mode: reverse, access_token: tok }\n";
    let b = start_gateway(world, &mirai_http_ws("")).await;
    let napcat =
        [("X-Self-ID", "10001"), ("Authorization", "Bearer tok"), ("X-Client-Role", "Universal")];
    assert_eq!(
        dial_upstream(&b, &[("X-Self-ID", "999"), ("Authorization", "Bearer tok")]).await.err(),
        Some(403)
    );
    assert_eq!(dial_upstream(&b, &[("X-Self-ID", "10001")]).await.err(), Some(401));
    assert_eq!(
        dial_upstream(&b, &[("X-Self-ID", "10001"), ("Authorization", "Bearer no")]).await.err(),
        Some(403)
    );

    let mut peer = dial_upstream(&b, &napcat).await.expect("accepted");
    napcat_login(&mut peer).await;
    wait_online(&b, true).await;
    let mut mirai = mirai_ws_client(&b).await;
    peer.send(napcat_group_message(41, 20002, "dialled in")).await;
    assert_eq!(mirai.recv_frame().await["data"]["messageChain"][1]["text"], "dialled in");
    mirai
        .send(json!({"syncId":"s","command":"sendGroupMessage","content":{"target":30001,
                     "messageChain":[{"type":"Plain","text":"back"}]}}))
        .await;
    let call = peer.recv_frame().await;
    assert_eq!(call["action"], "send_group_msg");
    peer.send(json!({"status":"ok","retcode":0,"data":{"message_id":42},"echo":call["echo"]}))
        .await;
    assert_eq!(mirai.reply("s").await["data"]["messageId"], 42);

    // The implementation goes away and dials again: offline, then relogin.
    drop(peer);
    assert_eq!(mirai.recv_frame().await["data"]["type"], "BotOfflineEventDropped");
    let mut peer = dial_upstream(&b, &napcat).await.expect("accepted again");
    napcat_login(&mut peer).await;
    let back = mirai.recv_frame().await;
    assert_eq!(back["data"]["type"], "BotReloginEvent", "{back}");
}

#[actix_web::test]
async fn a_chain_in_reverse_mode_botgate_a_dials_botgate_b() {
    let world = "bots:\n  - qq: 10001\n    source: onebot\n    onebot: { mode: reverse, access_token: tok }\n";
    let b = start_gateway(world, &mirai_http_ws("")).await;
    let url = format!("ws://{}/onebot/upstream", b.server_addr);
    let a_onebot = format!(
        "onebot:\n  use_http: false\n  use_ws_reverse: true\n  ws_reverse_use_universal_client: true\n  \
         ws_reverse_url: {url}\n  ws_reverse_reconnect_interval: 100\n  access_token: tok\n  \
         post_message_format: array\n"
    );
    let a = start_gateway(WORLD, &format!("{}{a_onebot}", mirai_http_ws(""))).await;
    wait_online(&b, true).await;
    let mut mirai = mirai_ws_client(&b).await;
    inject(&a, 10001, group_message(30001, 20001, "from A, dialled")).await;
    let f = mirai.recv_frame().await;
    assert_eq!(f["data"]["messageChain"][1]["text"], "from A, dialled");
    assert_eq!(f["data"]["sender"]["memberName"], "AliceCard");
    let sent = mirai
        .call(
            "s",
            "sendGroupMessage",
            json!({"target":30001,"messageChain":[{"type":"Plain","text":"hi"}]}),
        )
        .await;
    assert_eq!(sent["code"], 0, "{sent}");
}

#[actix_web::test]
async fn onebot_clients_heartbeats_tell_whether_the_upstream_is_online() {
    let mut napcat = FakeServer::napcat(0, 10001).await;
    let world = format!(
        "bots:\n  - qq: 10001\n    source: onebot\n    onebot: {{ url: \"ws://127.0.0.1:{}/\", reconnect_interval: 100 }}\n",
        napcat.addr.port()
    );
    let onebot =
        "onebot:\n  use_http: false\n  use_ws: true\n  ws_host: 127.0.0.3\n  ws_port: 0\n  \
                  enable_heartbeat: true\n  heartbeat_interval: 100\n";
    let b = start_gateway(&world, &format!("{}{onebot}", mirai_http_ws(""))).await;
    let mut peer = napcat.accept().await;
    napcat_login(&mut peer).await;
    wait_online(&b, true).await;
    let mut client = onebot_client(&b).await;
    let online = |f: &Value| f["status"]["online"].as_bool();
    let mut beat = client.recv_frame().await;
    while beat["meta_event_type"] != "heartbeat" {
        beat = client.recv_frame().await;
    }
    assert_eq!(online(&beat), Some(true), "{beat}");
    napcat.kill();
    drop(peer);
    // The lifecycle disable, then heartbeats saying offline.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let f = client.recv_frame().await;
        if f["meta_event_type"] == "heartbeat" && online(&f) == Some(false) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no offline heartbeat");
    }
}

#[actix_web::test]
async fn a_left_out_qq_is_learned_from_the_implementation_at_start_up() {
    let a = chain_upstream().await;
    let url = format!("ws://{}/", a.addr_of(Mount::OneBotWs).expect("A's onebot ws"));
    let world = format!("bots:\n  - source: onebot\n    onebot: {{ url: \"{url}\" }}\n");
    let b = start_gateway(&world, &mirai_http_ws("")).await;
    assert_eq!(healthz(&b).await["bots"][0]["qq"], 10001);
    wait_online(&b, true).await;
    let mut mirai = mirai_ws_client(&b).await;
    inject(&a, 10001, group_message(30001, 20001, "learned")).await;
    assert_eq!(mirai.recv_frame().await["data"]["messageChain"][1]["text"], "learned");

    // Nobody to ask: start-up stops, naming the key.
    let nobody = format!("ws://127.0.0.1:{}/", free_port());
    let world = format!("bots:\n  - source: onebot\n    onebot: {{ url: \"{nobody}\" }}\n");
    let yaml = format!(
        "server: {{ host: 127.0.0.1, port: 0, data_dir: \"\" }}\n{world}\n{}",
        mirai_http_ws("")
    );
    let config = botgate::Config::from_yaml_str(&yaml).expect("valid: qq may be left out");
    let err = botgate::Gateway::start(config).await.err().expect("refused");
    assert!(err.to_string().contains("bots[0].qq"), "{err}");
}

#[actix_web::test]
async fn a_forward_sent_by_id_is_fetched_and_later_events_wait_for_it() {
    let (_napcat, b, mut peer) = napcat_online().await;
    let mut mirai = mirai_ws_client(&b).await;
    let mut onebot = onebot_client(&b).await;

    let mut by_id = napcat_group_message(61, 20002, "");
    by_id["message"] = json!([{"type":"forward","data":{"id":"F-61"}}]);
    peer.send(by_id.clone()).await;
    peer.send(napcat_group_message(62, 20002, "after the forward")).await;
    let call = peer.recv_frame().await;
    assert_eq!(call["action"], "get_forward_msg");
    assert_eq!(call["params"]["id"], "F-61");
    let node = json!({"user_id":20001,"time":9,"sender":{"user_id":20001,"nickname":"Alice"},
                      "message":[{"type":"text","data":{"text":"inside the bundle"}}]});
    peer.send(json!({"status":"ok","retcode":0,"data":{"messages":[node]},"echo":call["echo"]}))
        .await;

    let first = mirai.recv_frame().await;
    let forward = &first["data"]["messageChain"][1];
    assert_eq!(forward["type"], "Forward", "{first}");
    assert_eq!(forward["nodeList"][0]["messageChain"][0]["text"], "inside the bundle");
    assert_eq!(mirai.recv_frame().await["data"]["messageChain"][1]["text"], "after the forward");
    // OneBot clients get the implementation's own frame, id only.
    assert_eq!(next_event(&mut onebot).await, by_id);
}

#[actix_web::test]
async fn a_silent_implementation_is_redialled() {
    // The implementation stops answering anything (no pong, no FIN): after three silent ping
    // intervals (10 s each) the link is dropped and redialled.
    let (mut napcat, b, peer) = napcat_online().await;
    let mut mirai = mirai_ws_client(&b).await;
    let silent = peer; // kept open, never read again
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while healthz(&b).await["bots"][0]["online"] == true {
        assert!(tokio::time::Instant::now() < deadline, "the silent link was never dropped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dropped = mirai.recv_frame().await;
    assert_eq!(dropped["data"]["type"], "BotOfflineEventDropped", "{dropped}");
    let mut peer = napcat.accept().await;
    napcat_login(&mut peer).await;
    assert_eq!(mirai.recv_frame().await["data"]["type"], "BotReloginEvent");
    drop(silent);
}
