//! ONNX inference with tract: a model's bytes and its input tensors in, its
//! output tensors out in the canonical encoding (`encode_outputs`).
//!
//! Native float results can differ across CPUs (docs/DESIGN.md §7), so ONNX
//! jobs are judged with `Comparison::Tolerance` or `Comparison::Argmax` from
//! `verigrid_types::tensor`, never byte equality.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tract_onnx::prelude::{
    DatumType, Framework, InferenceFact, InferenceModelExt, IntoRunnable, TValue, TVec,
    Tensor as TractTensor, TypedRunnableModel,
};
use verigrid_types::tensor::{Tensor, TensorData, encode_outputs};

/// Largest model accepted, in bytes.
pub const MAX_MODEL_BYTES: usize = 512 << 20;

/// Why inference produced no output.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OnnxError {
    /// The bytes are not an ONNX model tract can load and optimise.
    #[error("invalid ONNX model: {reason}; export it with a standard opset and fixed input shapes")]
    InvalidModel {
        /// tract's reason.
        reason: String,
    },
    /// The task gave a different number of inputs than the model takes.
    #[error("the model takes {expected} input tensors but the task gives {given}")]
    InputCount {
        /// Inputs the model declares.
        expected: usize,
        /// Inputs given.
        given: usize,
    },
    /// An input tensor's element count does not match its shape.
    #[error("input tensor {index} is malformed: {reason}")]
    InvalidInput {
        /// Position of the input.
        index: usize,
        /// What was wrong.
        reason: String,
    },
    /// tract failed while running the model (shapes or types the model
    /// rejects, or an internal error).
    #[error("inference failed: {reason}; check the input shapes and types against the model's")]
    Inference {
        /// tract's reason.
        reason: String,
    },
    /// An output has an element type with no canonical encoding.
    #[error(
        "output {index} has element type {datum}, which has no canonical encoding: make the model output f32 or integers"
    )]
    UnsupportedOutput {
        /// Position of the output.
        index: usize,
        /// The element type.
        datum: String,
    },
}

/// An ONNX model loaded and optimised for the shapes and types of one set of
/// inputs; run it as often as needed.
#[derive(Debug)]
pub struct OnnxModel {
    plan: std::sync::Arc<TypedRunnableModel>,
    inputs: usize,
}

impl OnnxModel {
    /// Loads `model` and optimises it for inputs shaped like `example`.
    ///
    /// # Errors
    /// [`OnnxError::InvalidModel`], [`OnnxError::InputCount`] or
    /// [`OnnxError::InvalidInput`].
    pub fn load(model: &[u8], example: &[Tensor]) -> Result<Self, OnnxError> {
        if model.len() > MAX_MODEL_BYTES {
            return Err(OnnxError::InvalidModel {
                reason: format!(
                    "{} bytes is larger than the {MAX_MODEL_BYTES}-byte limit",
                    model.len()
                ),
            });
        }
        let inputs = to_tract_all(example)?;
        guard(|| {
            let invalid = |e: tract_onnx::prelude::TractError| OnnxError::InvalidModel {
                reason: format!("{e:#}"),
            };
            let mut graph = tract_onnx::onnx()
                .model_for_read(&mut &model[..])
                .map_err(invalid)?;
            let expected = graph.input_outlets().map_err(invalid)?.len();
            if expected != inputs.len() {
                return Err(OnnxError::InputCount {
                    expected,
                    given: inputs.len(),
                });
            }
            for (i, t) in inputs.iter().enumerate() {
                graph
                    .set_input_fact(i, InferenceFact::dt_shape_from_tensor(t))
                    .map_err(invalid)?;
            }
            let plan = graph
                .into_optimized()
                .and_then(IntoRunnable::into_runnable)
                .map_err(invalid)?;
            Ok(Self {
                plan,
                inputs: expected,
            })
        })
    }

    /// Runs the model on `inputs` (shaped like the example it was loaded
    /// with) and returns its outputs.
    ///
    /// # Errors
    /// [`OnnxError::InputCount`], [`OnnxError::InvalidInput`],
    /// [`OnnxError::Inference`] or [`OnnxError::UnsupportedOutput`].
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, OnnxError> {
        if inputs.len() != self.inputs {
            return Err(OnnxError::InputCount {
                expected: self.inputs,
                given: inputs.len(),
            });
        }
        let values: TVec<TValue> = to_tract_all(inputs)?
            .into_iter()
            .map(TValue::from)
            .collect();
        let outputs = guard(|| {
            self.plan.run(values).map_err(|e| OnnxError::Inference {
                reason: format!("{e:#}"),
            })
        })?;
        outputs
            .iter()
            .enumerate()
            .map(|(index, t)| from_tract(index, t))
            .collect()
    }
}

/// Runs `model` on `inputs` once and returns its outputs in the canonical
/// encoding.
///
/// # Errors
/// As [`OnnxModel::load`] and [`OnnxModel::run`].
pub fn infer(model: &[u8], inputs: &[Tensor]) -> Result<Vec<u8>, OnnxError> {
    let outputs = OnnxModel::load(model, inputs)?.run(inputs)?;
    Ok(encode_outputs(&outputs))
}

/// Runs `f`, turning a panic inside tract (a malformed model it does not
/// check) into an error instead of taking the device down.
fn guard<T>(f: impl FnOnce() -> Result<T, OnnxError>) -> Result<T, OnnxError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(OnnxError::Inference {
            reason: "tract panicked on this model".into(),
        })
    })
}

fn to_tract_all(tensors: &[Tensor]) -> Result<Vec<TractTensor>, OnnxError> {
    tensors
        .iter()
        .enumerate()
        .map(|(index, t)| to_tract(index, t))
        .collect()
}

fn to_tract(index: usize, t: &Tensor) -> Result<TractTensor, OnnxError> {
    let shape: Vec<usize> = t
        .shape
        .iter()
        .map(|d| usize::try_from(*d).unwrap_or(usize::MAX))
        .collect();
    let made = match &t.data {
        TensorData::F32(v) => TractTensor::from_shape(&shape, v),
        TensorData::I64(v) => TractTensor::from_shape(&shape, v),
    };
    made.map_err(|e| OnnxError::InvalidInput {
        index,
        reason: format!("{e:#}"),
    })
}

fn from_tract(index: usize, t: &TractTensor) -> Result<Tensor, OnnxError> {
    let shape = t
        .shape()
        .iter()
        .map(|d| u32::try_from(*d))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| OnnxError::Inference {
            reason: format!("output {index} has a dimension over 2^32"),
        })?;
    let unsupported = || OnnxError::UnsupportedOutput {
        index,
        datum: format!("{:?}", t.datum_type()),
    };
    let data = match t.datum_type() {
        DatumType::F16 | DatumType::F32 | DatumType::F64 => {
            let cast = t.cast_to::<f32>().map_err(|_| unsupported())?;
            let view = cast
                .to_plain_array_view::<f32>()
                .map_err(|_| unsupported())?;
            TensorData::F32(view.iter().copied().collect())
        }
        DatumType::Bool
        | DatumType::U8
        | DatumType::U16
        | DatumType::U32
        | DatumType::I8
        | DatumType::I16
        | DatumType::I32
        | DatumType::I64 => {
            let cast = t.cast_to::<i64>().map_err(|_| unsupported())?;
            let view = cast
                .to_plain_array_view::<i64>()
                .map_err(|_| unsupported())?;
            TensorData::I64(view.iter().copied().collect())
        }
        _ => return Err(unsupported()),
    };
    Ok(Tensor { shape, data })
}
