//! A scripted player for the behaviour tests of `#[derive(Conductor)]`: a
//! named type, so that it can be the type of a field.

use std::time::Duration;

use orchestra::{BoxError, Context, Player};
use tokio::time::{Instant, sleep};

use super::Log;

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
    t0: Instant,
    script: Script,
}

impl Probe {
    pub fn new(log: &Log, t0: Instant, script: Script) -> Self {
        Probe {
            log: log.clone(),
            t0,
            script,
        }
    }

    pub fn idle(log: &Log, t0: Instant) -> Self {
        Probe::new(log, t0, Script::Idle)
    }

    fn push(&self, event: String) {
        self.log.push(event, self.t0);
    }
}

impl Player for Probe {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        let path = ctx.path().to_owned();
        self.push(format!("{path} started"));
        match self.script {
            Script::Idle => {
                ctx.cancelled().await;
                self.push(format!("{path} stopped"));
                Ok(())
            }
            Script::Finish(after) => {
                if self.wait(&ctx, after).await {
                    self.push(format!("{path} done"));
                }
                Ok(())
            }
            Script::Fail(after, message) => {
                if !self.wait(&ctx, after).await {
                    return Ok(());
                }
                self.push(format!("{path} failed"));
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
                self.push(format!("{path} ready"));
                ctx.ready();
                ctx.cancelled().await;
                self.push(format!("{path} stopped"));
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
                self.push(format!("{} stopped", ctx.path()));
                false
            }
        }
    }
}
