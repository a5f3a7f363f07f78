//! OneBot v11: the HTTP API and the forward WebSocket (`/`, `/api`, `/event`), with exact
//! envelopes and events, and one bot serving OneBot and mirai clients at once.

mod common;

use std::time::Duration;

use botgate::listeners::Mount;
use common::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// OneBot's listeners on loopback addresses of their own (the HTTP API needs its own port).
fn onebot_config(extra: &str) -> String {
    format!(
        "{}onebot:\n  host: 127.0.0.2\n  port: 0\n  use_ws: true\n  ws_host: 127.0.0.3\n  ws_port: 0\n  access_token: tok\n  post_message_format: array\n{extra}",
        mirai_http_ws("")
    )
}

async fn gateway(extra: &str) -> botgate::Gateway {
    start_gateway(WORLD, &onebot_config(extra)).await
}

async fn api(gw: &botgate::Gateway, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("http://{}{path}", gw.addr_of(Mount::OneBotHttp).expect("onebot http"));
    let client = awc::Client::default();
    let mut resp = match body {
        Some(b) => {
            client.post(url).insert_header(("Authorization", "Bearer tok")).send_json(&b).await
        }
        None => client.get(url).insert_header(("Authorization", "Bearer tok")).send().await,
    }
    .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn ok(data: Value) -> Value {
    json!({"status":"ok","retcode":0,"data":data,"message":"","wording":""})
}

#[actix_web::test]
async fn the_http_api_answers_in_envelopes_with_http_200() {
    let gw = gateway("").await;
    let (status, sent) = api(
        &gw,
        "/send_group_msg",
        Some(json!({"group_id":"30001","message":"hi [CQ:at,qq=20001]"})),
    )
    .await;
    assert_eq!(status, 200);
    let id = sent["data"]["message_id"].as_i64().expect("message_id");
    assert_eq!(sent, ok(json!({"message_id":id})));
    let (_, got) = api(&gw, &format!("/get_msg?message_id={id}"), None).await;
    let time = got["data"]["time"].clone();
    assert_eq!(
        got,
        ok(
            json!({"time":time,"message_type":"group","message_id":id,"real_id":id,"sender":{"user_id":10001,"nickname":""},
                  "message":[{"type":"text","data":{"text":"hi "}},{"type":"at","data":{"qq":"20001"}}],"group_id":30001})
        )
    );
    assert_eq!(
        api(&gw, "/get_login_info/", None).await.1,
        ok(json!({"user_id":10001,"nickname":"botgate"}))
    );
    assert_eq!(
        api(&gw, "/get_group_member_info?group_id=30001&user_id=20001", None).await.1["data"],
        json!({"group_id":30001,"user_id":20001,"nickname":"Alice","card":"AliceCard","sex":"unknown","age":0,"area":"",
               "join_time":1600000000,"last_sent_time":1600000000,"level":"1","role":"admin","unfriendly":false,
               "title":"元老","title_expire_time":0,"card_changeable":false,"shut_up_timestamp":0})
    );
    assert_eq!(
        api(&gw, "/get_group_info?group_id=30001", None).await.1["data"],
        json!({"group_id":30001,"group_name":"Test Group","member_count":3,"max_member_count":500})
    );
    assert_eq!(
        api(&gw, "/get_friend_list", None).await.1["data"][0],
        json!({"user_id":20001,"nickname":"Alice","remark":"小A"})
    );
    assert_eq!(
        api(&gw, "/send_msg_async", Some(json!({"user_id":20001,"message":"x"}))).await.1
            ["retcode"],
        0
    );
    assert_eq!(api(&gw, "/get_version_info", None).await.1["data"]["protocol_version"], "v11");

    // Failures and unknown actions are HTTP 200 with a failed envelope.
    let (status, unknown) = api(&gw, "/no_such_action", None).await;
    assert_eq!(
        (status, unknown["status"].clone(), unknown["retcode"].clone()),
        (200, json!("failed"), json!(404))
    );
    assert_eq!(unknown["data"], Value::Null);
    assert_eq!(
        api(&gw, "/send_group_msg", Some(json!({"group_id":"abc","message":"x"}))).await.1
            ["retcode"],
        100
    );
    assert_eq!(
        api(&gw, "/set_group_ban", Some(json!({"group_id":30002,"user_id":20004,"duration":60})))
            .await
            .1["retcode"],
        102
    );
    assert_eq!(api(&gw, "/get_group_info?group_id=9", None).await.1["retcode"], 100);
}

#[actix_web::test]
async fn http_auth_content_types_and_bodies() {
    let gw = gateway("").await;
    let base = format!("http://{}", gw.addr_of(Mount::OneBotHttp).expect("onebot http"));
    let c = awc::Client::default();
    let status = |r: awc::ClientResponse<_>| r.status().as_u16();
    assert_eq!(status(c.get(format!("{base}/get_status")).send().await.expect("r")), 401);
    assert_eq!(
        status(
            c.get(format!("{base}/get_status"))
                .insert_header(("Authorization", "Bearer bad"))
                .send()
                .await
                .expect("r")
        ),
        403
    );
    assert_eq!(
        status(
            c.get(format!("{base}/get_status"))
                .insert_header(("Authorization", "Token tok"))
                .send()
                .await
                .expect("r")
        ),
        200
    );
    assert_eq!(
        status(c.get(format!("{base}/get_status?access_token=tok")).send().await.expect("r")),
        200
    );
    let auth = ("Authorization", "Bearer tok");
    let r = c
        .post(format!("{base}/get_status"))
        .insert_header(auth)
        .insert_header(("Content-Type", "text/plain"))
        .send_body("x")
        .await
        .expect("r");
    assert_eq!(status(r), 406);
    let r = c
        .post(format!("{base}/get_status"))
        .insert_header(auth)
        .insert_header(("Content-Type", "application/json"))
        .send_body("{oops")
        .await
        .expect("r");
    assert_eq!(status(r), 400);
    let mut r = c
        .post(format!("{base}/send_private_msg"))
        .insert_header(auth)
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .send_body("user_id=20001&message=%5BCQ%3Aface%2Cid%3D14%5D")
        .await
        .expect("r");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["retcode"], 0, "{v}");
}

async fn onebot_ws(gw: &botgate::Gateway, path: &str) -> WsPeer {
    ws_client(
        gw.addr_of(Mount::OneBotWs).expect("onebot ws"),
        path,
        &[("Authorization", "Bearer tok")],
    )
    .await
    .expect("ws")
}

#[actix_web::test]
async fn the_universal_socket_sends_lifecycle_first_then_events_and_answers_with_echo() {
    let gw = gateway("").await;
    let mut c = onebot_ws(&gw, "/").await;
    let first = c.recv_frame().await;
    let t = first["time"].clone();
    assert_eq!(
        first,
        json!({"time":t,"self_id":10001,"post_type":"meta_event","meta_event_type":"lifecycle","sub_type":"connect"})
    );

    let id =
        inject(&gw, 10001, group_message(30001, 20003, "hello onebot")).await["messageId"].clone();
    let e = c.recv_frame().await;
    let t = e["time"].clone();
    assert_eq!(
        e,
        json!({"time":t,"self_id":10001,"post_type":"message","message_type":"group","sub_type":"normal","group_id":30001,
               "anonymous":null,"message_id":id,"user_id":20003,"message":[{"type":"text","data":{"text":"hello onebot"}}],
               "raw_message":"hello onebot","font":0,
               "sender":{"user_id":20003,"nickname":"Carol","card":"","sex":"unknown","age":0,"area":"","level":"","role":"member","title":""}})
    );
    // echo comes back untouched, whatever its type.
    for echo in [json!("17"), json!({"seq": 3}), json!(5)] {
        c.send(json!({"action":"get_login_info","params":{},"echo":echo})).await;
        let r = c.recv_frame().await;
        assert_eq!(
            r,
            json!({"status":"ok","retcode":0,"data":{"user_id":10001,"nickname":"botgate"},"message":"","wording":"","echo":echo})
        );
    }
    c.send_raw(Message::text("{oops")).await;
    let bad = c.recv_frame().await;
    assert_eq!((bad["status"].clone(), bad["retcode"].clone()), (json!("failed"), json!(1400)));
    c.send(json!({"action":"no_such","echo":"9"})).await;
    let unknown = c.recv_frame().await;
    assert_eq!((unknown["retcode"].clone(), unknown["echo"].clone()), (json!(1404), json!("9")));
    c.ping().await;
}

#[actix_web::test]
async fn api_and_event_sockets_carry_only_their_half() {
    let gw = gateway("").await;
    let mut api_only = onebot_ws(&gw, "/api").await;
    let mut events = onebot_ws(&gw, "/event/").await;
    assert_eq!(events.recv_frame().await["sub_type"], "connect");
    api_only.send(json!({"action":"get_status","echo":1})).await;
    assert_eq!(api_only.recv_frame().await["data"], json!({"online":true,"good":true}));
    inject(&gw, 10001, json!({"type":"BotOnlineEvent"})).await;
    assert_eq!(events.recv_frame().await["meta_event_type"], "lifecycle");
    api_only.expect_silence(Duration::from_millis(200)).await;
    events.send(json!({"action":"get_status","echo":1})).await;
    events.expect_silence(Duration::from_millis(200)).await;

    let refused = ws_client(gw.addr_of(Mount::OneBotWs).expect("ws"), "/", &[]).await;
    assert!(refused.is_err(), "no token: the upgrade is refused");
    let query =
        ws_client(gw.addr_of(Mount::OneBotWs).expect("ws"), "/?access_token=tok", &[]).await;
    assert!(query.is_ok(), "cq-websocket sends the token in the query");
}

#[actix_web::test]
async fn heartbeats_when_enabled() {
    let gw = gateway("  enable_heartbeat: true\n  heartbeat_interval: 100\n").await;
    let mut c = onebot_ws(&gw, "/event").await;
    assert_eq!(c.recv_frame().await["sub_type"], "connect");
    let beat = c.recv_frame().await;
    let t = beat["time"].clone();
    assert_eq!(
        beat,
        json!({"time":t,"self_id":10001,"post_type":"meta_event","meta_event_type":"heartbeat","status":{"online":true,"good":true},"interval":100})
    );
}

#[actix_web::test]
async fn one_bot_serves_both_protocols_with_consistent_ids() {
    let config =
        onebot_config("").replace("post_message_format: array", "post_message_format: string");
    let gw = start_gateway(WORLD, &config).await;
    let mut ob = onebot_ws(&gw, "/").await;
    ob.recv_frame().await;
    let mut mirai = mirai_ws_client(&gw).await;
    // Sent through OneBot, recalled through mirai: both sides see the recall.
    ob.send(json!({"action":"send_group_msg","params":{"group_id":30001,"message":"via onebot"},"echo":"1"})).await;
    let id = ob.recv_frame().await["data"]["message_id"].clone();
    let got = mirai.call("m", "messageFromId", json!({"target":30001,"messageId":id})).await;
    assert_eq!(got["data"]["messageChain"][1]["text"], "via onebot");
    assert_eq!(mirai.call("r", "recall", json!({"target":30001,"messageId":id})).await["code"], 0);
    assert_eq!(mirai.recv_frame().await["data"]["type"], "GroupRecallEvent");
    let notice = ob.recv_frame().await;
    let t = notice["time"].clone();
    assert_eq!(
        notice,
        json!({"time":t,"self_id":10001,"post_type":"notice","notice_type":"group_recall","group_id":30001,"user_id":10001,"operator_id":10001,"message_id":id})
    );
    // An injected message reaches both, in each one's format (CQ strings here).
    inject(&gw, 10001, group_message(30001, 20001, "a[b]")).await;
    assert_eq!(mirai.recv_frame().await["data"]["messageChain"][1]["text"], "a[b]");
    let m = ob.recv_frame().await;
    assert_eq!(
        (m["message"].clone(), m["raw_message"].clone()),
        (json!("a&#91;b&#93;"), json!("a&#91;b&#93;"))
    );
    // Sent through mirai, deleted through OneBot.
    let sent = mirai
        .call(
            "s",
            "sendGroupMessage",
            json!({"target":30001,"messageChain":[{"type":"Plain","text":"via mirai"}]}),
        )
        .await;
    ob.send(json!({"action":"delete_msg","params":{"message_id":sent["messageId"]},"echo":"2"}))
        .await;
    // The recall notice and the response may come in either order on a universal socket.
    let (mut response, mut notice) = (None, None);
    while response.is_none() || notice.is_none() {
        let f = ob.recv_frame().await;
        if f["echo"] == "2" {
            response = Some(f);
        } else {
            notice = Some(f);
        }
    }
    assert_eq!(response.expect("response")["retcode"], 0);
    assert_eq!(notice.expect("notice")["notice_type"], "group_recall");
}

#[actix_web::test]
async fn port_clashes_and_unavailable_modes_stop_start_up() {
    let clash = format!("{}onebot:\n  host: 127.0.0.1\n  port: 0\n", mirai_http_ws(""));
    let yaml = format!("server: {{ host: 127.0.0.1, port: 0 }}\n{WORLD}\n{clash}");
    let err = botgate::Gateway::start(botgate::Config::from_yaml_str(&yaml).expect("config"))
        .await
        .err()
        .expect("a clash");
    assert!(err.to_string().contains("onebot.port"), "{err}");
    let reverse = format!("{WORLD}\nmirai: {{ verifyKey: k }}\nonebot:\n  use_ws_reverse: true\n");
    assert_eq!(
        botgate::Config::from_yaml_str(&reverse).unwrap_err().key,
        "onebot.ws_reverse_api_url"
    );
}

#[actix_web::test]
async fn onebot_event_objects_can_be_injected_and_quick_operations_handled() {
    let gw = gateway("").await;
    let mut ob = onebot_ws(&gw, "/").await;
    ob.recv_frame().await;
    let mut mirai = mirai_ws_client(&gw).await;

    // A OneBot group message (ids as strings, a reply segment) reaches both protocols.
    let event = json!({"post_type":"message","message_type":"group","sub_type":"normal","group_id":"30001","user_id":20001,
                       "message":[{"type":"text","data":{"text":"from onebot inject"}}],"self_id":10001,"time":0});
    let id = inject(&gw, 10001, event).await["messageId"].clone();
    let m = mirai.recv_frame().await["data"].clone();
    assert_eq!(
        (m["type"].clone(), m["sender"]["memberName"].clone()),
        (json!("GroupMessage"), json!("AliceCard"))
    );
    let context = ob.recv_frame().await;
    assert_eq!(
        (context["message_id"].clone(), context["sender"]["card"].clone()),
        (id.clone(), json!("AliceCard"))
    );

    // .handle_quick_operation answers that very event: reply, then delete it.
    ob.send(json!({"action":".handle_quick_operation","params":{"context":context,"operation":{"reply":"quick!","delete":true}},"echo":"q"})).await;
    let mut response = None;
    let mut saw_recall = false;
    while response.is_none() || !saw_recall {
        let f = ob.recv_frame().await;
        if f["echo"] == "q" {
            response = Some(f);
        } else if f["notice_type"] == "group_recall" {
            assert_eq!(f["message_id"], id);
            saw_recall = true;
        }
    }
    assert_eq!(response.expect("response")["retcode"], 0);
    let reply = mirai
        .call(
            "m",
            "messageFromId",
            json!({"target":30001,"messageId":id.as_i64().expect("id") + 1}),
        )
        .await;
    assert_eq!(reply["data"]["messageChain"][1]["text"], "quick!");

    // Notices and requests too; the world follows.
    let ban = json!({"post_type":"notice","notice_type":"group_ban","sub_type":"ban","group_id":30001,"user_id":20003,"operator_id":20001,"duration":60,"self_id":10001,"time":0});
    inject(&gw, 10001, ban).await;
    let mut muted = mirai.recv_frame().await["data"].clone();
    while muted["type"] != "MemberMuteEvent" {
        muted = mirai.recv_frame().await["data"].clone();
    }
    assert_eq!(
        (muted["member"]["memberName"].clone(), muted["operator"]["id"].clone()),
        (json!("Carol"), json!(20001))
    );
    let request = json!({"post_type":"request","request_type":"friend","user_id":40011,"comment":"hi","flag":"0","self_id":10001,"time":0});
    inject(&gw, 10001, request).await;
    let mut req = ob.recv_frame().await;
    while req["post_type"] != "request" {
        req = ob.recv_frame().await;
    }
    let flag = req["flag"].as_str().expect("flag").to_owned();
    ob.send(
        json!({"action":"set_friend_add_request","params":{"flag":flag,"approve":true},"echo":"f"}),
    )
    .await;
    let mut answer = ob.recv_frame().await;
    while answer["echo"] != "f" {
        answer = ob.recv_frame().await;
    }
    assert_eq!(answer["retcode"], 0);
    let friends = mirai.call("fl", "friendList", json!({})).await;
    assert!(
        friends["data"].as_array().is_some_and(|l| l.iter().any(|f| f["id"] == 40011)),
        "{friends}"
    );
    let (status, body) = post_json(
        &gw,
        "/sim/10001/inject",
        &json!({"post_type":"notice","notice_type":"unknown"}),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[actix_web::test]
async fn essence_messages_are_set_listed_and_deleted_by_message_id() {
    let gw = gateway("").await;
    let id = inject(&gw, 10001, group_message(30001, 20003, "keep me")).await["messageId"]
        .as_i64()
        .expect("id");
    assert_eq!(
        api(&gw, "/set_essence_msg", Some(json!({"message_id":id}))).await.1,
        ok(Value::Null)
    );
    let list = api(&gw, "/get_essence_msg_list?group_id=30001", None).await.1;
    let at = list["data"][0]["operator_time"].clone();
    let sent = list["data"][0]["sender_time"].clone();
    assert_eq!(
        list["data"],
        json!([{"sender_id":20003,"sender_nick":"Carol","sender_time":sent,"operator_id":10001,"operator_nick":"botgate","operator_time":at,"message_id":id}])
    );
    assert_eq!(
        api(&gw, "/delete_essence_msg", Some(json!({"message_id":id}))).await.1["retcode"],
        0
    );
    assert_eq!(api(&gw, "/get_essence_msg_list?group_id=30001", None).await.1["data"], json!([]));
    assert_eq!(
        api(&gw, "/delete_essence_msg", Some(json!({"message_id":id}))).await.1["retcode"],
        100
    );
    assert_eq!(
        api(&gw, "/set_essence_msg", Some(json!({"message_id":99999}))).await.1["retcode"],
        100
    );
}

#[actix_web::test]
async fn group_honors_follow_honor_events() {
    let gw = gateway("").await;
    let empty = api(&gw, "/get_group_honor_info?group_id=30001&type=all", None).await.1;
    assert_eq!(
        empty["data"],
        json!({"group_id":30001,"current_talkative":null,"talkative_list":[],"performer_list":[],"legend_list":[],"strong_newbie_list":[],"emotion_list":[]})
    );
    inject(&gw, 10001, json!({"type":"MemberHonorChangeEvent","member":{"id":20003,"group":{"id":30001}},"action":"achieve","honor":"龙王"})).await;
    let info = api(&gw, "/get_group_honor_info?group_id=30001", None).await.1["data"].clone();
    let avatar = "https://q1.qlogo.cn/g?b=qq&nk=20003&s=640";
    assert_eq!(
        info["current_talkative"],
        json!({"user_id":20003,"nickname":"Carol","avatar":avatar,"day_count":1})
    );
    assert_eq!(
        info["talkative_list"],
        json!([{"user_id":20003,"nickname":"Carol","avatar":avatar,"description":"龙王"}])
    );
    // mirai's memberInfo reports the honour too.
    let mut c = mirai_ws_client(&gw).await;
    c.send(json!({"syncId":"m","command":"memberInfo","subCommand":"get","content":{"target":30001,"memberId":20003}})).await;
    assert_eq!(c.reply("m").await["data"]["active"]["honors"], json!(["龙王"]));
    inject(&gw, 10001, json!({"type":"MemberHonorChangeEvent","member":{"id":20003,"group":{"id":30001}},"action":"lose","honor":"龙王"})).await;
    assert_eq!(
        api(&gw, "/get_group_honor_info?group_id=30001", None).await.1["data"]["talkative_list"],
        json!([])
    );
}

#[actix_web::test]
async fn group_history_includes_the_bots_own_messages() {
    let gw = gateway("").await;
    inject(&gw, 10001, group_message(30001, 20001, "from alice")).await;
    let (_, sent) =
        api(&gw, "/send_group_msg", Some(json!({"group_id":30001,"message":"from the bot"}))).await;
    let own_id = sent["data"]["message_id"].clone();
    let (_, history) = api(&gw, "/get_group_msg_history", Some(json!({"group_id":30001}))).await;
    let messages = history["data"]["messages"].as_array().expect("messages").clone();
    assert_eq!(messages.len(), 2, "{history}");
    assert_eq!(messages[0]["user_id"], 20001);
    let own = &messages[1];
    assert_eq!(own["message_id"], own_id);
    assert_eq!(own["user_id"], 10001);
    assert_eq!(own["self_id"], 10001);
    assert_eq!(own["message_type"], "group");
    assert_eq!(own["group_id"], 30001);
    assert_eq!(own["sender"]["user_id"], 10001);
    assert_eq!(own["sender"]["role"], "owner");
    assert_eq!(own["message"], json!([{"type":"text","data":{"text":"from the bot"}}]));
    assert_eq!(own["raw_message"], "from the bot");
}
