//! The `oicq_webd:` listener: the daemon's format served from one of botgate's accounts. A
//! WebSocket upgrade on any path is a push client; every other request is the HTTP API
//! (`protocol::oicq::api`): POST bodies must be JSON (415 otherwise), missing keys get 400,
//! answers are `{"status":{"code":N}, ...}`. `GET /` fingerprints the daemon. Bundles built
//! with `mesg/genForwardedMsg` are kept here for the sends (and parses) that name them.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::bot::Execute;
use botgate_actors::connection::oicq_push::OicqPushClient;
use botgate_actors::connection::ws_server;
use botgate_actors::model::{Command, Segment};
use botgate_actors::protocol::oicq::{api, content};
use serde_json::{json, Map, Value};

use crate::listeners::AppState;

/// Mounts the listener: every path goes to one handler.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.default_service(web::to(serve));
}

fn status(http: StatusCode, code: i64, why: &str) -> HttpResponse {
    HttpResponse::build(http).json(json!({"status": {"code": code, "message": why}}))
}

async fn serve(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let Some(settings) = state.oicq.clone() else {
        return Ok(HttpResponse::NotFound().finish());
    };
    let upgrade = req
        .headers()
        .get("Upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        let peer = req.peer_addr().unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        let (response, writer, frames) = ws_server::upgrade(&req, state.max_frame_size)?;
        OicqPushClient::start(writer, frames, state.max_frame_size, settings, peer);
        return Ok(response);
    }
    let path = req.path().trim_matches('/').to_owned();
    let method = req.method().as_str().to_owned();
    if method == "GET" && path.is_empty() {
        return Ok(HttpResponse::Ok().json(json!({"name": "oicq2-webapid",
            "version": concat!("botgate ", env!("CARGO_PKG_VERSION")), "status": {"code": 0}})));
    }
    let params: Map<String, Value> = if method == "POST" {
        let json_body = req
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
        if !json_body {
            return Ok(status(StatusCode::UNSUPPORTED_MEDIA_TYPE, -1, "the body must be JSON"));
        }
        let body = payload.to_bytes_limited(state.max_frame_size).await;
        let body = match body {
            Ok(Ok(b)) => b,
            _ => return Ok(status(StatusCode::PAYLOAD_TOO_LARGE, -1, "the body is too large")),
        };
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => map,
            _ => return Ok(status(StatusCode::BAD_REQUEST, -1, "the body is not a JSON object")),
        }
    } else {
        serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    };
    if method == "POST" && matches!(path.as_str(), "mesg/genForwardedMsg" | "misc/genForwardedMsg")
    {
        let Some(msgs) = params.get("msgs").filter(|m| m.is_array()) else {
            return Ok(status(StatusCode::BAD_REQUEST, -1, "msgs is required"));
        };
        let id = settings.bundles.add(content::forward_nodes(msgs));
        return Ok(HttpResponse::Ok().json(json!({"status": {"code": 0}, "id": id})));
    }
    if method == "GET"
        && matches!(path.as_str(), "mesg/parseForwardedMsg" | "misc/parseForwardedMsg")
    {
        let built =
            params.get("id").and_then(Value::as_str).and_then(|id| settings.bundles.get(id));
        if let Some(nodes) = built {
            let msgs = content::forward_msgs(&nodes);
            return Ok(HttpResponse::Ok().json(json!({"status": {"code": 0}, "msgs": msgs})));
        }
    }
    let (mut command, shape) = match api::command(&method, &path, &params) {
        Ok(c) => c,
        Err(refused) => {
            log::warn!("oicq_webd: {method} /{path} refused: {}", refused.why);
            let http = StatusCode::from_u16(refused.http).unwrap_or(StatusCode::BAD_REQUEST);
            return Ok(status(http, -1, &refused.why));
        }
    };
    if let Command::SendMessage { message, .. } = &mut command {
        // A `forwarded` segment names a bundle built with genForwardedMsg.
        let mut ids =
            content::forward_ids(params.get("msgContent").unwrap_or(&Value::Null)).into_iter();
        for segment in message.iter_mut() {
            if let Segment::Forward(nodes) = segment {
                match ids.next().and_then(|id| settings.bundles.get(&id)) {
                    Some(built) => *nodes = built,
                    None => return Ok(status(StatusCode::BAD_REQUEST, -1, "unknown forwarded id")),
                }
            }
        }
    }
    let _timer = botgate_actors::metrics::command_timer("oicq_webd", command.name());
    let result = match settings.bot.send(Execute(command)).await {
        Ok(r) => r,
        Err(_) => return Ok(status(StatusCode::SERVICE_UNAVAILABLE, -2, "the bot is unavailable")),
    };
    Ok(HttpResponse::Ok().json(api::answer(settings.qq, shape, result)))
}
