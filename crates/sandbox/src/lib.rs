//! Runs one task deterministically: a `wasm32-wasip1` module under wasmtime
//! (fuel, memory, output and wall-clock limits; fixed clocks, seeded
//! randomness, no files, network or environment), or an ONNX model with tract.
//!
//! Owns: how a task's bytes become output bytes, and every way that can fail.
//! Must not know: jobs, payments, verdicts or networks (docs/DESIGN.md §7).
//! Outputs are compared by `verigrid_types::tensor::Comparison`, not here.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation
    )
)]

mod cache;
mod epoch;
mod failure;
#[cfg(feature = "onnx")]
pub mod onnx;
mod sandbox;
mod wasi;

pub use failure::{Failure, SetupError};
pub use sandbox::{Outcome, Sandbox, WasmTask};
/// A task's limits: the protocol's own type, so that jobs state them once.
pub use verigrid_types::job::Limits;
