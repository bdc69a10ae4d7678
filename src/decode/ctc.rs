//! Decoding a CTC model (`model::ctc`): one pass gives every position's distribution over the
//! symbols and the blank, all positions at once. Greedy takes each position's most likely
//! symbol and collapses that path (repeats merged, blanks removed). Beam search keeps the
//! `beam` most probable *outputs* rather than paths, each with the summed probability of all
//! alignments seen so far that reduce to it, split by whether they end in a blank (CTC prefix
//! beam search, Graves 2012 section 7.5; Hannun et al. 2014 without a language model).
//!
//! Scores are log-probabilities: greedy's is its path's, beam's the sum over its output's
//! alignments; no length penalty (the output length is not a choice made token by token).

use super::Hypothesis;
use crate::model::ctc::{collapse, BLANK};
use crate::model::Transformer;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use std::collections::HashMap;

/// Every position's log-probabilities for one input: `time` rows of `vocab` values.
pub struct Lattice {
    pub log_probs: Vec<f32>,
    pub vocab: usize,
}

impl Lattice {
    pub fn time(&self) -> usize {
        self.log_probs.len() / self.vocab
    }

    fn row(&self, t: usize) -> &[f32] {
        &self.log_probs[t * self.vocab..(t + 1) * self.vocab]
    }
}

/// One forward pass of every member; per input, the weighted average of the members'
/// log-probabilities (weights normalised to sum 1) over its unpadded positions.
///
/// # Shapes
/// - `src`, `src_padding`: `[batch, src_len]`
/// - output: `batch` lattices of `src_len_i * k` positions
pub fn lattices<B: Backend>(
    members: &[(&Transformer<B>, f32)],
    src: Tensor<B, 2, Int>,
    src_padding: Tensor<B, 2, Bool>,
) -> Vec<Lattice> {
    let total_weight: f32 = members.iter().map(|(_, w)| w).sum();
    let mut sum: Option<Tensor<B, 3>> = None;
    let mut padding = None;
    for (model, weight) in members {
        let (logits, time_padding) = model.forward_ctc(src.clone(), Some(src_padding.clone()));
        let log_probs = log_softmax(logits, 2).mul_scalar(weight / total_weight);
        sum = Some(match sum {
            Some(sum) => {
                assert_eq!(
                    sum.dims(),
                    log_probs.dims(),
                    "CTC ensemble members must upsample the source by the same factor"
                );
                sum + log_probs
            }
            None => log_probs,
        });
        padding = Some(time_padding);
    }
    let log_probs = sum.expect("an ensemble has at least one member");
    let [batch, time, vocab] = log_probs.dims();
    let values = log_probs
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap();
    let padded = padding
        .expect("an ensemble has at least one member")
        .into_data()
        .to_vec::<bool>()
        .unwrap();
    (0..batch)
        .map(|b| {
            let len = padded[b * time..(b + 1) * time]
                .iter()
                .filter(|&&pad| !pad)
                .count();
            let start = b * time * vocab;
            Lattice {
                log_probs: values[start..start + len * vocab].to_vec(),
                vocab,
            }
        })
        .collect()
}

/// The most likely symbol at each position, collapsed; at most `max_steps` tokens (more are
/// cut, and the hypothesis marked unfinished).
pub fn greedy(lattice: &Lattice, max_steps: usize) -> Hypothesis {
    let mut path = Vec::with_capacity(lattice.time());
    let mut log_prob = 0.0f64;
    for t in 0..lattice.time() {
        let (best, value) =
            lattice
                .row(t)
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv {
                        (i, v)
                    } else {
                        (bi, bv)
                    }
                });
        path.push(best);
        log_prob += f64::from(value);
    }
    hypothesis(collapse(&path), log_prob, max_steps)
}

fn hypothesis(mut tokens: Vec<usize>, log_prob: f64, max_steps: usize) -> Hypothesis {
    let finished = tokens.len() <= max_steps;
    tokens.truncate(max_steps);
    Hypothesis {
        tokens,
        log_prob,
        score: log_prob,
        finished,
    }
}

/// `log(exp(a) + exp(b))`.
fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// A prefix's probability split by how its alignments end: in a blank, or in its last symbol.
#[derive(Clone, Copy)]
struct Ends {
    blank: f64,
    symbol: f64,
}

impl Ends {
    const NONE: Ends = Ends {
        blank: f64::NEG_INFINITY,
        symbol: f64::NEG_INFINITY,
    };

    fn total(self) -> f64 {
        log_add(self.blank, self.symbol)
    }
}

/// CTC prefix beam search: the `nbest` most probable outputs of the `beam` kept per position,
/// best first. At each position only the `beam` most likely symbols extend a prefix (the
/// blank and a prefix's own last symbol always count).
pub fn prefix_beam(
    lattice: &Lattice,
    beam: usize,
    nbest: usize,
    max_steps: usize,
) -> Vec<Hypothesis> {
    let mut beams: Vec<(Vec<usize>, Ends)> = vec![(
        Vec::new(),
        Ends {
            blank: 0.0,
            symbol: f64::NEG_INFINITY,
        },
    )];
    let mut candidates: Vec<usize> = Vec::with_capacity(lattice.vocab);
    for t in 0..lattice.time() {
        let row = lattice.row(t);
        candidates.clear();
        candidates.extend((0..lattice.vocab).filter(|&s| s != BLANK));
        if candidates.len() > beam {
            candidates.select_nth_unstable_by(beam - 1, |&a, &b| row[b].total_cmp(&row[a]));
            candidates.truncate(beam);
        }
        let mut next: HashMap<Vec<usize>, Ends> = HashMap::with_capacity(beams.len() * (beam + 1));
        for (prefix, ends) in &beams {
            let total = ends.total();
            // A blank: the output stays, its alignments now end in a blank.
            let entry = next.entry(prefix.clone()).or_insert(Ends::NONE);
            entry.blank = log_add(entry.blank, total + f64::from(row[BLANK]));
            // The last symbol again, merged into it: the output stays.
            if let Some(&last) = prefix.last() {
                entry.symbol = log_add(entry.symbol, ends.symbol + f64::from(row[last]));
            }
            // A new symbol; the same as the last one only after a blank.
            for &symbol in &candidates {
                let from = if prefix.last() == Some(&symbol) {
                    ends.blank
                } else {
                    total
                };
                let mut longer = prefix.clone();
                longer.push(symbol);
                let entry = next.entry(longer).or_insert(Ends::NONE);
                entry.symbol = log_add(entry.symbol, from + f64::from(row[symbol]));
            }
        }
        beams = next.into_iter().collect();
        sort_best_first(&mut beams);
        beams.truncate(beam);
    }
    beams
        .into_iter()
        .take(nbest)
        .map(|(tokens, ends)| hypothesis(tokens, ends.total(), max_steps))
        .collect()
}

/// Most probable first; ties by the token sequence, so the order does not depend on hashing.
fn sort_best_first(beams: &mut [(Vec<usize>, Ends)]) {
    beams.sort_by(|(a, ea), (b, eb)| eb.total().total_cmp(&ea.total()).then_with(|| a.cmp(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lattice from probabilities (rows normalised here).
    fn lattice(rows: &[&[f64]]) -> Lattice {
        let vocab = rows[0].len();
        let log_probs = rows
            .iter()
            .flat_map(|row| {
                let sum: f64 = row.iter().sum();
                row.iter().map(move |p| (p / sum).ln() as f32)
            })
            .collect();
        Lattice { log_probs, vocab }
    }

    /// Every output's probability by brute force: all `vocab^time` paths, collapsed.
    fn all_outputs(lattice: &Lattice) -> Vec<(Vec<usize>, f64)> {
        let (time, vocab) = (lattice.time(), lattice.vocab);
        let mut sums: HashMap<Vec<usize>, f64> = HashMap::new();
        for code in 0..vocab.pow(time as u32) {
            let path: Vec<usize> = (0..time)
                .map(|t| code / vocab.pow(t as u32) % vocab)
                .collect();
            let p: f64 = path
                .iter()
                .enumerate()
                .map(|(t, &s)| f64::from(lattice.row(t)[s]).exp())
                .product();
            *sums.entry(collapse(&path)).or_default() += p;
        }
        let mut outputs: Vec<(Vec<usize>, f64)> = sums.into_iter().collect();
        outputs.sort_by(|(a, pa), (b, pb)| pb.total_cmp(pa).then_with(|| a.cmp(b)));
        outputs
    }

    #[test]
    fn greedy_collapses_the_best_path() {
        // Positions' best: 4, 4, blank, 4, 5 -> output 4 4 5.
        let l = lattice(&[
            &[0.1, 0.0, 0.0, 0.0, 0.8, 0.1],
            &[0.2, 0.0, 0.0, 0.0, 0.7, 0.1],
            &[0.6, 0.0, 0.0, 0.0, 0.3, 0.1],
            &[0.1, 0.0, 0.0, 0.0, 0.5, 0.4],
            &[0.3, 0.0, 0.0, 0.0, 0.1, 0.6],
        ]);
        let h = greedy(&l, 10);
        assert_eq!(h.tokens, vec![4, 4, 5]);
        let expected = (0.8f64 * 0.7 * 0.6 * 0.5 * 0.6).ln();
        assert!((h.log_prob - expected).abs() < 1e-5, "{}", h.log_prob);
        assert!(h.finished);
        let cut = greedy(&l, 2);
        assert_eq!(cut.tokens, vec![4, 4]);
        assert!(!cut.finished);
    }

    #[test]
    fn a_wide_beam_finds_every_outputs_summed_probability() {
        // 3 symbols (blank, 1, 2 standing for ids 0, 4, 5 is not needed: ids are indices),
        // 5 positions: 243 paths. Probabilities chosen so that the best path's output is not
        // the most probable output.
        let l = lattice(&[
            &[0.5, 0.0, 0.0, 0.0, 0.3, 0.2],
            &[0.4, 0.0, 0.0, 0.0, 0.35, 0.25],
            &[0.45, 0.0, 0.0, 0.0, 0.3, 0.25],
            &[0.3, 0.0, 0.0, 0.0, 0.4, 0.3],
            &[0.5, 0.0, 0.0, 0.0, 0.2, 0.3],
        ]);
        // Zero probabilities give -inf; the brute force skips nothing, the beam never picks them.
        let exact = all_outputs(&l);
        let hyps = prefix_beam(&l, 64, 5, 10);
        assert_eq!(hyps.len(), 5);
        for (h, (tokens, p)) in hyps.iter().zip(&exact) {
            assert_eq!(&h.tokens, tokens);
            assert!(
                (h.log_prob - p.ln()).abs() < 1e-5,
                "{} vs {}",
                h.log_prob,
                p.ln()
            );
        }
        // Greedy's path (all blanks but position 3) gives [4]; the most probable output differs
        // in general: here the summed probabilities decide.
        let g = greedy(&l, 10);
        assert!(hyps[0].log_prob >= g.log_prob);
    }

    #[test]
    fn a_narrow_beam_scores_lower_bounds_and_a_wider_one_finds_the_best() {
        let l = lattice(&[
            &[0.2, 0.0, 0.0, 0.0, 0.5, 0.3],
            &[0.6, 0.0, 0.0, 0.0, 0.2, 0.2],
            &[0.1, 0.0, 0.0, 0.0, 0.6, 0.3],
        ]);
        // By hand: 5 4 sums to 0.21 (5 _ 4, 5 5 4, 5 4 4, 5 4 _, _ 5 4), 4 to 0.20, 4 4 to 0.18.
        let exact = all_outputs(&l);
        assert_eq!(exact[0].0, vec![5, 4]);
        assert!((exact[0].1 - 0.21).abs() < 1e-6);
        // A beam of 2 prunes 5 4 early (its prefix 5 4 had 0.06 after two positions) and
        // counts only the alignments it kept: each score is at most the exact sum.
        let narrow = prefix_beam(&l, 2, 2, 10);
        assert_eq!(narrow[0].tokens, vec![4, 4]);
        assert!(narrow[0].log_prob >= narrow[1].log_prob);
        for h in &narrow {
            let p = exact.iter().find(|(t, _)| t == &h.tokens).unwrap().1;
            assert!(h.log_prob <= p.ln() + 1e-9);
        }
        // A beam of 5 keeps it and finds the exact best.
        let wide = prefix_beam(&l, 5, 1, 10);
        assert_eq!(wide[0].tokens, vec![5, 4]);
        assert!((wide[0].log_prob - 0.21f64.ln()).abs() < 1e-5);
    }

    #[test]
    fn log_add_is_the_log_of_the_sum() {
        let s = log_add(0.3f64.ln(), 0.5f64.ln());
        assert!((s - 0.8f64.ln()).abs() < 1e-12);
        assert_eq!(log_add(f64::NEG_INFINITY, -1.0), -1.0);
    }
}
