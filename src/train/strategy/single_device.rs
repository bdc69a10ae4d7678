//! Plain training on one device.

use super::{Components, Strategy};
use burn::tensor::backend::AutodiffBackend;
use burn::train::{ExecutionStrategy, TrainingStrategy};

/// Every step on one device.
pub struct SingleDevice<B: AutodiffBackend>(pub B::Device);

impl<B: AutodiffBackend> Strategy<B> for SingleDevice<B> {
    fn main_device(&self) -> B::Device {
        self.0.clone()
    }

    fn describe(&self) -> Option<String> {
        None
    }

    fn training_strategy(&self) -> TrainingStrategy<Components<B>> {
        TrainingStrategy::Default(ExecutionStrategy::SingleDevice(self.0.clone()))
    }
}
