//! Input: one f32 tensor `[batch, 16]` in the canonical tensor layout.
//! Output: one f32 tensor `[batch, 10]` of class probabilities, compared
//! across replicas with a tolerance or by argmax.

mod model;

use verigrid_guest::tensor::{Tensor, decode_tensors, encode_tensors};

fn main() -> std::process::ExitCode {
    verigrid_guest::run(|input| {
        let tensors = decode_tensors(input).map_err(|e| e.to_string())?;
        let [batch] = tensors.as_slice() else {
            return Err(format!("expected one input tensor, got {}", tensors.len()));
        };
        let (Some(data), [rows, cols]) = (batch.as_f32(), batch.shape.as_slice()) else {
            return Err("expected an f32 tensor of shape [batch, 16]".to_string());
        };
        if *cols as usize != model::INPUTS {
            return Err(format!("expected 16 columns, got {cols}"));
        }
        let out = model::forward(data);
        Ok(encode_tensors(&[Tensor::f32(
            vec![*rows, model::OUTPUTS as u32],
            out,
        )]))
    })
}
