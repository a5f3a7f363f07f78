//! [`WebhookDestination`]: mirai-api-http's webhook adapter, one actor per destination URL.
//!
//! Every event of every bot is POSTed (webhook has no sessions) with the `qq`/`bot` headers,
//! one at a time and in order. A destination that is down, times out or answers 5xx gets the
//! same event again after a backoff; events produced meanwhile wait in a bounded buffer. A
//! response body `{"command", "content"}` is run as that bot, as mirai-api-http does.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use log::{debug, info, warn};
use serde_json::Value;

use super::backoff::Backoff;
use super::mirai_calls;
use super::reverse_ws::{DestinationStatus, GetDestinationStatus};
use crate::bot::{BotActor, EventFilter, EventOutbox, Subscribe};
use crate::model::{SharedEvent, UserId};
use crate::outbox::{Outbox, OverflowPolicy};
use crate::protocol::mirai::command::{self as mirai_command, MiraiCall};
use crate::protocol::mirai::event as mirai_event;
use crate::registry::{BoundSession, SessionRegistry};

/// The commands a webhook response may carry (mirai-api-http's list; no queries).
const ALLOWED_COMMANDS: &[&str] = &[
    "resp_newFriendRequestEvent",
    "resp_memberJoinRequestEvent",
    "resp_botInvitedJoinGroupRequestEvent",
    "deleteFriend",
    "muteAll",
    "unmuteAll",
    "mute",
    "unmute",
    "kick",
    "quit",
    "setEssence",
    "groupConfig",
    "memberInfo",
    "memberAdmin",
    "sendFriendMessage",
    "sendGroupMessage",
    "sendTempMessage",
    "sendOtherClientMessage",
    "recall",
    "sendNudge",
    "anno_publish",
    "anno_delete",
];

/// Everything one webhook destination needs, resolved from the config.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The URL POSTed to.
    pub url: String,
    /// Extra headers for every POST.
    pub headers: Vec<(String, String)>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// First retry delay; doubles up to `max_retry_interval`.
    pub retry_interval: Duration,
    /// Longest retry delay.
    pub max_retry_interval: Duration,
    /// Events kept while the destination is failing; the oldest are dropped beyond.
    pub buffer_size: usize,
    /// TLS settings for `https`.
    pub tls: Arc<rustls::ClientConfig>,
}

/// How a POST went.
enum Outcome {
    /// Delivered; the body, if any, may carry a command.
    Delivered(Bytes),
    /// The destination refused this event (4xx); retrying will not help.
    Refused(u16),
    /// Down, timed out or 5xx: try again later.
    Failed(String),
}

/// The webhook connection actor for one destination.
pub struct WebhookDestination {
    config: WebhookConfig,
    client: awc::Client,
    registry: Addr<SessionRegistry>,
    bots: Vec<(UserId, Addr<BotActor>)>,
    outbox: EventOutbox,
    in_flight: Option<Arc<SharedEvent>>,
    posting: bool,
    healthy: bool,
    backoff: Backoff,
}

impl WebhookDestination {
    /// A destination POSTing every event of `bots`.
    pub fn new(
        config: WebhookConfig,
        registry: Addr<SessionRegistry>,
        bots: Vec<(UserId, Addr<BotActor>)>,
    ) -> Self {
        let client = awc::Client::builder()
            .connector(
                awc::Connector::new()
                    .timeout(config.connect_timeout)
                    .rustls_0_23(Arc::clone(&config.tls)),
            )
            .timeout(config.request_timeout)
            .finish();
        let outbox = Outbox::new(config.buffer_size, OverflowPolicy::DropOldest);
        let backoff = Backoff::new(config.retry_interval, config.max_retry_interval);
        WebhookDestination {
            config,
            client,
            registry,
            bots,
            outbox,
            in_flight: None,
            posting: false,
            healthy: true,
            backoff,
        }
    }

    /// Posts the next event, unless a POST (or a retry wait) is under way.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.posting {
            return;
        }
        if self.in_flight.is_none() {
            self.in_flight = self.outbox.drain(1).0.pop();
        }
        let Some(event) = self.in_flight.clone() else {
            return;
        };
        let Some(body) = mirai_event::encoded(&event).cloned() else {
            self.in_flight = None;
            return self.pump(ctx);
        };
        self.posting = true;
        let bot = event.bot.to_string();
        let mut request = self
            .client
            .post(self.config.url.as_str())
            .insert_header(("Content-Type", "application/json; charset=UTF-8"))
            .insert_header(("qq", bot.as_str()))
            .insert_header(("X-qq", bot.as_str()))
            .insert_header(("bot", bot.as_str()))
            .insert_header(("X-bot", bot.as_str()));
        for (name, value) in &self.config.headers {
            request = request.insert_header((name.as_str(), value.as_str()));
        }
        let post = async move {
            let mut response = match request.send_body(body).await {
                Ok(r) => r,
                Err(e) => return Outcome::Failed(e.to_string()),
            };
            let status = response.status();
            if status.is_server_error() {
                return Outcome::Failed(format!("HTTP {status}"));
            }
            if status.is_client_error() {
                return Outcome::Refused(status.as_u16());
            }
            Outcome::Delivered(response.body().limit(16 << 20).await.unwrap_or_default())
        };
        ctx.spawn(post.into_actor(self).map(move |outcome, act, ctx| {
            act.posting = false;
            match outcome {
                Outcome::Delivered(body) => {
                    if !act.healthy {
                        info!("webhook {}: delivering again", act.config.url);
                    }
                    act.healthy = true;
                    act.backoff.reset();
                    act.in_flight = None;
                    act.run_reply(event.bot, &body, ctx);
                    act.pump(ctx);
                }
                Outcome::Refused(status) => {
                    warn!(
                        "webhook {}: HTTP {status} for a {} event; not retried",
                        act.config.url,
                        event_kind(&event)
                    );
                    act.in_flight = None;
                    act.pump(ctx);
                }
                Outcome::Failed(why) => {
                    if act.healthy {
                        warn!(
                            "webhook {}: {why}; retrying with backoff, {} events wait",
                            act.config.url,
                            act.outbox.len() + 1
                        );
                    }
                    act.healthy = false;
                    act.posting = true;
                    ctx.run_later(act.backoff.next_delay(), |act, ctx| {
                        act.posting = false;
                        act.pump(ctx);
                    });
                }
            }
        }));
    }

    /// Runs the command a response carries, as the event's bot; its result is not reported.
    fn run_reply(&mut self, qq: UserId, body: &[u8], ctx: &mut Context<Self>) {
        if body.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let Ok(reply) = serde_json::from_slice::<Value>(body) else {
            debug!("webhook {}: response is not JSON; ignored", self.config.url);
            return;
        };
        let Some(command) = reply.get("command").and_then(Value::as_str).filter(|c| !c.is_empty())
        else {
            return;
        };
        if !ALLOWED_COMMANDS.contains(&command) {
            warn!(
                "webhook {}: command {command:?} is not allowed in a webhook response",
                self.config.url
            );
            return;
        }
        let sub = matches!(command, "groupConfig" | "memberInfo").then_some("update");
        let content = reply.get("content").cloned().unwrap_or(Value::Null);
        let call = match mirai_command::decode(command, sub, &content) {
            Ok(call @ MiraiCall::Bot(_)) => call,
            Ok(_) => return,
            Err(e) => {
                warn!("webhook {}: {command}: {e:?}", self.config.url);
                return;
            }
        };
        let Some((_, bot)) = self.bots.iter().find(|(id, _)| *id == qq) else {
            return;
        };
        let session = BoundSession { key: String::new(), qq, bot: bot.clone() };
        let url = self.config.url.clone();
        let command = command.to_owned();
        ctx.spawn(
            mirai_calls::run(call, Some(session), self.registry.clone()).into_actor(self).map(
                move |data, _, _| {
                    debug!("webhook {url}: {command} answered {data}");
                },
            ),
        );
    }
}

fn event_kind(event: &SharedEvent) -> String {
    mirai_event::encode(&event.event)
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

impl Actor for WebhookDestination {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let addr = ctx.address();
        self.outbox.set_waker(move || addr.do_send(Pump));
        for (qq, bot) in &self.bots {
            let subscribe = Subscribe {
                outbox: self.outbox.clone(),
                filter: EventFilter::All,
                label: format!("webhook {}", self.config.url),
            };
            let qq = *qq;
            ctx.spawn(bot.send(subscribe).into_actor(self).map(move |r, act, _| {
                if let Err(e) = r {
                    warn!("webhook {}: subscribing to bot {qq} failed: {e}", act.config.url);
                }
            }));
        }
    }
}

/// Wakes the destination to post what waits.
#[derive(Message)]
#[rtype(result = "()")]
struct Pump;

impl Handler<Pump> for WebhookDestination {
    type Result = ();

    fn handle(&mut self, _: Pump, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}

impl Handler<GetDestinationStatus> for WebhookDestination {
    type Result = MessageResult<GetDestinationStatus>;

    fn handle(&mut self, _: GetDestinationStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(DestinationStatus {
            name: self.config.url.clone(),
            connected: self.healthy,
            verified_qq: None,
            buffered: self.outbox.len() + usize::from(self.in_flight.is_some()),
            dropped: self.outbox.dropped(),
        })
    }
}
