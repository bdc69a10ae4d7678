//! Repetition controls with Hugging Face transformers' semantics (`generation/logits_process.py`,
//! v5.25), which CTranslate2 shares:
//!
//! - `repetition_penalty` P (CTRL's, `RepetitionPenaltyLogitsProcessor`): every token already in
//!   the sequence, the decoder's start token included, has its score `s` made `s * P` where
//!   `s < 0` and `s / P` otherwise. Beam search applies it to log-probabilities (all negative:
//!   multiplied), greedy search to the raw logits, as `generate()` does.
//! - `no_repeat_ngram_size` N (`NoRepeatNGramLogitsProcessor`): a token that would complete an
//!   N-gram already in the sequence (start token included) gets `-inf`.
//!
//! transformers applies the penalty first, then the N-gram ban, then its bad words (here: PAD
//! and BEGIN, never generated). Both work on whole prefixes, so they run on the host rows.

use super::beam::{LogProbRows, Scorer};

/// The repetition controls of a decoding (neutral: penalty 1, no N-gram ban).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Repetition {
    /// `repetition_penalty`: 1 = none; above 1 discourages repeats.
    pub penalty: f64,
    /// `no_repeat_ngram_size`: 0 = none.
    pub no_repeat_ngram: usize,
}

impl Default for Repetition {
    fn default() -> Self {
        Self {
            penalty: 1.0,
            no_repeat_ngram: 0,
        }
    }
}

impl Repetition {
    /// Whether either control is on.
    pub fn is_active(&self) -> bool {
        self.penalty != 1.0 || self.no_repeat_ngram > 0
    }

    /// Apply both controls to one row of next-token scores for `prefix` (the decoder's start
    /// token first, then the tokens so far), in transformers' order.
    pub fn apply(&self, prefix: &[usize], scores: &mut [f32]) {
        let vocab = scores.len();
        if self.penalty != 1.0 {
            let penalty = self.penalty as f32;
            let mut seen = vec![false; vocab];
            for &t in prefix.iter().filter(|&&t| t < vocab) {
                if !std::mem::replace(&mut seen[t], true) {
                    let s = scores[t];
                    scores[t] = if s < 0.0 { s * penalty } else { s / penalty };
                }
            }
        }
        let n = self.no_repeat_ngram;
        if n > 0 && prefix.len() >= n {
            // The N-1 newest tokens; every earlier window that starts with them bans its last.
            let tail = &prefix[prefix.len() + 1 - n..];
            for window in prefix.windows(n) {
                if &window[..n - 1] == tail {
                    if let Some(s) = scores.get_mut(window[n - 1]) {
                        *s = f32::NEG_INFINITY;
                    }
                }
            }
        }
    }
}

/// A [`Scorer`] whose rows pass through [`Repetition::apply`]: beam search (ours and
/// transformers') with the repetition controls.
pub struct Repeating<S> {
    pub inner: S,
    pub repetition: Repetition,
}

impl<S: Scorer> Scorer for Repeating<S> {
    fn next_log_probs(
        &mut self,
        prefixes: &[Vec<usize>],
        parents: Option<&[usize]>,
    ) -> LogProbRows {
        let mut rows = self.inner.next_log_probs(prefixes, parents);
        if self.repetition.is_active() {
            for (row, prefix) in rows.rows_mut().zip(prefixes) {
                self.repetition.apply(prefix, row);
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_penalty_scales_each_seen_token_once_by_its_sign() {
        let rep = Repetition {
            penalty: 2.0,
            no_repeat_ngram: 0,
        };
        let mut scores = vec![1.0, -1.0, 4.0, -3.0, 0.5];
        // Token 2 twice: divided once, as transformers' scatter does.
        rep.apply(&[1, 2, 2, 3], &mut scores);
        assert_eq!(scores, vec![1.0, -2.0, 2.0, -6.0, 0.5]);
    }

    #[test]
    fn an_ngram_seen_before_cannot_be_completed_again() {
        let rep = Repetition {
            penalty: 1.0,
            no_repeat_ngram: 3,
        };
        // Prefix ... 5 6 7 ... 5 6: 7 would repeat "5 6 7"; "6 8" after "5 6" too.
        let mut scores = vec![0.0f32; 10];
        rep.apply(&[1, 5, 6, 7, 5, 6, 8, 5, 6], &mut scores);
        let banned: Vec<usize> = (0..10).filter(|&t| scores[t].is_infinite()).collect();
        assert_eq!(banned, vec![7, 8]);
        // Shorter than N: nothing to ban.
        let mut scores = vec![0.0f32; 10];
        rep.apply(&[1, 5], &mut scores);
        assert!(scores.iter().all(|s| s.is_finite()));
        // N = 1: every token seen is banned, the start token included.
        let unigram = Repetition {
            penalty: 1.0,
            no_repeat_ngram: 1,
        };
        let mut scores = vec![0.0f32; 6];
        unigram.apply(&[1, 4, 4], &mut scores);
        let banned: Vec<usize> = (0..6).filter(|&t| scores[t].is_infinite()).collect();
        assert_eq!(banned, vec![1, 4]);
    }
}
