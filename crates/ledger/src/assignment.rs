//! Assignment (docs/DESIGN.md §5.2): the ledger, not the devices, decides
//! who runs what. Each block, tasks waiting for replicas and then new tasks
//! (jobs first-come first-served) are given to available devices drawn
//! from the block's randomness, weighted by reputation and free capacity.
//! Two replicas of one task never share an owner or a pool, so colluders
//! cannot arrange to check each other.

use verigrid_types::device::SecurityLevel;
use verigrid_types::job::{JobKind, JobSpec, Requirements, Verification};
use verigrid_types::{AccountId, DeviceId, TaskId};

use crate::Ledger;
use crate::events::Event;
use crate::records::{Device, DeviceStatus, Phase, Replica, Task};

/// Draws per replica before giving up on a task for this block.
const ATTEMPTS: u64 = 24;

/// The first replicas of a new task, chosen before any is placed, and
/// their devices' positions in the [`Sampler`].
struct Plan {
    replicas: Vec<Replica>,
    devices: Vec<usize>,
    alone: bool,
}

/// What drawing devices for a job's tasks needs of its spec: a copy, where
/// cloning the spec would copy its input list (one hash per task) for every
/// task started.
#[derive(Clone, Copy)]
struct Needs {
    kind: JobKind,
    verification: Verification,
    requirements: Requirements,
}

impl Needs {
    fn of(spec: &JobSpec) -> Self {
        Self {
            kind: spec.kind,
            verification: spec.verification,
            requirements: spec.requirements,
        }
    }
}

/// What a draw needs to know of an available device, read once per block
/// (none of it changes while the block assigns, except the slots taken).
struct Candidate {
    id: DeviceId,
    owner: AccountId,
    pool: Option<AccountId>,
    wasm: bool,
    onnx: bool,
    security: SecurityLevel,
    memory_mib: u32,
    score_ppm: u64,
    solo: bool,
    /// Reputation factor of the weight: score in percent, plus one.
    factor: u64,
    slots: u32,
    running: u32,
    /// Replicas placed on it in this block, written back when it ends.
    placed: u32,
}

/// Devices per block of [`Sampler`] weights.
const BLOCK: usize = 64;

/// Weighted draws over the available devices, with each device's
/// [`Candidate`] beside it so a draw needs no lookup in the device map.
///
/// Weights sit in one dense array, cut into blocks of [`BLOCK`]; a Fenwick
/// tree over the block sums finds the block a draw lands in, and a scan of
/// that block's weights (one contiguous run) finds the device. At a
/// hundred thousand devices the tree is a few thousand entries that stay
/// in cache, where a tree over every device would miss on most of its
/// levels, and a draw is made for every replica assigned. A draw lands on
/// the same device as with any other exact prefix-sum structure: the first
/// whose cumulative weight exceeds the target.
struct Sampler {
    candidates: Vec<Candidate>,
    weights: Vec<u64>,
    /// Fenwick tree (1-based) over the block sums of `weights`.
    blocks: Vec<u64>,
    total: u64,
}

impl Sampler {
    fn new(candidates: Vec<Candidate>) -> Self {
        let weights: Vec<u64> = candidates.iter().map(Candidate::weight).collect();
        let sums: Vec<u64> = weights
            .chunks(BLOCK)
            .map(|b| b.iter().fold(0u64, |a, w| a.saturating_add(*w)))
            .collect();
        let n = sums.len();
        let mut blocks = vec![0u64; n + 1];
        for (i, sum) in sums.iter().enumerate() {
            let j = i + 1;
            blocks[j] = blocks[j].saturating_add(*sum);
            let parent = j + (j & j.wrapping_neg());
            if parent <= n {
                blocks[parent] = blocks[parent].saturating_add(blocks[j]);
            }
        }
        let total = sums.iter().fold(0u64, |a, w| a.saturating_add(*w));
        Self {
            candidates,
            weights,
            blocks,
            total,
        }
    }

    fn total(&self) -> u64 {
        self.total
    }

    /// The position of the device whose cumulative weight range holds
    /// `target` (`target < total`).
    fn find(&self, mut target: u64) -> Option<usize> {
        let n = self.blocks.len() - 1;
        let mut block = 0usize;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = block + step;
            if next <= n && self.blocks[next] <= target {
                block = next;
                target -= self.blocks[next];
            }
            step >>= 1;
        }
        let start = block * BLOCK;
        let run = self
            .weights
            .get(start..(start + BLOCK).min(self.weights.len()))?;
        for (offset, &w) in run.iter().enumerate() {
            if target < w {
                return Some(start + offset);
            }
            target -= w;
        }
        None
    }

    /// The draw weight of the device at `i` now.
    fn weight(&self, i: usize) -> u64 {
        self.weights.get(i).copied().unwrap_or(0)
    }

    /// Counts one more replica on the device at `i` and updates its weight.
    fn take_slot(&mut self, i: usize) {
        let (Some(c), Some(w)) = (self.candidates.get_mut(i), self.weights.get_mut(i)) else {
            return;
        };
        let old = *w;
        c.running += 1;
        c.placed += 1;
        let new = c.weight();
        *w = new;
        self.total = self.total.wrapping_add(new).wrapping_sub(old);
        let mut j = i / BLOCK + 1;
        while j < self.blocks.len() {
            self.blocks[j] = self.blocks[j].wrapping_add(new).wrapping_sub(old);
            j += j & j.wrapping_neg();
        }
    }
}

impl Candidate {
    /// The draw weight: reputation factor times free slots.
    fn weight(&self) -> u64 {
        self.factor * u64::from(self.slots.saturating_sub(self.running))
    }

    /// Whether the device meets the job's requirements.
    fn meets(&self, needs: &Needs) -> bool {
        let kind_ok = match needs.kind {
            JobKind::Wasm => self.wasm,
            JobKind::Onnx => self.onnx,
        };
        let req = &needs.requirements;
        kind_ok
            && self.security >= req.min_security
            && self.memory_mib >= req.min_memory_mib
            && self.score_ppm >= u64::from(req.min_reputation_ppm)
    }
}

impl Ledger {
    /// The device as a draw candidate; `None` if it takes no work now.
    fn candidate(&self, id: DeviceId, device: &Device) -> Option<Candidate> {
        if !self.available(device) {
            return None;
        }
        let score_ppm = device.reputation.score_ppm();
        let c = Candidate {
            id,
            owner: device.owner,
            pool: device.pool,
            wasm: device.capabilities.wasm,
            onnx: device.capabilities.onnx,
            security: device.attestation.security_level,
            memory_mib: device.capabilities.memory_mib,
            score_ppm,
            solo: self.solo_eligible(device),
            factor: score_ppm / 10_000 + 1,
            slots: crate::devices::effective_slots(device),
            running: device.running,
            placed: 0,
        };
        (c.weight() > 0).then_some(c)
    }

    pub(crate) fn assign(&mut self) {
        // Nothing waits for a device: skip sizing up every device (a pass
        // over all of them, 157,000 on the real network, in every block).
        if self.params.max_assignments_per_block == 0
            || (self.needs_replicas.is_empty() && self.queue.is_empty())
        {
            return;
        }
        let candidates: Vec<Candidate> = self
            .devices
            .iter()
            .filter_map(|(id, d)| self.candidate(*id, d))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let mut sampler = Sampler::new(candidates);
        self.assign_from(&mut sampler);
        // The slots taken, written back once per device.
        for c in sampler.candidates.iter().filter(|c| c.placed > 0) {
            if let Some(device) = self.devices.get_mut(&c.id) {
                device.running += c.placed;
                if matches!(device.status, DeviceStatus::Jailed(_)) {
                    device.status = DeviceStatus::Active;
                }
            }
        }
    }

    /// Tasks waiting for replicas, then new tasks of queued jobs (first
    /// come, first served), until devices or the block's budget run out.
    fn assign_from(&mut self, sampler: &mut Sampler) {
        let mut budget = self.params.max_assignments_per_block;
        let waiting: Vec<TaskId> = self.needs_replicas.iter().copied().collect();
        for id in waiting {
            if budget == 0 {
                return;
            }
            self.fill(id, sampler, &mut budget);
        }

        let jobs: Vec<_> = self.queue.iter().map(|(seq, id)| (*seq, *id)).collect();
        for (seq, job_id) in jobs {
            loop {
                if budget == 0 {
                    return;
                }
                let Some(job) = self.jobs.get(&job_id) else {
                    break;
                };
                let count = job.spec.inputs.count();
                if job.next_task >= count {
                    self.queue.remove(&seq);
                    break;
                }
                let id = TaskId {
                    job: job_id,
                    index: job.next_task,
                };
                let needs = Needs::of(&job.spec);
                // A task starts with all of its first replicas or waits:
                // devices holding part of a set would sit idle until the
                // commit window closed, and the task would then go on with
                // fewer replicas than the job paid for.
                let Some(plan) = self.plan(id, &needs, sampler, budget) else {
                    break;
                };
                for device in plan.devices {
                    self.announce(id, device, plan.alone, sampler, &mut budget);
                }
                // The task goes in whole, its commit window armed: one
                // insertion, no look-up per replica.
                let deadline = self.height.plus(self.params.commit_blocks.max(1));
                self.tasks.insert(
                    id,
                    Task {
                        replicas: plan.replicas,
                        phase: Phase::Commit,
                        deadline,
                        wanted: 0,
                        solo: plan.alone,
                        spot_checked: false,
                    },
                );
                self.deadlines.insert((deadline, id));
                if let Some(job) = self.jobs.get_mut(&job_id) {
                    job.next_task += 1;
                    job.live += 1;
                }
            }
        }
    }

    /// Gives task `id` the replicas it wants, as far as devices allow.
    fn fill(&mut self, id: TaskId, sampler: &mut Sampler, budget: &mut u32) {
        let Some(job) = self.jobs.get(&id.job) else {
            return;
        };
        let needs = Needs::of(&job.spec);
        let mut placed = false;
        loop {
            let Some(task) = self.tasks.get(&id) else {
                return;
            };
            if task.wanted == 0 || *budget == 0 {
                break;
            }
            let taken: Vec<AccountId> = task
                .replicas
                .iter()
                .filter_map(|r| self.devices.get(&r.device))
                .flat_map(|d| [Some(d.owner), d.pool])
                .flatten()
                .collect();
            let ordinal = task.replicas.len() as u64;
            let Some(i) = self.pick(id, ordinal, &needs, &taken, &task.replicas, sampler) else {
                break;
            };
            let first_of_solo = task.solo && task.replicas.is_empty();
            let alone = first_of_solo && sampler.candidates[i].solo;
            if let Some(task) = self.tasks.get_mut(&id) {
                if first_of_solo && !alone {
                    // Not trusted enough to run alone: full replication.
                    task.solo = false;
                    task.wanted = needs.verification.replicas;
                }
                task.wanted = task.wanted.saturating_sub(1);
            }
            if let (Some(task), Some(c)) = (self.tasks.get_mut(&id), sampler.candidates.get(i)) {
                task.replicas.push(Replica::assigned(c.id));
            }
            self.announce(id, i, alone, sampler, budget);
            placed = true;
        }
        if placed {
            self.arm(id, self.height.plus(self.params.commit_blocks.max(1)));
        }
        if self.tasks.get(&id).is_some_and(|t| t.wanted == 0) {
            self.needs_replicas.remove(&id);
        } else {
            self.needs_replicas.insert(id);
        }
    }

    /// The devices (positions in the sampler) a new task starts with: every
    /// replica it needs up front (one for a device trusted to run alone),
    /// drawn the way [`Self::fill`] draws, or `None` if they are not all
    /// available now.
    fn plan(&self, id: TaskId, needs: &Needs, sampler: &Sampler, budget: u32) -> Option<Plan> {
        let rule = needs.verification;
        let mut want = usize::from(if rule.adaptive { 1 } else { rule.replicas }).max(1);
        let budget = usize::try_from(budget).unwrap_or(usize::MAX);
        let mut chosen: Vec<Replica> = Vec::with_capacity(want);
        let mut devices: Vec<usize> = Vec::with_capacity(want);
        let mut taken: Vec<AccountId> = Vec::with_capacity(2 * want);
        let mut alone = false;
        while chosen.len() < want {
            if chosen.len() >= budget {
                return None;
            }
            let ordinal = chosen.len() as u64;
            let i = self.pick(id, ordinal, needs, &taken, &chosen, sampler)?;
            let c = sampler.candidates.get(i)?;
            if rule.adaptive && chosen.is_empty() {
                alone = c.solo;
                if !alone {
                    want = usize::from(rule.replicas).max(1);
                }
            }
            taken.push(c.owner);
            taken.extend(c.pool);
            chosen.push(Replica::assigned(c.id));
            devices.push(i);
        }
        Some(Plan {
            replicas: chosen,
            devices,
            alone,
        })
    }

    /// Counts a replica of task `id` on the device at sampler position `i`
    /// against its slots and the block's budget, and announces it.
    fn announce(
        &mut self,
        id: TaskId,
        i: usize,
        alone: bool,
        sampler: &mut Sampler,
        budget: &mut u32,
    ) {
        let Some(device) = sampler.candidates.get(i).map(|c| c.id) else {
            return;
        };
        sampler.take_slot(i);
        *budget = budget.saturating_sub(1);
        self.events.push(Event::Assigned {
            task: id,
            device,
            solo: alone,
        });
    }

    /// Draws a device for replica `ordinal` of task `id`: weighted by
    /// reputation and free slots, never a second replica of the same
    /// device, owner or pool, and only one that meets the job's needs.
    fn pick(
        &self,
        id: TaskId,
        ordinal: u64,
        needs: &Needs,
        taken: &[AccountId],
        replicas: &[Replica],
        sampler: &Sampler,
    ) -> Option<usize> {
        let total = sampler.total();
        if total == 0 {
            return None;
        }
        for attempt in 0..ATTEMPTS {
            let target = self.draw(b"assign", &id, (ordinal << 8) | attempt, total);
            let i = sampler.find(target)?;
            let c = sampler.candidates.get(i)?;
            let clash = taken.contains(&c.owner)
                || c.pool.is_some_and(|p| taken.contains(&p))
                || replicas.iter().any(|r| r.device == c.id);
            if !clash && sampler.weight(i) > 0 && c.meets(needs) {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn candidate(n: u8, factor: u64, slots: u32) -> Candidate {
        Candidate {
            id: DeviceId(verigrid_types::Hash([n; 32])),
            owner: AccountId([n; 32]),
            pool: None,
            wasm: true,
            onnx: false,
            security: SecurityLevel::Software,
            memory_mib: 0,
            score_ppm: 0,
            solo: false,
            factor,
            slots,
            running: 0,
            placed: 0,
        }
    }

    /// The device a draw of `target` lands on, by walking every weight.
    fn walk(weights: &[u64], mut target: u64) -> Option<usize> {
        for (i, &w) in weights.iter().enumerate() {
            if target < w {
                return Some(i);
            }
            target -= w;
        }
        None
    }

    proptest! {
        /// Every draw lands where a walk over the weights lands, and the
        /// total follows, as slots are taken in any order.
        #[test]
        fn draws_land_where_a_walk_over_the_weights_does(
            devices in proptest::collection::vec((0u64..5, 0u32..4), 1..300),
            takes in proptest::collection::vec(any::<prop::sample::Index>(), 0..200),
            targets in proptest::collection::vec(any::<u64>(), 1..50),
        ) {
            let candidates: Vec<Candidate> = devices
                .iter()
                .enumerate()
                .map(|(i, (factor, slots))| candidate(i as u8, *factor, *slots))
                .collect();
            let mut sampler = Sampler::new(candidates);
            let step = |sampler: &Sampler| -> Result<(), TestCaseError> {
                let weights: Vec<u64> = sampler.candidates.iter().map(Candidate::weight).collect();
                let total: u64 = weights.iter().sum();
                prop_assert_eq!(sampler.total(), total);
                for t in &targets {
                    let target = if total == 0 { 0 } else { t % total };
                    let expected = if total == 0 { None } else { walk(&weights, target) };
                    let found = if total == 0 { None } else { sampler.find(target) };
                    prop_assert_eq!(found, expected);
                }
                Ok(())
            };
            step(&sampler)?;
            for take in takes {
                let i = take.index(devices.len());
                if sampler.weight(i) > 0 {
                    sampler.take_slot(i);
                }
                step(&sampler)?;
            }
        }
    }
}
