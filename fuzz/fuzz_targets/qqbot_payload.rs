//! QQ official gateway and webhook frames, and the dispatches inside them.
#![no_main]
use botgate_actors::protocol::qqbot::dispatch::{self, ContactKey, IdMap, SelfIds};
use botgate_actors::protocol::qqbot::payload::Payload;
use libfuzzer_sys::fuzz_target;

struct Ids;

impl IdMap for Ids {
    fn contact(&mut self, key: &ContactKey) -> i64 {
        key.encode().len() as i64
    }
    fn message(&mut self, id: &str) -> i32 {
        id.len() as i32
    }
    fn known_message(&self, id: &str) -> Option<i32> {
        Some(id.len() as i32)
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Payload::parse(data) {
        let t = p.t.clone().unwrap_or_default();
        let me = SelfIds { user_id: "1".into() };
        let _ = dispatch::decode(&t, &p.d, p.id.as_deref(), &me, &mut Ids);
    }
});
