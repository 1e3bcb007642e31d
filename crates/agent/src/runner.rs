//! Runs one task of a job in the sandbox and returns the bytes the device
//! commits to. Every honest device must return the same bytes for the same
//! task, so everything that shapes them is fixed here:
//!
//! - WASM: stdin is the task's input blob; for `Inputs::Indexed` it is the
//!   task index (4 bytes, little-endian) followed by the shared blob.
//! - ONNX: the input blob is the canonical encoding of the input tensors;
//!   the output is the canonical encoding of the output tensors.
//! - A failure every device reaches (out of fuel, a trap, an invalid
//!   module…) is the task's result: `verigrid-failure:` and the failure's
//!   kind. A failure of this device (wall-clock cut-off, an internal
//!   error) is not a result; the device does not commit and the task goes
//!   to someone else.

use verigrid_sandbox::{Sandbox, WasmTask};
use verigrid_types::TaskId;
use verigrid_types::job::{Inputs, JobKind, JobSpec};

/// Why this device has no result for a task.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The sandbox could not start.
    #[error("the sandbox could not start: {0}")]
    Setup(String),
    /// This device failed the task in a way another device may not.
    #[error("this device could not finish the task: {0}")]
    Device(String),
    /// The job needs something this agent was built without.
    #[error("{0}")]
    Unsupported(String),
}

/// What a device returns; the honest one is the only one a real agent has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Runs the task and returns its output.
    Honest,
    /// Returns a made-up output of its own (an adversary, for tests and
    /// demonstrations that liars are caught and slashed).
    Fabricate,
}

/// The bytes a deterministic failure is reported as.
#[must_use]
pub fn failure_output(kind: &str) -> Vec<u8> {
    format!("verigrid-failure:{kind}").into_bytes()
}

/// The kind of a sandbox failure (its variant name), stable across
/// devices, unlike its message.
fn kind_of(failure: &impl std::fmt::Debug) -> String {
    let debug = format!("{failure:?}");
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("Failure")
        .to_owned()
}

/// The stdin of task `index` of a job with `inputs`, whose input blob is
/// `blob`.
#[must_use]
pub fn task_stdin(inputs: &Inputs, index: u32, blob: &[u8]) -> Vec<u8> {
    match inputs {
        Inputs::List(_) => blob.to_vec(),
        Inputs::Indexed { .. } => {
            let mut stdin = Vec::with_capacity(4 + blob.len());
            stdin.extend_from_slice(&index.to_le_bytes());
            stdin.extend_from_slice(blob);
            stdin
        }
    }
}

/// Runs tasks.
pub struct Runner {
    sandbox: Sandbox,
    behaviour: Behaviour,
    secret: [u8; 32],
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("behaviour", &self.behaviour)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner; `secret` makes a fabricating device's outputs its own.
    ///
    /// # Errors
    /// If the sandbox cannot start on this machine.
    pub fn new(behaviour: Behaviour, secret: [u8; 32]) -> Result<Self, RunError> {
        let sandbox = Sandbox::new().map_err(|e| RunError::Setup(e.to_string()))?;
        Ok(Self {
            sandbox,
            behaviour,
            secret,
        })
    }

    /// Runs `task` of `spec` with its `program` and input `blob`.
    ///
    /// # Errors
    /// If this device cannot produce a result every honest device would.
    pub fn run(
        &self,
        spec: &JobSpec,
        task: TaskId,
        program: &[u8],
        blob: &[u8],
    ) -> Result<Vec<u8>, RunError> {
        if self.behaviour == Behaviour::Fabricate {
            let made_up = verigrid_types::Hash::of(
                verigrid_types::Domain::Commitment,
                &[
                    b"fabricated",
                    &self.secret,
                    &task.job.0.0,
                    &task.index.to_le_bytes(),
                ],
            );
            return Ok(made_up.0.to_vec());
        }
        match spec.kind {
            JobKind::Wasm => {
                let stdin = task_stdin(&spec.inputs, task.index, blob);
                let ran = self.sandbox.run(&WasmTask {
                    module: program,
                    input: &stdin,
                    task,
                    limits: spec.limits,
                });
                match ran {
                    Ok(outcome) => Ok(outcome.output),
                    Err(failure) if failure.is_deterministic() => {
                        Ok(failure_output(&kind_of(&failure)))
                    }
                    Err(failure) => Err(RunError::Device(failure.to_string())),
                }
            }
            JobKind::Onnx => self.run_onnx(program, blob),
        }
    }

    #[cfg(feature = "onnx")]
    #[allow(clippy::unused_self)]
    fn run_onnx(&self, model: &[u8], blob: &[u8]) -> Result<Vec<u8>, RunError> {
        use verigrid_types::codec::Decode as _;
        let Ok(inputs) = Vec::<verigrid_types::tensor::Tensor>::decode(blob) else {
            return Ok(failure_output("InvalidInput"));
        };
        match verigrid_sandbox::onnx::infer(model, &inputs) {
            Ok(output) => Ok(output),
            Err(e) => Ok(failure_output(&kind_of(&e))),
        }
    }

    #[cfg(not(feature = "onnx"))]
    #[allow(clippy::unused_self)]
    fn run_onnx(&self, _model: &[u8], _blob: &[u8]) -> Result<Vec<u8>, RunError> {
        Err(RunError::Unsupported(
            "this agent was built without ONNX support (feature `onnx`)".into(),
        ))
    }
}
