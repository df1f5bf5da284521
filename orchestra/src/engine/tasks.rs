//! The tasks of a group's owned members, as the group awaits them
//! ([`Tasks`]): a handle per member and one queue of those that ended, so
//! that a task costs the group no future, box or timer of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tokio::task::{JoinError, JoinHandle, coop};

use super::ends::Ends;
use super::member::{OwnedPlayer, Played};
use super::seat::Seat;

/// The tasks of one run of a group, by member index. A task still in it
/// when the group's run ends is aborted.
pub(super) struct Tasks {
    /// Plain handles, aborted by `Drop` if still here: a task joined is
    /// not aborted on the way out (which an `AbortOnDropHandle` would).
    handles: Vec<Option<JoinHandle<()>>>,
    ends: Arc<Ends<Played>>,
    /// Ends taken from `ends`, handed on from `next`.
    ended: Vec<(usize, Option<Played>)>,
    next: usize,
    /// Members whose task ended without giving its player back (aborted,
    /// or panicking): their handle tells how.
    lost: Vec<usize>,
    /// The tasks spawned (each with its notice).
    spawned: usize,
    /// The group waits for the last end (see [`Tasks::wake_at_last`]).
    at_last: bool,
}

/// Where the tasks of one run of a group queue their ends, for the group
/// to make room in before it stops them ([`Ends::make_room`]).
pub(super) struct Room(Arc<Ends<Played>>);

impl Room {
    /// Makes room for the ends of `tasks` tasks.
    pub(super) fn make(&self, tasks: usize) {
        self.0.make_room(tasks);
    }
}

/// How an owned member's task ended: it gave its player back, with how its
/// run ended; or it did not, with what its handle told (`None`: nothing,
/// as for an abort).
pub(super) type Joined = Result<Played, Option<JoinError>>;

impl Tasks {
    pub(super) fn new(members: usize) -> Self {
        Tasks {
            handles: (0..members).map(|_| None).collect(),
            ends: Arc::default(),
            ended: Vec::new(),
            next: 0,
            lost: Vec::new(),
            spawned: 0,
            at_last: false,
        }
    }

    /// Where the tasks queue their ends.
    pub(super) fn room(&self) -> Room {
        Room(self.ends.clone())
    }

    /// Runs member `i`'s player on a task of its own.
    pub(super) fn spawn(&mut self, i: usize, player: Pin<Box<dyn OwnedPlayer>>, seat: Arc<Seat>) {
        self.handles[i] = Some(player.spawn(seat, self.ends.notice(i)));
        self.spawned += 1;
    }

    /// The tasks not joined yet, by member index.
    pub(super) fn running(&self) -> impl Iterator<Item = (usize, &JoinHandle<()>)> {
        self.handles
            .iter()
            .enumerate()
            .filter_map(|(i, handle)| Some((i, handle.as_ref()?)))
    }

    /// From now on, the group is woken when the last task ends, not at
    /// each end: see [`Ends::wake_at_last`].
    pub(super) fn wake_at_last(&mut self) {
        if !std::mem::replace(&mut self.at_last, true) {
            self.ends.wake_at_last(self.spawned);
        }
    }

    /// Hands every task that ended to `joined`, in the order they ended,
    /// with what it gave back: ready once it handed one at least, so that
    /// the group takes a batch of ends in one turn of its loop, with no
    /// call per end. Each costs the group's task a unit of its tokio
    /// budget, as the join of a handle would; out of budget, the rest wait
    /// for the next poll.
    pub(super) fn poll_ended(
        &mut self,
        cx: &mut TaskContext<'_>,
        mut joined: impl FnMut(usize, Joined),
    ) -> Poll<()> {
        let mut any = false;
        loop {
            if let Some((i, given)) = self.ended.get_mut(self.next) {
                let i = *i;
                let Poll::Ready(proceed) = coop::poll_proceed(cx) else {
                    break;
                };
                self.next += 1;
                match given.take() {
                    Some(played) => {
                        proceed.made_progress();
                        self.handles[i] = None;
                        joined(i, Ok(played));
                        any = true;
                    }
                    None => self.lost.push(i),
                }
                continue;
            }
            self.ended.clear();
            self.next = 0;
            // A task tells it was lost as its future is dropped, before
            // tokio stores how it ended: a handle not ready yet wakes the
            // group once it is.
            for k in (0..self.lost.len()).rev() {
                let i = self.lost[k];
                let Some(handle) = &mut self.handles[i] else {
                    self.lost.swap_remove(k);
                    continue;
                };
                if let Poll::Ready(ended) = Pin::new(handle).poll(cx) {
                    self.lost.swap_remove(k);
                    self.handles[i] = None;
                    joined(i, Err(ended.err()));
                    any = true;
                }
            }
            self.ends.take(&mut self.ended, cx.waker());
            if self.ended.is_empty() {
                break;
            }
        }
        if any { Poll::Ready(()) } else { Poll::Pending }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for handle in self.handles.iter().flatten() {
            handle.abort();
        }
    }
}
