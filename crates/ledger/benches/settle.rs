//! Settling verified results: blocks of batched commits, then reveals, with
//! every signature checked, on a chain of 2,000 devices, under replication 3
//! and under adaptive replication. Reports tasks settled (verified results)
//! per second, next to the cost of only verifying the same blocks'
//! signatures (the baseline measured in the same run). Then what an empty
//! block, and one that starts a small job, cost on a chain of 157,000
//! devices, next to one Merkle root over that many leaves.
//!
//! Run: `cargo bench -p verigrid-ledger --bench settle`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::collections::BTreeMap;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use verigrid_ledger::{BlockInput, Event, Genesis, Ledger};
use verigrid_types::codec::{Bytes, Decode, Encode};
use verigrid_types::device::{
    AttestationFailure, AttestationSummary, AttestationVerifier, Capabilities, Evidence,
    EvidenceFormat, Platform, SecurityLevel, VerifyRequest, registration_challenge,
};
use verigrid_types::job::{Inputs, JobKind, JobSpec, Limits, Requirements, Verification};
use verigrid_types::merkle;
use verigrid_types::params::Params;
use verigrid_types::tx::{Call, Commit, Reveal, SignedTx, Signer, Tx, commitment};
use verigrid_types::{
    AccountId, Amount, DeviceId, Domain, Hash, Height, SecretKey, TaskId, Timestamp, blob_hash,
};

const CHAIN: &str = "bench";
const DEVICES: usize = 2_000;

struct Trusting;
impl AttestationVerifier for Trusting {
    fn verify(
        &self,
        e: &Evidence,
        _: &VerifyRequest<'_>,
    ) -> Result<AttestationSummary, AttestationFailure> {
        AttestationSummary::decode(&e.parts[0].0).map_err(|e| AttestationFailure(e.to_string()))
    }
}

struct Node {
    ledger: Ledger,
    parent: Hash,
    keys: BTreeMap<DeviceId, (SecretKey, u64)>,
    owners: Vec<(SecretKey, u64)>,
    committed: BTreeMap<TaskId, Vec<DeviceId>>,
}

impl Node {
    fn input(&self, txs: Vec<SignedTx>) -> BlockInput {
        let height = self.ledger.height().plus(1);
        BlockInput {
            height,
            time: Timestamp(self.ledger.time().0 + 1000),
            randomness: Hash::of(Domain::Draw, &[&height.0.to_le_bytes()]),
            parent: self.parent,
            proposer: AccountId([9; 32]),
            txs,
        }
    }

    fn apply(&mut self, txs: Vec<SignedTx>) -> Vec<Event> {
        let input = self.input(txs);
        let out = self.ledger.apply_block(&input, &Trusting).unwrap();
        self.parent = out.state_root;
        out.events
    }

    fn device_tx(&mut self, device: DeviceId, call: Call) -> SignedTx {
        let (key, nonce) = self.keys.get_mut(&device).unwrap();
        let tx = Tx {
            signer: Signer::Device(device),
            nonce: *nonce,
            fee: Amount(1),
            call,
        };
        *nonce += 1;
        tx.sign(CHAIN, key)
    }

    fn commits(&mut self, assigned: &[(TaskId, DeviceId)]) -> Vec<SignedTx> {
        let mut by_device: BTreeMap<DeviceId, Vec<Commit>> = BTreeMap::new();
        for (task, device) in assigned {
            let out = blob_hash(&task.encode());
            by_device.entry(*device).or_default().push(Commit {
                task: *task,
                commitment: commitment(&out, &[7; 32], device),
            });
        }
        by_device
            .into_iter()
            .map(|(d, commits)| self.device_tx(d, Call::CommitResults { commits }))
            .collect()
    }

    fn reveals(&mut self, assigned: &[(TaskId, DeviceId)]) -> Vec<SignedTx> {
        let mut by_device: BTreeMap<DeviceId, Vec<Reveal>> = BTreeMap::new();
        for (task, device) in assigned {
            by_device.entry(*device).or_default().push(Reveal {
                task: *task,
                output_hash: blob_hash(&task.encode()),
                salt: [7; 32],
                output: None,
            });
        }
        by_device
            .into_iter()
            .map(|(d, reveals)| self.device_tx(d, Call::RevealResults { reveals }))
            .collect()
    }
}

fn assigned(events: &[Event]) -> Vec<(TaskId, DeviceId)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Assigned { task, device, .. } => Some((*task, *device)),
            _ => None,
        })
        .collect()
}

/// A chain of `devices` registered devices (each its own owner's, with
/// 64 slots), all registered in one block.
fn chain(devices: usize, adaptive: bool) -> Node {
    let governor = SecretKey::from_label("governor");
    let consumer = SecretKey::from_label("consumer");
    let mut params = Params::new(governor.account());
    params.base_fee = Amount(1);
    params.commit_blocks = 50;
    params.reveal_blocks = 50;
    if !adaptive {
        params.solo_min_successes = u32::MAX;
    }
    let owners: Vec<SecretKey> = (0..devices)
        .map(|i| SecretKey::from_label(&format!("o{i}")))
        .collect();
    let mut accounts: Vec<(AccountId, Amount)> = owners
        .iter()
        .map(|o| (o.account(), Amount(1_000_000)))
        .collect();
    accounts.push((consumer.account(), Amount(1 << 50)));
    let genesis = Genesis {
        chain_id: CHAIN.into(),
        params,
        accounts,
        time: Timestamp(1_795_478_400_000),
    };
    let mut node = Node {
        ledger: Ledger::new(&genesis).unwrap(),
        parent: Hash::ZERO,
        keys: BTreeMap::new(),
        owners: owners.into_iter().map(|o| (o, 0)).collect(),
        committed: BTreeMap::new(),
    };
    node.apply(vec![]);
    let anchor = node.ledger.recent_block(Height(0)).unwrap();
    let mut txs = Vec::new();
    for i in 0..devices {
        let dkey = SecretKey::from_label(&format!("d{i}"));
        let (owner, nonce) = &mut node.owners[i];
        let challenge =
            registration_challenge(CHAIN, &owner.account(), &dkey.device_key(), &anchor);
        let summary = AttestationSummary {
            platform: Platform::Android,
            security_level: SecurityLevel::TrustedEnvironment,
            key: dkey.device_key(),
            challenge: Bytes(challenge.0.to_vec()),
            verified_boot: true,
            device_locked: true,
            patch_level: 202_610,
            app_digests: vec![],
            serials: vec![],
        };
        let call = Call::RegisterDevice {
            evidence: Evidence {
                format: EvidenceFormat::AndroidKeyChain,
                parts: vec![Bytes(summary.encode())],
            },
            key: dkey.device_key(),
            capabilities: Capabilities {
                slots: 64,
                ..Capabilities::default()
            },
            pool: None,
            anchor: Height(0),
            stake: Amount(10_000),
        };
        let tx = Tx {
            signer: Signer::Account(owner.account()),
            nonce: *nonce,
            fee: Amount(1),
            call,
        };
        *nonce += 1;
        txs.push(tx.sign(CHAIN, owner));
        node.keys.insert(dkey.device_key().device_id(), (dkey, 0));
    }
    node.apply(txs);
    node
}

/// The consumer's first job, of `count` tasks under `verification`.
fn submit_job(count: u32, verification: Verification) -> SignedTx {
    let consumer = SecretKey::from_label("consumer");
    let spec = JobSpec {
        kind: JobKind::Wasm,
        program: blob_hash(b"m"),
        inputs: Inputs::Indexed {
            blob: blob_hash(b"i"),
            count,
        },
        limits: Limits::default(),
        verification,
        requirements: Requirements::default(),
        reward: Amount(1),
        deadline: Height(1_000_000),
    };
    let escrow = spec.max_cost().unwrap();
    Tx {
        signer: Signer::Account(consumer.account()),
        nonce: 0,
        fee: Amount(1),
        call: Call::SubmitJob { spec, escrow },
    }
    .sign(CHAIN, &consumer)
}

/// A chain whose devices have built enough record to hold many tasks, and
/// whose last block assigned a full round of work.
fn setup(adaptive: bool) -> (Node, Vec<(TaskId, DeviceId)>) {
    let mut node = chain(DEVICES, adaptive);
    let verification = if adaptive {
        Verification::adaptive(100_000)
    } else {
        Verification::replicated(3)
    };
    let mut work = assigned(&node.apply(vec![submit_job(10_000_000, verification)]));
    // Warm up: every round of agreeing results earns each device a slot
    // (and, past 20, the record to run alone under adaptive replication).
    for _ in 0..25 {
        let commits = node.commits(&work);
        let opened = revealable(&node.apply(commits), &mut node.committed, &work);
        let reveals = node.reveals(&opened);
        work = assigned(&node.apply(reveals));
    }
    (node, work)
}

/// Replicas whose reveal the block opened, given what was committed so far.
fn revealable(
    events: &[Event],
    committed: &mut BTreeMap<TaskId, Vec<DeviceId>>,
    just_committed: &[(TaskId, DeviceId)],
) -> Vec<(TaskId, DeviceId)> {
    for (task, device) in just_committed {
        committed.entry(*task).or_default().push(*device);
    }
    let mut out = Vec::new();
    for e in events {
        if let Event::RevealOpen { task } = e
            && let Some(devices) = committed.remove(task)
        {
            out.extend(devices.into_iter().map(|d| (*task, d)));
        }
    }
    out
}

/// Measures one round (a block of commits, then a block of reveals that
/// settles what they opened) for a job under `adaptive` or replication 3.
fn round(c: &mut Criterion, name: &str, adaptive: bool) {
    let (mut node, work) = setup(adaptive);
    let commit_txs = node.commits(&work);
    let commit_block = node.input(commit_txs);
    let mut scratch = node.ledger.clone();
    let out = scratch.apply_block(&commit_block, &Trusting).unwrap();
    let mut committed = node.committed.clone();
    let opened = revealable(&out.events, &mut committed, &work);
    let reveal_txs = node.reveals(&opened);
    let reveal_block = BlockInput {
        height: commit_block.height.plus(1),
        time: Timestamp(commit_block.time.0 + 1000),
        randomness: Hash::of(Domain::Draw, &[b"next"]),
        parent: out.state_root,
        proposer: commit_block.proposer,
        txs: reveal_txs,
    };
    let settled = scratch
        .apply_block(&reveal_block, &Trusting)
        .unwrap()
        .events
        .iter()
        .filter(|e| matches!(e, Event::Verdict(_)))
        .count() as u64;
    println!(
        "{name}: {} replicas committed, {} revealed, {settled} tasks settled, in {} + {} transactions",
        work.len(),
        opened.len(),
        commit_block.txs.len(),
        reveal_block.txs.len()
    );

    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.throughput(Throughput::Elements(settled));
    group.bench_function("commit_and_reveal_blocks", |b| {
        b.iter_batched(
            || node.ledger.clone(),
            |mut ledger| {
                ledger.apply_block(&commit_block, &Trusting).unwrap();
                ledger.apply_block(&reveal_block, &Trusting).unwrap();
                ledger
            },
            BatchSize::LargeInput,
        );
    });
    // A validator keeps the state after every block it builds or
    // verifies, each a clone of its parent's.
    group.bench_function("clone_state", |b| b.iter(|| node.ledger.clone()));
    group.bench_function("baseline_signature_checks_only", |b| {
        let all: Vec<&SignedTx> = commit_block.txs.iter().chain(&reveal_block.txs).collect();
        let msgs: Vec<(Hash, [u8; 32], [u8; 64])> = all
            .iter()
            .map(|t| {
                let Signer::Device(d) = t.tx.signer else {
                    unreachable!()
                };
                let verigrid_types::Signature::Ed25519(sig) = t.signature else {
                    unreachable!()
                };
                let verigrid_types::DeviceKey::Ed25519(pk) = node.ledger.device(&d).unwrap().key
                else {
                    unreachable!()
                };
                (t.tx.signing_message(CHAIN), pk, sig)
            })
            .collect();
        b.iter(|| {
            let items: Vec<(&[u8; 32], &[u8], &[u8; 64])> = msgs
                .iter()
                .map(|(m, pk, sig)| (pk, &m.0[..], sig))
                .collect();
            assert!(verigrid_types::crypto::verify_ed25519_batch(&items));
        });
    });
    group.finish();
}

/// Devices on the chain [`idle`] measures: the real network's size.
const NETWORK: usize = 157_000;

/// What a block costs for the size of the state alone: an empty block, and
/// one that starts a small job, on a chain of [`NETWORK`] registered
/// devices and as many accounts, against
/// the baseline of one Merkle root over [`NETWORK`] leaves (what every
/// block paid for the devices alone while state roots were rebuilt from
/// scratch).
fn idle(c: &mut Criterion) {
    let node = chain(NETWORK, false);
    let mut group = c.benchmark_group("idle_block_157k_devices");
    group.sample_size(10);
    group.bench_function("empty_block", |b| {
        b.iter_batched(
            || (node.ledger.clone(), node.input(Vec::new())),
            |(mut ledger, input)| {
                ledger.apply_block(&input, &Trusting).unwrap();
                ledger
            },
            BatchSize::LargeInput,
        );
    });
    // What a validator pays to keep the state after each block: a clone.
    group.bench_function("clone_state", |b| b.iter(|| node.ledger.clone()));
    // A block that starts a job of 64 tasks under replication 3: the
    // ledger draws 192 devices out of the whole network.
    let submit = submit_job(64, Verification::replicated(3));
    group.bench_function("block_starting_a_64_task_job", |b| {
        b.iter_batched(
            || (node.ledger.clone(), node.input(vec![submit.clone()])),
            |(mut ledger, input)| {
                let out = ledger.apply_block(&input, &Trusting).unwrap();
                assert_eq!(
                    out.events
                        .iter()
                        .filter(|e| matches!(e, Event::Assigned { .. }))
                        .count(),
                    192
                );
                ledger
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("baseline_one_root_over_157k_leaves", |b| {
        let leaves: Vec<Hash> = (0..NETWORK as u64)
            .map(|i| Hash::of(Domain::Draw, &[&i.to_le_bytes()]))
            .collect();
        b.iter(|| merkle::root(&leaves));
    });
    group.finish();
}

fn settle(c: &mut Criterion) {
    round(c, "settle_replicated_3", false);
    round(c, "settle_adaptive", true);
    idle(c);
}

criterion_group!(benches, settle);
criterion_main!(benches);
