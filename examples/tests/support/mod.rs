//! An example run as a process: its log lines as they come, signals, its
//! exit; and requests to it over HTTP.

#![allow(dead_code, unreachable_pub)]

pub mod http;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Generous bound for a line, a response or the exit: a hang guard, not a
/// speed assert.
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
        let mut command = Command::new(example(name));
        command.args(args);
        Running::spawn(command)
    }

    /// Starts the example `name` with `args` and at most `files` open files.
    pub fn start_with_open_files_limit(name: &str, files: u32, args: &[&str]) -> Self {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
            .arg(example(name))
            .args(args);
        Running::spawn(command)
    }

    fn spawn(mut command: Command) -> Self {
        let mut child = command
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

    /// Waits for the next line containing every one of `needles`; returns it.
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

    /// Returns a line seen already that contains every one of `needles`, or
    /// waits for the next one (players restarted together log in any order).
    pub fn seen_or_wait_for(&mut self, needles: &[&str]) -> String {
        let found = |line: &String| needles.iter().all(|n| line.contains(n));
        match self.seen.iter().find(|line| found(line)) {
            Some(line) => line.clone(),
            None => self.wait_for(needles),
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

    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Waits up to [`PATIENCE`] for the exit; returns its code and the whole
    /// output.
    pub fn exit(mut self) -> (Option<i32>, String) {
        match self.wait_within(PATIENCE) {
            Some(status) => self.output(status),
            None => {
                self.seen.extend(self.lines.try_iter());
                panic!("the example did not exit:\n{}", self.seen.join("\n"));
            }
        }
    }

    /// Waits up to `bound` for the exit: its code and the whole output, or
    /// `None` (and the process killed) if it is still running then.
    pub fn exit_within(mut self, bound: Duration) -> Option<(Option<i32>, String)> {
        let status = self.wait_within(bound)?;
        Some(self.output(status))
    }

    /// The exit status, or `None` (and the process killed) after `bound`.
    fn wait_within(&mut self, bound: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("the example can be waited for")
            {
                return Some(status);
            }
            if start.elapsed() > bound {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The code of `status` and every line the example wrote.
    fn output(mut self, status: ExitStatus) -> (Option<i32>, String) {
        self.seen.extend(self.lines.iter());
        (status.code(), self.seen.join("\n"))
    }
}
