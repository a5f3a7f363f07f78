//! This process as one node of a cluster (`cluster:`): it joins NATS, keeps leases on the bot
//! accounts and outbound destinations, and turns what it owns on and off — a bot's source
//! runs, a destination delivers, only on its owner. Every node starts every actor; the others
//! follow the stream (bots) or stand by (destinations).

use std::collections::BTreeSet;
use std::time::Duration;

use actix::{Addr, Recipient};
use botgate_actors::bot::{BotActor, SetOwner};
use botgate_actors::cluster::leases::{self, Ask, Leases, Owned};
use botgate_actors::cluster::sessions::Sessions;
use botgate_actors::cluster::ClusterLink;
use botgate_actors::connection::reverse_ws::Redial;
use botgate_actors::connection::standby::SetActive;
use log::{info, warn};
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::{ClusterConfig, ConfigError};
use crate::gateway::{Actors, StartError};

/// How long a command forwarded to a bot's owner may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The lease name of bot `qq`.
pub fn bot_resource(qq: i64) -> String {
    format!("bot.{qq}")
}

/// The lease name of the outbound destination with admin id `index`.
pub fn destination_resource(index: usize) -> String {
    format!("dest.{index}")
}

/// The durable name a destination's feed records its position under.
pub fn durable_name(index: usize) -> String {
    format!("dest-{index}")
}

/// Connects to the config's NATS servers; an error names `cluster.nats`.
pub async fn connect(config: &ClusterConfig) -> Result<ClusterLink, StartError> {
    let urls = config.urls()?;
    ClusterLink::connect(&urls, &config.node, Duration::from_millis(config.lease)).await.map_err(
        |e| {
            StartError::Config(ConfigError {
                key: "cluster.nats".into(),
                message: format!("{e}; start nats-server with JetStream (-js) or fix the URL"),
            })
        },
    )
}

/// The cluster's shared mirai sessions; an error names `cluster.nats`.
pub async fn sessions(link: &ClusterLink) -> Result<Sessions, StartError> {
    Sessions::open(link).await.map_err(|e| {
        StartError::Config(ConfigError { key: "cluster.nats".into(), message: e.to_string() })
    })
}

/// What a lease turns on and off.
#[derive(Clone)]
enum Leased {
    Bot(Addr<BotActor>),
    Destination(Recipient<SetActive>),
}

/// The longest a resource takes to stop or start before the node moves on (NATS away, its
/// last events cannot reach the stream): the lease then expires as for a dead node.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(5);

impl Leased {
    async fn set(&self, owned: bool) {
        let switched = async {
            match self {
                Leased::Bot(bot) => bot.send(SetOwner(owned)).await.is_ok(),
                Leased::Destination(d) => d.send(SetActive(owned)).await.is_ok(),
            }
        };
        if !matches!(tokio::time::timeout(SWITCH_TIMEOUT, switched).await, Ok(true)) {
            warn!(
                "cluster: a resource did not finish switching {}",
                if owned { "on" } else { "off" }
            );
        }
    }
}

/// The node's lease keeper and what it turned on.
pub struct Node {
    link: ClusterLink,
    stop: watch::Sender<bool>,
    keeper: Option<tokio::task::JoinHandle<()>>,
    resources: Vec<(String, Leased)>,
    owned: watch::Receiver<Owned>,
}

impl Node {
    /// Starts keeping leases on every bot and destination of `actors`; the bots `pinned`
    /// (a reverse OneBot link) only when their link reaches this node, by `asks`.
    pub async fn start(
        link: ClusterLink,
        actors: &Actors,
        pinned: &BTreeSet<i64>,
        asks: mpsc::UnboundedReceiver<Ask>,
    ) -> Result<Node, StartError> {
        let mut resources: Vec<(String, Leased)> = actors
            .bots
            .iter()
            .map(|(qq, _, bot)| (bot_resource(*qq), Leased::Bot(bot.clone())))
            .collect();
        let destinations = crate::status::destination_actors(actors);
        let redials: Vec<Recipient<Redial>> =
            destinations.iter().map(|d| d.redial.clone()).collect();
        serve_redials(&link, redials).await?;
        for (index, d) in destinations.into_iter().enumerate() {
            resources.push((destination_resource(index), Leased::Destination(d.standby)));
        }
        let pinned: Vec<String> = pinned.iter().map(|qq| bot_resource(*qq)).collect();
        let names = resources
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|n| !pinned.contains(n))
            .collect();
        if let Some(claims) = &actors.claims {
            serve_releases(&link, claims.asks.clone()).await?;
        }
        let (handover, mut handovers) = mpsc::unbounded_channel::<(String, oneshot::Sender<()>)>();
        let keeper = Leases::new(&link, names)
            .await
            .map_err(|e| {
                StartError::Config(ConfigError {
                    key: "cluster.nats".into(),
                    message: e.to_string(),
                })
            })?
            .with_handover(handover)
            .with_pinned(pinned, asks);
        let (owned_tx, owned) = watch::channel(Owned::new());
        let (stop, stopping) = watch::channel(false);
        let keeper = tokio::spawn(keeper.run(owned_tx, stopping));
        let table = resources.clone();
        let mut changes = owned.clone();
        actix::spawn(async move {
            let mut on: BTreeSet<String> = BTreeSet::new();
            loop {
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let now = changes.borrow_and_update().clone();
                        for (name, target) in &table {
                            match (on.contains(name), now.contains(name)) {
                                (false, true) => {
                                    info!("cluster: this node owns {name}");
                                    target.set(true).await;
                                    on.insert(name.clone());
                                }
                                (true, false) => {
                                    info!("cluster: this node no longer owns {name}");
                                    target.set(false).await;
                                    on.remove(name);
                                }
                                _ => {}
                            }
                        }
                    }
                    Some((name, done)) = handovers.recv() => {
                        if let Some((_, target)) = table.iter().find(|(n, _)| *n == name) {
                            target.set(false).await;
                        }
                        on.remove(&name);
                        let _ = done.send(());
                    }
                }
            }
        });
        Ok(Node { link, stop, keeper: Some(keeper), resources, owned })
    }

    /// The cluster link (for owners and forwarded requests).
    pub fn link(&self) -> &ClusterLink {
        &self.link
    }

    /// Stops what this node owns (sources, destinations, recording their positions), then
    /// gives every lease back so the other nodes take over at once.
    pub async fn leave(&mut self) {
        let owned = self.owned.borrow().clone();
        for (name, target) in &self.resources {
            if owned.contains(name) {
                target.set(false).await;
            }
        }
        let _ = self.stop.send(true);
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.await;
        }
    }
}

/// Takes the lease of an account whose link reached this node (a OneBot implementation
/// dialling botgate), asking the node holding it to let go.
#[derive(Clone)]
pub struct Claims {
    link: ClusterLink,
    asks: mpsc::UnboundedSender<Ask>,
}

impl Claims {
    /// Claims over `link`, and the requests they make of this node's lease keeper.
    pub fn new(link: ClusterLink) -> (Claims, mpsc::UnboundedReceiver<Ask>) {
        let (asks, requests) = mpsc::unbounded_channel();
        (Claims { link, asks }, requests)
    }

    /// Makes this node the owner of bot `qq` and switches its source on: at once when no
    /// node owns it; after the owner let go (it closes its link) when one does; once the
    /// lease expired when the owner is gone. An error when that takes too long.
    pub async fn claim(&self, qq: i64, bot: &Addr<BotActor>) -> Result<(), String> {
        let resource = bot_resource(qq);
        let deadline = tokio::time::Instant::now() + self.link.lease * 2 + SWITCH_TIMEOUT;
        loop {
            let (answer, answered) = oneshot::channel();
            let gone = || "this node is leaving the cluster".to_owned();
            self.asks.send(Ask::Take(resource.clone(), answer)).map_err(|_| gone())?;
            let holder = match answered.await.map_err(|_| gone())? {
                Ok(()) => {
                    return bot.send(SetOwner(true)).await.map_err(|e| format!("bot {qq}: {e}"))
                }
                Err(holder) => holder,
            };
            if tokio::time::Instant::now() >= deadline {
                let holder = holder.unwrap_or_else(|| "another node".to_owned());
                return Err(format!("{holder} still holds bot {qq}"));
            }
            let released = match holder.as_deref() {
                Some(holder) if holder != self.link.node => {
                    let request = self
                        .link
                        .client
                        .request(node_subject(holder, "release"), resource.clone().into());
                    matches!(tokio::time::timeout(self.link.lease, request).await, Ok(Ok(_)))
                }
                _ => false,
            };
            if !released {
                // The holder is gone (its lease expires by itself) or the key is changing
                // hands: look again shortly.
                tokio::time::sleep(self.link.lease / 4).await;
            }
        }
    }
}

/// The subject on which node `node` answers other nodes' `request` (`release`, `redial`).
fn node_subject(node: &str, request: &str) -> String {
    format!("botgate.nodes.{node}.{request}")
}

/// Answers other nodes' `request` addressed to this node with what `answer` makes of each
/// payload, one after another.
async fn serve_node_requests<F, A>(
    link: &ClusterLink,
    request: &str,
    mut answer: F,
) -> Result<(), StartError>
where
    F: FnMut(String) -> A + 'static,
    A: std::future::Future<Output = String>,
{
    use futures_util::StreamExt;
    let subject = node_subject(&link.node, request);
    let mut requests = link.client.subscribe(subject).await.map_err(|e| {
        StartError::Config(ConfigError { key: "cluster.nats".into(), message: e.to_string() })
    })?;
    let client = link.client.clone();
    actix::spawn(async move {
        while let Some(request) = requests.next().await {
            let answered = answer(String::from_utf8_lossy(&request.payload).into_owned()).await;
            if let Some(reply) = request.reply {
                let _ = client.publish(reply, answered.into()).await;
            }
        }
    });
    Ok(())
}

/// Lets go of a resource (the payload) when another node asks: its link reached that node.
async fn serve_releases(
    link: &ClusterLink,
    asks: mpsc::UnboundedSender<Ask>,
) -> Result<(), StartError> {
    serve_node_requests(link, "release", move |resource| {
        let (answer, answered) = oneshot::channel();
        let asked = asks.send(Ask::Release(resource, answer)).is_ok();
        async move {
            if asked && answered.await.is_ok() {
                "ok".to_owned()
            } else {
                "this node is leaving the cluster".to_owned()
            }
        }
    })
    .await
}

/// Answers other nodes' admin API asking this node to redial destination `index` (the
/// payload), which it owns.
async fn serve_redials(
    link: &ClusterLink,
    redials: Vec<Recipient<Redial>>,
) -> Result<(), StartError> {
    serve_node_requests(link, "redial", move |payload| {
        let redial = payload.parse::<usize>().ok().and_then(|i| redials.get(i)).cloned();
        async move {
            match redial {
                Some(redial) => match redial.send(Redial).await {
                    Ok(()) => "ok".to_owned(),
                    Err(e) => format!("the destination did not answer: {e}"),
                },
                None => "no such destination".to_owned(),
            }
        }
    })
    .await
}

/// Asks node `owner` to redial its destination `index`; `Ok` once it did, or why not.
pub async fn redial_on(link: &ClusterLink, owner: &str, index: usize) -> Result<(), String> {
    let request = link.client.request(node_subject(owner, "redial"), index.to_string().into());
    match tokio::time::timeout(COMMAND_TIMEOUT, request).await {
        Ok(Ok(answer)) if answer.payload.as_ref() == b"ok" => Ok(()),
        Ok(Ok(answer)) => Err(String::from_utf8_lossy(&answer.payload).into_owned()),
        Ok(Err(e)) => Err(format!("node {owner} is not reachable: {e}")),
        Err(_) => Err(format!("node {owner} did not answer within {COMMAND_TIMEOUT:?}")),
    }
}

/// Who owns each resource now, by lease name (empty outside a cluster or when NATS does not
/// answer).
pub async fn owners(link: Option<&ClusterLink>) -> std::collections::BTreeMap<String, String> {
    match link {
        Some(link) => leases::owners(link).await.unwrap_or_default(),
        None => Default::default(),
    }
}
