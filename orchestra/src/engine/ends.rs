//! How the tasks of a group's owned members hand their ends to the group,
//! without a future of their own per task ([`Ends`]): each task holds an
//! [`EndNotice`], through which its future, as it ends, queues the
//! member's index with what the task gives back, and wakes the group. A
//! task whose future is dropped before that (aborted, or panicking) queues
//! its index alone, for the group to ask its handle how it ended.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use futures_util::task::AtomicWaker;

/// The members of one run of a group whose tasks ended, in the order they
/// ended, with what each gave back (`T`); shared by the group and its owned
/// members' tasks.
pub(crate) struct Ends<T> {
    ended: Mutex<Vec<(usize, Option<T>)>>,
    group: AtomicWaker,
}

impl<T> Default for Ends<T> {
    fn default() -> Self {
        Ends {
            ended: Mutex::default(),
            group: AtomicWaker::new(),
        }
    }
}

impl<T> Ends<T> {
    /// The notice for the task of member `i`.
    pub(crate) fn notice(self: &Arc<Self>, i: usize) -> EndNotice<T> {
        EndNotice {
            ends: self.clone(),
            i,
            told: false,
        }
    }

    /// Moves the ends queued since the last call to `into`, which is
    /// empty: the two queues trade places, so that the lock is held for
    /// no copy. With none, `waker` is woken at the next end.
    pub(crate) fn take(&self, into: &mut Vec<(usize, Option<T>)>, waker: &Waker) {
        self.group.register(waker);
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        if into.is_empty() {
            std::mem::swap(&mut *ended, into);
        } else {
            into.append(&mut ended);
        }
    }
}

/// Held by an owned member's task: hands its group what the task gives
/// back ([`EndNotice::ended`]), or, dropped without, tells the group the
/// task ended all the same.
pub(crate) struct EndNotice<T> {
    ends: Arc<Ends<T>>,
    i: usize,
    told: bool,
}

impl<T> EndNotice<T> {
    /// The task's future ends with `given`: hands it to the group, which
    /// then need not read the task's output.
    pub(crate) fn ended(mut self, given: T) {
        self.tell(Some(given));
    }

    fn tell(&mut self, given: Option<T>) {
        self.told = true;
        self.ends
            .ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((self.i, given));
        self.ends.group.wake();
    }
}

impl<T> Drop for EndNotice<T> {
    fn drop(&mut self) {
        if !self.told {
            self.tell(None);
        }
    }
}
