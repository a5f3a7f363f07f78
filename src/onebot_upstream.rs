//! `GET /onebot/upstream` on the `server:` listener: where a OneBot implementation in reverse
//! mode (NapCat's `websocketClients`, Lagrange's `ReverseWebSocket`) dials botgate. `X-Self-ID`
//! picks the bot entry (`source: onebot`, `mode: reverse`), its `access_token` is required
//! (Bearer, Token or `?access_token=`); an unknown or unauthorised dialler gets 401/403 and a
//! log line. The accepted socket becomes the bot's link. In a cluster the node the
//! implementation reached becomes the account's owner (the last owner closes its link).

use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::bot::UpstreamLink;
use botgate_actors::connection::onebot_upstream::{pump_accepted, AcceptLink};
use botgate_actors::connection::ws_server;
use log::warn;
use serde_json::json;

use crate::listeners::AppState;
use crate::onebot_http::check_token_against;

/// Mounts `/onebot/upstream`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/onebot/upstream", web::get().to(accept))
        .route("/onebot/upstream/", web::get().to(accept));
}

async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let peer = req.peer_addr().map_or_else(|| "?".to_owned(), |a| a.to_string());
    let self_id = req
        .headers()
        .get("X-Self-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let entry = self_id.and_then(|id| Some((id, state.onebot_upstreams.get(&id)?)));
    let Some((qq, (token, bot))) = entry else {
        warn!("/onebot/upstream: {peer} dialled as X-Self-ID {self_id:?}, which no bot entry with source: onebot and mode: reverse has; refused");
        return Ok(HttpResponse::Forbidden().json(
            json!({"error": "no bot with source: onebot, mode: reverse has this X-Self-ID"}),
        ));
    };
    if let Err(refusal) = check_token_against(token, &req) {
        warn!("/onebot/upstream: {peer} (X-Self-ID {self_id:?}) refused: {refusal:?} access token");
        return Ok(refusal.response());
    }
    // In a cluster the node the implementation reached owns the account from now on.
    if let Some(claims) = &state.actors.claims {
        if let Err(why) = claims.claim(qq, bot).await {
            warn!("/onebot/upstream: {peer} (X-Self-ID {self_id:?}) cannot be taken here: {why}");
            return Ok(HttpResponse::ServiceUnavailable().json(json!({"error": why})));
        }
    }
    let Ok(Some(link)) = bot.send(UpstreamLink).await else {
        return Ok(HttpResponse::ServiceUnavailable().finish());
    };
    let (response, writer, frames) = ws_server::upgrade(&req, state.max_frame_size)?;
    let generation = match link.send(AcceptLink { writer, peer }).await {
        Ok(g) => g,
        Err(_) => return Ok(HttpResponse::ServiceUnavailable().finish()),
    };
    // The socket is registered with this worker thread's reactor: read its frames here.
    actix_web::rt::spawn(pump_accepted(frames, link, generation));
    Ok(response)
}
