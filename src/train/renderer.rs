//! A plain-text progress renderer for when there is no terminal (CI, pipes) or `--plain` is
//! given: a line every few seconds and one per finished epoch, with metric values.
//! (burn-train's own fallback prints a `TrainingProgress { .. }` debug line per batch.)

use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Running means of the metrics of one split within the current epoch.
#[derive(Default)]
pub(crate) struct Running {
    sums: BTreeMap<String, (f64, f64)>,
}

/// A numeric entry's value and the number of items it stands for.
pub(crate) fn value_and_count(entry: &NumericEntry) -> (f64, f64) {
    match entry {
        NumericEntry::Value(v) => (*v, 1.0),
        NumericEntry::Aggregated {
            aggregated_value,
            count,
        } => (*aggregated_value, *count as f64),
    }
}

/// Metric names by id, as the learner registers them.
#[derive(Default)]
pub(crate) struct MetricNames(HashMap<MetricId, String>);

impl MetricNames {
    pub(crate) fn register(&mut self, definition: MetricDefinition) {
        self.0.insert(definition.metric_id, definition.name);
    }

    /// The registered name of `id` ("metric" for one never registered).
    pub(crate) fn name(&self, id: &MetricId) -> String {
        self.0
            .get(id)
            .cloned()
            .unwrap_or_else(|| "metric".to_string())
    }
}

impl Running {
    pub(crate) fn add(&mut self, name: &str, entry: &NumericEntry) {
        let (value, count) = value_and_count(entry);
        if value.is_finite() || value.is_nan() {
            let slot = self.sums.entry(name.to_string()).or_insert((0.0, 0.0));
            slot.0 += value * count;
            slot.1 += count;
        }
    }

    fn line(&self) -> String {
        self.sums
            .iter()
            .filter(|(_, (_, n))| *n > 0.0)
            .map(|(name, (sum, n))| format!("{name} {}", format_value(name, sum / n)))
            .collect::<Vec<_>>()
            .join("  ")
    }
}

pub(crate) fn format_value(name: &str, value: f64) -> String {
    if name.to_lowercase().contains("learning rate") {
        format!("{value:.2e}")
    } else {
        format!("{value:.4}")
    }
}

/// Prints compact progress lines to stdout.
pub struct PlainRenderer {
    names: MetricNames,
    train: Running,
    valid: Running,
    last_print: Instant,
    every: Duration,
    epoch: usize,
    started: Instant,
    /// The (split, epoch) whose end line was printed: with several devices every worker
    /// reports the end of the epoch, and it is printed once.
    last_done: Option<(bool, usize)>,
}

impl PlainRenderer {
    /// A renderer that prints at most one progress line per `every`, plus one per epoch end.
    pub fn new(every: Duration) -> Self {
        Self {
            names: MetricNames::default(),
            train: Running::default(),
            valid: Running::default(),
            last_print: Instant::now(),
            every,
            epoch: 0,
            started: Instant::now(),
            last_done: None,
        }
    }

    fn record(&mut self, valid: bool, state: MetricState) {
        if let MetricState::Numeric(entry, numeric) = state {
            let name = self.names.name(&entry.metric_id);
            let running = if valid {
                &mut self.valid
            } else {
                &mut self.train
            };
            running.add(&name, &numeric);
        }
    }

    fn render(&mut self, split: &str, item: &TrainingProgress) {
        let epoch = item.global_progress.items_processed;
        let epochs = item.global_progress.items_total;
        if epoch != self.epoch {
            self.epoch = epoch;
            self.train = Running::default();
            self.valid = Running::default();
        }
        let Some(progress) = &item.progress else {
            return;
        };
        let done = progress.items_processed >= progress.items_total;
        if !done && self.last_print.elapsed() < self.every {
            return;
        }
        // The validation pass prints only its end-of-epoch line.
        if split == "valid" && !done {
            return;
        }
        if done {
            let key = (split == "valid", epoch);
            if self.last_done == Some(key) {
                return;
            }
            self.last_done = Some(key);
        }
        self.last_print = Instant::now();
        let running = if split == "valid" {
            &self.valid
        } else {
            &self.train
        };
        let pct = 100.0 * progress.items_processed as f64 / progress.items_total.max(1) as f64;
        println!(
            "[{split}] epoch {epoch}/{epochs} {pct:5.1}% ({}/{})  {}  [{:.0}s]",
            progress.items_processed,
            progress.items_total,
            running.line(),
            self.started.elapsed().as_secs_f64()
        );
    }
}

impl MetricsRendererTraining for PlainRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(false, state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(true, state);
    }

    fn render_train(&mut self, item: TrainingProgress, _indicators: Vec<ProgressType>) {
        self.render("train", &item);
    }

    fn render_valid(&mut self, item: TrainingProgress, _indicators: Vec<ProgressType>) {
        self.render("valid", &item);
    }
}

impl MetricsRendererEvaluation for PlainRenderer {
    fn update_test(&mut self, _name: EvaluationName, state: MetricState) {
        self.record(true, state);
    }

    fn render_test(&mut self, item: EvaluationProgress, _indicators: Vec<ProgressType>) {
        self.render("test", &TrainingProgress::from(&item));
    }
}

impl MetricsRenderer for PlainRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.register(definition);
    }
}
