//! Mirai code (`[mirai:at:123]你好\[x\]`), the text form of a message that mirai-api-http's
//! send-only `MiraiCode` element carries. Known codes become segments; an unknown code stays
//! as its literal text rather than being lost.

use crate::model::{Media, Segment};

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn push_text(out: &mut Vec<Segment>, text: String) {
    if text.is_empty() {
        return;
    }
    if let Some(Segment::Text(prev)) = out.last_mut() {
        prev.push_str(&text);
    } else {
        out.push(Segment::Text(text));
    }
}

fn code(kind: &str, args: &[String]) -> Option<Segment> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    Some(match kind {
        "at" => Segment::At { target: arg(0).parse().ok()?, display: String::new() },
        "atall" => Segment::AtAll,
        "face" => Segment::Face { id: arg(0).parse().ok()?, name: String::new(), is_super: false },
        "image" => Segment::Image(Media {
            id: Some(arg(0).to_owned()),
            format: "UNKNOWN".into(),
            ..Media::default()
        }),
        "flash" => Segment::FlashImage(Media {
            id: Some(arg(0).to_owned()),
            format: "UNKNOWN".into(),
            ..Media::default()
        }),
        "dice" => Segment::Dice(arg(0).parse().ok()?),
        "poke" => Segment::Poke(arg(0).to_owned()),
        "app" => Segment::App(arg(0).to_owned()),
        _ => return None,
    })
}

/// Parses mirai code into segments.
pub fn parse(input: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = input;
    while let Some(start) = find_unescaped(rest, "[mirai:") {
        push_text(&mut out, unescape(&rest[..start]));
        let body_start = start + "[mirai:".len();
        let Some(len) = find_unescaped(&rest[body_start..], "]") else {
            break;
        };
        let body = &rest[body_start..body_start + len];
        let (kind, args) = body.split_once(':').unwrap_or((body, ""));
        let args: Vec<String> = split_unescaped(args).into_iter().map(|a| unescape(&a)).collect();
        match code(kind, &args) {
            Some(seg) => out.push(seg),
            None => push_text(&mut out, rest[start..body_start + len + 1].to_owned()),
        }
        rest = &rest[body_start + len + 1..];
    }
    push_text(&mut out, unescape(rest));
    out
}

fn find_unescaped(s: &str, needle: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if s[i..].starts_with(needle) {
            return Some(i);
        }
    }
    None
}

fn split_unescaped(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push('\\');
                current.extend(chars.next());
            }
            ',' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_escapes() {
        assert_eq!(
            parse(r"[mirai:at:123] 你好\[不是码\] [mirai:face:14][mirai:atall]"),
            vec![
                Segment::At { target: 123, display: String::new() },
                Segment::Text(" 你好[不是码] ".into()),
                Segment::Face { id: 14, name: String::new(), is_super: false },
                Segment::AtAll,
            ]
        );
        assert_eq!(parse("plain"), vec![Segment::Text("plain".into())]);
        assert_eq!(parse("[mirai:unknown:x]"), vec![Segment::Text("[mirai:unknown:x]".into())]);
        assert_eq!(parse(r"[mirai:dice:4]"), vec![Segment::Dice(4)]);
    }
}
