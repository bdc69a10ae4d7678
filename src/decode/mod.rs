//! Autoregressive decoding: start from BEGIN, pick the next token, feed it back, stop at END.
//!
//! [`Decoding`] is the one entry (a [`Strategy`] and a length limit); greedy and beam search
//! share one step ([`step::Stepper`]: the model's `decode`, the same code as training, with
//! its explicit KV cache). PAD and BEGIN are never generated.
//!
//! A model with the non-autoregressive CTC decoder (`model::ctc`) takes the same entry: one
//! pass, then greedy collapse or CTC prefix beam search ([`ctc`]).

pub mod beam;
pub mod ct2_beam;
pub mod ctc;
pub mod greedy;
pub mod hf_beam;
pub mod repetition;
pub mod step;
#[cfg(test)]
mod table_scorer;
pub mod transformer_scorer;

pub use beam::{beam_search, beam_search_limited, BeamConfig, LogProbRows, Scorer};
pub use greedy::{greedy, greedy_ensemble, greedy_limited};
pub use repetition::{Repeating, Repetition};
pub use step::Stepper;
pub use transformer_scorer::{beam, beam_ensemble, beam_ensemble_limited, TransformerScorer};

use crate::model::Transformer;
use burn::prelude::*;

/// One decoded sequence: tokens (without BEGIN and END) and the sum of their log-probabilities
/// (END included when it was produced).
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    pub tokens: Vec<usize>,
    pub log_prob: f64,
    /// The ranking score (log-probability, length-normalised by beam search's `lenpen`).
    pub score: f64,
    /// `false` when decoding stopped at the length limit before END.
    pub finished: bool,
}

/// How outputs are searched.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "search", rename_all = "lowercase")]
pub enum Strategy {
    /// The most likely token at each step; one output per input.
    Greedy,
    /// Beam search: `beam` hypotheses kept per input, the `nbest` best returned, ranked by
    /// `log P / ((5 + len) / 6)^lenpen` (GNMT's length penalty; 0 = raw log-probability).
    Beam {
        beam: usize,
        nbest: usize,
        lenpen: f64,
    },
    /// Beam search by Hugging Face transformers' rules ([`hf_beam`]): scores
    /// `log P / len^length_penalty`, its stopping rule, `max_length` counting the start token.
    #[serde(rename = "transformers")]
    HfBeam {
        beam: usize,
        nbest: usize,
        length_penalty: f64,
        early_stopping: hf_beam::EarlyStopping,
        max_length: usize,
        forced_eos: bool,
    },
}

/// Why decoding settings are unusable.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodingError {
    #[error("the beam size must be at least 1")]
    ZeroBeam,
    #[error("nbest ({nbest}) must be between 1 and the beam size ({beam})")]
    Nbest { nbest: usize, beam: usize },
    #[error("the length penalty must be a finite number >= 0, got {0}")]
    Lenpen(f64),
    #[error("the repetition penalty must be a finite number > 0 (1 = none), got {0}")]
    RepetitionPenalty(f64),
    #[error("the length limit's factor must be a finite number >= 0, got {0}")]
    LengthFactor(f64),
    #[error("a length limit relative to the source (--max-len-a/--max-len-b) is for models decoded by this crate's rules; a model imported from transformers keeps its max_length, as transformers has no such rule")]
    LengthLimitOnImported,
}

/// A length limit relative to the source: an input of `n` tokens (as the encoder reads them,
/// padding excluded) gets at most `floor(a * n + b)` output tokens, END excluded. fairseq's
/// `--max-len-a`/`--max-len-b` (its `n` counts the source's EOS, which sources here lack);
/// Marian's `--max-length-factor F` is `a = F, b = 0`. A translation stays near its source's
/// length, so a hypothesis far longer is a repetition loop; without this rule it runs to the
/// model's positions (128 tokens for the shipped translation model), and with a length
/// penalty beam search cannot stop until it gets there.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LengthLimit {
    pub a: f64,
    pub b: usize,
}

impl LengthLimit {
    /// Checked: `a` finite and at least 0.
    pub fn new(a: f64, b: usize) -> Result<Self, DecodingError> {
        if !(a.is_finite() && a >= 0.0) {
            return Err(DecodingError::LengthFactor(a));
        }
        Ok(Self { a, b })
    }

    /// The most output tokens (END excluded) for a source of `src_len` tokens.
    pub fn steps(&self, src_len: usize) -> usize {
        (self.a * src_len as f64 + self.b as f64).floor() as usize
    }
}

/// What to decode with: the search strategy and the longest output (tokens, END excluded;
/// the model's `max_len - 1` caps it in any case).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Decoding {
    pub strategy: Strategy,
    pub max_steps: usize,
    /// A tighter limit per input, from its source's length (`None`: `max_steps` alone).
    pub length_limit: Option<LengthLimit>,
    /// transformers' repetition penalty and N-gram ban (neutral by default).
    pub repetition: Repetition,
}

impl Decoding {
    /// Greedy decoding up to the model's length limit.
    pub fn greedy() -> Self {
        Self {
            strategy: Strategy::Greedy,
            max_steps: usize::MAX,
            length_limit: None,
            repetition: Repetition::default(),
        }
    }

    /// Greedy for `beam == 1` and `nbest == 1`, beam search otherwise (checked).
    pub fn new(beam: usize, nbest: usize, lenpen: f64) -> Result<Self, DecodingError> {
        if beam == 0 {
            return Err(DecodingError::ZeroBeam);
        }
        if !(1..=beam).contains(&nbest) {
            return Err(DecodingError::Nbest { nbest, beam });
        }
        if !(lenpen.is_finite() && lenpen >= 0.0) {
            return Err(DecodingError::Lenpen(lenpen));
        }
        let strategy = if beam == 1 {
            Strategy::Greedy
        } else {
            Strategy::Beam {
                beam,
                nbest,
                lenpen,
            }
        };
        Ok(Self {
            strategy,
            max_steps: usize::MAX,
            length_limit: None,
            repetition: Repetition::default(),
        })
    }

    /// Outputs returned per input.
    pub fn nbest(&self) -> usize {
        match self.strategy {
            Strategy::Greedy => 1,
            Strategy::Beam { nbest, .. } | Strategy::HfBeam { nbest, .. } => nbest,
        }
    }

    /// The beam size (1 for greedy).
    pub fn beam_size(&self) -> usize {
        match self.strategy {
            Strategy::Greedy => 1,
            Strategy::Beam { beam, .. } | Strategy::HfBeam { beam, .. } => beam,
        }
    }

    /// The same search returning every hypothesis its beam ends with (`nbest` = the beam
    /// size): the candidates of an n-best reranking ([`crate::rerank`]).
    pub fn widened(&self) -> Self {
        let mut wide = *self;
        match &mut wide.strategy {
            Strategy::Greedy => {}
            Strategy::Beam { beam, nbest, .. } | Strategy::HfBeam { beam, nbest, .. } => {
                *nbest = *beam
            }
        }
        wide
    }

    /// What the strategy ranks an output of `len` tokens (END counted) with log-probability
    /// `lp` by: the raw log-probability for greedy, GNMT's length penalty for beam search,
    /// `lp / len^length_penalty` by transformers' rules.
    pub fn rank_score(&self, lp: f64, len: usize) -> f64 {
        match self.strategy {
            Strategy::Greedy => lp,
            Strategy::Beam {
                beam,
                nbest,
                lenpen,
            } => BeamConfig {
                beam,
                nbest,
                lenpen,
                max_steps: self.max_steps,
            }
            .score(lp, len),
            Strategy::HfBeam { length_penalty, .. } => lp / (len as f64).powf(length_penalty),
        }
    }

    /// Decode a batch: per input, up to [`Self::nbest`] hypotheses, best first.
    ///
    /// # Shapes
    /// - `src`, `src_padding`: `[batch, src_len]`
    /// - output: `batch` lists
    pub fn run<B: Backend>(
        &self,
        model: &Transformer<B>,
        src: Tensor<B, 2, Int>,
        src_padding: Tensor<B, 2, Bool>,
    ) -> Vec<Vec<Hypothesis>> {
        self.run_ensemble(&[(model, 1.0)], src, src_padding)
    }

    /// [`Decoding::run`] with an ensemble, `(model, weight)`: every step scores the members'
    /// weighted average log-probabilities (weights normalised to sum 1), each member with its
    /// own KV cache. One member of weight 1 is the model alone.
    ///
    /// # Shapes
    /// - `src`, `src_padding`: `[batch, src_len]`
    /// - output: `batch` lists
    pub fn run_ensemble<B: Backend>(
        &self,
        members: &[(&Transformer<B>, f32)],
        src: Tensor<B, 2, Int>,
        src_padding: Tensor<B, 2, Bool>,
    ) -> Vec<Vec<Hypothesis>> {
        let ctc_members = members.iter().filter(|(m, _)| m.is_ctc()).count();
        if ctc_members > 0 {
            assert_eq!(
                ctc_members,
                members.len(),
                "an ensemble cannot mix autoregressive and CTC decoders"
            );
            return self.run_ctc(members, src, src_padding);
        }
        // Outputs stop at the members' positions; END must fit too.
        let max_len = members
            .iter()
            .map(|(m, _)| m.max_len())
            .min()
            .expect("an ensemble has at least one member");
        let max_steps = self.max_steps.min(max_len.saturating_sub(1));
        match self.strategy {
            Strategy::Greedy => {
                let limits = self.limits(&src_padding, max_steps);
                greedy_limited(members, src, src_padding, &limits, &self.repetition)
                    .into_iter()
                    .map(|h| vec![h])
                    .collect()
            }
            Strategy::Beam {
                beam: size,
                nbest,
                lenpen,
            } => {
                let limits = self.limits(&src_padding, max_steps);
                let inner = TransformerScorer::ensemble(members, src, src_padding);
                let max_steps = max_steps.min(inner.max_len());
                let mut scorer = Repeating {
                    inner,
                    repetition: self.repetition,
                };
                let config = BeamConfig {
                    beam: size,
                    nbest,
                    lenpen,
                    max_steps,
                };
                beam_search_limited(&mut scorer, &limits, &config)
            }
            Strategy::HfBeam {
                beam,
                nbest,
                length_penalty,
                early_stopping,
                max_length,
                forced_eos,
            } => {
                let [n_inputs, _] = src.dims();
                let mut scorer = Repeating {
                    inner: TransformerScorer::ensemble(members, src, src_padding),
                    repetition: self.repetition,
                };
                // max_length counts the start token; the tokens before END fit max_steps.
                let max_length = max_length.min(max_steps.saturating_add(2));
                let config = hf_beam::HfBeamConfig {
                    beam,
                    nbest,
                    length_penalty,
                    early_stopping,
                    max_length,
                    forced_eos,
                };
                hf_beam::hf_beam_search(&mut scorer, n_inputs, &config)
            }
        }
    }

    /// Each input's longest output: `max_steps`, or less by the [`LengthLimit`].
    ///
    /// # Shapes
    /// - `src_padding`: `[batch, src_len]`, `true` at padding
    pub fn limits<B: Backend>(
        &self,
        src_padding: &Tensor<B, 2, Bool>,
        max_steps: usize,
    ) -> Vec<usize> {
        let [batch, src_len] = src_padding.dims();
        let Some(limit) = self.length_limit else {
            return vec![max_steps; batch];
        };
        let padding = src_padding
            .clone()
            .into_data()
            .convert::<bool>()
            .into_vec::<bool>()
            .expect("a boolean padding mask");
        padding
            .chunks(src_len.max(1))
            .take(batch)
            .map(|row| {
                limit
                    .steps(row.iter().filter(|&&pad| !pad).count())
                    .min(max_steps)
            })
            .collect()
    }

    /// [`Decoding::run_ensemble`] for CTC models: one pass, then per input greedy collapse or
    /// prefix beam search (the beam size and `nbest` of the strategy; no length penalty).
    fn run_ctc<B: Backend>(
        &self,
        members: &[(&Transformer<B>, f32)],
        src: Tensor<B, 2, Int>,
        src_padding: Tensor<B, 2, Bool>,
    ) -> Vec<Vec<Hypothesis>> {
        ctc::lattices(members, src, src_padding)
            .iter()
            .map(|lattice| match self.strategy {
                Strategy::Greedy => vec![ctc::greedy(lattice, self.max_steps)],
                Strategy::Beam { beam, nbest, .. } | Strategy::HfBeam { beam, nbest, .. } => {
                    ctc::prefix_beam(lattice, beam, nbest, self.max_steps)
                }
            })
            .collect()
    }

    /// The decoding `generation` (a model's saved defaults) describes, with the beam size and
    /// length penalty of flags where given.
    pub fn from_generation(
        generation: &crate::config::GenerationConfig,
        beam: Option<usize>,
        nbest: usize,
        lenpen: Option<f64>,
    ) -> Result<Self, DecodingError> {
        let penalty = generation.repetition_penalty;
        if !(penalty.is_finite() && penalty > 0.0) {
            return Err(DecodingError::RepetitionPenalty(penalty));
        }
        let mut decoding = Self::strategy_from(generation, beam, nbest, lenpen)?;
        decoding.repetition = Repetition {
            penalty,
            no_repeat_ngram: generation.no_repeat_ngram_size,
        };
        Ok(decoding)
    }

    fn strategy_from(
        generation: &crate::config::GenerationConfig,
        beam: Option<usize>,
        nbest: usize,
        lenpen: Option<f64>,
    ) -> Result<Self, DecodingError> {
        use crate::config::BeamRules;
        let beam = beam.unwrap_or(generation.num_beams);
        let lenpen = lenpen.unwrap_or(generation.length_penalty);
        match generation.rules {
            BeamRules::Gnmt => {
                let mut decoding = Self::new(beam, nbest, lenpen)?;
                if let Some(max) = generation.max_length {
                    decoding.max_steps = max;
                }
                decoding.length_limit = match (generation.max_len_a, generation.max_len_b) {
                    (None, None) => None,
                    (a, b) => Some(LengthLimit::new(a.unwrap_or(0.0), b.unwrap_or(0))?),
                };
                Ok(decoding)
            }
            BeamRules::Transformers => {
                if generation.max_len_a.is_some() || generation.max_len_b.is_some() {
                    return Err(DecodingError::LengthLimitOnImported);
                }
                if beam == 0 {
                    return Err(DecodingError::ZeroBeam);
                }
                if !(1..=beam).contains(&nbest) {
                    return Err(DecodingError::Nbest { nbest, beam });
                }
                if !lenpen.is_finite() {
                    return Err(DecodingError::Lenpen(lenpen));
                }
                let max_length = generation.max_length.unwrap_or(usize::MAX);
                if beam == 1 {
                    // Greedy: tokens before END, the start token and a forced END excluded.
                    let reserved = if generation.forced_eos { 2 } else { 1 };
                    return Ok(Self {
                        strategy: Strategy::Greedy,
                        max_steps: max_length.saturating_sub(reserved),
                        length_limit: None,
                        repetition: Repetition::default(),
                    });
                }
                Ok(Self {
                    strategy: Strategy::HfBeam {
                        beam,
                        nbest,
                        length_penalty: lenpen,
                        early_stopping: generation.early_stopping,
                        max_length,
                        forced_eos: generation.forced_eos,
                    },
                    max_steps: usize::MAX,
                    length_limit: None,
                    repetition: Repetition::default(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BeamRules, GenerationConfig};

    #[test]
    fn generation_configs_give_their_limits_and_controls_or_say_why_not() {
        let ours = GenerationConfig::new()
            .with_num_beams(2)
            .with_length_penalty(1.4)
            .with_max_len_a(Some(1.5))
            .with_max_len_b(Some(10))
            .with_repetition_penalty(1.2)
            .with_no_repeat_ngram_size(3);
        let decoding = Decoding::from_generation(&ours, None, 1, None).unwrap();
        assert_eq!(decoding.length_limit, Some(LengthLimit { a: 1.5, b: 10 }));
        assert_eq!(decoding.length_limit.unwrap().steps(7), 20); // 10.5 + 10
        assert_eq!(
            decoding.repetition,
            Repetition {
                penalty: 1.2,
                no_repeat_ngram: 3
            }
        );
        // b alone: a constant limit; neither: none.
        let b_only = ours.clone().with_max_len_a(None);
        let decoding = Decoding::from_generation(&b_only, None, 1, None).unwrap();
        assert_eq!(decoding.length_limit.unwrap().steps(50), 10);
        let none = ours.clone().with_max_len_a(None).with_max_len_b(None);
        assert_eq!(
            Decoding::from_generation(&none, None, 1, None)
                .unwrap()
                .length_limit,
            None
        );
        // Refused: a negative factor, a penalty of 0, a relative limit on an imported model.
        let bad_a = ours.clone().with_max_len_a(Some(-1.0));
        assert_eq!(
            Decoding::from_generation(&bad_a, None, 1, None),
            Err(DecodingError::LengthFactor(-1.0))
        );
        let bad_p = ours.clone().with_repetition_penalty(0.0);
        assert_eq!(
            Decoding::from_generation(&bad_p, None, 1, None),
            Err(DecodingError::RepetitionPenalty(0.0))
        );
        let imported = ours.with_rules(BeamRules::Transformers);
        assert_eq!(
            Decoding::from_generation(&imported, None, 1, None),
            Err(DecodingError::LengthLimitOnImported)
        );
    }
}
