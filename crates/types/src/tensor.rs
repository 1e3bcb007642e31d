//! The canonical encoding of tensor outputs (ONNX inference, float-heavy
//! WASM jobs), and the comparators that decide whether two replicas agree.
//!
//! This is the one place those rules live: the sandbox encodes outputs with
//! it, the ledger judges reveals with it, the simulator uses the ledger.
//! Native float results can differ across CPUs (docs/DESIGN.md §7), so jobs
//! with float outputs compare with `tolerance(ε)` or `argmax`, never bytes.

use crate::codec::{Decode, DecodeError, Encode, Reader, encode_len};

/// Most dimensions a tensor may have.
pub const MAX_RANK: usize = 8;

/// Element values of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit signed integers (class labels, token ids).
    I64(Vec<i64>),
}

impl TensorData {
    fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::I64(v) => v.len(),
        }
    }
}

/// A tensor: a shape and its elements in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Size of each dimension.
    pub shape: Vec<u32>,
    /// The elements; their count is the product of `shape`.
    pub data: TensorData,
}

impl Tensor {
    /// A float tensor.
    #[must_use]
    pub fn f32(shape: Vec<u32>, data: Vec<f32>) -> Self {
        Self {
            shape,
            data: TensorData::F32(data),
        }
    }

    fn element_count(shape: &[u32]) -> Option<usize> {
        shape
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(usize::try_from(*d).ok()?))
    }
}

impl Encode for Tensor {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match &self.data {
            TensorData::F32(_) => out.push(0),
            TensorData::I64(_) => out.push(1),
        }
        self.shape.encode_to(out);
        encode_len(self.data.len(), out);
        match &self.data {
            TensorData::F32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorData::I64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
    }
}

impl Decode for Tensor {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = u8::decode_from(r)?;
        let shape: Vec<u32> = Vec::decode_from(r)?;
        if shape.len() > MAX_RANK {
            return Err(DecodeError::Invalid {
                what: "tensor",
                why: "more than 8 dimensions",
            });
        }
        let (width, what) = match tag {
            0 => (4, "f32 tensor"),
            1 => (8, "i64 tensor"),
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "tensor type",
                    tag,
                });
            }
        };
        let len = r.len(width)?;
        if Tensor::element_count(&shape) != Some(len) {
            return Err(DecodeError::Invalid {
                what,
                why: "element count does not match shape",
            });
        }
        let raw = r.take(len * width, what)?;
        let data = if tag == 0 {
            TensorData::F32(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )
        } else {
            TensorData::I64(
                raw.chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            )
        };
        Ok(Self { shape, data })
    }
}

/// How the replicas' outputs of a task are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// Byte-identical outputs (deterministic WASM).
    Exact,
    /// Tensor outputs of equal shape whose elements differ by at most
    /// `ε × max(1, |a|, |b|)`, with `ε = ppm / 1e6`.
    Tolerance {
        /// ε in parts per million.
        ppm: u32,
    },
    /// Tensor outputs of equal shape whose largest element sits at the same
    /// index in every tensor (classification).
    Argmax,
}

impl Comparison {
    /// Whether outputs must be revealed in full for the ledger to compare
    /// them (anything but exact).
    #[must_use]
    pub fn needs_output(&self) -> bool {
        !matches!(self, Self::Exact)
    }

    /// Whether two revealed outputs agree under this rule. For `Exact` the
    /// callers compare output hashes; given bytes, it compares bytes.
    /// Undecodable tensors or NaNs never agree with anything.
    #[must_use]
    pub fn agree(&self, a: &[u8], b: &[u8]) -> bool {
        match self {
            Self::Exact => a == b,
            Self::Tolerance { ppm } => match (decode_outputs(a), decode_outputs(b)) {
                (Some(x), Some(y)) => within_tolerance(&x, &y, f64::from(*ppm) / 1e6),
                _ => false,
            },
            Self::Argmax => match (decode_outputs(a), decode_outputs(b)) {
                (Some(x), Some(y)) => same_argmax(&x, &y),
                _ => false,
            },
        }
    }
}

impl Encode for Comparison {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Exact => out.push(0),
            Self::Tolerance { ppm } => {
                out.push(1);
                ppm.encode_to(out);
            }
            Self::Argmax => out.push(2),
        }
    }
}

impl Decode for Comparison {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(Self::Exact),
            1 => Ok(Self::Tolerance {
                ppm: u32::decode_from(r)?,
            }),
            2 => Ok(Self::Argmax),
            tag => Err(DecodeError::UnknownTag {
                what: "comparison",
                tag,
            }),
        }
    }
}

/// Encodes a task's tensor outputs canonically.
#[must_use]
pub fn encode_outputs(tensors: &[Tensor]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_len(tensors.len(), &mut out);
    for t in tensors {
        t.encode_to(&mut out);
    }
    out
}

/// Decodes a task's tensor outputs, or `None` if the bytes are not a
/// canonical list of tensors.
#[must_use]
pub fn decode_outputs(bytes: &[u8]) -> Option<Vec<Tensor>> {
    Vec::<Tensor>::decode(bytes).ok()
}

fn shapes_match(a: &[Tensor], b: &[Tensor]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.shape == y.shape && std::mem::discriminant(&x.data) == std::mem::discriminant(&y.data)
        })
}

fn within_tolerance(a: &[Tensor], b: &[Tensor], eps: f64) -> bool {
    shapes_match(a, b)
        && a.iter().zip(b).all(|(x, y)| match (&x.data, &y.data) {
            (TensorData::F32(p), TensorData::F32(q)) => p.iter().zip(q).all(|(u, v)| {
                let (u, v) = (f64::from(*u), f64::from(*v));
                u.is_finite()
                    && v.is_finite()
                    && (u - v).abs() <= eps * 1f64.max(u.abs()).max(v.abs())
            }),
            (TensorData::I64(p), TensorData::I64(q)) => p == q,
            _ => false,
        })
}

fn argmax(data: &TensorData) -> Option<usize> {
    match data {
        TensorData::F32(v) => {
            if v.iter().any(|x| x.is_nan()) {
                return None;
            }
            v.iter()
                .enumerate()
                .fold(None, |best: Option<(usize, f32)>, (i, x)| match best {
                    Some((_, b)) if b >= *x => best,
                    _ => Some((i, *x)),
                })
        }
        .map(|(i, _)| i),
        TensorData::I64(v) => v
            .iter()
            .enumerate()
            .fold(None, |best: Option<(usize, i64)>, (i, x)| match best {
                Some((_, b)) if b >= *x => best,
                _ => Some((i, *x)),
            })
            .map(|(i, _)| i),
    }
}

fn same_argmax(a: &[Tensor], b: &[Tensor]) -> bool {
    shapes_match(a, b)
        && a.iter()
            .zip(b)
            .all(|(x, y)| match (argmax(&x.data), argmax(&y.data)) {
                (Some(i), Some(j)) => i == j,
                _ => false,
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(v: &[f32]) -> Vec<u8> {
        encode_outputs(&[Tensor::f32(vec![1, v.len() as u32], v.to_vec())])
    }

    #[test]
    fn tolerance_accepts_float_noise_and_rejects_a_wrong_answer() {
        let c = Comparison::Tolerance { ppm: 10 };
        assert!(c.agree(
            &out(&[0.1, 2.5, -3.0]),
            &out(&[0.100_000_1, 2.500_001, -3.000_002])
        ));
        assert!(!c.agree(&out(&[0.1, 2.5, -3.0]), &out(&[0.1, 2.6, -3.0])));
        assert!(!c.agree(&out(&[f32::NAN]), &out(&[f32::NAN])));
        assert!(!c.agree(&out(&[1.0]), &out(&[1.0, 2.0])));
        assert!(!c.agree(b"garbage", b"garbage"));
    }

    #[test]
    fn argmax_compares_the_winning_class() {
        let c = Comparison::Argmax;
        assert!(c.agree(&out(&[0.1, 0.7, 0.2]), &out(&[0.15, 0.6, 0.25])));
        assert!(!c.agree(&out(&[0.1, 0.7, 0.2]), &out(&[0.7, 0.1, 0.2])));
    }

    #[test]
    fn tensors_round_trip_and_reject_shape_mismatch() {
        let t = vec![
            Tensor::f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]),
            Tensor {
                shape: vec![3],
                data: TensorData::I64(vec![1, -2, 3]),
            },
        ];
        let bytes = encode_outputs(&t);
        assert_eq!(decode_outputs(&bytes), Some(t));
        let bad = encode_outputs(&[Tensor::f32(vec![3], vec![1.0])]);
        assert_eq!(decode_outputs(&bad), None);
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes: Vec<u8>) {
            let _ = decode_outputs(&bytes);
            let _ = Comparison::Argmax.agree(&bytes, &bytes);
        }
    }
}
