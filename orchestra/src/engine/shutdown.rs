//! How a top-level run ends: one object, moving forward through phases.
//!
//! ```text
//! Running ──drain()──▶ Draining ──request()──▶ Stopping ──force(reason)──▶ Forcing
//!    └───────────────────────request()───────────▲   ▲
//!    └──────────────────────────────force(reason)────┘
//! ```
//!
//! A phase is never left for an earlier one, and reaching one reaches
//! every phase before it (a forced stop is also a stop). Every transition
//! can be awaited ([`Shutdown::reached`]); stopping and forcing also cancel
//! a token each, which the engine hands down its tree. `force`'s reason is
//! stored before its token is cancelled, so whoever wakes up on it can read
//! it. Nothing is allocated for a phase nobody enters.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Where a run is on its way to the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Playing.
    Running,
    /// Still playing, but no longer taking new work (the lame-duck time
    /// before the stop, when a drain is configured).
    Draining,
    /// Every member is asked to stop, and has its stop timeout to return.
    Stopping,
    /// The stop was cut short: every member still running is aborted.
    Forcing,
}

impl Phase {
    const ALL: [Phase; 4] = [
        Phase::Running,
        Phase::Draining,
        Phase::Stopping,
        Phase::Forcing,
    ];
}

/// The shutdown of one top-level run, shared by the runner that triggers it
/// and the engine that carries it out. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    phase: AtomicU8,
    /// Woken at every transition.
    moved: Notify,
    /// Cancelled on reaching `Stopping`, and `Forcing`.
    stopping: CancellationToken,
    forcing: CancellationToken,
    /// What forced the stop.
    reason: OnceLock<String>,
}

impl Shutdown {
    pub(crate) fn new() -> Self {
        Shutdown::default()
    }

    /// The phase reached so far.
    pub(crate) fn phase(&self) -> Phase {
        Phase::ALL[usize::from(self.inner.phase.load(Ordering::Acquire))]
    }

    /// Enters the drain phase: the members keep running.
    pub(crate) fn drain(&self) {
        self.advance(Phase::Draining);
    }

    /// Asks every member to stop gracefully.
    pub(crate) fn request(&self) {
        self.advance(Phase::Stopping);
    }

    /// Cuts the stop short: every member still running is aborted, and the
    /// run reports `reason`. Only the first reason is kept.
    pub(crate) fn force(&self, reason: impl Into<String>) {
        let _ = self.inner.reason.set(reason.into());
        self.advance(Phase::Forcing);
    }

    /// Why the stop was forced, once it was.
    pub(crate) fn forced(&self) -> Option<&str> {
        self.inner.reason.get().map(String::as_str)
    }

    /// Completes once `phase` is reached (at once for `Running`).
    pub(crate) async fn reached(&self, phase: Phase) {
        loop {
            let moved = self.inner.moved.notified();
            if self.phase() >= phase {
                return;
            }
            moved.await;
        }
    }

    /// Cancelled once the run is stopping (or forcing): the stop token of
    /// the tree's root.
    pub(crate) fn stopping(&self) -> &CancellationToken {
        &self.inner.stopping
    }

    /// Cancelled once the stop is forced: the abort token of the tree's root.
    pub(crate) fn forcing(&self) -> &CancellationToken {
        &self.inner.forcing
    }

    /// Moves forward to `to` (never back), cancelling the tokens of the
    /// phases passed, in order.
    fn advance(&self, to: Phase) {
        let from = self.inner.phase.fetch_max(to as u8, Ordering::AcqRel);
        if from >= to as u8 {
            return;
        }
        self.inner.moved.notify_waiters();
        if to >= Phase::Stopping {
            self.inner.stopping.cancel();
        }
        if to == Phase::Forcing {
            self.inner.forcing.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Phase, Shutdown};

    #[test]
    fn phases_only_move_forward_and_pass_the_ones_before() {
        let shutdown = Shutdown::new();
        assert_eq!(shutdown.phase(), Phase::Running);

        shutdown.drain();
        assert_eq!(shutdown.phase(), Phase::Draining);
        assert!(!shutdown.stopping().is_cancelled());

        shutdown.force("a second SIGINT");
        assert_eq!(shutdown.phase(), Phase::Forcing);
        assert!(shutdown.stopping().is_cancelled());
        assert!(shutdown.forcing().is_cancelled());
        assert_eq!(shutdown.forced(), Some("a second SIGINT"));

        shutdown.request();
        assert_eq!(shutdown.phase(), Phase::Forcing, "never back");
        shutdown.force("later");
        assert_eq!(
            shutdown.forced(),
            Some("a second SIGINT"),
            "the first reason"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_transition_can_be_awaited() {
        let shutdown = Shutdown::new();
        shutdown.reached(Phase::Running).await;
        let waiting = shutdown.clone();
        let stopped = tokio::spawn(async move { waiting.reached(Phase::Stopping).await });
        tokio::task::yield_now().await;
        shutdown.drain();
        tokio::task::yield_now().await;
        assert!(!stopped.is_finished(), "draining is not stopping");
        shutdown.request();
        stopped.await.unwrap();
        assert!(shutdown.forced().is_none());
    }
}
