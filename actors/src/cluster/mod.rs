//! Cluster mode over NATS JetStream (DESIGN.md, "Cluster"): several botgate processes share
//! the bot accounts and outbound destinations. This module holds what a node needs to take
//! part: its NATS connection and the ownership leases that say which node runs what.

pub mod commands;
pub mod events;
pub mod feed;
pub mod leases;
pub mod sessions;

use std::time::Duration;

/// Why the cluster cannot be joined.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The NATS server(s) could not be reached.
    #[error("cannot connect to NATS at {urls}: {why}")]
    Connect {
        /// The URLs tried.
        urls: String,
        /// The client's reason.
        why: String,
    },
    /// JetStream refused to set up what the cluster needs.
    #[error("JetStream: {0}")]
    JetStream(String),
}

/// A node's link to the cluster.
#[derive(Clone)]
pub struct ClusterLink {
    /// The NATS client.
    pub client: async_nats::Client,
    /// Its JetStream context.
    pub jetstream: async_nats::jetstream::Context,
    /// This node's name.
    pub node: String,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
}

impl ClusterLink {
    /// Connects node `node` to the NATS servers `urls`: an error when none answers (start-up
    /// names the servers); once connected the client reconnects by itself after a drop.
    pub async fn connect(
        urls: &[String],
        node: &str,
        lease: Duration,
    ) -> Result<Self, ClusterError> {
        let addrs: Result<Vec<async_nats::ServerAddr>, _> =
            urls.iter().map(|u| u.parse::<async_nats::ServerAddr>()).collect();
        let joined = urls.join(", ");
        let addrs = addrs
            .map_err(|e| ClusterError::Connect { urls: joined.clone(), why: e.to_string() })?;
        let client = async_nats::ConnectOptions::new()
            .name(format!("botgate {node}"))
            .connection_timeout(Duration::from_secs(5))
            .connect(addrs)
            .await
            .map_err(|e| ClusterError::Connect { urls: joined, why: e.to_string() })?;
        let jetstream = async_nats::jetstream::new(client.clone());
        Ok(ClusterLink { client, jetstream, node: node.to_owned(), lease })
    }

    /// Key-value bucket `name`, created (one revision per key; entries living `max_age`
    /// without a write, or for ever when zero) if it does not exist yet.
    pub async fn bucket(
        &self,
        name: &str,
        description: &str,
        max_age: Duration,
    ) -> Result<async_nats::jetstream::kv::Store, ClusterError> {
        if let Ok(store) = self.jetstream.get_key_value(name).await {
            return Ok(store);
        }
        self.jetstream
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: name.to_owned(),
                description: description.to_owned(),
                history: 1,
                max_age,
                ..Default::default()
            })
            .await
            .map_err(|e| ClusterError::JetStream(format!("bucket {name}: {e}")))
    }
}
