//! A set of futures polled as they wake ([`Unordered`]), made at the first
//! push: most runs of a group never push any (its owned players run on
//! tasks of their own), and an empty `FuturesUnordered` costs two
//! allocations.

use std::future::poll_fn;
use std::task::Poll;

use futures_util::stream::{FuturesUnordered, StreamExt};

/// A `FuturesUnordered`, made at the first push.
pub(super) struct Unordered<F>(Option<FuturesUnordered<F>>);

impl<F: Future + Unpin> Unordered<F> {
    pub(super) fn new() -> Self {
        Unordered(None)
    }

    pub(super) fn push(&mut self, future: F) {
        self.0
            .get_or_insert_with(FuturesUnordered::new)
            .push(future);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(FuturesUnordered::is_empty)
    }

    /// The output of the next future done; `None` at once if there is
    /// none left (as a `FuturesUnordered` ends).
    pub(super) async fn next(&mut self) -> Option<F::Output> {
        poll_fn(|cx| match &mut self.0 {
            Some(set) => set.poll_next_unpin(cx),
            None => Poll::Ready(None),
        })
        .await
    }
}
