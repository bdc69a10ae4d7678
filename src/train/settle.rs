//! Waiting for burn-train's metric bookkeeping to catch up before the decisions that read it.
//!
//! burn-train 0.21 processes metric events on a background thread, which forwards them to an
//! event store on another thread. Right after each validation epoch the training thread asks
//! that store which epoch has the lowest validation loss (to keep the best checkpoint) and
//! whether the loss has stopped improving (early stopping). Its question can overtake the
//! epoch's last events, and then it is answered from a part-aggregated validation loss: a
//! wrong checkpoint kept, or training stopped an epoch early (the likely cause of a CI run of
//! 12 epochs that ended after 11).
//!
//! [`ValidEpochs`] is a validation metric that only counts finished validation epochs:
//! burn-train clears validation metrics right after it has queued the epoch's end to the
//! store, so once the count reaches an epoch, any store query sent afterwards is answered with
//! that epoch complete. [`Settled`] wraps the checkpointing strategy and waits for that count;
//! early stopping runs after checkpointing in every burn-train strategy, so it is covered too.

use burn::prelude::*;
use burn::train::checkpoint::{CheckpointingAction, CheckpointingStrategy};
use burn::train::metric::store::EventStoreClient;
use burn::train::metric::{Adaptor, Metric, MetricMetadata, MetricName, SerializedEntry};
use burn::train::SequenceOutput;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The metric's input: nothing but the fact that a validation batch was processed.
pub struct Seen;

impl<B: Backend> Adaptor<Seen> for SequenceOutput<B> {
    fn adapt(&self) -> Seen {
        Seen
    }
}

/// Counts validation epochs whose events have all been handed to the event store.
#[derive(Clone)]
pub struct ValidEpochs {
    /// Epochs finished before this run started (a resumed run starts after its checkpoint).
    offset: usize,
    /// Validation epochs cleared in this run, and the condition that announces each.
    cleared: Arc<(Mutex<usize>, Condvar)>,
    name: MetricName,
}

/// How long [`Settled`] waits for an epoch's metrics before deciding anyway. The metric
/// thread lags the training thread by a few batches, so this is only reached if it is stuck.
const PATIENCE: Duration = Duration::from_secs(600);

impl ValidEpochs {
    /// `resumed_after`: the epoch the run resumes from (0 for a fresh run).
    pub fn new(resumed_after: usize) -> Self {
        Self {
            offset: resumed_after,
            cleared: Arc::new((Mutex::new(0), Condvar::new())),
            name: Arc::new("Dev batches".to_string()),
        }
    }

    /// Blocks until the validation events of `epoch` are with the event store, or until
    /// `timeout`; returns whether they are.
    pub fn wait_for(&self, epoch: usize, timeout: Duration) -> bool {
        let (count, announce) = &*self.cleared;
        let count = count.lock().unwrap_or_else(|p| p.into_inner());
        let (count, _) = announce
            .wait_timeout_while(count, timeout, |cleared| self.offset + *cleared < epoch)
            .unwrap_or_else(|p| p.into_inner());
        self.offset + *count >= epoch
    }
}

impl Metric for ValidEpochs {
    type Input = Seen;

    fn update(&mut self, _seen: &Seen, metadata: &MetricMetadata) -> SerializedEntry {
        let batches = metadata.progress.items_processed;
        SerializedEntry::new(batches.to_string(), batches.to_string())
    }

    /// Called by burn-train once per validation epoch, after the epoch's end went to the store.
    fn clear(&mut self) {
        let (count, announce) = &*self.cleared;
        *count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        announce.notify_all();
    }

    fn name(&self) -> MetricName {
        self.name.clone()
    }
}

/// A checkpointing strategy that decides only once the epoch's validation metrics are in.
pub struct Settled<S> {
    inner: S,
    epochs: ValidEpochs,
}

impl<S: CheckpointingStrategy> Settled<S> {
    pub fn new(inner: S, epochs: ValidEpochs) -> Self {
        Self { inner, epochs }
    }
}

impl<S: CheckpointingStrategy> CheckpointingStrategy for Settled<S> {
    fn checkpointing(
        &mut self,
        epoch: usize,
        store: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        if !self.epochs.wait_for(epoch, PATIENCE) {
            eprintln!(
                "warning: the validation metrics of epoch {epoch} are not in after {PATIENCE:?}; choosing checkpoints without them"
            );
        }
        self.inner.checkpointing(epoch, store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn waiting_ends_when_the_epoch_is_cleared_and_not_before() {
        let epochs = ValidEpochs::new(3);
        assert!(epochs.wait_for(3, Duration::ZERO), "resumed epochs count");
        assert!(!epochs.wait_for(4, Duration::from_millis(20)));
        let mut metric = epochs.clone();
        let clearer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            metric.clear();
        });
        let started = Instant::now();
        assert!(epochs.wait_for(4, Duration::from_secs(30)));
        assert!(started.elapsed() >= Duration::from_millis(40));
        clearer.join().unwrap();
        assert!(!epochs.wait_for(5, Duration::ZERO));
    }
}
