//! Sequence-level knowledge distillation (Kim & Rush 2016): the student trains on its
//! teacher's outputs instead of the references.
//!
//! `train --teacher DIR [--teacher DIR ...]` decodes every source of the training split with
//! the teacher (an ensemble when the flag repeats: [`Predictor::load_ensemble`]) by beam search,
//! and the output replaces the pair's target. The dev split keeps its references, so the
//! student is still validated and selected against the truth. A teacher output is not used
//! (the reference stays) when the teacher cannot read the source (too long for it), stops at
//! its length limit before END, or writes a symbol the student's target vocabulary lacks:
//! counted and reported. The outputs are cached in the run directory, one line per training
//! pair, under a header naming the teachers, so a resumed run does not decode again.

use crate::data::{Pair, TextCodec};
use crate::decode::Decoding;
use crate::infer::{EnsembleError, Predictor};
use crate::vocab::Vocab;
use burn::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The cache of a run's distilled targets, in its run directory.
pub const DISTILLED_FILE: &str = "distilled-targets.txt";

/// Who teaches and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Distillation {
    /// The teacher's model directories (several: an ensemble).
    pub teachers: Vec<PathBuf>,
    /// Ensemble weights, one per teacher (uniform when `None`).
    pub weights: Option<Vec<f32>>,
    /// The teacher's beam size (sequence level).
    pub beam: usize,
    /// What the student learns from the teacher.
    pub level: DistillLevel,
}

/// Sequence-level (this module) or token-level ([`super::token_distill`]) distillation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum DistillLevel {
    /// The teacher's beam outputs replace the training targets.
    #[default]
    Sequence,
    /// The teacher's per-position distributions join the loss with share `alpha`.
    Token { alpha: f32 },
}

/// Why the targets could not be distilled.
#[derive(Debug, thiserror::Error)]
pub enum DistillError {
    #[error("cannot load the teacher")]
    Teacher(#[from] EnsembleError),
    #[error("--teacher-beam must be at least 1")]
    Beam,
    #[error("--distill-alpha must be in (0, 1], got {0}")]
    Alpha(f32),
    #[error("token-level distillation needs autoregressive models, teacher and student (a CTC decoder has no per-position distribution over the reference's tokens)")]
    CtcTeacher,
    #[error("token-level distillation needs the teacher's vocabularies to be the student's (train the student with --init from the teacher, or on the same data with the same tokenization)")]
    Vocab,
    #[error("token-level distillation needs the teacher to read targets in the student's direction (both left to right, or both trained with --right-left)")]
    Direction,
    #[error("the teacher has positions for {teacher} tokens, the student's training data has sequences of {student}")]
    TooShort { teacher: usize, student: usize },
    #[error("the teacher's task is {teacher:?}, the student's {student:?}")]
    Task {
        teacher: crate::data::TaskKind,
        student: crate::data::TaskKind,
    },
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What distillation did to the training split.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DistillReport {
    pub pairs: usize,
    /// Targets replaced by a teacher output different from the reference.
    pub changed: usize,
    /// Pairs that kept their reference (the teacher could not read the source, stopped at
    /// its length limit, or wrote a symbol outside the student's vocabulary).
    pub kept: usize,
    /// Whether the targets came from the run directory's cache.
    pub cached: bool,
    pub seconds: f64,
}

impl Distillation {
    /// The teachers' directories, joined by " + ".
    pub fn teacher_names(&self) -> String {
        let names: Vec<String> = self
            .teachers
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        names.join(" + ")
    }

    /// The header line of the cache: which teachers, which beam, how many pairs.
    fn header(&self, pairs: usize) -> String {
        format!(
            "# seq2seq distilled targets: teachers {}; weights {:?}; beam {}; pairs {pairs}",
            self.teacher_names(),
            self.weights,
            self.beam
        )
    }
}

/// Targets read back from `path` when its header is `header` and it has one line per pair.
fn read_cache(path: &Path, header: &str, pairs: usize) -> Option<Vec<Option<Vec<String>>>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    if lines.next()? != header {
        return None;
    }
    let targets: Vec<Option<Vec<String>>> = lines
        .map(|l| match l.strip_prefix('\t') {
            // A tab first: the reference was kept.
            Some(_) => None,
            None => Some(l.split(' ').map(String::from).collect()),
        })
        .collect();
    (targets.len() == pairs).then_some(targets)
}

/// Replace the targets of `train` by the teacher's outputs (see the module docs); `codec`
/// turns a pair's source tokens back into the text the teacher reads, `tgt_vocab` is the
/// student's target vocabulary. The outputs are cached in `run_dir` (when given: the node
/// that writes the run directory).
pub fn distill<B: Backend>(
    train: &mut [Pair],
    codec: &TextCodec,
    task: crate::data::TaskKind,
    tgt_vocab: &Vocab,
    distillation: &Distillation,
    run_dir: Option<&Path>,
    device: B::Device,
) -> Result<DistillReport, DistillError> {
    if distillation.beam == 0 {
        return Err(DistillError::Beam);
    }
    let started = Instant::now();
    let cache = run_dir.map(|dir| dir.join(DISTILLED_FILE));
    let header = distillation.header(train.len());
    let saved = cache
        .as_deref()
        .and_then(|path| read_cache(path, &header, train.len()));
    let (targets, cached) = match saved {
        Some(targets) => {
            println!(
                "distillation: the teacher's targets for {} pairs read from {}",
                train.len(),
                cache.as_deref().expect("read from it").display()
            );
            (targets, true)
        }
        None => {
            let targets = decode_all::<B>(train, codec, task, distillation, device)?;
            let mut text = header.clone() + "\n";
            for target in &targets {
                match target {
                    Some(tokens) => text += &tokens.join(" "),
                    None => text.push('\t'),
                }
                text.push('\n');
            }
            if let Some(path) = &cache {
                let io = |source| DistillError::Io {
                    path: path.clone(),
                    source,
                };
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                crate::fsutil::write_atomic(path, text.as_bytes()).map_err(io)?;
            }
            (targets, false)
        }
    };
    let mut report = DistillReport {
        pairs: train.len(),
        cached,
        ..Default::default()
    };
    for (pair, target) in train.iter_mut().zip(targets) {
        match target {
            Some(tokens)
                if !tokens.is_empty() && tokens.iter().all(|t| tgt_vocab.id(t).is_some()) =>
            {
                if tokens != pair.tgt {
                    report.changed += 1;
                }
                pair.tgt = tokens;
            }
            _ => report.kept += 1,
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    println!(
        "distillation: {} of {} training targets replaced by the teacher's ({:.1}%), {} kept their reference [{:.0}s]",
        report.changed,
        report.pairs,
        100.0 * report.changed as f64 / report.pairs.max(1) as f64,
        report.kept,
        report.seconds
    );
    Ok(report)
}

/// The teacher's output for every pair (`None` where it has none to give), with progress.
fn decode_all<B: Backend>(
    train: &[Pair],
    codec: &TextCodec,
    task: crate::data::TaskKind,
    distillation: &Distillation,
    device: B::Device,
) -> Result<Vec<Option<Vec<String>>>, DistillError> {
    let teacher = Predictor::<B>::load_ensemble(
        &distillation.teachers,
        distillation.weights.as_deref(),
        device,
    )?;
    if teacher.loaded.config.data.task != task {
        return Err(DistillError::Task {
            teacher: teacher.loaded.config.data.task,
            student: task,
        });
    }
    let decoding = Decoding::new(distillation.beam, 1, 0.0).expect("beam >= 1");
    // Sources the teacher cannot read keep their reference.
    let mut readable = Vec::new();
    let mut ids = Vec::new();
    for (i, pair) in train.iter().enumerate() {
        if let Ok(encoded) = teacher.encode(&codec.join_source(&pair.src), true) {
            readable.push(i);
            ids.push(encoded);
        }
    }
    println!(
        "distillation: decoding {} training sources with {} (beam {}) ...",
        ids.len(),
        distillation.teacher_names(),
        distillation.beam
    );
    let started = Instant::now();
    let (mut done, mut shown) = (0usize, 0usize);
    let total = ids.len();
    let predictions = teacher.predict_many(&ids, &decoding, 64, &mut |batch, _| {
        done += batch.len();
        // A line every 5%.
        if done * 20 / total.max(1) > shown {
            shown = done * 20 / total.max(1);
            println!(
                "distillation: {done}/{total} ({:.0}%) [{:.0}s]",
                100.0 * done as f64 / total.max(1) as f64,
                started.elapsed().as_secs_f64()
            );
        }
    });
    let mut targets = vec![None; train.len()];
    for (i, list) in readable.into_iter().zip(predictions) {
        if let Some(best) = list.into_iter().next().filter(|p| p.finished) {
            targets[i] = Some(best.tokens);
        }
    }
    Ok(targets)
}
