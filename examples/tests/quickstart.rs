//! The quickstart as a process: SIGINT stops it cleanly; a second SIGINT
//! during the graceful stop forces it.

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
