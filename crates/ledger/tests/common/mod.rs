//! A test harness: a chain driven block by block, devices that follow the
//! protocol (honestly or not), and a verifier double that trusts evidence.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

use std::collections::{BTreeMap, BTreeSet};

use verigrid_ledger::{BlockInput, BlockOutcome, Event, Genesis, Ledger, TxError};
use verigrid_types::codec::{Bytes, Decode, Encode};
use verigrid_types::device::{
    AttestationFailure, AttestationSummary, AttestationVerifier, Capabilities, Evidence,
    EvidenceFormat, Platform, SecurityLevel, VerifyRequest,
};
use verigrid_types::job::{Inputs, JobKind, JobSpec, Limits, Requirements, Verification};
use verigrid_types::params::Params;
use verigrid_types::tx::{Call, Commit, Reveal, SignedTx, Signer, Tx, commitment};
use verigrid_types::{
    AccountId, Amount, DeviceId, Domain, Hash, Height, JobId, SecretKey, TaskId, Timestamp,
    blob_hash,
};

pub const CHAIN: &str = "verigrid-test";

/// Trusts evidence that is an encoded summary; refuses evidence marked
/// forged. The ledger's own checks (challenge, key) still run.
pub struct TrustingVerifier;

impl AttestationVerifier for TrustingVerifier {
    fn verify(
        &self,
        evidence: &Evidence,
        _request: &VerifyRequest<'_>,
    ) -> Result<AttestationSummary, AttestationFailure> {
        if evidence.parts.get(1).is_some_and(|p| p.0 == b"forged") {
            return Err(AttestationFailure(
                "certificate chain does not verify".into(),
            ));
        }
        let first = evidence
            .parts
            .first()
            .ok_or(AttestationFailure("empty".into()))?;
        AttestationSummary::decode(&first.0).map_err(|e| AttestationFailure(e.to_string()))
    }
}

pub fn summary(key: verigrid_types::DeviceKey, challenge: Hash) -> AttestationSummary {
    AttestationSummary {
        platform: Platform::Android,
        security_level: SecurityLevel::TrustedEnvironment,
        key,
        challenge: Bytes(challenge.0.to_vec()),
        verified_boot: true,
        device_locked: true,
        patch_level: 202_610,
        app_digests: vec![],
        serials: vec![],
    }
}

pub fn evidence(s: &AttestationSummary) -> Evidence {
    Evidence {
        format: EvidenceFormat::AndroidKeyChain,
        parts: vec![Bytes(s.encode())],
    }
}

pub fn key(label: &str) -> SecretKey {
    SecretKey::from_label(label)
}

/// How a simulated device behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Honest,
    /// Reveals the same wrong output as every other colluder.
    Colluder,
    /// Never commits (offline).
    Silent,
    /// Commits the right output, then never reveals.
    Withholder,
}

pub struct SimDevice {
    pub key: SecretKey,
    pub id: DeviceId,
    pub owner: SecretKey,
    pub behaviour: Behaviour,
    pub to_commit: Vec<TaskId>,
    pub to_reveal: BTreeSet<TaskId>,
    pub salts: BTreeMap<TaskId, [u8; 32]>,
    pub nonce: u64,
}

/// The correct output of a task: the hash of its id (a stand-in for running
/// the program; the ledger only sees hashes).
pub fn true_output(task: &TaskId) -> Hash {
    blob_hash(&task.encode())
}

pub fn wrong_output(task: &TaskId) -> Hash {
    blob_hash(&[b"colluders agree on this".as_slice(), &task.encode()].concat())
}

pub struct Chain {
    pub ledger: Ledger,
    pub proposer: AccountId,
    pub parent: Hash,
    pub nonces: BTreeMap<AccountId, u64>,
    pub devices: Vec<SimDevice>,
    pub events: Vec<Event>,
    pub roots: Vec<Hash>,
    pub seed: u64,
    /// Devices produce float tensors (with per-device noise) and reveal
    /// them inline, for tolerance and argmax jobs.
    pub float_outputs: bool,
}

pub fn params(governor: AccountId) -> Params {
    let mut p = Params::new(governor);
    p.min_device_stake = Amount(1_000);
    p.commit_blocks = 5;
    p.reveal_blocks = 5;
    p.base_fee = Amount(1);
    p
}

impl Chain {
    pub fn new(funded: &[(&SecretKey, u64)]) -> Self {
        let governor = key("governor");
        let mut accounts: Vec<(AccountId, Amount)> = funded
            .iter()
            .map(|(k, a)| (k.account(), Amount(*a)))
            .collect();
        accounts.push((governor.account(), Amount(1_000_000)));
        Self::with_params(&accounts, params(governor.account()))
    }

    pub fn with_params(accounts: &[(AccountId, Amount)], params: Params) -> Self {
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            params,
            accounts: accounts.to_vec(),
            time: Timestamp(1_795_478_400_000),
        };
        Self {
            ledger: Ledger::new(&genesis).unwrap(),
            proposer: key("proposer").account(),
            parent: Hash::of(Domain::Block, &[b"genesis"]),
            nonces: BTreeMap::new(),
            devices: Vec::new(),
            events: Vec::new(),
            roots: Vec::new(),
            float_outputs: false,
            seed: std::env::var("VG_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        }
    }

    pub fn tx(&mut self, signer: &SecretKey, call: Call) -> SignedTx {
        let who = signer.account();
        let nonce = self.nonces.entry(who).or_insert(0);
        let tx = Tx {
            signer: Signer::Account(who),
            nonce: *nonce,
            fee: Amount(1),
            call,
        };
        *nonce += 1;
        tx.sign(CHAIN, signer)
    }

    /// Applies a block; returns its outcome and records its events.
    pub fn block(&mut self, txs: Vec<SignedTx>) -> BlockOutcome {
        let height = self.ledger.height().plus(1);
        let input = BlockInput {
            height,
            time: Timestamp(self.ledger.time().0 + 1_000),
            randomness: Hash::of(
                Domain::Draw,
                &[b"beacon", &height.0.to_le_bytes(), &self.seed.to_le_bytes()],
            ),
            parent: self.parent,
            proposer: self.proposer,
            txs,
        };
        let out = self.ledger.apply_block(&input, &TrustingVerifier).unwrap();
        self.parent = Hash::of(Domain::Block, &[&out.state_root.0, &height.0.to_le_bytes()]);
        self.events.extend(out.events.iter().cloned());
        // Rejected transactions do not use up a nonce.
        for (who, nonce) in &mut self.nonces {
            *nonce = self.ledger.account(who).map_or(0, |a| a.nonce);
        }
        self.roots.push(out.state_root);
        for device in &mut self.devices {
            for e in &out.events {
                match e {
                    Event::Assigned {
                        task, device: d, ..
                    } if *d == device.id => {
                        device.to_commit.push(*task);
                    }
                    Event::RevealOpen { task } if device.salts.contains_key(task) => {
                        device.to_reveal.insert(*task);
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// Registers a device for `owner`, staking `stake`, with 8 slots.
    pub fn register(
        &mut self,
        owner: &SecretKey,
        label: &str,
        behaviour: Behaviour,
        stake: u64,
    ) -> DeviceId {
        let capabilities = Capabilities {
            slots: 8,
            ..Capabilities::default()
        };
        self.register_with(owner, label, behaviour, stake, capabilities)
    }

    /// [`Chain::register`] with the given capabilities.
    pub fn register_with(
        &mut self,
        owner: &SecretKey,
        label: &str,
        behaviour: Behaviour,
        stake: u64,
        capabilities: Capabilities,
    ) -> DeviceId {
        let dkey = key(label);
        let anchor = Height(self.ledger.height().0);
        let anchor_hash = if anchor.0 == 0 {
            // The genesis "parent" is recorded when block 1 is applied.
            self.block(vec![]);
            self.ledger.recent_block(Height(0)).unwrap()
        } else {
            self.ledger.recent_block(anchor).unwrap_or(self.parent)
        };
        let anchor = if anchor.0 == 0 { Height(0) } else { anchor };
        let challenge = verigrid_types::device::registration_challenge(
            CHAIN,
            &owner.account(),
            &dkey.device_key(),
            &anchor_hash,
        );
        let ev = evidence(&summary(dkey.device_key(), challenge));
        let tx = self.tx(
            owner,
            Call::RegisterDevice {
                evidence: ev,
                key: dkey.device_key(),
                capabilities,
                pool: None,
                anchor,
                stake: Amount(stake),
            },
        );
        let out = self.block(vec![tx]);
        out.results[0].clone().unwrap();
        let id = dkey.device_key().device_id();
        self.devices.push(SimDevice {
            key: dkey,
            id,
            owner: owner.clone(),
            behaviour,
            to_commit: vec![],
            to_reveal: BTreeSet::new(),
            salts: BTreeMap::new(),
            nonce: 0,
        });
        id
    }

    pub fn submit(
        &mut self,
        consumer: &SecretKey,
        tasks: u32,
        verification: Verification,
        reward: u64,
    ) -> JobId {
        let spec = job_spec(
            tasks,
            verification,
            reward,
            self.ledger.height().plus(10_000),
        );
        self.submit_spec(consumer, spec)
    }

    /// Submits the job `spec` for `consumer`.
    pub fn submit_spec(&mut self, consumer: &SecretKey, spec: JobSpec) -> JobId {
        let nonce = *self.nonces.get(&consumer.account()).unwrap_or(&0);
        let escrow = spec.max_cost().unwrap();
        let tx = self.tx(consumer, Call::SubmitJob { spec, escrow });
        let out = self.block(vec![tx]);
        out.results[0].clone().unwrap();
        JobId::derive(&consumer.account(), nonce)
    }

    /// Every device does its protocol step: commit what it was assigned,
    /// reveal what is open. Returns the transactions.
    pub fn device_txs(&mut self) -> Vec<SignedTx> {
        let float = self.float_outputs;
        let mut txs = Vec::new();
        for d in &mut self.devices {
            if d.behaviour == Behaviour::Silent {
                d.to_commit.clear();
                d.to_reveal.clear();
                continue;
            }
            if !d.to_commit.is_empty() {
                let commits: Vec<Commit> = d
                    .to_commit
                    .drain(..)
                    .map(|task| {
                        let salt = *Hash::of(Domain::Draw, &[&d.id.0.0, &task.encode()]).as_bytes();
                        d.salts.insert(task, salt);
                        let out = if float {
                            blob_hash(&float_output(d.behaviour, &task, &d.id))
                        } else {
                            output_of(d.behaviour, &task)
                        };
                        Commit {
                            task,
                            commitment: commitment(&out, &salt, &d.id),
                        }
                    })
                    .collect();
                txs.push(device_tx(d, Call::CommitResults { commits }));
            }
            if d.behaviour == Behaviour::Withholder {
                d.to_reveal.clear();
            }
            if !d.to_reveal.is_empty() {
                let reveals: Vec<Reveal> = std::mem::take(&mut d.to_reveal)
                    .into_iter()
                    .map(|task| {
                        if float {
                            let bytes = float_output(d.behaviour, &task, &d.id);
                            Reveal {
                                task,
                                output_hash: blob_hash(&bytes),
                                salt: d.salts[&task],
                                output: Some(Bytes(bytes)),
                            }
                        } else {
                            Reveal {
                                task,
                                output_hash: output_of(d.behaviour, &task),
                                salt: d.salts[&task],
                                output: None,
                            }
                        }
                    })
                    .collect();
                txs.push(device_tx(d, Call::RevealResults { reveals }));
            }
        }
        txs
    }

    /// Runs blocks until no task is live and no job is open, or `max` blocks.
    pub fn run_until_idle(&mut self, max: u32) {
        for _ in 0..max {
            let txs = self.device_txs();
            let out = self.block(txs);
            for r in &out.results {
                assert_eq!(r, &Ok::<(), TxError>(()), "device transaction rejected");
            }
            let open = self
                .ledger
                .jobs()
                .any(|(_, j)| j.status != verigrid_ledger::JobStatus::Finished);
            if self.ledger.live_tasks() == 0 && !open {
                return;
            }
        }
    }

    pub fn balance(&self, who: &AccountId) -> u64 {
        self.ledger.account(who).map_or(0, |a| a.balance.0)
    }

    pub fn assert_supply_conserved(&self) {
        let s = self.ledger.supply();
        assert_eq!(
            self.ledger.total_holdings(),
            u128::from(s.genesis - s.burned)
        );
    }
}

pub fn output_of(behaviour: Behaviour, task: &TaskId) -> Hash {
    match behaviour {
        Behaviour::Colluder => wrong_output(task),
        _ => true_output(task),
    }
}

/// A class-score tensor: the right answer peaks at class `index % 4`, with
/// noise of about 1e-6 that differs per device; colluders peak elsewhere.
pub fn float_output(behaviour: Behaviour, task: &TaskId, device: &DeviceId) -> Vec<u8> {
    let noise = f32::from(device.0.0[0]) * 1e-8;
    let right = (task.index % 4) as usize;
    let peak = if behaviour == Behaviour::Colluder {
        (right + 1) % 4
    } else {
        right
    };
    let scores: Vec<f32> = (0..4)
        .map(|i| if i == peak { 0.7 + noise } else { 0.1 + noise })
        .collect();
    verigrid_types::tensor::encode_outputs(&[verigrid_types::tensor::Tensor::f32(
        vec![1, 4],
        scores,
    )])
}

pub fn device_tx(d: &mut SimDevice, call: Call) -> SignedTx {
    let tx = Tx {
        signer: Signer::Device(d.id),
        nonce: d.nonce,
        fee: Amount(1),
        call,
    };
    d.nonce += 1;
    tx.sign(CHAIN, &d.key)
}

pub fn job_spec(tasks: u32, verification: Verification, reward: u64, deadline: Height) -> JobSpec {
    JobSpec {
        kind: JobKind::Wasm,
        program: blob_hash(b"module"),
        inputs: Inputs::Indexed {
            blob: blob_hash(b"input"),
            count: tasks,
        },
        limits: Limits {
            output_bytes: if verification.comparison.needs_output() {
                4_096
            } else {
                1 << 20
            },
            ..Limits::default()
        },
        verification,
        requirements: Requirements::default(),
        reward: Amount(reward),
        deadline,
    }
}
