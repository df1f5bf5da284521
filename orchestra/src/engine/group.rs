//! Running a group of members: start order, readiness, failure fan-out,
//! ordered stop, per-member stop timeouts and stragglers.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::member::{Body, Group, Held, Member};
use super::order::{self, Order};
use super::seat::{Grouped, Paused, Root, Seat, Section};
use super::strategy::{Members, Regroup, Step};
use super::supervise::{Dyn, Outcome, Target, supervise};
use super::tasks::{Joined, Room, Tasks};
use super::unordered::Unordered;
use crate::context::Context;
use crate::error::{Chain, Error, Straggler, panic_message};
use crate::status::EventKind;
use crate::supervision::OnExit;
use crate::time::later;

/// How long an aborted task may take to end. A task aborts at its next
/// `.await`; one blocking its thread cannot, and is left behind rather than
/// holding the whole stop up.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// How a member left the group.
enum Exit {
    /// It returned (after its restarts, if any).
    Done(Result<(), Error>),
    /// It was aborted: its stop timeout passed, or the stop was forced.
    Aborted,
}

impl Exit {
    /// How a member whose task did not give it back left.
    fn lost(seat: &Seat, error: Option<JoinError>) -> Exit {
        // Aborted, or the runtime is shutting down (or, which cannot be,
        // its task returned without giving the player back).
        let Some(error) = error.filter(JoinError::is_panic) else {
            return Exit::Aborted;
        };
        // Panics of `play` are caught inside; one elsewhere (in a player's
        // `Drop`, say) loses the member but is reported.
        Exit::Done(Err(Error::Panicked {
            path: seat.path().clone(),
            attempt: 0,
            message: panic_message(&*error.into_panic()),
        }))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Not started: waiting for the members it is ordered after.
    Waiting,
    Running,
    Exited,
}

/// The group's bookkeeping for one member: small, as its room is every
/// player's cost (the `after` order and its counts are kept apart, in
/// [`Order`], and the instants of aborts in `Conducting::aborted_at`).
struct Slot {
    /// Its path, stop token, stop timeout and readiness, shared with its
    /// runs.
    seat: Arc<Seat>,
    /// When it was asked to stop, or else (`stop_asked` false) when its
    /// group asked its run to end to restart it with a sibling: either way
    /// it has its stop timeout from then.
    asked: Option<Instant>,
    progress: Progress,
    /// It was asked to stop.
    stop_asked: bool,
    /// Runs on a task of its own, which the group aborts itself.
    owned: bool,
    /// Runs on a task the group awaits (counted in `live_tasks`).
    in_task: bool,
    /// Its first readiness was counted by its dependents waiting to start.
    counted_ready: bool,
    /// Its stop timeout, as its seat has it (fixed for the group's run):
    /// kept here too, so that a stop need not read every seat.
    timeout: Duration,
}

/// Borrowed players and nested groups, which run inside the group's future.
type Running<'m> = Unordered<Pin<Box<dyn Future<Output = (usize, Exit)> + Send + 'm>>>;
type Readying = Unordered<Pin<Box<dyn Future<Output = usize> + Send>>>;

/// What the group waits on.
struct Sets<'m> {
    tasks: Tasks,
    running: Running<'m>,
    readying: Readying,
}

/// A nested group, with the token that aborts it (a nested group aborts
/// its own members).
pub(super) struct Nested<'r, 'a>(
    pub(super) &'r mut Group<'a>,
    pub(super) &'r CancellationToken,
);

impl Target for Nested<'_, '_> {
    #[expect(
        refining_impl_trait,
        reason = "a group's run ends with an `Outcome` itself"
    )]
    async fn play(&mut self, ctx: Context, seat: &Seat) -> Outcome {
        // Not boxed: its members run in futures of their own (boxed, or
        // tasks), so that a group's future holds none of theirs.
        match conduct(self.0, &ctx, self.1, seat.inherited_timeout()).await {
            Ok(()) => Outcome::Done,
            Err(error) => Outcome::Failed(error),
        }
    }
}

/// Runs `group` under `ctx` until every member is done, or until a failure
/// or `ctx`'s cancellation has stopped them all; `abort` aborts them all.
pub(super) async fn conduct(
    group: &mut Group<'_>,
    ctx: &Context,
    abort: &CancellationToken,
    inherited_timeout: Duration,
) -> Result<(), Error> {
    let default_timeout = group.timeout.unwrap_or(inherited_timeout);
    ctx.seat().conducts(default_timeout);
    let order = order::resolve(group, || ctx.path())?;
    if ctx.is_cancelled() {
        return Ok(());
    }
    let (regroup, mut paused) =
        Regroup::new(group.supervision, || ctx.seat().path(), group.members.len()).unzip();
    // The members' seats share one section per run of the group: this
    // seat, the root, and the token of the members nobody is ordered
    // after, asked to stop first, all at once (one token, not one each).
    let section = Section::below(ctx.seat(), CancellationToken::new());
    let reloads_seen = ctx.root().reloads.generation();
    let tasks = Tasks::new(group.members.len());

    let mut this = Conducting {
        regroup,
        released: Vec::new(),
        slots: Vec::with_capacity(group.members.len()),
        order,
        members: Vec::with_capacity(group.members.len()),
        abort,
        section,
        room: tasks.room(),
        root: ctx.root(),
        watched: ctx.root().heard(),
        stopping: false,
        aborting: false,
        next_deadline: None,
        aborted_at: Vec::new(),
        live_tasks: 0,
        errors: Vec::new(),
        stragglers: Vec::new(),
        aborted: Vec::new(),
    };
    let mut sets = Sets {
        tasks,
        running: Running::new(),
        readying: Readying::new(),
    };
    // A member starts as its seat is made, while the seat is still in the
    // cache (and, on a multi-thread runtime, the first tasks run while the
    // next seats are made), unless something must see every seat first:
    // the members ordered after others, which find the values they are
    // handed among them, or a monitor or the metrics, which hear that
    // every member is starting before any starts.
    let at_once = this.order.is_empty() && !this.watched;
    for (i, member) in group.members.iter_mut().enumerate() {
        let owned = matches!(
            member.body,
            Body::Player {
                player: Held::Owned(_),
                ..
            }
        );
        let timeout = stop_timeout(member, default_timeout);
        let seat = Seat::member(
            member.name.clone(),
            matches!(member.body, Body::Group(_) | Body::Given(_)),
            member.options.clone(),
            timeout,
            Grouped {
                index: i,
                runs_before: group.runs.get(i).copied().unwrap_or(0),
                reloads_seen,
                to_group: this.regroup.as_ref().map(Regroup::sender),
                section: &this.section,
                stops_first: this.order.stops_first(i),
            },
        );
        this.members.push(Some(member));
        this.slots.push(Slot {
            seat,
            asked: None,
            progress: Progress::Waiting,
            stop_asked: false,
            owned,
            in_task: false,
            counted_ready: false,
            timeout,
        });
        if at_once {
            this.launch(i, &mut sets);
        }
    }
    // The members, for those ordered after others to find the values they
    // are handed (`Context::dependency`).
    let handing: Option<Arc<Vec<Arc<Seat>>>> = (!this.order.is_empty()).then(|| {
        let seats = Arc::new(this.slots.iter().map(|s| s.seat.clone()).collect());
        ctx.seat().set_members(&seats);
        seats
    });
    if !at_once {
        if this.watched {
            for slot in &this.slots {
                slot.seat.emit(0, None, || EventKind::Starting);
                if let Some(monitor) = &this.root.monitor
                    && slot.seat.options.ignore_readiness
                {
                    monitor.ignore_readiness(slot.seat.path());
                }
            }
        }
        for i in 0..this.slots.len() {
            if this.order.deps_ready(i) {
                this.launch(i, &mut sets);
            }
        }
    }

    // Made once, not at every turn of the loop (each is a registration).
    let mut cancelled = std::pin::pin!(ctx.cancelled());
    let mut aborted = std::pin::pin!(abort.cancelled());
    let mut timer = std::pin::pin!(sleep(Duration::ZERO));
    let mut armed: Option<Instant> = None;
    loop {
        // Not the tasks' count: a task left behind stays among them.
        if this.live_tasks == 0 && sets.running.is_empty() && sets.readying.is_empty() {
            break;
        }
        if this.next_deadline != armed {
            armed = this.next_deadline;
            if let Some(deadline) = armed {
                timer.as_mut().reset(deadline);
            }
        }
        tokio::select! {
            biased;
            // Every task that ended since the last turn, in one turn.
            () = poll_fn(|cx| this.join_ended(&mut sets.tasks, cx)) => {}
            Some((i, exit)) = sets.running.next() => this.exited(i, exit),
            () = &mut cancelled, if !this.stopping => {
                tracing::debug!(target: "orchestra", conductor = ctx.path(), "stop requested");
                this.begin_stop();
            }
            () = &mut aborted, if !this.aborting => {
                this.aborting = true;
                let now = Instant::now();
                for (i, task) in sets.tasks.running() {
                    this.abort_task(i, task, now);
                }
            }
            () = &mut timer, if armed.is_some() => this.deadline_passed(&sets.tasks),
            Some(i) = sets.readying.next() => {
                this.became_ready(i, &mut sets);
                this.regroup(|regroup, this| Ok(regroup.ready(this)));
            }
            Some(paused) = recv(&mut paused), if !this.stopping => {
                this.slots[paused.index].asked = None;
                this.regroup(|regroup, this| regroup.paused(paused, this));
            }
            else => break,
        }
        for i in std::mem::take(&mut this.released) {
            this.watch_readiness(i, &mut sets);
        }
        if this.stopping && !sets.readying.is_empty() {
            sets.readying = Readying::new();
        }
        // Stopping, the group waits for all its tasks; only the order of
        // the stop needs it to hear of each end.
        if this.stopping && this.order.is_empty() {
            sets.tasks.wake_at_last();
        }
    }
    drop(handing);
    let (result, runs) = this.finish();
    group.runs = runs;
    result
}

/// A group being conducted: its members' bookkeeping, and what their exits
/// left to report.
struct Conducting<'g, 'm, 'a> {
    slots: Vec<Slot>,
    /// Who starts after whom.
    order: Order,
    /// The restarts the group decides, if it does.
    regroup: Option<Regroup>,
    /// Members it released from a restart, whose readiness to watch.
    released: Vec<usize>,
    /// The members: taken when launched, except owned players, whose task
    /// gives the player back to put here.
    members: Vec<Option<&'m mut Member<'a>>>,
    abort: &'g CancellationToken,
    /// What its members' seats share: its seat, the root, and the stop
    /// token of the members nobody is ordered after.
    section: Arc<Section>,
    /// Where its owned members' tasks queue their ends: a stop makes room
    /// there first.
    room: Room,
    root: &'g Arc<Root>,
    /// A monitor or the metrics hear of its members' events.
    watched: bool,
    stopping: bool,
    aborting: bool,
    /// Owned members whose task the group still waits for.
    live_tasks: usize,
    /// The earliest stop deadline of an owned member still running.
    next_deadline: Option<Instant>,
    /// When each owned member's task was aborted, by index: made at the
    /// first abort (most runs abort nothing).
    aborted_at: Vec<Option<Instant>>,
    errors: Vec<Error>,
    stragglers: Vec<Straggler>,
    aborted: Vec<Arc<str>>,
}

impl Members for Conducting<'_, '_, '_> {
    fn deps(&self, i: usize) -> &[usize] {
        self.order.deps(i)
    }

    fn dependents(&self, i: usize) -> &[usize] {
        self.order.dependents(i)
    }

    fn is_running(&self, i: usize) -> bool {
        self.slots[i].progress == Progress::Running
    }

    fn seat(&self, i: usize) -> &Arc<Seat> {
        &self.slots[i].seat
    }
}

/// The next pause of a member of a group that decides restarts.
async fn recv(paused: &mut Option<UnboundedReceiver<Paused>>) -> Option<Paused> {
    match paused {
        Some(paused) => paused.recv().await,
        None => std::future::pending().await,
    }
}

impl<'m, 'a: 'm> Conducting<'_, 'm, 'a> {
    /// Lets the group's restarts move on (`step`), and watches the
    /// readiness of the members it released; a restart limit stops the
    /// group.
    fn regroup(&mut self, step: impl FnOnce(&mut Regroup, &Self) -> Result<Step, Error>) {
        if self.stopping {
            return;
        }
        let Some(mut regroup) = self.regroup.take() else {
            return;
        };
        let stepped = step(&mut regroup, self);
        self.regroup = Some(regroup);
        match stepped {
            Ok(Step { released, asked }) => {
                self.released.extend(released);
                let now = Instant::now();
                let mut shortest = None;
                for i in asked {
                    let slot = &mut self.slots[i];
                    slot.asked = Some(now);
                    if slot.owned {
                        shortest = shorter(shortest, Some(slot.timeout));
                    }
                }
                self.watch_until(now, shortest);
            }
            Err(limit) => {
                tracing::error!(target: "orchestra", error = %limit, "stopping its players after too many restarts");
                self.errors.push(limit);
                self.begin_stop();
            }
        }
    }

    fn launch(&mut self, i: usize, sets: &mut Sets<'m>) {
        if self.slots[i].progress != Progress::Waiting {
            return;
        }
        let Some(member) = self.members[i].take() else {
            return;
        };
        self.slots[i].progress = Progress::Running;
        self.watch_readiness(i, sets);
        let slot = &mut self.slots[i];
        let seat = slot.seat.clone();
        if let Body::Player {
            player: Held::Owned(player),
            ..
        } = &mut member.body
        {
            let player = player.take();
            self.members[i] = Some(member);
            let Some(player) = player else {
                let exit = Exit::Done(Err(Error::Unavailable {
                    path: seat.path().clone(),
                }));
                sets.running.push(Box::pin(std::future::ready((i, exit))));
                return;
            };
            sets.tasks.spawn(i, player, seat);
            self.live_tasks += 1;
            slot.in_task = true;
            return;
        }
        let timeout = slot.timeout;
        let abort = self.abort.child_token();
        sets.running.push(Box::pin(async move {
            (i, drive(member, seat, abort, timeout).await)
        }));
    }

    /// Watches a member's run for readiness: waited for by the members
    /// ordered after it; a grace also shows in a monitor's view of
    /// readiness.
    fn watch_readiness(&mut self, i: usize, sets: &mut Sets<'m>) {
        let watched = !self.order.dependents(i).is_empty()
            || (self.root.monitor.is_some() && self.slots[i].seat.options.grace.is_some());
        if !watched {
            return;
        }
        let seat = self.slots[i].seat.clone();
        let grace = seat.options.grace;
        let delay = seat.options.delay.unwrap_or_default();
        sets.readying.push(Box::pin(async move {
            match grace {
                None => seat.ready.wait().await,
                Some(grace) => tokio::select! {
                    () = seat.ready.wait() => {}
                    () = sleep(delay.saturating_add(grace)) => {
                        if seat.ready.set() {
                            tracing::warn!(
                                target: "orchestra",
                                player = %seat.path(),
                                ?grace,
                                "not ready within its readiness grace: counted as ready"
                            );
                            seat.emit(0, None, || EventKind::Ready);
                        }
                    }
                },
            }
            i
        }));
    }

    fn became_ready(&mut self, i: usize, sets: &mut Sets<'m>) {
        // Its dependents waiting to start count its first readiness only.
        if self.stopping || std::mem::replace(&mut self.slots[i].counted_ready, true) {
            return;
        }
        for k in 0..self.order.dependents(i).len() {
            let j = self.order.dependents(i)[k];
            if self.order.dep_ready(j) && self.slots[j].progress == Progress::Waiting {
                self.launch(j, sets);
            }
        }
    }

    /// Joins every owned member's task that ended: ready once it joined
    /// one at least, so that the group takes a batch of ends in one turn
    /// of its loop.
    fn join_ended(&mut self, tasks: &mut Tasks, cx: &mut TaskContext<'_>) -> Poll<()> {
        tasks.poll_ended(cx, |i, joined| self.joined(i, joined))
    }

    /// An owned member's task ended: gives the player back.
    fn joined(&mut self, i: usize, joined: Joined) {
        let left_behind = self.slots[i].progress == Progress::Exited;
        let exit = match joined {
            Ok((player, result)) => {
                if let Some(Member {
                    body:
                        Body::Player {
                            player: Held::Owned(slot),
                            ..
                        },
                    ..
                }) = self.members[i].as_deref_mut()
                {
                    *slot = Some(player);
                }
                Exit::Done(result.map_err(|error| *error))
            }
            Err(error) => Exit::lost(&self.slots[i].seat, error),
        };
        if !left_behind {
            self.exited(i, exit);
        }
    }

    fn exited(&mut self, i: usize, exit: Exit) {
        let slot = &mut self.slots[i];
        slot.progress = Progress::Exited;
        if slot.in_task {
            slot.in_task = false;
            self.live_tasks -= 1;
        }
        // Only its dependents and a monitor wait for its readiness.
        if !self.order.dependents(i).is_empty() || self.root.monitor.is_some() {
            slot.seat.ready.set();
        }
        if !self.order.is_empty() {
            self.dependent_exited(i);
        }
        self.regroup(|regroup, this| Ok(regroup.exited(i, this)));
        match exit {
            Exit::Done(Ok(())) => {
                if !self.stopping && self.slots[i].seat.options.on_exit == OnExit::Stop {
                    let path = &**self.slots[i].seat.path();
                    tracing::info!(target: "orchestra", player = %path, "stopping its siblings: its end ends its conductor");
                    self.begin_stop();
                }
            }
            Exit::Done(Err(error)) if self.slots[i].seat.options.on_exit == OnExit::Continue => {
                let path = &**self.slots[i].seat.path();
                tracing::warn!(target: "orchestra", player = %path, error = %Chain(&error), "failed for good; its siblings go on");
            }
            Exit::Done(Err(error)) => {
                self.errors.push(error);
                if !self.stopping {
                    let siblings = self.slots.iter().any(|s| s.progress != Progress::Exited);
                    if siblings {
                        let path = &**self.slots[i].seat.path();
                        tracing::warn!(target: "orchestra", player = %path, "stopping its siblings after its failure");
                    }
                    self.begin_stop();
                }
            }
            Exit::Aborted => self.report_aborted(i),
        }
    }

    /// Member `i`, ordered after others, exited: during the stop, those of
    /// them with no dependent left are asked to stop.
    fn dependent_exited(&mut self, i: usize) {
        let now = self.stopping.then(Instant::now);
        let mut shortest = None;
        for k in 0..self.order.deps(i).len() {
            let d = self.order.deps(i)[k];
            if self.order.dependent_exited(d)
                && let Some(now) = now
            {
                shortest = shorter(shortest, self.request_stop(d, now));
            }
        }
        if let Some(now) = now {
            self.watch_until(now, shortest);
        }
    }

    /// Reports member `i`, aborted: by the force of the stop, or as a
    /// straggler, with how long it was waited for.
    fn report_aborted(&mut self, i: usize) {
        let slot = &self.slots[i];
        let forced = self.root.shutdown.forced();
        slot.seat.emit(0, None, || EventKind::Aborted {
            forced: forced.map(str::to_owned),
        });
        let path = slot.seat.path().clone();
        if let Some(reason) = forced {
            tracing::warn!(target: "orchestra", player = %path, %reason, "aborted: the stop was forced");
            self.aborted.push(path);
        } else {
            let waited = slot.asked.map(|t| t.elapsed()).unwrap_or_default();
            tracing::error!(target: "orchestra", player = %path, ?waited, "did not stop in time; aborted");
            self.stragglers.push(Straggler { path, waited });
        }
        // Aborted as it did not end its run for a restart in time.
        self.begin_stop();
    }

    /// Asks every member to stop, those ordered after others first.
    fn begin_stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.forget_waiting();
        // One instant and one deadline for the whole stop, not one each.
        let now = Instant::now();
        let mut shortest = None;
        for i in 0..self.slots.len() {
            if !self.order.has_live_dependents(i) {
                shortest = shorter(shortest, self.request_stop(i, now));
            }
        }
        // Once each is reported asked to stop, all at once, into a queue
        // with room for their ends.
        self.room.make(self.live_tasks);
        self.section.stop_first();
        self.watch_until(now, shortest);
    }

    /// The members still waiting to start never will: they count as
    /// exited. Only a member ordered after others can be waiting.
    fn forget_waiting(&mut self) {
        if self.order.is_empty() {
            return;
        }
        for i in 0..self.slots.len() {
            if self.slots[i].progress == Progress::Waiting {
                self.slots[i].progress = Progress::Exited;
                self.members[i] = None;
                for k in 0..self.order.deps(i).len() {
                    let d = self.order.deps(i)[k];
                    self.order.dependent_exited(d);
                }
            }
        }
    }

    /// Asks member `i` to stop, if it runs and was not asked yet; returns
    /// its stop timeout if the group aborts it at that timeout (an owned
    /// member), for the caller to watch.
    #[must_use]
    fn request_stop(&mut self, i: usize, now: Instant) -> Option<Duration> {
        let slot = &mut self.slots[i];
        if slot.progress != Progress::Running || slot.stop_asked {
            return None;
        }
        slot.stop_asked = true;
        slot.asked = Some(now);
        // Those nobody is ordered after share a token, cancelled at the
        // end of `begin_stop`: most stops read no seat.
        if !self.order.stops_first(i) {
            slot.seat.token().cancel();
        }
        if self.watched {
            slot.seat.emit(0, None, || EventKind::Stopping);
        }
        slot.owned.then_some(slot.timeout)
    }

    /// Wakes the group at `from + timeout`, if sooner than it wakes.
    fn watch_until(&mut self, from: Instant, timeout: Option<Duration>) {
        let Some(timeout) = timeout else {
            return;
        };
        self.wake_at(later(from, timeout));
    }

    /// Wakes the group at `deadline`, if sooner than it wakes.
    fn wake_at(&mut self, deadline: Instant) {
        if self.next_deadline.is_none_or(|next| deadline < next) {
            self.next_deadline = Some(deadline);
        }
    }

    /// When member `i`'s task was aborted, if it was.
    fn aborted_at(&self, i: usize) -> Option<Instant> {
        self.aborted_at.get(i).copied().flatten()
    }

    /// Aborts an owned member's task; it has [`ABORT_GRACE`] to end.
    fn abort_task(&mut self, i: usize, task: &JoinHandle<()>, now: Instant) {
        if self.slots[i].progress != Progress::Running || self.aborted_at(i).is_some() {
            return;
        }
        task.abort();
        if self.aborted_at.is_empty() {
            self.aborted_at = vec![None; self.slots.len()];
        }
        self.aborted_at[i] = Some(now);
        self.watch_until(now, Some(ABORT_GRACE));
    }

    /// The stop timer fired: aborts the owned members past their stop
    /// deadline, and leaves behind those aborted that did not end in time.
    fn deadline_passed(&mut self, tasks: &Tasks) {
        let now = Instant::now();
        self.next_deadline = None;
        for (i, task) in tasks.running() {
            let slot = &self.slots[i];
            if slot.progress != Progress::Running {
                continue;
            }
            // Asked to stop, or to end its run for a restart: the same
            // stop timeout.
            let deadline = match (self.aborted_at(i), slot.asked) {
                (Some(aborted), _) if later(aborted, ABORT_GRACE) <= now => {
                    tracing::error!(
                        target: "orchestra",
                        player = %slot.seat.path(),
                        "aborted, but it is blocking its thread and cannot end before it yields; \
                         left behind so that the stop can go on"
                    );
                    self.exited(i, Exit::Aborted);
                    continue;
                }
                (Some(aborted), _) => later(aborted, ABORT_GRACE),
                (None, Some(asked)) if later(asked, slot.timeout) <= now => {
                    self.abort_task(i, task, now);
                    continue;
                }
                (None, Some(asked)) => later(asked, slot.timeout),
                (None, None) => continue,
            };
            self.wake_at(deadline);
        }
    }

    /// What the group's run comes to, and the runs each member began
    /// (for the group's next run), read as the slots are dropped: one pass
    /// over the members' seats, not two.
    fn finish(self) -> (Result<(), Error>, Vec<u32>) {
        let runs = (self.slots.into_iter())
            .map(|slot| slot.seat.runs.load(Ordering::Relaxed))
            .collect();
        let mut errors = self.errors;
        if !self.stragglers.is_empty() {
            errors.push(Error::StopTimedOut {
                stragglers: self.stragglers,
            });
        }
        if let Some(reason) = self.root.shutdown.forced()
            && !self.aborted.is_empty()
        {
            errors.push(Error::Forced {
                reason: reason.to_owned(),
                aborted: self.aborted,
            });
        }
        (Error::combine(errors).map_or(Ok(()), Err), runs)
    }
}

/// The shorter of two stop timeouts, either missing.
fn shorter(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Runs a borrowed player or a nested group until it returns, is aborted
/// at `timeout` after being asked to stop, or is aborted from above. A
/// borrowed player or a lent group runs inside the group's own future; a
/// given group on a task of its own, which this awaits, so that nesting
/// costs no stack.
async fn drive(
    member: &mut Member<'_>,
    seat: Arc<Seat>,
    abort: CancellationToken,
    timeout: Duration,
) -> Exit {
    match &mut member.body {
        Body::Player {
            player: Held::Owned(_),
            ..
        } => unreachable!("owned players run on tasks of their own"),
        Body::Player {
            player: Held::Borrowed(player),
            ..
        } => tokio::select! {
            biased;
            result = supervise(Dyn(&mut **player), &seat) => Exit::Done(result),
            () = expired(&seat, timeout) => Exit::Aborted,
            () = abort.cancelled() => Exit::Aborted,
        },
        Body::Group(group) => Exit::Done(drive_group(group, &seat, &abort, timeout).await),
        Body::Given(slot) => {
            let Some(group) = slot.take() else {
                return Exit::Done(Err(Error::Unavailable {
                    path: seat.path().clone(),
                }));
            };
            let task = AbortOnDropHandle::new(spawn_group(group, seat.clone(), abort.clone()));
            match aborted_at_expiry(task, &seat, &abort, timeout).await {
                Ok((group, result)) => {
                    *slot = Some(group);
                    Exit::Done(result)
                }
                Err(error) => Exit::lost(&seat, Some(error)),
            }
        }
    }
}

/// Runs a lent group (a nested conductor's, or the top one's) in place
/// until it returns; its members aborted at `timeout` after it is asked to
/// stop, or from above (`abort`).
pub(super) async fn drive_group(
    group: &mut Group<'_>,
    seat: &Arc<Seat>,
    abort: &CancellationToken,
    timeout: Duration,
) -> Result<(), Error> {
    aborted_at_expiry(supervise(Nested(group, abort), seat), seat, abort, timeout).await
}

/// Runs a group's `run` to its end; `timeout` after the member in `seat`
/// is asked to stop, cancels `abort`, for the group to abort its own
/// members (reported by their own paths), and awaits the run still.
async fn aborted_at_expiry<F: Future>(
    run: F,
    seat: &Seat,
    abort: &CancellationToken,
    timeout: Duration,
) -> F::Output {
    let mut run = std::pin::pin!(run);
    tokio::select! {
        biased;
        ended = &mut run => ended,
        () = expired(seat, timeout) => {
            abort.cancel();
            run.await
        }
    }
}

/// Completes `timeout` after the member in `seat` is asked to stop.
async fn expired(seat: &Seat, timeout: Duration) {
    seat.token().cancelled().await;
    sleep(timeout).await;
}

/// Runs a given group on a task of its own, and gives it back.
fn spawn_group(
    mut group: Box<Group<'static>>,
    seat: Arc<Seat>,
    abort: CancellationToken,
) -> JoinHandle<(Box<Group<'static>>, Result<(), Error>)> {
    tokio::spawn(Box::pin(async move {
        let result = supervise(Nested(&mut group, &abort), &seat).await;
        (group, result)
    }))
}

/// A member's stop timeout: its own, else (for a nested conductor) its
/// conductor's, else its group's default.
pub(super) fn stop_timeout(member: &Member<'_>, default: Duration) -> Duration {
    let own_default = match &member.body {
        Body::Group(group) => group.timeout,
        Body::Given(group) => group.as_ref().and_then(|group| group.timeout),
        Body::Player { .. } => None,
    };
    member.options.timeout.or(own_default).unwrap_or(default)
}
