//! The index of live tasks by the height at which their phase ends.
//!
//! A validator keeps the state after every block, each a clone of its
//! parent's, and every block arms and re-arms deadlines. As one sorted set
//! of `(height, task)` the index was copied whole by every clone: one entry
//! per live task, most of what cloning the state cost under adaptive
//! replication. Here each height has its own list, shared by clones until
//! one of them adds to it, and nothing is removed one by one: a task that
//! is re-armed or decided leaves its old entry behind, and when a height
//! comes only the tasks still live with that deadline are due.

use std::collections::BTreeMap;
use std::sync::Arc;

use verigrid_types::{Height, TaskId};

/// Tasks by deadline; entries of tasks since re-armed or decided stay
/// until their height comes (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Deadlines(BTreeMap<Height, Arc<Vec<TaskId>>>);

impl Deadlines {
    /// Indexes task `id` at deadline `at`.
    pub(crate) fn arm(&mut self, at: Height, id: TaskId) {
        Arc::make_mut(self.0.entry(at).or_default()).push(id);
    }

    /// Takes the earliest height at or before `now` that has entries, with
    /// them sorted and without repeats; `None` when no height has come.
    /// Which of them are still due is for the caller to check.
    pub(crate) fn take_due(&mut self, now: Height) -> Option<(Height, Vec<TaskId>)> {
        let (&at, _) = self.0.first_key_value()?;
        if at > now {
            return None;
        }
        let (at, ids) = self.0.pop_first()?;
        let mut ids = Arc::unwrap_or_clone(ids);
        ids.sort_unstable();
        ids.dedup();
        Some((at, ids))
    }

    /// Every entry, including those left behind.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (Height, TaskId)> + '_ {
        self.0
            .iter()
            .flat_map(|(at, ids)| ids.iter().map(move |id| (*at, *id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use verigrid_types::{Hash, JobId};

    fn task(i: u8) -> TaskId {
        TaskId {
            job: JobId(Hash([i % 3; 32])),
            index: u32::from(i),
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Arm task `.0` (re-arm if live) at `.1` blocks from now.
        Arm(u8, u64),
        /// Decide task `.0`: it is no longer live.
        Decide(u8),
        /// Advance `.0` blocks and expire what has come.
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..24, 1u64..6).prop_map(|(t, d)| Op::Arm(t, d)),
            (0u8..24).prop_map(Op::Decide),
            (0u64..4).prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// The tasks due at each height, in order, are those of one sorted
        /// set of `(deadline, task)` that re-arming and deciding remove
        /// from.
        #[test]
        fn due_tasks_are_those_of_a_set_kept_exactly(ops in proptest::collection::vec(op(), 0..200)) {
            let mut now = 0u64;
            let mut live: BTreeMap<TaskId, Height> = BTreeMap::new();
            let mut exact: BTreeSet<(Height, TaskId)> = BTreeSet::new();
            let mut lazy = Deadlines::default();
            for op in ops {
                match op {
                    Op::Arm(t, d) => {
                        let at = Height(now + d);
                        if let Some(old) = live.insert(task(t), at) {
                            exact.remove(&(old, task(t)));
                        }
                        exact.insert((at, task(t)));
                        lazy.arm(at, task(t));
                    }
                    Op::Decide(t) => {
                        if let Some(old) = live.remove(&task(t)) {
                            exact.remove(&(old, task(t)));
                        }
                    }
                    Op::Advance(n) => {
                        now += n;
                        let mut expected = Vec::new();
                        while let Some(&(at, id)) = exact.first() {
                            if at.0 > now {
                                break;
                            }
                            exact.pop_first();
                            expected.push((at, id));
                        }
                        let mut found = Vec::new();
                        while let Some((at, ids)) = lazy.take_due(Height(now)) {
                            for id in ids {
                                if live.get(&id) == Some(&at) {
                                    live.remove(&id);
                                    found.push((at, id));
                                }
                            }
                        }
                        prop_assert_eq!(found, expected);
                    }
                }
            }
        }
    }
}
