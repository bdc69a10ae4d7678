//! Stop training when the loss stops being a number.
//!
//! burn-train has no hook between steps, so the check is a metric: it sees every training
//! step's loss and asks the learner's interrupter to stop at the first NaN or infinity. The
//! epoch in progress is then not checkpointed; the previous checkpoints are kept.

use burn::prelude::*;
use burn::train::metric::{Adaptor, Metric, MetricMetadata, MetricName, SerializedEntry};
use burn::train::{Interrupter, SequenceOutput};
use std::sync::{Arc, Mutex};

/// The mean loss of one step.
pub struct StepLoss(f64);

impl<B: Backend> Adaptor<StepLoss> for SequenceOutput<B> {
    fn adapt(&self) -> StepLoss {
        StepLoss(self.loss.clone().mean().into_scalar().elem::<f64>())
    }
}

/// The metric that watches the loss.
#[derive(Clone)]
pub struct DivergenceGuard {
    interrupter: Interrupter,
    tripped: Arc<Mutex<Option<f64>>>,
    name: MetricName,
}

impl DivergenceGuard {
    pub fn new(interrupter: Interrupter) -> Self {
        Self {
            interrupter,
            tripped: Arc::new(Mutex::new(None)),
            name: Arc::new("Loss check".to_string()),
        }
    }

    /// The non-finite loss that stopped training, if one did.
    pub fn tripped(&self) -> Option<f64> {
        *self.tripped.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Metric for DivergenceGuard {
    type Input = StepLoss;

    fn update(&mut self, loss: &StepLoss, _metadata: &MetricMetadata) -> SerializedEntry {
        if !loss.0.is_finite() {
            let mut tripped = self.tripped.lock().unwrap_or_else(|p| p.into_inner());
            if tripped.is_none() {
                *tripped = Some(loss.0);
                self.interrupter
                    .stop(Some(&format!("the loss became {}", loss.0)));
            }
            return SerializedEntry::new(format!("loss is {}", loss.0), "diverged".into());
        }
        SerializedEntry::new("finite".into(), "ok".into())
    }

    fn clear(&mut self) {}

    fn name(&self) -> MetricName {
        self.name.clone()
    }
}
