//! Serving one connection: the TLS handshake and the first request within
//! their timeouts, then HTTP until the connection closes or is told to.

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::flight::{Flight, Flushed, Tracked};
use super::service::HttpService;
use super::stats::Meter;
use crate::error::BoxError;

/// What a TLS connection is accepted with.
#[cfg(feature = "tls")]
pub(super) type TlsAcceptor = tokio_rustls::TlsAcceptor;

/// Without the `tls` feature there is no TLS acceptor.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub(super) enum TlsAcceptor {}

/// One accepted connection and what it needs to be served.
pub(super) struct Connection<S> {
    pub(super) service: S,
    pub(super) builder: Arc<auto::Builder<Executor>>,
    pub(super) tls: Option<TlsAcceptor>,
    /// Cancelled when the connections are asked to close (the server
    /// stops): each finishes its current requests, then closes.
    pub(super) closing: CancellationToken,
    /// Cancelled while the server drains: clients are asked to move away
    /// (see `Tracked`), connections stay open.
    pub(super) draining: CancellationToken,
    pub(super) requests: Arc<AtomicUsize>,
    pub(super) meter: Meter,
    /// Its place under the connection limit, given back when it closes.
    pub(super) _slot: OwnedSemaphorePermit,
    pub(super) header_timeout: Duration,
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(super) tls_handshake_timeout: Duration,
    pub(super) first_request_grace: Duration,
}

impl<S: HttpService> Connection<S> {
    /// Serves the connection until it closes, finishing gracefully once the
    /// connections are asked to close.
    pub(super) async fn serve(self, stream: TcpStream) {
        let _open = self.meter.open();
        // Once asked to close, a connection that has not started a request
        // gets a moment to start one.
        let closing = self.closing.clone();
        let wait = self.first_request_grace;
        let grace = Box::pin(async move {
            closing.cancelled().await;
            sleep(wait).await;
        });
        match self.tls.clone() {
            None => self.http(stream, grace).await,
            #[cfg(feature = "tls")]
            Some(acceptor) => {
                let mut grace = grace;
                let handshake =
                    tokio::time::timeout(self.tls_handshake_timeout, acceptor.accept(stream));
                let stream = tokio::select! {
                    stream = handshake => stream,
                    () = grace.as_mut() => return,
                };
                match stream {
                    Ok(Ok(stream)) => self.http(stream, grace).await,
                    Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                    Err(_elapsed) => {
                        self.meter.handshake_timeout();
                        tracing::debug!(
                            timeout = ?self.tls_handshake_timeout,
                            "TLS handshake timed out; closing the connection"
                        );
                    }
                }
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match never {},
        }
    }

    async fn http<I>(self, io: I, grace: Pin<Box<impl Future<Output = ()> + Send>>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let first_request = CancellationToken::new();
        let goaway = CancellationToken::new();
        let flight = Flight::new(&self.requests);
        let service = Tracked {
            inner: self.service.clone(),
            flight: flight.clone(),
            first_request: first_request.clone(),
            draining: self.draining.clone(),
            goaway: goaway.clone(),
        };
        let io = TokioIo::new(Flushed::new(io, flight));
        let conn = self.builder.serve_connection_with_upgrades(io, service);
        let mut conn = pin!(conn);
        // Protocol detection and the first request's header must come within
        // the header timeout (hyper's own covers the later HTTP/1 headers).
        let silent = async {
            tokio::select! {
                biased;
                () = first_request.cancelled() => std::future::pending().await,
                () = sleep(self.header_timeout) => {}
            }
        };
        let done = tokio::select! {
            done = conn.as_mut() => done,
            () = silent => {
                self.meter.header_timeout();
                tracing::debug!(
                    timeout = ?self.header_timeout,
                    "no request within the header timeout; closing the connection"
                );
                return;
            }
            // An HTTP/2 request while draining: `GOAWAY`, and the streams
            // under way finish.
            () = goaway.cancelled() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
            () = self.closing.cancelled() => {
                if !first_request.is_cancelled() {
                    tokio::select! {
                        done = conn.as_mut() => return self.closed(done),
                        () = first_request.cancelled() => {}
                        () = grace => {}
                    }
                }
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        self.closed(done);
    }

    fn closed(&self, done: Result<(), BoxError>) {
        match done {
            Ok(()) => tracing::trace!("connection closed"),
            Err(error) if is_header_timeout(&error) => {
                self.meter.header_timeout();
                tracing::debug!(
                    timeout = ?self.header_timeout,
                    "no request header within the header timeout; closed the connection"
                );
            }
            Err(error) => tracing::debug!(%error, "connection closed"),
        }
    }
}

fn is_header_timeout(error: &BoxError) -> bool {
    error
        .downcast_ref::<hyper::Error>()
        .is_some_and(hyper::Error::is_timeout)
}

/// Spawns HTTP/2 streams on the run's tracker, so that the drain waits for
/// them and a cut aborts them.
#[derive(Clone)]
pub(super) struct Executor {
    tasks: TaskTracker,
    abort: CancellationToken,
}

impl Executor {
    pub(super) fn new(tasks: &TaskTracker, abort: &CancellationToken) -> Self {
        Executor {
            tasks: tasks.clone(),
            abort: abort.clone(),
        }
    }
}

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        let future = self.abort.clone().run_until_cancelled_owned(future);
        self.tasks.spawn(future.in_current_span());
    }
}
