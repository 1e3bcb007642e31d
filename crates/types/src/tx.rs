//! Transactions (docs/DESIGN.md §4): what accounts and devices ask the
//! ledger to do, signed over their canonical encoding.
//!
//! Account calls are signed by the account's ed25519 key; device calls
//! (result batches) by the key the device's hardware attested. Every
//! transaction carries a nonce (per account, or per device) and a fee.

use crate::codec::{Bytes, Decode, DecodeError, Encode, Reader};
use crate::codec_struct;
use crate::crypto::{DeviceKey, SecretKey, Signature};
use crate::device::{Capabilities, Evidence};
use crate::hash::{Domain, Hash};
use crate::ids::{AccountId, Amount, DeviceId, Height, JobId, TaskId};
use crate::job::JobSpec;
use crate::params::Params;

/// The commitment a replica publishes before anyone reveals:
/// `H(output hash ‖ salt ‖ device)`. Binding the device stops one replica
/// from republishing another's commitment.
#[must_use]
pub fn commitment(output_hash: &Hash, salt: &[u8; 32], device: &DeviceId) -> Hash {
    Hash::of(Domain::Commitment, &[&output_hash.0, salt, &device.0.0])
}

/// One task's commitment in a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The task.
    pub task: TaskId,
    /// See [`commitment`].
    pub commitment: Hash,
}
codec_struct!(Commit { task, commitment });

/// One task's reveal in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reveal {
    /// The task.
    pub task: TaskId,
    /// Blob hash of the output.
    pub output_hash: Hash,
    /// The salt used in the commitment.
    pub salt: [u8; 32],
    /// The output itself, required when the job compares by tolerance or
    /// argmax (the ledger must see values to compare them).
    pub output: Option<Bytes>,
}
codec_struct!(Reveal {
    task,
    output_hash,
    salt,
    output
});

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// Move `amount` to `to`.
    Transfer {
        /// Recipient.
        to: AccountId,
        /// Amount.
        amount: Amount,
    },
    /// Lock balance as validator stake.
    Bond {
        /// Amount.
        amount: Amount,
    },
    /// Start unlocking bonded stake; it can be withdrawn after the
    /// unbonding period.
    Unbond {
        /// Amount.
        amount: Amount,
    },
    /// Move every matured unbonding entry back to the balance.
    Withdraw,
    /// Register a device owned by the signer.
    RegisterDevice {
        /// The device's attestation evidence.
        evidence: Evidence,
        /// The attested key; must equal the key in the evidence.
        key: DeviceKey,
        /// What it can run.
        capabilities: Capabilities,
        /// Where its rewards go, if not to the owner (a pool).
        pool: Option<AccountId>,
        /// Height of the recent block bound into the challenge.
        anchor: Height,
        /// Stake locked on the device (at least the minimum).
        stake: Amount,
    },
    /// Refresh a device's attestation before its deadline.
    Reattest {
        /// The device.
        device: DeviceId,
        /// Fresh evidence.
        evidence: Evidence,
        /// Height of the recent block bound into the challenge.
        anchor: Height,
    },
    /// Pause or resume taking work.
    SetDeviceActive {
        /// The device.
        device: DeviceId,
        /// Whether it takes work.
        active: bool,
    },
    /// Retire a device; its stake unbonds to the owner.
    RetireDevice {
        /// The device.
        device: DeviceId,
    },
    /// One liveness proof per epoch for many devices of the signer.
    Heartbeat {
        /// The devices.
        devices: Vec<DeviceId>,
    },
    /// Submit a job, locking `escrow` (at least its maximum cost).
    SubmitJob {
        /// The job.
        spec: JobSpec,
        /// Escrow to lock.
        escrow: Amount,
    },
    /// Stop assigning a job's remaining tasks; unused escrow returns when
    /// its running tasks end.
    CancelJob {
        /// The job.
        job: JobId,
    },
    /// A device's commitments (device-signed).
    CommitResults {
        /// The commitments.
        commits: Vec<Commit>,
    },
    /// A device's reveals (device-signed).
    RevealResults {
        /// The reveals.
        reveals: Vec<Reveal>,
    },
    /// Replace the parameters (governor only).
    SetParams {
        /// New parameters.
        params: Box<Params>,
    },
    /// Trust another attestation root (governor only).
    AddTrustRoot {
        /// DER certificate.
        root: Bytes,
    },
    /// Add serials to the revocation list (governor only).
    RevokeSerials {
        /// Serials.
        serials: Vec<Bytes>,
    },
    /// Replace the allowed agent app digests (governor only).
    SetAgentDigests {
        /// Digests.
        digests: Vec<Hash>,
    },
}

impl Encode for Call {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Transfer { to, amount } => {
                out.push(0);
                (to, amount).encode_to(out);
            }
            Self::Bond { amount } => {
                out.push(1);
                amount.encode_to(out);
            }
            Self::Unbond { amount } => {
                out.push(2);
                amount.encode_to(out);
            }
            Self::Withdraw => out.push(3),
            Self::RegisterDevice {
                evidence,
                key,
                capabilities,
                pool,
                anchor,
                stake,
            } => {
                out.push(4);
                evidence.encode_to(out);
                key.encode_to(out);
                capabilities.encode_to(out);
                pool.encode_to(out);
                anchor.encode_to(out);
                stake.encode_to(out);
            }
            Self::Reattest {
                device,
                evidence,
                anchor,
            } => {
                out.push(5);
                device.encode_to(out);
                evidence.encode_to(out);
                anchor.encode_to(out);
            }
            Self::SetDeviceActive { device, active } => {
                out.push(6);
                (device, active).encode_to(out);
            }
            Self::RetireDevice { device } => {
                out.push(7);
                device.encode_to(out);
            }
            Self::Heartbeat { devices } => {
                out.push(8);
                devices.encode_to(out);
            }
            Self::SubmitJob { spec, escrow } => {
                out.push(9);
                spec.encode_to(out);
                escrow.encode_to(out);
            }
            Self::CancelJob { job } => {
                out.push(10);
                job.encode_to(out);
            }
            Self::CommitResults { commits } => {
                out.push(11);
                commits.encode_to(out);
            }
            Self::RevealResults { reveals } => {
                out.push(12);
                reveals.encode_to(out);
            }
            Self::SetParams { params } => {
                out.push(13);
                params.encode_to(out);
            }
            Self::AddTrustRoot { root } => {
                out.push(14);
                root.encode_to(out);
            }
            Self::RevokeSerials { serials } => {
                out.push(15);
                serials.encode_to(out);
            }
            Self::SetAgentDigests { digests } => {
                out.push(16);
                digests.encode_to(out);
            }
        }
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode_to(&self, out: &mut Vec<u8>) {
        (**self).encode_to(out);
    }
}

impl Decode for Call {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match u8::decode_from(r)? {
            0 => Self::Transfer {
                to: Decode::decode_from(r)?,
                amount: Decode::decode_from(r)?,
            },
            1 => Self::Bond {
                amount: Decode::decode_from(r)?,
            },
            2 => Self::Unbond {
                amount: Decode::decode_from(r)?,
            },
            3 => Self::Withdraw,
            4 => Self::RegisterDevice {
                evidence: Decode::decode_from(r)?,
                key: Decode::decode_from(r)?,
                capabilities: Decode::decode_from(r)?,
                pool: Decode::decode_from(r)?,
                anchor: Decode::decode_from(r)?,
                stake: Decode::decode_from(r)?,
            },
            5 => Self::Reattest {
                device: Decode::decode_from(r)?,
                evidence: Decode::decode_from(r)?,
                anchor: Decode::decode_from(r)?,
            },
            6 => Self::SetDeviceActive {
                device: Decode::decode_from(r)?,
                active: Decode::decode_from(r)?,
            },
            7 => Self::RetireDevice {
                device: Decode::decode_from(r)?,
            },
            8 => Self::Heartbeat {
                devices: Decode::decode_from(r)?,
            },
            9 => Self::SubmitJob {
                spec: Decode::decode_from(r)?,
                escrow: Decode::decode_from(r)?,
            },
            10 => Self::CancelJob {
                job: Decode::decode_from(r)?,
            },
            11 => Self::CommitResults {
                commits: Decode::decode_from(r)?,
            },
            12 => Self::RevealResults {
                reveals: Decode::decode_from(r)?,
            },
            13 => Self::SetParams {
                params: Box::new(Decode::decode_from(r)?),
            },
            14 => Self::AddTrustRoot {
                root: Decode::decode_from(r)?,
            },
            15 => Self::RevokeSerials {
                serials: Decode::decode_from(r)?,
            },
            16 => Self::SetAgentDigests {
                digests: Decode::decode_from(r)?,
            },
            tag => return Err(DecodeError::UnknownTag { what: "call", tag }),
        })
    }
}

/// Who signs a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signer {
    /// An account, with its ed25519 key.
    Account(AccountId),
    /// A registered device, with its attested key.
    Device(DeviceId),
}

impl Encode for Signer {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Account(a) => {
                out.push(0);
                a.encode_to(out);
            }
            Self::Device(d) => {
                out.push(1);
                d.encode_to(out);
            }
        }
    }
}

impl Decode for Signer {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(Self::Account(Decode::decode_from(r)?)),
            1 => Ok(Self::Device(Decode::decode_from(r)?)),
            tag => Err(DecodeError::UnknownTag {
                what: "signer",
                tag,
            }),
        }
    }
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tx {
    /// Who signs (and pays: a device's fees come from its owner).
    pub signer: Signer,
    /// The signer's next nonce.
    pub nonce: u64,
    /// Fee offered; at least the chain's minimum for this size.
    pub fee: Amount,
    /// What to do.
    pub call: Call,
}
codec_struct!(Tx {
    signer,
    nonce,
    fee,
    call
});

/// The message a transaction's signer signs, from its encoded body
/// ([`Tx::signing_message`] for callers that already hold the encoding).
#[must_use]
pub fn signing_message(chain_id: &str, body: &[u8]) -> Hash {
    Hash::of(Domain::TxSign, &[chain_id.as_bytes(), body])
}

impl Tx {
    /// The message a signer signs: the chain id and the encoded transaction,
    /// hashed, so a signature is valid on one chain only.
    #[must_use]
    pub fn signing_message(&self, chain_id: &str) -> Hash {
        signing_message(chain_id, &self.encode())
    }

    /// Signs with an ed25519 key (an account, or a development device).
    #[must_use]
    pub fn sign(self, chain_id: &str, key: &SecretKey) -> SignedTx {
        let signature = key.sign(&self.signing_message(chain_id).0);
        SignedTx {
            tx: self,
            signature,
        }
    }
}

/// A signed transaction, as it travels and is stored in blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    /// The transaction.
    pub tx: Tx,
    /// The signer's signature over [`Tx::signing_message`].
    pub signature: Signature,
}
codec_struct!(SignedTx { tx, signature });

impl SignedTx {
    /// The transaction id: the hash of the whole signed encoding.
    #[must_use]
    pub fn id(&self) -> Hash {
        Hash::of_value(Domain::TxId, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Decode;
    use crate::job::{Inputs, JobKind, Limits, Requirements, Verification};

    fn sample_calls() -> Vec<Call> {
        let spec = JobSpec {
            kind: JobKind::Wasm,
            program: Hash::ZERO,
            inputs: Inputs::Indexed {
                blob: Hash::ZERO,
                count: 7,
            },
            limits: Limits::default(),
            verification: Verification::adaptive(50_000),
            requirements: Requirements::default(),
            reward: Amount(5),
            deadline: Height(100),
        };
        let task = TaskId {
            job: JobId(Hash::ZERO),
            index: 3,
        };
        vec![
            Call::Transfer {
                to: AccountId([1; 32]),
                amount: Amount(9),
            },
            Call::Withdraw,
            Call::SubmitJob {
                spec,
                escrow: Amount(1000),
            },
            Call::CommitResults {
                commits: vec![Commit {
                    task,
                    commitment: Hash::ZERO,
                }],
            },
            Call::RevealResults {
                reveals: vec![Reveal {
                    task,
                    output_hash: Hash::ZERO,
                    salt: [7; 32],
                    output: Some(Bytes(vec![1, 2])),
                }],
            },
            Call::SetParams {
                params: Box::new(Params::new(AccountId([2; 32]))),
            },
        ]
    }

    #[test]
    fn signed_transactions_round_trip_and_verify() -> Result<(), DecodeError> {
        let key = SecretKey::from_label("alice");
        for call in sample_calls() {
            let tx = Tx {
                signer: Signer::Account(key.account()),
                nonce: 1,
                fee: Amount(10),
                call,
            };
            let signed = tx.sign("test", &key);
            let bytes = signed.encode();
            let back = SignedTx::decode(&bytes)?;
            assert_eq!(back, signed);
            let msg = back.tx.signing_message("test");
            assert!(key.device_key().verify(&msg.0, &back.signature));
            assert!(
                !key.device_key()
                    .verify(&back.tx.signing_message("other").0, &back.signature)
            );
        }
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes: Vec<u8>) {
            let _ = SignedTx::decode(&bytes);
        }

        #[test]
        fn truncated_transactions_are_rejected(cut in 0usize..200) {
            let key = SecretKey::from_label("bob");
            for call in sample_calls() {
                let tx = Tx { signer: Signer::Account(key.account()), nonce: 0, fee: Amount(1), call };
                let bytes = tx.sign("c", &key).encode();
                if cut < bytes.len() {
                    proptest::prop_assert!(SignedTx::decode(&bytes[..cut]).is_err());
                }
            }
        }
    }
}
