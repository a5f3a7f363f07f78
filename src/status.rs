//! Snapshots of the running gateway — every bot with its source and status, every outbound
//! destination with its buffer — read from the actors. One home for what `/healthz`, the
//! admin API and `/metrics` all show.

use actix::{Actor, Addr, Context, Handler, Recipient};
use actix_web::rt::time::timeout;
use botgate_actors::bot::{BotActor, BotStatus, GetStatus};
use botgate_actors::connection::reverse_ws::{DestinationStatus, GetDestinationStatus, Redial};
use botgate_actors::connection::standby::SetActive;
use botgate_actors::store::StoredCount;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::config::SourceKind;
use crate::gateway::Actors;

/// One bot as it stands.
pub struct BotSnapshot {
    /// Its number.
    pub qq: i64,
    /// Where it lives.
    pub source: SourceKind,
    /// Its status; `None` if its actor did not answer (within a second).
    pub status: Option<BotStatus>,
    /// Messages the store holds for it; `None` if the store did not answer (within a second).
    pub stored: Option<usize>,
    /// Its actor.
    pub bot: Addr<BotActor>,
    /// In a cluster, the node that owns it (`None` while none does).
    pub owner: Option<String>,
}

impl BotSnapshot {
    /// The source as the config spells it.
    pub fn source_name(&self) -> String {
        format!("{:?}", self.source).to_lowercase()
    }

    /// The link state: `online`, `offline`, `catching up` or `error`.
    pub fn link(&self) -> &'static str {
        match &self.status {
            None => "unavailable",
            Some(s) if s.problem.is_some() => "error",
            Some(s) if s.catching_up => "catching up",
            Some(s) if s.online => "online",
            Some(_) => "offline",
        }
    }

    /// As `/healthz` and the admin API show it.
    pub fn to_json(&self) -> Value {
        let Some(s) = &self.status else {
            return json!({ "qq": self.qq, "error": "bot actor unavailable" });
        };
        let mut v = json!({
            "qq": self.qq,
            "source": self.source_name(),
            "nickname": s.nickname,
            "online": s.online && s.problem.is_none(),
            "link": self.link(),
            "subscribers": s.subscribers,
            "cachedMessages": s.cached_messages,
            "storedMessages": self.stored,
        });
        match &s.problem {
            Some(problem) => v["error"] = json!(problem),
            None => v["catchingUp"] = json!(s.catching_up),
        }
        if let Some(owner) = &self.owner {
            v["owner"] = json!(owner);
        }
        v
    }
}

/// How long a snapshot waits for an actor's answer. The store writes behind a busy machine
/// (the more so at background priority) and a bot waits for its store once it is far behind:
/// a health check must still answer promptly, saying what it could not learn.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Every bot, in config order.
pub async fn bots(actors: &Actors) -> Vec<BotSnapshot> {
    let owners = &crate::cluster::owners(actors.cluster.as_ref()).await;
    join_all(actors.bots.iter().map(|(qq, source, addr)| async move {
        let stored =
            match timeout(ANSWER_WITHIN, actors.messages.send(StoredCount { bot: *qq })).await {
                Ok(Ok(Ok((count, _)))) => Some(count),
                _ => None,
            };
        BotSnapshot {
            qq: *qq,
            source: *source,
            status: timeout(ANSWER_WITHIN, addr.send(GetStatus)).await.ok().and_then(Result::ok),
            stored,
            bot: addr.clone(),
            owner: owners.get(&crate::cluster::bot_resource(*qq)).cloned(),
        }
    }))
    .await
}

/// The kind of an outbound destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationKind {
    /// mirai-api-http's reverse-ws.
    MiraiReverseWs,
    /// mirai-api-http's webhook.
    MiraiWebhook,
    /// OneBot's HTTP POST.
    OneBotPost,
    /// OneBot's reverse WebSocket.
    OneBotReverseWs,
    /// A served QQ official app's webhook.
    QqAppWebhook,
}

impl DestinationKind {
    /// The adapter's name, as `/healthz` and the metrics label it.
    pub fn adapter(self) -> &'static str {
        match self {
            DestinationKind::MiraiReverseWs => "mirai reverse-ws",
            DestinationKind::MiraiWebhook => "mirai webhook",
            DestinationKind::OneBotPost => "onebot http post",
            DestinationKind::OneBotReverseWs => "onebot reverse ws",
            DestinationKind::QqAppWebhook => "qqbot webhook",
        }
    }
}

/// One outbound destination as it stands.
pub struct DestinationSnapshot {
    /// Its kind.
    pub kind: DestinationKind,
    /// Its index among all destinations (what the admin API's redial names).
    pub index: usize,
    /// Its status; `None` if its actor did not answer (within a second).
    pub status: Option<DestinationStatus>,
    /// In a cluster, the node that owns it (`None` while none does).
    pub owner: Option<String>,
}

impl DestinationSnapshot {
    /// As `/healthz` and the admin API show it.
    pub fn to_json(&self) -> Value {
        let mut v = match &self.status {
            Some(s) => json!({
                "id": self.index,
                "adapter": self.kind.adapter(),
                "name": s.name,
                "connected": s.connected,
                "verifiedQq": s.verified_qq,
                "buffered": s.buffered,
                "dropped": s.dropped,
                "lastError": s.last_error,
            }),
            None => json!({
                "id": self.index,
                "adapter": self.kind.adapter(),
                "error": "destination unavailable",
            }),
        };
        if let Some(owner) = &self.owner {
            v["owner"] = json!(owner);
        }
        v
    }
}

/// One outbound destination's actor, as the recipient of what every destination takes.
pub struct DestinationActor {
    /// Its kind.
    pub kind: DestinationKind,
    /// Where its status is asked.
    pub status: Recipient<GetDestinationStatus>,
    /// Where a redial is asked.
    pub redial: Recipient<Redial>,
    /// Where a cluster turns it on (its node owns it) and off.
    pub standby: Recipient<SetActive>,
}

fn actor<A>(kind: DestinationKind, a: &Addr<A>) -> DestinationActor
where
    A: Actor<Context = Context<A>>
        + Handler<GetDestinationStatus>
        + Handler<Redial>
        + Handler<SetActive>,
{
    DestinationActor {
        kind,
        status: a.clone().recipient(),
        redial: a.clone().recipient(),
        standby: a.clone().recipient(),
    }
}

/// Every outbound destination's actor, in a stable order (the admin API's ids).
pub fn destination_actors(actors: &Actors) -> Vec<DestinationActor> {
    let mut all = Vec::new();
    all.extend(actors.destinations.iter().map(|d| actor(DestinationKind::MiraiReverseWs, d)));
    all.extend(actors.webhooks.iter().map(|d| actor(DestinationKind::MiraiWebhook, d)));
    all.extend(actors.onebot_posts.iter().map(|d| actor(DestinationKind::OneBotPost, d)));
    all.extend(actors.onebot_reverse.iter().map(|d| actor(DestinationKind::OneBotReverseWs, d)));
    let apps = actors.qqbot_apps.iter().filter(|a| a.webhook);
    all.extend(apps.map(|a| actor(DestinationKind::QqAppWebhook, &a.app)));
    all
}

/// Every outbound destination, in a stable order.
pub async fn destinations(actors: &Actors) -> Vec<DestinationSnapshot> {
    let all = destination_actors(actors);
    let owners = &crate::cluster::owners(actors.cluster.as_ref()).await;
    join_all(all.into_iter().enumerate().map(|(index, d)| async move {
        let status = d.status.send(GetDestinationStatus).await.ok();
        let owner = owners.get(&crate::cluster::destination_resource(index)).cloned();
        DestinationSnapshot { kind: d.kind, index, status, owner }
    }))
    .await
}
