//! The training-strategy seam: how the learner's steps are spread over devices and processes.
//!
//! A strategy says which device holds the model, what burn-train's learner is told, and
//! whether this process is the one that writes checkpoints and the final model. Each strategy
//! is one file here; `train::run_with` takes any of them. Today: [`SingleDevice`],
//! [`MultiDevice`] (several devices of one machine) and [`Collective`] (one node of several
//! machines).

mod collective;
mod multi_device;
mod single_device;

pub use collective::{Collective, NodeConfig, NodeError};
pub use multi_device::MultiDevice;
pub use single_device::SingleDevice;

use super::schedule::Schedule;
use super::Seq2SeqTrainer;
use crate::data::batcher::EncodedPair;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::Adam;
use burn::tensor::backend::AutodiffBackend;
use burn::train::{LearningComponentsMarker, TrainingStrategy};
use std::path::{Path, PathBuf};

/// What burn-train's learner trains: our model, Adam and the schedule (Noam, optionally cooled
/// down).
pub type Components<B> = LearningComponentsMarker<
    B,
    Schedule,
    Seq2SeqTrainer<B>,
    OptimizerAdaptor<Adam, Seq2SeqTrainer<B>, B>,
>;

/// How training is spread over hardware.
pub trait Strategy<B: AutodiffBackend> {
    /// The device the model is initialised on and batches are loaded to.
    fn main_device(&self) -> B::Device;
    /// A line for the log, if the strategy is worth naming.
    fn describe(&self) -> Option<String>;
    /// What burn-train's learner is told.
    fn training_strategy(&self) -> TrainingStrategy<Components<B>>;
    /// Whether this process writes the final model and the report (one process of several
    /// does).
    fn is_leader(&self) -> bool {
        true
    }
    /// This process's share of the training batches (all of them by default).
    fn shard(&self, batches: Vec<Vec<EncodedPair>>) -> Vec<Vec<EncodedPair>> {
        batches
    }
    /// Optimizer steps an epoch of `batches` batches (this process's share) takes: one a
    /// batch by default (the learning-rate schedule counts them).
    fn steps_per_epoch(&self, batches: usize) -> usize {
        batches
    }
    /// The last epoch finished, where the strategy knows it better than the checkpoints in
    /// this process's run directory (a process that writes none).
    fn epochs_done(&self) -> Option<usize> {
        None
    }
    /// Where burn-train writes this process's metric logs (the run directory by default).
    fn log_dir(&self, run: &Path) -> PathBuf {
        run.to_path_buf()
    }
    /// Why training failed, if the strategy stopped it.
    fn failure(&self) -> Option<String> {
        None
    }
}
