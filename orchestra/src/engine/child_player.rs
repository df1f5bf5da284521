//! Child players started at run time by a player (`ctx.spawn_player`), or
//! added to a running conductor through its handle: supervised like
//! declared members, as children of the run that started them.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::sleep;

use super::command::timed_out;
use super::seat::Seat;
use super::supervise::{Typed, supervise};
use crate::context::Context;
use crate::error::Error;
use crate::options::{Name, PlayerOptions, check_name, path};
use crate::player::Player;
use crate::status::EventKind;

impl Context {
    /// Starts `player` as a child of this run, named `name` below this
    /// player (path `parent/name`), and supervised like a declared member:
    /// its restart policy, backoff and limits, its stop timeout (its own,
    /// else its parent's default), its events, statuses and metrics.
    ///
    /// It is asked to stop with its parent; the parent's run ends only once
    /// every child player has ended, and a child player's final failure
    /// fails its parent's run (as [`spawn`](Context::spawn) says). Started
    /// while its parent is stopping, it runs with its cancellation already
    /// requested, and so returns at once.
    ///
    /// ```
    /// use orchestra::{player_fn, Context, PlayerOptions, Restart};
    ///
    /// let pool = player_fn(|ctx: Context| async move {
    ///     for n in 0..4 {
    ///         let worker = player_fn(|ctx: Context| async move {
    ///             ctx.cancelled().await;
    ///             Ok(())
    ///         });
    ///         let options = PlayerOptions::new().restart(Restart::OnFailure);
    ///         ctx.spawn_player(&format!("worker-{n}"), worker, options)?;
    ///     }
    ///     ctx.cancelled().await;
    ///     Ok(())
    /// });
    /// # drop(pool);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateName`] if a child of that name is running,
    /// [`Error::Config`] if the name is empty or contains `/`, or if the
    /// options are invalid.
    pub fn spawn_player<P: Player>(
        &self,
        name: &str,
        player: P,
        options: PlayerOptions,
    ) -> Result<(), Error> {
        spawn_player(self.seat(), self.attempt(), name, player, options)
    }
}

/// Starts `player` as a child named `name` of the run numbered `attempt`
/// of the member whose seat is `parent`.
pub(crate) fn spawn_player<P: Player>(
    parent: &Arc<Seat>,
    attempt: u32,
    name: &str,
    mut player: P,
    options: PlayerOptions,
) -> Result<(), Error> {
    if let Err(message) = check_name(name).and_then(|()| options.validate()) {
        return Err(Error::Config {
            path: path(parent.path(), name),
            message,
        });
    }
    let name: Arc<str> = Arc::from(name);
    let children = parent.children();
    if !children.claim(&name) {
        return Err(Error::DuplicateName {
            conductor: parent.path().clone(),
            name,
        });
    }
    let timeout = options.timeout.unwrap_or(parent.inherited_timeout());
    let conductor = P::__DEPTH_CYCLES_IF_A_CONDUCTOR_CONTAINS_ITSELF > 0;
    let seat = Seat::child(parent, Name::new(&*name), conductor, options.into_shared());
    let released = seat.name.clone();
    let spawned = children.spawn(parent, attempt, async move {
        seat.emit(0, None, || EventKind::Starting);
        let result = play_child(&mut player, &seat, timeout).await;
        if let Some(parent) = seat.parent()
            && let Some(children) = parent.children.get()
        {
            children.release(&seat.name);
        }
        result
    });
    if !spawned {
        children.release(&released);
    }
    Ok(())
}

/// Supervises a child player until it ends, or until `timeout` after it was
/// asked to stop: then it is dropped (aborted) and named a straggler.
async fn play_child<P: Player>(
    player: &mut P,
    seat: &Arc<Seat>,
    timeout: Duration,
) -> Result<(), Error> {
    let expired = async {
        seat.token().cancelled().await;
        seat.emit(0, None, || EventKind::Stopping);
        sleep(timeout).await;
    };
    tokio::select! {
        biased;
        // The stop first, so that `Stopping` is reported before the end.
        () = expired => Err(timed_out(seat, timeout)),
        result = supervise(Typed(player), seat) => result,
    }
}
