//! A minimal HTTP/1.1 client: one `GET` a connection, and how it ended.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::PATIENCE;

/// How one request ended, seen from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response: status code and body.
    Complete(u16, String),
    /// Not a byte of response: refused, reset or closed. The server never
    /// took this request (had it taken and then cut it, it would exit 1).
    NoResponse(String),
    /// The response began but broke off: a failed accepted request.
    Broken(String),
}

/// `GET path` over HTTP/1.1 on a new connection.
pub fn get(addr: SocketAddr, path: &str) -> Outcome {
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

/// The body of a `200` answer to `GET path`. A server may log its address
/// just before it binds: a connection that fails is tried again, for up to
/// [`PATIENCE`].
pub fn get_ok(addr: SocketAddr, path: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match get(addr, path) {
            Outcome::Complete(200, body) => return body,
            Outcome::NoResponse(error) if error.starts_with("connect") => {
                assert!(Instant::now() < deadline, "cannot connect: {error}");
                std::thread::sleep(Duration::from_millis(10));
            }
            other => panic!("GET {path}: {other:?}"),
        }
    }
}

/// The address in a log line that says `… http://ADDR …`.
pub fn http_addr(line: &str) -> SocketAddr {
    line.split_once("http://")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
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
