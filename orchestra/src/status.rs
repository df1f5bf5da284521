//! What players are doing: live statuses, events, listeners, execution reports.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::execution_id::ExecutionId;
use crate::lock::lock;
use crate::time::later;

/// One change in a player's life, with its time.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event {
    /// The player's path, such as `app/jobs/mailer`.
    pub path: Arc<str>,
    /// What happened.
    pub kind: EventKind,
    /// The run it concerns, from 1 (0 before the first run).
    pub attempt: u32,
    /// The run's identifier, once a run has begun.
    pub execution_id: Option<ExecutionId>,
    /// When it happened, by the wall clock.
    pub at: SystemTime,
    /// When it happened, since the run of the top conductor began, by tokio's
    /// clock (deterministic under a paused clock).
    pub elapsed: Duration,
}

/// What happened to a player.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// Known to its conductor, not started yet (waiting for the players it
    /// is ordered `after`).
    Starting,
    /// Its first start is deferred by `delay`.
    Deferred {
        /// The delay.
        delay: Duration,
    },
    /// A run began.
    Started,
    /// It called `ctx.ready()`, or its readiness grace passed.
    Ready,
    /// A run ended and the player will be run again after `delay`.
    BackingOff {
        /// Why the run ended, if it failed.
        error: Option<String>,
        /// The delay before the next run.
        delay: Duration,
    },
    /// A reload was requested and it is being restarted for it
    /// ([`OnReload::Restart`](crate::OnReload::Restart)): its run was asked
    /// to stop; the next starts once it returned.
    Reloading,
    /// It was asked to stop.
    Stopping,
    /// It ended for good without error.
    Stopped,
    /// It ended for good with an error (including a restart limit).
    Failed {
        /// The error and its causes.
        error: String,
    },
    /// It was aborted: it did not return within its stop timeout, or the
    /// stop was forced.
    Aborted {
        /// Why the stop was forced (such as `a second SIGINT`), when it
        /// was; `None` when the player's stop timeout passed.
        forced: Option<String>,
    },
}

/// The state of a player, as of its last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Waiting to start.
    Starting,
    /// Waiting for its deferred first start.
    Deferred,
    /// Running, not (yet) ready.
    Running,
    /// Running and ready.
    Ready,
    /// Waiting to be restarted.
    BackingOff,
    /// Restarting for a reload: its run was asked to stop.
    Reloading,
    /// Asked to stop, not returned yet.
    Stopping,
    /// Ended without error.
    Stopped,
    /// Ended with an error, or aborted.
    Failed,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Starting => "starting",
            State::Deferred => "deferred",
            State::Running => "running",
            State::Ready => "ready",
            State::BackingOff => "backing off",
            State::Reloading => "reloading",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Failed => "failed",
        })
    }
}

/// A snapshot of one player's status.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlayerStatus {
    /// The player's path.
    pub path: Arc<str>,
    /// Its state.
    pub state: State,
    /// Its current or last run, from 1 (0 before the first).
    pub attempt: u32,
    /// The identifier of its current or last run.
    pub execution_id: Option<ExecutionId>,
    /// When its current or last run began.
    pub started_at: Option<SystemTime>,
    /// The last error it ended a run with.
    pub last_error: Option<String>,
    /// When it is due to be restarted, while backing off.
    pub next_restart: Option<SystemTime>,
    /// How many runs it began.
    pub runs: u32,
    /// Whether its last run was asked to stop (so a `Stopped` player did
    /// not finish by itself).
    pub asked_to_stop: bool,
    /// Whether it counts for the service's readiness (see
    /// `PlayerOptions::ignore_readiness`).
    pub counts_for_readiness: bool,
}

impl PlayerStatus {
    fn new(path: Arc<str>) -> Self {
        PlayerStatus {
            path,
            state: State::Starting,
            attempt: 0,
            execution_id: None,
            started_at: None,
            last_error: None,
            next_restart: None,
            runs: 0,
            asked_to_stop: false,
            counts_for_readiness: true,
        }
    }

    fn apply(&mut self, event: &Event) {
        if event.attempt > 0 {
            self.attempt = event.attempt;
        }
        if event.execution_id.is_some() {
            self.execution_id = event.execution_id;
        }
        self.next_restart = None;
        self.state = match &event.kind {
            EventKind::Starting => State::Starting,
            EventKind::Deferred { .. } => State::Deferred,
            EventKind::Started => {
                self.runs += 1;
                self.asked_to_stop = false;
                self.started_at = Some(event.at);
                State::Running
            }
            EventKind::Ready if self.state == State::Running => State::Ready,
            EventKind::Ready => self.state,
            EventKind::BackingOff { error, delay } => {
                if error.is_some() {
                    self.last_error.clone_from(error);
                }
                self.next_restart = Some(later(event.at, *delay));
                State::BackingOff
            }
            EventKind::Reloading => State::Reloading,
            EventKind::Stopping if matches!(self.state, State::Stopped | State::Failed) => {
                self.state
            }
            EventKind::Stopping => {
                self.asked_to_stop = true;
                State::Stopping
            }
            EventKind::Stopped => State::Stopped,
            EventKind::Failed { error } => {
                self.last_error = Some(error.clone());
                State::Failed
            }
            EventKind::Aborted { forced } => {
                self.last_error = Some(match forced {
                    Some(reason) => format!("aborted: the stop was forced ({reason})"),
                    None => "aborted: it did not stop in time".into(),
                });
                State::Failed
            }
        };
    }

    /// Restarts so far: runs after the first.
    pub fn restarts(&self) -> u32 {
        self.runs.saturating_sub(1)
    }
}

/// Watches the players of a run: a live snapshot of their statuses, a stream
/// of events, listener callbacks, and a report of every player's events once
/// the run is over.
///
/// Attach it with [`Runner::monitor`](crate::Runner::monitor). Nothing is
/// recorded, and the engine pays nothing, for a run without a monitor.
///
/// Listeners and subscribers never slow the players down: events go through a
/// bounded buffer ([`Monitor::with_capacity`], 1024 by default); a receiver
/// that falls further behind loses the oldest events, and
/// [`dropped`](Monitor::dropped) counts what listeners lost.
///
/// ```
/// use orchestra::{player_fn, Conductor, Context, EventKind, Monitor, Runner, State};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), orchestra::Error> {
/// let mut app = Conductor::named("app");
/// app.add("job", player_fn(|_ctx: Context| async { Ok(()) }))?;
///
/// let monitor = Monitor::new();
/// monitor.on_event(|event| tracing::info!(player = %event.path, kind = ?event.kind));
/// Runner::new(app).monitor(monitor.clone()).play_until(std::future::pending()).await?;
///
/// let job = &monitor.snapshot()[1];
/// assert_eq!((&*job.path, job.state, job.runs), ("app/job", State::Stopped, 1));
/// let kinds: Vec<EventKind> = monitor.report().events("app/job").map(|e| e.kind.clone()).collect();
/// assert_eq!(kinds, [EventKind::Starting, EventKind::Started, EventKind::Stopped]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

struct Inner {
    table: Mutex<Table>,
    events: broadcast::Sender<Event>,
    /// What the listeners' threads receive: the events, then the end of the run.
    notes: broadcast::Sender<Note>,
    listeners: Mutex<Vec<OnEvent>>,
    dropped: AtomicU64,
    /// Where the run it watches is ([`RunPhase`]).
    run: AtomicU8,
}

/// Where the run a monitor watches is, as health reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RunPhase {
    /// No run was given the monitor.
    Detached,
    Running,
    Draining,
    Stopping,
    /// The run returned.
    Ended,
}

impl RunPhase {
    #[cfg_attr(not(feature = "health"), allow(dead_code))]
    const ALL: [RunPhase; 5] = [
        RunPhase::Detached,
        RunPhase::Running,
        RunPhase::Draining,
        RunPhase::Stopping,
        RunPhase::Ended,
    ];
}

#[derive(Clone)]
enum Note {
    Event(Event),
    End,
}

type OnEvent = Box<dyn FnMut(&Event) + Send>;

/// Every player's status and events, in the order the players were first seen.
#[derive(Default)]
struct Table {
    index: HashMap<Arc<str>, usize>,
    players: Vec<Record>,
    start: Option<(Instant, SystemTime)>,
}

struct Record {
    status: PlayerStatus,
    events: VecDeque<Event>,
    forgotten: usize,
}

/// The events kept per player for the report; older ones are counted.
const HISTORY: usize = 1024;

impl Default for Monitor {
    fn default() -> Self {
        Monitor::new()
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("players", &self.table().players.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Monitor {
    /// A monitor whose subscribers and listeners may fall 1024 events behind.
    pub fn new() -> Self {
        Monitor::with_capacity(1024)
    }

    /// A monitor whose subscribers and listeners may fall `capacity` events
    /// behind before they lose the oldest.
    pub fn with_capacity(capacity: usize) -> Self {
        let (events, _) = broadcast::channel(capacity.max(1));
        let (notes, _) = broadcast::channel(capacity.max(1));
        Monitor {
            inner: Arc::new(Inner {
                table: Mutex::new(Table::default()),
                events,
                notes,
                listeners: Mutex::new(Vec::new()),
                dropped: AtomicU64::new(0),
                run: AtomicU8::new(RunPhase::Detached as u8),
            }),
        }
    }

    /// Calls `listener` with every event, in order, on a thread of its own
    /// while a run is under way, so a slow or blocking listener delays no
    /// player. The run waits for its listeners to see its last
    /// events before it returns: for its top stop timeout at most (9 s by
    /// default), and not once the stop is forced; a listener still busy
    /// then is left running on its thread, and logged.
    pub fn on_event(&self, listener: impl FnMut(&Event) + Send + 'static) {
        self.listeners().push(Box::new(listener));
    }

    /// A receiver of every event from now on. Lagging receivers lose the
    /// oldest events and are told how many (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Every player's status now, in the order they were first seen (each
    /// conductor before its players).
    pub fn snapshot(&self) -> Vec<PlayerStatus> {
        self.table()
            .players
            .iter()
            .map(|r| r.status.clone())
            .collect()
    }

    /// The status of one player, by path.
    pub fn status(&self, path: &str) -> Option<PlayerStatus> {
        let table = self.table();
        table
            .index
            .get(path)
            .map(|&i| table.players[i].status.clone())
    }

    /// Every player's events in order (yokai's execution reports), and a
    /// table of runs, restarts and states through [`Display`](fmt::Display).
    pub fn report(&self) -> Report {
        let table = self.table();
        Report {
            players: table
                .players
                .iter()
                .map(|r| PlayerReport {
                    status: r.status.clone(),
                    events: r.events.iter().cloned().collect(),
                    forgotten: r.forgotten,
                })
                .collect(),
        }
    }

    /// How many events listeners lost because they fell behind.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Leaves the player at `path` (and any below it) out of readiness.
    pub(crate) fn ignore_readiness(&self, path: &Arc<str>) {
        let mut table = self.table();
        if let Some(&i) = table.index.get(path) {
            table.players[i].status.counts_for_readiness = false;
        }
    }

    /// Where the watched run is.
    #[cfg_attr(not(feature = "health"), allow(dead_code))]
    pub(crate) fn run_phase(&self) -> RunPhase {
        RunPhase::ALL[usize::from(self.inner.run.load(Ordering::Acquire))]
    }

    /// Marks the monitor as given to a run that has not started yet.
    pub(crate) fn attach(&self) {
        let _ = self.inner.run.compare_exchange(
            RunPhase::Detached as u8,
            RunPhase::Running as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Moves the watched run to `phase`: forward only, except that a new
    /// run starts over at `Running`.
    pub(crate) fn enter(&self, phase: RunPhase) {
        if phase == RunPhase::Running {
            self.inner.run.store(phase as u8, Ordering::Release);
        } else {
            self.inner.run.fetch_max(phase as u8, Ordering::AcqRel);
        }
    }

    /// Records an event and sends it to subscribers.
    pub(crate) fn record(
        &self,
        path: &Arc<str>,
        attempt: u32,
        id: Option<ExecutionId>,
        kind: EventKind,
    ) {
        let event = {
            let mut table = self.table();
            let (t0, wall0) = *table
                .start
                .get_or_insert_with(|| (Instant::now(), SystemTime::now()));
            let elapsed = t0.elapsed();
            let event = Event {
                path: path.clone(),
                kind,
                attempt,
                execution_id: id,
                at: wall0 + elapsed,
                elapsed,
            };
            let i = match table.index.get(path) {
                Some(&i) => i,
                None => {
                    let i = table.players.len();
                    table.index.insert(path.clone(), i);
                    table.players.push(Record {
                        status: PlayerStatus::new(path.clone()),
                        events: VecDeque::new(),
                        forgotten: 0,
                    });
                    i
                }
            };
            let record = &mut table.players[i];
            record.status.apply(&event);
            if record.events.len() == HISTORY {
                record.events.pop_front();
                record.forgotten += 1;
            }
            record.events.push_back(event.clone());
            event
        };
        // No receiver is not an error: nobody is listening.
        let _ = self.inner.notes.send(Note::Event(event.clone()));
        let _ = self.inner.events.send(event);
    }

    /// Starts the listeners for a run, each on a thread of its own (not
    /// tokio's blocking pool: a task parked there would stop a paused clock
    /// from advancing).
    pub(crate) fn start_listeners(&self) -> Listening {
        let listeners = std::mem::take(&mut *self.listeners());
        // Each listener's thread says when it ends (or hangs up: it panicked).
        let (ended, threads) = std::sync::mpsc::channel::<()>();
        let mut count = 0;
        for mut listener in listeners {
            let mut notes = self.inner.notes.subscribe();
            let monitor = self.clone();
            let ended = ended.clone();
            let spawned = std::thread::Builder::new()
                .name("orchestra-listener".into())
                .spawn(move || {
                    loop {
                        match notes.blocking_recv() {
                            Ok(Note::Event(event)) => listener(&event),
                            Ok(Note::End) | Err(broadcast::error::RecvError::Closed) => break,
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                monitor.inner.dropped.fetch_add(n, Ordering::Relaxed);
                                tracing::warn!(target: "orchestra", dropped = n, "a monitor listener fell behind and lost events");
                            }
                        }
                    }
                    // Listeners are kept for the next run.
                    monitor.listeners().push(listener);
                    let _ = ended.send(());
                });
            match spawned {
                Ok(_) => count += 1,
                Err(error) => {
                    tracing::error!(target: "orchestra", %error, "cannot start a thread for a monitor listener");
                }
            }
        }
        Listening {
            monitor: self.clone(),
            threads,
            count,
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        lock(&self.inner.table)
    }

    fn listeners(&self) -> MutexGuard<'_, Vec<OnEvent>> {
        lock(&self.inner.listeners)
    }
}

/// The listeners of one run.
pub(crate) struct Listening {
    monitor: Monitor,
    /// A message from each listener's thread as it ends.
    threads: std::sync::mpsc::Receiver<()>,
    count: usize,
}

/// How the wait for the listeners ended.
enum Heard {
    All,
    /// Some listeners panicked.
    Panicked(usize),
    /// Some were still busy at the bound.
    Busy(usize),
}

impl Listening {
    /// Lets the listeners hear the last events, then waits for them: for
    /// `bound` at most, by the wall clock (they run on threads, in real
    /// time, whatever tokio's clock does), and not after `cut` is cancelled
    /// (the stop was forced). A listener still busy then is left running on
    /// its thread, and logged.
    pub(crate) async fn finish(self, bound: Duration, cut: &CancellationToken) {
        // The end note is the newest, so a lagging listener still gets it.
        let _ = self.monitor.inner.notes.send(Note::End);
        if self.count == 0 {
            return;
        }
        // Waited for on a thread of its own, so that the bound is real time.
        let (told, heard) = tokio::sync::oneshot::channel();
        let (threads, count) = (self.threads, self.count);
        let waiting = std::thread::Builder::new()
            .name("orchestra-listeners".into())
            .spawn(move || {
                let _ = told.send(wait_for(&threads, count, bound));
            });
        if let Err(error) = waiting {
            tracing::error!(target: "orchestra", %error, "cannot wait for the monitor listeners");
            return;
        }
        tokio::select! {
            biased;
            heard = heard => match heard {
                Ok(Heard::All) | Err(_) => {}
                Ok(Heard::Panicked(n)) => {
                    tracing::error!(target: "orchestra", listeners = n, "a monitor listener panicked");
                }
                Ok(Heard::Busy(n)) => {
                    tracing::warn!(target: "orchestra", listeners = n, ?bound, "a monitor listener did not finish within the stop timeout: left running on its thread");
                }
            },
            () = cut.cancelled() => {
                tracing::warn!(target: "orchestra", "the stop was forced: not waiting for the monitor listeners, left running on their threads");
            }
        }
    }
}

/// Waits until `count` listeners' threads ended, or `bound` passed.
fn wait_for(threads: &std::sync::mpsc::Receiver<()>, count: usize, bound: Duration) -> Heard {
    use std::sync::mpsc::RecvTimeoutError;
    let deadline = later(std::time::Instant::now(), bound);
    for left in (1..=count).rev() {
        let wait = deadline.saturating_duration_since(std::time::Instant::now());
        match threads.recv_timeout(wait) {
            Ok(()) => {}
            Err(RecvTimeoutError::Timeout) => return Heard::Busy(left),
            Err(RecvTimeoutError::Disconnected) => return Heard::Panicked(left),
        }
    }
    Heard::All
}

/// Every player's events, in order, after (or during) a run.
///
/// Its [`Display`](fmt::Display) is a table of each player's runs, restarts,
/// final state and last error, as logged at the end of a run.
#[derive(Debug, Clone)]
pub struct Report {
    players: Vec<PlayerReport>,
}

/// One player's part of a [`Report`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlayerReport {
    /// Its status at the time of the report.
    pub status: PlayerStatus,
    /// Its events in order (the last 1024).
    pub events: Vec<Event>,
    /// How many older events were not kept.
    pub forgotten: usize,
}

impl Report {
    /// Every player, in the order they were first seen.
    pub fn players(&self) -> &[PlayerReport] {
        &self.players
    }

    /// The events of one player, by path.
    pub fn events(&self, path: &str) -> impl Iterator<Item = &Event> {
        self.players
            .iter()
            .filter(move |p| &*p.status.path == path)
            .flat_map(|p| p.events.iter())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .players
            .iter()
            .map(|p| p.status.path.len())
            .chain([6])
            .max()
            .unwrap_or(6);
        write!(
            f,
            "{:<width$}  {:>4}  {:>8}  {:<11}  last error",
            "player", "runs", "restarts", "state"
        )?;
        for p in &self.players {
            let s = &p.status;
            write!(
                f,
                "\n{:<width$}  {:>4}  {:>8}  {:<11}  {}",
                s.path,
                s.runs,
                s.restarts(),
                s.state.to_string(),
                s.last_error.as_deref().unwrap_or("-"),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A monitor whose one listener blocks until the returned sender is
    /// dropped.
    fn blocked() -> (Monitor, std::sync::mpsc::Sender<()>) {
        let monitor = Monitor::new();
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        monitor.on_event(move |_| {
            let _ = blocked.recv();
        });
        (monitor, release)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_forced_stop_cuts_the_wait_for_a_busy_listener() {
        let (monitor, release) = blocked();
        let listening = monitor.start_listeners();
        monitor.record(&Arc::from("app"), 1, None, EventKind::Started);
        let cut = CancellationToken::new();
        cut.cancel();

        let finished = tokio::time::timeout(
            Duration::from_secs(30),
            listening.finish(Duration::MAX, &cut),
        )
        .await;

        assert!(finished.is_ok(), "the wait was cut");
        drop(release);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_listener_that_ends_is_waited_for_and_kept_for_the_next_run() {
        let (monitor, release) = blocked();
        let listening = monitor.start_listeners();
        monitor.record(&Arc::from("app"), 1, None, EventKind::Started);
        drop(release);

        listening
            .finish(Duration::MAX, &CancellationToken::new())
            .await;

        assert_eq!(monitor.listeners().len(), 1);
    }
}
