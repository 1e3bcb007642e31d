//! A small multilayer perceptron, 16 → 64 → 64 → 10 with ReLU and a softmax,
//! whose weights come from a fixed pseudo-random stream. No dependencies, so
//! the sandbox's tests compile this file natively to compare with the WASM
//! build under a tolerance.

/// Inputs per example.
pub const INPUTS: usize = 16;
/// Outputs (classes) per example.
pub const OUTPUTS: usize = 10;
const HIDDEN: usize = 64;

/// xorshift32: a fixed stream of weights in [-0.5, 0.5).
struct Weights(u32);

impl Weights {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    }

    fn layer(&mut self, inputs: usize, outputs: usize) -> Layer {
        Layer {
            inputs,
            weights: (0..inputs * outputs).map(|_| self.next()).collect(),
            bias: (0..outputs).map(|_| self.next() * 0.1).collect(),
        }
    }
}

struct Layer {
    inputs: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl Layer {
    fn apply(&self, x: &[f32], relu: bool) -> Vec<f32> {
        self.bias
            .iter()
            .enumerate()
            .map(|(o, b)| {
                let row = &self.weights[o * self.inputs..(o + 1) * self.inputs];
                let sum = row.iter().zip(x).fold(*b, |acc, (w, v)| acc + w * v);
                if relu { sum.max(0.0) } else { sum }
            })
            .collect()
    }
}

fn softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = x.iter().map(|v| (v - max).exp()).collect();
    let total: f32 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

/// Class probabilities for each row of `batch` (`INPUTS` floats per row):
/// `OUTPUTS` floats per row.
pub fn forward(batch: &[f32]) -> Vec<f32> {
    let mut w = Weights(0x9e37_79b9);
    let layers = [
        w.layer(INPUTS, HIDDEN),
        w.layer(HIDDEN, HIDDEN),
        w.layer(HIDDEN, OUTPUTS),
    ];
    batch
        .chunks_exact(INPUTS)
        .flat_map(|row| {
            let h1 = layers[0].apply(row, true);
            let h2 = layers[1].apply(&h1, true);
            softmax(&layers[2].apply(&h2, false))
        })
        .collect()
}
