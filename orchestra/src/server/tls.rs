//! TLS through rustls: certificates from PEM files, or a ready configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use super::{HttpServer, ServerError};

/// How a server gets its TLS configuration.
pub(super) enum Tls {
    /// Read from PEM files at the start of every run.
    Pem { cert: PathBuf, key: PathBuf },
    /// Given ready.
    Config(Arc<ServerConfig>),
}

impl Tls {
    /// The acceptor for one run; PEM files are read now, so a restarted
    /// server picks up renewed certificates.
    pub(super) async fn acceptor(&self) -> Result<TlsAcceptor, ServerError> {
        match self {
            Tls::Config(config) => Ok(TlsAcceptor::from(config.clone())),
            Tls::Pem { cert, key } => {
                let config = from_pem(cert, key).await?;
                Ok(TlsAcceptor::from(Arc::new(config)))
            }
        }
    }
}

fn tls_error(message: String, source: impl Into<crate::BoxError>) -> ServerError {
    ServerError::Tls {
        message,
        source: Some(source.into()),
    }
}

async fn from_pem(cert_path: &Path, key_path: &Path) -> Result<ServerConfig, ServerError> {
    let read = |path: &Path, what: &str| {
        let path = path.to_owned();
        let what = what.to_owned();
        async move {
            tokio::fs::read(&path).await.map_err(|error| {
                tls_error(
                    format!("cannot read the {what} `{}`", path.display()),
                    error,
                )
            })
        }
    };
    let cert_pem = read(cert_path, "certificate file").await?;
    let key_pem = read(key_path, "private key file").await?;

    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            tls_error(
                format!("cannot parse the certificates in `{}`", cert_path.display()),
                error,
            )
        })?;
    if certs.is_empty() {
        return Err(ServerError::Tls {
            message: format!("no certificate in `{}`", cert_path.display()),
            source: None,
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| {
        tls_error(
            format!("cannot find a private key in `{}`", key_path.display()),
            error,
        )
    })?;

    // The process-wide provider if the application installed one, else ring.
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(ring::default_provider()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|error: rustls::Error| {
            tls_error(
                format!(
                    "cannot use the certificate `{}` with the key `{}`",
                    cert_path.display(),
                    key_path.display()
                ),
                error,
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
impl<S> HttpServer<S> {
    /// Serves HTTPS with a certificate chain and a private key read from PEM
    /// files (feature `tls`). HTTP/2 and HTTP/1.1 are offered through ALPN.
    ///
    /// The files are read at the start of every run, so a restarted server
    /// picks up a renewed certificate; a file that cannot be read or parsed
    /// fails the run with [`ServerError::Tls`]. The crypto provider is the
    /// process-wide default if the application installed one, else `ring`.
    ///
    /// ```
    /// use axum::Router;
    /// use orchestra::HttpServer;
    ///
    /// let server: HttpServer = HttpServer::bind(([0, 0, 0, 0], 8443), Router::new())
    ///     .tls_pem("/etc/ssl/example/fullchain.pem", "/etc/ssl/example/key.pem");
    /// # let _ = server;
    /// ```
    #[must_use]
    pub fn tls_pem(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some(Tls::Pem {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Serves HTTPS with a rustls configuration of your own (feature `tls`),
    /// for client authentication or a choice of cipher suites. Set its
    /// `alpn_protocols` to `[b"h2", b"http/1.1"]` to offer HTTP/2.
    ///
    /// ```no_run
    /// use axum::Router;
    /// use orchestra::HttpServer;
    /// use tokio_rustls::rustls::{self, ServerConfig};
    /// use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    /// use std::sync::Arc;
    ///
    /// # fn load() -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) { unimplemented!() }
    /// # fn main() -> Result<(), rustls::Error> {
    /// let (certs, key) = load();
    /// let mut config = ServerConfig::builder()
    ///     .with_no_client_auth()
    ///     .with_single_cert(certs, key)?;
    /// config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    /// let server: HttpServer = HttpServer::bind(([0, 0, 0, 0], 8443), Router::new())
    ///     .tls_config(Arc::new(config));
    /// # let _ = server;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn tls_config(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls = Some(Tls::Config(config));
        self
    }

    /// How long a TLS client may take to finish its handshake (feature
    /// `tls`); past it the connection is closed, logged at debug and counted
    /// in [`ServerStats::tls_handshake_timeouts`](super::ServerStats::tls_handshake_timeouts).
    /// 10 s by default.
    ///
    /// ```
    /// use axum::Router;
    /// use orchestra::HttpServer;
    /// use std::time::Duration;
    ///
    /// let server: HttpServer = HttpServer::bind(([0, 0, 0, 0], 8443), Router::new())
    ///     .tls_pem("/etc/ssl/example/fullchain.pem", "/etc/ssl/example/key.pem")
    ///     .tls_handshake_timeout(Duration::from_secs(5));
    /// # let _ = server;
    /// ```
    #[must_use]
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.limits.tls_handshake_timeout = timeout;
        self
    }
}
