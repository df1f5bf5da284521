//! The top of a run when it is a conductor with the default options: run
//! in place under the run's root seat, as the one member of a group would
//! be, without the group.
//!
//! A group of one such member does nothing that the member does not do
//! itself but relay the run's stop to it: no order, no restarts, no task
//! to await, no readiness to watch, no option to check. So the top
//! conductor gets its seat and its events from here, and the run's stop
//! token for its own (reported stopping before its group sees it), and a
//! run pays for one group, its own. A member with options of its own goes
//! through a group of one, as any other.

use std::future::poll_fn;
use std::sync::Arc;

use super::group::{drive_group, stop_timeout};
use super::member::{Body, Member};
use super::seat::{Grouped, Seat, Section};
use crate::error::Error;
use crate::options::DEFAULT_TIMEOUT;
use crate::status::EventKind;

/// Whether `member`, at the top of a run, runs here: a conductor lent to
/// the run, with the default options.
pub(super) fn runs_in_place(member: &Member<'_>) -> bool {
    matches!(member.body, Body::Group(_)) && member.options.is_default()
}

/// Runs the conductor `member` (see [`runs_in_place`]) under the root seat
/// `root` until it is done, or until the run's stop has stopped it, with
/// the events a group of this one member would report; then drops its
/// players, returning the panics of their `Drop`s.
pub(super) async fn conduct(
    member: &mut Member<'_>,
    root: &Arc<Seat>,
) -> (Result<(), Error>, Vec<Error>) {
    let stop_timeout = stop_timeout(member, DEFAULT_TIMEOUT);
    let Member {
        name,
        options,
        body: Body::Group(group),
    } = member
    else {
        return (Ok(()), Vec::new());
    };
    let shutdown = &root.root().shutdown;
    let stopping = shutdown.stopping();
    let result = if stopping.is_cancelled() {
        Ok(())
    } else {
        // Its stop token is the run's: nothing else stops it, and its
        // stop is reported before its group is polled to see it.
        let section = Section::below(root, root.token().clone());
        let seat = Seat::member(
            name.clone(),
            true,
            options.clone(),
            stop_timeout,
            Grouped {
                index: 0,
                runs_before: 0,
                reloads_seen: root.root().reloads.generation(),
                to_group: None,
                section: &section,
                stops_first: true,
            },
        );
        seat.emit(0, None, || EventKind::Starting);
        let timeout = seat.stop_timeout_or(|| DEFAULT_TIMEOUT);
        let abort = shutdown.forcing().child_token();
        let mut run = std::pin::pin!(drive_group(group, &seat, &abort, timeout));
        // The stop is read, not waited for: while its run is pending,
        // `drive_group` waits for its seat's token (the run's stop token),
        // which wakes this future as the stop comes.
        let mut asked = false;
        let result = poll_fn(|cx| {
            if !asked && stopping.is_cancelled() {
                asked = true;
                tracing::debug!(target: "orchestra", conductor = "", "stop requested");
                seat.emit(0, None, || EventKind::Stopping);
            }
            run.as_mut().poll(cx)
        })
        .await;
        // Only a monitor waits for its readiness.
        if root.root().monitor.is_some() {
            seat.ready.set();
        }
        result
    };
    // The players end here, at the end of the run: a panic in a `Drop` is
    // one of its failures.
    (result, group.dismiss(name))
}
