//! Tensors in the network's canonical layout, for float jobs whose outputs
//! are compared with a tolerance or by argmax.
//!
//! The layout is `verigrid_types::tensor`'s (this crate stays free of
//! dependencies, so it is written out again here; the sandbox's tests check
//! that both agree byte for byte): a `u32` count of tensors, then for each a
//! tag (`0` f32, `1` i64), the shape as a `u32`-prefixed list of `u32`, and
//! the elements as a `u32`-prefixed list, little-endian, row-major.

use crate::frame::{FrameError, Reader, Writer};

/// Most dimensions a tensor may have.
pub const MAX_RANK: usize = 8;

/// Element values of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit signed integers.
    I64(Vec<i64>),
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

    /// The float elements, if this is a float tensor.
    #[must_use]
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            TensorData::I64(_) => None,
        }
    }

    fn write(&self, w: &mut Writer) {
        w.u8(match self.data {
            TensorData::F32(_) => 0,
            TensorData::I64(_) => 1,
        });
        w.len(self.shape.len());
        for d in &self.shape {
            w.u32(*d);
        }
        match &self.data {
            TensorData::F32(v) => {
                w.f32s(v);
            }
            TensorData::I64(v) => {
                w.len(v.len());
                for x in v {
                    w.i64(*x);
                }
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, FrameError> {
        let tag = r.u8()?;
        let rank = r.len(4)?;
        if rank > MAX_RANK {
            return Err(FrameError {
                what: "tensor rank (at most 8)",
                at: 0,
            });
        }
        let shape = (0..rank).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
        let data = match tag {
            0 => TensorData::F32(r.f32s()?),
            1 => {
                let len = r.len(8)?;
                TensorData::I64((0..len).map(|_| r.i64()).collect::<Result<_, _>>()?)
            }
            _ => {
                return Err(FrameError {
                    what: "tensor type tag (0 f32, 1 i64)",
                    at: 0,
                });
            }
        };
        let count = match &data {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        };
        let expected = shape
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(usize::try_from(*d).ok()?));
        if expected != Some(count) {
            return Err(FrameError {
                what: "tensor elements matching its shape",
                at: 0,
            });
        }
        Ok(Self { shape, data })
    }
}

/// Encodes tensors in the canonical layout: what a float job writes as
/// its output.
#[must_use]
pub fn encode_tensors(tensors: &[Tensor]) -> Vec<u8> {
    let mut w = Writer::new();
    w.len(tensors.len());
    for t in tensors {
        t.write(&mut w);
    }
    w.into_bytes()
}

/// Decodes tensors in the canonical layout (e.g. a job's input).
///
/// # Errors
/// If the bytes are not exactly a list of well-formed tensors.
pub fn decode_tensors(bytes: &[u8]) -> Result<Vec<Tensor>, FrameError> {
    let mut r = Reader::new(bytes);
    // Each tensor takes at least 9 bytes: tag, rank and element count.
    let count = r.len(9)?;
    let tensors = (0..count)
        .map(|_| Tensor::read(&mut r))
        .collect::<Result<Vec<_>, _>>()?;
    r.finish()?;
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_round_trip() {
        let t = vec![
            Tensor::f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]),
            Tensor {
                shape: vec![3],
                data: TensorData::I64(vec![1, -2, 3]),
            },
        ];
        assert_eq!(decode_tensors(&encode_tensors(&t)), Ok(t));
    }

    #[test]
    fn elements_must_match_the_shape() {
        let bad = encode_tensors(&[Tensor::f32(vec![3], vec![1.0])]);
        assert!(decode_tensors(&bad).is_err());
    }
}
