//! An in-process network: the real ledger driven block by block, with
//! simulated devices that follow the protocol (commit, then reveal) or
//! attack it. It is a thin shell around `verigrid-ledger`, never a second
//! copy of its rules (docs/DESIGN.md §2): every assignment, verdict,
//! payment and slash below is the ledger's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result, bail};
use verigrid_ledger::{BlockInput, Event, Genesis, JobStatus, Ledger, Outcome};
use verigrid_types::codec::Encode;
use verigrid_types::device::{Capabilities, registration_challenge};
use verigrid_types::job::{Inputs, JobKind, JobSpec, Limits, Requirements, Verification};
use verigrid_types::params::Params;
use verigrid_types::tx::{Call, Commit, Reveal, SignedTx, Signer, Tx, commitment};
use verigrid_types::{
    AccountId, Amount, DeviceId, Domain, Hash, Height, JobId, SecretKey, TaskId, Timestamp,
    blob_hash,
};

use crate::attestation::Attester;

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
    /// Honest until it has this many agreeing results, then colludes.
    Turncoat(u32),
}

/// Which adversary model the lying devices follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adversary {
    /// All liars report the same wrong output.
    Colluding,
    /// Each liar reports its own random output.
    Lazy,
    /// Liars build a record honestly, then collude.
    Turncoat,
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
    fn verification(self) -> Verification {
        match self {
            Self::None => Verification {
                replicas: 1,
                quorum: 1,
                max_replicas: 1,
                ..Verification::replicated(1)
            },
            Self::Replicated(n) => Verification::replicated(n),
            Self::Adaptive(ppm) => Verification::adaptive(ppm),
        }
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
    /// Tasks in the job.
    pub tasks: u32,
    /// Verification policy.
    pub policy: Policy,
    /// Reward per accepted result.
    pub reward: u64,
    /// Seed for block randomness (same seed, same run).
    pub seed: u64,
    /// Tasks of a warm-up job run before the measured one, so devices
    /// build the records adaptive replication relies on.
    pub warmup_tasks: u32,
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
    /// Verdict inclusion proofs checked against the final state root.
    pub proofs_checked: usize,
    /// Final state root.
    pub state_root: Hash,
}

struct Device {
    key: SecretKey,
    id: DeviceId,
    behaviour: Behaviour,
    nonce: u64,
    agreed: u32,
    to_commit: Vec<TaskId>,
    to_reveal: BTreeSet<TaskId>,
    pending: BTreeMap<TaskId, (Hash, [u8; 32])>,
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
            Behaviour::Honest => false,
            Behaviour::Colluder | Behaviour::Lazy => true,
            Behaviour::Turncoat(after) => self.agreed >= after,
        }
    }

    fn output(&self, task: &TaskId) -> Hash {
        match self.behaviour {
            Behaviour::Honest => true_output(task),
            Behaviour::Lazy => blob_hash(&[&self.id.0.0[..], &task.encode()].concat()),
            Behaviour::Colluder | Behaviour::Turncoat(_) if self.lies() => {
                blob_hash(&[b"agreed lie".as_slice(), &task.encode()].concat())
            }
            Behaviour::Colluder | Behaviour::Turncoat(_) => true_output(task),
        }
    }

    fn step(&mut self, max_batch: usize) -> Vec<SignedTx> {
        let mut txs = Vec::new();
        while !self.to_commit.is_empty() {
            let take = self.to_commit.len().min(max_batch);
            let batch: Vec<TaskId> = self.to_commit.drain(..take).collect();
            let mut commits = Vec::with_capacity(batch.len());
            for task in batch {
                let output_hash = self.output(&task);
                let salt = *Hash::of(Domain::Draw, &[&self.key.seed(), &task.encode()]).as_bytes();
                self.pending.insert(task, (output_hash, salt));
                commits.push(Commit {
                    task,
                    commitment: commitment(&output_hash, &salt, &self.id),
                });
            }
            txs.push(self.tx(Call::CommitResults { commits }));
        }
        let open: Vec<TaskId> = std::mem::take(&mut self.to_reveal).into_iter().collect();
        for batch in open.chunks(max_batch) {
            let reveals: Vec<Reveal> = batch
                .iter()
                .filter_map(|task| {
                    let (output_hash, salt) = self.pending.remove(task)?;
                    Some(Reveal {
                        task: *task,
                        output_hash,
                        salt,
                        output: None,
                    })
                })
                .collect();
            if !reveals.is_empty() {
                txs.push(self.tx(Call::RevealResults { reveals }));
            }
        }
        txs
    }

    fn tx(&mut self, call: Call) -> SignedTx {
        let tx = Tx {
            signer: Signer::Device(self.id),
            nonce: self.nonce,
            fee: Amount(1),
            call,
        };
        self.nonce += 1;
        tx.sign(CHAIN_ID, &self.key)
    }
}

/// The network: a ledger and its devices.
pub struct Network<'a> {
    ledger: Ledger,
    parent: Hash,
    seed: u64,
    attester: &'a dyn Attester,
    devices: Vec<Device>,
    /// Device id → position in `devices`.
    index: HashMap<DeviceId, usize>,
    /// Task → devices holding a replica of it, for routing events.
    holders: HashMap<TaskId, Vec<usize>>,
    consumer: SecretKey,
    consumer_nonce: u64,
    blocks: u64,
}

impl<'a> Network<'a> {
    /// Genesis, then every device registered by attestation.
    ///
    /// # Errors
    /// A rejected genesis or registration (reported with the ledger's reason).
    pub fn start(config: &Config, attester: &'a dyn Attester) -> Result<Self> {
        if !(0.0..=1.0).contains(&config.adversaries) {
            bail!(
                "--adversaries must be a fraction between 0 and 1, got {}",
                config.adversaries
            );
        }
        let governor = SecretKey::from_label("sim/governor");
        let consumer = SecretKey::from_label("sim/consumer");
        let owners: Vec<SecretKey> = (0..config.devices)
            .map(|i| SecretKey::from_label(&format!("sim/owner/{i}")))
            .collect();
        let mut params = Params::new(governor.account());
        params.attestation.trust_roots = attester.trust_roots();
        params.commit_blocks = 3;
        params.reveal_blocks = 3;
        params.base_fee = Amount(1);
        let mut accounts: Vec<(AccountId, Amount)> = owners
            .iter()
            .map(|o| (o.account(), Amount(100_000)))
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
            devices: Vec::new(),
            index: HashMap::new(),
            holders: HashMap::new(),
            consumer,
            consumer_nonce: 0,
            blocks: 0,
        };
        net.block(Vec::new())?;
        // Liars are spread evenly through the device list.
        // The share was checked to lie in 0..=1, so this is at most `devices`.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let liars = (config.adversaries * config.devices as f64).round() as usize;
        let anchor = Height(0);
        let anchor_hash = net.ledger.recent_block(anchor).context("anchor block")?;
        let mut txs = Vec::with_capacity(owners.len());
        for (i, owner) in owners.iter().enumerate() {
            let key = SecretKey::from_label(&format!("sim/device/{}/{i}", config.seed));
            let challenge =
                registration_challenge(CHAIN_ID, &owner.account(), &key.device_key(), &anchor_hash);
            let evidence = attester.attest(&key.device_key(), &challenge.0)?;
            let call = Call::RegisterDevice {
                evidence,
                key: key.device_key(),
                capabilities: Capabilities {
                    slots: 16,
                    ..Capabilities::default()
                },
                pool: None,
                anchor,
                stake: Amount(10_000),
            };
            txs.push(
                Tx {
                    signer: Signer::Account(owner.account()),
                    nonce: 0,
                    fee: Amount(1),
                    call,
                }
                .sign(CHAIN_ID, owner),
            );
            let is_liar =
                liars > 0 && (i * liars) / config.devices != ((i + 1) * liars) / config.devices;
            let behaviour = match (is_liar, config.adversary) {
                (false, _) => Behaviour::Honest,
                (true, Adversary::Colluding) => Behaviour::Colluder,
                (true, Adversary::Lazy) => Behaviour::Lazy,
                (true, Adversary::Turncoat) => Behaviour::Turncoat(25),
            };
            net.index
                .insert(key.device_key().device_id(), net.devices.len());
            net.devices.push(Device {
                id: key.device_key().device_id(),
                key,
                behaviour,
                nonce: 0,
                agreed: 0,
                to_commit: Vec::new(),
                to_reveal: BTreeSet::new(),
                pending: BTreeMap::new(),
            });
        }
        net.block(txs)?;
        Ok(net)
    }

    fn block(&mut self, txs: Vec<SignedTx>) -> Result<Vec<Event>> {
        let height = self.ledger.height().plus(1);
        let input = BlockInput {
            height,
            time: Timestamp(self.ledger.time().0 + 1_000),
            randomness: Hash::of(Domain::Draw, &[&self.parent.0, &self.seed.to_le_bytes()]),
            parent: self.parent,
            proposer: SecretKey::from_label("sim/validator").account(),
            txs,
        };
        let out = self.ledger.apply_block(&input, self.attester.verifier())?;
        if let Some((i, Err(e))) = out.results.iter().enumerate().find(|(_, r)| r.is_err()) {
            bail!("transaction {i} of block {} was rejected: {e}", height.0);
        }
        self.parent = Hash::of(Domain::Block, &[&out.state_root.0, &height.0.to_le_bytes()]);
        self.blocks += 1;
        self.route(&out.events);
        Ok(out.events)
    }

    /// Hands each event to the devices it concerns (not every event to
    /// every device: that is quadratic at scale).
    fn route(&mut self, events: &[Event]) {
        for e in events {
            match e {
                Event::Assigned { task, device, .. } => {
                    if let Some(&i) = self.index.get(device) {
                        self.devices[i].to_commit.push(*task);
                        self.holders.entry(*task).or_default().push(i);
                    }
                }
                Event::RevealOpen { task } => {
                    for &i in self.holders.get(task).map_or(&[][..], Vec::as_slice) {
                        if self.devices[i].pending.contains_key(task) {
                            self.devices[i].to_reveal.insert(*task);
                        }
                    }
                }
                Event::Paid { device, .. } => {
                    if let Some(&i) = self.index.get(device) {
                        self.devices[i].agreed += 1;
                    }
                }
                Event::Verdict(v) => {
                    if let Some(holders) = self.holders.remove(&v.task) {
                        for i in holders {
                            self.devices[i].pending.remove(&v.task);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Submits a job and runs blocks until it finishes; returns its id and
    /// every event of those blocks.
    ///
    /// # Errors
    /// A rejected transaction, or a job that does not finish.
    pub fn run_job(
        &mut self,
        tasks: u32,
        policy: Policy,
        reward: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(JobId, Vec<Event>)> {
        let spec = JobSpec {
            kind: JobKind::Wasm,
            program: blob_hash(b"sim/kernel"),
            inputs: Inputs::Indexed {
                blob: blob_hash(b"sim/input"),
                count: tasks,
            },
            limits: Limits::default(),
            verification: policy.verification(),
            requirements: Requirements::default(),
            reward: Amount(reward),
            deadline: self.ledger.height().plus(1_000_000),
        };
        let escrow = spec.max_cost().context("job cost overflows")?;
        let job = JobId::derive(&self.consumer.account(), self.consumer_nonce);
        let tx = Tx {
            signer: Signer::Account(self.consumer.account()),
            nonce: self.consumer_nonce,
            fee: Amount(1),
            call: Call::SubmitJob { spec, escrow },
        }
        .sign(CHAIN_ID, &self.consumer);
        self.consumer_nonce += 1;
        let mut events = self.block(vec![tx])?;
        let max_batch = self.ledger.params().max_batch as usize;
        for _ in 0..100_000 {
            let Some(state) = self.ledger.job(&job) else {
                bail!("the submitted job vanished");
            };
            progress(Progress {
                decided: u64::from(state.accepted) + u64::from(state.failed),
                tasks: u64::from(tasks),
                height: self.ledger.height().0,
            });
            if state.status == JobStatus::Finished {
                return Ok((job, events));
            }
            let txs: Vec<SignedTx> = self
                .devices
                .iter_mut()
                .flat_map(|d| d.step(max_batch))
                .collect();
            events.extend(self.block(txs)?);
        }
        bail!("job did not finish within 100000 blocks")
    }

    /// The ledger, for inspection.
    pub fn ledger_mut(&mut self) -> &mut Ledger {
        &mut self.ledger
    }
}

/// Runs one experiment: optional warm-up job, then the measured job, then a
/// proof check of every measured verdict.
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
    let mut net = Network::start(config, attester)?;
    if config.warmup_tasks > 0 {
        net.run_job(
            config.warmup_tasks,
            Policy::Replicated(3),
            config.reward,
            progress,
        )?;
    }
    let (job, events) = net.run_job(config.tasks, config.policy, config.reward, progress)?;
    let mut report = Report::default();
    let liar_ids: BTreeSet<DeviceId> = net
        .devices
        .iter()
        .filter(|d| d.behaviour != Behaviour::Honest)
        .map(|d| d.id)
        .collect();
    report.liars = liar_ids.len();
    let mut verdicts = Vec::new();
    let mut replicas = 0u64;
    let mut slashed = BTreeSet::new();
    for e in &events {
        match e {
            Event::Verdict(v) if v.task.job == job => {
                if let Outcome::Accepted(out) = v.outcome
                    && out != true_output(&v.task)
                {
                    report.wrong_accepted += 1;
                }
                verdicts.push(v.clone());
            }
            Event::Assigned { task, .. } if task.job == job => replicas += 1,
            Event::Slashed { device, .. } => {
                slashed.insert(*device);
            }
            Event::Paid { amount, .. } => report.paid += amount.0,
            Event::JobFinished { job: j, refund, .. } if *j == job => report.refund += refund.0,
            _ => {}
        }
    }
    report.liars_slashed = slashed.iter().filter(|d| liar_ids.contains(d)).count();
    report.honest_slashed = slashed.len() - report.liars_slashed;
    let ledger = net.ledger_mut();
    let root = ledger.state_root();
    let indices: Vec<usize> = (0..verdicts.len()).collect();
    let proofs = ledger
        .prove_verdicts(&verdicts, &indices)
        .context("building verdict proofs")?;
    for (i, proof) in proofs.iter().enumerate() {
        if !proof.verify(&root) {
            bail!("verdict proof {i} does not verify against the state root");
        }
        report.proofs_checked += 1;
    }
    let finished = ledger.job(&job).context("job vanished")?;
    report.accepted = u64::from(finished.accepted);
    report.failed = u64::from(finished.failed);
    report.replicas_per_task = replicas as f64 / f64::from(config.tasks.max(1));
    report.blocks = net.blocks;
    report.state_root = root;
    Ok(report)
}
