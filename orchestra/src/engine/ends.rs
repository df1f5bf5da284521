//! How the tasks of a group's owned members hand their ends to the group,
//! without a future of their own per task ([`Ends`]): each task holds an
//! [`EndNotice`], through which its future, as it ends, queues the
//! member's index with what the task gives back, and wakes the group. A
//! task whose future is dropped before that (aborted, or panicking) queues
//! its index alone, for the group to ask its handle how it ended.
//!
//! A group that waits for every task to end is woken by the last end, and
//! by a batch of them: on worker threads, by the first half of a stop's
//! ends too, so that it takes those while the others still come, rather
//! than all of them after the last ([`Ends::wake_at_last`]).
//!
//! A stop brings every end at once, and the group makes the room for them
//! first ([`Ends::make_room`]), on its own thread: a task then queues its
//! end without allocating. A task that grows the queue allocates and
//! copies it under the lock that every other ending task waits for, on
//! whichever worker thread runs it, where glibc keeps an arena per thread:
//! after other work had freed much there (tokio-graceful-shutdown, in the
//! benchmark's `multi_thread` table), that added about 0.5 ms to each stop
//! of 1 000 players, and nothing with a single arena for all threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use futures_util::task::AtomicWaker;
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::lock::lock;

/// How many ends queued wake a group that waits for the last one: it
/// takes them in batches, so that the queue stays short (not the ends of
/// all its members at once, which it would copy as it grows).
const BATCH: usize = 256;

/// The most ends a stop makes room for: a batch, and another for those
/// that come while the group wakes to take the first.
const ROOM: usize = 2 * BATCH;

/// The members of one run of a group whose tasks ended, in the order they
/// ended, with what each gave back (`T`); shared by the group and its owned
/// members' tasks.
pub(crate) struct Ends<T> {
    queue: Mutex<Queue<T>>,
    group: AtomicWaker,
    /// The room made for a stop's ends ([`Ends::make_room`]), which the
    /// group's queue of ends taken also has, to trade places with this.
    room: AtomicUsize,
}

/// The ends queued, and what a task needs to know, as it queues its own,
/// to wake the group or not: counted under the queue's lock, which the
/// task takes anyway, rather than in atomics of their own (two atomic
/// operations less per task).
struct Queue<T> {
    ended: Vec<(usize, Option<T>)>,
    /// How many tasks told their end, ever.
    told: usize,
    /// How many notices the group made, once it waits for them all: then
    /// only the last end wakes it, or `batch` of them.
    all: Option<usize>,
    /// How many ends queued wake a group that waits for them all.
    batch: usize,
}

impl<T> Default for Ends<T> {
    fn default() -> Self {
        Ends {
            queue: Mutex::new(Queue {
                ended: Vec::new(),
                told: 0,
                all: None,
                batch: BATCH,
            }),
            group: AtomicWaker::new(),
            room: AtomicUsize::new(0),
        }
    }
}

impl<T> Ends<T> {
    /// The notice for the task of member `i`.
    pub(crate) fn notice(self: &Arc<Self>, i: usize) -> EndNotice<T> {
        EndNotice {
            ends: Some(self.clone()),
            i,
        }
    }

    /// From now on, wakes the group at the last end only, or once a
    /// [`BATCH`] is queued (not at each end): for a group that has asked
    /// every task to stop, and only waits for them all, the `notices` it
    /// made. Its other wakers (a timer) let it take the ends queued
    /// meanwhile.
    ///
    /// On worker threads, half of the ends still to come wake it too: it
    /// takes them while the other tasks end, rather than every end after
    /// the last (in the benchmark, a stop of 100 players on two workers
    /// waited about 20 µs for the group to take the 100 ends after the
    /// last). On one thread nothing runs meanwhile, and that wake would
    /// only cost the group a turn.
    pub(crate) fn wake_at_last(&self, notices: usize) {
        let on_workers = Handle::try_current()
            .is_ok_and(|runtime| runtime.runtime_flavor() != RuntimeFlavor::CurrentThread);
        let mut queue = lock(&self.queue);
        queue.all = Some(notices);
        if on_workers {
            queue.batch = BATCH.min(notices.saturating_sub(queue.told).div_ceil(2));
        }
    }

    /// Makes room in the queue for `ends` more ends (at most [`ROOM`]), on
    /// the caller's thread: for a group about to stop that many tasks, so
    /// that they queue their ends without allocating (see the module's
    /// documentation). The group's own queue gets the same room as it next
    /// takes the ends ([`Ends::take`]).
    pub(crate) fn make_room(&self, ends: usize) {
        let room = ends.min(ROOM);
        self.room.store(room, Ordering::Relaxed);
        // Nothing is allocated if the queue has that room already.
        lock(&self.queue).ended.reserve(room);
    }

    /// Queues the end of member `i`'s task, and wakes the group if it
    /// waits for it. Inlined: what a task gives back is not copied on the
    /// way (a call per end, with every owned member's task).
    #[inline(always)]
    fn tell(&self, i: usize, given: Option<T>) {
        let wake = {
            let mut queue = lock(&self.queue);
            queue.ended.push((i, given));
            queue.told += 1;
            match queue.all {
                None => true,
                Some(all) => queue.told == all || queue.ended.len() >= queue.batch,
            }
        };
        if wake {
            self.group.wake();
        }
    }

    /// Moves the ends queued since the last call to `into`, which is
    /// empty: the two queues trade places, so that the lock is held for
    /// no copy. With none, `waker` is woken at the next end.
    pub(crate) fn take(&self, into: &mut Vec<(usize, Option<T>)>, waker: &Waker) {
        self.group.register(waker);
        debug_assert!(into.is_empty(), "the ends taken before are not handled yet");
        // The room made for a stop goes into the queue in `into`'s place.
        into.reserve(self.room.load(Ordering::Relaxed));
        std::mem::swap(&mut lock(&self.queue).ended, into);
    }
}

/// Held by an owned member's task: hands its group what the task gives
/// back ([`EndNotice::ended`]), or, dropped without, tells the group the
/// task ended all the same.
///
/// Two words: it lives in every owned task's future, whose tokio cell
/// grows by steps of 128 bytes.
pub(crate) struct EndNotice<T> {
    /// `None` once it told.
    ends: Option<Arc<Ends<T>>>,
    i: usize,
}

impl<T> EndNotice<T> {
    /// The task's future ends with `given`: hands it to the group, which
    /// then need not read the task's output.
    #[inline(always)]
    pub(crate) fn ended(mut self, given: T) {
        if let Some(ends) = self.ends.take() {
            ends.tell(self.i, Some(given));
        }
    }
}

impl<T> Drop for EndNotice<T> {
    fn drop(&mut self) {
        if let Some(ends) = self.ends.take() {
            ends.tell(self.i, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use super::{BATCH, Ends, ROOM};
    use crate::lock::lock;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn every_end_wakes_the_group_until_it_waits_for_the_last() {
        let ends = Arc::new(Ends::<&str>::default());
        let mut notices: Vec<_> = (0..4).map(|i| ends.notice(i)).collect();
        let take = |into: &mut Vec<_>| {
            let (count, waker) = counting();
            ends.take(into, &waker);
            count
        };
        let mut taken = Vec::new();

        let count = take(&mut taken);
        notices.remove(0).ended("first");
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "an end wakes the group");

        ends.wake_at_last(4);
        taken.clear();
        let count = take(&mut taken);
        assert_eq!(taken, [(0, Some("first"))]);
        taken.clear();
        notices.remove(0).ended("second");
        drop(notices.remove(0)); // lost: aborted, say
        assert_eq!(count.0.load(Ordering::Relaxed), 0, "not before the last");
        notices.remove(0).ended("last");
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "the last end wakes it");

        take(&mut taken);
        assert_eq!(taken, [(1, Some("second")), (2, None), (3, Some("last"))]);
    }

    #[test]
    fn a_group_waiting_for_the_last_end_is_woken_by_a_batch() {
        let ends = Arc::new(Ends::<usize>::default());
        let mut notices: Vec<_> = (0..=BATCH).map(|i| ends.notice(i)).collect();
        ends.wake_at_last(BATCH + 1);
        let (count, waker) = counting();
        ends.take(&mut Vec::new(), &waker);

        for i in 0..BATCH - 1 {
            notices.remove(0).ended(i);
        }
        assert_eq!(count.0.load(Ordering::Relaxed), 0);
        notices.remove(0).ended(BATCH - 1);
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "a batch is queued");

        let mut taken = Vec::new();
        ends.take(&mut taken, &waker);
        assert_eq!(taken.len(), BATCH);
        notices.remove(0).ended(BATCH);
        assert_eq!(count.0.load(Ordering::Relaxed), 2, "the last end");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_worker_threads_half_of_the_ends_to_come_wake_the_group_too() {
        let ends = Arc::new(Ends::<usize>::default());
        let mut notices: Vec<_> = (0..11).map(|i| ends.notice(i)).collect();
        notices.remove(0).ended(0); // before the stop
        ends.wake_at_last(11);
        let (count, waker) = counting();
        let mut taken = Vec::new();
        ends.take(&mut taken, &waker);
        taken.clear();

        for i in 1..5 {
            notices.remove(0).ended(i);
        }
        assert_eq!(count.0.load(Ordering::Relaxed), 0);
        notices.remove(0).ended(5);
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "5 of the 10 to come");

        ends.take(&mut taken, &waker);
        assert_eq!(taken.len(), 5);
        for i in 6..10 {
            notices.remove(0).ended(i);
        }
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "not before the last");
        notices.remove(0).ended(10);
        assert_eq!(count.0.load(Ordering::Relaxed), 2, "the last end");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn on_one_thread_only_the_last_end_wakes_the_group() {
        let ends = Arc::new(Ends::<usize>::default());
        let notices: Vec<_> = (0..10).map(|i| ends.notice(i)).collect();
        ends.wake_at_last(10);
        let (count, waker) = counting();
        ends.take(&mut Vec::new(), &waker);

        let mut notices = notices.into_iter();
        for (i, notice) in notices.by_ref().take(9).enumerate() {
            notice.ended(i);
        }
        assert_eq!(count.0.load(Ordering::Relaxed), 0);
        notices.for_each(|notice| notice.ended(9));
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "the last end");
    }

    #[test]
    fn a_stop_makes_room_for_its_ends_in_both_queues() {
        let ends = Arc::new(Ends::<usize>::default());
        let mut notices: Vec<_> = (0..10).map(|i| ends.notice(i)).collect();
        ends.make_room(10);
        let room = lock(&ends.queue).ended.as_ptr();
        for i in 0..10 {
            notices.remove(0).ended(i);
        }
        assert_eq!(
            lock(&ends.queue).ended.as_ptr(),
            room,
            "the tasks queued their ends without growing the queue"
        );

        let (_, waker) = counting();
        let mut taken = Vec::new();
        ends.take(&mut taken, &waker);
        assert_eq!(taken.len(), 10);
        assert!(
            lock(&ends.queue).ended.capacity() >= 10,
            "the queue that took the place of the first has the same room"
        );
    }

    #[test]
    fn the_room_of_a_stop_is_two_batches_at_most() {
        let ends = Ends::<usize>::default();
        ends.make_room(1_000_000);
        let capacity = lock(&ends.queue).ended.capacity();
        assert!((ROOM..2 * ROOM).contains(&capacity), "{capacity}");
    }
}
