//! Messages: an ordered list of segments, and where a message came from.

use super::contact::UserId;

/// The identity of one message: its id (unique within its contact) and when it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageSource {
    /// The message id, unique within the contact the message belongs to.
    pub id: i32,
    /// When the message was sent, in Unix seconds.
    pub time: i64,
}

/// A reference to an earlier message that a message replies to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Quote {
    /// The quoted message's id.
    pub id: i32,
    /// Who sent the quoted message.
    pub sender_id: UserId,
    /// Where the quoted message was sent to (a friend or a group).
    pub target_id: UserId,
    /// The group the quoted message belongs to; 0 in private chats.
    pub group_id: UserId,
    /// The quoted message's content.
    pub origin: Vec<Segment>,
}

/// An image, voice clip or video: every way a client may name one.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Media {
    /// The platform's id of the uploaded file.
    pub id: Option<String>,
    /// A URL the file can be downloaded from.
    pub url: Option<String>,
    /// A local path on the gateway's machine.
    pub path: Option<String>,
    /// The file's content, base64-encoded.
    pub base64: Option<String>,
    /// Width in pixels (images).
    pub width: i64,
    /// Height in pixels (images).
    pub height: i64,
    /// Size in bytes.
    pub size: i64,
    /// The file's format (`PNG`, `JPG`, `GIF`, `UNKNOWN`, `amr`, `mp4`…).
    pub format: String,
    /// Whether an image is a sticker ("emoji").
    pub is_emoji: bool,
    /// Length in seconds (voice).
    pub length: i64,
}

/// One node of a forwarded-messages bundle.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ForwardNode {
    /// Who sent this node's message.
    pub sender_id: UserId,
    /// When, in Unix seconds.
    pub time: i64,
    /// The sender's display name.
    pub sender_name: String,
    /// The node's content.
    pub message: Vec<Segment>,
}

/// One element of a message. Protocol codecs convert these to and from mirai chain elements,
/// OneBot segments, CQ codes, QQ official `content` + attachments and oicq `msgContent`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Segment {
    /// Plain text.
    Text(String),
    /// Mentions a member; `display` is the text shown for it (may be empty).
    At {
        /// The mentioned QQ number.
        target: UserId,
        /// How the mention is displayed.
        display: String,
    },
    /// Mentions everyone in the group.
    AtAll,
    /// A built-in QQ face.
    Face {
        /// The face id; -1 when only the name is known.
        id: i32,
        /// The face's name.
        name: String,
        /// Whether it is an animated "super" face.
        is_super: bool,
    },
    /// A reply to an earlier message.
    Quote(Quote),
    /// An image.
    Image(Media),
    /// An image that can be viewed once.
    FlashImage(Media),
    /// A voice clip.
    Voice(Media),
    /// A short video.
    Video(Media),
    /// A poke ("nudge" message), by its platform name.
    Poke(String),
    /// A dice roll with its value.
    Dice(i32),
    /// A store sticker.
    MarketFace {
        /// The sticker's id.
        id: i32,
        /// The sticker's name.
        name: String,
    },
    /// A shared song card.
    MusicShare {
        /// The music platform (`NeteaseCloudMusic`, `QQMusic`…).
        kind: String,
        /// The song's title.
        title: String,
        /// The card's summary line.
        summary: String,
        /// Where the card links to.
        jump_url: String,
        /// The cover picture.
        picture_url: String,
        /// The audio URL.
        music_url: String,
        /// The text shown in the chat list.
        brief: String,
    },
    /// A shared link card (OneBot's `share`).
    Share {
        /// Where it links to.
        url: String,
        /// Its title.
        title: String,
        /// Its description line.
        content: String,
        /// Its preview picture.
        image: String,
    },
    /// A bundle of forwarded messages.
    Forward(Vec<ForwardNode>),
    /// A group or offline file.
    File {
        /// The file's id.
        id: String,
        /// The file's name.
        name: String,
        /// The file's size in bytes.
        size: i64,
    },
    /// A JSON card.
    Json(String),
    /// An XML card.
    Xml(String),
    /// A light-app card.
    App(String),
}

impl Segment {
    /// The text a plain-text rendering of this segment shows (for summaries and logs).
    pub fn plain_text(&self) -> String {
        match self {
            Segment::Text(t) => t.clone(),
            Segment::At { target, display } if display.is_empty() => format!("@{target}"),
            Segment::At { display, .. } => display.clone(),
            Segment::AtAll => "@全体成员".to_owned(),
            Segment::Face { name, .. } => format!("[{name}]"),
            Segment::Image(_) => "[图片]".to_owned(),
            Segment::FlashImage(_) => "[闪照]".to_owned(),
            Segment::Voice(_) => "[语音]".to_owned(),
            Segment::Video(_) => "[视频]".to_owned(),
            Segment::Poke(_) => "[戳一戳]".to_owned(),
            Segment::Dice(v) => format!("[骰子:{v}]"),
            Segment::MarketFace { name, .. } => name.clone(),
            Segment::MusicShare { brief, .. } => brief.clone(),
            Segment::Share { title, .. } => format!("[分享]{title}"),
            Segment::Forward(_) => "[聊天记录]".to_owned(),
            Segment::File { name, .. } => format!("[文件]{name}"),
            Segment::Quote(_) | Segment::Json(_) | Segment::Xml(_) | Segment::App(_) => {
                String::new()
            }
        }
    }
}
