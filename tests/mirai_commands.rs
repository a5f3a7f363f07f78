//! The rest of seed 000's commands against the living simulated world: each changes the world
//! as QQ would, later queries see it, and the platform's events are pushed. Exact JSON.

mod common;

use botgate::listeners::Mount;
use common::*;
use serde_json::{json, Value};

const G1: &str = r#"{"id":30001,"name":"Test Group","permission":"OWNER"}"#;

fn g1() -> Value {
    serde_json::from_str(G1).expect("json")
}

async fn client(extra_world: &str) -> (botgate::Gateway, WsPeer) {
    let world = WORLD
        .replace("      nickname: botgate\n", &format!("      nickname: botgate\n{extra_world}"));
    let gw = start_gateway(&world, &mirai_http_ws("")).await;
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws");
    let mut c = ws_client(addr, "/all?verifyKey=1234567890&qq=10001", &[]).await.expect("ws");
    assert_eq!(c.recv_frame().await["data"]["code"], 0);
    (gw, c)
}

async fn ok(c: &mut WsPeer, command: &str, content: Value) {
    assert_eq!(
        c.call(command, command, content).await,
        json!({"code":0,"msg":"success"}),
        "{command}"
    );
}

async fn event(c: &mut WsPeer) -> Value {
    let f = c.recv_frame().await;
    assert_eq!(f["syncId"], "-1", "{f}");
    f["data"].clone()
}

fn member(id: i64, name: &str, title: &str, permission: &str, joined: i64, mute: Value) -> Value {
    json!({"id":id,"memberName":name,"specialTitle":title,"permission":permission,"joinTimestamp":joined,
           "lastSpeakTimestamp":joined,"muteTimeRemaining":mute,"group":g1(),"active":null})
}

#[actix_web::test]
async fn mute_unmute_kick_and_permission_rules() {
    let (gw, mut c) = client("").await;
    ok(&mut c, "mute", json!({"target":30001,"memberId":20003,"time":60})).await;
    let e = event(&mut c).await;
    let remaining = e["member"]["muteTimeRemaining"].as_i64().expect("remaining");
    assert!((59..=60).contains(&remaining), "{e}");
    assert_eq!(
        e,
        json!({"type":"MemberMuteEvent","durationSeconds":60,"member":member(20003,"Carol","","MEMBER",1700000000,json!(remaining)),"operator":null})
    );
    let list = c.call("l", "memberList", json!({"target":30001})).await;
    assert!(list["data"][1]["muteTimeRemaining"].as_i64().is_some_and(|r| r > 0));
    // A muted member cannot speak.
    let (status, _) =
        post_json(&gw, "/sim/10001/inject", &group_message(30001, 20003, "x"), None).await;
    assert_eq!(status, 400);
    ok(&mut c, "unmute", json!({"target":30001,"memberId":20003})).await;
    assert_eq!(
        event(&mut c).await,
        json!({"type":"MemberUnmuteEvent","member":member(20003,"Carol","","MEMBER",1700000000,json!(0)),"operator":null})
    );

    // Rules: the bot is only a MEMBER of 30002; unknown members; impossible durations.
    assert_eq!(
        c.call("m1", "mute", json!({"target":30002,"memberId":20004,"time":60})).await,
        json!({"code":10,"msg":"无操作权限"})
    );
    assert_eq!(
        c.call("m2", "mute", json!({"target":30001,"memberId":99,"time":60})).await,
        json!({"code":5,"msg":"指定对象不存在"})
    );
    assert_eq!(c.call("m3", "mute", json!({"target":30001,"memberId":20003})).await["code"], 400);
    assert_eq!(
        c.call("m4", "mute", json!({"target":99,"memberId":20003,"time":1})).await["code"],
        5
    );

    ok(&mut c, "kick", json!({"target":30001,"memberId":20003,"msg":"bye"})).await;
    assert_eq!(
        event(&mut c).await,
        json!({"type":"MemberLeaveEventKick","member":member(20003,"Carol","","MEMBER",1700000000,json!(0)),"operator":null})
    );
    let ids: Vec<i64> = c.call("l2", "memberList", json!({"target":30001})).await["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [20001]);
    assert_eq!(c.call("k2", "kick", json!({"target":30002,"memberId":20004})).await["code"], 10);
}

#[actix_web::test]
async fn group_settings_apply_every_field_with_their_events() {
    let (_gw, mut c) = client("").await;
    ok(&mut c, "muteAll", json!({"target":30001})).await;
    assert_eq!(
        event(&mut c).await,
        json!({"type":"GroupMuteAllEvent","origin":false,"current":true,"group":g1(),"operator":null})
    );
    ok(&mut c, "unmuteAll", json!({"target":30001})).await;
    assert_eq!(event(&mut c).await["current"], false);
    assert_eq!(c.call("ma", "muteAll", json!({"target":30002})).await["code"], 10);

    let update = json!({"syncId":"u","command":"groupConfig","subCommand":"update","content":{"target":30001,"config":{
        "name":"Renamed","allowMemberInvite":false,"anonymousChat":true,"confessTalk":true,"autoApprove":true}}});
    c.send(update).await;
    assert_eq!(c.reply("u").await["data"], json!({"code":0,"msg":"success"}));
    let renamed = json!({"id":30001,"name":"Renamed","permission":"OWNER"});
    assert_eq!(
        event(&mut c).await,
        json!({"type":"GroupNameChangeEvent","origin":"Test Group","current":"Renamed","group":renamed,"operator":null})
    );
    assert_eq!(
        event(&mut c).await,
        json!({"type":"GroupAllowMemberInviteEvent","origin":true,"current":false,"group":renamed,"operator":null})
    );
    assert_eq!(
        event(&mut c).await,
        json!({"type":"GroupAllowAnonymousChatEvent","origin":false,"current":true,"group":renamed,"operator":null})
    );
    assert_eq!(
        event(&mut c).await,
        json!({"type":"GroupAllowConfessTalkEvent","origin":false,"current":true,"group":renamed,"isByBot":true})
    );
    c.send(
        json!({"syncId":"g","command":"groupConfig","subCommand":"get","content":{"target":30001}}),
    )
    .await;
    assert_eq!(
        c.reply("g").await["data"],
        json!({"name":"Renamed","confessTalk":true,"allowMemberInvite":false,"autoApprove":true,"anonymousChat":true,"muteAll":false})
    );
    assert_eq!(c.call("gl", "groupList", json!({})).await["data"][0]["name"], "Renamed");
    c.send(json!({"syncId":"x","command":"groupConfig","subCommand":"delete","content":{"target":30001}})).await;
    assert_eq!(c.reply("x").await["data"], json!({"code":6,"msg":"指定操作不支持"}));
}

#[actix_web::test]
async fn member_info_titles_and_admins() {
    let (_gw, mut c) = client("").await;
    c.send(json!({"syncId":"g","command":"memberInfo","subCommand":"get","content":{"target":30001,"memberId":20001}})).await;
    let mut expected = member(20001, "AliceCard", "元老", "ADMINISTRATOR", 1600000000, json!(0));
    expected["active"] = json!({"rank":1,"point":0,"honors":[],"temperature":1});
    assert_eq!(c.reply("g").await["data"], expected);

    c.send(json!({"syncId":"u","command":"memberInfo","subCommand":"update","content":{"target":30001,"memberId":20001,"info":{"name":"NewCard","specialTitle":"大佬"}}})).await;
    assert_eq!(c.reply("u").await["data"]["code"], 0);
    let e = event(&mut c).await;
    assert_eq!(
        (
            e["type"].clone(),
            e["origin"].clone(),
            e["current"].clone(),
            e["member"]["memberName"].clone()
        ),
        (json!("MemberCardChangeEvent"), json!("AliceCard"), json!("NewCard"), json!("NewCard"))
    );
    let e = event(&mut c).await;
    assert_eq!(
        (e["type"].clone(), e["origin"].clone(), e["current"].clone()),
        (json!("MemberSpecialTitleChangeEvent"), json!("元老"), json!("大佬"))
    );

    ok(&mut c, "memberAdmin", json!({"target":30001,"memberId":20003,"assign":true})).await;
    let e = event(&mut c).await;
    assert_eq!(
        (
            e["type"].clone(),
            e["origin"].clone(),
            e["current"].clone(),
            e["member"]["permission"].clone()
        ),
        (
            json!("MemberPermissionChangeEvent"),
            json!("MEMBER"),
            json!("ADMINISTRATOR"),
            json!("ADMINISTRATOR")
        )
    );
    assert_eq!(
        c.call("a2", "memberAdmin", json!({"target":30002,"memberId":20004,"assign":false})).await
            ["code"],
        10
    );
    // A member bot cannot set titles or cards.
    c.send(json!({"syncId":"u2","command":"memberInfo","subCommand":"update","content":{"target":30002,"memberId":20004,"info":{"specialTitle":"x"}}})).await;
    assert_eq!(c.reply("u2").await["data"]["code"], 10);
}

#[actix_web::test]
async fn quit_essence_announcements_friends_nudges_and_history() {
    let (gw, mut c) = client("").await;
    assert_eq!(
        c.call("q1", "quit", json!({"target":30001})).await,
        json!({"code":10,"msg":"无操作权限"})
    );
    ok(&mut c, "quit", json!({"target":30002})).await;
    assert_eq!(
        event(&mut c).await,
        json!({"type":"BotLeaveEventActive","group":{"id":30002,"name":"Other Group","permission":"MEMBER"}})
    );
    assert_eq!(
        c.call("gl", "groupList", json!({})).await["data"].as_array().map(Vec::len),
        Some(1)
    );

    let id =
        inject(&gw, 10001, group_message(30001, 20001, "worth keeping")).await["messageId"].clone();
    event(&mut c).await;
    ok(&mut c, "setEssence", json!({"target":30001,"messageId":id})).await;
    assert_eq!(
        c.call("e2", "setEssence", json!({"target":30001,"messageId":9999})).await["code"],
        5
    );

    let published = c
        .call("ap", "anno_publish", json!({"target":30001,"content":"明天放假","pinned":true}))
        .await;
    let fid = published["data"]["fid"].as_str().expect("fid").to_owned();
    let at = published["data"]["publicationTime"].clone();
    let anno = json!({"group":g1(),"content":"明天放假","senderId":10001,"fid":fid,"allConfirmed":false,"confirmedMembersCount":0,"publicationTime":at});
    assert_eq!(published, json!({"code":0,"msg":"","data":anno}));
    assert_eq!(
        c.call("al", "anno_list", json!({"id":30001})).await,
        json!({"code":0,"msg":"","data":[anno]})
    );
    ok(&mut c, "anno_delete", json!({"id":30001,"fid":fid})).await;
    assert_eq!(c.call("ad", "anno_delete", json!({"id":30001,"fid":fid})).await["code"], 5);

    ok(&mut c, "deleteFriend", json!({"target":20002})).await;
    assert_eq!(
        event(&mut c).await,
        json!({"type":"FriendDeleteEvent","friend":{"id":20002,"nickname":"Bob","remark":""}})
    );
    assert_eq!(c.call("df", "deleteFriend", json!({"target":20002})).await["code"], 5);

    ok(&mut c, "sendNudge", json!({"target":20001,"subject":20001,"kind":"Friend"})).await;
    assert_eq!(
        event(&mut c).await,
        json!({"type":"NudgeEvent","fromId":10001,"subject":{"kind":"Friend","id":20001,"nickname":"Alice","remark":"小A"},"action":"戳了戳","suffix":"","target":20001})
    );
    ok(&mut c, "sendNudge", json!({"target":20001,"subject":30001,"kind":"group"})).await;
    assert_eq!(
        event(&mut c).await["subject"],
        json!({"kind":"Group","id":30001,"name":"Test Group","permission":"OWNER"})
    );
    assert_eq!(
        c.call("n3", "sendNudge", json!({"target":1,"subject":1,"kind":"Bogus"})).await["code"],
        400
    );

    let sent = c
        .call(
            "s",
            "sendGroupMessage",
            json!({"target":30001,"messageChain":[{"type":"Plain","text":"reply"}]}),
        )
        .await;
    let roaming = c
        .call("r", "roamingMessages", json!({"timeStart":0,"timeEnd":9999999999i64,"target":30001}))
        .await;
    assert_eq!(roaming["code"], 0);
    let texts: Vec<&str> = roaming["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["messageChain"][1]["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, ["worth keeping", "reply"]);
    assert_eq!(roaming["data"][1]["messageChain"][0]["id"], sent["messageId"]);
    assert_eq!(
        c.call("r2", "roamingMessages", json!({"timeStart":0,"timeEnd":1,"group":30001})).await
            ["data"],
        json!([])
    );
    assert_eq!(
        c.call("r3", "roamingMessages", json!({"timeStart":0,"timeEnd":1})).await["code"],
        400
    );

    let latest =
        c.call("lm", "latestMemberList", json!({"target":30001,"memberIds":[20001]})).await;
    assert_eq!(
        latest["data"].as_array().map(|l| l.iter().map(|m| m["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(20001)])
    );
}

#[actix_web::test]
async fn requests_are_answered_and_the_world_follows() {
    let (gw, mut c) = client("").await;
    inject(&gw, 10001, json!({"type":"NewFriendRequestEvent","fromId":40001,"groupId":0,"nick":"Eve","message":"加个好友"})).await;
    let req = event(&mut c).await;
    let eid = req["eventId"].as_i64().expect("eventId assigned");
    assert_eq!(
        req,
        json!({"type":"NewFriendRequestEvent","eventId":eid,"message":"加个好友","fromId":40001,"groupId":0,"nick":"Eve"})
    );
    ok(
        &mut c,
        "resp_newFriendRequestEvent",
        json!({"eventId":eid,"fromId":40001,"groupId":0,"operate":0,"message":""}),
    )
    .await;
    assert_eq!(
        event(&mut c).await,
        json!({"type":"FriendAddEvent","friend":{"id":40001,"nickname":"Eve","remark":""},"stranger":false})
    );
    assert_eq!(c.call("fp", "friendProfile", json!({"target":40001})).await["nickname"], "Eve");
    assert_eq!(
        c.call(
            "again",
            "resp_newFriendRequestEvent",
            json!({"eventId":eid,"fromId":40001,"groupId":0,"operate":0,"message":""})
        )
        .await["code"],
        5
    );

    inject(&gw, 10001, json!({"type":"MemberJoinRequestEvent","eventId":77,"fromId":40002,"groupId":30001,"groupName":"Test Group","nick":"Frank","message":"让我进去","invitorId":null})).await;
    assert_eq!(event(&mut c).await["invitorId"], Value::Null);
    ok(
        &mut c,
        "resp_memberJoinRequestEvent",
        json!({"eventId":77,"fromId":40002,"groupId":30001,"operate":0,"message":""}),
    )
    .await;
    let joined = event(&mut c).await;
    assert_eq!(
        (
            joined["type"].clone(),
            joined["member"]["id"].clone(),
            joined["member"]["memberName"].clone(),
            joined["invitor"].clone()
        ),
        (json!("MemberJoinEvent"), json!(40002), json!("Frank"), Value::Null)
    );

    inject(&gw, 10001, json!({"type":"BotInvitedJoinGroupRequestEvent","eventId":78,"fromId":20001,"groupId":30009,"groupName":"新群","nick":"Alice","message":""})).await;
    event(&mut c).await;
    ok(
        &mut c,
        "resp_botInvitedJoinGroupRequestEvent",
        json!({"eventId":78,"fromId":20001,"groupId":30009,"operate":0,"message":""}),
    )
    .await;
    let e = event(&mut c).await;
    assert_eq!(
        (e["type"].clone(), e["group"].clone()),
        (json!("BotJoinGroupEvent"), json!({"id":30009,"name":"新群","permission":"MEMBER"}))
    );
    assert_eq!(e["invitor"]["id"], 20001);

    // Rejecting leaves the world unchanged.
    inject(&gw, 10001, json!({"type":"NewFriendRequestEvent","eventId":79,"fromId":40003,"groupId":0,"nick":"Mallory","message":""})).await;
    event(&mut c).await;
    ok(
        &mut c,
        "resp_newFriendRequestEvent",
        json!({"eventId":79,"fromId":40003,"groupId":0,"operate":2,"message":"no"}),
    )
    .await;
    assert_eq!(c.call("fp2", "friendProfile", json!({"target":40003})).await["code"], 5);
    c.expect_silence(std::time::Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn other_client_messages_and_http_paths_of_the_new_commands() {
    let (gw, mut c) = client("      otherClients: [{ id: 555, platform: WINDOWS }]\n").await;
    let sent = c
        .call(
            "o",
            "sendOtherClientMessage",
            json!({"target":555,"messageChain":[{"type":"Plain","text":"to my pc"}]}),
        )
        .await;
    assert_eq!(sent["code"], 0);
    assert_eq!(
        c.call(
            "o2",
            "sendOtherClientMessage",
            json!({"target":556,"messageChain":[{"type":"Plain","text":"x"}]})
        )
        .await["code"],
        5
    );

    let base = format!("http://{}", gw.addr_of(Mount::MiraiHttp).expect("http"));
    let http = awc::Client::default();
    let key = http_session(&base, 10001).await;
    let get = |path: String| {
        let http = http.clone();
        async move { http.get(path).send().await.expect("get").json::<Value>().await.expect("json") }
    };
    assert_eq!(
        get(format!("{base}/groupConfig?sessionKey={key}&target=30001")).await["name"],
        "Test Group"
    );
    assert_eq!(
        get(format!("{base}/memberInfo?sessionKey={key}&target=30001&memberId=20001")).await
            ["active"]["rank"],
        1
    );
    let r: Value = http
        .post(format!("{base}/groupConfig"))
        .send_json(&json!({"sessionKey":key,"target":30001,"config":{"name":"Via HTTP"}}))
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(r, json!({"code":0,"msg":"success"}));
    assert_eq!(
        get(format!("{base}/anno/list?sessionKey={key}&id=30001")).await,
        json!({"code":0,"msg":"","data":[]})
    );
    assert_eq!(
        get(format!(
            "{base}/latestMemberList?sessionKey={key}&target=30001&memberIds=20001&memberIds=20003"
        ))
        .await["data"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let r: Value = http
        .post(format!("{base}/resp/newFriendRequestEvent"))
        .send_json(
            &json!({"sessionKey":key,"eventId":1,"fromId":2,"groupId":0,"operate":0,"message":""}),
        )
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(r["code"], 5);
}
