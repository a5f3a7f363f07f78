//! mirai sessions shared over NATS (a real `nats-server`): a session created and bound on one
//! node is found on another, references changed by two nodes at once all count, and the
//! session closes when the last one goes.

mod nats;

use std::time::Duration;

use botgate_actors::cluster::sessions::{Sessions, SharedSession};
use botgate_actors::cluster::ClusterLink;

async fn sessions(url: &str, node: &str) -> Sessions {
    let link = ClusterLink::connect(&[url.to_owned()], node, Duration::from_secs(5))
        .await
        .expect("connect");
    Sessions::open(&link).await.expect("bucket")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_of_one_node_works_on_another_and_counts_every_reference() {
    let nats = nats::nats_server();
    let a = sessions(&nats.url, "gate-a").await;
    let b = sessions(&nats.url, "gate-b").await;
    let key = "k3yVerifiedOnA01";
    a.create(key, None).await.expect("create");
    assert!(a.create(key, None).await.is_err(), "a key exists once");
    assert_eq!(b.get(key).await.expect("get"), Some(SharedSession { bot: None, references: 0 }));
    b.bind(key, 10001).await.expect("bind on another node");
    assert_eq!(a.get(key).await.expect("get").and_then(|s| s.bot), Some(10001));

    // Both nodes take references at once: every one counts.
    let take = |s: Sessions| async move {
        for _ in 0..50 {
            s.reference(key, 1).await.expect("reference");
        }
    };
    tokio::join!(take(a.clone()), take(b.clone()));
    assert_eq!(a.get(key).await.expect("get").map(|s| s.references), Some(100));

    let give = |s: Sessions| async move {
        let mut last = None;
        for _ in 0..50 {
            last = s.reference(key, -1).await.expect("release");
        }
        last
    };
    let (from_a, from_b) = tokio::join!(give(a.clone()), give(b.clone()));
    assert!(from_a.is_none() != from_b.is_none(), "the last release, and only it, closes it");
    assert_eq!(b.get(key).await.expect("get"), None, "closed for every node");
    assert!(b.bind(key, 10001).await.is_err(), "a closed session cannot be bound");
}
