//! The device agent (docs/DESIGN.md §8): registers the device with its
//! platform's attestation, follows the owner's policy (power, battery,
//! heat, network, cores), learns its assignments from a node, fetches
//! blobs by hash, runs tasks in the sandbox, commits then reveals results
//! in batches, re-attests before its deadline, and journals every finished
//! result so that nothing is lost to a restart or an outage.
//!
//! The same library runs in `verigrid agent`, in `verigrid dev --agents N`
//! and (later) inside the phone apps.

mod agent;
pub mod cli;
pub mod policy;
pub mod runner;
pub mod store;

pub use agent::{Agent, AgentError, Attest, Config, DevAttestation, Tally};
pub use policy::{Policy, Readings};
pub use runner::Behaviour;
