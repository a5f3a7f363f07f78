//! botgate, the service: configuration, the actix-web listener, and the wiring of adapters to
//! the actors of [`botgate_actors`].

pub mod config;
pub mod gateway;
pub mod server;

pub use config::{Config, ConfigError};
pub use gateway::{Gateway, StartError};
