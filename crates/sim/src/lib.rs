//! verigrid's simulator: the real ledger (docs/DESIGN.md §2) with simulated
//! devices, honest and adversarial, to measure what verification buys.
//!
//! Owns: simulated devices, their behaviours, experiments and reports.
//! Must not know: any rule of the protocol — every assignment, verdict,
//! payment and slash comes from `verigrid-ledger`.

pub mod attestation;
pub mod chart;
pub mod conditions;
pub mod network;
pub mod parallel;
pub mod proofs;
pub mod report;

pub use attestation::{Attester, DevAttester, Preverified, SimAttester};
pub use conditions::Conditions;
pub use network::{Adversary, Behaviour, Config, Joining, Policy, Report, Workload, run};
