//! The `server` example as a process, under load from this test process:
//! SIGTERM lets every request it took finish, refuses new connections, and
//! the process exits 0.

#![cfg(unix)]

mod support;

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::http::{Outcome, get, http_addr};
use support::{PATIENCE, Running};

/// Slow requests in flight when SIGTERM arrives.
const SLOW: usize = 6;

/// Clients sending fast requests back to back through the stop, each at most
/// `FAST_EACH` times.
const FAST_CLIENTS: usize = 3;
const FAST_EACH: usize = 300;

/// Fast requests answered before SIGTERM is sent.
const FAST_BEFORE: usize = 30;

/// Waits until the server listens, and returns its address.
fn listening(server: &mut Running) -> SocketAddr {
    http_addr(&server.wait_for(&["listening on http://"]))
}

#[test]
fn sigterm_under_load_lets_every_accepted_request_finish_and_exits_zero() {
    let mut server = Running::start("server", &["--addr", "127.0.0.1:0"]);
    let addr = listening(&mut server);
    assert_eq!(get(addr, "/"), Outcome::Complete(200, "hello\n".into()));

    let slow: Vec<_> = (0..SLOW)
        .map(|_| thread::spawn(move || get(addr, "/slow")))
        .collect();
    let answered = Arc::new(AtomicUsize::new(0));
    let fast: Vec<_> = (0..FAST_CLIENTS)
        .map(|_| {
            let answered = answered.clone();
            thread::spawn(move || {
                let mut outcomes = Vec::new();
                for _ in 0..FAST_EACH {
                    let outcome = get(addr, "/");
                    let refused = matches!(outcome, Outcome::NoResponse(_));
                    outcomes.push(outcome);
                    if refused {
                        break;
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                outcomes
            })
        })
        .collect();
    for _ in 0..SLOW {
        server.wait_for(&["slow request started"]);
    }
    let deadline = Instant::now() + PATIENCE;
    while answered.load(Ordering::SeqCst) < FAST_BEFORE && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    server.terminate();
    server.wait_for(&["stopping gracefully"]);

    let slow: Vec<Outcome> = slow.into_iter().map(|t| t.join().unwrap()).collect();
    let fast: Vec<Outcome> = fast.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let (code, output) = server.exit();

    assert_eq!(code, Some(0), "the server cut no request:\n{output}");
    for outcome in &slow {
        assert_eq!(
            outcome,
            &Outcome::Complete(200, "done\n".into()),
            "a slow request in flight at SIGTERM completes"
        );
    }
    for outcome in &fast {
        assert!(
            outcome == &Outcome::Complete(200, "hello\n".into())
                || matches!(outcome, Outcome::NoResponse(_)),
            "a request broke: {outcome:?}"
        );
    }
    let after = get(addr, "/");
    assert!(
        matches!(&after, Outcome::NoResponse(e) if e.contains("refused")),
        "the port is closed: {after:?}"
    );
    assert!(output.contains("drained"), "{output}");
    assert!(output.contains("stopped cleanly"), "{output}");
}

#[test]
fn silent_connections_past_the_open_files_limit_do_not_lock_clients_out() {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
    let mut server = Running::start_with_open_files_limit(
        "server",
        256,
        &["--addr", "127.0.0.1:0", "--header-timeout-ms", "1000"],
    );
    let addr = listening(&mut server);

    // More silent connections than the server has file descriptors: those
    // past its connection limit wait in the kernel's backlog. Opened in
    // small batches, so that the backlog (128) never overflows before the
    // server reaches its limit.
    let mut silent = Vec::new();
    for i in 0..300 {
        let stream = TcpStream::connect_timeout(&addr, PATIENCE)
            .unwrap_or_else(|error| panic!("silent connection {i}: {error}"));
        silent.push(stream);
        if i % 20 == 19 {
            thread::sleep(Duration::from_millis(20));
        }
    }
    let t0 = Instant::now();
    let outcome = get(addr, "/");
    let waited = t0.elapsed();

    assert_eq!(outcome, Outcome::Complete(200, "hello\n".into()));
    assert!(
        waited < HEADER_TIMEOUT + Duration::from_secs(2),
        "served after {waited:?}"
    );
    drop(silent);
    server.terminate();
    let (code, output) = server.exit();
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("at the connection limit"), "{output}");
    assert!(
        !output.contains("cannot accept"),
        "no accept error: {output}"
    );
}

#[test]
fn during_the_drain_readyz_says_draining_while_the_api_serves_then_the_stop_is_clean() {
    let mut server = Running::start("server", &["--addr", "127.0.0.1:0", "--drain-ms", "3000"]);
    let addr = listening(&mut server);
    let deadline = Instant::now() + PATIENCE;
    while get(addr, "/readyz") != Outcome::Complete(200, "ready\n".into()) {
        assert!(Instant::now() < deadline, "never ready");
        thread::sleep(Duration::from_millis(20));
    }

    server.terminate();
    server.wait_for(&["draining, then stopping gracefully"]);
    assert_eq!(
        get(addr, "/readyz"),
        Outcome::Complete(503, "not ready: draining\n".into())
    );
    assert_eq!(get(addr, "/"), Outcome::Complete(200, "hello\n".into()));

    server.wait_for(&["drained; stopping gracefully"]);
    let (code, output) = server.exit();
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("stopped cleanly"), "{output}");
}

#[test]
fn a_second_sigterm_during_the_drain_forces_the_stop() {
    let mut server = Running::start("server", &["--addr", "127.0.0.1:0", "--drain-ms", "60000"]);
    let addr = listening(&mut server);
    assert_eq!(get(addr, "/"), Outcome::Complete(200, "hello\n".into()));
    server.terminate();
    server.wait_for(&["draining, then stopping gracefully"]);
    server.terminate();
    let (code, output) = server.exit();
    assert_eq!(code, Some(130), "the forced exit code: {output}");
}
