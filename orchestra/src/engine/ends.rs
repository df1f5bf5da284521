//! How the tasks of a group's owned members tell it that they ended,
//! without a future of their own per task ([`Ends`]): each task holds an
//! [`EndNotice`] that, dropped as the task's future ends (it returned, was
//! aborted or panicked), queues the member's index and wakes the group.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use futures_util::task::AtomicWaker;

/// The members of one run of a group whose tasks ended, in the order they
/// ended; shared by the group and its owned members' tasks.
#[derive(Default)]
pub(crate) struct Ends {
    ended: Mutex<Vec<usize>>,
    group: AtomicWaker,
}

impl Ends {
    /// The notice for the task of member `i`.
    pub(crate) fn notice(self: &Arc<Self>, i: usize) -> EndNotice {
        EndNotice {
            ends: self.clone(),
            i,
        }
    }

    /// Moves the members whose tasks ended since the last call to `into`;
    /// with none, `waker` is woken at the next end.
    pub(crate) fn take(&self, into: &mut Vec<usize>, waker: &Waker) {
        self.group.register(waker);
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        into.append(&mut ended);
    }
}

/// Held by an owned member's task: tells its group when the task's future
/// is dropped, however it ended.
pub(crate) struct EndNotice {
    ends: Arc<Ends>,
    i: usize,
}

impl Drop for EndNotice {
    fn drop(&mut self) {
        self.ends
            .ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.i);
        self.ends.group.wake();
    }
}
