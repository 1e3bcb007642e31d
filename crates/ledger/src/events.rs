//! What happened in a block, for the node's API, the agent's assignment
//! stream and the simulator's statistics.

use verigrid_types::{AccountId, Amount, DeviceId, Hash, Height, JobId, TaskId};

use crate::error::EntryError;
use crate::records::Verdict;

/// One thing that happened while applying a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A device joined.
    DeviceRegistered {
        /// The device.
        device: DeviceId,
        /// Its owner.
        owner: AccountId,
    },
    /// A device re-attested.
    DeviceReattested {
        /// The device.
        device: DeviceId,
        /// New deadline.
        deadline: Height,
    },
    /// A job was accepted and its escrow locked.
    JobSubmitted {
        /// The job.
        job: JobId,
        /// Escrow locked.
        escrow: Amount,
    },
    /// A replica of a task was given to a device.
    Assigned {
        /// The task.
        task: TaskId,
        /// The device.
        device: DeviceId,
        /// The device runs it alone (adaptive replication).
        solo: bool,
    },
    /// Every counted replica committed: reveals are open.
    RevealOpen {
        /// The task.
        task: TaskId,
    },
    /// A solo result was drawn for a spot check.
    SpotCheck {
        /// The task.
        task: TaskId,
    },
    /// An entry of a result batch was skipped.
    EntrySkipped {
        /// The device.
        device: DeviceId,
        /// Why.
        error: EntryError,
    },
    /// A task was decided. Boxed: inline, a verdict made every event 128
    /// bytes, and a block of a large job has millions of events.
    Verdict(Box<Verdict>),
    /// A device was paid for an agreeing result.
    Paid {
        /// The device.
        device: DeviceId,
        /// The account credited.
        to: AccountId,
        /// Amount.
        amount: Amount,
    },
    /// A device lost stake for a disagreeing result.
    Slashed {
        /// The device.
        device: DeviceId,
        /// Stake burned.
        amount: Amount,
    },
    /// A device missed a deadline.
    Missed {
        /// The device.
        device: DeviceId,
        /// The task.
        task: TaskId,
    },
    /// A device was jailed for repeated misses.
    Jailed {
        /// The device.
        device: DeviceId,
        /// Jailed until.
        until: Height,
    },
    /// A job ended and its unused escrow returned.
    JobFinished {
        /// The job.
        job: JobId,
        /// Tasks accepted.
        accepted: u32,
        /// Tasks failed or never started.
        failed: u32,
        /// Escrow returned to the consumer.
        refund: Amount,
        /// Root of the job's verdicts.
        verdict_root: Hash,
    },
}

// Every event of a block is kept until the block is routed: keep them small.
const _: () = assert!(std::mem::size_of::<Event>() <= 96);
