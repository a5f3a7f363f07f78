//! oicq_webd push packets and msgContent.
#![no_main]
use botgate_actors::protocol::oicq;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = oicq::read::read(&v, 10001, |id| id.len() as i32);
        let _ = oicq::content::decode(&v);
    }
});
