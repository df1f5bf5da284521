//! The one execution engine: every conductor, derived or built at run time,
//! hands it a tree of [`Member`]s and it runs them. Its modules, bottom-up:
//!
//! - [`shutdown`]: how a run ends, through its phases ([`Shutdown`]).
//! - [`handoff`]: the typed values members hand to those ordered after
//!   them.
//! - [`seat`]: the state of one member shared by its runs ([`Seat`]), and
//!   of the whole tree ([`Root`](seat::Root)); [`Context`] is a facade over
//!   a seat.
//! - [`children`], [`scope`]: the child tasks and players of a member's run, drained
//!   before the run ends and aborted with the member.
//! - [`member`]: what the engine runs ([`Member`]), players behind the
//!   object-safe `OwnedPlayer` (given) and `DynPlayer` (lent).
//! - [`control`]: the orders a control handle sends one member;
//!   [`command`] carries them out in its supervision loop.
//! - [`child_player`]: players started at run time, as children of a run.
//! - [`supervise`] runs one member: deferred start, the restart loop, backoff
//!   and limits, panic capture, its tracing span.
//! - [`owned`]: a player given to the engine, boxed once with the room for
//!   the task that supervises it.
//! - [`ends`] and [`tasks`]: how a group awaits its owned members' tasks.
//! - [`unordered`]: the set of futures a group polls in place, made at
//!   its first push.
//! - [`order`]: the `after` order of a group's members, resolved.
//! - [`group`] runs a group of members: start order, readiness, failure
//!   fan-out, ordered stop, per-member stop timeouts, stragglers.
//! - [`top`] runs a conductor at the top of a run in place, without a
//!   group of one around it.
//! - this module: a [`Player`] as a member, and the top of a run.

pub(crate) mod child_player;
pub(crate) mod children;
pub(crate) mod command;
pub(crate) mod control;
mod ends;
mod group;
pub(crate) mod handoff;
pub(crate) mod member;
mod order;
mod owned;
pub(crate) mod scope;
pub(crate) mod seat;
pub(crate) mod shutdown;
mod strategy;
mod supervise;
mod tasks;
mod top;
mod unordered;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::error::{BoxError, Error};
use crate::options::{DEFAULT_TIMEOUT, Name, SharedOptions};
use crate::player::Player;
use crate::reload::Reloads;
use crate::status::{Monitor, RunPhase};
use member::{Access, Body, Group, Held, Member};
use seat::{Registry, Root, Seat};
use shutdown::Shutdown;

/// `player` as a member of the engine, named `name` within its conductor
/// (at the top, a conductor keeps its own name and a player is `player`).
#[inline]
pub(crate) fn member_of<'a, P: Player>(
    access: Access<'a, P>,
    name: Option<Name>,
    options: SharedOptions,
) -> Member<'a> {
    if P::__DEPTH_CYCLES_IF_A_CONDUCTOR_CONTAINS_ITSELF > 0 {
        let member = match access {
            Access::Own(player) => P::__conductor(Access::Own(player)).given(),
            access => P::__conductor(access),
        };
        return member.placed(name, options);
    }
    let player = match access {
        Access::Own(player) => Held::Owned(Some(owned::owned(player))),
        Access::Borrow(player) => Held::Borrowed(player),
        Access::Show(_) => Held::Owned(None),
    };
    Member::player(
        name.unwrap_or_else(|| Name::new_static("player")),
        options,
        std::any::type_name::<P>,
        player,
    )
}

impl Group<'_> {
    /// Runs the group in place for a conductor's `play(&mut self, ctx)`: under
    /// `ctx`'s path, until `ctx` is cancelled or every member is done.
    pub(crate) async fn play(&mut self, ctx: Context) -> Result<(), Error> {
        let never = CancellationToken::new();
        group::conduct(self, &ctx, &never, DEFAULT_TIMEOUT).await
    }
}

/// Plays a conductor lent to the engine, for a derived conductor's
/// `play(&mut self, ctx)`.
pub(crate) async fn play_in_place(ctx: Context, conductor: Member<'_>) -> Result<(), BoxError> {
    match conductor.body {
        Body::Group(mut group) => group.play(ctx).await.map_err(BoxError::from),
        Body::Given(Some(mut group)) => group.play(ctx).await.map_err(BoxError::from),
        Body::Player {
            player: Held::Borrowed(player),
            ..
        } => player.play_dyn(ctx).await,
        Body::Player {
            player: Held::Owned(_),
            ..
        }
        | Body::Given(None) => Err(Error::Unavailable {
            path: ctx.path().into(),
        }
        .into()),
    }
}

/// Runs `member` as the root of a tree: until it is done, or until
/// `shutdown` is requested and it has stopped; forcing `shutdown` cuts the
/// stop short.
///
/// With a monitor, its listeners run for the duration, and the tree of
/// players and the table of their runs are logged at the start and the end.
pub(crate) async fn play_root(
    member: Member<'static>,
    shutdown: Shutdown,
    monitor: Option<Monitor>,
    registry: Option<Arc<Registry>>,
    reloads: Reloads,
) -> Result<(), Error> {
    tracing::info!(target: "orchestra", "starting {}", member.describe());
    let listening = monitor.as_ref().map(|monitor| {
        monitor.enter(RunPhase::Running);
        monitor.start_listeners()
    });
    let listening_bound = group::stop_timeout(&member, DEFAULT_TIMEOUT);

    let root = Arc::new(Root {
        shutdown,
        monitor,
        registry,
        reloads,
    });
    // The root's conductor runs in this future, not on a task of its own:
    // it starts its players at the first poll.
    let mut member = member.lent();
    let seat = Arc::new(Seat::above_all(root.clone()));
    let forcing = root.shutdown.forcing();
    let (result, dropped) = if top::runs_in_place(&member) {
        top::conduct(&mut member, &seat).await
    } else {
        let mut top = Group {
            timeout: None,
            supervision: Default::default(),
            drain: None,
            members: vec![member],
            runs: Vec::new(),
        };
        let ctx = Context::for_run(seat, 1);
        let result = group::conduct(&mut top, &ctx, forcing, DEFAULT_TIMEOUT).await;
        // The players end here, at the end of the run: a panic in a
        // `Drop` is one of its failures.
        (result, top.dismiss(""))
    };
    let errors = result.err().into_iter().chain(dropped).collect();
    let result = Error::combine(errors).map_or(Ok(()), Err);
    if let Some(monitor) = &root.monitor {
        monitor.enter(RunPhase::Ended);
    }

    if let Some(listening) = listening {
        listening.finish(listening_bound, forcing).await;
    }
    if let Some(monitor) = &root.monitor {
        tracing::info!(target: "orchestra", "players at the end of the run:\n{}", monitor.report());
    }
    result
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::player::player_fn;
    use crate::status::{EventKind, State};

    /// A player that never returns, whatever it is asked.
    fn stuck() -> impl Player {
        player_fn(|_ctx: Context| std::future::pending())
    }

    /// Runs a stuck player, watched, and asks it to stop.
    async fn stop_stuck() -> (
        Shutdown,
        Monitor,
        tokio::task::JoinHandle<Result<(), Error>>,
    ) {
        let shutdown = Shutdown::new();
        let monitor = Monitor::new();
        let member = member_of(Access::Own(stuck()), None, SharedOptions::DEFAULTS);
        let root = play_root(
            member,
            shutdown.clone(),
            Some(monitor.clone()),
            None,
            Reloads::default(),
        );
        let run = tokio::spawn(root);
        tokio::task::yield_now().await;
        shutdown.request();
        (shutdown, monitor, run)
    }

    #[tokio::test(start_paused = true)]
    async fn a_forced_stop_reports_its_players_as_aborted_by_the_force() {
        let (shutdown, monitor, run) = stop_stuck().await;

        tokio::time::sleep(Duration::from_secs(1)).await;
        shutdown.force("a second SIGINT");
        let result = run.await.unwrap();

        assert!(matches!(result, Err(Error::Forced { .. })), "{result:?}");
        let status = monitor.status("player").unwrap();
        assert_eq!(status.state, State::Failed);
        assert_eq!(
            status.last_error.as_deref(),
            Some("aborted: the stop was forced (a second SIGINT)")
        );
        assert!(
            monitor.report().to_string().contains("the stop was forced"),
            "{}",
            monitor.report()
        );
        let last = monitor
            .report()
            .events("player")
            .last()
            .map(|e| e.kind.clone());
        assert_eq!(
            last,
            Some(EventKind::Aborted {
                forced: Some("a second SIGINT".into())
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_top_conductor_is_reported_stopping_while_its_players_stop() {
        let shutdown = Shutdown::new();
        let monitor = Monitor::new();
        let mut conductor = crate::Conductor::named("app");
        conductor
            .add(
                "slow",
                player_fn(|ctx: Context| async move {
                    ctx.cancelled().await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(())
                }),
            )
            .unwrap();
        let member = member_of(Access::Own(conductor), None, SharedOptions::DEFAULTS);
        let run = tokio::spawn(play_root(
            member,
            shutdown.clone(),
            Some(monitor.clone()),
            None,
            Reloads::default(),
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(monitor.status("app").unwrap().state, State::Running);

        shutdown.request();
        tokio::time::sleep(Duration::from_millis(10)).await;
        for path in ["app", "app/slow"] {
            assert_eq!(
                monitor.status(path).unwrap().state,
                State::Stopping,
                "{path}"
            );
        }
        run.await.unwrap().unwrap();
        assert_eq!(monitor.status("app").unwrap().state, State::Stopped);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_timeout_reports_its_players_as_late() {
        let (_shutdown, monitor, run) = stop_stuck().await;

        let result = run.await.unwrap();

        assert!(
            matches!(result, Err(Error::StopTimedOut { .. })),
            "{result:?}"
        );
        let status = monitor.status("player").unwrap();
        assert_eq!(
            status.last_error.as_deref(),
            Some("aborted: it did not stop in time")
        );
    }
}
