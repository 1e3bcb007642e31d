//! Transaction signatures checked ahead of applying a block, possibly on
//! other threads while the ledger applies the transactions before them.
//!
//! A [`SignatureChecker`] is an owned snapshot of the chain id and the
//! registered devices' keys; it checks any run of a block's transactions
//! and records, per transaction, the encoded transaction it signed, the
//! signer key, the signature and the verdict. The ledger uses a record
//! only if it was made on the ledger's own chain and the bytes, key and
//! signature all match what it would verify itself when it reaches that
//! transaction ([`Ledger::apply_block_checked`](crate::Ledger::apply_block_checked)),
//! so a stale snapshot or a check made for another transaction can never
//! let a bad signature through: it is just verified again. Comparing the
//! bytes, not the signing message, spares the ledger's thread hashing
//! every transaction a second time (a tenth of its work at 157,000
//! devices).

use std::ops::Range;
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
    /// The chain the checks were made for.
    chain_id: Arc<str>,
    pub(crate) items: Vec<SignatureCheck>,
    /// The encoded transactions, one after the other.
    bodies: Vec<u8>,
}

/// One transaction's check: what was verified, under which key, and the
/// result (`None`: the signer was unknown, check when applying).
#[derive(Clone, Debug)]
pub(crate) struct SignatureCheck {
    /// Where the encoded transaction is in [`SignatureChecks::bodies`].
    body: Range<usize>,
    pub message: Hash,
    pub key: Option<DeviceKey>,
    pub signature: Signature,
    pub valid: Option<bool>,
}

/// A check the ledger may use for one transaction, with the bytes it was
/// made for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Voucher<'a> {
    pub check: &'a SignatureCheck,
    pub body: &'a [u8],
}

impl SignatureChecks {
    /// Appends the checks of the transactions that follow these (checks
    /// made on consecutive parts of one block, in order). Checks made for
    /// another chain keep their places but vouch for nothing.
    pub fn append(&mut self, next: SignatureChecks) {
        if self.items.is_empty() && self.bodies.is_empty() {
            *self = next;
            return;
        }
        let foreign = next.chain_id != self.chain_id;
        let offset = self.bodies.len();
        self.bodies.extend_from_slice(&next.bodies);
        self.items.extend(next.items.into_iter().map(|mut c| {
            c.body = c.body.start + offset..c.body.end + offset;
            if foreign {
                c.key = None;
            }
            c
        }));
    }

    /// The check of the `at`-th transaction, if these checks were made for
    /// `chain_id`.
    pub(crate) fn voucher(&self, chain_id: &str, at: usize) -> Option<Voucher<'_>> {
        if *self.chain_id != *chain_id {
            return None;
        }
        let check = self.items.get(at)?;
        Some(Voucher {
            check,
            body: self.bodies.get(check.body.clone())?,
        })
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
        let mut bodies = Vec::new();
        for (i, stx) in txs.iter().enumerate() {
            let start = bodies.len();
            stx.tx.encode_to(&mut bodies);
            let body = start..bodies.len();
            let message = signing_message(&self.chain_id, bodies.get(body.clone()).unwrap_or(&[]));
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
                body,
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
        SignatureChecks {
            chain_id: self.chain_id.clone(),
            items: out,
            bodies,
        }
    }
}
