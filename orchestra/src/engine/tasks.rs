//! The tasks of a group's owned members, as the group awaits them
//! ([`Tasks`]): a handle per member and one queue of those that ended, so
//! that a task costs the group no future, box or timer of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tokio::task::{JoinError, JoinHandle};

use super::ends::Ends;
use super::member::{DynPlayer, Played};
use super::seat::Seat;

/// The tasks of one run of a group, by member index. A task still in it
/// when the group's run ends is aborted.
pub(super) struct Tasks {
    /// Plain handles, aborted by `Drop` if still here: a task joined is
    /// not aborted on the way out (which an `AbortOnDropHandle` would).
    handles: Vec<Option<JoinHandle<Played>>>,
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
        self.handles[i] = Some(player.spawn_dyn(seat, self.ends.notice(i)));
    }

    /// The tasks not joined yet, by member index.
    pub(super) fn running(&self) -> impl Iterator<Item = (usize, &JoinHandle<Played>)> {
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
            // handle not ready yet wakes the group once it is. From the
            // back: the one found ready leaves without moving the others.
            for k in (0..self.ended.len()).rev() {
                let i = self.ended[k];
                let Some(handle) = &mut self.handles[i] else {
                    self.ended.swap_remove(k);
                    continue;
                };
                if let Poll::Ready(joined) = Pin::new(handle).poll(cx) {
                    self.ended.swap_remove(k);
                    self.handles[i] = None;
                    return Poll::Ready((i, joined));
                }
            }
            let before = self.ended.len();
            self.ends.take(&mut self.ended, cx.waker());
            if self.ended.len() == before {
                return Poll::Pending;
            }
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for handle in self.handles.iter().flatten() {
            handle.abort();
        }
    }
}
