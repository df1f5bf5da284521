//! The `pool` example as a process: `db` hands its pool to `http` and
//! `consumer`; killing the database connection restarts all three, with the
//! new pool; SIGTERM then stops the process cleanly.

#![cfg(unix)]

mod support;

use std::net::SocketAddr;

use support::Running;
use support::http::{get_ok, http_addr};

/// Waits until `http` serves with `pool` (seen already or to come: players
/// restarted together log in any order); returns its address.
fn serving(process: &mut Running, pool: &str) -> SocketAddr {
    http_addr(&process.seen_or_wait_for(&["serving on http://", pool]))
}

#[test]
fn killing_the_connection_restarts_db_and_its_dependents_with_the_new_pool() {
    let mut process = Running::start("pool", &["--addr", "127.0.0.1:0"]);
    // The first attempt is refused; the second connects after the backoff.
    process.seen_or_wait_for(&["app/db", "connection refused"]);
    let addr = serving(&mut process, "pool=1");
    process.seen_or_wait_for(&["consumer uses pool #1"]);
    assert_eq!(get_ok(addr, "/"), "pool #1\n");

    assert_eq!(get_ok(addr, "/kill-db"), "killed\n");
    process.seen_or_wait_for(&["app/db", "the database connection was lost"]);
    process.seen_or_wait_for(&["connected to the database", "pool=2"]);
    let again = serving(&mut process, "pool=2");
    assert_eq!(again, addr, "each run of `http` binds the same port");
    process.seen_or_wait_for(&["consumer uses pool #2"]);
    assert_eq!(get_ok(addr, "/"), "pool #2\n");

    process.terminate();
    let (code, output) = process.exit();
    assert_eq!(code, Some(0), "{output}");
}
