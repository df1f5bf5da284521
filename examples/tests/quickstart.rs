//! The quickstart as a process: SIGINT stops it cleanly; a second SIGINT
//! during the graceful stop forces it; SIGHUP restarts the ticker only.

#![cfg(unix)]

mod support;

use support::Running;

#[test]
fn sigint_stops_every_player_and_exits_zero() {
    let mut app = Running::start("quickstart", &[]);
    app.wait_for(&["app/flaky", "reconnected"]);
    app.interrupt();
    let (code, output) = app.exit();

    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("stopping gracefully"), "{output}");
    assert!(
        output.contains("queue drained"),
        "the worker finished its queue:\n{output}"
    );
    assert!(output.contains("stopped cleanly"), "{output}");
}

#[test]
fn a_second_sigint_forces_the_stop_and_says_so() {
    let mut app = Running::start("quickstart", &[]);
    app.wait_for(&["app/worker", "started"]);
    app.interrupt();
    app.wait_for(&["stopping gracefully"]);
    app.interrupt();
    let (code, output) = app.exit();

    assert_eq!(
        code,
        Some(130),
        "a forced stop has its own exit code:\n{output}"
    );
    assert!(
        output.contains("stop forced by a second SIGINT"),
        "{output}"
    );
    assert!(
        output.contains("`app/worker`"),
        "the aborted worker is named:\n{output}"
    );
    assert!(!output.contains("queue drained"), "{output}");
}

#[test]
fn sighup_restarts_the_ticker_and_leaves_the_others_running() {
    let mut app = Running::start("quickstart", &[]);
    app.wait_for(&["app/worker", "processed"]);
    app.signal("HUP");
    app.wait_for(&["reload requested"]);
    app.wait_for(&["app/ticker", "attempt=2", "started"]);
    // The worker goes on with the same run.
    app.wait_for(&["app/worker", "attempt=1", "processed"]);
    app.interrupt();
    let (code, output) = app.exit();

    assert_eq!(code, Some(0), "{output}");
    for restarted in ["app/worker", "app/producer", "app/flaky"] {
        assert!(
            !output
                .lines()
                .any(|l| l.contains(restarted) && l.contains("reload requested")),
            "only the ticker reloads:\n{output}"
        );
    }
    assert!(
        !output
            .lines()
            .any(|l| l.contains("app/worker") && l.contains("attempt=2")),
        "the worker was not restarted:\n{output}"
    );
}
