//! The mempool: signed transactions waiting for a block (docs/DESIGN.md §4).
//!
//! Admission runs the ledger's own `check_tx`, so a proposer only includes
//! what the ledger would accept: one rule, defined once. A transaction may
//! run ahead of its signer's ledger nonce by at most
//! [`MempoolConfig::max_nonce_ahead`] (clients pipeline), and is then
//! checked for signature and fee but not balance, which depends on the
//! transactions before it.
//!
//! Bounded: at [`MempoolConfig::capacity`] new transactions are refused with
//! [`MempoolError::Full`] — back-pressure for the API, never silent eviction.
//! Selection for a block takes, per signer, the contiguous run of nonces
//! starting at the parent state's nonce, and interleaves signers by fee
//! (highest first, ties by transaction id), so nonce order always holds.

use std::collections::{BTreeMap, BinaryHeap, HashMap};

use thiserror::Error;
use verigrid_ledger::{Ledger, TxError};
use verigrid_types::codec::Encode;
use verigrid_types::tx::{SignedTx, Signer};
use verigrid_types::{Amount, Hash};

/// Mempool limits.
#[derive(Clone, Copy, Debug)]
pub struct MempoolConfig {
    /// Most transactions held at once.
    pub capacity: usize,
    /// Largest encoded transaction accepted, in bytes.
    pub max_tx_bytes: usize,
    /// How far past its ledger nonce a signer's transaction may be.
    pub max_nonce_ahead: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_tx_bytes: 128 * 1024,
            max_nonce_ahead: 64,
        }
    }
}

/// Why a transaction was not admitted.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MempoolError {
    /// The pool is at capacity.
    #[error("mempool is full ({capacity} transactions): retry after the next block")]
    Full {
        /// The configured capacity.
        capacity: usize,
    },
    /// The same transaction is already pending.
    #[error("transaction {0} is already pending")]
    Duplicate(Hash),
    /// Another transaction with this signer and nonce is pending.
    #[error(
        "nonce {nonce} of this signer is taken by a pending transaction: wait for it or use the next nonce"
    )]
    NonceTaken {
        /// The nonce.
        nonce: u64,
    },
    /// The nonce is too far ahead of the ledger.
    #[error(
        "nonce {got} is more than {limit} past the next nonce {expected}: submit the earlier ones first"
    )]
    NonceTooFarAhead {
        /// The signer's next nonce in the ledger.
        expected: u64,
        /// The nonce in the transaction.
        got: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The encoded transaction is too large.
    #[error("transaction is {size} bytes, more than the {limit} allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The ledger would reject it now.
    #[error("rejected by the ledger: {0}")]
    Rejected(#[from] TxError),
}

#[derive(Clone, Debug)]
struct Pending {
    tx: SignedTx,
    size: usize,
}

/// Pending transactions, deduplicated by id and ordered per signer by nonce.
#[derive(Debug, Default)]
pub struct Mempool {
    config: MempoolConfig,
    by_signer: BTreeMap<Signer, BTreeMap<u64, Hash>>,
    by_id: HashMap<Hash, Pending>,
}

impl Mempool {
    /// An empty pool with these limits.
    #[must_use]
    pub fn new(config: MempoolConfig) -> Self {
        Self {
            config,
            by_signer: BTreeMap::new(),
            by_id: HashMap::new(),
        }
    }

    /// Number of pending transactions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether nothing is pending.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether a transaction is pending.
    #[must_use]
    pub fn contains(&self, id: &Hash) -> bool {
        self.by_id.contains_key(id)
    }

    /// Admits a transaction checked against `ledger` (the latest finalized
    /// state). Returns its id.
    ///
    /// # Errors
    /// See [`MempoolError`]; a refused transaction leaves the pool as it was.
    pub fn insert(&mut self, tx: SignedTx, ledger: &Ledger) -> Result<Hash, MempoolError> {
        let id = tx.id();
        if self.by_id.contains_key(&id) {
            return Err(MempoolError::Duplicate(id));
        }
        let size = tx.encode().len();
        if size > self.config.max_tx_bytes {
            return Err(MempoolError::TooLarge {
                size,
                limit: self.config.max_tx_bytes,
            });
        }
        if self.by_id.len() >= self.config.capacity {
            return Err(MempoolError::Full {
                capacity: self.config.capacity,
            });
        }
        match ledger.check_tx(&tx) {
            Ok(()) => {}
            // Signature and signer passed (check_tx checks them first); a
            // later nonce waits for its predecessors, so check the fee only.
            Err(TxError::BadNonce { expected, got }) if got > expected => {
                let limit = self.config.max_nonce_ahead;
                if got - expected > limit {
                    return Err(MempoolError::NonceTooFarAhead {
                        expected,
                        got,
                        limit,
                    });
                }
                let minimum = ledger.min_fee(tx.tx.encode().len());
                if tx.tx.fee < minimum {
                    return Err(TxError::FeeTooLow {
                        offered: tx.tx.fee,
                        minimum,
                    }
                    .into());
                }
            }
            Err(e) => return Err(e.into()),
        }
        let nonces = self.by_signer.entry(tx.tx.signer).or_default();
        if nonces.contains_key(&tx.tx.nonce) {
            return Err(MempoolError::NonceTaken { nonce: tx.tx.nonce });
        }
        nonces.insert(tx.tx.nonce, id);
        self.by_id.insert(id, Pending { tx, size });
        Ok(id)
    }

    /// Drops a pending transaction; returns whether it was there.
    pub fn remove(&mut self, id: &Hash) -> bool {
        let Some(p) = self.by_id.remove(id) else {
            return false;
        };
        let signer = p.tx.tx.signer;
        if let Some(nonces) = self.by_signer.get_mut(&signer) {
            nonces.remove(&p.tx.tx.nonce);
            if nonces.is_empty() {
                self.by_signer.remove(&signer);
            }
        }
        true
    }

    /// Chooses transactions for a block built on `state`: per signer the
    /// contiguous nonces from its next nonce in `state`, signers interleaved
    /// by fee, within `max_txs` and `max_bytes`.
    #[must_use]
    pub fn select(&self, state: &Ledger, max_txs: usize, max_bytes: usize) -> Vec<SignedTx> {
        // Per signer, the run of pending transactions from its next nonce.
        let mut runs: Vec<Vec<&Pending>> = Vec::new();
        for (signer, nonces) in &self.by_signer {
            let Some(mut next) = next_nonce(state, signer) else {
                continue;
            };
            let mut run = Vec::new();
            while let Some(p) = nonces.get(&next).and_then(|id| self.by_id.get(id)) {
                run.push(p);
                next = next.saturating_add(1);
            }
            if !run.is_empty() {
                run.reverse(); // pop() yields the lowest nonce first
                runs.push(run);
            }
        }
        let mut heads: BinaryHeap<(Amount, std::cmp::Reverse<Hash>, usize)> = runs
            .iter()
            .enumerate()
            .filter_map(|(i, run)| run.last().map(|p| head_key(p, i)))
            .collect();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while out.len() < max_txs {
            let Some((_, _, i)) = heads.pop() else { break };
            let Some(p) = runs.get_mut(i).and_then(Vec::pop) else {
                continue;
            };
            if bytes.saturating_add(p.size) > max_bytes {
                // This signer's later nonces cannot go without this one.
                continue;
            }
            bytes += p.size;
            out.push(p.tx.clone());
            if let Some(next) = runs.get(i).and_then(|run| run.last()) {
                heads.push(head_key(next, i));
            }
        }
        out
    }

    /// Drops what `state` (the new finalized state) makes useless: included
    /// or superseded nonces.
    pub fn prune(&mut self, state: &Ledger) {
        let by_id = &mut self.by_id;
        self.by_signer.retain(|signer, nonces| {
            let next = next_nonce(state, signer).unwrap_or(0);
            let keep = nonces.split_off(&next);
            for id in nonces.values() {
                by_id.remove(id);
            }
            *nonces = keep;
            !nonces.is_empty()
        });
    }
}

fn head_key(p: &Pending, run: usize) -> (Amount, std::cmp::Reverse<Hash>, usize) {
    (p.tx.tx.fee, std::cmp::Reverse(p.tx.id()), run)
}

/// The nonce `signer` must use next in `state`, if it exists there.
fn next_nonce(state: &Ledger, signer: &Signer) -> Option<u64> {
    match signer {
        Signer::Account(a) => Some(state.account(a).map_or(0, |acct| acct.nonce)),
        Signer::Device(d) => state.device(d).map(|dev| dev.nonce),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verigrid_ledger::Genesis;
    use verigrid_types::params::Params;
    use verigrid_types::tx::{Call, Tx};
    use verigrid_types::{AccountId, SecretKey, Timestamp};

    const CHAIN: &str = "mempool-test";

    fn ledger(keys: &[&SecretKey]) -> Ledger {
        Ledger::new(&Genesis {
            chain_id: CHAIN.into(),
            params: Params::new(AccountId([9; 32])),
            accounts: keys
                .iter()
                .map(|k| (k.account(), Amount(1_000_000)))
                .collect(),
            time: Timestamp(0),
        })
        .unwrap()
    }

    fn transfer(key: &SecretKey, nonce: u64, fee: u64) -> SignedTx {
        Tx {
            signer: Signer::Account(key.account()),
            nonce,
            fee: Amount(fee),
            call: Call::Transfer {
                to: AccountId([7; 32]),
                amount: Amount(1),
            },
        }
        .sign(CHAIN, key)
    }

    #[test]
    fn duplicates_are_refused() {
        let alice = SecretKey::from_label("alice");
        let l = ledger(&[&alice]);
        let mut pool = Mempool::new(MempoolConfig::default());
        let tx = transfer(&alice, 0, 1_000);
        let id = pool.insert(tx.clone(), &l).unwrap();
        assert_eq!(pool.insert(tx, &l), Err(MempoolError::Duplicate(id)));
        assert_eq!(
            pool.insert(transfer(&alice, 0, 2_000), &l),
            Err(MempoolError::NonceTaken { nonce: 0 })
        );
    }

    #[test]
    fn a_full_pool_pushes_back_with_a_clear_error() {
        let alice = SecretKey::from_label("alice");
        let l = ledger(&[&alice]);
        let mut pool = Mempool::new(MempoolConfig {
            capacity: 2,
            ..MempoolConfig::default()
        });
        pool.insert(transfer(&alice, 0, 1_000), &l).unwrap();
        pool.insert(transfer(&alice, 1, 1_000), &l).unwrap();
        let err = pool.insert(transfer(&alice, 2, 1_000), &l).unwrap_err();
        assert_eq!(err, MempoolError::Full { capacity: 2 });
        assert!(err.to_string().contains("retry"));
    }

    #[test]
    fn ledger_rejections_and_limits_are_enforced() {
        let alice = SecretKey::from_label("alice");
        let mallory = SecretKey::from_label("mallory");
        let l = ledger(&[&alice]);
        let mut pool = Mempool::new(MempoolConfig::default());
        assert!(matches!(
            pool.insert(transfer(&mallory, 0, 1_000), &l),
            Err(MempoolError::Rejected(TxError::UnknownAccount(_)))
        ));
        assert!(matches!(
            pool.insert(transfer(&alice, 0, 0), &l),
            Err(MempoolError::Rejected(TxError::FeeTooLow { .. }))
        ));
        assert!(matches!(
            pool.insert(transfer(&alice, 1, 0), &l),
            Err(MempoolError::Rejected(TxError::FeeTooLow { .. }))
        ));
        assert!(matches!(
            pool.insert(transfer(&alice, 500, 1_000), &l),
            Err(MempoolError::NonceTooFarAhead { .. })
        ));
        let mut forged = transfer(&alice, 0, 1_000);
        forged.tx.fee = Amount(1_001);
        assert_eq!(
            pool.insert(forged, &l),
            Err(MempoolError::Rejected(TxError::BadSignature))
        );
        assert!(pool.is_empty());
    }

    #[test]
    fn selection_keeps_nonce_order_and_prefers_fees() {
        let alice = SecretKey::from_label("alice");
        let bob = SecretKey::from_label("bob");
        let l = ledger(&[&alice, &bob]);
        let mut pool = Mempool::new(MempoolConfig::default());
        // Inserted out of order, and alice's later nonce pays more.
        pool.insert(transfer(&alice, 1, 9_000), &l).unwrap();
        pool.insert(transfer(&alice, 0, 1_000), &l).unwrap();
        pool.insert(transfer(&bob, 0, 5_000), &l).unwrap();
        // A gap: bob's nonce 2 cannot go before 1.
        pool.insert(transfer(&bob, 2, 50_000), &l).unwrap();
        let picked = pool.select(&l, 10, usize::MAX);
        let order: Vec<(AccountId, u64)> = picked
            .iter()
            .map(|t| match t.tx.signer {
                Signer::Account(a) => (a, t.tx.nonce),
                Signer::Device(_) => unreachable!(),
            })
            .collect();
        assert_eq!(
            order,
            vec![
                (bob.account(), 0),
                (alice.account(), 0),
                (alice.account(), 1)
            ]
        );
        assert_eq!(pool.select(&l, 1, usize::MAX).len(), 1);
        assert!(pool.select(&l, 10, 10).is_empty());
    }

    #[test]
    fn pruning_drops_included_nonces() {
        let alice = SecretKey::from_label("alice");
        let mut l = ledger(&[&alice]);
        let mut pool = Mempool::new(MempoolConfig::default());
        let first = transfer(&alice, 0, 1_000);
        pool.insert(first.clone(), &l).unwrap();
        pool.insert(transfer(&alice, 1, 1_000), &l).unwrap();
        l.apply_block(
            &verigrid_ledger::BlockInput {
                height: verigrid_types::Height(1),
                time: Timestamp(1),
                randomness: Hash::ZERO,
                parent: Hash::ZERO,
                proposer: alice.account(),
                txs: vec![first.clone()],
            },
            &crate::chain::RefuseAttestations,
        )
        .unwrap();
        pool.prune(&l);
        assert_eq!(pool.len(), 1);
        assert!(!pool.contains(&first.id()));
        let second = transfer(&alice, 1, 1_000).id();
        assert!(pool.remove(&second));
        assert!(!pool.remove(&second));
        assert!(pool.is_empty());
    }
}
