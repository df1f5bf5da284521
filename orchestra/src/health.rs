//! Readiness and liveness for Kubernetes probes, and systemd notification
//! (feature `health`).
//!
//! Both read a [`Monitor`] attached to the run:
//!
//! ```no_run
//! use orchestra::health::{self, Systemd};
//! use orchestra::{Conductor, Monitor, PlayExt};
//!
//! # async fn run(mut app: Conductor) -> Result<(), orchestra::Error> {
//! let monitor = Monitor::new();
//! app.add("systemd", Systemd::new(&monitor))?;
//! let probes = health::router(&monitor); // merge into your axum app
//! # let _ = probes;
//! app.runner().monitor(monitor.clone()).play_until_signal().await
//! # }
//! ```

use std::collections::HashSet;
use std::fmt;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::broadcast::error::RecvError;

use crate::context::Context;
use crate::error::BoxError;
use crate::player::Player;
use crate::status::{Monitor, PlayerStatus, RunPhase, State};

/// Whether the players of a run are ready and alive, from their statuses.
///
/// - **Ready** when every player is ready or done: it called `ctx.ready()`
///   (or ran for its opt-in readiness `grace`), or finished by itself
///   without error (it did its part, as a migration does). Nobody starting,
///   backing off, stopping, or stopped because it was asked to — so a
///   stopping service stops receiving traffic at once. A player left out of
///   readiness (`#[player(readiness = "ignore")]`,
///   [`PlayerOptions::ignore_readiness`](crate::PlayerOptions::ignore_readiness))
///   does not count, whatever its state.
/// - **Not ready** while the run drains or stops, after it ended, and
///   before a run was given the monitor ("this monitor was never attached
///   to a run": attach it with [`Runner::monitor`](crate::Runner::monitor)).
/// - **Live** unless a player has failed for good.
///
/// Conductors are judged by their players.
///
/// ```
/// use orchestra::health::Health;
/// use orchestra::Monitor;
///
/// let health = Health::of(&Monitor::new());
/// assert!(!health.is_ready(), "nothing has run yet");
/// assert!(health.is_live());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Why the run as a whole is not ready, whatever its players say.
    run: Option<&'static str>,
    seen: bool,
    not_ready: Vec<(String, State)>,
    failed: Vec<String>,
}

impl Health {
    /// The health of the players `monitor` watches, now.
    pub fn of(monitor: &Monitor) -> Self {
        let statuses = monitor.snapshot();
        // Conductors are the parents of other paths; the rest are players.
        let conductors: HashSet<&str> = statuses
            .iter()
            .filter_map(|s| s.path.rsplit_once('/').map(|(parent, _)| parent))
            .collect();
        let players: Vec<&PlayerStatus> = statuses
            .iter()
            .filter(|s| !conductors.contains(&*s.path))
            .collect();
        // Left out of readiness: these paths and every path below them.
        let ignored: Vec<&str> = statuses
            .iter()
            .filter(|s| !s.counts_for_readiness)
            .map(|s| &*s.path)
            .collect();
        let counts = |path: &str| {
            !ignored.iter().any(|i| {
                path.strip_prefix(i)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
        };
        let run = match monitor.run_phase() {
            RunPhase::Detached => Some("this monitor was never attached to a run"),
            RunPhase::Running => None,
            RunPhase::Draining => Some("draining"),
            RunPhase::Stopping => Some("stopping"),
            RunPhase::Ended => Some("the run has ended"),
        };
        Health {
            run,
            seen: !players.is_empty(),
            not_ready: players
                .iter()
                .filter(|s| counts(&s.path) && !is_ready(s))
                .map(|s| (s.path.to_string(), s.state))
                .collect(),
            failed: players
                .iter()
                .filter(|s| s.state == State::Failed)
                .map(|s| s.path.to_string())
                .collect(),
        }
    }

    /// Whether the run is under way, not draining nor stopping, and every
    /// player is ready or done.
    pub fn is_ready(&self) -> bool {
        self.run.is_none() && self.seen && self.not_ready.is_empty()
    }

    /// Whether no player has failed for good.
    pub fn is_live(&self) -> bool {
        self.failed.is_empty()
    }

    /// The players that are not ready, with their state.
    pub fn not_ready(&self) -> &[(String, State)] {
        &self.not_ready
    }

    /// The players that failed for good.
    pub fn failed(&self) -> &[String] {
        &self.failed
    }
}

/// Whether one player counts as ready: it is, or it finished by itself
/// without error (it did its part, as a migration does). One stopped
/// because it was asked to is not.
fn is_ready(status: &PlayerStatus) -> bool {
    match status.state {
        State::Ready => true,
        State::Stopped => !status.asked_to_stop,
        _ => false,
    }
}

/// `ready`, or the players that are not and why.
impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(reason) = self.run {
            return write!(f, "not ready: {reason}");
        }
        if !self.seen {
            return f.write_str("not ready: no player has started");
        }
        if self.is_ready() {
            return f.write_str("ready");
        }
        f.write_str("not ready:")?;
        for (path, state) in &self.not_ready {
            write!(f, " `{path}` ({state})")?;
        }
        Ok(())
    }
}

/// Probes for Kubernetes: `GET /readyz` and `GET /livez` answer `200` or
/// `503`, with a line saying which players are the cause.
///
/// ```
/// use orchestra::{health, Monitor};
///
/// let monitor = Monitor::new();
/// let app: axum::Router = axum::Router::new().merge(health::router(&monitor));
/// # let _ = app;
/// ```
pub fn router(monitor: &Monitor) -> Router {
    let ready = monitor.clone();
    let live = monitor.clone();
    Router::new()
        .route(
            "/readyz",
            get(move || {
                let health = Health::of(&ready);
                let code = if health.is_ready() {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                async move { (code, format!("{health}\n")) }
            }),
        )
        .route(
            "/livez",
            get(move || {
                let health = Health::of(&live);
                async move {
                    if health.is_live() {
                        (StatusCode::OK, "live\n".to_owned())
                    } else {
                        let failed = health.failed().join("`, `");
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("failed: `{failed}`\n"),
                        )
                    }
                }
            }),
        )
}

/// A player that keeps systemd informed (`Type=notify` services):
/// `READY=1` once every player is ready, `WATCHDOG=1` at half the watchdog
/// interval while they are alive (if `WatchdogSec=` is set), and `STOPPING=1`
/// when the run drains or stops (the watchdog goes on during a drain). Outside systemd (no `NOTIFY_SOCKET`) it does nothing.
///
/// Add it to the conductor whose run `monitor` watches.
#[derive(Debug, Clone)]
pub struct Systemd {
    monitor: Monitor,
}

impl Systemd {
    /// A notifier reading the players' health from `monitor`.
    pub fn new(monitor: &Monitor) -> Self {
        Systemd {
            monitor: monitor.clone(),
        }
    }
}

impl Player for Systemd {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        use sd_notify::NotifyState;
        ctx.ready();
        let mut changes = self.monitor.subscribe();
        let mut watchdog = sd_notify::watchdog_enabled().map(|interval| {
            // Half the interval, as systemd advises; never zero, which
            // `tokio::time::interval` rejects with a panic.
            let period = (interval / 2).max(std::time::Duration::from_millis(1));
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        let mut ready_sent = false;
        let mut stopping_sent = false;
        loop {
            if !ready_sent && Health::of(&self.monitor).is_ready() {
                sd_notify::notify(&[NotifyState::Ready])?;
                tracing::debug!(target: "orchestra", "systemd notified: ready");
                ready_sent = true;
            }
            tokio::select! {
                biased;
                () = ctx.cancelled() => break,
                // The drain phase is the start of the stop, for systemd.
                () = ctx.draining(), if !stopping_sent => {
                    sd_notify::notify(&[NotifyState::Stopping])?;
                    tracing::debug!(target: "orchestra", "systemd notified: stopping (draining)");
                    stopping_sent = true;
                }
                change = changes.recv() => {
                    if matches!(change, Err(RecvError::Closed)) {
                        break;
                    }
                }
                () = next_tick(watchdog.as_mut()) => {
                    if Health::of(&self.monitor).is_live() {
                        sd_notify::notify(&[NotifyState::Watchdog])?;
                    }
                }
            }
        }
        if !stopping_sent {
            sd_notify::notify(&[NotifyState::Stopping])?;
            tracing::debug!(target: "orchestra", "systemd notified: stopping");
        }
        Ok(())
    }
}

/// The next watchdog tick; never, without a watchdog.
async fn next_tick(watchdog: Option<&mut tokio::time::Interval>) {
    match watchdog {
        Some(tick) => {
            tick.tick().await;
        }
        None => std::future::pending().await,
    }
}
