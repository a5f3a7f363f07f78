//! CQ-code strings, both ways.
#![no_main]
use botgate_actors::protocol::onebot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let pieces = onebot::cq::parse(text);
    let _ = onebot::cq::format(&pieces);
    if let Ok(decoded) = onebot::message::decode(&serde_json::Value::String(text.to_owned()), false)
    {
        let _ = onebot::message::to_cq_string(&decoded.segments);
    }
});
