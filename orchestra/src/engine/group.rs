//! Running a group of members: start order, readiness, failure fan-out,
//! ordered stop, per-member stop timeouts and stragglers.

use std::collections::HashMap;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::member::{Body, Group, Held, Member, Played, path};
use super::seat::{Grouped, Paused, Root, Seat};
use super::strategy::{Members, Regroup, Step};
use super::supervise::{Dyn, Outcome, Target, supervise};
use super::tasks::Tasks;
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
    fn lost(seat: &Seat, error: JoinError) -> Exit {
        if !error.is_panic() {
            // Aborted, or the runtime is shutting down.
            return Exit::Aborted;
        }
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

/// The group's bookkeeping for one member.
struct Slot {
    /// Its path, stop token and readiness, shared with its runs.
    seat: Arc<Seat>,
    progress: Progress,
    /// Runs on a task of its own, which the group aborts itself.
    owned: bool,
    /// Its stop timeout.
    timeout: Duration,
    /// The members this one starts after. Boxed slices, as `dependents`:
    /// most members have none, and the room of a `Vec` is a player's cost.
    deps: Box<[usize]>,
    /// The members that start after this one.
    dependents: Box<[usize]>,
    /// Deps not ready yet: the member starts when this reaches zero.
    unready_deps: u32,
    /// Dependents not exited yet: the member is asked to stop when this
    /// reaches zero during the stop.
    live_dependents: u32,
    stop_requested: Option<Instant>,
    /// When its group asked its run to end, to restart it with a sibling:
    /// it has its stop timeout to pause.
    restart_asked: Option<Instant>,
    /// Runs on a task the group awaits (counted in `live_tasks`).
    in_task: bool,
    /// When its task was aborted.
    aborted_at: Option<Instant>,
    /// Its first readiness was counted by its dependents waiting to start.
    counted_ready: bool,
}

/// Borrowed players and nested groups, which run inside the group's future.
type Running<'m> = FuturesUnordered<Pin<Box<dyn Future<Output = (usize, Exit)> + Send + 'm>>>;
type Readying = FuturesUnordered<Pin<Box<dyn Future<Output = usize> + Send>>>;

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
        // Boxed: a group runs members that run groups.
        let run: Pin<Box<dyn Future<Output = Result<(), Error>> + Send + '_>> =
            Box::pin(conduct(self.0, &ctx, self.1, seat.inherited_timeout));
        match run.await {
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
    let order = resolve(group, ctx.path())?;
    if ctx.is_cancelled() {
        return Ok(());
    }
    let (regroup, mut paused) =
        Regroup::new(group.supervision, ctx.path(), group.members.len()).unzip();

    let slots = group
        .members
        .iter()
        .zip(order)
        .enumerate()
        .map(|(i, (member, deps))| {
            let timeout = stop_timeout(member, default_timeout);
            Slot {
                seat: Seat::member(
                    ctx.seat(),
                    member.name.clone(),
                    matches!(member.body, Body::Group(_) | Body::Given(_)),
                    member.options.clone(),
                    timeout,
                    default_timeout,
                    Grouped {
                        index: i,
                        runs_before: group.runs.get(i).copied().unwrap_or(0),
                        to_group: regroup.as_ref().map(Regroup::sender),
                    },
                ),
                progress: Progress::Waiting,
                owned: matches!(
                    member.body,
                    Body::Player {
                        player: Held::Owned(_),
                        ..
                    }
                ),
                timeout,
                unready_deps: count(deps.len()),
                deps: deps.into_boxed_slice(),
                dependents: Box::default(),
                live_dependents: 0,
                stop_requested: None,
                restart_asked: None,
                in_task: false,
                aborted_at: None,
                counted_ready: false,
            }
        })
        .collect();
    let mut this = Conducting {
        regroup,
        released: Vec::new(),
        slots,
        members: group.members.iter_mut().map(Some).collect(),
        abort,
        root: ctx.root(),
        stopping: false,
        aborting: false,
        next_deadline: None,
        live_tasks: 0,
        errors: Vec::new(),
        stragglers: Vec::new(),
        aborted: Vec::new(),
    };
    this.link_dependents();
    // The members, for those ordered after others to find the values they
    // are handed (`Context::dependency`).
    let handing: Option<Arc<Vec<Arc<Seat>>>> = (this.slots.iter().any(|s| !s.deps.is_empty()))
        .then(|| {
            let seats = Arc::new(this.slots.iter().map(|s| s.seat.clone()).collect());
            ctx.seat().members.set(&seats);
            seats
        });

    for slot in &this.slots {
        slot.seat.emit(0, None, || EventKind::Starting);
        if slot.seat.options.ignore_readiness
            && let Some(monitor) = &this.root.monitor
        {
            monitor.ignore_readiness(slot.seat.path());
        }
    }
    let mut sets = Sets {
        tasks: Tasks::new(this.slots.len()),
        running: Running::new(),
        readying: Readying::new(),
    };
    for i in 0..this.slots.len() {
        if this.slots[i].unready_deps == 0 {
            this.launch(i, &mut sets);
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
            (i, joined) = poll_fn(|cx| sets.tasks.poll_next(cx)) => this.joined(i, joined),
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
                this.slots[paused.index].restart_asked = None;
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
    }
    drop(handing);
    let runs = this
        .slots
        .iter()
        .map(|s| s.seat.runs.load(Ordering::Relaxed))
        .collect();
    let result = this.finish();
    group.runs = runs;
    result
}

/// A group being conducted: its members' bookkeeping, and what their exits
/// left to report.
struct Conducting<'g, 'm, 'a> {
    slots: Vec<Slot>,
    /// The restarts the group decides, if it does.
    regroup: Option<Regroup>,
    /// Members it released from a restart, whose readiness to watch.
    released: Vec<usize>,
    /// The members: taken when launched, except owned players, whose task
    /// gives the player back to put here.
    members: Vec<Option<&'m mut Member<'a>>>,
    abort: &'g CancellationToken,
    root: &'g Arc<Root>,
    stopping: bool,
    aborting: bool,
    /// Owned members whose task the group still waits for.
    live_tasks: usize,
    /// The earliest stop deadline of an owned member still running.
    next_deadline: Option<Instant>,
    errors: Vec<Error>,
    stragglers: Vec<Straggler>,
    aborted: Vec<Arc<str>>,
}

impl Members for Conducting<'_, '_, '_> {
    fn deps(&self, i: usize) -> &[usize] {
        &self.slots[i].deps
    }

    fn dependents(&self, i: usize) -> &[usize] {
        &self.slots[i].dependents
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
                for i in asked {
                    let slot = &mut self.slots[i];
                    slot.restart_asked = Some(now);
                    if slot.owned {
                        let deadline = later(now, slot.timeout);
                        if self.next_deadline.is_none_or(|next| deadline < next) {
                            self.next_deadline = Some(deadline);
                        }
                    }
                }
            }
            Err(limit) => {
                tracing::error!(target: "orchestra", error = %limit, "stopping its players after too many restarts");
                self.errors.push(limit);
                self.begin_stop();
            }
        }
    }

    fn link_dependents(&mut self) {
        if self.slots.iter().all(|slot| slot.deps.is_empty()) {
            return;
        }
        let mut dependents = vec![Vec::new(); self.slots.len()];
        for (i, slot) in self.slots.iter().enumerate() {
            for &d in &slot.deps {
                dependents[d].push(i);
            }
        }
        for (slot, dependents) in self.slots.iter_mut().zip(dependents) {
            slot.live_dependents = count(dependents.len());
            slot.dependents = dependents.into_boxed_slice();
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
        let timeout = slot.timeout;
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
            self.slots[i].in_task = true;
            return;
        }
        let abort = self.abort.child_token();
        sets.running.push(Box::pin(async move {
            (i, drive(member, seat, abort, timeout).await)
        }));
    }

    /// Watches a member's run for readiness: waited for by the members
    /// ordered after it; a grace also shows in a monitor's view of
    /// readiness.
    fn watch_readiness(&mut self, i: usize, sets: &mut Sets<'m>) {
        let slot = &self.slots[i];
        let seat = slot.seat.clone();
        let grace = seat.options.grace;
        if slot.dependents.is_empty() && (grace.is_none() || self.root.monitor.is_none()) {
            return;
        }
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
        for j in self.slots[i].dependents.clone() {
            let slot = &mut self.slots[j];
            slot.unready_deps -= 1;
            if slot.unready_deps == 0 && slot.progress == Progress::Waiting {
                self.launch(j, sets);
            }
        }
    }

    /// An owned member's task ended: gives the player back.
    fn joined(&mut self, i: usize, joined: Result<Played, JoinError>) {
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
                Exit::Done(result)
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
        if !slot.dependents.is_empty() || self.root.monitor.is_some() {
            slot.seat.ready.set();
        }
        let waited = (slot.stop_requested.or(slot.restart_asked))
            .map(|t| t.elapsed())
            .unwrap_or_default();
        for d in self.slots[i].deps.clone() {
            self.slots[d].live_dependents -= 1;
            if self.stopping && self.slots[d].live_dependents == 0 {
                self.request_stop(d, Instant::now());
            }
        }
        self.regroup(|regroup, this| Ok(regroup.exited(i, this)));
        let on_exit = self.slots[i].seat.options.on_exit;
        match exit {
            Exit::Done(Ok(())) if on_exit == OnExit::Stop && !self.stopping => {
                let path = &**self.slots[i].seat.path();
                tracing::info!(target: "orchestra", player = %path, "stopping its siblings: its end ends its conductor");
                self.begin_stop();
            }
            Exit::Done(Ok(())) => {}
            Exit::Done(Err(error)) if on_exit == OnExit::Continue => {
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
            Exit::Aborted => {
                let forced = self.root.shutdown.forced();
                self.slots[i].seat.emit(0, None, || EventKind::Aborted {
                    forced: forced.map(str::to_owned),
                });
                let path = self.slots[i].seat.path().clone();
                if let Some(reason) = forced {
                    tracing::warn!(target: "orchestra", player = %path, %reason, "aborted: the stop was forced");
                    self.aborted.push(path);
                } else {
                    tracing::error!(target: "orchestra", player = %path, ?waited, "did not stop in time; aborted");
                    self.stragglers.push(Straggler { path, waited });
                }
                // Aborted as it did not end its run for a restart in time.
                self.begin_stop();
            }
        }
    }

    /// Asks every member to stop, those ordered after others first.
    fn begin_stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        for i in 0..self.slots.len() {
            if self.slots[i].progress == Progress::Waiting {
                self.slots[i].progress = Progress::Exited;
                self.members[i] = None;
                for d in self.slots[i].deps.clone() {
                    self.slots[d].live_dependents -= 1;
                }
            }
        }
        let now = Instant::now();
        for i in 0..self.slots.len() {
            if self.slots[i].live_dependents == 0 {
                self.request_stop(i, now);
            }
        }
    }

    fn request_stop(&mut self, i: usize, now: Instant) {
        let slot = &mut self.slots[i];
        if slot.progress == Progress::Running && slot.stop_requested.is_none() {
            slot.stop_requested = Some(now);
            slot.seat.token.cancel();
            slot.seat.emit(0, None, || EventKind::Stopping);
            if slot.owned {
                let deadline = later(now, slot.timeout);
                if self.next_deadline.is_none_or(|next| deadline < next) {
                    self.next_deadline = Some(deadline);
                }
            }
        }
    }

    /// Aborts an owned member's task; it has [`ABORT_GRACE`] to end.
    fn abort_task(&mut self, i: usize, task: &AbortOnDropHandle<Played>, now: Instant) {
        let slot = &mut self.slots[i];
        if slot.progress != Progress::Running || slot.aborted_at.is_some() {
            return;
        }
        task.abort();
        slot.aborted_at = Some(now);
        let deadline = later(now, ABORT_GRACE);
        if self.next_deadline.is_none_or(|next| deadline < next) {
            self.next_deadline = Some(deadline);
        }
    }

    /// The stop timer fired: aborts the owned members past their stop
    /// deadline, and leaves behind those aborted that did not end in time.
    fn deadline_passed(&mut self, tasks: &Tasks) {
        let now = Instant::now();
        self.next_deadline = None;
        let mut next: Option<Instant> = None;
        for (i, task) in tasks.running() {
            let slot = &self.slots[i];
            if slot.progress != Progress::Running {
                continue;
            }
            // Asked to stop, or to end its run for a restart: the same
            // stop timeout.
            let deadline = match (slot.aborted_at, slot.stop_requested.or(slot.restart_asked)) {
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
                (None, Some(requested)) if later(requested, slot.timeout) <= now => {
                    self.abort_task(i, task, now);
                    continue;
                }
                (None, Some(requested)) => later(requested, slot.timeout),
                (None, None) => continue,
            };
            if next.is_none_or(|next| deadline < next) {
                next = Some(deadline);
            }
        }
        if let Some(deadline) = next
            && self.next_deadline.is_none_or(|n| deadline < n)
        {
            self.next_deadline = Some(deadline);
        }
    }

    fn finish(self) -> Result<(), Error> {
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
        Error::combine(errors).map_or(Ok(()), Err)
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
    let expired = async {
        seat.token.cancelled().await;
        sleep(timeout).await;
    };
    match &mut member.body {
        Body::Player {
            player: Held::Owned(_),
            ..
        } => unreachable!("owned players run on tasks of their own"),
        Body::Player {
            player: Held::Borrowed(player),
            ..
        } => tokio::select! {
            result = supervise(Dyn(&mut **player), &seat) => Exit::Done(result),
            () = expired => Exit::Aborted,
            () = abort.cancelled() => Exit::Aborted,
        },
        // A nested group aborts its own members, so that they are
        // reported by their own paths.
        Body::Group(group) => {
            let mut nested = std::pin::pin!(supervise(Nested(group, &abort), &seat));
            tokio::select! {
                result = &mut nested => Exit::Done(result),
                () = expired => {
                    abort.cancel();
                    Exit::Done(nested.await)
                }
            }
        }
        Body::Given(slot) => {
            let Some(group) = slot.take() else {
                return Exit::Done(Err(Error::Unavailable {
                    path: seat.path().clone(),
                }));
            };
            let mut task = AbortOnDropHandle::new(spawn_group(group, seat.clone(), abort.clone()));
            let joined = tokio::select! {
                joined = &mut task => joined,
                () = expired => {
                    abort.cancel();
                    task.await
                }
            };
            match joined {
                Ok((group, result)) => {
                    *slot = Some(group);
                    Exit::Done(result)
                }
                Err(error) => Exit::lost(&seat, error),
            }
        }
    }
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

/// A number of members, as a slot counts them.
fn count(members: usize) -> u32 {
    u32::try_from(members).unwrap_or(u32::MAX)
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

/// Checks the members' options and resolves their `after` names to indices;
/// every problem is reported, not only the first.
fn resolve(group: &Group<'_>, prefix: &str) -> Result<Vec<Vec<usize>>, Error> {
    let members = &group.members;
    let mut problems = Vec::new();
    let mut config = |path: &str, message: String| {
        problems.push(Error::Config {
            path: Arc::from(path),
            message,
        });
    };
    if let Some((_, within)) = group.supervision.max_restarts
        && within.is_zero()
    {
        config(
            if prefix.is_empty() { "/" } else { prefix },
            "the conductor's max_restarts window (`within`) must be longer than zero".into(),
        );
    }
    for member in members.iter() {
        if let Err(message) = member.options.validate() {
            config(&path(prefix, &member.name), message);
        }
        // The top group's prefix is empty: it holds the root conductor.
        if !prefix.is_empty() && member.drain_phase().is_some() {
            config(
                &path(prefix, &member.name),
                "a drain phase is the whole run's: set `drain` on the top conductor \
                 or with `Runner::drain`, not on a nested conductor"
                    .into(),
            );
        }
    }
    let mut deps = vec![Vec::new(); members.len()];
    if members.iter().any(|m| !m.options.after.is_empty()) {
        let index: HashMap<&str, usize> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (&*m.name, i))
            .collect();
        for (i, member) in members.iter().enumerate() {
            for after in &member.options.after {
                match index.get(&**after) {
                    Some(&d) if d == i => config(
                        &path(prefix, &member.name),
                        "it is ordered `after` itself".into(),
                    ),
                    Some(&d) => deps[i].push(d),
                    None => config(
                        &path(prefix, &member.name),
                        format!(
                            "it is ordered `after` `{after}`, which is not a player of this conductor; its players are {}",
                            list(members.iter().map(|m| &*m.name))
                        ),
                    ),
                }
            }
        }
        if let Some(cycle) = find_cycle(&deps) {
            let names = cycle.iter().map(|&i| &*members[i].name);
            config(
                if prefix.is_empty() { "/" } else { prefix },
                format!(
                    "its players are ordered `after` each other in a cycle: {}",
                    list(names)
                ),
            );
        }
    }
    Error::combine(problems).map_or(Ok(deps), Err)
}

/// The members that are part of a cycle of `after`, if any (Kahn's algorithm).
fn find_cycle(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    let mut unmet: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); deps.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..deps.len()).filter(|&i| unmet[i] == 0).collect();
    while let Some(i) = ready.pop() {
        for &j in &dependents[i] {
            unmet[j] -= 1;
            if unmet[j] == 0 {
                ready.push(j);
            }
        }
    }
    let cycle: Vec<usize> = (0..deps.len()).filter(|&i| unmet[i] > 0).collect();
    (!cycle.is_empty()).then_some(cycle)
}

fn list<'s>(names: impl Iterator<Item = &'s str>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
