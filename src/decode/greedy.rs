//! Batched greedy decoding with the incremental KV cache.

use super::repetition::Repetition;
use super::step::Stepper;
use super::Hypothesis;
use crate::model::Transformer;
use crate::vocab::{BEGIN, END, PAD};
use burn::prelude::*;

/// Greedy decoding of a batch: at each step every unfinished sequence takes its most likely
/// token; a sequence stops at END, all stop after `max_steps` tokens.
///
/// # Shapes
/// - `src`, `src_padding`: `[batch, src_len]`
/// - output: `batch` hypotheses
pub fn greedy<B: Backend>(
    model: &Transformer<B>,
    src: Tensor<B, 2, Int>,
    src_padding: Tensor<B, 2, Bool>,
    max_steps: usize,
) -> Vec<Hypothesis> {
    greedy_ensemble(&[(model, 1.0)], src, src_padding, max_steps)
}

/// [`greedy`] with an ensemble, `(model, weight)`: each step takes the most likely token of the
/// members' weighted average log-probabilities ([`Stepper::next_log_probs`]).
///
/// # Shapes
/// - `src`, `src_padding`: `[batch, src_len]`
/// - output: `batch` hypotheses
pub fn greedy_ensemble<B: Backend>(
    members: &[(&Transformer<B>, f32)],
    src: Tensor<B, 2, Int>,
    src_padding: Tensor<B, 2, Bool>,
    max_steps: usize,
) -> Vec<Hypothesis> {
    let [batch, _src_len] = src.dims();
    greedy_limited(
        members,
        src,
        src_padding,
        &vec![max_steps; batch],
        &Repetition::default(),
    )
}

/// [`greedy_ensemble`] with a length limit per input: input `i` stops after `limits[i]`
/// tokens (unfinished) if END has not come (a limit relative to its source's length,
/// [`super::LengthLimit`]), and the repetition controls `repetition` on every step (a model
/// alone: on its raw logits, as transformers' greedy search; an ensemble: on the averaged
/// log-probabilities).
///
/// # Shapes
/// - `src`, `src_padding`: `[batch, src_len]`; `limits`: `batch` values
/// - output: `batch` hypotheses
pub fn greedy_limited<B: Backend>(
    members: &[(&Transformer<B>, f32)],
    src: Tensor<B, 2, Int>,
    src_padding: Tensor<B, 2, Bool>,
    limits: &[usize],
    repetition: &Repetition,
) -> Vec<Hypothesis> {
    let [batch, _src_len] = src.dims();
    assert_eq!(limits.len(), batch, "one length limit per input");
    let device = src.device();
    let mut stepper = Stepper::ensemble(members, src, src_padding);
    let cap = stepper.max_len();
    let limits: Vec<usize> = limits.iter().map(|&l| l.min(cap)).collect();
    let mut hyps = vec![
        Hypothesis {
            tokens: Vec::new(),
            log_prob: 0.0,
            score: 0.0,
            finished: false,
        };
        batch
    ];
    // Row r of the stepper decodes hypothesis `rows[r]`; rows leave the batch at END or at
    // their limit. An input with a limit of 0 gets no step.
    let mut rows: Vec<usize> = (0..batch).filter(|&h| limits[h] > 0).collect();
    if rows.len() < batch && !rows.is_empty() {
        stepper.keep(&rows);
    }
    let mut next: Vec<i64> = vec![BEGIN as i64; rows.len()];
    let mut step = 0;
    while !rows.is_empty() {
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(next, [rows.len(), 1]), &device);
        // Per row: (token, log-prob).
        let best = if !repetition.is_active() {
            best_tokens(stepper.next_log_probs(input))
        } else {
            let prefixes: Vec<Vec<usize>> = rows
                .iter()
                .map(|&h| {
                    std::iter::once(BEGIN)
                        .chain(hyps[h].tokens.iter().copied())
                        .collect()
                })
                .collect();
            if stepper.is_single() {
                best_after_repetition(stepper.next_logits(input), &prefixes, repetition)
            } else {
                let (mut values, vocab) = super::step::to_host(stepper.next_log_probs(input));
                for (row, prefix) in values.chunks_mut(vocab).zip(&prefixes) {
                    repetition.apply(prefix, row);
                }
                best_of_rows(&values, vocab)
            }
        };
        step += 1;
        for (&h, &(id, lp)) in rows.iter().zip(&best) {
            let hyp = &mut hyps[h];
            hyp.log_prob += lp as f64;
            hyp.score = hyp.log_prob;
            if id == END {
                hyp.finished = true;
            } else {
                hyp.tokens.push(id);
            }
        }
        let going: Vec<usize> = (0..rows.len())
            .filter(|&r| !hyps[rows[r]].finished && step < limits[rows[r]])
            .collect();
        if going.is_empty() {
            break;
        }
        if going.len() < rows.len() {
            stepper.keep(&going);
        }
        next = going.iter().map(|&r| best[r].0 as i64).collect();
        rows = going.iter().map(|&r| rows[r]).collect();
    }
    hyps
}

/// Each row's most likely token and its log-probability. The log-probabilities come to the
/// host in one read (a small `[rows, vocab]` block for the vocabularies seen here) and the
/// argmax runs there: one synchronisation per step instead of two.
///
/// # Shapes
/// - `log_probs`: `[rows, vocab]`
pub(crate) fn best_tokens<B: Backend>(log_probs: Tensor<B, 2>) -> Vec<(usize, f32)> {
    let (values, vocab) = super::step::to_host(log_probs);
    best_of_rows(&values, vocab)
}

/// Greedy's choice under repetition controls, as transformers makes it: the controls change
/// the raw logits, PAD and BEGIN are masked, the largest wins; its log-probability is the
/// model's own (the log-softmax of the unchanged logits).
///
/// # Shapes
/// - `logits`: `[rows, vocab]`; `prefixes`: `rows` lists
fn best_after_repetition<B: Backend>(
    logits: Tensor<B, 2>,
    prefixes: &[Vec<usize>],
    repetition: &Repetition,
) -> Vec<(usize, f32)> {
    let (values, vocab) = super::step::to_host(logits);
    values
        .chunks(vocab)
        .zip(prefixes)
        .map(|(raw, prefix)| {
            let mut scores = raw.to_vec();
            repetition.apply(prefix, &mut scores);
            for id in [PAD, BEGIN] {
                scores[id] = f32::NEG_INFINITY;
            }
            let (id, _) = best_of_rows(&scores, vocab)[0];
            let max = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max
                + raw
                    .iter()
                    .map(|&x| (x as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            (id, (raw[id] as f64 - lse) as f32)
        })
        .collect()
}

/// Each row's largest value and where it is (the first of equal maxima).
fn best_of_rows(values: &[f32], vocab: usize) -> Vec<(usize, f32)> {
    values
        .chunks(vocab)
        .map(|row| {
            // The first of equal maxima, as `argmax` takes it.
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 {
                        (i, v)
                    } else {
                        best
                    }
                })
        })
        .collect()
}
