//! Connection limits of a listener (total and per peer address) and the handshake timeout:
//! past a limit a client gets an HTTP error at once — never a stall — and the refusal is
//! counted; a place is given back when its connection ends.

mod common;

use std::time::{Duration, Instant};

use botgate::listeners::Mount;
use common::*;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Error as WsError;

async fn handshake_status(addr: std::net::SocketAddr) -> Result<WsPeer, u16> {
    match ws_client(addr, "/all?verifyKey=1234567890&qq=10001", &[]).await {
        Ok(peer) => Ok(peer),
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected handshake failure: {e}"),
    }
}

fn listener(h: &serde_json::Value) -> &serde_json::Value {
    // Every listener of these tests shares one host:port.
    &h["listeners"][0]
}

#[actix_web::test]
async fn connections_past_the_per_peer_limit_are_refused_with_429_until_one_leaves() {
    let gw = start_gateway_with("max_connections_per_peer: 3, ", WORLD, &mirai_http_ws("")).await;
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws");
    let mut held = Vec::new();
    // healthz below takes a place of its own while it runs, so two clients fill the three.
    for _ in 0..2 {
        held.push(handshake_status(addr).await.expect("within the limit"));
    }
    let third = handshake_status(addr).await.expect("the third place");
    let started = Instant::now();
    assert_eq!(handshake_status(addr).await.err(), Some(429));
    assert!(started.elapsed() < Duration::from_secs(2), "refused at once, not stalled");
    third.close().await;
    let deadline = Instant::now() + WAIT;
    let again = loop {
        match handshake_status(addr).await {
            Ok(peer) => break peer,
            Err(429) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(status) => panic!("the place was never given back: {status}"),
        }
    };
    drop(again);
    drop(held);
    // The places come back as the server sees the sockets close: until then /healthz, from
    // the same peer, may itself be refused.
    let deadline = Instant::now() + WAIT;
    let h = loop {
        let response =
            awc::Client::default().get(format!("http://{}/healthz", gw.server_addr)).send().await;
        match response {
            Ok(mut r) if r.status() == 200 => break r.json::<serde_json::Value>().await,
            Ok(r) if r.status() == 429 && Instant::now() < deadline => {}
            other => panic!("/healthz: {:?}", other.map(|r| r.status())),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let h = h.expect("healthz json");
    assert!(listener(&h)["refusedPerPeer"].as_u64() >= Some(1), "{h}");
}

#[actix_web::test]
async fn connections_past_the_listener_limit_are_refused_with_503() {
    let gw = start_gateway_with(
        "max_connections: 3, max_connections_per_peer: 100, ",
        WORLD,
        &mirai_http_ws(""),
    )
    .await;
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws");
    let held = [handshake_status(addr).await.expect("1"), handshake_status(addr).await.expect("2")];
    let third = handshake_status(addr).await.expect("3");
    assert_eq!(handshake_status(addr).await.err(), Some(503));
    drop(third);
    drop(held);
    // One client, one kept-alive connection: the limit also counts /healthz's listener, and
    // a fresh connection per poll could be refused while closed ones are still counted.
    let client = awc::Client::default();
    let deadline = Instant::now() + WAIT;
    loop {
        let h: serde_json::Value = client
            .get(format!("http://{}/healthz", gw.server_addr))
            .send()
            .await
            .expect("healthz")
            .json()
            .await
            .expect("healthz json");
        if listener(&h)["connections"] == 1 {
            assert!(listener(&h)["refusedFull"].as_u64() >= Some(1), "{h}");
            break;
        }
        assert!(Instant::now() < deadline, "places never given back: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_connection_that_never_sends_its_handshake_is_closed_after_the_timeout() {
    let gw = start_gateway_with("handshake_timeout: 300, ", WORLD, &mirai_http_ws("")).await;
    let addr = gw.addr_of(Mount::MiraiWs).expect("ws");
    let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, silent.read_to_end(&mut buf))
        .await
        .expect("closed by the gateway")
        .expect("read");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "closed after the timeout, not before");
    assert!(waited < Duration::from_secs(3), "closed {waited:?} after connecting");
}
