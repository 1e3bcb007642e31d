//! `verigrid bench node --mode results`: the protocol's hot path over the
//! HTTP API. Registers dev-attested devices (the dev genesis trusts the
//! `DevCa` of [`DEV_CA_SEED`]), submits one job of many tasks, and plays
//! honest devices: every finalized block is a round in which each device
//! sends at most one `CommitResults` and one `RevealResults` holding all
//! it can commit or reveal. Assignments, reveal openings and verdicts are
//! read from the first API's block stream; every transaction goes to every
//! API given (there is no mempool gossip yet).
//!
//! Reported: accepted verdicts (verified results) per second from job
//! submission to the last verdict, device results (reveals) per second,
//! and submit → finalized latency percentiles of the commit/reveal
//! transactions.

use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value;
use verigrid_attest::dev::{DevCa, DevLeaf};
use verigrid_types::codec::{Bytes, Encode as _};
use verigrid_types::device::{Capabilities, Evidence, EvidenceFormat, registration_challenge};
use verigrid_types::job::{Inputs, JobKind, JobSpec, Limits, Requirements, Verification};
use verigrid_types::tx::{Call, Commit, Reveal, SignedTx, Signer, Tx, commitment};
use verigrid_types::{Amount, DeviceId, Hash, Height, JobId, SecretKey, TaskId, blob_hash};

use super::{Api, Block, NodeBench, percentile};
use crate::files::{DEV_CA_SEED, dev_user, now_ms};

/// Slots each bench device declares (the ledger's maximum). A fresh device
/// may fill one and earns one more per agreeing result.
const SLOTS: u16 = 256;

/// One simulated honest device.
struct Device {
    key: SecretKey,
    id: DeviceId,
    nonce: u64,
    /// Assigned, not yet committed.
    to_commit: BTreeSet<TaskId>,
    /// Committed (output hash, salt), waiting for reveals to open.
    committed: HashMap<TaskId, (Hash, [u8; 32])>,
    /// Reveals open, not yet revealed.
    to_reveal: BTreeSet<TaskId>,
    /// A commit transaction of this device is not finalized yet.
    committing: bool,
    /// A reveal transaction of this device is not finalized yet.
    revealing: bool,
}

impl Device {
    fn tx(&mut self, chain: &str, fee: Amount, call: Call) -> SignedTx {
        let tx = Tx {
            signer: Signer::Device(self.id),
            nonce: self.nonce,
            fee,
            call,
        }
        .sign(chain, &self.key);
        self.nonce += 1;
        tx
    }

    /// This round's transactions: all pending commits in one, all open
    /// reveals in another. Like an agent, a device has at most one of each
    /// in flight, so the offered load follows what the chain includes
    /// instead of queueing past the commit and reveal windows.
    fn round(&mut self, chain: &str, fee: Amount) -> Vec<(SignedTx, Kind)> {
        let mut txs = Vec::new();
        if !self.to_commit.is_empty() && !self.committing {
            self.committing = true;
            let tasks = std::mem::take(&mut self.to_commit);
            let commits: Vec<Commit> = tasks
                .into_iter()
                .map(|task| {
                    let output = honest_output(&task);
                    let salt = *blob_hash(&[&self.id.0.0[..], &task.encode()].concat()).as_bytes();
                    self.committed.insert(task, (output, salt));
                    Commit {
                        task,
                        commitment: commitment(&output, &salt, &self.id),
                    }
                })
                .collect();
            txs.push((
                self.tx(chain, fee, Call::CommitResults { commits }),
                Kind::Commit,
            ));
        }
        if !self.to_reveal.is_empty() && !self.revealing {
            let reveals: Vec<Reveal> = std::mem::take(&mut self.to_reveal)
                .into_iter()
                .filter_map(|task| {
                    let (output_hash, salt) = self.committed.remove(&task)?;
                    Some(Reveal {
                        task,
                        output_hash,
                        salt,
                        output: None,
                    })
                })
                .collect();
            if !reveals.is_empty() {
                self.revealing = true;
                txs.push((
                    self.tx(chain, fee, Call::RevealResults { reveals }),
                    Kind::Reveal,
                ));
            }
        }
        txs
    }
}

/// What every honest device reports for a task (the ledger only compares
/// output hashes).
fn honest_output(task: &TaskId) -> Hash {
    blob_hash(&task.encode())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Commit,
    Reveal,
}

/// A submitted transaction, until its block is seen.
struct Pending {
    sent: Instant,
    kind: Kind,
    /// Index of the device that sent it.
    device: usize,
}

/// The figures of one run.
#[derive(Default)]
struct Tally {
    accepted: u64,
    failed: u64,
    reveals: u64,
    missed: u64,
    skipped: u64,
    commit_txs: u64,
    reveal_txs: u64,
    rounds: u64,
    first_block: Option<u64>,
    last_block: u64,
    last_verdict: Option<Instant>,
    latencies: Vec<Duration>,
}

fn task_of(v: &Value) -> Option<TaskId> {
    let job = Hash::from_hex(v["job"].as_str()?).ok()?;
    let index = u32::try_from(v["index"].as_u64()?).ok()?;
    Some(TaskId {
        job: JobId(job),
        index,
    })
}

fn device_of(v: &Value) -> Option<DeviceId> {
    Hash::from_hex(v.as_str()?).ok().map(DeviceId)
}

/// Registers `count` fresh dev-attested devices, owned round-robin by
/// `owners`, and waits until the stream shows them all registered.
fn register(
    api: &Api,
    blocks: &mpsc::Receiver<Block>,
    owners: &[SecretKey],
    count: usize,
    run: u64,
) -> Result<Vec<Device>> {
    let status = api.wait_for_height(1)?;
    let anchor = Height(status.0);
    let anchor_hash = status.1;
    let ca = DevCa::from_seed(&DEV_CA_SEED).map_err(|e| anyhow!("{e}"))?;
    let now_secs = now_ms() / 1_000;
    let mut nonces = Vec::with_capacity(owners.len());
    for owner in owners {
        nonces.push(api.account_nonce(&owner.account())?);
    }
    let mut devices = Vec::with_capacity(count);
    let mut txs = Vec::with_capacity(count);
    for i in 0..count {
        let key = SecretKey::from_label(&format!("bench/device/{run}/{i}"));
        let o = i % owners.len();
        let owner = &owners[o];
        let challenge = registration_challenge(
            &api.chain,
            &owner.account(),
            &key.device_key(),
            &anchor_hash,
        );
        let chain = ca
            .issue(&DevLeaf::healthy(key.device_key(), &challenge.0, now_secs))
            .map_err(|e| anyhow!("{e}"))?;
        let call = Call::RegisterDevice {
            evidence: Evidence {
                format: EvidenceFormat::AndroidKeyChain,
                parts: chain.into_iter().map(Bytes).collect(),
            },
            key: key.device_key(),
            capabilities: Capabilities {
                slots: SLOTS,
                ..Capabilities::default()
            },
            pool: None,
            anchor,
            stake: Amount(10_000),
        };
        let tx = Tx {
            signer: Signer::Account(owner.account()),
            nonce: nonces[o],
            fee: api.fee,
            call,
        }
        .sign(&api.chain, owner);
        nonces[o] += 1;
        txs.push(tx);
        devices.push(Device {
            id: key.device_key().device_id(),
            key,
            nonce: 0,
            to_commit: BTreeSet::new(),
            committed: HashMap::new(),
            to_reveal: BTreeSet::new(),
            committing: false,
            revealing: false,
        });
    }
    api.submit_all(txs.iter().collect())?;
    let mut waiting: BTreeSet<DeviceId> = devices.iter().map(|d| d.id).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !waiting.is_empty() {
        let Some(block) = recv_until(blocks, deadline)? else {
            bail!(
                "{} of {count} devices were not registered within 60 s (is the dev CA trusted by this chain?)",
                waiting.len()
            );
        };
        for tx in &block.rejected {
            eprintln!("bench: registration rejected: {tx}");
        }
        for e in &block.events {
            if e["kind"] == "device_registered"
                && let Some(d) = device_of(&e["device"])
            {
                waiting.remove(&d);
            }
        }
    }
    Ok(devices)
}

fn recv_until(blocks: &mpsc::Receiver<Block>, deadline: Instant) -> Result<Option<Block>> {
    let left = deadline.saturating_duration_since(Instant::now());
    match blocks.recv_timeout(left) {
        Ok(b) => Ok(Some(b)),
        Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
        Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the block stream closed"),
    }
}

/// Runs the results benchmark.
pub fn run(args: &NodeBench) -> Result<()> {
    if args.devices == 0 || args.tasks == 0 {
        bail!("--devices and --tasks must be at least 1");
    }
    if usize::from(args.replicas) > args.devices {
        bail!(
            "--replicas {} needs at least that many --devices",
            args.replicas
        );
    }
    let api = Api::new(args)?;
    let blocks = api.follow()?;
    // dev/user/0 pays for the job; the others own the devices (replicas
    // of one task need distinct owners).
    let owners: Vec<SecretKey> = (1..args.accounts.max(2)).map(dev_user).collect();
    if owners.len() < usize::from(args.replicas) {
        bail!(
            "--replicas {} needs at least {} funded --accounts",
            args.replicas,
            args.replicas + 1
        );
    }
    let run = now_ms();
    let started = Instant::now();
    let mut devices = register(&api, &blocks, &owners, args.devices, run)?;
    let registered_in = started.elapsed();
    let index: HashMap<DeviceId, usize> =
        devices.iter().enumerate().map(|(i, d)| (d.id, i)).collect();
    if !args.json {
        println!(
            "verigrid bench node: {} devices registered in {:.1} s; job of {} tasks × {} replicas",
            devices.len(),
            registered_in.as_secs_f64(),
            args.tasks,
            args.replicas
        );
    }

    // The job.
    let consumer = dev_user(0);
    let nonce = api.account_nonce(&consumer.account())?;
    let verification = if args.replicas == 1 {
        Verification {
            replicas: 1,
            quorum: 1,
            max_replicas: 1,
            ..Verification::replicated(1)
        }
    } else {
        Verification::replicated(args.replicas)
    };
    let spec = JobSpec {
        kind: JobKind::Wasm,
        program: blob_hash(b"bench/kernel"),
        inputs: Inputs::Indexed {
            blob: blob_hash(&run.to_le_bytes()),
            count: args.tasks,
        },
        limits: Limits::default(),
        verification,
        requirements: Requirements::default(),
        reward: Amount(1),
        deadline: Height(u64::MAX / 2),
    };
    let escrow = spec.max_cost().context("job cost overflows")?;
    let job = JobId::derive(&consumer.account(), nonce);
    let submit = Tx {
        signer: Signer::Account(consumer.account()),
        nonce,
        fee: api.fee,
        call: Call::SubmitJob { spec, escrow },
    }
    .sign(&api.chain, &consumer);
    let job_sent = Instant::now();
    api.submit_all(vec![&submit])?;

    let progress = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(u64::from(args.tasks))
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} verdicts  {per_sec}  {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut tally = Tally::default();
    let mut pending: HashMap<String, Pending> = HashMap::new();
    let mut holders: HashMap<TaskId, Vec<usize>> = HashMap::new();
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut last_progress = Instant::now();
    while tally.accepted + tally.failed < u64::from(args.tasks) {
        let Some(block) = recv_until(&blocks, last_progress + timeout)? else {
            progress.abandon();
            bail!(
                "no verdict for {} s: {} of {} tasks decided ({} missed deadlines, {} skipped entries)",
                args.timeout_secs,
                tally.accepted + tally.failed,
                args.tasks,
                tally.missed,
                tally.skipped
            );
        };
        tally.first_block.get_or_insert(block.height);
        tally.last_block = block.height;
        for id in &block.tx_ids {
            if let Some(p) = pending.remove(id) {
                tally
                    .latencies
                    .push(block.at.saturating_duration_since(p.sent));
                let device = devices.get_mut(p.device);
                match p.kind {
                    Kind::Commit => {
                        tally.commit_txs += 1;
                        if let Some(d) = device {
                            d.committing = false;
                        }
                    }
                    Kind::Reveal => {
                        tally.reveal_txs += 1;
                        if let Some(d) = device {
                            d.revealing = false;
                        }
                    }
                }
            }
        }
        for r in &block.rejected {
            eprintln!(
                "bench: a transaction was rejected in block {}: {r}",
                block.height
            );
        }
        for e in &block.events {
            match e["kind"].as_str() {
                Some("assigned") => {
                    if let (Some(task), Some(&i)) = (
                        task_of(&e["task"]).filter(|t| t.job == job),
                        device_of(&e["device"]).and_then(|d| index.get(&d)),
                    ) {
                        devices[i].to_commit.insert(task);
                        holders.entry(task).or_default().push(i);
                    }
                }
                Some("reveal_open") => {
                    if let Some(task) = task_of(&e["task"]) {
                        for &i in holders.get(&task).map_or(&[][..], Vec::as_slice) {
                            if devices[i].committed.contains_key(&task) {
                                devices[i].to_reveal.insert(task);
                            }
                        }
                    }
                }
                Some("verdict") => {
                    let v = &e["verdict"];
                    if let Some(task) = task_of(&v["task"]).filter(|t| t.job == job) {
                        holders.remove(&task);
                        if v["outcome"]["accepted"].is_string() {
                            tally.accepted += 1;
                            tally.reveals += v["agreeing"].as_array().map_or(0, |a| a.len() as u64);
                        } else {
                            tally.failed += 1;
                        }
                        tally.last_verdict = Some(block.at);
                        last_progress = Instant::now();
                        progress.inc(1);
                    }
                }
                Some("missed") => tally.missed += 1,
                Some("entry_skipped") => {
                    tally.skipped += 1;
                    if tally.skipped <= 5 {
                        eprintln!("bench: entry skipped: {}", e["error"]);
                    }
                }
                _ => {}
            }
        }
        // One round: every device sends what it can, in parallel.
        let mut txs = Vec::new();
        for (i, d) in devices.iter_mut().enumerate() {
            txs.extend(
                d.round(&api.chain, api.fee)
                    .into_iter()
                    .map(|(tx, kind)| (tx, kind, i)),
            );
        }
        if !txs.is_empty() {
            tally.rounds += 1;
            let sent = Instant::now();
            for (tx, kind, device) in &txs {
                pending.insert(
                    tx.id().to_hex(),
                    Pending {
                        sent,
                        kind: *kind,
                        device: *device,
                    },
                );
            }
            api.submit_all(txs.iter().map(|(tx, _, _)| tx).collect())?;
        }
    }
    progress.finish_and_clear();
    let window = tally
        .last_verdict
        .map_or(Duration::ZERO, |t| t.saturating_duration_since(job_sent));
    report(args, &tally, window, registered_in, devices.len())
}

fn report(
    args: &NodeBench,
    tally: &Tally,
    window: Duration,
    registered_in: Duration,
    devices: usize,
) -> Result<()> {
    let mut latencies = tally.latencies.clone();
    latencies.sort();
    let secs = window.as_secs_f64().max(1e-9);
    #[allow(clippy::cast_precision_loss)]
    let (verified, reveals) = (tally.accepted as f64 / secs, tally.reveals as f64 / secs);
    let (p50, p90, p99) = (
        percentile(&latencies, 0.50).as_millis(),
        percentile(&latencies, 0.90).as_millis(),
        percentile(&latencies, 0.99).as_millis(),
    );
    let blocks = tally
        .last_block
        .saturating_sub(tally.first_block.unwrap_or(tally.last_block))
        + 1;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "mode": "results",
                "apis": args.apis.len(),
                "devices": devices,
                "tasks": args.tasks,
                "replicas": args.replicas,
                "accepted": tally.accepted,
                "failed": tally.failed,
                "reveals": tally.reveals,
                "seconds": window.as_secs_f64(),
                "blocks": blocks,
                "verified_results_per_sec": verified,
                "reveals_per_sec": reveals,
                "tx_latency_ms": { "p50": p50, "p90": p90, "p99": p99 },
                "commit_txs": tally.commit_txs,
                "reveal_txs": tally.reveal_txs,
                "rounds": tally.rounds,
                "missed": tally.missed,
                "skipped": tally.skipped,
                "registration_seconds": registered_in.as_secs_f64(),
            })
        );
    } else {
        println!(
            "  {} tasks decided ({} accepted, {} failed) in {:.2} s over {blocks} blocks",
            tally.accepted + tally.failed,
            tally.accepted,
            tally.failed,
            window.as_secs_f64()
        );
        println!("  verified results/s       {verified:.1}  (accepted verdicts)");
        println!("  device results/s         {reveals:.1}  (agreeing reveals)");
        println!(
            "  submit→finalized         p50 {p50} ms  p90 {p90} ms  p99 {p99} ms  ({} commit + {} reveal txs, {} rounds)",
            tally.commit_txs, tally.reveal_txs, tally.rounds
        );
        println!(
            "  missed deadlines         {}  skipped entries {}",
            tally.missed, tally.skipped
        );
    }
    if tally.failed > 0 {
        bail!("{} tasks failed", tally.failed);
    }
    Ok(())
}
