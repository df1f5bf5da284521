//! Counting the requests in flight: from the call of the service until the
//! last byte of their response is written to the connection.
//!
//! A response's body ends before its bytes are written: hyper buffers them
//! (HTTP/1), or queues them for the connection task (HTTP/2). So a request
//! whose body ended stays in flight, *unconfirmed*, until its connection
//! next flushes successfully: everything hyper had handed to the
//! connection by then has been written. The body is handed over in chunks
//! of at most [`CHUNK`] bytes, so that it ends only once HTTP/2 flow control
//! let all but its last chunks through.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue};
use hyper::{Request, Response, Version};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

use super::service::HttpService;

/// The largest piece of a response body handed to hyper at once.
const CHUNK: usize = 64 * 1024;

/// The requests of one connection whose body ended but whose bytes may not
/// be written yet; they count in the run's `requests` until confirmed.
pub(super) struct Flight {
    unconfirmed: AtomicUsize,
    requests: Arc<AtomicUsize>,
}

impl Flight {
    pub(super) fn new(requests: &Arc<AtomicUsize>) -> Arc<Self> {
        Arc::new(Flight {
            unconfirmed: AtomicUsize::new(0),
            requests: requests.clone(),
        })
    }

    /// A request begins: in flight until its [`InFlight`] ends and is confirmed.
    fn start(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::SeqCst);
        InFlight {
            flight: self.clone(),
            ended: false,
        }
    }

    /// The connection flushed: every response whose body ended before is written.
    fn confirm(&self) {
        let written = self.unconfirmed.swap(0, Ordering::SeqCst);
        if written > 0 {
            self.requests.fetch_sub(written, Ordering::SeqCst);
        }
    }
}

impl Drop for Flight {
    /// The connection is gone: its requests are no longer in flight, written
    /// or not (a cut is counted before its connections are dropped).
    fn drop(&mut self) {
        self.confirm();
    }
}

/// One request in flight.
struct InFlight {
    flight: Arc<Flight>,
    ended: bool,
}

impl InFlight {
    /// Its body handed its last frame over: in flight until confirmed.
    ///
    /// Called *before* that frame goes to hyper, so that no flush can write
    /// the frame and confirm before the request is counted as unconfirmed.
    fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            self.flight.unconfirmed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for InFlight {
    /// Dropped before its body ended: the handler failed, or hyper gave up on
    /// the response (the client left). Not in flight any more.
    fn drop(&mut self) {
        if !self.ended {
            self.flight.requests.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The user's service, counting each request in flight, telling when the
/// connection's first request arrived, and, while the server drains, asking
/// the client to move away: an HTTP/1 response carries `Connection: close`,
/// an HTTP/2 request makes its connection send `GOAWAY`.
#[derive(Clone)]
pub(super) struct Tracked<S> {
    pub(super) inner: S,
    pub(super) flight: Arc<Flight>,
    pub(super) first_request: CancellationToken,
    /// Cancelled while the server drains (the run's lame-duck time).
    pub(super) draining: CancellationToken,
    /// Cancelled to make this (HTTP/2) connection send `GOAWAY`.
    pub(super) goaway: CancellationToken,
}

impl<S: HttpService> hyper::service::Service<Request<Incoming>> for Tracked<S> {
    type Response = Response<TrackedBody<S::ResponseBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut in_flight = self.flight.start();
        if !self.first_request.is_cancelled() {
            self.first_request.cancel();
        }
        // HTTP/2 clients retry elsewhere what `GOAWAY` says was not taken;
        // an HTTP/1 client learns it must reconnect from the response.
        let close = self.draining.is_cancelled() && request.version() < Version::HTTP_2;
        if self.draining.is_cancelled() && !close {
            self.goaway.cancel();
        }
        let mut service = self.inner.clone();
        Box::pin(async move {
            poll_fn(|cx| service.poll_ready(cx)).await?;
            let mut response = service.call(request).await?;
            if close {
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response.map(|body| {
                if body.is_end_stream() {
                    in_flight.end(); // hyper will not poll it: only the head is left
                }
                TrackedBody {
                    body,
                    in_flight,
                    rest: None,
                }
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body handed over in chunks, which tells its request when
    /// its last frame goes.
    pub(super) struct TrackedBody<B> {
        #[pin]
        body: B,
        in_flight: InFlight,
        // What is left of a data frame larger than `CHUNK`.
        rest: Option<Bytes>,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        let frame = match this.rest.take() {
            Some(rest) => Frame::data(rest),
            None => match std::task::ready!(this.body.as_mut().poll_frame(cx)) {
                None => {
                    this.in_flight.end();
                    return Poll::Ready(None);
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => Frame::data(data.copy_to_bytes(data.remaining())),
                    Err(frame) => frame.map_data(|mut data| data.copy_to_bytes(data.remaining())),
                },
            },
        };
        let frame = match frame.into_data() {
            Ok(mut data) => {
                if data.len() > CHUNK {
                    *this.rest = Some(data.split_off(CHUNK));
                }
                Frame::data(data)
            }
            Err(trailers) => trailers,
        };
        if this.rest.is_none() && this.body.is_end_stream() {
            this.in_flight.end();
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.body.size_hint();
        if let Some(rest) = &self.rest {
            let rest = rest.len() as u64;
            if let Some(upper) = hint.upper() {
                hint.set_upper(upper.saturating_add(rest));
            }
            hint.set_lower(hint.lower().saturating_add(rest));
        }
        hint
    }
}

pin_project_lite::pin_project! {
    /// A connection's byte stream, which confirms its flight on every
    /// successful flush.
    pub(super) struct Flushed<I> {
        #[pin]
        io: I,
        flight: Arc<Flight>,
    }
}

impl<I> Flushed<I> {
    pub(super) fn new(io: I, flight: Arc<Flight>) -> Self {
        Flushed { io, flight }
    }
}

impl<I: AsyncRead> AsyncRead for Flushed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<I: AsyncWrite> AsyncWrite for Flushed<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let flushed = this.io.poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            this.flight.confirm();
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}
