//! The QQ official protocol from the platform's side, for SDK bots botgate serves: model
//! events as dispatches (`t` + `d`, with the intent that carries each), message bodies the
//! SDKs post as segments, and the string ids the platform uses — openids per app (32
//! uppercase hex characters, derived from the app's secret so they are stable and differ per
//! app) and message ids.

use serde_json::{json, Value};

use super::content;
use crate::model::{Event, Media, MessageEvent, MessageKind, Permission, Segment, UserId};

/// What an openid names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenidOf {
    /// A group (`group_openid`).
    Group(UserId),
    /// A member of a group (`member_openid`: differs per group).
    Member {
        /// The group.
        group: UserId,
        /// The member.
        member: UserId,
    },
    /// A user of C2C messages (`user_openid`).
    User(UserId),
}

/// The openid of `of` for the app whose secret is `secret`: HMAC-SHA1 of the kind and
/// numbers, its first 16 bytes in uppercase hex. Stable, distinct per app, unguessable
/// without the secret, as the platform's are.
pub fn openid(secret: &str, of: OpenidOf) -> String {
    let text = match of {
        OpenidOf::Group(g) => format!("group:{g}"),
        OpenidOf::Member { group, member } => format!("member:{group}:{member}"),
        OpenidOf::User(u) => format!("user:{u}"),
    };
    let digest = crate::secret::hmac_sha1(secret, &[text.as_bytes()]);
    hex::encode_upper(&digest[..16])
}

/// The platform's id of message `id` (unique within its group or chat).
pub fn message_id(id: i32) -> String {
    format!("ROBOT1.0_{id}")
}

/// The message number a platform message id names, if it is one of botgate's.
pub fn message_number(platform_id: &str) -> Option<i32> {
    platform_id.strip_prefix("ROBOT1.0_")?.parse().ok()
}

/// One dispatch: the event name, its body, and the intent bit a session needs to get it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    /// `t`.
    pub t: &'static str,
    /// `d`.
    pub d: Value,
    /// The intent bit.
    pub intent: u64,
    /// Where a reply goes and what it may name: a message id, or else the event's own id.
    pub reply: Option<(ReplyScope, Option<String>)>,
}

/// A reply scope of a served app, by the model's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyScope {
    /// A group.
    Group(UserId),
    /// A C2C chat with a user.
    User(UserId),
}

const GROUP_AND_C2C: u64 = 1 << 25;
/// Every group message, not only @-messages (the platform's opt-in; private-domain bit).
const ALL_GROUP_MESSAGES: u64 = 1 << 9;

/// The dispatches an event of bot `bot` becomes for an app; `openid_of` gives openids.
/// Events the platform has no counterpart for become none.
pub fn dispatches(
    event: &Event,
    bot: UserId,
    time: i64,
    mut openid_of: impl FnMut(OpenidOf) -> String,
) -> Vec<Dispatch> {
    let timestamp = rfc3339(time);
    match event {
        Event::Message(m) => message_dispatches(m, bot, &timestamp, &mut openid_of),
        Event::FriendAdd { friend, .. } | Event::FriendDelete { friend } => {
            let openid = openid_of(OpenidOf::User(friend.id));
            let t =
                if matches!(event, Event::FriendAdd { .. }) { "FRIEND_ADD" } else { "FRIEND_DEL" };
            let reply = (t == "FRIEND_ADD").then_some((ReplyScope::User(friend.id), None));
            vec![Dispatch {
                t,
                d: json!({"openid": openid, "timestamp": time, "nick": friend.nickname, "avatar": ""}),
                intent: GROUP_AND_C2C,
                reply,
            }]
        }
        Event::BotJoinGroup { group, invitor } => {
            let op = invitor
                .as_ref()
                .map(|m| openid_of(OpenidOf::Member { group: group.id, member: m.id }))
                .unwrap_or_default();
            vec![Dispatch {
                t: "GROUP_ADD_ROBOT",
                d: json!({"group_openid": openid_of(OpenidOf::Group(group.id)),
                          "op_member_openid": op, "timestamp": time}),
                intent: GROUP_AND_C2C,
                reply: Some((ReplyScope::Group(group.id), None)),
            }]
        }
        Event::BotLeaveActive { group }
        | Event::BotLeaveKick { group, .. }
        | Event::BotLeaveDisband { group, .. } => {
            let op = match event {
                Event::BotLeaveKick { operator: Some(m), .. }
                | Event::BotLeaveDisband { operator: Some(m), .. } => {
                    openid_of(OpenidOf::Member { group: group.id, member: m.id })
                }
                _ => String::new(),
            };
            vec![Dispatch {
                t: "GROUP_DEL_ROBOT",
                d: json!({"group_openid": openid_of(OpenidOf::Group(group.id)),
                          "op_member_openid": op, "timestamp": time}),
                intent: GROUP_AND_C2C,
                reply: None,
            }]
        }
        _ => Vec::new(),
    }
}

fn message_dispatches(
    m: &MessageEvent,
    bot: UserId,
    timestamp: &str,
    openid_of: &mut impl FnMut(OpenidOf) -> String,
) -> Vec<Dispatch> {
    let id = message_id(m.source.id);
    match &m.kind {
        MessageKind::Group { sender } => {
            let group = sender.group.id;
            let group_openid = openid_of(OpenidOf::Group(group));
            let member_openid = openid_of(OpenidOf::Member { group, member: sender.id });
            let at_bot =
                m.message.iter().any(|s| matches!(s, Segment::At { target, .. } if *target == bot));
            let mut mention = |n: UserId| openid_of(OpenidOf::Member { group, member: n });
            let (content, attachments) = render(&m.message, bot, &mut mention);
            let role = match sender.permission {
                Permission::Owner => "owner",
                Permission::Administrator => "admin",
                Permission::Member => "member",
            };
            let d = |content: String| {
                json!({"id": id, "content": content, "timestamp": timestamp,
                       "group_id": group_openid, "group_openid": group_openid,
                       "author": {"id": member_openid, "member_openid": member_openid,
                                  "union_openid": member_openid, "bot": false,
                                  "member_role": role},
                       "attachments": attachments, "message_type": 0,
                       "message_scene": {"source": "default", "ext": []}})
            };
            let reply = Some((ReplyScope::Group(group), Some(id.clone())));
            let mut out = Vec::new();
            if at_bot {
                // The platform removes the bot's mention and leaves the space after it.
                let at_content =
                    if content.starts_with(' ') { content.clone() } else { format!(" {content}") };
                out.push(Dispatch {
                    t: "GROUP_AT_MESSAGE_CREATE",
                    d: d(at_content),
                    intent: GROUP_AND_C2C,
                    reply: reply.clone(),
                });
            }
            out.push(Dispatch {
                t: "GROUP_MESSAGE_CREATE",
                d: d(content),
                intent: ALL_GROUP_MESSAGES,
                reply,
            });
            out
        }
        MessageKind::Friend { sender } | MessageKind::Stranger { sender } => {
            let user_openid = openid_of(OpenidOf::User(sender.id));
            let (content, attachments) = render(&m.message, bot, &mut |_| String::new());
            vec![Dispatch {
                t: "C2C_MESSAGE_CREATE",
                d: json!({"id": id, "content": content, "timestamp": timestamp,
                          "author": {"id": user_openid, "user_openid": user_openid,
                                     "union_openid": user_openid},
                          "attachments": attachments, "message_type": 0,
                          "message_scene": {"source": "default", "ext": []}}),
                intent: GROUP_AND_C2C,
                reply: Some((ReplyScope::User(sender.id), Some(id))),
            }]
        }
        _ => Vec::new(),
    }
}

/// Segments as the platform pushes them: entity-escaped text with inline markup (the bot's
/// own mention dropped), images and other media as attachments.
fn render(
    segments: &[Segment],
    bot: UserId,
    mention: &mut impl FnMut(UserId) -> String,
) -> (String, Vec<Value>) {
    let mut text = String::new();
    let mut attachments = Vec::new();
    for s in segments {
        match s {
            Segment::Text(t) => text.push_str(&escape(t)),
            Segment::At { target, .. } if *target == bot => {}
            Segment::At { target, .. } => {
                let openid = mention(*target);
                if !openid.is_empty() {
                    text.push_str(&format!("<@{openid}>"));
                }
            }
            Segment::AtAll => text.push_str("@everyone"),
            Segment::Face { id, .. } => {
                text.push_str(&format!("<faceType=1,faceId=\"{id}\",ext=\"\">"))
            }
            Segment::Image(m) | Segment::FlashImage(m) => attachments.push(attachment(m, "image")),
            Segment::Voice(m) => attachments.push(attachment(m, "voice")),
            Segment::Video(m) => attachments.push(attachment(m, "video")),
            Segment::File { id, name, size } => attachments.push(json!({"content_type": "file",
                "filename": name, "url": id, "size": size})),
            other => text.push_str(&escape(&other.plain_text())),
        }
    }
    (text, attachments)
}

fn attachment(m: &Media, kind: &str) -> Value {
    let format = m.format.to_ascii_lowercase();
    let content_type = match kind {
        "image" if !format.is_empty() && format != "unknown" => format!("image/{format}"),
        "image" => "image/png".to_owned(),
        other => other.to_owned(),
    };
    json!({"content_type": content_type, "filename": m.id.clone().unwrap_or_default(),
           "url": m.url.clone().unwrap_or_default(), "width": m.width, "height": m.height,
           "size": m.size})
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Why a posted message cannot be delivered: the platform's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The platform's error code.
    pub code: i64,
    /// Its message.
    pub message: String,
}

/// A media item an SDK uploaded (`/files`), kept for the `file_info` it got.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// 1 image, 2 video, 3 voice, 4 file.
    pub file_type: i64,
    /// The media.
    pub media: Media,
}

/// The segments of a posted message body (`msg_type` 0 text, 2 markdown, 7 media);
/// `upload` resolves a `file_info`, `member` the number of a mentioned openid.
pub fn message_of_body(
    body: &Value,
    upload: impl Fn(&str) -> Option<Upload>,
    member: impl Fn(&str) -> Option<UserId>,
) -> Result<Vec<Segment>, Refusal> {
    let refuse = |code, message: &str| Refusal { code, message: message.to_owned() };
    let msg_type =
        body.get("msg_type").and_then(crate::protocol::lenient::int_from_value).unwrap_or(0);
    let content = body.get("content").and_then(Value::as_str).unwrap_or("");
    let mut segments = match msg_type {
        0 | 7 => content::parse(content, |id| (member(id).unwrap_or(0), String::new()))
            .into_iter()
            .filter(|s| !matches!(s, Segment::At { target: 0, .. }))
            .collect(),
        2 => {
            let md = body.get("markdown").and_then(|m| m.get("content")).and_then(Value::as_str);
            match md {
                Some(text) if !text.is_empty() => vec![Segment::Text(text.to_owned())],
                _ => return Err(refuse(40034008, "markdown 消息需要 content（模板消息不受支持）")),
            }
        }
        3 | 4 => return Err(refuse(40034010, "ark 与 embed 消息无法投递到该账号")),
        _ => return Err(refuse(40034001, "msg_type 不合法")),
    };
    if msg_type == 7 {
        let info = body.get("media").and_then(|m| m.get("file_info")).and_then(Value::as_str);
        let Some(u) = info.and_then(upload) else {
            return Err(refuse(40034012, "media.file_info 无效或已过期"));
        };
        if matches!(segments.as_slice(), [Segment::Text(t)] if t.trim().is_empty()) {
            segments.clear();
        }
        segments.push(match u.file_type {
            2 => Segment::Video(u.media),
            3 => Segment::Voice(u.media),
            _ => Segment::Image(u.media),
        });
    }
    if segments.is_empty() {
        return Err(refuse(40034003, "消息内容为空"));
    }
    Ok(segments)
}

/// An RFC 3339 timestamp in Beijing time, as the platform writes them.
pub fn rfc3339(unix: i64) -> String {
    let secs = unix + 8 * 3600;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+08:00", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Friend, Group, Member, MessageSource};

    fn member(id: UserId) -> Member {
        Member {
            id,
            member_name: "A".into(),
            nickname: "A".into(),
            card: String::new(),
            special_title: String::new(),
            permission: Permission::Member,
            join_timestamp: 0,
            last_speak_timestamp: 0,
            mute_time_remaining: 0,
            group: Group { id: 30001, name: "g".into(), permission: Permission::Member },
        }
    }

    #[test]
    fn openids_are_stable_per_app_and_look_like_the_platforms() {
        let a = openid("s1", OpenidOf::Group(30001));
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        assert_eq!(a, openid("s1", OpenidOf::Group(30001)));
        assert_ne!(a, openid("s2", OpenidOf::Group(30001)), "per app");
        assert_ne!(
            openid("s1", OpenidOf::Member { group: 1, member: 2 }),
            openid("s1", OpenidOf::Member { group: 3, member: 2 })
        );
        assert_eq!(message_number(&message_id(42)), Some(42));
        assert_eq!(message_number("elsewhere"), None);
        assert_eq!(rfc3339(1_621_494_898), "2021-05-20T15:14:58+08:00");
    }

    #[test]
    fn group_messages_at_the_bot_become_both_dispatches_and_c2c_one() {
        let m = MessageEvent {
            kind: MessageKind::Group { sender: member(20001) },
            source: MessageSource { id: 7, time: 0 },
            message: vec![
                Segment::At { target: 10001, display: String::new() },
                Segment::Text(" hi <x> &".into()),
                Segment::Image(Media { url: Some("http://i/a.png".into()), ..Media::default() }),
            ],
        };
        let ids = |of: OpenidOf| openid("s", of);
        let out = dispatches(&Event::Message(m), 10001, 1_621_494_898, ids);
        assert_eq!(
            out.iter().map(|d| d.t).collect::<Vec<_>>(),
            vec!["GROUP_AT_MESSAGE_CREATE", "GROUP_MESSAGE_CREATE"]
        );
        let d = &out[0].d;
        assert_eq!(d["content"], " hi &lt;x&gt; &amp;");
        assert_eq!(d["id"], "ROBOT1.0_7");
        assert_eq!(d["group_openid"], openid("s", OpenidOf::Group(30001)));
        assert_eq!(
            d["author"]["member_openid"],
            openid("s", OpenidOf::Member { group: 30001, member: 20001 })
        );
        assert_eq!(d["attachments"][0]["content_type"], "image/png");
        assert_eq!(d["timestamp"], "2021-05-20T15:14:58+08:00");

        let c = MessageEvent {
            kind: MessageKind::Friend {
                sender: Friend { id: 20002, nickname: "B".into(), remark: String::new() },
            },
            source: MessageSource { id: 8, time: 0 },
            message: vec![Segment::Text("yo".into())],
        };
        let out = dispatches(&Event::Message(c), 10001, 0, |of| openid("s", of));
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].t, out[0].d["author"]["user_openid"].clone()),
            ("C2C_MESSAGE_CREATE", json!(openid("s", OpenidOf::User(20002))))
        );
    }

    #[test]
    fn posted_bodies_become_segments_or_the_platforms_refusal() {
        let none = |_: &str| None;
        let segs =
            message_of_body(&json!({"content": "hi <emoji:4>", "msg_type": 0}), none, |_| None)
                .expect("text");
        assert_eq!(segs[1], Segment::Face { id: 4, name: String::new(), is_super: false });
        let md = message_of_body(
            &json!({"msg_type": 2, "markdown": {"content": "**b**"}}),
            none,
            |_| None,
        )
        .expect("md");
        assert_eq!(md, vec![Segment::Text("**b**".into())]);
        let up = |i: &str| {
            (i == "FI").then(|| Upload {
                file_type: 1,
                media: Media { url: Some("u".into()), ..Media::default() },
            })
        };
        let media = message_of_body(
            &json!({"msg_type": 7, "content": " ", "media": {"file_info": "FI"}}),
            up,
            |_| None,
        )
        .expect("media");
        assert!(matches!(media.as_slice(), [Segment::Image(_)]));
        assert_eq!(
            message_of_body(&json!({"msg_type": 7, "media": {"file_info": "X"}}), up, |_| None)
                .unwrap_err()
                .code,
            40034012
        );
        assert_eq!(
            message_of_body(&json!({"msg_type": 3}), none, |_| None).unwrap_err().code,
            40034010
        );
        assert_eq!(
            message_of_body(&json!({"msg_type": 0, "content": ""}), none, |_| None)
                .unwrap_err()
                .code,
            40034003
        );
    }
}
