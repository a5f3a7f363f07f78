//! Events across the cluster: a bot's owner publishes each event once, in model form, to the
//! JetStream stream `BOTGATE_EVENTS` (subject `botgate.events.<qq>`); an event is *accepted*
//! once the stream acknowledged it. One stream message carries a batch — the events the owner
//! produced while its previous publish was being acknowledged (group commit) — so a busy bot
//! is not held to one acknowledgement round trip per event; a position is a message's sequence
//! and an index within its batch. Every node with local subscribers of that bot reads the
//! subject with an ordered consumer and fans the events out as its own, serializing once per
//! wire format as a single process does. The stream is bounded by age and size.

use std::time::Duration;

use async_nats::jetstream::{consumer, stream};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::{ClusterError, ClusterLink};
use crate::model::{Event, UserId};

/// The stream's name.
pub const STREAM: &str = "BOTGATE_EVENTS";
/// How long the stream keeps an event (a node away longer than this cannot catch up).
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The most the stream holds; the oldest events go beyond.
pub const MAX_BYTES: i64 = 1 << 30;

/// The subject of bot `bot`'s events.
pub fn subject(bot: UserId) -> String {
    format!("botgate.events.{bot}")
}

/// One event as it travels: the bot, when it happened, the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// The bot account.
    pub bot: UserId,
    /// When the owner emitted it, Unix seconds.
    pub time: i64,
    /// The event.
    pub event: Event,
}

/// What the owner tells the other nodes besides events: the state a node needs should it own
/// the bot next (its message store and id maps stay per node, kept alike this way).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Replica {
    /// Messages seen or sent, and recalled: the message store's changes.
    Messages(Vec<crate::store::MessageChange>),
    /// New numbers for a platform's string ids.
    Ids(Vec<crate::store::IdMapping>),
}

/// One stream message: a batch of one bot's events, in order, and the state changes that
/// came with them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Batch {
    /// The events.
    pub events: Vec<Published>,
    /// The state changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Replica>,
}

/// The stream, created on first use with its bounds.
pub async fn stream(link: &ClusterLink) -> Result<stream::Stream, ClusterError> {
    link.jetstream
        .get_or_create_stream(stream::Config {
            name: STREAM.to_owned(),
            description: Some("botgate: every bot's events, in model form".to_owned()),
            subjects: vec!["botgate.events.>".to_owned()],
            max_age: MAX_AGE,
            max_bytes: MAX_BYTES,
            discard: stream::DiscardPolicy::Old,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| ClusterError::JetStream(format!("stream {STREAM}: {e}")))
}

/// Publishes a batch of one bot's events, in order; answers the stream's sequence once it has
/// them (they are accepted then). `id` identifies the batch for JetStream's duplicate window,
/// so a retried publish is stored once.
pub async fn publish(
    link: &ClusterLink,
    bot: UserId,
    batch: &Batch,
    id: &str,
) -> Result<u64, ClusterError> {
    let payload = serde_json::to_vec(batch)
        .map_err(|e| ClusterError::JetStream(format!("an event does not serialize: {e}")))?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id);
    let ack = link
        .jetstream
        .publish_with_headers(subject(bot), headers, Bytes::from(payload))
        .await
        .map_err(|e| ClusterError::JetStream(format!("publishing: {e}")))?
        .await
        .map_err(|e| ClusterError::JetStream(format!("the stream did not take an event: {e}")))?;
    Ok(ack.sequence)
}

/// Bot `bot`'s batches from now on (or from stream sequence `from`), in order, as they come,
/// each with its sequence.
pub async fn follow(
    link: &ClusterLink,
    bot: UserId,
    from: Option<u64>,
) -> Result<impl Stream<Item = Result<(u64, Batch), ClusterError>>, ClusterError> {
    let stream = stream(link).await?;
    let deliver_policy = match from {
        Some(sequence) => consumer::DeliverPolicy::ByStartSequence { start_sequence: sequence },
        None => consumer::DeliverPolicy::New,
    };
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject(bot),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| ClusterError::JetStream(format!("following bot {bot}: {e}")))?;
    let messages = consumer
        .messages()
        .await
        .map_err(|e| ClusterError::JetStream(format!("following bot {bot}: {e}")))?;
    Ok(messages.map(|m| {
        let m = m.map_err(|e| ClusterError::JetStream(format!("reading events: {e}")))?;
        let sequence = m.info().map(|i| i.stream_sequence).unwrap_or(0);
        let batch = serde_json::from_slice::<Batch>(&m.payload)
            .map_err(|e| ClusterError::JetStream(format!("an event does not decode: {e}")))?;
        Ok((sequence, batch))
    }))
}
