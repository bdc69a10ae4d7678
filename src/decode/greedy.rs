//! Batched greedy decoding with the incremental KV cache.

use super::step::Stepper;
use super::Hypothesis;
use crate::model::Transformer;
use crate::vocab::{BEGIN, END};
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
    let device = src.device();
    let mut stepper = Stepper::ensemble(members, src, src_padding);
    let max_steps = max_steps.min(stepper.max_len());
    let mut hyps = vec![
        Hypothesis {
            tokens: Vec::new(),
            log_prob: 0.0,
            score: 0.0,
            finished: false,
        };
        batch
    ];
    // Row r of the stepper decodes hypothesis `rows[r]`; finished rows leave the batch.
    let mut rows: Vec<usize> = (0..batch).collect();
    let mut input = Tensor::<B, 2, Int>::full([batch, 1], BEGIN as i64, &device);
    for _ in 0..max_steps {
        let best = best_tokens(stepper.next_log_probs(input)); // per row: (token, log-prob)
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
            .filter(|&r| !hyps[rows[r]].finished)
            .collect();
        if going.is_empty() {
            break;
        }
        if going.len() < rows.len() {
            stepper.keep(&going);
            rows = going.iter().map(|&r| rows[r]).collect();
        }
        let next: Vec<i64> = going.iter().map(|&r| best[r].0 as i64).collect();
        input = Tensor::from_data(TensorData::new(next, [going.len(), 1]), &device);
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
