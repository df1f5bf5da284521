//! The one execution engine: every conductor, derived or built at run time,
//! hands it a tree of [`Member`]s and it runs them.
//!
//! - [`supervise`] runs one member: deferred start, the restart loop, backoff
//!   and limits, panic capture, its tracing span.
//! - [`group`] runs a group of members: start order, readiness, failure
//!   fan-out, ordered stop, per-member stop timeouts, stragglers.

mod group;
mod supervise;

pub(crate) use supervise::{MemberRun, Played, spawn_leaf};

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::context::{Context, ExecutionId, Seat};
use crate::describe::Description;
use crate::error::{BoxError, Error};
use crate::options::PlayerOptions;
use crate::player::{DynPlayer, Player};
use crate::status::{EventKind, Monitor};

/// The stop timeout when no conductor sets one (Go orchestra's default).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(9);

/// State shared by every member of one top-level run.
#[derive(Debug, Default)]
pub(crate) struct Run {
    /// Set when the graceful stop is cut short: what cut it.
    pub(crate) forced: OnceLock<String>,
    /// Where status events go, if anyone watches.
    pub(crate) monitor: Option<Monitor>,
}

impl Run {
    /// Reports a status event of the member in `seat` (whose path is made
    /// only if someone listens).
    pub(crate) fn emit(
        &self,
        seat: &Seat,
        attempt: u32,
        execution_id: Option<ExecutionId>,
        kind: impl FnOnce() -> EventKind,
    ) {
        #[cfg(feature = "metrics")]
        let kind = {
            let kind = kind();
            crate::metrics::record(seat.path(), attempt, &kind);
            move || kind
        };
        if let Some(monitor) = &self.monitor {
            monitor.record(seat.path(), attempt, execution_id, kind());
        }
    }
}

/// The options in an `Arc`, one shared by every member that has the defaults.
fn intern(options: PlayerOptions) -> Arc<PlayerOptions> {
    static DEFAULT: OnceLock<Arc<PlayerOptions>> = OnceLock::new();
    if options.is_default() {
        DEFAULT
            .get_or_init(|| Arc::new(PlayerOptions::default()))
            .clone()
    } else {
        Arc::new(options)
    }
}

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
    /// Owned by the engine: runs on a task of its own, and comes back when
    /// that task ends (`None` while it runs, or for good if it was aborted).
    Owned {
        player: Option<Box<dyn DynPlayer>>,
        type_name: &'static str,
    },
    /// Borrowed from a conductor's `play(&mut self)`: runs on the caller's task.
    Borrowed {
        player: &'a mut dyn DynPlayer,
        type_name: &'static str,
    },
    /// A nested conductor.
    Group(Group<'a>),
}

/// A conductor's members and its default stop timeout.
pub(crate) struct Group<'a> {
    pub(crate) timeout: Option<Duration>,
    pub(crate) members: Vec<Member<'a>>,
}

impl Member<'static> {
    /// A player the engine owns and runs on a task of its own.
    pub fn leaf<P: Player>(name: &str, options: PlayerOptions, player: P) -> Self {
        Member {
            name: Arc::from(name),
            options: intern(options),
            body: Body::Owned {
                player: Some(Box::new(player)),
                type_name: std::any::type_name::<P>(),
            },
        }
    }
}

impl<'a> Member<'a> {
    /// A player borrowed for one in-place run, polled on the caller's task.
    pub fn borrowed<P: Player>(name: &str, options: PlayerOptions, player: &'a mut P) -> Self {
        Member {
            name: Arc::from(name),
            options: intern(options),
            body: Body::Borrowed {
                player,
                type_name: std::any::type_name::<P>(),
            },
        }
    }

    /// A nested conductor: `timeout` is its default stop timeout for its
    /// members (inherited from above when `None`).
    pub fn group(
        name: &str,
        options: PlayerOptions,
        timeout: Option<Duration>,
        members: Vec<Member<'a>>,
    ) -> Self {
        Member {
            name: Arc::from(name),
            options: intern(options),
            body: Body::Group(Group { timeout, members }),
        }
    }

    /// The member's name within its conductor.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn describe(&self) -> Description {
        let options = PlayerOptions::clone(&self.options);
        match &self.body {
            Body::Owned { type_name, .. } | Body::Borrowed { type_name, .. } => {
                Description::leaf(&self.name, options, type_name)
            }
            Body::Group(group) => Description::conductor(
                &self.name,
                options,
                group.timeout,
                group.members.iter().map(Member::describe).collect(),
            ),
        }
    }
}

impl<'a> Group<'a> {
    /// Runs the group in place for a conductor's `play(&mut self, ctx)`: under
    /// `ctx`'s path, until `ctx` is cancelled or every member is done.
    pub(crate) async fn play(&mut self, ctx: Context) -> Result<(), Error> {
        let never = CancellationToken::new();
        group::run(self, &ctx, &never, DEFAULT_TIMEOUT).await
    }
}

/// Runs a derived conductor's fields in place, for its `play(&mut self, ctx)`.
#[doc(hidden)]
pub async fn play_in_place(
    ctx: Context,
    timeout: Option<Duration>,
    members: Vec<Member<'_>>,
) -> Result<(), BoxError> {
    let mut group = Group { timeout, members };
    group.play(ctx).await.map_err(BoxError::from)
}

/// Runs `member` as the root of a tree: until it is done, or until `stop` is
/// cancelled and it has stopped; cancelling `abort` cuts the stop short.
///
/// With a monitor, its listeners run for the duration, and the tree of
/// players and the table of their runs are logged at the start and the end.
pub(crate) async fn play_root(
    member: Member<'static>,
    stop: CancellationToken,
    abort: CancellationToken,
    run: Arc<Run>,
) -> Result<(), Error> {
    tracing::info!(target: "orchestra", "starting {}", member.describe());
    let listening = run.monitor.as_ref().map(Monitor::start_listeners);

    let mut root = Group {
        timeout: None,
        members: vec![member],
    };
    let ctx = Context::for_run(
        Arc::new(Seat::new(stop, None, Arc::from(""), None, run.clone())),
        1,
    );
    let result = group::run(&mut root, &ctx, &abort, DEFAULT_TIMEOUT).await;

    if let Some(listening) = listening {
        listening.finish().await;
    }
    if let Some(monitor) = &run.monitor {
        tracing::info!(target: "orchestra", "players at the end of the run:\n{}", monitor.report());
    }
    result
}
