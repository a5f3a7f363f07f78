//! OneBot action frames and events.
#![no_main]
use botgate_actors::protocol::onebot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = onebot::action::parse_request(data) {
        let _ = onebot::action::decode(&request.action, &request.params);
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = onebot::decode::decode_event(&v);
        let _ = onebot::message::decode(&v, false);
    }
});
