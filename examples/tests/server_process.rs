//! The `server` example as a process, under load from this test process:
//! SIGTERM lets every request it took finish, refuses new connections, and
//! the process exits 0.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Generous bound for a line, a response or the exit: a hang guard, not a
/// speed assertion.
const PATIENCE: Duration = Duration::from_secs(60);

/// Slow requests in flight when SIGTERM arrives.
const SLOW: usize = 6;

/// Clients sending fast requests back to back through the stop, each at most
/// `FAST_EACH` times.
const FAST_CLIENTS: usize = 3;
const FAST_EACH: usize = 300;

/// Fast requests answered before SIGTERM is sent.
const FAST_BEFORE: usize = 30;

/// `target/<profile>/examples/server`, built by `cargo test` before the tests run.
fn example() -> PathBuf {
    let mut path = std::env::current_exe().expect("the test binary's path");
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.join("examples").join("server")
}

/// How one request ended, seen from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A complete response: status code and body.
    Complete(u16, String),
    /// Not a byte of response: refused, reset or closed. The server never
    /// took this request (had it taken and then cut it, it would exit 1).
    NoResponse(String),
    /// The response began but broke off: a failed accepted request.
    Broken(String),
}

/// `GET path` over HTTP/1.1 on a new connection.
fn get(addr: SocketAddr, path: &str) -> Outcome {
    let mut stream = match TcpStream::connect_timeout(&addr, PATIENCE) {
        Ok(stream) => stream,
        Err(error) => return Outcome::NoResponse(format!("connect: {error}")),
    };
    let _ = stream.set_read_timeout(Some(PATIENCE));
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if let Err(error) = stream.write_all(request.as_bytes()) {
        return Outcome::NoResponse(format!("write: {error}"));
    }
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    match (read, response.is_empty()) {
        (Err(error), true) => return Outcome::NoResponse(format!("read: {error}")),
        (Ok(_), true) => return Outcome::NoResponse("closed before any byte".into()),
        (Err(error), false) => return Outcome::Broken(format!("read: {error}")),
        (Ok(_), false) => {}
    }
    parse(&String::from_utf8_lossy(&response))
}

/// A complete `HTTP/1.1` response with a `content-length` body, or `Broken`.
fn parse(response: &str) -> Outcome {
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        return Outcome::Broken(format!("no end of headers: {response:?}"));
    };
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok());
    let length = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    match (status, length) {
        (Some(status), Some(length)) if body.len() == length => {
            Outcome::Complete(status, body.to_owned())
        }
        _ => Outcome::Broken(format!("incomplete: {response:?}")),
    }
}

struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start() -> Self {
        Server::start_with(&[])
    }

    /// The example with `args`.
    fn start_with(args: &[&str]) -> Self {
        let mut command = Command::new(example());
        command.args(["--addr", "127.0.0.1:0"]).args(args);
        Server::spawn(command)
    }

    /// The example with at most `files` open files, and `args`.
    fn start_with_open_files_limit(files: u32, args: &[&str]) -> Self {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
            .arg(example())
            .args(["--addr", "127.0.0.1:0"])
            .args(args);
        Server::spawn(command)
    }

    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server example is built by `cargo test`");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until the server listens, and returns its address.
    fn addr(&mut self) -> SocketAddr {
        let line = self.wait_for("listening on http://");
        line.rsplit("http://")
            .next()
            .and_then(|addr| addr.trim().parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    }

    /// Waits for the next line containing `needle`, and returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no line with {needle:?}; output so far:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the exit; returns its code and the whole output.
    fn exit(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            match self.child.try_wait().expect("the server's status") {
                Some(status) => break status,
                None if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    panic!("the server did not exit:\n{}", self.seen.join("\n"));
                }
                None => thread::sleep(Duration::from_millis(20)),
            }
        };
        self.seen.extend(self.lines.iter());
        (status.code(), self.seen.join("\n"))
    }
}

#[test]
fn sigterm_under_load_lets_every_accepted_request_finish_and_exits_zero() {
    let mut server = Server::start();
    let addr = server.addr();
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
        server.wait_for("slow request started");
    }
    let deadline = Instant::now() + PATIENCE;
    while answered.load(Ordering::SeqCst) < FAST_BEFORE && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    server.terminate();
    server.wait_for("stopping gracefully");

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
    let mut server = Server::start_with_open_files_limit(256, &["--header-timeout-ms", "1000"]);
    let addr = server.addr();

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
    let mut server = Server::start_with(&["--drain-ms", "3000"]);
    let addr = server.addr();
    let deadline = Instant::now() + PATIENCE;
    while get(addr, "/readyz") != Outcome::Complete(200, "ready\n".into()) {
        assert!(Instant::now() < deadline, "never ready");
        thread::sleep(Duration::from_millis(20));
    }

    server.terminate();
    server.wait_for("draining, then stopping gracefully");
    assert_eq!(
        get(addr, "/readyz"),
        Outcome::Complete(503, "not ready: draining\n".into())
    );
    assert_eq!(get(addr, "/"), Outcome::Complete(200, "hello\n".into()));

    server.wait_for("drained; stopping gracefully");
    let (code, output) = server.exit();
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("stopped cleanly"), "{output}");
}

#[test]
fn a_second_sigterm_during_the_drain_forces_the_stop() {
    let mut server = Server::start_with(&["--drain-ms", "60000"]);
    let addr = server.addr();
    assert_eq!(get(addr, "/"), Outcome::Complete(200, "hello\n".into()));
    server.terminate();
    server.wait_for("draining, then stopping gracefully");
    server.terminate();
    let (code, output) = server.exit();
    assert_eq!(code, Some(130), "the forced exit code: {output}");
}
