//! botgate's own endpoints (`server:`): `GET /healthz`, `GET /metrics`, `POST
//! /sim/{qq}/inject` and `POST /sim/{qq}/traffic`; the admin API and the console are mounted
//! beside them.

use actix::Addr;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::bot::{BotActor, GenerateTraffic, Inject};
use botgate_actors::connection::qqbot_served::app::LiveSessions;
use botgate_actors::model::BotError;
use botgate_actors::protocol::{mirai, onebot};
use futures_util::future::join_all;
use log::info;
use serde_json::{json, Value};

use crate::config::SourceKind;
use crate::listeners::AppState;
use crate::status;

/// Mounts `/healthz`, `/metrics`, `/sim/{qq}/inject` and `/sim/{qq}/traffic`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(crate::metrics_endpoint::metrics))
        .route("/sim/{qq}/inject", web::post().to(inject))
        .route("/sim/{qq}/traffic", web::post().to(traffic));
}

/// A JSON error body with `status`.
pub(crate) fn error(
    status: actix_web::http::StatusCode,
    message: impl Into<String>,
) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.into() }))
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let actors = &state.actors;
    // The clients' counters are read before the bots are asked: a client counted as gone has
    // closed its outbox first, so no bot of this answer still counts it as a subscriber.
    let clients = json!({
        "miraiWs": state.mirai_ws.stats.to_json(),
        "onebotWs": state.onebot.as_ref().map(|o| o.settings.stats.to_json()),
        "qqbotGateway": state.qqbot_stats.to_json(),
    });
    let bots: Vec<Value> =
        status::bots(actors).await.iter().map(status::BotSnapshot::to_json).collect();
    let destinations: Vec<Value> = status::destinations(actors)
        .await
        .iter()
        .map(status::DestinationSnapshot::to_json)
        .collect();
    let listeners: Vec<Value> = state
        .listeners
        .get()
        .map(|ls| {
            ls.iter()
                .map(|(name, addr, limits)| {
                    let mut l = limits.to_json();
                    l["serves"] = json!(name);
                    l["address"] = json!(addr.to_string());
                    l
                })
                .collect()
        })
        .unwrap_or_default();
    let connected = destinations.iter().filter(|d| d["connected"] == Value::Bool(true)).count();
    let qqbot_apps = join_all(state.qqbot_apps.iter().map(|a| async move {
        let sessions = a.app.send(LiveSessions).await.ok();
        json!({"appId": a.app_id, "sessions": sessions})
    }))
    .await;
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "bots": bots,
        "listeners": listeners,
        "miraiWsClients": state.mirai_ws_clients.len(),
        "clients": clients,
        "qqbotApps": qqbot_apps,
        "miraiHttpSessions": state.mirai_http.len(),
        "destinations": destinations,
        "destinationsConnected": connected,
    }))
}

/// Whether the request carries `server.token` (always, when none is set).
pub(crate) fn authorized(state: &AppState, req: &HttpRequest) -> bool {
    if state.token.is_empty() {
        return true;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    presented.is_some_and(|t| state.token.matches(t))
}

/// The answer to a request without the right token: 401, `WWW-Authenticate: Bearer`, and a
/// (rate-limited) log line.
pub(crate) fn unauthorized(req: &HttpRequest) -> HttpResponse {
    botgate_actors::warn_throttled!(
        REFUSED,
        "{}: refused, missing or wrong bearer token",
        req.path()
    );
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
        .json(json!({ "error": "missing or wrong token (Authorization: Bearer <server.token>)" }))
}

/// Requests refused for their token are counted, not each written.
static REFUSED: botgate_actors::log_throttle::LogThrottle =
    botgate_actors::log_throttle::LogThrottle::new(std::time::Duration::from_secs(10));

/// The simulated bot a `/sim/{qq}/…` request addresses, after checking the bearer token.
fn simulated_bot(
    state: &AppState,
    req: &HttpRequest,
    qq: &str,
) -> Result<Addr<BotActor>, Box<HttpResponse>> {
    use actix_web::http::StatusCode;
    if !authorized(state, req) {
        return Err(Box::new(unauthorized(req)));
    }
    let Ok(qq) = qq.parse::<i64>() else {
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            format!("{qq:?} is not a bot's QQ number"),
        )));
    };
    state
        .actors
        .bots
        .iter()
        .find(|(id, source, _)| *id == qq && *source == SourceKind::Simulated)
        .map(|(_, _, bot)| bot.clone())
        .ok_or_else(|| Box::new(error(StatusCode::NOT_FOUND, format!("no simulated bot {qq}"))))
}

/// `POST /sim/{qq}/traffic`: what generated traffic to produce.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficRequest {
    group: i64,
    member: i64,
    count: u32,
    #[serde(default)]
    rate: u32,
    #[serde(default)]
    size: usize,
}

async fn traffic(
    state: web::Data<AppState>,
    req: HttpRequest,
    qq: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let bot = match simulated_bot(&state, &req, &qq) {
        Ok(bot) => bot,
        Err(response) => return *response,
    };
    let job: TrafficRequest = match serde_json::from_slice(&body) {
        Ok(j) => j,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected {{group, member, count, rate?, size?}}: {e}"),
            )
        }
    };
    let generate = GenerateTraffic {
        group: job.group,
        member: job.member,
        count: job.count,
        rate: job.rate,
        text_size: job.size,
    };
    match bot.send(generate).await {
        Ok(Ok(())) => {
            HttpResponse::Accepted().json(json!({ "accepted": job.count, "rate": job.rate }))
        }
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// `POST /sim/{qq}/inject` (and the admin API's `/api/bots/{qq}/inject`): a mirai or OneBot
/// event object for a simulated bot.
pub(crate) async fn inject(
    state: web::Data<AppState>,
    req: HttpRequest,
    qq: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let bot = match simulated_bot(&state, &req, &qq) {
        Ok(bot) => bot,
        Err(response) => return *response,
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("the body is not JSON: {e}")),
    };
    // A OneBot event object has a post_type; a mirai one has a type.
    let decoded = if value.get("post_type").is_some() {
        onebot::decode::decode_input(&value)
            .map_err(|e| format!("not a OneBot event this bot can take: {e}"))
    } else {
        mirai::decode::decode_input(&value)
            .map_err(|e| format!("not a mirai event this bot can take: {e}"))
    };
    let input = match decoded {
        Ok(i) => i,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match bot.send(Inject(input)).await {
        Ok(Ok(message_id)) => {
            info!(
                "/sim/{qq}/inject: {} delivered",
                value.get("type").or_else(|| value.get("post_type")).unwrap_or(&Value::Null)
            );
            HttpResponse::Ok().json(json!({ "messageId": message_id }))
        }
        Ok(Err(e @ (BotError::InvalidParameter(_) | BotError::NoSuchElement(_)))) => {
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("bot {qq} unavailable: {e}")),
    }
}
