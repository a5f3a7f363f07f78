//! Serving WebSockets on sockets taken out of actix-http's HTTP/1 dispatcher.
//!
//! A handshake is routed, authenticated and answered by the actix-web application like any
//! request; its handler calls [`upgrade`], which leaves a [`Takeover`] in the 101 response.
//! The listener's upgrade service writes that response itself and hands the raw socket to the
//! connection: its read half to the actor's [`WsFrames`], its write half to a task writing the
//! actor's [`WsWriter`] buffer. The dispatcher then ends, and with it its two 8 KiB buffers,
//! its timers and its task — the upgraded connection keeps only what the WebSocket needs, and
//! outbound frames are written from the buffer they were encoded into, without a copy.

use std::any::Any;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_codec::Framed;
use actix_http::body::{BodySize, MessageBody};
use actix_http::h1;
use actix_http::{
    ConnectionType, Extensions, HttpMessage, HttpService, Request, Response, StatusCode,
};
use actix_service::{
    fn_factory, fn_service, map_config, IntoServiceFactory, Service, ServiceFactory,
    ServiceFactoryExt,
};
use actix_web::dev::{AppConfig, Server};
use actix_web::rt::net::TcpStream;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::SinkExt;
use tokio::sync::oneshot;

use super::inbound::{ReadSide, WsFrames};
use super::outbound::{write_out, Outbound, ServedSockets, WsWriter};
use super::placement::{Placement, Site};

/// Marks a request that reached the application through [`serve`]'s upgrade service, which
/// can take its socket over; carries where its listener lists the sockets it serves.
struct Upgradable(ServedSockets);

/// Left in a 101 response by [`upgrade`]: where the upgrade service hands the socket.
struct Takeover {
    outbound: Arc<Mutex<Outbound>>,
    frames: oneshot::Sender<ReadSide>,
    site: Site,
}

/// What an upgraded connection keeps as long as its socket.
type Kept = Option<Box<dyn Any + Send>>;

impl Takeover {
    /// Gives the connection its socket where it lives — moved from the accepting worker to
    /// its home first, if it has one: the read half to its frames, the write half to a task
    /// writing its outbound buffer, which also keeps `kept` and the connection's place.
    fn attach(self, socket: TcpStream, early: bytes::BytesMut, kept: Kept) {
        let Some(home) = self.site.home().cloned() else {
            return self.attach_here(socket, early, kept);
        };
        // A socket is registered with one thread's reactor: it leaves this worker's and
        // joins the home's. On failure the connection closes (its frames end).
        let socket = match socket.into_std() {
            Ok(socket) => socket,
            Err(e) => return log::warn!("WebSocket not moved to its thread: {e}"),
        };
        let moved = home.spawn(async move {
            match TcpStream::from_std(socket) {
                Ok(socket) => self.attach_here(socket, early, kept),
                Err(e) => log::warn!("WebSocket not moved to its thread: {e}"),
            }
        });
        if !moved {
            log::debug!("WebSocket dropped: the thread it was placed on has stopped");
        }
    }

    fn attach_here(self, socket: TcpStream, early: bytes::BytesMut, kept: Kept) {
        let (read, write) = socket.into_split();
        let kept: Box<dyn Any + Send> = Box::new((kept, self.site));
        actix_web::rt::spawn(write_out(write, self.outbound, Some(kept)));
        // A connection whose actor is already gone drops the read half here.
        let _ = self.frames.send(ReadSide { socket: read, early });
    }
}

/// Answers a WebSocket handshake: the 101 response, the writer for the connection actor, and
/// the inbound frames (at most `max_frame_size` each). Frames written before the response is
/// sent go out right after it.
pub fn upgrade(
    req: &HttpRequest,
    max_frame_size: usize,
) -> Result<(HttpResponse, WsWriter, WsFrames), actix_web::Error> {
    let (response, writer, frames, _) = upgrade_at(req, max_frame_size, Site::here())?;
    Ok((response, writer, frames))
}

/// [`upgrade`] for a connection `placement` places: its socket moves to its thread once the
/// response is written, and its actor is to be started with the answered [`Site`].
pub fn upgrade_placed(
    req: &HttpRequest,
    max_frame_size: usize,
    placement: &Placement,
) -> Result<(HttpResponse, WsWriter, WsFrames, Site), actix_web::Error> {
    upgrade_at(req, max_frame_size, placement.place())
}

fn upgrade_at(
    req: &HttpRequest,
    max_frame_size: usize,
    site: Site,
) -> Result<(HttpResponse, WsWriter, WsFrames, Site), actix_web::Error> {
    let mut response = actix_http::ws::handshake(req.head())?;
    let outbound =
        req.extensions().get::<Upgradable>().map(|Upgradable(served)| Outbound::open(served));
    let Some(outbound) = outbound else {
        return Err(actix_web::error::ErrorInternalServerError(
            "this listener cannot take WebSocket connections over: serve it with ws_server::serve",
        ));
    };
    let (handover, frames) = oneshot::channel();
    let mut response = HttpResponse::from(response.message_body(())?).map_into_boxed_body();
    let (actor_site, frames) =
        (site.actor_site(), WsFrames::new(frames, max_frame_size, site.hangup()));
    response.extensions_mut().insert(Takeover {
        outbound: Arc::clone(&outbound),
        frames: handover,
        site,
    });
    Ok((response, WsWriter { shared: outbound }, frames, actor_site))
}

/// Takes from an upgraded connection's data what must live as long as its socket.
pub type Keep = Arc<dyn Fn(&Request) -> Kept + Send + Sync>;

/// Called with every accepted connection and its data, before its first request.
pub type OnConnect = Arc<dyn Fn(&TcpStream, &mut Extensions) + Send + Sync>;

/// How a listener is run.
#[derive(Clone)]
pub struct ListenerOptions {
    /// Worker threads.
    pub workers: usize,
    /// How long a client may take to send its request head.
    pub client_request_timeout: Duration,
    /// Seconds a stopping server waits for connections to finish.
    pub shutdown_timeout: u64,
    /// Called with every accepted connection.
    pub on_connect: Option<OnConnect>,
    /// What an upgraded connection keeps from its connection data.
    pub keep: Option<Keep>,
    /// Where its upgraded sockets are listed: one list for every listener of a gateway, which
    /// its graceful shutdown closes.
    pub served: ServedSockets,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions {
            workers: 1,
            client_request_timeout: Duration::from_secs(5),
            shutdown_timeout: 5,
            on_connect: None,
            keep: None,
            served: ServedSockets::default(),
        }
    }
}

/// Binds every address `addr` resolves to (address reuse on, as a restarted gateway needs).
pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Vec<std::net::TcpListener>> {
    let mut bound = Vec::new();
    let mut failed = None;
    for addr in addr.to_socket_addrs()? {
        match bind_one(addr) {
            Ok(listener) => bound.push(listener),
            Err(e) => failed = Some(e),
        }
    }
    match failed {
        Some(e) if bound.is_empty() => Err(e),
        _ if bound.is_empty() => Err(io::Error::other("the address resolves to nothing")),
        _ => Ok(bound),
    }
}

fn bind_one(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(2048)?.into_std()
}

/// Serves the actix-web application `factory` builds on `listeners`, taking WebSocket
/// connections out of the HTTP dispatcher once their handshake is answered.
pub fn serve<F, I, S, B>(
    listeners: Vec<std::net::TcpListener>,
    options: ListenerOptions,
    factory: F,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    let mut builder = Server::build()
        .workers(options.workers)
        .disable_signals()
        .shutdown_timeout(options.shutdown_timeout);
    for listener in listeners {
        let addr = listener.local_addr()?;
        let (factory, options) = (factory.clone(), options.clone());
        builder = builder.listen("botgate", listener, move || {
            let app = || {
                map_config(factory().into_factory().map_err(|e| e.into().error_response()), |_| {
                    AppConfig::default()
                })
            };
            let mut service = HttpService::build()
                .client_request_timeout(options.client_request_timeout)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr);
            if let Some(on_connect) = options.on_connect.clone() {
                service = service.on_connect_ext(move |io: &TcpStream, data: &mut Extensions| {
                    on_connect(io, data)
                });
            }
            let upgrade = upgrader(app(), options.keep.clone(), options.served.clone());
            service.upgrade(upgrade).finish(app()).tcp()
        })?;
    }
    Ok(builder.run())
}

/// The upgrade service: each WebSocket handshake goes through an instance of the application
/// of its own, and its socket is taken over when the answer is a [`Takeover`].
fn upgrader<A, R, B>(
    app: A,
    keep: Option<Keep>,
    served: ServedSockets,
) -> impl ServiceFactory<
    (Request, Framed<TcpStream, h1::Codec>),
    Config = (),
    Response = (),
    Error = actix_web::Error,
    InitError = (),
>
where
    A: ServiceFactory<Request, Config = (), Response = R, Error = HttpResponse> + 'static,
    A::InitError: std::fmt::Debug,
    A::Service: 'static,
    R: Into<Response<B>> + 'static,
    B: MessageBody + 'static,
{
    fn_factory(move || {
        let created = app.new_service(());
        let (keep, served) = (keep.clone(), served.clone());
        async move {
            let app = Rc::new(created.await.map_err(|e| {
                log::error!("the upgrade service's application failed to start: {e:?}");
            })?);
            Ok(fn_service(move |(req, framed)| {
                take_over(Rc::clone(&app), keep.clone(), served.clone(), req, framed)
            }))
        }
    })
}

async fn take_over<A, R, B>(
    app: Rc<A>,
    keep: Option<Keep>,
    served: ServedSockets,
    req: Request,
    mut framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), actix_web::Error>
where
    A: Service<Request, Response = R, Error = HttpResponse>,
    R: Into<Response<B>>,
    B: MessageBody + 'static,
{
    req.extensions_mut().insert(Upgradable(served));
    let kept = keep.as_ref().and_then(|keep| keep(&req));
    let mut response = match app.call(req).await {
        Ok(response) => response.into().map_into_boxed_body(),
        Err(response) => response.into(),
    };
    let takeover = response.extensions_mut().remove::<Takeover>();
    let (mut head, body) = response.into_parts();
    match takeover {
        Some(takeover) if head.status() == StatusCode::SWITCHING_PROTOCOLS => {
            if let Err(e) = framed.send(h1::Message::Item((head, BodySize::None))).await {
                log::debug!("WebSocket handshake answer not written: {e}");
                return Ok(());
            }
            let parts = framed.into_parts();
            takeover.attach(parts.io, parts.read_buf, kept);
        }
        _ => {
            // A refused handshake: answer it and close, as the socket was never HTTP's again.
            head.head_mut().set_connection_type(ConnectionType::Close);
            let body = actix_web::body::to_bytes(body).await.unwrap_or_default();
            let size = BodySize::Sized(body.len() as u64);
            let answered = async {
                framed.send(h1::Message::Item((head, size))).await?;
                framed.send(h1::Message::Chunk(Some(body))).await?;
                framed.send(h1::Message::Chunk(None)).await?;
                framed.close().await
            };
            if let Err(e) = answered.await {
                log::debug!("refused WebSocket handshake: answer not written: {e}");
            }
        }
    }
    Ok(())
}
