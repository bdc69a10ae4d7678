//! Evaluation: decode held-out sources and score the outputs against their references. One
//! path for `seq2seq eval` and for training's dev check ([`evaluate`]).
//!
//! G2P follows Phonetisaurus and Sequitur: each word is compared with every reference
//! pronunciation and the closest one counts. WER = share of words whose closest reference still
//! differs; PER = total edit distance / total length of the closest references. For G2P
//! models whose phones carry stress (CMUdict's `AH0`, `EY1`), a wrong stress digit is an error;
//! the report also gives the scores with stress removed from both sides, the form the published
//! G2P results use.

use crate::data::dictionary::strip_stress;
use crate::data::{Reference, Task};
use crate::decode::Decoding;
use crate::infer::Predictor;
use burn::prelude::*;
use serde::Serialize;
use std::time::Instant;

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

/// A reference left out of an evaluation because its source cannot be decoded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// The source as text.
    pub source: String,
    /// Why (too long, empty).
    pub reason: String,
}

/// What an evaluation measured.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub items: usize,
    /// Word (sequence) error rate in [0, 1] against the closest reference.
    pub wer: f64,
    /// Phoneme (token) error rate.
    pub per: f64,
    pub exact_match: f64,
    pub counts: ErrorRates,
    /// G2P with stress marks: the same outputs scored with stress digits removed from the
    /// hypothesis and the references (`None` when the phones carry no stress).
    pub stressless: Option<ErrorRates>,
    /// Corpus BLEU and chrF (sacreBLEU's defaults) for text tasks; `None` for G2P.
    pub bleu: Option<f64>,
    pub chrf: Option<f64>,
    pub decoding: Decoding,
    pub seconds: f64,
    pub items_per_second: f64,
    /// The longest output, in characters (a repetition loop shows here first).
    pub longest_output: usize,
    /// Outputs that a length limit stopped before END (runaways, or limits set too tight).
    pub unfinished: usize,
    /// References whose sources the model cannot take (symbols it never saw are decoded as
    /// `<unk>` instead and scored).
    pub skipped: Vec<Skipped>,
}

/// Progress of a running evaluation: items done, items in all, the counts so far.
pub type Progress<'a> = dyn FnMut(usize, usize, &ErrorRates) + 'a;

/// Decode every reference's source with `decoding` (`batch_size` at a time) and score the best
/// output against all of its targets. `progress` is called after each batch.
pub fn evaluate<B: Backend>(
    predictor: &Predictor<B>,
    references: &[Reference],
    decoding: &Decoding,
    batch_size: usize,
    progress: &mut Progress<'_>,
) -> EvalReport {
    let started = Instant::now();
    let data = &predictor.loaded.config.data;
    let codec = &predictor.loaded.codec;
    let mut rates = ErrorRates::default();
    let g2p = match data.task() {
        Task::G2p { .. } => true,
        Task::Parallel { .. } | Task::Synthetic { .. } => false,
    };
    let stressed = g2p
        && predictor
            .loaded
            .tgt_vocab
            .symbols()
            .iter()
            .any(|s| has_stress(s));
    let mut stressless = stressed.then(ErrorRates::default);
    let mut skipped = Vec::new();
    let mut hyp_texts: Vec<String> = Vec::new();
    let (mut longest_output, mut unfinished) = (0, 0);
    let mut ref_texts: Vec<Vec<String>> = Vec::new();
    let mut ids = Vec::new();
    let mut refs = Vec::new();
    for reference in references {
        let source = codec.join_source(&reference.src);
        match predictor.encode(&source, true) {
            Ok(x) => {
                ids.push(x);
                refs.push(reference);
            }
            Err(err) => skipped.push(Skipped {
                source,
                reason: err.to_string(),
            }),
        }
    }
    let total = references.len();
    let mut done = skipped.len();
    predictor.predict_many(&ids, decoding, batch_size, &mut |batch, predictions| {
        for (&i, predictions) in batch.iter().zip(predictions) {
            let reference = refs[i];
            rates.add(&predictions[0].tokens, &reference.targets);
            if let Some(stressless) = &mut stressless {
                let strip = |phones: &[String]| -> Vec<String> {
                    phones.iter().map(|p| strip_stress(p)).collect()
                };
                let targets: Vec<Vec<String>> =
                    reference.targets.iter().map(|t| strip(t)).collect();
                stressless.add(&strip(&predictions[0].tokens), &targets);
            }
            longest_output = longest_output.max(predictions[0].text.chars().count());
            unfinished += usize::from(!predictions[0].finished);
            hyp_texts.push(predictions[0].text.clone());
            ref_texts.push(
                reference
                    .targets
                    .iter()
                    .map(|t| codec.join_target(t))
                    .collect(),
            );
        }
        done += batch.len();
        progress(done, total, &rates);
    });
    let seconds = started.elapsed().as_secs_f64();
    // BLEU and chrF are for text; G2P is scored by WER/PER.
    let text_task = !g2p;
    EvalReport {
        items: rates.items,
        wer: rates.wer(),
        per: rates.per(),
        exact_match: rates.exact_match(),
        counts: rates,
        stressless,
        bleu: text_task.then(|| crate::text_metrics::corpus_bleu(&hyp_texts, &ref_texts).score),
        chrf: text_task.then(|| crate::text_metrics::corpus_chrf(&hyp_texts, &ref_texts)),
        decoding: *decoding,
        seconds,
        items_per_second: rates.items as f64 / seconds.max(1e-9),
        longest_output,
        unfinished,
        skipped,
    }
}

/// A phone with a stress digit (`AH0`), as opposed to `AH` or a special token.
fn has_stress(phone: &str) -> bool {
    phone.len() > 1 && phone.ends_with(|c: char| c.is_ascii_digit())
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
