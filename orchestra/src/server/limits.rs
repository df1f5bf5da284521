//! What a server allows a client: how long it waits for a request or a TLS
//! handshake, how many connections it keeps open, and the HTTP/2 limits.

use std::time::Duration;

use hyper_util::rt::TokioTimer;
use hyper_util::server::conn::auto;

use super::connection::Executor;
use crate::time::FAR;

/// How long a new connection may take to send its first request's header
/// (protocol detection included), and an HTTP/1 connection each later one.
pub(super) const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a TLS client may take to finish its handshake.
pub(super) const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection limit where the file-descriptor limit cannot be read (or
/// is unlimited).
pub(super) const FALLBACK_MAX_CONNECTIONS: usize = 10_000;

/// HTTP/2: streams a client may have open at once on one connection.
const H2_MAX_CONCURRENT_STREAMS: u32 = 200;
/// HTTP/2: streams a client may open and reset before the server answers
/// them, before the connection gets `GOAWAY` (the "rapid reset" attack,
/// CVE-2023-44487).
const H2_MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
/// HTTP/2: streams the server may reset because of client errors before the
/// connection gets `GOAWAY` (RUSTSEC-2024-0003).
const H2_MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;
/// HTTP/2: the largest header list a client may send, in bytes.
const H2_MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;
/// HTTP/2: how often an idle connection is pinged, and how long the answer
/// may take before the connection is closed as dead.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// The limits a server was given; `None` picks the default when it runs.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    pub(super) header_timeout: Duration,
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(super) tls_handshake_timeout: Duration,
    pub(super) max_connections: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            max_connections: None,
        }
    }
}

impl Limits {
    /// Why these limits cannot be used, if they cannot.
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.header_timeout.is_zero() {
            return Err("header_timeout: must be more than zero".into());
        }
        if self.tls_handshake_timeout.is_zero() {
            return Err("tls_handshake_timeout: must be more than zero".into());
        }
        if self.max_connections == Some(0) {
            return Err("max_connections: must be at least 1".into());
        }
        Ok(())
    }

    /// The connection limit of a run: the one set, else 3/4 of the process's
    /// file-descriptor limit (the rest is left to the listener, the
    /// application's files and its outgoing connections), else
    /// [`FALLBACK_MAX_CONNECTIONS`].
    pub(super) fn max_connections(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            open_files_limit().map_or(FALLBACK_MAX_CONNECTIONS, |limit| limit - limit / 4)
        })
    }

    /// A connection builder with these limits, hyper's HTTP/1 header timeout
    /// and the HTTP/2 protections.
    pub(super) fn builder(&self, executor: Executor) -> auto::Builder<Executor> {
        let mut builder = auto::Builder::new(executor);
        builder
            .http1()
            .timer(TokioTimer::new())
            // hyper adds it to an instant: capped, so that none overflows.
            .header_read_timeout(self.header_timeout.min(FAR));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
            .max_pending_accept_reset_streams(H2_MAX_PENDING_ACCEPT_RESET_STREAMS)
            .max_local_error_reset_streams(H2_MAX_LOCAL_ERROR_RESET_STREAMS)
            .max_header_list_size(H2_MAX_HEADER_LIST_SIZE)
            .keep_alive_interval(H2_KEEP_ALIVE)
            .keep_alive_timeout(H2_KEEP_ALIVE);
        builder
    }
}

/// The soft limit on open files of this process, from `/proc/self/limits`
/// (Linux; no `unsafe` needed). `None` elsewhere, or when unlimited.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files(&limits)
}

/// The soft limit in the `Max open files` line of a `/proc/<pid>/limits`.
fn parse_open_files(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok().filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_open_files_limit_is_read_from_proc() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            256                  524288               files     \n";
        assert_eq!(parse_open_files(limits), Some(256));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files(unlimited), None);
        assert_eq!(parse_open_files(""), None);
    }

    #[test]
    fn three_quarters_of_the_open_files_limit_by_default() {
        let limits = Limits::default();
        let expected = open_files_limit().map_or(FALLBACK_MAX_CONNECTIONS, |l| l - l / 4);
        assert_eq!(limits.max_connections(), expected);
        let set = Limits {
            max_connections: Some(3),
            ..Limits::default()
        };
        assert_eq!(set.max_connections(), 3);
    }
}
