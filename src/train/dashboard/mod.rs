//! The training dashboard: progress, metrics and their curves in the terminal, drawn with
//! ratatui from a thread that sleeps between updates.
//!
//! Why not burn-train's own dashboard (`TuiMetricsRendererWrapper`): its drawing thread polls
//! its event channel with `try_recv` in a loop that never sleeps (the 100 ms refresh period
//! only gates the drawing), so it holds a whole core for the whole run. On a 2-core machine it
//! cost about 40% of the training throughput; lowering that thread's priority (nice 19, then
//! `SCHED_IDLE`) won back only half of it (docs/benchmark.md, "The dashboard's cost"). This one
//! blocks on its channel with a timeout: at most 10 wake-ups a second when idle, one redraw
//! every 250 ms at most.
//!
//! It shows what burn-train's does for our metrics: per metric the running train mean of the
//! epoch and the last validation mean, text metrics (the loss check), a curve of the selected
//! metric over this epoch's iterations or over the whole run's epochs (train and valid), the
//! epoch's and the run's progress with speed and time left. `q` then `s` stops the training at
//! the end of the iteration (the checkpoints of finished epochs are kept), as before.

mod board;

use super::renderer::MetricNames;
use board::Board;
use burn::train::metric::{MetricDefinition, NumericEntry};
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};
use burn::train::{Interrupter, LearnerSummary};
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::DefaultTerminal;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the drawing thread sleeps at most (keys are read at least this often).
const TICK: Duration = Duration::from_millis(100);
/// The shortest time between two redraws caused by training events.
const REDRAW: Duration = Duration::from_millis(250);
/// Per-iteration points kept for the "this epoch" curve.
const RECENT_POINTS: usize = 2000;

/// Which pass an update belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Train,
    Valid,
}

impl Pass {
    fn name(self) -> &'static str {
        match self {
            Pass::Train => "train",
            Pass::Valid => "valid",
        }
    }
}

/// What the training thread sends to the drawing thread.
enum Update {
    Numeric {
        pass: Pass,
        name: String,
        entry: NumericEntry,
    },
    Text {
        pass: Pass,
        name: String,
        text: String,
    },
    Progress {
        pass: Pass,
        epoch: usize,
        epochs: usize,
        done: usize,
        total: usize,
    },
    Close,
}

/// The dashboard as burn-train's learner sees it: forwards updates to the drawing thread.
pub struct Dashboard {
    names: MetricNames,
    sender: Sender<Update>,
    thread: Option<JoinHandle<()>>,
    summary: Option<LearnerSummary>,
    interrupter: Interrupter,
}

impl Dashboard {
    /// Take over the terminal (alternate screen, raw mode) and start drawing. `q` then `s`
    /// asks `interrupter` to stop. Fails if the terminal cannot be set up.
    pub fn start(interrupter: Interrupter) -> std::io::Result<Self> {
        // Sets a panic hook that gives the terminal back before the message is printed.
        let terminal = ratatui::try_init()?;
        let (sender, receiver) = mpsc::channel();
        let board = Board::new(interrupter.clone());
        let thread = std::thread::Builder::new()
            .name("dashboard".into())
            .spawn(move || draw_loop(terminal, board, receiver))?;
        Ok(Self {
            names: MetricNames::default(),
            sender,
            thread: Some(thread),
            summary: None,
            interrupter,
        })
    }

    fn send(&self, update: Update) {
        // The drawing thread only ends on Close (or a terminal error): nothing to tell then.
        let _ = self.sender.send(update);
    }

    fn metric(&self, pass: Pass, state: MetricState) {
        let (entry, numeric) = match state {
            MetricState::Numeric(entry, numeric) => (entry, Some(numeric)),
            MetricState::Generic(entry) => (entry, None),
        };
        let name = self.names.name(&entry.metric_id);
        self.send(match numeric {
            Some(entry) => Update::Numeric { pass, name, entry },
            None => Update::Text {
                pass,
                name,
                text: entry.serialized_entry.formatted,
            },
        });
    }

    fn progress(&self, pass: Pass, item: &TrainingProgress) {
        let (done, total) = item
            .progress
            .as_ref()
            .map_or((0, 0), |p| (p.items_processed, p.items_total));
        self.send(Update::Progress {
            pass,
            epoch: item.global_progress.items_processed,
            epochs: item.global_progress.items_total,
            done,
            total,
        });
    }

    /// Give the terminal back and print the learner's summary below the shell prompt.
    fn close(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.send(Update::Close);
            let _ = thread.join();
            if let Some(summary) = self.summary.take() {
                println!("{summary}");
            }
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.close();
    }
}

impl MetricsRendererTraining for Dashboard {
    fn update_train(&mut self, state: MetricState) {
        self.metric(Pass::Train, state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.metric(Pass::Valid, state);
    }

    fn render_train(&mut self, item: TrainingProgress, _indicators: Vec<ProgressType>) {
        self.progress(Pass::Train, &item);
    }

    fn render_valid(&mut self, item: TrainingProgress, _indicators: Vec<ProgressType>) {
        self.progress(Pass::Valid, &item);
    }

    fn on_train_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        // As burn-train's dashboard does: a stop asked for ends this training only.
        self.interrupter.reset();
        self.summary = summary;
        Ok(())
    }
}

impl MetricsRendererEvaluation for Dashboard {
    fn update_test(&mut self, _name: EvaluationName, state: MetricState) {
        self.metric(Pass::Valid, state);
    }

    fn render_test(&mut self, item: EvaluationProgress, _indicators: Vec<ProgressType>) {
        self.progress(Pass::Valid, &TrainingProgress::from(&item));
    }
}

impl MetricsRenderer for Dashboard {
    fn manual_close(&mut self) {
        self.close();
    }

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.register(definition);
    }
}

/// Wait for updates and keys, redraw when something changed; give the terminal back at the end.
fn draw_loop(mut terminal: DefaultTerminal, mut board: Board, updates: Receiver<Update>) {
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    let mut open = true;
    while open {
        let mut force = false;
        match updates.recv_timeout(TICK) {
            Ok(update) => {
                open = board.apply(update);
                // Take everything already queued before drawing.
                while open {
                    match updates.try_recv() {
                        Ok(update) => open = board.apply(update),
                        Err(_) => break,
                    }
                }
                dirty = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
        while let Ok(true) = event::poll(Duration::ZERO) {
            match event::read() {
                Ok(Event::Key(key)) if key.kind == KeyEventKind::Press => {
                    board.key(key.code);
                    force = true;
                }
                Ok(Event::Resize(..)) => force = true,
                _ => {}
            }
        }
        let due = last_draw.is_none_or(|t| t.elapsed() >= REDRAW);
        if open && (force || (dirty && due)) {
            if terminal.draw(|frame| board.draw(frame)).is_err() {
                break;
            }
            last_draw = Some(Instant::now());
            dirty = false;
        }
    }
    ratatui::restore();
}
