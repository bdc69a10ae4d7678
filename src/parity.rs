//! Checking a model against PyTorch's own outputs: the inputs and logits that
//! `scripts/pytorch_reference.py` saves next to a state dict (`NAME.io.safetensors`), run
//! through our forward on any backend. `import-pytorch --check` uses it, and so does the GPU
//! check script when no test binary is at hand.

use crate::model::Transformer;
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};
use std::path::{Path, PathBuf};

/// Why the check could not run or did not pass.
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a safetensors file: {why}")]
    Format { path: PathBuf, why: String },
    #[error("{path} has no {key} of type {dtype} (the keys of scripts/pytorch_reference.py: input.src, input.tgt, input.src_key_padding_mask, input.tgt_key_padding_mask, output.logits)")]
    Key {
        path: PathBuf,
        key: &'static str,
        dtype: &'static str,
    },
    #[error("our logits have shape {ours:?}, PyTorch's {theirs:?}")]
    Shape {
        ours: Vec<usize>,
        theirs: Vec<usize>,
    },
    #[error(
        "the logits differ from PyTorch's by up to {max_abs_diff:e} (tolerance {tolerance:e})"
    )]
    Mismatch { max_abs_diff: f32, tolerance: f32 },
}

/// How close our logits came to PyTorch's.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParityReport {
    pub shape: Vec<usize>,
    pub max_abs_diff: f32,
    pub tolerance: f32,
}

struct IoFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl IoFile {
    fn tensor(
        &self,
        key: &'static str,
        dtype: Dtype,
    ) -> Result<(Vec<usize>, Vec<u8>), ParityError> {
        let file = SafeTensors::deserialize(&self.bytes).map_err(|e| ParityError::Format {
            path: self.path.clone(),
            why: e.to_string(),
        })?;
        let missing = || ParityError::Key {
            path: self.path.clone(),
            key,
            dtype: if dtype == Dtype::F32 { "f32" } else { "i64" },
        };
        let view = file.tensor(key).map_err(|_| missing())?;
        if view.dtype() != dtype {
            return Err(missing());
        }
        Ok((view.shape().to_vec(), view.data().to_vec()))
    }

    fn ints<B: Backend>(
        &self,
        key: &'static str,
        device: &B::Device,
    ) -> Result<Tensor<B, 2, Int>, ParityError> {
        let (shape, data) = self.tensor(key, Dtype::I64)?;
        let values: Vec<i64> = data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }

    /// A 0/1 mask, 1 = padding (`true`).
    fn mask<B: Backend>(
        &self,
        key: &'static str,
        device: &B::Device,
    ) -> Result<Tensor<B, 2, Bool>, ParityError> {
        let ints = self.ints::<B>(key, device)?;
        Ok(ints.not_equal_elem(0))
    }

    fn floats(&self, key: &'static str) -> Result<(Vec<usize>, Vec<f32>), ParityError> {
        let (shape, data) = self.tensor(key, Dtype::F32)?;
        let values = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        Ok((shape, values))
    }
}

/// Run the saved inputs of `io_file` through `model` (teacher-forced forward) and compare the
/// logits with PyTorch's: passes when no value differs by more than `tolerance`.
pub fn check_logits<B: Backend>(
    model: &Transformer<B>,
    io_file: &Path,
    tolerance: f32,
    device: &B::Device,
) -> Result<ParityReport, ParityError> {
    let io = IoFile {
        path: io_file.to_path_buf(),
        bytes: std::fs::read(io_file).map_err(|source| ParityError::Read {
            path: io_file.to_path_buf(),
            source,
        })?,
    };
    let logits = model.forward(
        io.ints::<B>("input.src", device)?,
        Some(io.mask::<B>("input.src_key_padding_mask", device)?),
        io.ints::<B>("input.tgt", device)?,
        Some(io.mask::<B>("input.tgt_key_padding_mask", device)?),
    );
    let (shape, theirs) = io.floats("output.logits")?;
    let ours_shape = logits.dims().to_vec();
    if ours_shape != shape {
        return Err(ParityError::Shape {
            ours: ours_shape,
            theirs: shape,
        });
    }
    let ours: Vec<f32> = logits
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 logits");
    let max_abs_diff = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(
            0.0f32,
            |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
        );
    if max_abs_diff > tolerance {
        return Err(ParityError::Mismatch {
            max_abs_diff,
            tolerance,
        });
    }
    Ok(ParityReport {
        shape,
        max_abs_diff,
        tolerance,
    })
}
