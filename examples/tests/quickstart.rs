//! The quickstart as a process: SIGINT stops it cleanly; a second SIGINT
//! during the graceful stop forces it.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Generous bound for a line to appear: a hang guard, not a speed assert.
const PATIENCE: Duration = Duration::from_secs(60);

/// `target/<profile>/examples/quickstart`, built by `cargo test` before the tests run.
fn quickstart() -> PathBuf {
    let mut path = std::env::current_exe().expect("the test binary's path");
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.join("examples").join("quickstart")
}

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start() -> Self {
        let mut child = Command::new(quickstart())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the quickstart example is built by `cargo test`");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing every one of `needles`.
    fn wait_for(&mut self, needles: &[&str]) {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let found = needles.iter().all(|n| line.contains(n));
                    self.seen.push(line);
                    if found {
                        return;
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

    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the exit; returns its code and the whole output.
    fn exit(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().expect("the quickstart exits");
        self.seen.extend(self.lines.iter());
        (status.code(), self.seen.join("\n"))
    }
}

#[test]
fn sigint_stops_every_player_and_exits_zero() {
    let mut app = Running::start();
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
    let mut app = Running::start();
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
