//! The engine's side of a control handle: the commands one member receives
//! while it runs ([`SeatControl`]), made only when the run has a handle.
//!
//! A member with a control runs each run under a token of its own, a child
//! of its stop token, so that one run can be stopped without stopping the
//! member: its supervision loop then waits for a command to start it again.

use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::lock::lock;

/// What a handle asks of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Stop the current run gracefully and wait for a `Start`.
    Stop,
    /// Start again a member stopped by `Stop`.
    Start,
    /// Stop the current run gracefully and start another at once.
    Restart,
    /// Stop the current run gracefully and end the member for good.
    Remove,
}

/// An order and where to answer it: how the stopped run ended, or why the
/// order was refused.
pub(crate) struct Command {
    pub(crate) order: Order,
    pub(crate) reply: oneshot::Sender<Result<(), Error>>,
}

/// The commands of one member, and its current run's token.
pub(crate) struct SeatControl {
    sender: mpsc::UnboundedSender<Command>,
    /// Taken by the member's supervision loop while it runs.
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Command>>>,
    run: Mutex<Option<CancellationToken>>,
}

impl SeatControl {
    pub(crate) fn new() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        SeatControl {
            sender,
            receiver: Mutex::new(Some(receiver)),
            run: Mutex::new(None),
        }
    }

    /// Sends `order`; the answer comes on the returned channel (closed if
    /// the member ended before it read it).
    pub(crate) fn send(&self, order: Order) -> oneshot::Receiver<Result<(), Error>> {
        let (reply, answer) = oneshot::channel();
        // A member whose loop ended dropped its receiver: the reply is
        // dropped with the command, and the caller told so.
        let _ = self.sender.send(Command { order, reply });
        answer
    }

    /// The member's commands, for its supervision loop.
    pub(crate) fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<Command>> {
        lock(&self.receiver).take()
    }

    /// Makes the token of a new run, a child of the member's stop token.
    pub(crate) fn begin_run(&self, stop: &CancellationToken) -> CancellationToken {
        let run = stop.child_token();
        *lock(&self.run) = Some(run.clone());
        run
    }

    /// The current run's token, if a run began.
    pub(crate) fn run_token(&self) -> Option<CancellationToken> {
        lock(&self.run).clone()
    }
}
