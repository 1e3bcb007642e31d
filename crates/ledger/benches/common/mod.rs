//! What the ledger benches share: a chain of registered devices applied
//! block by block, with devices that commit and reveal what they are
//! assigned.
// Each bench uses its own part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;

use criterion::measurement::Measurement;
use criterion::{BatchSize, BenchmarkGroup};

use verigrid_ledger::{BlockInput, Event, Genesis, Ledger};
use verigrid_types::codec::{Bytes, Decode, Encode};
use verigrid_types::device::{
    AttestationFailure, AttestationSummary, AttestationVerifier, Capabilities, Evidence,
    EvidenceFormat, Platform, SecurityLevel, VerifyRequest, registration_challenge,
};
use verigrid_types::job::{Inputs, JobKind, JobSpec, Limits, Requirements, Verification};
use verigrid_types::params::Params;
use verigrid_types::tx::{Call, Commit, Reveal, SignedTx, Signer, Tx, commitment};
use verigrid_types::{
    AccountId, Amount, DeviceId, Domain, Hash, Height, SecretKey, TaskId, Timestamp, blob_hash,
};

pub const CHAIN: &str = "bench";
pub const DEVICES: usize = 2_000;

pub struct Trusting;
impl AttestationVerifier for Trusting {
    fn verify(
        &self,
        e: &Evidence,
        _: &VerifyRequest<'_>,
    ) -> Result<AttestationSummary, AttestationFailure> {
        AttestationSummary::decode(&e.parts[0].0).map_err(|e| AttestationFailure(e.to_string()))
    }
}

pub struct Node {
    pub ledger: Ledger,
    pub parent: Hash,
    pub keys: BTreeMap<DeviceId, (SecretKey, u64)>,
    pub owners: Vec<(SecretKey, u64)>,
    pub committed: BTreeMap<TaskId, Vec<DeviceId>>,
}

impl Node {
    pub fn input(&self, txs: Vec<SignedTx>) -> BlockInput {
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

    pub fn apply(&mut self, txs: Vec<SignedTx>) -> Vec<Event> {
        let input = self.input(txs);
        let out = self.ledger.apply_block(&input, &Trusting).unwrap();
        self.parent = out.state_root;
        out.events
    }

    pub fn device_tx(&mut self, device: DeviceId, call: Call) -> SignedTx {
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

    pub fn commits(&mut self, assigned: &[(TaskId, DeviceId)]) -> Vec<SignedTx> {
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

    pub fn reveals(&mut self, assigned: &[(TaskId, DeviceId)]) -> Vec<SignedTx> {
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

pub fn assigned(events: &[Event]) -> Vec<(TaskId, DeviceId)> {
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
pub fn chain(devices: usize, adaptive: bool) -> Node {
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
pub fn submit_job(count: u32, verification: Verification) -> SignedTx {
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
fn warmed_up(adaptive: bool) -> (Node, Vec<(TaskId, DeviceId)>) {
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

/// One round of settling, to apply to `node.ledger` (a clone of it each
/// time): a block of commits for a full round of assigned work, then a
/// block of the reveals it opens, which settles `settled` tasks.
pub struct Round {
    pub node: Node,
    pub commit_block: BlockInput,
    pub reveal_block: BlockInput,
    pub settled: u64,
}

impl Round {
    /// The round of a warmed-up chain under `adaptive` or replication 3;
    /// prints its size under `name`.
    pub fn new(name: &str, adaptive: bool) -> Self {
        let (mut node, work) = warmed_up(adaptive);
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
            "{name}: {} replicas committed, {} revealed, {settled} tasks settled, in {} + {} \
             transactions",
            work.len(),
            opened.len(),
            commit_block.txs.len(),
            reveal_block.txs.len()
        );
        Self {
            node,
            commit_block,
            reveal_block,
            settled,
        }
    }

    /// Times `apply` on the round's two blocks, from a clone of the
    /// chain's state each time, as `name` in `group`.
    pub fn bench<M: Measurement>(
        &self,
        group: &mut BenchmarkGroup<'_, M>,
        name: &str,
        apply: impl Fn(&mut Ledger, &BlockInput),
    ) {
        group.bench_function(name, |b| {
            b.iter_batched(
                || self.node.ledger.clone(),
                |mut ledger| {
                    apply(&mut ledger, &self.commit_block);
                    apply(&mut ledger, &self.reveal_block);
                    ledger
                },
                BatchSize::LargeInput,
            );
        });
    }
}
