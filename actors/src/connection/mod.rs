//! Connection actors: one per client socket or outbound destination. Each owns its socket,
//! its outbox and its protocol codec; outbound ones also own their reconnect loop.

pub mod backlog;
pub mod backoff;
pub mod clients;
pub mod frames;
pub mod http_post;
pub mod in_flight;
pub mod mirai_calls;
pub mod mirai_ws;
pub mod oicq_link;
pub mod oicq_push;
pub mod onebot_calls;
pub mod onebot_reverse;
pub mod onebot_upstream;
pub mod onebot_ws;
pub mod qqbot_api;
pub mod qqbot_gateway;
pub mod qqbot_served;
pub mod reverse_ws;
pub mod shutdown;
pub mod standby;
pub mod stats;
pub mod tls;
pub mod ws_client;
pub mod ws_server;
