//! Message chains: mirai chain elements (spec §6.2) to and from model [`Segment`]s.

use log::debug;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::model::{ForwardNode, Media, MessageSource, Quote, Segment};
use crate::protocol::lenient;

/// Whether a chain is being sent by a client or describes a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainDirection {
    /// A client sends it: `Source` and `Quote` are ignored (the top-level `quote` field
    /// replies), receive-only elements (`MarketFace`, `File`) are dropped, and media with
    /// no id, url, path or base64 is dropped.
    Send,
    /// It describes a received message (injected into a simulated bot): everything is kept.
    Receive,
}

/// A decoded chain: the `Source` element, if any, and the content.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedChain {
    /// The `Source` element's id and time.
    pub source: Option<MessageSource>,
    /// The other elements, in order.
    pub segments: Vec<Segment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SourceEl {
    #[serde(deserialize_with = "lenient::int32")]
    id: i32,
    #[serde(default, deserialize_with = "lenient::int")]
    time: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuoteEl {
    #[serde(deserialize_with = "lenient::int32")]
    id: i32,
    #[serde(default, deserialize_with = "lenient::int")]
    sender_id: i64,
    #[serde(default, deserialize_with = "lenient::int")]
    target_id: i64,
    #[serde(default, deserialize_with = "lenient::int")]
    group_id: i64,
    #[serde(default)]
    origin: Vec<Value>,
}

#[derive(Deserialize)]
struct AtEl {
    #[serde(deserialize_with = "lenient::int")]
    target: i64,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    display: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaceEl {
    #[serde(default, deserialize_with = "lenient::opt_int32")]
    face_id: Option<i32>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    name: Option<String>,
    #[serde(default, alias = "superFace")]
    is_super_face: Option<bool>,
}

#[derive(Deserialize)]
struct PlainEl {
    text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaEl {
    #[serde(default, alias = "voiceId", alias = "videoId")]
    image_id: Option<String>,
    #[serde(default, alias = "videoUrl")]
    url: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    base64: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    width: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    height: Option<i64>,
    #[serde(default, alias = "fileSize", deserialize_with = "lenient::opt_int")]
    size: Option<i64>,
    #[serde(default, alias = "fileFormat")]
    image_type: Option<String>,
    #[serde(default)]
    is_emoji: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    length: Option<i64>,
}

impl MediaEl {
    fn into_media(self) -> Media {
        Media {
            id: self.image_id,
            url: self.url,
            path: self.path,
            base64: self.base64,
            width: self.width.unwrap_or(0),
            height: self.height.unwrap_or(0),
            size: self.size.unwrap_or(0),
            format: self.image_type.unwrap_or_else(|| "UNKNOWN".to_owned()),
            is_emoji: self.is_emoji.unwrap_or(false),
            length: self.length.unwrap_or(0),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MusicEl {
    kind: String,
    title: String,
    summary: String,
    jump_url: String,
    picture_url: String,
    music_url: String,
    brief: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ForwardNodeEl {
    #[serde(default, deserialize_with = "lenient::opt_int")]
    sender_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    time: Option<i64>,
    #[serde(default)]
    sender_name: Option<String>,
    #[serde(default)]
    message_chain: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ForwardEl {
    #[serde(default)]
    node_list: Vec<ForwardNodeEl>,
}

#[derive(Deserialize)]
struct FileEl {
    id: String,
    name: String,
    #[serde(default, deserialize_with = "lenient::int")]
    size: i64,
}

#[derive(Deserialize)]
struct MarketFaceEl {
    #[serde(deserialize_with = "lenient::int32")]
    id: i32,
    #[serde(default)]
    name: String,
}

fn field<T: for<'de> Deserialize<'de>>(el: &Value, kind: &str) -> Result<T, String> {
    T::deserialize(el).map_err(|e| format!("{kind} element: {e}"))
}

fn media_present(m: &Media) -> bool {
    m.id.is_some() || m.url.is_some() || m.path.is_some() || m.base64.is_some()
}

/// Decodes a mirai `messageChain`. Unknown element types are dropped (as mirai-api-http
/// does); a known element with missing or mistyped fields is an error naming it.
pub fn decode(elements: &[Value], direction: ChainDirection) -> Result<DecodedChain, String> {
    let send = direction == ChainDirection::Send;
    let mut out = DecodedChain::default();
    for el in elements {
        let Some(kind) = el.get("type").and_then(Value::as_str) else {
            return Err("chain element without a string `type`".to_owned());
        };
        let segment = match kind {
            "Source" => {
                let s: SourceEl = field(el, kind)?;
                if !send {
                    out.source = Some(MessageSource { id: s.id, time: s.time });
                }
                None
            }
            "Quote" if send => None,
            "Quote" => {
                let q: QuoteEl = field(el, kind)?;
                let origin = decode(&q.origin, direction)?.segments;
                Some(Segment::Quote(Quote {
                    id: q.id,
                    sender_id: q.sender_id,
                    target_id: q.target_id,
                    group_id: q.group_id,
                    origin,
                }))
            }
            "At" => {
                let a: AtEl = field(el, kind)?;
                Some(Segment::At { target: a.target, display: a.display.unwrap_or_default() })
            }
            "AtAll" => Some(Segment::AtAll),
            "Face" => {
                let f: FaceEl = field(el, kind)?;
                Some(Segment::Face {
                    id: f.face_id.unwrap_or(-1),
                    name: f.name.unwrap_or_default(),
                    is_super: f.is_super_face.unwrap_or(false),
                })
            }
            "Plain" => Some(Segment::Text(field::<PlainEl>(el, kind)?.text)),
            "Image" | "FlashImage" | "Voice" | "ShortVideo" => {
                let media = field::<MediaEl>(el, kind)?.into_media();
                if send && !media_present(&media) {
                    debug!("dropping {kind} element with no id, url, path or base64");
                    None
                } else {
                    Some(match kind {
                        "Image" => Segment::Image(media),
                        "FlashImage" => Segment::FlashImage(media),
                        "Voice" => Segment::Voice(media),
                        _ => Segment::Video(media),
                    })
                }
            }
            "Xml" => Some(Segment::Xml(str_field(el, "xml", kind)?)),
            "Json" => Some(Segment::Json(str_field(el, "json", kind)?)),
            "App" => Some(Segment::App(str_field(el, "content", kind)?)),
            "Poke" => Some(Segment::Poke(str_field(el, "name", kind)?)),
            "Dice" => {
                let v = el.get("value").and_then(lenient::int32_from_value);
                let v =
                    v.ok_or_else(|| "Dice element: `value` must be a 32-bit integer".to_owned())?;
                Some(Segment::Dice(v))
            }
            "MarketFace" if send => None,
            "MarketFace" => {
                let m: MarketFaceEl = field(el, kind)?;
                Some(Segment::MarketFace { id: m.id, name: m.name })
            }
            "File" if send => None,
            "File" => {
                let f: FileEl = field(el, kind)?;
                Some(Segment::File { id: f.id, name: f.name, size: f.size })
            }
            "MusicShare" => {
                let m: MusicEl = field(el, kind)?;
                Some(Segment::MusicShare {
                    kind: m.kind,
                    title: m.title,
                    summary: m.summary,
                    jump_url: m.jump_url,
                    picture_url: m.picture_url,
                    music_url: m.music_url,
                    brief: m.brief,
                })
            }
            "Forward" => {
                let f: ForwardEl = field(el, kind)?;
                let mut nodes = Vec::with_capacity(f.node_list.len());
                for n in f.node_list {
                    // Nodes by messageId/messageRef need the bot's cache; complete nodes only.
                    let (Some(sender_id), Some(chain)) = (n.sender_id, n.message_chain) else {
                        debug!("dropping a forward node without senderId and messageChain");
                        continue;
                    };
                    nodes.push(ForwardNode {
                        sender_id,
                        time: n.time.unwrap_or(0),
                        sender_name: n.sender_name.unwrap_or_default(),
                        message: decode(&chain, direction)?.segments,
                    });
                }
                Some(Segment::Forward(nodes))
            }
            "MiraiCode" if send => {
                out.segments.extend(super::mirai_code::parse(&str_field(el, "code", kind)?));
                None
            }
            other => {
                debug!("dropping unknown chain element type {other:?}");
                None
            }
        };
        out.segments.extend(segment);
    }
    Ok(out)
}

fn str_field(el: &Value, key: &str, kind: &str) -> Result<String, String> {
    el.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{kind} element: missing string `{key}`"))
}

fn media(kind: &str, m: &Media) -> Value {
    match kind {
        "Voice" => json!({
            "type": "Voice",
            "voiceId": m.id,
            "url": m.url,
            "path": null,
            "base64": null,
            "length": m.length,
        }),
        "ShortVideo" => json!({
            "type": "ShortVideo",
            "videoId": m.id,
            "fileMd5": "",
            "fileSize": m.size,
            "fileFormat": m.format,
            "filename": m.path.as_deref().unwrap_or(""),
            "videoUrl": m.url,
            "thumbnailUrl": null,
        }),
        _ => json!({
            "type": kind,
            "imageId": m.id,
            "url": m.url,
            "path": null,
            "base64": null,
            "width": m.width,
            "height": m.height,
            "size": m.size,
            "imageType": m.format,
            "isEmoji": m.is_emoji,
        }),
    }
}

/// Encodes one segment as a mirai chain element.
pub fn encode_segment(s: &Segment) -> Value {
    match s {
        Segment::Text(text) => json!({ "type": "Plain", "text": text }),
        Segment::At { target, .. } => json!({ "type": "At", "target": target, "display": "" }),
        Segment::AtAll => json!({ "type": "AtAll", "target": 0 }),
        Segment::Face { id, name, is_super } => {
            json!({ "type": "Face", "faceId": id, "name": name, "isSuperFace": is_super })
        }
        Segment::Quote(q) => json!({
            "type": "Quote",
            "id": q.id,
            "senderId": q.sender_id,
            "targetId": q.target_id,
            "groupId": q.group_id,
            "origin": encode(None, &q.origin),
        }),
        Segment::Image(m) => media("Image", m),
        Segment::FlashImage(m) => media("FlashImage", m),
        Segment::Voice(m) => media("Voice", m),
        Segment::Video(m) => media("ShortVideo", m),
        Segment::Poke(name) => json!({ "type": "Poke", "name": name }),
        Segment::Dice(value) => json!({ "type": "Dice", "value": value }),
        Segment::MarketFace { id, name } => json!({ "type": "MarketFace", "id": id, "name": name }),
        Segment::MusicShare { kind, title, summary, jump_url, picture_url, music_url, brief } => {
            json!({
                "type": "MusicShare",
                "kind": kind,
                "title": title,
                "summary": summary,
                "jumpUrl": jump_url,
                "pictureUrl": picture_url,
                "musicUrl": music_url,
                "brief": brief,
            })
        }
        // mirai has no share element: QQ shows a link share as the structmsg light app, which
        // is how mirai itself receives one.
        Segment::Share { url, title, content, image } => json!({
            "type": "App",
            "content": json!({
                "app": "com.tencent.structmsg", "view": "news", "ver": "0.0.0.1",
                "prompt": format!("[分享]{title}"),
                "meta": {"news": {"title": title, "desc": content, "jumpUrl": url,
                                  "preview": image, "tag": "", "tagIcon": ""}},
            }).to_string(),
        }),
        Segment::Forward(nodes) => json!({
            "type": "Forward",
            "display": null,
            "nodeList": nodes.iter().map(|n| json!({
                "senderId": n.sender_id,
                "time": n.time,
                "senderName": n.sender_name,
                "messageChain": encode(None, &n.message),
                "messageId": null,
                "messageRef": null,
            })).collect::<Vec<_>>(),
        }),
        Segment::File { id, name, size } => {
            json!({ "type": "File", "id": id, "name": name, "size": size })
        }
        Segment::Json(j) => json!({ "type": "Json", "json": j }),
        Segment::Xml(x) => json!({ "type": "Xml", "xml": x }),
        Segment::App(c) => json!({ "type": "App", "content": c }),
    }
}

/// Encodes a chain, starting with its `Source` element when one is given.
pub fn encode(source: Option<&MessageSource>, segments: &[Segment]) -> Value {
    let mut chain = Vec::with_capacity(segments.len() + 1);
    if let Some(src) = source {
        chain.push(json!({ "type": "Source", "id": src.id, "time": src.time }));
    }
    chain.extend(segments.iter().map(encode_segment));
    Value::Array(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(el: Value) -> Value {
        let decoded = decode(std::slice::from_ref(&el), ChainDirection::Receive).unwrap();
        assert_eq!(decoded.segments.len(), 1, "{el}");
        encode_segment(&decoded.segments[0])
    }

    #[test]
    fn source_plain_at_atall_face_encode_exactly() {
        let segs = vec![
            Segment::Text("hi ".into()),
            Segment::At { target: 123, display: "@x".into() },
            Segment::AtAll,
            Segment::Face { id: 14, name: "微笑".into(), is_super: false },
        ];
        let text = serde_json::to_string(&encode(
            Some(&MessageSource { id: 7, time: 1_700_000_000 }),
            &segs,
        ))
        .unwrap();
        assert_eq!(
            text,
            r#"[{"type":"Source","id":7,"time":1700000000},{"type":"Plain","text":"hi "},{"type":"At","target":123,"display":""},{"type":"AtAll","target":0},{"type":"Face","faceId":14,"name":"微笑","isSuperFace":false}]"#
        );
    }

    #[test]
    fn image_emits_every_field_with_path_and_base64_null() {
        let img = json!({"type":"Image","imageId":"{A}.png","url":"http://x/a.png","path":null,"base64":null,"width":10,"height":20,"size":300,"imageType":"PNG","isEmoji":false});
        assert_eq!(round_trip(img.clone()), img);
        let text = serde_json::to_string(&round_trip(img)).unwrap();
        assert!(text.starts_with(r#"{"type":"Image","imageId":"{A}.png","url":"http://x/a.png","path":null,"base64":null,"width":10"#));
    }

    #[test]
    fn quote_keeps_its_origin() {
        let q = json!({"type":"Quote","id":5,"senderId":1,"targetId":2,"groupId":2,"origin":[{"type":"Plain","text":"orig"}]});
        assert_eq!(round_trip(q.clone()), q);
    }

    #[test]
    fn receive_only_and_junk_elements_drop_on_send() {
        let chain = vec![
            json!({"type":"Source","id":1,"time":2}),
            json!({"type":"Quote","id":5,"senderId":1,"targetId":2,"groupId":2,"origin":[]}),
            json!({"type":"Plain","text":"a"}),
            json!({"type":"MarketFace","id":1,"name":"x"}),
            json!({"type":"Image"}),
            json!({"type":"NoSuchThing","x":1}),
        ];
        let d = decode(&chain, ChainDirection::Send).unwrap();
        assert_eq!(d.source, None);
        assert_eq!(d.segments, vec![Segment::Text("a".into())]);
    }

    #[test]
    fn receive_keeps_source_and_lenient_ids() {
        let chain = vec![
            json!({"type":"Source","id":"9","time":100}),
            json!({"type":"At","target":"42"}),
            json!({"type":"Face","name":"微笑"}),
        ];
        let d = decode(&chain, ChainDirection::Receive).unwrap();
        assert_eq!(d.source, Some(MessageSource { id: 9, time: 100 }));
        assert_eq!(
            d.segments,
            vec![
                Segment::At { target: 42, display: String::new() },
                Segment::Face { id: -1, name: "微笑".into(), is_super: false }
            ]
        );
    }

    #[test]
    fn known_elements_with_wrong_types_are_errors() {
        assert!(decode(&[json!({"type":"Plain","text":5})], ChainDirection::Send).is_err());
        assert!(decode(&[json!({"type":"At","target":"abc"})], ChainDirection::Send).is_err());
        assert!(decode(&[json!({"text":"no type"})], ChainDirection::Send).is_err());
    }
}
