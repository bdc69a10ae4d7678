//! The learning-rate schedule: the paper's (Noam: linear warmup, then the inverse square root
//! of the step, section 5.3), with an optional linear **cooldown** over the run's last epochs.
//!
//! The cooldown is not in the paper. Noam's rate never reaches zero, so a run stopped at a
//! budget ends at a rate that is still high, and the average of the last checkpoints is what
//! makes up for it. A cooldown (the "decay" of warmup-stable-decay schedules) scales the rate
//! down linearly over the last `optimizer.cooldown_epochs` epochs, to `1/len` of Noam's on the
//! last step: the run ends in a minimum rather than around one. Because the cooldown is a
//! function of the step and the run's length only, a run may be resumed with a cooldown it was
//! not started with (`train --resume --epochs N --cooldown-epochs C`): it is the same
//! schedule up to the cooldown's first step, and the checkpoint's record (the step) is
//! Noam's.

use burn::lr_scheduler::noam::{NoamLrScheduler, NoamLrSchedulerConfig};
use burn::lr_scheduler::LrScheduler;
use burn::optim::LearningRate;
use burn::prelude::Backend;

/// The steps a cooldown spans: the rate is Noam's up to step `start` and Noam's times
/// `(end - step + 1) / (end - start)` from `start + 1` to `end` (1 on the first of them,
/// `1 / (end - start)` on the last). Steps count from 1, as the scheduler's do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cooldown {
    pub start: usize,
    pub end: usize,
}

impl Cooldown {
    /// The last `cooldown_epochs` of `epochs` epochs of `steps_per_epoch` optimizer steps;
    /// `None` when there is no cooldown (0 epochs) or no step to cool.
    pub fn last_epochs(
        epochs: usize,
        cooldown_epochs: usize,
        steps_per_epoch: usize,
    ) -> Option<Self> {
        let cooldown_epochs = cooldown_epochs.min(epochs);
        let end = epochs * steps_per_epoch;
        let start = (epochs - cooldown_epochs) * steps_per_epoch;
        (end > start).then_some(Self { start, end })
    }

    /// What multiplies Noam's rate at `step` (1-based).
    pub fn factor(&self, step: usize) -> f64 {
        if step <= self.start {
            1.0
        } else {
            // Past `end` (a run resumed with more epochs than its cooldown was planned for)
            // the rate stays at the last step's.
            let left = self.end.saturating_sub(step) + 1;
            left as f64 / (self.end - self.start) as f64
        }
    }
}

/// Noam, then the cooldown (when there is one).
#[derive(Debug, Clone)]
pub struct Schedule {
    noam: NoamLrScheduler,
    /// Steps taken (the step the last rate was for).
    step: usize,
    cooldown: Option<Cooldown>,
}

impl Schedule {
    /// Noam with `factor`, `warmup_steps` and the model size `d_model`; an error names a
    /// warmup or model size of 0.
    pub fn new(
        factor: f64,
        warmup_steps: usize,
        d_model: usize,
        cooldown: Option<Cooldown>,
    ) -> Result<Self, String> {
        let noam = NoamLrSchedulerConfig::new(factor)
            .with_warmup_steps(warmup_steps)
            .with_model_size(d_model)
            .init()?;
        Ok(Self {
            noam,
            step: 0,
            cooldown,
        })
    }
}

impl LrScheduler for Schedule {
    /// The step, as Noam's record: checkpoints written before the cooldown existed load.
    type Record<B: Backend> = usize;

    fn step(&mut self) -> LearningRate {
        self.step += 1;
        let noam = self.noam.step();
        match &self.cooldown {
            Some(cooldown) => noam * cooldown.factor(self.step),
            None => noam,
        }
    }

    fn to_record<B: Backend>(&self) -> Self::Record<B> {
        self.step
    }

    fn load_record<B: Backend>(mut self, record: Self::Record<B>) -> Self {
        self.noam = self.noam.load_record::<B>(record);
        self.step = record;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    type B = crate::backend::Flex;

    fn noam() -> NoamLrScheduler {
        NoamLrSchedulerConfig::new(1.0)
            .with_warmup_steps(10)
            .with_model_size(256)
            .init()
            .unwrap()
    }

    fn rates(mut schedule: impl LrScheduler, steps: usize) -> Vec<f64> {
        (0..steps).map(|_| schedule.step()).collect()
    }

    #[test]
    fn without_a_cooldown_it_is_burns_noam() {
        let ours = rates(Schedule::new(1.0, 10, 256, None).unwrap(), 50);
        assert_eq!(ours, rates(noam(), 50));
        // Warmup to the peak at step 10, then the inverse square root: 256^-0.5 * 10^-0.5.
        assert!((ours[9] - 0.0625 / 10f64.sqrt()).abs() < 1e-12);
        assert!(ours[10] < ours[9] && ours[8] < ours[9]);
    }

    #[test]
    fn the_cooldown_scales_the_last_epochs_linearly() {
        // 5 epochs of 4 steps, the last 2 cooled: steps 9-16 scaled by 8/8, 7/8, ..., 1/8.
        let cooldown = Cooldown::last_epochs(5, 2, 4).unwrap();
        assert_eq!(cooldown, Cooldown { start: 12, end: 20 });
        let cooled = rates(Schedule::new(1.0, 10, 256, Some(cooldown)).unwrap(), 22);
        let plain = rates(noam(), 22);
        assert_eq!(cooled[..12], plain[..12]);
        for step in 13..=20 {
            let expected = plain[step - 1] * (21 - step) as f64 / 8.0;
            assert!(
                (cooled[step - 1] - expected).abs() < 1e-15,
                "step {step}: {} against {expected}",
                cooled[step - 1]
            );
        }
        assert!((cooled[19] - plain[19] / 8.0).abs() < 1e-15);
        // Past the planned end the rate stays at the last step's fraction.
        assert!((cooled[21] - plain[21] / 8.0).abs() < 1e-15);
    }

    #[test]
    fn no_cooldown_when_it_spans_no_step() {
        assert_eq!(Cooldown::last_epochs(5, 0, 4), None);
        assert_eq!(Cooldown::last_epochs(5, 2, 0), None);
        // A cooldown longer than the run cools the whole run.
        assert_eq!(
            Cooldown::last_epochs(3, 7, 4),
            Some(Cooldown { start: 0, end: 12 })
        );
    }

    #[test]
    fn a_resumed_schedule_continues_where_it_stopped() {
        let cooldown = Cooldown::last_epochs(6, 3, 5);
        let mut run = Schedule::new(0.5, 7, 64, cooldown).unwrap();
        let first = rates(run.clone(), 30);
        for _ in 0..17 {
            run.step();
        }
        let record = LrScheduler::to_record::<B>(&run);
        assert_eq!(record, 17);
        // A fresh schedule loading the record: what a resumed run does.
        let resumed = Schedule::new(0.5, 7, 64, cooldown)
            .unwrap()
            .load_record::<B>(record);
        assert_eq!(rates(resumed, 13), first[17..]);
        // Noam's own record (a checkpoint of a run without the cooldown) loads the same way.
        let noam_record = LrScheduler::to_record::<B>(&{
            let mut n = noam();
            for _ in 0..17 {
                n.step();
            }
            n
        });
        assert_eq!(noam_record, record);
    }
}
