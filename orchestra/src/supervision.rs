//! How a conductor supervises its members as a group: which siblings a
//! restart takes along ([`Strategy`]), and what a member's end does to its
//! group ([`OnExit`]).

use std::fmt;
use std::str::FromStr;

use crate::parse::ParseError;

/// Which members a conductor restarts with a member that is to be restarted
/// (Erlang/OTP's supervisor strategies, along `after` edges).
///
/// A member's own [`Restart`](crate::Restart) policy, backoff and limits
/// still decide *whether* and *when* it is restarted; the strategy decides
/// which siblings go with it. Siblings taken along are stopped first, those
/// ordered after others first, each within its stop timeout; then all are
/// started again in `after` order, each once the members it is ordered
/// after are ready. Their restart counts neither against their own limits
/// nor as a failure; it counts against the conductor's
/// [`max_restarts`](crate::Conductor::max_restarts), once per cause.
///
/// ```
/// use orchestra::Strategy;
///
/// assert_eq!("rest-for-one".parse::<Strategy>()?, Strategy::RestForOne);
/// assert_eq!(Strategy::default(), Strategy::OneForOne);
/// # Ok::<(), orchestra::ParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Only the member restarts (the default).
    #[default]
    OneForOne,
    /// Every running member of the conductor restarts with it.
    OneForAll,
    /// The member restarts with every member ordered `after` it, directly
    /// or transitively: those that start from what it provides. (OTP's
    /// `rest_for_one` takes the members declared after it instead.)
    RestForOne,
}

impl Strategy {
    const ALL: [Strategy; 3] = [
        Strategy::OneForOne,
        Strategy::OneForAll,
        Strategy::RestForOne,
    ];
}

/// As the derive spells it: `one-for-one`, `one-for-all`, `rest-for-one`.
impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::OneForOne => "one-for-one",
            Strategy::OneForAll => "one-for-all",
            Strategy::RestForOne => "rest-for-one",
        })
    }
}

/// Parses a strategy as [`Display`](fmt::Display) writes it.
impl FromStr for Strategy {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        crate::parse::one_of("strategy", text, Strategy::ALL)
    }
}

/// What a member's end (after its restarts, if any) does to its conductor.
///
/// ```
/// use orchestra::{OnExit, PlayerOptions};
///
/// // The service is over when its main server is.
/// let http = PlayerOptions::new().on_exit(OnExit::Stop);
/// // An optional cache warmer may fail without taking the service down.
/// let warmer = PlayerOptions::new().on_exit(OnExit::Continue);
/// # let _ = (http, warmer);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExit {
    /// A failure stops the conductor (and is its error); `Ok(())` leaves
    /// the siblings running (the default).
    #[default]
    StopOnFailure,
    /// Any end stops the conductor gracefully, `Ok(())` included (OTP's
    /// significant child with `auto_shutdown`). A failure is still the
    /// conductor's error.
    Stop,
    /// Even a final failure leaves the siblings running: it is logged and
    /// reported as the member's `Failed` event, not returned by the
    /// conductor.
    Continue,
}

impl OnExit {
    const ALL: [OnExit; 3] = [OnExit::StopOnFailure, OnExit::Stop, OnExit::Continue];
}

/// As the derive spells it: `stop-on-failure`, `stop`, `continue`.
impl fmt::Display for OnExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnExit::StopOnFailure => "stop-on-failure",
            OnExit::Stop => "stop",
            OnExit::Continue => "continue",
        })
    }
}

/// Parses an `on_exit` as [`Display`](fmt::Display) writes it.
impl FromStr for OnExit {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        crate::parse::one_of("on_exit", text, OnExit::ALL)
    }
}

/// How a conductor supervises its members: its strategy, and its restart
/// intensity (restarts of all its members within a window), past which it
/// stops its members and fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Supervision {
    pub(crate) strategy: Strategy,
    pub(crate) max_restarts: Option<(u32, std::time::Duration)>,
}

impl Supervision {
    /// Whether its members' restarts go through the conductor: with a
    /// strategy that restarts siblings, or an intensity that counts them.
    pub(crate) fn is_involved(&self) -> bool {
        self.strategy != Strategy::OneForOne || self.max_restarts.is_some()
    }
}
