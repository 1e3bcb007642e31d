//! A typed, blocking client for a verigrid node's HTTP API (the "SDK" of
//! docs/DESIGN.md §2): submit signed transactions, read ledger records
//! (decoded from their canonical bytes), upload and fetch blobs checked
//! against their hash, follow finalized blocks, and check a verdict's
//! inclusion proof against a finalized state root.
//!
//! Blocking on purpose: the agent and the CLI do one thing at a time, and a
//! phone's agent should not carry an async runtime it does not need.

pub mod cli;
mod client;
mod error;
pub mod keystore;
mod signer;
mod stream;
pub mod views;

pub use client::Client;
pub use error::{ClientError, Result};
pub use signer::Signer;
pub use stream::BlockStream;
