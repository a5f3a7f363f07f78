//! Bot accounts: the [`BotActor`] and the sources it can hold. Today the source is the
//! embedded simulated world; platform connections (OneBot, QQ official, oicq_webd) plug in
//! beside it.

mod actor;
mod administration;
mod cache;
mod cluster;
mod faces;
mod media_root;
mod platform_events;
mod recorder;
mod simulated;
pub(crate) mod sources;
mod traffic;
mod world;

pub use actor::{
    BotActor, BotStatus, EchoSent, EventFilter, EventOutbox, Execute, GetStatus, Inject, Reply,
    Subscribe, SubscriptionId, Unsubscribe,
};
pub use cache::MessageCache;
pub use cluster::SetOwner;
pub use media_root::MediaRoot;
pub use recorder::Flush;
pub use sources::onebot::{ForwardAction, UpstreamLink};
pub use sources::qqbot::{QqBotConfig, QqTransport, QqWebhookPush};
pub use traffic::{traffic_text, traffic_timestamp, GenerateTraffic};
pub use world::unix_now;
pub use world::{
    FriendSpec, GroupSpec, MemberSpec, OtherClientSpec, PermissionSpec, ProfileSpec, SexSpec,
    SimWorld, SimulatedWorldSpec, HISTORY_PER_CONTACT,
};
