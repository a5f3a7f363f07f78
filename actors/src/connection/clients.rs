//! The directory of a gateway's served WebSocket clients, for the admin API: which adapter
//! each belongs to, its peer, the bot and session it uses, how much waits in its outbox and
//! how much it dropped — and a way to disconnect one. Each
//! [`ServedSocket`](super::ws_server::ServedSocket) registers itself in its adapter's
//! directory when it is made and is gone from it when it is dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::model::UserId;

/// What the admin API shows of one client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    /// The directory's number for it.
    pub id: u64,
    /// The adapter (`mirai ws`, `OneBot ws`…).
    pub adapter: &'static str,
    /// Its address.
    pub peer: String,
    /// When it connected, Unix seconds.
    pub since: i64,
    /// The bot it receives events of, once known.
    pub bot: Option<UserId>,
    /// The first characters of its session key, if it has one.
    pub session: Option<String>,
    /// Events waiting in its outbox.
    pub outbox: usize,
    /// Events its outbox dropped.
    pub dropped: u64,
    /// The thread it lives on: `bots` (beside the bot actors) or `worker` (the listener's).
    pub thread: &'static str,
}

type Gauge = Box<dyn Fn() -> (usize, u64) + Send + Sync>;

/// A client's entry.
pub struct Entry {
    id: u64,
    adapter: &'static str,
    peer: SocketAddr,
    since: i64,
    details: Mutex<Details>,
    disconnect: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

#[derive(Default)]
struct Details {
    bot: Option<UserId>,
    session: Option<String>,
    outbox: Option<Gauge>,
    beside_bots: bool,
}

/// One gateway's clients: every adapter's [`ClientStats`](super::stats::ClientStats) points
/// to the same directory.
#[derive(Default)]
pub struct ClientDirectory {
    next: AtomicU64,
    clients: Mutex<Vec<Weak<Entry>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl std::fmt::Debug for ClientDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDirectory").field("clients", &lock(&self.clients).len()).finish()
    }
}

impl ClientDirectory {
    /// Registers a client of `adapter` at `peer`; it stays listed while the entry lives.
    pub fn register(&self, adapter: &'static str, peer: SocketAddr) -> Arc<Entry> {
        let entry = Arc::new(Entry {
            id: self.next.fetch_add(1, Ordering::Relaxed) + 1,
            adapter,
            peer,
            since: crate::bot::unix_now(),
            details: Mutex::default(),
            disconnect: Mutex::new(None),
        });
        let mut all = lock(&self.clients);
        if all.len() >= 64 && all.len().is_power_of_two() {
            all.retain(|w| w.strong_count() > 0);
        }
        all.push(Arc::downgrade(&entry));
        entry
    }

    /// Every client connected now, oldest first.
    pub fn list(&self) -> Vec<ClientInfo> {
        let live: Vec<Arc<Entry>> = lock(&self.clients).iter().filter_map(Weak::upgrade).collect();
        live.iter().map(|e| e.info()).collect()
    }

    /// Disconnects client `id`; answers whether there was one.
    pub fn disconnect(&self, id: u64) -> bool {
        let entry = lock(&self.clients).iter().filter_map(Weak::upgrade).find(|e| e.id == id);
        let Some(entry) = entry else {
            return false;
        };
        log::info!("{} {}: disconnected from the admin API", entry.adapter, entry.peer);
        if let Some(f) = lock(&entry.disconnect).as_ref() {
            f();
        }
        true
    }
}

impl Entry {
    /// Its number.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Notes the bot and session the client uses.
    pub fn bind(&self, bot: UserId, session: Option<&str>) {
        let mut d = lock(&self.details);
        d.bot = Some(bot);
        // Enough to tell sessions apart in a table, too little to use one.
        d.session = session.map(|k| k.chars().take(4).collect());
    }

    /// Notes how to read the client's outbox depth and drops.
    pub fn watch_outbox(&self, gauge: impl Fn() -> (usize, u64) + Send + Sync + 'static) {
        lock(&self.details).outbox = Some(Box::new(gauge));
    }

    /// Notes that the client lives on the bots' thread rather than a listener's worker.
    pub fn beside_bots(&self) {
        lock(&self.details).beside_bots = true;
    }

    /// Notes how to disconnect the client.
    pub fn on_disconnect(&self, f: impl Fn() + Send + Sync + 'static) {
        *lock(&self.disconnect) = Some(Box::new(f));
    }

    fn info(&self) -> ClientInfo {
        let d = lock(&self.details);
        let (outbox, dropped) = d.outbox.as_ref().map_or((0, 0), |g| g());
        ClientInfo {
            id: self.id,
            adapter: self.adapter,
            peer: self.peer.to_string(),
            since: self.since,
            bot: d.bot,
            session: d.session.clone(),
            outbox,
            dropped,
            thread: if d.beside_bots { "bots" } else { "worker" },
        }
    }
}
