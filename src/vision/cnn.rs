//! The baseline the tutorial compares self-attention with: a small convolutional network.
//! Each block is a 3x3 convolution (padding keeps the size), ReLU and 2x2 max pooling, so a
//! layer sees a fixed neighbourhood that grows with depth; then a hidden linear layer and one
//! over the classes (the shape of Fashion-MNIST's benchmark convnet).

use crate::model::dropout::{Dropout, DropoutConfig};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

/// Configuration of a [`Cnn`].
#[derive(Config, Debug)]
pub struct CnnConfig {
    pub height: usize,
    pub width: usize,
    pub classes: usize,
    /// Output channels of each convolution block (one block per entry).
    #[config(default = "vec![32, 64]")]
    pub channels: Vec<usize>,
    /// Width of the hidden linear layer.
    #[config(default = 128)]
    pub hidden: usize,
    #[config(default = 0.25)]
    pub dropout: f64,
}

/// One convolution block: conv 3x3 (same size), ReLU, max pool 2x2.
#[derive(Module, Debug)]
pub struct ConvBlock<B: Backend> {
    pub conv: Conv2d<B>,
    pool: MaxPool2d,
    activation: Relu,
}

/// A convolutional image classifier.
#[derive(Module, Debug)]
pub struct Cnn<B: Backend> {
    pub blocks: Vec<ConvBlock<B>>,
    pub hidden: Linear<B>,
    pub head: Linear<B>,
    dropout: Dropout,
    activation: Relu,
}

impl CnnConfig {
    /// Side lengths after the blocks (each pooling halves them, rounding down).
    pub fn output_side(&self) -> (usize, usize) {
        let halvings = self.channels.len() as u32;
        (self.height >> halvings, self.width >> halvings)
    }

    /// Why the config cannot be built, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        let (h, w) = self.output_side();
        if h == 0 || w == 0 {
            return Err(format!(
                "{} pooling blocks shrink a {}x{} image to nothing",
                self.channels.len(),
                self.height,
                self.width
            ));
        }
        if self.classes == 0 || self.hidden == 0 || self.channels.contains(&0) {
            return Err("classes, hidden and every channel count must be at least 1".into());
        }
        Ok(())
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Cnn<B> {
        if let Err(err) = self.validate() {
            panic!("invalid CNN config: {err}");
        }
        let mut input = 1;
        let blocks = self
            .channels
            .iter()
            .map(|&output| {
                let block = ConvBlock {
                    conv: Conv2dConfig::new([input, output], [3, 3])
                        .with_padding(PaddingConfig2d::Same)
                        .init(device),
                    pool: MaxPool2dConfig::new([2, 2]).init(),
                    activation: Relu::new(),
                };
                input = output;
                block
            })
            .collect();
        let (h, w) = self.output_side();
        Cnn {
            blocks,
            hidden: LinearConfig::new(input * h * w, self.hidden).init(device),
            head: LinearConfig::new(self.hidden, self.classes).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            activation: Relu::new(),
        }
    }
}

impl<B: Backend> Cnn<B> {
    /// # Shapes
    /// - `images`: `[batch, height, width]`, pixel values in `0..=1`
    /// - output: logits `[batch, classes]`
    pub fn forward(&self, images: Tensor<B, 3>) -> Tensor<B, 2> {
        let [batch, height, width] = images.dims();
        let mut x: Tensor<B, 4> = images.reshape([batch, 1, height, width]);
        for block in &self.blocks {
            x = block
                .pool
                .forward(block.activation.forward(block.conv.forward(x)));
        }
        let [_, channels, h, w] = x.dims();
        let x = x.reshape([batch, channels * h * w]);
        let x = self
            .activation
            .forward(self.hidden.forward(self.dropout.forward(x)));
        self.head.forward(self.dropout.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::tests::TestBackend as B;

    #[test]
    fn output_shape_and_pooled_sides() {
        // batch 3, 12x20 images, 7 classes: two blocks leave 3x5.
        let config = CnnConfig::new(12, 20, 7).with_channels(vec![4, 6]);
        assert_eq!(config.output_side(), (3, 5));
        let model = config.init::<B>(&Default::default());
        assert_eq!(model.hidden.weight.dims(), [6 * 3 * 5, 128]);
        let logits = model.forward(Tensor::ones([3, 12, 20], &Default::default()));
        assert_eq!(logits.dims(), [3, 7]);
    }

    #[test]
    fn too_many_blocks_for_the_image_is_an_error() {
        let config = CnnConfig::new(4, 4, 2).with_channels(vec![2, 2, 2]);
        assert!(config.validate().unwrap_err().contains("to nothing"));
    }
}
