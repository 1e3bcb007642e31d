//! For job authors: a task's input is its stdin and its output its stdout;
//! this crate reads the one, writes the other, and frames numbers, bytes
//! and tensors. Builds for `wasm32-wasip1` and on the host (for tests).
//!
//! Owns: the guest side of the task interface (docs/DESIGN.md §7).
//! Must not know: the sandbox, the ledger, or anything outside the module.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     verigrid_guest::run(|input| Ok::<_, String>(input.iter().rev().copied().collect()))
//! }
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation
    )
)]

pub mod frame;
pub mod tensor;

use std::fmt::Display;
use std::io::{Read, Write};
use std::process::ExitCode;

pub use frame::{FrameError, Reader, Writer};
pub use tensor::{Tensor, TensorData};

/// Reads the task's whole input (stdin).
///
/// # Errors
/// If stdin cannot be read (it always can inside the sandbox).
pub fn read_input() -> std::io::Result<Vec<u8>> {
    let mut input = Vec::new();
    std::io::stdin().lock().read_to_end(&mut input)?;
    Ok(input)
}

/// Writes `output` as the task's output (stdout) and flushes it.
///
/// # Errors
/// If stdout cannot be written; inside the sandbox, writing more than the
/// task's output limit ends the module instead.
pub fn write_output(output: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(output)?;
    stdout.flush()
}

/// The whole of a job's `main`: reads the input, applies `job`, writes its
/// output. On an error, writes it to stderr and exits with status 1, which
/// the sandbox reports as a failed task.
pub fn run<E: Display>(job: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>) -> ExitCode {
    let result = read_input()
        .map_err(|e| format!("reading input: {e}"))
        .and_then(|input| job(&input).map_err(|e| e.to_string()))
        .and_then(|output| write_output(&output).map_err(|e| format!("writing output: {e}")));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Nothing more to do if stderr is gone too.
            let _ = writeln!(std::io::stderr(), "{e}");
            ExitCode::FAILURE
        }
    }
}
