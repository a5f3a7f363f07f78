//! OneBot messages: model [`Segment`]s to and from segment arrays (`[{"type","data"}]`) and
//! CQ-code strings. Output data values are strings, as the spec says; input values may be
//! strings, numbers, booleans or null, as real clients send them.

use log::debug;
use serde_json::{json, Map, Value};

use super::cq::{self, CqPiece};
use crate::model::{ForwardNode, Media, Quote, Segment};

/// A message a client sends, decoded: its segments and the message it replies to, if any.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outgoing {
    /// The content.
    pub segments: Vec<Segment>,
    /// The id in a `reply` segment.
    pub reply_to: Option<i32>,
}

fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn media_from_file(file: &str, url: Option<String>) -> Media {
    let mut m = Media { format: "UNKNOWN".to_owned(), url, ..Media::default() };
    if let Some(path) = file.strip_prefix("file://") {
        m.path = Some(path.to_owned());
    } else if std::path::Path::new(file).is_absolute() {
        // A plain local path, as go-cqhttp and NapCat accept it.
        m.path = Some(file.to_owned());
    } else if let Some(b64) = file.strip_prefix("base64://") {
        m.base64 = Some(b64.to_owned());
    } else if file.starts_with("http://") || file.starts_with("https://") {
        m.url = Some(file.to_owned());
    } else if !file.is_empty() {
        m.id = Some(file.to_owned());
    }
    m
}

/// One OneBot segment (type + string-ish data) as a model segment. `None` for segments with
/// no model counterpart (logged at debug), and for `reply`, which `out` records instead.
fn segment(
    kind: &str,
    data: &Map<String, Value>,
    out: &mut Outgoing,
) -> Result<Option<Segment>, String> {
    let get = |k: &str| data.get(k).map(value_string).unwrap_or_default();
    let int =
        |k: &str| get(k).trim().parse::<i64>().map_err(|_| format!("{kind}.{k} must be a number"));
    let int32 = |k: &str| {
        get(k).trim().parse::<i32>().map_err(|_| format!("{kind}.{k} must be a 32-bit integer"))
    };
    Ok(Some(match kind {
        "text" => Segment::Text(get("text")),
        "face" => Segment::Face { id: int32("id")?, name: String::new(), is_super: false },
        "at" => match get("qq").as_str() {
            "all" => Segment::AtAll,
            qq => Segment::At {
                target: qq
                    .trim()
                    .parse()
                    .map_err(|_| format!("at.qq must be a number or \"all\", got {qq:?}"))?,
                display: get("name"),
            },
        },
        "reply" => {
            out.reply_to = Some(int32("id")?);
            return Ok(None);
        }
        "image" => {
            let url = data.get("url").map(value_string).filter(|u| !u.is_empty());
            let media = media_from_file(&get("file"), url);
            if get("type") == "flash" {
                Segment::FlashImage(media)
            } else {
                Segment::Image(media)
            }
        }
        "record" => {
            Segment::Voice(media_from_file(&get("file"), data.get("url").map(value_string)))
        }
        "video" => Segment::Video(media_from_file(&get("file"), data.get("url").map(value_string))),
        "poke" => Segment::Poke(if get("name").is_empty() { get("type") } else { get("name") }),
        "dice" => Segment::Dice(get("value").parse().unwrap_or_else(|_| rand_dice())),
        "music" if get("type") == "custom" => Segment::MusicShare {
            kind: get("subtype"),
            title: get("title"),
            summary: get("content"),
            jump_url: get("url"),
            picture_url: get("image"),
            music_url: get("audio"),
            brief: format!("[分享]{}", get("title")),
        },
        "xml" => Segment::Xml(get("data")),
        "json" => Segment::Json(get("data")),
        "file" => Segment::File {
            id: get("file_id"),
            name: get("file"),
            size: get("file_size").parse().unwrap_or(0),
        },
        "node" => {
            let content = data.get("content").cloned().unwrap_or(Value::Null);
            let inner = decode(&content, false)?;
            Segment::Forward(vec![ForwardNode {
                sender_id: int("user_id").or_else(|_| int("uin"))?,
                time: get("time").parse().unwrap_or(0),
                sender_name: if get("nickname").is_empty() { get("name") } else { get("nickname") },
                message: inner.segments,
            }])
        }
        // A received bundle: NapCat carries the nodes inline as message objects; without
        // them (go-cqhttp's id only) the bundle is kept empty and its id logged.
        "forward" => match data.get("content").and_then(Value::as_array) {
            Some(nodes) => Segment::Forward(
                nodes.iter().map(received_node).collect::<Result<Vec<_>, String>>()?,
            ),
            None => {
                debug!("forward {:?} came without its nodes; get_forward_msg has them", get("id"));
                Segment::Forward(Vec::new())
            }
        },
        // NapCat's store stickers.
        "mface" | "marketface" => Segment::MarketFace {
            id: get("emoji_id").parse().unwrap_or(0),
            name: if get("summary").is_empty() { get("name") } else { get("summary") },
        },
        "rps" => Segment::Dice(get("result").parse().unwrap_or(0)),
        "share" => Segment::Share {
            url: get("url"),
            title: get("title"),
            content: get("content"),
            image: get("image"),
        },
        other => {
            debug!("OneBot segment {other:?} has no counterpart; dropped");
            return Ok(None);
        }
    }))
}

/// One node of a received forward: a message object (`sender`, `time`, `message`).
fn received_node(node: &Value) -> Result<ForwardNode, String> {
    let sender = node.get("sender").unwrap_or(&Value::Null);
    let id = |v: &Value, k: &str| v.get(k).and_then(crate::protocol::lenient::int_from_value);
    let name = |k: &str| sender.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let card = name("card");
    Ok(ForwardNode {
        sender_id: id(node, "user_id").or_else(|| id(sender, "user_id")).unwrap_or(0),
        time: id(node, "time").unwrap_or(0),
        sender_name: if card.is_empty() { name("nickname") } else { card },
        message: decode(
            node.get("message").or_else(|| node.get("content")).unwrap_or(&Value::Null),
            false,
        )?
        .segments,
    })
}

/// A dice roll for a `dice` segment sent without a value.
fn rand_dice() -> i32 {
    use rand::Rng;
    rand::rng().random_range(1..=6)
}

/// Decodes a message a client sends: a CQ-code string (or, with `auto_escape`, plain text),
/// a segment array, or a single segment object. Consecutive `node` segments form one forward.
pub fn decode(message: &Value, auto_escape: bool) -> Result<Outgoing, String> {
    let mut out = Outgoing::default();
    let push = |seg: Segment, out: &mut Outgoing| match (out.segments.last_mut(), seg) {
        (Some(Segment::Forward(nodes)), Segment::Forward(more)) => nodes.extend(more),
        (_, seg) => out.segments.push(seg),
    };
    match message {
        Value::String(s) if auto_escape => out.segments.push(Segment::Text(s.clone())),
        Value::String(s) => {
            for piece in cq::parse(s) {
                match piece {
                    CqPiece::Text(t) => out.segments.push(Segment::Text(t)),
                    CqPiece::Code { kind, params } => {
                        let data: Map<String, Value> =
                            params.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
                        if let Some(seg) = segment(&kind, &data, &mut out)? {
                            push(seg, &mut out);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let kind = item
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or("a segment without a string `type`")?;
                let empty = Map::new();
                let data = item.get("data").and_then(Value::as_object).unwrap_or(&empty);
                if let Some(seg) = segment(kind, data, &mut out)? {
                    push(seg, &mut out);
                }
            }
        }
        Value::Object(_) => return decode(&Value::Array(vec![message.clone()]), auto_escape),
        Value::Null => {}
        other => {
            return Err(format!("a message must be a string, an array or a segment, not {other}"))
        }
    }
    Ok(out)
}

fn media_file(m: &Media) -> String {
    m.id.clone().or_else(|| m.url.clone()).unwrap_or_default()
}

/// The `(type, data)` of one model segment, data values as strings; `None` when OneBot has
/// no such segment.
fn encode_segment(seg: &Segment) -> Option<(&'static str, Value)> {
    Some(match seg {
        Segment::Text(t) => ("text", json!({ "text": t })),
        Segment::Face { id, .. } => ("face", json!({ "id": id.to_string() })),
        Segment::At { target, .. } => ("at", json!({ "qq": target.to_string() })),
        Segment::AtAll => ("at", json!({ "qq": "all" })),
        Segment::Quote(Quote { id, .. }) => ("reply", json!({ "id": id.to_string() })),
        Segment::Image(m) => {
            ("image", json!({ "file": media_file(m), "url": m.url.clone().unwrap_or_default() }))
        }
        Segment::FlashImage(m) => (
            "image",
            json!({ "file": media_file(m), "type": "flash", "url": m.url.clone().unwrap_or_default() }),
        ),
        Segment::Voice(m) => {
            ("record", json!({ "file": media_file(m), "url": m.url.clone().unwrap_or_default() }))
        }
        Segment::Video(m) => {
            ("video", json!({ "file": media_file(m), "url": m.url.clone().unwrap_or_default() }))
        }
        Segment::Poke(name) => ("poke", json!({ "type": name, "id": "-1", "name": name })),
        Segment::Dice(v) => ("dice", json!({ "value": v.to_string() })),
        Segment::MarketFace { name, .. } => ("text", json!({ "text": name })),
        Segment::MusicShare { kind, title, summary, jump_url, picture_url, music_url, .. } => (
            "music",
            json!({ "type": "custom", "subtype": kind, "url": jump_url, "audio": music_url,
                    "title": title, "content": summary, "image": picture_url }),
        ),
        Segment::Share { url, title, content, image } => {
            ("share", json!({ "url": url, "title": title, "content": content, "image": image }))
        }
        Segment::Forward(nodes) => (
            "forward",
            json!({ "id": "", "content": nodes.iter().map(|n| json!({
                "type": "node",
                "data": { "user_id": n.sender_id.to_string(), "nickname": n.sender_name,
                          "content": to_array(&n.message) }
            })).collect::<Vec<_>>() }),
        ),
        Segment::File { id, name, size } => {
            ("file", json!({ "file": name, "file_id": id, "file_size": size.to_string() }))
        }
        Segment::Json(d) | Segment::App(d) => ("json", json!({ "data": d })),
        Segment::Xml(d) => ("xml", json!({ "data": d })),
    })
}

/// The message as a OneBot segment array.
pub fn to_array(segments: &[Segment]) -> Value {
    Value::Array(
        segments
            .iter()
            .filter_map(encode_segment)
            .map(|(kind, data)| json!({ "type": kind, "data": data }))
            .collect(),
    )
}

/// The message as a CQ-code string (`raw_message`, and the `string` post format).
pub fn to_cq_string(segments: &[Segment]) -> String {
    let pieces: Vec<CqPiece> = segments
        .iter()
        .filter_map(encode_segment)
        .map(|(kind, data)| match (kind, data) {
            ("text", data) => CqPiece::Text(data["text"].as_str().unwrap_or("").to_owned()),
            (kind, Value::Object(map)) => CqPiece::Code {
                kind: kind.to_owned(),
                params: map.into_iter().map(|(k, v)| (k, value_string(&v))).collect(),
            },
            (kind, _) => CqPiece::Code { kind: kind.to_owned(), params: Vec::new() },
        })
        .collect();
    cq::format(&pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_have_string_data_values() {
        let segs = vec![
            Segment::Text("hi".into()),
            Segment::At { target: 123, display: String::new() },
            Segment::AtAll,
            Segment::Face { id: 14, name: "微笑".into(), is_super: false },
            Segment::Image(Media {
                id: Some("abc.image".into()),
                url: Some("http://x/y".into()),
                ..Media::default()
            }),
        ];
        assert_eq!(
            to_array(&segs),
            json!([
                {"type":"text","data":{"text":"hi"}},
                {"type":"at","data":{"qq":"123"}},
                {"type":"at","data":{"qq":"all"}},
                {"type":"face","data":{"id":"14"}},
                {"type":"image","data":{"file":"abc.image","url":"http://x/y"}}
            ])
        );
    }

    #[test]
    fn raw_message_is_an_escaped_cq_string() {
        let segs = vec![
            Segment::Quote(Quote {
                id: 7,
                sender_id: 1,
                target_id: 2,
                group_id: 2,
                origin: vec![],
            }),
            Segment::Text("a[1]&b".into()),
            Segment::At { target: 5, display: String::new() },
        ];
        assert_eq!(to_cq_string(&segs), "[CQ:reply,id=7]a&#91;1&#93;&amp;b[CQ:at,qq=5]");
    }

    #[test]
    fn clients_send_strings_arrays_or_one_segment_with_loose_types() {
        let from_string =
            decode(&json!("[CQ:reply,id=9]hello [CQ:at,qq=42][CQ:face,id=14]"), false).unwrap();
        assert_eq!(from_string.reply_to, Some(9));
        assert_eq!(
            from_string.segments,
            vec![
                Segment::Text("hello ".into()),
                Segment::At { target: 42, display: String::new() },
                Segment::Face { id: 14, name: String::new(), is_super: false },
            ]
        );
        let escaped = decode(&json!("[CQ:at,qq=42]"), true).unwrap();
        assert_eq!(escaped.segments, vec![Segment::Text("[CQ:at,qq=42]".into())]);
        let loose = decode(&json!([{"type":"at","data":{"qq":42}},{"type":"image","data":{"file":"https://a/b.png","type":null,"timeout":null}}]), false).unwrap();
        assert_eq!(loose.segments[0], Segment::At { target: 42, display: String::new() });
        assert!(
            matches!(&loose.segments[1], Segment::Image(m) if m.url.as_deref() == Some("https://a/b.png"))
        );
        let single = decode(&json!({"type":"text","data":{"text":"one"}}), false).unwrap();
        assert_eq!(single.segments, vec![Segment::Text("one".into())]);
    }

    #[test]
    fn files_name_their_source() {
        let m = decode(&json!("[CQ:image,file=file:///tmp/a.png][CQ:record,file=base64://AAA][CQ:image,file=abc.image,type=flash]"), false).unwrap();
        assert!(
            matches!(&m.segments[0], Segment::Image(x) if x.path.as_deref() == Some("/tmp/a.png"))
        );
        assert!(matches!(&m.segments[1], Segment::Voice(x) if x.base64.as_deref() == Some("AAA")));
        assert!(
            matches!(&m.segments[2], Segment::FlashImage(x) if x.id.as_deref() == Some("abc.image"))
        );
    }

    #[test]
    fn nodes_become_one_forward_and_junk_is_refused() {
        let m = decode(&json!([
            {"type":"node","data":{"user_id":"1","nickname":"a","content":"x"}},
            {"type":"node","data":{"uin":2,"name":"b","content":[{"type":"text","data":{"text":"y"}}]}}
        ]), false).unwrap();
        let [Segment::Forward(nodes)] = m.segments.as_slice() else { panic!("{m:?}") };
        assert_eq!((nodes[0].sender_id, nodes[1].sender_name.as_str()), (1, "b"));
        assert!(decode(&json!([{"data":{}}]), false).is_err());
        assert!(decode(&json!("[CQ:at,qq=abc]"), false).is_err());
        assert!(decode(&json!(5), false).is_err());
    }
    #[test]
    fn shares_go_both_ways() {
        let share = json!([{"type":"share","data":{"url":"https://a.example/x","title":"T",
                                                   "content":"C","image":"https://a.example/i.png"}}]);
        let m = decode(&share, false).expect("decoded");
        assert_eq!(
            m.segments,
            vec![Segment::Share {
                url: "https://a.example/x".into(),
                title: "T".into(),
                content: "C".into(),
                image: "https://a.example/i.png".into(),
            }]
        );
        assert_eq!(to_array(&m.segments), share);
    }

    #[test]
    fn received_forwards_and_stickers_become_model_segments() {
        let m = decode(
            &json!([
                {"type":"forward","data":{"id":"7A1B","content":[
                    {"user_id":20001,"time":5,"sender":{"user_id":20001,"nickname":"Alice","card":"AC"},
                     "message":[{"type":"text","data":{"text":"inside"}}]}]}},
                {"type":"mface","data":{"emoji_id":"114","emoji_package_id":1,"summary":"[开心]"}}
            ]),
            false,
        )
        .expect("decoded");
        assert_eq!(
            m.segments,
            vec![
                Segment::Forward(vec![ForwardNode {
                    sender_id: 20001,
                    time: 5,
                    sender_name: "AC".into(),
                    message: vec![Segment::Text("inside".into())],
                }]),
                Segment::MarketFace { id: 114, name: "[开心]".into() },
            ]
        );
    }
}
