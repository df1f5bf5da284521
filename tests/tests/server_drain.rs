//! The HTTP server player while the run drains: it keeps accepting and
//! serving, and asks every client to reconnect elsewhere.
#![cfg(feature = "server")]

#[path = "server/client.rs"]
mod client;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use client::{H2, Outcome};
use orchestra::{Conductor, HttpServer, PlayExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::timeout;

/// A bound against a hang, never a speed assertion.
const HANG: Duration = Duration::from_secs(60);

/// A server in a run with a long drain, stopped (so draining) once the
/// returned sender is used.
async fn draining_server() -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let app = Router::new().route("/", get(|| async { "hello" }));
    let server = HttpServer::bind(([127, 0, 0, 1], 0), app);
    let local = server.local_addr();
    let mut conductor = Conductor::named("app");
    conductor.add("http", server).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        let _ = conductor
            .runner()
            .drain(Duration::from_secs(600))
            .play_until(async {
                let _ = stopped.await;
            })
            .await;
    });
    let addr = timeout(HANG, local.listening()).await.unwrap().unwrap();
    (addr, stop, run)
}

/// `GET /` over HTTP/1.1 keep-alive on `stream`: the response's head and
/// body, as text.
async fn raw_get(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buffer = [0; 1024];
    while !response.ends_with(b"hello") {
        let n = timeout(HANG, stream.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the response: {response:?}");
        response.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&response).to_lowercase()
}

/// Waits until the server answers with `Connection: close` (it drains).
async fn until_draining(addr: SocketAddr) {
    timeout(HANG, async {
        loop {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            if raw_get(&mut stream).await.contains("connection: close") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn while_draining_http1_responses_say_connection_close_and_new_connections_are_served() {
    let (addr, stop, run) = draining_server().await;
    let mut kept = TcpStream::connect(addr).await.unwrap();
    let before = raw_get(&mut kept).await;
    assert!(!before.contains("connection: close"), "{before}");

    stop.send(()).unwrap();
    until_draining(addr).await;

    // The connection opened before the drain is answered, then closed.
    let during = raw_get(&mut kept).await;
    assert!(during.contains("connection: close"), "{during}");
    let mut rest = Vec::new();
    let n = timeout(HANG, kept.read_to_end(&mut rest)).await.unwrap();
    assert_eq!(n.unwrap(), 0, "closed by the server after the response");

    // The listener stays open: new clients are still served.
    assert!(client::get(addr, "/").await.is_ok_with("hello"));
    run.abort();
}

#[tokio::test]
async fn while_draining_an_http2_connection_gets_goaway_after_answering() {
    let (addr, stop, run) = draining_server().await;
    let h2 = H2::connect(addr).await;
    assert!(h2.get("/").await.is_ok_with("hello"));

    stop.send(()).unwrap();
    until_draining(addr).await;

    // The request that meets the drain is answered; the connection then
    // says GOAWAY, and takes no new stream.
    assert!(h2.get("/").await.is_ok_with("hello"));
    let next = timeout(HANG, async {
        loop {
            match h2.get("/").await {
                Outcome::Complete(..) => tokio::time::sleep(Duration::from_millis(10)).await,
                other => return other,
            }
        }
    })
    .await
    .unwrap();
    assert!(matches!(next, Outcome::NoResponse(_)), "{next:?}");
    // A new connection is served.
    assert!(H2::connect(addr).await.get("/").await.is_ok_with("hello"));
    run.abort();
}
