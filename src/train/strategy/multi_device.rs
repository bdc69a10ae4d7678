//! Data-parallel training over several devices of one machine (burn-train's multi-device
//! strategy): each device computes the gradients of its own batches, and the optimizer step is
//! taken on the first device.

use super::{Components, Strategy};
use burn::tensor::backend::AutodiffBackend;
use burn::train::{ExecutionStrategy, MultiDeviceOptim, TrainingStrategy};

/// Several devices of this machine, the first holding the optimizer state.
pub struct MultiDevice<B: AutodiffBackend> {
    devices: Vec<B::Device>,
}

impl<B: AutodiffBackend> MultiDevice<B> {
    /// `None` when `devices` is empty.
    pub fn new(devices: Vec<B::Device>) -> Option<Self> {
        (!devices.is_empty()).then_some(Self { devices })
    }
}

impl<B: AutodiffBackend> Strategy<B> for MultiDevice<B> {
    fn main_device(&self) -> B::Device {
        self.devices[0].clone()
    }

    fn describe(&self) -> Option<String> {
        Some(format!(
            "data-parallel training on {} devices",
            self.devices.len()
        ))
    }

    /// burn-train steps the schedule once a round of one batch per device.
    fn steps_per_epoch(&self, batches: usize) -> usize {
        batches.div_ceil(self.devices.len())
    }

    fn training_strategy(&self) -> TrainingStrategy<Components<B>> {
        TrainingStrategy::Default(ExecutionStrategy::MultiDevice(
            self.devices.clone(),
            MultiDeviceOptim::OptimMainDevice,
        ))
    }
}
