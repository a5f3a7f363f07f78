//! The client side of outbound WebSocket connections (mirai reverse-ws destinations, OneBot
//! reverse WebSocket): dialling with awc over rustls, and the types of a dialled link.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_service::ServiceExt;
use awc::error::{WsClientError, WsProtocolError};
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use futures_util::stream::{self, SplitSink, SplitStream, Stream, StreamExt};
use futures_util::Sink;

/// The framed socket of a dialled WebSocket.
pub type WsFramed = actix_codec::Framed<BoxedSocket, Codec>;

/// Its writing half. Closing writes what is buffered first: actix-codec's `Framed::close`
/// shuts the socket down without writing the frames still in its own buffer, so a close
/// frame written just before `close` never left (the peer saw a reset instead).
pub struct WsSink(SplitSink<WsFramed, Message>);

impl Sink<Message> for WsSink {
    type Error = WsProtocolError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        Pin::new(&mut self.0).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(Pin::new(&mut self.0).poll_flush(cx))?;
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// Its reading half.
pub type WsStream = SplitStream<WsFramed>;

/// One frame or the end (`item: None`) of one connection's stream, tagged with the
/// connection's number so that the actor ignores a stale stream of an earlier connection.
/// Also a message, for a socket whose frames are read on another thread.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct LinkEvent {
    /// Which connection the item came from.
    pub generation: u64,
    /// The frame or read error; `None` once the stream has ended.
    pub item: Option<Result<Frame, WsProtocolError>>,
}

/// Tags every item of `stream` with `generation` and appends one end marker, so the stream
/// can be added to an actor whose link is redialled.
pub fn tag_frames(
    stream: impl Stream<Item = Result<Frame, WsProtocolError>>,
    generation: u64,
) -> impl Stream<Item = LinkEvent> {
    stream
        .map(move |item| LinkEvent { generation, item: Some(item) })
        .chain(stream::once(async move { LinkEvent { generation, item: None } }))
}

/// How long the TCP connect, TLS and HTTP upgrade may take together.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Dials `url` with `headers`, accepting frames up to `max_frame_size`; answers the two
/// halves of the connection.
pub fn dial(
    url: &str,
    headers: &[(String, String)],
    max_frame_size: usize,
    tls: &Arc<rustls::ClientConfig>,
) -> impl Future<Output = Result<(WsSink, WsStream), WsClientError>> + 'static {
    // awc leaves Nagle's algorithm on: an action written right after another would wait for
    // the peer's delayed ACK (up to 40 ms). Every dialled link turns it off.
    let tcp =
        actix_tls::connect::Connector::new(actix_tls::connect::Resolver::default()).service().map(
            |conn: actix_tls::connect::Connection<
                awc::http::Uri,
                actix_web::rt::net::TcpStream,
            >| {
                if let Err(e) = conn.io_ref().set_nodelay(true) {
                    log::debug!("TCP_NODELAY not set: {e}");
                }
                conn
            },
        );
    let client = awc::Client::builder()
        .connector(awc::Connector::new().connector(tcp).rustls_0_23(Arc::clone(tls)))
        .timeout(DIAL_TIMEOUT)
        .finish();
    let mut request = client.ws(url).max_frame_size(max_frame_size);
    for (name, value) in headers {
        request = request.set_header(name.as_str(), value.as_str());
    }
    async move {
        let (_, framed) = request.connect().await?;
        let (sink, stream) = framed.split();
        Ok((WsSink(sink), stream))
    }
}

/// Ends an outbound link actor (a source's platform link) for good: its account moved to
/// another node of the cluster. The socket closes with the actor.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct StopLink;
