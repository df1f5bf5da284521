//! A signal that can stop a run.

use std::fmt;
use std::str::FromStr;

use crate::parse::ParseError;

/// A signal that can stop a conductor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGINT` (Ctrl-C; the only one outside Unix).
    Interrupt,
    /// `SIGTERM`, as sent by Kubernetes, systemd and `kill`.
    Terminate,
    /// `SIGHUP`.
    Hangup,
    /// `SIGQUIT`.
    Quit,
    /// `SIGUSR1`.
    User1,
    /// `SIGUSR2`.
    User2,
}

impl Signal {
    const ALL: [Signal; 6] = [
        Signal::Interrupt,
        Signal::Terminate,
        Signal::Hangup,
        Signal::Quit,
        Signal::User1,
        Signal::User2,
    ];

    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
            Signal::Quit => "SIGQUIT",
            Signal::User1 => "SIGUSR1",
            Signal::User2 => "SIGUSR2",
        }
    }
}

/// The signal's name, such as `SIGTERM`.
impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses a signal's name as [`Display`](fmt::Display) writes it, with or
/// without its `SIG` prefix, in any case: `SIGTERM`, `TERM`, `sigterm`.
///
/// ```
/// use orchestra::Signal;
///
/// assert_eq!("SIGTERM".parse::<Signal>()?, Signal::Terminate);
/// assert_eq!("hup".parse::<Signal>()?, Signal::Hangup);
/// assert!("SIGKILL".parse::<Signal>().is_err());
/// # Ok::<(), orchestra::ParseError>(())
/// ```
impl FromStr for Signal {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        let short = text
            .get(..3)
            .filter(|sig| sig.eq_ignore_ascii_case("SIG"))
            .map_or(text, |_| &text[3..]);
        Signal::ALL
            .into_iter()
            .find(|signal| signal.name()[3..].eq_ignore_ascii_case(short))
            .ok_or_else(|| ParseError::new("signal", text, Signal::ALL))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_parses_back_from_its_name_with_or_without_sig() {
        for signal in Signal::ALL {
            let name = signal.to_string();
            assert_eq!(name.parse::<Signal>(), Ok(signal));
            assert_eq!(name[3..].to_lowercase().parse::<Signal>(), Ok(signal));
        }
    }

    #[test]
    fn an_unknown_signal_names_the_accepted_ones() {
        for bad in ["SIGKILL", "SIG", "", "SIGTERMX", "sig-term"] {
            let err = bad.parse::<Signal>().unwrap_err();
            assert_eq!(err.input(), bad);
            assert!(
                err.to_string().contains("`SIGINT`, `SIGTERM`, `SIGHUP`"),
                "{err}"
            );
        }
    }
}
