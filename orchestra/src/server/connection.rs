//! Serving one connection, and counting the requests in flight.

use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;
use tracing::Instrument;

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
    /// Cancelled when the server stops.
    pub(super) drain: CancellationToken,
    pub(super) requests: Arc<AtomicUsize>,
    pub(super) connections: Arc<AtomicUsize>,
    pub(super) first_request_grace: Duration,
}

impl<S, B> Connection<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Serves the connection until it closes, finishing gracefully once the
    /// server stops.
    pub(super) async fn serve(self, stream: TcpStream) {
        let _open = Counted::new(&self.connections);
        // Once the server stops, a connection that has not started a request
        // gets a moment to start one.
        let drain = self.drain.clone();
        let wait = self.first_request_grace;
        let grace = async move {
            drain.cancelled().await;
            sleep(wait).await;
        };
        let grace = Box::pin(grace);
        match self.tls.clone() {
            None => self.http(stream, grace).await,
            #[cfg(feature = "tls")]
            Some(acceptor) => {
                let mut grace = grace;
                let stream = tokio::select! {
                    stream = acceptor.accept(stream) => stream,
                    () = grace.as_mut() => return,
                };
                match stream {
                    Ok(stream) => self.http(stream, grace).await,
                    Err(error) => tracing::debug!(%error, "TLS handshake failed"),
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
        let service = Tracked {
            inner: self.service,
            requests: self.requests,
            first_request: first_request.clone(),
        };
        let conn = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service);
        let mut conn = pin!(conn);
        let done = tokio::select! {
            done = conn.as_mut() => done,
            () = self.drain.cancelled() => {
                if !first_request.is_cancelled() {
                    tokio::select! {
                        done = conn.as_mut() => return closed(done),
                        () = first_request.cancelled() => {}
                        () = grace => {}
                    }
                }
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        closed(done);
    }
}

fn closed(done: Result<(), BoxError>) {
    match done {
        Ok(()) => tracing::trace!("connection closed"),
        Err(error) => tracing::debug!(%error, "connection closed"),
    }
}

/// Increments a counter while it lives.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Counted(counter.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The user's service, counting each request from the call until its
/// response body is sent or dropped.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    requests: Arc<AtomicUsize>,
    first_request: CancellationToken,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = Counted::new(&self.requests);
        if !self.first_request.is_cancelled() {
            self.first_request.cancel();
        }
        let mut service = self.inner.clone();
        Box::pin(async move {
            poll_fn(|cx| service.poll_ready(cx)).await?;
            let response = service.call(request).await?;
            Ok(response.map(|body| TrackedBody {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that counts its request as in flight until it is
    /// sent or dropped.
    struct TrackedBody<B> {
        #[pin]
        body: B,
        _in_flight: Counted,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
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
