//! The HTTP server player over TLS, with a self-signed certificate made here.
#![cfg(feature = "server")]

#[path = "server/client.rs"]
mod client;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use client::H2;
use orchestra::CancellationToken;
use orchestra::{Context, HttpServer, Player, ServerError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A guard against a hang: never a speed assertion.
const HANG: Duration = Duration::from_secs(120);

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM
/// files in a directory of its own.
struct Certificate {
    der: CertificateDer<'static>,
    cert: PathBuf,
    key: PathBuf,
}

impl Certificate {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("a certificate");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "server-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
        Certificate {
            der: cert.der().clone(),
            cert: cert_path,
            key: key_path,
        }
    }

    /// Connects to `addr` trusting this certificate only, offering `alpn`.
    async fn connect(&self, addr: SocketAddr, alpn: &[u8]) -> TlsStream<TcpStream> {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        let tcp = TcpStream::connect(addr).await.unwrap();
        TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .expect("TLS handshake")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http1_and_http2_over_tls_with_a_self_signed_certificate() {
    timeout(HANG, async {
        let certificate = Certificate::new();
        let app = Router::new().route("/", get(|| async { "secure" }));
        let mut server =
            HttpServer::bind(([127, 0, 0, 1], 0), app).tls_pem(&certificate.cert, &certificate.key);
        let local = server.local_addr();
        let stop = CancellationToken::new();
        let ctx = Context::new("https", stop.clone());
        let running = tokio::spawn(async move { server.play(ctx).await });
        let addr = local.listening().await.expect("listening");

        let h1 = certificate.connect(addr, b"http/1.1").await;
        assert_eq!(h1.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let outcome = client::get_on(h1, "/").await;
        assert!(outcome.is_ok_with("secure"), "HTTP/1.1: {outcome:?}");

        let h2 = certificate.connect(addr, b"h2").await;
        assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let h2 = H2::handshake(h2, "localhost").await.expect("HTTP/2");
        let outcome = h2.get("/").await;
        assert!(outcome.is_ok_with("secure"), "HTTP/2: {outcome:?}");

        stop.cancel();
        running.await.unwrap().unwrap();
    })
    .await
    .expect("the test hung");
}

#[tokio::test]
async fn a_missing_certificate_fails_the_run_naming_the_file() {
    let certificate = Certificate::new();
    let missing = certificate.cert.with_file_name("missing.pem");
    let mut server =
        HttpServer::bind(([127, 0, 0, 1], 0), Router::new()).tls_pem(&missing, &certificate.key);

    let error = server
        .play(Context::new("https", CancellationToken::new()))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error.downcast_ref::<ServerError>(),
            Some(ServerError::Tls { .. })
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&missing.display().to_string()),
        "{error}"
    );
}

#[tokio::test]
async fn a_key_file_without_a_key_fails_the_run() {
    let certificate = Certificate::new();
    // The certificate file holds no private key.
    let mut server = HttpServer::bind(([127, 0, 0, 1], 0), Router::new())
        .tls_pem(&certificate.cert, &certificate.cert);

    let error = server
        .play(Context::new("https", CancellationToken::new()))
        .await
        .unwrap_err();

    assert_eq!(
        error.to_string(),
        format!(
            "invalid TLS configuration: cannot find a private key in `{}`",
            certificate.cert.display()
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_tls_connection_is_closed_at_the_handshake_timeout() {
    let certificate = Certificate::new();
    let app = Router::new().route("/", get(|| async { "secure" }));
    let mut server = HttpServer::bind(([127, 0, 0, 1], 0), app)
        .tls_pem(&certificate.cert, &certificate.key)
        .tls_handshake_timeout(Duration::from_secs(3));
    let (local, stats) = (server.local_addr(), server.stats());
    let stop = CancellationToken::new();
    let ctx = Context::new("https", stop.clone());
    let running = tokio::spawn(async move { server.play(ctx).await });
    let addr = local.listening().await.expect("listening");

    // Nothing at all; the first bytes of a ClientHello record.
    for sent in [&[][..], &[0x16, 0x03, 0x01, 0x02, 0x00][..]] {
        let mut silent = TcpStream::connect(addr).await.unwrap();
        silent.write_all(sent).await.unwrap();
        let t0 = Instant::now();
        let mut received = Vec::new();
        let _ = silent.read_to_end(&mut received).await;

        assert_eq!(t0.elapsed(), Duration::from_secs(3), "{sent:?}");
        assert!(received.is_empty(), "{received:?}");
    }
    assert_eq!(stats.tls_handshake_timeouts(), 2);
    assert_eq!(stats.header_timeouts(), 0);
    // A client that completes its handshake is still served.
    let h1 = certificate.connect(addr, b"http/1.1").await;
    assert!(client::get_on(h1, "/").await.is_ok_with("secure"));
    stop.cancel();
    running.await.unwrap().unwrap();
}
