//! The model behind beam search: [`TransformerScorer`] gives [`Scorer`] the next-token
//! log-probabilities of the Transformer's decoding [`Stepper`] (one model or an ensemble, each
//! member with its KV cache, reordered as beams move), and [`beam`] / [`beam_ensemble`] run
//! [`beam_search`] with it.

use super::beam::{beam_search_limited, BeamConfig, LogProbRows, Scorer};
use super::step::Stepper;
use super::Hypothesis;
use crate::model::Transformer;
use burn::prelude::*;

/// A [`Scorer`] backed by the Transformer's decoding [`Stepper`] (KV cache reordered as beams
/// move).
pub struct TransformerScorer<'a, B: Backend> {
    stepper: Stepper<'a, B>,
    device: B::Device,
}

impl<'a, B: Backend> TransformerScorer<'a, B> {
    /// Encode the inputs, one row each (the search widens them to beams as it goes), with an
    /// ensemble, `(model, weight)` (one model: `&[(model, 1.0)]`): the rows' log-probabilities
    /// are the members' weighted average, each member with its own KV cache.
    ///
    /// # Shapes
    /// - `src`, `src_padding`: `[n_inputs, src_len]`
    pub fn ensemble(
        members: &[(&'a Transformer<B>, f32)],
        src: Tensor<B, 2, Int>,
        src_padding: Tensor<B, 2, Bool>,
    ) -> Self {
        let device = src.device();
        Self {
            stepper: Stepper::ensemble(members, src, src_padding),
            device,
        }
    }

    /// The longest output every member can position.
    pub fn max_len(&self) -> usize {
        self.stepper.max_len()
    }
}

impl<B: Backend> Scorer for TransformerScorer<'_, B> {
    fn next_log_probs(
        &mut self,
        prefixes: &[Vec<usize>],
        parents: Option<&[usize]>,
    ) -> LogProbRows {
        let rows = prefixes.len();
        if let Some(parents) = parents {
            self.stepper.keep(parents);
        }
        let last: Vec<i64> = prefixes
            .iter()
            .map(|p| *p.last().expect("prefixes start with BEGIN") as i64)
            .collect();
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(last, [rows, 1]), &self.device);
        let (flat, vocab) = super::step::to_host(self.stepper.next_log_probs(input));
        LogProbRows::new(flat, vocab)
    }
}

/// Beam search over a batch with the Transformer.
pub fn beam<B: Backend>(
    model: &Transformer<B>,
    src: Tensor<B, 2, Int>,
    src_padding: Tensor<B, 2, Bool>,
    config: &BeamConfig,
) -> Vec<Vec<Hypothesis>> {
    beam_ensemble(&[(model, 1.0)], src, src_padding, config)
}

/// [`beam`] with an ensemble, `(model, weight)` (see [`TransformerScorer::ensemble`]).
pub fn beam_ensemble<B: Backend>(
    members: &[(&Transformer<B>, f32)],
    src: Tensor<B, 2, Int>,
    src_padding: Tensor<B, 2, Bool>,
    config: &BeamConfig,
) -> Vec<Vec<Hypothesis>> {
    let [n_inputs, _] = src.dims();
    beam_ensemble_limited(
        members,
        src,
        src_padding,
        &vec![config.max_steps; n_inputs],
        config,
    )
}

/// [`beam_ensemble`] with a length limit per input ([`super::beam_search_limited`]).
///
/// # Shapes
/// - `src`, `src_padding`: `[n_inputs, src_len]`; `limits`: `n_inputs` values
pub fn beam_ensemble_limited<B: Backend>(
    members: &[(&Transformer<B>, f32)],
    src: Tensor<B, 2, Int>,
    src_padding: Tensor<B, 2, Bool>,
    limits: &[usize],
    config: &BeamConfig,
) -> Vec<Vec<Hypothesis>> {
    let mut scorer = TransformerScorer::ensemble(members, src, src_padding);
    let config = BeamConfig {
        max_steps: config.max_steps.min(scorer.max_len()),
        ..*config
    };
    beam_search_limited(&mut scorer, limits, &config)
}
