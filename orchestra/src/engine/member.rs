//! What the engine runs: a tree of [`Member`]s, each a player (behind the
//! object-safe [`DynPlayer`]) or a nested group.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::seat::Seat;
use crate::context::Context;
use crate::describe::Description;
use crate::error::{BoxError, Error};
use crate::options::PlayerOptions;

/// How a player is handed to the engine: given (to run on a task of its
/// own), lent (for one run in place, a conductor's `play(&mut self)`), or
/// shown (to be described).
#[doc(hidden)]
pub enum Access<'a, P> {
    /// Given: the engine owns it.
    Own(P),
    /// Lent for one run, polled on the caller's task.
    Borrow(&'a mut P),
    /// Shown, to be described.
    Show(&'a P),
}

/// The object-safe face of a player, which the engine stores. Every
/// `Player` is one (the impl is beside `spawn_leaf`, in `supervise`).
pub(crate) trait DynPlayer: Send {
    fn play_dyn(
        &mut self,
        ctx: Context,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + '_>>;

    /// Runs the player on a task of its own, typed, so that its runs are
    /// polled inline rather than boxed.
    fn spawn_dyn(self: Box<Self>, seat: Arc<Seat>) -> JoinHandle<Played>;
}

/// What an owned member's task gives back: the player and how it ended.
pub(crate) type Played = (Box<dyn DynPlayer>, Result<(), Error>);

/// One member of a conductor, as the engine runs it: a player or a nested
/// group, with its name and options. Made by `#[derive(Conductor)]` and by
/// [`Conductor`](struct@crate::Conductor); not meant to be used directly.
#[doc(hidden)]
pub struct Member<'a> {
    pub(crate) name: Arc<str>,
    pub(crate) options: Arc<PlayerOptions>,
    pub(crate) body: Body<'a>,
}

pub(crate) enum Body<'a> {
    /// A player.
    Player {
        player: Held<'a>,
        type_name: &'static str,
    },
    /// A nested conductor.
    Group(Group<'a>),
}

/// How the engine holds a player.
pub(crate) enum Held<'a> {
    /// Owned: runs on a task of its own, and comes back when that task ends
    /// (`None` while it runs, for good if it was aborted, and for a player
    /// only shown).
    Owned(Option<Box<dyn DynPlayer>>),
    /// Borrowed from a conductor's `play(&mut self)`: runs on the caller's task.
    Borrowed(&'a mut (dyn DynPlayer + 'static)),
}

/// A conductor's members and its default stop timeout.
pub(crate) struct Group<'a> {
    pub(crate) timeout: Option<Duration>,
    pub(crate) members: Vec<Member<'a>>,
}

impl<'a> Member<'a> {
    /// A player, by its type's name.
    pub(crate) fn player(
        name: &str,
        options: PlayerOptions,
        type_name: &'static str,
        player: Held<'a>,
    ) -> Self {
        Member {
            name: Arc::from(name),
            options: options.into_shared(),
            body: Body::Player { player, type_name },
        }
    }

    /// A conductor named `name` unless its own conductor names it: `timeout`
    /// is its default stop timeout for its members (inherited from above
    /// when `None`).
    pub fn conductor(name: &str, timeout: Option<Duration>, members: Vec<Member<'a>>) -> Self {
        Member::conductor_named(Arc::from(name), timeout, members)
    }

    pub(crate) fn conductor_named(
        name: Arc<str>,
        timeout: Option<Duration>,
        members: Vec<Member<'a>>,
    ) -> Self {
        Member {
            name,
            options: PlayerOptions::default().into_shared(),
            body: Body::Group(Group { timeout, members }),
        }
    }

    /// The member named `name` within its conductor, with `options`.
    pub(crate) fn placed(mut self, name: Option<&str>, options: PlayerOptions) -> Self {
        if let Some(name) = name
            && *self.name != *name
        {
            self.name = Arc::from(name);
        }
        self.options = options.into_shared();
        self
    }

    /// A copy of the member and the tree below it with no player in it, to
    /// be described.
    pub(crate) fn shown<'b>(&self) -> Member<'b> {
        let body = match &self.body {
            Body::Player { type_name, .. } => Body::Player {
                player: Held::Owned(None),
                type_name,
            },
            Body::Group(group) => Body::Group(Group {
                timeout: group.timeout,
                members: group.members.iter().map(Member::shown).collect(),
            }),
        };
        Member {
            name: self.name.clone(),
            options: self.options.clone(),
            body,
        }
    }

    /// The member's name within its conductor.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The member and the tree below it, with their options.
    pub(crate) fn describe(&self) -> Description {
        let options = PlayerOptions::clone(&self.options);
        match &self.body {
            Body::Player { type_name, .. } => Description::leaf(&self.name, options, type_name),
            Body::Group(group) => Description::conductor(
                &self.name,
                options,
                group.timeout,
                group.members.iter().map(Member::describe).collect(),
            ),
        }
    }
}
