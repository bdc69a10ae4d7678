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
    let [batch, _src_len] = src.dims();
    let device = src.device();
    let max_steps = max_steps.min(model.max_len());
    let mut stepper = Stepper::new(model, src, src_padding, 1);
    let mut hyps = vec![
        Hypothesis {
            tokens: Vec::new(),
            log_prob: 0.0,
            score: 0.0,
            finished: false,
        };
        batch
    ];
    let mut input = Tensor::<B, 2, Int>::full([batch, 1], BEGIN as i64, &device);
    for _ in 0..max_steps {
        let log_probs = stepper.next_log_probs(input); // [batch, vocab]
        let (best, best_ids) = log_probs.max_dim_with_indices(1); // [batch, 1]
        let best: Vec<f32> = best.into_data().convert::<f32>().to_vec().unwrap();
        let best_ids_vec: Vec<i64> = best_ids
            .clone()
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        for (hyp, (&id, &lp)) in hyps.iter_mut().zip(best_ids_vec.iter().zip(&best)) {
            if hyp.finished {
                continue;
            }
            hyp.log_prob += lp as f64;
            hyp.score = hyp.log_prob;
            if id as usize == END {
                hyp.finished = true;
            } else {
                hyp.tokens.push(id as usize);
            }
        }
        if hyps.iter().all(|h| h.finished) {
            break;
        }
        input = best_ids;
    }
    hyps
}
