//! `source: qqbot`: a bot of the QQ official platform, against a fake platform written in
//! the tests (`fake_qq`) that behaves like the real one — tokens, `/gateway/bot`, a gateway
//! with resumes and faults, OpenAPI endpoints enforcing the passive-reply rules, signed
//! webhook pushes. mirai and OneBot clients on botgate receive its events and reply.

mod common;
mod fake_qq;

use std::sync::Arc;
use std::time::Duration;

use botgate::listeners::Mount;
use common::*;
use fake_qq::FakeQq;
use serde_json::{json, Value};

const BOT: i64 = 4_000_000_001;

/// botgate with one QQ official bot on `fake`, mirai (http + ws) and OneBot's forward ws.
async fn start(fake: &FakeQq, transport: &str, server: &str) -> botgate::Gateway {
    let world = format!(
        "bots:\n  - qq: {BOT}\n    source: qqbot\n    qqbot: {}\n",
        fake.bot_section(transport)
    );
    let onebot =
        "onebot:\n  use_http: false\n  use_ws: true\n  ws_host: 127.0.0.3\n  ws_port: 0\n  \
                  post_message_format: array\n";
    start_gateway_with(server, &world, &format!("{}{onebot}", mirai_http_ws(""))).await
}

async fn mirai_client(gw: &botgate::Gateway) -> WsPeer {
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws listener");
    let path = format!("/all?verifyKey=1234567890&qq={BOT}");
    let mut c = ws_client(addr, &path, &[]).await.expect("mirai ws");
    assert_eq!(c.recv_frame().await["data"]["code"], 0);
    c
}

/// The next frame that is not a heartbeat or reply.
async fn next_event(c: &mut WsPeer) -> Value {
    loop {
        let f = c.recv_frame().await;
        if f["meta_event_type"] != "heartbeat" && f.get("echo").is_none() {
            return f;
        }
    }
}

/// The next mirai event of a type in `types`.
async fn next_mirai(c: &mut WsPeer, types: &[&str]) -> Value {
    loop {
        let f = c.recv_frame().await;
        if types.iter().any(|t| f["data"]["type"] == *t) {
            return f["data"].clone();
        }
    }
}

async fn onebot_call(c: &mut WsPeer, action: &str, params: Value) -> Value {
    let echo = format!("e-{action}-{}", rand_suffix());
    c.send(json!({"action": action, "params": params, "echo": echo})).await;
    loop {
        let f = c.recv_frame().await;
        if f["echo"] == echo.as_str() {
            return f;
        }
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

async fn wait_bot_online(gw: &botgate::Gateway) {
    wait_online_where(gw, |b| b["online"] == true).await;
}

async fn wait_online_where(gw: &botgate::Gateway, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let h = healthz(gw).await;
        if f(&h["bots"][0]) {
            return h["bots"][0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "bot never got there: {h}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn group_at(id: &str, group: &str, member: &str, content: &str) -> Value {
    json!({"id": id, "content": content, "timestamp": fake_qq::now_rfc3339(),
           "group_openid": group, "group_id": group,
           "author": {"member_openid": member, "id": member}})
}

fn c2c(id: &str, user: &str, content: &str) -> Value {
    json!({"id": id, "content": content, "timestamp": fake_qq::now_rfc3339(),
           "author": {"user_openid": user, "id": user}})
}

#[actix_web::test]
async fn group_and_c2c_messages_reach_mirai_and_onebot_and_replies_are_passive() {
    let fake = FakeQq::start().await;
    let gw = start(&fake, "websocket", "").await;
    wait_bot_online(&gw).await;
    let identify = fake.greeting(1).await;
    assert_eq!(identify["op"], 2);
    assert_eq!(identify["d"]["token"], "QQBot tok-1");
    assert_eq!(identify["d"]["intents"], 1 | (1 << 30) | (1 << 12) | (1 << 25) | (1 << 26));
    assert_eq!(identify["d"]["shard"], json!([0, 1]));
    let mut mirai = mirai_client(&gw).await;
    let mut onebot = onebot_client(&gw).await;

    fake.dispatch("GROUP_AT_MESSAGE_CREATE", group_at("M-1", "G0A1", "U0B2", " hello <&> [x]"));
    let m = next_mirai(&mut mirai, &["GroupMessage"]).await;
    let group = m["sender"]["group"]["id"].as_i64().expect("group number");
    let member = m["sender"]["id"].as_i64().expect("member number");
    assert_eq!(m["messageChain"][1], json!({"type": "Plain", "text": "hello <&> [x]"}));
    let o = next_event(&mut onebot).await;
    assert_eq!((o["message_type"].clone(), o["group_id"].clone()), (json!("group"), json!(group)));
    assert_eq!(o["user_id"], member);
    assert_eq!(o["raw_message"], "hello <&amp;> &#91;x&#93;", "CQ-escaped");
    assert_eq!(o["message_id"], m["messageChain"][0]["id"]);

    // A mirai client and a OneBot client reply: two passive replies with distinct msg_seq.
    let r = mirai
        .call(
            "s1",
            "sendGroupMessage",
            json!({"target": group, "messageChain": [{"type": "Plain", "text": "from mirai"}]}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let r = onebot_call(
        &mut onebot,
        "send_group_msg",
        json!({"group_id": group, "message": "from onebot"}),
    )
    .await;
    assert_eq!(r["retcode"], 0, "{r}");
    let sent = fake.wait_requests("POST", "/v2/groups/G0A1/messages", 2).await;
    assert_eq!(
        sent[0].body,
        json!({"content": "from mirai", "msg_type": 0, "msg_seq": 1, "msg_id": "M-1"})
    );
    assert_eq!(sent[1].body["msg_seq"], 2);
    assert_eq!(sent[1].body["msg_id"], "M-1");
    assert_eq!(sent[0].headers["authorization"], "QQBot tok-1");
    assert_eq!(sent[0].headers["x-union-appid"], fake_qq::APP_ID);

    // C2C: a friend message, replied to from both protocols.
    fake.dispatch("C2C_MESSAGE_CREATE", c2c("M-2", "U9F", "hi bot"));
    let m = next_mirai(&mut mirai, &["FriendMessage"]).await;
    let friend = m["sender"]["id"].as_i64().expect("friend number");
    assert_eq!(m["messageChain"][1]["text"], "hi bot");
    let o = next_event(&mut onebot).await;
    assert_eq!(
        (o["message_type"].clone(), o["user_id"].clone()),
        (json!("private"), json!(friend))
    );
    let r = mirai
        .call(
            "s2",
            "sendFriendMessage",
            json!({"target": friend, "messageChain": [{"type": "Plain", "text": "back"}]}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let r = onebot_call(
        &mut onebot,
        "send_private_msg",
        json!({"user_id": friend, "message": "again"}),
    )
    .await;
    assert_eq!(r["retcode"], 0, "{r}");
    let sent = fake.wait_requests("POST", "/v2/users/U9F/messages", 2).await;
    assert_eq!(
        (sent[0].body["msg_id"].clone(), sent[0].body["msg_seq"].clone()),
        (json!("M-2"), json!(1))
    );
    assert_eq!(sent[1].body["msg_seq"], 2);

    // A sent message can be recalled by the id the client got.
    let message_id = r["data"]["message_id"].clone();
    let r = onebot_call(&mut onebot, "delete_msg", json!({"message_id": message_id})).await;
    assert_eq!(r["retcode"], 0, "{r}");
    let deleted = fake.wait_requests("DELETE", "/v2/users/U9F/messages/", 1).await;
    assert_eq!(deleted[0].path, "/v2/users/U9F/messages/SENT-4");
}

#[actix_web::test]
async fn what_the_platform_cannot_do_is_an_error_never_a_fake_success() {
    let fake = FakeQq::start().await;
    let gw = start(&fake, "websocket", "").await;
    wait_bot_online(&gw).await;
    let mut mirai = mirai_client(&gw).await;
    let mut onebot = onebot_client(&gw).await;
    fake.dispatch("GROUP_AT_MESSAGE_CREATE", group_at("M-1", "G1", "U1", "go"));
    let m = next_mirai(&mut mirai, &["GroupMessage"]).await;
    let group = m["sender"]["group"]["id"].as_i64().expect("group");
    let member = m["sender"]["id"].as_i64().expect("member");

    // Five replies to one message are allowed; the sixth has nothing left to reply to.
    for i in 1..=5 {
        let r = onebot_call(
            &mut onebot,
            "send_group_msg",
            json!({"group_id": group, "message": format!("r{i}")}),
        )
        .await;
        assert_eq!(r["retcode"], 0, "{r}");
    }
    let r = onebot_call(&mut onebot, "send_group_msg", json!({"group_id": group, "message": "r6"}))
        .await;
    assert_ne!(r["retcode"], 0, "{r}");
    assert!(r["wording"].as_str().unwrap_or("").contains("2025-04-21"), "{r}");
    assert_eq!(fake.requests("POST", "/v2/groups/G1/messages").len(), 5, "the sixth never left");

    // Member lists, kicks and mutes do not exist for QQ groups on the platform.
    let r = onebot_call(&mut onebot, "get_group_member_list", json!({"group_id": group})).await;
    assert_ne!(r["retcode"], 0);
    assert!(r["wording"].as_str().unwrap_or("").contains("lists no members"), "{r}");
    let r = mirai.call("k", "kick", json!({"target": group, "memberId": member})).await;
    assert_ne!(r["code"], 0, "{r}");
    let r = onebot_call(
        &mut onebot,
        "set_group_ban",
        json!({"group_id": group, "user_id": member, "duration": 60}),
    )
    .await;
    assert_ne!(r["retcode"], 0, "{r}");
    // A group the bot never heard of has no number.
    let r =
        onebot_call(&mut onebot, "send_group_msg", json!({"group_id": 123, "message": "x"})).await;
    assert_ne!(r["retcode"], 0, "{r}");

    // The platform's own refusal comes back with its reason.
    fake.dispatch("C2C_MESSAGE_CREATE", c2c("M-2", "U2", "hi"));
    let m = next_mirai(&mut mirai, &["FriendMessage"]).await;
    let friend = m["sender"]["id"].as_i64().expect("friend");
    fake.lock().seqs.insert(("M-2".to_owned(), 1));
    let r =
        onebot_call(&mut onebot, "send_private_msg", json!({"user_id": friend, "message": "dup"}))
            .await;
    assert_ne!(r["retcode"], 0, "{r}");
    assert!(r["wording"].as_str().unwrap_or("").contains("40054005"), "{r}");
}

#[actix_web::test]
async fn a_refused_token_is_replaced_and_the_call_retried_once() {
    let fake = FakeQq::start().await;
    fake.lock().expires_in = json!(7200);
    let gw = start(&fake, "websocket", "").await;
    wait_bot_online(&gw).await;
    let mut onebot = onebot_client(&gw).await;
    fake.dispatch("C2C_MESSAGE_CREATE", c2c("M-1", "U1", "hi"));
    let o = next_event(&mut onebot).await;
    assert_eq!(fake.lock().tokens_issued, 1, "one token serves the gateway and the API");
    fake.expire_tokens();
    let r = onebot_call(
        &mut onebot,
        "send_private_msg",
        json!({"user_id": o["user_id"], "message": "x"}),
    )
    .await;
    assert_eq!(r["retcode"], 0, "{r}");
    assert_eq!(fake.lock().tokens_issued, 2);
    let sent = fake.requests("POST", "/v2/users/U1/messages");
    assert_eq!(sent.len(), 2, "refused once, then retried");
    assert_eq!(sent[1].headers["authorization"], "QQBot tok-2");
}

#[actix_web::test]
async fn events_dispatched_while_the_socket_is_down_arrive_after_the_resume_once_each() {
    let fake = FakeQq::start().await;
    let gw = start(&fake, "websocket", "").await;
    wait_bot_online(&gw).await;
    let mut mirai = mirai_client(&gw).await;
    fake.dispatch("GROUP_AT_MESSAGE_CREATE", group_at("M-1", "G1", "U1", "one"));
    assert_eq!(next_mirai(&mut mirai, &["GroupMessage"]).await["messageChain"][1]["text"], "one");

    // The platform may replay from before the client's seq: what was delivered stays so.
    fake.lock().replay_overlap = 1;
    fake.abort();
    wait_online_where(&gw, |b| b["online"] == false).await;
    fake.dispatch("GROUP_AT_MESSAGE_CREATE", group_at("M-2", "G1", "U1", "two"));
    fake.dispatch("C2C_MESSAGE_CREATE", c2c("M-3", "U7", "three"));
    let resume = fake.greeting(2).await;
    assert_eq!(resume["op"], 6);
    assert_eq!(resume["d"]["session_id"], "sess-1");
    // READY was s 1 and "one" s 2: the session resumes after 2.
    assert_eq!(resume["d"]["seq"], 2);
    let relogin = next_mirai(
        &mut mirai,
        &["BotOfflineEventDropped", "BotReloginEvent", "GroupMessage", "FriendMessage"],
    )
    .await;
    assert_eq!(relogin["type"], "BotOfflineEventDropped");
    let mut texts = Vec::new();
    while texts.len() < 2 {
        let m = next_mirai(&mut mirai, &["GroupMessage", "FriendMessage"]).await;
        texts.push(m["messageChain"][1]["text"].clone());
    }
    assert_eq!(texts, vec![json!("two"), json!("three")]);

    // The same message through a second intent (@-messages and all messages) comes once.
    fake.dispatch("GROUP_AT_MESSAGE_CREATE", group_at("M-4", "G1", "U1", "four"));
    fake.dispatch("GROUP_MESSAGE_CREATE", group_at("M-4", "G1", "U1", "four"));
    assert_eq!(
        next_mirai(&mut mirai, &["GroupMessage", "FriendMessage"]).await["messageChain"][1]["text"],
        "four"
    );
    fake.dispatch("GROUP_AT_MESSAGE_CREATE", group_at("M-5", "G1", "U1", "five"));
    assert_eq!(
        next_mirai(&mut mirai, &["GroupMessage", "FriendMessage"]).await["messageChain"][1]["text"],
        "five",
        "the same message through a second intent was not delivered twice"
    );
    mirai.expect_silence(Duration::from_millis(200)).await;
}

/// A scripted fault of the gateway.
enum Fault {
    Reconnect,
    InvalidSession,
    Close(u16),
    SilentAcks,
}

#[actix_web::test]
async fn op_codes_and_close_codes_are_obeyed() {
    let fake = FakeQq::start().await;
    fake.lock().heartbeat_ms = 200;
    let gw = start(&fake, "websocket", "").await;
    wait_bot_online(&gw).await;
    assert_eq!(fake.greeting(1).await["op"], 2);
    // Heartbeats carry the last s (READY was 1).
    let beat = fake.wait_for(|st| st.heartbeats.first().cloned(), "a heartbeat").await;
    assert_eq!(beat, json!(1));

    let steps = [
        ("op 7 → resume", Fault::Reconnect, 6),
        ("op 9 → identify", Fault::InvalidSession, 2),
        ("4009 → resume", Fault::Close(4009), 6),
        ("4006 → identify", Fault::Close(4006), 2),
        ("4900 → identify", Fault::Close(4900), 2),
        ("silent acks → resume", Fault::SilentAcks, 6),
    ];
    let mut n = 1;
    for (what, fault, op) in steps {
        fake.wait_live().await;
        match fault {
            Fault::Reconnect => fake.send_raw(json!({"op": 7})),
            Fault::InvalidSession => fake.send_raw(json!({"op": 9, "d": false})),
            Fault::Close(code) => fake.close(code),
            Fault::SilentAcks => fake.lock().silent_acks = true,
        }
        n += 1;
        let g = fake.greeting(n).await;
        assert_eq!(g["op"], op, "{what}: {g}");
        fake.lock().silent_acks = false;
    }

    // 4004: the token is refused; a new one is fetched and the session identifies afresh.
    fake.wait_live().await;
    let before = fake.lock().tokens_issued;
    fake.close(4004);
    n += 1;
    let g = fake.greeting(n).await;
    assert_eq!(g["op"], 2);
    assert_eq!(g["d"]["token"], format!("QQBot tok-{}", before + 1));

    // 4008: rate-limited. The session waits before it resumes.
    fake.wait_live().await;
    let limited = std::time::Instant::now();
    fake.close(4008);
    n += 1;
    assert_eq!(fake.greeting(n).await["op"], 6);
    assert!(limited.elapsed() >= Duration::from_secs(4), "{:?}", limited.elapsed());

    // 4914: delisted. The bot stops with the reason; no redial loop.
    fake.wait_live().await;
    fake.close(4914);
    let bot = wait_online_where(&gw, |b| b["error"].is_string()).await;
    assert!(bot["error"].as_str().unwrap_or("").contains("4914"), "{bot}");
    let connections = fake.lock().connections;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.lock().connections, connections, "a stopped bot is not redialled");
}

#[actix_web::test]
async fn an_exhausted_session_start_limit_is_waited_out() {
    let fake = FakeQq::start().await;
    fake.lock().sessions_remaining = 0;
    let gw = start(&fake, "websocket", "").await;
    fake.wait_requests("GET", "/gateway/bot", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.lock().connections, 0, "no session started past the limit");
    fake.lock().sessions_remaining = 5;
    wait_bot_online(&gw).await;
    assert_eq!(fake.requests("GET", "/gateway/bot").len(), 2, "asked again after reset_after");
}

#[actix_web::test]
async fn guild_channels_are_groups_for_mirai_and_guild_messages_for_onebot() {
    let fake = FakeQq::start().await;
    let gw = start(&fake, "websocket", "").await;
    wait_bot_online(&gw).await;
    let mut mirai = mirai_client(&gw).await;
    let mut onebot = onebot_client(&gw).await;
    let d = json!({"id": "GM-1", "channel_id": "55501", "guild_id": "77701",
        "content": format!("<@!{}> ping", fake_qq::BOT_USER), "timestamp": "2026-12-01T12:00:00+08:00",
        "author": {"id": "8801", "username": "alice", "bot": false}, "member": {"nick": "Al"}});
    fake.dispatch("AT_MESSAGE_CREATE", d.clone());
    // A private bot also gets every channel message: the same message once only.
    fake.dispatch("MESSAGE_CREATE", d);
    let m = next_mirai(&mut mirai, &["GroupMessage"]).await;
    assert_eq!(m["messageChain"][1]["text"], "ping", "the bot's leading mention is stripped");
    assert_eq!(m["sender"]["memberName"], "Al");
    let channel = m["sender"]["group"]["id"].as_i64().expect("channel number");
    let o = next_event(&mut onebot).await;
    assert_eq!(o["message_type"], "guild");
    assert_eq!(
        (o["guild_id"].clone(), o["channel_id"].clone(), o["user_id"].clone()),
        (json!("77701"), json!("55501"), json!("8801"))
    );
    mirai.expect_silence(Duration::from_millis(200)).await;

    let r = mirai
        .call(
            "g",
            "sendGroupMessage",
            json!({"target": channel, "messageChain": [{"type": "Plain", "text": "pong"}]}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let sent = fake.wait_requests("POST", "/channels/55501/messages", 1).await;
    assert_eq!(sent[0].body, json!({"content": "pong", "msg_id": "GM-1"}));
    // A OneBot client replies as go-cqhttp's guild API has it, string ids and all.
    let r = onebot_call(
        &mut onebot,
        "send_guild_channel_msg",
        json!({"guild_id": "77701", "channel_id": "55501", "message": "pong too"}),
    )
    .await;
    assert_eq!(r["retcode"], 0, "{r}");
    assert!(r["data"]["message_id"].is_string(), "{r}");
    let sent = fake.wait_requests("POST", "/channels/55501/messages", 2).await;
    assert_eq!(sent[1].body, json!({"content": "pong too", "msg_id": "GM-1"}));
    // A recalled channel message is a group recall for mirai and OneBot.
    fake.dispatch(
        "PUBLIC_MESSAGE_DELETE",
        json!({"message": {"id": "GM-1", "channel_id": "55501",
        "guild_id": "77701", "author": {"id": "8801"}}, "op_user": {"id": "8801"}}),
    );
    let recall = next_mirai(&mut mirai, &["GroupRecallEvent"]).await;
    assert_eq!(
        (recall["messageId"].clone(), recall["group"]["id"].clone()),
        (m["messageChain"][0]["id"].clone(), json!(channel))
    );
    let o = next_event(&mut onebot).await;
    assert_eq!(
        (o["notice_type"].clone(), o["group_id"].clone()),
        (json!("group_recall"), json!(channel))
    );

    // An interaction is acknowledged so the user's button stops spinning.
    fake.dispatch(
        "INTERACTION_CREATE",
        json!({"id": "INT-1", "type": 11, "chat_type": 2,
        "user_openid": "U5", "data": {"type": 11, "resolved": {"button_id": "b"}}}),
    );
    let ack = fake.wait_requests("PUT", "/interactions/INT-1", 1).await;
    assert_eq!(ack[0].body, json!({"code": 0}));
}

#[actix_web::test]
async fn ids_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = format!("data_dir: \"{}\", ", dir.path().display());
    let fake = FakeQq::start().await;
    let (group, member, message_id) = {
        let gw = start(&fake, "websocket", &server).await;
        wait_bot_online(&gw).await;
        let mut mirai = mirai_client(&gw).await;
        fake.dispatch("GROUP_AT_MESSAGE_CREATE", group_at("M-1", "GKEEP", "UKEEP", "before"));
        let m = next_mirai(&mut mirai, &["GroupMessage"]).await;
        fake.dispatch("GROUP_AT_MESSAGE_CREATE", group_at("M-X", "GOTHER", "UKEEP", "other"));
        next_mirai(&mut mirai, &["GroupMessage"]).await;
        let ids = (
            m["sender"]["group"]["id"].clone(),
            m["sender"]["id"].clone(),
            m["messageChain"][0]["id"].clone(),
        );
        wait_online_where(&gw, |b| b["storedMessages"] == 2).await;
        mirai.close().await;
        gw.stop().await;
        ids
    };
    let gw = start(&fake, "websocket", &server).await;
    wait_bot_online(&gw).await;
    let mut mirai = mirai_client(&gw).await;
    fake.dispatch("GROUP_AT_MESSAGE_CREATE", group_at("M-2", "GKEEP", "UKEEP", "after"));
    let m = next_mirai(&mut mirai, &["GroupMessage"]).await;
    assert_eq!(m["sender"]["group"]["id"], group, "same group number after a restart");
    assert_eq!(m["sender"]["id"], member, "same member number after a restart");
    assert_ne!(m["messageChain"][0]["id"], message_id, "a new message gets a new number");
    // The message from before the restart still resolves and still quotes as a passive reply.
    let r = mirai
        .call(
            "q",
            "sendGroupMessage",
            json!({"target": group, "quote": message_id,
              "messageChain": [{"type": "Plain", "text": "quoting"}]}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let sent = fake.wait_requests("POST", "/v2/groups/GKEEP/messages", 1).await;
    assert_eq!(sent[0].body["msg_id"], "M-1");
}

#[actix_web::test]
async fn webhook_pushes_are_verified_validated_and_deduplicated() {
    let fake = FakeQq::start().await;
    let gw = start(&fake, "webhook", "").await;
    wait_bot_online(&gw).await;
    let url = format!("http://{}/qqbot/webhook", gw.addr_of(Mount::Botgate).expect("server"));
    let mut mirai = mirai_client(&gw).await;
    let now = || botgate_actors::bot::unix_now().to_string();

    // A push for an app botgate does not hold is refused.
    let r = awc::Client::default()
        .post(&url)
        .insert_header(("X-Bot-Appid", "999"))
        .send_body("{}")
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);

    // op 13: answered with the signature of event_ts + plain_token.
    let validation =
        json!({"op": 13, "d": {"plain_token": "Arq0D5A61EgUu4OxUvOp", "event_ts": "1725442341"}})
            .to_string();
    let (status, answer) = fake_qq::push(&url, fake_qq::SECRET, &now(), &validation).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["plain_token"], "Arq0D5A61EgUu4OxUvOp");
    let sig = answer["signature"].as_str().expect("signature");
    assert!(fake_qq::verify(fake_qq::SECRET, b"1725442341Arq0D5A61EgUu4OxUvOp", sig));
    // An op 13 signed with another key gets nothing signed: no signing oracle.
    let (status, answer) = fake_qq::push(&url, "not-the-secret", &now(), &validation).await;
    assert_eq!(status, 401);
    assert!(answer.get("signature").is_none());

    let body = json!({"op": 0, "s": 1, "t": "GROUP_AT_MESSAGE_CREATE", "id": "EVW-1",
                      "d": group_at("W-1", "GW", "UW", "pushed")})
    .to_string();
    // Mis-signed, stale and tampered pushes are refused.
    assert_eq!(fake_qq::push(&url, "not-the-secret", &now(), &body).await.0, 401);
    assert_eq!(fake_qq::push(&url, fake_qq::SECRET, "1725442341", &body).await.0, 401, "stale");
    let stale_sig = fake_qq::sign(fake_qq::SECRET, &now(), &body);
    let r = awc::Client::default()
        .post(&url)
        .insert_header(("X-Bot-Appid", fake_qq::APP_ID))
        .insert_header(("X-Signature-Timestamp", now()))
        .insert_header(("X-Signature-Ed25519", stale_sig))
        .send_body(body.replace("pushed", "forged"))
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401, "a body that is not the signed one");

    fake.note_received("W-1", "EVW-1");
    let (status, answer) = fake_qq::push(&url, fake_qq::SECRET, &now(), &body).await;
    assert_eq!((status, answer), (200, json!({"op": 12, "d": 0})));
    let m = next_mirai(&mut mirai, &["GroupMessage"]).await;
    assert_eq!(m["messageChain"][1]["text"], "pushed");
    // The platform retries a push: acknowledged again, delivered once.
    let (status, answer) = fake_qq::push(&url, fake_qq::SECRET, &now(), &body).await;
    assert_eq!((status, answer), (200, json!({"op": 12, "d": 0})));
    mirai.expect_silence(Duration::from_millis(300)).await;

    // The reply is passive, through the same OpenAPI.
    let group = m["sender"]["group"]["id"].clone();
    let r = mirai
        .call(
            "w",
            "sendGroupMessage",
            json!({"target": group, "messageChain": [{"type": "Plain", "text": "ok"}]}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let sent = fake.wait_requests("POST", "/v2/groups/GW/messages", 1).await;
    assert_eq!(sent[0].body["msg_id"], "W-1");
    assert_eq!(fake.lock().connections, 0, "a webhook bot opens no gateway session");
}

#[actix_web::test]
async fn robot_and_friend_events_direct_messages_and_media() {
    let fake = FakeQq::start().await;
    let gw = start(&fake, "websocket", "").await;
    wait_bot_online(&gw).await;
    let mut mirai = mirai_client(&gw).await;
    let mut onebot = onebot_client(&gw).await;

    // Added to a group: an event mirai and OneBot know, and a reply to it names the event.
    let added = fake.dispatch(
        "GROUP_ADD_ROBOT",
        json!({"timestamp": 1_700_000_000,
        "group_openid": "GNEW", "op_member_openid": "UOP"}),
    );
    let join = next_mirai(&mut mirai, &["BotJoinGroupEvent"]).await;
    let group = join["group"]["id"].clone();
    let o = next_event(&mut onebot).await;
    assert_eq!(
        (o["notice_type"].clone(), o["group_id"].clone(), o["sub_type"].clone()),
        (json!("group_increase"), group.clone(), json!("invite"))
    );
    let r = mirai
        .call(
            "a",
            "sendGroupMessage",
            json!({"target": group, "messageChain": [
        {"type": "Plain", "text": "thanks "},
        {"type": "Image", "url": "https://example.com/hello.png"}]}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let upload = fake.wait_requests("POST", "/v2/groups/GNEW/files", 1).await;
    assert_eq!(
        upload[0].body,
        json!({"file_type": 1, "srv_send_msg": false, "url": "https://example.com/hello.png"})
    );
    let sent = fake.wait_requests("POST", "/v2/groups/GNEW/messages", 1).await;
    assert_eq!(sent[0].body["msg_type"], 7);
    assert_eq!(sent[0].body["content"], "thanks ");
    assert!(
        sent[0].body["media"]["file_info"].as_str().is_some_and(|f| f.starts_with("FI-")),
        "{}",
        sent[0].body
    );
    assert_eq!(sent[0].body["event_id"], added.as_str());

    // A friend added: the same.
    let befriended =
        fake.dispatch("FRIEND_ADD", json!({"timestamp": 1_700_000_001, "openid": "UFR"}));
    let f = next_mirai(&mut mirai, &["FriendAddEvent"]).await;
    let o = next_event(&mut onebot).await;
    assert_eq!(
        (o["notice_type"].clone(), o["user_id"].clone()),
        (json!("friend_add"), f["friend"]["id"].clone())
    );
    let r = onebot_call(
        &mut onebot,
        "send_private_msg",
        json!({"user_id": f["friend"]["id"], "message": "hello friend"}),
    )
    .await;
    assert_eq!(r["retcode"], 0, "{r}");
    let sent = fake.wait_requests("POST", "/v2/users/UFR/messages", 1).await;
    assert_eq!(sent[0].body["event_id"], befriended.as_str());

    // A guild direct message is a friend message, answered in its DM session.
    fake.dispatch(
        "DIRECT_MESSAGE_CREATE",
        json!({"id": "DM-1", "guild_id": "DMGUILD", "channel_id": "9",
        "src_guild_id": "77701", "content": "psst", "timestamp": fake_qq::now_rfc3339(),
        "author": {"id": "8802", "username": "bob"}, "direct_message": true}),
    );
    let m = next_mirai(&mut mirai, &["FriendMessage"]).await;
    assert_eq!(
        (m["sender"]["nickname"].clone(), m["messageChain"][1]["text"].clone()),
        (json!("bob"), json!("psst"))
    );
    let r = mirai
        .call(
            "d",
            "sendFriendMessage",
            json!({"target": m["sender"]["id"],
        "messageChain": [{"type": "Plain", "text": "hush"}]}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let sent = fake.wait_requests("POST", "/dms/DMGUILD/messages", 1).await;
    assert_eq!(sent[0].body, json!({"content": "hush", "msg_id": "DM-1"}));
}

#[actix_web::test]
async fn tokens_are_fetched_once_for_many_callers_and_replaced_before_they_expire() {
    let fake = FakeQq::start().await;
    // 51 s: inside the last minute after one second, when a new token is issued.
    fake.lock().expires_in = json!("51");
    let gw = start(&fake, "websocket", "").await;
    wait_bot_online(&gw).await;
    let mut mirai = mirai_client(&gw).await;
    fake.dispatch("GROUP_AT_MESSAGE_CREATE", group_at("M-1", "G1", "U1", "go"));
    let group = next_mirai(&mut mirai, &["GroupMessage"]).await["sender"]["group"]["id"].clone();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = mirai
        .call(
            "t",
            "sendGroupMessage",
            json!({"target": group, "messageChain": [{"type": "Plain", "text": "1"}]}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(fake.lock().tokens_issued, 2, "replaced before it expired");
    assert_eq!(
        fake.requests("POST", "/v2/groups/G1/messages").len(),
        1,
        "no refused call on the way"
    );

    // Four sends at once, all refused: one new token serves them all.
    fake.lock().expires_in = json!(7200);
    fake.expire_tokens();
    for i in 0..4 {
        mirai.send(json!({"syncId": format!("c{i}"), "command": "sendGroupMessage",
            "content": {"target": group, "messageChain": [{"type": "Plain", "text": format!("c{i}")}]}})).await;
    }
    for i in 0..4 {
        let r = mirai.reply(&format!("c{i}")).await;
        assert_eq!(r["data"]["code"], 0, "{r}");
    }
    assert_eq!(fake.lock().tokens_issued, 3, "one fetch in flight for every caller");
}

#[actix_web::test]
async fn an_acknowledged_webhook_push_left_unprocessed_is_delivered_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = format!("data_dir: \"{}\", ", dir.path().display());
    let fake = FakeQq::start().await;
    let ep = Arc::new(Endpoint::default());
    let hook = start_endpoint(ep.clone());
    let world = format!(
        "bots:\n  - qq: {BOT}\n    source: qqbot\n    qqbot: {}\n",
        fake.bot_section("webhook")
    );
    let onebot = format!(
        "mirai:\n  adapters: []\n  enableVerify: false\nonebot:\n  use_http: false\n  \
         use_ws: false\n  enable_heartbeat: false\n  post_message_format: array\n  \
         post_url: http://{hook}/hook\n"
    );
    {
        let gw = start_gateway_with(&server, &world, &onebot).await;
        wait_bot_online(&gw).await;
        gw.stop().await;
    }
    // The process died after acknowledging this push and journaling it, before the bot
    // processed it: the journal row is all that is left of it.
    let push = json!({"op": 0, "s": 1, "t": "GROUP_AT_MESSAGE_CREATE", "id": "EVJ-1",
                      "d": group_at("J-1", "GJ", "UJ", "journaled")});
    let db = rusqlite::Connection::open(dir.path().join("botgate.sqlite")).expect("open the store");
    db.execute(
        "INSERT INTO outbound (dest, bot, body) VALUES (?1, ?2, ?3)",
        rusqlite::params![
            format!("qqbot-webhook {}", fake_qq::APP_ID),
            BOT,
            push.to_string().into_bytes()
        ],
    )
    .expect("journal a push");
    drop(db);
    let messages = |ep: &Endpoint| -> Vec<Value> {
        let all = ep.deliveries().into_iter().map(|(_, _, v)| v);
        all.filter(|v| v["post_type"] == "message")
            .map(|v| v["message"][0]["data"]["text"].clone())
            .collect()
    };
    let wait_messages = |n: usize| {
        let ep = ep.clone();
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            while messages(&ep).len() < n {
                assert!(tokio::time::Instant::now() < deadline, "only {:?}", messages(&ep));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let gw = start_gateway_with(&server, &world, &onebot).await;
    wait_messages(1).await;
    assert_eq!(messages(&ep), vec![json!("journaled")]);
    // Processed once: the journal is empty, a later push is acknowledged and delivered.
    let url = format!("http://{}/qqbot/webhook", gw.addr_of(Mount::Botgate).expect("server"));
    let now = botgate_actors::bot::unix_now().to_string();
    let next = json!({"op": 0, "s": 2, "t": "GROUP_AT_MESSAGE_CREATE", "id": "EVJ-2",
                      "d": group_at("J-2", "GJ", "UJ", "live")});
    let (status, answer) = fake_qq::push(&url, fake_qq::SECRET, &now, &next.to_string()).await;
    assert_eq!((status, answer), (200, json!({"op": 12, "d": 0})));
    wait_messages(2).await;
    assert_eq!(messages(&ep), vec![json!("journaled"), json!("live")]);
    let db = rusqlite::Connection::open(dir.path().join("botgate.sqlite")).expect("open the store");
    let left: i64 = db
        .query_row("SELECT count(*) FROM outbound WHERE dest LIKE 'qqbot-webhook %'", [], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(left, 0, "every journaled push was processed and deleted");
}
