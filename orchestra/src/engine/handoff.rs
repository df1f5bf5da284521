//! The typed hand-off between ordered players: a member publishes a value
//! as it becomes ready ([`Context::ready_with`](crate::Context::ready_with)),
//! and the members ordered `after` it take a copy
//! ([`Context::dependency`](crate::Context::dependency)).

use std::any::{Any, type_name};
use std::sync::{Arc, Mutex, Weak};

use crate::lock::lock;
use once_cell::race::OnceBox;

/// The value a member hands over, with its type's name for the error of a
/// member that asks for another type.
struct Handed {
    value: Arc<dyn Any + Send + Sync>,
    type_name: &'static str,
}

/// What a member hands over during its current run, if anything. Made at
/// the first value: most members hand nothing over, and their seat need
/// not carry the room (a null pointer), nor their runs take a lock.
#[derive(Default)]
pub(crate) struct HandOff(OnceBox<Mutex<Option<Handed>>>);

impl HandOff {
    /// Publishes `value` for the members ordered after this one.
    pub(crate) fn publish<T: Send + Sync + 'static>(&self, value: T) {
        *lock(self.0.get_or_init(Box::default)) = Some(Handed {
            value: Arc::new(value),
            type_name: type_name::<T>(),
        });
    }

    /// Withdraws the value: the run that made it has ended. Inlined: at
    /// the end of every run, and most members hand nothing over.
    #[inline]
    pub(crate) fn withdraw(&self) {
        if let Some(slot) = self.0.get() {
            lock(slot).take();
        }
    }

    /// A copy of the value: `Ok(None)` if none is published, `Err` with the
    /// name of its type if it is not a `T`.
    pub(crate) fn get<T: Clone + 'static>(&self) -> Result<Option<T>, &'static str> {
        let Some(slot) = self.0.get() else {
            return Ok(None);
        };
        match &*lock(slot) {
            None => Ok(None),
            Some(handed) => match handed.value.downcast_ref::<T>() {
                Some(value) => Ok(Some(value.clone())),
                None => Err(handed.type_name),
            },
        }
    }
}

/// The members (their seats, `S`) of one run of a group, which they reach
/// through their conductor's seat to find a sibling by name. Held weakly:
/// the group's run owns them.
pub(crate) struct Members<S>(Mutex<Weak<Vec<Arc<S>>>>);

impl<S> Default for Members<S> {
    fn default() -> Self {
        Members(Mutex::new(Weak::new()))
    }
}

impl<S> Members<S> {
    /// The members of the group's current run.
    pub(crate) fn set(&self, members: &Arc<Vec<Arc<S>>>) {
        *lock(&self.0) = Arc::downgrade(members);
    }

    /// The members of the group's current run, if it runs.
    pub(crate) fn get(&self) -> Option<Arc<Vec<Arc<S>>>> {
        lock(&self.0).upgrade()
    }
}
