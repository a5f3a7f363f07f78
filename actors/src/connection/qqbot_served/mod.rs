//! The QQ official bot protocol served to the platform's SDKs (qq-botpy, nonebot's QQ
//! adapter, botgo): one [`app::QqApp`] per configured app drives one bot account; each
//! gateway socket is a [`socket::QqGatewaySocket`]; the passive-reply rules live in
//! [`rules`]; an app with a webhook URL has its dispatches POSTed there by a
//! [`webhook::QqWebhookSender`].

pub mod app;
pub mod rules;
pub mod socket;
pub mod webhook;
