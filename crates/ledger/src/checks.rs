//! Transaction signatures checked ahead of applying a block, possibly on
//! other threads while the ledger applies the transactions before them.
//!
//! A [`SignatureChecker`] is an owned snapshot of the chain id and the
//! registered devices' keys; it checks any run of a block's transactions
//! and records, per transaction, the signing message, signer key, signature
//! and verdict. The ledger uses a record only if all three match what it
//! would verify itself when it reaches that transaction
//! ([`Ledger::apply_block_checked`](crate::Ledger::apply_block_checked)),
//! so a stale snapshot or a check made for another transaction can never
//! let a bad signature through: it is just verified again.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use verigrid_types::codec::Encode;
use verigrid_types::crypto::{PreparedKey, verify_ed25519, verify_ed25519_batch_prepared};
use verigrid_types::tx::{SignedTx, Signer, signing_message};
use verigrid_types::{DeviceId, DeviceKey, Hash, Signature};

/// A registered device's key, with its ed25519 point decompressed once
/// (decompressing is about a fifth of a batched check).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SignerKey {
    pub key: DeviceKey,
    pub prepared: Option<PreparedKey>,
}

impl SignerKey {
    pub fn new(key: DeviceKey) -> Self {
        Self {
            key,
            prepared: key.prepare(),
        }
    }
}

/// Registered devices' keys, shared with checkers: cloning a checker is
/// O(1), and a registration while one is alive copies the map once.
pub(crate) type SignerKeys = Arc<FxHashMap<DeviceId, SignerKey>>;

/// Signature checks of consecutive transactions of a block, made ahead of
/// applying it ([`SignatureChecker::check`]).
#[derive(Clone, Debug, Default)]
pub struct SignatureChecks {
    pub(crate) items: Vec<SignatureCheck>,
}

/// One transaction's check: what was verified, under which key, and the
/// result (`None`: the signer was unknown, check when applying).
#[derive(Clone, Debug)]
pub(crate) struct SignatureCheck {
    pub message: Hash,
    pub key: Option<DeviceKey>,
    pub signature: Signature,
    pub valid: Option<bool>,
}

impl SignatureChecks {
    /// Appends the checks of the transactions that follow these (checks
    /// made on consecutive parts of one block, in order).
    pub fn append(&mut self, mut next: SignatureChecks) {
        self.items.append(&mut next.items);
    }

    /// Transactions checked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no transaction was checked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Transactions whose signature was found invalid.
    #[must_use]
    pub fn invalid(&self) -> usize {
        self.items.iter().filter(|c| c.valid == Some(false)).count()
    }
}

/// Checks transaction signatures against a snapshot of the ledger's keys
/// ([`Ledger::signature_checker`](crate::Ledger::signature_checker)). Owned
/// and `Send`: it may run on another thread while the ledger applies
/// blocks. Ed25519 signatures of a call are checked in one batch.
#[derive(Clone, Debug)]
pub struct SignatureChecker {
    chain_id: Arc<str>,
    keys: SignerKeys,
}

impl SignatureChecker {
    pub(crate) fn new(chain_id: Arc<str>, keys: SignerKeys) -> Self {
        Self { chain_id, keys }
    }

    /// The key `signer` signs with, as far as this snapshot knows.
    fn signer_key(&self, signer: &Signer) -> Option<SignerKey> {
        match signer {
            Signer::Account(a) => Some(SignerKey::new(DeviceKey::Ed25519(a.0))),
            Signer::Device(d) => self.keys.get(d).copied(),
        }
    }

    /// Checks `txs` (consecutive transactions of one block).
    #[must_use]
    pub fn check(&self, txs: &[SignedTx]) -> SignatureChecks {
        let mut out: Vec<SignatureCheck> = Vec::with_capacity(txs.len());
        let mut batch: Vec<(usize, PreparedKey, [u8; 64])> = Vec::new();
        let mut body = Vec::new();
        for (i, stx) in txs.iter().enumerate() {
            body.clear();
            stx.tx.encode_to(&mut body);
            let message = signing_message(&self.chain_id, &body);
            let signer = self.signer_key(&stx.tx.signer);
            let valid = match signer {
                Some(SignerKey {
                    key: DeviceKey::Ed25519(_),
                    prepared,
                }) => match (prepared, &stx.signature) {
                    (Some(prepared), Signature::Ed25519(sig)) => {
                        batch.push((i, prepared, *sig));
                        Some(true)
                    }
                    // Not a usable key (not a curve point, or of small
                    // order), or not an ed25519 signature: nothing
                    // verifies, as `verify_ed25519` would find.
                    _ => Some(false),
                },
                Some(s) => Some(s.key.verify(&message.0, &stx.signature)),
                None => None,
            };
            out.push(SignatureCheck {
                message,
                key: signer.map(|s| s.key),
                signature: stx.signature,
                valid,
            });
        }
        let items: Vec<(&PreparedKey, &[u8], &[u8; 64])> = batch
            .iter()
            .filter_map(|(i, key, sig)| Some((key, &out.get(*i)?.message.0[..], sig)))
            .collect();
        if !verify_ed25519_batch_prepared(&items) {
            // Some signature in the batch is bad: find which, one by one.
            for (i, _, sig) in &batch {
                if let Some(check) = out.get_mut(*i)
                    && let Some(DeviceKey::Ed25519(pk)) = check.key
                {
                    check.valid = Some(verify_ed25519(&pk, &check.message.0, sig));
                }
            }
        }
        SignatureChecks { items: out }
    }
}
