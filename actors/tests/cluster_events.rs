//! Events across the cluster against a real `nats-server`: what an owner publishes reaches
//! a follower on another connection once each, in order; a publish retried with the same id is
//! stored once; a follower catches up from a sequence; a NATS server killed and restarted
//! loses nothing the stream acknowledged.

mod nats;

use std::time::Duration;

use botgate_actors::cluster::events::{self, Batch, Published};
use botgate_actors::cluster::ClusterLink;
use botgate_actors::model::{Event, Friend};
use futures_util::StreamExt;

fn event(n: i64) -> Published {
    let friend = Friend { id: 20_000 + n, nickname: format!("f{n}"), remark: String::new() };
    Published {
        bot: 10001,
        time: 1_700_000_000 + n,
        event: Event::FriendAdd { friend, stranger: false },
    }
}

fn number(p: &Published) -> i64 {
    p.time - 1_700_000_000
}

/// The event numbers of a run of batches, in order.
async fn flatten(
    batches: impl futures_util::Stream<
        Item = Result<(u64, Batch), botgate_actors::cluster::ClusterError>,
    >,
) -> Vec<i64> {
    let batches: Vec<_> = batches.collect().await;
    batches.into_iter().flat_map(|r| r.expect("decodes").1.events).map(|p| number(&p)).collect()
}

fn batch(events: Vec<Published>) -> Batch {
    Batch { events, replicas: Vec::new() }
}

async fn link(url: &str, node: &str) -> ClusterLink {
    ClusterLink::connect(&[url.to_owned()], node, Duration::from_secs(5)).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_reach_followers_once_in_order_and_survive_a_nats_restart() {
    let mut nats = nats::nats_server();
    let owner = link(&nats.url, "gate-a").await;
    let follower = link(&nats.url, "gate-b").await;
    events::stream(&owner).await.expect("stream");
    let mut live = Box::pin(events::follow(&follower, 10001, None).await.expect("follow"));

    let mut first_sequence = 0;
    for n in 1..=200 {
        let seq =
            events::publish(&owner, 10001, &batch(vec![event(n)]), &format!("gate-a-10001-{n}"))
                .await
                .expect("publish");
        if n == 1 {
            first_sequence = seq;
        }
    }
    // A retry of event 200 (its acknowledgement was lost, say): stored once.
    events::publish(&owner, 10001, &batch(vec![event(200)]), "gate-a-10001-200")
        .await
        .expect("retried publish");
    // A batch of two keeps its order.
    events::publish(&owner, 10001, &batch(vec![event(201), event(202)]), "gate-a-10001-201")
        .await
        .expect("publish");
    // Another bot's events are not this follower's.
    let other = Published { bot: 10002, ..event(999) };
    events::publish(&owner, 10002, &batch(vec![other]), "gate-a-10002-1").await.expect("publish");

    let mut got = Vec::new();
    while got.len() < 202 {
        let next = tokio::time::timeout(Duration::from_secs(10), live.next()).await;
        let (_, batch) = next.expect("an event in time").expect("stream open").expect("decodes");
        for p in batch.events {
            assert_eq!(p.bot, 10001);
            got.push(number(&p));
        }
    }
    assert_eq!(got, (1..=202).collect::<Vec<_>>(), "once each, in order");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), live.next()).await.is_err(),
        "nothing more: the retry was stored once, the other bot's event is not here"
    );

    // A follower that was away catches up from a sequence.
    let from_100 =
        events::follow(&follower, 10001, Some(first_sequence + 99)).await.expect("follow");
    let caught: Vec<i64> = flatten(from_100.take(102)).await;
    assert_eq!(caught, (100..=202).collect::<Vec<_>>());

    // kill -9 of the NATS server: what the stream acknowledged is still there after it.
    nats.restart();
    let after = link(&nats.url, "gate-c").await;
    let everything = events::follow(&after, 10001, Some(first_sequence)).await.expect("follow");
    let kept = tokio::time::timeout(Duration::from_secs(20), flatten(everything.take(201)))
        .await
        .expect("the stream after the restart");
    assert_eq!(kept, (1..=202).collect::<Vec<_>>());
}
