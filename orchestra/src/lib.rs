//! Run the long-lived parts of a service together — HTTP servers, queue
//! consumers, schedulers — restart them when they fail, and stop all of them
//! gracefully on `SIGINT`/`SIGTERM` or on the first fatal error.
//!
//! Declare the service as a struct of players and derive a conductor:
//!
//! ```
//! use orchestra::{BoxError, Conductor, Context, PlayExt, Player};
//!
//! struct Http;
//! impl Player for Http {
//!     async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
//!         ctx.ready();
//!         ctx.cancelled().await; // serve until asked to stop
//!         Ok(())
//!     }
//! }
//!
//! struct Consumer;
//! impl Player for Consumer {
//!     async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
//!         ctx.cancelled().await;
//!         Ok(())
//!     }
//! }
//!
//! #[derive(Conductor)]
//! #[conductor(timeout = "10s")]
//! struct App {
//!     #[player(timeout = "5s")]
//!     http: Http,
//!     #[player(restart = "on-failure", backoff = "exponential", after = "http")]
//!     consumer: Consumer,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), orchestra::Error> {
//! let app = App { http: Http, consumer: Consumer };
//! # let app_future =
//! app.play_until_signal()
//! # ; drop(app_future);
//! # let app = App { http: Http, consumer: Consumer };
//! # app.play_until(tokio::time::sleep(std::time::Duration::from_millis(1))).await
//! # }
//! ```
//!
//! # Model
//!
//! - A [`Player`] is anything with an async `play(&mut self, ctx)`. It must
//!   return soon after `ctx` is cancelled. [`player_fn`] makes one of a closure.
//! - A conductor runs players, **each on its own tokio task**: derive one
//!   with `#[derive(Conductor)]`, or build one at run time with [`Conductor`](struct@Conductor).
//!   Conductors are players, so they nest; paths name every player
//!   (`app/jobs/mailer`) in logs, spans and errors.
//! - A player returning `Ok(())` is done; its siblings keep running. An error
//!   or a panic stops every other player and is returned as an [`Error`] —
//!   unless the player's [`Restart`] policy restarts it after a [`Backoff`]
//!   delay, within its limits. A panic in a player's `Drop` (at the end of
//!   the run, or when it is aborted) is reported the same way. [`OnExit`]
//!   changes what a player's end does to its conductor: stop it even after
//!   `Ok(())`, or leave a failure alone.
//! - A conductor's [`Strategy`] restarts a player's siblings with it (all,
//!   or those ordered `after` it), and its own `max_restarts` counts the
//!   restarts of all its players: past it, the conductor fails, and the
//!   conductor above restarts it or fails in turn (Erlang/OTP's escalation).
//! - A player hands a value to the players ordered `after` it as it becomes
//!   ready ([`Context::ready_with`], [`Context::dependency`]).
//! - Stopping cancels every player, in reverse `after` order; each has its
//!   own stop timeout (the conductor's by default, 9 s at the top). A player
//!   still running then is aborted and named in [`Error::StopTimedOut`]. No
//!   task of a conductor outlives its run, save one that blocks its thread
//!   and so cannot be aborted: after 1 s it is left behind, and logged.
//! - [`play_until_signal`] runs a player until `SIGINT`/`SIGTERM`; a second
//!   signal forces the stop ([`Error::Forced`]), and ends the process within
//!   a second whatever the players do. [`play_until`] takes any shutdown
//!   future. With a drain ([`Runner::drain`],
//!   `#[conductor(drain = "5s")]`) the run first drains: players keep
//!   running and see it ([`Context::draining`]), probes report not ready,
//!   then the graceful stop runs.
//! - `after = "db"` starts a player once `db` calls [`Context::ready`] (or
//!   returns `Ok` for good); `grace` (opt-in, with a warning) and
//!   `ready_within` (a deadline that fails the run) bound the wait.
//! - A [`Monitor`] attached through a [`Runner`] watches a run: statuses,
//!   timestamped events, listeners, and a report at the end.
//!
//! # Work that lives inside a player
//!
//! A player that hands work to tasks of its own (a consumer handling each
//! message on a task, a server each connection) spawns them through its
//! context rather than with `tokio::spawn`, so that they belong to its run:
//!
//! - [`Context::spawn`] runs a child task inside the player's span. The
//!   run counts as ended only once `play` has returned **and** every child
//!   has ended: on `SIGTERM`, the items in flight are finished, within the
//!   player's stop timeout. A child observes the stop through a clone of
//!   the context. When the player is aborted (its stop timeout passed, or
//!   the stop was forced) its children are aborted with it, and counted in
//!   the log.
//! - A child that returns an `Err` or panics fails the run as if `play`
//!   had returned that error, named by the player's path: `play` is dropped
//!   where it waits (stopped gracefully instead, within its stop timeout,
//!   when the run has a [`Handle`]), the other children are aborted, and the
//!   player's restart policy decides what follows.
//! - [`Context::spawn_player`] starts a child player at run time, at
//!   `parent/name`, supervised like a declared member (restart policy,
//!   backoff, limits, stop timeout, events, statuses, metrics). It is asked
//!   to stop with its parent, whose run ends only once it has ended; its
//!   final failure fails its parent's run. Started while its parent stops,
//!   it runs already cancelled.
//!
//! A player that never spawns pays nothing for this: its children are
//! allocated at the first spawn.
//!
//! ```
//! use orchestra::{player_fn, BoxError, Context};
//!
//! let consumer = player_fn(|ctx: Context| async move {
//!     let mut next = 0_u32;
//!     while ctx.run_until_cancelled(tokio::task::yield_now()).await.is_some() {
//!         next += 1;
//!         let item = ctx.clone();
//!         // Finished before the run ends, even when the stop comes first.
//!         ctx.spawn(async move {
//!             tracing::info!(player = item.path(), next, "handled");
//!             Ok::<(), BoxError>(())
//!         });
//!         # if next == 3 { break; }
//!     }
//!     Ok(())
//! });
//! # drop(consumer);
//! ```
//!
//! # Controlling a running service
//!
//! [`Runner::handle`], asked for before the run starts (or
//! [`Context::handle`] inside it), gives a [`Handle`]: cloneable, `Send`,
//! usable from anywhere — an admin endpoint, a test, another player. It
//! names members by path:
//!
//! - [`Handle::stop`] stops one member gracefully, within its stop timeout,
//!   and answers with how its run ended (its error, a panic, or
//!   [`Error::StopTimedOut`]): the answer goes to the caller, not to the
//!   conductor. A member stopped so is neither failed nor done: its
//!   siblings keep running, and its conductor does not end because of it
//!   (a conductor is done when each of its members returned by itself or
//!   was removed); it waits for [`Handle::start`], or for its conductor's
//!   stop.
//! - [`Handle::restart`] stops its run and starts another at once;
//!   [`Handle::remove`] stops it and ends it for good.
//! - [`Handle::add`] starts a new member below a running one (a conductor,
//!   typically), as [`Context::spawn_player`] does.
//! - [`Handle::status`], [`Handle::is_running`] and [`Handle::players`]
//!   read the run's [`Monitor`] (one is kept for a run with a handle);
//!   [`Handle::stop_all`] and [`Handle::force`] stop the whole run, as a
//!   first and a second signal would.
//!
//! Unknown paths ([`Error::UnknownPlayer`]), orders that cannot be carried
//! out, such as an addition during the stop ([`Error::Refused`]), and
//! duplicate names ([`Error::DuplicateName`]) are errors of their own. A run
//! without a handle registers nothing. `cargo run --example admin` serves
//! the list of players and these orders over HTTP.
//!
//! # A player that blocks its thread
//!
//! A player must `.await` to be stopped: one that blocks its thread (a
//! `std::thread::sleep` loop, blocking I/O) can be neither cancelled nor
//! aborted. On a multi-thread runtime the others stop around it: it is
//! aborted at its stop timeout, left behind 1 s later, and the run returns
//! [`Error::StopTimedOut`]; but the process cannot end while the thread is
//! blocked (tokio's runtime waits for its threads when dropped). On a
//! current-thread runtime (or with every worker blocked) nothing else runs,
//! not even the graceful stop. Either way, with [`play_until_signal`], a
//! second signal ends the process 1 s later with code 130. Run blocking work
//! with `tokio::task::spawn_blocking`, and check `ctx.is_cancelled()`
//! between its steps. See [`Runner::play_until_signal`].
//!
//! # Exit codes
//!
//! `main` returns the run's result as an [`Exit`]
//! (`async fn main() -> orchestra::Exit { app.play_until_signal().await.into() }`):
//! the error is logged and the process exits with a code per cause.
//!
//! | code | cause |
//! |---|---|
//! | 0 | a clean run |
//! | 1 | a player failed or panicked; any error other than orchestra's |
//! | 2 | a configuration error: the run could not start |
//! | 3 | players did not stop in time and were aborted |
//! | 4 | a player reached a restart limit |
//! | 130 | the stop was forced by a second signal |
//!
//! Several failures exit with the code of the first, the cause of the stop
//! ([`Error::exit_code`]).
//!
//! # Cargo features
//!
//! - `derive` (default): `#[derive(Conductor)]`.
//! - `backoff`: `Backoff::from_backoff_crate`, an adapter for the `backoff`
//!   crate's strategies (opt-in: that crate is unmaintained, RUSTSEC-2025-0012).
//! - `metrics`: counters and a gauge per player through the `metrics` facade;
//!   see the `metrics` module.
//! - `health`: readiness and liveness probes (an axum `Router`) and systemd
//!   notification, from a [`Monitor`]; see the `health` module.
//! - `server`: `HttpServer`, a player serving an axum `Router` (or any tower
//!   service) over HTTP/1 and HTTP/2, drained gracefully on stop; `tls` adds
//!   HTTPS through rustls.
//!
//! # How the crate is built
//!
//! Its modules import only from the ones below them (`.ci/imports` checks
//! it), bottom-up:
//!
//! 1. values: `error`, `restart`, `supervision`, `options`, `signal`,
//!    `describe`, `execution_id`, `time` (deadlines that never overflow),
//!    `reload` (reload requests);
//! 2. watching a run: `status` (events, [`Monitor`]), `metrics`;
//! 3. the engine's state: `engine::shutdown` (how a run ends, phase by
//!    phase), `engine::children` and `engine::control` (a run's children,
//!    a member's orders), `engine::seat` (one member's state, shared by its
//!    runs), `engine::scope` (spawning and draining a run's children);
//! 4. [`Context`], a player's facade over its seat;
//! 5. `engine::member` (the tree the engine runs), then [`Player`];
//! 6. the engine proper: `engine::command` (a handle's orders carried
//!    out), `engine::supervise` (one member: restarts, on a task of its
//!    own), `engine::child_player` (players started at run time),
//!    `engine::group` (start order, failure, stop), `engine` (a player as a
//!    member, the top of a run);
//! 7. what users call: [`Runner`], [`Handle`], [`Conductor`](struct@Conductor),
//!    the derive's support (`derived`), `health`, `server`.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod conductor;
mod context;
mod control;
mod derived;
mod describe;
mod engine;
mod error;
mod execution_id;
mod exit;
#[cfg(feature = "health")]
#[cfg_attr(docsrs, doc(cfg(feature = "health")))]
pub mod health;
mod lock;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod options;
mod parse;
mod player;
mod reload;
mod restart;
mod runner;
#[cfg(feature = "server")]
mod server;
mod signal;
mod signals;
mod status;
mod supervision;
mod time;
mod watchdog;
mod woken;

pub use conductor::Conductor;
pub use context::Context;
pub use control::Handle;
pub use describe::Description;
pub use engine::children::TaskResult;
pub use error::{BoxError, Error, Limit, Straggler};
pub use execution_id::ExecutionId;
pub use exit::Exit;
pub use options::PlayerOptions;
pub use parse::ParseError;
pub use player::{Player, PlayerClosure, PlayerFn, RestartNow, player_fn};
pub use reload::{OnReload, Reloader};
pub use restart::{Backoff, Restart};
pub use runner::{PlayExt, Runner, describe, play_until, play_until_signal};
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use server::{HttpServer, HttpService, LocalAddr, ResponseBody, ServerError, ServerStats};
pub use signal::Signal;
pub use signals::Signals;
pub use status::{Event, EventKind, Monitor, PlayerReport, PlayerStatus, Report, State};
pub use supervision::{OnExit, Strategy};
/// The token a [`Context`] is made of ([`Context::new`]), re-exported from
/// `tokio-util` so that a test of a player needs no dependency of its own.
pub use tokio_util::sync::CancellationToken;

/// Derives a typed conductor from a struct whose fields are players.
#[cfg(feature = "derive")]
#[cfg_attr(docsrs, doc(cfg(feature = "derive")))]
pub use orchestra_macros::Conductor;

/// What `#[derive(Conductor)]` expands to refers to; not a public API (see
/// `derived.rs`).
#[doc(hidden)]
pub mod __private010 {
    pub use crate::derived::{
        Field, IsPlayer, Names, NotAPlayer, default_options, max, play, shared,
    };
    pub use crate::engine::member::{Access, Member};
    pub use core::time::Duration;
}
