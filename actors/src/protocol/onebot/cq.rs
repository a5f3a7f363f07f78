//! CQ codes: the string form of a OneBot message, `text[CQ:type,key=value]text`, with the
//! spec's escaping (`&amp;` `&#91;` `&#93;` in text, plus `&#44;` inside values).

/// One piece of a CQ-code string: plain text or a code with its parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CqPiece {
    /// Unescaped text.
    Text(String),
    /// `[CQ:kind,k=v,…]` with unescaped values.
    Code {
        /// The segment type.
        kind: String,
        /// The parameters, in order.
        params: Vec<(String, String)>,
    },
}

/// Escapes plain text.
pub fn escape_text(s: &str) -> String {
    if !s.contains(['&', '[', ']']) {
        return s.to_owned();
    }
    s.replace('&', "&amp;").replace('[', "&#91;").replace(']', "&#93;")
}

/// Escapes a parameter value (text escaping plus commas).
pub fn escape_value(s: &str) -> String {
    if !s.contains(['&', '[', ']', ',']) {
        return s.to_owned();
    }
    escape_text(s).replace(',', "&#44;")
}

/// Reverses both escapings (`&amp;` last, so `&amp;#91;` stays `&#91;`).
pub fn unescape(s: &str) -> String {
    // Every escape starts with `&`: most text has none, and four passes cost four copies.
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&#44;", ",").replace("&#91;", "[").replace("&#93;", "]").replace("&amp;", "&")
}

/// Parses a CQ-code string. Text that only looks like a code (no closing `]`, or no type) stays
/// text, as nonebot's and go-cqhttp's parsers do.
pub fn parse(s: &str) -> Vec<CqPiece> {
    let mut out = Vec::new();
    let mut rest = s;
    let mut text = String::new();
    while let Some(start) = rest.find("[CQ:") {
        let Some(len) = rest[start..].find(']') else {
            break;
        };
        let body = &rest[start + 4..start + len];
        let mut parts = body.split(',');
        let kind = parts.next().unwrap_or("");
        let valid_kind = !kind.is_empty()
            && kind.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_kind {
            text.push_str(&rest[..start + len + 1]);
            rest = &rest[start + len + 1..];
            continue;
        }
        text.push_str(&rest[..start]);
        if !text.is_empty() {
            out.push(CqPiece::Text(unescape(&std::mem::take(&mut text))));
        }
        let params = parts
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_owned(), unescape(v)),
                None => (p.to_owned(), String::new()),
            })
            .collect();
        out.push(CqPiece::Code { kind: kind.to_owned(), params });
        rest = &rest[start + len + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(CqPiece::Text(unescape(&text)));
    }
    out
}

/// Formats pieces as a CQ-code string.
pub fn format(pieces: &[CqPiece]) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            CqPiece::Text(t) => out.push_str(&escape_text(t)),
            CqPiece::Code { kind, params } => {
                out.push_str("[CQ:");
                out.push_str(kind);
                for (k, v) in params {
                    out.push(',');
                    out.push_str(k);
                    out.push('=');
                    out.push_str(&escape_value(v));
                }
                out.push(']');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(kind: &str, params: &[(&str, &str)]) -> CqPiece {
        CqPiece::Code {
            kind: kind.into(),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn escaping_follows_the_spec_exactly() {
        assert_eq!(escape_text("a&b[c]d,e"), "a&amp;b&#91;c&#93;d,e");
        assert_eq!(escape_value("a&b[c]d,e"), "a&amp;b&#91;c&#93;d&#44;e");
        assert_eq!(unescape("&amp;#91;"), "&#91;");
        assert_eq!(unescape("&#91;&#93;&#44;&amp;"), "[],&");
    }

    #[test]
    fn parses_codes_between_text() {
        assert_eq!(
            parse("hi [CQ:at,qq=123] look &#91;x&#93; [CQ:image,file=http://a/b?x=1&amp;y=2,type=flash]"),
            vec![
                CqPiece::Text("hi ".into()),
                code("at", &[("qq", "123")]),
                CqPiece::Text(" look [x] ".into()),
                code("image", &[("file", "http://a/b?x=1&y=2"), ("type", "flash")]),
            ]
        );
        assert_eq!(parse("[CQ:shake]"), vec![code("shake", &[])]);
        assert_eq!(parse("[CQ:face,id=14]"), vec![code("face", &[("id", "14")])]);
    }

    #[test]
    fn values_may_contain_equals_and_escaped_commas() {
        assert_eq!(
            parse("[CQ:json,data={\"a\":1&#44;\"b\":\"x=y\"}]"),
            vec![code("json", &[("data", "{\"a\":1,\"b\":\"x=y\"}")])]
        );
    }

    #[test]
    fn unfinished_or_nameless_codes_stay_text() {
        assert_eq!(parse("[CQ:at,qq=1"), vec![CqPiece::Text("[CQ:at,qq=1".into())]);
        assert_eq!(parse("x[CQ:]y"), vec![CqPiece::Text("x[CQ:]y".into())]);
    }

    #[test]
    fn format_round_trips() {
        let pieces = vec![
            CqPiece::Text("a[b]&c,".into()),
            code("reply", &[("id", "5")]),
            code("json", &[("data", "{\"k\":[1,2]}")]),
        ];
        let s = format(&pieces);
        assert_eq!(s, "a&#91;b&#93;&amp;c,[CQ:reply,id=5][CQ:json,data={\"k\":&#91;1&#44;2&#93;}]");
        assert_eq!(parse(&s), pieces);
    }
}
