//! The chain as this validator sees it: the finalized ledger, plus the
//! ledger state after every block it built or verified above it
//! (docs/DESIGN.md §9).
//!
//! Pure and synchronous, like the ledger: the application actor feeds it
//! blocks and the time, and it answers. Rules a block must follow, beyond
//! what consensus checks:
//! - its parent is the block consensus names, its height the parent's plus
//!   one, its time not before the parent's;
//! - its randomness is [`Block::next_randomness`] of the parent;
//! - it holds at most [`BlockLimits::max_txs`] transactions and
//!   [`BlockLimits::max_block_bytes`] bytes;
//! - its `state_root` is the root the ledger reaches by applying it to its
//!   parent's state. Invalid transactions inside a block are not a fault of
//!   the block: the ledger records them as rejected and charges nothing.
//!
//! A block's signatures are checked in batches on the other cores while
//! the ledger applies it ([`apply`]): batched and one-by-one checks agree
//! on every signature (docs/DESIGN.md §4), so this is the outcome
//! `Ledger::apply_block` gives, only sooner.

use std::collections::HashMap;

use thiserror::Error;
use verigrid_ledger::VerdictProof;
use verigrid_ledger::{BlockError, BlockInput, BlockOutcome, Event, Genesis, Ledger, TxError};
use verigrid_types::codec::Encode;
use verigrid_types::device::{
    AttestationFailure, AttestationSummary, AttestationVerifier, Evidence, VerifyRequest,
};
use verigrid_types::{AccountId, Hash, Height, JobId, TaskId, Timestamp};

use crate::assignments::Assignments;
use crate::block::Block;
use crate::mempool::Mempool;

/// Most speculative (unfinalized) ledger states kept at once.
const MAX_SPECULATIVE: usize = 256;

/// Transactions per batch of signature checks: large enough for batching
/// to pay (about a third of the cost of checking one by one), small enough
/// that a bad signature costs little to find.
const CHECK_RUN: usize = 256;

/// Applies `input` to `ledger`, its signatures checked in batches of
/// [`CHECK_RUN`] on the other cores while the ledger applies the runs
/// before them, so the ledger's thread waits only for the first run (on
/// one core, or for one run, it checks each run itself as it reaches it).
/// The outcome is the one [`Ledger::apply_block`] gives: a check counts
/// only for the transaction, key and signature it was made for, and
/// anything no check covers (a checker that died, and every run after
/// its) is verified inline.
///
/// # Errors
/// As [`Ledger::apply_block`].
pub fn apply(
    ledger: &mut Ledger,
    input: &BlockInput,
    verifier: &dyn AttestationVerifier,
) -> Result<BlockOutcome, BlockError> {
    let checker = ledger.signature_checker();
    let runs = input.txs.len().div_ceil(CHECK_RUN);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    // One run has nothing to overlap with: a thread would only add its
    // start-up to the wait.
    let workers = if runs < 2 {
        0
    } else {
        cores.saturating_sub(1).min(runs)
    };
    if workers == 0 {
        let checks = input.txs.chunks(CHECK_RUN).map(|run| checker.check(run));
        return ledger.apply_block_checked(input, verifier, checks);
    }
    std::thread::scope(|s| {
        // Worker `w` checks runs w, w + workers, …, in order.
        let (streams, handles): (Vec<_>, Vec<_>) = (0..workers)
            .map(|w| {
                let (sender, stream) = std::sync::mpsc::channel();
                let checker = checker.clone();
                let txs = &input.txs;
                let handle = s.spawn(move || {
                    for run in txs.chunks(CHECK_RUN).skip(w).step_by(workers) {
                        // The ledger stopped drawing (a refused block).
                        if sender.send(checker.check(run)).is_err() {
                            return;
                        }
                    }
                });
                (stream, handle)
            })
            .collect();
        let checks = (0..runs).map_while(|i| streams.get(i % workers)?.recv().ok());
        let outcome = ledger.apply_block_checked(input, verifier, checks);
        drop(streams);
        // Joined here, a worker's panic is not the block's: what it left
        // unchecked was verified inline.
        for handle in handles {
            let _ = handle.join();
        }
        outcome
    })
}

/// Bounds on what a block may hold.
#[derive(Clone, Copy, Debug)]
pub struct BlockLimits {
    /// Most transactions in a block.
    pub max_txs: usize,
    /// Largest encoded block, in bytes.
    pub max_block_bytes: usize,
    /// How far past a validator's clock a block's time may be before the
    /// validator waits (it never rejects for this: clocks drift).
    pub max_clock_skew_ms: u64,
}

impl Default for BlockLimits {
    fn default() -> Self {
        Self {
            max_txs: 5_000,
            max_block_bytes: crate::block::DEFAULT_MAX_BLOCK_BYTES,
            max_clock_skew_ms: 2_000,
        }
    }
}

/// A verifier for nodes that admit no devices (tests, and chains whose
/// attestation roots are not configured yet): every attestation fails.
#[derive(Clone, Copy, Debug, Default)]
pub struct RefuseAttestations;

impl AttestationVerifier for RefuseAttestations {
    fn verify(
        &self,
        _evidence: &Evidence,
        _request: &VerifyRequest<'_>,
    ) -> Result<AttestationSummary, AttestationFailure> {
        Err(AttestationFailure(
            "this node has no attestation verifier configured".into(),
        ))
    }
}

/// Why the chain could not be set up or extended.
#[derive(Debug, Error)]
pub enum ChainError {
    /// The genesis description is unusable.
    #[error("invalid genesis: {0}")]
    Genesis(TxError),
    /// The ledger refused a block (height or time out of order).
    #[error("ledger refused block: {0}")]
    Ledger(#[from] BlockError),
    /// No state is known for the parent of a block being built on.
    #[error("no state for parent block {0}: it was never verified here")]
    UnknownParent(Hash),
    /// A finalized block does not follow the finalized tip.
    #[error("finalized block {} does not follow the finalized tip {}", got_height.0, tip_height.0)]
    Gap {
        /// The finalized tip's height.
        tip_height: Height,
        /// The block's height.
        got_height: Height,
    },
    /// A finalized block's state root differs from the one this node
    /// computed: the validators disagree on the ledger rules (a bug or a
    /// version mismatch), and this node must stop rather than diverge.
    #[error("finalized block {} claims state root {claimed} but this node computes {computed}: ledger versions differ", height.0)]
    StateRootMismatch {
        /// The block's height.
        height: Height,
        /// Root in the block.
        claimed: Hash,
        /// Root computed here.
        computed: Hash,
    },
}

/// The answer to "is this block valid on its parent?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid; its state is now known.
    Valid,
    /// Permanently invalid.
    Invalid(Invalidity),
    /// The parent's state is unknown: supply the parent first.
    UnknownParent,
    /// The block's time is ahead of this validator's clock by more than the
    /// allowed skew: ask again at this time.
    TooEarly(Timestamp),
}

/// Why a block is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidity {
    /// Parent digest or height does not follow the parent.
    Linkage,
    /// Time before the parent's.
    TimeBackwards,
    /// Randomness is not derived from the parent.
    Randomness,
    /// Too many transactions or bytes.
    TooLarge,
    /// State root is not the one applying it gives.
    StateRoot,
    /// It would fork below the finalized tip.
    BelowFinalized,
}

/// A block this validator built.
#[derive(Clone, Debug)]
pub struct Built {
    /// The block.
    pub block: Block,
    /// Transactions left out because the ledger rejects them on the
    /// parent's state, by id, with the reason.
    pub rejected: Vec<(Hash, TxError)>,
}

/// A block applied to the finalized ledger.
#[derive(Clone, Debug)]
pub struct Finalized {
    /// The block's height.
    pub height: Height,
    /// The block's hash (its consensus digest).
    pub hash: Hash,
    /// The state root after it.
    pub state_root: Hash,
    /// Its time.
    pub time: Timestamp,
    /// Per transaction: applied, or why not.
    pub results: Vec<Result<(), TxError>>,
    /// Everything that happened, in order.
    pub events: Vec<Event>,
}

#[derive(Clone, Debug)]
struct Speculative {
    height: Height,
    time: Timestamp,
    state: Ledger,
    outcome: BlockOutcome,
}

/// Finalized ledger plus speculative states of unfinalized blocks.
pub struct Chain {
    ledger: Ledger,
    tip: Hash,
    tip_root: Hash,
    tip_time: Timestamp,
    speculative: HashMap<Hash, Speculative>,
    verifier: Box<dyn AttestationVerifier + Send>,
    limits: BlockLimits,
    /// Every finalized verdict of each job, in the order decided: the
    /// leaves of the job's verdict tree, needed to prove one of them.
    verdicts: HashMap<JobId, Vec<verigrid_ledger::Verdict>>,
    /// Where each decided task's verdict sits in its job's list.
    verdict_index: HashMap<TaskId, usize>,
    /// Live task replicas by device, at the finalized tip.
    assignments: Assignments,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("height", &self.ledger.height())
            .field("tip", &self.tip)
            .field("speculative", &self.speculative.len())
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// The chain at genesis, and its genesis block.
    ///
    /// # Errors
    /// [`ChainError::Genesis`] for an unusable genesis.
    pub fn new(
        genesis: &Genesis,
        verifier: Box<dyn AttestationVerifier + Send>,
        limits: BlockLimits,
    ) -> Result<(Self, Block), ChainError> {
        let mut ledger = Ledger::new(genesis).map_err(ChainError::Genesis)?;
        let block = Block::genesis(genesis.time, ledger.state_root());
        let chain = Self {
            ledger,
            tip: block.hash(),
            tip_root: block.state_root,
            tip_time: block.time,
            speculative: HashMap::new(),
            verifier,
            limits,
            verdicts: HashMap::new(),
            verdict_index: HashMap::new(),
            assignments: Assignments::default(),
        };
        Ok((chain, block))
    }

    /// The finalized ledger.
    #[must_use]
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Hash of the finalized tip.
    #[must_use]
    pub fn tip(&self) -> Hash {
        self.tip
    }

    /// State root of the finalized ledger.
    #[must_use]
    pub fn tip_root(&self) -> Hash {
        self.tip_root
    }

    /// Height of the finalized tip.
    #[must_use]
    pub fn height(&self) -> Height {
        self.ledger.height()
    }

    /// Time of the finalized tip.
    #[must_use]
    pub fn time(&self) -> Timestamp {
        self.tip_time
    }

    /// Limits blocks must respect.
    #[must_use]
    pub fn limits(&self) -> BlockLimits {
        self.limits
    }

    /// Live task replicas by device, at the finalized tip.
    #[must_use]
    pub fn assignments(&self) -> &Assignments {
        &self.assignments
    }

    /// The finalized verdict on `task`, if it was decided.
    #[must_use]
    pub fn verdict(&self, task: &TaskId) -> Option<&verigrid_ledger::Verdict> {
        let index = *self.verdict_index.get(task)?;
        self.verdicts.get(&task.job)?.get(index)
    }

    /// A proof of the verdict on `task` against the finalized state root
    /// ([`Chain::tip_root`]), if it was decided and its job still exists.
    /// Costs a copy of the ledger (its root caches need `&mut`).
    #[must_use]
    pub fn prove_verdict(&self, task: &TaskId) -> Option<VerdictProof> {
        let index = *self.verdict_index.get(task)?;
        let verdicts = self.verdicts.get(&task.job)?;
        self.ledger.clone().prove_verdict(verdicts, index)
    }

    /// The snapshot payload of the finalized chain
    /// ([`crate::snapshot::encode`]): O(state).
    #[must_use]
    pub fn snapshot(&self) -> Vec<u8> {
        crate::snapshot::encode(
            (self.height(), self.tip, self.tip_root, self.tip_time),
            &self.ledger,
            &self.verdicts,
        )
    }

    /// Replaces the finalized chain with a restored snapshot (speculative
    /// states are dropped; the assignment index is rebuilt from the
    /// ledger's live tasks).
    pub fn install(&mut self, snapshot: crate::snapshot::ChainSnapshot) {
        self.assignments = Assignments::from_ledger(&snapshot.ledger);
        self.ledger = snapshot.ledger;
        self.tip = snapshot.tip;
        self.tip_root = snapshot.tip_root;
        self.tip_time = snapshot.tip_time;
        self.speculative.clear();
        self.verdict_index = snapshot
            .verdicts
            .values()
            .flat_map(|list| list.iter().enumerate().map(|(i, v)| (v.task, i)))
            .collect();
        self.verdicts = snapshot.verdicts;
    }

    /// The ledger state after block `hash`, if known.
    #[must_use]
    pub fn state_after(&self, hash: &Hash) -> Option<&Ledger> {
        if *hash == self.tip {
            Some(&self.ledger)
        } else {
            self.speculative.get(hash).map(|s| &s.state)
        }
    }

    fn time_after(&self, hash: &Hash) -> Option<Timestamp> {
        if *hash == self.tip {
            Some(self.tip_time)
        } else {
            self.speculative.get(hash).map(|s| s.time)
        }
    }

    /// Builds a block on `parent` (whose state must be known) with
    /// transactions from `mempool`, at `now` or the parent's time if later.
    ///
    /// Transactions the ledger rejects when the block is applied are left
    /// out (a proposer only includes what applies, DESIGN §4) and returned
    /// in [`Built::rejected`], so the mempool can drop them.
    ///
    /// # Errors
    /// [`ChainError::UnknownParent`] if the parent's state is unknown.
    pub fn build(
        &mut self,
        parent: &Block,
        now: Timestamp,
        proposer: AccountId,
        mempool: &Mempool,
    ) -> Result<Built, ChainError> {
        /// Re-applications after leaving failures out; what still fails
        /// after that (rare chains of dependent failures) stays in the
        /// block, where the ledger rejects it harmlessly.
        const PASSES: usize = 3;
        let parent_hash = parent.hash();
        let state = self
            .state_after(&parent_hash)
            .ok_or(ChainError::UnknownParent(parent_hash))?;
        let mut block = Block {
            height: parent.height.plus(1),
            parent: parent_hash,
            time: now.max(parent.time),
            randomness: Block::next_randomness(parent_hash),
            proposer,
            state_root: Hash::ZERO,
            txs: Vec::new(),
        };
        let header = block.encode().len();
        block.txs = mempool.select(
            state,
            self.limits.max_txs,
            self.limits.max_block_bytes.saturating_sub(header),
        );
        let mut rejected = Vec::new();
        let mut pass = 0;
        let (scratch, outcome) = loop {
            let mut scratch = state.clone();
            let outcome = apply(&mut scratch, &block.input(), self.verifier.as_ref())?;
            if pass == PASSES || outcome.results.iter().all(Result::is_ok) {
                break (scratch, outcome);
            }
            let txs = std::mem::take(&mut block.txs);
            for (tx, result) in txs.into_iter().zip(&outcome.results) {
                match result {
                    Ok(()) => block.txs.push(tx),
                    Err(e) if pass == 0 => rejected.push((tx.id(), e.clone())),
                    Err(_) => {}
                }
            }
            pass += 1;
        };
        block.state_root = outcome.state_root;
        self.remember(&block, scratch, outcome);
        Ok(Built { block, rejected })
    }

    /// Checks `block` against `parent` and, if valid, remembers its state.
    /// `now` is this validator's clock.
    pub fn verify(&mut self, parent: &Block, block: &Block, now: Timestamp) -> Verdict {
        let parent_hash = parent.hash();
        if block.parent != parent_hash || block.height != parent.height.plus(1) {
            return Verdict::Invalid(Invalidity::Linkage);
        }
        self.verify_child(block, now)
    }

    /// Checks a block whose parent's state is known (by its `parent` hash).
    pub fn verify_child(&mut self, block: &Block, now: Timestamp) -> Verdict {
        let hash = block.hash();
        if self.state_after(&hash).is_some() {
            return Verdict::Valid;
        }
        if block.height <= self.ledger.height() {
            return Verdict::Invalid(Invalidity::BelowFinalized);
        }
        let (Some(state), Some(parent_time)) = (
            self.state_after(&block.parent),
            self.time_after(&block.parent),
        ) else {
            return Verdict::UnknownParent;
        };
        if block.height != state.height().plus(1) {
            return Verdict::Invalid(Invalidity::Linkage);
        }
        if block.time < parent_time {
            return Verdict::Invalid(Invalidity::TimeBackwards);
        }
        if block.randomness != Block::next_randomness(block.parent) {
            return Verdict::Invalid(Invalidity::Randomness);
        }
        if block.txs.len() > self.limits.max_txs
            || block.encode().len() > self.limits.max_block_bytes
        {
            return Verdict::Invalid(Invalidity::TooLarge);
        }
        let horizon = now.0.saturating_add(self.limits.max_clock_skew_ms);
        if block.time.0 > horizon {
            return Verdict::TooEarly(Timestamp(block.time.0 - self.limits.max_clock_skew_ms));
        }
        let mut scratch = state.clone();
        let Ok(outcome) = apply(&mut scratch, &block.input(), self.verifier.as_ref()) else {
            return Verdict::Invalid(Invalidity::Linkage);
        };
        if outcome.state_root != block.state_root {
            return Verdict::Invalid(Invalidity::StateRoot);
        }
        self.remember(block, scratch, outcome);
        Verdict::Valid
    }

    fn remember(&mut self, block: &Block, state: Ledger, outcome: BlockOutcome) {
        // Bounded: while finality stalls, every view's proposal could add a
        // state. Forgetting one only costs recomputing it from its parent,
        // so drop the oldest (lowest) first.
        while self.speculative.len() >= MAX_SPECULATIVE {
            let Some(oldest) = self
                .speculative
                .iter()
                .min_by_key(|(hash, s)| (s.height, **hash))
                .map(|(hash, _)| *hash)
            else {
                break;
            };
            self.speculative.remove(&oldest);
        }
        self.speculative.insert(
            block.hash(),
            Speculative {
                height: block.height,
                time: block.time,
                state,
                outcome,
            },
        );
    }

    /// Applies the next finalized block to the ledger. A block at or below
    /// the finalized height (a redelivery) returns `Ok(None)`.
    ///
    /// # Errors
    /// [`ChainError::Gap`] if it does not follow the tip;
    /// [`ChainError::StateRootMismatch`] if its root is not the one this
    /// node computes (the ledger is then unchanged).
    pub fn finalize(&mut self, block: &Block) -> Result<Option<Finalized>, ChainError> {
        if block.height <= self.ledger.height() {
            return Ok(None);
        }
        if block.height != self.ledger.height().plus(1) || block.parent != self.tip {
            return Err(ChainError::Gap {
                tip_height: self.ledger.height(),
                got_height: block.height,
            });
        }
        let hash = block.hash();
        let (state, outcome) = match self.speculative.remove(&hash) {
            Some(s) => (s.state, s.outcome),
            None => {
                let mut scratch = self.ledger.clone();
                let outcome = apply(&mut scratch, &block.input(), self.verifier.as_ref())?;
                (scratch, outcome)
            }
        };
        if outcome.state_root != block.state_root {
            return Err(ChainError::StateRootMismatch {
                height: block.height,
                claimed: block.state_root,
                computed: outcome.state_root,
            });
        }
        self.ledger = state;
        self.tip = hash;
        self.tip_root = block.state_root;
        self.tip_time = block.time;
        let height = block.height;
        self.speculative.retain(|_, s| s.height > height);
        for event in &outcome.events {
            if let Event::Verdict(verdict) = event {
                let list = self.verdicts.entry(verdict.task.job).or_default();
                self.verdict_index.insert(verdict.task, list.len());
                list.push(verigrid_ledger::Verdict::clone(verdict));
            }
        }
        self.assignments.apply(&outcome.events);
        Ok(Some(Finalized {
            height,
            hash,
            state_root: outcome.state_root,
            time: block.time,
            results: outcome.results,
            events: outcome.events,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::MempoolConfig;
    use verigrid_types::params::Params;
    use verigrid_types::tx::{Call, Signer, Tx};
    use verigrid_types::{Amount, SecretKey};

    const CHAIN: &str = "chain-test";

    fn setup() -> (Chain, Block, SecretKey) {
        let alice = SecretKey::from_label("alice");
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            params: Params::new(AccountId([9; 32])),
            accounts: vec![(alice.account(), Amount(1_000_000))],
            time: Timestamp(1_000),
        };
        let (chain, block) = Chain::new(
            &genesis,
            Box::new(RefuseAttestations),
            BlockLimits::default(),
        )
        .unwrap();
        (chain, block, alice)
    }

    fn pool_with_transfer(chain: &Chain, alice: &SecretKey) -> Mempool {
        let mut pool = Mempool::new(MempoolConfig::default());
        let tx = Tx {
            signer: Signer::Account(alice.account()),
            nonce: 0,
            fee: Amount(100),
            call: Call::Transfer {
                to: AccountId([7; 32]),
                amount: Amount(500),
            },
        }
        .sign(CHAIN, alice);
        pool.insert(tx, chain.ledger()).unwrap();
        pool
    }

    #[test]
    fn a_built_block_verifies_elsewhere_and_finalizes_to_the_same_root() {
        let (mut proposer, genesis, alice) = setup();
        let (mut other, _, _) = setup();
        let pool = pool_with_transfer(&proposer, &alice);
        let block = proposer
            .build(&genesis, Timestamp(2_000), alice.account(), &pool)
            .unwrap()
            .block;
        assert_eq!(block.txs.len(), 1);
        assert_eq!(
            other.verify(&genesis, &block, Timestamp(2_000)),
            Verdict::Valid
        );
        let a = proposer.finalize(&block).unwrap().unwrap();
        let b = other.finalize(&block).unwrap().unwrap();
        assert_eq!(a.state_root, b.state_root);
        assert_eq!(a.results, vec![Ok(())]);
        let to = other.ledger().account(&AccountId([7; 32])).unwrap();
        assert_eq!(to.balance, Amount(500));
        // Redelivery is harmless.
        assert!(other.finalize(&block).unwrap().is_none());
    }

    #[test]
    fn transactions_the_ledger_rejects_are_left_out_of_a_built_block() {
        let (mut proposer, genesis, alice) = setup();
        let mut pool = Mempool::new(MempoolConfig::default());
        // Admitted (the fee is affordable) but the amount is not.
        let broke = Tx {
            signer: Signer::Account(alice.account()),
            nonce: 0,
            fee: Amount(100),
            call: Call::Transfer {
                to: AccountId([7; 32]),
                amount: Amount(5_000_000),
            },
        }
        .sign(CHAIN, &alice);
        pool.insert(broke.clone(), proposer.ledger()).unwrap();
        let built = proposer
            .build(&genesis, Timestamp(2_000), alice.account(), &pool)
            .unwrap();
        assert!(built.block.txs.is_empty());
        assert_eq!(built.rejected.len(), 1);
        assert_eq!(built.rejected[0].0, broke.id());
        let (mut other, _, _) = setup();
        assert_eq!(
            other.verify(&genesis, &built.block, Timestamp(2_000)),
            Verdict::Valid
        );
    }

    /// Signatures checked in batches on every core give the outcome
    /// one-by-one checks give, a forgery in a later batch included.
    #[test]
    fn batched_signature_checks_give_the_outcome_of_single_checks() {
        let senders: Vec<SecretKey> = (0..12)
            .map(|i| SecretKey::from_label(&format!("sender {i}")))
            .collect();
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            params: Params::new(AccountId([9; 32])),
            accounts: senders
                .iter()
                .map(|k| (k.account(), Amount(1_000_000)))
                .collect(),
            time: Timestamp(1_000),
        };
        let ledger = Ledger::new(&genesis).unwrap();
        let mut txs = Vec::new();
        for nonce in 0..60 {
            for sender in &senders {
                let tx = Tx {
                    signer: Signer::Account(sender.account()),
                    nonce,
                    fee: Amount(100),
                    call: Call::Transfer {
                        to: AccountId([7; 32]),
                        amount: Amount(1),
                    },
                };
                txs.push(tx.sign(CHAIN, sender));
            }
        }
        // Another transaction's signature, in the second batch.
        txs[300].signature = txs[301].signature;
        let input = BlockInput {
            height: Height(1),
            time: Timestamp(2_000),
            randomness: Hash::ZERO,
            parent: Hash::ZERO,
            proposer: AccountId([9; 32]),
            txs,
        };
        // A block the ledger refuses stops the checkers with it.
        let mut refused = ledger.clone();
        let ahead = BlockInput {
            height: Height(2),
            ..input.clone()
        };
        assert!(matches!(
            apply(&mut refused, &ahead, &RefuseAttestations),
            Err(BlockError::BadHeight { .. })
        ));
        let mut batched = ledger.clone();
        let mut single = ledger;
        let a = apply(&mut batched, &input, &RefuseAttestations).unwrap();
        let b = single.apply_block(&input, &RefuseAttestations).unwrap();
        assert_eq!(a.results[300], Err(TxError::BadSignature));
        assert_eq!(a.results, b.results);
        assert_eq!(a.state_root, b.state_root);
        assert_eq!(a.results.iter().filter(|r| r.is_ok()).count(), 720 - 35);
    }

    #[test]
    fn a_wrong_state_root_is_invalid() {
        let (mut proposer, genesis, alice) = setup();
        let (mut other, _, _) = setup();
        let pool = pool_with_transfer(&proposer, &alice);
        let mut block = proposer
            .build(&genesis, Timestamp(2_000), alice.account(), &pool)
            .unwrap()
            .block;
        block.state_root = Hash([3; 32]);
        assert_eq!(
            other.verify(&genesis, &block, Timestamp(2_000)),
            Verdict::Invalid(Invalidity::StateRoot)
        );
    }

    #[test]
    fn linkage_time_and_randomness_are_checked() {
        let (mut proposer, genesis, alice) = setup();
        let (mut other, _, _) = setup();
        let pool = Mempool::new(MempoolConfig::default());
        let block = proposer
            .build(&genesis, Timestamp(2_000), alice.account(), &pool)
            .unwrap()
            .block;
        let mut wrong = block.clone();
        wrong.height = Height(2);
        assert_eq!(
            other.verify(&genesis, &wrong, Timestamp(2_000)),
            Verdict::Invalid(Invalidity::Linkage)
        );
        let mut wrong = block.clone();
        wrong.time = Timestamp(10);
        assert_eq!(
            other.verify(&genesis, &wrong, Timestamp(2_000)),
            Verdict::Invalid(Invalidity::TimeBackwards)
        );
        let mut wrong = block.clone();
        wrong.randomness = Hash([5; 32]);
        assert_eq!(
            other.verify(&genesis, &wrong, Timestamp(2_000)),
            Verdict::Invalid(Invalidity::Randomness)
        );
        let late = proposer
            .build(&genesis, Timestamp(5_000), alice.account(), &pool)
            .unwrap()
            .block;
        assert_eq!(
            other.verify(&genesis, &late, Timestamp(1_000)),
            Verdict::TooEarly(Timestamp(3_000))
        );
    }

    #[test]
    fn a_child_of_an_unknown_parent_asks_for_it() {
        let (mut proposer, genesis, alice) = setup();
        let (mut other, _, _) = setup();
        let pool = Mempool::new(MempoolConfig::default());
        let one = proposer
            .build(&genesis, Timestamp(2_000), alice.account(), &pool)
            .unwrap()
            .block;
        let two = proposer
            .build(&one, Timestamp(3_000), alice.account(), &pool)
            .unwrap()
            .block;
        assert_eq!(
            other.verify(&one, &two, Timestamp(3_000)),
            Verdict::UnknownParent
        );
        assert_eq!(other.verify_child(&one, Timestamp(3_000)), Verdict::Valid);
        assert_eq!(other.verify(&one, &two, Timestamp(3_000)), Verdict::Valid);
        // Finalizing without having verified also works, and a gap is refused.
        let (mut fresh, _, _) = setup();
        assert!(matches!(fresh.finalize(&two), Err(ChainError::Gap { .. })));
        fresh.finalize(&one).unwrap();
        assert_eq!(
            fresh.finalize(&two).unwrap().unwrap().state_root,
            two.state_root
        );
    }
}
