//! mirai-api-http frames: the envelope, then the command and its message chain.
#![no_main]
use botgate_actors::protocol::mirai;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = mirai::envelope::parse_request(data) {
        let _ = mirai::command::decode(
            &request.command,
            request.sub_command.as_deref(),
            &request.content,
        );
    }
    if let Ok(serde_json::Value::Array(chain)) = serde_json::from_slice(data) {
        let _ = mirai::chain::decode(&chain, mirai::chain::ChainDirection::Send);
    }
    let _ = mirai::mirai_code::parse(&String::from_utf8_lossy(data));
});
