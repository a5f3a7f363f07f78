//! The `qqbot:` listener: the QQ official platform's HTTP side for SDK bots — the token
//! endpoint, `/gateway`, `/gateway/bot`, `/users/@me`, the guild listing SDKs call at
//! start-up, the group and C2C message, upload and recall endpoints, interaction
//! acknowledgements — and the gateway's WebSocket at `/websocket`. Requests carry
//! `Authorization: QQBot <token>` (or the legacy `Bot appid.token`); errors are the
//! platform's bodies (`{message, code, err_code, trace_id}` with `X-Tps-trace-ID`).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::connection::qqbot_served::app::{
    Me, PostMessage, QqApp, RecallMessage, ScopeKind, UploadFile,
};
use botgate_actors::connection::qqbot_served::socket::{
    QqGatewaySocket, SocketApp, HEARTBEAT_INTERVAL,
};
use botgate_actors::connection::ws_server;
use botgate_actors::protocol::qqbot::served::Refusal;
use serde_json::{json, Value};

use crate::listeners::AppState;

/// Mounts every route of the listener.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/getAppAccessToken", web::post().to(token))
        .route("/gateway", web::get().to(gateway))
        .route("/gateway/bot", web::get().to(gateway_bot))
        .route("/websocket", web::get().to(websocket))
        .route("/websocket/", web::get().to(websocket))
        .route("/users/@me", web::get().to(me))
        .route("/users/@me/guilds", web::get().to(guilds))
        .route("/v2/{kind}/{openid}/messages", web::post().to(post_message))
        .route("/v2/{kind}/{openid}/files", web::post().to(upload))
        .route("/v2/{kind}/{openid}/messages/{id}", web::delete().to(recall))
        .route("/interactions/{id}", web::put().to(interaction))
        .default_service(web::to(unknown));
}

fn platform_error(status: StatusCode, code: i64, message: &str) -> HttpResponse {
    let trace = format!("botgate-{:x}", rand_trace());
    HttpResponse::build(status)
        .insert_header(("X-Tps-trace-ID", trace.clone()))
        .json(json!({"message": message, "code": code, "err_code": code, "trace_id": trace}))
}

fn rand_trace() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

fn refused(r: Refusal) -> HttpResponse {
    let status = if r.code >= 50000 && r.code < 60000 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    platform_error(status, r.code, &r.message)
}

fn unauthorized() -> HttpResponse {
    platform_error(StatusCode::UNAUTHORIZED, 11244, "token not exist or expire")
}

/// The app a request's `Authorization` names.
fn app_of<'a>(req: &HttpRequest, state: &'a AppState) -> Option<&'a SocketApp> {
    let auth = req.headers().get("Authorization").and_then(|v| v.to_str().ok())?;
    let union = req.headers().get("X-Union-Appid").and_then(|v| v.to_str().ok());
    state
        .qqbot_apps
        .iter()
        .filter(|a| union.is_none_or(|u| u.trim() == a.app_id))
        .find(|a| a.accepts(auth))
}

async fn token(body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let asked: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |k: &str| match asked.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let (app_id, secret) = (text("appId"), text("clientSecret"));
    match state.qqbot_apps.iter().find(|a| a.app_id == app_id && a.secret == secret) {
        Some(app) => HttpResponse::Ok().json(json!({"access_token": app.tokens.issue(),
                                                     "expires_in": "7200"})),
        None => {
            log::warn!("qqbot: token refused for app id {app_id:?} (unknown app or wrong secret)");
            platform_error(StatusCode::UNAUTHORIZED, 100016, "invalid appid or secret")
        }
    }
}

fn gateway_url(req: &HttpRequest) -> String {
    if req.headers().contains_key(header::HOST) {
        return format!("ws://{}/websocket", req.connection_info().host());
    }
    // An HTTP/1.0 client that named no host reached this listener's address.
    let bound = req.app_data::<crate::listeners::ListenerAddr>().map(|a| a.0.to_string());
    format!("ws://{}/websocket", bound.unwrap_or_else(|| "127.0.0.1".to_owned()))
}

async fn gateway(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if app_of(&req, &state).is_none() {
        return unauthorized();
    }
    HttpResponse::Ok().json(json!({"url": gateway_url(&req)}))
}

async fn gateway_bot(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if app_of(&req, &state).is_none() {
        return unauthorized();
    }
    HttpResponse::Ok().json(json!({"url": gateway_url(&req), "shards": 1,
        "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 86_400_000,
                                "max_concurrency": 1}}))
}

async fn me(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(app) = app_of(&req, &state) else {
        return unauthorized();
    };
    match app.app.send(Me).await {
        Ok(me) => HttpResponse::Ok().json(me),
        Err(_) => platform_error(StatusCode::INTERNAL_SERVER_ERROR, 50000, "bot unavailable"),
    }
}

async fn guilds(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if app_of(&req, &state).is_none() {
        return unauthorized();
    }
    // botgate's accounts are in QQ groups, not guilds.
    HttpResponse::Ok().json(json!([]))
}

fn scope_kind(kind: &str) -> Option<ScopeKind> {
    match kind {
        "groups" => Some(ScopeKind::Group),
        "users" => Some(ScopeKind::User),
        _ => None,
    }
}

/// A POST to `/v2/{groups|users}/{openid}/…` with a JSON body, handed to the app as the
/// message `make` builds; answers the app's JSON or the platform's error.
async fn scoped_post<M>(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
    make: impl FnOnce(ScopeKind, String, Value) -> M,
) -> HttpResponse
where
    M: actix::Message<Result = Result<Value, Refusal>> + Send + 'static,
    QqApp: actix::Handler<M>,
{
    let Some(app) = app_of(&req, &state) else {
        return unauthorized();
    };
    let (kind, openid) = path.into_inner();
    let Some(kind) = scope_kind(&kind) else {
        return unknown().await;
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return platform_error(StatusCode::BAD_REQUEST, 40034001, "body is not JSON");
    };
    match app.app.send(make(kind, openid, body)).await {
        Ok(Ok(answer)) => HttpResponse::Ok().json(answer),
        Ok(Err(r)) => refused(r),
        Err(_) => platform_error(StatusCode::INTERNAL_SERVER_ERROR, 50000, "app unavailable"),
    }
}

async fn post_message(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    scoped_post(req, path, body, state, |kind, openid, body| PostMessage { kind, openid, body })
        .await
}

async fn upload(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    scoped_post(req, path, body, state, |kind, openid, body| UploadFile { kind, openid, body })
        .await
}

async fn recall(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(app) = app_of(&req, &state) else {
        return unauthorized();
    };
    let (kind, openid, message_id) = path.into_inner();
    let Some(kind) = scope_kind(&kind) else {
        return unknown().await;
    };
    match app.app.send(RecallMessage { kind, openid, message_id }).await {
        Ok(Ok(())) => HttpResponse::Ok().finish(),
        Ok(Err(r)) => refused(r),
        Err(_) => platform_error(StatusCode::INTERNAL_SERVER_ERROR, 50000, "app unavailable"),
    }
}

async fn interaction(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if app_of(&req, &state).is_none() {
        return unauthorized();
    }
    HttpResponse::Ok().finish()
}

async fn unknown() -> HttpResponse {
    platform_error(
        StatusCode::NOT_FOUND,
        11241,
        "botgate serves QQ groups and C2C chats; this API is not available",
    )
}

async fn websocket(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let peer = req.peer_addr().unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let (response, writer, frames) = ws_server::upgrade(&req, state.max_frame_size)?;
    QqGatewaySocket::start(
        writer,
        frames,
        state.max_frame_size,
        state.qqbot_stats.clone(),
        peer,
        state.qqbot_apps.clone(),
        HEARTBEAT_INTERVAL,
    );
    Ok(response)
}
