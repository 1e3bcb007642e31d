//! verigrid's validator node: the ledger, replicated by BFT consensus
//! (docs/DESIGN.md §9–§10).
//!
//! Owns: the block format, the mempool, the glue between commonware's
//! simplex consensus + marshal and the ledger (propose, verify, apply
//! finalized blocks in order), and the [`Node`] handle the API and CLI use.
//! It also serves the HTTP API over that handle (`api`) and sets up the
//! authenticated p2p network (`p2p`).
//! Must not know: ledger rules (they live in `verigrid-ledger`), the
//! command line, or how attestation evidence is judged (a verifier is
//! passed in). Networks and the runtime are passed in too, so tests run it
//! on commonware's deterministic runtime and simulated network.
//!
//! See DESIGN-NOTES.md in this crate for the commonware APIs used and
//! their traps.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation
    )
)]

pub mod api;
pub mod application;
pub mod assignments;
pub mod block;
pub mod chain;
pub mod engine;
pub mod mempool;
pub mod node;
pub mod p2p;
pub mod snapshot;

pub use assignments::Assignments;
pub use block::Block;
pub use chain::{BlockLimits, Built, Chain, ChainError, Finalized, RefuseAttestations};
pub use engine::{Config, Networks, Recovery, StartError, Tasks, Timeouts, start};
pub use mempool::{Mempool, MempoolConfig, MempoolError};
pub use node::{Node, Status};

/// The consensus digest: BLAKE3, the same bytes as a verigrid block hash.
pub type Digest = commonware_cryptography::blake3::Digest;

/// Validator identity and vote signing key type.
pub type PublicKey = commonware_cryptography::ed25519::PublicKey;

/// The certificate scheme consensus signs with: ed25519, one signature per
/// validator (attributable; no threshold beacon).
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// What consensus tells the application about a proposal.
pub type ConsensusContext = commonware_consensus::simplex::types::Context<Digest, PublicKey>;
