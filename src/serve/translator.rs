//! The decode function a translation model's queue runs: every request's text cut into
//! sentences (as `infer --split-sentences`: LibreTranslate's `q` is often a paragraph), all
//! sentences of the batch decoded together with the model's saved decoding, each text's
//! outputs joined back in order.

use super::queue::Outcome;
use crate::decode::Decoding;
use crate::infer::sentences::{join_sentences, split_sentences};
use crate::infer::Predictor;
use burn::prelude::*;

/// Texts in, one outcome per text: its translation, or why one of its sentences cannot be
/// decoded (over-long, a symbol the model never saw). An empty text gives an empty output.
pub fn translate_texts<B: Backend>(
    predictor: &Predictor<B>,
    decoding: &Decoding,
    batch_size: usize,
    texts: &[String],
) -> Vec<Outcome> {
    let mut outcomes: Vec<Result<Vec<String>, String>> = vec![Ok(Vec::new()); texts.len()];
    let (mut inputs, mut owners) = (Vec::new(), Vec::new());
    for (i, text) in texts.iter().enumerate() {
        for sentence in split_sentences(text) {
            match predictor.encode(sentence, false) {
                Ok(ids) => {
                    inputs.push(ids);
                    owners.push(i);
                }
                Err(err) => {
                    if outcomes[i].is_ok() {
                        outcomes[i] = Err(format!("{sentence:?}: {err}"));
                    }
                }
            }
        }
    }
    let predictions = predictor.predict_many(&inputs, decoding, batch_size, &mut |_, _| {});
    for (&owner, list) in owners.iter().zip(predictions) {
        if let (Ok(done), Some(best)) = (&mut outcomes[owner], list.into_iter().next()) {
            done.push(best.text);
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.map(|sentences| join_sentences(&sentences)))
        .collect()
}
