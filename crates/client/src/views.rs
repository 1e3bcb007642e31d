//! The JSON the node's API answers, as typed values. Ledger records are
//! read from their canonical `encoded` bytes, never from the JSON
//! rendering, so a client sees exactly what the ledger holds.

use serde::Deserialize;
use verigrid_types::{AccountId, DeviceId, Hash, Height, JobId, TaskId};

/// A 32-byte id in hex, as the API writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Hex32(pub Hash);

impl TryFrom<String> for Hex32 {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Hash::from_hex(&text)
            .map(Self)
            .map_err(|e| format!("{text:?} is not a 32-byte hex id: {e}"))
    }
}

/// A task id as the API writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct TaskRef {
    /// The job.
    pub job: Hex32,
    /// The task's index in the job.
    pub index: u32,
}

impl From<TaskRef> for TaskId {
    fn from(t: TaskRef) -> Self {
        Self {
            job: JobId(t.job.0),
            index: t.index,
        }
    }
}

/// `GET /v1/status`.
#[derive(Clone, Debug, Deserialize)]
pub struct Status {
    /// The chain's id (signatures are bound to it).
    pub chain_id: String,
    /// Finalized height.
    pub height: u64,
    /// Hash of the finalized tip.
    pub finalized_tip: Hex32,
    /// State root after the finalized tip.
    pub state_root: Hex32,
    /// Time of the finalized tip, ms since the Unix epoch.
    pub time_ms: u64,
    /// Transactions waiting in the node's mempool.
    pub mempool: usize,
}

/// One ledger event from a finalized block (the kinds a client acts on;
/// the rest are [`Event::Other`]).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A device joined.
    DeviceRegistered {
        /// The device.
        device: Hex32,
    },
    /// A replica of a task went to a device.
    Assigned {
        /// The task.
        task: TaskRef,
        /// The device.
        device: Hex32,
        /// Whether it runs alone (adaptive replication).
        solo: bool,
    },
    /// Every replica committed: reveals may follow.
    RevealOpen {
        /// The task.
        task: TaskRef,
    },
    /// A solo task drew a spot check: more replicas will run it.
    SpotCheck {
        /// The task.
        task: TaskRef,
    },
    /// A task was decided.
    Verdict {
        /// The verdict.
        verdict: VerdictView,
    },
    /// A device was paid.
    Paid {
        /// The device.
        device: Hex32,
        /// Who received it.
        to: Hex32,
        /// How much.
        amount: u64,
    },
    /// A device lost stake.
    Slashed {
        /// The device.
        device: Hex32,
        /// How much.
        amount: u64,
    },
    /// A device missed a deadline.
    Missed {
        /// The device.
        device: Hex32,
        /// The task.
        task: TaskRef,
    },
    /// A job ended.
    JobFinished {
        /// The job.
        job: Hex32,
        /// Tasks accepted.
        accepted: u32,
        /// Tasks failed.
        failed: u32,
        /// Escrow returned.
        refund: u64,
    },
    /// Any other event.
    #[serde(other)]
    Other,
}

impl Event {
    /// The device this event is about, if any.
    #[must_use]
    pub fn device(&self) -> Option<DeviceId> {
        match self {
            Self::DeviceRegistered { device }
            | Self::Assigned { device, .. }
            | Self::Paid { device, .. }
            | Self::Slashed { device, .. }
            | Self::Missed { device, .. } => Some(DeviceId(device.0)),
            _ => None,
        }
    }

    /// The task this event is about, if any.
    #[must_use]
    pub fn task(&self) -> Option<TaskId> {
        match self {
            Self::Assigned { task, .. }
            | Self::RevealOpen { task }
            | Self::SpotCheck { task }
            | Self::Missed { task, .. } => Some((*task).into()),
            Self::Verdict { verdict } => Some(verdict.task.into()),
            _ => None,
        }
    }
}

/// A verdict as JSON (the proof endpoint also gives its canonical bytes).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct VerdictView {
    /// The task.
    pub task: TaskRef,
    /// `{"accepted": hash}` or `"failed"`.
    pub outcome: serde_json::Value,
    /// Devices whose reveal agreed.
    pub agreeing: Vec<Hex32>,
    /// Devices whose reveal disagreed.
    pub disagreeing: Vec<Hex32>,
    /// Height it was decided at.
    pub height: u64,
}

/// A transaction the ledger refused inside a block.
#[derive(Clone, Debug, Deserialize)]
pub struct RejectedTx {
    /// Its position in the block.
    pub index: usize,
    /// The ledger's reason.
    pub error: String,
}

/// One finalized block, as `GET /v1/stream` sends it.
#[derive(Clone, Debug, Deserialize)]
pub struct FinalizedBlock {
    /// Height.
    pub height: u64,
    /// Block hash.
    pub hash: Hex32,
    /// State root after it.
    pub state_root: Hex32,
    /// Block time, ms since the Unix epoch.
    pub time_ms: u64,
    /// Its transactions' ids, in block order (absent if the node no
    /// longer holds the block).
    #[serde(default)]
    pub tx_ids: Option<Vec<Hex32>>,
    /// Transactions the ledger refused.
    #[serde(default)]
    pub rejected: Vec<RejectedTx>,
    /// Ledger events.
    #[serde(default)]
    pub events: Vec<Event>,
}

impl FinalizedBlock {
    /// Where `tx` landed in this block: `Some(Ok(()))` applied,
    /// `Some(Err(reason))` refused, `None` not in this block.
    #[must_use]
    pub fn outcome_of(&self, tx: &Hash) -> Option<Result<(), String>> {
        let ids = self.tx_ids.as_ref()?;
        let index = ids.iter().position(|id| id.0 == *tx)?;
        Some(
            self.rejected
                .iter()
                .find(|r| r.index == index)
                .map_or(Ok(()), |r| Err(r.error.clone())),
        )
    }
}

/// One of a device's live replicas, from `GET /v1/devices/{id}/tasks`.
#[derive(Clone, Debug, Deserialize)]
pub struct DeviceTask {
    /// The task.
    pub task: TaskRef,
    /// `commit` or `reveal`.
    pub phase: String,
    /// Height the phase ends.
    pub deadline: u64,
    /// Whether it runs alone.
    #[serde(default)]
    pub solo: bool,
    /// Whether this device's commitment is on chain.
    pub committed: bool,
    /// Whether this device's reveal is on chain.
    pub revealed: bool,
}

impl DeviceTask {
    /// The task id.
    #[must_use]
    pub fn id(&self) -> TaskId {
        self.task.into()
    }

    /// Whether the task waits for commitments.
    #[must_use]
    pub fn in_commit(&self) -> bool {
        self.phase == "commit"
    }

    /// Whether the task waits for reveals.
    #[must_use]
    pub fn in_reveal(&self) -> bool {
        self.phase == "reveal"
    }
}

/// `GET /v1/devices/{id}/tasks`.
#[derive(Clone, Debug, Deserialize)]
pub struct DeviceTasks {
    /// Finalized height the list is from.
    pub height: u64,
    /// The device's live replicas.
    pub tasks: Vec<DeviceTask>,
}

/// A verdict with its inclusion proof, checked by this client.
#[derive(Clone, Debug)]
pub struct ProvenVerdict {
    /// The verdict, decoded from the proof.
    pub verdict: verigrid_ledger::Verdict,
    /// The state root the proof verified against.
    pub state_root: Hash,
    /// The finalized height of that root.
    pub height: Height,
}

/// An account id from hex.
///
/// # Errors
/// If `text` is not 64 hex characters.
pub fn account_from_hex(text: &str) -> Result<AccountId, verigrid_types::DecodeError> {
    Hash::from_hex(text).map(|h| AccountId(h.0))
}
