//! ONNX inference: a tiny MatMul + Add + Relu model, written here as
//! protobuf bytes (no model files, no downloads), gives the expected
//! outputs, and the comparators accept float noise but not a wrong answer.

#![cfg(feature = "onnx")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use verigrid_sandbox::onnx::{OnnxError, OnnxModel, infer};
use verigrid_types::tensor::{Comparison, Tensor, TensorData, decode_outputs, encode_outputs};

/// Just enough of a protobuf writer for an ONNX model.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn int(mut self, field: u64, v: u64) -> Self {
        self.varint(field << 3);
        self.varint(v);
        self
    }

    fn bytes(mut self, field: u64, b: &[u8]) -> Self {
        self.varint((field << 3) | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    fn str(self, field: u64, s: &str) -> Self {
        self.bytes(field, s.as_bytes())
    }

    fn msg(self, field: u64, m: Pb) -> Self {
        self.bytes(field, &m.0)
    }
}

const FLOAT: u64 = 1;

/// A `ValueInfoProto` for a float tensor of `shape`.
fn value_info(name: &str, shape: &[u64]) -> Pb {
    let dims = shape
        .iter()
        .fold(Pb::default(), |s, d| s.msg(1, Pb::default().int(1, *d)));
    let tensor_type = Pb::default().int(1, FLOAT).msg(2, dims);
    Pb::default()
        .str(1, name)
        .msg(2, Pb::default().msg(1, tensor_type))
}

/// A float `TensorProto` initializer.
fn initializer(name: &str, shape: &[u64], values: &[f32]) -> Pb {
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let with_dims = shape.iter().fold(Pb::default(), |t, d| t.int(1, *d));
    with_dims.int(2, FLOAT).str(8, name).bytes(9, &raw)
}

fn node(op: &str, inputs: &[&str], output: &str) -> Pb {
    let with_inputs = inputs.iter().fold(Pb::default(), |n, i| n.str(1, i));
    with_inputs.str(2, output).str(3, output).str(4, op)
}

const W: [f32; 12] = [
    0.5, -1.0, 0.25, //
    1.5, 0.5, -0.75, //
    -0.5, 2.0, 1.0, //
    0.125, -0.25, 0.5,
];
const B: [f32; 3] = [0.1, -0.2, 0.3];

/// `y = relu(x · W + B)` with `x: [1, 4]`, `W: [4, 3]`, `B: [3]`.
fn model() -> Vec<u8> {
    let graph = Pb::default()
        .msg(1, node("MatMul", &["x", "W"], "xw"))
        .msg(1, node("Add", &["xw", "B"], "xwb"))
        .msg(1, node("Relu", &["xwb"], "y"))
        .str(2, "tiny")
        .msg(5, initializer("W", &[4, 3], &W))
        .msg(5, initializer("B", &[3], &B))
        .msg(11, value_info("x", &[1, 4]))
        .msg(12, value_info("y", &[1, 3]));
    Pb::default()
        .int(1, 7)
        .msg(8, Pb::default().str(1, "").int(2, 13))
        .msg(7, graph)
        .0
}

fn reference(x: &[f32; 4]) -> Vec<f32> {
    (0..3)
        .map(|j| {
            let sum: f64 = (0..4)
                .map(|i| f64::from(x[i]) * f64::from(W[i * 3 + j]))
                .sum::<f64>()
                + f64::from(B[j]);
            sum.max(0.0) as f32
        })
        .collect()
}

const X: [f32; 4] = [1.0, 2.0, -1.0, 4.0];

fn input() -> Vec<Tensor> {
    vec![Tensor::f32(vec![1, 4], X.to_vec())]
}

#[test]
fn a_matmul_add_relu_model_gives_the_expected_outputs() {
    let output = infer(&model(), &input()).unwrap();
    let tensors = decode_outputs(&output).unwrap();
    assert_eq!(tensors.len(), 1);
    assert_eq!(tensors[0].shape, vec![1, 3]);
    let TensorData::F32(got) = &tensors[0].data else {
        panic!("expected f32 output");
    };
    let expected = reference(&X);
    // x·W + B = [4.6, -2.2, 0.55]; relu zeroes the middle one.
    assert_eq!(expected[1], 0.0);
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() < 1e-5, "{got:?} vs {expected:?}");
    }
}

#[test]
fn comparators_accept_float_noise_and_reject_a_wrong_answer() {
    let output = infer(&model(), &input()).unwrap();
    let noisy: Vec<f32> = reference(&X).iter().map(|v| v * (1.0 + 2e-7)).collect();
    let honest = encode_outputs(&[Tensor::f32(vec![1, 3], noisy)]);
    let mut bad = reference(&X);
    bad[0] += 0.5;
    let wrong = encode_outputs(&[Tensor::f32(vec![1, 3], bad)]);

    let tolerance = Comparison::Tolerance { ppm: 10 };
    assert!(tolerance.agree(&output, &honest));
    assert!(!tolerance.agree(&output, &wrong));
    assert!(Comparison::Argmax.agree(&output, &honest));
    let swapped = encode_outputs(&[Tensor::f32(vec![1, 3], vec![0.0, 9.0, 0.0])]);
    assert!(!Comparison::Argmax.agree(&output, &swapped));
}

#[test]
fn a_loaded_model_runs_repeatedly_with_identical_bytes() {
    let model = OnnxModel::load(&model(), &input()).unwrap();
    let first = encode_outputs(&model.run(&input()).unwrap());
    for _ in 0..20 {
        assert_eq!(encode_outputs(&model.run(&input()).unwrap()), first);
    }
    let other = vec![Tensor::f32(vec![1, 4], vec![0.0, 0.0, 1.0, 0.0])];
    let out = model.run(&other).unwrap();
    let TensorData::F32(got) = &out[0].data else {
        panic!("expected f32 output");
    };
    let expected = reference(&[0.0, 0.0, 1.0, 0.0]);
    assert!(got.iter().zip(&expected).all(|(g, e)| (g - e).abs() < 1e-5));
}

#[test]
fn malformed_models_and_inputs_are_typed_errors() {
    assert!(matches!(
        infer(b"definitely not protobuf", &input()),
        Err(OnnxError::InvalidModel { .. })
    ));
    assert!(matches!(
        infer(&model(), &[]),
        Err(OnnxError::InputCount {
            expected: 1,
            given: 0
        })
    ));
    assert!(matches!(
        infer(&model(), &[Tensor::f32(vec![1, 4], vec![1.0])]),
        Err(OnnxError::InvalidInput { index: 0, .. })
    ));
    let wrong_width = [Tensor::f32(vec![1, 5], vec![1.0; 5])];
    assert!(infer(&model(), &wrong_width).is_err());
}
