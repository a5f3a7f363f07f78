//! OneBot v11's forward WebSocket handshake: `/` (universal), `/api`, `/event` (each with or
//! without a trailing slash), `access_token` checked before the upgrade.

use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::connection::onebot_ws::{OneBotRole, OneBotWsClient};
use botgate_actors::connection::ws_server;

use crate::listeners::AppState;
use crate::onebot_http::check_token;

/// Mounts `/`, `/api`, `/event`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in ["/", "/api", "/api/", "/event", "/event/"] {
        cfg.route(path, web::get().to(connect));
    }
}

async fn connect(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    if let Err(refusal) = check_token(&state, &req) {
        return Ok(refusal.response());
    }
    let (Some(onebot), Some(role)) = (&state.onebot, OneBotRole::from_path(req.path())) else {
        return Ok(HttpResponse::NotFound().finish());
    };
    let (response, writer, frames, site) =
        ws_server::upgrade_placed(&req, state.max_frame_size, &state.actors.placement)?;
    let peer = req.peer_addr().unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    OneBotWsClient::start(
        writer,
        frames,
        state.max_frame_size,
        onebot.settings.clone(),
        role,
        peer,
        &site,
    );
    Ok(response)
}
