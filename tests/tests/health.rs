//! Readiness and liveness probes, and systemd notification.

#![cfg(all(feature = "health", unix))]

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use orchestra::health::{self, Health, Systemd};
use orchestra::{Conductor, Context, Monitor, PlayExt, PlayerOptions, player_fn};
use tower::ServiceExt;

async fn probe(monitor: &Monitor, path: &str) -> (StatusCode, String) {
    let response = health::router(monitor)
        .oneshot(Request::get(path).body(Body::empty()).expect("a request"))
        .await
        .expect("the router answers");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn ready_after(delay: Duration) -> impl orchestra::Player {
    player_fn(move |ctx: Context| async move {
        tokio::time::sleep(delay).await;
        ctx.ready();
        ctx.cancelled().await;
        Ok(())
    })
}

#[tokio::test(start_paused = true)]
async fn readiness_turns_200_once_every_player_is_ready() {
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add("http", ready_after(Duration::from_millis(100)))
        .expect("a new name");
    app.add_with(
        "silent",
        player_fn(|ctx: Context| async move {
            ctx.cancelled().await;
            Ok(())
        }),
        PlayerOptions::new().grace(Duration::from_secs(1)),
    )
    .expect("a new name");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(app.runner().monitor(monitor.clone()).play_until(async {
        let _ = stopped.await;
    }));

    assert_eq!(
        probe(&monitor, "/readyz").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no player has started\n".into()
        )
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        probe(&monitor, "/readyz").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: `app/http` (running) `app/silent` (running)\n".into()
        )
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        probe(&monitor, "/readyz").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: `app/silent` (running)\n".into()
        ),
        "`app/http` is ready; `app/silent` never calls ready()"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        probe(&monitor, "/readyz").await,
        (StatusCode::OK, "ready\n".into()),
        "the silent player counts as ready after its 1 s grace (opt-in)"
    );
    assert_eq!(
        probe(&monitor, "/livez").await,
        (StatusCode::OK, "live\n".into())
    );

    stop.send(()).expect("the run listens");
    run.await.expect("no panic").expect("a clean stop");
}

#[tokio::test(start_paused = true)]
async fn liveness_turns_503_when_a_player_failed_for_good() {
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add(
        "db",
        player_fn(|_ctx: Context| async { Err("disk full".into()) }),
    )
    .expect("a new name");

    app.runner()
        .monitor(monitor.clone())
        .play_until(std::future::pending())
        .await
        .expect_err("db fails");

    assert_eq!(
        probe(&monitor, "/livez").await,
        (StatusCode::SERVICE_UNAVAILABLE, "failed: `app/db`\n".into())
    );
    let health = Health::of(&monitor);
    assert!(!health.is_ready() && !health.is_live());
}

/// Run by `systemd_is_told_ready_watchdog_and_stopping` in a child process
/// whose environment names a notify socket.
#[tokio::test]
#[ignore = "a child process of systemd_is_told_ready_watchdog_and_stopping"]
async fn systemd_child() {
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add("systemd", Systemd::new(&monitor))
        .expect("a new name");
    app.add("http", ready_after(Duration::from_millis(100)))
        .expect("a new name");
    // STOPPING=1 comes at the start of the drain; the watchdog goes on.
    app.runner()
        .monitor(monitor.clone())
        .drain(Duration::from_millis(400))
        .play_until(tokio::time::sleep(Duration::from_millis(600)))
        .await
        .expect("a clean stop");
}

#[test]
fn systemd_is_told_ready_watchdog_and_stopping() {
    let dir = std::env::temp_dir().join(format!("orchestra-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let socket_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).expect("a notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("a read timeout");

    let mut child = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "systemd_child", "--ignored", "--quiet"])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .spawn()
        .expect("the child runs");
    // Read while the child runs: a datagram socket queues only a few
    // messages (10 on Linux) before the sender blocks.
    let mut messages = Vec::new();
    let mut buffer = [0_u8; 256];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("the child's status").is_none()
        && std::time::Instant::now() < deadline
    {
        if let Ok(n) = socket.recv(&mut buffer) {
            messages.push(String::from_utf8_lossy(&buffer[..n]).trim().to_owned());
        }
    }
    let _ = child.kill(); // if it hangs
    let status = child.wait().expect("the child's status");
    assert!(status.success(), "the child test failed or hung");
    socket.set_nonblocking(true).expect("a non-blocking socket");
    while let Ok(n) = socket.recv(&mut buffer) {
        messages.push(String::from_utf8_lossy(&buffer[..n]).trim().to_owned());
    }
    let _ = std::fs::remove_dir_all(&dir);

    let position = |m: &str| messages.iter().position(|x| x == m);
    let ready = position("READY=1").expect("READY=1 was sent");
    let stopping = position("STOPPING=1").expect("STOPPING=1 was sent");
    assert!(ready < stopping, "{messages:?}");
    // The watchdog goes on while the run drains and stops (a drain may be
    // longer than `WatchdogSec=`): after STOPPING=1 only WATCHDOG=1 comes.
    assert!(
        messages[stopping + 1..].iter().all(|m| m == "WATCHDOG=1"),
        "STOPPING=1 is the last state: {messages:?}"
    );
    assert!(
        messages[stopping + 1..].len() >= 2,
        "told at the start of the 400 ms drain, with the watchdog (100 ms) going on: {messages:?}"
    );
    assert_eq!(
        messages.iter().filter(|m| *m == "STOPPING=1").count(),
        1,
        "{messages:?}"
    );
    assert!(
        messages.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2,
        "{messages:?}"
    );
    assert_eq!(
        messages.iter().filter(|m| *m == "READY=1").count(),
        1,
        "{messages:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_player_left_out_of_readiness_does_not_make_the_service_unready() {
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add("http", ready_after(Duration::ZERO))
        .expect("a new name");
    // Backs off for ever: a flaky upstream's client.
    app.add_with(
        "upstream",
        player_fn(|_ctx: Context| async { Err("unreachable".into()) }),
        PlayerOptions::new()
            .restart(orchestra::Restart::Always)
            .backoff(orchestra::Backoff::constant(Duration::from_secs(5)))
            .ignore_readiness(),
    )
    .expect("a new name");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(app.runner().monitor(monitor.clone()).play_until(async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        monitor.status("app/upstream").map(|s| s.state),
        Some(orchestra::State::BackingOff)
    );
    assert_eq!(
        probe(&monitor, "/readyz").await,
        (StatusCode::OK, "ready\n".into())
    );
    stop.send(()).expect("the run listens");
    run.await.expect("no panic").expect("a clean stop");
}

#[tokio::test(start_paused = true)]
async fn a_player_done_by_itself_is_ready_and_one_stopped_on_request_is_not() {
    let monitor = Monitor::new();
    // `jobs` is restarted when one of its players fails; its `worker` is
    // then stopped on request, and its `migrate` finished by itself.
    let mut jobs = Conductor::named("jobs");
    jobs.add("migrate", player_fn(|_ctx: Context| async { Ok(()) }))
        .expect("a new name");
    jobs.add("worker", ready_after(Duration::ZERO))
        .expect("a new name");
    jobs.add_with(
        "flaky",
        player_fn(|_ctx: Context| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Err("lost its upstream".into())
        }),
        PlayerOptions::new().ignore_readiness(),
    )
    .expect("a new name");
    let mut app = Conductor::named("app");
    app.add_with(
        "jobs",
        jobs,
        PlayerOptions::new()
            .restart(orchestra::Restart::OnFailure)
            .backoff(orchestra::Backoff::constant(Duration::from_secs(60))),
    )
    .expect("a new name");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(app.runner().monitor(monitor.clone()).play_until(async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        probe(&monitor, "/readyz").await,
        (StatusCode::OK, "ready\n".into()),
        "`migrate` finished by itself: ready"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        probe(&monitor, "/readyz").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: `app/jobs/worker` (stopped)\n".into()
        ),
        "`worker` was stopped because `flaky` failed"
    );
    stop.send(()).expect("the run listens");
    run.await.expect("no panic").expect("a clean stop");
}

#[tokio::test(start_paused = true)]
async fn a_never_attached_monitor_says_so() {
    assert_eq!(
        probe(&Monitor::new(), "/readyz").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: this monitor was never attached to a run\n".into()
        )
    );
}
