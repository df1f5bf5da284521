//! What the engine runs: a tree of [`Member`]s, each a player (given,
//! behind the object-safe [`OwnedPlayer`]; lent, behind [`DynPlayer`]) or
//! a nested group.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::ends::EndNotice;
use super::seat::Seat;
use crate::context::Context;
use crate::describe::Description;
use crate::error::{BoxError, Error, panic_message};
use crate::options::{Name, PlayerOptions, SharedOptions, path};
use crate::supervision::{Strategy, Supervision};

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

/// The object-safe face of a player lent to the engine, run in place (a
/// conductor's `play(&mut self)`). Every `Player` is one (the impl is in
/// `supervise`).
pub(crate) trait DynPlayer: Send {
    fn play_dyn(
        &mut self,
        ctx: Context,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + '_>>;
}

/// A player given to the engine, as it stores it: boxed with the room for
/// its supervision (`owned`), pinned, as a task polls in that box.
pub(crate) trait OwnedPlayer: Send {
    /// Runs the player on a task of its own, in its box; the task gives
    /// the box back through `notice`.
    fn spawn(self: Pin<Box<Self>>, seat: Arc<Seat>, notice: EndNotice<Played>) -> JoinHandle<()>;
}

/// What an owned member's task gives back: the player and how it ended,
/// its error boxed: the group queues what its tasks give back as they end
/// (32 bytes each, not 88 with the error in place), and most end well.
pub(crate) type Played = (Pin<Box<dyn OwnedPlayer>>, Result<(), Box<Error>>);

/// One member of a conductor, as the engine runs it: a player or a nested
/// group, with its name and options. Made by `#[derive(Conductor)]` and by
/// [`Conductor`](struct@crate::Conductor); not meant to be used directly.
#[doc(hidden)]
pub struct Member<'a> {
    pub(crate) name: Name,
    pub(crate) options: SharedOptions,
    pub(crate) body: Body<'a>,
}

pub(crate) enum Body<'a> {
    /// A player.
    Player {
        player: Held<'a>,
        /// Its type's name (`std::any::type_name`), called only to
        /// describe it: a function is half the size of the name.
        type_name: fn() -> &'static str,
    },
    /// A nested conductor lent for one run in place (or shown): runs
    /// inside its group's future. Boxed, as `Given`.
    Group(Box<Group<'a>>),
    /// A nested conductor the engine owns: runs on a task of its own, so
    /// that nesting costs no stack, and comes back when that task ends
    /// (`None` while it runs, or for good if the task was aborted).
    /// Boxed: most members are players, and a member is as large as its
    /// largest kind.
    Given(Option<Box<Group<'static>>>),
}

/// How the engine holds a player.
pub(crate) enum Held<'a> {
    /// Owned: runs on a task of its own, and comes back when that task ends
    /// (`None` while it runs, for good if it was aborted, and for a player
    /// only shown).
    Owned(Option<Pin<Box<dyn OwnedPlayer>>>),
    /// Borrowed from a conductor's `play(&mut self)`: runs on the caller's task.
    Borrowed(&'a mut (dyn DynPlayer + 'static)),
}

/// A conductor's members, its default stop timeout, its drain (read at
/// the top of a run only) and how it supervises them.
#[derive(Default)]
pub(crate) struct Group<'a> {
    pub(crate) timeout: Option<Duration>,
    pub(crate) drain: Option<Duration>,
    pub(crate) supervision: Supervision,
    pub(crate) members: Vec<Member<'a>>,
    /// How many runs each member began in the group's earlier runs: a
    /// member's attempts go on counting when its group is restarted.
    pub(crate) runs: Vec<u32>,
}

/// Drops the tree below one level at a time: conductors nest to any depth,
/// and a recursive drop would need stack in proportion. A panic in a
/// player's `Drop` is caught, and logged naming the player.
impl Drop for Group<'_> {
    fn drop(&mut self) {
        for error in self.dismiss("") {
            tracing::error!(target: "orchestra", %error, "a player panicked while being dropped");
        }
    }
}

impl Group<'_> {
    /// Drops every player of the tree below, one level at a time; a panic
    /// in a player's `Drop` is caught and returned as [`Error::Panicked`],
    /// named by its path below `prefix` (made only then). Only conductors
    /// are moved; players drop in place.
    pub(crate) fn dismiss(&mut self, prefix: &str) -> Vec<Error> {
        let mut errors = Vec::new();
        let mut conductors = Vec::new();
        dismiss_level(prefix, &mut self.members, &mut errors, &mut conductors);
        while let Some((at, mut conductor)) = conductors.pop() {
            match &mut conductor.body {
                // Its members, their players gone, drop here: its own
                // `Drop` need not go over them again.
                Body::Group(group) => {
                    dismiss_level(&at, &mut group.members, &mut errors, &mut conductors);
                    group.members.clear();
                }
                Body::Given(Some(group)) => {
                    let mut given = Vec::new();
                    dismiss_level(&at, &mut group.members, &mut errors, &mut given);
                    group.members.clear();
                    conductors.extend(given);
                }
                Body::Player { .. } | Body::Given(None) => {}
            }
            // Drops now, with nothing below it.
        }
        errors
    }
}

/// Drops the players owned among `members`, catching a panic in a
/// `Drop`, and moves the conductors among them to `conductors`, with their
/// paths: one pass over the members.
fn dismiss_level<'a>(
    prefix: &str,
    members: &mut Vec<Member<'a>>,
    errors: &mut Vec<Error>,
    conductors: &mut Vec<(Arc<str>, Member<'a>)>,
) {
    let mut i = 0;
    while i < members.len() {
        let member = &mut members[i];
        match &mut member.body {
            Body::Player {
                player: Held::Owned(player),
                ..
            } => {
                if let Some(player) = player.take()
                    && let Err(panic) = catch_unwind(AssertUnwindSafe(move || drop(player)))
                {
                    errors.push(Error::Panicked {
                        path: path(prefix, &member.name),
                        attempt: 0,
                        message: format!("while being dropped: {}", panic_message(&*panic)),
                    });
                }
            }
            Body::Group(_) | Body::Given(Some(_)) => {
                // The last member takes its place, and is seen next.
                let conductor = members.swap_remove(i);
                conductors.push((path(prefix, &conductor.name), conductor));
                continue;
            }
            Body::Player { .. } | Body::Given(None) => {}
        }
        i += 1;
    }
}

impl<'a> Member<'a> {
    /// A player, by its type's name.
    pub(crate) fn player(
        name: Name,
        options: SharedOptions,
        type_name: fn() -> &'static str,
        player: Held<'a>,
    ) -> Self {
        Member {
            name,
            options,
            body: Body::Player { player, type_name },
        }
    }

    /// A conductor named `name` unless its own conductor names it: `timeout`
    /// is its default stop timeout for its members (inherited from above
    /// when `None`).
    pub fn conductor(name: &str, timeout: Option<Duration>, members: Vec<Member<'a>>) -> Self {
        Member::of_group(
            Name::new(name),
            Group {
                timeout,
                drain: None,
                supervision: Supervision::default(),
                members,
                runs: Vec::new(),
            },
        )
    }

    /// The conductor with a strategy and a restart intensity (for the
    /// derive; a player is left as it is).
    pub fn supervised(mut self, strategy: Strategy, max_restarts: Option<(u32, Duration)>) -> Self {
        let supervision = Supervision {
            strategy,
            max_restarts,
        };
        match &mut self.body {
            Body::Group(group) => group.supervision = supervision,
            Body::Given(Some(group)) => group.supervision = supervision,
            Body::Given(None) | Body::Player { .. } => {}
        }
        self
    }

    /// The conductor with a drain phase of `drain` before its stop, when it
    /// runs at the top (`#[conductor(drain = "5s")]`).
    pub fn drain(mut self, drain: Duration) -> Self {
        if let Body::Group(group) = &mut self.body {
            group.drain = Some(drain);
        }
        self
    }

    /// The drain phase the member asks for, if it is a conductor with one.
    pub(crate) fn drain_phase(&self) -> Option<Duration> {
        match &self.body {
            Body::Group(group) => group.drain,
            Body::Given(group) => group.as_ref().and_then(|group| group.drain),
            Body::Player { .. } => None,
        }
    }

    /// A conductor named `name` unless its own conductor names it.
    pub(crate) fn of_group(name: Name, group: Group<'a>) -> Self {
        Member {
            name,
            options: SharedOptions::DEFAULTS,
            body: Body::Group(Box::new(group)),
        }
    }

    /// The member given to the engine: a conductor runs on a task of its own.
    pub(crate) fn given(self) -> Member<'static>
    where
        'a: 'static,
    {
        let Member {
            name,
            options,
            body,
        } = self;
        let body = match body {
            Body::Group(group) => Body::Given(Some(group)),
            body => body,
        };
        Member {
            name,
            options,
            body,
        }
    }

    /// The member run in its group's future: a given conductor, lent.
    pub(crate) fn lent(mut self) -> Self {
        if let Body::Given(group @ Some(_)) = &mut self.body {
            self.body = Body::Group(group.take().unwrap_or_default());
        }
        self
    }

    /// The member named `name` within its conductor, with `options`.
    pub(crate) fn placed(mut self, name: Option<Name>, options: SharedOptions) -> Self {
        if let Some(name) = name {
            self.name = name;
        }
        self.options = options;
        self
    }

    /// A copy of the member and the tree below it with no player in it, to
    /// be described.
    pub(crate) fn shown<'b>(&self) -> Member<'b> {
        let body = match &self.body {
            Body::Player { type_name, .. } => Body::Player {
                player: Held::Owned(None),
                type_name: *type_name,
            },
            Body::Group(group) => Body::Group(Box::new(group.shown())),
            Body::Given(Some(group)) => Body::Group(Box::new(group.shown())),
            Body::Given(None) => Body::Group(Box::default()),
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
            Body::Player { type_name, .. } => Description::leaf(&self.name, options, type_name()),
            Body::Group(group) => group.describe(&self.name, options),
            Body::Given(Some(group)) => group.describe(&self.name, options),
            Body::Given(None) => Group::default().describe(&self.name, options),
        }
    }
}

impl Group<'_> {
    fn describe(&self, name: &str, options: PlayerOptions) -> Description {
        Description::conductor(
            name,
            options,
            self.timeout,
            self.supervision,
            self.drain,
            self.members.iter().map(Member::describe).collect(),
        )
    }

    /// A copy of the group with no player in it, to be described.
    pub(crate) fn shown<'b>(&self) -> Group<'b> {
        Group {
            timeout: self.timeout,
            supervision: self.supervision,
            drain: self.drain,
            members: self.members.iter().map(Member::shown).collect(),
            runs: Vec::new(),
        }
    }
}
