//! The identifier of one run of one player.

use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies one run of one player, unique within the process.
///
/// It appears in the `execution_id` field of the player's tracing span.
///
/// Never zero, so that an `Option<ExecutionId>` is no larger than it (a
/// player's task keeps one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExecutionId(NonZeroU64);

impl ExecutionId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        // 2^64 runs would take centuries; past them, the numbering starts
        // over rather than yield zero.
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        ExecutionId(NonZeroU64::new(id).unwrap_or(NonZeroU64::MIN))
    }

    /// The identifier as a number.
    pub fn get(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
