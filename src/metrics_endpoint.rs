//! `GET /metrics` on the `server:` listener: Prometheus' text format. The running counters and
//! histograms of `botgate_actors::metrics` (events, frames, reconnects, command latency, POST
//! retries, the process' RSS, CPU and fds), plus what is read from the actors now: bots'
//! links and subscribers, clients connected and departed per adapter, destinations' buffers
//! and drops. Behind `server.token` when one is set (Prometheus sends it as a bearer token).

use actix_web::{web, HttpRequest, HttpResponse};
use botgate_actors::connection::stats::ClientStats;
use botgate_actors::metrics::Scrape;

use crate::botgate_endpoints::{authorized, unauthorized};
use crate::listeners::AppState;
use crate::status;

/// The scrape.
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if !authorized(&state, &req) {
        return unauthorized(&req);
    }
    let mut scrape = Scrape::default();
    for b in status::bots(&state.actors).await {
        // The labels botgate_events_received_total has.
        let qq = b.qq.to_string();
        let labels = [("bot", qq.as_str()), ("source", b.source.name())];
        let online = b.link() == "online";
        scrape.gauge(
            "botgate_bot_online",
            "1 while the bot's account is online.",
            &labels,
            online.into(),
        );
        if let Some(s) = &b.status {
            let subscribers = i64::try_from(s.subscribers).unwrap_or(i64::MAX);
            scrape.gauge(
                "botgate_bot_subscribers",
                "Clients and destinations receiving the bot's events.",
                &labels,
                subscribers,
            );
        }
    }
    // The labels the adapters' sockets give botgate_frames_delivered_total.
    let adapters: [(&str, Option<&ClientStats>); 5] = [
        ("mirai ws", Some(&state.mirai_ws.stats)),
        ("OneBot ws", state.onebot.as_ref().map(|o| &*o.settings.stats)),
        ("qqbot gateway", Some(&state.qqbot_stats)),
        ("oicq_webd ws", state.oicq.as_ref().map(|o| &*o.stats)),
        ("console", Some(&state.console_stats)),
    ];
    for (adapter, stats) in adapters {
        let Some(stats) = stats else {
            continue;
        };
        let (connected, departures, bad_frames, busy) = stats.metrics();
        let labels = [("adapter", adapter)];
        scrape.gauge(
            "botgate_clients_connected",
            "Clients connected now, by adapter.",
            &labels,
            i64::try_from(connected).unwrap_or(i64::MAX),
        );
        for (reason, total) in departures {
            scrape.counter(
                "botgate_client_departures_total",
                "Clients gone, by adapter and reason (evicted: its outbox overflowed).",
                &[("adapter", adapter), ("reason", reason)],
                total,
            );
        }
        scrape.counter(
            "botgate_bad_frames_total",
            "Frames from clients that could not be decoded, by adapter.",
            &labels,
            bad_frames,
        );
        scrape.counter(
            "botgate_commands_refused_busy_total",
            "Commands refused because too many were in flight on their connection.",
            &labels,
            busy,
        );
    }
    for d in status::destinations(&state.actors).await {
        let Some(s) = &d.status else {
            continue;
        };
        let labels = [("adapter", d.kind.adapter()), ("destination", s.name.as_str())];
        scrape.gauge(
            "botgate_destination_connected",
            "1 while the destination is connected (or its POSTs succeed).",
            &labels,
            s.connected.into(),
        );
        scrape.gauge(
            "botgate_destination_buffered",
            "Events waiting for the destination (the replay buffer's depth).",
            &labels,
            i64::try_from(s.buffered).unwrap_or(i64::MAX),
        );
        scrape.counter(
            "botgate_outbox_dropped_total",
            "Events a destination's bounded buffer dropped (the oldest), by destination.",
            &labels,
            s.dropped,
        );
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(scrape.render())
}
