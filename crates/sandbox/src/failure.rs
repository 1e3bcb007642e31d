//! Every way a task can end without output, as a typed failure.
//!
//! Most failures are a property of the module and its input: every honest
//! device reaches the same one, so a device reports it as the task's result.
//! `Timeout` and `Internal` are properties of the device; see
//! [`Failure::is_deterministic`].

use std::time::Duration;

/// Why a task produced no output.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The module used its whole fuel budget.
    #[error(
        "the module used all {budget} units of fuel: raise the task's fuel budget or give it less work"
    )]
    OutOfFuel {
        /// The budget it was given.
        budget: u64,
    },
    /// The module asked for more linear memory than the limit and then
    /// failed (trapped, or exited non-zero after handling the refusal).
    #[error(
        "the module needed more than the {limit_bytes}-byte memory limit: raise the limit or use less memory"
    )]
    OutOfMemory {
        /// The memory limit in bytes.
        limit_bytes: u64,
    },
    /// The module recursed deeper than the WASM stack allows.
    #[error("the module overflowed its call stack: recurse less deeply")]
    StackOverflow,
    /// The module trapped (`unreachable`, a Rust panic, an out-of-bounds
    /// access, division by zero, ...).
    #[error("the module trapped: {reason}; its stderr (a Rust panic says why there): {stderr:?}")]
    Trap {
        /// What the trap was, e.g. "wasm `unreachable` instruction executed".
        reason: String,
        /// The start of what the module wrote to stderr.
        stderr: String,
    },
    /// The module exited with a non-zero status.
    #[error("the module exited with status {code}: see its stderr ({stderr:?})")]
    Exit {
        /// The exit status.
        code: u32,
        /// The start of what the module wrote to stderr.
        stderr: String,
    },
    /// The module wrote more to stdout than the output limit.
    #[error(
        "the module wrote more than the {limit_bytes}-byte output limit: raise the limit or write less"
    )]
    OutputTooLarge {
        /// The output limit in bytes.
        limit_bytes: u32,
    },
    /// The bytes are not a valid WASM module for this sandbox (malformed,
    /// uses threads or another disabled feature, or has no `_start`).
    #[error(
        "invalid module: {reason}; build a WASI command (a `main`) with `cargo build --target wasm32-wasip1`"
    )]
    InvalidModule {
        /// What was wrong.
        reason: String,
    },
    /// The module imports something the sandbox does not offer (anything
    /// outside WASI preview 1).
    #[error(
        "the module imports `{module}::{name}`, which the sandbox does not offer: tasks may import only WASI preview 1 (`wasi_snapshot_preview1`) functions"
    )]
    UnsupportedImport {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
    },
    /// The task ran past the wall-clock cut-off (this device was too slow,
    /// or the fuel budget is too large for the cut-off).
    #[error(
        "the task ran longer than {after:?} of wall-clock time: lower its fuel budget or raise the cut-off"
    )]
    Timeout {
        /// The cut-off.
        after: Duration,
    },
    /// The host failed (could not create a store, an unexpected engine
    /// error): nothing to do with the module.
    #[error("the sandbox failed on this device: {reason}; retry, and report it if it persists")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl Failure {
    /// Whether every honest device reaches this same failure for this
    /// module and input, so that it can be reported as the task's result.
    /// `Timeout` and `Internal` depend on the device.
    #[must_use]
    pub fn is_deterministic(&self) -> bool {
        !matches!(self, Self::Timeout { .. } | Self::Internal { .. })
    }
}

/// Why a sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// wasmtime rejected the engine configuration (unsupported CPU or OS).
    #[error(
        "could not create the WASM engine: {reason}; this CPU or OS may be unsupported by wasmtime"
    )]
    Engine {
        /// wasmtime's reason.
        reason: String,
    },
    /// The thread that enforces the wall-clock cut-off could not start.
    #[error("could not start the wall-clock thread: {0}; the process may be out of threads")]
    Thread(#[from] std::io::Error),
}
