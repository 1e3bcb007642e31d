//! Commit, then reveal (docs/DESIGN.md §5.3): replicas publish
//! `H(output ‖ salt ‖ device)` first; reveals open only when every counted
//! replica has committed, so nobody can copy an answer. Batches carry many
//! tasks under one signature; a stale entry is skipped, not the batch.

use verigrid_types::tx::{Commit, Reveal, commitment};
use verigrid_types::{DeviceId, Height, TaskId, blob_hash};

use crate::error::EntryError;
use crate::events::Event;
use crate::records::{Phase, Task};
use crate::{Ledger, TxError};

impl Ledger {
    pub(crate) fn commit_results(
        &mut self,
        device: DeviceId,
        commits: &[Commit],
    ) -> Result<(), TxError> {
        self.check_batch(commits.len())?;
        self.warm(commits.iter().map(|c| &c.task));
        for c in commits {
            if let Err(error) = self.commit_one(device, c) {
                self.events.push(Event::EntrySkipped { device, error });
            }
        }
        self.seen(device);
        Ok(())
    }

    fn commit_one(&mut self, device: DeviceId, c: &Commit) -> Result<(), EntryError> {
        // One lookup: a rejected entry leaves the task as it was (only its
        // cached leaf hash is dropped, and recomputes to the same value).
        let task = self
            .tasks
            .get_mut(&c.task)
            .ok_or(EntryError::TaskNotLive(c.task))?;
        if task.phase != Phase::Commit {
            return Err(EntryError::WrongPhase(c.task, "commit"));
        }
        let slot = replica_slot(task, device).ok_or(EntryError::NotAssigned(c.task))?;
        let replica = &mut task.replicas[slot];
        if replica.commitment.is_some() {
            return Err(EntryError::Duplicate(c.task));
        }
        replica.commitment = Some(c.commitment);
        self.touched.push(c.task);
        Ok(())
    }

    pub(crate) fn reveal_results(
        &mut self,
        device: DeviceId,
        reveals: &[Reveal],
    ) -> Result<(), TxError> {
        self.check_batch(reveals.len())?;
        self.warm(reveals.iter().map(|r| &r.task));
        for r in reveals {
            if let Err(error) = self.reveal_one(device, r) {
                self.events.push(Event::EntrySkipped { device, error });
            }
        }
        self.seen(device);
        Ok(())
    }

    fn reveal_one(&mut self, device: DeviceId, r: &Reveal) -> Result<(), EntryError> {
        // One lookup, as in `commit_one`.
        let task = self
            .tasks
            .get_mut(&r.task)
            .ok_or(EntryError::TaskNotLive(r.task))?;
        if task.phase != Phase::Reveal {
            return Err(EntryError::WrongPhase(r.task, "reveal"));
        }
        let slot = replica_slot(task, device).ok_or(EntryError::NotAssigned(r.task))?;
        let replica = &mut task.replicas[slot];
        let Some(committed) = replica.commitment else {
            return Err(EntryError::NotAssigned(r.task));
        };
        if replica.output_hash.is_some() {
            return Err(EntryError::Duplicate(r.task));
        }
        if commitment(&r.output_hash, &r.salt, &device) != committed {
            return Err(EntryError::CommitmentMismatch(r.task));
        }
        let needs_output = self
            .jobs
            .get(&r.task.job)
            .is_some_and(|job| job.spec.verification.comparison.needs_output());
        if needs_output {
            let output = r.output.as_ref().ok_or(EntryError::BadOutput(r.task))?;
            if output.len() > self.params.max_inline_output as usize
                || blob_hash(&output.0) != r.output_hash
            {
                return Err(EntryError::BadOutput(r.task));
            }
            replica.output = Some(output.clone());
        }
        replica.output_hash = Some(r.output_hash);
        self.touched.push(r.task);
        Ok(())
    }

    /// Reads the replicas of a batch's tasks before the batch is applied.
    /// Live tasks are spread over gigabytes at scale, so each look-up is a
    /// few cache misses in a row; here the look-ups do not wait on one
    /// another and the processor overlaps their misses, where applying the
    /// entries one by one would take them one at a time. It changes
    /// nothing.
    fn warm<'a>(&self, tasks: impl Iterator<Item = &'a TaskId>) {
        let mut sum = 0usize;
        for id in tasks {
            if let Some(task) = self.tasks.get(id) {
                sum = sum.wrapping_add(
                    task.replicas
                        .first()
                        .map_or(0, |r| usize::from(r.device.0.0[0])),
                );
            }
        }
        std::hint::black_box(sum);
    }

    fn seen(&mut self, device: DeviceId) {
        let height = self.height;
        if let Some(d) = self.devices.get_mut(&device) {
            d.last_seen = height;
        }
    }

    /// Sets a task's phase deadline and indexes it (its entry under the
    /// old deadline stays behind, no longer due).
    pub(crate) fn arm(&mut self, id: TaskId, deadline: Height) {
        if let Some(task) = self.tasks.get_mut(&id) {
            task.deadline = deadline;
            self.deadlines.arm(deadline, id);
        }
    }

    /// Handles every task whose phase deadline has come, in order of
    /// deadline, then task id.
    pub(crate) fn expire_deadlines(&mut self) {
        while let Some((at, ids)) = self.deadlines.take_due(self.height) {
            for id in ids {
                // Still live and still armed for this height; otherwise
                // the entry was left behind by a re-arm or a decision.
                if self.tasks.get(&id).is_some_and(|t| t.deadline == at) {
                    self.on_deadline(id);
                }
            }
        }
    }

    fn on_deadline(&mut self, id: TaskId) {
        let Some(task) = self.tasks.get(&id) else {
            return;
        };
        let phase = task.phase;
        let late: Vec<(usize, DeviceId)> = task
            .replicas
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                !r.missed
                    && match phase {
                        Phase::Commit => r.commitment.is_none(),
                        Phase::Reveal => r.output_hash.is_none(),
                    }
            })
            .map(|(i, r)| (i, r.device))
            .collect();
        if let Some(task) = self.tasks.get_mut(&id) {
            for (i, _) in &late {
                task.replicas[*i].missed = true;
            }
        }
        for (_, device) in &late {
            self.record_miss(*device, id, phase == Phase::Reveal);
        }
        match phase {
            Phase::Commit => self.after_commit_deadline(id),
            Phase::Reveal => self.judge(id),
        }
    }

    /// Commit window over. Every live task has a deadline, so a task
    /// can never wait forever for devices: go on if enough replicas
    /// committed, ask for replacements while the cap allows, else fail.
    fn after_commit_deadline(&mut self, id: TaskId) {
        let Some((task, rule, quorum)) = self.live_task(id) else {
            return;
        };
        let committed = task
            .replicas
            .iter()
            .filter(|r| !r.missed && r.commitment.is_some())
            .count();
        let revealed = task.replicas.iter().any(|r| r.output_hash.is_some());
        let room = usize::from(rule.max_replicas).saturating_sub(task.replicas.len());
        let need = quorum.saturating_sub(committed);
        if revealed && task.wanted > 0 {
            // An escalation found no devices in time: no better answer is coming.
            self.fail_task(id);
        } else if need == 0 {
            if let Some(task) = self.tasks.get_mut(&id) {
                task.wanted = 0;
            }
            self.needs_replicas.remove(&id);
            self.advance(id);
        } else if room > 0 {
            let wanted = u8::try_from(need.min(room)).unwrap_or(u8::MAX);
            if let Some(task) = self.tasks.get_mut(&id) {
                task.wanted = wanted;
                if task.solo && task.replicas.iter().all(|r| r.missed) {
                    // A solo device that vanished is replaced by a fresh draw.
                    task.replicas.clear();
                }
            }
            self.needs_replicas.insert(id);
            let deadline = self.height.plus(self.params.commit_blocks.max(1));
            self.arm(id, deadline);
        } else {
            self.fail_task(id);
        }
    }

    /// A live task with its job's verification rule and the quorum it needs.
    pub(crate) fn live_task(
        &self,
        id: TaskId,
    ) -> Option<(&Task, verigrid_types::job::Verification, usize)> {
        let task = self.tasks.get(&id)?;
        let rule = self.jobs.get(&id.job)?.spec.verification;
        Some((task, rule, task.quorum(&rule)))
    }

    /// Moves a task on once its replicas have acted: commits complete →
    /// spot-check draw or reveals open; reveals complete → verdict.
    pub(crate) fn advance(&mut self, id: TaskId) {
        let Some(task) = self.tasks.get(&id) else {
            return;
        };
        if task.wanted > 0 {
            return;
        }
        let counted = || task.replicas.iter().filter(|r| !r.missed);
        if counted().next().is_none() {
            return;
        }
        match task.phase {
            Phase::Commit if counted().all(|r| r.commitment.is_some()) => {
                if task.solo && self.spot_check(id) {
                    self.events.push(Event::SpotCheck { task: id });
                    let quorum = self
                        .jobs
                        .get(&id.job)
                        .map_or(2, |j| j.spec.verification.quorum.max(2));
                    if let Some(task) = self.tasks.get_mut(&id) {
                        task.solo = false;
                        task.spot_checked = true;
                        task.wanted = quorum - 1;
                    }
                    let deadline = self.height.plus(self.params.commit_blocks.max(1));
                    self.arm(id, deadline);
                    self.needs_replicas.insert(id);
                } else {
                    if let Some(task) = self.tasks.get_mut(&id) {
                        task.phase = Phase::Reveal;
                    }
                    let deadline = self.height.plus(self.params.reveal_blocks.max(1));
                    self.arm(id, deadline);
                    self.events.push(Event::RevealOpen { task: id });
                }
            }
            Phase::Reveal
                if counted().all(|r| r.commitment.is_none() || r.output_hash.is_some()) =>
            {
                self.judge(id);
            }
            _ => {}
        }
    }

    /// Draws whether a solo result gets a spot check. The draw uses this
    /// block's randomness, unknown when the device committed.
    fn spot_check(&self, id: TaskId) -> bool {
        let ppm = self
            .jobs
            .get(&id.job)
            .map_or(0, |j| j.spec.verification.spot_check_ppm);
        self.draw(b"spot-check", &id, 0, 1_000_000) < u64::from(ppm)
    }
}

/// The position of `device` among a task's counted replicas.
pub(crate) fn replica_slot(task: &Task, device: DeviceId) -> Option<usize> {
    task.replicas
        .iter()
        .position(|r| r.device == device && !r.missed)
}
