//! What the behaviour tests share: the [`Log`] players write to, players
//! made of closures for the runtime-built `Conductor`, and the [`Probe`](probe::Probe), a
//! named player type for the fields of a derived one.

#![allow(dead_code, unreachable_pub)]

pub mod probe;
pub mod trace;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestra::{BoxError, Context, EventKind, Monitor, Player, player_fn};
use tokio::time::Instant;

/// An ordered record of what players did, with the paused clock's time.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<(String, Duration)>>>);

impl Log {
    pub fn new() -> (Self, Instant) {
        (Log::default(), Instant::now())
    }

    pub fn push(&self, event: impl Into<String>, since: Instant) {
        self.0
            .lock()
            .expect("log poisoned")
            .push((event.into(), since.elapsed()));
    }

    /// The events, without times.
    pub fn events(&self) -> Vec<String> {
        self.0
            .lock()
            .expect("log poisoned")
            .iter()
            .map(|(e, _)| e.clone())
            .collect()
    }

    /// The events with their times.
    pub fn timed(&self) -> Vec<(String, Duration)> {
        self.0.lock().expect("log poisoned").clone()
    }

    /// When `event` first happened, if it did.
    pub fn at(&self, event: &str) -> Option<Duration> {
        self.times(event).first().copied()
    }

    /// Every time `event` happened.
    pub fn times(&self, event: &str) -> Vec<Duration> {
        self.0
            .lock()
            .expect("log poisoned")
            .iter()
            .filter(|(e, _)| e == event)
            .map(|(_, t)| *t)
            .collect()
    }

    /// The position of `event` among the events.
    pub fn position(&self, event: &str) -> Option<usize> {
        self.events().iter().position(|e| e == event)
    }

    pub fn count(&self, event: &str) -> usize {
        self.events().iter().filter(|e| *e == event).count()
    }
}

/// Runs until cancelled, logging `"{path} started"` and `"{path} stopped"`.
pub fn idle(log: &Log, t0: Instant) -> impl Player {
    let log = log.clone();
    player_fn(move |ctx: Context| {
        let log = log.clone();
        async move {
            log.push(format!("{} started", ctx.path()), t0);
            ctx.cancelled().await;
            log.push(format!("{} stopped", ctx.path()), t0);
            Ok(())
        }
    })
}

/// Returns `Ok` after `after`, logging `"{path} done"`.
pub fn finishes(log: &Log, t0: Instant, after: Duration) -> impl Player {
    let log = log.clone();
    player_fn(move |ctx: Context| {
        let log = log.clone();
        async move {
            tokio::time::sleep(after).await;
            log.push(format!("{} done", ctx.path()), t0);
            Ok(())
        }
    })
}

/// Fails with `message` after `after`.
pub fn fails(after: Duration, message: &'static str) -> impl Player {
    player_fn(move |_ctx: Context| async move {
        tokio::time::sleep(after).await;
        Err(BoxError::from(message))
    })
}

/// Ignores cancellation; counts how many times its run was dropped (aborted).
pub fn stuck(dropped: &Arc<AtomicUsize>) -> impl Player {
    let dropped = dropped.clone();
    player_fn(move |_ctx: Context| {
        let guard = DropCounter(dropped.clone());
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok(())
        }
    })
}

/// Increments its counter when dropped.
pub struct DropCounter(pub Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The number of tasks alive on the current runtime.
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The events of the player at `path` a monitor saw, with their times.
pub fn kinds(monitor: &Monitor, path: &str) -> Vec<(Duration, EventKind)> {
    monitor
        .report()
        .events(path)
        .map(|e| (e.elapsed, e.kind.clone()))
        .collect()
}
