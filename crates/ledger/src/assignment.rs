//! Assignment (docs/DESIGN.md §5.2): the ledger, not the devices, decides
//! who runs what. Each block, tasks waiting for replicas and then new tasks
//! (jobs first-come first-served) are given to available devices drawn
//! from the block's randomness, weighted by reputation and free capacity.
//! Two replicas of one task never share an owner or a pool, so colluders
//! cannot arrange to check each other.

use std::collections::BTreeMap;

use verigrid_types::job::{JobKind, JobSpec, Requirements, Verification};
use verigrid_types::{AccountId, JobId, TaskId};

use crate::Ledger;
use crate::devices::effective_slots;
use crate::draws::Weights;
use crate::events::Event;
use crate::records::{Device, DeviceStatus, Phase, Replica, Task};

/// Draws per replica before giving up on a task for this block.
const ATTEMPTS: u64 = 24;

/// Which replica of which task a draw is for.
#[derive(Clone, Copy)]
struct Draw {
    id: TaskId,
    /// The replica's position in the task's list.
    ordinal: u64,
    /// Which devices it may land on.
    pool: Pool,
}

/// The devices a replica is drawn from (docs/DESIGN.md §5.2).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// Every available device.
    Any,
    /// The first replica of a task decided by a vote ([`voted`]): the
    /// devices trusted to run alone while any has room
    /// ([`Ledger::first_clear`]), else every device.
    TrustedFirst,
    /// A further replica of a voted task none of whose counted replicas is
    /// trusted, while a trusted device could take it: trusted devices
    /// only, or none this block. Devices without a record never make up a
    /// task's replicas by themselves, so fresh colluders cannot take over
    /// a task when they are the only devices with room (a verdict also
    /// needs a trusted device on its side, `Ledger::judge`).
    TrustedOnly,
}

impl Pool {
    /// The pool for a replica of a task under `rule`: its `first`, or a
    /// further one, given whether one of its replicas so far is a trusted
    /// device and whether the task could have one at all
    /// (`Ledger::anchorable`: not while a network is new, nor for needs no
    /// trusted device meets; such tasks run as plain majorities).
    fn of(rule: &Verification, first: bool, anchored: bool, anchorable: bool) -> Self {
        if !voted(rule) {
            Self::Any
        } else if first {
            Self::TrustedFirst
        } else if anchored || !anchorable {
            Self::Any
        } else {
            Self::TrustedOnly
        }
    }
}

/// Whether tasks under `rule` are decided by a vote among replicas, and so
/// are anchored by a trusted device wherever one can take them: adaptive
/// work (whose untrusted first replica means a 2-of-3) and fixed
/// replication of two or more. One replica has nothing to vote on.
pub(crate) fn voted(rule: &Verification) -> bool {
    rule.adaptive || rule.replicas >= 2
}

/// The first replicas of a new task, chosen before any is placed, and
/// their devices' ranks in the draw index.
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

    /// Whether `device` meets the job's requirements.
    fn met_by(&self, device: &Device) -> bool {
        let kind_ok = match self.kind {
            JobKind::Wasm => device.capabilities.wasm,
            JobKind::Onnx => device.capabilities.onnx,
        };
        let req = &self.requirements;
        kind_ok
            && device.attestation.security_level >= req.min_security
            && device.capabilities.memory_mib >= req.min_memory_mib
            && device.reputation.score_ppm() >= u64::from(req.min_reputation_ppm)
    }
}

/// A block's weighted draws: the draw index (docs/DESIGN.md §5.2: weight
/// is reputation times free slots) with the replicas placed so far in the
/// block, which take slots until they are written back when it ends.
struct Sampler {
    weights: Weights,
    /// Replicas placed in this block, by the device's rank.
    placed: BTreeMap<usize, u32>,
    /// Per voted job: whether some trusted device that takes work meets
    /// its needs, free slot or not ([`Ledger::anchorable`]).
    anchorable: BTreeMap<JobId, bool>,
}

impl Ledger {
    /// Hands out work: tasks waiting for replicas, then new tasks of
    /// queued jobs, to devices drawn from the block's randomness.
    pub(crate) fn assign(&mut self) {
        // Kept up to date in every block, so it never has more than one
        // block's changes to catch up on.
        self.sync_draws();
        if self.params.max_assignments_per_block == 0
            || (self.needs_replicas.is_empty() && self.queue.is_empty())
        {
            return;
        }
        let mut sampler = Sampler {
            weights: self.take_draws(),
            placed: BTreeMap::new(),
            anchorable: BTreeMap::new(),
        };
        if sampler.weights.total() > 0 {
            self.assign_from(&mut sampler);
        }
        // The slots taken, written back once per device.
        for (&rank, &placed) in &sampler.placed {
            let Some((id, _)) = self.ranked(&sampler.weights, rank) else {
                continue;
            };
            if let Some(device) = self.devices.get_mut(&id) {
                device.running += placed;
                if matches!(device.status, DeviceStatus::Jailed(_)) {
                    device.status = DeviceStatus::Active;
                }
            }
        }
        self.put_draws(sampler.weights);
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
                let anchorable =
                    voted(&needs.verification) && self.anchorable(job_id, &needs, sampler);
                let Some(plan) = self.plan(id, &needs, sampler, budget, anchorable) else {
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
                self.deadlines.arm(deadline, id);
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
            let first_of_solo = task.solo && task.replicas.is_empty();
            let rule = needs.verification;
            let anchoring = voted(&rule) && !first_of_solo;
            let anchored = anchoring && self.anchored(&task.replicas);
            let anchorable = anchoring && !anchored && self.anchorable(id.job, &needs, sampler);
            let pool = Pool::of(&rule, first_of_solo, anchored, anchorable);
            let draw = Draw { id, ordinal, pool };
            let Some(i) = self.pick(draw, &needs, &taken, &task.replicas, sampler) else {
                break;
            };
            let Some((device, record)) = self.ranked(&sampler.weights, i) else {
                break;
            };
            let alone = first_of_solo && self.solo_eligible(record);
            if let Some(task) = self.tasks.get_mut(&id) {
                if first_of_solo && !alone {
                    // Not trusted enough to run alone: full replication.
                    task.solo = false;
                    task.wanted = needs.verification.replicas;
                }
                task.wanted = task.wanted.saturating_sub(1);
            }
            if let Some(task) = self.tasks.get_mut(&id) {
                task.replicas.push(Replica::assigned(device));
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

    /// The devices (ranks in the draw index) a new task starts with: every
    /// replica it needs up front (one for a device trusted to run alone),
    /// drawn the way [`Self::fill`] draws, or `None` if they are not all
    /// available now.
    fn plan(
        &self,
        id: TaskId,
        needs: &Needs,
        sampler: &Sampler,
        budget: u32,
        anchorable: bool,
    ) -> Option<Plan> {
        let rule = needs.verification;
        let mut want = usize::from(if rule.adaptive { 1 } else { rule.replicas }).max(1);
        let budget = usize::try_from(budget).unwrap_or(usize::MAX);
        let mut chosen: Vec<Replica> = Vec::with_capacity(want);
        let mut devices: Vec<usize> = Vec::with_capacity(want);
        let mut taken: Vec<AccountId> = Vec::with_capacity(2 * want);
        let mut alone = false;
        // Whether a trusted device is among the replicas chosen so far.
        let mut anchored = false;
        while chosen.len() < want {
            if chosen.len() >= budget {
                return None;
            }
            let draw = Draw {
                id,
                ordinal: chosen.len() as u64,
                pool: Pool::of(&rule, chosen.is_empty(), anchored, anchorable),
            };
            let i = self.pick(draw, needs, &taken, &chosen, sampler)?;
            let (device, record) = self.ranked(&sampler.weights, i)?;
            let trusted = self.solo_eligible(record);
            anchored |= trusted;
            if rule.adaptive && chosen.is_empty() {
                alone = trusted;
                if !alone {
                    want = usize::from(rule.replicas).max(1);
                }
            }
            taken.push(record.owner);
            taken.extend(record.pool);
            chosen.push(Replica::assigned(device));
            devices.push(i);
        }
        Some(Plan {
            replicas: chosen,
            devices,
            alone,
        })
    }

    /// Counts a replica of task `id` on the device at rank `i`
    /// against its slots and the block's budget, and announces it.
    fn announce(
        &mut self,
        id: TaskId,
        i: usize,
        alone: bool,
        sampler: &mut Sampler,
        budget: &mut u32,
    ) {
        let Some((device, record)) = self.ranked(&sampler.weights, i) else {
            return;
        };
        let placed = sampler.placed.entry(i).or_insert(0);
        *placed += 1;
        let free = effective_slots(record).saturating_sub(record.running.saturating_add(*placed));
        let weight = self.weight_with_free(record, free);
        sampler.weights.set(i, weight);
        *budget = budget.saturating_sub(1);
        self.events.push(Event::Assigned {
            task: id,
            device,
            solo: alone,
        });
    }

    /// Draws a device for a replica ([`Draw`]): weighted by reputation
    /// and free slots, never a second replica of the same device, owner or
    /// pool, and only one that meets the job's needs.
    fn pick(
        &self,
        draw: Draw,
        needs: &Needs,
        taken: &[AccountId],
        replicas: &[Replica],
        sampler: &Sampler,
    ) -> Option<usize> {
        let Draw { id, ordinal, pool } = draw;
        let clear = |i: usize| {
            self.ranked(&sampler.weights, i)
                .is_some_and(|(device, record)| {
                    let clash = taken.contains(&record.owner)
                        || record.pool.is_some_and(|p| taken.contains(&p))
                        || replicas.iter().any(|r| r.device == device);
                    !clash && needs.met_by(record)
                })
        };
        let weights = &sampler.weights;
        let trusted = || {
            self.first_clear(
                b"trusted",
                id,
                ordinal,
                weights.trusted_total(),
                |t| weights.find_trusted(t),
                &clear,
            )
        };
        let any = || {
            self.first_clear(
                b"assign",
                id,
                ordinal,
                weights.total(),
                |t| weights.find(t),
                &|i| weights.weight(i).all > 0 && clear(i),
            )
        };
        match pool {
            Pool::Any => any(),
            Pool::TrustedFirst => trusted().or_else(any),
            Pool::TrustedOnly => trusted(),
        }
    }

    /// Whether some trusted device that takes work meets the needs of
    /// `job`, free slot or not (worked out once a block per job): if not,
    /// its tasks cannot be anchored, and waiting for a trusted replica
    /// would hold them forever.
    fn anchorable(&self, job: JobId, needs: &Needs, sampler: &mut Sampler) -> bool {
        if let Some(&known) = sampler.anchorable.get(&job) {
            return known;
        }
        let weights = &sampler.weights;
        let found = weights.anchors() > 0
            && weights.anchor_ranks().any(|i| {
                self.ranked(weights, i)
                    .is_some_and(|(_, record)| needs.met_by(record))
            });
        sampler.anchorable.insert(job, found);
        found
    }

    /// Whether one of a task's counted replicas is a device trusted to
    /// run alone.
    fn anchored(&self, replicas: &[Replica]) -> bool {
        replicas
            .iter()
            .any(|r| !r.missed && self.trusted(&r.device))
    }

    /// The first of [`ATTEMPTS`] weighted draws for replica `ordinal` of
    /// task `id` (draws labelled `label`, below `total`, placed by `find`)
    /// that lands on a device `clear` allows. The trusted draws (label
    /// `trusted`, the trusted column) serve the first replica of a voted
    /// task while any trusted device has a free slot: an adaptive task that
    /// lands on any other device needs every replica its rule names, and a
    /// replicated one would wait for a trusted replica (docs/DESIGN.md
    /// §5.2).
    fn first_clear(
        &self,
        label: &[u8],
        id: TaskId,
        ordinal: u64,
        total: u64,
        find: impl Fn(u64) -> Option<usize>,
        clear: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        if total == 0 {
            return None;
        }
        for attempt in 0..ATTEMPTS {
            let target = self.draw(label, &id, (ordinal << 8) | attempt, total);
            let i = find(target)?;
            if clear(i) {
                return Some(i);
            }
        }
        None
    }
}
