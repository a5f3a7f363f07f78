//! OneBot v11's HTTP API: `/:action` (and `/:action/`), GET or POST, parameters from the
//! query, a form or a JSON body. Auth failures are 401/403, an unsupported content type 406, a
//! broken body 400; every action result — failures and unknown actions included — is HTTP 200
//! with the envelope, because clients treat any other status as a network error.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::connection::onebot_calls;
use botgate_actors::secret::Secret;
use log::warn;
use serde_json::{Map, Value};

use crate::listeners::AppState;

/// Mounts the catch-all action route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/{action}", web::route().to(call)).route("/{action}/", web::route().to(call));
}

/// Why a request's token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No token: 401.
    Missing,
    /// A wrong token: 403.
    Wrong,
}

impl TokenRefusal {
    /// The HTTP answer.
    pub fn response(self) -> HttpResponse {
        match self {
            TokenRefusal::Missing => HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .finish(),
            TokenRefusal::Wrong => HttpResponse::Forbidden().finish(),
        }
    }
}

/// Checks `access_token` the ways clients send it: `Authorization: Bearer|Token <t>` or the
/// `access_token` query parameter.
pub fn check_token(state: &AppState, req: &HttpRequest) -> Result<(), TokenRefusal> {
    match &state.onebot {
        Some(onebot) => check_token_against(&onebot.token, req),
        None => Ok(()),
    }
}

/// Checks that `req` presents `token` (any request passes an empty one), the ways OneBot
/// clients and implementations send it.
pub fn check_token_against(token: &Secret, req: &HttpRequest) -> Result<(), TokenRefusal> {
    if token.is_empty() {
        return Ok(());
    }
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
        })
        .map(|(_, t)| t.trim().to_owned());
    let from_query = || {
        serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .ok()
            .and_then(|q| q.into_iter().find(|(k, _)| k == "access_token").map(|(_, v)| v))
    };
    match from_header.or_else(from_query) {
        None => Err(TokenRefusal::Missing),
        Some(t) if token.matches(&t) => Ok(()),
        Some(_) => {
            warn!("OneBot {}: wrong access token", req.path());
            Err(TokenRefusal::Wrong)
        }
    }
}

async fn call(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refusal) = check_token(&state, &req) {
        return refusal.response();
    }
    let Some(onebot) = &state.onebot else {
        return HttpResponse::NotFound().finish();
    };
    let action = req.match_info().get("action").unwrap_or_default().to_owned();
    let mut params = Map::new();
    if !body.is_empty() {
        let content_type =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        match mime {
            "application/json" | "" => match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(obj)) => params = obj,
                _ => return HttpResponse::BadRequest().body("the body is not a JSON object"),
            },
            "application/x-www-form-urlencoded" => match serde_urlencoded::from_bytes::<
                Vec<(String, String)>,
            >(&body)
            {
                Ok(pairs) => params.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v)))),
                Err(_) => return HttpResponse::BadRequest().body("the form is malformed"),
            },
            _ => {
                return HttpResponse::NotAcceptable()
                    .body(format!("unsupported content type {content_type}"))
            }
        }
    }
    // Query parameters override the body's, as in CQHTTP.
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    for (k, v) in query.into_iter().filter(|(k, _)| k != "access_token") {
        params.insert(k, Value::String(v));
    }
    let envelope = onebot_calls::run(
        &action,
        &Value::Object(params),
        None,
        &onebot.settings.bot,
        onebot.settings.qq,
        404,
    )
    .await;
    HttpResponse::Ok().json(envelope)
}
