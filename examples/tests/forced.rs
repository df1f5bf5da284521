//! A player that blocks its thread and ignores cancellation cannot hold a
//! process up: the second SIGINT ends it within 2 s (the watchdog gives it
//! 1 s), with the forced exit code, on either runtime flavour.

#![cfg(unix)]

mod support;

use std::time::{Duration, Instant};

use support::Running;

/// What the test allows from the second signal to the exit.
const BOUND: Duration = Duration::from_secs(2);

fn two_sigints_end_a_blocked_process(flavour: &str) {
    let mut app = Running::start("blocker", &[flavour]);
    app.wait_for(&["blocking my thread"]);
    app.interrupt();
    // Apart, so that the two are not merged into one.
    std::thread::sleep(Duration::from_millis(300));
    app.interrupt();
    let second = Instant::now();

    let exited = app.exit_within(Duration::from_secs(30));

    let (code, output) = exited.expect("the process exits");
    let took = second.elapsed();
    assert!(took < BOUND, "it took {took:?}:\n{output}");
    assert_eq!(code, Some(130), "{output}");
}

#[test]
fn on_a_current_thread_runtime() {
    two_sigints_end_a_blocked_process("current_thread");
}

#[test]
fn on_a_multi_thread_runtime() {
    two_sigints_end_a_blocked_process("multi_thread");
}
