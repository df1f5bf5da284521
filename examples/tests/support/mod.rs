//! An example run as a process: its log lines as they come, signals, its
//! exit.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Generous bound for a line to appear: a hang guard, not a speed assert.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// `target/<profile>/examples/<name>`, built by `cargo test` before the tests run.
fn example(name: &str) -> PathBuf {
    let mut path = std::env::current_exe().expect("the test binary's path");
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.join("examples").join(name)
}

pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Starts the example `name` with `args`, logging at `info`.
    pub fn start(name: &str, args: &[&str]) -> Self {
        let mut child = Command::new(example(name))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the example is built by `cargo test`");
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

    /// Waits for a line containing every one of `needles`; returns it.
    pub fn wait_for(&mut self, needles: &[&str]) -> String {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let found = needles.iter().all(|n| line.contains(n));
                    self.seen.push(line.clone());
                    if found {
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

    /// Sends the signal named `name` (`INT`, `HUP`…) with `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    pub fn interrupt(&self) {
        self.signal("INT");
    }

    /// Waits for the exit; returns its code and the whole output.
    pub fn exit(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().expect("the example exits");
        self.seen.extend(self.lines.iter());
        (status.code(), self.seen.join("\n"))
    }

    /// Waits up to `bound` for the exit: its code and the whole output, or
    /// `None` (and the process killed) if it is still running then.
    pub fn exit_within(mut self, bound: Duration) -> Option<(Option<i32>, String)> {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("the example can be waited for")
            {
                self.seen.extend(self.lines.iter());
                return Some((status.code(), self.seen.join("\n")));
            }
            if start.elapsed() > bound {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
