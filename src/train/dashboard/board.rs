//! The dashboard's state and drawing: what the drawing thread owns (metrics, curves,
//! progress, the stop dialog) and how it lays them out in a frame.

use super::{Pass, Update, RECENT_POINTS};
use crate::train::renderer::{format_value, value_and_count, Running};
use burn::train::Interrupter;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{
    Axis, Block, Cell, Chart, Clear, Dataset, Gauge, GraphType, Paragraph, Row, Table,
};
use ratatui::Frame;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

/// A curve on the chart: its label, its (x, y) points and its colour.
type Curve<'a> = (&'a str, &'a [(f64, f64)], Color);

/// One metric's value per finished epoch.
#[derive(Default)]
struct EpochPoints {
    train: Vec<(f64, f64)>,
    valid: Vec<(f64, f64)>,
}

/// Everything the dashboard shows, owned by the drawing thread.
pub(super) struct Board {
    interrupter: Interrupter,
    /// Numeric metrics in the order they first reported.
    metrics: Vec<String>,
    texts: BTreeMap<(String, &'static str), String>,
    train: Running,
    valid: Running,
    /// This epoch's per-iteration train values, per metric.
    recent: HashMap<String, VecDeque<(f64, f64)>>,
    history: HashMap<String, EpochPoints>,
    selected: usize,
    whole_run: bool,
    pass: Pass,
    epoch: usize,
    epochs: usize,
    done: usize,
    total: usize,
    started: Instant,
    /// When the current pass started, and how many items it had done then.
    pass_started: (Instant, usize),
    popup: bool,
    stopping: bool,
}

impl Board {
    pub(super) fn new(interrupter: Interrupter) -> Self {
        Self {
            interrupter,
            metrics: Vec::new(),
            texts: BTreeMap::new(),
            train: Running::default(),
            valid: Running::default(),
            recent: HashMap::new(),
            history: HashMap::new(),
            selected: 0,
            whole_run: false,
            pass: Pass::Train,
            epoch: 0,
            epochs: 0,
            done: 0,
            total: 0,
            started: Instant::now(),
            pass_started: (Instant::now(), 0),
            popup: false,
            stopping: false,
        }
    }

    /// Take one update; false once the dashboard is to close.
    pub(super) fn apply(&mut self, update: Update) -> bool {
        match update {
            Update::Numeric { pass, name, entry } => {
                if !self.metrics.contains(&name) {
                    self.metrics.push(name.clone());
                }
                if pass == Pass::Train {
                    let (value, _) = value_and_count(&entry);
                    let points = self.recent.entry(name.clone()).or_default();
                    if points.len() == RECENT_POINTS {
                        points.pop_front();
                    }
                    points.push_back(((self.done.max(1)) as f64, value));
                }
                match pass {
                    Pass::Train => self.train.add(&name, &entry),
                    Pass::Valid => self.valid.add(&name, &entry),
                }
            }
            Update::Text { pass, name, text } => {
                self.texts.insert((name, pass.name()), text);
            }
            Update::Progress {
                pass,
                epoch,
                epochs,
                done,
                total,
            } => {
                if epoch != self.epoch {
                    self.end_epoch();
                    self.epoch = epoch;
                }
                if pass != self.pass || done < self.done {
                    self.pass_started = (Instant::now(), done);
                }
                self.pass = pass;
                self.epochs = epochs;
                self.done = done;
                self.total = total;
            }
            Update::Close => return false,
        }
        true
    }

    /// Move the epoch's means into the history and start the next epoch afresh.
    fn end_epoch(&mut self) {
        if self.epoch > 0 {
            let x = self.epoch as f64;
            for name in &self.metrics {
                let points = self.history.entry(name.clone()).or_default();
                if let Some(v) = self.train.mean(name) {
                    points.train.push((x, v));
                }
                if let Some(v) = self.valid.mean(name) {
                    points.valid.push((x, v));
                }
            }
        }
        self.train = Running::default();
        self.valid = Running::default();
        self.recent.clear();
    }

    pub(super) fn key(&mut self, code: KeyCode) {
        if self.popup {
            match code {
                KeyCode::Char('s') => {
                    self.interrupter.stop(None);
                    self.stopping = true;
                    self.popup = false;
                }
                KeyCode::Char('c') | KeyCode::Esc | KeyCode::Char('q') => self.popup = false,
                _ => {}
            }
            return;
        }
        let n = self.metrics.len().max(1);
        match code {
            KeyCode::Char('q') => self.popup = true,
            KeyCode::Right => self.selected = (self.selected + 1) % n,
            KeyCode::Left => self.selected = (self.selected + n - 1) % n,
            KeyCode::Up | KeyCode::Down => self.whole_run = !self.whole_run,
            _ => {}
        }
    }

    pub(super) fn draw(&self, frame: &mut Frame) {
        let [top, body, keys] = Layout::vertical([
            Constraint::Length(3),
            Constraint::Min(6),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        self.draw_progress(frame, top);
        let [table, chart] =
            Layout::horizontal([Constraint::Length(44), Constraint::Min(20)]).areas(body);
        self.draw_metrics(frame, table);
        self.draw_chart(frame, chart);
        let status = if self.stopping {
            "stopping at the end of this iteration ..."
        } else {
            "q stop  ←/→ metric  ↑/↓ this epoch / whole run"
        };
        frame.render_widget(
            Paragraph::new(status).style(Style::default().fg(Color::DarkGray)),
            keys,
        );
        if self.popup {
            self.draw_popup(frame);
        }
    }

    fn draw_progress(&self, frame: &mut Frame, area: Rect) {
        let [pass, run] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(area);
        let fraction = if self.total > 0 {
            self.done as f64 / self.total as f64
        } else {
            0.0
        };
        let (since, items_then) = self.pass_started;
        let seconds = since.elapsed().as_secs_f64();
        let speed = (self.done.saturating_sub(items_then)) as f64 / seconds.max(1e-9);
        let left = if speed > 0.0 {
            format!(
                ", {} left",
                clock((self.total.saturating_sub(self.done)) as f64 / speed)
            )
        } else {
            String::new()
        };
        let label = format!(
            "{} {}/{}  {:.1} it/s{left}",
            self.pass.name(),
            self.done,
            self.total,
            speed
        );
        frame.render_widget(
            Gauge::default()
                .block(Block::bordered().title(format!(" epoch {} ", self.epoch)))
                .gauge_style(Style::default().fg(Color::Green))
                .ratio(fraction.clamp(0.0, 1.0))
                .label(label),
            pass,
        );
        let epochs = self.epochs.max(1) as f64;
        let run_fraction = if self.pass == Pass::Train {
            (self.epoch.saturating_sub(1) as f64 + fraction) / epochs
        } else {
            self.epoch as f64 / epochs
        };
        frame.render_widget(
            Gauge::default()
                .block(Block::bordered().title(" run "))
                .gauge_style(Style::default().fg(Color::Blue))
                .ratio(run_fraction.clamp(0.0, 1.0))
                .label(format!(
                    "epoch {}/{}  {} elapsed",
                    self.epoch,
                    self.epochs,
                    clock(self.started.elapsed().as_secs_f64())
                )),
            run,
        );
    }

    fn draw_metrics(&self, frame: &mut Frame, area: Rect) {
        let last_valid = |name: &str| {
            self.valid.mean(name).or_else(|| {
                self.history
                    .get(name)
                    .and_then(|h| h.valid.last().map(|p| p.1))
            })
        };
        let show =
            |name: &str, v: Option<f64>| v.map_or("-".to_string(), |v| format_value(name, v));
        let mut rows: Vec<Row> = self
            .metrics
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let style = if i == self.selected {
                    Style::default().add_modifier(Modifier::BOLD)
                } else {
                    Style::default()
                };
                Row::new(vec![
                    Cell::from(name.clone()),
                    Cell::from(show(name, self.train.mean(name))),
                    Cell::from(show(name, last_valid(name))),
                ])
                .style(style)
            })
            .collect();
        for ((name, pass), text) in &self.texts {
            rows.push(Row::new(vec![
                Cell::from(name.clone()),
                Cell::from(format!("{pass}: {text}")),
                Cell::from(""),
            ]));
        }
        let table = Table::new(
            rows,
            [
                Constraint::Length(14),
                Constraint::Length(13),
                Constraint::Length(13),
            ],
        )
        .header(
            Row::new(vec!["metric", "train (epoch)", "valid (last)"])
                .style(Style::default().fg(Color::Yellow)),
        )
        .block(Block::bordered().title(" metrics "));
        frame.render_widget(table, area);
    }

    fn draw_chart(&self, frame: &mut Frame, area: Rect) {
        let Some(name) = self.metrics.get(self.selected) else {
            frame.render_widget(
                Block::bordered().title(" waiting for the first step "),
                area,
            );
            return;
        };
        let recent: Vec<(f64, f64)>;
        let mut sets: Vec<Curve> = Vec::new();
        let title = if self.whole_run {
            if let Some(h) = self.history.get(name) {
                sets.push(("train", &h.train, Color::Cyan));
                sets.push(("valid", &h.valid, Color::Magenta));
            }
            format!(" {name}, per epoch (whole run) ")
        } else {
            recent = self
                .recent
                .get(name)
                .map(|p| p.iter().copied().collect())
                .unwrap_or_default();
            sets.push(("train", &recent, Color::Cyan));
            format!(" {name}, per iteration (epoch {}) ", self.epoch)
        };
        if sets.iter().all(|(_, p, _)| p.is_empty()) {
            let wait = if self.whole_run {
                "no finished epoch yet (↑/↓ for this epoch)"
            } else {
                "no iteration yet"
            };
            frame.render_widget(
                Paragraph::new(wait).block(Block::bordered().title(title)),
                area,
            );
            return;
        }
        let points = sets.iter().flat_map(|(_, p, _)| p.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in points {
            if y.is_finite() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 - x0 < 1.0 {
            x1 = x0 + 1.0;
        }
        let pad = ((y1 - y0) * 0.05).max(1e-6);
        let (y0, y1) = (y0 - pad, y1 + pad);
        let datasets = sets
            .iter()
            .map(|(label, data, color)| {
                Dataset::default()
                    .name(*label)
                    .marker(Marker::Braille)
                    .graph_type(GraphType::Line)
                    .style(Style::default().fg(*color))
                    .data(data)
            })
            .collect();
        let label = |v: f64| Line::from(format_value(name, v));
        let chart = Chart::new(datasets)
            .block(Block::bordered().title(title))
            .x_axis(Axis::default().bounds([x0, x1]).labels([
                Line::from(format!("{x0:.0}")),
                Line::from(format!("{x1:.0}")),
            ]))
            .y_axis(
                Axis::default()
                    .bounds([y0, y1])
                    .labels([label(y0), label(y1)]),
            );
        frame.render_widget(chart, area);
    }

    fn draw_popup(&self, frame: &mut Frame) {
        let area = frame.area();
        let width = 64.min(area.width);
        let height = 6.min(area.height);
        let popup = Rect::new(
            area.x + (area.width - width) / 2,
            area.y + (area.height - height) / 2,
            width,
            height,
        );
        frame.render_widget(Clear, popup);
        frame.render_widget(
            Paragraph::new(vec![
                Line::from("s  stop at the end of this iteration"),
                Line::from("   (the checkpoints of finished epochs are kept)"),
                Line::from("c  cancel, go on training"),
            ])
            .block(Block::bordered().title(" stop the training? ")),
            popup,
        );
    }
}

/// `seconds` as `1h02m`, `3m05s` or `12s`.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::train::metric::NumericEntry;

    fn numeric(pass: Pass, name: &str, v: f64) -> Update {
        Update::Numeric {
            pass,
            name: name.into(),
            entry: NumericEntry::Value(v),
        }
    }

    fn progress(pass: Pass, epoch: usize, done: usize) -> Update {
        Update::Progress {
            pass,
            epoch,
            epochs: 3,
            done,
            total: 4,
        }
    }

    #[test]
    fn epoch_means_move_into_the_history_when_the_next_epoch_starts() {
        let mut board = Board::new(Interrupter::new());
        assert!(board.apply(progress(Pass::Train, 1, 1)));
        board.apply(numeric(Pass::Train, "Loss", 2.0));
        board.apply(progress(Pass::Train, 1, 2));
        board.apply(numeric(Pass::Train, "Loss", 4.0));
        board.apply(progress(Pass::Valid, 1, 1));
        board.apply(numeric(Pass::Valid, "Loss", 5.0));
        assert_eq!(board.train.mean("Loss"), Some(3.0));
        assert_eq!(board.recent["Loss"], vec![(1.0, 2.0), (2.0, 4.0)]);
        board.apply(progress(Pass::Train, 2, 1));
        assert_eq!(board.history["Loss"].train, vec![(1.0, 3.0)]);
        assert_eq!(board.history["Loss"].valid, vec![(1.0, 5.0)]);
        assert_eq!(board.train.mean("Loss"), None);
        assert!(board.recent.is_empty());
        assert!(!board.apply(Update::Close));
    }

    #[test]
    fn q_then_s_stops_the_training_and_c_cancels() {
        let interrupter = Interrupter::new();
        let mut board = Board::new(interrupter.clone());
        board.key(KeyCode::Char('q'));
        board.key(KeyCode::Char('c'));
        assert!(!board.popup && !interrupter.should_stop());
        board.key(KeyCode::Char('s'));
        assert!(
            !interrupter.should_stop(),
            "s without the popup does nothing"
        );
        board.key(KeyCode::Char('q'));
        board.key(KeyCode::Char('s'));
        assert!(interrupter.should_stop() && board.stopping);
    }

    #[test]
    fn draws_into_a_small_terminal_without_panicking() {
        use ratatui::backend::TestBackend;
        let mut board = Board::new(Interrupter::new());
        for (i, v) in [3.0, 2.5, f64::NAN, 2.0].into_iter().enumerate() {
            board.apply(progress(Pass::Train, 1, i + 1));
            board.apply(numeric(Pass::Train, "Loss", v));
        }
        board.apply(Update::Text {
            pass: Pass::Train,
            name: "Loss check".into(),
            text: "finite".into(),
        });
        board.key(KeyCode::Char('q'));
        for (w, h) in [(120, 30), (20, 5)] {
            let mut terminal = ratatui::Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal.draw(|f| board.draw(f)).unwrap();
        }
        // Epoch 2 starts: epoch 1's means make the whole-run curve's first point.
        board.apply(progress(Pass::Train, 2, 1));
        board.whole_run = true;
        let mut terminal = ratatui::Terminal::new(TestBackend::new(100, 24)).unwrap();
        terminal.draw(|f| board.draw(f)).unwrap();
        let screen = format!("{:?}", terminal.backend().buffer());
        assert!(screen.contains("Loss, per epoch"), "{screen}");
    }

    #[test]
    fn clock_formats_seconds_minutes_hours() {
        assert_eq!(clock(12.4), "12s");
        assert_eq!(clock(185.0), "3m05s");
        assert_eq!(clock(3720.0), "1h02m");
    }
}
