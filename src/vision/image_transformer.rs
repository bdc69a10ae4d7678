//! Self-attention on images, as the tutorial describes it: each pixel (or each square patch
//! of pixels, the ViT way: Dosovitskiy et al. 2021) is one vector, the whole image a set of
//! vectors fed to the same encoder layers that read sentences ([`crate::model::EncoderLayer`]),
//! then one vector for the whole image (a class token, or the mean) and a linear layer over
//! the classes.
//!
//! A CNN sees a fixed neighbourhood per layer; here every token attends to every other from
//! the first layer on, and what it attends to is learned (`seq2seq attention` draws it).
//!
//! Deviations from the translation Transformer, as ViT makes them: pre-norm layers with a final
//! LayerNorm (the encoder's `norm_first` and `final_norm`), and no embedding scale.

use crate::model::dropout::{Dropout, DropoutConfig};
use crate::model::positional::sinusoid_table;
use crate::model::{Activation, Encoder, EncoderConfig};
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// How a token knows where in the image it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ImagePositions {
    /// Fixed: the paper's sinusoids of the row in the first half of the vector, of the
    /// column in the second.
    #[default]
    Sinusoidal,
    /// A learned vector per grid cell.
    Learned,
}

/// How the tokens become one vector for the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// A learned extra token in front (BERT's and ViT's `[CLS]`): its output is the image's.
    #[default]
    Class,
    /// The mean of every token's output.
    Mean,
}

/// Configuration of an [`ImageTransformer`].
#[derive(Config, Debug)]
pub struct ImageTransformerConfig {
    /// Image side lengths in pixels (after any downsampling).
    pub height: usize,
    pub width: usize,
    pub classes: usize,
    /// Side of the square patch one token covers: 1 = every pixel a token (the tutorial's
    /// version); 4 or 7 = ViT's patches. Must divide both sides.
    #[config(default = 4)]
    pub patch: usize,
    #[config(default = 64)]
    pub d_model: usize,
    #[config(default = 4)]
    pub n_heads: usize,
    #[config(default = 128)]
    pub d_ff: usize,
    #[config(default = 2)]
    pub n_layers: usize,
    #[config(default = 0.1)]
    pub dropout: f64,
    #[config(default = "ImagePositions::Sinusoidal")]
    pub positions: ImagePositions,
    #[config(default = "Pooling::Class")]
    pub pooling: Pooling,
}

/// The position vectors of the grid, one variant per [`ImagePositions`].
#[derive(Module, Debug)]
pub enum GridPositions<B: Backend> {
    /// `[tokens, d_model]`, a constant (not saved, no gradient).
    Sinusoidal(Tensor<B, 2>),
    /// One learned vector per grid cell.
    Learned(Embedding<B>),
}

/// A self-attention image classifier.
#[derive(Module, Debug)]
pub struct ImageTransformer<B: Backend> {
    /// A patch's pixels (`patch * patch` values) to a `d_model` vector.
    pub embed: Linear<B>,
    pub positions: GridPositions<B>,
    /// The class token (one learned vector), with [`Pooling::Class`].
    pub class_token: Option<Embedding<B>>,
    pub encoder: Encoder<B>,
    pub head: Linear<B>,
    dropout: Dropout,
    patch: usize,
}

/// What the classifier computes for a batch of images.
#[derive(Debug, Clone)]
pub struct ImageOutput<B: Backend> {
    /// `[batch, classes]`
    pub logits: Tensor<B, 2>,
    /// Self-attention weights per layer, each `[batch, n_heads, tokens, tokens]` (the class
    /// token, if any, first).
    pub weights: Vec<Tensor<B, 4>>,
}

/// Why a configuration cannot be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImageConfigError {
    #[error("patch {patch} does not divide the {height}x{width} image")]
    Patch {
        patch: usize,
        height: usize,
        width: usize,
    },
    #[error("d_model {d_model} is not divisible by n_heads {n_heads}")]
    Heads { d_model: usize, n_heads: usize },
    #[error(
        "sinusoidal grid positions need an even d_model (half for rows, half for columns), not {0}"
    )]
    OddWidth(usize),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

impl ImageTransformerConfig {
    /// Tokens per image (without the class token): `(height / patch) * (width / patch)`.
    pub fn grid(&self) -> (usize, usize) {
        (self.height / self.patch, self.width / self.patch)
    }

    pub fn validate(&self) -> Result<(), ImageConfigError> {
        for (name, value) in [
            ("patch", self.patch),
            ("classes", self.classes),
            ("d_model", self.d_model),
            ("n_heads", self.n_heads),
            ("n_layers", self.n_layers),
            ("height", self.height),
            ("width", self.width),
        ] {
            if value == 0 {
                return Err(ImageConfigError::Zero(name));
            }
        }
        if !self.height.is_multiple_of(self.patch) || !self.width.is_multiple_of(self.patch) {
            return Err(ImageConfigError::Patch {
                patch: self.patch,
                height: self.height,
                width: self.width,
            });
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return Err(ImageConfigError::Heads {
                d_model: self.d_model,
                n_heads: self.n_heads,
            });
        }
        if self.positions == ImagePositions::Sinusoidal && !self.d_model.is_multiple_of(2) {
            return Err(ImageConfigError::OddWidth(self.d_model));
        }
        Ok(())
    }

    /// The 2-D sinusoidal table: row `r * cols + c` is `[sin/cos(r) | sin/cos(c)]`, each
    /// half the paper's table at width `d_model / 2`.
    pub fn sinusoid_grid(&self) -> Vec<f32> {
        let (rows, cols) = self.grid();
        let half = self.d_model / 2;
        let by_row = sinusoid_table(rows, half);
        let by_col = sinusoid_table(cols, half);
        let mut table = Vec::with_capacity(rows * cols * self.d_model);
        for r in 0..rows {
            for c in 0..cols {
                table.extend_from_slice(&by_row[r * half..(r + 1) * half]);
                table.extend_from_slice(&by_col[c * half..(c + 1) * half]);
            }
        }
        table
    }

    /// A fresh model. Panics on an invalid config: call [`Self::validate`] first where the
    /// config comes from a user.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ImageTransformer<B> {
        if let Err(err) = self.validate() {
            panic!("invalid image transformer config: {err}");
        }
        let (rows, cols) = self.grid();
        let tokens = rows * cols;
        let positions = match self.positions {
            ImagePositions::Sinusoidal => GridPositions::Sinusoidal(Tensor::from_data(
                TensorData::new(self.sinusoid_grid(), [tokens, self.d_model]),
                device,
            )),
            ImagePositions::Learned => {
                GridPositions::Learned(EmbeddingConfig::new(tokens, self.d_model).init(device))
            }
        };
        ImageTransformer {
            embed: LinearConfig::new(self.patch * self.patch, self.d_model).init(device),
            positions,
            class_token: (self.pooling == Pooling::Class)
                .then(|| EmbeddingConfig::new(1, self.d_model).init(device)),
            encoder: EncoderConfig::new(self.d_model, self.n_heads, self.d_ff)
                .with_n_layers(self.n_layers)
                .with_dropout(self.dropout)
                .with_activation(Activation::Gelu)
                .with_norm_first(true)
                .with_final_norm(true)
                .init(device),
            head: LinearConfig::new(self.d_model, self.classes).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            patch: self.patch,
        }
    }
}

impl<B: Backend> ImageTransformer<B> {
    /// Side of the square patch one token covers (1: pixels).
    pub fn patch_size(&self) -> usize {
        self.patch
    }

    /// Cut images into patches, row by row: token `r * cols + c` holds the patch at grid row
    /// `r`, column `c`, its pixels row-major.
    ///
    /// # Shapes
    /// - `images`: `[batch, height, width]`
    /// - output: `[batch, (height / patch) * (width / patch), patch * patch]`
    pub fn patches(&self, images: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, height, width] = images.dims();
        let p = self.patch;
        let (rows, cols) = (height / p, width / p);
        images
            .reshape([batch, rows, p, cols, p])
            .swap_dims(2, 3)
            .reshape([batch, rows * cols, p * p])
    }

    /// # Shapes
    /// - `images`: `[batch, height, width]`, pixel values in `0..=1`
    /// - output: logits `[batch, classes]`, weights per layer `[batch, n_heads, tokens, tokens]`
    pub fn forward(&self, images: Tensor<B, 3>) -> ImageOutput<B> {
        let [batch, _height, _width] = images.dims();
        let x = self.embed.forward(self.patches(images)); // [batch, tokens, d_model]
        let [_, tokens, d_model] = x.dims();
        let positions = match &self.positions {
            GridPositions::Sinusoidal(table) => table.clone(),
            GridPositions::Learned(embedding) => embedding.weight.val(),
        };
        let x = x + positions.reshape([1, tokens, d_model]);
        let x = match &self.class_token {
            Some(token) => {
                let token = token.weight.val().reshape([1, 1, d_model]);
                Tensor::cat(vec![token.expand([batch, 1, d_model]), x], 1)
            }
            None => x,
        };
        let out = self.encoder.forward(self.dropout.forward(x), None);
        let pooled = match self.class_token {
            Some(_) => out.memory.narrow(1, 0, 1).reshape([batch, d_model]),
            None => out.memory.mean_dim(1).reshape([batch, d_model]),
        };
        ImageOutput {
            logits: self.head.forward(pooled),
            weights: out.self_weights,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::tests::TestBackend as B;

    #[test]
    fn patches_are_cut_row_by_row() {
        let config = ImageTransformerConfig::new(4, 6, 3).with_patch(2);
        let model = config.init::<B>(&Default::default());
        // Pixel value = its index in the 4x6 image.
        let image = Tensor::<B, 1, Int>::arange(0..24, &Default::default())
            .float()
            .reshape([1, 4, 6]);
        let patches = model.patches(image);
        assert_eq!(patches.dims(), [1, 6, 4]);
        let values: Vec<f32> = patches.into_data().to_vec().unwrap();
        // Token 0: rows 0-1, columns 0-1; token 4: rows 2-3, columns 2-3.
        assert_eq!(&values[0..4], &[0.0, 1.0, 6.0, 7.0]);
        assert_eq!(&values[16..20], &[14.0, 15.0, 20.0, 21.0]);
    }

    #[test]
    fn output_shapes_for_pixels_and_patches() {
        let device = Default::default();
        // batch 2, 8x12 images, 5 classes, 3 heads.
        let images = Tensor::<B, 3>::ones([2, 8, 12], &device);
        for (patch, pooling, tokens) in [(1, Pooling::Class, 97), (4, Pooling::Mean, 6)] {
            let model = ImageTransformerConfig::new(8, 12, 5)
                .with_patch(patch)
                .with_d_model(24)
                .with_n_heads(3)
                .with_pooling(pooling)
                .init::<B>(&device);
            let out = model.forward(images.clone());
            assert_eq!(out.logits.dims(), [2, 5]);
            assert_eq!(out.weights.len(), 2);
            assert_eq!(out.weights[0].dims(), [2, 3, tokens, tokens]);
        }
    }

    #[test]
    fn grid_positions_differ_along_rows_and_columns() {
        let config = ImageTransformerConfig::new(4, 4, 2)
            .with_patch(2)
            .with_d_model(8);
        let table = config.sinusoid_grid();
        let row = |t: usize| &table[t * 8..(t + 1) * 8];
        // Tokens 0 (0,0) and 1 (0,1) share the row half; 0 and 2 (1,0) the column half.
        assert_eq!(row(0)[..4], row(1)[..4]);
        assert_ne!(row(0)[4..], row(1)[4..]);
        assert_eq!(row(0)[4..], row(2)[4..]);
        assert_ne!(row(0)[..4], row(2)[..4]);
    }

    #[test]
    fn invalid_configs_are_named() {
        let config = ImageTransformerConfig::new(28, 28, 10).with_patch(5);
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("patch 5"));
        let config = ImageTransformerConfig::new(28, 28, 10).with_d_model(30);
        assert!(matches!(
            config.validate(),
            Err(ImageConfigError::Heads { .. })
        ));
    }
}
