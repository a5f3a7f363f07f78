//! A QQ official SDK's webhook, as botgate's served apps POST to it: it answers the address
//! validation (op 13) signed with its secret, records every push with its headers, and
//! answers dispatches from a script (`{"op":12,"d":0}` by default).
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

// The including test binary has the platform's fake (its signing) as `fake_qq`.
use super::fake_qq;

/// The SDK's state.
#[derive(Default)]
pub struct Sdk {
    /// The app secret it signs op 13 with.
    pub secret: String,
    /// Every push: its headers (lower-case names) and body.
    pub pushes: Mutex<Vec<(HashMap<String, String>, String)>>,
    /// The statuses to answer the next dispatches with.
    pub answers: Mutex<VecDeque<u16>>,
}

impl Sdk {
    /// The dispatches (op 0) received so far, in order.
    pub fn dispatches(&self) -> Vec<Value> {
        let pushes = self.pushes.lock().expect("lock");
        pushes
            .iter()
            .filter_map(|(_, b)| serde_json::from_str::<Value>(b).ok())
            .filter(|v| v["op"] == 0)
            .collect()
    }
}

async fn sdk_hook(
    req: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
    sdk: actix_web::web::Data<Sdk>,
) -> actix_web::HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let text = String::from_utf8_lossy(&body).into_owned();
    sdk.pushes.lock().expect("lock").push((headers, text.clone()));
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if v["op"] == 13 {
        let (token, ts) = (
            v["d"]["plain_token"].as_str().unwrap_or(""),
            v["d"]["event_ts"].as_str().unwrap_or(""),
        );
        let signature = fake_qq::sign(&sdk.secret, ts, token);
        return actix_web::HttpResponse::Ok()
            .json(json!({"plain_token": token, "signature": signature}));
    }
    match sdk.answers.lock().expect("lock").pop_front() {
        Some(status) => actix_web::HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status).expect("status"),
        )
        .finish(),
        None => actix_web::HttpResponse::Ok().json(json!({"op": 12, "d": 0})),
    }
}

/// Serves `sdk` at `/qq/webhook` on a free port; where it listens.
pub fn start_sdk(sdk: Arc<Sdk>) -> std::net::SocketAddr {
    use actix_web::{web, App, HttpServer};
    let data = web::Data::from(sdk);
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).route("/qq/webhook", web::post().to(sdk_hook))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind");
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    addr
}
