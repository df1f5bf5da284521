//! Counters and a gauge per player through the [`metrics`] facade
//! (feature `metrics`).
//!
//! Every player path gets, as the label `player` (conductors get none: they
//! are judged by their players):
//!
//! | name | kind | counts |
//! |---|---|---|
//! | `orchestra_player_started_total` | counter | runs begun (first starts and restarts) |
//! | `orchestra_player_restarted_total` | counter | runs begun after the first |
//! | `orchestra_player_succeeded_total` | counter | players that ended for good without error |
//! | `orchestra_player_failed_total` | counter | runs that ended in an error, a panic or an abort (restarted or not) |
//! | `orchestra_player_running` | gauge | 1 while a run is under way, else 0 |
//!
//! They are recorded whether or not a [`Monitor`](crate::Monitor) watches
//! the run; install any recorder, such as `metrics-exporter-prometheus`.

use crate::status::EventKind;

/// Runs begun, first starts and restarts alike.
pub const STARTED: &str = "orchestra_player_started_total";
/// Runs begun after the first.
pub const RESTARTED: &str = "orchestra_player_restarted_total";
/// Players that ended for good without error.
pub const SUCCEEDED: &str = "orchestra_player_succeeded_total";
/// Runs that ended in an error, a panic or an abort, restarted or not.
pub const FAILED: &str = "orchestra_player_failed_total";
/// 1 while a run of the player is under way, else 0.
pub const RUNNING: &str = "orchestra_player_running";
/// The label that carries the player's path.
pub const PLAYER: &str = "player";

/// Records what `kind` means for the metrics of the player at `path`.
pub(crate) fn record(path: &str, attempt: u32, kind: &EventKind) {
    let label = || [(PLAYER, path.to_owned())];
    match kind {
        EventKind::Started => {
            metrics::counter!(STARTED, &label()).increment(1);
            if attempt > 1 {
                metrics::counter!(RESTARTED, &label()).increment(1);
            }
            metrics::gauge!(RUNNING, &label()).set(1.0);
        }
        EventKind::Stopped => {
            metrics::counter!(SUCCEEDED, &label()).increment(1);
            metrics::gauge!(RUNNING, &label()).set(0.0);
        }
        EventKind::BackingOff { error, .. } => {
            if error.is_some() {
                metrics::counter!(FAILED, &label()).increment(1);
            }
            metrics::gauge!(RUNNING, &label()).set(0.0);
        }
        EventKind::Failed { .. } | EventKind::Aborted { .. } => {
            metrics::counter!(FAILED, &label()).increment(1);
            metrics::gauge!(RUNNING, &label()).set(0.0);
        }
        EventKind::Starting
        | EventKind::Deferred { .. }
        | EventKind::Ready
        | EventKind::Reloading
        | EventKind::Stopping => {}
    }
}

/// The metrics of an `HttpServer` (feature `server`), labelled `player` with
/// its path: `orchestra_http_connections_open` (gauge),
/// `orchestra_http_header_timeouts_total` and
/// `orchestra_http_tls_handshake_timeouts_total` (counters).
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use crate::server::stats::{CONNECTIONS_OPEN, HEADER_TIMEOUTS, TLS_HANDSHAKE_TIMEOUTS};
