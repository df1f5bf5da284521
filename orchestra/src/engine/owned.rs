//! A player given to the engine, boxed once with the room for the task
//! that supervises it ([`owned`]): starting it writes its supervision into
//! that box, and allocates nothing more.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use pin_project_lite::pin_project;
use tokio::task::JoinHandle;

use super::ends::EndNotice;
use super::member::{OwnedPlayer, Played};
use super::seat::Seat;
use super::supervise::{Typed, supervise};
use crate::error::Error;
use crate::player::Player;

/// `player`, given to the engine: in a box with the room for its
/// supervision, which the engine keeps from the member's first run to its
/// last, and hands back between them.
pub(super) fn owned<P: Player>(player: P) -> Pin<Box<dyn OwnedPlayer>> {
    // Written into the box made for it: `Box::new` would copy the whole
    // room from the stack (400 bytes for the bench's players), not only
    // the player.
    let owned = Box::write(Box::new_uninit(), Owned::new(player, supervised::<P>));
    Box::into_pin(owned)
}

/// The supervision of a player that it owns, giving it back as it ends:
/// the seat goes before the player is handed back.
#[expect(
    clippy::manual_async_fn,
    reason = "an `async fn` keeps a second copy of its arguments: 16 bytes more in every box"
)]
fn supervised<P: Player>(
    mut player: P,
    seat: Arc<Seat>,
) -> impl Future<Output = (P, Result<(), Error>)> + Send {
    async move {
        let result = supervise(Typed(&mut player), &seat).await;
        (player, result)
    }
}

pin_project! {
    /// A player with the room for its supervision. Its supervision boxed
    /// at each start would take a second allocation (on a multi-thread
    /// runtime, freed on another thread), and kept in tokio's cell it would
    /// be moved at every step of the spawn: this box is made once, when the
    /// player is given, and a task polls in it without moving it.
    struct Owned<P, S, F> {
        // How it is supervised: a function item, which takes no room.
        supervise: S,
        #[pin]
        stage: Stage<P, F>,
    }
}

pin_project! {
    /// Idle, the player; while its task runs, its supervision, which owns
    /// it.
    #[project = StageProj]
    #[project_replace = StageOwn]
    enum Stage<P, F> {
        Idle { player: P },
        Supervised { #[pin] supervision: F },
        /// For the moment the player moves into its supervision.
        Moving,
    }
}

impl<P, S, F> Owned<P, S, F>
where
    S: Fn(P, Arc<Seat>) -> F,
{
    /// Infers the supervision's type, which has no name, from `supervise`.
    fn new(player: P, supervise: S) -> Self {
        Owned {
            supervise,
            stage: Stage::Idle { player },
        }
    }
}

impl<P, S, F> OwnedPlayer for Owned<P, S, F>
where
    P: Player,
    S: Fn(P, Arc<Seat>) -> F + Send + 'static,
    F: Future<Output = (P, Result<(), Error>)> + Send + 'static,
{
    fn spawn(
        mut self: Pin<Box<Self>>,
        seat: Arc<Seat>,
        notice: EndNotice<Played>,
    ) -> JoinHandle<()> {
        let this = self.as_mut().project();
        let mut stage = this.stage;
        // Only an idle player is given to be spawned (the engine holds it
        // between runs); were it not, the task would end at once, lost.
        if let StageOwn::Idle { player } = stage.as_mut().project_replace(Stage::Moving) {
            let supervision = (this.supervise)(player, seat);
            stage.set(Stage::Supervised { supervision });
        }
        tokio::spawn(OnTask(Some((self, notice))))
    }
}

/// The future of an owned player's task: polls the supervision in the
/// player's box, and hands the box back through the notice as it ends
/// (`None` once it has). Two pointers and an index: tokio moves it as it
/// spawns it, and its cell is the same for every player.
struct OnTask<P, S, F>(Option<Running<P, S, F>>);

/// A player's box while its task runs, and where the task gives it back.
type Running<P, S, F> = (Pin<Box<Owned<P, S, F>>>, EndNotice<Played>);

impl<P, S, F> Future for OnTask<P, S, F>
where
    P: Player,
    S: Fn(P, Arc<Seat>) -> F + Send + 'static,
    F: Future<Output = (P, Result<(), Error>)> + Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some((owned, _)) = &mut this.0 else {
            return Poll::Ready(());
        };
        let mut stage = owned.as_mut().project().stage;
        let StageProj::Supervised { supervision } = stage.as_mut().project() else {
            // Dropped, the notice tells the group that the task was lost.
            this.0 = None;
            return Poll::Ready(());
        };
        let (player, result) = ready!(supervision.poll(cx));
        stage.set(Stage::Idle { player });
        if let Some((owned, notice)) = this.0.take() {
            notice.ended((owned, result.map_err(Box::new)));
        }
        Poll::Ready(())
    }
}
