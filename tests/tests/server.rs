//! The HTTP server player: drain under load, cut requests, bind retries,
//! restarts, and readiness inside conductors.
#![cfg(feature = "server")]

#[path = "server/client.rs"]
mod client;
#[path = "server/running.rs"]
mod running;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use client::{H2, Outcome};
use orchestra::CancellationToken;
use orchestra::{
    Backoff, Conductor, Context, Error, HttpServer, LocalAddr, PlayExt, Player, PlayerOptions,
    Restart, ServerError,
};
use running::spawn;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

const LOOPBACK: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

/// A guard against a hang, for the tests on the real clock: never a speed
/// assertion, only a bound that a working server is far from.
const HANG: Duration = Duration::from_secs(120);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// What the handlers saw, and the gate that holds `/slow` back.
#[derive(Clone)]
struct Probe {
    /// Requests whose handler was entered, all routes together.
    entered: Arc<watch::Sender<usize>>,
    /// `/slow` and `/stuck` handlers entered.
    waiting: Arc<watch::Sender<usize>>,
    /// Opens `/slow`.
    gate: CancellationToken,
}

impl Probe {
    fn new() -> Self {
        Probe {
            entered: Arc::new(watch::Sender::new(0)),
            waiting: Arc::new(watch::Sender::new(0)),
            gate: CancellationToken::new(),
        }
    }

    fn enter(&self) {
        self.entered.send_modify(|n| *n += 1);
    }

    fn entered(&self) -> usize {
        *self.entered.borrow()
    }

    /// Waits until `n` requests were entered in all.
    async fn entered_at_least(&self, n: usize) {
        let _ = self.entered.subscribe().wait_for(|e| *e >= n).await;
    }

    /// Waits until `n` requests wait in `/slow` or `/stuck`.
    async fn waiting(&self, n: usize) {
        let _ = self.waiting.subscribe().wait_for(|w| *w >= n).await;
    }

    /// `/fast` answers at once, `/slow` once the gate opens, `/stuck` never.
    fn app(&self) -> Router {
        let (fast, slow, stuck) = (self.clone(), self.clone(), self.clone());
        Router::new()
            .route(
                "/fast",
                get(move || async move {
                    fast.enter();
                    "fast"
                }),
            )
            .route(
                "/slow",
                get(move || async move {
                    slow.enter();
                    slow.waiting.send_modify(|w| *w += 1);
                    slow.gate.cancelled().await;
                    "slow"
                }),
            )
            .route(
                "/stuck",
                get(move || async move {
                    stuck.enter();
                    stuck.waiting.send_modify(|w| *w += 1);
                    std::future::pending::<&str>().await
                }),
            )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_mid_load_lets_every_accepted_request_finish() {
    timeout(HANG, async {
        let probe = Probe::new();
        let server = HttpServer::bind(LOOPBACK, probe.app()).shutdown_timeout(secs(60));
        let local = server.local_addr();
        let stop = CancellationToken::new();
        let running = spawn(server, &stop);
        let addr = local.listening().await.expect("listening");

        // Slow requests: 8 over HTTP/1, a connection each, 4 over one HTTP/2 connection.
        let mut slow = JoinSet::new();
        for _ in 0..8 {
            slow.spawn(client::get(addr, "/slow"));
        }
        let h2 = H2::connect(addr).await;
        for _ in 0..4 {
            let h2 = h2.clone();
            slow.spawn(async move { h2.get("/slow").await });
        }
        // Fast requests, in 4 loops of at most 200 that go on through the stop.
        let mut fast = JoinSet::new();
        for _ in 0..4 {
            fast.spawn(async move {
                let mut outcomes = Vec::new();
                for _ in 0..200 {
                    let outcome = client::get(addr, "/fast").await;
                    let refused = matches!(outcome, Outcome::NoResponse(_));
                    outcomes.push(outcome);
                    if refused {
                        break;
                    }
                }
                outcomes
            });
        }

        // Stop while every slow request is in its handler, and fast ones go on.
        probe.waiting(12).await;
        probe.entered_at_least(12 + 40).await;
        stop.cancel();
        let _ = local.receiver().wait_for(Option::is_none).await;
        let refused = TcpStream::connect(addr).await;
        assert_eq!(
            refused.map(drop).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionRefused),
            "new connections are refused once the server stops"
        );
        let late = h2.get("/fast").await;

        probe.gate.cancel();
        running
            .await
            .expect("the player did not panic")
            .expect("the drain cut no request");

        let slow = slow.join_all().await;
        assert_eq!(slow.len(), 12);
        for outcome in &slow {
            assert!(outcome.is_ok_with("slow"), "{outcome:?}");
        }
        let mut outcomes: Vec<Outcome> = fast.join_all().await.into_iter().flatten().collect();
        outcomes.push(late);
        for outcome in &outcomes {
            assert!(
                outcome.is_ok_with("fast") || matches!(outcome, Outcome::NoResponse(_)),
                "a request broke: {outcome:?}"
            );
        }

        let complete = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Complete(..)))
            .count();
        assert_eq!(
            complete + slow.len(),
            probe.entered(),
            "every request a handler took got its complete response"
        );
    })
    .await
    .expect("the test hung");
}

#[tokio::test(start_paused = true)]
async fn a_request_outliving_the_shutdown_timeout_is_cut_and_reported() {
    let probe = Probe::new();
    let server = HttpServer::bind(LOOPBACK, probe.app()).shutdown_timeout(secs(3));
    let local = server.local_addr();
    let mut app = Conductor::named("app");
    app.add("http", server).unwrap();

    let client = tokio::spawn(async move {
        let addr = local.listening().await.expect("listening");
        client::get(addr, "/stuck").await
    });
    let (stopped, stopped_at) = oneshot::channel();
    let stop = async {
        probe.waiting(1).await;
        let _ = stopped.send(Instant::now());
    };

    let error = app.play_until(stop).await.unwrap_err();

    let elapsed = stopped_at.await.unwrap().elapsed();
    assert_eq!(
        elapsed,
        secs(3),
        "returned when the shutdown timeout ran out"
    );
    let Error::Failed { path, source, .. } = &error else {
        panic!("expected Failed, got {error:?}");
    };
    assert_eq!(&**path, "app/http");
    let cut = source.downcast_ref::<ServerError>();
    assert!(
        matches!(
            cut,
            Some(ServerError::RequestsCut {
                requests: 1,
                connections: 1,
                timeout
            }) if *timeout == secs(3)
        ),
        "{cut:?}"
    );
    assert_eq!(
        source.to_string(),
        "shutdown timed out after 3s: 1 request in flight was cut (1 connection aborted)"
    );
    let outcome = client.await.unwrap();
    assert!(
        matches!(outcome, Outcome::NoResponse(_)),
        "the cut request got no response: {outcome:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn by_default_the_drain_stays_within_a_short_stop_timeout_and_reports_the_cut() {
    let probe = Probe::new();
    let server = HttpServer::bind(LOOPBACK, probe.app());
    let local = server.local_addr();
    let mut app = Conductor::named("app");
    app.add_with(
        "http",
        server,
        orchestra::PlayerOptions::new().timeout(secs(2)),
    )
    .unwrap();

    let client = tokio::spawn(async move {
        let addr = local.listening().await.expect("listening");
        client::get(addr, "/stuck").await
    });
    let (stopped, stopped_at) = oneshot::channel();
    let stop = async {
        probe.waiting(1).await;
        let _ = stopped.send(Instant::now());
    };

    let error = app.play_until(stop).await.unwrap_err();

    let elapsed = stopped_at.await.unwrap().elapsed();
    assert_eq!(
        elapsed,
        Duration::from_millis(1600),
        "4/5 of the 2 s stop timeout"
    );
    let Error::Failed { source, .. } = &error else {
        panic!("the server reported the cut itself, not a straggler: {error:?}");
    };
    assert!(
        matches!(
            source.downcast_ref::<ServerError>(),
            Some(ServerError::RequestsCut { requests: 1, .. })
        ),
        "{source:?}"
    );
    let _ = client.await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_opened_before_the_stop_may_still_send_its_request() {
    let probe = Probe::new();
    let server = HttpServer::bind(LOOPBACK, probe.app());
    let local = server.local_addr();
    let stop = CancellationToken::new();
    let running = spawn(server, &stop);
    let addr = local.listening().await.expect("listening");

    let early = TcpStream::connect(addr).await.unwrap();
    stop.cancel();
    let _ = local.receiver().wait_for(Option::is_none).await;
    let outcome = client::get_on(early, "/fast").await;

    assert!(outcome.is_ok_with("fast"), "{outcome:?}");
    running.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn binding_is_retried_while_the_port_is_busy() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let probe = Probe::new();
    let server = HttpServer::bind(addr, probe.app())
        .bind_backoff(Backoff::constant(Duration::from_millis(100)).max_times(100));
    let local = server.local_addr();
    let stop = CancellationToken::new();
    let running = spawn(server, &stop);

    sleep(Duration::from_millis(250)).await;
    assert_eq!(local.get(), None, "still waiting for the port");
    drop(busy);
    let bound = local.listening().await;

    assert_eq!(bound, Some(addr));
    assert!(client::get(addr, "/fast").await.is_ok_with("fast"));
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn binding_fails_once_the_backoff_is_exhausted() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let mut server = HttpServer::bind(addr, Router::new())
        .bind_backoff(Backoff::constant(Duration::from_millis(100)).max_times(3));
    let t0 = Instant::now();

    let error = server
        .play(Context::new("http", CancellationToken::new()))
        .await
        .unwrap_err();

    assert_eq!(t0.elapsed(), Duration::from_millis(300), "three retries");
    let Some(ServerError::Bind {
        addr: failed,
        source,
    }) = error.downcast_ref::<ServerError>()
    else {
        panic!("expected Bind, got {error:?}");
    };
    assert_eq!(*failed, addr);
    assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
    assert_eq!(error.to_string(), format!("cannot bind {addr}"));
}

#[tokio::test(start_paused = true)]
async fn a_stop_while_waiting_for_the_port_returns_ok() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut server = HttpServer::bind(busy.local_addr().unwrap(), Router::new());
    let stop = CancellationToken::new();
    let ctx = Context::new("http", stop.clone());
    let stopper = async {
        sleep(Duration::from_millis(150)).await;
        stop.cancel();
    };

    let (result, ()) = tokio::join!(server.play(ctx), stopper);

    result.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_invalid_setting_is_a_configuration_error() {
    let server = || HttpServer::bind(LOOPBACK, Router::new());
    let invalid = [
        (
            server().bind_backoff(Backoff::exponential().factor(0.5)),
            "factor",
        ),
        (server().max_connections(0), "max_connections"),
        (server().header_timeout(Duration::ZERO), "header_timeout"),
    ];
    for (mut server, names) in invalid {
        let error = server
            .play(Context::new("http", CancellationToken::new()))
            .await
            .unwrap_err();

        let error = error.downcast::<Error>().expect("an orchestra::Error");
        assert!(
            matches!(&*error, Error::Config { path, message } if &**path == "http" && message.contains(names)),
            "{error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_listener_serves_the_first_run_and_its_port_the_next() {
    timeout(HANG, async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let probe = Probe::new();
        let mut server = HttpServer::from_listener(listener, probe.app());
        let local = server.local_addr();

        for run in 1..=2 {
            let stop = CancellationToken::new();
            let ctx = Context::new("http", stop.clone());
            let use_it = async {
                assert_eq!(local.listening().await, Some(addr), "run {run}");
                let outcome = client::get(addr, "/fast").await;
                stop.cancel();
                outcome
            };
            let (result, outcome) = tokio::join!(server.play(ctx), use_it);
            result.unwrap();
            assert!(outcome.is_ok_with("fast"), "run {run}: {outcome:?}");
            assert_eq!(local.get(), None);
        }
    })
    .await
    .expect("the test hung");
}

/// A server on a busy port that does not retry binding: its first run
/// fails at once, and its conductor restarts it after its backoff.
struct BusyPort {
    busy: std::net::TcpListener,
    server: Counting<HttpServer>,
    local: LocalAddr,
    /// Runs of the server.
    runs: Arc<AtomicUsize>,
}

impl BusyPort {
    fn new() -> Self {
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = busy.local_addr().unwrap();
        let server =
            HttpServer::bind(addr, Probe::new().app()).bind_backoff(Backoff::zero().max_times(0));
        let local = server.local_addr();
        let runs = Arc::new(AtomicUsize::new(0));
        BusyPort {
            busy,
            server: counting(server, &runs),
            local,
            runs,
        }
    }

    /// Frees the port half a second in, then stops the run once `client`
    /// got its answer.
    async fn stop_when_answered(busy: std::net::TcpListener, client: Answer) {
        sleep(Duration::from_millis(500)).await;
        drop(busy);
        while client.get().is_none() {
            sleep(Duration::from_millis(10)).await;
        }
    }
}

/// What a client player got, and when it started.
#[derive(Clone, Default)]
struct Answer(Arc<Mutex<Option<(Outcome, Instant)>>>);

impl Answer {
    fn get(&self) -> Option<Outcome> {
        self.0.lock().unwrap().as_ref().map(|(o, _)| o.clone())
    }

    fn started(&self) -> Option<Instant> {
        self.0.lock().unwrap().as_ref().map(|(_, t)| *t)
    }
}

/// Asks the server for `/fast` as soon as it starts: ordered after the
/// server, it starts once the server is ready, that is, listening.
struct Client {
    local: LocalAddr,
    answer: Answer,
}

impl Player for Client {
    async fn play(&mut self, _ctx: Context) -> Result<(), orchestra::BoxError> {
        let started = Instant::now();
        let addr = self
            .local
            .get()
            .ok_or("started before the server listened")?;
        let outcome = client::get(addr, "/fast").await;
        *self.answer.0.lock().unwrap() = Some((outcome, started));
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_runtime_built_conductor_restarts_a_server_that_could_not_bind() {
    let BusyPort {
        busy,
        server,
        local,
        runs,
    } = BusyPort::new();
    let answer = Answer::default();
    let mut app = Conductor::named("app");
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(secs(1)))
        .max_attempts(3)
        .grace(secs(3600));
    app.add_with("http", server, options).unwrap();
    let client = Client {
        local,
        answer: answer.clone(),
    };
    app.add_with("client", client, PlayerOptions::new().after("http"))
        .unwrap();
    let t0 = Instant::now();

    app.play_until(BusyPort::stop_when_answered(busy, answer.clone()))
        .await
        .unwrap();

    assert_eq!(runs.load(Ordering::SeqCst), 2, "failed once, then served");
    assert_eq!(
        answer.started().map(|t| t - t0),
        Some(secs(1)),
        "the server was restarted after its backoff, then the client started"
    );
    assert!(answer.get().is_some_and(|o| o.is_ok_with("fast")));
}

#[derive(orchestra::Conductor)]
#[conductor(timeout = "10s")]
struct Site {
    #[player(
        restart = "on-failure",
        backoff(constant, delay = "1s"),
        max_attempts = 3,
        grace = "1m",
        timeout = "8s"
    )]
    http: Counting<HttpServer>,
    #[player(after = "http")]
    client: Client,
}

#[tokio::test(start_paused = true)]
async fn a_derived_conductor_restarts_a_server_that_could_not_bind() {
    let BusyPort {
        busy,
        server,
        local,
        runs,
    } = BusyPort::new();
    let answer = Answer::default();
    let site = Site {
        http: server,
        client: Client {
            local,
            answer: answer.clone(),
        },
    };
    let t0 = Instant::now();

    site.play_until(BusyPort::stop_when_answered(busy, answer.clone()))
        .await
        .unwrap();

    assert_eq!(runs.load(Ordering::SeqCst), 2, "failed once, then served");
    assert_eq!(
        answer.started().map(|t| t - t0),
        Some(secs(1)),
        "the server was restarted after its backoff, then the client started"
    );
    assert!(answer.get().is_some_and(|o| o.is_ok_with("fast")));
}

#[tokio::test(start_paused = true)]
async fn a_server_outliving_its_stop_timeout_is_aborted_with_every_connection() {
    let tasks_before = alive_tasks();
    let probe = Probe::new();
    // The server would wait a minute; its conductor gives it one second.
    let server = HttpServer::bind(LOOPBACK, probe.app()).shutdown_timeout(secs(60));
    let local = server.local_addr();
    let mut app = Conductor::named("app");
    app.add_with("http", server, PlayerOptions::new().timeout(secs(1)))
        .unwrap();
    let client = tokio::spawn(async move {
        let addr = local.listening().await.expect("listening");
        client::get(addr, "/stuck").await
    });

    let error = app.play_until(probe.waiting(1)).await.unwrap_err();

    assert!(
        matches!(&error, Error::StopTimedOut { stragglers } if &*stragglers[0].path == "app/http"),
        "{error:?}"
    );
    let outcome = timeout(secs(60), client)
        .await
        .expect("the connection was aborted")
        .unwrap();
    assert!(matches!(outcome, Outcome::NoResponse(_)), "{outcome:?}");
    sleep(Duration::from_millis(1)).await; // let the aborted tasks end
    assert_eq!(
        alive_tasks(),
        tasks_before,
        "no connection task outlives the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_any_tower_service() {
    timeout(HANG, async {
        let service = tower::service_fn(
            |request: hyper::Request<hyper::body::Incoming>| async move {
                let body = format!("{} {}", request.method(), request.uri().path());
                Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from(body),
                )))
            },
        );
        let mut server = HttpServer::bind(LOOPBACK, service);
        let local = server.local_addr();
        let stop = CancellationToken::new();
        let ctx = Context::new("http", stop.clone());
        let use_it = async {
            let addr = local.listening().await.expect("listening");
            let outcome = client::get(addr, "/raw").await;
            stop.cancel();
            outcome
        };

        let (result, outcome) = tokio::join!(server.play(ctx), use_it);

        result.unwrap();
        assert!(outcome.is_ok_with("GET /raw"), "{outcome:?}");
    })
    .await
    .expect("the test hung");
}

/// The number of tasks alive on the current runtime.
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// A player that counts its runs.
struct Counting<P> {
    player: P,
    runs: Arc<AtomicUsize>,
}

fn counting<P: Player>(player: P, runs: &Arc<AtomicUsize>) -> Counting<P> {
    Counting {
        player,
        runs: runs.clone(),
    }
}

impl<P: Player> Player for Counting<P> {
    async fn play(&mut self, ctx: Context) -> Result<(), orchestra::BoxError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.player.play(ctx).await
    }
}
