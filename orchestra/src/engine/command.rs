//! Carrying out a control handle's orders in a member's supervision loop:
//! a run raced against the member's commands, a graceful stop of one run
//! within the member's stop timeout, and the wait of a stopped member for
//! the order to start again.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::control::{Command, Order};
use super::seat::Seat;
use crate::error::{Error, Straggler};
use crate::status::EventKind;

/// How a run under commands ended.
pub(super) enum Commanded<T> {
    /// By itself.
    Ended(T),
    /// Stopped by an order: how the run ended, and where to answer.
    Stopped {
        order: Order,
        result: Result<(), Error>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
}

/// Runs `run` while reading the member's commands: an order to stop,
/// restart or remove it stops the run gracefully (`result_of` says how the
/// run ended), within the member's stop timeout.
pub(super) async fn run_commanded<T>(
    seat: &Seat,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    run: impl Future<Output = T>,
    result_of: impl FnOnce(T) -> Result<(), Error>,
) -> Commanded<T> {
    let mut run = pin!(run);
    let command = loop {
        let command = tokio::select! {
            biased;
            ended = &mut run => return Commanded::Ended(ended),
            Some(command) = commands.recv() => command,
        };
        if command.order == Order::Start {
            let _ = command
                .reply
                .send(Err(refused(seat, "start", "it is running")));
            continue;
        }
        break command;
    };

    if let Some(control) = &seat.control
        && let Some(token) = control.run_token()
    {
        token.cancel();
    }
    seat.emit(0, None, || EventKind::Stopping);
    let timeout = seat.stop_timeout_or_default();
    let result = match tokio::time::timeout(timeout, run).await {
        Ok(ended) => result_of(ended),
        Err(_) => Err(timed_out(seat, timeout)),
    };
    Commanded::Stopped {
        order: command.order,
        result,
        reply: command.reply,
    }
}

/// A member stopped by an order waits here for the order to start again
/// (`true`), or to be removed or the member's stop (`false`).
pub(super) async fn parked(seat: &Seat, commands: &mut mpsc::UnboundedReceiver<Command>) -> bool {
    loop {
        let command = tokio::select! {
            biased;
            () = seat.token().cancelled() => return false,
            Some(command) = commands.recv() => command,
        };
        let again = match command.order {
            // Stopped already.
            Order::Stop => {
                let _ = command.reply.send(Ok(()));
                continue;
            }
            Order::Start | Order::Restart => true,
            Order::Remove => false,
        };
        let _ = command.reply.send(Ok(()));
        return again;
    }
}

/// A member aborted `waited` after it was asked to stop: reported, logged,
/// and named a straggler.
pub(crate) fn timed_out(seat: &Seat, waited: Duration) -> Error {
    seat.emit(0, None, || EventKind::Aborted { forced: None });
    tracing::error!(target: "orchestra", player = %seat.path(), ?waited, "did not stop in time; aborted");
    Error::StopTimedOut {
        stragglers: vec![Straggler {
            path: seat.path().clone(),
            waited,
        }],
    }
}

/// An order refused, with why.
pub(crate) fn refused(seat: &Seat, action: &'static str, reason: &str) -> Error {
    Error::Refused {
        path: Arc::clone(seat.path()),
        action,
        reason: reason.to_owned(),
    }
}
