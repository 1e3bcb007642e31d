//! Assignment (docs/DESIGN.md §5.2): the ledger, not the devices, decides
//! who runs what. Each block, tasks waiting for replicas and then new tasks
//! (jobs first-come first-served) are given to available devices drawn
//! from the block's randomness, weighted by reputation and free capacity.
//! Two replicas of one task never share an owner or a pool, so colluders
//! cannot arrange to check each other.

use std::collections::HashMap;

use verigrid_types::job::{JobKind, JobSpec};
use verigrid_types::{AccountId, DeviceId, TaskId};

use crate::Ledger;
use crate::events::Event;
use crate::records::{Device, DeviceStatus, Phase, Replica, Task};

/// Draws per replica before giving up on a task for this block.
const ATTEMPTS: u64 = 24;

/// The first replicas of a new task, chosen before any is placed.
struct Plan {
    devices: Vec<DeviceId>,
    alone: bool,
}

/// A Fenwick tree over device weights: weighted draws and weight updates
/// in O(log n).
struct Sampler {
    ids: Vec<DeviceId>,
    index: HashMap<DeviceId, usize>,
    weights: Vec<u64>,
    tree: Vec<u64>,
}

impl Sampler {
    fn new(entries: Vec<(DeviceId, u64)>) -> Self {
        let n = entries.len();
        let mut tree = vec![0u64; n + 1];
        let mut ids = Vec::with_capacity(n);
        let mut weights = Vec::with_capacity(n);
        let mut index = HashMap::with_capacity(n);
        for (i, (id, w)) in entries.into_iter().enumerate() {
            index.insert(id, i);
            ids.push(id);
            weights.push(w);
            let j = i + 1;
            tree[j] = tree[j].saturating_add(w);
            let parent = j + (j & j.wrapping_neg());
            if parent <= n {
                tree[parent] = tree[parent].saturating_add(tree[j]);
            }
        }
        Self {
            ids,
            index,
            weights,
            tree,
        }
    }

    fn total(&self) -> u64 {
        let mut i = self.weights.len();
        let mut sum = 0u64;
        while i > 0 {
            sum = sum.saturating_add(self.tree[i]);
            i &= i - 1;
        }
        sum
    }

    /// The device whose cumulative weight range holds `target`.
    fn find(&self, mut target: u64) -> Option<DeviceId> {
        let n = self.weights.len();
        let mut pos = 0usize;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] <= target {
                pos = next;
                target -= self.tree[next];
            }
            step >>= 1;
        }
        self.ids.get(pos).copied()
    }

    fn set(&mut self, id: &DeviceId, weight: u64) {
        let Some(&i) = self.index.get(id) else { return };
        let old = self.weights[i];
        self.weights[i] = weight;
        let mut j = i + 1;
        while j < self.tree.len() {
            self.tree[j] = self.tree[j].wrapping_add(weight).wrapping_sub(old);
            j += j & j.wrapping_neg();
        }
    }
}

/// A device's draw weight: its reputation score (1–101) times its free slots.
fn weight(device: &Device) -> u64 {
    let free = u64::from(crate::devices::effective_slots(device))
        .saturating_sub(u64::from(device.running));
    (device.reputation.score_ppm() / 10_000 + 1) * free
}

impl Ledger {
    /// Whether `device` meets `spec`'s requirements.
    fn meets(&self, device: &Device, spec: &JobSpec) -> bool {
        let kind_ok = match spec.kind {
            JobKind::Wasm => device.capabilities.wasm,
            JobKind::Onnx => device.capabilities.onnx,
        };
        let req = &spec.requirements;
        kind_ok
            && device.attestation.security_level >= req.min_security
            && device.capabilities.memory_mib >= req.min_memory_mib
            && device.reputation.score_ppm() >= u64::from(req.min_reputation_ppm)
    }

    pub(crate) fn assign(&mut self) {
        let mut budget = self.params.max_assignments_per_block;
        if budget == 0 {
            return;
        }
        let entries: Vec<(DeviceId, u64)> = self
            .devices
            .iter()
            .filter(|(_, d)| self.available(d))
            .map(|(id, d)| (*id, weight(d)))
            .filter(|(_, w)| *w > 0)
            .collect();
        if entries.is_empty() {
            return;
        }
        let mut sampler = Sampler::new(entries);

        let waiting: Vec<TaskId> = self.needs_replicas.iter().copied().collect();
        for id in waiting {
            if budget == 0 {
                return;
            }
            self.fill(id, &mut sampler, &mut budget);
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
                let spec = job.spec.clone();
                // A task starts with all of its first replicas or waits:
                // devices holding part of a set would sit idle until the
                // commit window closed, and the task would then go on with
                // fewer replicas than the job paid for.
                let Some(plan) = self.plan(id, &spec, &sampler, budget) else {
                    break;
                };
                self.tasks.insert(
                    id,
                    Task {
                        replicas: Vec::new(),
                        phase: Phase::Commit,
                        deadline: self.height,
                        wanted: 0,
                        solo: plan.alone,
                        spot_checked: false,
                    },
                );
                for device in plan.devices {
                    self.place(id, device, plan.alone, &mut sampler, &mut budget);
                }
                self.arm(id, self.height.plus(self.params.commit_blocks.max(1)));
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
        let spec = job.spec.clone();
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
            let Some(device_id) = self.pick(id, ordinal, &spec, &taken, &task.replicas, sampler)
            else {
                break;
            };
            let first_of_solo = task.solo && task.replicas.is_empty();
            let alone = first_of_solo
                && self
                    .devices
                    .get(&device_id)
                    .is_some_and(|d| self.solo_eligible(d));
            if let Some(task) = self.tasks.get_mut(&id) {
                if first_of_solo && !alone {
                    // Not trusted enough to run alone: full replication.
                    task.solo = false;
                    task.wanted = spec.verification.replicas;
                }
                task.wanted = task.wanted.saturating_sub(1);
            }
            self.place(id, device_id, alone, sampler, budget);
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

    /// The devices a new task starts with: every replica it needs up
    /// front (one for a device trusted to run alone), drawn the way
    /// [`Self::fill`] draws, or `None` if they are not all available now.
    fn plan(&self, id: TaskId, spec: &JobSpec, sampler: &Sampler, budget: u32) -> Option<Plan> {
        let rule = spec.verification;
        let mut want = usize::from(if rule.adaptive { 1 } else { rule.replicas }).max(1);
        let budget = usize::try_from(budget).unwrap_or(usize::MAX);
        let mut chosen: Vec<Replica> = Vec::with_capacity(want);
        let mut taken: Vec<AccountId> = Vec::with_capacity(2 * want);
        let mut alone = false;
        while chosen.len() < want {
            if chosen.len() >= budget {
                return None;
            }
            let ordinal = chosen.len() as u64;
            let device_id = self.pick(id, ordinal, spec, &taken, &chosen, sampler)?;
            let device = self.devices.get(&device_id)?;
            if rule.adaptive && chosen.is_empty() {
                alone = self.solo_eligible(device);
                if !alone {
                    want = usize::from(rule.replicas).max(1);
                }
            }
            taken.push(device.owner);
            taken.extend(device.pool);
            chosen.push(Replica::assigned(device_id));
        }
        Some(Plan {
            devices: chosen.into_iter().map(|r| r.device).collect(),
            alone,
        })
    }

    /// Gives `device_id` a replica of task `id`: it counts against the
    /// device's slots and is announced. The caller then arms the task's
    /// commit window, once for all the replicas it placed in this block.
    fn place(
        &mut self,
        id: TaskId,
        device_id: DeviceId,
        alone: bool,
        sampler: &mut Sampler,
        budget: &mut u32,
    ) {
        if let Some(task) = self.tasks.get_mut(&id) {
            task.replicas.push(Replica::assigned(device_id));
        }
        if let Some(device) = self.devices.get_mut(&device_id) {
            device.running += 1;
            if matches!(device.status, DeviceStatus::Jailed(_)) {
                device.status = DeviceStatus::Active;
            }
            sampler.set(&device_id, weight(device));
        }
        *budget = budget.saturating_sub(1);
        self.events.push(Event::Assigned {
            task: id,
            device: device_id,
            solo: alone,
        });
    }

    fn pick(
        &self,
        id: TaskId,
        ordinal: u64,
        spec: &JobSpec,
        taken: &[AccountId],
        replicas: &[Replica],
        sampler: &Sampler,
    ) -> Option<DeviceId> {
        let total = sampler.total();
        if total == 0 {
            return None;
        }
        for attempt in 0..ATTEMPTS {
            let target = self.draw(b"assign", &id, (ordinal << 8) | attempt, total);
            let device_id = sampler.find(target)?;
            let Some(device) = self.devices.get(&device_id) else {
                continue;
            };
            let clash = taken.contains(&device.owner)
                || device.pool.is_some_and(|p| taken.contains(&p))
                || replicas.iter().any(|r| r.device == device_id);
            if !clash && self.available(device) && self.meets(device, spec) {
                return Some(device_id);
            }
        }
        None
    }
}
