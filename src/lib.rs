//! botgate, the service: configuration, the actix-web listener, and the wiring of adapters to
//! the actors of [`botgate_actors`].

pub mod admin;
pub mod botgate_endpoints;
pub mod cluster;
pub mod config;
pub mod console;
pub mod gateway;
pub mod limits;
pub mod listeners;
pub mod metrics_endpoint;
pub mod mirai_http;
pub mod mirai_ws;
pub mod oicq_server;
pub mod onebot_http;
pub mod onebot_upstream;
pub mod onebot_ws;
pub mod qqbot_server;
pub mod qqbot_webhook;
pub mod status;

pub use config::{Config, ConfigError};
pub use gateway::{Gateway, StartError};
