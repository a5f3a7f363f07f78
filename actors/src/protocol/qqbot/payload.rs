//! The gateway's envelope `{"op","d","s","t","id"}`, its op codes, the frames a client sends,
//! and what each close code asks of a client (spec A.1, A.2, A.8).

use serde_json::{json, Value};

use crate::protocol::lenient;

/// op 0: an event.
pub const DISPATCH: u64 = 0;
/// op 1: a heartbeat carrying the last `s`.
pub const HEARTBEAT: u64 = 1;
/// op 2: start a session.
pub const IDENTIFY: u64 = 2;
/// op 6: resume a session.
pub const RESUME: u64 = 6;
/// op 7: the server asks the client to reconnect and resume.
pub const RECONNECT: u64 = 7;
/// op 9: the session cannot be resumed; identify afresh.
pub const INVALID_SESSION: u64 = 9;
/// op 10: the first frame, with `heartbeat_interval`.
pub const HELLO: u64 = 10;
/// op 11: a heartbeat was received.
pub const HEARTBEAT_ACK: u64 = 11;
/// op 12: the answer to a webhook push.
pub const CALLBACK_ACK: u64 = 12;
/// op 13: webhook address validation.
pub const CALLBACK_VALIDATION: u64 = 13;

/// One gateway or webhook frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The op code.
    pub op: u64,
    /// The body.
    pub d: Value,
    /// The sequence number of a dispatch.
    pub s: Option<u64>,
    /// The event name of a dispatch.
    pub t: Option<String>,
    /// The event id of a dispatch (what passive replies to non-message events name).
    pub id: Option<String>,
}

impl Payload {
    /// Reads a frame; `op` may be a number or a numeric string, `s` too.
    pub fn parse(bytes: &[u8]) -> Result<Payload, String> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        Self::from_value(v)
    }

    /// Reads a frame already parsed.
    pub fn from_value(mut v: Value) -> Result<Payload, String> {
        let op = v
            .get("op")
            .and_then(lenient::int_from_value)
            .and_then(|op| u64::try_from(op).ok())
            .ok_or_else(|| "no op".to_owned())?;
        let s = v.get("s").and_then(lenient::int_from_value).and_then(|s| u64::try_from(s).ok());
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let t = text(&v, "t").filter(|t| !t.is_empty());
        let id = text(&v, "id").filter(|t| !t.is_empty());
        let d = v.get_mut("d").map(Value::take).unwrap_or(Value::Null);
        Ok(Payload { op, d, s, t, id })
    }
}

/// Identify with `token` (`QQBot <access token>`), `intents` and shard `[0, 1]`.
pub fn identify(token: &str, intents: u64, shard: [u64; 2]) -> String {
    json!({"op": IDENTIFY, "d": {"token": token, "intents": intents, "shard": shard,
        "properties": {"$os": std::env::consts::OS, "$browser": "botgate", "$device": "botgate"}}})
    .to_string()
}

/// Resume `session_id` after `seq`.
pub fn resume(token: &str, session_id: &str, seq: u64) -> String {
    json!({"op": RESUME, "d": {"token": token, "session_id": session_id, "seq": seq}}).to_string()
}

/// A heartbeat with the last sequence number seen (`null` before any).
pub fn heartbeat(last: Option<u64>) -> String {
    json!({"op": HEARTBEAT, "d": last}).to_string()
}

/// What a client does after the gateway closed with a code (spec A.8, notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Reconnect and resume the session.
    Resume,
    /// Reconnect and identify afresh.
    Identify,
    /// Fetch a new access token, then identify.
    RefreshToken,
    /// Rate-limited: wait, then resume.
    Wait,
    /// The bot may not connect (delisted or banned): stop.
    Fatal,
}

/// The action a close code asks for. Codes the platform does not list (and a close without
/// a code, a network error) resume: nothing says the session is lost.
pub fn close_action(code: Option<u16>) -> CloseAction {
    match code {
        Some(4009) | None => CloseAction::Resume,
        Some(4004) => CloseAction::RefreshToken,
        Some(4008) => CloseAction::Wait,
        Some(4914) | Some(4915) => CloseAction::Fatal,
        Some(4006) | Some(4007) | Some(4900..=4913) => CloseAction::Identify,
        // 4001/4002 bad frame, 4003/4005 auth state, 4010–4013 shard/version/intents: the
        // session is gone; a fresh identify is the only way back.
        Some(4000..=4099) => CloseAction::Identify,
        Some(_) => CloseAction::Resume,
    }
}

/// What a close code means, for logs and `/healthz`.
pub fn close_meaning(code: u16) -> &'static str {
    match code {
        4001 => "invalid opcode",
        4002 => "invalid payload",
        4003 => "not authenticated",
        4004 => "authentication failed (bad token)",
        4005 => "already authenticated",
        4006 => "session no longer valid",
        4007 => "invalid seq on resume",
        4008 => "rate limited",
        4009 => "connection expired",
        4010 => "invalid shard",
        4011 => "too many guilds for one shard",
        4012 => "invalid version",
        4013 => "invalid intents",
        4014 => "intents not permitted for this bot",
        4900..=4913 => "internal error of the platform",
        4914 => "the bot is delisted (sandbox only until it is listed again)",
        4915 => "the bot is banned",
        _ => "unknown close code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_parse_leniently() {
        let p = Payload::parse(br#"{"op":0,"s":"42","t":"READY","id":"e1","d":{"a":1}}"#)
            .expect("parse");
        assert_eq!(
            (p.op, p.s, p.t.as_deref(), p.id.as_deref()),
            (0, Some(42), Some("READY"), Some("e1"))
        );
        assert_eq!(p.d["a"], 1);
        let ack = Payload::parse(br#"{"op":"11"}"#).expect("ack");
        assert_eq!((ack.op, ack.d.clone(), ack.s), (11, Value::Null, None));
        assert!(Payload::parse(b"[1]").is_err());
        assert!(Payload::parse(b"{\"d\":1}").is_err());
        assert!(Payload::parse(b"\xff").is_err());
    }

    #[test]
    fn client_frames_are_exact() {
        let v: Value = serde_json::from_str(&identify("QQBot t", 33554433, [0, 1])).expect("json");
        assert_eq!((v["op"].clone(), v["d"]["token"].clone()), (json!(2), json!("QQBot t")));
        assert_eq!(
            (v["d"]["intents"].clone(), v["d"]["shard"].clone()),
            (json!(33554433), json!([0, 1]))
        );
        let v: Value = serde_json::from_str(&resume("QQBot t", "s-1", 9)).expect("json");
        assert_eq!(v, json!({"op": 6, "d": {"token": "QQBot t", "session_id": "s-1", "seq": 9}}));
        assert_eq!(heartbeat(None), r#"{"op":1,"d":null}"#);
        assert_eq!(heartbeat(Some(7)), r#"{"op":1,"d":7}"#);
    }

    #[test]
    fn close_codes_follow_the_platform_table() {
        assert_eq!(close_action(Some(4009)), CloseAction::Resume);
        assert_eq!(close_action(None), CloseAction::Resume);
        for code in [4006, 4007, 4900, 4905, 4913] {
            assert_eq!(close_action(Some(code)), CloseAction::Identify, "{code}");
        }
        assert_eq!(close_action(Some(4004)), CloseAction::RefreshToken);
        assert_eq!(close_action(Some(4008)), CloseAction::Wait);
        assert_eq!(close_action(Some(4914)), CloseAction::Fatal);
        assert_eq!(close_action(Some(4915)), CloseAction::Fatal);
        assert_eq!(close_action(Some(1006)), CloseAction::Resume);
    }
}
