//! The ws / reverse-ws envelope (spec §3): requests `{"syncId","command","subCommand",
//! "content"}`, responses and pushes `{"syncId","data"}`.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

/// A decoded request frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The request's syncId as a string (numbers are accepted and echoed as strings); `None`
    /// when the client sent `null` or no syncId.
    pub sync_id: Option<String>,
    /// The command word.
    pub command: String,
    /// The sub-command (`get` / `update` for groupConfig and memberInfo).
    pub sub_command: Option<String>,
    /// The command's data object; `Value::Null` when absent.
    pub content: Value,
}

/// Why a frame is not a request; every variant is answered with the raw 400 frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not UTF-8 or not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object with a string `command` and a string/number/null `syncId`.
    #[error("not a request envelope: {0}")]
    BadShape(&'static str),
}

/// Parses one text (or UTF-8 binary) frame. Extra keys are ignored, as mirai-api-http does.
pub fn parse_request(frame: &[u8]) -> Result<Request, EnvelopeError> {
    let value: Value =
        serde_json::from_slice(frame).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    let Value::Object(mut obj) = value else {
        return Err(EnvelopeError::BadShape("the frame is not a JSON object"));
    };
    let sync_id = match obj.remove("syncId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(EnvelopeError::BadShape("`syncId` must be a string or number")),
    };
    let command = match obj.remove("command") {
        Some(Value::String(s)) => s,
        _ => return Err(EnvelopeError::BadShape("`command` must be a string")),
    };
    let sub_command = match obj.remove("subCommand") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let content = obj.remove("content").unwrap_or(Value::Null);
    Ok(Request { sync_id, command, sub_command, content })
}

/// A response frame `{"syncId":…,"data":…}` with the request's syncId echoed.
pub fn response(sync_id: Option<&str>, data: &Value) -> String {
    // Serialized from borrows: `json!` would copy `data` into a new tree first.
    #[derive(serde::Serialize)]
    struct Response<'a> {
        #[serde(rename = "syncId")]
        sync_id: Option<&'a str>,
        data: &'a Value,
    }
    serde_json::to_string(&Response { sync_id, data }).unwrap_or_default()
}

/// A push frame `{"syncId":"<reserved>","data":<event>}` around an already-encoded event,
/// so an event serialized once is wrapped per client with one copy.
pub fn push_frame(reserved_sync_id: &str, event_json: &[u8]) -> Bytes {
    let sync = Value::String(reserved_sync_id.to_owned()).to_string();
    let mut buf = BytesMut::with_capacity(event_json.len() + sync.len() + 20);
    buf.put_slice(b"{\"syncId\":");
    buf.put_slice(sync.as_bytes());
    buf.put_slice(b",\"data\":");
    buf.put_slice(event_json);
    buf.put_u8(b'}');
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_sync_ids_become_strings_and_extra_keys_are_ignored() {
        let r = parse_request(br#"{"syncId":123,"command":"about","sessionKey":"x"}"#).unwrap();
        assert_eq!(r.sync_id.as_deref(), Some("123"));
        assert_eq!(r.command, "about");
        assert_eq!(r.content, Value::Null);
        assert_eq!(
            response(r.sync_id.as_deref(), &json!({"code":0})),
            r#"{"syncId":"123","data":{"code":0}}"#
        );
    }

    #[test]
    fn null_sync_id_is_echoed_as_null() {
        let r = parse_request(br#"{"syncId":null,"command":"x","subCommand":"get","content":{}}"#)
            .unwrap();
        assert_eq!(r.sync_id, None);
        assert_eq!(r.sub_command.as_deref(), Some("get"));
        assert_eq!(response(None, &json!(1)), r#"{"syncId":null,"data":1}"#);
    }

    #[test]
    fn junk_is_rejected() {
        assert!(matches!(parse_request(b"{not json"), Err(EnvelopeError::NotJson(_))));
        assert!(matches!(parse_request(b"[1,2]"), Err(EnvelopeError::BadShape(_))));
        assert!(matches!(parse_request(br#"{"syncId":"1"}"#), Err(EnvelopeError::BadShape(_))));
        assert!(matches!(
            parse_request(br#"{"syncId":{},"command":"about"}"#),
            Err(EnvelopeError::BadShape(_))
        ));
        assert!(matches!(parse_request(&[0xff, 0xfe]), Err(EnvelopeError::NotJson(_))));
    }

    #[test]
    fn push_frames_wrap_the_encoded_event() {
        let f = push_frame("-1", br#"{"type":"BotOnlineEvent","qq":1}"#);
        assert_eq!(&f[..], br#"{"syncId":"-1","data":{"type":"BotOnlineEvent","qq":1}}"#);
    }
}
