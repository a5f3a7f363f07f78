//! `POST /qqbot/webhook` on the `server:` listener: where the QQ official platform pushes the
//! events of `transport: webhook` bots. `X-Bot-Appid` picks the bot; the ed25519 signature
//! over `X-Signature-Timestamp` + the raw body is checked **before** anything is parsed — op 13
//! included, since answering an unchecked op 13 would sign a forger's chosen bytes with the
//! key that authenticates dispatches — and a timestamp more than five minutes off is refused
//! (a replayed push). op 13 is answered `{plain_token, signature}`; a dispatch is acknowledged
//! `{"op":12,"d":0}` once the bot has journaled it in the store (`d: 1`, "retry", if it could
//! not), so a crash after the acknowledgement does not lose it.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::bot::QqWebhookPush;
use botgate_actors::log_throttle::LogThrottle;
use botgate_actors::protocol::qqbot::payload::{self, Payload};
use botgate_actors::protocol::qqbot::signature;
use serde_json::{json, Value};

use crate::listeners::AppState;

/// How far a push's timestamp may be from the clock.
const MAX_SKEW: i64 = 300;

/// Refused pushes are counted, not each written.
static REFUSED: LogThrottle = LogThrottle::new(Duration::from_secs(10));

/// Mounts `/qqbot/webhook`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/qqbot/webhook", web::post().to(push));
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn refuse(req: &HttpRequest, status: actix_web::http::StatusCode, why: &str) -> HttpResponse {
    let peer = req.peer_addr().map_or_else(|| "?".to_owned(), |a| a.to_string());
    botgate_actors::warn_throttled!(REFUSED, "/qqbot/webhook: push from {peer} refused: {why}");
    HttpResponse::build(status).json(json!({"error": why}))
}

async fn push(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let app_id = header(&req, "X-Bot-Appid").unwrap_or("");
    let Some((key, bot)) = state.qqbot_webhooks.get(app_id) else {
        let why = format!("no bot with source: qqbot, transport: webhook has app_id {app_id:?}");
        return refuse(&req, StatusCode::FORBIDDEN, &why);
    };
    let (Some(timestamp), Some(sig)) =
        (header(&req, "X-Signature-Timestamp"), header(&req, "X-Signature-Ed25519"))
    else {
        return refuse(&req, StatusCode::UNAUTHORIZED, "unsigned (no X-Signature-* headers)");
    };
    if !signature::verify(key, timestamp.as_bytes(), &body, sig) {
        return refuse(&req, StatusCode::UNAUTHORIZED, "bad signature");
    }
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (t - botgate_actors::bot::unix_now()).abs() <= MAX_SKEW);
    if !fresh {
        return refuse(&req, StatusCode::UNAUTHORIZED, "stale or unreadable timestamp");
    }
    let p = match Payload::parse(&body) {
        Ok(p) => p,
        Err(e) => return refuse(&req, StatusCode::BAD_REQUEST, &format!("body: {e}")),
    };
    match p.op {
        payload::CALLBACK_VALIDATION => {
            let text = |k: &str| p.d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let (plain_token, event_ts) = (text("plain_token"), text("event_ts"));
            let signature = signature::sign(key, event_ts.as_bytes(), plain_token.as_bytes());
            log::info!("/qqbot/webhook: address validated for app {app_id}");
            HttpResponse::Ok().json(json!({"plain_token": plain_token, "signature": signature}))
        }
        payload::DISPATCH => match bot.send(QqWebhookPush { payload: p, body }).await {
            Ok(Ok(())) => HttpResponse::Ok().json(json!({"op": payload::CALLBACK_ACK, "d": 0})),
            // Not journaled: the platform retries on `d: 1`.
            Ok(Err(why)) => {
                log::warn!("/qqbot/webhook: push for app {app_id} not taken: {why}");
                HttpResponse::Ok().json(json!({"op": payload::CALLBACK_ACK, "d": 1}))
            }
            Err(e) => {
                log::warn!("/qqbot/webhook: push for app {app_id} not taken: {e}");
                HttpResponse::Ok().json(json!({"op": payload::CALLBACK_ACK, "d": 1}))
            }
        },
        other => {
            log::debug!("/qqbot/webhook: op {other} acknowledged and ignored");
            HttpResponse::Ok().json(json!({"op": payload::CALLBACK_ACK, "d": 0}))
        }
    }
}
