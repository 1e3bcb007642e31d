//! verigrid's vocabulary: ids, amounts, keys and signatures, hashing, the one
//! canonical encoding, transactions, tensors and comparators, Merkle proofs.
//!
//! Owns: how every value is written as bytes, hashed and signed.
//! Must not know: state, rules, networks, disks or clocks (docs/DESIGN.md §2).

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation
    )
)]

pub mod codec;
pub mod crypto;
pub mod device;
pub mod hash;
pub mod ids;
pub mod job;
pub mod merkle;
pub mod params;
pub mod tensor;
pub mod tx;

pub use codec::{Bytes, Decode, DecodeError, Encode};
pub use crypto::{DeviceKey, SecretKey, Signature};
pub use hash::{Domain, Hash, blob_hash};
pub use ids::{AccountId, Amount, DeviceId, Height, JobId, TaskId, Timestamp};
