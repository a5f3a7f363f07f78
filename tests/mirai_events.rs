//! Every event type of mirai-api-http's §7 and every message packet type of §6.1, injected
//! into the simulated bot and pushed with exact JSON; the world follows the events.

mod common;

use common::*;
use serde_json::{json, Value};

fn g(id: i64, name: &str, permission: &str) -> Value {
    json!({"id":id,"name":name,"permission":permission})
}

#[allow(clippy::too_many_arguments)]
fn m(
    id: i64,
    name: &str,
    title: &str,
    permission: &str,
    joined: i64,
    spoke: i64,
    mute: i64,
    group: Value,
) -> Value {
    json!({"id":id,"memberName":name,"specialTitle":title,"permission":permission,"joinTimestamp":joined,
           "lastSpeakTimestamp":spoke,"muteTimeRemaining":mute,"group":group,"active":null})
}

struct Bench {
    gw: botgate::Gateway,
    c: WsPeer,
}

impl Bench {
    async fn new() -> Bench {
        let gw = start_gateway(WORLD, &mirai_http_ws("")).await;
        let c = mirai_ws_client(&gw).await;
        Bench { gw, c }
    }

    /// Injects `event` and answers what was pushed.
    async fn push(&mut self, event: Value) -> Value {
        let (status, body) = post_json(&self.gw, "/sim/10001/inject", &event, None).await;
        assert_eq!(status, 200, "{event}: {body}");
        let f = self.c.recv_frame().await;
        assert_eq!(f["syncId"], "-1");
        f["data"].clone()
    }

    /// Injects `event` and expects exactly `expected` pushed.
    async fn exact(&mut self, event: Value, expected: Value) {
        assert_eq!(self.push(event).await, expected);
    }

    /// Injects `event` and expects it pushed unchanged.
    async fn same(&mut self, event: Value) {
        self.exact(event.clone(), event).await;
    }
}

#[actix_web::test]
async fn bot_and_friend_events() {
    let mut b = Bench::new().await;
    b.exact(
        json!({"type":"BotOfflineEventActive"}),
        json!({"type":"BotOfflineEventActive","qq":10001}),
    )
    .await;
    b.exact(
        json!({"type":"BotOfflineEventForce","title":"t","message":"m"}),
        json!({"type":"BotOfflineEventForce","qq":10001,"title":"t","message":"m"}),
    )
    .await;
    b.exact(
        json!({"type":"BotOfflineEventDropped"}),
        json!({"type":"BotOfflineEventDropped","qq":10001}),
    )
    .await;
    b.exact(json!({"type":"BotReloginEvent"}), json!({"type":"BotReloginEvent","qq":10001})).await;
    let alice = json!({"id":20001,"nickname":"Alice","remark":"小A"});
    b.exact(
        json!({"type":"FriendInputStatusChangedEvent","friend":{"id":20001},"inputting":true}),
        json!({"type":"FriendInputStatusChangedEvent","friend":alice,"inputting":true}),
    )
    .await;
    b.exact(json!({"type":"FriendNickChangedEvent","friend":{"id":20002},"from":"Bob","to":"Bobby"}),
            json!({"type":"FriendNickChangedEvent","friend":{"id":20002,"nickname":"Bobby","remark":""},"from":"Bob","to":"Bobby"})).await;
    assert_eq!(b.c.call("f", "friendList", json!({})).await["data"][1]["nickname"], "Bobby");
    b.same(json!({"type":"FriendAddEvent","friend":{"id":40001,"nickname":"Neo","remark":""},"stranger":true})).await;
    b.same(json!({"type":"FriendDeleteEvent","friend":{"id":40001,"nickname":"Neo","remark":""}}))
        .await;
    b.same(json!({"type":"OtherClientOnlineEvent","client":{"id":7,"platform":"WINDOWS"}})).await;
    // Packet types: other client, stranger, and the sync messages the account sent elsewhere.
    let p = b.push(json!({"type":"OtherClientMessage","sender":{"id":7},"messageChain":[{"type":"Plain","text":"from pc"}]})).await;
    assert_eq!(
        (p["type"].clone(), p["sender"].clone()),
        (json!("OtherClientMessage"), json!({"id":7,"platform":"WINDOWS"}))
    );
    b.same(json!({"type":"OtherClientOfflineEvent","client":{"id":7,"platform":"WINDOWS"}})).await;
    let p = b.push(json!({"type":"StrangerMessage","sender":{"id":50001,"nickname":"Stray"},"messageChain":[{"type":"Plain","text":"hi"}]})).await;
    assert_eq!(
        (p["type"].clone(), p["sender"].clone()),
        (json!("StrangerMessage"), json!({"id":50001,"nickname":"Stray","remark":""}))
    );
    let p = b.push(json!({"type":"FriendSyncMessage","subject":{"id":20001},"messageChain":[{"type":"Plain","text":"from phone"}]})).await;
    assert_eq!(
        (p["type"].clone(), p["subject"].clone()),
        (json!("FriendSyncMessage"), alice.clone())
    );
    let p = b.push(json!({"type":"GroupSyncMessage","subject":{"id":30001},"messageChain":[{"type":"Plain","text":"x"}]})).await;
    assert_eq!(
        (p["type"].clone(), p["subject"].clone()),
        (json!("GroupSyncMessage"), g(30001, "Test Group", "OWNER"))
    );
    let p = b.push(json!({"type":"TempSyncMessage","subject":{"id":20003,"group":{"id":30001}},"messageChain":[{"type":"Plain","text":"x"}]})).await;
    assert_eq!(
        (p["type"].clone(), p["subject"]["memberName"].clone()),
        (json!("TempSyncMessage"), json!("Carol"))
    );
    let p = b.push(json!({"type":"StrangerSyncMessage","subject":{"id":50001},"messageChain":[{"type":"Plain","text":"x"}]})).await;
    assert_eq!(p["type"], "StrangerSyncMessage");
    b.exact(json!({"type":"CommandExecutedEvent","name":"help","friend":{"id":20001},"member":null,"args":[{"type":"Plain","text":"all"}]}),
            json!({"type":"CommandExecutedEvent","name":"help","friend":alice,"member":null,"args":[{"type":"Plain","text":"all"}]})).await;
    // A contact outside the world is refused.
    let (status, _) = post_json(
        &b.gw,
        "/sim/10001/inject",
        &json!({"type":"FriendDeleteEvent","friend":{"id":99}}),
        None,
    )
    .await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn the_bots_own_group_events() {
    let mut b = Bench::new().await;
    let other = g(30002, "Other Group", "ADMINISTRATOR");
    b.exact(json!({"type":"BotGroupPermissionChangeEvent","origin":"MEMBER","current":"ADMINISTRATOR","group":{"id":30002}}),
            json!({"type":"BotGroupPermissionChangeEvent","origin":"MEMBER","current":"ADMINISTRATOR","group":other})).await;
    let dave = m(20004, "Dave", "", "OWNER", 0, 0, 0, other.clone());
    b.exact(json!({"type":"BotMuteEvent","durationSeconds":600,"operator":{"id":20004,"group":{"id":30002}}}),
            json!({"type":"BotMuteEvent","durationSeconds":600,"operator":dave})).await;
    let send = json!({"target":30002,"messageChain":[{"type":"Plain","text":"can I talk?"}]});
    assert_eq!(
        b.c.call("s1", "sendGroupMessage", send.clone()).await,
        json!({"code":20,"msg":"Bot被禁言"})
    );
    b.exact(
        json!({"type":"BotUnmuteEvent","operator":{"id":20004,"group":{"id":30002}}}),
        json!({"type":"BotUnmuteEvent","operator":dave}),
    )
    .await;
    assert_eq!(b.c.call("s2", "sendGroupMessage", send).await["code"], 0);

    b.same(json!({"type":"BotJoinGroupEvent","group":g(30010, "Joined", "MEMBER"),"invitor":null}))
        .await;
    assert_eq!(
        b.c.call("gl", "groupList", json!({})).await["data"].as_array().map(Vec::len),
        Some(3)
    );
    b.same(
        json!({"type":"BotLeaveEventKick","group":g(30010, "Joined", "MEMBER"),"operator":null}),
    )
    .await;
    b.same(json!({"type":"BotJoinGroupEvent","group":g(30011, "Gone", "MEMBER"),"invitor":null}))
        .await;
    b.same(
        json!({"type":"BotLeaveEventDisband","group":g(30011, "Gone", "MEMBER"),"operator":null}),
    )
    .await;
    b.same(json!({"type":"BotLeaveEventActive","group":other})).await;
    assert_eq!(
        b.c.call("gl2", "groupList", json!({})).await["data"].as_array().map(Vec::len),
        Some(1)
    );
}

#[actix_web::test]
async fn member_and_group_setting_events() {
    let mut b = Bench::new().await;
    let g1 = g(30001, "Test Group", "OWNER");
    let alice =
        m(20001, "AliceCard", "元老", "ADMINISTRATOR", 1600000000, 1600000000, 0, g1.clone());
    let joined = b.push(json!({"type":"MemberJoinEvent","member":{"id":40002,"memberName":"Newbie","group":{"id":30001}},"invitor":{"id":20001,"group":{"id":30001}}})).await;
    let t = joined["member"]["joinTimestamp"].as_i64().expect("join time");
    let newbie = |name: &str, title: &str, perm: &str, mute: i64| {
        m(40002, name, title, perm, t, t, mute, g1.clone())
    };
    assert_eq!(
        joined,
        json!({"type":"MemberJoinEvent","member":newbie("Newbie", "", "MEMBER", 0),"invitor":alice})
    );
    let r = json!({"id":40002,"group":{"id":30001}});
    b.exact(json!({"type":"MemberCardChangeEvent","origin":"Newbie","current":"NB","member":r}),
            json!({"type":"MemberCardChangeEvent","origin":"Newbie","current":"NB","member":newbie("NB", "", "MEMBER", 0)})).await;
    b.exact(json!({"type":"MemberSpecialTitleChangeEvent","origin":"","current":"新人","member":r}),
            json!({"type":"MemberSpecialTitleChangeEvent","origin":"","current":"新人","member":newbie("NB", "新人", "MEMBER", 0)})).await;
    b.exact(json!({"type":"MemberPermissionChangeEvent","origin":"MEMBER","current":"ADMINISTRATOR","member":r}),
            json!({"type":"MemberPermissionChangeEvent","origin":"MEMBER","current":"ADMINISTRATOR","member":newbie("NB", "新人", "ADMINISTRATOR", 0)})).await;
    let muted = b
        .push(json!({"type":"MemberMuteEvent","durationSeconds":30,"member":r,"operator":null}))
        .await;
    let left = muted["member"]["muteTimeRemaining"].as_i64().expect("remaining");
    assert!((29..=30).contains(&left));
    assert_eq!(
        muted,
        json!({"type":"MemberMuteEvent","durationSeconds":30,"member":newbie("NB", "新人", "ADMINISTRATOR", left),"operator":null})
    );
    b.exact(json!({"type":"MemberUnmuteEvent","member":r,"operator":{"id":20001,"group":{"id":30001}}}),
            json!({"type":"MemberUnmuteEvent","member":newbie("NB", "新人", "ADMINISTRATOR", 0),"operator":alice})).await;
    b.exact(json!({"type":"MemberHonorChangeEvent","member":r,"action":"achieve","honor":"龙王"}),
            json!({"type":"MemberHonorChangeEvent","member":newbie("NB", "新人", "ADMINISTRATOR", 0),"action":"achieve","honor":"龙王"})).await;
    b.exact(
        json!({"type":"MemberLeaveEventQuit","member":r}),
        json!({"type":"MemberLeaveEventQuit","member":newbie("NB", "新人", "ADMINISTRATOR", 0)}),
    )
    .await;
    let carol = m(20003, "Carol", "", "MEMBER", 1700000000, 1700000000, 0, g1.clone());
    b.exact(json!({"type":"MemberLeaveEventKick","member":{"id":20003,"group":{"id":30001}},"operator":{"id":20001,"group":{"id":30001}}}),
            json!({"type":"MemberLeaveEventKick","member":carol,"operator":alice})).await;
    assert_eq!(
        b.c.call("ml", "memberList", json!({"target":30001})).await["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let renamed = g(30001, "New Name", "OWNER");
    let alice_renamed =
        m(20001, "AliceCard", "元老", "ADMINISTRATOR", 1600000000, 1600000000, 0, renamed.clone());
    b.exact(json!({"type":"GroupNameChangeEvent","origin":"Test Group","current":"New Name","group":{"id":30001},"operator":{"id":20001,"group":{"id":30001}}}),
            json!({"type":"GroupNameChangeEvent","origin":"Test Group","current":"New Name","group":renamed,"operator":alice_renamed})).await;
    b.same(json!({"type":"GroupMuteAllEvent","origin":false,"current":true,"group":renamed,"operator":alice_renamed})).await;
    b.same(json!({"type":"GroupAllowAnonymousChatEvent","origin":false,"current":true,"group":renamed,"operator":null})).await;
    b.same(json!({"type":"GroupAllowConfessTalkEvent","origin":false,"current":true,"group":renamed,"isByBot":false})).await;
    b.same(json!({"type":"GroupAllowMemberInviteEvent","origin":true,"current":false,"group":renamed,"operator":null})).await;
    b.c.send(json!({"syncId":"gc","command":"groupConfig","subCommand":"get","content":{"target":30001}})).await;
    assert_eq!(
        b.c.reply("gc").await["data"],
        json!({"name":"New Name","confessTalk":true,"allowMemberInvite":false,"autoApprove":false,"anonymousChat":true,"muteAll":true})
    );
    b.same(json!({"type":"NudgeEvent","fromId":20001,"subject":{"kind":"Group","id":30001,"name":"New Name","permission":"OWNER"},"action":"戳了戳","suffix":"的脸","target":10001})).await;
    b.exact(json!({"type":"MemberJoinRequestEvent","eventId":5,"message":"m","fromId":40005,"groupId":30001,"groupName":"New Name","nick":"Z","invitorId":20001}),
            json!({"type":"MemberJoinRequestEvent","eventId":5,"message":"m","fromId":40005,"groupId":30001,"groupName":"New Name","nick":"Z","invitorId":20001})).await;
    b.same(json!({"type":"BotInvitedJoinGroupRequestEvent","eventId":6,"message":"","fromId":20001,"groupId":30099,"groupName":"Invite","nick":"Alice"})).await;
}
