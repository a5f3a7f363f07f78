//! Ownership leases against a real `nats-server` with JetStream (Debian's package, which
//! `.ci/run` installs): resources spread evenly over the nodes, a dead owner's resources are
//! taken over within the lease, a node that stops gracefully hands them over at once, and a
//! node that joins gets its share back gradually.

mod nats;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use botgate_actors::cluster::leases::{self, Leases, Owned};
use botgate_actors::cluster::ClusterLink;
use tokio::sync::watch;

const LEASE: Duration = Duration::from_millis(1500);

struct Node {
    owned: watch::Receiver<Owned>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn node(url: &str, name: &str, resources: &[&str]) -> Node {
    let link = ClusterLink::connect(&[url.to_owned()], name, LEASE).await.expect("connect");
    let keeper = Leases::new(&link, resources.iter().map(|r| (*r).to_owned()).collect())
        .await
        .expect("bucket");
    let (tx, owned) = watch::channel(Owned::new());
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(keeper.run(tx, stopped));
    Node { owned, stop, task }
}

/// Waits until `check` holds for the nodes' holdings; answers how long it took.
async fn until(nodes: &[&Node], within: Duration, check: impl Fn(&[Owned]) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let now: Vec<Owned> = nodes.iter().map(|n| n.owned.borrow().clone()).collect();
        if check(&now) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "not within {within:?}: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn all(resources: &[&str]) -> BTreeSet<String> {
    resources.iter().map(|r| (*r).to_owned()).collect()
}

/// Every resource has exactly one owner among `held`.
fn partition(held: &[Owned], resources: &[&str]) -> bool {
    let total: usize = held.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<String> = held.iter().flatten().cloned().collect();
    total == resources.len() && union == all(resources)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_spread_evenly_and_a_dead_owners_are_taken_over_within_the_lease() {
    let nats = nats::nats_server();
    let resources = ["bot.10001", "bot.10002", "dest.0", "dest.1"];
    let a = node(&nats.url, "gate-a", &resources).await;
    let b = node(&nats.url, "gate-b", &resources).await;
    until(&[&a, &b], Duration::from_secs(10), |h| {
        partition(h, &resources) && h[0].len() == 2 && h[1].len() == 2
    })
    .await;

    // gate-a dies: it renews nothing and gives nothing back.
    a.task.abort();
    let took = until(&[&b], Duration::from_secs(10), |h| h[0] == all(&resources)).await;
    assert!(took < LEASE * 3, "taken over after {took:?} (lease {LEASE:?})");

    // gate-a comes back: it gets its share back, one resource per round.
    let a = node(&nats.url, "gate-a", &resources).await;
    until(&[&a, &b], Duration::from_secs(15), |h| {
        partition(h, &resources) && h[0].len() == 2 && h[1].len() == 2
    })
    .await;
    drop(nats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_hands_its_leases_over_at_once() {
    let nats = nats::nats_server();
    let resources = ["bot.1", "bot.2"];
    let a = node(&nats.url, "gate-a", &resources).await;
    until(&[&a], Duration::from_secs(10), |h| h[0] == all(&resources)).await;
    let b = node(&nats.url, "gate-b", &resources).await;
    until(&[&a, &b], Duration::from_secs(15), |h| partition(h, &resources) && h[1].len() == 1)
        .await;
    a.stop.send_replace(true);
    a.task.await.expect("stops");
    let took = until(&[&b], Duration::from_secs(10), |h| h[0] == all(&resources)).await;
    assert!(took < LEASE, "a graceful stop is not waited out: {took:?}");
    let owners = {
        let link = ClusterLink::connect(std::slice::from_ref(&nats.url), "observer", LEASE)
            .await
            .expect("connect");
        leases::owners(&link).await.expect("owners")
    };
    assert_eq!(owners.len(), 2);
    assert!(owners.values().all(|n| n == "gate-b"), "{owners:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_renewals_stall_stops_using_its_resources_before_the_lease_ends() {
    let nats = nats::nats_server();
    let resources = ["bot.1", "dest.0"];
    let a = node(&nats.url, "gate-a", &resources).await;
    until(&[&a], Duration::from_secs(10), |h| h[0] == all(&resources)).await;
    // NATS freezes: no renewal answers. The bucket would let another node take the leases a
    // lease after their last renewals; this node must have let go before that.
    nats.pause();
    let let_go = until(&[&a], LEASE * 2, |h| h[0].is_empty()).await;
    nats.resume();
    assert!(let_go < LEASE, "still owned {let_go:?} after the renewals stalled (lease {LEASE:?})");
    // NATS answers again: the node renews or takes its resources again.
    until(&[&a], Duration::from_secs(10), |h| h[0] == all(&resources)).await;
}
