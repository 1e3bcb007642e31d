//! The records the ledger keeps (docs/DESIGN.md §3): accounts, devices,
//! jobs, live tasks and the verdicts that replace them when they finish.

use verigrid_types::codec::{Bytes, Decode, DecodeError, Encode, Reader};
use verigrid_types::device::{AttestationSummary, Capabilities};
use verigrid_types::job::JobSpec;
use verigrid_types::merkle::Frontier;
use verigrid_types::{
    AccountId, Amount, DeviceId, DeviceKey, Hash, Height, TaskId, codec_struct, codec_unit_enum,
};

/// Fixed-point unit of reputation counters: 1.0 = one million.
pub const UNIT: u64 = 1_000_000;

/// An account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Spendable balance.
    pub balance: Amount,
    /// Next transaction nonce.
    pub nonce: u64,
    /// Stake bonded (validators).
    pub bonded: Amount,
    /// Stake unbonding: (height it matures, amount).
    pub unbonding: Vec<(Height, Amount)>,
}
codec_struct!(Account {
    balance,
    nonce,
    bonded,
    unbonding
});

impl Account {
    /// Everything the account holds, liquid or locked.
    #[must_use]
    pub fn total(&self) -> Option<Amount> {
        self.unbonding
            .iter()
            .try_fold(self.balance.checked_add(self.bonded)?, |acc, (_, a)| {
                acc.checked_add(*a)
            })
    }
}

/// Whether a device takes work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Takes work.
    Active,
    /// Paused by its owner.
    Paused,
    /// Sits out after repeated missed deadlines, until the height given.
    Jailed(Height),
    /// Retired; its stake went back to the owner.
    Retired,
    /// Jailed until the height given, and paused by its owner meanwhile:
    /// it stays out after its term until its owner resumes it.
    PausedInJail(Height),
}

impl Encode for DeviceStatus {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Active => out.push(0),
            Self::Paused => out.push(1),
            Self::Jailed(h) => {
                out.push(2);
                h.encode_to(out);
            }
            Self::Retired => out.push(3),
            Self::PausedInJail(h) => {
                out.push(4);
                h.encode_to(out);
            }
        }
    }
}

impl Decode for DeviceStatus {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(Self::Active),
            1 => Ok(Self::Paused),
            2 => Ok(Self::Jailed(Height::decode_from(r)?)),
            3 => Ok(Self::Retired),
            4 => Ok(Self::PausedInJail(Height::decode_from(r)?)),
            tag => Err(DecodeError::UnknownTag {
                what: "device status",
                tag,
            }),
        }
    }
}

/// A Beta(α, β) reputation: decayed counts of agreeing and disagreeing (or
/// missed) results, in [`UNIT`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reputation {
    /// Successes α.
    pub alpha: u64,
    /// Failures β.
    pub beta: u64,
}
codec_struct!(Reputation { alpha, beta });

impl Reputation {
    /// The posterior mean with a uniform prior, in parts per million:
    /// `(α + 1) / (α + β + 2)`.
    #[must_use]
    pub fn score_ppm(&self) -> u64 {
        let num = u128::from(self.alpha) + u128::from(UNIT);
        let den = u128::from(self.alpha) + u128::from(self.beta) + 2 * u128::from(UNIT);
        u64::try_from(num * u128::from(UNIT) / den).unwrap_or(UNIT)
    }

    /// Records one outcome after decaying both counts by `keep_ppm`.
    pub fn record(&mut self, success: bool, keep_ppm: u32) {
        let keep = |x: u64| {
            u64::try_from(u128::from(x) * u128::from(keep_ppm) / u128::from(UNIT)).unwrap_or(x)
        };
        self.alpha = keep(self.alpha);
        self.beta = keep(self.beta);
        if success {
            self.alpha = self.alpha.saturating_add(UNIT);
        } else {
            self.beta = self.beta.saturating_add(UNIT);
        }
    }
}

/// A registered device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The owning account (registers, pauses, retires it).
    pub owner: AccountId,
    /// Where its rewards go, if not the owner.
    pub pool: Option<AccountId>,
    /// Its attested key, which signs its result batches.
    pub key: DeviceKey,
    /// What the verifier established at the last attestation.
    pub attestation: AttestationSummary,
    /// Height of the last attestation.
    pub attested_at: Height,
    /// Height by which it must re-attest to keep taking work.
    pub attest_deadline: Height,
    /// What it can run.
    pub capabilities: Capabilities,
    /// Whether it takes work.
    pub status: DeviceStatus,
    /// Its record.
    pub reputation: Reputation,
    /// Stake at risk for wrong results.
    pub stake: Amount,
    /// Next device-signed transaction nonce.
    pub nonce: u64,
    /// Last height it showed a sign of life.
    pub last_seen: Height,
    /// Consecutive missed deadlines.
    pub misses: u32,
    /// Task replicas it holds now.
    pub running: u32,
}
codec_struct!(Device {
    owner,
    pool,
    key,
    attestation,
    attested_at,
    attest_deadline,
    capabilities,
    status,
    reputation,
    stake,
    nonce,
    last_seen,
    misses,
    running,
});

impl Device {
    /// The account its rewards are paid to.
    #[must_use]
    pub fn payee(&self) -> AccountId {
        self.pool.unwrap_or(self.owner)
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// Tasks are being assigned or run.
    Open,
    /// Cancelled by its consumer; running tasks finish, no new ones start.
    Cancelled,
    /// Every task has a verdict (or was dropped); unused escrow returned.
    Finished,
}
codec_unit_enum!(JobStatus { Open = 0, Cancelled = 1, Finished = 2 });

/// A job and its progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Who submitted it and gets its refund.
    pub consumer: AccountId,
    /// What was asked.
    pub spec: JobSpec,
    /// Submission order, for first-come assignment.
    pub seq: u64,
    /// Height it was submitted at.
    pub submitted_at: Height,
    /// Escrow still locked.
    pub escrow: Amount,
    /// Life-cycle state.
    pub status: JobStatus,
    /// Index of the next task to start.
    pub next_task: u32,
    /// Tasks started and not yet decided.
    pub live: u32,
    /// Tasks accepted.
    pub accepted: u32,
    /// Tasks failed (no quorum, deadline, or never started).
    pub failed: u32,
    /// Merkle accumulator of this job's verdicts, in the order decided.
    pub verdicts: Frontier,
}
codec_struct!(Job {
    consumer,
    spec,
    seq,
    submitted_at,
    escrow,
    status,
    next_task,
    live,
    accepted,
    failed,
    verdicts,
});

/// What one replica has done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    /// The device.
    pub device: DeviceId,
    /// Its commitment, once made.
    pub commitment: Option<Hash>,
    /// Its revealed output hash, once revealed.
    pub output_hash: Option<Hash>,
    /// Its revealed output bytes (tolerance and argmax jobs only).
    pub output: Option<Bytes>,
    /// It missed a deadline and no longer counts.
    pub missed: bool,
}
codec_struct!(Replica {
    device,
    commitment,
    output_hash,
    output,
    missed
});

impl Replica {
    /// A freshly assigned replica.
    #[must_use]
    pub fn assigned(device: DeviceId) -> Self {
        Self {
            device,
            commitment: None,
            output_hash: None,
            output: None,
            missed: false,
        }
    }
}

/// The phase of a live task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Replicas run and commit; nobody reveals yet.
    Commit,
    /// Every counted replica committed; reveals are open.
    Reveal,
}
codec_unit_enum!(Phase { Commit = 0, Reveal = 1 });

/// A task being run: at most `max_replicas` replicas, a phase and its
/// deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// The replicas assigned so far, in assignment order.
    pub replicas: Vec<Replica>,
    /// Current phase.
    pub phase: Phase,
    /// Height at which the current phase ends.
    pub deadline: Height,
    /// Replicas still to be assigned (start, escalation, replacement).
    pub wanted: u8,
    /// Runs on one trusted device without replication (adaptive policy).
    pub solo: bool,
    /// A spot check was drawn for this (formerly solo) task.
    pub spot_checked: bool,
}
codec_struct!(Task {
    replicas,
    phase,
    deadline,
    wanted,
    solo,
    spot_checked
});

impl Task {
    /// Agreeing reveals this task needs: one for a solo task, the job's
    /// quorum otherwise.
    #[must_use]
    pub fn quorum(&self, rule: &verigrid_types::job::Verification) -> usize {
        if self.solo {
            1
        } else {
            usize::from(rule.quorum)
        }
    }
}

/// How a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A quorum agreed on this output.
    Accepted(Hash),
    /// No quorum within the replica cap, no reveals, or the job ended.
    Failed,
}

impl Encode for Outcome {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Accepted(h) => {
                out.push(0);
                h.encode_to(out);
            }
            Self::Failed => out.push(1),
        }
    }
}

impl Decode for Outcome {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(Self::Accepted(Hash::decode_from(r)?)),
            1 => Ok(Self::Failed),
            tag => Err(DecodeError::UnknownTag {
                what: "outcome",
                tag,
            }),
        }
    }
}

/// The decision on one task: a leaf of its job's verdict tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The task.
    pub task: TaskId,
    /// Accepted output, or failure.
    pub outcome: Outcome,
    /// Devices whose reveals formed the accepted quorum (paid).
    pub agreeing: Vec<DeviceId>,
    /// Devices whose reveals disagreed with it (slashed).
    pub disagreeing: Vec<DeviceId>,
    /// Height decided.
    pub height: Height,
}
codec_struct!(Verdict {
    task,
    outcome,
    agreeing,
    disagreeing,
    height
});

impl Verdict {
    /// This verdict's leaf hash in its job's verdict tree.
    #[must_use]
    pub fn leaf(&self) -> Hash {
        // Sized up front: task id, outcome, height and 32 bytes a device
        // (growing from empty reallocates it four times).
        let devices = self.agreeing.len() + self.disagreeing.len();
        let mut encoded = Vec::with_capacity(96 + 32 * devices);
        self.encode_to(&mut encoded);
        verigrid_types::merkle::leaf_hash(&encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::DeviceStatus;
    use verigrid_types::Height;
    use verigrid_types::codec::{Decode, DecodeError, Encode};

    #[test]
    fn every_device_status_round_trips_and_unknown_ones_are_refused() {
        for status in [
            DeviceStatus::Active,
            DeviceStatus::Paused,
            DeviceStatus::Jailed(Height(7)),
            DeviceStatus::Retired,
            DeviceStatus::PausedInJail(Height(9)),
        ] {
            assert_eq!(DeviceStatus::decode(&status.encode()), Ok(status));
        }
        assert!(matches!(
            DeviceStatus::decode(&[5]),
            Err(DecodeError::UnknownTag { tag: 5, .. })
        ));
    }
}
