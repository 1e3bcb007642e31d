//! An in-process network: the real ledger driven block by block, with
//! simulated devices that follow the protocol (commit, then reveal) or
//! attack it. It is a thin shell around `verigrid-ledger`, never a second
//! copy of its rules (docs/DESIGN.md §2): every assignment, verdict,
//! payment and slash below is the ledger's.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustc_hash::FxHashMap;
use verigrid_ledger::{BlockInput, Event, Genesis, JobStatus, Ledger, Outcome, Verdict};
use verigrid_types::codec::Bytes;
use verigrid_types::codec::Encode;
use verigrid_types::device::{Capabilities, registration_challenge};
use verigrid_types::job::{Inputs, JobKind, JobSpec, Limits, Requirements, Verification};
use verigrid_types::params::Params;
use verigrid_types::tensor::{Comparison, Tensor, encode_outputs};
use verigrid_types::tx::{Call, Commit, Reveal, SignedTx, Signer, Tx, commitment};
use verigrid_types::{
    AccountId, Amount, DeviceId, Domain, Hash, Height, JobId, SecretKey, TaskId, Timestamp,
    blob_hash,
};

use crate::attestation::{Attester, Preverified};
use crate::conditions::{Conditions, Life};
use crate::parallel;
use crate::proofs::VerdictPaths;

/// The fee of every simulated transaction: the chain's base fee, which
/// the simulated chain sets this low (the default is 10) so that fees do
/// not swamp the reward of 10 a result of the default configuration.
pub const FEE: Amount = Amount(1);

/// What each device stakes when it registers (all of it is lost on a
/// wrong result under the default parameters).
pub const DEVICE_STAKE: Amount = Amount(10_000);

/// What each device's owner holds at genesis.
const OWNER_FUNDS: Amount = Amount(100_000);

/// The chain id of in-process networks.
pub const CHAIN_ID: &str = "verigrid-dev";

/// The genesis block's time (2026-11-24T00:00:00Z); blocks follow every second.
pub const GENESIS_TIME: Timestamp = Timestamp(1_795_478_400_000);

/// How a simulated device behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Runs the task and reports its output.
    Honest,
    /// Reports the same fabricated output as every other colluder.
    Colluder,
    /// Reports random bytes without running anything.
    Lazy,
    /// Honest until the measured work starts (after the warm-up that
    /// builds its record), then a [`Behaviour::Colluder`].
    Turncoat,
}

/// Which adversary model the lying devices follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adversary {
    /// All liars report the same wrong output.
    Colluding,
    /// Each liar reports its own random output.
    Lazy,
    /// Liars build a record honestly through the warm-up, then collude
    /// from the first measured task: the most trust a liar can hold when
    /// it starts lying.
    Turncoat,
}

/// When the lying devices join the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Joining {
    /// With every other device, before the warm-up.
    #[default]
    FromStart,
    /// Once the warm-up is over, so every one of them is on the network,
    /// with no record, when the measured work starts: a network taking in
    /// new liars as fast as it slashes them. (Liars present from the start
    /// are slashed by the warm-up's replication before the measured work
    /// begins.) Turncoats cannot: their record is the warm-up's.
    AfterWarmup,
}

/// What a task outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Exact outputs (WASM): every honest device gets the same bytes,
    /// compared by hash.
    Exact,
    /// Float tensors (ONNX-style inference): honest devices differ in the
    /// last digits, by up to `noise_ppm` of each value, and the job
    /// compares outputs within `tolerance_ppm` (revealed inline).
    Tensors {
        /// The job's tolerance, parts per million.
        tolerance_ppm: u32,
        /// Honest devices' relative noise, parts per million.
        noise_ppm: u32,
    },
}

/// Values in a simulated inference output.
const TENSOR_LEN: u32 = 8;

impl Workload {
    /// The task's true output tensor (what a noiseless device computes).
    fn truth(task: &TaskId) -> Vec<f32> {
        let seed = Hash::of(Domain::Draw, &[b"sim/tensor", &task.encode()]);
        seed.0
            .chunks(4)
            .map(|b| {
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                // In [-4, 4): logits (an f32 holds them to its precision).
                #[allow(clippy::cast_possible_truncation)]
                let logit = (f64::from(n) / f64::from(u32::MAX) * 8.0 - 4.0) as f32;
                logit
            })
            .take(TENSOR_LEN as usize)
            .collect()
    }

    /// Encodes a float output the way an ONNX job does.
    fn encode(values: Vec<f32>) -> Vec<u8> {
        encode_outputs(&[Tensor::f32(vec![TENSOR_LEN], values)])
    }
}

/// How the demo job is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// One replica, accepted as reported (the unverified baseline).
    None,
    /// Fixed replication.
    Replicated(u8),
    /// Adaptive replication with spot checks at this rate (ppm).
    Adaptive(u32),
}

impl Policy {
    fn verification(self, workload: Workload) -> Verification {
        let comparison = match workload {
            Workload::Exact => Comparison::Exact,
            Workload::Tensors { tolerance_ppm, .. } => Comparison::Tolerance { ppm: tolerance_ppm },
        };
        let rule = match self {
            Self::None => Verification {
                replicas: 1,
                quorum: 1,
                max_replicas: 1,
                ..Verification::replicated(1)
            },
            Self::Replicated(n) => Verification::replicated(n),
            Self::Adaptive(ppm) => Verification::adaptive(ppm),
        };
        Verification { comparison, ..rule }
    }
}

/// Settings of one run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Devices, each with its own owner.
    pub devices: usize,
    /// Share of devices that lie (0.0–1.0).
    pub adversaries: f64,
    /// How they lie.
    pub adversary: Adversary,
    /// When they join.
    pub liars_join: Joining,
    /// Tasks in the job.
    pub tasks: u32,
    /// Verification policy.
    pub policy: Policy,
    /// Reward per accepted result.
    pub reward: u64,
    /// Seed for block randomness (same seed, same run).
    pub seed: u64,
    /// Tasks of a warm-up job run before the measured one, so devices
    /// build the records adaptive replication relies on and turncoats
    /// earn the trust they turn on when it ends. Verified policies warm up with
    /// replication 3; the unverified baseline warms up unverified, since
    /// a network that checks nothing never slashes a liar out of its
    /// device set.
    pub warmup_tasks: u32,
    /// Task slots each device declares (the ledger ramps a fresh device up
    /// to them as its results are confirmed).
    pub slots: u16,
    /// Verdicts of the measured job whose inclusion proofs are built and
    /// checked against the final state root (all of them if the job has
    /// no more tasks than this). Every verdict is checked against the
    /// job's verdict root regardless.
    pub proof_samples: u64,
    /// How devices behave in time: idle windows, churn, speed, delays.
    pub conditions: Conditions,
    /// What tasks output, and how outputs are compared.
    pub workload: Workload,
    /// Jobs the measured tasks are split into (a stream of small jobs
    /// rather than one batch).
    pub jobs: u32,
    /// Blocks between one measured job's submission and the next (0: all
    /// in one block).
    pub arrival_blocks: u64,
}

impl Config {
    /// Defaults for everything but the size, adversaries and policy: 16
    /// slots a device, reward 10 a result (ten times the simulated chain's
    /// fee of 1 a transaction, so honest work pays even in the small
    /// batches phones send), seed 1, a warm-up of the same work for
    /// every policy (a job as large as the measured one with replication
    /// 3 for verified policies, one three times as large unverified for
    /// the unverified baseline: 3 results a task either way), 1,000
    /// sampled proofs.
    #[must_use]
    pub fn new(devices: usize, tasks: u32, adversaries: f64, policy: Policy) -> Self {
        Self {
            devices,
            adversaries,
            adversary: Adversary::Colluding,
            liars_join: Joining::FromStart,
            tasks,
            policy,
            reward: 10,
            seed: 1,
            warmup_tasks: if policy == Policy::None {
                tasks.saturating_mul(3)
            } else {
                tasks
            },
            slots: 16,
            proof_samples: 1_000,
            conditions: Conditions::ideal(),
            workload: Workload::Exact,
            jobs: 1,
            arrival_blocks: 0,
        }
    }
}

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Blocks produced.
    pub blocks: u64,
    /// Tasks accepted.
    pub accepted: u64,
    /// Tasks failed (escrow refunded).
    pub failed: u64,
    /// Accepted outputs that were wrong.
    pub wrong_accepted: u64,
    /// Replicas assigned per task of the measured job.
    pub replicas_per_task: f64,
    /// Lying devices.
    pub liars: usize,
    /// Lying devices slashed at least once.
    pub liars_slashed: usize,
    /// Honest devices slashed (outvoted by liars).
    pub honest_slashed: usize,
    /// Total paid to devices for the measured job.
    pub paid: u64,
    /// Escrow returned to the consumer.
    pub refund: u64,
    /// Verdicts of the measured job whose hashes, rebuilt into the verdict
    /// tree, give the root the job committed to.
    pub verdicts_checked: u64,
    /// Sampled verdict inclusion proofs checked against the final state root.
    pub proofs_checked: usize,
    /// Final state root.
    pub state_root: Hash,
    /// Replicas of the measured job that missed a commit or reveal
    /// deadline.
    pub missed: u64,
    /// Times a device was jailed for missed deadlines while the measured
    /// job ran.
    pub jailed: u64,
    /// Blocks from a task's first assignment to its verdict: median.
    pub latency_p50: u64,
    /// … and 90th percentile.
    pub latency_p90: u64,
    /// Blocks from the measured job's submission to its end.
    pub job_blocks: u64,
    /// Mean change in what an honest device's owner holds (balance,
    /// bonds, unbonding and the device's stake) over the whole run,
    /// warm-up included: rewards earned less fees paid.
    pub honest_net: f64,
    /// The same for a lying device: rewards less fees and slashed stake.
    /// Lying pays only if this exceeds [`Report::honest_net`].
    pub liar_net: f64,
}

impl Report {
    /// Wrong results among those accepted (0 if none were).
    #[must_use]
    pub fn wrong_share(&self) -> f64 {
        if self.accepted == 0 {
            0.0
        } else {
            self.wrong_accepted as f64 / self.accepted as f64
        }
    }
}

struct Device {
    key: SecretKey,
    id: DeviceId,
    /// The owner's key: it pauses and resumes the device and sends its
    /// heartbeats, as the agent does.
    owner: SecretKey,
    owner_nonce: u64,
    behaviour: Behaviour,
    nonce: u64,
    life: Life,
    /// Whether the chain has the device taking work (as its owner last
    /// said).
    active: bool,
    /// Whether it has registered: a device that joins late neither hears
    /// nor sends anything before.
    joined: bool,
    /// Height of the last block that carried one of its transactions.
    last_sent: u64,
    /// Newly assigned tasks.
    to_commit: Vec<TaskId>,
    /// Tasks being run, with the idle blocks each still needs.
    running: Vec<(TaskId, u32)>,
    /// Made, not yet sent (in nonce order). Transactions are signed as
    /// they are sent, alongside the ledger ([`Network::block`]).
    outbox: std::collections::VecDeque<Tx>,
    /// Tasks whose reveals opened, in the order the ledger opened them.
    to_reveal: Vec<TaskId>,
    /// Committed, not yet revealed: output hash and salt.
    pending: FxHashMap<TaskId, (Hash, [u8; 32])>,
    /// Committed outputs to reveal inline (jobs that compare values).
    outputs: FxHashMap<TaskId, Bytes>,
    /// Hashes of wrong outputs it committed since the network last asked
    /// (kept only for tensor jobs, whose honest outputs differ too).
    lied: Vec<Hash>,
}

/// The correct output of a task: a hash of its id, standing in for the
/// job's program (the ledger sees only output hashes).
#[must_use]
pub fn true_output(task: &TaskId) -> Hash {
    blob_hash(&task.encode())
}

impl Device {
    fn lies(&self) -> bool {
        match self.behaviour {
            Behaviour::Honest | Behaviour::Turncoat => false,
            Behaviour::Colluder | Behaviour::Lazy => true,
        }
    }

    /// The device's output for `task`: its hash, and its bytes when the
    /// job compares values (and whether it is a lie, for the tally).
    fn run(&self, task: &TaskId, workload: Workload) -> (Hash, Option<Bytes>, bool) {
        let Workload::Tensors { noise_ppm, .. } = workload else {
            let output = self.output(task);
            return (output, None, output != true_output(task));
        };
        let truth = Workload::truth(task);
        let noise = Hash::of(Domain::Draw, &[b"sim/noise", &self.id.0.0, &task.encode()]);
        let lie = self.lies();
        let values: Vec<f32> = match self.behaviour {
            Behaviour::Lazy => Workload::truth(&TaskId {
                job: JobId(noise),
                index: task.index,
            }),
            // Colluders agree on one wrong answer, far outside tolerance.
            Behaviour::Colluder => truth.iter().map(|x| x * 1.5 + 0.25).collect(),
            // Honest float noise: each value off by up to `noise_ppm` of
            // itself (different hardware, different rounding).
            _ => truth
                .iter()
                .zip(noise.0.iter())
                .map(|(x, b)| {
                    let u = f64::from(*b) / 127.5 - 1.0;
                    #[allow(clippy::cast_possible_truncation)]
                    let noisy = (f64::from(*x) * (1.0 + u * f64::from(noise_ppm) / 1e6)) as f32;
                    noisy
                })
                .collect(),
        };
        let bytes = Workload::encode(values);
        (blob_hash(&bytes), Some(Bytes(bytes)), lie)
    }

    fn output(&self, task: &TaskId) -> Hash {
        match self.behaviour {
            Behaviour::Honest | Behaviour::Turncoat => true_output(task),
            Behaviour::Lazy => blob_hash(&[&self.id.0.0[..], &task.encode()].concat()),
            Behaviour::Colluder => blob_hash(&[b"agreed lie".as_slice(), &task.encode()].concat()),
        }
    }

    /// What the device sends for block `height`: a pause or resume when
    /// its idle window closes or opens, commitments for the tasks it
    /// finished, reveals for the tasks whose reveals opened, a heartbeat
    /// when it has been quiet for half an epoch — whichever of them the
    /// network delivers in time.
    fn step(&mut self, height: u64, world: &World) -> Vec<Tx> {
        if !self.joined {
            return Vec::new();
        }
        let now = self.life.at(&world.conditions, height);
        if !now.present {
            // Away: it hears nothing new and sends nothing; what it was
            // told waits for its return.
            return Vec::new();
        }
        if now.idle != self.active {
            self.active = now.idle;
            let call = Call::SetDeviceActive {
                device: self.id,
                active: now.idle,
            };
            let tx = self.owner_tx(call);
            self.outbox.push_back(tx);
        }
        // The newly assigned tasks' list is reused as the list of tasks
        // done now, so neither allocates per block; an instant task on an
        // idle device (ideal conditions) never enters `running`, whose
        // copy of every assignment would be a gigabyte at 10M tasks.
        let mut done = std::mem::take(&mut self.to_commit);
        if !(now.idle && self.life.task_blocks == 0) {
            let task_blocks = self.life.task_blocks;
            self.running
                .extend(done.drain(..).map(|task| (task, task_blocks)));
        }
        if now.idle && !self.running.is_empty() {
            let mut finished = Vec::new();
            self.running.retain_mut(|(task, left)| {
                if *left == 0 {
                    finished.push(*task);
                    false
                } else {
                    *left -= 1;
                    true
                }
            });
            // Tasks set aside earlier come before those assigned now.
            finished.append(&mut done);
            done = finished;
        }
        if now.idle {
            for batch in done.chunks(world.max_batch) {
                let mut commits = Vec::with_capacity(batch.len());
                for &task in batch {
                    let (output_hash, output, lie) = self.run(&task, world.workload);
                    if let Some(output) = output {
                        if lie {
                            self.lied.push(output_hash);
                        }
                        self.outputs.insert(task, output);
                    }
                    let salt =
                        *Hash::of(Domain::Draw, &[&self.key.seed(), &task.encode()]).as_bytes();
                    self.pending.insert(task, (output_hash, salt));
                    commits.push(Commit {
                        task,
                        commitment: commitment(&output_hash, &salt, &self.id),
                    });
                }
                let tx = self.tx(Call::CommitResults { commits });
                self.outbox.push_back(tx);
            }
        }
        done.clear();
        self.to_commit = done;
        let mut open = std::mem::take(&mut self.to_reveal);
        open.sort_unstable();
        open.dedup();
        // Opened tasks it holds no commitment for (none in practice) are
        // skipped.
        let reveals: Vec<Reveal> = open
            .iter()
            .filter_map(|task| {
                let (output_hash, salt) = self.pending.remove(task)?;
                Some(Reveal {
                    task: *task,
                    output_hash,
                    salt,
                    output: self.outputs.remove(task),
                })
            })
            .collect();
        for batch in reveals.chunks(world.max_batch) {
            let tx = self.tx(Call::RevealResults {
                reveals: batch.to_vec(),
            });
            self.outbox.push_back(tx);
        }
        if self.outbox.is_empty() && height.saturating_sub(self.last_sent) >= world.quiet_blocks {
            let tx = self.owner_tx(Call::Heartbeat {
                devices: vec![self.id],
            });
            self.outbox.push_back(tx);
        }
        let mut sent = Vec::new();
        while !self.outbox.is_empty() && self.life.on_time(&world.conditions) {
            sent.extend(self.outbox.pop_front());
        }
        if !sent.is_empty() {
            self.last_sent = height;
        }
        sent
    }

    fn owner_tx(&mut self, call: Call) -> Tx {
        let tx = Tx {
            signer: Signer::Account(self.owner.account()),
            nonce: self.owner_nonce,
            fee: FEE,
            call,
        };
        self.owner_nonce += 1;
        tx
    }

    fn tx(&mut self, call: Call) -> Tx {
        let tx = Tx {
            signer: Signer::Device(self.id),
            nonce: self.nonce,
            fee: FEE,
            call,
        };
        self.nonce += 1;
        tx
    }

    /// `tx` (one of its own or its owner's) signed by its signer.
    fn sign(&self, tx: Tx) -> SignedTx {
        let key = match tx.signer {
            Signer::Account(_) => &self.owner,
            Signer::Device(_) => &self.key,
        };
        tx.sign(CHAIN_ID, key)
    }
}

/// A device's transaction, to be signed by the device at position `at`
/// of the device list.
struct Unsigned {
    at: usize,
    tx: Tx,
}

/// A run of a block's transactions, as handed to the cores that sign and
/// check them alongside the ledger.
enum Run {
    /// Signed already: checked only.
    Signed(Vec<SignedTx>),
    /// Devices' transactions: signed, then checked.
    Unsigned(Vec<Unsigned>),
}

/// What a device is told of a block's events.
#[derive(Clone, Copy)]
enum Deliver {
    /// A replica of this task was assigned to it.
    Commit(TaskId),
    /// This task's reveals opened.
    Reveal(TaskId),
}

/// A [`Deliver`] for the device at position `at` of the device list.
struct Delivery {
    at: usize,
    what: Deliver,
}

/// The deliveries `events` make, in order: assignments to their device,
/// opened reveals to each counted replica's device (as the ledger holds
/// the task now; a device that holds no commitment for it skips it when it
/// steps).
fn resolve(index: &FxHashMap<DeviceId, usize>, ledger: &Ledger, events: &[Event]) -> Vec<Delivery> {
    let mut out = Vec::new();
    let mut deliver = |device: &DeviceId, what: Deliver| {
        if let Some(&at) = index.get(device) {
            out.push(Delivery { at, what });
        }
    };
    for e in events {
        match e {
            Event::Assigned { task, device, .. } => deliver(device, Deliver::Commit(*task)),
            Event::RevealOpen { task } => {
                let replicas = ledger.task(task).map_or(&[][..], |t| &t.replicas);
                for r in replicas.iter().filter(|r| !r.missed) {
                    deliver(&r.device, Deliver::Reveal(*task));
                }
            }
            _ => {}
        }
    }
    out
}

/// Where a run's wall-clock time went, for the scale benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub struct Profile {
    /// Deriving keys, attesting and signing registrations (all cores).
    pub setup: Duration,
    /// Devices working out their commit and reveal batches (all cores).
    pub devices: Duration,
    /// Waiting: for attestations checked ahead of registration blocks,
    /// and the ledger waiting for transactions to be signed and their
    /// signatures checked, which happens on every core alongside it.
    pub wait: Duration,
    /// The ledger applying blocks (one core), less its waits.
    pub apply: Duration,
    /// Handing events to devices and tallying them.
    pub route: Duration,
    /// Rebuilding verdict trees and checking the sampled proofs.
    pub prove: Duration,
    /// Transactions applied.
    pub txs: u64,
    /// The baseline the run is measured against: signing and checking its
    /// device transactions alone.
    pub floor: Floor,
}

/// What signing and checking a run's device transactions alone takes on
/// this machine, on every core: an evenly spaced sample of them (every
/// [`SAMPLE_EVERY`]th, every other one of those each time the sample
/// outgrows [`SAMPLE_CAP`]) is signed and checked again after the run,
/// with the same keys, code and batch size, and the times are scaled to
/// all of them. No ledger, routing or simulation runs meanwhile, so no run with
/// these transactions can take less; `verigrid sim --bench` reports the
/// run against it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Floor {
    /// Device transactions in the run.
    pub transactions: u64,
    /// Of which signed and checked again.
    pub sampled: usize,
    /// Signing all of them (scaled from the sample).
    pub sign: Duration,
    /// Checking all of them (scaled from the sample).
    pub check: Duration,
}

impl Floor {
    /// Signing and checking together.
    #[must_use]
    pub fn total(&self) -> Duration {
        self.sign + self.check
    }
}

/// One device transaction in this many is kept for the [`Floor`].
pub const SAMPLE_EVERY: u64 = 64;

/// Most device transactions kept for the [`Floor`].
pub const SAMPLE_CAP: usize = 50_000;

/// An evenly spaced sample of a stream, at most `cap` long: every
/// `every`th item; when it outgrows `cap`, every other item kept goes and
/// the spacing doubles, so the sample stays even over the whole stream.
struct Thinned<T> {
    every: u64,
    cap: usize,
    /// Items offered so far.
    seen: u64,
    kept: Vec<T>,
}

impl<T: Clone> Thinned<T> {
    fn new(every: u64, cap: usize) -> Self {
        Self {
            every: every.max(1),
            cap: cap.max(1),
            seen: 0,
            kept: Vec::new(),
        }
    }

    fn offer(&mut self, items: &[T]) {
        for (n, item) in (self.seen..).zip(items) {
            if n % self.every != 0 {
                continue;
            }
            self.kept.push(item.clone());
            if self.kept.len() > self.cap {
                let mut position = 0usize;
                self.kept.retain(|_| {
                    position += 1;
                    position % 2 == 1
                });
                self.every *= 2;
            }
        }
        self.seen += items.len() as u64;
    }
}

/// What the measured job has produced so far, tallied from events as
/// blocks are applied (a run at 10 million tasks keeps no event list).
struct Tally {
    /// The measured jobs, in submission order.
    jobs: FxHashMap<JobId, Measured>,
    replicas: u64,
    wrong_accepted: u64,
    paid: u64,
    refund: u64,
    /// Devices slashed, by position in the device list.
    slashed: Vec<bool>,
    /// This block's verdicts of the jobs, waiting for their leaf hashes.
    verdicts: Vec<Verdict>,
    missed: u64,
    jailed: u64,
    /// Per task (job offset + index): the height of its first assignment
    /// (0: none yet).
    started: Vec<u32>,
    /// Per decided task: blocks from its first assignment to its verdict.
    latencies: Vec<u32>,
    /// Height the first job was submitted at.
    submitted: Option<u64>,
}

/// One measured job.
struct Measured {
    /// Its first task's position in [`Tally::started`].
    offset: usize,
    /// Its verdicts, rebuilt into its verdict tree.
    paths: VerdictPaths,
}

impl Tally {
    /// The position of a measured job's task among all measured tasks.
    fn position(&self, task: &TaskId) -> Option<usize> {
        self.jobs
            .get(&task.job)
            .map(|m| m.offset + task.index as usize)
    }
}

/// What every device needs to know of the run to take its step.
struct World {
    conditions: Conditions,
    workload: Workload,
    max_batch: usize,
    /// Blocks of silence after which a device sends a heartbeat (half the
    /// chain's liveness epoch).
    quiet_blocks: u64,
}

/// The network: a ledger and its devices.
pub struct Network<'a> {
    ledger: Ledger,
    parent: Hash,
    seed: u64,
    attester: &'a dyn Attester,
    devices: Vec<Device>,
    conditions: Conditions,
    workload: Workload,
    /// Wrong outputs devices committed (tensor jobs only).
    lies: rustc_hash::FxHashSet<Hash>,
    /// Device id → position in `devices`.
    index: FxHashMap<DeviceId, usize>,
    consumer: SecretKey,
    consumer_nonce: u64,
    blocks: u64,
    tally: Option<Tally>,
    profile: Profile,
    /// Device transactions sent, and an even sample of them for the
    /// [`Floor`].
    sample: Thinned<SignedTx>,
}

/// Transactions per run of signature checks handed to the ledger (large
/// enough for batch verification to pay, small enough that the ledger
/// starts at once).
const CHECK_RUN: usize = 256;

/// Devices registered per block while the network starts.
const REGISTRATIONS_PER_BLOCK: usize = 50_000;

impl<'a> Network<'a> {
    /// Genesis, then every device registered by attestation.
    ///
    /// # Errors
    /// A rejected genesis or registration (reported with the ledger's reason).
    pub fn start(config: &Config, attester: &'a dyn Attester) -> Result<Self> {
        config
            .conditions
            .check()
            .map_err(|why| anyhow::anyhow!("unusable conditions: {why}"))?;
        if !(0.0..=1.0).contains(&config.adversaries) {
            bail!(
                "--adversaries must be a fraction between 0 and 1, got {}",
                config.adversaries
            );
        }
        if config.adversary == Adversary::Turncoat && config.liars_join == Joining::AfterWarmup {
            bail!(
                "turncoats earn their record in the warm-up, so they cannot join after it: \
                 use another adversary, or let them join from the start"
            );
        }
        let started = Instant::now();
        let governor = SecretKey::from_label("sim/governor");
        let consumer = SecretKey::from_label("sim/consumer");
        let positions: Vec<usize> = (0..config.devices).collect();
        let keys: Vec<(SecretKey, SecretKey)> = parallel::map(&positions, |i| {
            (
                SecretKey::from_label(&format!("sim/owner/{i}")),
                SecretKey::from_label(&format!("sim/device/{}/{i}", config.seed)),
            )
        });
        let mut params = Params::new(governor.account());
        params.attestation.trust_roots = attester.trust_roots();
        params.commit_blocks = config.conditions.commit_blocks;
        params.reveal_blocks = config.conditions.reveal_blocks;
        params.base_fee = FEE;
        // A block may fill every free slot of the network (the default
        // budget, 200,000 replicas a block, is sized for a real chain's
        // block time; a simulated block stands for as long as it takes).
        let capacity = config.devices.saturating_mul(usize::from(config.slots));
        params.max_assignments_per_block = params
            .max_assignments_per_block
            .max(u32::try_from(capacity).unwrap_or(u32::MAX));
        let mut accounts: Vec<(AccountId, Amount)> = keys
            .iter()
            .map(|(o, _)| (o.account(), OWNER_FUNDS))
            .collect();
        accounts.push((consumer.account(), Amount(1 << 50)));
        let genesis = Genesis {
            chain_id: CHAIN_ID.into(),
            params,
            accounts,
            time: GENESIS_TIME,
        };
        let mut net = Self {
            ledger: Ledger::new(&genesis).map_err(|e| anyhow::anyhow!("genesis: {e}"))?,
            parent: Hash::of(
                Domain::Block,
                &[b"verigrid genesis", &config.seed.to_le_bytes()],
            ),
            seed: config.seed,
            attester,
            devices: Vec::with_capacity(config.devices),
            conditions: config.conditions,
            workload: config.workload,
            lies: rustc_hash::FxHashSet::default(),
            index: FxHashMap::with_capacity_and_hasher(config.devices, Default::default()),
            consumer,
            consumer_nonce: 0,
            blocks: 0,
            tally: None,
            profile: Profile::default(),
            sample: Thinned::new(SAMPLE_EVERY, SAMPLE_CAP),
        };
        net.block(Vec::new(), Vec::new(), None)?;
        // Liars are spread evenly through the device list.
        // The share was checked to lie in 0..=1, so this is at most `devices`.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let liars = (config.adversaries * config.devices as f64).round() as usize;
        for (i, (owner, key)) in keys.iter().enumerate() {
            let is_liar =
                liars > 0 && (i * liars) / config.devices != ((i + 1) * liars) / config.devices;
            let late = is_liar && config.liars_join == Joining::AfterWarmup;
            let behaviour = match (is_liar, config.adversary) {
                (false, _) => Behaviour::Honest,
                (true, Adversary::Colluding) => Behaviour::Colluder,
                (true, Adversary::Lazy) => Behaviour::Lazy,
                (true, Adversary::Turncoat) => Behaviour::Turncoat,
            };
            net.index.insert(key.device_key().device_id(), i);
            net.devices.push(Device {
                id: key.device_key().device_id(),
                key: key.clone(),
                owner: owner.clone(),
                // Registering the device used the owner's first nonce.
                owner_nonce: 1,
                behaviour,
                nonce: 0,
                life: Life::new(&config.conditions, config.seed, i),
                active: true,
                joined: !late,
                last_sent: 0,
                to_commit: Vec::new(),
                running: Vec::new(),
                outbox: std::collections::VecDeque::new(),
                lied: Vec::new(),
                outputs: FxHashMap::default(),
                to_reveal: Vec::new(),
                pending: FxHashMap::default(),
            });
        }
        let now: Vec<(SecretKey, SecretKey)> = keys
            .into_iter()
            .zip(&net.devices)
            .filter_map(|(k, d)| d.joined.then_some(k))
            .collect();
        net.profile.setup += started.elapsed();
        for part in now.chunks(REGISTRATIONS_PER_BLOCK) {
            net.register(part, config.slots)?;
        }
        Ok(net)
    }

    /// Starts the measured work's adversaries: turncoats turn, and the
    /// devices that join late ([`Joining::AfterWarmup`]) register,
    /// with `slots` slots each.
    ///
    /// # Errors
    /// A rejected registration.
    fn unleash(&mut self, slots: u16) -> Result<()> {
        for d in &mut self.devices {
            if d.behaviour == Behaviour::Turncoat {
                d.behaviour = Behaviour::Colluder;
            }
        }
        let late: Vec<(SecretKey, SecretKey)> = self
            .devices
            .iter()
            .filter(|d| !d.joined)
            .map(|d| (d.owner.clone(), d.key.clone()))
            .collect();
        for part in late.chunks(REGISTRATIONS_PER_BLOCK) {
            self.register(part, slots)?;
        }
        for d in &mut self.devices {
            d.joined = true;
        }
        Ok(())
    }

    /// Registers one block's worth of devices: evidence is made, signed and
    /// pre-verified on every core; the ledger decides.
    fn register(&mut self, keys: &[(SecretKey, SecretKey)], slots: u16) -> Result<()> {
        let started = Instant::now();
        // The newest block whose hash the ledger knows: the last one's parent.
        let anchor = Height(self.ledger.height().0.saturating_sub(1));
        let anchor_hash = self.ledger.recent_block(anchor).context("anchor block")?;
        let attester = self.attester;
        let made: Vec<Result<(SignedTx, Vec<u8>)>> = parallel::map(keys, |(owner, key)| {
            let challenge =
                registration_challenge(CHAIN_ID, &owner.account(), &key.device_key(), &anchor_hash);
            let evidence = attester.attest(&key.device_key(), &challenge.0)?;
            let call = Call::RegisterDevice {
                evidence,
                key: key.device_key(),
                capabilities: Capabilities {
                    slots,
                    ..Capabilities::default()
                },
                pool: None,
                anchor,
                stake: DEVICE_STAKE,
            };
            let tx = Tx {
                signer: Signer::Account(owner.account()),
                nonce: 0,
                fee: FEE,
                call,
            }
            .sign(CHAIN_ID, owner);
            Ok((tx, challenge.0.to_vec()))
        });
        let mut txs = Vec::with_capacity(made.len());
        let mut evidence = Vec::with_capacity(made.len());
        for m in made {
            let (tx, challenge) = m?;
            if let Call::RegisterDevice { evidence: e, .. } = &tx.tx.call {
                evidence.push((e.clone(), challenge));
            }
            txs.push(tx);
        }
        self.profile.setup += started.elapsed();
        let checked = Instant::now();
        // The ledger verifies at the block's time under its current policy.
        let now = Timestamp(self.ledger.time().0 + self.conditions.block_secs * 1_000);
        let verifier =
            Preverified::new(attester, &evidence, &self.ledger.params().attestation, now);
        self.profile.wait += checked.elapsed();
        self.block(txs, Vec::new(), Some(&verifier))?;
        Ok(())
    }

    /// Applies the next block: `signed` (submissions, registrations), then
    /// the devices' `unsigned` transactions, in order. Devices sign theirs
    /// on every core while the ledger applies the block, and every
    /// transaction's signature is checked there too, just ahead of the
    /// ledger, which takes each run as it reaches it; a check counts only
    /// for the very transaction it was made for
    /// (`Ledger::apply_block_streamed`). Device transactions join the
    /// [`Floor`]'s sample as applied.
    fn block(
        &mut self,
        signed: Vec<SignedTx>,
        unsigned: Vec<Unsigned>,
        verifier: Option<&dyn verigrid_types::device::AttestationVerifier>,
    ) -> Result<()> {
        let height = self.ledger.height().plus(1);
        let input = BlockInput {
            height,
            time: Timestamp(self.ledger.time().0 + self.conditions.block_secs * 1_000),
            randomness: Hash::of(Domain::Draw, &[&self.parent.0, &self.seed.to_le_bytes()]),
            parent: self.parent,
            proposer: SecretKey::from_label("sim/validator").account(),
            // The ledger appends every run here, in order.
            txs: Vec::with_capacity(signed.len() + unsigned.len()),
        };
        let up_front = signed.len();
        let runs: Vec<Run> = parallel::runs(signed, CHECK_RUN)
            .into_iter()
            .map(Run::Signed)
            .chain(
                parallel::runs(unsigned, CHECK_RUN)
                    .into_iter()
                    .map(Run::Unsigned),
            )
            .collect();
        let applied = Instant::now();
        let checker = self.ledger.signature_checker();
        let verifier = verifier.unwrap_or_else(|| self.attester.verifier());
        let (ledger, devices) = (&mut self.ledger, &self.devices);
        let (out, waited) = parallel::alongside(
            runs,
            |run| {
                let txs: Vec<SignedTx> = match run {
                    Run::Signed(txs) => txs,
                    // `at` is the position `step` was called at.
                    Run::Unsigned(txs) => {
                        txs.into_iter().map(|u| devices[u.at].sign(u.tx)).collect()
                    }
                };
                let checks = checker.check(&txs);
                (txs, checks)
            },
            |runs| ledger.apply_block_streamed(input, verifier, runs),
        );
        let (out, input) = out?;
        self.profile.wait += waited;
        self.profile.apply += applied.elapsed().saturating_sub(waited);
        if let Some((i, Err(e))) = out.results.iter().enumerate().find(|(_, r)| r.is_err()) {
            bail!("transaction {i} of block {} was rejected: {e}", height.0);
        }
        if let Some(device_txs) = input.txs.get(up_front..) {
            self.sample.offer(device_txs);
        }
        self.profile.txs += input.txs.len() as u64;
        self.parent = Hash::of(Domain::Block, &[&out.state_root.0, &height.0.to_le_bytes()]);
        self.blocks += 1;
        let routed = Instant::now();
        let emptied = self.route(out.events);
        self.ledger.recycle_events(emptied);
        self.profile.route += routed.elapsed();
        let proved = Instant::now();
        self.rebuild_verdicts();
        self.profile.prove += proved.elapsed();
        Ok(())
    }

    /// Hands each event to the devices it concerns (not every event to
    /// every device: that is quadratic at scale), and tallies the measured
    /// job's. The cost is cache misses — a device index look-up per
    /// replica, a task look-up per opened task, a device's queue per push
    /// — so both steps run on every core: events are resolved to device
    /// positions in consecutive parts, then each core hands over to its own
    /// part of the devices, in event order. Gives back the emptied list,
    /// for the ledger to fill again.
    fn route(&mut self, mut events: Vec<Event>) -> Vec<Event> {
        let (index, ledger) = (&self.index, &self.ledger);
        let deliveries = parallel::map_parts(&events, |part| resolve(index, ledger, part));
        parallel::map_parts_mut(&mut self.devices, |start, devices| {
            for d in deliveries.iter().flatten() {
                let Some(device) = d.at.checked_sub(start).and_then(|i| devices.get_mut(i)) else {
                    continue;
                };
                match d.what {
                    Deliver::Commit(task) => device.to_commit.push(task),
                    Deliver::Reveal(task) => device.to_reveal.push(task),
                }
            }
        });
        for e in events.drain(..) {
            match e {
                // Verdicts are moved into the tally, not copied.
                Event::Verdict(v) => self.tally_verdict(*v),
                Event::Assigned { task, .. } => {
                    if let Some(t) = &mut self.tally
                        && let Some(at) = t.position(&task)
                    {
                        t.replicas += 1;
                        if let Some(first) = t.started.get_mut(at)
                            && *first == 0
                        {
                            *first = u32::try_from(self.ledger.height().0).unwrap_or(u32::MAX);
                        }
                    }
                }
                Event::Missed { task, .. } => {
                    if let Some(t) = &mut self.tally
                        && t.jobs.contains_key(&task.job)
                    {
                        t.missed += 1;
                    }
                }
                Event::Jailed { .. } => {
                    if let Some(t) = &mut self.tally {
                        t.jailed += 1;
                    }
                }
                Event::Paid { amount, .. } => {
                    if let Some(t) = &mut self.tally {
                        t.paid += amount.0;
                    }
                }
                Event::Slashed { device, .. } => {
                    if let (Some(t), Some(&i)) = (&mut self.tally, self.index.get(&device)) {
                        t.slashed[i] = true;
                    }
                }
                Event::JobFinished { job, refund, .. } => {
                    if let Some(t) = &mut self.tally
                        && t.jobs.contains_key(&job)
                    {
                        t.refund += refund.0;
                    }
                }
                _ => {}
            }
        }
        events
    }

    /// Counts a verdict of the measured job. (Devices dropped their pending
    /// entry when they revealed; one that committed to a task failed before
    /// its reveals opened keeps the entry until the run ends: rare, and a
    /// task id never comes back.)
    fn tally_verdict(&mut self, v: Verdict) {
        if let Some(t) = &mut self.tally
            && let Some(at) = t.position(&v.task)
        {
            if let Some(&first) = t.started.get(at)
                && first > 0
            {
                let blocks = v.height.0.saturating_sub(u64::from(first));
                t.latencies.push(u32::try_from(blocks).unwrap_or(u32::MAX));
            }
            t.verdicts.push(v);
        }
    }

    /// Adds this block's verdicts of the measured job to its rebuilt tree
    /// and counts the wrong outputs accepted (leaf hashes and true outputs
    /// on every core, the tree in decision order).
    fn rebuild_verdicts(&mut self) {
        let Some(t) = &mut self.tally else { return };
        if t.verdicts.is_empty() {
            return;
        }
        let verdicts = std::mem::take(&mut t.verdicts);
        let (exact, lies) = (self.workload == Workload::Exact, &self.lies);
        let judged = parallel::map(&verdicts, |v| {
            // Honest tensor outputs differ from one another: a wrong one is
            // one a device knowingly committed.
            let wrong = match v.outcome {
                Outcome::Accepted(out) if exact => out != true_output(&v.task),
                Outcome::Accepted(out) => lies.contains(&out),
                Outcome::Failed => false,
            };
            (v.leaf(), wrong)
        });
        for (v, (leaf, wrong)) in verdicts.iter().zip(judged) {
            t.wrong_accepted += u64::from(wrong);
            if let Some(m) = t.jobs.get_mut(&v.task.job) {
                m.paths.push(v, leaf);
            }
        }
    }

    /// Submits a job of `tasks` tasks and runs blocks until it finishes;
    /// returns its id.
    ///
    /// # Errors
    /// A rejected transaction, or a job that does not finish.
    pub fn run_job(
        &mut self,
        tasks: u32,
        policy: Policy,
        reward: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<JobId> {
        let jobs = self.run_jobs(&[tasks], 0, policy, reward, progress)?;
        jobs.first().copied().context("no job was submitted")
    }

    /// A signed submission of a job of `tasks` tasks, and the job's id.
    fn submission(&mut self, tasks: u32, policy: Policy, reward: u64) -> Result<(SignedTx, JobId)> {
        let spec = JobSpec {
            kind: match self.workload {
                Workload::Exact => JobKind::Wasm,
                Workload::Tensors { .. } => JobKind::Onnx,
            },
            program: blob_hash(b"sim/kernel"),
            inputs: Inputs::Indexed {
                blob: blob_hash(b"sim/input"),
                count: tasks,
            },
            limits: match self.workload {
                Workload::Exact => Limits::default(),
                // Values are revealed inline: outputs must fit.
                Workload::Tensors { .. } => Limits {
                    output_bytes: 4_096,
                    ..Limits::default()
                },
            },
            verification: policy.verification(self.workload),
            requirements: Requirements::default(),
            reward: Amount(reward),
            deadline: self.ledger.height().plus(1_000_000),
        };
        let escrow = spec.max_cost().context("job cost overflows")?;
        let job = JobId::derive(&self.consumer.account(), self.consumer_nonce);
        let tx = Tx {
            signer: Signer::Account(self.consumer.account()),
            nonce: self.consumer_nonce,
            fee: FEE,
            call: Call::SubmitJob { spec, escrow },
        }
        .sign(CHAIN_ID, &self.consumer);
        self.consumer_nonce += 1;
        Ok((tx, job))
    }

    /// Submits jobs of the given sizes, one every `arrival_blocks` blocks
    /// (all in one block if 0), and runs blocks until every one has
    /// finished; returns their ids in submission order.
    ///
    /// # Errors
    /// A rejected transaction, or jobs that do not finish.
    pub fn run_jobs(
        &mut self,
        sizes: &[u32],
        arrival_blocks: u64,
        policy: Policy,
        reward: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<JobId>> {
        let world = World {
            conditions: self.conditions,
            workload: self.workload,
            max_batch: self.ledger.params().max_batch as usize,
            quiet_blocks: (self.ledger.params().epoch_blocks / 2).max(1),
        };
        let total: u64 = sizes.iter().map(|&n| u64::from(n)).sum();
        let mut jobs = Vec::with_capacity(sizes.len());
        let mut pending = sizes.iter().copied();
        let mut next_at = 0u64;
        for block in 0..1_000_000u64 {
            if block > 0 {
                let mut decided = 0u64;
                let mut finished = 0usize;
                for job in &jobs {
                    let state = self.ledger.job(job).context("a submitted job vanished")?;
                    decided += u64::from(state.accepted) + u64::from(state.failed);
                    finished += usize::from(state.status == JobStatus::Finished);
                }
                progress(Progress {
                    decided,
                    tasks: total,
                    height: self.ledger.height().0,
                });
                if finished == sizes.len() {
                    return Ok(jobs);
                }
            }
            // Submissions due now go in this block, ahead of the devices'
            // transactions.
            let mut txs = Vec::new();
            let mut stepped = Vec::new();
            while block >= next_at
                && let Some(tasks) = pending.next()
            {
                let (tx, job) = self.submission(tasks, policy, reward)?;
                txs.push(tx);
                jobs.push(job);
                next_at = block + arrival_blocks;
                if arrival_blocks > 0 {
                    break;
                }
            }
            if block > 0 {
                let started = Instant::now();
                let height = self.ledger.height().0 + 1;
                stepped = parallel::map_parts_mut(&mut self.devices, |start, part| {
                    let mut made = Vec::new();
                    for (i, d) in part.iter_mut().enumerate() {
                        let at = start + i;
                        made.extend(
                            d.step(height, &world)
                                .into_iter()
                                .map(|tx| Unsigned { at, tx }),
                        );
                    }
                    made
                })
                .into_iter()
                .flatten()
                .collect();
                if self.workload != Workload::Exact {
                    for d in &mut self.devices {
                        self.lies.extend(d.lied.drain(..));
                    }
                }
                self.profile.devices += started.elapsed();
            }
            let first_submission = block == 0;
            self.block(txs, stepped, None)?;
            if first_submission
                && let Some(t) = &mut self.tally
                && t.submitted.is_none()
                && jobs.first().is_some_and(|j| t.jobs.contains_key(j))
            {
                t.submitted = Some(self.ledger.height().0);
            }
        }
        bail!("jobs did not finish within 1000000 blocks")
    }

    /// What a device's owner holds now, its device's stake included.
    fn holdings(&self, device: &Device) -> u128 {
        let account = self
            .ledger
            .account(&device.owner.account())
            .and_then(verigrid_ledger::Account::total)
            .map_or(0, |a| u128::from(a.0));
        let stake = self
            .ledger
            .device(&device.id)
            .map_or(0, |d| u128::from(d.stake.0));
        account + stake
    }

    /// Signs and checks the sampled device transactions again, on every
    /// core as the run does, and scales the times to all of them.
    ///
    /// # Errors
    /// A sampled transaction whose signer is not a simulated device, or
    /// whose signature does not check (either would be a bug).
    fn signature_floor(&self) -> Result<Floor> {
        let sample = &self.sample.kept;
        // Owners sign their devices' pauses, resumes and heartbeats.
        let owners: FxHashMap<AccountId, usize> = if sample
            .iter()
            .any(|tx| matches!(tx.tx.signer, Signer::Account(_)))
        {
            self.devices
                .iter()
                .enumerate()
                .map(|(i, d)| (d.owner.account(), i))
                .collect()
        } else {
            FxHashMap::default()
        };
        let mut unsigned = Vec::with_capacity(sample.len());
        for tx in sample {
            let key = match tx.tx.signer {
                Signer::Device(id) => self
                    .index
                    .get(&id)
                    .and_then(|&i| self.devices.get(i))
                    .map(|d| &d.key),
                Signer::Account(a) => owners
                    .get(&a)
                    .and_then(|&i| self.devices.get(i))
                    .map(|d| &d.owner),
            };
            let key = key.context("a sampled transaction was not a device's or its owner's")?;
            unsigned.push((&tx.tx, key));
        }
        let started = Instant::now();
        let signed = parallel::map_parts(&unsigned, |part| {
            part.iter()
                .map(|(tx, key)| Tx::clone(tx).sign(CHAIN_ID, key))
                .collect::<Vec<_>>()
        })
        .concat();
        let sign = started.elapsed();
        let checker = self.ledger.signature_checker();
        let started = Instant::now();
        let invalid: usize = parallel::map_parts(&signed, |part| {
            part.chunks(CHECK_RUN)
                .map(|run| checker.check(run).invalid())
                .sum::<usize>()
        })
        .iter()
        .sum();
        let check = started.elapsed();
        if invalid > 0 || signed != *sample {
            bail!("{invalid} re-signed transactions did not sign or check as in the run");
        }
        let scale = if signed.is_empty() {
            0.0
        } else {
            self.sample.seen as f64 / signed.len() as f64
        };
        Ok(Floor {
            transactions: self.sample.seen,
            sampled: signed.len(),
            sign: sign.mul_f64(scale),
            check: check.mul_f64(scale),
        })
    }

    /// Starts tallying the next jobs submitted, of the given sizes,
    /// sampling `proof_samples` of their verdicts (spread over the jobs)
    /// for full proofs.
    fn measure(&mut self, sizes: &[u32], proof_samples: u64) {
        let per_job = proof_samples.div_ceil(sizes.len().max(1) as u64);
        let mut jobs = FxHashMap::default();
        let mut offset = 0usize;
        for (i, &tasks) in sizes.iter().enumerate() {
            let job = JobId::derive(&self.consumer.account(), self.consumer_nonce + i as u64);
            let paths = VerdictPaths::new(u64::from(tasks), per_job, self.seed ^ i as u64);
            jobs.insert(job, Measured { offset, paths });
            offset += tasks as usize;
        }
        self.tally = Some(Tally {
            jobs,
            replicas: 0,
            wrong_accepted: 0,
            paid: 0,
            refund: 0,
            slashed: vec![false; self.devices.len()],
            verdicts: Vec::new(),
            missed: 0,
            jailed: 0,
            started: vec![0; offset],
            latencies: Vec::new(),
            submitted: None,
        });
    }

    /// The ledger, for inspection.
    pub fn ledger_mut(&mut self) -> &mut Ledger {
        &mut self.ledger
    }
}

/// Runs one experiment: optional warm-up job, then the measured job, then
/// a check of every measured verdict against the job's verdict root and of
/// sampled verdict proofs against the state root.
///
/// # Errors
/// Any rejected transaction or failed proof.
pub fn run(config: &Config, attester: &dyn Attester) -> Result<Report> {
    run_with_progress(config, attester, &mut |_| {})
}

/// How far a job has come, reported after every block.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Tasks decided so far.
    pub decided: u64,
    /// Tasks in the job.
    pub tasks: u64,
    /// Current block height.
    pub height: u64,
}

/// [`run`], reporting progress of the warm-up and measured jobs.
///
/// # Errors
/// Any rejected transaction or failed proof.
pub fn run_with_progress(
    config: &Config,
    attester: &dyn Attester,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report> {
    run_profiled(config, attester, progress).map(|(report, _)| report)
}

/// [`run_with_progress`], also saying where the time went.
///
/// # Errors
/// Any rejected transaction or failed proof.
pub fn run_profiled(
    config: &Config,
    attester: &dyn Attester,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Report, Profile)> {
    let mut net = Network::start(config, attester)?;
    if config.warmup_tasks > 0 {
        let warmup = if config.policy == Policy::None {
            Policy::None
        } else {
            Policy::Replicated(3)
        };
        net.run_job(config.warmup_tasks, warmup, config.reward, progress)?;
    }
    net.unleash(config.slots)?;
    if config.jobs == 0 || config.jobs > config.tasks.max(1) {
        bail!(
            "--jobs must be between 1 and the number of tasks ({}), got {}",
            config.tasks,
            config.jobs
        );
    }
    let sizes: Vec<u32> = (0..config.jobs)
        .map(|i| config.tasks / config.jobs + u32::from(i < config.tasks % config.jobs))
        .collect();
    net.measure(&sizes, config.proof_samples);
    let jobs = net.run_jobs(
        &sizes,
        config.arrival_blocks,
        config.policy,
        config.reward,
        progress,
    )?;
    let proved = Instant::now();
    let tally = net
        .tally
        .take()
        .context("the measured job was not tallied")?;
    let mut latencies = tally.latencies;
    latencies.sort_unstable();
    let percentile = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .map_or(0, |&b| u64::from(b))
    };
    let mut report = Report {
        wrong_accepted: tally.wrong_accepted,
        paid: tally.paid,
        refund: tally.refund,
        missed: tally.missed,
        jailed: tally.jailed,
        latency_p50: percentile(50),
        latency_p90: percentile(90),
        job_blocks: net
            .ledger
            .height()
            .0
            .saturating_sub(tally.submitted.unwrap_or(0)),
        ..Report::default()
    };
    let mut net_sums = [0_i128; 2];
    for (d, slashed) in net.devices.iter().zip(&tally.slashed) {
        let liar = d.behaviour != Behaviour::Honest;
        report.liars += usize::from(liar);
        net_sums[usize::from(liar)] +=
            i128::try_from(net.holdings(d)).unwrap_or(i128::MAX) - i128::from(OWNER_FUNDS.0);
        if *slashed {
            if liar {
                report.liars_slashed += 1;
            } else {
                report.honest_slashed += 1;
            }
        }
    }
    let mean = |sum: i128, n: usize| if n == 0 { 0.0 } else { sum as f64 / n as f64 };
    report.honest_net = mean(net_sums[0], net.devices.len() - report.liars);
    report.liar_net = mean(net_sums[1], report.liars);
    let ledger = net.ledger_mut();
    let root = ledger.state_root();
    for job in &jobs {
        let finished = ledger.job(job).context("job vanished")?.clone();
        let paths = &tally
            .jobs
            .get(job)
            .context("a measured job was not tallied")?
            .paths;
        if paths.root() != finished.verdicts.root() || paths.len() != finished.verdicts.len() {
            bail!(
                "the {} verdicts seen do not rebuild job {job:?}'s verdict root",
                paths.len()
            );
        }
        report.verdicts_checked += paths.len();
        let proofs = ledger
            .prove_verdicts_at(paths.proofs())
            .context("building verdict proofs")?;
        for (i, proof) in proofs.iter().enumerate() {
            if !proof.verify(&root) {
                bail!("verdict proof {i} does not verify against the state root");
            }
            report.proofs_checked += 1;
        }
        report.accepted += u64::from(finished.accepted);
        report.failed += u64::from(finished.failed);
    }
    report.replicas_per_task = tally.replicas as f64 / f64::from(config.tasks.max(1));
    report.blocks = net.blocks;
    report.state_root = root;
    net.profile.prove += proved.elapsed();
    net.profile.floor = net.signature_floor()?;
    Ok((report, net.profile))
}

#[cfg(test)]
mod tests {
    use super::Thinned;

    #[test]
    fn a_thinned_sample_stays_evenly_spaced_and_within_its_cap() {
        let mut sample = Thinned::new(4, 10);
        let items: Vec<u64> = (0..1_000).collect();
        let mut spacings = Vec::new();
        for chunk in items.chunks(7) {
            sample.offer(chunk);
            assert!(sample.kept.len() <= 10);
            let expected: Vec<u64> = (0..sample.seen).filter(|n| n % sample.every == 0).collect();
            assert_eq!(sample.kept, expected, "after {} items", sample.seen);
            spacings.push(sample.every);
        }
        assert_eq!(sample.seen, 1_000);
        // 1,000 items, at most 10 kept: the spacing doubled from 4 to 128.
        assert_eq!(sample.every, 128);
        assert!(
            spacings
                .windows(2)
                .all(|w| w[1] == w[0] || w[1] == 2 * w[0])
        );
    }
}
