//! The engine's state of one member, shared by its runs and their
//! contexts ([`Seat`]), and of the whole tree it belongs to ([`Root`]).

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use once_cell::race::OnceBox;
use tokio_util::sync::CancellationToken;

use super::children::Children;
use super::control::SeatControl;
use super::handoff::{HandOff, Members};
use super::shutdown::Shutdown;
use crate::error::Error;
use crate::execution_id::ExecutionId;
use crate::lock::lock;
use crate::options::{DEFAULT_TIMEOUT, Name, SharedOptions, path};
use crate::reload::Reloads;
use crate::status::{EventKind, Monitor};

/// State shared by every member of one tree of players: how it shuts down,
/// and who watches it.
#[derive(Debug, Default)]
pub(crate) struct Root {
    pub(crate) shutdown: Shutdown,
    /// Where status events go, if anyone watches.
    pub(crate) monitor: Option<Monitor>,
    /// Every member by path, when the run has a control handle.
    pub(crate) registry: Option<Arc<Registry>>,
    /// The reloads requested.
    pub(crate) reloads: Reloads,
}

/// Every member of a run by path, for a control handle: made only when the
/// run has one.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    seats: Mutex<Seats>,
}

#[derive(Debug, Default)]
struct Seats {
    by_path: HashMap<Arc<str>, Weak<Seat>>,
    /// How many there were after the last sweep of dead seats: the next
    /// comes when they have doubled, so that registering stays O(1).
    swept: usize,
}

impl Registry {
    /// The member at `path`, while its seat lives.
    pub(crate) fn find(&self, path: &str) -> Option<Arc<Seat>> {
        let seats = lock(&self.seats);
        seats.by_path.get(path).and_then(Weak::upgrade)
    }

    /// The paths of the members whose seats live, sorted.
    pub(crate) fn paths(&self) -> Vec<Arc<str>> {
        let seats = lock(&self.seats);
        let mut paths: Vec<Arc<str>> = seats
            .by_path
            .iter()
            .filter(|(_, seat)| seat.strong_count() > 0)
            .map(|(path, _)| path.clone())
            .collect();
        paths.sort();
        paths
    }

    fn register(&self, seat: &Arc<Seat>) {
        let mut seats = lock(&self.seats);
        if seats.by_path.len() >= 2 * seats.swept.max(32) {
            seats.by_path.retain(|_, seat| seat.strong_count() > 0);
            seats.swept = seats.by_path.len();
        }
        seats
            .by_path
            .insert(seat.path().clone(), Arc::downgrade(seat));
    }
}

impl Root {
    /// Whether a status event reaches anyone: a monitor, or the metrics.
    /// With neither, [`emit`](Root::emit) does nothing.
    pub(crate) fn heard(&self) -> bool {
        cfg!(feature = "metrics") || self.monitor.is_some()
    }

    /// Reports a status event of the member in `seat` (whose path is made
    /// only if someone listens).
    pub(crate) fn emit(
        &self,
        seat: &Seat,
        attempt: u32,
        execution_id: Option<ExecutionId>,
        kind: impl FnOnce() -> EventKind,
    ) {
        // Metrics count players; conductors are judged by theirs.
        #[cfg(feature = "metrics")]
        let kind = {
            let kind = kind();
            if !seat.conductor {
                crate::metrics::record(seat.path(), attempt, &kind);
            }
            move || kind
        };
        if let Some(monitor) = &self.monitor {
            monitor.record(seat.path(), attempt, execution_id, kind());
        }
    }
}

/// What every run of one member shares: made once per member, so that a
/// run's context costs neither an allocation nor a token clone.
pub(crate) struct Seat {
    /// Where it sits: the seat above, the tree's root, and the stop token
    /// of the members of its group asked to stop first.
    section: Arc<Section>,
    /// Its own stop token, when it is not its section's: a member that
    /// others are ordered after is asked to stop on its own.
    own_token: Option<CancellationToken>,
    pub(crate) name: Name,
    /// Whether the member is a conductor (else a player): a conductor has
    /// no span and no metrics of its own.
    pub(crate) conductor: bool,
    pub(crate) options: SharedOptions,
    /// A child player's seat (else a group member's, or a top seat): it
    /// inherits the stop timeout of the member that started it.
    child: bool,
    /// `parent/name`, made on first use: most paths are never asked for.
    path: OnceLock<Arc<str>>,
    /// The member's readiness, shared by its runs (what ordering waits for).
    pub(crate) ready: Readiness,
    /// The last run that announced readiness (what a monitor reports once
    /// per run).
    pub(crate) ready_run: AtomicU32,
    /// The last reload request the member heard of (a generation).
    reloads_seen: AtomicU64,
    /// The child tasks and players of its current run, made at the first
    /// spawn: most members never spawn, and their seat carries a null
    /// pointer in their place.
    pub(crate) children: OnceBox<Children>,
    /// Wakes the current run when one of its children fails.
    pub(crate) child_failed: AtomicWaker,
    /// The member ended for good (or was aborted): nothing more is spawned.
    pub(crate) ended: AtomicBool,
    /// Its commands, when the run has a control handle.
    pub(crate) control: Option<Box<SeatControl>>,
    /// The runs it began in its group's earlier runs (its group was
    /// restarted as a whole): its attempts count on from there.
    pub(crate) runs_before: u32,
    /// The runs it began, `runs_before` included.
    pub(crate) runs: AtomicU32,
    /// Its line to its group, when the group decides its restarts (boxed:
    /// most groups do not).
    pub(crate) link: Option<Box<Link>>,
    /// The value it hands to the members ordered after it.
    pub(crate) hand_off: HandOff,
    /// For a conductor: its own stop timeout and its group's current run,
    /// made with the seat of a conductor of a group, and at the first run
    /// of any other (a player's seat carries a null pointer in its place).
    group: OnceBox<GroupRun>,
    /// Unused room that makes the seat 216 bytes (see `SEAT_BYTES`); never
    /// written.
    _room: MaybeUninit<[u8; 40]>,
}

/// The size of a seat, on 64-bit targets. With glibc's allocator, a seat
/// (its `Arc`'s two counts and the seat: a chunk of 240 bytes) and the
/// cell tokio makes for an owned member's task (a chunk of 144 bytes, at an
/// address aligned to 128) take 384 bytes of the heap, a multiple of 128,
/// for every member whatever its player: started one after another, each
/// leaves the heap where the next cell is aligned with no slack split off
/// and given back. A slack given back merges with the free space beyond
/// it, and glibc sweeps its fast bins at every free that leaves 64 KiB or
/// more in one piece: 10 % more time to start each player at N = 1 000 in
/// the overhead bench with a seat of 176 bytes, as measured.
#[cfg(target_pointer_width = "64")]
const SEAT_BYTES: usize = 216;

#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<Seat>() == SEAT_BYTES, "resize `Seat::_room`");

/// What a conductor's seat keeps of itself and its group's current run.
struct GroupRun {
    /// Its stop timeout, as its own group gives it (a nested conductor has
    /// a default of its own), when it is a conductor of a group.
    stop_timeout: Option<Duration>,
    /// The stop timeout its group gives its members by default, which they
    /// pass on to the groups and the child players below them (the
    /// engine's default until its first run).
    default_timeout: Mutex<Duration>,
    /// The members, for those ordered after others to find their values.
    members: Members<Seat>,
}

impl GroupRun {
    fn new(stop_timeout: Option<Duration>, default_timeout: Duration) -> Box<Self> {
        Box::new(GroupRun {
            stop_timeout,
            default_timeout: Mutex::new(default_timeout),
            members: Members::default(),
        })
    }

    fn default_timeout(&self) -> MutexGuard<'_, Duration> {
        lock(&self.default_timeout)
    }
}

/// What the seats of one run of a group share: the seat above them (the
/// group's conductor), the tree's root, and the token of the members asked
/// to stop first, all at once. One count a seat, not three: the counts of
/// every seat of a group are on the same few cache lines, taken as the
/// seats are made and given back as they are dropped, and on a
/// multi-thread runtime the workers fought over them.
///
/// A seat at the top and a child player's seat have a section of their
/// own.
pub(crate) struct Section {
    parent: Option<Arc<Seat>>,
    root: Arc<Root>,
    token: CancellationToken,
}

impl Section {
    /// A section below `parent`'s seat, asked to stop with `token`: the
    /// members of one run of the group that `parent` conducts share one,
    /// and a child player or the top member has one of its own.
    pub(crate) fn below(parent: &Arc<Seat>, token: CancellationToken) -> Arc<Section> {
        Arc::new(Section {
            parent: Some(parent.clone()),
            root: parent.root().clone(),
            token,
        })
    }

    /// The section of a seat at the top of a tree, asked to stop with
    /// `token`: there is no seat above it.
    fn top(root: Arc<Root>, token: CancellationToken) -> Arc<Section> {
        Arc::new(Section {
            parent: None,
            root,
            token,
        })
    }

    /// Asks the members that stop first to stop.
    pub(crate) fn stop_first(&self) {
        self.token.cancel();
    }

    /// The stop token of a seat in this section: `own`, if it has one of
    /// its own, else the section's.
    #[inline(always)]
    fn token_of<'t>(&'t self, own: &'t Option<CancellationToken>) -> &'t CancellationToken {
        own.as_ref().unwrap_or(&self.token)
    }
}

/// Where a seat sits: as a child player or a member of a group, and what
/// its group gives it.
#[derive(Default)]
struct Placed {
    child: bool,
    runs_before: u32,
    /// The reload requests it has heard of (`None`: all so far).
    reloads_seen: Option<u64>,
    link: Option<Box<Link>>,
    control: Option<Box<SeatControl>>,
    group: Option<Box<GroupRun>>,
}

/// What a member's group gives its seat: its index, the runs it began in
/// the group's earlier runs, where to tell the group of its pauses if the
/// group decides restarts, and the section its seat is in (whose stop
/// token it shares if nobody is ordered after it).
pub(crate) struct Grouped<'g> {
    pub(crate) index: usize,
    pub(crate) runs_before: u32,
    /// The reload requests made before its group's run began, which its
    /// members have heard of: read once per run of the group, not once
    /// per member (a read of the run's reloads is a lock).
    pub(crate) reloads_seen: u64,
    pub(crate) to_group: Option<tokio::sync::mpsc::UnboundedSender<Paused>>,
    /// What the members of the group's run share: the seat above, the
    /// root, and the token of the members asked to stop first.
    pub(crate) section: &'g Arc<Section>,
    /// Whether the member is asked to stop with the first, all at once
    /// (nobody is ordered after it), with its section's token; else it
    /// has a token of its own.
    pub(crate) stops_first: bool,
}

/// A member's line to its group, when the group decides its restarts (a
/// strategy that takes siblings along, or an intensity that counts them):
/// the member tells the group when a run ended to be restarted
/// ([`Paused`]), and starts the next once the group opens its gate; the
/// group restarts a running member by cancelling its run's token.
pub(crate) struct Link {
    /// The member's index in its group.
    pub(crate) index: usize,
    /// The current run's token, a child of the seat's: cancelled, it ends
    /// the run only, for a restart.
    run: Mutex<CancellationToken>,
    /// Open when the member may begin its next run (open at first).
    pub(crate) gate: Readiness,
    to_group: tokio::sync::mpsc::UnboundedSender<Paused>,
}

/// A member's run ended, and the member waits for its gate to run again.
pub(crate) struct Paused {
    pub(crate) index: usize,
    /// The group asked for it (a sibling's restart); otherwise the member's
    /// own policy restarts it, after `failure` if it failed.
    pub(crate) asked: bool,
    pub(crate) failure: Option<Error>,
}

impl Link {
    pub(crate) fn new(
        index: usize,
        token: &CancellationToken,
        to_group: tokio::sync::mpsc::UnboundedSender<Paused>,
    ) -> Self {
        let gate = Readiness::default();
        gate.set();
        Link {
            index,
            run: Mutex::new(token.child_token()),
            gate,
            to_group,
        }
    }

    fn run(&self) -> MutexGuard<'_, CancellationToken> {
        lock(&self.run)
    }

    /// The token of the current (or next) run.
    pub(crate) fn run_token(&self) -> CancellationToken {
        self.run().clone()
    }

    /// A new token for the next run, once the group's ask is answered.
    pub(crate) fn renew(&self, seat: &CancellationToken) {
        *self.run() = seat.child_token();
    }

    /// Whether the group asked the current run to end (for a restart).
    pub(crate) fn asked(&self) -> bool {
        self.run().is_cancelled()
    }

    /// Asks the current run to end, for a restart: closes the gate first.
    pub(crate) fn ask(&self) {
        self.gate.reset();
        self.run().cancel();
    }

    /// Tells the group that the run ended; the gate is closed first when
    /// the member's own policy restarts it.
    pub(crate) fn pause(&self, asked: bool, failure: Option<Error>) {
        if !asked {
            self.gate.reset();
        }
        let _ = self.to_group.send(Paused {
            index: self.index,
            asked,
            failure,
        });
    }
}

impl Seat {
    /// The seat above the top member of a tree: its token is the run's stop.
    pub(crate) fn above_all(root: Arc<Root>) -> Self {
        let token = root.shutdown.stopping().clone();
        Seat::top(token, Name::default(), root)
    }

    /// The seat of a player run on its own, outside any conductor.
    pub(crate) fn standalone(name: &str, token: CancellationToken) -> Self {
        Seat::top(token, Name::new(name), Arc::default())
    }

    fn top(token: CancellationToken, name: Name, root: Arc<Root>) -> Self {
        Seat::new(
            Section::top(root, token),
            None,
            name,
            false,
            SharedOptions::DEFAULTS,
            Placed::default(),
        )
    }

    /// The seat of a member of the group whose seat is `parent`:
    /// `stop_timeout` is its group's, kept for a conductor (a player's is
    /// its options', else its group's default).
    pub(crate) fn member(
        name: Name,
        conductor: bool,
        options: SharedOptions,
        stop_timeout: Duration,
        grouped: Grouped<'_>,
    ) -> Arc<Self> {
        let section = grouped.section.clone();
        let own_token = (!grouped.stops_first).then(CancellationToken::new);
        let group = conductor.then(|| GroupRun::new(Some(stop_timeout), DEFAULT_TIMEOUT));
        Seat::under(
            section,
            own_token,
            name,
            conductor,
            options,
            group,
            Some(grouped),
        )
    }

    /// The seat of a child player started at run time by the member whose
    /// seat is `parent`: asked to stop with it.
    pub(crate) fn child(
        parent: &Arc<Seat>,
        name: Name,
        conductor: bool,
        options: SharedOptions,
    ) -> Arc<Self> {
        let section = Section::below(parent, parent.run_token().child_token());
        Seat::under(section, None, name, conductor, options, None, None)
    }

    /// A seat in `section` (below its seat), shared, and known to the
    /// run's control handle if it has one. Built once, with its options:
    /// not built with the default options and then copied with others.
    #[inline(always)]
    fn under(
        section: Arc<Section>,
        own_token: Option<CancellationToken>,
        name: Name,
        conductor: bool,
        options: SharedOptions,
        group: Option<Box<GroupRun>>,
        grouped: Option<Grouped<'_>>,
    ) -> Arc<Self> {
        let child = grouped.is_none();
        let (runs_before, reloads_seen, link) = match grouped {
            Some(grouped) => {
                let token = section.token_of(&own_token);
                (
                    grouped.runs_before,
                    Some(grouped.reloads_seen),
                    (grouped.to_group)
                        .map(|to_group| Box::new(Link::new(grouped.index, token, to_group))),
                )
            }
            None => (0, None, None),
        };
        let registry = section.root.registry.clone();
        let placed = Placed {
            child,
            runs_before,
            reloads_seen,
            link,
            control: registry.as_ref().map(|_| Box::new(SeatControl::new())),
            group,
        };
        // Built in one expression, moved once into its `Arc`.
        let seat = Arc::new(Seat::new(
            section, own_token, name, conductor, options, placed,
        ));
        if let Some(registry) = registry {
            registry.register(&seat);
        }
        seat
    }

    #[inline(always)]
    fn new(
        section: Arc<Section>,
        own_token: Option<CancellationToken>,
        name: Name,
        conductor: bool,
        options: SharedOptions,
        placed: Placed,
    ) -> Self {
        let Placed {
            child,
            runs_before,
            reloads_seen,
            link,
            control,
            group,
        } = placed;
        let reloads_seen =
            AtomicU64::new(reloads_seen.unwrap_or_else(|| section.root.reloads.generation()));
        Seat {
            section,
            own_token,
            name,
            conductor,
            options,
            child,
            path: OnceLock::new(),
            ready: Readiness::default(),
            ready_run: AtomicU32::new(0),
            reloads_seen,
            control,
            children: OnceBox::new(),
            child_failed: AtomicWaker::new(),
            ended: AtomicBool::new(false),
            runs_before,
            runs: AtomicU32::new(0),
            link,
            hand_off: HandOff::default(),
            group: group.map_or_else(OnceBox::new, OnceBox::with_value),
            _room: MaybeUninit::uninit(),
        }
    }

    /// Cancelled when the member is asked to stop: its section's, shared by
    /// the members of its group asked to stop first, or its own.
    pub(crate) fn token(&self) -> &CancellationToken {
        self.section.token_of(&self.own_token)
    }

    /// The seat of the conductor above (of the member that started it, for
    /// a child player), if any.
    pub(crate) fn parent(&self) -> Option<&Arc<Seat>> {
        self.section.parent.as_ref()
    }

    /// What the whole tree shares: how it shuts down, and who watches it.
    pub(crate) fn root(&self) -> &Arc<Root> {
        &self.section.root
    }

    /// How long the member has to return once asked to stop: its options',
    /// else (a conductor of a group) its own default, else its group's.
    /// `None` for a seat at the top.
    pub(crate) fn stop_timeout(&self) -> Option<Duration> {
        self.parent()?;
        Some(self.stop_timeout_or(|| self.inherited_timeout()))
    }

    /// Its stop timeout, or the default one for a seat at the top: how
    /// long a run stopped alone (for a reload, an order, a child's
    /// failure) is waited for.
    pub(crate) fn stop_timeout_or_default(&self) -> Duration {
        self.stop_timeout().unwrap_or(DEFAULT_TIMEOUT)
    }

    /// Its stop timeout, as [`stop_timeout`](Seat::stop_timeout), given
    /// the one it would inherit: its group, which knows that, need not ask
    /// the seat above (a lock) at every stop.
    pub(crate) fn stop_timeout_or(&self, inherited: impl FnOnce() -> Duration) -> Duration {
        if let Some(own) = self.group.get().and_then(|group| group.stop_timeout) {
            return own;
        }
        self.options.timeout.unwrap_or_else(inherited)
    }

    /// The stop timeout the member's group gives it by default (for a
    /// child player, the member that started it): what a nested group
    /// gives its members unless it sets its own, and a child player has
    /// unless its options set one.
    pub(crate) fn inherited_timeout(&self) -> Duration {
        match self.parent() {
            Some(parent) if self.child => parent.inherited_timeout(),
            Some(parent) => {
                (parent.group.get()).map_or(DEFAULT_TIMEOUT, |group| *group.default_timeout())
            }
            None => DEFAULT_TIMEOUT,
        }
    }

    /// A run of the group this seat conducts begins: its members have
    /// `default_timeout` by default.
    pub(crate) fn conducts(&self, default_timeout: Duration) {
        let group = self
            .group
            .get_or_init(|| GroupRun::new(None, default_timeout));
        *group.default_timeout() = default_timeout;
    }

    /// The members of the current run of the group this seat conducts, for
    /// those ordered after others.
    pub(crate) fn set_members(&self, members: &Arc<Vec<Arc<Seat>>>) {
        if let Some(group) = self.group.get() {
            group.members.set(members);
        }
    }

    /// The members of the current run of the group this seat conducts, if
    /// it runs and has members ordered after others.
    pub(crate) fn members(&self) -> Option<Arc<Vec<Arc<Seat>>>> {
        self.group.get()?.members.get()
    }

    /// The token of the member's current run: its stop token, or the run's
    /// own under a control handle (what stops one run only).
    pub(crate) fn run_token(&self) -> CancellationToken {
        self.control
            .as_ref()
            .and_then(|control| control.run_token())
            .unwrap_or_else(|| self.token().clone())
    }

    /// The children of the member's current run, made at the first call.
    pub(crate) fn children(&self) -> &Children {
        self.children.get_or_init(Box::default)
    }

    /// The member's path from the root conductor, such as `app/jobs/mailer`.
    ///
    /// Made on first use, and the paths above it first, from the top down:
    /// conductors nest to any depth, and a walk up that made each path from
    /// its parent's would need stack in proportion.
    pub(crate) fn path(&self) -> &Arc<str> {
        if let Some(path) = self.path.get() {
            return path;
        }
        let mut unmade = Vec::new();
        let mut above = self.parent().map(Arc::as_ref);
        while let Some(seat) = above.filter(|seat| seat.path.get().is_none()) {
            unmade.push(seat);
            above = seat.parent().map(Arc::as_ref);
        }
        for seat in unmade.into_iter().rev() {
            seat.made_path();
        }
        self.made_path()
    }

    /// The path, made from its parent's (made already: `path` returns it
    /// at once).
    fn made_path(&self) -> &Arc<str> {
        self.path.get_or_init(|| {
            let above = self.parent().map_or("", |parent| parent.path());
            path(above, &self.name)
        })
    }

    /// Completes at the next reload request the member has not heard of
    /// yet, and marks it heard. Cancel-safe.
    pub(crate) async fn reload_requested(&self) {
        loop {
            let seen = self.reloads_seen.load(Ordering::Acquire);
            let generation = self.root().reloads.past(seen).await;
            if self
                .reloads_seen
                .compare_exchange(seen, generation, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Reports a status event of this member.
    pub(crate) fn emit(
        &self,
        attempt: u32,
        execution_id: Option<ExecutionId>,
        kind: impl FnOnce() -> EventKind,
    ) {
        self.root().emit(self, attempt, execution_id, kind);
    }
}

/// Whether a member has announced readiness; shared by all its runs.
///
/// What wakes those who wait is made by the first to wait: most members
/// have nobody ordered after them, and carry a null pointer in its place.
#[derive(Default)]
pub(crate) struct Readiness {
    flag: AtomicBool,
    notify: OnceBox<tokio::sync::Notify>,
}

impl Readiness {
    pub(crate) fn is_ready(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Marks the member ready; `true` if it was not ready before.
    pub(crate) fn set(&self) -> bool {
        let first = !self.flag.swap(true, Ordering::AcqRel);
        if first {
            // Pairs with the fence in `wait`: either this sees the waker
            // that a waiter made, or that waiter sees the flag set.
            fence(Ordering::SeqCst);
            if let Some(notify) = self.notify.get() {
                notify.notify_waiters();
            }
        }
        first
    }

    /// Marks the member not ready (it is restarted with a sibling).
    pub(crate) fn reset(&self) {
        self.flag.store(false, Ordering::Release);
    }

    /// Completes once the member is ready.
    pub(crate) async fn wait(&self) {
        let notify = self.notify.get_or_init(Box::default);
        loop {
            // Registered before the flag is read: a `set` after the read
            // wakes it.
            let notified = notify.notified();
            fence(Ordering::SeqCst);
            if self.is_ready() {
                return;
            }
            notified.await;
        }
    }
}
