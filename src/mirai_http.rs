//! mirai-api-http's http adapter: `/verify`, `/bind`, `/release`, every command at its path,
//! and the per-session unread queue (`fetchMessage`, `peekMessage`, `countMessage`…).
//! Errors are HTTP 200 with the state-code body, as every mirai client expects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix::Addr;
use actix_cors::Cors;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::bot::{
    BotActor, EventFilter, EventOutbox, Subscribe, SubscriptionId, Unsubscribe,
};
use botgate_actors::connection::mirai_calls;
use botgate_actors::model::{BotError, SharedEvent};
use botgate_actors::outbox::{Outbox, OverflowPolicy};
use botgate_actors::protocol::lenient;
use botgate_actors::protocol::mirai::command::{self as mirai_command, HttpMethod, HTTP_ROUTES};
use botgate_actors::protocol::mirai::event as mirai_event;
use botgate_actors::protocol::mirai::state::StateCode;
use botgate_actors::registry::{Bind, BoundSession, CreateSession, Lookup, Release, SessionError};
use log::{debug, warn};
use serde_json::{json, Map, Value};

use crate::listeners::AppState;

/// The unread queue of one http-bound session.
struct UnreadQueue {
    outbox: EventOutbox,
    bot: Addr<BotActor>,
    subscription: Option<SubscriptionId>,
}

/// The unread queues of the sessions bound through `/bind` (or `/verify` in singleMode).
pub struct HttpSessions {
    capacity: usize,
    queues: Mutex<HashMap<String, UnreadQueue>>,
}

impl HttpSessions {
    /// Queues of `unreadQueueMaxSize` events (0: none are kept).
    pub fn new(capacity: usize) -> Self {
        HttpSessions { capacity, queues: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, UnreadQueue>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many http sessions have a queue.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no http session has a queue.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives a session its queue (once) and subscribes it to the session's bot.
    async fn ensure(&self, session: &BoundSession) {
        let outbox = {
            let mut queues = self.lock();
            if queues.contains_key(&session.key) {
                return;
            }
            let outbox = Outbox::new(self.capacity.max(1), OverflowPolicy::DropOldest);
            let queue = UnreadQueue {
                outbox: outbox.clone(),
                bot: session.bot.clone(),
                subscription: None,
            };
            queues.insert(session.key.clone(), queue);
            outbox
        };
        if self.capacity == 0 {
            return;
        }
        let subscribe = Subscribe {
            outbox,
            filter: EventFilter::All,
            label: "mirai http session".to_owned(),
            durable: None,
        };
        if let Ok(id) = session.bot.send(subscribe).await {
            match self.lock().get_mut(&session.key) {
                Some(q) => q.subscription = Some(id),
                None => session.bot.do_send(Unsubscribe(id)),
            }
        }
    }

    fn remove(&self, key: &str) {
        if let Some(q) = self.lock().remove(key) {
            q.outbox.close();
            if let Some(id) = q.subscription {
                q.bot.do_send(Unsubscribe(id));
            }
        }
    }

    fn outbox(&self, key: &str) -> Option<EventOutbox> {
        self.lock().get(key).map(|q| q.outbox.clone())
    }
}

/// The CORS policy of `cors:`: `*` allows any origin; other entries are hosts (`a.com:8080`,
/// allowed over http and https) or full origins.
pub fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default().allow_any_method().allow_any_header().max_age(86_400);
    if origins.iter().any(|o| o == "*") {
        return cors.allow_any_origin();
    }
    for origin in origins {
        if origin.starts_with("http://") || origin.starts_with("https://") {
            cors = cors.allowed_origin(origin);
        } else {
            cors = cors
                .allowed_origin(&format!("http://{origin}"))
                .allowed_origin(&format!("https://{origin}"));
        }
    }
    cors
}

/// Mounts every endpoint of the http adapter.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/verify", web::post().to(verify))
        .route("/bind", web::post().to(bind))
        .route("/release", web::post().to(release));
    for queue_op in [
        "countMessage",
        "fetchMessage",
        "fetchLatestMessage",
        "peekMessage",
        "peakMessage",
        "peekLatestMessage",
    ] {
        cfg.route(
            &format!("/{queue_op}"),
            web::get().to(move |req: HttpRequest, state: web::Data<AppState>| {
                unread(queue_op, req, state)
            }),
        );
    }
    // One resource per path, with a route per method (groupConfig and memberInfo have both).
    let mut paths: Vec<String> = Vec::new();
    for route in HTTP_ROUTES {
        let path = mirai_command::http_path(route.command);
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path.as_str());
        for route in HTTP_ROUTES.iter().filter(|r| mirai_command::http_path(r.command) == path) {
            let method = match route.method {
                HttpMethod::Get => web::get(),
                HttpMethod::Post => web::post(),
            };
            resource = resource.route(method.to(
                move |req: HttpRequest, body: web::Bytes, state: web::Data<AppState>| {
                    command(route, req, body, state)
                },
            ));
        }
        cfg.service(resource);
    }
}

fn ok(data: Value) -> HttpResponse {
    HttpResponse::Ok().json(data)
}

fn state_reply(code: StateCode) -> HttpResponse {
    ok(code.to_json())
}

fn body_json(body: &[u8]) -> Result<Value, StateCode> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        debug!("mirai http: body is not JSON: {e}");
        StateCode::invalid_parameter()
    })
}

/// Query parameters as a JSON object: one value → a string, repeated → an array.
fn query_json(req: &HttpRequest) -> Value {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let mut obj = Map::new();
    for (k, v) in pairs {
        match obj.get_mut(&k) {
            Some(Value::Array(items)) => items.push(Value::String(v)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(v)]);
            }
            None => {
                obj.insert(k, Value::String(v));
            }
        }
    }
    Value::Object(obj)
}

/// The session key of a request: header `sessionKey`, `Authorization: session|sessionKey …`,
/// then the body's or the query's `sessionKey`.
fn session_key(req: &HttpRequest, content: &Value) -> Option<String> {
    let headers = req.headers();
    if let Some(k) = headers.get("sessionKey").and_then(|v| v.to_str().ok()) {
        return Some(k.to_owned());
    }
    if let Some((scheme, key)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
    {
        if scheme.eq_ignore_ascii_case("session") || scheme.eq_ignore_ascii_case("sessionKey") {
            return Some(key.trim().to_owned());
        }
    }
    content.get("sessionKey").and_then(Value::as_str).map(str::to_owned)
}

async fn lookup(state: &AppState, key: Option<String>) -> Result<BoundSession, StateCode> {
    let lookup = Lookup { session_key: key.unwrap_or_default() };
    match state.actors.registry.send(lookup).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(e)) => Err(StateCode::from(&e)),
        Err(e) => Err(StateCode::from(&BotError::Internal(e.to_string()))),
    }
}

async fn command(
    route: &'static mirai_command::HttpRoute,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let content = match route.method {
        HttpMethod::Get => query_json(&req),
        HttpMethod::Post => match body_json(&body) {
            Ok(v) => v,
            Err(code) => return state_reply(code),
        },
    };
    let call = match mirai_command::decode(route.command, route.sub_command, &content) {
        Ok(call) => call,
        Err(e) => {
            debug!("mirai http {}: {e:?}", route.command);
            return state_reply(e.state());
        }
    };
    let session = if route.needs_session {
        match lookup(&state, session_key(&req, &content)).await {
            Ok(s) => Some(s),
            Err(code) => return state_reply(code),
        }
    } else {
        None
    };
    ok(mirai_calls::run(call, session.as_ref(), &state.actors.registry).await)
}

fn field(content: &Value, key: &str) -> Option<String> {
    content.get(key).and_then(Value::as_str).map(str::to_owned)
}

async fn verify(body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let content = match body_json(&body) {
        Ok(v) => v,
        Err(code) => return state_reply(code),
    };
    let Some(verify_key) = field(&content, "verifyKey") else {
        return state_reply(StateCode::invalid_parameter());
    };
    match state.actors.registry.send(CreateSession { verify_key: Some(verify_key) }).await {
        Ok(Ok(key)) => {
            // In singleMode the key is already bound; give it its queue now.
            if let Ok(Ok(session)) =
                state.actors.registry.send(Lookup { session_key: key.clone() }).await
            {
                state.mirai_http.ensure(&session).await;
            }
            ok(mirai_command::verified(&key))
        }
        Ok(Err(e)) => {
            warn!("mirai http /verify refused: {e}");
            state_reply(StateCode::from(&e))
        }
        Err(e) => HttpResponse::ServiceUnavailable().body(e.to_string()),
    }
}

fn key_and_qq(content: &Value) -> Option<(String, i64)> {
    let key = field(content, "sessionKey")?;
    let qq = content.get("qq").and_then(lenient::int_from_value)?;
    Some((key, qq))
}

async fn bind(body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let content = match body_json(&body) {
        Ok(v) => v,
        Err(code) => return state_reply(code),
    };
    let Some((session_key, qq)) = key_and_qq(&content) else {
        return state_reply(StateCode::invalid_parameter());
    };
    match state.actors.registry.send(Bind { session_key: session_key.clone(), qq }).await {
        Ok(Ok(())) => {
            if let Ok(session) = lookup(&state, Some(session_key)).await {
                state.mirai_http.ensure(&session).await;
            }
            state_reply(StateCode::success())
        }
        Ok(Err(e)) => state_reply(StateCode::from(&e)),
        Err(e) => HttpResponse::ServiceUnavailable().body(e.to_string()),
    }
}

async fn release(body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let content = match body_json(&body) {
        Ok(v) => v,
        Err(code) => return state_reply(code),
    };
    let Some((session_key, qq)) = key_and_qq(&content) else {
        return state_reply(StateCode::invalid_parameter());
    };
    if !state.actors.bots.iter().any(|(id, _, _)| *id == qq) {
        return state_reply(StateCode::from(&SessionError::NoBot));
    }
    let session = match lookup(&state, Some(session_key.clone())).await {
        Ok(s) => s,
        Err(code) => return state_reply(code),
    };
    if session.qq != qq {
        return state_reply(StateCode::no_element());
    }
    state.mirai_http.remove(&session.key);
    state.actors.registry.do_send(Release { session_key });
    state_reply(StateCode::success())
}

fn event_list(events: &[Arc<SharedEvent>]) -> HttpResponse {
    let mut body = Vec::with_capacity(64 + events.len() * 256);
    body.extend_from_slice(br#"{"code":0,"msg":"","data":["#);
    let mut first = true;
    for event in events {
        if let Some(json) = mirai_event::encoded(event) {
            if !first {
                body.push(b',');
            }
            body.extend_from_slice(json);
            first = false;
        }
    }
    body.extend_from_slice(b"]}");
    HttpResponse::Ok().content_type("application/json").body(body)
}

async fn unread(op: &'static str, req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = query_json(&req);
    let session = match lookup(&state, session_key(&req, &query)).await {
        Ok(s) => s,
        Err(code) => return state_reply(code),
    };
    let Some(outbox) = state.mirai_http.outbox(&session.key) else {
        return ok(json!({"code": 500, "msg": "Not a http session"}));
    };
    let count = query.get("count").and_then(lenient::int_from_value).unwrap_or(10).max(0) as usize;
    match op {
        "countMessage" => ok(json!({"code": 0, "msg": "", "data": outbox.len()})),
        "fetchMessage" => event_list(&outbox.drain(count).0),
        "fetchLatestMessage" => event_list(&outbox.drain_newest(count)),
        "peekLatestMessage" => event_list(&outbox.peek(count, true)),
        _ => event_list(&outbox.peek(count, false)),
    }
}
