//! [`QqApi`]: the QQ official platform's HTTP side for one app — its access token and its
//! OpenAPI. The token is fetched from `token_url` with the app id and secret, one fetch in
//! flight however many callers need it, `expires_in` read as a string or a number, and
//! refreshed in the last minute before it expires (the platform issues a new one only then).
//! A call refused with 401 or code 11244 (token expired) fetches a new token and is retried
//! once. Every request carries `Authorization: QQBot <token>` and `X-Union-Appid`; errors
//! carry the platform's `message` and `code`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use awc::http::Method;
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use log::{debug, info};
use serde_json::Value;

use crate::model::BotError;
use crate::protocol::lenient;

/// A token this close to expiry is replaced before use.
const REFRESH_BEFORE: Duration = Duration::from_secs(50);

/// The largest answer read.
const MAX_BODY: usize = 4 << 20;

/// Where and as whom to call the platform.
#[derive(Debug, Clone)]
pub struct QqApiConfig {
    /// The bot, for logs.
    pub label: String,
    /// The app id (`appId`, `X-Union-Appid`).
    pub app_id: String,
    /// The app secret (`clientSecret`).
    pub secret: String,
    /// The OpenAPI base, e.g. `https://api.sgroup.qq.com`.
    pub api_base: String,
    /// The token endpoint.
    pub token_url: String,
    /// How long one request may take.
    pub timeout: Duration,
    /// TLS for `https`.
    pub tls: Arc<rustls::ClientConfig>,
}

/// A failed call: the HTTP status and the platform's `code` and `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The platform's error code, when it gave one.
    pub code: Option<i64>,
    /// The platform's message, or what went wrong on the way.
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        match (self.code, self.status) {
            (Some(code), Some(status)) => write!(f, " (code {code}, HTTP {status})"),
            (None, Some(status)) => write!(f, " (HTTP {status})"),
            (Some(code), None) => write!(f, " (code {code})"),
            (None, None) => Ok(()),
        }
    }
}

impl From<ApiError> for BotError {
    fn from(e: ApiError) -> Self {
        BotError::Internal(format!("the QQ official platform refused: {e}"))
    }
}

impl ApiError {
    fn transport(message: String) -> Self {
        ApiError { status: None, code: None, message }
    }

    /// Whether the token was refused (expired or revoked): worth one retry with a new one.
    fn token_refused(&self) -> bool {
        self.status == Some(401) || self.code == Some(11244)
    }
}

type TokenFetch = Shared<LocalBoxFuture<'static, Result<String, ApiError>>>;

enum TokenState {
    None,
    Valid { token: String, refresh_at: Instant },
    Fetching(TokenFetch),
}

struct Inner {
    config: QqApiConfig,
    client: awc::Client,
    token: RefCell<TokenState>,
    fetches: std::cell::Cell<u64>,
}

/// The app's token and OpenAPI; cheap to clone, shared by the source and its gateway link
/// (all on one thread).
#[derive(Clone)]
pub struct QqApi {
    inner: Rc<Inner>,
}

impl QqApi {
    /// The API of the app in `config`.
    pub fn new(config: QqApiConfig) -> Self {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().rustls_0_23(Arc::clone(&config.tls)))
            .timeout(config.timeout)
            .finish();
        QqApi {
            inner: Rc::new(Inner {
                config,
                client,
                token: RefCell::new(TokenState::None),
                fetches: std::cell::Cell::new(0),
            }),
        }
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.inner.config.app_id
    }

    /// How many tokens were fetched so far (for `/healthz` and tests).
    pub fn token_fetches(&self) -> u64 {
        self.inner.fetches.get()
    }

    /// A valid access token: the one held, or a new one (one fetch however many ask).
    pub async fn token(&self) -> Result<String, ApiError> {
        let fetch = {
            let mut state = self.inner.token.borrow_mut();
            match &*state {
                TokenState::Valid { token, refresh_at } if Instant::now() < *refresh_at => {
                    return Ok(token.clone())
                }
                TokenState::Fetching(f) => f.clone(),
                _ => {
                    let this = self.clone();
                    let f = async move { this.fetch_token().await }.boxed_local().shared();
                    *state = TokenState::Fetching(f.clone());
                    f
                }
            }
        };
        let result = fetch.await;
        let mut state = self.inner.token.borrow_mut();
        if let (TokenState::Fetching(_), Err(_)) = (&*state, &result) {
            // The next caller tries again.
            *state = TokenState::None;
        }
        result
    }

    /// Drops `token` (refused by the platform): the next call fetches a new one.
    pub fn forget_token(&self, token: &str) {
        let mut state = self.inner.token.borrow_mut();
        if matches!(&*state, TokenState::Valid { token: held, .. } if held == token) {
            *state = TokenState::None;
        }
    }

    /// Drops the token held (the gateway refused it): the next call fetches a new one.
    pub fn forget_any_token(&self) {
        let mut state = self.inner.token.borrow_mut();
        if matches!(&*state, TokenState::Valid { .. }) {
            *state = TokenState::None;
        }
    }

    async fn fetch_token(&self) -> Result<String, ApiError> {
        let c = &self.inner.config;
        self.inner.fetches.set(self.inner.fetches.get() + 1);
        let body = serde_json::json!({"appId": c.app_id, "clientSecret": c.secret});
        let request =
            self.inner.client.post(&c.token_url).insert_header(("Accept", "application/json"));
        let (status, answer) = send(request, Some(&body)).await?;
        let token = answer.get("access_token").and_then(Value::as_str).unwrap_or("");
        let code = answer.get("code").and_then(lenient::int_from_value).filter(|c| *c != 0);
        if status >= 400 || code.is_some() || token.is_empty() {
            return Err(error_of(status, &answer, "no access_token in the answer"));
        }
        // `expires_in` is a string in the docs' example and a number in their table.
        let expires_in = answer.get("expires_in").and_then(lenient::int_from_value).unwrap_or(7200);
        let lifetime = Duration::from_secs(expires_in.max(0) as u64);
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_BEFORE);
        info!("qqbot source {}: access token fetched, valid {expires_in} s", c.label);
        *self.inner.token.borrow_mut() = TokenState::Valid { token: token.to_owned(), refresh_at };
        Ok(token.to_owned())
    }

    /// Calls `method path` with `body`; answers the platform's JSON (`null` for an empty
    /// answer). A refused token is replaced and the call made once more.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let token = self.token().await?;
        match self.call_with(&token, method.clone(), path, body.as_ref()).await {
            Err(e) if e.token_refused() => {
                debug!(
                    "qqbot source {}: token refused ({e}); fetching a new one",
                    self.inner.config.label
                );
                self.forget_token(&token);
                let token = self.token().await?;
                self.call_with(&token, method, path, body.as_ref()).await
            }
            other => other,
        }
    }

    async fn call_with(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let c = &self.inner.config;
        let url = format!("{}{path}", c.api_base.trim_end_matches('/'));
        let request = self
            .inner
            .client
            .request(method, url)
            .insert_header(("Authorization", format!("QQBot {token}")))
            .insert_header(("X-Union-Appid", c.app_id.as_str()))
            .insert_header(("Accept", "application/json"));
        let (status, answer) = send(request, body).await?;
        let code = answer.get("code").and_then(lenient::int_from_value).filter(|c| *c != 0);
        // A message queued for audit answers a code with the audit id: not a failure to hide,
        // but not a sent message either.
        if status >= 400 || (code.is_some() && answer.get("id").is_none()) {
            return Err(error_of(status, &answer, "refused"));
        }
        Ok(answer)
    }
}

async fn send(request: awc::ClientRequest, body: Option<&Value>) -> Result<(u16, Value), ApiError> {
    let sent = match body {
        Some(b) => request.send_json(b).await,
        None => request.send().await,
    };
    let mut response = sent.map_err(|e| ApiError::transport(format!("request failed: {e}")))?;
    let status = response.status().as_u16();
    let bytes = response.body().limit(MAX_BODY).await.map_err(|e| ApiError {
        status: Some(status),
        code: None,
        message: format!("answer unreadable: {e}"),
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok((status, Value::Null));
    }
    let value = serde_json::from_slice(&bytes).map_err(|e| ApiError {
        status: Some(status),
        code: None,
        message: format!("answer is not JSON: {e}"),
    })?;
    Ok((status, value))
}

fn error_of(status: u16, answer: &Value, otherwise: &str) -> ApiError {
    let message = answer
        .get("message")
        .or_else(|| answer.get("msg"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or(otherwise)
        .to_owned();
    let code = answer
        .get("code")
        .or_else(|| answer.get("err_code"))
        .and_then(lenient::int_from_value)
        .filter(|c| *c != 0);
    ApiError { status: Some(status), code, message }
}
