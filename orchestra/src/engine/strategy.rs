//! A group's restarts, when the group decides them: which siblings a
//! member's restart takes along (its [`Strategy`]), in which order they stop
//! and start again, and the group's restart intensity.
//!
//! Each member keeps its own restart loop (`supervise`); with a [`Link`] to
//! its group, a run that ends to be restarted tells the group ([`Paused`])
//! and waits for its gate. The group ([`Regroup`]) then asks the siblings
//! to restart with it, those ordered after others first, by ending their
//! current run (not their loop); once all have paused, it opens their gates
//! in `after` order, each once the members it is ordered after are ready.
//! A restart of one member asked from outside (a paused member the group
//! did not ask) goes through the same gate.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::Instant;

use super::seat::{Paused, Seat};
use crate::error::{Error, Limit};
use crate::supervision::{Strategy, Supervision};

/// What a step of a restart did: the members released (whose readiness to
/// watch), and those asked to restart (whose stop timeout runs).
#[derive(Default)]
pub(super) struct Step {
    pub(super) released: Vec<usize>,
    pub(super) asked: Vec<usize>,
}

/// What the group knows of its members, for its restarts.
pub(super) trait Members {
    fn deps(&self, i: usize) -> &[usize];
    fn dependents(&self, i: usize) -> &[usize];
    /// Whether the member runs (started, not exited for good).
    fn is_running(&self, i: usize) -> bool;
    fn seat(&self, i: usize) -> &Arc<Seat>;
}

/// Where a member is in the restart under way.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not part of a restart.
    Steady,
    /// To be asked to restart once its dependents have paused.
    ToStop,
    /// Asked; its run is ending.
    Asked,
    /// Its run ended; it waits for its gate.
    Paused,
}

/// The restarts a group decides: its strategy and its intensity.
pub(super) struct Regroup {
    supervision: Supervision,
    /// The group's path, which its restart limit names.
    path: Arc<str>,
    phases: Vec<Phase>,
    /// When the restarts within the `max_restarts` window happened.
    window: VecDeque<Instant>,
    sender: UnboundedSender<Paused>,
}

impl Regroup {
    /// The bookkeeping of a group of `len` members, if it decides
    /// restarts, and where its members' pauses arrive.
    pub(super) fn new<'p>(
        supervision: Supervision,
        path: impl FnOnce() -> &'p Arc<str>,
        len: usize,
    ) -> Option<(Self, UnboundedReceiver<Paused>)> {
        if !supervision.is_involved() {
            return None;
        }
        let (sender, paused) = unbounded_channel();
        let regroup = Regroup {
            supervision,
            path: path().clone(),
            phases: vec![Phase::Steady; len],
            window: VecDeque::new(),
            sender,
        };
        Some((regroup, paused))
    }

    /// Where the members tell the group of their pauses.
    pub(super) fn sender(&self) -> UnboundedSender<Paused> {
        self.sender.clone()
    }

    /// A member's run ended and it waits for its gate: begins or extends
    /// the restart. Returns what it did, or the group's restart limit,
    /// which ends the group.
    pub(super) fn paused(&mut self, paused: Paused, members: &impl Members) -> Result<Step, Error> {
        let i = paused.index;
        if paused.asked {
            self.phases[i] = Phase::Paused;
        } else {
            self.count(paused.failure)?;
            let taken = self.taken_along(i, members);
            tracing::info!(
                target: "orchestra",
                player = %members.seat(i).path(),
                strategy = %self.supervision.strategy,
                restarting = taken.len(),
                "restarting"
            );
            for j in taken {
                members.seat(j).ready.reset();
                if j == i {
                    self.phases[j] = Phase::Paused;
                } else if self.phases[j] == Phase::Steady {
                    self.phases[j] = Phase::ToStop;
                }
            }
        }
        Ok(self.advance(members))
    }

    /// A member became ready: releases the members waiting for it.
    pub(super) fn ready(&mut self, members: &impl Members) -> Step {
        self.advance(members)
    }

    /// Member `i` ended for good: it takes no further part.
    pub(super) fn exited(&mut self, i: usize, members: &impl Members) -> Step {
        self.phases[i] = Phase::Steady;
        self.advance(members)
    }

    /// Counts a restart against the group's intensity.
    fn count(&mut self, failure: Option<Error>) -> Result<(), Error> {
        let Some((restarts, within)) = self.supervision.max_restarts else {
            return Ok(());
        };
        let now = Instant::now();
        while self.window.front().is_some_and(|t| now - *t >= within) {
            self.window.pop_front();
        }
        if self.window.len() >= restarts as usize {
            return Err(Error::RestartLimit {
                path: self.path.clone(),
                limit: Limit::MaxRestarts { restarts, within },
                last: failure.map(Box::new),
            });
        }
        self.window.push_back(now);
        Ok(())
    }

    /// The members that restart with member `i`, `i` included.
    fn taken_along(&self, i: usize, members: &impl Members) -> Vec<usize> {
        let mut taken = vec![i];
        match self.supervision.strategy {
            Strategy::OneForOne => {}
            Strategy::OneForAll => {
                taken.extend((0..self.phases.len()).filter(|&j| j != i && members.is_running(j)));
            }
            Strategy::RestForOne => {
                let mut next = 0;
                while next < taken.len() {
                    for &j in members.dependents(taken[next]) {
                        if !taken.contains(&j) && members.is_running(j) {
                            taken.push(j);
                        }
                    }
                    next += 1;
                }
            }
        }
        taken
    }

    /// Whether a member ordered after `j`, directly or transitively, is yet
    /// to stop: `j` stops after all of them (reverse `after` order), even
    /// past a member already stopped.
    fn waits_for_dependents(&self, j: usize, members: &impl Members) -> bool {
        let mut seen = vec![false; self.phases.len()];
        let mut next = vec![j];
        while let Some(k) = next.pop() {
            for &d in members.dependents(k) {
                if std::mem::replace(&mut seen[d], true) {
                    continue;
                }
                if matches!(self.phases[d], Phase::ToStop | Phase::Asked) {
                    return true;
                }
                next.push(d);
            }
        }
        false
    }

    /// Asks the members to stop whose dependents have paused; once none is
    /// left to stop, opens the gates of the paused members whose
    /// dependencies are ready.
    fn advance(&mut self, members: &impl Members) -> Step {
        let mut step = Step::default();
        for j in 0..self.phases.len() {
            if self.phases[j] == Phase::ToStop && !self.waits_for_dependents(j, members) {
                if let Some(link) = &members.seat(j).link {
                    tracing::debug!(target: "orchestra", player = %members.seat(j).path(), "asked to restart with a sibling");
                    link.ask();
                }
                self.phases[j] = Phase::Asked;
                step.asked.push(j);
            }
        }
        if self
            .phases
            .iter()
            .any(|p| matches!(p, Phase::ToStop | Phase::Asked))
        {
            return step;
        }
        for j in 0..self.phases.len() {
            if self.phases[j] == Phase::Paused
                && members
                    .deps(j)
                    .iter()
                    .all(|&d| self.phases[d] == Phase::Steady && members.seat(d).ready.is_ready())
            {
                self.phases[j] = Phase::Steady;
                if let Some(link) = &members.seat(j).link {
                    link.gate.set();
                }
                step.released.push(j);
            }
        }
        step
    }
}
