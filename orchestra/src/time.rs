//! Adding a configured duration to a point in time without overflow.
//!
//! Every option that takes a [`Duration`] accepts [`Duration::MAX`] (the
//! derive parses `timeout = "18446744073709551615s"`), which no clock can
//! add: `Instant + Duration::MAX` panics. Deadlines made of such durations
//! go through [`later`], which saturates at a far future instead, as
//! tokio's own `sleep` does.

use std::time::{Duration, SystemTime};

/// As good as never: about 30 years (tokio's far future).
pub(crate) const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// A point in time that a duration can be added to.
pub(crate) trait Moment: Copy {
    fn checked_add(self, duration: Duration) -> Option<Self>;
}

impl Moment for tokio::time::Instant {
    fn checked_add(self, duration: Duration) -> Option<Self> {
        tokio::time::Instant::checked_add(&self, duration)
    }
}

impl Moment for std::time::Instant {
    fn checked_add(self, duration: Duration) -> Option<Self> {
        std::time::Instant::checked_add(&self, duration)
    }
}

impl Moment for SystemTime {
    fn checked_add(self, duration: Duration) -> Option<Self> {
        SystemTime::checked_add(&self, duration)
    }
}

/// `at + after`, or at most [`FAR`] after `at` when that overflows.
pub(crate) fn later<T: Moment>(at: T, after: Duration) -> T {
    at.checked_add(after)
        .or_else(|| at.checked_add(FAR))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[test]
    fn a_duration_too_long_for_the_clock_saturates_at_the_far_future() {
        let now = Instant::now();
        assert_eq!(later(now, Duration::MAX), now + FAR);
        assert_eq!(
            later(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        let wall = SystemTime::now();
        assert_eq!(later(wall, Duration::MAX), wall + FAR);
    }
}
