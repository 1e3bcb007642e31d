//! Which live task replicas each device holds at the finalized tip, so a
//! device agent that restarted or lost its stream can ask the node for its
//! assignments (`GET /v1/devices/{id}/tasks`) without a scan of every live
//! task.
//!
//! Pure, kept from the ledger's events as blocks finalize
//! (docs/DESIGN.md §5 assignment, §4 verdicts): `Assigned` adds a replica,
//! `Missed` removes that device's replica (it no longer counts), and a
//! `Verdict` (accepted or failed: every way a task ends emits one) removes
//! the task from every device that held it. A node that starts from a
//! ledger snapshot instead of genesis rebuilds it once with
//! [`Assignments::from_ledger`]. A device holds at most its slot count of
//! live tasks, so one device's list is small.

use std::collections::{BTreeSet, HashMap};

use verigrid_ledger::{Event, Ledger};
use verigrid_types::{DeviceId, TaskId};

/// Live replicas by device, and the devices of each live task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignments {
    by_device: HashMap<DeviceId, BTreeSet<TaskId>>,
    holders: HashMap<TaskId, Vec<DeviceId>>,
}

impl Assignments {
    /// The index of `ledger`'s live tasks: every replica that has not
    /// missed. O(live tasks × replicas), once.
    #[must_use]
    pub fn from_ledger(ledger: &Ledger) -> Self {
        let mut index = Self::default();
        for (id, task) in ledger.tasks() {
            for replica in task.replicas.iter().filter(|r| !r.missed) {
                index.add(*id, replica.device);
            }
        }
        index
    }

    fn add(&mut self, task: TaskId, device: DeviceId) {
        if self.by_device.entry(device).or_default().insert(task) {
            self.holders.entry(task).or_default().push(device);
        }
    }

    fn remove(&mut self, task: &TaskId, device: &DeviceId) {
        if let Some(tasks) = self.by_device.get_mut(device) {
            tasks.remove(task);
            if tasks.is_empty() {
                self.by_device.remove(device);
            }
        }
    }

    /// Follows one finalized block's events.
    pub fn apply(&mut self, events: &[Event]) {
        for event in events {
            match event {
                Event::Assigned { task, device, .. } => self.add(*task, *device),
                Event::Missed { device, task } => {
                    self.remove(task, device);
                    if let Some(holders) = self.holders.get_mut(task) {
                        holders.retain(|d| d != device);
                        if holders.is_empty() {
                            self.holders.remove(task);
                        }
                    }
                }
                Event::Verdict(verdict) => {
                    for device in self.holders.remove(&verdict.task).unwrap_or_default() {
                        self.remove(&verdict.task, &device);
                    }
                }
                _ => {}
            }
        }
    }

    /// The live tasks `device` holds a counted replica of, in task order.
    pub fn of(&self, device: &DeviceId) -> impl Iterator<Item = &TaskId> {
        self.by_device.get(device).into_iter().flatten()
    }

    /// Live (task, device) replicas indexed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_device.values().map(BTreeSet::len).sum()
    }

    /// No replica is indexed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_device.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verigrid_ledger::{Outcome, Verdict};
    use verigrid_types::{Hash, Height, JobId};

    fn task(i: u32) -> TaskId {
        TaskId {
            job: JobId(Hash([1; 32])),
            index: i,
        }
    }

    fn device(i: u8) -> DeviceId {
        DeviceId(Hash([i; 32]))
    }

    fn assigned(t: u32, d: u8) -> Event {
        Event::Assigned {
            task: task(t),
            device: device(d),
            solo: false,
        }
    }

    fn verdict(t: u32) -> Event {
        Event::Verdict(Box::new(Verdict {
            task: task(t),
            outcome: Outcome::Failed,
            agreeing: Vec::new(),
            disagreeing: Vec::new(),
            height: Height(1),
        }))
    }

    fn tasks_of(index: &Assignments, d: u8) -> Vec<u32> {
        index.of(&device(d)).map(|t| t.index).collect()
    }

    #[test]
    fn assignments_add_and_a_verdict_removes_the_task_from_every_holder() {
        let mut index = Assignments::default();
        index.apply(&[assigned(0, 1), assigned(0, 2), assigned(1, 1)]);
        assert_eq!(tasks_of(&index, 1), vec![0, 1]);
        assert_eq!(tasks_of(&index, 2), vec![0]);
        index.apply(&[verdict(0)]);
        assert_eq!(tasks_of(&index, 1), vec![1]);
        assert!(tasks_of(&index, 2).is_empty());
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn a_miss_removes_only_that_devices_replica() {
        let mut index = Assignments::default();
        index.apply(&[assigned(0, 1), assigned(0, 2)]);
        index.apply(&[
            Event::Missed {
                device: device(1),
                task: task(0),
            },
            assigned(0, 3),
        ]);
        assert!(tasks_of(&index, 1).is_empty());
        assert_eq!(tasks_of(&index, 2), vec![0]);
        assert_eq!(tasks_of(&index, 3), vec![0]);
        index.apply(&[verdict(0)]);
        assert!(index.is_empty());
    }
}
