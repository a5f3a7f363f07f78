//! Messages to the platform: a model message as the OpenAPI's `content` plus at most one
//! media item, and the request bodies of the group, C2C, channel and DM scopes (spec A.6).

use serde_json::{json, Value};

use super::dispatch::Scope;
use crate::model::{BotError, Media, Segment, UserId};

/// What a media item is, as the upload's `file_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// 1: an image.
    Image = 1,
    /// 2: a video.
    Video = 2,
    /// 3: a voice clip (silk).
    Voice = 3,
}

/// Where a media item's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaData {
    /// A URL the platform downloads.
    Url(String),
    /// The bytes, base64-encoded (`file_data`).
    Base64(String),
    /// A local file (already checked against `server.media_root`), read before sending.
    Path(String),
}

/// A message as the platform takes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outgoing {
    /// The text with inline markup.
    pub content: String,
    /// One image, video or voice clip.
    pub media: Option<(FileType, MediaData)>,
    /// The message quoted, by the model's id (a passive reply to it).
    pub quote: Option<i32>,
}

/// Turns segments into content and media for `scope`. `mention` gives the platform id of a
/// mentioned number, when the scope can mention it. What the platform cannot send is an
/// error naming it, never silently dropped.
pub fn plan(
    segments: &[Segment],
    scope: &Scope,
    mention: impl Fn(UserId) -> Option<String>,
) -> Result<Outgoing, BotError> {
    let mut out = Outgoing::default();
    let guild = matches!(scope, Scope::Channel(_) | Scope::Direct(_));
    for segment in segments {
        match segment {
            Segment::Text(t) => out.content.push_str(t),
            Segment::At { target, display } => match mention(*target).filter(|_| guild) {
                Some(id) => out.content.push_str(&format!("<@!{id}>")),
                // QQ groups take no mentions from bots: the name is written instead.
                None if !display.is_empty() => out.content.push_str(display),
                None => {}
            },
            Segment::AtAll if guild => out.content.push_str("@everyone"),
            Segment::AtAll => {
                return Err(BotError::Unsupported(
                    "a bot on the QQ official platform cannot mention everyone in a QQ group"
                        .into(),
                ))
            }
            Segment::Face { id, .. } if *id >= 0 => out.content.push_str(&format!("<emoji:{id}>")),
            Segment::Face { name, .. } => out.content.push_str(&format!("[{name}]")),
            Segment::Quote(q) => out.quote = Some(q.id),
            Segment::Image(m) | Segment::FlashImage(m) => add_media(&mut out, FileType::Image, m)?,
            Segment::Voice(m) => add_media(&mut out, FileType::Voice, m)?,
            Segment::Video(m) => add_media(&mut out, FileType::Video, m)?,
            other => {
                return Err(BotError::Unsupported(format!(
                    "the QQ official platform cannot send a {} element",
                    element_name(other)
                )))
            }
        }
    }
    if out.content.trim().is_empty() && out.media.is_none() {
        return Err(BotError::InvalidParameter("the message is empty".into()));
    }
    if guild && matches!(out.media, Some((t, _)) if t != FileType::Image) {
        return Err(BotError::Unsupported(
            "guild channels and direct messages take images only".into(),
        ));
    }
    Ok(out)
}

fn add_media(out: &mut Outgoing, kind: FileType, m: &Media) -> Result<(), BotError> {
    if out.media.is_some() {
        return Err(BotError::Unsupported(
            "the QQ official platform sends one image, voice clip or video per message".into(),
        ));
    }
    let data = if let Some(url) = m.url.clone().filter(|u| !u.is_empty()) {
        MediaData::Url(url)
    } else if let Some(b64) = m.base64.clone().filter(|b| !b.is_empty()) {
        let b64 = b64.strip_prefix("base64://").map(str::to_owned).unwrap_or(b64);
        MediaData::Base64(b64)
    } else if let Some(path) = m.path.clone().filter(|p| !p.is_empty()) {
        MediaData::Path(path)
    } else {
        return Err(BotError::InvalidParameter(
            "media needs a url, base64 data or a local path (platform file ids cannot be resent)"
                .into(),
        ));
    };
    out.media = Some((kind, data));
    Ok(())
}

fn element_name(s: &Segment) -> &'static str {
    match s {
        Segment::Poke(_) => "poke",
        Segment::Dice(_) => "dice",
        Segment::MarketFace { .. } => "market face",
        Segment::MusicShare { .. } => "music share",
        Segment::Share { .. } => "share",
        Segment::Forward(_) => "forward",
        Segment::File { .. } => "file",
        Segment::Json(_) => "json",
        Segment::Xml(_) => "xml",
        Segment::App(_) => "app",
        _ => "such",
    }
}

/// The upload body of `/v2/{groups|users}/{id}/files`: the platform keeps the file for
/// sending (`srv_send_msg: false`) and answers its `file_info`.
pub fn upload_body(kind: FileType, data: &MediaData) -> Value {
    let mut body = json!({"file_type": kind as u8, "srv_send_msg": false});
    match data {
        MediaData::Url(url) => body["url"] = json!(url),
        MediaData::Base64(b64) => body["file_data"] = json!(b64),
        MediaData::Path(_) => {}
    }
    body
}

/// The path of a scope's messages, e.g. `/v2/groups/{openid}/messages`.
pub fn messages_path(scope: &Scope) -> String {
    match scope {
        Scope::Group(id) => format!("/v2/groups/{id}/messages"),
        Scope::User(id) => format!("/v2/users/{id}/messages"),
        Scope::Channel(id) => format!("/channels/{id}/messages"),
        Scope::Direct(id) => format!("/dms/{id}/messages"),
    }
}

/// The path of a scope's uploads; `None` where media go by URL in the message (guilds).
pub fn files_path(scope: &Scope) -> Option<String> {
    match scope {
        Scope::Group(id) => Some(format!("/v2/groups/{id}/files")),
        Scope::User(id) => Some(format!("/v2/users/{id}/files")),
        Scope::Channel(_) | Scope::Direct(_) => None,
    }
}

/// The body of a message: `content`, the `msg_type`, the uploaded media's `file_info`
/// (groups and C2C) or image URL (guilds), and the passive-reply fields.
pub fn message_body(
    scope: &Scope,
    out: &Outgoing,
    file_info: Option<&Value>,
    reply: &PassiveFields,
) -> Value {
    let mut body = json!({"content": out.content});
    match scope {
        Scope::Group(_) | Scope::User(_) => {
            if let Some(info) = file_info {
                body["msg_type"] = json!(7);
                body["media"] = json!({"file_info": info});
                if out.content.is_empty() {
                    // The platform wants some content with media.
                    body["content"] = json!(" ");
                }
            } else {
                body["msg_type"] = json!(0);
            }
            body["msg_seq"] = json!(reply.msg_seq);
        }
        Scope::Channel(_) | Scope::Direct(_) => {
            if let Some((_, MediaData::Url(url))) = &out.media {
                body["image"] = json!(url);
            }
        }
    }
    if let Some(id) = &reply.msg_id {
        body["msg_id"] = json!(id);
    } else if let Some(id) = &reply.event_id {
        body["event_id"] = json!(id);
    }
    body
}

/// What makes a message a passive reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PassiveFields {
    /// The message replied to.
    pub msg_id: Option<String>,
    /// Or the event replied to.
    pub event_id: Option<String>,
    /// The reply's number among the replies to that message (from 1).
    pub msg_seq: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: UserId) -> Option<String> {
        None
    }

    #[test]
    fn text_faces_and_one_image() {
        let image =
            Segment::Image(Media { url: Some("https://x/a.png".into()), ..Media::default() });
        let segs = vec![
            Segment::Text("hi ".into()),
            Segment::Face { id: 4, name: "得意".into(), is_super: false },
            image.clone(),
        ];
        let out = plan(&segs, &Scope::Group("G".into()), none).expect("plan");
        assert_eq!(out.content, "hi <emoji:4>");
        assert_eq!(out.media, Some((FileType::Image, MediaData::Url("https://x/a.png".into()))));
        let two = plan(&[image.clone(), image], &Scope::Group("G".into()), none);
        assert!(matches!(two, Err(BotError::Unsupported(_))));
        assert!(
            matches!(plan(&[Segment::Xml("<a/>".into())], &Scope::User("U".into()), none), Err(BotError::Unsupported(m)) if m.contains("xml"))
        );
        assert!(matches!(
            plan(&[], &Scope::User("U".into()), none),
            Err(BotError::InvalidParameter(_))
        ));
        assert!(matches!(
            plan(&[Segment::AtAll], &Scope::Group("G".into()), none),
            Err(BotError::Unsupported(_))
        ));
    }

    #[test]
    fn mentions_in_channels_and_bodies() {
        let segs =
            vec![Segment::At { target: 5, display: "@bob".into() }, Segment::Text(" yo".into())];
        let out =
            plan(&segs, &Scope::Channel("C".into()), |n| Some(format!("g{n}"))).expect("plan");
        assert_eq!(out.content, "<@!g5> yo");
        let out_group =
            plan(&segs, &Scope::Group("G".into()), |n| Some(format!("g{n}"))).expect("plan");
        assert_eq!(out_group.content, "@bob yo");

        let passive = PassiveFields { msg_id: Some("M1".into()), event_id: None, msg_seq: 2 };
        let body = message_body(&Scope::Group("G".into()), &out_group, None, &passive);
        assert_eq!(
            body,
            json!({"content": "@bob yo", "msg_type": 0, "msg_seq": 2, "msg_id": "M1"})
        );
        let info = json!("FILEINFO");
        let media = Outgoing {
            content: String::new(),
            media: Some((FileType::Image, MediaData::Url("u".into()))),
            quote: None,
        };
        let body = message_body(
            &Scope::User("U".into()),
            &media,
            Some(&info),
            &PassiveFields { event_id: Some("E".into()), msg_seq: 1, ..Default::default() },
        );
        assert_eq!(
            body,
            json!({"content": " ", "msg_type": 7, "media": {"file_info": "FILEINFO"}, "msg_seq": 1, "event_id": "E"})
        );
        let body =
            message_body(&Scope::Channel("C".into()), &media, None, &PassiveFields::default());
        assert_eq!(body, json!({"content": "", "image": "u"}));
        assert_eq!(
            upload_body(FileType::Voice, &MediaData::Base64("AAA".into())),
            json!({"file_type": 3, "srv_send_msg": false, "file_data": "AAA"})
        );
        assert_eq!(messages_path(&Scope::Direct("D".into())), "/dms/D/messages");
    }
}
