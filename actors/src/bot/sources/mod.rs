//! Where a bot account lives. The [`crate::bot::BotActor`] owns exactly one source: the
//! embedded simulated world, which answers commands at once, or a platform connection, which
//! answers them later — the actor hands the command over and answers with a future, so a slow
//! platform call never holds up the actor, its events or other commands.

pub(crate) mod oicq;
pub(crate) mod onebot;
pub(crate) mod qqbot;

use super::world::SimWorld;

/// A bot's source.
// One per bot account: its size is irrelevant, and boxing the world would add a pointer
// chase to every simulated command.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Source {
    /// The embedded simulated world.
    Simulated(SimWorld),
    /// A OneBot v11 implementation (NapCat, Lagrange.OneBot, LLOneBot…).
    OneBot(onebot::OneBotSource),
    /// The QQ official bot platform (seed 003), over its gateway or webhook.
    QqBot(qqbot::QqBotSource),
    /// An oicq_webd daemon (seed 001).
    Oicq(oicq::OicqSource),
}

impl Source {
    /// The source's name as the config spells it (`source:`), for metrics.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Source::Simulated(_) => "simulated",
            Source::OneBot(_) => "onebot",
            Source::QqBot(_) => "qqbot",
            Source::Oicq(_) => "oicq-webd",
        }
    }
}
