//! `msgContent`: an ordered array of segments — `text`, `image` (`url`, `base64`, `asEmoji`),
//! `emoji` (QQ face `id`, `replaceText`), `mention` (`target`, 0 = everyone; `displayText`),
//! `forwarded` (`id`), `xml` and `json` (`data`) — to and from the model.

use serde_json::{json, Value};

use crate::model::{Media, Segment};
use crate::protocol::lenient;

/// Reads a `msgContent` array; unknown segment types are kept as their text (none is lost
/// silently: a debug line names them).
pub fn decode(content: &Value) -> Result<Vec<Segment>, String> {
    let items = content.as_array().ok_or("msgContent must be an array")?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        out.push(match kind {
            "text" => Segment::Text(text("text")),
            "image" => {
                let url = Some(text("url")).filter(|u| !u.is_empty());
                let base64 = Some(text("base64")).filter(|b| !b.is_empty());
                let is_emoji =
                    item.get("asEmoji").and_then(lenient::bool_from_value).unwrap_or(false);
                Segment::Image(Media { url, base64, is_emoji, ..Media::default() })
            }
            "emoji" => {
                let id = item
                    .get("id")
                    .and_then(lenient::int32_from_value)
                    .ok_or("emoji needs an id")?;
                let name = text("replaceText").trim_start_matches('/').to_owned();
                Segment::Face { id, name, is_super: false }
            }
            "mention" => match item.get("target").and_then(lenient::int_from_value) {
                Some(0) => Segment::AtAll,
                Some(target) => Segment::At { target, display: text("displayText") },
                None => return Err("mention needs a target".into()),
            },
            "xml" => Segment::Xml(text("data")),
            "json" => Segment::Json(text("data")),
            "forwarded" => {
                // Only the bundle's id travels; the source expands it when it can.
                Segment::Forward(Vec::new())
            }
            other => {
                log::debug!("oicq: msgContent segment {other:?} kept as text");
                Segment::Text(text("text"))
            }
        });
    }
    Ok(out)
}

/// Writes segments as `msgContent`; `forward_id` names a bundle (the daemon's `forwarded`
/// carries an id the HTTP API expands). Quotes travel in the packet's `reply`, not here.
pub fn encode(segments: &[Segment], forward_id: Option<&str>) -> Value {
    let items: Vec<Value> = segments
        .iter()
        .filter_map(|s| {
            Some(match s {
                Segment::Text(t) => json!({"type": "text", "text": t}),
                Segment::At { target, display } => {
                    json!({"type": "mention", "target": target, "displayText": display})
                }
                Segment::AtAll => {
                    json!({"type": "mention", "target": 0, "displayText": "@全体成员"})
                }
                Segment::Face { id, name, .. } => {
                    json!({"type": "emoji", "id": id, "replaceText": format!("/{name}")})
                }
                Segment::Image(m) | Segment::FlashImage(m) => {
                    let mut v = json!({"type": "image", "asEmoji": m.is_emoji});
                    if let Some(url) = &m.url {
                        v["url"] = json!(url);
                    } else if let Some(b64) = &m.base64 {
                        v["base64"] = json!(b64);
                    }
                    v
                }
                Segment::Xml(data) => json!({"type": "xml", "data": data}),
                Segment::Json(data) | Segment::App(data) => json!({"type": "json", "data": data}),
                Segment::Forward(_) => json!({"type": "forwarded", "id": forward_id.unwrap_or("")}),
                Segment::Quote(_) => return None,
                other => json!({"type": "text", "text": other.plain_text()}),
            })
        })
        .collect();
    Value::Array(items)
}

/// The ids of the `forwarded` segments of a `msgContent`, in order (the HTTP API expands
/// them with `mesg/parseForwardedMsg`).
pub fn forward_ids(content: &Value) -> Vec<String> {
    content
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i.get("type").and_then(Value::as_str) == Some("forwarded"))
                .filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The nodes of `mesg/parseForwardedMsg`'s `msgs`.
pub fn forward_nodes(msgs: &Value) -> Vec<crate::model::ForwardNode> {
    msgs.as_array()
        .map(|items| {
            items
                .iter()
                .map(|m| crate::model::ForwardNode {
                    sender_id: m.get("id").and_then(lenient::int_from_value).unwrap_or(0),
                    time: m.get("time").and_then(lenient::int_from_value).unwrap_or(0),
                    sender_name: m.get("nickname").and_then(Value::as_str).unwrap_or("").to_owned(),
                    message: decode(m.get("msgContent").unwrap_or(&Value::Null))
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `mesg/parseForwardedMsg`'s `msgs` of a bundle's nodes.
pub fn forward_msgs(nodes: &[crate::model::ForwardNode]) -> Value {
    nodes
        .iter()
        .map(|n| {
            json!({"id": n.sender_id, "time": n.time, "nickname": n.sender_name,
                        "msgContent": encode(&n.message, None)})
        })
        .collect()
}

/// Concatenated `text` segments (the daemon's later `msgString`).
pub fn plain(segments: &[Segment]) -> String {
    segments.iter().map(Segment::plain_text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_segment_type_round_trips() {
        let wire = json!([
            {"type": "text", "text": "hi "},
            {"type": "mention", "target": 20001, "displayText": "@Alice"},
            {"type": "mention", "target": 0, "displayText": "@全体成员"},
            {"type": "emoji", "id": 14, "replaceText": "/微笑"},
            {"type": "image", "asEmoji": true, "url": "https://x/a.gif"},
            {"type": "xml", "data": "<a/>"},
            {"type": "json", "data": "{}"}
        ]);
        let segments = decode(&wire).expect("decode");
        assert_eq!(segments[1], Segment::At { target: 20001, display: "@Alice".into() });
        assert_eq!(segments[2], Segment::AtAll);
        assert_eq!(segments[3], Segment::Face { id: 14, name: "微笑".into(), is_super: false });
        assert!(matches!(&segments[4], Segment::Image(m) if m.is_emoji));
        assert_eq!(encode(&segments, None), wire, "exact JSON back");
        assert!(decode(&json!({"type": "text"})).is_err());
        assert!(decode(&json!([{"type": "mention"}])).is_err());
        let sent = decode(&json!([{"type": "image", "base64": "AAA"}])).expect("send form");
        assert_eq!(
            encode(&sent, None),
            json!([{"type": "image", "asEmoji": false, "base64": "AAA"}])
        );
    }
}
