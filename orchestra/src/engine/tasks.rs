//! The tasks of a group's owned members, as the group awaits them
//! ([`Tasks`]): a handle per member and one queue of those that ended, so
//! that a task costs the group no future, box or timer of its own.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures_util::FutureExt;
use tokio::task::JoinError;
use tokio_util::task::AbortOnDropHandle;

use super::ends::Ends;
use super::member::{DynPlayer, Played};
use super::seat::Seat;

/// The tasks of one run of a group, by member index. A task still in it
/// when the group's run ends is aborted.
pub(super) struct Tasks {
    handles: Vec<Option<AbortOnDropHandle<Played>>>,
    ends: Arc<Ends>,
    /// Members whose task ended, the output not read yet.
    ended: Vec<usize>,
}

impl Tasks {
    pub(super) fn new(members: usize) -> Self {
        Tasks {
            handles: (0..members).map(|_| None).collect(),
            ends: Arc::default(),
            ended: Vec::new(),
        }
    }

    /// Runs member `i`'s player on a task of its own.
    pub(super) fn spawn(&mut self, i: usize, player: Box<dyn DynPlayer>, seat: Arc<Seat>) {
        let task = player.spawn_dyn(seat, self.ends.notice(i));
        self.handles[i] = Some(AbortOnDropHandle::new(task));
    }

    /// The tasks not joined yet, by member index.
    pub(super) fn running(&self) -> impl Iterator<Item = (usize, &AbortOnDropHandle<Played>)> {
        self.handles
            .iter()
            .enumerate()
            .filter_map(|(i, handle)| Some((i, handle.as_ref()?)))
    }

    /// The next task that ended, with what it gave back.
    pub(super) fn poll_next(
        &mut self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<(usize, Result<Played, JoinError>)> {
        loop {
            // A task tells it ended just before tokio stores its output: a
            // handle not ready yet wakes the group once it is.
            let mut k = 0;
            while k < self.ended.len() {
                let i = self.ended[k];
                let Some(handle) = &mut self.handles[i] else {
                    self.ended.swap_remove(k);
                    continue;
                };
                if let Poll::Ready(joined) = handle.poll_unpin(cx) {
                    self.ended.swap_remove(k);
                    self.handles[i] = None;
                    return Poll::Ready((i, joined));
                }
                k += 1;
            }
            let before = self.ended.len();
            self.ends.take(&mut self.ended, cx.waker());
            if self.ended.len() == before {
                return Poll::Pending;
            }
        }
    }
}
