//! The admin API on the `server:` listener, JSON behind `server.token` (Bearer): what the
//! gateway holds — bots, sessions, served clients, outbound destinations — and what an
//! operator does to it: send a message as a bot, inject into a simulated bot, disconnect a
//! client, redial a destination. The console page is built on it.
//!
//! `GET /api/overview` (everything at once), `/api/bots`, `/api/sessions`, `/api/clients`,
//! `/api/destinations`; `POST /api/bots/{qq}/send`, `/api/bots/{qq}/inject`,
//! `/api/clients/{id}/disconnect`, `/api/destinations/{id}/redial`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::bot::{EchoSent, Execute};
use botgate_actors::connection::reverse_ws::Redial;
use botgate_actors::model::{BotError, Command, CommandOutput, MessageTarget};
use botgate_actors::protocol::mirai;
use botgate_actors::registry::ListSessions;
use serde_json::{json, Value};

use crate::botgate_endpoints::{authorized, error, unauthorized};
use crate::listeners::AppState;
use crate::status;

/// Mounts the admin API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/overview", web::get().to(overview))
        .route("/api/bots", web::get().to(bots))
        .route("/api/sessions", web::get().to(sessions))
        .route("/api/clients", web::get().to(clients_list))
        .route("/api/destinations", web::get().to(destinations))
        .route("/api/bots/{qq}/send", web::post().to(send))
        .route("/api/bots/{qq}/inject", web::post().to(crate::botgate_endpoints::inject))
        .route("/api/clients/{id}/disconnect", web::post().to(disconnect))
        .route("/api/destinations/{id}/redial", web::post().to(redial));
}

/// Everything the console's tables show, as one JSON object.
pub async fn overview_json(state: &AppState) -> Value {
    json!({
        "bots": bots_json(state).await,
        "sessions": sessions_json(state).await,
        "clients": state.clients.list(),
        "destinations": destinations_json(state).await,
    })
}

async fn bots_json(state: &AppState) -> Value {
    let bots = status::bots(&state.actors).await;
    Value::Array(bots.iter().map(status::BotSnapshot::to_json).collect())
}

async fn sessions_json(state: &AppState) -> Value {
    let sessions = state.actors.registry.send(ListSessions).await.unwrap_or_default();
    let clients = state.clients.list();
    let listed: Vec<Value> = sessions
        .into_iter()
        .map(|s| {
            let mut adapters: Vec<&str> = clients
                .iter()
                .filter(|c| c.session.as_deref() == Some(s.key_prefix.as_str()))
                .map(|c| c.adapter)
                .collect();
            adapters.dedup();
            json!({"keyPrefix": s.key_prefix, "bot": s.bot, "references": s.references,
                   "adapters": adapters})
        })
        .collect();
    Value::Array(listed)
}

async fn destinations_json(state: &AppState) -> Value {
    let all = status::destinations(&state.actors).await;
    Value::Array(all.iter().map(status::DestinationSnapshot::to_json).collect())
}

/// Answers `f`'s JSON if the request carries the token.
async fn guarded<F: std::future::Future<Output = Value>>(
    state: &AppState,
    req: &HttpRequest,
    f: impl FnOnce() -> F,
) -> HttpResponse {
    if !authorized(state, req) {
        return unauthorized(req);
    }
    HttpResponse::Ok().json(f().await)
}

async fn overview(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    guarded(&state, &req, || overview_json(&state)).await
}

async fn bots(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    guarded(&state, &req, || bots_json(&state)).await
}

async fn sessions(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    guarded(&state, &req, || sessions_json(&state)).await
}

async fn clients_list(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    guarded(&state, &req, || async { json!(state.clients.list()) }).await
}

async fn destinations(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    guarded(&state, &req, || destinations_json(&state)).await
}

/// `POST /api/bots/{qq}/send`: `{"target": {"group": N} | {"friend": N}, "message": <mirai
/// messageChain> | "text"}`; answers `{"messageId"}` or the bot's error.
async fn send(
    state: web::Data<AppState>,
    req: HttpRequest,
    qq: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if !authorized(&state, &req) {
        return unauthorized(&req);
    }
    let Some(bot) = qq
        .parse::<i64>()
        .ok()
        .and_then(|qq| state.actors.bots.iter().find(|(id, _, _)| *id == qq))
        .map(|(_, _, bot)| bot.clone())
    else {
        return error(StatusCode::NOT_FOUND, format!("no bot {qq}"));
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("the body is not JSON: {e}")),
    };
    let target = match (request["target"]["group"].as_i64(), request["target"]["friend"].as_i64()) {
        (Some(group), None) => MessageTarget::Group(group),
        (None, Some(friend)) => MessageTarget::Friend(friend),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "target: give {\"group\": <number>} or {\"friend\": <number>}",
            )
        }
    };
    let message = match &request["message"] {
        Value::String(text) => vec![botgate_actors::model::Segment::Text(text.clone())],
        Value::Array(chain) => {
            match mirai::chain::decode(chain, mirai::chain::ChainDirection::Send) {
                Ok(decoded) => decoded.segments,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("message: {e}")),
            }
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "message: a text, or a mirai messageChain (Plain, At, Image with url…)",
            )
        }
    };
    if message.is_empty() {
        return error(StatusCode::BAD_REQUEST, "message: nothing to send");
    }
    let context = match target {
        MessageTarget::Group(id) | MessageTarget::Friend(id) => id,
        MessageTarget::Temp { member, .. } => member,
        MessageTarget::OtherClient(id) => id,
    };
    let command = Command::SendMessage { target, message, quote: None };
    match bot.send(Execute(command)).await {
        Ok(Ok(CommandOutput::Sent { message_id, .. })) => {
            log::info!("admin API: bot {qq} sent message {message_id}");
            // The console is another client of the account: the others see what it sent.
            let _ = bot.send(EchoSent { context, message_id }).await;
            HttpResponse::Ok().json(json!({ "messageId": message_id }))
        }
        Ok(Ok(other)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("unexpected {other:?}")),
        Ok(Err(e @ (BotError::InvalidParameter(_) | BotError::NoSuchElement(_)))) => {
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Ok(Err(e)) => error(StatusCode::BAD_GATEWAY, e.to_string()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("bot {qq} unavailable: {e}")),
    }
}

async fn disconnect(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<u64>,
) -> HttpResponse {
    if !authorized(&state, &req) {
        return unauthorized(&req);
    }
    if state.clients.disconnect(*id) {
        HttpResponse::Ok().json(json!({ "disconnected": *id }))
    } else {
        error(StatusCode::NOT_FOUND, format!("no client {id}"))
    }
}

async fn redial(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<usize>,
) -> HttpResponse {
    if !authorized(&state, &req) {
        return unauthorized(&req);
    }
    let all = status::destination_actors(&state.actors);
    let Some(destination) = all.get(*id) else {
        return error(StatusCode::NOT_FOUND, format!("no destination {id}"));
    };
    if let Some(link) = &state.actors.cluster {
        // Only the owner dials; another node's actor stands by: the owner is asked.
        let owners = crate::cluster::owners(Some(link)).await;
        match owners.get(&crate::cluster::destination_resource(*id)) {
            Some(owner) if *owner == link.node => {}
            Some(owner) => {
                return match crate::cluster::redial_on(link, owner, *id).await {
                    Ok(()) => HttpResponse::Ok().json(json!({ "redialling": *id, "node": owner })),
                    Err(why) => error(StatusCode::BAD_GATEWAY, why),
                };
            }
            None => {
                let why = format!(
                    "no node delivers to destination {id} now (it is being taken over); try \
                     again in a moment"
                );
                return error(StatusCode::CONFLICT, why);
            }
        }
    }
    match destination.redial.send(Redial).await {
        Ok(()) => HttpResponse::Ok().json(json!({ "redialling": *id })),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
