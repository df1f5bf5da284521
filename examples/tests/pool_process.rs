//! The `pool` example as a process: `db` hands its pool to `http` and
//! `consumer`; killing the database connection restarts all three, with the
//! new pool; SIGTERM then stops the process cleanly.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Generous bound for a line, a response or the exit: a hang guard, not a
/// speed assertion.
const PATIENCE: Duration = Duration::from_secs(60);

/// `target/<profile>/examples/pool`, built by `cargo test` before the tests run.
fn example() -> PathBuf {
    let mut path = std::env::current_exe().expect("the test binary's path");
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.join("examples").join("pool")
}

/// The body of `GET path`, over HTTP/1.1 on a new connection. `http` logs
/// that it serves just before it binds: a refused connection is tried
/// again.
fn get(addr: SocketAddr, path: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    let mut stream = loop {
        match TcpStream::connect_timeout(&addr, PATIENCE) {
            Ok(stream) => break stream,
            Err(error) if Instant::now() > deadline => panic!("cannot connect: {error}"),
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    };
    stream.set_read_timeout(Some(PATIENCE)).expect("a timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("sends");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a complete head");
    assert!(head.starts_with("HTTP/1.1 200"), "{response}");
    body.to_owned()
}

struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Process {
    fn start() -> Self {
        let mut child = Command::new(example())
            .args(["--addr", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the pool example is built by `cargo test`");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Process {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing every one of `needles`, unless one was
    /// seen already (players restarted together log in any order).
    fn wait_for(&mut self, needles: &[&str]) -> String {
        let found = |line: &String| needles.iter().all(|n| line.contains(n));
        if let Some(line) = self.seen.iter().find(|line| found(line)) {
            return line.clone();
        }
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if found(&line) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no line with {needles:?}; output so far:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    /// Waits until `http` serves with pool `n`; returns its address.
    fn serving(&mut self, pool: &str) -> SocketAddr {
        let line = self.wait_for(&["serving on http://", pool]);
        line.split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    }

    /// SIGTERM, then the exit code.
    fn terminate(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.child.try_wait().expect("the process's status") {
                Some(status) => return status.code(),
                None if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    panic!("the process did not exit:\n{}", self.seen.join("\n"));
                }
                None => thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

#[test]
fn killing_the_connection_restarts_db_and_its_dependents_with_the_new_pool() {
    let mut process = Process::start();
    // The first attempt is refused; the second connects after the backoff.
    process.wait_for(&["app/db", "connection refused"]);
    let addr = process.serving("pool=1");
    process.wait_for(&["consumer uses pool #1"]);
    assert_eq!(get(addr, "/"), "pool #1\n");

    assert_eq!(get(addr, "/kill-db"), "killed\n");
    process.wait_for(&["app/db", "the database connection was lost"]);
    process.wait_for(&["connected to the database", "pool=2"]);
    let again = process.serving("pool=2");
    assert_eq!(again, addr, "each run of `http` binds the same port");
    process.wait_for(&["consumer uses pool #2"]);
    assert_eq!(get(addr, "/"), "pool #2\n");

    assert_eq!(process.terminate(), Some(0));
}
