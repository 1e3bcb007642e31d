//! What a consumer asks for: a job of many tasks, its limits, how its
//! results are verified and who may run it (docs/DESIGN.md §3, §5).

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::codec_struct;
use crate::codec_unit_enum;
use crate::device::SecurityLevel;
use crate::hash::Hash;
use crate::ids::{Amount, Height};
use crate::tensor::Comparison;

/// What runs a job's tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// A `wasm32-wasip1` module: input on stdin, output on stdout.
    Wasm,
    /// An ONNX model: input tensors in, output tensors out.
    Onnx,
}
codec_unit_enum!(JobKind { Wasm = 0, Onnx = 1 });

/// The inputs of a job's tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inputs {
    /// One input blob per task.
    List(Vec<Hash>),
    /// `count` tasks over one blob; task `i` gets the blob and its index
    /// (parameter sweeps, or a blob of `count` records).
    Indexed {
        /// The shared input blob.
        blob: Hash,
        /// Number of tasks.
        count: u32,
    },
}

impl Inputs {
    /// Number of tasks.
    #[must_use]
    pub fn count(&self) -> u32 {
        match self {
            Self::List(v) => u32::try_from(v.len()).unwrap_or(u32::MAX),
            Self::Indexed { count, .. } => *count,
        }
    }

    /// The input blob of task `index`, if it exists.
    #[must_use]
    pub fn blob(&self, index: u32) -> Option<Hash> {
        match self {
            Self::List(v) => v.get(usize::try_from(index).ok()?).copied(),
            Self::Indexed { blob, count } => (index < *count).then_some(*blob),
        }
    }
}

impl Encode for Inputs {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::List(v) => {
                out.push(0);
                v.encode_to(out);
            }
            Self::Indexed { blob, count } => {
                out.push(1);
                blob.encode_to(out);
                count.encode_to(out);
            }
        }
    }
}

impl Decode for Inputs {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(Self::List(Vec::decode_from(r)?)),
            1 => Ok(Self::Indexed {
                blob: Hash::decode_from(r)?,
                count: u32::decode_from(r)?,
            }),
            tag => Err(DecodeError::UnknownTag {
                what: "inputs",
                tag,
            }),
        }
    }
}

/// Resource limits of each task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (WASM instructions, roughly) a task may burn.
    pub fuel: u64,
    /// Linear memory a task may use, in bytes.
    pub memory_bytes: u64,
    /// Largest output, in bytes.
    pub output_bytes: u32,
    /// Wall-clock hint in milliseconds (a safety net on the device).
    pub wall_ms: u32,
}
codec_struct!(Limits {
    fuel,
    memory_bytes,
    output_bytes,
    wall_ms
});

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 1_000_000_000,
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
            wall_ms: 30_000,
        }
    }
}

/// How a job's results are verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Replicas assigned up front (1–16). Ignored for trusted devices when
    /// `adaptive` is on.
    pub replicas: u8,
    /// Agreeing reveals needed to accept a result.
    pub quorum: u8,
    /// Most replicas a task may ever get, escalations included.
    pub max_replicas: u8,
    /// How outputs are compared.
    pub comparison: Comparison,
    /// Let devices with a long record run alone, under spot checks.
    pub adaptive: bool,
    /// Probability of a spot check on a solo result, in parts per million.
    pub spot_check_ppm: u32,
}
codec_struct!(Verification {
    replicas,
    quorum,
    max_replicas,
    comparison,
    adaptive,
    spot_check_ppm
});

impl Verification {
    /// Fixed replication: `n` replicas, a majority quorum, and room for
    /// `n + 2` on escalation.
    #[must_use]
    pub fn replicated(n: u8) -> Self {
        Self {
            replicas: n,
            quorum: n / 2 + 1,
            max_replicas: n.saturating_add(2),
            comparison: Comparison::Exact,
            adaptive: false,
            spot_check_ppm: 0,
        }
    }

    /// Adaptive replication: trusted devices run alone, spot-checked with
    /// probability `spot_check_ppm`; others run with 2-of-3 quorum.
    #[must_use]
    pub fn adaptive(spot_check_ppm: u32) -> Self {
        Self {
            adaptive: true,
            spot_check_ppm,
            ..Self::replicated(3)
        }
    }
}

/// Which devices may run a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirements {
    /// Lowest acceptable key security level.
    pub min_security: SecurityLevel,
    /// Lowest reputation score (successes share, parts per million).
    pub min_reputation_ppm: u32,
    /// Least memory, in MiB.
    pub min_memory_mib: u32,
}
codec_struct!(Requirements {
    min_security,
    min_reputation_ppm,
    min_memory_mib
});

impl Default for Requirements {
    fn default() -> Self {
        Self {
            min_security: SecurityLevel::TrustedEnvironment,
            min_reputation_ppm: 0,
            min_memory_mib: 0,
        }
    }
}

/// A job as submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSpec {
    /// What runs it.
    pub kind: JobKind,
    /// The module or model blob.
    pub program: Hash,
    /// The tasks' inputs.
    pub inputs: Inputs,
    /// Per-task limits.
    pub limits: Limits,
    /// How results are verified.
    pub verification: Verification,
    /// Who may run it.
    pub requirements: Requirements,
    /// Paid to each agreeing replica of an accepted result.
    pub reward: Amount,
    /// Height after which unfinished tasks fail and escrow returns.
    pub deadline: Height,
}
codec_struct!(JobSpec {
    kind,
    program,
    inputs,
    limits,
    verification,
    requirements,
    reward,
    deadline
});

impl JobSpec {
    /// The escrow this job must lock: every task at its most replicas.
    #[must_use]
    pub fn max_cost(&self) -> Option<Amount> {
        self.reward
            .checked_mul(u64::from(self.inputs.count()))?
            .checked_mul(u64::from(self.verification.max_replicas))
    }
}
