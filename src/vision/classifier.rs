//! One image classifier type for the learner, whichever model it is (self-attention or CNN),
//! its config as it is saved, and the training and validation steps (cross-entropy over the
//! classes).

use super::cnn::{Cnn, CnnConfig};
use super::image_transformer::{ImageConfigError, ImageTransformer, ImageTransformerConfig};
use super::ImageBatch;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use serde::{Deserialize, Serialize};

/// Which model, with its settings (saved as the model directory's `config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ClassifierConfig {
    /// Self-attention over pixels or patches ([`ImageTransformer`]).
    Transformer(ImageTransformerConfig),
    /// The convolutional baseline ([`Cnn`]).
    Cnn(CnnConfig),
}

impl ClassifierConfig {
    /// The model in words, for tables and logs.
    pub fn describe(&self) -> String {
        match self {
            ClassifierConfig::Transformer(c) if c.patch == 1 => format!(
                "self-attention over pixels ({}x{} tokens), {} layers, d_model {}",
                c.height, c.width, c.n_layers, c.d_model
            ),
            ClassifierConfig::Transformer(c) => format!(
                "self-attention over {0}x{0} patches, {1} layers, d_model {2}",
                c.patch, c.n_layers, c.d_model
            ),
            ClassifierConfig::Cnn(c) => format!("CNN, channels {:?}", c.channels),
        }
    }

    /// Why the config cannot be built, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ClassifierConfig::Transformer(c) => {
                c.validate().map_err(|e: ImageConfigError| e.to_string())
            }
            ClassifierConfig::Cnn(c) => c.validate(),
        }
    }

    pub fn classes(&self) -> usize {
        match self {
            ClassifierConfig::Transformer(c) => c.classes,
            ClassifierConfig::Cnn(c) => c.classes,
        }
    }

    /// Image side lengths the model reads.
    pub fn image_size(&self) -> (usize, usize) {
        match self {
            ClassifierConfig::Transformer(c) => (c.height, c.width),
            ClassifierConfig::Cnn(c) => (c.height, c.width),
        }
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> ImageClassifier<B> {
        match self {
            ClassifierConfig::Transformer(c) => ImageClassifier::Transformer(c.init(device)),
            ClassifierConfig::Cnn(c) => ImageClassifier::Cnn(c.init(device)),
        }
    }
}

/// An image classifier: what burn-train trains and checkpoints. (One value per run, so the
/// variants' different sizes cost nothing; boxing them would hide them from the derive.)
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum ImageClassifier<B: Backend> {
    Transformer(ImageTransformer<B>),
    Cnn(Cnn<B>),
}

impl<B: Backend> ImageClassifier<B> {
    /// # Shapes
    /// - `images`: `[batch, height, width]`; output `[batch, classes]`
    pub fn logits(&self, images: Tensor<B, 3>) -> Tensor<B, 2> {
        match self {
            ImageClassifier::Transformer(model) => model.forward(images).logits,
            ImageClassifier::Cnn(model) => model.forward(images),
        }
    }

    /// Logits and the cross-entropy against the labels.
    pub fn forward_loss(&self, batch: ImageBatch<B>) -> ClassificationOutput<B> {
        let logits = self.logits(batch.images);
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.labels.clone());
        ClassificationOutput {
            loss,
            output: logits,
            targets: batch.labels,
        }
    }
}

impl<B: AutodiffBackend> TrainStep for ImageClassifier<B> {
    type Input = ImageBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: ImageBatch<B>) -> TrainOutput<ClassificationOutput<B>> {
        let output = self.forward_loss(batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl<B: Backend> InferenceStep for ImageClassifier<B> {
    type Input = ImageBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: ImageBatch<B>) -> ClassificationOutput<B> {
        self.forward_loss(batch)
    }
}
