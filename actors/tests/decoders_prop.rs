//! Property tests of every decoder that bytes from the network reach: none panics on
//! arbitrary bytes, strings or JSON, and encoding then decoding a model message gives it
//! back, in every protocol that can carry it (mirai chains, OneBot segment arrays and CQ
//! strings, oicq_webd msgContent).

use botgate_actors::model::{Media, Segment};
use botgate_actors::protocol::qqbot::dispatch::{ContactKey, IdMap, SelfIds};
use botgate_actors::protocol::{mirai, oicq, onebot, qqbot};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Any JSON value, a few levels deep, with the keys decoders look for among the random ones.
fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type".to_owned()),
        Just("data".to_owned()),
        Just("id".to_owned()),
        Just("text".to_owned()),
        Just("target".to_owned()),
        Just("message".to_owned()),
        Just("msgContent".to_owned()),
        Just("content".to_owned()),
        Just("sender".to_owned()),
        Just("group".to_owned()),
        Just("author".to_owned()),
        Just("post_type".to_owned()),
        Just("message_type".to_owned()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("text".to_owned()),
            Just("group".to_owned()),
            Just("private".to_owned()),
            Just("message".to_owned()),
            Just("Plain".to_owned()),
            Just("At".to_owned()),
            Just("image".to_owned()),
            ".{0,12}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// Numbers for the QQ official decoder's ids.
#[derive(Default)]
struct Ids(std::collections::HashMap<String, i64>);

impl IdMap for Ids {
    fn contact(&mut self, key: &ContactKey) -> i64 {
        let n = self.0.len() as i64;
        *self.0.entry(key.encode()).or_insert(n)
    }
    fn message(&mut self, id: &str) -> i32 {
        let n = self.0.len() as i64;
        *self.0.entry(format!("m:{id}")).or_insert(n) as i32
    }
    fn known_message(&self, id: &str) -> Option<i32> {
        self.0.get(&format!("m:{id}")).map(|n| *n as i32)
    }
}

const QQ_EVENTS: &[&str] = &[
    "READY",
    "C2C_MESSAGE_CREATE",
    "GROUP_AT_MESSAGE_CREATE",
    "GROUP_MESSAGE_CREATE",
    "AT_MESSAGE_CREATE",
    "MESSAGE_CREATE",
    "DIRECT_MESSAGE_CREATE",
    "MESSAGE_DELETE",
    "DIRECT_MESSAGE_DELETE",
    "FRIEND_ADD",
    "FRIEND_DEL",
    "GROUP_ADD_ROBOT",
    "GROUP_DEL_ROBOT",
    "GROUP_MEMBER_ADD",
    "INTERACTION_CREATE",
    "GUILD_CREATE",
];

const ONEBOT_ACTIONS: &[&str] = &[
    "send_private_msg",
    "send_group_msg",
    "send_msg",
    "delete_msg",
    "get_msg",
    "set_group_ban",
    "set_group_kick",
    "get_group_member_list",
    "send_group_forward_msg",
    "set_friend_add_request",
    "set_group_add_request",
    "send_guild_channel_msg",
];

const MIRAI_COMMANDS: &[&str] = &[
    "sendGroupMessage",
    "sendFriendMessage",
    "sendTempMessage",
    "recall",
    "messageFromId",
    "mute",
    "kick",
    "memberList",
    "resp_newFriendRequestEvent",
    "roamingMessages",
    "anno_publish",
];

const OICQ_ROUTES: &[(&str, &str)] = &[
    ("POST", "sendMsg/private"),
    ("POST", "sendMsg/group"),
    ("POST", "revoke/group"),
    ("POST", "group/mute"),
    ("POST", "user/acceptFriend"),
    ("GET", "mesg/queryMsg"),
    ("GET", "mesg/parseForwardedMsg"),
    ("POST", "group/setAdmin"),
];

proptest! {
    // Failures are reported with their minimal input; nothing is written to the source tree.
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn no_decoder_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = mirai::envelope::parse_request(&bytes);
        let _ = onebot::action::parse_request(&bytes);
        let _ = qqbot::payload::Payload::parse(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = onebot::cq::parse(&text);
        let _ = mirai::mirai_code::parse(&text);
        let _ = qqbot::content::parse(&text, |_| (1, String::new()));
        let _ = oicq::ids::parse_msg_id(&text);
        let _ = oicq::ids::parse_event_id(&text);
    }

    #[test]
    fn no_decoder_panics_on_arbitrary_json(v in json(), pick in 0usize..64) {
        let elements = v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
        let _ = mirai::chain::decode(&elements, mirai::chain::ChainDirection::Send);
        let _ = mirai::chain::decode(&elements, mirai::chain::ChainDirection::Receive);
        let _ = mirai::decode::decode_input(&v);
        let _ = mirai::command::decode(MIRAI_COMMANDS[pick % MIRAI_COMMANDS.len()], None, &v);
        let _ = onebot::message::decode(&v, pick % 2 == 0);
        let _ = onebot::decode::decode_event(&v);
        let _ = onebot::decode::decode_input(&v);
        let _ = onebot::action::decode(ONEBOT_ACTIONS[pick % ONEBOT_ACTIONS.len()], &v);
        let me = SelfIds { user_id: "1".into() };
        let _ = qqbot::dispatch::decode(QQ_EVENTS[pick % QQ_EVENTS.len()], &v, Some("e"), &me, &mut Ids::default());
        let _ = qqbot::served::message_of_body(&v, |_| None, |_| Some(1));
        let _ = qqbot::payload::Payload::from_value(v.clone());
        let _ = oicq::read::read(&v, 10001, |_| 1);
        let _ = oicq::content::decode(&v);
        let params = v.as_object().cloned().unwrap_or_default();
        let (method, route) = OICQ_ROUTES[pick % OICQ_ROUTES.len()];
        let _ = oicq::api::command(method, route, &params);
    }

    #[test]
    fn a_message_survives_every_protocol(segments in message()) {
        // OneBot: a segment array and a CQ string.
        let array = onebot::message::to_array(&segments);
        let back = onebot::message::decode(&array, false).expect("array decodes").segments;
        prop_assert_eq!(unnamed(&merged(&back)), unnamed(&merged(&segments)));
        let cq = onebot::message::to_cq_string(&segments);
        let back = onebot::message::decode(&Value::String(cq.clone()), false).expect("CQ decodes").segments;
        prop_assert_eq!(unnamed(&merged(&back)), unnamed(&merged(&segments)), "{}", cq);
        // mirai: a message chain.
        let chain = mirai::chain::encode(None, &segments);
        let elements = chain.as_array().cloned().unwrap_or_default();
        let back = mirai::chain::decode(&elements, mirai::chain::ChainDirection::Receive).expect("chain decodes").segments;
        prop_assert_eq!(unnamed(&merged(&back)), unnamed(&merged(&segments)));
        // oicq_webd: msgContent.
        let content = oicq::content::encode(&segments, None);
        let back = oicq::content::decode(&content).expect("msgContent decodes");
        prop_assert_eq!(unnamed(&merged(&back)), unnamed(&merged(&segments)));
    }
}

/// A message of the elements every protocol carries.
fn message() -> impl Strategy<Value = Vec<Segment>> {
    let segment = prop_oneof![
        "[a-zA-Z0-9 ,.&\\[\\]<>\u{4e00}-\u{4e0f}]{1,12}".prop_map(Segment::Text),
        (10_000i64..4_000_000_000)
            .prop_map(|target| Segment::At { target, display: String::new() }),
        Just(Segment::AtAll),
        (0i32..300).prop_map(|id| Segment::Face { id, name: String::new(), is_super: false }),
        "[a-z]{1,8}".prop_map(|p| Segment::Image(Media {
            url: Some(format!("https://example.com/{p}.png")),
            ..Media::default()
        })),
    ];
    prop::collection::vec(segment, 1..8)
}

/// Adjacent texts joined: protocols may split or join text runs.
fn merged(segments: &[Segment]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for s in segments {
        match (out.last_mut(), s) {
            (Some(Segment::Text(a)), Segment::Text(b)) => a.push_str(b),
            _ => out.push(s.clone()),
        }
    }
    out
}

/// Face names and media details dropped: protocols fill a face's name from their tables and
/// media fields (a format, "UNKNOWN") the sender never gave.
fn unnamed(segments: &[Segment]) -> Vec<Segment> {
    segments
        .iter()
        .map(|s| match s {
            Segment::Face { id, .. } => {
                Segment::Face { id: *id, name: String::new(), is_super: false }
            }
            Segment::Image(m) => Segment::Image(Media { url: m.url.clone(), ..Media::default() }),
            other => other.clone(),
        })
        .collect()
}
