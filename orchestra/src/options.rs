//! How one player is run: the options `#[player(...)]` sets, as values.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::reload::OnReload;
use crate::restart::{Backoff, Restart};
use crate::supervision::OnExit;

/// How a player is run by its conductor: the same options as the
/// `#[player(...)]` attribute, for players added at run time.
///
/// Every option has a default: no restart, the conductor's stop timeout,
/// an exponential backoff, no limits, no delay, no ordering.
///
/// ```
/// use orchestra::{Backoff, PlayerOptions, Restart};
/// use std::time::Duration;
///
/// let options = PlayerOptions::new()
///     .timeout(Duration::from_secs(5))
///     .restart(Restart::OnFailure)
///     .backoff(Backoff::exponential().max_delay(Duration::from_secs(10)))
///     .max_restarts(5, Duration::from_secs(60))
///     .after("db");
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct PlayerOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) restart: Restart,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) max_restarts: Option<(u32, Duration)>,
    pub(crate) delay: Option<Duration>,
    pub(crate) after: Vec<Arc<str>>,
    pub(crate) grace: Option<Duration>,
    pub(crate) ready_within: Option<Duration>,
    pub(crate) ignore_readiness: bool,
    pub(crate) stable_after: Option<Duration>,
    pub(crate) on_exit: OnExit,
    pub(crate) on_reload: OnReload,
}

/// The stop timeout when no conductor sets one (Go orchestra's default).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(9);

/// How long a run must last for the backoff to start over.
pub(crate) const DEFAULT_STABLE_AFTER: Duration = Duration::from_secs(10);

impl PlayerOptions {
    /// The defaults.
    pub fn new() -> Self {
        PlayerOptions::default()
    }

    /// How long the player has to return once asked to stop, after which it is
    /// aborted and reported. Defaults to its conductor's timeout (9 s at the top).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// When the player is run again after it returns.
    ///
    /// On a nested conductor, a restart runs its whole group again: its
    /// players stop (those ordered after others first) and start again (in
    /// `after` order); their attempts count on, their limits start over
    /// (see [`Context::attempt`](crate::Context::attempt)).
    #[must_use]
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// The delays between restarts (exponential by default).
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Runs the player at most this many times in all; past that a failure is
    /// final. Zero is rejected when the conductor starts.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Allows at most `restarts` restarts within any window of `within`
    /// (Erlang/OTP's restart intensity); one more makes the failure final.
    #[must_use]
    pub fn max_restarts(mut self, restarts: u32, within: Duration) -> Self {
        self.max_restarts = Some((restarts, within));
        self
    }

    /// Defers the first start by `delay`.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Starts the player only once the named sibling is ready, and stops it
    /// before that sibling. Call again to depend on several.
    ///
    /// The sibling is ready once it calls `ctx.ready()`; there is no time
    /// limit unless it sets a [`grace`](PlayerOptions::grace) (then counted
    /// as ready when that passes, with a warning) or a
    /// [`ready_within`](PlayerOptions::ready_within) (then its run fails). A
    /// sibling that returns `Ok` for good (not restarted) counts as ready:
    /// it did its part, such as a migration. One that fails for good stops
    /// the conductor, as any failure does, and this player never starts. A
    /// sibling that is restarted is waited for until one of its runs calls
    /// `ctx.ready()`.
    #[must_use]
    pub fn after(mut self, sibling: &str) -> Self {
        self.after.push(Arc::from(sibling));
        self
    }

    /// How long players ordered after this one wait for it to call
    /// `ctx.ready()` before they start anyway, with a warning that names
    /// it. None by default: they wait for `ctx.ready()`.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// How long each run has to call `ctx.ready()`: a run not ready by then
    /// is cut and counts as failed ("not ready within …"), and its
    /// [`restart`](PlayerOptions::restart) policy applies. None by default.
    #[must_use]
    pub fn ready_within(mut self, within: Duration) -> Self {
        self.ready_within = Some(within);
        self
    }

    /// Leaves the player out of the service's readiness (the health probes
    /// and systemd's `READY=1`): for a background player that may be
    /// backing off without the service being unable to serve, such as a
    /// cache warmer or a client of a flaky upstream. Its failure for good
    /// still makes the service not live. On a conductor, it covers every
    /// player below. `after` still waits for its `ctx.ready()`.
    #[must_use]
    pub fn ignore_readiness(mut self) -> Self {
        self.ignore_readiness = true;
        self
    }

    /// How long a run must last for the backoff to start over from its first
    /// delay. 10 s by default.
    #[must_use]
    pub fn stable_after(mut self, period: Duration) -> Self {
        self.stable_after = Some(period);
        self
    }

    /// What the player's end (after its restarts, if any) does to its
    /// conductor: by default a failure stops it and `Ok(())` does not;
    /// [`OnExit::Stop`] stops it at any end, [`OnExit::Continue`] at none.
    #[must_use]
    pub fn on_exit(mut self, on_exit: OnExit) -> Self {
        self.on_exit = on_exit;
        self
    }

    /// What the player does when a reload is requested: keep running and
    /// hear of it through `ctx.reload_requested()` (the default), or be
    /// restarted gracefully ([`OnReload::Restart`]).
    #[must_use]
    pub fn on_reload(mut self, on_reload: OnReload) -> Self {
        self.on_reload = on_reload;
        self
    }
}

impl PlayerOptions {
    /// Every option at its default.
    const DEFAULTS: PlayerOptions = PlayerOptions {
        timeout: None,
        restart: Restart::Never,
        backoff: None,
        max_attempts: None,
        max_restarts: None,
        delay: None,
        after: Vec::new(),
        grace: None,
        ready_within: None,
        ignore_readiness: false,
        stable_after: None,
        on_exit: OnExit::StopOnFailure,
        on_reload: OnReload::Notify,
    };

    /// Whether every option has its default value.
    pub(crate) fn is_default(&self) -> bool {
        let PlayerOptions {
            timeout,
            restart,
            backoff,
            max_attempts,
            max_restarts,
            delay,
            after,
            grace,
            ready_within,
            ignore_readiness,
            stable_after,
            on_exit,
            on_reload,
        } = self;
        timeout.is_none()
            && *restart == Restart::Never
            && backoff.is_none()
            && max_attempts.is_none()
            && max_restarts.is_none()
            && delay.is_none()
            && after.is_empty()
            && grace.is_none()
            && ready_within.is_none()
            && !ignore_readiness
            && stable_after.is_none()
            && *on_exit == OnExit::StopOnFailure
            && *on_reload == OnReload::Notify
    }

    /// The options as a member's seat and runs share them (the defaults
    /// without an allocation or a count).
    pub(crate) fn into_shared(self) -> SharedOptions {
        if self.is_default() {
            SharedOptions::DEFAULTS
        } else {
            SharedOptions(Some(Arc::new(self)))
        }
    }

    /// Checks the values, saying what is wrong and what is accepted.
    /// Inlined: every member's options are checked at every run of its
    /// group, and the checks are a few comparisons.
    #[inline]
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.max_attempts == Some(0) {
            return Err("max_attempts must be at least 1".into());
        }
        if let Some((_, within)) = self.max_restarts
            && within.is_zero()
        {
            return Err("the max_restarts window (`within`) must be longer than zero".into());
        }
        if self.ready_within.is_some_and(|d| d.is_zero()) {
            return Err("ready_within must be longer than zero".into());
        }
        if self.stable_after.is_some_and(|d| d.is_zero()) {
            return Err("stable_after must be longer than zero".into());
        }
        match &self.backoff {
            Some(backoff) => backoff.validate(),
            None => Ok(()),
        }
    }
}

impl Default for PlayerOptions {
    fn default() -> Self {
        PlayerOptions::DEFAULTS
    }
}

/// The defaults, where every member that has them reads them.
static DEFAULTS: PlayerOptions = PlayerOptions::DEFAULTS;

/// A member's options as its seat and its runs share them: its own in an
/// `Arc`, or the defaults, which most members have, read from one static
/// with no count. A count on one `Arc` shared by every player cost two
/// atomic operations on one cache line for each seat made and dropped, and
/// on a multi-thread runtime the workers that drop the seats of a stop
/// fought over that line. Made by `#[derive(Conductor)]` and by
/// [`Conductor`](struct@crate::Conductor); not meant to be used directly.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct SharedOptions(Option<Arc<PlayerOptions>>);

impl SharedOptions {
    /// Every option at its default.
    pub(crate) const DEFAULTS: SharedOptions = SharedOptions(None);
}

impl Deref for SharedOptions {
    type Target = PlayerOptions;

    fn deref(&self) -> &PlayerOptions {
        match &self.0 {
            Some(options) => options,
            None => &DEFAULTS,
        }
    }
}

/// A member's name within its conductor: up to 23 bytes held inline (no
/// allocation, a copy to clone), a field's name a `&'static str`, a longer
/// one shared.
pub(crate) type Name = smol_str::SmolStr;

/// The path of a member named `name` below `prefix` (the path of its
/// conductor, empty at the top).
pub(crate) fn path(prefix: &str, name: &str) -> Arc<str> {
    if prefix.is_empty() {
        Arc::from(name)
    } else {
        Arc::from(format!("{prefix}/{name}"))
    }
}

/// Checks a player's name, given at run time (`Conductor::add`,
/// `Context::spawn_player`): the derive's are field names, checked by the
/// compiler.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains('/') {
        return Err("a player name must be non-empty and must not contain `/`".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{PlayerOptions, SharedOptions};

    #[test]
    fn the_defaults_are_shared_without_an_allocation() {
        assert!(PlayerOptions::default().is_default());
        assert!(SharedOptions::DEFAULTS.is_default());
        let shared = PlayerOptions::new().into_shared();
        assert!(shared.0.is_none(), "the defaults are the static's");
    }

    #[test]
    fn options_of_its_own_are_kept() {
        let shared = PlayerOptions::new()
            .timeout(Duration::from_secs(3))
            .into_shared();
        assert!(shared.0.is_some());
        assert_eq!(shared.timeout, Some(Duration::from_secs(3)));
        assert!(!shared.is_default());
    }
}
