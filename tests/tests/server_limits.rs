//! The HTTP server player against hostile or slow clients: silent
//! connections, too many connections, and responses cut while being sent.
#![cfg(feature = "server")]

#[path = "server/client.rs"]
mod client;
#[path = "server/running.rs"]
mod running;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use orchestra::CancellationToken;
use orchestra::{HttpServer, ServerError};
use running::spawn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

const LOOPBACK: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

/// A response body far larger than what the kernel buffers on loopback.
const BIG: usize = 32 << 20;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn app() -> Router {
    Router::new()
        .route("/fast", get(|| async { "fast" }))
        .route("/big", get(|| async { vec![b'x'; BIG] }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(secs(20)).await;
                "slow"
            }),
        )
}

/// Reads until the connection is closed (or reset); returns what came.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received).await;
    received
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_closed_at_the_header_timeout() {
    let server = HttpServer::bind(LOOPBACK, app()).header_timeout(secs(5));
    let (local, stats) = (server.local_addr(), server.stats());
    let stop = CancellationToken::new();
    let running = spawn(server, &stop);
    let addr = local.listening().await.expect("listening");

    // Nothing; half an HTTP/1 request line; half the HTTP/2 preface.
    for sent in ["", "GET /fast HT", "PRI * HTTP/2.0\r\n"] {
        let mut silent = TcpStream::connect(addr).await.unwrap();
        silent.write_all(sent.as_bytes()).await.unwrap();
        let t0 = Instant::now();

        let received = read_until_closed(&mut silent).await;

        assert_eq!(
            t0.elapsed(),
            secs(5),
            "closed at the header timeout ({sent:?})"
        );
        assert!(received.is_empty(), "{sent:?}: {received:?}");
    }
    assert_eq!(stats.header_timeouts(), 3);
    assert_eq!(stats.open_connections(), 0);
    // A client that speaks is still served.
    assert!(client::get(addr, "/fast").await.is_ok_with("fast"));
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_idle_http1_connection_is_closed_at_the_header_timeout_too() {
    let server = HttpServer::bind(LOOPBACK, app()).header_timeout(secs(5));
    let (local, stats) = (server.local_addr(), server.stats());
    let stop = CancellationToken::new();
    let running = spawn(server, &stop);
    let addr = local.listening().await.expect("listening");

    let mut keep_alive = TcpStream::connect(addr).await.unwrap();
    let response = request(&mut keep_alive, "/fast").await;
    assert!(response.ends_with("fast"), "{response}");
    let t0 = Instant::now();
    let received = read_until_closed(&mut keep_alive).await;

    assert_eq!(t0.elapsed(), secs(5), "hyper's header timeout");
    assert!(received.is_empty());
    assert_eq!(stats.header_timeouts(), 1);
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_handler_slower_than_the_header_timeout_is_not_cut() {
    let server = HttpServer::bind(LOOPBACK, app()).header_timeout(secs(5));
    let (local, stats) = (server.local_addr(), server.stats());
    let stop = CancellationToken::new();
    let running = spawn(server, &stop);
    let addr = local.listening().await.expect("listening");

    let http1 = client::get(addr, "/slow").await;
    let http2 = client::H2::connect(addr).await.get("/slow").await;

    assert!(http1.is_ok_with("slow"), "{http1:?}");
    assert!(http2.is_ok_with("slow"), "{http2:?}");
    assert_eq!(stats.header_timeouts(), 0);
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// `GET path` on a keep-alive HTTP/1.1 connection; the response's head and
/// body, read up to the end of a short body.
async fn request(stream: &mut TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0; 1024];
    while !String::from_utf8_lossy(&response).contains("\r\n\r\n") || response.ends_with(b"\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&response));
        response.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(start_paused = true)]
async fn at_max_connections_a_new_connection_waits_until_one_closes() {
    let server = HttpServer::bind(LOOPBACK, app()).max_connections(1);
    let (local, stats) = (server.local_addr(), server.stats());
    let stop = CancellationToken::new();
    let running = spawn(server, &stop);
    let addr = local.listening().await.expect("listening");

    let mut first = TcpStream::connect(addr).await.unwrap();
    let response = request(&mut first, "/fast").await;
    assert!(response.ends_with("fast"), "{response}");
    let mut second = tokio::spawn(client::get(addr, "/fast"));

    let waited = timeout(secs(3), &mut second).await;
    assert!(waited.is_err(), "not served while at the limit: {waited:?}");
    assert_eq!(stats.open_connections(), 1);

    drop(first);
    let outcome = timeout(secs(3), second)
        .await
        .expect("served once the first connection closed")
        .unwrap();
    assert!(outcome.is_ok_with("fast"), "{outcome:?}");
    stop.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(stats.open_connections(), 0);
}

/// Stops the server once `started` resolves, and returns the error of its run.
async fn cut_error(
    server: HttpServer,
    started: impl Future<Output = ()>,
    stop: CancellationToken,
) -> orchestra::BoxError {
    let running = spawn(server, &stop);
    started.await;
    stop.cancel();
    running
        .await
        .unwrap()
        .expect_err("the response being sent was cut")
}

fn assert_one_request_cut(error: &orchestra::BoxError) {
    assert!(
        matches!(
            error.downcast_ref::<ServerError>(),
            Some(ServerError::RequestsCut {
                requests: 1,
                connections: 1,
                ..
            })
        ),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_http1_response_cut_while_being_sent_is_reported() {
    let server = HttpServer::bind(LOOPBACK, app()).shutdown_timeout(secs(1));
    let local = server.local_addr();
    let stop = CancellationToken::new();
    let started = async {
        let addr = local.listening().await.expect("listening");
        let mut reader = TcpStream::connect(addr).await.unwrap();
        let request = "GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n";
        reader.write_all(request.as_bytes()).await.unwrap();
        let mut head = [0; 12];
        reader.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        reader // kept open, never read again
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = async {
        let _ = tx.send(started.await);
    };

    let error = cut_error(server, started, stop).await;

    assert_one_request_cut(&error);
    drop(rx);
}

#[tokio::test(start_paused = true)]
async fn an_http2_response_cut_while_being_sent_is_reported() {
    let server = HttpServer::bind(LOOPBACK, app()).shutdown_timeout(secs(1));
    let local = server.local_addr();
    let stop = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = async {
        let addr = local.listening().await.expect("listening");
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = Request::get(format!("http://{addr}/big"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let _ = tx.send((sender, response)); // the body is never read
    };

    let error = cut_error(server, started, stop).await;

    assert_one_request_cut(&error);
    drop(rx);
}

#[tokio::test(start_paused = true)]
async fn a_large_response_read_to_the_end_is_not_cut() {
    let server = HttpServer::bind(LOOPBACK, app()).shutdown_timeout(secs(1));
    let local = server.local_addr();
    let stop = CancellationToken::new();
    let running = spawn(server, &stop);
    let addr = local.listening().await.expect("listening");

    let mut reader = TcpStream::connect(addr).await.unwrap();
    let request = "GET /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    reader.write_all(request.as_bytes()).await.unwrap();
    let received = read_until_closed(&mut reader).await;
    stop.cancel();

    assert!(received.len() > BIG, "{}", received.len());
    running.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_longest_header_timeout_serves_without_overflowing() {
    // hyper adds the header timeout to an instant for every HTTP/1 request.
    let server = HttpServer::bind(LOOPBACK, app()).header_timeout(Duration::MAX);
    let local = server.local_addr();
    let stop = CancellationToken::new();
    let running = spawn(server, &stop);
    let addr = local.listening().await.expect("listening");

    let http1 = client::get(addr, "/fast").await;

    assert!(http1.is_ok_with("fast"), "{http1:?}");
    stop.cancel();
    running.await.unwrap().unwrap();
}
