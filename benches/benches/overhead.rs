//! What orchestra costs over hand-written tokio code, and over
//! tokio-graceful-shutdown: start and stop of N idle players, memory per idle
//! player, restart throughput, child tasks spawned and drained through a
//! player's scope against a `TaskTracker`, in one run that prints every ratio.
//!
//! ```text
//! cargo bench -p orchestra-bench --bench overhead             # the whole table
//! cargo bench -p orchestra-bench --bench overhead -- --quick  # N ≤ 10 000, few repeats
//! ```
//!
//! Options (after `--`): `--quick`, `--n 100,10000`, `--only hand,conductor`
//! (`hand`, `tgs`, `conductor`, `derive`), `--flavour current|multi`,
//! `--reps K`, `--table-only` (no memory, restart and bar sections).
//!
//! The contestants, each running N players whose body signals that it runs
//! and then awaits its cancellation:
//!
//! 1. `hand-written`: a careful engineer's tokio code with the same
//!    guarantees: a `TaskTracker`, a child `CancellationToken` per player, a
//!    stop timeout that aborts and names the stragglers, errors and panics
//!    collected with the player's name, the first failure stopping the rest.
//! 2. `tokio-graceful-shutdown`: a `Toplevel` with a `SubsystemBuilder` per
//!    player, stopped through its shutdown token (no signal handling).
//! 3. `orchestra Conductor`: the runtime-built conductor, N `player_fn`s.
//! 4. `orchestra derive`: structs of 100 player fields (1 and 10 for the
//!    smallest N), N / 100 of them in a runtime-built conductor from N = 1 000.
//!
//! Start: from before the first player is built until every body runs.
//! Stop: from the cancellation until the run has returned and every player
//! has been dropped. No tracing subscriber is installed: tracing is disabled
//! for all alike.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orchestra::{Backoff, BoxError, Conductor, Context, Player, PlayerOptions, Restart, player_fn};
use tokio::sync::{Notify, oneshot};
use tokio_graceful_shutdown::{SubsystemBuilder, SubsystemHandle, Toplevel};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The stop timeout of every contestant: orchestra's default.
const STOP_TIMEOUT: Duration = Duration::from_secs(9);

// ---------------------------------------------------------------------------
// Counting allocator: bytes live and allocations made, while switched on.

#[allow(unsafe_code)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};

    struct Counting;

    static ON: AtomicBool = AtomicBool::new(false);
    static LIVE: AtomicIsize = AtomicIsize::new(0);
    static ALLOCS: AtomicUsize = AtomicUsize::new(0);

    fn count(grown: isize, allocs: usize) {
        if ON.load(Relaxed) {
            LIVE.fetch_add(grown, Relaxed);
            ALLOCS.fetch_add(allocs, Relaxed);
        }
    }

    // SAFETY: every call is forwarded unchanged to `System`; we only count.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count(layout.size() as isize, 1);
            // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count(layout.size() as isize, 1);
            // SAFETY: as above.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            count(-(layout.size() as isize), 0);
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count(new_size as isize - layout.size() as isize, 1);
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Counts from now on (or stops counting).
    pub(crate) fn switch(on: bool) {
        ON.store(on, Relaxed);
    }

    /// Bytes live (net of frees since counting began) and allocations made.
    pub(crate) fn snapshot() -> (isize, usize) {
        (LIVE.load(Relaxed), ALLOCS.load(Relaxed))
    }
}

// ---------------------------------------------------------------------------
// What every player shares with the bench: the barrier and the drop count.

struct Shared {
    players: usize,
    running: AtomicUsize,
    all_running: Notify,
    dropped: AtomicUsize,
}

impl Shared {
    fn new(players: usize) -> Arc<Self> {
        Arc::new(Shared {
            players,
            running: AtomicUsize::new(0),
            all_running: Notify::new(),
            dropped: AtomicUsize::new(0),
        })
    }

    /// Called by a player's body once it runs.
    fn body_runs(&self) {
        if self.running.fetch_add(1, Ordering::AcqRel) + 1 == self.players {
            self.all_running.notify_one(); // stores a permit if nobody waits yet
        }
    }

    async fn all_running(&self) {
        self.all_running.notified().await;
    }

    /// Completes once every player has been dropped.
    async fn all_dropped(&self) {
        while self.dropped.load(Ordering::Acquire) < self.players {
            tokio::task::yield_now().await;
        }
    }
}

/// Owned by each player (its closure, task or struct): counts its drop.
struct Probe(Arc<Shared>);

impl Probe {
    fn new(shared: &Arc<Shared>) -> Self {
        Probe(shared.clone())
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::AcqRel);
    }
}

/// The body of every idle player, whoever runs it.
async fn idle(shared: &Shared, cancelled: impl Future<Output = ()>) -> Result<(), BoxError> {
    shared.body_runs();
    cancelled.await;
    Ok(())
}

// ---------------------------------------------------------------------------
// One measurement.

#[derive(Clone, Copy, Default)]
struct Sample {
    start: Duration,
    stop: Duration,
    /// Bytes allocated and still live once every player runs (counting on).
    idle_bytes: isize,
    start_allocs: usize,
    stop_allocs: usize,
}

/// Times a run: from `new` to `running`, then from `running` to `stopped`.
struct Clock {
    t0: Instant,
    m0: (isize, usize),
    t1: Instant,
    m1: (isize, usize),
}

impl Clock {
    fn new() -> Self {
        let now = Instant::now();
        let m = counting::snapshot();
        Clock {
            t0: now,
            m0: m,
            t1: now,
            m1: m,
        }
    }

    fn running(&mut self) {
        self.t1 = Instant::now();
        self.m1 = counting::snapshot();
    }

    fn stopped(self) -> Sample {
        let t2 = Instant::now();
        let m2 = counting::snapshot();
        Sample {
            start: self.t1 - self.t0,
            stop: t2 - self.t1,
            idle_bytes: self.m1.0 - self.m0.0,
            start_allocs: self.m1.1 - self.m0.1,
            stop_allocs: m2.1 - self.m1.1,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Contestant {
    Hand,
    Tgs,
    Conductor,
    Derive,
}

const CONTESTANTS: [Contestant; 4] = [
    Contestant::Hand,
    Contestant::Tgs,
    Contestant::Conductor,
    Contestant::Derive,
];

impl Contestant {
    fn label(self) -> &'static str {
        match self {
            Contestant::Hand => "hand-written tokio",
            Contestant::Tgs => "tokio-graceful-shutdown",
            Contestant::Conductor => "orchestra Conductor",
            Contestant::Derive => "orchestra derive",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Contestant::Hand => "hand",
            Contestant::Tgs => "tgs",
            Contestant::Conductor => "conductor",
            Contestant::Derive => "derive",
        }
    }

    async fn run(self, n: usize) -> Sample {
        let shared = Shared::new(n);
        let sample = match self {
            Contestant::Hand => hand_written(n, &shared).await,
            Contestant::Tgs => graceful_shutdown(n, &shared).await,
            Contestant::Conductor => conductor(n, &shared).await,
            Contestant::Derive => derived(n, &shared).await,
        };
        assert_eq!(
            shared.dropped.load(Ordering::Acquire),
            n,
            "{}",
            self.label()
        );
        sample
    }
}

// ---------------------------------------------------------------------------
// 1. Hand-written tokio with the same guarantees.

/// A player's failure, named.
#[derive(Debug)]
#[allow(dead_code)] // read through `Debug` only
struct Named {
    name: Arc<str>,
    error: BoxError,
}

async fn hand_written(n: usize, shared: &Arc<Shared>) -> Sample {
    let mut clock = Clock::new();
    let tracker = TaskTracker::new();
    let root = CancellationToken::new();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let name: Arc<str> = Arc::from(format!("p{i}"));
        let token = root.child_token();
        let siblings = root.clone();
        let probe = Probe::new(shared);
        let task_name = name.clone();
        let task = tracker.spawn(async move {
            let result = idle(&probe.0, token.cancelled()).await;
            result.map_err(|error| {
                siblings.cancel(); // the first failure stops the others
                Named {
                    name: task_name,
                    error,
                }
            })
        });
        tasks.push((name, task));
    }
    tracker.close();
    shared.all_running().await;
    clock.running();

    root.cancel();
    let in_time = tokio::time::timeout(STOP_TIMEOUT, tracker.wait())
        .await
        .is_ok();
    let mut errors = Vec::new();
    for (name, task) in tasks {
        if !in_time && !task.is_finished() {
            task.abort();
            let _ = task.await;
            errors.push(Named {
                name,
                error: "did not stop in time".into(),
            });
            continue;
        }
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => errors.push(failure),
            Err(join) => errors.push(Named {
                name,
                error: join.to_string().into(),
            }),
        }
    }
    assert!(errors.is_empty(), "{errors:?}");
    shared.all_dropped().await;
    clock.stopped()
}

// ---------------------------------------------------------------------------
// 2. tokio-graceful-shutdown.

async fn graceful_shutdown(n: usize, shared: &Arc<Shared>) -> Sample {
    let mut clock = Clock::new();
    let token = CancellationToken::new();
    let players = shared.clone();
    let toplevel = Toplevel::<BoxError>::new_with_shutdown_token(
        async move |s: &mut SubsystemHandle<BoxError>| {
            for i in 0..n {
                let probe = Probe::new(&players);
                s.start(SubsystemBuilder::new(
                    format!("p{i}"),
                    async move |h: &mut SubsystemHandle<BoxError>| {
                        idle(&probe.0, h.on_shutdown_requested()).await
                    },
                ));
            }
        },
        token.clone(),
    );
    {
        let mut run = pin!(toplevel.handle_shutdown_requests(STOP_TIMEOUT));
        tokio::select! {
            biased;
            () = shared.all_running() => {}
            result = &mut run => panic!("tokio-graceful-shutdown ended early: {result:?}"),
        }
        clock.running();
        token.cancel();
        run.await.expect("tokio-graceful-shutdown stops cleanly");
    }
    shared.all_dropped().await;
    clock.stopped()
}

// ---------------------------------------------------------------------------
// 3. orchestra's runtime-built conductor.

async fn conductor(n: usize, shared: &Arc<Shared>) -> Sample {
    let clock = Clock::new();
    let mut conductor = Conductor::named("bench");
    conductor.timeout(STOP_TIMEOUT);
    for i in 0..n {
        let probe = Probe::new(shared);
        let player = player_fn(move |ctx: Context| {
            let shared = probe.0.clone();
            async move { idle(&shared, ctx.cancelled()).await }
        });
        conductor
            .add(&format!("p{i}"), player)
            .expect("unique names");
    }
    play(conductor, clock, shared).await
}

/// Plays `player` until every body runs, then stops it.
async fn play<P: Player>(player: P, mut clock: Clock, shared: &Shared) -> Sample {
    let (stop, stopped) = oneshot::channel::<()>();
    {
        let mut run = pin!(orchestra::play_until(player, async {
            let _ = stopped.await;
        }));
        tokio::select! {
            biased;
            () = shared.all_running() => {}
            result = &mut run => panic!("orchestra ended early: {result:?}"),
        }
        clock.running();
        let _ = stop.send(());
        run.await.expect("orchestra stops cleanly");
    }
    shared.all_dropped().await;
    clock.stopped()
}

// ---------------------------------------------------------------------------
// 4. orchestra's derived conductors.

/// An idle player as a struct, for the fields of derived conductors.
struct Idle(Probe);

impl Player for Idle {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        idle(&self.0.0, ctx.cancelled()).await
    }
}

/// A struct of idle players named `$field`, as a derived conductor.
macro_rules! band {
    ($band:ident: $($field:ident)+) => {
        #[derive(orchestra::Conductor)]
        struct $band {
            $($field: Idle,)+
        }

        impl $band {
            const PLAYERS: usize = [$(stringify!($field)),+].len();

            fn new(shared: &Arc<Shared>) -> Self {
                $band { $($field: Idle(Probe::new(shared)),)+ }
            }
        }
    };
}

band!(Band1: p0);
band!(Band10: p0 p1 p2 p3 p4 p5 p6 p7 p8 p9);
band!(Band100:
    p0 p1 p2 p3 p4 p5 p6 p7 p8 p9 p10 p11 p12 p13 p14 p15 p16 p17 p18 p19
    p20 p21 p22 p23 p24 p25 p26 p27 p28 p29 p30 p31 p32 p33 p34 p35 p36 p37 p38 p39
    p40 p41 p42 p43 p44 p45 p46 p47 p48 p49 p50 p51 p52 p53 p54 p55 p56 p57 p58 p59
    p60 p61 p62 p63 p64 p65 p66 p67 p68 p69 p70 p71 p72 p73 p74 p75 p76 p77 p78 p79
    p80 p81 p82 p83 p84 p85 p86 p87 p88 p89 p90 p91 p92 p93 p94 p95 p96 p97 p98 p99
);

/// N = 1, 10, 100: one derived struct of N fields at the top; from 1 000:
/// N / 100 structs of 100 fields in a runtime-built conductor.
async fn derived(n: usize, shared: &Arc<Shared>) -> Sample {
    let clock = Clock::new();
    match n {
        Band1::PLAYERS => play(Band1::new(shared), clock, shared).await,
        Band10::PLAYERS => play(Band10::new(shared), clock, shared).await,
        Band100::PLAYERS => play(Band100::new(shared), clock, shared).await,
        _ => {
            assert_eq!(n % Band100::PLAYERS, 0, "N must be a multiple of 100");
            let mut conductor = Conductor::named("bench");
            conductor.timeout(STOP_TIMEOUT);
            for b in 0..n / Band100::PLAYERS {
                conductor
                    .add(&format!("b{b}"), Band100::new(shared))
                    .expect("unique names");
            }
            play(conductor, clock, shared).await
        }
    }
}

// ---------------------------------------------------------------------------
// Restart throughput: a player failing at once, restarted with zero backoff.

/// orchestra: the time per run of a player that fails at once, over
/// `restarts` runs or `budget`, whichever ends first.
async fn orchestra_restarts(restarts: usize, budget: Duration) -> Duration {
    let shared = Shared::new(restarts);
    let t0 = Instant::now();
    let mut conductor = Conductor::named("bench");
    let counter = shared.clone();
    let crashing = player_fn(move |_ctx: Context| {
        let counter = counter.clone();
        async move {
            counter.body_runs();
            Err::<(), BoxError>("crash".into())
        }
    });
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::zero());
    conductor
        .add_with("crashing", crashing, options)
        .expect("a valid player");
    let (stop, stopped) = oneshot::channel::<()>();
    let mut run = pin!(orchestra::play_until(conductor, async {
        let _ = stopped.await;
    }));
    tokio::select! {
        biased;
        () = shared.all_running() => {}
        () = tokio::time::sleep(budget) => {}
        result = &mut run => panic!("orchestra ended early: {result:?}"),
    }
    let elapsed = t0.elapsed();
    let runs = shared.running.load(Ordering::Acquire);
    let _ = stop.send(());
    // A run that fails after the stop began is still reported: not an error here.
    let _ = run.await;
    elapsed / u32::try_from(runs.max(1)).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------
// Child tasks: spawning and draining N through a player's scope (`ctx.spawn`)
// against the same player with a `TaskTracker` of its own.

/// The body of every child task, whoever spawns it.
async fn child(done: Arc<AtomicUsize>) {
    tokio::task::yield_now().await;
    done.fetch_add(1, Ordering::Relaxed);
}

/// One player in a conductor spawns `n` children, through its scope
/// (`ctx.spawn`, the run draining them) or a `TaskTracker` of its own (closed
/// and waited for before `play` returns); the time until the run has ended.
async fn children_of_a_player(n: usize, scope: bool) -> Duration {
    let done = Arc::new(AtomicUsize::new(0));
    let counter = done.clone();
    let mut conductor = Conductor::named("bench");
    let spawner = player_fn(move |ctx: Context| {
        let done = counter.clone();
        async move {
            if scope {
                for _ in 0..n {
                    ctx.spawn(child(done.clone()));
                }
            } else {
                let tracker = TaskTracker::new();
                for _ in 0..n {
                    tracker.spawn(child(done.clone()));
                }
                tracker.close();
                tracker.wait().await;
            }
            Ok(())
        }
    });
    conductor.add("spawner", spawner).expect("a valid player");
    let t0 = Instant::now();
    orchestra::play_until(conductor, std::future::pending())
        .await
        .expect("the children succeed");
    let elapsed = t0.elapsed();
    assert_eq!(done.load(Ordering::Acquire), n, "every child ran");
    elapsed
}

/// The floor: a bare loop calling the failing body again at once (no panic
/// capture, no context, no backoff bookkeeping), yielding between runs.
async fn bare_restarts(restarts: usize) -> Duration {
    let shared = Shared::new(restarts);
    let token = CancellationToken::new();
    let t0 = Instant::now();
    let counter = shared.clone();
    let task_token = token.clone();
    let task = tokio::spawn(async move {
        while !task_token.is_cancelled() {
            let run = async {
                counter.body_runs();
                Err::<(), BoxError>("crash".into())
            };
            let _ = std::hint::black_box(run.await);
            tokio::task::yield_now().await;
        }
    });
    shared.all_running().await;
    let elapsed = t0.elapsed();
    token.cancel();
    let _ = task.await;
    elapsed / u32::try_from(restarts).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------
// The harness.

struct Options {
    quick: bool,
    ns: Vec<usize>,
    only: Vec<Contestant>,
    flavours: Vec<Flavour>,
    reps: Option<usize>,
    /// Only the start/stop table (no memory, restart and bar sections).
    table_only: bool,
}

#[derive(Clone, Copy)]
enum Flavour {
    Current,
    Multi,
}

impl Flavour {
    fn label(self) -> &'static str {
        match self {
            Flavour::Current => "current_thread",
            Flavour::Multi => "multi_thread, 2 workers",
        }
    }

    fn runtime(self) -> tokio::runtime::Runtime {
        let mut builder = match self {
            Flavour::Current => tokio::runtime::Builder::new_current_thread(),
            Flavour::Multi => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(2);
                b
            }
        };
        builder.enable_time().build().expect("a tokio runtime")
    }
}

fn parse_args() -> Options {
    let mut options = Options {
        quick: std::env::var_os("ORCHESTRA_BENCH_QUICK").is_some(),
        ns: Vec::new(),
        only: CONTESTANTS.to_vec(),
        flavours: vec![Flavour::Current, Flavour::Multi],
        reps: None,
        table_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--bench" => {} // passed by `cargo bench`
            "--quick" => options.quick = true,
            "--table-only" => options.table_only = true,
            "--n" => {
                options.ns = value()
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .replace('_', "")
                            .parse()
                            .unwrap_or_else(|_| usage("bad --n"))
                    })
                    .collect();
            }
            "--only" => {
                let keys = value();
                options.only = keys
                    .split(',')
                    .map(|k| {
                        *CONTESTANTS
                            .iter()
                            .find(|c| c.key() == k.trim())
                            .unwrap_or_else(|| usage(&format!("unknown contestant `{k}`")))
                    })
                    .collect();
            }
            "--flavour" => {
                options.flavours = match value().as_str() {
                    "current" => vec![Flavour::Current],
                    "multi" => vec![Flavour::Multi],
                    _ => usage("--flavour is `current` or `multi`"),
                };
            }
            "--reps" => {
                options.reps = Some(value().parse().unwrap_or_else(|_| usage("bad --reps")));
            }
            _ => {} // libtest-style flags passed through by cargo
        }
    }
    if options.ns.is_empty() {
        options.ns = if options.quick {
            vec![1, 10, 100, 1_000, 10_000]
        } else {
            vec![1, 10, 100, 1_000, 10_000, 100_000]
        };
    }
    options
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: overhead [--quick] [--n 1,100,10000] [--only hand,tgs,conductor,derive] \
         [--flavour current|multi] [--reps K] [--table-only]"
    );
    std::process::exit(2)
}

/// How many measured repeats a cell gets: about 200 000 players in all.
fn repeats(options: &Options, n: usize) -> usize {
    options.reps.unwrap_or_else(|| {
        if options.quick {
            (20_000 / n).clamp(3, 30)
        } else {
            (200_000 / n).clamp(5, 200)
        }
    })
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Cell {
    contestant: Contestant,
    start: Vec<f64>,
    stop: Vec<f64>,
    total: Vec<f64>,
}

impl Cell {
    fn new(contestant: Contestant) -> Self {
        Cell {
            contestant,
            start: Vec::new(),
            stop: Vec::new(),
            total: Vec::new(),
        }
    }

    fn push(&mut self, sample: Sample, n: usize) {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        self.start.push(per(sample.start));
        self.stop.push(per(sample.stop));
        self.total.push(per(sample.start + sample.stop));
    }

    fn sort(&mut self) {
        for v in [&mut self.start, &mut self.stop, &mut self.total] {
            v.sort_by(f64::total_cmp);
        }
    }

    fn median_total(&self) -> f64 {
        percentile(&self.total, 50.0)
    }
}

fn main() {
    let options = parse_args();
    let started = Instant::now();
    println!(
        "orchestra overhead benchmark: {} CPU(s), {}{}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        if options.quick { ", quick run" } else { "" }
    );
    println!(
        "µs/player: wall time of the phase divided by N. start: until every body runs; \
         stop: from the cancellation until the run has returned and every player is dropped."
    );
    println!(
        "p99: nearest rank over the repeats (the maximum when there are fewer than 100). \
         × hand: median (start+stop) over hand-written's."
    );
    let mut ten_thousand = Vec::new();
    let mut verdicts = Vec::new();
    for &flavour in &options.flavours {
        let rt = flavour.runtime();
        // Warm-up: every contestant once at 1 000 players.
        for &c in &options.only {
            rt.block_on(c.run(1_000));
        }
        println!("\n## {}\n", flavour.label());
        println!(
            "{:>7}  {:<34} {:>17}  {:>17}  {:>10}  {:>7}  {:>5}",
            "N", "contestant", "start µs/player", "stop µs/player", "start+stop", "× hand", "reps"
        );
        println!(
            "{:>7}  {:<34} {:>8} {:>8}  {:>8} {:>8}  {:>10}  {:>7}",
            "", "", "median", "p99", "median", "p99", "µs/player", ""
        );
        for &n in &options.ns {
            let reps = repeats(&options, n);
            let mut cells: Vec<Cell> = options.only.iter().map(|&c| Cell::new(c)).collect();
            for &c in &options.only {
                rt.block_on(c.run(n)); // warm-up of the cell
            }
            for rep in 0..reps {
                // Rotate the order so that no contestant always runs first.
                for k in 0..cells.len() {
                    let cell = &mut cells[(k + rep) % options.only.len()];
                    let sample = rt.block_on(cell.contestant.run(n));
                    cell.push(sample, n);
                }
            }
            cells.iter_mut().for_each(Cell::sort);
            let hand = cells
                .iter()
                .find(|c| c.contestant == Contestant::Hand)
                .map(Cell::median_total);
            for cell in &cells {
                let ratio = hand.map_or("-".to_owned(), |h| {
                    format!("{:.2}", cell.median_total() / h)
                });
                println!(
                    "{:>7}  {:<34} {:>8.3} {:>8.3}  {:>8.3} {:>8.3}  {:>10.3}  {:>7}  {:>5}",
                    n,
                    cell.contestant.label(),
                    percentile(&cell.start, 50.0),
                    percentile(&cell.start, 99.0),
                    percentile(&cell.stop, 50.0),
                    percentile(&cell.stop, 99.0),
                    cell.median_total(),
                    ratio,
                    reps,
                );
                if n == 10_000 {
                    ten_thousand.push(format!(
                        "{:<24} {:<34} median {:>8.2} ms, p99 {:>8.2} ms",
                        flavour.label(),
                        cell.contestant.label(),
                        percentile(&cell.stop, 50.0) * n as f64 / 1e3,
                        percentile(&cell.stop, 99.0) * n as f64 / 1e3,
                    ));
                }
            }
            if n >= 100 {
                verdicts.extend(verdict(flavour, n, &cells));
            }
            println!();
        }
    }

    if options.table_only {
        return;
    }
    if !ten_thousand.is_empty() {
        println!("## cancel-to-return latency with 10 000 players (whole stop, not per player)\n");
        ten_thousand.iter().for_each(|line| println!("{line}"));
        println!();
    }

    println!("## memory per idle player (N = 10 000, counting allocator, median of 3)\n");
    println!(
        "{:<24} {:<34} {:>12} {:>14} {:>14}",
        "flavour", "contestant", "bytes/player", "allocs/player", "allocs/player"
    );
    println!(
        "{:<24} {:<34} {:>12} {:>14} {:>14}",
        "", "", "live, idle", "at start", "at stop"
    );
    for &flavour in &options.flavours {
        let rt = flavour.runtime();
        for &c in &options.only {
            let n = 10_000;
            let mut samples: Vec<Sample> = (0..3)
                .map(|_| {
                    counting::switch(true);
                    let s = rt.block_on(c.run(n));
                    counting::switch(false);
                    s
                })
                .collect();
            samples.sort_by_key(|s| s.idle_bytes);
            let s = samples[1];
            println!(
                "{:<24} {:<34} {:>12.0} {:>14.2} {:>14.2}",
                flavour.label(),
                c.label(),
                s.idle_bytes as f64 / n as f64,
                s.start_allocs as f64 / n as f64,
                s.stop_allocs as f64 / n as f64,
            );
        }
    }

    let restarts = if options.quick { 10_000 } else { 100_000 };
    let budget = Duration::from_secs(if options.quick { 1 } else { 3 });
    println!(
        "\n## restart throughput: a player failing at once, Restart::OnFailure, Backoff::zero() \
         ({restarts} runs or {budget:?}, whichever ends first; median of 5)\n"
    );
    for &flavour in &options.flavours {
        let rt = flavour.runtime();
        rt.block_on(orchestra_restarts(restarts / 10, budget / 10));
        let mut o: Vec<Duration> = (0..5)
            .map(|_| rt.block_on(orchestra_restarts(restarts, budget)))
            .collect();
        let mut b: Vec<Duration> = (0..5)
            .map(|_| rt.block_on(bare_restarts(restarts)))
            .collect();
        o.sort();
        b.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "{:<24} orchestra {:>9.3} µs/restart ({:>9.0} restarts/s); bare loop {:>6.3} µs/run; × {:.0}",
            flavour.label(),
            us(o[2]),
            1e6 / us(o[2]),
            us(b[2]),
            us(o[2]) / us(b[2]),
        );
    }

    let children = if options.quick { 10_000 } else { 100_000 };
    println!(
        "\n## child tasks: {children} spawned through a player's scope (`ctx.spawn`) and drained, \
         against the same player with a `TaskTracker` (7 interleaved pairs, medians; the bar: within 1.5×)\n"
    );
    for &flavour in &options.flavours {
        let rt = flavour.runtime();
        rt.block_on(children_of_a_player(children / 10, true));
        // Interleaved, the ratio taken pair by pair: a machine whose load
        // varies slows both sides of a pair alike.
        let mut o = Vec::new();
        let mut t = Vec::new();
        let mut ratios = Vec::new();
        for _ in 0..7 {
            let orchestra = rt.block_on(children_of_a_player(children, true));
            let tracker = rt.block_on(children_of_a_player(children, false));
            ratios.push(orchestra.as_secs_f64() / tracker.as_secs_f64());
            o.push(orchestra);
            t.push(tracker);
        }
        o.sort();
        t.sort();
        ratios.sort_by(f64::total_cmp);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let ratio = ratios[3];
        println!(
            "{:<24} orchestra {:>8.2} ms; TaskTracker {:>8.2} ms; median ratio of the pairs {:.2}× {}",
            flavour.label(),
            ms(o[3]),
            ms(t[3]),
            ratio,
            if ratio <= 1.5 { "ok" } else { "MISS" },
        );
    }

    if !verdicts.is_empty() {
        println!(
            "\n## the bar: start+stop within 2× of hand-written, ≥ 5× faster than tokio-graceful-shutdown (N ≥ 100)\n"
        );
        verdicts.iter().for_each(|line| println!("{line}"));
    }
    println!("\ntotal time {:.1} s", started.elapsed().as_secs_f64());
}

/// One line per orchestra contestant: its ratios against the bar.
fn verdict(flavour: Flavour, n: usize, cells: &[Cell]) -> Vec<String> {
    let find = |c: Contestant| {
        cells
            .iter()
            .find(|cell| cell.contestant == c)
            .map(Cell::median_total)
    };
    let (hand, tgs) = (find(Contestant::Hand), find(Contestant::Tgs));
    [Contestant::Conductor, Contestant::Derive]
        .into_iter()
        .filter_map(|c| {
            let own = find(c)?;
            let mut line = format!("{:<24} N = {n:>6}  {:<34}", flavour.label(), c.label());
            if let Some(hand) = hand {
                let r = own / hand;
                let _ = write!(
                    line,
                    "  {r:>5.2}× hand {}",
                    if r <= 2.0 { "ok  " } else { "MISS" }
                );
            }
            if let Some(tgs) = tgs {
                let r = tgs / own;
                let _ = write!(
                    line,
                    "  {r:>5.2}× faster than tgs {}",
                    if r >= 5.0 { "ok" } else { "MISS" }
                );
            }
            Some(line)
        })
        .collect()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}
