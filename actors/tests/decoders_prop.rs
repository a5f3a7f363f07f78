//! Property tests of every decoder that bytes from the network reach: none panics on
//! arbitrary bytes, strings or JSON, and encoding then decoding a model message gives it
//! back, in every protocol that can carry it (mirai chains, OneBot segment arrays and CQ
//! strings, oicq_webd msgContent). Events round-trip too, through the protocols botgate
//! consumes events in (OneBot v11, oicq_webd, the QQ official platform's dispatches): what
//! the wire carries of a model event is decoded back to an event that encodes to the same
//! wire form. And a command botgate sends
//! to a OneBot implementation decodes, as a OneBot action, back to the same command.

use botgate_actors::model::{
    Command, Event, Friend, Group, Media, Member, MessageEvent, MessageKind, MessageSource,
    MessageTarget, Permission, RequestEvent, RequestKind, Segment, UserId,
};
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
    fn an_event_survives_onebot(e in event()) {
        let wire = onebot_wire(&e).expect("every generated event has a OneBot form");
        let back = onebot::decode::decode_event(&wire).map_err(TestCaseError::fail)?;
        prop_assert_eq!(onebot_wire(&back), Some(wire));
    }

    #[test]
    fn the_model_survives_serialization(e in event(), c in command()) {
        // The form events and commands travel in between the nodes of a cluster.
        let back: Event = serde_json::from_str(&serde_json::to_string(&e).expect("encodes")).expect("decodes");
        prop_assert_eq!(back, e);
        let back: Command = serde_json::from_str(&serde_json::to_string(&c).expect("encodes")).expect("decodes");
        prop_assert_eq!(back, c);
    }

    #[test]
    fn a_command_survives_onebot_actions(c in command()) {
        let action = onebot::upstream::action_for(&c, |_| None).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let back = match onebot::action::decode(&action.action, &action.params) {
            Ok(onebot::action::OneBotCall::Bot(back, _)) => back,
            other => return Err(TestCaseError::fail(format!("{}: {other:?}", action.action))),
        };
        let (back, c) = (comparable(back), comparable(c));
        prop_assert_eq!(back, c, "{} {}", action.action, action.params);
    }

    #[test]
    fn an_event_survives_the_qq_official_protocol(e in event()) {
        let me = SelfIds { user_id: format!("U{BOT}") };
        for sent in qqbot::served::dispatches(&e, BOT, 1_700_000_000, test_openid) {
            let Some(inbound) = qqbot::dispatch::decode(sent.t, &sent.d, Some("EV"), &me, &mut OpenidNumbers)
                .map_err(TestCaseError::fail)?
            else {
                return Err(TestCaseError::fail(format!("{} decoded to nothing", sent.t)));
            };
            let again = qqbot::served::dispatches(&inbound.event, BOT, 1_700_000_000, test_openid);
            prop_assert!(
                again.iter().any(|d| d.t == sent.t && d.d == sent.d),
                "{} {} became {:?}", sent.t, sent.d, again
            );
        }
    }

    #[test]
    fn an_event_survives_oicq_webd(e in event()) {
        let Some(wire) = oicq_wire(&e) else {
            // oicq_webd has no packet for this kind: nothing to carry.
            return Ok(());
        };
        let number = |id: &str| oicq::packet::msg_number(id).unwrap_or(-1);
        let back = oicq::read::read(&wire, BOT, number)
            .map_err(TestCaseError::fail)?
            .expect("a packet botgate writes is one it reads");
        // A request's eventID is kept aside to answer it by (the source numbers it itself).
        let event_id = wire["data"]["eventID"].as_str().map(str::to_owned);
        prop_assert_eq!(&back.request, &event_id);
        let without_id = |mut v: Value| {
            if let Some(d) = v["data"].as_object_mut() {
                d.remove("eventID");
            }
            v
        };
        prop_assert_eq!(oicq_wire(&back.event).map(without_id), Some(without_id(wire)));
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

const BOT: UserId = 10001;

fn group() -> impl Strategy<Value = Group> {
    (100_000i64..999_999, "[a-z\u{4e00}-\u{4e0f}]{1,8}").prop_map(|(id, name)| Group {
        id,
        name,
        permission: Permission::Member,
    })
}

fn member() -> impl Strategy<Value = Member> {
    (20_000i64..2_000_000_000, "[a-zA-Z]{1,8}", group(), 0usize..3).prop_map(
        |(id, nickname, group, rank)| {
            let mut m = Member::plain(id, &nickname, group);
            m.nickname = nickname;
            m.permission = [Permission::Member, Permission::Administrator, Permission::Owner][rank];
            m
        },
    )
}

fn friend() -> impl Strategy<Value = Friend> {
    (20_000i64..2_000_000_000, "[a-zA-Z]{1,8}").prop_map(|(id, nickname)| Friend {
        id,
        nickname,
        remark: String::new(),
    })
}

/// The events botgate consumes from platforms: messages of every kind, recalls, joins and
/// leaves, mutes, admin changes, new friends and requests.
fn event() -> impl Strategy<Value = Event> {
    let source = (1i32..i32::MAX, 1_600_000_000i64..1_900_000_000)
        .prop_map(|(id, time)| MessageSource { id, time });
    let message = (
        prop_oneof![
            member().prop_map(|sender| MessageKind::Group { sender }),
            friend().prop_map(|sender| MessageKind::Friend { sender }),
            member().prop_map(|sender| MessageKind::Temp { sender }),
        ],
        source,
        message(),
    )
        .prop_map(|(kind, source, message)| Event::Message(MessageEvent { kind, source, message }));
    let operator = || prop::option::of(member());
    prop_oneof![
        4 => message,
        1 => (member(), 1i32..i32::MAX, operator()).prop_map(|(m, message_id, operator)| {
            let operator = operator.map(|o| Member { group: m.group.clone(), ..o });
            Event::GroupRecall { author_id: m.id, message_id, time: 0, group: m.group, operator }
        }),
        1 => (friend(), 1i32..i32::MAX).prop_map(|(f, message_id)| Event::FriendRecall {
            author_id: f.id,
            message_id,
            time: 0,
            operator: f.id,
        }),
        1 => member().prop_map(|member| Event::MemberJoin { member, invitor: None }),
        1 => member().prop_map(|member| Event::MemberLeaveQuit { member }),
        1 => (member(), operator()).prop_map(|(member, operator)| {
            let operator = operator.map(|o| Member { group: member.group.clone(), ..o });
            Event::MemberLeaveKick { member, operator }
        }),
        1 => (member(), 1i64..2_592_000, operator()).prop_map(|(member, d, operator)| {
            let operator = operator.map(|o| Member { group: member.group.clone(), ..o });
            Event::MemberMute { member, duration_seconds: d, operator }
        }),
        1 => (member(), any::<bool>()).prop_map(|(member, up)| {
            let (origin, current) = if up {
                (Permission::Member, Permission::Administrator)
            } else {
                (Permission::Administrator, Permission::Member)
            };
            Event::MemberPermissionChange { member, origin, current }
        }),
        1 => friend().prop_map(|friend| Event::FriendAdd { friend, stranger: false }),
        1 => (1i64..i64::MAX / 2, friend(), "[a-z ]{0,12}").prop_map(|(event_id, f, message)| {
            Event::Request(RequestEvent {
                event_id,
                from_id: f.id,
                group_id: 0,
                nick: f.nickname,
                message,
                kind: RequestKind::NewFriend,
            })
        }),
    ]
}

/// Commands botgate sends to a OneBot implementation for a client: sends (with a quote or
/// not), recalls, mutes, kicks, mute-all.
fn command() -> impl Strategy<Value = Command> {
    let id = || 10_000i64..4_000_000_000;
    let target = prop_oneof![
        id().prop_map(MessageTarget::Group),
        id().prop_map(MessageTarget::Friend),
        (id(), id()).prop_map(|(group, member)| MessageTarget::Temp { group, member }),
    ];
    prop_oneof![
        (target, message(), prop::option::of(1i32..i32::MAX))
            .prop_map(|(target, message, quote)| Command::SendMessage { target, message, quote }),
        (1i32..i32::MAX).prop_map(|message_id| Command::Recall { context: None, message_id }),
        (id(), id(), 60i64..2_592_000).prop_map(|(group, member, seconds)| Command::Mute {
            group,
            member,
            seconds
        }),
        (id(), id()).prop_map(|(group, member)| Command::Unmute { group, member }),
        (id(), id(), any::<bool>()).prop_map(|(group, member, block)| Command::Kick {
            group,
            member,
            block,
            message: String::new()
        }),
        (id(), any::<bool>()).prop_map(|(group, enable)| Command::MuteAll { group, enable }),
    ]
}

/// OneBot's wire form of an event without what its decoder leaves to the source's contact
/// lists (the sender's profile), and with what differs per encoding run.
fn onebot_wire(e: &Event) -> Option<Value> {
    let mut v = onebot::event::encode(BOT, 1_700_000_000, e, onebot::event::MessageFormat::Array)?;
    if let Some(o) = v.as_object_mut() {
        if let Some(sender) = o.get_mut("sender").and_then(Value::as_object_mut) {
            sender.retain(|k, _| k == "user_id");
        }
    }
    Some(v)
}

/// Openids a test can read back: the kind's letter and the numbers.
fn test_openid(of: qqbot::served::OpenidOf) -> String {
    match of {
        qqbot::served::OpenidOf::Group(g) => format!("G{g}"),
        qqbot::served::OpenidOf::Member { member, .. } => format!("M{member}"),
        qqbot::served::OpenidOf::User(u) => format!("U{u}"),
    }
}

/// Numbers back from [`test_openid`]'s openids and botgate's message ids.
struct OpenidNumbers;

impl IdMap for OpenidNumbers {
    fn contact(&mut self, key: &ContactKey) -> i64 {
        let id = match key {
            ContactKey::Member { member, .. } => member,
            ContactKey::Group(id)
            | ContactKey::User(id)
            | ContactKey::Channel(id)
            | ContactKey::GuildUser(id)
            | ContactKey::Direct(id) => id,
        };
        id.get(1..).and_then(|n| n.parse().ok()).unwrap_or(-1)
    }
    fn message(&mut self, id: &str) -> i32 {
        qqbot::served::message_number(id).unwrap_or(-1)
    }
    fn known_message(&self, id: &str) -> Option<i32> {
        qqbot::served::message_number(id)
    }
}

/// oicq_webd's wire form of an event.
fn oicq_wire(e: &Event) -> Option<Value> {
    oicq::packet::packet(e, BOT, 1_700_000_000)
}

/// A command with its message's text runs joined and face names and media details dropped,
/// as [`merged`] and [`unnamed`] do for messages.
fn comparable(c: Command) -> Command {
    match c {
        Command::SendMessage { target, message, quote } => {
            Command::SendMessage { target, message: unnamed(&merged(&message)), quote }
        }
        other => other,
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
