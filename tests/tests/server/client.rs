//! A small HTTP client for the server player's tests: every request says
//! whether it got a complete response, failed before any response (the
//! server never took it), or broke after its response began.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response: its status and body.
    Complete(StatusCode, String),
    /// No response at all: refused, reset, or closed before any byte.
    NoResponse(String),
    /// The response began but did not complete.
    Broken(String),
}

impl Outcome {
    /// Whether this is a complete `200 OK` with `body`.
    pub fn is_ok_with(&self, body: &str) -> bool {
        matches!(self, Outcome::Complete(StatusCode::OK, b) if b == body)
    }
}

/// `GET path` over HTTP/1.1 on a new connection.
pub async fn get(addr: SocketAddr, path: &str) -> Outcome {
    match TcpStream::connect(addr).await {
        Ok(stream) => get_on(stream, path).await,
        Err(error) => Outcome::NoResponse(format!("connect: {error}")),
    }
}

/// `GET path` over HTTP/1.1 on a connection already open (plain or TLS).
pub async fn get_on<I>(io: I, path: &str) -> Outcome
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = match http1::handshake(TokioIo::new(io)).await {
        Ok(handshake) => handshake,
        Err(error) => return Outcome::NoResponse(format!("handshake: {error}")),
    };
    let request = Request::get(path)
        .header(hyper::header::HOST, "localhost")
        .body(Empty::<Bytes>::new())
        .expect("a valid request");
    let exchange = async move {
        let outcome = match sender.send_request(request).await {
            Ok(response) => read(response).await,
            Err(error) => Outcome::NoResponse(error.to_string()),
        };
        drop(sender);
        outcome
    };
    let (outcome, _closed) = tokio::join!(exchange, conn);
    outcome
}

/// An HTTP/2 connection (prior knowledge over plain TCP, or ALPN over TLS).
#[derive(Clone)]
pub struct H2 {
    sender: http2::SendRequest<Empty<Bytes>>,
    authority: String,
}

impl H2 {
    /// Opens an HTTP/2 connection on `io`; its driver runs on a task of its own.
    pub async fn handshake<I>(io: I, authority: &str) -> Result<H2, hyper::Error>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await?;
        tokio::spawn(conn);
        Ok(H2 {
            sender,
            authority: authority.to_owned(),
        })
    }

    /// Opens an HTTP/2 connection to `addr` without TLS.
    pub async fn connect(addr: SocketAddr) -> H2 {
        let stream = TcpStream::connect(addr).await.expect("connect");
        H2::handshake(stream, &addr.to_string())
            .await
            .expect("HTTP/2 handshake")
    }

    /// `GET path` as a new stream.
    pub async fn get(&self, path: &str) -> Outcome {
        let mut sender = self.sender.clone();
        let uri = format!("http://{}{path}", self.authority);
        let request = Request::get(uri)
            .body(Empty::<Bytes>::new())
            .expect("a valid request");
        match sender.send_request(request).await {
            Ok(response) => read(response).await,
            Err(error) => Outcome::NoResponse(error.to_string()),
        }
    }
}

async fn read(response: hyper::Response<hyper::body::Incoming>) -> Outcome {
    let status = response.status();
    match response.into_body().collect().await {
        Ok(body) => Outcome::Complete(
            status,
            String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        ),
        Err(error) => Outcome::Broken(format!("{status}, then: {error}")),
    }
}
