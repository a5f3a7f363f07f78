//! oicq_webd's protocol (seed 001): the push packets `{type, time, data}` of `msg`, `revoke`,
//! `user` and `group` events, the `msgContent` segment arrays, and its base64 ids. Both
//! generations of the daemon are read (the seed's top-level `time`, `reply.text`, `revokee`;
//! the later `data.time`, `reply.summary`, `eventID`, names); botgate writes the seed's shape
//! plus the later fields. Shared by the `oicq-webd` source and the served format.

pub mod api;
pub mod content;
pub mod ids;
pub mod packet;
pub mod read;
