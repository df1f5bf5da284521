//! Restart policies and the backoff between restarts.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ConstantBuilder, ExponentialBuilder, FibonacciBuilder};

use crate::parse::ParseError;

/// When a player that returned is run again.
///
/// ```
/// use orchestra::{PlayerOptions, Restart};
/// let options = PlayerOptions::new().restart(Restart::OnFailure);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Never restart (the default, as in Go's orchestra): an error or panic is
    /// final and stops the conductor; `Ok(())` means the player is done.
    #[default]
    Never,
    /// Restart after an error or a panic; `Ok(())` means the player is done.
    OnFailure,
    /// Restart after every return, `Ok(())` included, until the conductor stops.
    Always,
}

impl Restart {
    const ALL: [Restart; 3] = [Restart::Never, Restart::OnFailure, Restart::Always];
}

/// As the derive spells it: `never`, `on-failure`, `always`.
impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Restart::Never => "never",
            Restart::OnFailure => "on-failure",
            Restart::Always => "always",
        })
    }
}

/// Parses a policy as [`Display`](fmt::Display) writes it (and as
/// `#[player(restart = "…")]` takes it), for a policy read from configuration.
///
/// ```
/// use orchestra::Restart;
///
/// assert_eq!("on-failure".parse::<Restart>()?, Restart::OnFailure);
/// assert!("on_failure".parse::<Restart>().is_err());
/// # Ok::<(), orchestra::ParseError>(())
/// ```
impl FromStr for Restart {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        crate::parse::one_of("restart policy", text, Restart::ALL)
    }
}

/// The delays between restarts of a player, built on [`backon`]'s strategies.
///
/// The bare strategies never run out; [`max_times`](Backoff::max_times) caps
/// them, after which a failure is final. The delays start over once a run has
/// stayed up for the player's stable period (see
/// [`PlayerOptions::stable_after`](crate::PlayerOptions::stable_after)).
///
/// | strategy | delays |
/// |---|---|
/// | [`zero`](Backoff::zero) | 0, 0, 0… |
/// | [`constant`](Backoff::constant)`(d)` | d, d, d… |
/// | [`exponential`](Backoff::exponential) (the default) | 100 ms, 200 ms, 400 ms… up to 30 s |
/// | [`fibonacci`](Backoff::fibonacci) | 100 ms, 100 ms, 200 ms, 300 ms, 500 ms… up to 30 s |
///
/// With [`jitter`](Backoff::jitter) each delay grows by a random part of
/// itself, between 0 % and 100 %. The built-in strategies' delays are rounded
/// to the millisecond, the resolution of tokio's timer.
///
/// ```
/// use orchestra::Backoff;
/// use std::time::Duration;
///
/// let backoff = Backoff::exponential()
///     .min_delay(Duration::from_millis(50))
///     .max_delay(Duration::from_secs(10))
///     .factor(3.0)
///     .jitter();
/// # let _ = backoff;
/// ```
#[derive(Clone)]
pub struct Backoff {
    kind: Kind,
    min: Duration,
    max: Duration,
    factor: f32,
    jitter: bool,
    seed: Option<u64>,
    max_times: Option<usize>,
}

#[derive(Clone)]
enum Kind {
    Zero,
    Constant,
    Exponential,
    Fibonacci,
    Custom(Arc<dyn Fn() -> Delays + Send + Sync>),
}

/// A running sequence of delays.
pub(crate) type Delays = Box<dyn Iterator<Item = Duration> + Send>;

impl Default for Backoff {
    fn default() -> Self {
        Backoff::exponential()
    }
}

impl Backoff {
    const fn of(kind: Kind, min: Duration) -> Self {
        Backoff {
            kind,
            min,
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: false,
            seed: None,
            max_times: None,
        }
    }

    /// Restart at once, every time.
    pub const fn zero() -> Self {
        Backoff::of(Kind::Zero, Duration::ZERO)
    }

    /// The same delay before every restart.
    pub const fn constant(delay: Duration) -> Self {
        Backoff::of(Kind::Constant, delay)
    }

    /// Delays that grow by a factor (2 by default), from 100 ms to 30 s.
    pub const fn exponential() -> Self {
        Backoff::of(Kind::Exponential, Duration::from_millis(100))
    }

    /// Delays that grow as the Fibonacci sequence, from 100 ms to 30 s.
    pub const fn fibonacci() -> Self {
        Backoff::of(Kind::Fibonacci, Duration::from_millis(100))
    }

    /// A strategy of your own: `delays` is called to start a fresh sequence
    /// (at the first failure and after every reset); the sequence ending makes
    /// the failure final.
    ///
    /// ```
    /// use orchestra::Backoff;
    /// use std::time::Duration;
    ///
    /// // 1 s, 2 s, 3 s, then give up.
    /// let backoff = Backoff::custom(|| (1..=3).map(Duration::from_secs));
    /// # let _ = backoff;
    /// ```
    pub fn custom<F, I>(delays: F) -> Self
    where
        F: Fn() -> I + Send + Sync + 'static,
        I: IntoIterator<Item = Duration>,
        I::IntoIter: Send + 'static,
    {
        let start = move || -> Delays { Box::new(delays().into_iter()) };
        Backoff::of(Kind::Custom(Arc::new(start)), Duration::ZERO)
    }

    /// Any [`backon`] strategy, such as a tuned `backon::ExponentialBuilder`.
    ///
    /// Note that backon's builders stop after 3 delays unless told
    /// `without_max_times()`.
    pub fn from_backon<B>(builder: B) -> Self
    where
        B: BackoffBuilder + Clone + Send + Sync + 'static,
        B::Backoff: Send + 'static,
    {
        Backoff::custom(move || builder.clone().build())
    }

    /// The first delay (exponential, Fibonacci), or the delay (constant).
    #[must_use]
    pub const fn min_delay(mut self, delay: Duration) -> Self {
        self.min = delay;
        self
    }

    /// The longest delay (exponential, Fibonacci). 30 s by default.
    #[must_use]
    pub const fn max_delay(mut self, delay: Duration) -> Self {
        self.max = delay;
        self
    }

    /// How much each delay grows (exponential). 2 by default.
    #[must_use]
    pub const fn factor(mut self, factor: f32) -> Self {
        self.factor = factor;
        self
    }

    /// Adds to each delay a random part of itself, from 0 % up to 100 %.
    #[must_use]
    pub const fn jitter(mut self) -> Self {
        self.jitter = true;
        self
    }

    /// Adds jitter drawn from a seeded generator, for reproducible delays.
    #[must_use]
    pub const fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter = true;
        self.seed = Some(seed);
        self
    }

    /// Gives up after this many delays: the next failure is final.
    #[must_use]
    pub const fn max_times(mut self, times: usize) -> Self {
        self.max_times = Some(times);
        self
    }

    /// Checks the parameters, saying what is wrong.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let named = matches!(self.kind, Kind::Exponential | Kind::Fibonacci);
        if named && self.min > self.max {
            return Err(format!(
                "backoff min_delay ({:?}) is longer than its max_delay ({:?})",
                self.min, self.max
            ));
        }
        if matches!(self.kind, Kind::Exponential)
            && !(self.factor >= 1.0 && self.factor.is_finite())
        {
            return Err(format!(
                "backoff factor must be a finite number of at least 1, not {}",
                self.factor
            ));
        }
        Ok(())
    }

    /// Starts a fresh sequence of delays.
    pub(crate) fn start(&self) -> Delays {
        // backon computes in f32 (100 ms × 2 = 200.000003 ms), which tokio's
        // millisecond timer would round up to 201 ms: round to the millisecond.
        let capped = |delays: Delays| -> Delays {
            let delays: Delays = match self.kind {
                Kind::Custom(_) => delays,
                _ => Box::new(delays.map(round_to_millis)),
            };
            match self.max_times {
                Some(n) => Box::new(delays.take(n)),
                None => delays,
            }
        };
        match &self.kind {
            Kind::Zero => capped(Box::new(std::iter::repeat(Duration::ZERO))),
            Kind::Custom(start) => capped(start()),
            Kind::Constant => {
                let mut b = ConstantBuilder::new()
                    .with_delay(self.min)
                    .without_max_times();
                if self.jitter {
                    b = self.seed.map_or(b.with_jitter(), |s| b.with_jitter_seed(s));
                }
                capped(Box::new(b.build()))
            }
            Kind::Exponential => {
                let mut b = ExponentialBuilder::new()
                    .with_min_delay(self.min)
                    .with_max_delay(self.max)
                    .with_factor(self.factor)
                    .without_max_times();
                if self.jitter {
                    b = self.seed.map_or(b.with_jitter(), |s| b.with_jitter_seed(s));
                }
                capped(Box::new(b.build()))
            }
            Kind::Fibonacci => {
                let mut b = FibonacciBuilder::new()
                    .with_min_delay(self.min)
                    .with_max_delay(self.max)
                    .without_max_times();
                if self.jitter {
                    b = self.seed.map_or(b.with_jitter(), |s| b.with_jitter_seed(s));
                }
                capped(Box::new(b.build()))
            }
        }
    }
}

fn round_to_millis(delay: Duration) -> Duration {
    if delay < Duration::from_millis(1) {
        return delay;
    }
    let millis = delay.as_secs_f64() * 1000.0;
    Duration::from_millis(millis.round() as u64)
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

/// As the derive spells it: `exponential(min = 100ms, max = 30s, jitter)`.
impl fmt::Display for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Zero => f.write_str("zero")?,
            Kind::Custom(_) => f.write_str("custom")?,
            Kind::Constant => write!(f, "constant(delay = {:?}", self.min)?,
            Kind::Exponential => write!(
                f,
                "exponential(min = {:?}, max = {:?}, factor = {}",
                self.min, self.max, self.factor
            )?,
            Kind::Fibonacci => {
                write!(f, "fibonacci(min = {:?}, max = {:?}", self.min, self.max)?;
            }
        }
        if matches!(self.kind, Kind::Zero | Kind::Custom(_)) {
            return match self.max_times {
                Some(n) => write!(f, "(max_times = {n})"),
                None => Ok(()),
            };
        }
        if self.jitter {
            f.write_str(", jitter")?;
        }
        if let Some(n) = self.max_times {
            write!(f, ", max_times = {n}")?;
        }
        f.write_str(")")
    }
}

#[cfg(feature = "backoff")]
#[cfg_attr(docsrs, doc(cfg(feature = "backoff")))]
impl Backoff {
    /// Adapts a strategy of the [`backoff`](::backoff) crate (feature
    /// `backoff`): `new` makes a fresh strategy at the first failure and after
    /// every reset; its `next_backoff()` returning `None` makes the failure
    /// final. The `backoff` crate is unmaintained (RUSTSEC-2025-0012), which
    /// is why this adapter is opt-in.
    ///
    /// ```
    /// use orchestra::Backoff;
    /// use std::time::Duration;
    ///
    /// let backoff = Backoff::from_backoff_crate(|| {
    ///     backoff::backoff::Constant::new(Duration::from_millis(250))
    /// });
    /// # let _ = backoff;
    /// ```
    pub fn from_backoff_crate<F, B>(new: F) -> Self
    where
        F: Fn() -> B + Send + Sync + 'static,
        B: ::backoff::backoff::Backoff + Send + 'static,
    {
        Backoff::custom(move || {
            let mut strategy = new();
            std::iter::from_fn(move || strategy.next_backoff())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(b: &Backoff, n: usize) -> Vec<u64> {
        b.start()
            .take(n)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .collect()
    }

    #[test]
    fn bare_strategies_follow_their_sequences_and_never_end() {
        assert_eq!(first(&Backoff::zero(), 3), [0, 0, 0]);
        let constant = Backoff::constant(Duration::from_millis(5));
        assert_eq!(first(&constant, 3), [5, 5, 5]);
        assert_eq!(
            first(&Backoff::exponential(), 10),
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000]
        );
        assert_eq!(
            first(&Backoff::fibonacci(), 6),
            [100, 100, 200, 300, 500, 800]
        );
        assert_eq!(Backoff::exponential().start().take(1000).count(), 1000);
    }

    #[test]
    fn max_times_ends_the_sequence() {
        assert_eq!(first(&Backoff::zero().max_times(2), 10), [0, 0]);
        assert_eq!(
            first(&Backoff::exponential().max_times(3), 10),
            [100, 200, 400]
        );
    }

    #[test]
    fn jitter_stays_within_one_delay() {
        let b = Backoff::constant(Duration::from_millis(100)).jitter();
        for delay in first(&b, 200) {
            assert!((100..=200).contains(&delay), "{delay}");
        }
    }

    #[cfg(feature = "backoff")]
    #[test]
    fn the_backoff_crate_adapter_yields_its_delays_and_ends_with_it() {
        use ::backoff::backoff::{Constant, Stop};
        let constant = Backoff::from_backoff_crate(|| Constant::new(Duration::from_millis(7)));
        assert_eq!(first(&constant, 3), [7, 7, 7]);
        let stop = Backoff::from_backoff_crate(|| Stop {});
        assert_eq!(first(&stop, 3), Vec::<u64>::new());
        let exponential = Backoff::from_backoff_crate(|| {
            ::backoff::ExponentialBackoffBuilder::new()
                .with_initial_interval(Duration::from_millis(100))
                .with_multiplier(2.0)
                .with_randomization_factor(0.0)
                .with_max_elapsed_time(None)
                .build()
        });
        assert_eq!(first(&exponential, 4), [100, 200, 400, 800]);
    }

    #[test]
    fn every_restart_policy_parses_back_from_its_display() {
        for policy in Restart::ALL {
            assert_eq!(policy.to_string().parse::<Restart>(), Ok(policy));
        }
        let err = "On-Failure".parse::<Restart>().unwrap_err();
        assert_eq!(err.input(), "On-Failure");
        assert!(err.to_string().ends_with("`never`, `on-failure`, `always`"));
    }

    #[test]
    fn bad_parameters_are_rejected_with_a_reason() {
        let b = Backoff::exponential()
            .min_delay(Duration::from_secs(2))
            .max_delay(Duration::from_secs(1));
        assert!(b.validate().unwrap_err().contains("min_delay"));
        assert!(Backoff::exponential().factor(0.5).validate().is_err());
        assert!(Backoff::exponential().factor(f32::NAN).validate().is_err());
        assert!(Backoff::fibonacci().validate().is_ok());
    }
}
