//! mirai-api-http's forward ws adapter: the handshake. `verifyKey`, `sessionKey` and `qq`
//! come from headers first, then the query; a failure is answered in the socket and closed,
//! a success starts a [`MiraiWsClient`].

use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::connection::mirai_ws::{self, MiraiWsChannel, MiraiWsClient};
use botgate_actors::connection::ws_server;
use botgate_actors::protocol::mirai::state::StateCode;
use botgate_actors::registry::Authenticate;
use log::{debug, warn};

use crate::listeners::AppState;

/// Mounts `/all`, `/message`, `/event` (with or without a trailing slash).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in ["/all", "/message", "/event"] {
        cfg.route(path, web::get().to(connect));
        cfg.route(&format!("{path}/"), web::get().to(connect));
    }
}

/// A handshake parameter: the header of that name, else the query parameter.
pub fn param(req: &HttpRequest, query: &[(String, String)], name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

async fn connect(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let Some(channel) = MiraiWsChannel::from_path(req.path()) else {
        return Ok(HttpResponse::NotFound().finish());
    };
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let verify_key = param(&req, &query, "verifyKey");
    let session_key = param(&req, &query, "sessionKey").filter(|k| !k.is_empty());
    let qq_text = param(&req, &query, "qq").filter(|q| !q.is_empty());
    let peer = req.peer_addr().unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));

    let (response, writer, frames, site) =
        ws_server::upgrade_placed(&req, state.max_frame_size, &state.actors.placement)?;
    let qq = match qq_text.as_deref().map(str::parse::<i64>) {
        Some(Ok(qq)) => Some(qq),
        Some(Err(_)) if session_key.is_none() => {
            warn!("mirai ws {peer}: qq is not a number");
            mirai_ws::reject(&writer, StateCode::invalid_parameter());
            return Ok(response);
        }
        _ => None,
    };
    let auth = Authenticate { verify_key, session_key, qq };
    let session = match state.actors.registry.send(auth).await {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => {
            warn!("mirai ws {peer}: authentication failed: {e}");
            mirai_ws::reject(&writer, StateCode::from(&e));
            return Ok(response);
        }
        Err(e) => {
            warn!("mirai ws {peer}: registry unavailable: {e}");
            return Ok(HttpResponse::ServiceUnavailable().finish());
        }
    };
    debug!("mirai ws {peer}: {channel:?} for bot {}", session.qq);
    MiraiWsClient::start(
        writer,
        frames,
        state.max_frame_size,
        state.mirai_ws.clone(),
        state.actors.registry.clone(),
        session,
        channel,
        state.mirai_ws_clients.clone(),
        peer,
        &site,
    );
    Ok(response)
}
