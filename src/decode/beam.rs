//! Beam search with a length penalty and N-best output.
//!
//! The search is written against [`Scorer`], which gives next-token log-probabilities for a set
//! of rows; [`super::TransformerScorer`] implements it with the model's decoding step (KV cache
//! reordered as beams move), and tests implement it with hand-written tables.

use super::Hypothesis;
use crate::vocab::{BEGIN, END};

/// Beam search settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeamConfig {
    /// Hypotheses kept per input (1 = greedy).
    pub beam: usize,
    /// Finished hypotheses returned per input (at most `beam`).
    pub nbest: usize,
    /// GNMT length penalty exponent: hypotheses are ranked by
    /// `log P / ((5 + len) / 6)^lenpen`; 0 ranks by raw log-probability.
    pub lenpen: f64,
    /// Longest output (tokens, END excluded).
    pub max_steps: usize,
}

impl BeamConfig {
    pub fn new(beam: usize) -> Self {
        Self {
            beam,
            nbest: 1,
            lenpen: 0.0,
            max_steps: 64,
        }
    }

    /// The ranking score of a hypothesis of `len` tokens (END counted) with log-probability `lp`.
    pub fn score(&self, lp: f64, len: usize) -> f64 {
        if self.lenpen == 0.0 {
            lp
        } else {
            lp / ((5.0 + len as f64) / 6.0).powf(self.lenpen)
        }
    }
}

/// Next-token log-probabilities of several rows in one buffer, row after row (as the model's
/// `[rows, vocab]` output comes back from the device: no copy per row). `rows[r]` is row `r`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogProbRows {
    values: Vec<f32>,
    width: usize,
}

impl LogProbRows {
    /// Rows of `width` values each, read from `values` in order.
    ///
    /// # Panics
    /// If `values` is not a whole number of rows (or `width` is 0 and `values` is not empty).
    pub fn new(values: Vec<f32>, width: usize) -> Self {
        // `is_multiple_of(0)` holds for 0 alone: no values without a width.
        assert!(
            values.len().is_multiple_of(width),
            "{} values are not rows of {width}",
            values.len()
        );
        Self { values, width }
    }

    /// Rows `range`, in order.
    pub fn rows(&self, range: std::ops::Range<usize>) -> std::slice::ChunksExact<'_, f32> {
        self.values[range.start * self.width..range.end * self.width]
            .chunks_exact(self.width.max(1))
    }

    /// Every row, mutably.
    pub fn rows_mut(&mut self) -> std::slice::ChunksExactMut<'_, f32> {
        self.values.chunks_exact_mut(self.width.max(1))
    }
}

impl From<Vec<Vec<f32>>> for LogProbRows {
    /// Rows of equal length (a scorer written row by row, as the tests' tables are).
    ///
    /// # Panics
    /// If the rows' lengths differ.
    fn from(rows: Vec<Vec<f32>>) -> Self {
        let width = rows.first().map_or(0, Vec::len);
        assert!(
            rows.iter().all(|r| r.len() == width),
            "rows of different lengths"
        );
        Self::new(rows.concat(), width)
    }
}

impl std::ops::Index<usize> for LogProbRows {
    type Output = [f32];
    fn index(&self, row: usize) -> &[f32] {
        &self.values[row * self.width..(row + 1) * self.width]
    }
}

/// Next-token log-probabilities for rows of partial hypotheses.
pub trait Scorer {
    /// `prefixes[r]` is row `r`'s tokens so far (BEGIN first); `parents[r]` is the row of the
    /// previous call that row `r` extends (`None` on the first call, when the rows are the
    /// inputs themselves, one each). Rows may be fewer or more than in the previous call: a
    /// beam search starts from one row per input, widens to `beam` rows, and drops the rows of
    /// inputs that are done. Returns one log-probability vector over the vocabulary per row.
    fn next_log_probs(&mut self, prefixes: &[Vec<usize>], parents: Option<&[usize]>)
        -> LogProbRows;
}

/// A live partial hypothesis: its input, tokens so far (BEGIN first) and log-probability.
#[derive(Debug, Clone)]
struct Live {
    input: usize,
    prefix: Vec<usize>,
    log_prob: f64,
}

/// Beam search for `n_inputs` inputs. The scorer sees only live rows, grouped by input: one
/// row per input at the first step (its `beam` rows would all be the same), then up to `beam`
/// per input until the input is done. Returns per input up to `nbest` hypotheses, best first.
pub fn beam_search<S: Scorer>(
    scorer: &mut S,
    n_inputs: usize,
    config: &BeamConfig,
) -> Vec<Vec<Hypothesis>> {
    beam_search_limited(scorer, &vec![config.max_steps; n_inputs], config)
}

/// [`beam_search`] with a length limit per input (`limits[i]` tokens for input `i`, at most
/// `config.max_steps`; a limit relative to the source's length, [`super::LengthLimit`]): an
/// input's live hypotheses are cut off, unfinished, at its limit.
///
/// An input is done as soon as its `nbest` best finished hypotheses cannot be beaten by any
/// live one within its limit: log-probabilities only fall as tokens are added, but the length
/// penalty's divisor grows with length, so a live hypothesis of log-probability `lp` can
/// score at most `lp` over the divisor of the longest output the limit allows (`lp` itself
/// without a penalty). The same bound as fairseq's and transformers' (`early_stopping =
/// "never"`) for a penalty that rewards length; what it returns is what running every beam
/// to the limit would return (tested against that on hand-written scorers).
pub fn beam_search_limited<S: Scorer>(
    scorer: &mut S,
    limits: &[usize],
    config: &BeamConfig,
) -> Vec<Vec<Hypothesis>> {
    search(scorer, limits, config, true)
}

/// The search; `stop_early` false runs every input's beams to its limit (what the stopping
/// bound is tested against).
fn search<S: Scorer>(
    scorer: &mut S,
    limits: &[usize],
    config: &BeamConfig,
    stop_early: bool,
) -> Vec<Vec<Hypothesis>> {
    let n_inputs = limits.len();
    let limits: Vec<usize> = limits
        .iter()
        .map(|&l| l.min(config.max_steps).max(1))
        .collect();
    let k = config.beam.max(1);
    let nbest = config.nbest.clamp(1, k);
    let mut live: Vec<Live> = (0..n_inputs)
        .map(|input| Live {
            input,
            prefix: vec![BEGIN],
            log_prob: 0.0,
        })
        .collect();
    let mut finished: Vec<Vec<Hypothesis>> = vec![Vec::new(); n_inputs];
    let mut parents: Option<Vec<usize>> = None;

    let mut step = 0;
    while !live.is_empty() {
        step += 1;
        let prefixes: Vec<Vec<usize>> = live.iter().map(|l| l.prefix.clone()).collect();
        let next = scorer.next_log_probs(&prefixes, parents.as_deref());
        let mut new_live: Vec<Live> = Vec::with_capacity(live.len() * k);
        let mut new_parents: Vec<usize> = Vec::with_capacity(live.len() * k);
        let mut first = 0;
        while first < live.len() {
            let input = live[first].input;
            let end = first
                + live[first..]
                    .iter()
                    .take_while(|l| l.input == input)
                    .count();
            // At most one END per row (at most k rows) comes before the k kept: the best 2k
            // (row, token) extensions of this input suffice, and they are among the best 2k of
            // their rows.
            let mut candidates: Vec<(f64, usize, usize)> =
                Vec::with_capacity((end - first) * 2 * k);
            for row in first..end {
                row_best(live[row].log_prob, row, &next[row], 2 * k, &mut candidates);
            }
            let candidates = best_candidates(candidates, 2 * k);
            // Extensions by END finish; the best k others stay alive.
            let kept_from = new_live.len();
            for (lp, row, token) in candidates {
                if lp == f64::NEG_INFINITY || new_live.len() - kept_from == k {
                    break;
                }
                if token == END {
                    let tokens = live[row].prefix[1..].to_vec();
                    let score = config.score(lp, tokens.len() + 1);
                    finished[input].push(Hypothesis {
                        tokens,
                        log_prob: lp,
                        score,
                        finished: true,
                    });
                } else {
                    let mut prefix = live[row].prefix.clone();
                    prefix.push(token);
                    new_live.push(Live {
                        input,
                        prefix,
                        log_prob: lp,
                    });
                    new_parents.push(row);
                }
            }
            // Done when `nbest` hypotheses have finished and no live one can still beat the
            // nbest-th (the bound of `beam_search_limited`), or at the input's limit, where
            // its live hypotheses are cut off unfinished.
            let kept = new_live.len() - kept_from;
            let best_alive = new_live[kept_from..]
                .iter()
                .map(|l| l.log_prob)
                .fold(f64::NEG_INFINITY, f64::max);
            let bound = if config.lenpen == 0.0 {
                best_alive
            } else {
                config.score(best_alive, limits[input] + 1)
            };
            let list = &mut finished[input];
            list.sort_by(|a, b| b.score.total_cmp(&a.score));
            let beaten = stop_early && list.len() >= nbest && list[nbest - 1].score >= bound;
            if kept == 0 || beaten || step >= limits[input] {
                if !beaten {
                    for l in &new_live[kept_from..] {
                        let tokens = l.prefix[1..].to_vec();
                        let score = config.score(l.log_prob, tokens.len());
                        list.push(Hypothesis {
                            tokens,
                            log_prob: l.log_prob,
                            score,
                            finished: false,
                        });
                    }
                }
                // Its rows leave the batch.
                new_live.truncate(kept_from);
                new_parents.truncate(kept_from);
            }
            first = end;
        }
        live = new_live;
        parents = Some(new_parents);
    }
    for list in &mut finished {
        list.sort_by(|a, b| b.score.total_cmp(&a.score));
        list.truncate(config.nbest.max(1));
    }
    finished
}

/// Append the `n` best extensions `(base + log_probs[token], row, token)` of one row, best
/// first in [`best_candidates`]' order (ties: the smaller token first), by one scan that keeps
/// the best `n` so far: tokens come in ascending order, so a later token enters only with a
/// strictly higher score. A beam over an 8,000-piece vocabulary reads 2k of each row's 8,000
/// (sorting or even partitioning all of them took 16% of a translation beam search).
pub(crate) fn row_best(
    base: f64,
    row: usize,
    log_probs: &[f32],
    n: usize,
    out: &mut Vec<(f64, usize, usize)>,
) {
    use std::cmp::Ordering;
    let start = out.len();
    if n == 0 {
        return;
    }
    // Once `n` are kept, a block of 16 whose largest value cannot beat the worst kept is
    // skipped whole: one vectorizable integer max per block instead of a conversion and a
    // comparison per token. The largest is taken in `total_cmp`'s order (NaNs and signed
    // zeros included), in which `base + lp` never decreases as `lp` grows, so no token of a
    // skipped block would have entered.
    const BLOCK: usize = 16;
    for (b, block) in log_probs.chunks(BLOCK).enumerate() {
        if out.len() - start == n {
            let worst = out[out.len() - 1].0;
            let block_max = block
                .iter()
                .map(|&x| total_key(x))
                .max()
                .map(from_total_key);
            if let Some(block_max) = block_max {
                if (base + block_max as f64).total_cmp(&worst) != Ordering::Greater {
                    continue;
                }
            }
        }
        for (i, &lp) in block.iter().enumerate() {
            let score = base + lp as f64;
            if out.len() - start == n {
                let worst = out[out.len() - 1].0;
                if score.total_cmp(&worst) != Ordering::Greater {
                    continue;
                }
                out.pop();
            }
            let mut at = out.len();
            while at > start && out[at - 1].0.total_cmp(&score) == Ordering::Less {
                at -= 1;
            }
            out.insert(at, (score, row, b * BLOCK + i));
        }
    }
}

/// `x`'s bits as an integer ordered as `f32::total_cmp` orders the floats (its own transform).
#[inline(always)]
fn total_key(x: f32) -> i32 {
    let bits = x.to_bits() as i32;
    bits ^ (((bits >> 31) as u32) >> 1) as i32
}

/// The float whose [`total_key`] is `key` (the transform is its own inverse).
#[inline(always)]
fn from_total_key(key: i32) -> f32 {
    f32::from_bits((key ^ (((key >> 31) as u32) >> 1) as i32) as u32)
}

/// The `n` best of `candidates` (`(log-probability, row, token)`), best first, ties in
/// `(row, token)` order: what a stable sort by descending score would put first, found by
/// selection in linear time (a beam over an 8,000-piece vocabulary has 40,000 candidates a
/// step, of which 2k are read).
pub(crate) fn best_candidates(
    mut candidates: Vec<(f64, usize, usize)>,
    n: usize,
) -> Vec<(f64, usize, usize)> {
    let order = |a: &(f64, usize, usize), b: &(f64, usize, usize)| {
        b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2)))
    };
    if n == 0 {
        return Vec::new();
    }
    if candidates.len() > n {
        candidates.select_nth_unstable_by(n - 1, order);
        candidates.truncate(n);
    }
    candidates.sort_by(order);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::table_scorer::{garden_path, Table};

    #[test]
    fn the_best_of_each_row_hold_the_best_of_all() {
        // 3 rows of 40 tokens with many ties (scores on a coarse grid), -inf among them.
        let rows: Vec<Vec<f32>> = (0..3)
            .map(|r| {
                (0..40)
                    .map(|t| match (r * 7 + t * 13) % 9 {
                        0 => f32::NEG_INFINITY,
                        v => -(v as f32) / 2.0,
                    })
                    .collect()
            })
            .collect();
        let bases = [-1.0, -0.5, -1.5];
        let mut all = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            for (t, &lp) in row.iter().enumerate() {
                all.push((bases[r] + lp as f64, r, t));
            }
        }
        for n in [1, 2, 6, 10, 40, 50] {
            let mut tops = Vec::new();
            for (r, row) in rows.iter().enumerate() {
                let before = tops.len();
                row_best(bases[r], r, row, n, &mut tops);
                assert_eq!(tops.len() - before, n.min(40));
                // Each row's part is its own best, in order.
                let mut own: Vec<_> = all.iter().copied().filter(|c| c.1 == r).collect();
                own = best_candidates(own, n);
                assert_eq!(&tops[before..], &own[..], "row {r}, n = {n}");
            }
            assert_eq!(
                best_candidates(tops, n),
                best_candidates(all.clone(), n),
                "n = {n}"
            );
        }
    }

    #[test]
    fn row_best_skipping_blocks_keeps_what_a_scan_of_every_token_keeps() {
        // Rows of 1,003 tokens (a ragged last block) from a fixed LCG, with NaNs of both signs,
        // signed zeros, -inf and ties; bases of both zero signs and ordinary ones.
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        for (case, base) in [0.0, -0.0, -3.25, -1e-9].into_iter().enumerate() {
            let row: Vec<f32> = (0..1003)
                .map(|_| match next() % 50 {
                    0 => f32::NAN,
                    1 => -f32::NAN,
                    2 => 0.0,
                    3 => -0.0,
                    4 => f32::NEG_INFINITY,
                    5 => -2.5,
                    v => -((v * 7919 + next() % 1000) as f32) / 97.0,
                })
                .collect();
            let all: Vec<_> = row
                .iter()
                .enumerate()
                .map(|(t, &lp)| (base + lp as f64, case, t))
                .collect();
            for n in [1, 3, 10, 64] {
                let mut tops = Vec::new();
                row_best(base, case, &row, n, &mut tops);
                let want = best_candidates(all.clone(), n);
                let bits = |v: &[(f64, usize, usize)]| -> Vec<(u64, usize)> {
                    v.iter().map(|c| (c.0.to_bits(), c.2)).collect()
                };
                assert_eq!(bits(&tops), bits(&want), "base {base}, n = {n}");
            }
        }
    }

    #[test]
    fn total_keys_order_floats_as_total_cmp_does() {
        let mut xs = vec![
            f32::NAN,
            -f32::NAN,
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1.5,
            -1.5,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
        ];
        xs.sort_by(|a, b| a.total_cmp(b));
        for pair in xs.windows(2) {
            assert!(total_key(pair[0]) < total_key(pair[1]), "{pair:?}");
        }
        for x in xs {
            assert_eq!(from_total_key(total_key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn best_candidates_equal_a_stable_sort_with_ties() {
        let mut all = Vec::new();
        for row in 0..3 {
            for token in 0..50 {
                // Many ties: 7 distinct scores.
                all.push((-(((row * 50 + token) * 13 % 7) as f64), row, token));
            }
        }
        all.push((f64::NEG_INFINITY, 3, 0));
        let mut sorted = all.clone();
        sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
        for n in [1, 2, 5, 10, 151, 400] {
            let want: Vec<_> = sorted.iter().take(n).copied().collect();
            assert_eq!(best_candidates(all.clone(), n), want, "n = {n}");
        }
        assert!(best_candidates(all, 0).is_empty());
    }

    #[test]
    fn beam_finds_the_best_sequence_that_greedy_misses() {
        let config = BeamConfig {
            beam: 3,
            nbest: 3,
            lenpen: 0.0,
            max_steps: 10,
        };
        let result = beam_search(&mut garden_path(), 1, &config);
        let best: Vec<Vec<usize>> = result[0].iter().map(|h| h.tokens.clone()).collect();
        // P(5 6) = 0.4, P(4 6) = 0.2, P(4 7) = P(4) = 0.15
        assert_eq!(best[0], vec![5, 6]);
        assert!((result[0][0].log_prob - 0.4f64.ln()).abs() < 1e-6);
        assert_eq!(best[1], vec![4, 6]);
        assert!(
            result[0].windows(2).all(|w| w[0].score >= w[1].score),
            "N-best is sorted"
        );
        let greedy_like = beam_search(&mut garden_path(), 1, &BeamConfig::new(1));
        assert_eq!(greedy_like[0][0].tokens, vec![4, 6]);
    }

    #[test]
    fn length_penalty_favours_longer_hypotheses() {
        // "4 END" has p 0.3*0.5 = 0.15 (len 2), "5 6 END" p 0.4 (len 3) -- make the short one
        // slightly more likely and check that lenpen flips the order.
        let table = || Table {
            vocab: 8,
            rows: vec![
                (vec![], vec![(4, 0.55), (5, 0.45)]),
                (vec![4], vec![(END, 1.0)]),
                (vec![5], vec![(6, 1.0)]),
                (vec![5, 6], vec![(7, 0.95), (END, 0.05)]),
                (vec![5, 6, 7], vec![(END, 1.0)]),
            ],
        };
        let plain = beam_search(
            &mut table(),
            1,
            &BeamConfig {
                beam: 2,
                nbest: 2,
                lenpen: 0.0,
                max_steps: 10,
            },
        );
        assert_eq!(plain[0][0].tokens, vec![4]);
        let penalised = beam_search(
            &mut table(),
            1,
            &BeamConfig {
                beam: 2,
                nbest: 2,
                lenpen: 2.0,
                max_steps: 10,
            },
        );
        assert_eq!(penalised[0][0].tokens, vec![5, 6, 7]);
    }

    #[test]
    fn max_steps_cuts_off_unfinished_hypotheses() {
        let mut table = Table {
            vocab: 8,
            rows: vec![
                (vec![], vec![(4, 1.0)]),
                (vec![4], vec![(4, 1.0)]),
                (vec![4, 4], vec![(4, 1.0)]),
            ],
        };
        let result = beam_search(
            &mut table,
            1,
            &BeamConfig {
                beam: 2,
                nbest: 1,
                lenpen: 0.0,
                max_steps: 2,
            },
        );
        assert_eq!(result[0][0].tokens, vec![4, 4]);
        assert!(!result[0][0].finished);
    }

    #[test]
    fn several_inputs_are_searched_independently() {
        let result = beam_search(
            &mut garden_path(),
            3,
            &BeamConfig {
                beam: 2,
                nbest: 1,
                lenpen: 0.0,
                max_steps: 10,
            },
        );
        assert_eq!(result.len(), 3);
        assert!(result.iter().all(|r| r[0].tokens == vec![5, 6]));
    }

    /// Log-probabilities from a hash of the prefix: a scorer with no hand-picked answer,
    /// tokens 3..vocab and END, PAD and BEGIN never. Counts its rows.
    struct Hashed {
        vocab: usize,
        salt: u64,
        rows: usize,
    }

    impl Scorer for Hashed {
        fn next_log_probs(
            &mut self,
            prefixes: &[Vec<usize>],
            _parents: Option<&[usize]>,
        ) -> LogProbRows {
            self.rows += prefixes.len();
            let rows: Vec<Vec<f32>> = prefixes
                .iter()
                .map(|prefix| {
                    let mut h = self.salt ^ 0x9e37_79b9_7f4a_7c15;
                    for &t in prefix {
                        h = (h ^ t as u64).wrapping_mul(0x100_0000_01b3);
                    }
                    let weights: Vec<f64> = (0..self.vocab)
                        .map(|t| {
                            if t == crate::vocab::PAD || t == BEGIN {
                                return 0.0;
                            }
                            let x = (h ^ (t as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d))
                                .wrapping_mul(0x5851_f42d_4c95_7f2d);
                            // END a little less likely, so that outputs have some length.
                            let w = 0.05 + ((x >> 40) % 1000) as f64 / 1000.0;
                            if t == END {
                                w * 0.4
                            } else {
                                w
                            }
                        })
                        .collect();
                    let total: f64 = weights.iter().sum();
                    weights.iter().map(|w| (w / total).ln() as f32).collect()
                })
                .collect();
            rows.into()
        }
    }

    fn hashed(salt: u64) -> Hashed {
        Hashed {
            vocab: 6,
            salt,
            rows: 0,
        }
    }

    #[test]
    fn stopping_at_the_bound_returns_what_running_to_the_limit_returns() {
        let limits = [3, 5, 8, 1];
        let mut saved = 0;
        for salt in 0..12 {
            for lenpen in [0.0, 0.6, 1.0, 1.4, 2.0] {
                for (beam, nbest) in [(1, 1), (2, 1), (3, 2), (4, 4)] {
                    let config = BeamConfig {
                        beam,
                        nbest,
                        lenpen,
                        max_steps: 64,
                    };
                    let mut early = hashed(salt);
                    let mut full = hashed(salt);
                    let stopped = search(&mut early, &limits, &config, true);
                    let ran = search(&mut full, &limits, &config, false);
                    assert_eq!(stopped, ran, "salt {salt}, lenpen {lenpen}, beam {beam}");
                    for (list, &limit) in stopped.iter().zip(&limits) {
                        assert_eq!(list.len(), nbest);
                        assert!(list.iter().all(|h| h.tokens.len() <= limit));
                    }
                    assert!(early.rows <= full.rows);
                    saved += full.rows - early.rows;
                }
            }
        }
        assert!(saved > 0, "the bound never stopped a search early");
    }

    /// Every sequence over tokens {3, 4, 5} up to `limit` tokens, ended by END or cut off at
    /// the limit, with its log-probability under `scorer`: what an exhaustive search ranks.
    fn every_sequence(scorer: &mut Hashed, limit: usize) -> Vec<(Vec<usize>, f64, bool)> {
        let mut out = Vec::new();
        let mut frontier = vec![(vec![BEGIN], 0.0f64)];
        for step in 1..=limit {
            let prefixes: Vec<Vec<usize>> = frontier.iter().map(|(p, _)| p.clone()).collect();
            let next = scorer.next_log_probs(&prefixes, None);
            let mut grown = Vec::new();
            for (r, (prefix, lp)) in frontier.iter().enumerate() {
                out.push((prefix[1..].to_vec(), lp + next[r][END] as f64, true));
                for t in 3..scorer.vocab {
                    let mut p = prefix.clone();
                    p.push(t);
                    let lp = lp + next[r][t] as f64;
                    if step == limit {
                        out.push((p[1..].to_vec(), lp, false));
                    } else {
                        grown.push((p, lp));
                    }
                }
            }
            frontier = grown;
        }
        out
    }

    #[test]
    fn a_beam_wide_enough_finds_the_exhaustive_best_under_each_penalty() {
        let limit = 4;
        for salt in 0..6 {
            for lenpen in [0.0, 1.0, 2.0] {
                // 3^4 = 81 live prefixes at most: a beam of 81 prunes nothing.
                let config = BeamConfig {
                    beam: 81,
                    nbest: 3,
                    lenpen,
                    max_steps: 64,
                };
                let found = beam_search_limited(&mut hashed(salt), &[limit], &config);
                let mut all: Vec<(f64, Vec<usize>)> = every_sequence(&mut hashed(salt), limit)
                    .into_iter()
                    .map(|(tokens, lp, finished)| {
                        let len = tokens.len() + usize::from(finished);
                        (config.score(lp, len), tokens)
                    })
                    .collect();
                all.sort_by(|a, b| b.0.total_cmp(&a.0));
                let best: Vec<&Vec<usize>> = all.iter().take(3).map(|(_, t)| t).collect();
                let got: Vec<&Vec<usize>> = found[0].iter().map(|h| &h.tokens).collect();
                assert_eq!(got, best, "salt {salt}, lenpen {lenpen}");
                for (h, (score, _)) in found[0].iter().zip(&all) {
                    assert!((h.score - score).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn each_input_is_cut_off_at_its_own_limit() {
        // 4 forever: no input ever finishes.
        let table = || Table {
            vocab: 8,
            rows: (0..12).map(|n| (vec![4; n], vec![(4, 1.0)])).collect(),
        };
        let config = BeamConfig {
            beam: 2,
            nbest: 1,
            lenpen: 1.0,
            max_steps: 6,
        };
        let out = beam_search_limited(&mut table(), &[2, 9, 0, 5], &config);
        let lens: Vec<usize> = out.iter().map(|l| l[0].tokens.len()).collect();
        // 9 is capped by max_steps; a limit of 0 still takes the one step a search makes.
        assert_eq!(lens, vec![2, 6, 1, 5]);
        assert!(out.iter().all(|l| !l[0].finished));
    }
}
