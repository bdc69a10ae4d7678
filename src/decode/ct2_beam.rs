//! Beam search with CTranslate2's rules (its `BeamSearch`, `src/decoding.cc`), what faster-whisper
//! decodes with, so that our outputs of the same model equal its outputs token for token. The
//! model is any [`Scorer`]; the differences from this crate's GNMT search ([`super::beam`]):
//!
//! - each step ranks `2 * beam` candidates per input over all its rows' cumulative scores, and
//!   the first `beam` of them fill the beam slots in rank order;
//! - a candidate among the first `beam` that ends (END, or any token at the last step) is stored
//!   with its raw cumulative log-probability, and its slot takes the next candidate of ranks
//!   `beam..2 * beam` that does not end (ENDs there are dropped);
//! - an input is done when `round(beam * patience)` hypotheses are stored (no test of whether
//!   a running one could still win), or at the last step;
//! - the length penalty `score / len^length_penalty` (len without END) applies once, at the
//!   end; hypotheses are then sorted by it (stable) and the first `num_hypotheses` returned.
//!
//! The first step reads one row per input (its `beam` rows would all be the same).

use super::beam::Scorer;
use super::Hypothesis;

/// Settings of [`ct2_beam_search`].
#[derive(Debug, Clone, PartialEq)]
pub struct Ct2BeamConfig {
    pub beam: usize,
    /// Hypotheses to finish before an input is done, as a multiple of `beam`.
    pub patience: f64,
    pub length_penalty: f64,
    /// Hypotheses returned per input.
    pub num_hypotheses: usize,
    /// Steps at most (tokens including END).
    pub max_steps: usize,
    /// The token that ends a hypothesis.
    pub end: usize,
}

/// A running row: its input, tokens so far and cumulative log-probability.
#[derive(Debug, Clone)]
struct Row {
    input: usize,
    tokens: Vec<usize>,
    score: f64,
}

/// Beam search for `n_inputs` inputs; per input up to `num_hypotheses` hypotheses, best first.
/// The scorer's prefixes are the rows' tokens so far (empty at the first step).
pub fn ct2_beam_search<S: Scorer>(
    scorer: &mut S,
    n_inputs: usize,
    config: &Ct2BeamConfig,
) -> Vec<Vec<Hypothesis>> {
    let beam = config.beam.max(1);
    let wanted = ((beam as f64 * config.patience).round() as usize).max(1);
    let mut finished: Vec<Vec<(Vec<usize>, f64)>> = vec![Vec::new(); n_inputs];
    let mut rows: Vec<Row> = (0..n_inputs)
        .map(|input| Row {
            input,
            tokens: Vec::new(),
            score: 0.0,
        })
        .collect();
    let mut parents: Option<Vec<usize>> = None;
    for step in 0..config.max_steps {
        if rows.is_empty() {
            break;
        }
        let last_step = step + 1 == config.max_steps;
        let prefixes: Vec<Vec<usize>> = rows.iter().map(|r| r.tokens.clone()).collect();
        let log_probs = scorer.next_log_probs(&prefixes, parents.as_deref());
        let mut next_rows = Vec::new();
        let mut next_parents = Vec::new();
        let mut start = 0;
        while start < rows.len() {
            let input = rows[start].input;
            let end = (start..rows.len())
                .find(|&r| rows[r].input != input)
                .unwrap_or(rows.len());
            // The 2 * beam best (row, token, score) of this input's rows, best first; ties keep
            // the lower flat index (row-major), as a stable ranking.
            let mut candidates: Vec<(usize, usize, f64)> = Vec::new();
            for (r, row_lp) in log_probs.rows(start..end).enumerate() {
                let base = rows[start + r].score;
                for (t, &lp) in row_lp.iter().enumerate() {
                    if lp == f32::NEG_INFINITY {
                        continue;
                    }
                    candidates.push((start + r, t, base + lp as f64));
                }
            }
            let take = (2 * beam).min(candidates.len());
            if take < candidates.len() {
                candidates.select_nth_unstable_by(take, |a, b| {
                    b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1)))
                });
                candidates.truncate(take);
            }
            candidates.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
            let ends = |c: &(usize, usize, f64)| c.1 == config.end || last_step;
            let mut spare = beam.min(candidates.len());
            let mut kept = Vec::new();
            for k in 0..beam.min(candidates.len()) {
                let mut c = candidates[k];
                if ends(&c) {
                    let mut tokens = rows[c.0].tokens.clone();
                    if c.1 != config.end {
                        tokens.push(c.1);
                    }
                    finished[input].push((tokens, c.2));
                    // The slot takes the next candidate that does not end.
                    while spare < candidates.len() && ends(&candidates[spare]) {
                        spare += 1;
                    }
                    if spare >= candidates.len() {
                        continue;
                    }
                    c = candidates[spare];
                    spare += 1;
                }
                kept.push(c);
            }
            let done = last_step || finished[input].len() >= wanted;
            if !done {
                for (parent, token, score) in kept {
                    let mut tokens = rows[parent].tokens.clone();
                    tokens.push(token);
                    next_rows.push(Row {
                        input,
                        tokens,
                        score,
                    });
                    next_parents.push(parent);
                }
            }
            start = end;
        }
        rows = next_rows;
        parents = Some(next_parents);
    }
    finished
        .into_iter()
        .map(|list| {
            let mut hyps: Vec<Hypothesis> = list
                .into_iter()
                .map(|(tokens, log_prob)| {
                    let len = tokens.len().max(1) as f64;
                    Hypothesis {
                        score: log_prob / len.powf(config.length_penalty),
                        tokens,
                        log_prob,
                        finished: true,
                    }
                })
                .collect();
            // Stable: equal scores keep the order they finished in.
            hyps.sort_by(|a, b| b.score.total_cmp(&a.score));
            hyps.truncate(config.num_hypotheses.max(1));
            hyps
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::beam::LogProbRows;

    /// A scorer from a table: the log-probabilities after a prefix, by its last token.
    struct Table {
        rows: Vec<Vec<f32>>,
    }

    impl Scorer for Table {
        fn next_log_probs(&mut self, prefixes: &[Vec<usize>], _: Option<&[usize]>) -> LogProbRows {
            let rows: Vec<Vec<f32>> = prefixes
                .iter()
                .map(|p| self.rows[p.last().map_or(0, |&t| t)].clone())
                .collect();
            LogProbRows::from(rows)
        }
    }

    fn ln(p: f32) -> f32 {
        p.ln()
    }

    #[test]
    fn finished_hypotheses_are_ranked_by_length_normalised_score() {
        // Tokens: 0 END, 1 "a", 2 "b". From the start: a 0.6, b 0.4. After a: END 0.5, a 0.5.
        // After b: END 0.9, b 0.1.
        let table = Table {
            rows: vec![
                vec![f32::NEG_INFINITY, ln(0.6), ln(0.4)],
                vec![ln(0.5), ln(0.5), f32::NEG_INFINITY],
                vec![ln(0.9), f32::NEG_INFINITY, ln(0.1)],
            ],
        };
        let config = Ct2BeamConfig {
            beam: 2,
            patience: 1.0,
            length_penalty: 1.0,
            num_hypotheses: 2,
            max_steps: 10,
            end: 0,
        };
        let mut scorer = table;
        let out = ct2_beam_search(&mut scorer, 1, &config);
        // "b" END: log 0.36 over 1 token; "a" END: log 0.3 over 1 token: "b" first.
        assert_eq!(out[0][0].tokens, vec![2]);
        assert!((out[0][0].log_prob - (0.4f64 * 0.9).ln()).abs() < 1e-6);
        assert_eq!(out[0][1].tokens, vec![1]);
        // Two stored: the input is done after step 2 (round(2 * 1.0)).
        assert_eq!(out[0].len(), 2);
    }

    #[test]
    fn the_last_step_stores_running_hypotheses() {
        let table = Table {
            rows: vec![vec![f32::NEG_INFINITY, ln(0.7), ln(0.3)]; 3],
        };
        let config = Ct2BeamConfig {
            beam: 2,
            patience: 1.0,
            length_penalty: 1.0,
            num_hypotheses: 1,
            max_steps: 3,
            end: 0,
        };
        let mut scorer = table;
        let out = ct2_beam_search(&mut scorer, 2, &config);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0][0].tokens, vec![1, 1, 1]);
        assert_eq!(out[1][0].tokens, vec![1, 1, 1]);
    }
}
