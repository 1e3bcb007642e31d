//! The agent's loop (docs/DESIGN.md §8): register or re-attest → learn
//! assignments → fetch blobs (cached by hash) → run → commit a batch →
//! reveal a batch, within the owner's policy.
//!
//! The node is the source of truth. The agent follows finalized blocks and,
//! whenever one touches this device (or the connection comes back), asks
//! the node which replicas the device holds and what it has done on each.
//! Results are journaled before they are committed, so a restart, a lost
//! connection or a lost transaction only delays a result, never loses it.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};
use verigrid_client::views::{DeviceTask, Event, FinalizedBlock};
use verigrid_client::{BlockStream, Client, ClientError, Signer};
use verigrid_ledger::DeviceStatus;
use verigrid_types::codec::Bytes;
use verigrid_types::device::{
    Arch, AttestationVerifier as _, Capabilities, Evidence, VerifyRequest, registration_challenge,
};
use verigrid_types::job::JobSpec;
use verigrid_types::params::Params;
use verigrid_types::tensor::Comparison;
use verigrid_types::tx::{Call, Commit, Reveal, commitment};
use verigrid_types::{
    AccountId, Amount, DeviceId, DeviceKey, Hash, Height, JobId, SecretKey, TaskId, Timestamp,
    blob_hash,
};

use crate::policy::{Policy, Readings, read_sys};
use crate::runner::{Behaviour, RunError, Runner};
use crate::store::{BlobCache, Finished, Journal};
use verigrid_client::keystore::{self, KeystoreError};

/// How long the loop sleeps at most between looks at the world (the
/// stream wakes it sooner).
const TICK: Duration = Duration::from_secs(5);
/// How often the owner's policy is re-read.
const POLICY_EVERY: Duration = Duration::from_secs(15);
/// Blocks a submitted transaction may take before it is presumed lost.
const LOST_AFTER_BLOCKS: u64 = 30;
/// The longest wait between reconnection attempts: long enough not to
/// hammer a node that is down, short enough that an agent is back within
/// a commit window after its node restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// How long a one-off transaction (registration, pause) may take.
const ONE_OFF_TIMEOUT: Duration = Duration::from_secs(60);

/// Produces attestation evidence for the device key.
pub trait Attest: Send {
    /// Evidence that `key` lives in a genuine device, for `challenge`.
    ///
    /// # Errors
    /// Why the platform could not attest.
    fn evidence(&self, key: &DeviceKey, challenge: &[u8]) -> Result<Evidence, String>;
}

/// Development attestation: an Android-format chain from the development
/// CA (docs/DESIGN.md §6). A dev chain trusts that CA's root; a production
/// chain never does, so these devices cannot join one.
pub struct DevAttestation {
    ca: verigrid_attest::dev::DevCa,
}

impl DevAttestation {
    /// The development CA from `seed`.
    ///
    /// # Errors
    /// If the CA cannot be built.
    pub fn new(seed: &[u8; 32]) -> Result<Self, String> {
        verigrid_attest::dev::DevCa::from_seed(seed)
            .map(|ca| Self { ca })
            .map_err(|e| format!("development CA: {e}"))
    }
}

impl Attest for DevAttestation {
    fn evidence(&self, key: &DeviceKey, challenge: &[u8]) -> Result<Evidence, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let leaf = verigrid_attest::dev::DevLeaf::healthy(*key, challenge, now);
        let chain = self.ca.issue(&leaf).map_err(|e| e.to_string())?;
        Ok(Evidence {
            format: verigrid_types::device::EvidenceFormat::AndroidKeyChain,
            parts: chain.into_iter().map(Bytes).collect(),
        })
    }
}

/// Everything an agent needs to start.
pub struct Config {
    /// Node API endpoints (`http://host:port`), tried in order.
    pub endpoints: Vec<String>,
    /// Where the device key, journal and blob cache live.
    pub data_dir: PathBuf,
    /// The owner's account key (registers, pauses and re-attests the
    /// device; receives its rewards unless a pool does).
    pub owner: SecretKey,
    /// The pool rewards go to, if any.
    pub pool: Option<AccountId>,
    /// Stake to lock at registration (the chain's minimum if `None`).
    pub stake: Option<Amount>,
    /// The owner's policy.
    pub policy: Policy,
    /// Readings that replace what `/sys` says.
    pub overrides: Readings,
    /// Root of the sysfs tree (`/sys`).
    pub sys_root: PathBuf,
    /// The platform's attestation.
    pub attest: Box<dyn Attest>,
    /// Honest, or a fabricating adversary (tests and demonstrations).
    pub behaviour: Behaviour,
}

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The device key could not be used.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// The data directory could not be used.
    #[error("data directory {path}: {source}")]
    Storage {
        /// Where.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The node could not be used.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The chain refused the device.
    #[error("the network refused this device: {0}")]
    Refused(String),
    /// The device was retired by its owner.
    #[error("device {0} is retired; register a new device key to take work again")]
    Retired(String),
    /// Tasks cannot run here.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// What the agent has done so far (for status lines and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Tasks run.
    pub ran: u64,
    /// Commitments finalized.
    pub committed: u64,
    /// Reveals finalized.
    pub revealed: u64,
    /// Rewards paid for this device.
    pub paid: u64,
    /// Stake slashed from this device.
    pub slashed: u64,
}

/// A submitted transaction not yet seen in a finalized block.
#[derive(Debug)]
struct InFlight {
    tasks: Vec<TaskId>,
    reveal: bool,
    submitted_at: u64,
}

/// A running agent.
pub struct Agent {
    config: Config,
    client: Client,
    chain_id: String,
    params: Params,
    key: SecretKey,
    device: DeviceId,
    owner: Signer,
    signer: Signer,
    journal: Journal,
    blobs: BlobCache,
    runner: Runner,
    jobs: HashMap<JobId, JobSpec>,
    in_flight: HashMap<Hash, InFlight>,
    held: BTreeSet<TaskId>,
    height: u64,
    policy_ok: Option<bool>,
    policy_checked: Option<Instant>,
    tally: Tally,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("device", &self.device.0.to_hex())
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

fn storage(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
    move |source| AgentError::Storage {
        path: path.to_owned(),
        source,
    }
}

impl Agent {
    /// Opens the device's key, journal and cache, and reads the chain's
    /// id and parameters from the node (retrying until it answers or
    /// `stop` is set).
    ///
    /// # Errors
    /// If the data directory or key cannot be used, or the sandbox cannot
    /// start.
    pub fn open(config: Config, stop: &AtomicBool) -> Result<Self, AgentError> {
        let client = Client::new(&config.endpoints)?;
        std::fs::create_dir_all(&config.data_dir).map_err(storage(&config.data_dir))?;
        let (key, new) = keystore::load_or_create(&config.data_dir.join("device.key"))?;
        let device = key.device_key().device_id();
        if new {
            info!(device = %device.0.to_hex(), "created a new device key");
        }
        let journal_dir = config.data_dir.join("results");
        let journal = Journal::open(&journal_dir).map_err(storage(&journal_dir))?;
        let blob_dir = config.data_dir.join("blobs");
        let blobs = BlobCache::open(&blob_dir).map_err(storage(&blob_dir))?;
        let runner = Runner::new(config.behaviour, key.seed())?;
        let (status, params) = patiently(stop, || Ok((client.status()?, client.params()?)))?;
        let owner = Signer::account(
            SecretKey::from_seed(config.owner.seed()),
            &status.chain_id,
            &params,
        );
        let signer = Signer::device(
            SecretKey::from_seed(key.seed()),
            device,
            &status.chain_id,
            &params,
        );
        Ok(Self {
            client,
            chain_id: status.chain_id,
            params,
            key,
            device,
            owner,
            signer,
            journal,
            blobs,
            runner,
            jobs: HashMap::new(),
            in_flight: HashMap::new(),
            held: BTreeSet::new(),
            height: status.height,
            policy_ok: None,
            policy_checked: None,
            tally: Tally::default(),
            config,
        })
    }

    /// This device's id.
    #[must_use]
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// What it has done.
    #[must_use]
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Runs until `stop` is set. Node outages are waited out; only a
    /// refusal by the chain or a broken data directory ends it early.
    ///
    /// # Errors
    /// If the chain refuses the device, or the device is retired.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), AgentError> {
        let mut stream: Option<BlockStream> = None;
        let mut need_sync = true;
        let mut backoff = Duration::from_millis(250);
        while !stop.load(Ordering::Relaxed) {
            if stream.is_none() {
                match self.client.stream() {
                    Ok(s) => {
                        debug!(url = s.url(), "following finalized blocks");
                        stream = Some(s);
                        need_sync = true;
                        backoff = Duration::from_millis(250);
                    }
                    Err(e) => {
                        warn!("{e}; retrying in {backoff:?}");
                        sleep_unless(stop, backoff);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            }
            if self.policy_due() {
                match self.apply_policy() {
                    Ok(changed) => need_sync |= changed,
                    Err(e @ (AgentError::Refused(_) | AgentError::Retired(_))) => return Err(e),
                    Err(e) => warn!("{e}; will retry"),
                }
            }
            if need_sync {
                match self.sync() {
                    Ok(()) => need_sync = false,
                    Err(e @ (AgentError::Refused(_) | AgentError::Retired(_))) => return Err(e),
                    Err(e) => {
                        warn!("{e}; will retry");
                        sleep_unless(stop, backoff);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            }
            let Some(s) = stream.as_mut() else { continue };
            match s.next_block(TICK) {
                Ok(Some(block)) => need_sync |= self.on_block(&block),
                Ok(None) => need_sync |= !self.in_flight.is_empty(),
                Err(e) => {
                    warn!("{e}; reconnecting");
                    stream = None;
                }
            }
        }
        Ok(())
    }

    fn policy_due(&self) -> bool {
        self.policy_checked
            .is_none_or(|at| at.elapsed() >= POLICY_EVERY)
    }

    /// Reads the device's state and applies the owner's policy: pauses a
    /// device that may not work, resumes one that may again. Returns
    /// whether anything changed.
    fn apply_policy(&mut self) -> Result<bool, AgentError> {
        self.policy_checked = Some(Instant::now());
        let readings = read_sys(&self.config.sys_root).overridden_by(&self.config.overrides);
        let verdict = self.config.policy.check(&readings);
        let ok = verdict.is_ok();
        if self.policy_ok != Some(ok) {
            match &verdict {
                Ok(()) => info!("policy allows work ({readings})"),
                Err(why) => info!("policy forbids work: {why} ({readings})"),
            }
        }
        let changed = self.policy_ok != Some(ok);
        self.policy_ok = Some(ok);
        let Some(device) = self.client.device(&self.device)? else {
            return Ok(changed);
        };
        // A jailed device is paused too when the policy forbids work, so
        // it stays out once its term ends.
        let takes_work = matches!(
            device.status,
            DeviceStatus::Active | DeviceStatus::Jailed(_)
        );
        let paused = matches!(
            device.status,
            DeviceStatus::Paused | DeviceStatus::PausedInJail(_)
        );
        if (ok && paused) || (!ok && takes_work) {
            self.owner_tx(Call::SetDeviceActive {
                device: self.device,
                active: ok,
            })?;
            info!("{} the device", if ok { "resumed" } else { "paused" });
        }
        Ok(changed)
    }

    /// Submits an owner-signed transaction and waits for it.
    fn owner_tx(&mut self, call: Call) -> Result<Height, AgentError> {
        match self
            .owner
            .submit_and_wait(&self.client, call, ONE_OFF_TIMEOUT)
        {
            Ok((_, height)) => Ok(height),
            Err(ClientError::Rejected { reason, .. }) => Err(AgentError::Refused(reason)),
            // The node checks a transaction against the ledger before
            // admitting it: a refusal there is the ledger's too.
            Err(ClientError::Api {
                status: 400 | 422,
                message,
                ..
            }) => Err(AgentError::Refused(message)),
            Err(e) => Err(e.into()),
        }
    }

    /// Registers the device: a fresh challenge bound to a recent block,
    /// attested by the platform, verified by the chain.
    fn register(&mut self) -> Result<(), AgentError> {
        let status = self.client.status()?;
        let anchor = Height(status.height.max(1));
        let Some((anchor_hash, _)) = self.client.block(anchor)? else {
            return Err(AgentError::Client(ClientError::Timeout {
                what: "the chain's first block".into(),
                waited: Duration::ZERO,
            }));
        };
        let key = self.key.device_key();
        let challenge = registration_challenge(
            &self.chain_id,
            &self.config.owner.account(),
            &key,
            &anchor_hash,
        );
        let evidence = self
            .config
            .attest
            .evidence(&key, &challenge.0)
            .map_err(AgentError::Refused)?;
        // The chain's verifier and policy, run here first: a refused device
        // learns why in the verifier's words instead of waiting for a
        // transaction that no block will include.
        let request = VerifyRequest {
            policy: &self.params.attestation,
            challenge: &challenge.0,
            now: Timestamp(status.time_ms),
        };
        if let Err(failure) = verigrid_attest::Verifier::new().verify(&evidence, &request) {
            return Err(AgentError::Refused(failure.0));
        }
        let slots = self
            .config
            .policy
            .slots(std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
        let call = Call::RegisterDevice {
            evidence,
            key,
            capabilities: Capabilities {
                arch: if cfg!(target_arch = "aarch64") {
                    Arch::Aarch64
                } else if cfg!(target_arch = "x86_64") {
                    Arch::X86_64
                } else {
                    Arch::Other
                },
                memory_mib: 1024,
                speed: 100,
                slots,
                wasm: true,
                onnx: cfg!(feature = "onnx"),
            },
            pool: self.config.pool,
            anchor,
            stake: self.config.stake.unwrap_or(self.params.min_device_stake),
        };
        match self.owner_tx(call) {
            Ok(height) => {
                info!(device = %self.device.0.to_hex(), height = height.0, slots, "registered");
                Ok(())
            }
            // A registration sent before a restart may have landed since.
            Err(AgentError::Refused(reason)) if self.client.device(&self.device)?.is_some() => {
                debug!("registration raced an earlier one: {reason}");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Reacts to a finalized block; returns whether to sync with the node.
    fn on_block(&mut self, block: &FinalizedBlock) -> bool {
        self.height = block.height;
        let mut sync = false;
        let mine: Vec<Hash> = self.in_flight.keys().copied().collect();
        for id in mine {
            let Some(outcome) = block.outcome_of(&id) else {
                continue;
            };
            sync = true;
            if let Some(done) = self.in_flight.remove(&id) {
                match outcome {
                    Ok(()) => {
                        let n = u64::try_from(done.tasks.len()).unwrap_or(u64::MAX);
                        if done.reveal {
                            self.tally.revealed += n;
                        } else {
                            self.tally.committed += n;
                        }
                        debug!(
                            height = block.height,
                            "{} {n} result(s) finalized",
                            if done.reveal {
                                "reveal of"
                            } else {
                                "commitment to"
                            }
                        );
                    }
                    Err(reason) => {
                        warn!(
                            "the ledger refused a batch of {} result(s): {reason}",
                            done.tasks.len()
                        );
                        self.signer.resync();
                    }
                }
            }
        }
        // Transactions the network never included are presumed lost: the
        // next sync sends their work again with a fresh nonce.
        let lost: Vec<Hash> = self
            .in_flight
            .iter()
            .filter(|(_, f)| block.height.saturating_sub(f.submitted_at) > LOST_AFTER_BLOCKS)
            .map(|(id, _)| *id)
            .collect();
        if !lost.is_empty() {
            warn!("{} transaction(s) were not included; resending", lost.len());
            for id in lost {
                self.in_flight.remove(&id);
            }
            self.signer.resync();
            sync = true;
        }
        for event in &block.events {
            if event.device() == Some(self.device) {
                sync = true;
                match event {
                    Event::Paid { amount, .. } => {
                        self.tally.paid += amount;
                        info!(amount, "paid for an accepted result");
                    }
                    Event::Slashed { amount, .. } => {
                        self.tally.slashed += amount;
                        warn!(amount, "slashed: a result disagreed with the quorum");
                    }
                    Event::Missed { task, .. } => {
                        warn!(job = %task.job.0.to_hex(), index = task.index, "missed a deadline");
                    }
                    _ => {}
                }
            } else if event.task().is_some_and(|t| self.held.contains(&t)) {
                sync = true;
            }
        }
        sync
    }

    /// Asks the node what this device holds and does what is due: run and
    /// commit new tasks, reveal committed ones, keep the attestation and
    /// liveness fresh, forget decided results.
    fn sync(&mut self) -> Result<(), AgentError> {
        let Some(device) = self.client.device(&self.device)? else {
            if self.policy_ok == Some(false) {
                return Ok(());
            }
            return self.register();
        };
        if device.status == DeviceStatus::Retired {
            return Err(AgentError::Retired(self.device.0.to_hex()));
        }
        let Some(listing) = self.client.device_tasks(&self.device)? else {
            return Ok(());
        };
        self.height = self.height.max(listing.height);
        self.keep_fresh(&device)?;
        self.held = listing.tasks.iter().map(DeviceTask::id).collect();
        let busy: BTreeSet<TaskId> = self
            .in_flight
            .values()
            .flat_map(|f| f.tasks.iter().copied())
            .collect();
        let may_work = self.policy_ok != Some(false);
        let to_run: Vec<TaskId> = listing
            .tasks
            .iter()
            .filter(|t| t.in_commit() && !t.committed && !busy.contains(&t.id()))
            .map(DeviceTask::id)
            .collect();
        debug!(
            height = listing.height,
            held = listing.tasks.len(),
            to_run = to_run.len(),
            in_flight = busy.len(),
            "synced with the node"
        );
        let mut commits = Vec::new();
        for task in to_run {
            let finished = match self.journal.get(&task) {
                Some(f) => Some(f),
                None if may_work => self.run_task(task),
                None => None,
            };
            if let Some(f) = finished {
                commits.push(Commit {
                    task,
                    commitment: commitment(&f.output_hash, &f.salt, &self.device),
                });
            }
        }
        let mut reveals = Vec::new();
        for t in &listing.tasks {
            if !(t.in_reveal() && t.committed && !t.revealed) || busy.contains(&t.id()) {
                continue;
            }
            let Some(f) = self.journal.get(&t.id()) else {
                warn!(job = %t.task.job.0.to_hex(), index = t.task.index,
                    "committed result missing from the journal; it cannot be revealed");
                continue;
            };
            reveals.push(self.reveal_of(f));
        }
        self.send_batches(commits, false)?;
        self.send_batches(reveals, true)?;
        // Results of tasks no longer live are decided: forget them.
        for task in self.journal.tasks() {
            if !self.held.contains(&task) && !busy.contains(&task) {
                self.journal
                    .remove(&task)
                    .map_err(storage(&self.config.data_dir))?;
            }
        }
        Ok(())
    }

    /// Re-attests before the deadline and proves liveness once an epoch.
    fn keep_fresh(&mut self, device: &verigrid_ledger::Device) -> Result<(), AgentError> {
        let epoch = self.params.epoch_blocks.max(1);
        if self.height.saturating_add(epoch) >= device.attest_deadline.0 {
            let anchor = Height(self.height.max(1));
            if let Some((anchor_hash, _)) = self.client.block(anchor)? {
                let challenge = registration_challenge(
                    &self.chain_id,
                    &self.config.owner.account(),
                    &device.key,
                    &anchor_hash,
                );
                let evidence = self
                    .config
                    .attest
                    .evidence(&device.key, &challenge.0)
                    .map_err(AgentError::Refused)?;
                self.owner_tx(Call::Reattest {
                    device: self.device,
                    evidence,
                    anchor,
                })?;
                info!(
                    "re-attested before the deadline at height {}",
                    device.attest_deadline.0
                );
            }
        }
        if self.height.saturating_sub(device.last_seen.0) >= epoch / 2 {
            self.owner_tx(Call::Heartbeat {
                devices: vec![self.device],
            })?;
            debug!("heartbeat");
        }
        Ok(())
    }

    fn reveal_of(&self, f: Finished) -> Reveal {
        let inline = self
            .jobs
            .get(&f.task.job)
            .is_some_and(|spec| spec.verification.comparison != Comparison::Exact);
        // Consumers fetch outputs by hash; the reveal is what makes the
        // hash public, so upload first (best effort: the verdict does not
        // depend on it).
        if let Err(e) = self.client.put_blob(&f.output.0) {
            warn!("could not upload an output: {e}");
        }
        Reveal {
            task: f.task,
            output_hash: f.output_hash,
            salt: f.salt,
            output: inline.then_some(f.output),
        }
    }

    /// Fetches what `task` needs, runs it and journals the result.
    fn run_task(&mut self, task: TaskId) -> Option<Finished> {
        match self.try_run(task) {
            Ok(f) => Some(f),
            Err(e) => {
                warn!(job = %task.job.0.to_hex(), index = task.index, "{e}");
                None
            }
        }
    }

    fn try_run(&mut self, task: TaskId) -> Result<Finished, AgentError> {
        let spec = match self.jobs.get(&task.job) {
            Some(spec) => spec.clone(),
            None => {
                let job = self.client.job(&task.job)?.ok_or_else(|| {
                    AgentError::Client(ClientError::Protocol {
                        url: self.client.endpoints().join(", "),
                        reason: format!("job {} is assigned but unknown", task.job.0.to_hex()),
                    })
                })?;
                self.jobs.insert(task.job, job.spec.clone());
                job.spec
            }
        };
        let program = self.blob(&spec.program)?;
        let input_hash = spec.inputs.blob(task.index).ok_or_else(|| {
            AgentError::Refused(format!("task {} is outside its job", task.index))
        })?;
        let input = self.blob(&input_hash)?;
        let started = Instant::now();
        let output = self.runner.run(&spec, task, &program, &input)?;
        self.tally.ran += 1;
        let salt = salt_for(&self.key, &task);
        let finished = Finished {
            task,
            output_hash: blob_hash(&output),
            salt,
            output: Bytes(output),
        };
        self.journal
            .put(&finished)
            .map_err(storage(&self.config.data_dir))?;
        info!(
            job = %task.job.0.to_hex(), index = task.index,
            millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            output = %finished.output_hash.to_hex(),
            "ran"
        );
        Ok(finished)
    }

    fn blob(&self, hash: &Hash) -> Result<Vec<u8>, AgentError> {
        if let Some(bytes) = self.blobs.get(hash) {
            return Ok(bytes);
        }
        let bytes = self.client.get_blob(hash)?;
        self.blobs
            .put(&bytes)
            .map_err(storage(&self.config.data_dir))?;
        Ok(bytes)
    }

    /// Sends `entries` in batches of the chain's maximum, device-signed.
    fn send_batches<T: Clone + HasTask>(
        &mut self,
        entries: Vec<T>,
        reveal: bool,
    ) -> Result<(), AgentError>
    where
        Vec<T>: IntoCall,
    {
        let max = usize::try_from(self.params.max_batch.max(1)).unwrap_or(usize::MAX);
        for chunk in entries.chunks(max) {
            let tasks: Vec<TaskId> = chunk.iter().map(HasTask::task).collect();
            let tx = self.signer.sign(&self.client, chunk.to_vec().into_call())?;
            match self.client.submit(&tx) {
                Ok(id) => {
                    self.in_flight.insert(
                        id,
                        InFlight {
                            tasks,
                            reveal,
                            submitted_at: self.height,
                        },
                    );
                }
                Err(e) => {
                    self.signer.resync();
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }
}

/// The salt of this device's commitment to `task`: secret (derived from
/// the device key) and the same after a restart.
fn salt_for(key: &SecretKey, task: &TaskId) -> [u8; 32] {
    Hash::of(
        verigrid_types::Domain::Commitment,
        &[
            b"salt",
            &key.seed(),
            &task.job.0.0,
            &task.index.to_le_bytes(),
        ],
    )
    .0
}

/// A batch entry's task.
trait HasTask {
    fn task(&self) -> TaskId;
}
impl HasTask for Commit {
    fn task(&self) -> TaskId {
        self.task
    }
}
impl HasTask for Reveal {
    fn task(&self) -> TaskId {
        self.task
    }
}

/// A batch as its call.
trait IntoCall {
    fn into_call(self) -> Call;
}
impl IntoCall for Vec<Commit> {
    fn into_call(self) -> Call {
        Call::CommitResults { commits: self }
    }
}
impl IntoCall for Vec<Reveal> {
    fn into_call(self) -> Call {
        Call::RevealResults { reveals: self }
    }
}

/// Retries `f` while the node is unreachable, until `stop`.
fn patiently<T>(
    stop: &AtomicBool,
    mut f: impl FnMut() -> Result<T, ClientError>,
) -> Result<T, AgentError> {
    let mut wait = Duration::from_millis(250);
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && !stop.load(Ordering::Relaxed) => {
                warn!("{e}; retrying in {wait:?}");
                sleep_unless(stop, wait);
                wait = (wait * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sleeps `d`, waking early if `stop` is set.
fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}
