//! burn-train's learning strategy for one node: the handshake, the epochs loop with one
//! gradient all-reduce per step, and the end-of-epoch agreement (see the module docs).

use super::flat::{flatten, pieces, weights_hash, PutGrads, TakeGrads, Unflatten};
use super::session::{Inner, Session};
use super::{Components, NodeConfig, NodeError, NodeState};
use crate::data::Seq2SeqBatch;
use crate::train::Seq2SeqTrainer;
use burn::data::dataloader::Progress;
use burn::module::{AutodiffModule, Module};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::train::metric::store::EventStoreClient;
use burn::train::{
    CloneEarlyStoppingStrategy, EventProcessorTraining, InferenceStep, Learner, LearnerEvent,
    LearningCheckpointer, SupervisedLearningStrategy, SupervisedTrainingEventProcessor,
    TrainLoader, TrainingComponents, TrainingItem, ValidLoader,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// burn-train's learning strategy for one node (see the module docs).
pub(super) struct CollectiveLearning<B: AutodiffBackend> {
    pub(super) device: B::Device,
    pub(super) node: NodeConfig,
    pub(super) state: Arc<NodeState>,
}

/// Where a node's training steps spend their time, printed when it finishes.
#[derive(Default)]
struct StepTimes {
    steps: usize,
    /// Forward and backward.
    compute: Duration,
    /// Flattening, the gradient all-reduce and putting the gradients back.
    all_reduce: Duration,
    /// Floats all-reduced per step (gradients, count and flag).
    floats: usize,
}

impl StepTimes {
    fn report(&self, rank: u32) -> String {
        let steps = self.steps.max(1) as f64;
        format!(
            "node {rank}: {} steps; per step {:.1} ms forward+backward, {:.1} ms all-reducing {:.2} MB ({} floats)",
            self.steps,
            1e3 * self.compute.as_secs_f64() / steps,
            1e3 * self.all_reduce.as_secs_f64() / steps,
            self.floats as f64 * 4.0 / 1e6,
            self.floats
        )
    }
}

impl<B: AutodiffBackend> CollectiveLearning<B> {
    fn fail(&self, error: NodeError) {
        *self.state.failure.lock().expect("node state") = Some(error);
    }

    /// Ranks distinct, same starting epoch; then rank 0's weights for everyone.
    fn handshake(
        &self,
        session: &Session<B>,
        learner: &mut Learner<Components<B>>,
        starting_epoch: usize,
    ) -> Result<(), NodeError> {
        let nodes = self.node.nodes as usize;
        let mut values = vec![0.0f32; nodes + 1];
        values[self.node.rank as usize] = 1.0;
        values[nodes] = starting_epoch as f32;
        let sums = session.sum_host("exchanging ranks", values, &self.device)?;
        if sums[..nodes].iter().any(|&c| c != 1.0) {
            let seen = (0..nodes as u32)
                .filter(|&r| sums[r as usize] > 0.0)
                .collect();
            return Err(NodeError::DuplicateRank {
                rank: self.node.rank,
                nodes: self.node.nodes,
                seen,
            });
        }
        if sums[nodes] != (starting_epoch * nodes) as f32 {
            return Err(NodeError::EpochMismatch {
                rank: self.node.rank,
                mine: starting_epoch,
                mean: f64::from(sums[nodes]) / nodes as f64,
            });
        }
        // Rank 0's weights: a sum in which the others contribute zeros (x + 0 = x exactly).
        let model = learner.model();
        let mine = flatten(&model);
        let contribution = if self.node.rank == 0 {
            mine
        } else {
            mine.zeros_like()
        };
        let weights = session.sum("receiving rank 0's weights", contribution)?;
        let model = model.map(&mut Unflatten::<B> {
            flat: weights,
            offset: 0,
        });
        learner.load_model(model.into_record());
        Ok(())
    }

    /// One training epoch; returns whether any node asked to stop.
    fn train_epoch(
        &self,
        session: &Session<B>,
        learner: &mut Learner<Components<B>>,
        epochs: &Epochs<B>,
        global_progress: &Progress,
        processor: &mut SupervisedTrainingEventProcessor<Components<B>>,
        times: &mut StepTimes,
    ) -> Result<bool, NodeError> {
        let interrupter = &epochs.interrupter;
        let mut iterator = epochs.train.iter();
        let mut iteration = 0;
        while let Some(batch) = iterator.next() {
            iteration += 1;
            learner.lr_step();
            let progress = iterator.progress();
            let tokens = target_positions(&batch);
            let started = Instant::now();
            let output = learner.train_step(batch);
            let computed = Instant::now();
            times.compute += computed - started;
            let mut grads = output.grads;
            let model = learner.model();
            let mut take = TakeGrads::<B> {
                grads: &mut grads,
                parts: Vec::new(),
            };
            model.visit(&mut take);
            let flat = Tensor::cat(take.parts, 0);
            let [n] = flat.dims();
            let device = flat.device();
            // [positions * gradient, positions, stop]: summed over the nodes.
            let stop = if interrupter.should_stop() { 1.0 } else { 0.0 };
            let tail = Tensor::<Inner<B>, 1>::from_data(
                TensorData::new(vec![tokens as f32, stop], [2]),
                &device,
            );
            let summed = session.sum(
                "all-reducing the gradients",
                Tensor::cat(vec![flat.mul_scalar(tokens as f32), tail], 0),
            )?;
            let tail = summed
                .clone()
                .slice(n..n + 2)
                .into_data()
                .to_vec::<f32>()
                .expect("f32");
            let (total_tokens, stops) = (tail[0], tail[1]);
            let mean = summed.slice(0..n).div_scalar(total_tokens.max(1.0));
            model.visit(&mut PutGrads::<B> {
                grads: &mut grads,
                flat: mean,
                offset: 0,
            });
            times.all_reduce += computed.elapsed();
            times.steps += 1;
            times.floats = n + 2;
            learner.optimizer_step(grads);
            let item = TrainingItem::new(
                output.item,
                progress,
                global_progress.clone(),
                Some(iteration),
                Some(learner.lr_current()),
            );
            processor.process_train(LearnerEvent::ProcessedItem(item));
            if stops > 0.0 {
                if !interrupter.should_stop() {
                    interrupter.stop(Some("another node stopped"));
                }
                return Ok(true);
            }
        }
        processor.process_train(LearnerEvent::EndEpoch(global_progress.items_processed));
        Ok(false)
    }

    fn valid_epoch(
        &self,
        learner: &Learner<Components<B>>,
        loader: &ValidLoader<Components<B>>,
        global_progress: &Progress,
        processor: &mut SupervisedTrainingEventProcessor<Components<B>>,
    ) {
        let model = learner.model().valid();
        let mut iterator = loader.iter();
        let mut iteration = 0;
        while let Some(batch) = iterator.next() {
            let progress = iterator.progress();
            iteration += 1;
            let item = TrainingItem::new(
                model.step(batch),
                progress,
                global_progress.clone(),
                Some(iteration),
                None,
            );
            processor.process_valid(LearnerEvent::ProcessedItem(item));
        }
        processor.process_valid(LearnerEvent::EndEpoch(global_progress.items_processed));
    }

    fn run(
        &self,
        session: &Session<B>,
        mut epochs: Epochs<B>,
        learner: &mut Learner<Components<B>>,
        processor: &mut SupervisedTrainingEventProcessor<Components<B>>,
    ) -> Result<(), NodeError> {
        self.handshake(session, learner, epochs.starting_epoch)?;
        let mut times = StepTimes::default();
        let result = self.epochs(session, &mut epochs, learner, processor, &mut times);
        println!("{}", times.report(self.node.rank));
        result
    }

    fn epochs(
        &self,
        session: &Session<B>,
        epochs: &mut Epochs<B>,
        learner: &mut Learner<Components<B>>,
        processor: &mut SupervisedTrainingEventProcessor<Components<B>>,
        times: &mut StepTimes,
    ) -> Result<(), NodeError> {
        let leader = self.node.rank == 0;
        for epoch in epochs.starting_epoch..=epochs.num_epochs {
            let progress = Progress {
                items_processed: epoch,
                items_total: epochs.num_epochs,
            };
            if self.train_epoch(session, learner, epochs, &progress, processor, times)? {
                return Ok(());
            }
            let mut stop = false;
            if leader {
                self.valid_epoch(learner, &epochs.valid, &progress, processor);
                if let Some(checkpointer) = epochs.checkpointer.as_mut() {
                    checkpointer.checkpoint(learner, epoch, &epochs.event_store);
                }
                if let Some(early_stopping) = epochs.early_stopping.as_mut() {
                    stop = early_stopping.should_stop(epoch, &epochs.event_store);
                }
            }
            // The leader's decision, any interruption, and the weights' hash: all must agree.
            let hash = weights_hash(&learner.model());
            let mut values = pieces(hash);
            values.push(if stop || epochs.interrupter.should_stop() {
                1.0
            } else {
                0.0
            });
            let sums = session.sum_host("ending the epoch", values, &self.device)?;
            let nodes = self.node.nodes as f32;
            if pieces(hash)
                .iter()
                .zip(&sums)
                .any(|(mine, sum)| mine * nodes != *sum)
            {
                return Err(NodeError::WeightsDiffer {
                    rank: self.node.rank,
                    epoch,
                    mine: hash,
                });
            }
            self.state.epochs_done.store(epoch, Ordering::SeqCst);
            println!(
                "node {}: epoch {epoch} done, weights agree across {} nodes (hash {hash:016x})",
                self.node.rank, self.node.nodes
            );
            if sums[8] > 0.0 {
                break;
            }
        }
        Ok(())
    }
}

/// What the epochs loop needs of burn-train's training components.
struct Epochs<B: AutodiffBackend> {
    train: TrainLoader<Components<B>>,
    valid: ValidLoader<Components<B>>,
    starting_epoch: usize,
    num_epochs: usize,
    checkpointer: Option<LearningCheckpointer<Components<B>>>,
    early_stopping: Option<Box<dyn CloneEarlyStoppingStrategy>>,
    interrupter: burn::train::Interrupter,
    event_store: Arc<EventStoreClient>,
}

/// A batch's weight in the mean gradient: its target positions, padding included, because
/// burn's cross-entropy with pad tokens divides the summed loss of the real tokens by all
/// positions (`[batch, tgt_len]`).
fn target_positions<B: Backend>(batch: &Seq2SeqBatch<B>) -> usize {
    let [batch_size, tgt_len] = batch.tgt_out.dims();
    batch_size * tgt_len
}

impl<B: AutodiffBackend> SupervisedLearningStrategy<Components<B>> for CollectiveLearning<B> {
    fn fit(
        &self,
        components: TrainingComponents<Components<B>>,
        mut learner: Learner<Components<B>>,
        train: TrainLoader<Components<B>>,
        valid: ValidLoader<Components<B>>,
        starting_epoch: usize,
    ) -> (
        Seq2SeqTrainer<B>,
        SupervisedTrainingEventProcessor<Components<B>>,
    ) {
        learner.fork(&self.device);
        let TrainingComponents {
            num_epochs,
            checkpointer,
            interrupter,
            early_stopping,
            event_processor: mut processor,
            event_store,
            ..
        } = components;
        let epochs = Epochs {
            train: train.to_device(&self.device),
            valid: valid.to_device(&self.device),
            starting_epoch,
            num_epochs,
            checkpointer,
            early_stopping,
            interrupter,
            event_store,
        };
        self.state
            .epochs_done
            .store(starting_epoch.saturating_sub(1), Ordering::SeqCst);
        let result = Session::<B>::join(&self.node, &self.device).and_then(|session| {
            let result = self.run(&session, epochs, &mut learner, &mut processor);
            session.finish();
            result
        });
        if let Err(error) = result {
            eprintln!("error: {error}");
            self.fail(error);
        }
        (learner.model(), processor)
    }
}
