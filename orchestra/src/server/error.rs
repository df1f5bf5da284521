//! Why a run of an [`HttpServer`](super::HttpServer) failed.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

#[cfg(feature = "tls")]
use crate::error::BoxError;

/// Why a run of an [`HttpServer`](super::HttpServer) failed.
///
/// A conductor reports it as the source of
/// [`Error::Failed`](crate::Error::Failed), under the server's path.
///
/// ```
/// use orchestra::ServerError;
/// use std::time::Duration;
///
/// let error = ServerError::RequestsCut {
///     requests: 2,
///     connections: 1,
///     timeout: Duration::from_secs(5),
/// };
/// assert_eq!(
///     error.to_string(),
///     "shutdown timed out after 5s: 2 requests in flight were cut (1 connection aborted)"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The address could not be bound: it stayed busy until the bind
    /// backoff ran out, or binding failed for another reason.
    #[error("cannot bind {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The last failure.
        #[source]
        source: io::Error,
    },

    /// A restarted server cannot bind again: the listener it was given
    /// reported no local address.
    #[error("cannot bind again: the listener given to the server had no local address")]
    NoAddress,

    /// The TLS certificate or key could not be loaded or used.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[error("invalid TLS configuration: {message}")]
    Tls {
        /// What could not be done, naming the file concerned.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// Requests were still in flight when the shutdown timeout ran out: their
    /// connections were aborted.
    #[error(
        "shutdown timed out after {timeout:?}: {requests} {} in flight {} cut ({connections} {} aborted)",
        plural(*.requests, "request", "requests"),
        plural(*.requests, "was", "were"),
        plural(*.connections, "connection", "connections"),
    )]
    RequestsCut {
        /// How many requests were cut: their handler was running or their
        /// response was being sent.
        requests: usize,
        /// How many connections were aborted.
        connections: usize,
        /// The shutdown timeout that ran out.
        timeout: Duration,
    },
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}
