//! Why a transaction or block was refused. A refused transaction changes
//! nothing: not its fee, not its nonce.

use thiserror::Error;
use verigrid_types::{AccountId, Amount, DeviceId, Height, JobId, TaskId};

/// Why a transaction was rejected.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TxError {
    /// The signature does not verify against the signer's key.
    #[error(
        "signature does not verify: sign the transaction with the signer's key and this chain's id"
    )]
    BadSignature,
    /// The signer is not a known account.
    #[error("account {0} does not exist: fund it with a transfer first")]
    UnknownAccount(AccountId),
    /// The signer is not a registered device.
    #[error("device {0:?} is not registered")]
    UnknownDevice(DeviceId),
    /// Wrong nonce.
    #[error("nonce {got} is not the next nonce {expected}: fetch the account and retry")]
    BadNonce {
        /// The signer's next nonce.
        expected: u64,
        /// The nonce in the transaction.
        got: u64,
    },
    /// The fee is below the minimum for this transaction.
    #[error("fee {offered} is below the minimum {minimum} for this transaction")]
    FeeTooLow {
        /// Fee offered.
        offered: Amount,
        /// Fee required.
        minimum: Amount,
    },
    /// Not enough balance.
    #[error("balance {available} is less than the {needed} needed (amount plus fee)")]
    InsufficientBalance {
        /// Balance available.
        available: Amount,
        /// Balance needed.
        needed: Amount,
    },
    /// Not enough bonded stake.
    #[error("bonded stake {bonded} is less than {requested}")]
    InsufficientBond {
        /// Bonded now.
        bonded: Amount,
        /// Requested to unbond.
        requested: Amount,
    },
    /// Too many unbonding entries are pending.
    #[error("too many unbonding entries are pending: withdraw matured ones or wait")]
    TooManyUnbonding,
    /// An amount must be positive.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// Arithmetic would overflow.
    #[error("amount overflows: use a smaller amount")]
    Overflow,
    /// The call is for an account signer but a device signed (or vice versa).
    #[error("this call must be signed by {expected}")]
    WrongSigner {
        /// Who must sign.
        expected: &'static str,
    },
    /// Only the governor may do this.
    #[error("only the governance account may change parameters")]
    NotGovernor,
    /// The signer does not own the device.
    #[error("device {device:?} is not owned by {signer}")]
    NotOwner {
        /// The device.
        device: DeviceId,
        /// Who signed.
        signer: AccountId,
    },
    /// A device with this key is already registered.
    #[error("device {0:?} is already registered: re-attest it instead")]
    DeviceExists(DeviceId),
    /// The device was retired.
    #[error("device {0:?} is retired")]
    DeviceRetired(DeviceId),
    /// The device still holds tasks.
    #[error(
        "device {device:?} still holds {running} task(s): pause it and retire it once they finish"
    )]
    DeviceBusy {
        /// The device.
        device: DeviceId,
        /// Tasks it holds.
        running: u32,
    },
    /// The device's declared capabilities are unusable.
    #[error("invalid device: {0}")]
    InvalidDevice(&'static str),
    /// Device stake below the minimum.
    #[error("device stake {offered} is below the minimum {minimum}")]
    StakeTooLow {
        /// Stake offered.
        offered: Amount,
        /// Minimum.
        minimum: Amount,
    },
    /// The anchor block of an attestation challenge is unknown or too old.
    #[error(
        "anchor block {anchor:?} is not among the last {window} blocks: attest again against a recent block"
    )]
    StaleAnchor {
        /// Anchor height given.
        anchor: Height,
        /// Allowed age in blocks.
        window: u64,
    },
    /// The attestation verifier refused the evidence.
    #[error("attestation rejected: {0}")]
    Attestation(String),
    /// The attested key is not the key in the transaction.
    #[error("the attested key differs from the device key in the transaction")]
    KeyMismatch,
    /// The attested challenge is not the expected one.
    #[error(
        "attestation challenge does not bind this chain, owner, key and anchor block: request a new attestation with the challenge from the node"
    )]
    ChallengeMismatch,
    /// The job does not exist.
    #[error("job {0:?} does not exist")]
    UnknownJob(JobId),
    /// Not the job's consumer.
    #[error("only the job's consumer may cancel it")]
    NotConsumer,
    /// The job is no longer open.
    #[error("job {0:?} is not open")]
    JobNotOpen(JobId),
    /// The job spec is invalid.
    #[error("invalid job: {0}")]
    InvalidJob(&'static str),
    /// Escrow below the job's maximum cost.
    #[error(
        "escrow {offered} is below the job's maximum cost {required} (reward × tasks × max replicas)"
    )]
    EscrowTooLow {
        /// Escrow offered.
        offered: Amount,
        /// Escrow required.
        required: Amount,
    },
    /// A batch is empty or too large.
    #[error("batch of {len} entries is outside 1..={max}: split it")]
    BadBatch {
        /// Entries given.
        len: usize,
        /// Most allowed.
        max: u32,
    },
    /// A parameter set is unusable.
    #[error("invalid parameters: {0}")]
    InvalidParams(&'static str),
}

/// Why one entry of a result batch was skipped. The rest of the batch
/// still counts: an honest device racing a deadline loses one entry, not
/// the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum EntryError {
    /// The task is not live (decided, expired or never started).
    #[error("task {0} is not live")]
    TaskNotLive(TaskId),
    /// The device is not a counted replica of the task.
    #[error("device is not a replica of task {0}")]
    NotAssigned(TaskId),
    /// The entry is not allowed in the task's current phase.
    #[error("task {0} is not in the {1} phase")]
    WrongPhase(TaskId, &'static str),
    /// Already committed or revealed.
    #[error("duplicate entry for task {0}")]
    Duplicate(TaskId),
    /// The reveal does not open the commitment.
    #[error("reveal for task {0} does not match its commitment")]
    CommitmentMismatch(TaskId),
    /// A tolerance/argmax job needs the output inline, hashing to the
    /// output hash, within the size limit.
    #[error("reveal for task {0} lacks a valid inline output")]
    BadOutput(TaskId),
}

/// Why a whole block was refused (a node bug or a byzantine proposer).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BlockError {
    /// Heights must increase by one.
    #[error("block height {got:?} does not follow {current:?}")]
    BadHeight {
        /// The ledger's height.
        current: Height,
        /// The block's height.
        got: Height,
    },
    /// Time must not go backwards.
    #[error("block time goes backwards")]
    TimeBackwards,
}
