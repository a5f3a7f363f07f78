//! [`QqWebhookSender`]: an app's dispatches POSTed to the SDK's webhook as the platform posts
//! them. First the address is validated (op 13 with a fresh `plain_token` and `event_ts`; the
//! answer's signature must be the app key's, as the platform checks); then every dispatch is
//! sent signed — ed25519 over `X-Signature-Timestamp` + the exact body, `X-Bot-Appid`,
//! `User-Agent: QQBot-Callback` — one at a time, in order, and sent again after a backoff
//! until the SDK acknowledges it: a 2xx answer whose body is not `{"op":12,"d":1}` (SDKs
//! answer `{"op":12,"d":0}` or an empty 200). While the SDK is away dispatches wait in a
//! bounded queue; the oldest are dropped beyond it, counted and logged.
//!
//! In a cluster the sender runs on the node that owns it ([`SetActive`]); its app feeds it
//! from the bot's durable feed, each dispatch carrying its event, which is signalled delivered
//! once the SDK acknowledged it — the feed's window bounds what waits, so nothing is dropped.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use log::{info, warn};
use serde_json::{json, Value};

use crate::connection::backoff::Backoff;
use crate::connection::reverse_ws::{DestinationStatus, GetDestinationStatus, Redial};
use crate::connection::shutdown::Settled;
use crate::connection::standby::SetActive;
use crate::model::SharedEvent;
use crate::protocol::qqbot::signature;

/// The sender's settings.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The app id (`X-Bot-Appid`).
    pub app_id: String,
    /// The app secret: the signing key.
    pub secret: String,
    /// The SDK's webhook URL.
    pub url: String,
    /// Dispatches kept while the SDK is away.
    pub buffer_size: usize,
    /// First retry delay.
    pub retry_interval: Duration,
    /// Longest retry delay.
    pub max_retry_interval: Duration,
    /// TLS for `https`.
    pub tls: Arc<rustls::ClientConfig>,
}

/// A dispatch frame to POST (the whole `{"op":0,…}` body).
#[derive(Message)]
#[rtype(result = "()")]
pub struct WebhookDispatch {
    /// The frame.
    pub frame: Arc<str>,
    /// The event from a durable feed whose last frame this is: signalled delivered once the
    /// SDK acknowledged it.
    pub event: Option<Arc<SharedEvent>>,
}

/// The sender actor.
pub struct QqWebhookSender {
    config: WebhookConfig,
    client: awc::Client,
    queue: VecDeque<WebhookDispatch>,
    validated: bool,
    busy: bool,
    healthy: bool,
    dropped: u64,
    backoff: Backoff,
    /// In a cluster, while another node sends.
    standby: bool,
    /// In a cluster its app feeds it from the webhook's durable feed, whose window bounds
    /// what waits: nothing is dropped (an unsent dispatch's event would never be recorded).
    durable: bool,
    /// The retry timer under way, cancelled by a redial or a stand-down.
    pending_retry: Option<SpawnHandle>,
    /// Whether a POST is in flight.
    requesting: bool,
    answered: Settled,
    last_error: Option<String>,
}

enum Outcome {
    Acknowledged(bytes::Bytes),
    Failed(String),
}

impl QqWebhookSender {
    /// A sender to `config.url`. `clustered`: it stands by until its node owns the webhook,
    /// and is fed from a durable feed.
    pub fn new(config: WebhookConfig, clustered: bool) -> Self {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().rustls_0_23(Arc::clone(&config.tls)))
            .timeout(Duration::from_secs(10))
            .finish();
        let backoff = Backoff::new(config.retry_interval, config.max_retry_interval);
        QqWebhookSender {
            config,
            client,
            queue: VecDeque::new(),
            validated: false,
            busy: false,
            healthy: true,
            dropped: 0,
            backoff,
            standby: clustered,
            durable: clustered,
            pending_retry: None,
            requesting: false,
            answered: Settled::default(),
            last_error: None,
        }
    }

    fn post(&self, body: String) -> impl std::future::Future<Output = Outcome> + 'static {
        let timestamp = crate::bot::unix_now().to_string();
        let request = self.config.key().map(|key| {
            let sig = signature::sign(&key, timestamp.as_bytes(), body.as_bytes());
            self.client
                .post(&self.config.url)
                .insert_header(("Content-Type", "application/json"))
                .insert_header(("User-Agent", "QQBot-Callback"))
                .insert_header(("X-Bot-Appid", self.config.app_id.as_str()))
                .insert_header(("X-Signature-Timestamp", timestamp.as_str()))
                .insert_header(("X-Signature-Ed25519", sig))
        });
        async move {
            let Some(request) = request else {
                return Outcome::Failed("the app has no secret to sign with".into());
            };
            match request.send_body(body).await {
                Ok(mut r) if r.status().is_success() => {
                    Outcome::Acknowledged(r.body().limit(1 << 20).await.unwrap_or_default())
                }
                Ok(r) => Outcome::Failed(format!("HTTP {}", r.status())),
                Err(e) => Outcome::Failed(e.to_string()),
            }
        }
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.standby {
            return;
        }
        if !self.validated {
            return self.validate(ctx);
        }
        let Some(frame) = self.queue.front().map(|d| d.frame.to_string()) else {
            return;
        };
        self.busy = true;
        self.requesting = true;
        let post = self.post(frame);
        ctx.spawn(post.into_actor(self).map(|outcome, act, ctx| {
            act.busy = false;
            act.requesting = false;
            if act.standby {
                // Stood down meanwhile: an acknowledged frame still counts as delivered.
                if matches!(&outcome, Outcome::Acknowledged(b) if !asks_retry(b)) {
                    act.delivered();
                }
                act.answered.notify();
                return;
            }
            let failure = match outcome {
                Outcome::Acknowledged(body) if asks_retry(&body) => {
                    Some("the SDK answered op 12 with d: 1 (retry)".to_owned())
                }
                Outcome::Acknowledged(_) => None,
                Outcome::Failed(why) => Some(why),
            };
            match failure {
                None => {
                    act.delivered();
                    act.backoff.reset();
                    if !act.healthy {
                        info!("qqbot webhook {}: delivering again", act.config.url);
                    }
                    act.healthy = true;
                    act.pump(ctx);
                }
                Some(why) => act.retry(&why, ctx),
            }
        }));
    }

    /// The front frame is acknowledged: it leaves the queue, and its event (from a durable
    /// feed) is delivered.
    fn delivered(&mut self) {
        if let Some(done) = self.queue.pop_front() {
            if let Some(event) = done.event {
                event.delivered();
            }
        }
    }

    fn retry(&mut self, why: &str, ctx: &mut Context<Self>) {
        self.last_error = Some(why.to_owned());
        if self.healthy {
            warn!(
                "qqbot webhook {}: {why}; retrying with backoff, {} dispatches wait",
                self.config.url,
                self.queue.len()
            );
        }
        self.healthy = false;
        self.busy = true;
        let retry = ctx.run_later(self.backoff.next_delay(), |act, ctx| {
            act.pending_retry = None;
            act.busy = false;
            act.pump(ctx);
        });
        self.pending_retry = Some(retry);
    }

    /// op 13 first: the SDK proves it holds the secret by signing a fresh token.
    fn validate(&mut self, ctx: &mut Context<Self>) {
        use rand::Rng;
        let plain_token: String =
            rand::rng().sample_iter(rand::distr::Alphanumeric).take(20).map(char::from).collect();
        let event_ts = crate::bot::unix_now().to_string();
        let body = json!({"op": 13, "d": {"plain_token": plain_token, "event_ts": event_ts}});
        self.busy = true;
        let post = self.post(body.to_string());
        ctx.spawn(post.into_actor(self).map(move |outcome, act, ctx| {
            act.busy = false;
            if act.standby {
                return;
            }
            let answer = match outcome {
                Outcome::Acknowledged(b) => serde_json::from_slice::<Value>(&b).ok(),
                Outcome::Failed(why) => return act.retry(&format!("validation: {why}"), ctx),
            };
            let signed = answer.as_ref().and_then(|a| a.get("signature")).and_then(Value::as_str);
            let good = match (act.config.key(), signed) {
                (Some(key), Some(sig)) => {
                    answer.as_ref().is_some_and(|a| {
                        a.get("plain_token").and_then(Value::as_str) == Some(&plain_token)
                    }) && signature::verify(&key, event_ts.as_bytes(), plain_token.as_bytes(), sig)
                }
                _ => false,
            };
            if !good {
                return act
                    .retry("the validation answer (op 13) is not signed with the app secret", ctx);
            }
            info!("qqbot webhook {}: address validated", act.config.url);
            act.validated = true;
            act.backoff.reset();
            act.pump(ctx);
        }));
    }
}

impl WebhookConfig {
    fn key(&self) -> Option<ed25519_dalek::SigningKey> {
        signature::key_of(&self.secret)
    }
}

impl Actor for QqWebhookSender {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}

impl Handler<WebhookDispatch> for QqWebhookSender {
    type Result = ();

    fn handle(&mut self, msg: WebhookDispatch, ctx: &mut Self::Context) {
        self.queue.push_back(msg);
        while !self.durable && self.queue.len() > self.config.buffer_size.max(1) {
            // The one in flight (the front) stays; the next oldest goes.
            let at = usize::from(self.busy && self.validated);
            if self.queue.remove(at).is_some() {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    warn!(
                        "qqbot webhook {}: the SDK is away and the queue is full; {} oldest \
                         dispatches dropped so far",
                        self.config.url, self.dropped
                    );
                }
            }
        }
        self.pump(ctx);
    }
}

/// Whether an SDK's 2xx answer asks for the dispatch again (`{"op":12,"d":1}`).
fn asks_retry(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| {
        v.get("op").and_then(Value::as_u64) == Some(12)
            && v.get("d").and_then(Value::as_u64) == Some(1)
    })
}

impl Handler<SetActive> for QqWebhookSender {
    type Result = ResponseActFuture<Self, ()>;

    /// Active: validates the address again and sends what its app feeds it. Standing down:
    /// no new POST; the one in flight is given a moment to be answered (an acknowledged
    /// dispatch is recorded, not sent again by the next owner); what waits is left to the
    /// next owner.
    fn handle(&mut self, msg: SetActive, ctx: &mut Self::Context) -> Self::Result {
        if msg.0 != self.standby {
            return Box::pin(fut::ready(()));
        }
        self.standby = !msg.0;
        if let Some(pending) = self.pending_retry.take() {
            ctx.cancel_future(pending);
            self.busy = false;
        }
        if msg.0 {
            info!("qqbot webhook {}: this node sends to it now", self.config.url);
            self.validated = false;
            self.healthy = true;
            self.backoff.reset();
            self.pump(ctx);
            return Box::pin(fut::ready(()));
        }
        info!("qqbot webhook {}: another node sends to it now", self.config.url);
        let answered = self.requesting.then(|| self.answered.wait());
        Box::pin(
            async move {
                if let Some(answered) = answered {
                    answered.await;
                }
            }
            .into_actor(self)
            .map(|_, act, _| {
                act.queue.clear();
                act.busy = false;
            }),
        )
    }
}

impl Handler<Redial> for QqWebhookSender {
    type Result = ();

    /// Retries now: the backoff under way is cut short.
    fn handle(&mut self, _: Redial, ctx: &mut Self::Context) {
        if let Some(pending) = self.pending_retry.take() {
            ctx.cancel_future(pending);
            self.busy = false;
        }
        self.backoff.reset();
        self.pump(ctx);
    }
}

impl Handler<GetDestinationStatus> for QqWebhookSender {
    type Result = MessageResult<GetDestinationStatus>;

    fn handle(&mut self, _: GetDestinationStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(DestinationStatus {
            name: self.config.url.clone(),
            connected: self.validated && self.healthy && !self.standby,
            verified_qq: None,
            buffered: self.queue.len(),
            dropped: self.dropped,
            last_error: self.last_error.clone(),
        })
    }
}
