//! Scoring decoded output against references.
//!
//! G2P follows Phonetisaurus and Sequitur: each word is compared with every reference
//! pronunciation and the closest one counts. WER = share of words whose closest reference still
//! differs; PER = total edit distance / total length of the closest references.

use serde::Serialize;

/// Levenshtein distance between two token sequences (unit costs).
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(x != y);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Accumulated error counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ErrorRates {
    pub items: usize,
    /// Items whose closest reference differs from the hypothesis.
    pub item_errors: usize,
    /// Sum of edit distances to the closest references.
    pub token_errors: usize,
    /// Sum of the lengths of the closest references.
    pub reference_tokens: usize,
}

impl ErrorRates {
    /// Add one item: `hypothesis` against its acceptable `references`.
    pub fn add<T: PartialEq>(&mut self, hypothesis: &[T], references: &[Vec<T>]) {
        // Closest reference; ties go to the shorter one (the lower error rate for that word).
        let (distance, length) = references
            .iter()
            .map(|r| (edit_distance(hypothesis, r), r.len()))
            .min()
            .unwrap_or((hypothesis.len(), 0));
        self.items += 1;
        self.item_errors += usize::from(distance > 0);
        self.token_errors += distance;
        self.reference_tokens += length;
    }

    /// Word (sequence) error rate in [0, 1].
    pub fn wer(&self) -> f64 {
        self.item_errors as f64 / self.items.max(1) as f64
    }

    /// Phoneme (token) error rate.
    pub fn per(&self) -> f64 {
        self.token_errors as f64 / self.reference_tokens.max(1) as f64
    }

    /// Share of items matching a reference exactly (1 - WER).
    pub fn exact_match(&self) -> f64 {
        1.0 - self.wer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_substitutions() {
        assert_eq!(edit_distance(&["K", "AE", "T"], &["K", "AE", "T"]), 0);
        assert_eq!(edit_distance(&["K", "AE", "T"], &["K", "AH", "T"]), 1);
        assert_eq!(edit_distance(&["K", "AE", "T"], &["AE", "T", "S"]), 2);
        assert_eq!(edit_distance::<&str>(&[], &["A", "B"]), 2);
        // delete "a", substitute "c" -> "a"
        assert_eq!(edit_distance(&["a", "b", "c", "d"], &["b", "a", "d"]), 2);
    }

    #[test]
    fn best_reference_counts_for_wer_and_per() {
        let mut rates = ErrorRates::default();
        // "either": hypothesis matches the second pronunciation exactly.
        rates.add(
            &["IY", "DH", "ER"],
            &[vec!["AY", "DH", "ER"], vec!["IY", "DH", "ER"]],
        );
        // one substitution against a 4-phone reference
        rates.add(&["K", "AE", "T", "S"], &[vec!["K", "AH", "T", "S"]]);
        assert_eq!(rates.items, 2);
        assert_eq!(rates.item_errors, 1);
        assert_eq!(rates.token_errors, 1);
        assert_eq!(rates.reference_tokens, 7);
        assert!((rates.wer() - 0.5).abs() < 1e-12);
        assert!((rates.per() - 1.0 / 7.0).abs() < 1e-12);
    }
}
