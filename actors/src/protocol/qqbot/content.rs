//! Message content: the platform's inline markup (`<@!id>`, `<@id>`, `@everyone`,
//! `<#channel>`, `<emoji:id>` in guilds, `<faceType=1,faceId="id",ext="…">` in groups and
//! C2C, entity-escaped text) and attachments, to and from segments.

use serde_json::Value;

use crate::model::{Media, Segment, UserId};

/// Reads `content` into segments; `mention` gives the number of a mentioned platform user
/// id (and the name to show, when known).
pub fn parse(content: &str, mut mention: impl FnMut(&str) -> (UserId, String)) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut rest = content;
    while !rest.is_empty() {
        if let Some((segment, used)) = markup_at(rest, &mut mention) {
            if !text.is_empty() {
                segments.push(Segment::Text(unescape(&std::mem::take(&mut text))));
            }
            segments.push(segment);
            rest = &rest[used..];
            continue;
        }
        let next = rest.chars().next().map_or(1, char::len_utf8);
        text.push_str(&rest[..next]);
        rest = &rest[next..];
    }
    if !text.is_empty() {
        segments.push(Segment::Text(unescape(&text)));
    }
    segments
}

/// The markup element at the start of `s`, with its length.
fn markup_at(
    s: &str,
    mention: &mut impl FnMut(&str) -> (UserId, String),
) -> Option<(Segment, usize)> {
    if s.starts_with("@everyone") {
        return Some((Segment::AtAll, "@everyone".len()));
    }
    if !s.starts_with('<') {
        return None;
    }
    let end = s.find('>')?;
    let inner = &s[1..end];
    let segment = if let Some(id) = inner.strip_prefix("@!").or_else(|| inner.strip_prefix('@')) {
        if id.is_empty() || id.contains(char::is_whitespace) {
            return None;
        }
        let (target, display) = mention(id);
        Segment::At { target, display }
    } else if let Some(id) = inner.strip_prefix("emoji:") {
        Segment::Face { id: id.trim().parse().ok()?, name: String::new(), is_super: false }
    } else if inner.starts_with("faceType=") {
        // Group and C2C messages: `<faceType=1,faceId="13",ext="<base64 JSON>">`.
        let id = inner.split(',').find_map(|kv| kv.trim().strip_prefix("faceId="))?;
        Segment::Face {
            id: id.trim_matches('"').parse().ok()?,
            name: String::new(),
            is_super: false,
        }
    } else {
        return None;
    };
    Some((segment, end + 1))
}

/// Undoes the platform's escaping of literal `&`, `<` and `>`.
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Strips a leading mention of `bot` (of anyone when `None`: in group @-messages only the
/// bot can be the addressee), leading blanks and the space after the mention.
pub fn strip_leading_mention(segments: &mut Vec<Segment>, bot: Option<UserId>) {
    let leading_space = matches!(segments.first(), Some(Segment::Text(t)) if t.trim().is_empty());
    if leading_space {
        segments.remove(0);
    }
    if matches!(segments.first(), Some(Segment::At { target, .. }) if bot.is_none_or(|b| *target == b))
    {
        segments.remove(0);
    }
    if let Some(Segment::Text(t)) = segments.first_mut() {
        let trimmed = t.trim_start().to_owned();
        if trimmed.is_empty() {
            segments.remove(0);
        } else {
            *t = trimmed;
        }
    }
}

/// Attachments as segments: images, voice, video; anything else as a file.
pub fn attachments(list: &Value) -> Vec<Segment> {
    let Some(items) = list.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|a| {
            let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let int =
                |k: &str| a.get(k).and_then(crate::protocol::lenient::int_from_value).unwrap_or(0);
            let mut url = text("url");
            if url.is_empty() {
                return None;
            }
            if !url.contains("://") {
                // The platform sends image hosts without a scheme (`gchat.qpic.cn/…`).
                url = format!("https://{url}");
            }
            let content_type = text("content_type");
            let media = Media {
                url: Some(url.clone()),
                width: int("width"),
                height: int("height"),
                size: int("size"),
                format: content_type.rsplit('/').next().unwrap_or("").to_ascii_uppercase(),
                ..Media::default()
            };
            Some(if content_type.starts_with("image") {
                Segment::Image(media)
            } else if content_type.starts_with("voice") || content_type.starts_with("audio") {
                Segment::Voice(media)
            } else if content_type.starts_with("video") {
                Segment::Video(media)
            } else {
                Segment::File { id: url, name: text("filename"), size: int("size") }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(id: &str) -> (UserId, String) {
        (id.parse::<i64>().map(|n| n + 1).unwrap_or(7), String::new())
    }

    #[test]
    fn markup_becomes_segments() {
        let s = parse("<@!100> hi &lt;b&gt; &amp; <emoji:4>@everyone<#55> <bad", ids);
        assert_eq!(
            s,
            vec![
                Segment::At { target: 101, display: String::new() },
                Segment::Text(" hi <b> & ".into()),
                Segment::Face { id: 4, name: String::new(), is_super: false },
                Segment::AtAll,
                Segment::Text("<#55> <bad".into()),
            ]
        );
        assert_eq!(parse("", ids), vec![]);
        assert_eq!(parse("<@E0F1> x", ids)[0], Segment::At { target: 7, display: String::new() });
        // A face in a group or C2C message.
        assert_eq!(
            parse("a<faceType=1,faceId=\"13\",ext=\"eyJ0ZXh0Ijoi5ZGy54mZIn0=\">", ids),
            vec![
                Segment::Text("a".into()),
                Segment::Face { id: 13, name: String::new(), is_super: false }
            ]
        );
    }

    #[test]
    fn the_leading_mention_of_the_bot_is_stripped() {
        let mut s = parse("<@!100> /help me", ids);
        strip_leading_mention(&mut s, Some(101));
        assert_eq!(s, vec![Segment::Text("/help me".into())]);
        // Group @-messages arrive with the mention already gone and a space left.
        let mut s = parse(" /help", ids);
        strip_leading_mention(&mut s, None);
        assert_eq!(s, vec![Segment::Text("/help".into())]);
        let mut s = parse("<@!5> hi", ids);
        strip_leading_mention(&mut s, Some(101));
        assert_eq!(s.len(), 2, "a mention of someone else stays");
    }

    #[test]
    fn attachments_become_media() {
        let list = serde_json::json!([
            {"url": "gchat.qpic.cn/a.png", "content_type": "image/png", "width": 2, "height": 3},
            {"url": "https://x/v.silk", "content_type": "voice"},
            {"url": "https://x/f.zip", "content_type": "file", "filename": "f.zip", "size": 9},
            {"content_type": "image/png"}
        ]);
        let s = attachments(&list);
        assert_eq!(s.len(), 3);
        let Segment::Image(m) = &s[0] else { panic!("{s:?}") };
        assert_eq!(
            (m.url.as_deref(), m.width, m.format.as_str()),
            (Some("https://gchat.qpic.cn/a.png"), 2, "PNG")
        );
        assert!(matches!(&s[1], Segment::Voice(_)));
        assert_eq!(
            s[2],
            Segment::File { id: "https://x/f.zip".into(), name: "f.zip".into(), size: 9 }
        );
    }
}
