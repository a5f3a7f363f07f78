//! Every chain element of mirai-api-http's §6.2 in both directions, with exact JSON: received
//! (injected into the simulated bot and pushed) and sent (sendGroupMessage, then read back with
//! messageFromId), including the send-only and receive-only rules.

mod common;

use common::*;
use serde_json::{json, Value};

async fn client() -> (botgate::Gateway, WsPeer) {
    let gw = start_gateway(WORLD, &mirai_http_ws("")).await;
    let c = mirai_ws_client(&gw).await;
    (gw, c)
}

fn received_elements() -> Vec<(Value, Value)> {
    let image = json!({"type":"Image","imageId":"{01E9451B-70ED-EAE3-B37C-101F1EEBF5B5}.jpg","url":"http://gchat.qpic.cn/x","path":null,"base64":null,"width":640,"height":480,"size":1024,"imageType":"JPG","isEmoji":false});
    let mut flash = image.clone();
    flash["type"] = json!("FlashImage");
    let music = json!({"type":"MusicShare","kind":"NeteaseCloudMusic","title":"t","summary":"s","jumpUrl":"j","pictureUrl":"p","musicUrl":"m","brief":"b"});
    vec![
        (
            json!({"type":"At","target":20003,"display":"@Carol"}),
            json!({"type":"At","target":20003,"display":""}),
        ),
        (json!({"type":"AtAll"}), json!({"type":"AtAll","target":0})),
        (
            json!({"type":"Face","faceId":14,"name":"微笑","isSuperFace":false}),
            json!({"type":"Face","faceId":14,"name":"微笑","isSuperFace":false}),
        ),
        (
            json!({"type":"Face","faceId":5,"name":"流泪","superFace":true}),
            json!({"type":"Face","faceId":5,"name":"流泪","isSuperFace":true}),
        ),
        (json!({"type":"Plain","text":"plain"}), json!({"type":"Plain","text":"plain"})),
        (image.clone(), image),
        (flash.clone(), flash),
        (
            json!({"type":"Voice","voiceId":"v.amr","url":"http://v","path":"/secret/path","base64":null,"length":3}),
            json!({"type":"Voice","voiceId":"v.amr","url":"http://v","path":null,"base64":null,"length":3}),
        ),
        (json!({"type":"Xml","xml":"<x/>"}), json!({"type":"Xml","xml":"<x/>"})),
        (json!({"type":"Json","json":"{}"}), json!({"type":"Json","json":"{}"})),
        (
            json!({"type":"App","content":"{\"app\":1}"}),
            json!({"type":"App","content":"{\"app\":1}"}),
        ),
        (json!({"type":"Poke","name":"ChuoYiChuo"}), json!({"type":"Poke","name":"ChuoYiChuo"})),
        (json!({"type":"Dice","value":6}), json!({"type":"Dice","value":6})),
        (
            json!({"type":"MarketFace","id":123,"name":"[贴纸]"}),
            json!({"type":"MarketFace","id":123,"name":"[贴纸]"}),
        ),
        (music.clone(), music),
        (
            json!({"type":"Forward","nodeList":[{"senderId":20001,"time":1700000000,"senderName":"Alice","messageChain":[{"type":"Plain","text":"fwd"}]}]}),
            json!({"type":"Forward","display":null,"nodeList":[{"senderId":20001,"time":1700000000,"senderName":"Alice","messageChain":[{"type":"Plain","text":"fwd"}],"messageId":null,"messageRef":null}]}),
        ),
        (
            json!({"type":"File","id":"/abc","name":"a.txt","size":12}),
            json!({"type":"File","id":"/abc","name":"a.txt","size":12}),
        ),
        (
            json!({"type":"ShortVideo","videoId":"vid","fileMd5":"","fileSize":99,"fileFormat":"mp4","filename":"v.mp4","videoUrl":"http://vid"}),
            json!({"type":"ShortVideo","videoId":"vid","fileMd5":"","fileSize":99,"fileFormat":"mp4","filename":"","videoUrl":"http://vid","thumbnailUrl":null}),
        ),
    ]
}

#[actix_web::test]
async fn every_element_is_received_with_exact_fields() {
    let (gw, mut c) = client().await;
    let quoted =
        inject(&gw, 10001, group_message(30001, 20003, "original")).await["messageId"].clone();
    c.recv_frame().await;
    let quote = json!({"type":"Quote","id":quoted,"senderId":20003,"targetId":30001,"groupId":30001,"origin":[{"type":"Plain","text":"original"}]});
    let (sent, expected): (Vec<Value>, Vec<Value>) = received_elements().into_iter().unzip();
    let mut chain = vec![json!({"type":"Source","id":1,"time":1700000001}), quote.clone()];
    chain.extend(sent);
    chain.push(json!({"type":"SomethingNew","x":1}));
    let id = inject(&gw, 10001, json!({"type":"GroupMessage","sender":{"id":20001,"group":{"id":30001}},"messageChain":chain})).await["messageId"].clone();
    let pushed = c.recv_frame().await["data"]["messageChain"].clone();
    let mut want = vec![json!({"type":"Source","id":id,"time":1700000001}), quote];
    want.extend(expected);
    assert_eq!(pushed, Value::Array(want), "unknown elements are dropped, the rest exact");
}

#[actix_web::test]
async fn sending_follows_the_send_rules() {
    let (gw, mut c) = client().await;
    let quoted = inject(&gw, 10001, group_message(30001, 20003, "q")).await["messageId"].clone();
    c.recv_frame().await;
    let chain = json!([
        {"type":"Source","id":99,"time":1},
        {"type":"Quote","id":quoted,"senderId":1,"targetId":1,"groupId":1,"origin":[]},
        {"type":"Plain","text":"hi "},
        {"type":"At","target":20003,"display":"ignored"},
        {"type":"AtAll"},
        {"type":"Face","name":"微笑"},
        {"type":"Face","faceId":-1,"name":"not a face"},
        {"type":"Image","url":"http://example.com/a.png","imageType":"PNG"},
        {"type":"Image"},
        {"type":"FlashImage","imageId":"{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}.gif"},
        {"type":"Voice","base64":"AAAA"},
        {"type":"Xml","xml":"<x/>"},
        {"type":"Json","json":"{}"},
        {"type":"App","content":"{}"},
        {"type":"Poke","name":"ChuoYiChuo"},
        {"type":"Dice","value":3},
        {"type":"MarketFace","id":1,"name":"dropped"},
        {"type":"File","id":"f","name":"dropped","size":1},
        {"type":"MusicShare","kind":"QQMusic","title":"t","summary":"s","jumpUrl":"j","pictureUrl":"p","musicUrl":"m","brief":"b"},
        {"type":"Forward","nodeList":[{"senderId":20001,"senderName":"Alice","time":5,"messageChain":[{"type":"Plain","text":"n"}]},{"messageId":12345}]},
        {"type":"MiraiCode","code":"[mirai:at:20001] code\\[text\\]"}
    ]);
    let sent = c
        .call("s", "sendGroupMessage", json!({"target":30001,"quote":quoted,"messageChain":chain}))
        .await;
    assert_eq!(sent["code"], 0, "{sent}");
    let got = c
        .call("g", "messageFromId", json!({"target":30001,"messageId":sent["messageId"]}))
        .await["data"]["messageChain"]
        .clone();
    let els = got.as_array().expect("chain");
    assert_eq!(els[0]["type"], "Source");
    assert_eq!(els[0]["id"], sent["messageId"], "the platform's id, not the client's Source");
    // The top-level quote wins; a Quote element in the chain is ignored.
    assert_eq!(
        els[1],
        json!({"type":"Quote","id":quoted,"senderId":20003,"targetId":30001,"groupId":30001,"origin":[{"type":"Plain","text":"q"}]})
    );
    assert_eq!(els[2], json!({"type":"Plain","text":"hi "}));
    assert_eq!(els[3], json!({"type":"At","target":20003,"display":""}));
    assert_eq!(els[4], json!({"type":"AtAll","target":0}));
    assert_eq!(els[5], json!({"type":"Face","faceId":14,"name":"微笑","isSuperFace":false}));
    assert_eq!(
        els[6],
        json!({"type":"Face","faceId":255,"name":"not a face","isSuperFace":false}),
        "unknown names fall back to 255"
    );
    assert_eq!(els[7]["type"], "Image");
    assert!(
        els[7]["imageId"].as_str().is_some_and(|id| id.starts_with('{') && id.ends_with("}.png")),
        "{}",
        els[7]
    );
    assert_eq!(
        (els[7]["url"].clone(), els[7]["path"].clone(), els[7]["base64"].clone()),
        (json!("http://example.com/a.png"), Value::Null, Value::Null)
    );
    // The empty Image was dropped.
    assert_eq!(
        els[8],
        json!({"type":"FlashImage","imageId":"{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}.gif","url":null,"path":null,"base64":null,"width":0,"height":0,"size":0,"imageType":"UNKNOWN","isEmoji":false})
    );
    assert!(els[9]["voiceId"].as_str().is_some_and(|v| v.ends_with(".amr")), "{}", els[9]);
    assert_eq!(els[9]["base64"], Value::Null);
    assert_eq!(
        &els[10..16],
        &[
            json!({"type":"Xml","xml":"<x/>"}),
            json!({"type":"Json","json":"{}"}),
            json!({"type":"App","content":"{}"}),
            json!({"type":"Poke","name":"ChuoYiChuo"}),
            json!({"type":"Dice","value":3}),
            json!({"type":"MusicShare","kind":"QQMusic","title":"t","summary":"s","jumpUrl":"j","pictureUrl":"p","musicUrl":"m","brief":"b"}),
        ]
    );
    // MarketFace and File are receive-only; a forward node by an unknown messageId is skipped.
    assert_eq!(
        els[16],
        json!({"type":"Forward","display":null,"nodeList":[{"senderId":20001,"time":5,"senderName":"Alice","messageChain":[{"type":"Plain","text":"n"}],"messageId":null,"messageRef":null}]})
    );
    assert_eq!(
        &els[17..],
        &[
            json!({"type":"At","target":20001,"display":""}),
            json!({"type":"Plain","text":" code[text]"})
        ]
    );

    // A local path with no server.media_root: refused (code 10) naming the key, whether the
    // file exists or not; everything dropped: 500.
    let refused =
        |path: &str| json!({"target":30001,"messageChain":[{"type":"Image","path":path}]});
    let missing = c.call("p", "sendGroupMessage", refused("/no/such.png")).await;
    let existing = c.call("p2", "sendGroupMessage", refused("/etc/hostname")).await;
    assert_eq!(missing["code"], 10, "{missing}");
    assert!(missing["msg"].as_str().unwrap_or("").contains("server.media_root"), "{missing}");
    assert_eq!(missing, existing, "no hint whether a host file exists");
    assert_eq!(
        c.call(
            "e",
            "sendGroupMessage",
            json!({"target":30001,"messageChain":[{"type":"MarketFace","id":1,"name":"x"}]})
        )
        .await["code"],
        500
    );
    assert_eq!(
        c.call(
            "a",
            "sendFriendMessage",
            json!({"target":20001,"messageChain":[{"type":"At","target":1}]})
        )
        .await["code"],
        500
    );
}

#[actix_web::test]
async fn local_files_are_sent_only_from_under_the_media_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("media");
    std::fs::create_dir(&root).expect("mkdir");
    std::fs::write(root.join("cat.png"), b"png").expect("write");
    std::fs::write(dir.path().join("secret.txt"), b"secret").expect("write");
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.png"))
        .expect("symlink");
    let server = format!("media_root: {:?}, ", root.display().to_string());
    let onebot = "onebot:\n  use_http: true\n  host: 127.0.0.2\n  port: 0\n";
    let gw = start_gateway_with(&server, WORLD, &format!("{}{onebot}", mirai_http_ws(""))).await;
    let mut c = mirai_ws_client(&gw).await;
    let send = |path: String| json!({"target":30001,"messageChain":[{"type":"Image","path":path}]});
    let inside = root.join("cat.png").display().to_string();
    assert_eq!(c.call("1", "sendGroupMessage", send(inside)).await["code"], 0);
    assert_eq!(c.call("2", "sendGroupMessage", send("cat.png".into())).await["code"], 0);
    let outside = c.call("3", "sendGroupMessage", send("../secret.txt".into())).await;
    let missing_outside = c.call("4", "sendGroupMessage", send("/no/such/x.png".into())).await;
    let via_link = c.call("5", "sendGroupMessage", send("link.png".into())).await;
    assert_eq!(outside["code"], 10, "{outside}");
    assert_eq!(outside, missing_outside, "no hint whether a file outside the root exists");
    assert_eq!(outside, via_link, "symlinks are resolved before the check");
    assert!(outside["msg"].as_str().unwrap_or("").contains("server.media_root"), "{outside}");
    let missing_inside = c.call("6", "sendGroupMessage", send("gone.png".into())).await;
    assert_eq!(missing_inside, json!({"code":6,"msg":"文件不存在：gone.png"}));

    // OneBot: file:// and plain paths follow the same rule.
    let http = gw.addr_of(botgate::listeners::Mount::OneBotHttp).expect("onebot http");
    let client = awc::Client::default();
    for (file, retcode) in [
        (format!("file://{}", root.join("cat.png").display()), 0),
        (root.join("cat.png").display().to_string(), 0),
        ("file:///etc/hostname".to_owned(), 102),
        ("/etc/hostname".to_owned(), 102),
    ] {
        let body = json!({"group_id":30001,"message":[{"type":"image","data":{"file":file}}]});
        let mut resp = client
            .post(format!("http://{http}/send_group_msg"))
            .send_json(&body)
            .await
            .expect("request");
        let v: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(v["retcode"], retcode, "{file}: {v}");
    }
}
