//! What a server counts: its open connections, and the connections its
//! timeouts closed. Read through [`ServerStats`]; also recorded as metrics
//! under the `metrics` feature.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The gauge of open connections, labelled with the server's `player` path.
#[cfg(feature = "metrics")]
pub const CONNECTIONS_OPEN: &str = "orchestra_http_connections_open";
/// Connections closed because no request (or no complete header) arrived
/// within the header timeout.
#[cfg(feature = "metrics")]
pub const HEADER_TIMEOUTS: &str = "orchestra_http_header_timeouts_total";
/// TLS connections closed because their handshake did not finish within the
/// TLS handshake timeout.
#[cfg(feature = "metrics")]
pub const TLS_HANDSHAKE_TIMEOUTS: &str = "orchestra_http_tls_handshake_timeouts_total";

/// Live figures of an [`HttpServer`](super::HttpServer), shared by all its
/// runs. Made by [`HttpServer::stats`](super::HttpServer::stats); cheap to
/// clone. With the `metrics` feature the same figures are recorded as
/// `orchestra_http_connections_open` (gauge),
/// `orchestra_http_header_timeouts_total` and
/// `orchestra_http_tls_handshake_timeouts_total` (counters), labelled
/// `player` with the server's path.
///
/// ```
/// use axum::Router;
/// use orchestra::HttpServer;
///
/// let server: HttpServer = HttpServer::bind(([127, 0, 0, 1], 0), Router::new());
/// let stats = server.stats();
/// assert_eq!(stats.open_connections(), 0);
/// assert_eq!(stats.header_timeouts(), 0);
/// # drop(server);
/// ```
#[derive(Clone, Default)]
pub struct ServerStats {
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    open: AtomicUsize,
    header_timeouts: AtomicU64,
    handshake_timeouts: AtomicU64,
}

impl ServerStats {
    /// Connections open now: accepted, and not yet closed.
    pub fn open_connections(&self) -> usize {
        self.counts.open.load(Ordering::SeqCst)
    }

    /// Connections closed so far because their first request did not
    /// arrive within the [header timeout](super::HttpServer::header_timeout),
    /// or a later request's header did not (an idle HTTP/1 keep-alive
    /// connection is closed, and counted, the same way).
    pub fn header_timeouts(&self) -> u64 {
        self.counts.header_timeouts.load(Ordering::SeqCst)
    }

    /// TLS connections closed so far because their handshake did not finish
    /// within the TLS handshake timeout.
    pub fn tls_handshake_timeouts(&self) -> u64 {
        self.counts.handshake_timeouts.load(Ordering::SeqCst)
    }

    /// The recorder of one run, whose metrics carry `path`.
    pub(super) fn meter(&self, path: &str) -> Meter {
        #[cfg(not(feature = "metrics"))]
        let _ = path;
        Meter {
            counts: self.counts.clone(),
            #[cfg(feature = "metrics")]
            label: [("player", path.to_owned())],
        }
    }
}

impl fmt::Debug for ServerStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerStats")
            .field("open_connections", &self.open_connections())
            .field("header_timeouts", &self.header_timeouts())
            .field("tls_handshake_timeouts", &self.tls_handshake_timeouts())
            .finish()
    }
}

/// Records a run's figures: in its [`ServerStats`], and as metrics.
#[derive(Clone)]
pub(super) struct Meter {
    counts: Arc<Counts>,
    #[cfg(feature = "metrics")]
    label: [(&'static str, String); 1],
}

impl Meter {
    /// Counts a connection as open until the returned guard is dropped.
    pub(super) fn open(&self) -> Open {
        self.counts.open.fetch_add(1, Ordering::SeqCst);
        #[cfg(feature = "metrics")]
        metrics::gauge!(CONNECTIONS_OPEN, &self.label).increment(1.0);
        Open(self.clone())
    }

    pub(super) fn header_timeout(&self) {
        self.counts.header_timeouts.fetch_add(1, Ordering::SeqCst);
        #[cfg(feature = "metrics")]
        metrics::counter!(HEADER_TIMEOUTS, &self.label).increment(1);
    }

    #[cfg(feature = "tls")]
    pub(super) fn handshake_timeout(&self) {
        self.counts
            .handshake_timeouts
            .fetch_add(1, Ordering::SeqCst);
        #[cfg(feature = "metrics")]
        metrics::counter!(TLS_HANDSHAKE_TIMEOUTS, &self.label).increment(1);
    }
}

/// An open connection, counted until dropped.
pub(super) struct Open(Meter);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.counts.open.fetch_sub(1, Ordering::SeqCst);
        #[cfg(feature = "metrics")]
        metrics::gauge!(CONNECTIONS_OPEN, &self.0.label).decrement(1.0);
    }
}

#[cfg(all(test, feature = "metrics", feature = "tls"))]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn the_figures_are_recorded_as_metrics_labelled_with_the_path() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let stats = ServerStats::default();

        let still_open = metrics::with_local_recorder(&recorder, || {
            let meter = stats.meter("app/http");
            let (closed, open) = (meter.open(), meter.open());
            drop(closed);
            meter.header_timeout();
            meter.header_timeout();
            meter.handshake_timeout();
            open
        });

        assert_eq!(stats.open_connections(), 1);
        assert_eq!(stats.header_timeouts(), 2);
        assert_eq!(stats.tls_handshake_timeouts(), 1);
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<_> = key.labels().map(|l| (l.key(), l.value())).collect();
            assert_eq!(labels, [("player", "app/http")], "{key:?}");
            match (key.name(), value) {
                (CONNECTIONS_OPEN, DebugValue::Gauge(open)) => assert_eq!(open.into_inner(), 1.0),
                (HEADER_TIMEOUTS, DebugValue::Counter(n)) => assert_eq!(n, 2),
                (TLS_HANDSHAKE_TIMEOUTS, DebugValue::Counter(n)) => assert_eq!(n, 1),
                other => panic!("unexpected metric {other:?}"),
            }
        }
        drop(still_open);
        assert_eq!(stats.open_connections(), 0);
    }
}
