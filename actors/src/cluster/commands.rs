//! Commands across the cluster: a client's command for a bot owned by another node goes to
//! the owner by NATS request-reply on `botgate.commands.<qq>`; the owner runs it on its bot
//! actor and answers the result or the bot's error. No owner, or none answering within the
//! command's timeout, is an error that says so — never a silent success.

use std::time::Duration;

use actix::Addr;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{ClusterError, ClusterLink};
use crate::bot::{BotActor, Execute, GenerateTraffic, Inject};
use crate::model::{BotError, Command, CommandOutput, SimulatedInput, UserId};

/// How long a node waits for the owner's view of an account (`/healthz`) before it shows
/// its own: health probes time out in a second or two.
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(800);

/// The subject a bot's owner answers commands on.
pub fn subject(bot: UserId) -> String {
    format!("botgate.commands.{bot}")
}

/// What a node asks a bot's owner to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Run a client's command.
    Execute(Command),
    /// Deliver injected traffic to a simulated bot (`/sim/{qq}/inject`); answered once the
    /// events it produced are accepted (in the stream).
    Inject(SimulatedInput),
    /// Start generated traffic on a simulated bot (`/sim/{qq}/traffic`).
    Traffic(GenerateTraffic),
    /// How the account stands on its owner (`/healthz` on another node).
    Status,
    /// A QQ official webhook push another node received (verified there): the owner
    /// journals and processes it; answered once journaled.
    WebhookPush(String),
}

/// A request's result as it travels back.
#[derive(Debug, Serialize, Deserialize)]
pub enum Answer {
    /// A command's output.
    Done(CommandOutput),
    /// An injection's new message id, if any.
    Injected(Option<i32>),
    /// Traffic started.
    Started,
    /// The account's status on its owner.
    Status(Box<crate::bot::BotStatus>),
    /// The bot's error.
    Failed(BotError),
}

impl Answer {
    /// A command's output: the bot's error, or an error for an answer to another request.
    pub fn output(self) -> Result<CommandOutput, BotError> {
        match self {
            Answer::Done(output) => Ok(output),
            Answer::Failed(e) => Err(e),
            other => Err(BotError::Internal(format!("an unexpected answer {other:?}"))),
        }
    }
}

/// Runs `request` on this node's bot actor.
async fn run(actor: &Addr<BotActor>, bot: UserId, request: Request) -> Answer {
    let lost =
        |e: actix::MailboxError| Answer::Failed(BotError::Internal(format!("bot {bot}: {e}")));
    match request {
        Request::Execute(command) => match actor.send(Execute(command)).await {
            Ok(Ok(output)) => Answer::Done(output),
            Ok(Err(e)) => Answer::Failed(e),
            Err(e) => lost(e),
        },
        Request::Inject(input) => match actor.send(Inject(input)).await {
            Ok(Ok(id)) => Answer::Injected(id),
            Ok(Err(e)) => Answer::Failed(e),
            Err(e) => lost(e),
        },
        Request::Traffic(job) => match actor.send(job).await {
            Ok(Ok(())) => Answer::Started,
            Ok(Err(e)) => Answer::Failed(e),
            Err(e) => lost(e),
        },
        Request::Status => match actor.send(crate::bot::GetStatus).await {
            Ok(status) => Answer::Status(Box::new(status)),
            Err(e) => lost(e),
        },
        Request::WebhookPush(body) => {
            let payload = match crate::protocol::qqbot::payload::Payload::parse(body.as_bytes()) {
                Ok(payload) => payload,
                Err(e) => {
                    return Answer::Failed(BotError::InvalidParameter(format!("a push: {e}")))
                }
            };
            let push = crate::bot::QqWebhookPush { payload, body: Bytes::from(body) };
            match actor.send(push).await {
                Ok(Ok(())) => Answer::Started,
                Ok(Err(why)) => Answer::Failed(BotError::Internal(why)),
                Err(e) => lost(e),
            }
        }
    }
}

/// Serving a bot's commands on this node (its owner). [`Serving::stop`] withdraws it at
/// once; dropping it withdraws it as soon as the task notices.
pub struct Serving {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Serving {
    /// Stops answering: once this returns, NATS no longer routes the bot's commands here, so
    /// a caller gets "no owner" at once rather than waiting out its timeout.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Answers the commands of bot `bot` with its actor `actor` (call while this node owns it).
/// Returns once the NATS server routes the subject here (a request to itself came back).
pub async fn serve(
    link: &ClusterLink,
    bot: UserId,
    actor: Addr<BotActor>,
) -> Result<Serving, ClusterError> {
    let mut requests = link
        .client
        .subscribe(subject(bot))
        .await
        .map_err(|e| ClusterError::JetStream(format!("serving bot {bot}'s commands: {e}")))?;
    let client = link.client.clone();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            let request = tokio::select! {
                r = requests.next() => r,
                _ = &mut stopped => None,
            };
            let Some(request) = request else {
                break;
            };
            answer(&client, &actor, bot, request).await;
        }
        if let Err(e) = requests.unsubscribe().await {
            log::debug!("cluster: withdrawing bot {bot}'s commands: {e}");
        }
        // What NATS had already handed this node is answered, not dropped: its callers would
        // otherwise wait out their timeouts (the bot actor passes it on to the next owner).
        while let Some(request) = requests.next().await {
            answer(&client, &actor, bot, request).await;
        }
        // Withdrawn once a request from this connection (ordered after the unsubscription)
        // finds no one, or finds the next owner.
        for _ in 0..50 {
            let probe = client.request(subject(bot), Bytes::new());
            match tokio::time::timeout(Duration::from_millis(100), probe).await {
                Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => break,
                Ok(Ok(_)) => break,
                _ => {}
            }
        }
    });
    let serving = Serving { stop: Some(stop), task: Some(task) };
    // The subscription is live once a request to it comes back.
    for _ in 0..50 {
        let probe = link.client.request(subject(bot), Bytes::new());
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(100), probe).await {
            return Ok(serving);
        }
    }
    Err(ClusterError::JetStream(format!("bot {bot}'s commands never reached this node")))
}

/// Answers one request from another node: the probe `serve` sends itself at once, anything
/// else once the bot actor ran it (concurrently with the others, as a client's commands run
/// on one node; the bot actor orders them).
async fn answer(
    client: &async_nats::Client,
    actor: &Addr<BotActor>,
    bot: UserId,
    request: async_nats::Message,
) {
    let Some(reply) = request.reply.clone() else {
        return;
    };
    if request.payload.is_empty() {
        let payload = serde_json::to_vec(&Answer::Started).unwrap_or_default();
        let _ = client.publish(reply, Bytes::from(payload)).await;
        return;
    }
    let (client, actor) = (client.clone(), actor.clone());
    // Not actix::spawn: this runs outside the arbiter's LocalSet.
    tokio::spawn(async move {
        let answer = match serde_json::from_slice::<Request>(&request.payload) {
            Ok(request) => run(&actor, bot, request).await,
            Err(e) => Answer::Failed(BotError::InvalidParameter(format!(
                "a request from another node does not decode: {e}"
            ))),
        };
        let payload = serde_json::to_vec(&answer).unwrap_or_default();
        if let Err(e) = client.publish(reply, Bytes::from(payload)).await {
            log::warn!("cluster: answering a request for bot {bot} failed: {e}");
        }
    });
}

/// Runs `command` on bot `bot`'s owner, waiting at most `timeout`.
pub async fn call(
    link: &ClusterLink,
    bot: UserId,
    command: &Command,
    timeout: Duration,
) -> Result<CommandOutput, BotError> {
    ask(link, bot, &Request::Execute(command.clone()), timeout).await?.output()
}

/// Sends `request` to bot `bot`'s owner and waits at most `timeout` for its answer.
pub async fn ask(
    link: &ClusterLink,
    bot: UserId,
    request: &Request,
    timeout: Duration,
) -> Result<Answer, BotError> {
    let payload = serde_json::to_vec(request)
        .map_err(|e| BotError::Internal(format!("a request does not serialize: {e}")))?;
    let request = link.client.request(subject(bot), Bytes::from(payload));
    let response = match tokio::time::timeout(timeout, request).await {
        Err(_) => {
            return Err(BotError::Internal(format!(
                "bot {bot}: its owner node did not answer within {timeout:?}"
            )))
        }
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
            return Err(BotError::Internal(format!(
                "bot {bot}: no node owns it now (its owner left; another takes over within the lease)"
            )))
        }
        Ok(Err(e)) => return Err(BotError::Internal(format!("bot {bot}: {e}"))),
        Ok(Ok(message)) => message,
    };
    serde_json::from_slice::<Answer>(&response.payload)
        .map_err(|e| BotError::Internal(format!("bot {bot}: an unreadable answer: {e}")))
}
