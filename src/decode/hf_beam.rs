//! Beam search as Hugging Face transformers (v5, `GenerationMixin._beam_search`) does it, for
//! models imported from there (`crate::marian`), so that outputs equal `generate()`'s:
//!
//! - each step takes the best `2 * beam` (row, token) extensions of an input by summed
//!   log-probability; of those, END extensions among the best `beam` finish, and the best
//!   `beam` others run on;
//! - a finished hypothesis scores `sum of log-probabilities / generated_len^length_penalty`,
//!   `generated_len` counting END (our [`super::beam`] uses GNMT's `((5 + len) / 6)^alpha`);
//! - an input keeps the `beam` best finished hypotheses; it is done (`early_stopping: false`,
//!   transformers' default) once all `beam` are there and the best running hypothesis, divided
//!   by its current length^length_penalty, cannot beat the worst of them; with `true`, as soon
//!   as `beam` have finished; with `never`, the bound uses the longest possible length when
//!   length_penalty > 0;
//! - `max_length` counts the decoder's start token; with `forced_eos`, the last place can only
//!   be END, at log-probability 0; without, hypotheses reaching it finish unfinished.

use super::beam::Scorer;
use super::Hypothesis;
use crate::vocab::{BEGIN, END};

/// transformers' `early_stopping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EarlyStopping {
    /// Stop an input when `beam` hypotheses have finished.
    True,
    /// transformers' default: stop when the best running hypothesis at its current length cannot
    /// beat the worst finished one.
    False,
    /// As `False`, but bounding a running hypothesis at the longest possible length.
    Never,
}

/// Settings of [`hf_beam_search`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HfBeamConfig {
    pub beam: usize,
    pub nbest: usize,
    /// transformers' `length_penalty` (exponent of the generated length; 1.0 by default).
    pub length_penalty: f64,
    pub early_stopping: EarlyStopping,
    /// transformers' `max_length`: the decoder start token included.
    pub max_length: usize,
    /// transformers' `forced_eos_token_id` = END: the last place is END.
    pub forced_eos: bool,
}

#[derive(Debug, Clone)]
struct Running {
    prefix: Vec<usize>,
    log_prob: f64,
}

struct Input {
    running: Vec<Running>,
    /// Best first, at most `beam`.
    finished: Vec<Hypothesis>,
    can_improve: bool,
    done: bool,
}

/// Beam search with transformers' rules for `n_inputs` inputs (see the module docs). The scorer
/// sees one row per input at the first step, then `beam` rows per input until it is done.
/// Returns per input up to `nbest` hypotheses, best first.
pub fn hf_beam_search<S: Scorer>(
    scorer: &mut S,
    n_inputs: usize,
    config: &HfBeamConfig,
) -> Vec<Vec<Hypothesis>> {
    let k = config.beam.max(1);
    let lp_len = |len: usize| (len as f64).powf(config.length_penalty);
    let mut inputs: Vec<Input> = (0..n_inputs)
        .map(|_| Input {
            running: vec![Running {
                prefix: vec![BEGIN],
                log_prob: 0.0,
            }],
            finished: Vec::new(),
            can_improve: true,
            done: false,
        })
        .collect();
    // Rows of the previous scorer call, in order: (input, row within its running list).
    let mut rows: Vec<(usize, usize)> = (0..n_inputs).map(|i| (i, 0)).collect();
    let mut parents: Option<Vec<usize>> = None;
    // cur_len: the decoder's sequence length so far (start token included).
    let mut cur_len = 1;
    while !rows.is_empty() && cur_len < config.max_length {
        let prefixes: Vec<Vec<usize>> = rows
            .iter()
            .map(|&(i, r)| inputs[i].running[r].prefix.clone())
            .collect();
        let mut next = scorer.next_log_probs(&prefixes, parents.as_deref());
        if config.forced_eos && cur_len == config.max_length - 1 {
            for row in next.rows_mut() {
                row.iter_mut().for_each(|x| *x = f32::NEG_INFINITY);
                row[END] = 0.0;
            }
        }
        let at_limit = cur_len + 1 >= config.max_length;
        let mut new_rows = Vec::new();
        let mut new_parents = Vec::new();
        let mut first = 0;
        while first < rows.len() {
            let i = rows[first].0;
            let end = first + rows[first..].iter().take_while(|r| r.0 == i).count();
            let input = &mut inputs[i];
            // The best 2k extensions (row, token) by summed log-probability.
            // Each row's best 2k first (one scan; see `row_best`): the best 2k of all are
            // among them. Extensions the model forbids (-inf) are never candidates.
            let mut candidates: Vec<(f64, usize, usize)> =
                Vec::with_capacity((end - first) * 2 * k);
            for (row, log_probs) in next.rows(first..end).enumerate() {
                let base = input.running[row].log_prob;
                super::beam::row_best(base, row, log_probs, 2 * k, &mut candidates);
            }
            candidates.retain(|&(score, _, _)| score > f64::NEG_INFINITY);
            let candidates = super::beam::best_candidates(candidates, 2 * k);
            let hits = |token: usize| token == END || at_limit;
            // Finished: END extensions among the best k (every extension at the limit).
            let full = input.finished.len() == k;
            let closed =
                !input.can_improve || (config.early_stopping == EarlyStopping::True && full);
            if !closed {
                for &(lp, row, token) in candidates.iter().take(k) {
                    if !hits(token) {
                        continue;
                    }
                    let mut tokens = input.running[row].prefix[1..].to_vec();
                    let ended = token == END;
                    if !ended {
                        tokens.push(token);
                    }
                    let score = lp / lp_len(cur_len);
                    input.finished.push(Hypothesis {
                        tokens,
                        log_prob: lp,
                        score,
                        finished: ended,
                    });
                }
                input.finished.sort_by(|a, b| b.score.total_cmp(&a.score));
                input.finished.truncate(k);
            }
            // Running on: the best k extensions that did not finish.
            let running: Vec<(Running, usize)> = candidates
                .iter()
                .filter(|c| !hits(c.2))
                .take(k)
                .map(|&(lp, row, token)| {
                    let mut prefix = input.running[row].prefix.clone();
                    prefix.push(token);
                    (
                        Running {
                            prefix,
                            log_prob: lp,
                        },
                        first + row,
                    )
                })
                .collect();
            // Can a running hypothesis still beat the worst finished one?
            if input.can_improve && input.finished.len() == k {
                let generated = if config.early_stopping == EarlyStopping::Never
                    && config.length_penalty > 0.0
                {
                    config.max_length - 1
                } else {
                    cur_len // after this step: cur_len + 1 - the start token
                };
                let best = running.first().map_or(f64::NEG_INFINITY, |r| r.0.log_prob);
                let worst = input.finished[k - 1].score;
                input.can_improve = best / lp_len(generated) > worst;
            }
            input.done = running.is_empty()
                || !input.can_improve
                || (config.early_stopping == EarlyStopping::True && input.finished.len() == k);
            if input.done {
                input.running.clear();
            } else {
                input.running = running.iter().map(|(r, _)| r.clone()).collect();
                for (r, (_, parent)) in running.iter().enumerate() {
                    new_rows.push((i, r));
                    new_parents.push(*parent);
                }
            }
            first = end;
        }
        rows = new_rows;
        parents = Some(new_parents);
        cur_len += 1;
    }
    inputs
        .into_iter()
        .map(|mut input| {
            input.finished.truncate(config.nbest.max(1));
            input.finished
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::table_scorer::{garden_path, Table};

    fn config(beam: usize, length_penalty: f64) -> HfBeamConfig {
        HfBeamConfig {
            beam,
            nbest: beam,
            length_penalty,
            early_stopping: EarlyStopping::False,
            max_length: 10,
            forced_eos: false,
        }
    }

    #[test]
    fn scores_are_log_prob_over_generated_length_with_end_counted() {
        let out = hf_beam_search(&mut garden_path(), 1, &config(2, 1.0));
        let best = &out[0][0];
        assert_eq!(best.tokens, vec![5, 6]);
        // log(0.4 * 1 * 1) over 3 generated tokens (5, 6, END).
        assert!(
            (best.score - 0.4f64.ln() / 3.0).abs() < 1e-6,
            "{}",
            best.score
        );
        assert!(best.finished);
        // length_penalty 0: raw log-probabilities rank; [4, END] (0.15) loses to [5, 6] (0.4).
        let out = hf_beam_search(&mut garden_path(), 1, &config(2, 0.0));
        assert_eq!(out[0][0].tokens, vec![5, 6]);
        assert!((out[0][0].score - 0.4f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn forced_eos_ends_at_max_length_with_log_prob_zero() {
        // A model that never ends: token 4 with certainty.
        let mut table = Table {
            vocab: 6,
            rows: (0..20)
                .map(|n| (vec![4; n], vec![(4, 0.9), (5, 0.1)]))
                .collect(),
        };
        let cfg = HfBeamConfig {
            max_length: 5,
            forced_eos: true,
            ..config(2, 1.0)
        };
        let out = hf_beam_search(&mut table, 1, &cfg);
        // Start + 3 tokens + forced END = 5 places.
        assert_eq!(out[0][0].tokens, vec![4, 4, 4]);
        assert!(out[0][0].finished);
        assert!((out[0][0].log_prob - 3.0 * 0.9f64.ln()).abs() < 1e-6);
        // Without forced_eos the 4 tokens are kept, unfinished.
        let out = hf_beam_search(
            &mut table,
            1,
            &HfBeamConfig {
                forced_eos: false,
                ..cfg
            },
        );
        assert_eq!(out[0][0].tokens, vec![4, 4, 4, 4]);
        assert!(!out[0][0].finished);
    }

    #[test]
    fn beam_of_one_equals_greedy_on_the_table() {
        let out = hf_beam_search(&mut garden_path(), 1, &config(1, 1.0));
        assert_eq!(out[0][0].tokens, vec![4, 6]);
    }
}
