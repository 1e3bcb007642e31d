//! verigrid's ledger: the deterministic state machine every validator runs
//! (docs/DESIGN.md §3–§5).
//!
//! Owns: accounts, devices, jobs, live tasks, assignment, commit/reveal,
//! verdicts, reputation, payments, slashing, and the state root.
//! Must not know: networks, disks, clocks or consensus. Time and randomness
//! arrive with each [`BlockInput`]; attestation evidence is judged through
//! the [`AttestationVerifier`] trait, so the same code runs in validators,
//! agents' light checks and the 157k-device simulator.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation
    )
)]

mod accounts;
mod assignment;
mod checks;
mod deadlines;
mod devices;
mod draws;
pub mod error;
pub mod events;
mod governance;
mod jobs;
pub mod proof;
pub mod records;
mod results;
mod snapshot;
mod store;
mod verdict;

use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};

use verigrid_types::codec::Encode;
use verigrid_types::device::AttestationVerifier;
use verigrid_types::params::Params;
use verigrid_types::tx::{Call, SignedTx, Signer, signing_message};
use verigrid_types::{
    AccountId, Amount, DeviceId, DeviceKey, Domain, Hash, Height, JobId, TaskId, Timestamp,
};

use checks::{SignatureCheck, SignerKeys, Voucher};
pub use checks::{SignatureChecker, SignatureChecks};
pub use error::{BlockError, EntryError, TxError};
pub use events::Event;
pub use proof::{StateComponents, VerdictProof};
pub use records::{Account, Device, DeviceStatus, Job, JobStatus, Outcome, Task, Verdict};
use store::{StateMap, TaskMap};

/// The chain's starting point.
#[derive(Clone, Debug)]
pub struct Genesis {
    /// Chain id: bound into every signature and attestation challenge.
    pub chain_id: String,
    /// Initial parameters.
    pub params: Params,
    /// Initial balances.
    pub accounts: Vec<(AccountId, Amount)>,
    /// Genesis time.
    pub time: Timestamp,
}

/// A finalized block as the ledger consumes it.
#[derive(Clone, Debug)]
pub struct BlockInput {
    /// Its height: one more than the ledger's.
    pub height: Height,
    /// Agreed block time.
    pub time: Timestamp,
    /// Unpredictable randomness (the consensus beacon, or the parent hash
    /// in single-validator dev mode).
    pub randomness: Hash,
    /// Hash of the previous block (anchors attestation challenges).
    pub parent: Hash,
    /// Who proposed it: collects the fees.
    pub proposer: AccountId,
    /// Transactions in order.
    pub txs: Vec<SignedTx>,
}

/// What applying a block produced.
#[derive(Clone, Debug)]
pub struct BlockOutcome {
    /// State root after the block.
    pub state_root: Hash,
    /// Per transaction: applied, or why not.
    pub results: Vec<Result<(), TxError>>,
    /// Everything that happened, in order.
    pub events: Vec<Event>,
}

/// A block being applied: who collects its fees, its results so far, and
/// one buffer every transaction is encoded into (encoding a batch of
/// thousands of entries into a fresh `Vec` reallocates it a dozen times).
struct Applying {
    proposer: AccountId,
    results: Vec<Result<(), TxError>>,
    body: Vec<u8>,
}

impl Applying {
    fn new(proposer: AccountId, txs: usize) -> Self {
        Self {
            proposer,
            results: Vec::with_capacity(txs),
            body: Vec::new(),
        }
    }
}

/// Money created and destroyed since genesis: the supply invariant is
/// `sum of all holdings == genesis − burned`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Supply {
    /// Supply at genesis.
    pub genesis: u64,
    /// Burned by slashing.
    pub burned: u64,
}

/// The ledger state and the rules that change it.
#[derive(Clone, Debug)]
pub struct Ledger {
    chain_id: String,
    height: Height,
    time: Timestamp,
    params: Params,
    supply: Supply,
    job_seq: u64,
    accounts: StateMap<AccountId, Account>,
    devices: StateMap<DeviceId, Device>,
    jobs: StateMap<JobId, Job>,
    tasks: TaskMap<Task>,
    /// Hashes of recent blocks, for attestation challenge anchors.
    recent: BTreeMap<Height, Hash>,
    // Indexes derived from the maps above (never hashed).
    deadlines: deadlines::Deadlines,
    job_deadlines: BTreeSet<(Height, JobId)>,
    needs_replicas: BTreeSet<TaskId>,
    queue: BTreeMap<u64, JobId>,
    /// Registered devices' keys, ed25519 points decompressed once (a
    /// fifth of every signature check otherwise); shared with checkers.
    keys: SignerKeys,
    /// Every device's draw weight in key order, kept up to date from what
    /// changed (docs/DESIGN.md §5.2).
    draws: draws::DrawIndex,
    // Per-block scratch.
    /// Tasks a transaction of this block acted on (sorted and deduplicated
    /// when the block ends: cheaper than a set kept in order per entry).
    touched: Vec<TaskId>,
    /// Rewards owed by this block's verdicts, summed per payee and added
    /// to the balances once when the block ends: a verdict names three
    /// payees, and a look-up in an account map of every owner is a chain
    /// of cache misses, where one per payee per block is not.
    credits: FxHashMap<AccountId, Amount>,
    events: Vec<Event>,
    randomness: Hash,
}

/// Who signed and who pays for a transaction being applied.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin {
    pub signer: Signer,
    pub payer: AccountId,
}

impl Ledger {
    /// The state at genesis.
    ///
    /// # Errors
    /// [`TxError::Overflow`] if the genesis balances exceed the supply
    /// range, [`TxError::InvalidParams`] for unusable parameters.
    pub fn new(genesis: &Genesis) -> Result<Self, TxError> {
        governance::validate_params(&genesis.params)?;
        let mut accounts = StateMap::default();
        let mut total = Amount::ZERO;
        for (id, amount) in &genesis.accounts {
            total = total.checked_add(*amount).ok_or(TxError::Overflow)?;
            let prior = accounts
                .get(id)
                .map_or(Amount::ZERO, |a: &Account| a.balance);
            let balance = prior.checked_add(*amount).ok_or(TxError::Overflow)?;
            accounts.insert(
                *id,
                Account {
                    balance,
                    ..Account::default()
                },
            );
        }
        Ok(Self {
            chain_id: genesis.chain_id.clone(),
            height: Height(0),
            time: genesis.time,
            params: genesis.params.clone(),
            supply: Supply {
                genesis: total.0,
                burned: 0,
            },
            job_seq: 0,
            accounts,
            devices: StateMap::default(),
            jobs: StateMap::default(),
            tasks: TaskMap::default(),
            recent: BTreeMap::new(),
            deadlines: deadlines::Deadlines::default(),
            job_deadlines: BTreeSet::new(),
            needs_replicas: BTreeSet::new(),
            queue: BTreeMap::new(),
            keys: SignerKeys::default(),
            draws: draws::DrawIndex::default(),
            touched: Vec::new(),
            credits: FxHashMap::default(),
            events: Vec::new(),
            randomness: Hash::ZERO,
        })
    }

    /// Chain id.
    #[must_use]
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Height of the last applied block (0 at genesis).
    #[must_use]
    pub fn height(&self) -> Height {
        self.height
    }

    /// Time of the last applied block.
    #[must_use]
    pub fn time(&self) -> Timestamp {
        self.time
    }

    /// Current parameters.
    #[must_use]
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Supply counters.
    #[must_use]
    pub fn supply(&self) -> Supply {
        self.supply
    }

    /// An account.
    #[must_use]
    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.get(id)
    }

    /// A device.
    #[must_use]
    pub fn device(&self, id: &DeviceId) -> Option<&Device> {
        self.devices.get(id)
    }

    /// A job.
    #[must_use]
    pub fn job(&self, id: &JobId) -> Option<&Job> {
        self.jobs.get(id)
    }

    /// A live task.
    #[must_use]
    pub fn task(&self, id: &TaskId) -> Option<&Task> {
        self.tasks.get(id)
    }

    /// Number of live tasks.
    #[must_use]
    pub fn live_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// All accounts, in id order.
    pub fn accounts(&self) -> impl Iterator<Item = (&AccountId, &Account)> {
        self.accounts.iter()
    }

    /// All devices, in id order.
    pub fn devices(&self) -> impl Iterator<Item = (&DeviceId, &Device)> {
        self.devices.iter()
    }

    /// All jobs, in id order.
    pub fn jobs(&self) -> impl Iterator<Item = (&JobId, &Job)> {
        self.jobs.iter()
    }

    /// All live tasks, in id order.
    pub fn tasks(&self) -> impl Iterator<Item = (&TaskId, &Task)> {
        self.tasks.iter()
    }

    /// The hash of a recent block, if still within the challenge window.
    #[must_use]
    pub fn recent_block(&self, height: Height) -> Option<Hash> {
        self.recent.get(&height).copied()
    }

    /// Sum of everything held: balances, bonds, unbonding, device stakes,
    /// escrow. Equals `genesis − burned` after every block.
    #[must_use]
    pub fn total_holdings(&self) -> u128 {
        let accounts: u128 = self
            .accounts
            .iter()
            .map(|(_, a)| {
                u128::from(a.balance.0)
                    + u128::from(a.bonded.0)
                    + a.unbonding
                        .iter()
                        .map(|(_, x)| u128::from(x.0))
                        .sum::<u128>()
            })
            .sum();
        let stakes: u128 = self
            .devices
            .iter()
            .map(|(_, d)| u128::from(d.stake.0))
            .sum();
        let escrow: u128 = self.jobs.iter().map(|(_, j)| u128::from(j.escrow.0)).sum();
        accounts + stakes + escrow
    }

    /// The minimum fee for a transaction of `encoded_len` bytes.
    #[must_use]
    pub fn min_fee(&self, encoded_len: usize) -> Amount {
        let per_byte = self
            .params
            .fee_per_byte
            .0
            .saturating_mul(encoded_len as u64);
        Amount(self.params.base_fee.0.saturating_add(per_byte))
    }

    /// The roots the state root is made of.
    pub fn components(&mut self) -> StateComponents {
        StateComponents {
            accounts: self.accounts.root(),
            devices: self.devices.root(),
            jobs: self.jobs.root(),
            tasks: self.tasks.root(),
            params: Hash::of_value(Domain::State, &self.params),
            chain: Hash::of_value(
                Domain::State,
                &(
                    (self.chain_id.clone(), (self.height, self.time)),
                    (
                        (self.supply.genesis, self.supply.burned),
                        (self.job_seq, self.recent_list()),
                    ),
                ),
            ),
        }
    }

    fn recent_list(&self) -> Vec<(Height, verigrid_types::Hash)> {
        self.recent.iter().map(|(h, x)| (*h, *x)).collect()
    }

    /// The state root: commits to every account, device, job, live task,
    /// the parameters and the chain counters.
    pub fn state_root(&mut self) -> Hash {
        self.components().root()
    }

    /// Checks a transaction against the current state without applying it
    /// (the mempool's admission check).
    ///
    /// # Errors
    /// The [`TxError`] applying it now would give, for the checks that do
    /// not depend on other transactions in the same block.
    pub fn check_tx(&self, stx: &SignedTx) -> Result<(), TxError> {
        let body = stx.tx.encode();
        let message = signing_message(&self.chain_id, &body);
        let key = self.signer_key(&stx.tx.signer)?;
        if !key.verify(&message.0, &stx.signature) {
            return Err(TxError::BadSignature);
        }
        let origin = self.origin(stx)?;
        let minimum = self.min_fee(body.len());
        if stx.tx.fee < minimum {
            return Err(TxError::FeeTooLow {
                offered: stx.tx.fee,
                minimum,
            });
        }
        let balance = self
            .accounts
            .get(&origin.payer)
            .map_or(Amount::ZERO, |a| a.balance);
        if balance < stx.tx.fee {
            return Err(TxError::InsufficientBalance {
                available: balance,
                needed: stx.tx.fee,
            });
        }
        Ok(())
    }

    fn signer_key(&self, signer: &Signer) -> Result<DeviceKey, TxError> {
        match signer {
            Signer::Account(a) => Ok(DeviceKey::Ed25519(a.0)),
            Signer::Device(d) => self
                .devices
                .get(d)
                .map(|dev| dev.key)
                .ok_or(TxError::UnknownDevice(*d)),
        }
    }

    fn origin(&self, stx: &SignedTx) -> Result<Origin, TxError> {
        let (expected, payer) = match stx.tx.signer {
            Signer::Account(a) => {
                let acct = self.accounts.get(&a).ok_or(TxError::UnknownAccount(a))?;
                (acct.nonce, a)
            }
            Signer::Device(d) => {
                let dev = self.devices.get(&d).ok_or(TxError::UnknownDevice(d))?;
                (dev.nonce, dev.owner)
            }
        };
        if stx.tx.nonce != expected {
            return Err(TxError::BadNonce {
                expected,
                got: stx.tx.nonce,
            });
        }
        Ok(Origin {
            signer: stx.tx.signer,
            payer,
        })
    }

    /// Applies a finalized block.
    ///
    /// # Errors
    /// [`BlockError`] if the block does not follow the current state; the
    /// state is then unchanged.
    pub fn apply_block(
        &mut self,
        block: &BlockInput,
        verifier: &dyn AttestationVerifier,
    ) -> Result<BlockOutcome, BlockError> {
        let checks = self.check_signatures(&block.txs);
        self.apply_block_checked(block, verifier, [checks])
    }

    /// A checker of transaction signatures against the keys registered
    /// now: owned, so it may run on other threads, ahead of or alongside
    /// [`Ledger::apply_block_checked`] (the ledger itself stays
    /// single-threaded). Ed25519 signatures are checked in batches.
    #[must_use]
    pub fn signature_checker(&self) -> SignatureChecker {
        SignatureChecker::new(self.chain_id.as_str().into(), self.keys.clone())
    }

    /// Hands back a block's event list (emptied here) so the next block
    /// fills the same memory. A block of a large job has millions of
    /// events; a fresh list would map and zero new pages for every one of
    /// them, block after block, which was a sixth of the ledger's time at
    /// ten million tasks. A list smaller than the one held is dropped.
    pub fn recycle_events(&mut self, mut events: Vec<Event>) {
        if events.capacity() > self.events.capacity() {
            events.clear();
            self.events = events;
        }
    }

    /// Checks the signatures of `txs` against the current state without
    /// applying anything ([`Ledger::signature_checker`] on this thread).
    #[must_use]
    pub fn check_signatures(&self, txs: &[SignedTx]) -> SignatureChecks {
        self.signature_checker().check(txs)
    }

    /// [`Ledger::apply_block`] with signature checks made beforehand or
    /// alongside by a [`SignatureChecker`]: `checks` yields the checks of
    /// consecutive runs of the block's transactions, in order, and is
    /// drawn from only as far as the transactions being applied (so a
    /// caller may feed it from threads that are still checking). Each check
    /// is used only if it is for this very transaction — the same signing
    /// message, signature and signer key; any other transaction (or a
    /// missing check) is verified here, so a stale or mismatched check can
    /// never let a bad signature through.
    ///
    /// # Errors
    /// [`BlockError`] if the block does not follow the current state; the
    /// state is then unchanged.
    pub fn apply_block_checked(
        &mut self,
        block: &BlockInput,
        verifier: &dyn AttestationVerifier,
        checks: impl IntoIterator<Item = SignatureChecks>,
    ) -> Result<BlockOutcome, BlockError> {
        self.start_block(block)?;
        let chain_id = self.chain_id.clone();
        let mut runs = checks.into_iter().fuse();
        let mut run = SignatureChecks::default();
        let mut at = 0;
        let mut applying = Applying::new(block.proposer, block.txs.len());
        for stx in &block.txs {
            while at >= run.len() {
                let Some(next) = runs.next() else { break };
                (run, at) = (next, 0);
            }
            let voucher = run.voucher(&chain_id, at);
            at += 1;
            self.apply_one(&mut applying, stx, voucher, verifier);
        }
        Ok(self.finish_block(applying))
    }

    /// [`Ledger::apply_block_checked`] for a block whose transactions are
    /// still being made, signed and checked while it is applied: the
    /// ledger applies `block.txs` (verifying their signatures itself), then
    /// each run `runs` yields, in order, as it arrives. A run is its
    /// transactions and checks of them, used on the same terms as
    /// [`Ledger::apply_block_checked`]'s (one for this very transaction and
    /// key, or it is verified here); a run's checks never spill over to the
    /// next run. Returns the outcome and the block as applied: every run's
    /// transactions appended to `block.txs`, in order.
    ///
    /// # Errors
    /// [`BlockError`] if the block does not follow the current state; the
    /// state is then unchanged and no run was drawn.
    pub fn apply_block_streamed(
        &mut self,
        mut block: BlockInput,
        verifier: &dyn AttestationVerifier,
        runs: impl IntoIterator<Item = (Vec<SignedTx>, SignatureChecks)>,
    ) -> Result<(BlockOutcome, BlockInput), BlockError> {
        self.start_block(&block)?;
        let mut applying = Applying::new(block.proposer, block.txs.len());
        for stx in &block.txs {
            self.apply_one(&mut applying, stx, None, verifier);
        }
        let chain_id = self.chain_id.clone();
        for (txs, checks) in runs {
            for (at, stx) in txs.iter().enumerate() {
                let voucher = checks.voucher(&chain_id, at);
                self.apply_one(&mut applying, stx, voucher, verifier);
            }
            block.txs.extend(txs);
        }
        Ok((self.finish_block(applying), block))
    }

    /// Applies one transaction of the block being applied, using `voucher`
    /// only if it was made for exactly this transaction under its signer's
    /// current key (the same encoded transaction, key and signature, on
    /// this chain), and verifying the signature here otherwise.
    fn apply_one(
        &mut self,
        applying: &mut Applying,
        stx: &SignedTx,
        voucher: Option<Voucher<'_>>,
        verifier: &dyn AttestationVerifier,
    ) {
        applying.body.clear();
        stx.tx.encode_to(&mut applying.body);
        let body = &applying.body;
        let sig_ok = self.signer_key(&stx.tx.signer).map(|key| {
            let vouched = voucher.filter(|v| {
                v.check.key == Some(key) && v.check.signature == stx.signature && v.body == body
            });
            match vouched {
                Some(Voucher {
                    check:
                        SignatureCheck {
                            valid: Some(valid), ..
                        },
                    ..
                }) => *valid,
                Some(v) => key.verify(&v.check.message.0, &stx.signature),
                None => key.verify(&signing_message(&self.chain_id, body).0, &stx.signature),
            }
        });
        let len = applying.body.len();
        let result = self.apply_tx(stx, len, sig_ok, applying.proposer, verifier);
        applying.results.push(result);
    }

    /// Height, time, randomness and recent blocks of a new block.
    fn start_block(&mut self, block: &BlockInput) -> Result<(), BlockError> {
        if block.height != self.height.plus(1) {
            return Err(BlockError::BadHeight {
                current: self.height,
                got: block.height,
            });
        }
        if block.time < self.time {
            return Err(BlockError::TimeBackwards);
        }
        self.height = block.height;
        self.time = block.time;
        self.randomness = block.randomness;
        self.recent.insert(Height(block.height.0 - 1), block.parent);
        let oldest = block
            .height
            .0
            .saturating_sub(self.params.challenge_window.max(1));
        self.recent = self.recent.split_off(&Height(oldest));
        Ok(())
    }

    /// Ends a block whose transactions were applied.
    fn finish_block(&mut self, applying: Applying) -> BlockOutcome {
        self.end_block();
        let state_root = self.state_root();
        BlockOutcome {
            state_root,
            results: applying.results,
            events: std::mem::take(&mut self.events),
        }
    }

    fn apply_tx(
        &mut self,
        stx: &SignedTx,
        len: usize,
        sig_ok: Result<bool, TxError>,
        proposer: AccountId,
        verifier: &dyn AttestationVerifier,
    ) -> Result<(), TxError> {
        if !sig_ok? {
            return Err(TxError::BadSignature);
        }
        let origin = self.origin(stx)?;
        let minimum = self.min_fee(len);
        let fee = stx.tx.fee;
        if fee < minimum {
            return Err(TxError::FeeTooLow {
                offered: fee,
                minimum,
            });
        }
        self.debit(&origin.payer, fee)?;
        if let Err(e) = self.dispatch(origin, &stx.tx.call, stx.tx.nonce, verifier) {
            self.credit(&origin.payer, fee);
            return Err(e);
        }
        match origin.signer {
            Signer::Account(a) => {
                if let Some(acct) = self.accounts.get_mut(&a) {
                    acct.nonce += 1;
                }
            }
            Signer::Device(d) => {
                if let Some(dev) = self.devices.get_mut(&d) {
                    dev.nonce += 1;
                }
            }
        }
        self.credit(&proposer, fee);
        Ok(())
    }

    fn dispatch(
        &mut self,
        origin: Origin,
        call: &Call,
        nonce: u64,
        verifier: &dyn AttestationVerifier,
    ) -> Result<(), TxError> {
        let account = || match origin.signer {
            Signer::Account(a) => Ok(a),
            Signer::Device(_) => Err(TxError::WrongSigner {
                expected: "an account",
            }),
        };
        let device = || match origin.signer {
            Signer::Device(d) => Ok(d),
            Signer::Account(_) => Err(TxError::WrongSigner {
                expected: "a device",
            }),
        };
        match call {
            Call::Transfer { to, amount } => self.transfer(account()?, *to, *amount),
            Call::Bond { amount } => self.bond(account()?, *amount),
            Call::Unbond { amount } => self.unbond(account()?, *amount),
            Call::Withdraw => self.withdraw(account()?),
            Call::RegisterDevice {
                evidence,
                key,
                capabilities,
                pool,
                anchor,
                stake,
            } => self.register_device(
                account()?,
                devices::Registration {
                    evidence,
                    key: *key,
                    capabilities,
                    pool: *pool,
                    anchor: *anchor,
                    stake: *stake,
                },
                verifier,
            ),
            Call::Reattest {
                device,
                evidence,
                anchor,
            } => self.reattest(account()?, *device, evidence, *anchor, verifier),
            Call::SetDeviceActive { device, active } => {
                self.set_device_active(account()?, *device, *active)
            }
            Call::RetireDevice { device } => self.retire_device(account()?, *device),
            Call::Heartbeat { devices } => self.heartbeat(account()?, devices),
            Call::SubmitJob { spec, escrow } => self.submit_job(account()?, nonce, spec, *escrow),
            Call::CancelJob { job } => self.cancel_job(account()?, *job),
            Call::CommitResults { commits } => self.commit_results(device()?, commits),
            Call::RevealResults { reveals } => self.reveal_results(device()?, reveals),
            Call::SetParams { params } => self.set_params(account()?, params),
            Call::AddTrustRoot { root } => self.add_trust_root(account()?, root),
            Call::RevokeSerials { serials } => self.revoke_serials(account()?, serials),
            Call::SetAgentDigests { digests } => self.set_agent_digests(account()?, digests),
        }
    }

    fn end_block(&mut self) {
        self.expire_deadlines();
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for &task in &touched {
            self.advance(task);
        }
        // Only transactions touch tasks, so the list is still empty: the
        // next block refills this memory (a fresh list of millions of
        // task ids had the kernel map and zero new pages every block).
        touched.clear();
        if self.touched.is_empty() {
            self.touched = touched;
        }
        self.expire_jobs();
        self.assign();
        self.settle_credits();
    }

    /// A draw in `0..bound` from the block randomness for `(label, task,
    /// n)`; deterministic, unpredictable before the block.
    fn draw(&self, label: &[u8], task: &TaskId, n: u64, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        let h = Hash::of(
            Domain::Draw,
            &[
                &self.randomness.0,
                label,
                &task.job.0.0,
                &task.index.to_le_bytes(),
                &n.to_le_bytes(),
            ],
        );
        h.to_u64() % bound
    }
}

impl StateComponents {
    /// The state root these components make.
    #[must_use]
    pub fn root(&self) -> Hash {
        Hash::of(
            Domain::State,
            &[
                &self.accounts.0,
                &self.devices.0,
                &self.jobs.0,
                &self.tasks.0,
                &self.params.0,
                &self.chain.0,
            ],
        )
    }
}
