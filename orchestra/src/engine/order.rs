//! The `after` order of a group's members ([`Order`]): checked and
//! resolved to indices once per run of the group, and kept out of the
//! members' own bookkeeping, so that a group whose members are not
//! ordered pays nothing per member for it.

use std::collections::HashMap;
use std::sync::Arc;

use super::member::Group;
use crate::error::Error;
use crate::options::path;

/// Whom each member starts after (its deps), and who starts after it (its
/// dependents), by index, with what one run of the group counts of them.
/// Empty when no member is ordered.
#[derive(Default)]
pub(super) struct Order {
    deps: Vec<Box<[usize]>>,
    dependents: Vec<Box<[usize]>>,
    /// Per member, its deps not ready yet: it starts when none is left.
    unready: Vec<u32>,
    /// Per member, its dependents not exited yet: during a stop, it is
    /// asked to stop when none is left.
    live_dependents: Vec<u32>,
}

impl Order {
    /// The members `i` starts after.
    pub(super) fn deps(&self, i: usize) -> &[usize] {
        self.deps.get(i).map_or(&[], |deps| deps)
    }

    /// The members that start after `i`.
    pub(super) fn dependents(&self, i: usize) -> &[usize] {
        self.dependents.get(i).map_or(&[], |dependents| dependents)
    }

    /// The members that are part of a cycle of `after`, if any (Kahn's
    /// algorithm).
    fn cycle(&self) -> Option<Vec<usize>> {
        let mut unmet: Vec<usize> = self.deps.iter().map(|deps| deps.len()).collect();
        let mut ready: Vec<usize> = (0..unmet.len()).filter(|&i| unmet[i] == 0).collect();
        while let Some(i) = ready.pop() {
            for &j in self.dependents(i) {
                unmet[j] -= 1;
                if unmet[j] == 0 {
                    ready.push(j);
                }
            }
        }
        let cycle: Vec<usize> = (0..unmet.len()).filter(|&i| unmet[i] > 0).collect();
        (!cycle.is_empty()).then_some(cycle)
    }

    /// Whether member `i` stops with the first, on the token they share:
    /// nobody is ordered after it.
    pub(super) fn stops_first(&self, i: usize) -> bool {
        self.dependents(i).is_empty()
    }

    /// Whether no member is ordered after another.
    pub(super) fn is_empty(&self) -> bool {
        self.deps.is_empty()
    }

    /// Whether all the members `i` starts after are ready.
    pub(super) fn deps_ready(&self, i: usize) -> bool {
        self.unready.get(i).is_none_or(|&n| n == 0)
    }

    /// One of the members `j` starts after became ready: whether it was
    /// the last.
    pub(super) fn dep_ready(&mut self, j: usize) -> bool {
        let unready = &mut self.unready[j];
        *unready -= 1;
        *unready == 0
    }

    /// Whether any member ordered after `i` has not exited.
    pub(super) fn has_live_dependents(&self, i: usize) -> bool {
        self.live_dependents.get(i).is_some_and(|&n| n > 0)
    }

    /// A member ordered after `d` exited: whether it was the last.
    pub(super) fn dependent_exited(&mut self, d: usize) -> bool {
        let live = &mut self.live_dependents[d];
        *live -= 1;
        *live == 0
    }

    fn new(deps: Vec<Vec<usize>>) -> Self {
        let mut dependents = vec![Vec::new(); deps.len()];
        for (i, ds) in deps.iter().enumerate() {
            for &d in ds {
                dependents[d].push(i);
            }
        }
        Order {
            unready: deps.iter().map(|deps| count(deps.len())).collect(),
            live_dependents: dependents.iter().map(|ds| count(ds.len())).collect(),
            deps: deps.into_iter().map(Vec::into_boxed_slice).collect(),
            dependents: dependents.into_iter().map(Vec::into_boxed_slice).collect(),
        }
    }
}

/// Checks the members' options and resolves their `after` names to indices;
/// every problem is reported, not only the first.
pub(super) fn resolve<'p>(group: &Group<'_>, prefix: impl Fn() -> &'p str) -> Result<Order, Error> {
    let members = &group.members;
    let mut problems = Vec::new();
    let mut config = |path: &str, message: String| {
        problems.push(Error::Config {
            path: Arc::from(path),
            message,
        });
    };
    if let Some((_, within)) = group.supervision.max_restarts
        && within.is_zero()
    {
        let prefix = prefix();
        config(
            if prefix.is_empty() { "/" } else { prefix },
            "the conductor's max_restarts window (`within`) must be longer than zero".into(),
        );
    }
    for member in members.iter() {
        if let Err(message) = member.options.validate() {
            config(&path(prefix(), &member.name), message);
        }
        // The top group's prefix is empty: it holds the root conductor.
        if member.drain_phase().is_some() && !prefix().is_empty() {
            config(
                &path(prefix(), &member.name),
                "a drain phase is the whole run's: set `drain` on the top conductor \
                 or with `Runner::drain`, not on a nested conductor"
                    .into(),
            );
        }
    }
    if !members.iter().any(|m| !m.options.after.is_empty()) {
        return Error::combine(problems).map_or(Ok(Order::default()), Err);
    }
    let mut deps = vec![Vec::new(); members.len()];
    let index: HashMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (&*m.name, i))
        .collect();
    for (i, member) in members.iter().enumerate() {
        for after in &member.options.after {
            match index.get(&**after) {
                Some(&d) if d == i => config(
                    &path(prefix(), &member.name),
                    "it is ordered `after` itself".into(),
                ),
                Some(&d) => deps[i].push(d),
                None => config(
                    &path(prefix(), &member.name),
                    format!(
                        "it is ordered `after` `{after}`, which is not a player of this conductor; its players are {}",
                        list(members.iter().map(|m| &*m.name))
                    ),
                ),
            }
        }
    }
    let order = Order::new(deps);
    if let Some(cycle) = order.cycle() {
        let names = cycle.iter().map(|&i| &*members[i].name);
        let prefix = prefix();
        config(
            if prefix.is_empty() { "/" } else { prefix },
            format!(
                "its players are ordered `after` each other in a cycle: {}",
                list(names)
            ),
        );
    }
    Error::combine(problems).map_or(Ok(order), Err)
}

/// A number of members, as the order counts them.
fn count(members: usize) -> u32 {
    u32::try_from(members).unwrap_or(u32::MAX)
}

fn list<'s>(names: impl Iterator<Item = &'s str>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
