//! Self-attention on images against a CNN, as the tutorial compares them: Fashion-MNIST read
//! from its IDX files ([`idx`], [`dataset`]), a classifier built from the translation model's
//! encoder layers over pixels or patches ([`image_transformer`]), a convolutional baseline
//! ([`cnn`]), both trained by burn-train's learner ([`train`]) and scored with accuracy and a
//! confusion matrix ([`evaluate`]); what a pixel attends to, drawn ([`attention_map`]).

pub mod attention_map;
pub mod classifier;
pub mod cnn;
pub mod dataset;
pub mod evaluate;
pub mod idx;
pub mod image_transformer;
pub mod train;

pub use classifier::{ClassifierConfig, ImageClassifier};
pub use dataset::{ImageBatch, ImageBatcher, ImageSet, Split, FASHION_CLASSES};
pub use evaluate::{evaluate, Evaluation};
pub use train::{ImageData, ImageReport, ImageTrainConfig, ImageTrainOptions};
