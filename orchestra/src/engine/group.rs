//! Running a group of members: start order, readiness, failure fan-out,
//! ordered stop, per-member stop timeouts and stragglers.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::supervise::{MemberRun, Target, supervise};
use super::{Body, Group, Member, Run};
use crate::context::{Context, Readiness};
use crate::error::{Error, Straggler};
use crate::options::DEFAULT_GRACE;
use crate::status::EventKind;

/// How a member left the group.
enum Exit {
    /// It returned (after its restarts, if any).
    Done(Result<(), Error>),
    /// It was aborted: its stop timeout passed, or the stop was forced.
    Aborted,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not started: waiting for the members it is ordered after.
    Waiting,
    Running,
    Exited,
}

/// The group's bookkeeping for one member.
struct Slot {
    path: Arc<str>,
    stop: CancellationToken,
    ready: Arc<Readiness>,
    state: State,
    /// The members this one starts after.
    deps: Vec<usize>,
    /// The members that start after this one.
    dependents: Vec<usize>,
    /// Deps not ready yet: the member starts when this reaches zero.
    unready_deps: usize,
    /// Dependents not exited yet: the member is asked to stop when this
    /// reaches zero during the stop.
    live_dependents: usize,
    stop_requested: Option<Instant>,
}

type Running<'m> = FuturesUnordered<Pin<Box<dyn Future<Output = (usize, Exit)> + Send + 'm>>>;
type Readying = FuturesUnordered<Pin<Box<dyn Future<Output = usize> + Send>>>;

/// Runs `group` under `ctx` until every member is done, or until a failure
/// or `ctx`'s cancellation has stopped them all; `abort` aborts them all.
pub(super) async fn run(
    group: &mut Group<'_>,
    ctx: &Context,
    abort: &CancellationToken,
    inherited_timeout: Duration,
) -> Result<(), Error> {
    let default_timeout = group.timeout.unwrap_or(inherited_timeout);
    let order = resolve(&group.members, ctx.path())?;
    if ctx.is_cancelled() {
        return Ok(());
    }

    let slots = group
        .members
        .iter()
        .zip(order)
        .map(|(member, deps)| Slot {
            path: join(ctx.path(), &member.name),
            stop: CancellationToken::new(),
            ready: Arc::new(Readiness::default()),
            state: State::Waiting,
            unready_deps: deps.len(),
            deps,
            dependents: Vec::new(),
            live_dependents: 0,
            stop_requested: None,
        })
        .collect();
    let mut this = GroupRun {
        slots,
        waiting: group.members.iter_mut().map(Some).collect(),
        abort,
        run: ctx.run(),
        default_timeout,
        stopping: false,
        errors: Vec::new(),
        stragglers: Vec::new(),
        aborted: Vec::new(),
    };
    this.link_dependents();

    for slot in &this.slots {
        this.run.emit(&slot.path, 0, None, || EventKind::Starting);
    }
    let mut running = Running::new();
    let mut readying = Readying::new();
    for i in 0..this.slots.len() {
        if this.slots[i].unready_deps == 0 {
            this.launch(i, &mut running, &mut readying);
        }
    }

    loop {
        if running.is_empty() && readying.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            Some((i, exit)) = running.next() => this.exited(i, exit),
            () = ctx.cancelled(), if !this.stopping => {
                tracing::debug!(conductor = ctx.path(), "stop requested");
                this.begin_stop();
            }
            Some(i) = readying.next() => this.became_ready(i, &mut running, &mut readying),
            else => break,
        }
        if this.stopping && !readying.is_empty() {
            readying = Readying::new();
        }
    }
    this.finish()
}

struct GroupRun<'g, 'm, 'a> {
    slots: Vec<Slot>,
    /// Members not started yet; taken when launched.
    waiting: Vec<Option<&'m mut Member<'a>>>,
    abort: &'g CancellationToken,
    run: &'g Arc<Run>,
    default_timeout: Duration,
    stopping: bool,
    errors: Vec<Error>,
    stragglers: Vec<Straggler>,
    aborted: Vec<String>,
}

impl<'m, 'a: 'm> GroupRun<'_, 'm, 'a> {
    fn link_dependents(&mut self) {
        for i in 0..self.slots.len() {
            for d in self.slots[i].deps.clone() {
                self.slots[d].dependents.push(i);
                self.slots[d].live_dependents += 1;
            }
        }
    }

    fn launch(&mut self, i: usize, running: &mut Running<'m>, readying: &mut Readying) {
        let Some(member) = self.waiting[i].take() else {
            return;
        };
        let slot = &mut self.slots[i];
        slot.state = State::Running;
        let own_default = match &member.body {
            Body::Group(group) => group.timeout,
            _ => None,
        };
        let timeout = member
            .options
            .timeout
            .or(own_default)
            .unwrap_or(self.default_timeout);
        // The grace matters to the members ordered after this one, and to
        // a monitor's view of readiness.
        if !slot.dependents.is_empty() || self.run.monitor.is_some() {
            let ready = slot.ready.clone();
            let (run, path) = (self.run.clone(), slot.path.clone());
            let grace = member.options.delay.unwrap_or_default()
                + member.options.grace.unwrap_or(DEFAULT_GRACE);
            readying.push(Box::pin(async move {
                tokio::select! {
                    () = ready.wait() => {}
                    () = sleep(grace) => {
                        if ready.set() {
                            tracing::debug!(player = %path, ?grace, "readiness grace over: counted as ready");
                            run.emit(&path, 0, None, || EventKind::Ready);
                        }
                    }
                }
                i
            }));
        }
        let m = MemberRun {
            path: slot.path.clone(),
            options: member.options.clone(),
            stop: slot.stop.clone(),
            abort: self.abort.child_token(),
            ready: slot.ready.clone(),
            run: self.run.clone(),
            inherited_timeout: self.default_timeout,
        };
        running.push(Box::pin(
            async move { (i, drive(member, m, timeout).await) },
        ));
    }

    fn became_ready(&mut self, i: usize, running: &mut Running<'m>, readying: &mut Readying) {
        if self.stopping {
            return;
        }
        for j in self.slots[i].dependents.clone() {
            let slot = &mut self.slots[j];
            slot.unready_deps -= 1;
            if slot.unready_deps == 0 && slot.state == State::Waiting {
                self.launch(j, running, readying);
            }
        }
    }

    fn exited(&mut self, i: usize, exit: Exit) {
        let slot = &mut self.slots[i];
        slot.state = State::Exited;
        slot.ready.set();
        let path = slot.path.clone();
        let waited = slot.stop_requested.map(|t| t.elapsed()).unwrap_or_default();
        for d in self.slots[i].deps.clone() {
            self.slots[d].live_dependents -= 1;
            if self.stopping && self.slots[d].live_dependents == 0 {
                self.request_stop(d);
            }
        }
        match exit {
            Exit::Done(Ok(())) => {}
            Exit::Done(Err(error)) => {
                self.errors.push(error);
                if !self.stopping {
                    tracing::warn!(player = %path, "stopping its siblings after its failure");
                    self.begin_stop();
                }
            }
            Exit::Aborted => {
                self.run.emit(&path, 0, None, || EventKind::Aborted);
                if let Some(reason) = self.run.forced.get() {
                    tracing::warn!(player = %path, %reason, "aborted: the stop was forced");
                    self.aborted.push(path.to_string());
                } else {
                    tracing::error!(player = %path, ?waited, "did not stop in time; aborted");
                    self.stragglers.push(Straggler {
                        path: path.to_string(),
                        waited,
                    });
                }
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
            if self.slots[i].state == State::Waiting {
                self.slots[i].state = State::Exited;
                self.waiting[i] = None;
                for d in self.slots[i].deps.clone() {
                    self.slots[d].live_dependents -= 1;
                }
            }
        }
        for i in 0..self.slots.len() {
            if self.slots[i].live_dependents == 0 {
                self.request_stop(i);
            }
        }
    }

    fn request_stop(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.state == State::Running && slot.stop_requested.is_none() {
            slot.stop_requested = Some(Instant::now());
            slot.stop.cancel();
            self.run.emit(&slot.path, 0, None, || EventKind::Stopping);
        }
    }

    fn finish(self) -> Result<(), Error> {
        let mut errors = self.errors;
        if !self.stragglers.is_empty() {
            errors.push(Error::StopTimedOut {
                stragglers: self.stragglers,
            });
        }
        if let Some(reason) = self.run.forced.get()
            && !self.aborted.is_empty()
        {
            errors.push(Error::Forced {
                reason: reason.clone(),
                aborted: self.aborted,
            });
        }
        Error::combine(errors).map_or(Ok(()), Err)
    }
}

/// Runs one member until it returns, is aborted at `timeout` after being
/// asked to stop, or is aborted from above. An owned player runs on a task of
/// its own and is put back into `member` when that task ends.
async fn drive(member: &mut Member<'_>, m: MemberRun, timeout: Duration) -> Exit {
    let expired = async {
        m.stop.cancelled().await;
        sleep(timeout).await;
    };
    match &mut member.body {
        Body::Owned { player: slot, .. } => {
            let Some(mut player) = slot.take() else {
                return Exit::Done(Err(Error::Unavailable {
                    path: m.path.to_string(),
                }));
            };
            let task_run = m.clone();
            let mut task = AbortOnDropHandle::new(tokio::spawn(async move {
                let result = supervise(Target::Player(&mut *player), &task_run).await;
                (player, result)
            }));
            tokio::select! {
                joined = &mut task => match joined {
                    Ok((player, result)) => {
                        *slot = Some(player);
                        Exit::Done(result)
                    }
                    // Panics of `play` are caught inside; one elsewhere (in a
                    // player's `Drop`, say) loses the player but is reported.
                    Err(error) if error.is_panic() => Exit::Done(Err(Error::Panicked {
                        path: m.path.to_string(),
                        attempt: 0,
                        message: super::supervise::panic_message(&*error.into_panic()),
                    })),
                    // The runtime is shutting down.
                    Err(_) => Exit::Aborted,
                },
                () = expired => abort(task, &m.path).await,
                () = m.abort.cancelled() => abort(task, &m.path).await,
            }
        }
        Body::Borrowed { player, .. } => tokio::select! {
            result = supervise(Target::Player(&mut **player), &m) => Exit::Done(result),
            () = expired => Exit::Aborted,
            () = m.abort.cancelled() => Exit::Aborted,
        },
        Body::Group(group) => {
            // A nested group aborts its own members, so that they are
            // reported by their own paths.
            let mut nested = std::pin::pin!(supervise(Target::Group(group), &m));
            tokio::select! {
                result = &mut nested => Exit::Done(result),
                () = expired => {
                    m.abort.cancel();
                    Exit::Done(nested.await)
                }
            }
        }
    }
}

/// How long an aborted task may take to end. A task aborts at its next
/// `.await`; one blocking its thread cannot, and is left behind rather than
/// holding the whole stop up.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// Aborts a member's task and waits (at most [`ABORT_GRACE`]) for it to end.
async fn abort<T>(mut task: AbortOnDropHandle<T>, path: &str) -> Exit {
    task.abort();
    if tokio::time::timeout(ABORT_GRACE, &mut task).await.is_err() {
        tracing::error!(
            player = %path,
            "aborted, but it is blocking its thread and cannot end before it yields; \
             left behind so that the stop can go on"
        );
    }
    Exit::Aborted
}

fn join(prefix: &str, name: &str) -> Arc<str> {
    if prefix.is_empty() {
        Arc::from(name)
    } else {
        Arc::from(format!("{prefix}/{name}"))
    }
}

/// Checks the members' options and resolves their `after` names to indices;
/// every problem is reported, not only the first.
fn resolve(members: &[Member<'_>], prefix: &str) -> Result<Vec<Vec<usize>>, Error> {
    let mut problems = Vec::new();
    let mut config = |path: &str, message: String| {
        problems.push(Error::Config {
            path: path.to_owned(),
            message,
        });
    };
    for member in members {
        if let Err(message) = member.options.validate() {
            config(&join(prefix, &member.name), message);
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
                        &join(prefix, &member.name),
                        "it is ordered `after` itself".into(),
                    ),
                    Some(&d) => deps[i].push(d),
                    None => config(
                        &join(prefix, &member.name),
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
