//! The daemon's ids: `msgID` is base64 of 12 bytes (uint32 LE time, seq, rand — oicq's message
//! coordinates), `eventID` base64 of 16 bytes (uint64 LE user or group, uint64 LE seq).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The `msgID` of a message.
pub fn msg_id(time: u32, seq: u32, rand: u32) -> String {
    let mut bytes = Vec::with_capacity(12);
    bytes.extend_from_slice(&time.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&rand.to_le_bytes());
    STANDARD.encode(bytes)
}

/// The (time, seq, rand) of a `msgID`.
pub fn parse_msg_id(id: &str) -> Option<(u32, u32, u32)> {
    let bytes = STANDARD.decode(id.trim()).ok()?;
    let word = |i: usize| bytes.get(i..i + 4)?.try_into().ok().map(u32::from_le_bytes);
    if bytes.len() != 12 {
        return None;
    }
    Some((word(0)?, word(4)?, word(8)?))
}

/// The `eventID` of a request.
pub fn event_id(who: u64, seq: u64) -> String {
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(&who.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    STANDARD.encode(bytes)
}

/// The (who, seq) of an `eventID`.
pub fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let bytes = STANDARD.decode(id.trim()).ok()?;
    if bytes.len() != 16 {
        return None;
    }
    let who = u64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    Some((who, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let id = msg_id(1_641_000_000, 42, 7);
        assert_eq!(STANDARD.decode(&id).expect("b64").len(), 12);
        assert_eq!(parse_msg_id(&id), Some((1_641_000_000, 42, 7)));
        assert_eq!(parse_msg_id("AAAA"), None);
        let e = event_id(20001, 9);
        assert_eq!(parse_event_id(&e), Some((20001, 9)));
        assert_eq!(parse_event_id(&id), None);
    }
}
