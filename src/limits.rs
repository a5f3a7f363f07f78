//! Connection limits of a listener: at most `server.max_connections` at once, and at most
//! `server.max_connections_per_peer` from one peer address. A connection past a limit is not
//! left hanging: its first request is answered with HTTP 503 (the listener is full) or 429
//! (this peer holds too many), `Retry-After`, and the connection is closed — a WebSocket
//! client sees a failed handshake with that status. Every refusal is counted and logged
//! (rate-limited).

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::rt::net::TcpStream;
use actix_web::HttpResponse;
use botgate_actors::log_throttle::LogThrottle;
use serde_json::{json, Value};

/// Refusal warnings across every listener: a flood of connections is counted, not written.
static REFUSALS: LogThrottle = LogThrottle::new(Duration::from_secs(10));

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_peer: HashMap<IpAddr, usize>,
}

/// One listener's limits and its live connection counts.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_peer: usize,
    counts: Mutex<Counts>,
    refused_full: AtomicU64,
    refused_peer: AtomicU64,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Full,
    PeerFull,
}

/// A connection's place under its listener's limits, kept in the connection's data: it is
/// dropped with the connection, which gives the place back.
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    peer: Option<IpAddr>,
    refusal: Option<Refusal>,
}

impl ConnectionLimits {
    /// Limits of `max_total` connections, `max_per_peer` from one address.
    pub fn new(max_total: usize, max_per_peer: usize) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            max_total,
            max_per_peer,
            counts: Mutex::new(Counts::default()),
            refused_full: AtomicU64::new(0),
            refused_peer: AtomicU64::new(0),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a connection from `peer` or records why not.
    fn admit(self: &Arc<Self>, peer: Option<IpAddr>) -> ConnectionSlot {
        let mut counts = self.counts();
        let from_peer = peer.map_or(0, |p| counts.by_peer.get(&p).copied().unwrap_or(0));
        let refusal = if counts.total >= self.max_total {
            self.refused_full.fetch_add(1, Ordering::Relaxed);
            Some(Refusal::Full)
        } else if from_peer >= self.max_per_peer {
            self.refused_peer.fetch_add(1, Ordering::Relaxed);
            Some(Refusal::PeerFull)
        } else {
            counts.total += 1;
            if let Some(p) = peer {
                *counts.by_peer.entry(p).or_default() += 1;
            }
            None
        };
        ConnectionSlot { limits: Arc::clone(self), peer, refusal }
    }

    /// The `on_connect` hook of a listener: admits each new connection.
    pub fn on_connect(self: &Arc<Self>, tcp: &TcpStream, data: &mut Extensions) {
        // Frames are small and written as soon as they exist; with Nagle's algorithm a
        // second frame waits for the ACK of the first, which a client delays by up to
        // 40 ms (seen: events 2 ms apart arriving in 44 ms bursts).
        if let Err(e) = tcp.set_nodelay(true) {
            log::debug!("TCP_NODELAY not set: {e}");
        }
        let peer = tcp.peer_addr().ok().map(|a| a.ip());
        data.insert(Arc::new(self.admit(peer)));
    }

    /// How many connections are open now.
    pub fn open(&self) -> usize {
        self.counts().total
    }

    /// The listener's figures for `/healthz`.
    pub fn to_json(&self) -> Value {
        let counts = self.counts();
        json!({
            "connections": counts.total,
            "peers": counts.by_peer.len(),
            "maxConnections": self.max_total,
            "maxConnectionsPerPeer": self.max_per_peer,
            "refusedFull": self.refused_full.load(Ordering::Relaxed),
            "refusedPerPeer": self.refused_peer.load(Ordering::Relaxed),
        })
    }
}

impl ConnectionSlot {
    /// What an upgraded connection keeps of its connection data: its place, which it gives
    /// back only when its socket closes (the HTTP dispatcher that held it ends at the upgrade).
    pub fn kept(req: &actix_http::Request) -> Option<Box<dyn Any + Send>> {
        let slot = req.conn_data::<Arc<ConnectionSlot>>()?;
        Some(Box::new(Arc::clone(slot)))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if self.refusal.is_some() {
            return;
        }
        let mut counts = self.limits.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(p) = self.peer {
            if let Some(n) = counts.by_peer.get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    counts.by_peer.remove(&p);
                }
            }
        }
    }
}

/// Middleware: answers a request on a refused connection with 503 or 429 and closes it.
pub async fn enforce(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let refusal = req.conn_data::<Arc<ConnectionSlot>>().and_then(|s| s.refusal.map(|r| (r, s)));
    let Some((refusal, slot)) = refusal else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let (mut response, why) = match refusal {
        Refusal::Full => (
            HttpResponse::ServiceUnavailable(),
            format!("too many connections (server.max_connections = {})", slot.limits.max_total),
        ),
        Refusal::PeerFull => (
            HttpResponse::TooManyRequests(),
            format!(
                "too many connections from this address (server.max_connections_per_peer = {})",
                slot.limits.max_per_peer
            ),
        ),
    };
    let peer = slot.peer.map_or_else(|| "?".to_owned(), |p| p.to_string());
    botgate_actors::warn_throttled!(REFUSALS, "{} from {peer}: refused, {why}", req.path());
    let response = response
        .insert_header((header::RETRY_AFTER, "1"))
        .force_close()
        .json(json!({ "error": why }));
    Ok(req.into_response(response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_given_back_when_connections_end() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let s1 = limits.admit(Some(a));
        let s2 = limits.admit(Some(a));
        let s3 = limits.admit(Some(a));
        assert_eq!(s3.refusal, Some(Refusal::PeerFull));
        let s4 = limits.admit(Some(b));
        assert_eq!(limits.admit(Some(b)).refusal, Some(Refusal::Full));
        assert!(s1.refusal.is_none() && s2.refusal.is_none() && s4.refusal.is_none());
        drop((s1, s3));
        assert_eq!(limits.open(), 2);
        assert!(limits.admit(Some(a)).refusal.is_none());
        let j = limits.to_json();
        assert_eq!(j["refusedFull"], 1);
        assert_eq!(j["refusedPerPeer"], 1);
    }
}
