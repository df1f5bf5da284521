//! The HTTP server player: an axum `Router` (or any tower service) served
//! over HTTP/1 and HTTP/2 with a graceful drain (Go orchestra's `ServerPlayer`).

mod addr;
mod connection;
mod error;
mod flight;
mod limits;
mod service;
mod serving;
pub(crate) mod stats;
#[cfg(feature = "tls")]
mod tls;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::sleep;

pub use addr::LocalAddr;
pub use error::ServerError;
pub use service::{HttpService, ResponseBody};
pub use stats::ServerStats;

use crate::context::Context;
use crate::error::{BoxError, Error};
use crate::player::Player;
use crate::restart::Backoff;
use limits::Limits;
use serving::Serving;

/// How long a stopping server waits for its in-flight requests by default
/// (less when its stop timeout is short: see [`default_shutdown_timeout`]).
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The shutdown timeout when none is set: 5 s, or 4/5 of the player's stop
/// timeout if that is shorter, so that the server has time to cut what is
/// left and report it before its conductor would abort it.
fn default_shutdown_timeout(stop_timeout: Option<Duration>) -> Duration {
    match stop_timeout {
        Some(stop) => DEFAULT_SHUTDOWN_TIMEOUT.min(stop - stop / 5),
        None => DEFAULT_SHUTDOWN_TIMEOUT,
    }
}

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
///    TLS), HTTP upgrades included, each connection on a task of its own,
///    within the limits below.
/// 4. **Move clients away**, while the run drains (its lame-duck time, see
///    [`Runner::drain`](crate::Runner::drain)) or stops, until this server is
///    asked to stop: it keeps accepting and serving, but HTTP/1 responses
///    carry `Connection: close` and an HTTP/2 connection sends `GOAWAY` at
///    its next request, so that clients reconnect, through a load balancer
///    that no longer routes here, before the listener closes. Idle
///    connections stay open until the drain below.
/// 5. **Drain**, once the context is cancelled: the listener is closed at
///    once, so new connections are refused (the connections the kernel had
///    already queued are taken in and served). Every open connection is told
///    to finish: HTTP/1 connections close after their current response,
///    HTTP/2 connections receive a `GOAWAY`, idle ones close at once, and a
///    connection that has not sent its first request yet gets a moment to
///    send it. In-flight requests run to completion.
/// 6. **Cut**, if requests are still in flight after the
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
/// # Limits against hostile clients
///
/// - A TLS handshake must finish within the
///   [`tls_handshake_timeout`](HttpServer::tls_handshake_timeout) (10 s by
///   default), and the first request's header must arrive within the
///   [`header_timeout`](HttpServer::header_timeout) (10 s by default), or the
///   connection is closed. Both are logged at debug and counted in
///   [`stats`](HttpServer::stats).
/// - At most [`max_connections`](HttpServer::max_connections) connections
///   are open at once (by default 3/4 of the open-files limit); past it, new
///   ones wait in the kernel's backlog. An accept error (such as running out
///   of file descriptors) pauses accepting, from 10 ms doubling up to 1 s.
/// - HTTP/2: at most 200 concurrent streams per connection; `GOAWAY` after
///   20 streams reset by the client before being answered ("rapid reset")
///   or 1 024 streams reset for client errors; header lists up to 16 KiB;
///   an idle connection is pinged every 20 s and closed if the ping is not
///   answered within 20 s. HTTP/1 headers: at most 100, within hyper's
///   buffer of about 400 KiB.
///
/// A request counts as in flight, for the drain and for
/// [`ServerError::RequestsCut`], from the call of the service until the
/// last byte of its response is written to the connection.
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
    limits: Limits,
    #[cfg(feature = "tls")]
    tls: Option<tls::Tls>,
    addr: Arc<watch::Sender<Option<SocketAddr>>>,
    stats: ServerStats,
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
            limits: Limits::default(),
            #[cfg(feature = "tls")]
            tls: None,
            addr: Arc::new(watch::Sender::new(None)),
            stats: ServerStats::default(),
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

    /// How long a new connection may take to send its first request's
    /// header (the detection of HTTP/1 or HTTP/2 included), and an HTTP/1
    /// connection each later request's header — hyper's
    /// `header_read_timeout`, which also closes an HTTP/1 keep-alive
    /// connection idle that long. A connection that overruns it is closed,
    /// logged at debug and counted in [`ServerStats::header_timeouts`].
    /// For TLS connections it starts once the handshake is done. 10 s by
    /// default.
    ///
    /// ```
    /// # use axum::Router;
    /// use orchestra::HttpServer;
    /// use std::time::Duration;
    ///
    /// let server: HttpServer = HttpServer::bind(([127, 0, 0, 1], 8080), Router::new())
    ///     .header_timeout(Duration::from_secs(5));
    /// # let _ = server;
    /// ```
    #[must_use]
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_timeout = timeout;
        self
    }

    /// How many connections may be open at once. At the limit the server
    /// stops accepting: new connections wait in the kernel's listen backlog
    /// until an open one closes, then are served. By default 3/4 of the
    /// process's soft limit on open files when the server starts (read from
    /// `/proc/self/limits` on Linux), leaving the rest to the application;
    /// 10 000 where that limit cannot be read. The number open is
    /// [`ServerStats::open_connections`].
    ///
    /// ```
    /// # use axum::Router;
    /// use orchestra::HttpServer;
    ///
    /// let server: HttpServer =
    ///     HttpServer::bind(([127, 0, 0, 1], 8080), Router::new()).max_connections(2_000);
    /// # let _ = server;
    /// ```
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = Some(max);
        self
    }

    /// Live figures of the server, across its runs: open connections, and
    /// connections closed by its timeouts. Take it before handing the server
    /// to a conductor.
    ///
    /// ```
    /// # use axum::Router;
    /// use orchestra::HttpServer;
    ///
    /// let server: HttpServer = HttpServer::bind(([127, 0, 0, 1], 8080), Router::new());
    /// let stats = server.stats();
    /// // ... later, from a handler or a health check:
    /// let open = stats.open_connections();
    /// # let _ = open;
    /// ```
    pub fn stats(&self) -> ServerStats {
        self.stats.clone()
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
            .field("bind_backoff", &self.bind_backoff)
            .field("limits", &self.limits);
        #[cfg(feature = "tls")]
        debug.field("tls", &self.tls.is_some());
        debug.finish_non_exhaustive()
    }
}

impl<S: HttpService> Player for HttpServer<S> {
    /// Binds, serves until `ctx` is cancelled, then drains; see
    /// [`HttpServer`] for each step and what the run returns.
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        let invalid = self
            .bind_backoff
            .validate()
            .map_err(|message| format!("bind_backoff: {message}"))
            .and_then(|()| self.limits.validate());
        if let Err(message) = invalid {
            return Err(Error::Config {
                path: ctx.path().into(),
                message,
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

        let meter = self.stats.meter(ctx.path());
        let mut serving = Serving::new(self.service.clone(), tls, self.limits.clone(), meter);
        let move_away = serving.move_clients_away();
        {
            let mut accepting = std::pin::pin!(serving.accept_until_cancelled(&listener, &ctx));
            tokio::select! {
                biased;
                () = &mut accepting => {}
                () = ctx.draining() => {
                    if !ctx.is_cancelled() {
                        tracing::info!("draining: serving on, asking clients to reconnect elsewhere");
                        move_away.cancel();
                    }
                    accepting.await;
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::{DEFAULT_SHUTDOWN_TIMEOUT, default_shutdown_timeout};
    use std::time::Duration;

    #[test]
    fn the_default_shutdown_timeout_is_four_fifths_of_a_short_stop_timeout() {
        let stop = Duration::from_secs(5);
        assert_eq!(default_shutdown_timeout(Some(stop)), Duration::from_secs(4));
        assert_eq!(
            default_shutdown_timeout(Some(Duration::MAX)),
            DEFAULT_SHUTDOWN_TIMEOUT,
            "no overflow"
        );
        assert_eq!(default_shutdown_timeout(None), DEFAULT_SHUTDOWN_TIMEOUT);
    }
}
