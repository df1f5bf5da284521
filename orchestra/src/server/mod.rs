//! The HTTP server player: an axum `Router` (or any tower service) served
//! over HTTP/1 and HTTP/2 with a graceful drain (Go orchestra's `ServerPlayer`).

mod addr;
mod connection;
mod error;
#[cfg(feature = "tls")]
mod tls;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use http_body::Body;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioTimer;
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;
use tracing::Instrument;

pub use addr::LocalAddr;
pub use error::ServerError;

use crate::context::Context;
use crate::error::{BoxError, Error};
use crate::player::Player;
use crate::restart::Backoff;
use connection::{Connection, Executor};

/// How long a stopping server waits for its in-flight requests by default
/// (less when its stop timeout is short: see [`default_shutdown_timeout`]).
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The shutdown timeout when none is set: 5 s, or 4/5 of the player's stop
/// timeout if that is shorter, so that the server has time to cut what is
/// left and report it before its conductor would abort it.
fn default_shutdown_timeout(stop_timeout: Option<Duration>) -> Duration {
    match stop_timeout {
        Some(stop) => DEFAULT_SHUTDOWN_TIMEOUT.min(stop * 4 / 5),
        None => DEFAULT_SHUTDOWN_TIMEOUT,
    }
}

/// How long a connection that has not sent its first request yet is given to
/// send it once the server is stopping.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// How long to pause after an accept error that is not about one connection
/// (such as running out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// At most this many connections already queued by the kernel are taken in
/// when the server stops.
const MAX_QUEUED: usize = 1024;

/// An HTTP server as a [`Player`]: an axum [`Router`] — or any tower service —
/// served over HTTP/1 and HTTP/2 until its context is cancelled, then drained
/// gracefully.
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use orchestra::{Conductor, HttpServer, PlayExt};
/// use std::time::Duration;
///
/// #[tokio::main]
/// async fn main() -> Result<(), orchestra::Error> {
///     let app = Router::new().route("/", get(|| async { "hello" }));
///     let http = HttpServer::bind(([0, 0, 0, 0], 8080), app)
///         .shutdown_timeout(Duration::from_secs(5));
///
///     let mut conductor = Conductor::named("app");
///     conductor.add("http", http)?;
///     conductor.play_until_signal().await
/// }
/// ```
///
/// # A run
///
/// 1. **Bind.** The address is bound; while it is busy (`AddrInUse`,
///    `AddrNotAvailable`) the bind is retried after each delay of its
///    [`bind_backoff`](HttpServer::bind_backoff), and once that is exhausted
///    the run fails with [`ServerError::Bind`].
/// 2. **Ready.** Once listening, the server publishes its address (see
///    [`local_addr`](HttpServer::local_addr)) and calls
///    [`ctx.ready()`](Context::ready), which starts the players ordered
///    `after` it.
/// 3. **Serve** HTTP/1 and HTTP/2 (detected per connection, with ALPN over
///    TLS), HTTP upgrades included, each connection on a task of its own.
/// 4. **Drain**, once the context is cancelled: the listener is closed at
///    once, so new connections are refused (the connections the kernel had
///    already queued are taken in and served). Every open connection is told
///    to finish: HTTP/1 connections close after their current response,
///    HTTP/2 connections receive a `GOAWAY`, idle ones close at once, and a
///    connection that has not sent its first request yet gets a moment to
///    send it. In-flight requests run to completion.
/// 5. **Cut**, if requests are still in flight after the
///    [`shutdown_timeout`](HttpServer::shutdown_timeout) (5 s by default, or
///    4/5 of the player's stop timeout if that is shorter):
///    their connections are aborted, a warning is logged, and the run returns
///    [`ServerError::RequestsCut`] with how many requests were cut. A drain
///    that cut no request returns `Ok(())`.
///
/// A shutdown timeout set by hand should stay shorter than the player's stop
/// timeout in its conductor (9 s by default), or the conductor aborts the
/// server before it can report what it cut. Connections upgraded away from HTTP (WebSockets)
/// are no longer HTTP requests: the drain neither waits for them nor cuts
/// them, so close them from a cancellation token of your own.
///
/// # Restarts
///
/// A restart calls [`play`](Player::play) again: a server made with
/// [`bind`](HttpServer::bind) binds its address again (with port 0, a new
/// ephemeral port). A listener given to [`from_listener`](HttpServer::from_listener)
/// is used by the first run only and closed when that run stops; later runs
/// bind the address it had, so the server keeps its port.
pub struct HttpServer<S = Router> {
    service: S,
    bind: Bind,
    /// Set by hand; `None` follows the player's stop timeout.
    shutdown_timeout: Option<Duration>,
    bind_backoff: Backoff,
    #[cfg(feature = "tls")]
    tls: Option<tls::Tls>,
    addr: Arc<watch::Sender<Option<SocketAddr>>>,
}

/// Where a server listens.
enum Bind {
    Addr(SocketAddr),
    /// A listener given by the user, taken by the first run; then its address.
    Listener {
        listener: Option<TcpListener>,
        addr: Option<SocketAddr>,
    },
}

impl<S> HttpServer<S> {
    /// A server for `service` (an axum [`Router`], or any tower service that
    /// is `Clone`) that binds `addr` when it runs.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use orchestra::HttpServer;
    ///
    /// let app = Router::new().route("/health", get(|| async { "ok" }));
    /// let server: HttpServer = HttpServer::bind(([127, 0, 0, 1], 8080), app);
    /// # let _ = server;
    /// ```
    pub fn bind(addr: impl Into<SocketAddr>, service: S) -> Self {
        HttpServer::with(Bind::Addr(addr.into()), service)
    }

    /// A server for `service` on a listener bound beforehand, for example to
    /// learn an ephemeral port before anything runs. The listener is used by
    /// the first run; a restarted server binds the address it had.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use orchestra::HttpServer;
    /// use tokio::net::TcpListener;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let port = listener.local_addr()?.port();
    /// let app = Router::new().route("/", get(|| async { "hello" }));
    /// let server: HttpServer = HttpServer::from_listener(listener, app);
    /// # let _ = (server, port);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_listener(listener: TcpListener, service: S) -> Self {
        let addr = listener.local_addr().ok();
        HttpServer::with(
            Bind::Listener {
                listener: Some(listener),
                addr,
            },
            service,
        )
    }

    fn with(bind: Bind, service: S) -> Self {
        HttpServer {
            service,
            bind,
            shutdown_timeout: None,
            bind_backoff: default_bind_backoff(),
            #[cfg(feature = "tls")]
            tls: None,
            addr: Arc::new(watch::Sender::new(None)),
        }
    }

    /// How long a stopping server lets its in-flight requests run before it
    /// cuts them (and reports [`ServerError::RequestsCut`]). By default 5 s,
    /// or 4/5 of the player's stop timeout if that is shorter.
    ///
    /// ```
    /// # use axum::Router;
    /// use orchestra::HttpServer;
    /// use std::time::Duration;
    ///
    /// let server: HttpServer = HttpServer::bind(([127, 0, 0, 1], 8080), Router::new())
    ///     .shutdown_timeout(Duration::from_secs(20));
    /// # let _ = server;
    /// ```
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// The delays between attempts to bind while the address is busy; the
    /// run fails with [`ServerError::Bind`] once they run out. By default
    /// exponential from 100 ms to 2 s, 10 retries (about 13 s in all).
    ///
    /// ```
    /// # use axum::Router;
    /// use orchestra::{Backoff, HttpServer};
    /// use std::time::Duration;
    ///
    /// let server: HttpServer = HttpServer::bind(([127, 0, 0, 1], 8080), Router::new())
    ///     .bind_backoff(Backoff::constant(Duration::from_millis(500)).max_times(20));
    /// # let _ = server;
    /// ```
    #[must_use]
    pub fn bind_backoff(mut self, backoff: Backoff) -> Self {
        self.bind_backoff = backoff;
        self
    }

    /// A handle on the address the server listens on, to learn an ephemeral
    /// port or to wait until the server is up. Take it before handing the
    /// server to a conductor.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use orchestra::{CancellationToken, Context, HttpServer, Player};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), orchestra::BoxError> {
    /// let app = Router::new().route("/", get(|| async { "hello" }));
    /// let mut server = HttpServer::bind(([127, 0, 0, 1], 0), app);
    /// let addr = server.local_addr();
    ///
    /// let stop = CancellationToken::new();
    /// let ctx = Context::new("http", stop.clone());
    /// let running = tokio::spawn(async move { server.play(ctx).await });
    ///
    /// let bound = addr.listening().await.ok_or("the server was dropped")?;
    /// assert_eq!(bound.ip(), std::net::Ipv4Addr::LOCALHOST);
    /// stop.cancel();
    /// running.await??;
    /// assert_eq!(addr.get(), None, "no longer listening");
    /// # Ok(())
    /// # }
    /// ```
    pub fn local_addr(&self) -> LocalAddr {
        LocalAddr::new(self.addr.subscribe())
    }
}

fn default_bind_backoff() -> Backoff {
    Backoff::exponential()
        .max_delay(Duration::from_secs(2))
        .max_times(10)
}

impl<S> fmt::Debug for HttpServer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("HttpServer");
        match &self.bind {
            Bind::Addr(addr) => debug.field("addr", addr),
            Bind::Listener { addr, .. } => debug.field("listener", addr),
        };
        debug
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("bind_backoff", &self.bind_backoff);
        #[cfg(feature = "tls")]
        debug.field("tls", &self.tls.is_some());
        debug.finish_non_exhaustive()
    }
}

impl<S, B> Player for HttpServer<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Binds, serves until `ctx` is cancelled, then drains; see
    /// [`HttpServer`] for each step and what the run returns.
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        if let Err(message) = self.bind_backoff.validate() {
            return Err(Error::Config {
                path: ctx.path().into(),
                message: format!("bind_backoff: {message}"),
            }
            .into());
        }
        #[cfg(feature = "tls")]
        let tls = match &self.tls {
            Some(tls) => Some(tls.acceptor().await?),
            None => None,
        };
        #[cfg(not(feature = "tls"))]
        let tls = None;

        let Some(listener) = self.listen(&ctx).await? else {
            return Ok(()); // asked to stop while waiting for the address
        };
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: self.bind_addr(),
            source,
        })?;
        let listening = Listening::new(&self.addr, addr);
        tracing::info!(%addr, tls = tls.is_some(), "listening");
        ctx.ready();

        let mut serving = Serving::new(self.service.clone(), tls);
        serving.accept_until_cancelled(&listener, &ctx).await;
        serving.take_queued(listener);
        drop(listening);
        let shutdown_timeout = self
            .shutdown_timeout
            .unwrap_or_else(|| default_shutdown_timeout(ctx.stop_timeout()));
        serving.drain(shutdown_timeout).await
    }
}

impl<S> HttpServer<S> {
    /// The address this server binds: its own, or its listener's.
    fn bind_addr(&self) -> SocketAddr {
        match &self.bind {
            Bind::Addr(addr) => *addr,
            Bind::Listener { addr, .. } => {
                addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
            }
        }
    }

    /// A listener: the given one on the first run, else a new one bound with
    /// retries. `None` if `ctx` was cancelled first.
    async fn listen(&mut self, ctx: &Context) -> Result<Option<TcpListener>, ServerError> {
        let addr = match &mut self.bind {
            Bind::Addr(addr) => *addr,
            Bind::Listener { listener, addr } => {
                if let Some(listener) = listener.take() {
                    return Ok(Some(listener));
                }
                match addr {
                    Some(addr) => *addr,
                    None => return Err(ServerError::NoAddress),
                }
            }
        };
        let mut delays = self.bind_backoff.start();
        loop {
            let bound = match ctx.run_until_cancelled(TcpListener::bind(addr)).await {
                None => return Ok(None),
                Some(bound) => bound,
            };
            let source = match bound {
                Ok(listener) => return Ok(Some(listener)),
                Err(error) => error,
            };
            let busy = matches!(
                source.kind(),
                io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable
            );
            let Some(delay) = delays.next().filter(|_| busy) else {
                return Err(ServerError::Bind { addr, source });
            };
            tracing::warn!(%addr, error = %source, ?delay, "cannot bind; retrying");
            if ctx.run_until_cancelled(sleep(delay)).await.is_none() {
                return Ok(None);
            }
        }
    }
}

/// Publishes the bound address while it lives; clears it when dropped, even
/// if the run is aborted.
struct Listening<'a>(&'a watch::Sender<Option<SocketAddr>>);

impl<'a> Listening<'a> {
    fn new(sender: &'a watch::Sender<Option<SocketAddr>>, addr: SocketAddr) -> Self {
        sender.send_replace(Some(addr));
        Listening(sender)
    }
}

impl Drop for Listening<'_> {
    fn drop(&mut self) {
        self.0.send_replace(None);
    }
}

/// One run's connections, from accepting them to draining them.
struct Serving<S> {
    service: S,
    builder: Arc<auto::Builder<Executor>>,
    tls: Option<connection::TlsAcceptor>,
    /// Every connection task and every HTTP/2 stream task of the run.
    tasks: TaskTracker,
    /// Cancelled when the server stops: connections finish what they do.
    drain: CancellationToken,
    /// Cancelled when the drain is cut short: connections are dropped. Also
    /// cancelled if the run itself is dropped, so no task outlives it.
    abort: CancellationToken,
    _abort_on_drop: tokio_util::sync::DropGuard,
    /// Requests whose handler runs or whose response is being sent.
    requests: Arc<AtomicUsize>,
    /// Open connections.
    connections: Arc<AtomicUsize>,
}

impl<S, B> Serving<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn new(service: S, tls: Option<connection::TlsAcceptor>) -> Self {
        let tasks = TaskTracker::new();
        let abort = CancellationToken::new();
        let mut builder = auto::Builder::new(Executor::new(&tasks, &abort));
        builder.http1().timer(TokioTimer::new());
        builder.http2().timer(TokioTimer::new());
        Serving {
            service,
            builder: Arc::new(builder),
            tls,
            tasks,
            drain: CancellationToken::new(),
            _abort_on_drop: abort.clone().drop_guard(),
            abort,
            requests: Arc::new(AtomicUsize::new(0)),
            connections: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Accepts connections until `ctx` is cancelled.
    async fn accept_until_cancelled(&mut self, listener: &TcpListener, ctx: &Context) {
        loop {
            let accepted = tokio::select! {
                biased;
                () = ctx.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => self.spawn(stream, peer),
                Err(error) if is_connection_error(&error) => {
                    tracing::debug!(%error, "connection failed before it was accepted");
                }
                Err(error) => {
                    tracing::error!(%error, pause = ?ACCEPT_ERROR_PAUSE, "cannot accept connections");
                    if ctx
                        .run_until_cancelled(sleep(ACCEPT_ERROR_PAUSE))
                        .await
                        .is_none()
                    {
                        return;
                    }
                }
            }
        }
    }

    /// Takes in the connections the kernel accepted before the stop, then
    /// closes the listener, so that new connections are refused.
    fn take_queued(&self, listener: TcpListener) {
        let listener = match listener.into_std() {
            Ok(listener) => listener,
            Err(error) => {
                tracing::debug!(%error, "cannot take queued connections");
                return;
            }
        };
        for _ in 0..MAX_QUEUED {
            let Ok((stream, peer)) = listener.accept() else {
                break; // `WouldBlock`: the queue is empty
            };
            let stream = stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(stream));
            match stream {
                Ok(stream) => self.spawn(stream, peer),
                Err(error) => tracing::debug!(%error, %peer, "cannot take a queued connection"),
            }
        }
    }

    fn spawn(&self, stream: TcpStream, peer: SocketAddr) {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %peer, "cannot set TCP_NODELAY");
        }
        let connection = Connection {
            service: self.service.clone(),
            builder: self.builder.clone(),
            tls: self.tls.clone(),
            drain: self.drain.clone(),
            requests: self.requests.clone(),
            connections: self.connections.clone(),
            first_request_grace: FIRST_REQUEST_GRACE,
        };
        // Within the player's span even when the connection's own is disabled.
        let span = tracing::debug_span!("connection", %peer);
        let task = connection.serve(stream).instrument(span).in_current_span();
        self.tasks
            .spawn(self.abort.clone().run_until_cancelled_owned(task));
    }

    /// Lets every connection finish within `limit`, then cuts the rest.
    async fn drain(self, limit: Duration) -> Result<(), BoxError> {
        let open = self.connections.load(Ordering::SeqCst);
        tracing::info!(
            connections = open,
            requests = self.requests.load(Ordering::SeqCst),
            "stopped accepting; draining"
        );
        self.drain.cancel();
        self.tasks.close();
        if timeout(limit, self.tasks.wait()).await.is_ok() {
            tracing::info!("drained");
            return Ok(());
        }
        let requests = self.requests.load(Ordering::SeqCst);
        let connections = self.connections.load(Ordering::SeqCst);
        self.abort.cancel();
        self.tasks.wait().await;
        if requests == 0 {
            tracing::info!(
                connections,
                "drained; closed the connections that sent no request"
            );
            return Ok(());
        }
        let error = ServerError::RequestsCut {
            requests,
            connections,
            timeout: limit,
        };
        tracing::warn!(requests, connections, timeout = ?limit, "{error}");
        Err(error.into())
    }
}

/// Errors about one connection, after which the server accepts the next.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
