//! A load tool for the `server` example: runs the SIGTERM-under-load
//! scenario N times and prints one line with what the clients saw.
//!
//! ```text
//! cargo build --release --example server --example load
//! target/release/examples/load --runs 20
//! ```
//!
//! Each run starts the server example on a free loopback port, loads it with
//! HTTP/1.1 clients (keep-alive, one connection per request, and slow
//! requests that take 2 s), sends it SIGTERM after `--load-ms`, and lets the
//! clients go on until the server refuses them. A request counts as
//! *accepted* if it was written before the signal and any byte of a
//! response came back; a request *failed* if its response broke off (before
//! or after the signal). *Refused*
//! connections were never taken; *unanswered* requests were written on a
//! connection that the server closed without a byte of response (HTTP/1
//! keep-alive's race at the stop). Loopback only, at most `--runs` (≤ 100)
//! runs, each bounded in requests and time.
//!
//! The line ends with the server's exit codes as `code:runs`.
//!
//! `--scenario drain` (with `--drain-ms N`, 2000 by default) runs the server
//! with a drain phase of that length, and the clients go on after the signal
//! for 3/4 of it (as clients do while a load balancer takes the server out):
//! every request they send then must be answered, none refused nor
//! unanswered (`sent_after_signal` counts them).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Bound on any one socket operation or wait.
const PATIENCE: Duration = Duration::from_secs(30);
/// Requests one client sends at most in a run.
const MAX_REQUESTS_PER_CLIENT: usize = 200_000;
/// How long clients go on after the signal at most.
const AFTER_SIGNAL: Duration = Duration::from_secs(15);
/// Runs at most.
const MAX_RUNS: usize = 100;

/// What is measured.
#[derive(Debug, Clone, Copy)]
enum Scenario {
    /// SIGTERM while clients send requests.
    Sigterm,
    /// SIGTERM to a server with a drain phase, while clients send requests
    /// until shortly before the drain ends.
    Drain(Duration),
}

impl Scenario {
    /// The server's arguments beside its address.
    fn server_args(self) -> Vec<String> {
        match self {
            Scenario::Sigterm => Vec::new(),
            Scenario::Drain(drain) => vec!["--drain-ms".into(), drain.as_millis().to_string()],
        }
    }

    /// How long clients go on after the signal at most.
    fn after_signal(self) -> Duration {
        match self {
            Scenario::Sigterm => AFTER_SIGNAL,
            Scenario::Drain(drain) => drain * 3 / 4,
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scenario::Sigterm => f.write_str("sigterm"),
            Scenario::Drain(drain) => write!(f, "drain({}ms)", drain.as_millis()),
        }
    }
}

struct Args {
    runs: usize,
    load: Duration,
    scenario: Scenario,
    server: PathBuf,
}

const USAGE: &str = "usage: load [--runs N] [--load-ms N] [--scenario sigterm|drain] [--drain-ms N] [--server PATH]";

impl Args {
    fn parse() -> Result<Args, String> {
        let mut args = Args {
            runs: 20,
            load: Duration::from_millis(500),
            scenario: Scenario::Sigterm,
            server: sibling("server")?,
        };
        let mut drain = Duration::from_millis(2000);
        let mut words = std::env::args().skip(1);
        while let Some(word) = words.next() {
            let value = words
                .next()
                .ok_or_else(|| format!("`{word}` needs a value; {USAGE}"))?;
            let bad = |error: &dyn std::fmt::Display| format!("bad {word} `{value}`: {error}");
            match word.as_str() {
                "--runs" => args.runs = value.parse().map_err(|e| bad(&e))?,
                "--load-ms" => {
                    args.load = Duration::from_millis(value.parse().map_err(|e| bad(&e))?);
                }
                "--scenario" => {
                    args.scenario = match value.as_str() {
                        "sigterm" => Scenario::Sigterm,
                        "drain" => Scenario::Drain(drain),
                        _ => return Err(bad(&"expected `sigterm` or `drain`")),
                    };
                }
                "--drain-ms" => {
                    drain = Duration::from_millis(value.parse().map_err(|e| bad(&e))?);
                    if drain.is_zero() || drain > PATIENCE {
                        return Err(bad(&"expected 1 to 30000"));
                    }
                }
                "--server" => args.server = PathBuf::from(value),
                _ => return Err(format!("unexpected argument `{word}`; {USAGE}")),
            }
        }
        if let Scenario::Drain(_) = args.scenario {
            args.scenario = Scenario::Drain(drain);
        }
        if !(1..=MAX_RUNS).contains(&args.runs) {
            return Err(format!("--runs must be between 1 and {MAX_RUNS}"));
        }
        Ok(args)
    }
}

/// An example built beside this one.
fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    Ok(exe.with_file_name(name))
}

/// How one request ended, seen from its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Complete,
    /// The response began, then broke off.
    Broken,
    /// The connection was refused: the server never took it.
    Refused,
    /// Written, then the connection closed without a byte of response.
    Unanswered,
}

/// One request: whether it was written before the signal, and its outcome.
type Record = (bool, Outcome);

/// The totals over all runs.
#[derive(Default)]
struct Totals {
    runs: usize,
    accepted: usize,
    after_signal: usize,
    failed: usize,
    refused: usize,
    unanswered: usize,
    exit_codes: BTreeMap<String, usize>,
}

impl Totals {
    fn add(&mut self, records: &[Record], exit: String) {
        self.runs += 1;
        for &(before_signal, outcome) in records {
            self.after_signal += usize::from(!before_signal);
            match outcome {
                Outcome::Complete | Outcome::Broken if before_signal => {
                    self.accepted += 1;
                    self.failed += usize::from(outcome == Outcome::Broken);
                }
                Outcome::Broken => self.failed += 1,
                Outcome::Refused => self.refused += 1,
                Outcome::Unanswered => self.unanswered += 1,
                Outcome::Complete => {}
            }
        }
        *self.exit_codes.entry(exit).or_default() += 1;
    }

    fn line(&self, scenario: Scenario) -> String {
        let codes: Vec<String> = self
            .exit_codes
            .iter()
            .map(|(code, n)| format!("{code}:{n}"))
            .collect();
        format!(
            "scenario={scenario} runs={} accepted_before_signal={} sent_after_signal={} failed={} refused={} unanswered={} exit_codes={}",
            self.runs,
            self.accepted,
            self.after_signal,
            self.failed,
            self.refused,
            self.unanswered,
            codes.join(",")
        )
    }
}

/// The server example, started on a free loopback port.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(path: &PathBuf, scenario: Scenario) -> Result<Server, String> {
        let mut child = Command::new(path)
            .args(["--addr", "127.0.0.1:0"])
            .args(scenario.server_args())
            .env("RUST_LOG", "warn,server=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start `{}` ({e}); build it first: cargo build --release --example server",
                    path.display()
                )
            })?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.rsplit("listening on http://").next()
                    && line.contains("listening on http://")
                {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(PATIENCE)
            .map_err(|_| "the server did not say where it listens".to_owned())?;
        let addr = addr
            .parse()
            .map_err(|e| format!("bad address {addr}: {e}"))?;
        Ok(Server { child, addr })
    }

    fn terminate(&self) -> Result<(), String> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .map_err(|e| format!("kill: {e}"))?;
        status.success().then_some(()).ok_or("kill failed".into())
    }

    /// Waits for the exit: its code, `signal` or `hung` (then killed).
    fn exit(mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return status
                        .code()
                        .map_or("signal".into(), |code| code.to_string());
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return "hung".into();
                }
            }
        }
    }
}

/// A client's kind of traffic.
#[derive(Clone, Copy)]
enum Client {
    /// Back-to-back `GET /` on one connection, reconnecting when it closes.
    KeepAlive,
    /// `GET /` with `Connection: close`, a connection each.
    Close,
    /// `GET /slow` (2 s), a connection each.
    Slow,
}

/// One run: load, signal, then the records of every request and the exit.
fn run(
    server: &PathBuf,
    load: Duration,
    scenario: Scenario,
) -> Result<(Vec<Record>, String), String> {
    let server = Server::start(server, scenario)?;
    let until = scenario.after_signal();
    let signal: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let clients = [
        Client::KeepAlive,
        Client::KeepAlive,
        Client::KeepAlive,
        Client::KeepAlive,
        Client::Close,
        Client::Close,
        Client::Slow,
        Client::Slow,
    ];
    let handles: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let (addr, signal) = (server.addr, signal.clone());
            thread::spawn(move || drive(client, addr, &signal, until))
        })
        .collect();
    thread::sleep(load);
    let _ = signal.set(Instant::now());
    server.terminate()?;
    let records = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect();
    Ok((records, server.exit()))
}

/// Sends requests of one kind until refused, or out of bounds (`until`
/// after the signal).
fn drive(
    client: Client,
    addr: SocketAddr,
    signal: &OnceLock<Instant>,
    until: Duration,
) -> Vec<Record> {
    let (path, keep_alive) = match client {
        Client::KeepAlive => ("/", true),
        Client::Close => ("/", false),
        Client::Slow => ("/slow", false),
    };
    let mut records = Vec::new();
    let mut connection: Option<BufReader<TcpStream>> = None;
    while records.len() < MAX_REQUESTS_PER_CLIENT
        && signal.get().is_none_or(|at| at.elapsed() < until)
    {
        let mut reader = match connection.take() {
            Some(reader) => reader,
            None => match connect(addr) {
                Some(stream) => BufReader::new(stream),
                None => {
                    records.push((signal.get().is_none(), Outcome::Refused));
                    break;
                }
            },
        };
        let before_signal = signal.get().is_none();
        let (outcome, reusable) = exchange(&mut reader, path, keep_alive);
        records.push((before_signal, outcome));
        if reusable {
            connection = Some(reader);
        }
    }
    records
}

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, PATIENCE).ok()?;
    stream.set_read_timeout(Some(PATIENCE)).ok()?;
    stream.set_nodelay(true).ok()?;
    Some(stream)
}

/// One request and its response; whether the connection can carry another.
fn exchange(reader: &mut BufReader<TcpStream>, path: &str, keep_alive: bool) -> (Outcome, bool) {
    let close = if keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{close}\r\n");
    if reader.get_mut().write_all(request.as_bytes()).is_err() {
        return (Outcome::Unanswered, false);
    }
    let mut status = String::new();
    match reader.read_line(&mut status) {
        Ok(0) | Err(_) => return (Outcome::Unanswered, false),
        Ok(_) if !status.starts_with("HTTP/1.1 200") => return (Outcome::Broken, false),
        Ok(_) => {}
    }
    let (mut length, mut closing) = (None, !keep_alive);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return (Outcome::Broken, false),
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("connection") && value.trim() == "close" {
            closing = true;
        }
    }
    let Some(length) = length else {
        return (Outcome::Broken, false);
    };
    let mut body = vec![0; length];
    match reader.read_exact(&mut body) {
        Ok(()) => (Outcome::Complete, !closing),
        Err(_) => (Outcome::Broken, false),
    }
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let mut totals = Totals::default();
    for _ in 0..args.runs {
        match run(&args.server, args.load, args.scenario) {
            Ok((records, exit)) => totals.add(&records, exit),
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{}", totals.line(args.scenario));
    ExitCode::SUCCESS
}
