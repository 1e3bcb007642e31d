//! An in-process development network: the real ledger, driven block by
//! block, with agents that follow the protocol (commit, then reveal) and a
//! chosen number of liars. It shows the whole verification loop on one
//! machine before the networked node and agent exist; it is a thin shell
//! around `verigrid-ledger`, not a second implementation of its rules.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};
use verigrid_ledger::{BlockInput, Event, Genesis, JobStatus, Ledger, Outcome};
use verigrid_types::codec::Encode;
use verigrid_types::device::{AttestationVerifier, Capabilities, Evidence, registration_challenge};
use verigrid_types::job::{Inputs, JobKind, JobSpec, Limits, Requirements, Verification};
use verigrid_types::params::Params;
use verigrid_types::tx::{Call, Commit, Reveal, SignedTx, Signer, Tx, commitment};
use verigrid_types::{
    AccountId, Amount, DeviceId, DeviceKey, Domain, Hash, Height, JobId, SecretKey, TaskId,
    Timestamp, blob_hash,
};

/// The dev chain's id.
pub const CHAIN_ID: &str = "verigrid-dev";

/// Produces attestation evidence for a device key and challenge, and the
/// verifier that judges it. In dev mode: a local CA, trusted only here.
pub trait Attester {
    /// Evidence that `key` lives in a genuine device, for `challenge`.
    ///
    /// # Errors
    /// If the evidence cannot be produced.
    fn attest(&self, key: &DeviceKey, challenge: &[u8]) -> Result<Evidence>;
    /// The verifier the ledger uses.
    fn verifier(&self) -> &dyn AttestationVerifier;
    /// Trust roots to put in genesis.
    fn trust_roots(&self) -> Vec<verigrid_types::Bytes>;
}

/// Computes a task's output from its job's program and input: what a device
/// does with the sandbox.
pub trait Executor {
    /// The output bytes of task `index`.
    ///
    /// # Errors
    /// If the task cannot run.
    fn run(&self, task: &TaskId) -> Result<Vec<u8>>;
}

/// How a demo device behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Runs the task and reports its output.
    Honest,
    /// Reports a fabricated output without running anything.
    Liar,
}

/// The dev job's kernel, run natively: 1,000 rounds of BLAKE3 over the
/// task's input and index. (With the sandbox, the same kernel runs as WASM.)
pub struct HashKernel;

impl Executor for HashKernel {
    fn run(&self, task: &TaskId) -> Result<Vec<u8>> {
        let mut h = blob_hash(&task.encode());
        for _ in 0..1_000 {
            h = blob_hash(&h.0);
        }
        Ok(h.0.to_vec())
    }
}

struct Agent {
    key: SecretKey,
    id: DeviceId,
    behaviour: Behaviour,
    nonce: u64,
    to_commit: Vec<TaskId>,
    to_reveal: BTreeSet<TaskId>,
    pending: BTreeMap<TaskId, (Hash, [u8; 32])>,
}

/// Demo settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Devices, each with its own owner.
    pub devices: usize,
    /// How many of them lie.
    pub liars: usize,
    /// Tasks in the demo job.
    pub tasks: u32,
    /// Replicas per task (0 = adaptive).
    pub replicas: u8,
    /// Reward per accepted result.
    pub reward: u64,
    /// Seed for block randomness.
    pub seed: u64,
}

/// What the demo produced.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Blocks produced.
    pub blocks: u64,
    /// Tasks accepted.
    pub accepted: u32,
    /// Tasks failed.
    pub failed: u32,
    /// Accepted outputs that were wrong (must be 0).
    pub wrong_accepted: u32,
    /// Replicas run per task, on average.
    pub replicas_per_task: f64,
    /// Devices slashed.
    pub slashed: Vec<DeviceId>,
    /// Liars' device ids.
    pub liars: Vec<DeviceId>,
    /// Total paid to devices.
    pub paid: u64,
    /// Escrow returned to the consumer.
    pub refund: u64,
    /// Verdict proofs checked against the final state root.
    pub proofs_checked: usize,
    /// Final state root.
    pub state_root: Hash,
}

/// Runs the demo: genesis, registration by attestation, one job, agents
/// until the job is finished, then proofs of every verdict.
///
/// # Errors
/// Any rejected transaction or failed proof (a bug, reported plainly).
pub fn run(config: &Config, attester: &dyn Attester, executor: &dyn Executor) -> Result<Report> {
    if config.liars > config.devices {
        bail!(
            "--liars ({}) cannot exceed --devices ({})",
            config.liars,
            config.devices
        );
    }
    let governor = SecretKey::from_label("dev/governor");
    let consumer = SecretKey::from_label("dev/consumer");
    let owners: Vec<SecretKey> = (0..config.devices)
        .map(|i| SecretKey::from_label(&format!("dev/owner/{i}")))
        .collect();
    let mut params = Params::new(governor.account());
    params.attestation.trust_roots = attester.trust_roots();
    params.commit_blocks = 3;
    params.reveal_blocks = 3;
    params.attestation.max_patch_age_months = 1_000;
    let mut accounts: Vec<(AccountId, Amount)> = owners
        .iter()
        .map(|o| (o.account(), Amount(100_000)))
        .collect();
    accounts.push((consumer.account(), Amount(1_000_000_000)));
    let genesis = Genesis {
        chain_id: CHAIN_ID.into(),
        params,
        accounts,
        time: Timestamp(1_795_478_400_000),
    };
    let mut net = Net {
        ledger: Ledger::new(&genesis).map_err(|e| anyhow::anyhow!("genesis: {e}"))?,
        parent: Hash::of(Domain::Block, &[b"verigrid-dev genesis"]),
        seed: config.seed,
        verifier: attester.verifier(),
        events: Vec::new(),
        blocks: 0,
    };
    net.block(vec![])?;

    let mut agents = Vec::new();
    let mut register = Vec::new();
    for (i, owner) in owners.iter().enumerate() {
        let key = SecretKey::from_label(&format!("dev/device/{i}"));
        let anchor = Height(0);
        let anchor_hash = net.ledger.recent_block(anchor).context("anchor block")?;
        let challenge =
            registration_challenge(CHAIN_ID, &owner.account(), &key.device_key(), &anchor_hash);
        let evidence = attester.attest(&key.device_key(), &challenge.0)?;
        let call = Call::RegisterDevice {
            evidence,
            key: key.device_key(),
            capabilities: Capabilities::default(),
            pool: None,
            anchor,
            stake: Amount(10_000),
        };
        register.push(account_tx(owner, 0, call));
        let behaviour = if i < config.liars {
            Behaviour::Liar
        } else {
            Behaviour::Honest
        };
        agents.push(Agent {
            id: key.device_key().device_id(),
            key,
            behaviour,
            nonce: 0,
            to_commit: Vec::new(),
            to_reveal: BTreeSet::new(),
            pending: BTreeMap::new(),
        });
    }
    net.block(register)?;

    let verification = if config.replicas == 0 {
        Verification::adaptive(100_000)
    } else {
        Verification::replicated(config.replicas)
    };
    let spec = JobSpec {
        kind: JobKind::Wasm,
        program: blob_hash(b"verigrid-dev/hash-kernel"),
        inputs: Inputs::Indexed {
            blob: blob_hash(b"verigrid-dev/input"),
            count: config.tasks,
        },
        limits: Limits::default(),
        verification,
        requirements: Requirements::default(),
        reward: Amount(config.reward),
        deadline: Height(100_000),
    };
    let escrow = spec.max_cost().context("job cost overflows")?;
    let job = JobId::derive(&consumer.account(), 0);
    net.block(vec![account_tx(
        &consumer,
        0,
        Call::SubmitJob { spec, escrow },
    )])?;

    let mut report = Report::default();
    for _ in 0..10_000 {
        if net
            .ledger
            .job(&job)
            .is_some_and(|j| j.status == JobStatus::Finished)
        {
            break;
        }
        let mut txs = Vec::new();
        for agent in &mut agents {
            txs.extend(agent.step(executor)?);
        }
        let events = net.block(txs)?;
        for agent in &mut agents {
            agent.observe(&events);
        }
    }
    let mut verdicts = Vec::new();
    let mut replicas = 0usize;
    for e in &net.events {
        match e {
            Event::Verdict(v) if v.task.job == job => {
                verdicts.push(v.clone());
                if let Outcome::Accepted(out) = v.outcome {
                    let truth = blob_hash(&executor.run(&v.task)?);
                    if out != truth {
                        report.wrong_accepted += 1;
                    }
                }
            }
            Event::Assigned { task, .. } if task.job == job => replicas += 1,
            Event::Slashed { device, .. } => report.slashed.push(*device),
            Event::Paid { amount, .. } => report.paid += amount.0,
            Event::JobFinished { refund, .. } => report.refund += refund.0,
            _ => {}
        }
    }
    let root = net.ledger.state_root();
    for i in 0..verdicts.len() {
        let proof = net
            .ledger
            .prove_verdict(&verdicts, i)
            .context("building a verdict proof")?;
        if !proof.verify(&root) {
            bail!("verdict proof {i} does not verify against the state root");
        }
        report.proofs_checked += 1;
    }
    let finished = net.ledger.job(&job).context("job vanished")?;
    report.accepted = finished.accepted;
    report.failed = finished.failed;
    report.replicas_per_task = replicas as f64 / f64::from(config.tasks.max(1));
    report.blocks = net.blocks;
    report.liars = agents
        .iter()
        .filter(|a| a.behaviour == Behaviour::Liar)
        .map(|a| a.id)
        .collect();
    report.state_root = root;
    Ok(report)
}

struct Net<'a> {
    ledger: Ledger,
    parent: Hash,
    seed: u64,
    verifier: &'a dyn AttestationVerifier,
    events: Vec<Event>,
    blocks: u64,
}

impl Net<'_> {
    fn block(&mut self, txs: Vec<SignedTx>) -> Result<Vec<Event>> {
        let height = self.ledger.height().plus(1);
        let input = BlockInput {
            height,
            time: Timestamp(self.ledger.time().0 + 1_000),
            randomness: Hash::of(
                Domain::Draw,
                &[
                    &self.parent.0,
                    &height.0.to_le_bytes(),
                    &self.seed.to_le_bytes(),
                ],
            ),
            parent: self.parent,
            proposer: SecretKey::from_label("dev/validator").account(),
            txs,
        };
        let out = self.ledger.apply_block(&input, self.verifier)?;
        for (i, r) in out.results.iter().enumerate() {
            if let Err(e) = r {
                bail!("transaction {i} of block {} was rejected: {e}", height.0);
            }
        }
        self.parent = Hash::of(Domain::Block, &[&out.state_root.0, &height.0.to_le_bytes()]);
        self.blocks += 1;
        self.events.extend(out.events.iter().cloned());
        Ok(out.events)
    }
}

fn account_tx(key: &SecretKey, nonce: u64, call: Call) -> SignedTx {
    Tx {
        signer: Signer::Account(key.account()),
        nonce,
        fee: Amount(10),
        call,
    }
    .sign(CHAIN_ID, key)
}

impl Agent {
    fn observe(&mut self, events: &[Event]) {
        for e in events {
            match e {
                Event::Assigned { task, device, .. } if *device == self.id => {
                    self.to_commit.push(*task);
                }
                Event::RevealOpen { task } if self.pending.contains_key(task) => {
                    self.to_reveal.insert(*task);
                }
                _ => {}
            }
        }
    }

    fn step(&mut self, executor: &dyn Executor) -> Result<Vec<SignedTx>> {
        let mut txs = Vec::new();
        if !self.to_commit.is_empty() {
            let mut commits = Vec::new();
            for task in std::mem::take(&mut self.to_commit) {
                let output = match self.behaviour {
                    Behaviour::Honest => executor.run(&task)?,
                    Behaviour::Liar => b"fabricated".to_vec(),
                };
                let output_hash = blob_hash(&output);
                let salt = *Hash::of(Domain::Draw, &[&self.key.seed(), &task.encode()]).as_bytes();
                self.pending.insert(task, (output_hash, salt));
                commits.push(Commit {
                    task,
                    commitment: commitment(&output_hash, &salt, &self.id),
                });
            }
            txs.push(self.tx(Call::CommitResults { commits }));
        }
        if !self.to_reveal.is_empty() {
            let mut reveals = Vec::new();
            for task in std::mem::take(&mut self.to_reveal) {
                if let Some((output_hash, salt)) = self.pending.remove(&task) {
                    reveals.push(Reveal {
                        task,
                        output_hash,
                        salt,
                        output: None,
                    });
                }
            }
            txs.push(self.tx(Call::RevealResults { reveals }));
        }
        Ok(txs)
    }

    fn tx(&mut self, call: Call) -> SignedTx {
        let tx = Tx {
            signer: Signer::Device(self.id),
            nonce: self.nonce,
            fee: Amount(10),
            call,
        };
        self.nonce += 1;
        tx.sign(CHAIN_ID, &self.key)
    }
}
