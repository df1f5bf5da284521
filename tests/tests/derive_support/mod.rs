//! A scripted player for the behaviour tests of `#[derive(Conductor)]`: a
//! named type, so that it can be the type of a field.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestra::{BoxError, Context, Player};
use tokio::time::{Instant, sleep};

/// What players did and when, on the paused clock, since the log was made.
#[derive(Clone)]
pub struct Log {
    events: Arc<Mutex<Vec<(String, Duration)>>>,
    t0: Instant,
}

impl Log {
    pub fn new() -> Self {
        Log {
            events: Arc::default(),
            t0: Instant::now(),
        }
    }

    pub fn push(&self, event: String) {
        let at = self.t0.elapsed();
        self.events.lock().expect("log poisoned").push((event, at));
    }

    /// The events in order, without times.
    pub fn events(&self) -> Vec<String> {
        let events = self.events.lock().expect("log poisoned");
        events.iter().map(|(e, _)| e.clone()).collect()
    }

    /// Every time `event` happened.
    pub fn times(&self, event: &str) -> Vec<Duration> {
        let events = self.events.lock().expect("log poisoned");
        events
            .iter()
            .filter(|(e, _)| e == event)
            .map(|(_, t)| *t)
            .collect()
    }

    /// When `event` first happened, if it did.
    pub fn at(&self, event: &str) -> Option<Duration> {
        self.times(event).first().copied()
    }

    /// The position of `event` among the events.
    pub fn position(&self, event: &str) -> Option<usize> {
        self.events().iter().position(|e| e == event)
    }

    /// The time since the log was made.
    pub fn elapsed(&self) -> Duration {
        self.t0.elapsed()
    }
}

/// What a [`Probe`] does on each run.
#[derive(Clone, Copy)]
pub enum Script {
    /// Runs until asked to stop.
    Idle,
    /// Returns `Ok(())` after a while.
    Finish(Duration),
    /// Returns an error after a while.
    Fail(Duration, &'static str),
    /// Panics after a while.
    Panic(Duration, &'static str),
    /// Calls `ctx.ready()` after a while, then runs until asked to stop.
    ReadyAfter(Duration),
    /// Never returns, even when asked to stop.
    Stuck,
}

/// A player that logs `"{path} started"` at the start of every run, then
/// `"{path} stopped"`, `"{path} done"`, `"{path} failed"` or
/// `"{path} ready"` as its script goes.
pub struct Probe {
    log: Log,
    script: Script,
}

impl Probe {
    pub fn new(log: &Log, script: Script) -> Self {
        Probe {
            log: log.clone(),
            script,
        }
    }

    pub fn idle(log: &Log) -> Self {
        Probe::new(log, Script::Idle)
    }
}

impl Player for Probe {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        let path = ctx.path().to_owned();
        self.log.push(format!("{path} started"));
        match self.script {
            Script::Idle => {
                ctx.cancelled().await;
                self.log.push(format!("{path} stopped"));
                Ok(())
            }
            Script::Finish(after) => {
                if self.wait(&ctx, after).await {
                    self.log.push(format!("{path} done"));
                }
                Ok(())
            }
            Script::Fail(after, message) => {
                if !self.wait(&ctx, after).await {
                    return Ok(());
                }
                self.log.push(format!("{path} failed"));
                Err(message.into())
            }
            Script::Panic(after, message) => {
                if !self.wait(&ctx, after).await {
                    return Ok(());
                }
                panic!("{message}");
            }
            Script::ReadyAfter(after) => {
                if !self.wait(&ctx, after).await {
                    return Ok(());
                }
                self.log.push(format!("{path} ready"));
                ctx.ready();
                ctx.cancelled().await;
                self.log.push(format!("{path} stopped"));
                Ok(())
            }
            Script::Stuck => std::future::pending().await,
        }
    }
}

impl Probe {
    /// Waits `after`; `false` (and `"{path} stopped"` logged) if asked to
    /// stop first.
    async fn wait(&self, ctx: &Context, after: Duration) -> bool {
        tokio::select! {
            () = sleep(after) => true,
            () = ctx.cancelled() => {
                self.log.push(format!("{} stopped", ctx.path()));
                false
            }
        }
    }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}
