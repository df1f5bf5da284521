//! One run's connections, from accepting them to draining them.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, timeout};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::connection::{Connection, Executor, TlsAcceptor};
use super::error::ServerError;
use super::limits::Limits;
use super::service::HttpService;
use super::stats::Meter;
use crate::context::Context;
use crate::error::BoxError;

/// How long a connection that has not sent its first request yet is given to
/// send it once the connections are asked to close.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// The first pause after an accept error that is not about one connection
/// (such as running out of file descriptors); each next one doubles, up to
/// [`MAX_ACCEPT_PAUSE`].
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// At most this many connections already queued by the kernel are taken in
/// when the server stops.
const MAX_QUEUED: usize = 1024;

/// One run's connections, from accepting them to draining them.
pub(super) struct Serving<S> {
    service: S,
    builder: Arc<auto::Builder<Executor>>,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    /// The connection limit of this run.
    max_connections: usize,
    meter: Meter,
    /// A permit per connection that may open (`max_connections`).
    slots: Arc<Semaphore>,
    /// Every connection task and every HTTP/2 stream task of the run.
    tasks: TaskTracker,
    /// Cancelled when the connections are asked to close.
    closing: CancellationToken,
    /// Cancelled when the clients are asked to move away (the drain phase).
    draining: CancellationToken,
    /// Cancelled when the drain is cut short: connections are dropped. Also
    /// cancelled if the run itself is dropped, so no task outlives it.
    abort: CancellationToken,
    _abort_on_drop: DropGuard,
    /// Requests whose handler runs or whose response is not written yet.
    requests: Arc<AtomicUsize>,
}

impl<S: HttpService> Serving<S> {
    pub(super) fn new(service: S, tls: Option<TlsAcceptor>, limits: Limits, meter: Meter) -> Self {
        let tasks = TaskTracker::new();
        let abort = CancellationToken::new();
        let builder = limits.builder(Executor::new(&tasks, &abort));
        let max_connections = limits.max_connections().min(Semaphore::MAX_PERMITS);
        Serving {
            service,
            builder: Arc::new(builder),
            tls,
            limits,
            max_connections,
            meter,
            slots: Arc::new(Semaphore::new(max_connections)),
            tasks,
            closing: CancellationToken::new(),
            draining: CancellationToken::new(),
            _abort_on_drop: abort.clone().drop_guard(),
            abort,
            requests: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A token that, cancelled, asks every client to move away while the
    /// server keeps accepting and serving (the run's drain phase): HTTP/1
    /// responses carry `Connection: close`, an HTTP/2 connection sends
    /// `GOAWAY` at its next request. Idle connections are left open until
    /// the stop, when closing them can race no request in flight.
    pub(super) fn move_clients_away(&self) -> CancellationToken {
        self.draining.clone()
    }

    /// Accepts connections until `ctx` is cancelled. At the connection limit
    /// it stops accepting (new connections wait in the kernel's backlog)
    /// until one closes; after an accept error it pauses, longer each time.
    pub(super) async fn accept_until_cancelled(&mut self, listener: &TcpListener, ctx: &Context) {
        let mut pause = FIRST_ACCEPT_PAUSE;
        let mut failing = false;
        let mut at_limit_before = false;
        loop {
            let slots = self.slots.clone();
            let limit = self.max_connections;
            let Some(slot) = slot(slots, limit, ctx, &mut at_limit_before).await else {
                return;
            };
            let accepted = tokio::select! {
                biased;
                () = ctx.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    if failing {
                        tracing::info!("accepting connections again");
                        (failing, pause) = (false, FIRST_ACCEPT_PAUSE);
                    }
                    self.spawn(stream, peer, slot);
                }
                Err(error) if is_connection_error(&error) => {
                    tracing::debug!(%error, "connection failed before it was accepted");
                }
                Err(error) => {
                    if failing {
                        tracing::debug!(%error, ?pause, "cannot accept connections");
                    } else {
                        tracing::error!(%error, ?pause, "cannot accept connections; pausing");
                        failing = true;
                    }
                    if ctx.run_until_cancelled(sleep(pause)).await.is_none() {
                        return;
                    }
                    pause = (pause * 2).min(MAX_ACCEPT_PAUSE);
                }
            }
        }
    }

    /// Takes in the connections the kernel accepted before the stop (as many
    /// as the connection limit allows), then closes the listener, so that
    /// new connections are refused.
    pub(super) fn take_queued(&self, listener: TcpListener) {
        let listener = match listener.into_std() {
            Ok(listener) => listener,
            Err(error) => {
                tracing::debug!(%error, "cannot take queued connections");
                return;
            }
        };
        for _ in 0..MAX_QUEUED {
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                break;
            };
            let Ok((stream, peer)) = listener.accept() else {
                break; // `WouldBlock`: the queue is empty
            };
            let stream = stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(stream));
            match stream {
                Ok(stream) => self.spawn(stream, peer, slot),
                Err(error) => tracing::debug!(%error, %peer, "cannot take a queued connection"),
            }
        }
    }

    fn spawn(&self, stream: TcpStream, peer: SocketAddr, slot: OwnedSemaphorePermit) {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %peer, "cannot set TCP_NODELAY");
        }
        let connection = Connection {
            service: self.service.clone(),
            builder: self.builder.clone(),
            tls: self.tls.clone(),
            closing: self.closing.clone(),
            draining: self.draining.clone(),
            requests: self.requests.clone(),
            meter: self.meter.clone(),
            _slot: slot,
            header_timeout: self.limits.header_timeout,
            tls_handshake_timeout: self.limits.tls_handshake_timeout,
            first_request_grace: FIRST_REQUEST_GRACE,
        };
        // Within the player's span even when the connection's own is disabled.
        let span = tracing::debug_span!("connection", %peer);
        let task = connection.serve(stream).instrument(span).in_current_span();
        self.tasks
            .spawn(self.abort.clone().run_until_cancelled_owned(task));
    }

    /// Asks every connection, open now or accepted later, to close once its
    /// current requests are answered: HTTP/1 responses go out with
    /// `Connection: close`, HTTP/2 connections get `GOAWAY`, idle ones close
    /// at once. The listener is left alone: this is also the step of a drain
    /// phase that still accepts.
    pub(super) fn close_connections(&self) {
        self.closing.cancel();
    }

    /// Lets every connection finish within `limit`, then cuts the rest.
    pub(super) async fn drain(self, limit: Duration) -> Result<(), BoxError> {
        let open = self.slots_taken();
        tracing::info!(
            connections = open,
            requests = self.requests.load(Ordering::SeqCst),
            "stopped accepting; draining"
        );
        self.close_connections();
        self.tasks.close();
        if timeout(limit, self.tasks.wait()).await.is_ok() {
            tracing::info!("drained");
            return Ok(());
        }
        let requests = self.requests.load(Ordering::SeqCst);
        let connections = self.slots_taken();
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

    /// The connections open now.
    fn slots_taken(&self) -> usize {
        self.max_connections
            .saturating_sub(self.slots.available_permits())
    }
}

/// A place for one more connection, waiting while the server is at its
/// connection limit; `None` if `ctx` is cancelled first. Warns the first
/// time the run reaches its limit, then logs at debug.
async fn slot(
    slots: Arc<Semaphore>,
    max_connections: usize,
    ctx: &Context,
    warned: &mut bool,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(slot) = slots.clone().try_acquire_owned() {
        return Some(slot);
    }
    if *warned {
        tracing::debug!(max_connections, "at the connection limit");
    } else {
        *warned = true;
        tracing::warn!(
            max_connections,
            "at the connection limit; accepting again once a connection closes"
        );
    }
    let slot = ctx.run_until_cancelled(slots.acquire_owned()).await?;
    slot.ok() // never closed
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
