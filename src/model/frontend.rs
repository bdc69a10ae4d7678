//! The audio front end: what turns acoustic feature frames into encoder inputs, where a text
//! model embeds tokens (Whisper's `conv1`/`conv2`).
//!
//! Two 1-D convolutions over time with kernel 3 and padding 1, each followed by exact GELU; the
//! second has stride 2, so the encoder sees one vector per 20 ms (1,500 for 30 s of 10 ms
//! frames). Positions are added afterwards by the model, as for token embeddings.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::PaddingConfig1d;
use burn::prelude::*;
use burn::tensor::activation::gelu;

/// Configuration of [`AudioFrontend`].
#[derive(Config, Debug)]
pub struct AudioFrontendConfig {
    /// Feature channels per frame (mel bands: 80, or 128 for Whisper large-v3).
    pub n_mels: usize,
    pub d_model: usize,
}

/// Conv1d(n_mels -> d, k 3) + GELU, Conv1d(d -> d, k 3, stride 2) + GELU.
#[derive(Module, Debug)]
pub struct AudioFrontend<B: Backend> {
    pub conv1: Conv1d<B>,
    pub conv2: Conv1d<B>,
}

impl AudioFrontendConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> AudioFrontend<B> {
        AudioFrontend {
            conv1: Conv1dConfig::new(self.n_mels, self.d_model, 3)
                .with_padding(PaddingConfig1d::Explicit(1, 1))
                .init(device),
            conv2: Conv1dConfig::new(self.d_model, self.d_model, 3)
                .with_stride(2)
                .with_padding(PaddingConfig1d::Explicit(1, 1))
                .init(device),
        }
    }
}

impl<B: Backend> AudioFrontend<B> {
    /// Feature channels it reads per frame.
    pub fn n_mels(&self) -> usize {
        self.conv1.weight.dims()[1]
    }

    /// # Shapes
    /// - `features`: `[batch, n_mels, frames]` (channels first, as Whisper's log-mel)
    /// - output: `[batch, ceil(frames / 2), d_model]` (time first, as the encoder reads)
    pub fn forward(&self, features: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = gelu(self.conv1.forward(features));
        let x = gelu(self.conv2.forward(x)); // [batch, d_model, frames / 2]
        x.swap_dims(1, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_time_and_moves_channels_last() {
        type B = crate::backend::NdArray;
        let device = Default::default();
        let frontend = AudioFrontendConfig::new(5, 8).init::<B>(&device);
        let out = frontend.forward(Tensor::<B, 3>::ones([3, 5, 14], &device));
        assert_eq!(out.dims(), [3, 7, 8]);
        let odd = frontend.forward(Tensor::<B, 3>::ones([2, 5, 11], &device));
        assert_eq!(odd.dims(), [2, 6, 8]);
        assert_eq!(frontend.n_mels(), 5);
    }
}
