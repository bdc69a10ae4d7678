//! N-best reranking by several systems, right-to-left models among them.
//!
//! What Marian's and the WMT systems' "right-to-left reranking" does: a left-to-right model (or
//! ensemble) and one or more rescorers (typically models trained with `data.right_left`, which
//! read and write targets from the end) each decode the input with beam search; the union of
//! their beams' outputs are the candidates; every system scores every candidate by teacher
//! forcing ([`forced_log_probs`], in its own direction), and the candidates are ranked by the
//! weighted sum of those log-probabilities, length-normalised as the search's strategy ranks
//! its outputs ([`crate::decode::Decoding::rank_score`]). A right-to-left model makes other
//! errors than left-to-right ones (it conditions each token on what follows it), so it is the
//! second opinion an ensemble of left-to-right members lacks.
//!
//! Deviation from Marian: its rescorers score the first system's n-best only; here their own
//! beams join the candidates too (a word the primary system's beam lost can still win), as in
//! bidirectional G2P decoding.
//!
//! Decoding one batch for a system of models ([`decode_with`], [`decode_batch`]) lives here,
//! below [`crate::infer`]: `infer` calls this module, this module calls nothing of `infer`.
//! The rescorers a [`crate::infer::Predictor`] holds are `crate::infer::Rescorer`.

use crate::data::batcher::EncodedPair;
use crate::data::Seq2SeqBatcher;
use crate::decode::{Decoding, Hypothesis};
use crate::model::Transformer;
use crate::vocab::PAD;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// One system of a reranking: a model or an ensemble's members `(model, weight)` (weights
/// summing to 1), the direction it reads targets in, and its share of the combined score.
#[derive(Debug, Clone)]
pub struct System<'a, B: Backend> {
    pub members: Vec<(&'a Transformer<B>, f32)>,
    pub right_left: bool,
    pub share: f64,
}

/// Pairs scored by one forward pass of [`forced_log_probs`] (bounds its memory: the logits
/// are `[rows, tgt_len, vocab]`).
const FORCED_ROWS: usize = 64;

/// The log-probability of each pair's target followed by END given its source, teacher-forced,
/// under the members `(model, weight)`: `sum_t sum_m w_m log p_m(y_t | y_<t, x)`, the score
/// beam search gives the same output when it ended with END (its steps sum the members'
/// weighted log-probabilities; an output cut at the length limit has no END there, while
/// here END is always scored). Targets are read as given (a right-to-left model's caller
/// reverses them).
///
/// # Shapes
/// - per forward: logits `[rows, tgt_len, tgt_vocab]`, labels `[rows, tgt_len]`
/// - output: one value per pair
pub fn forced_log_probs<B: Backend>(
    members: &[(&Transformer<B>, f32)],
    device: &B::Device,
    pairs: &[EncodedPair],
) -> Vec<f64> {
    let mut out = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(FORCED_ROWS) {
        let batch = Seq2SeqBatcher.batch_pairs::<B>(chunk, device);
        let [rows, tgt_len] = batch.tgt_out.dims();
        let labels = batch.tgt_out.clone().reshape([rows, tgt_len, 1]);
        // 1 at a label, 0 at padding (PAD labels are not part of the output).
        let keep = batch.tgt_out.clone().not_equal_elem(PAD as i64).float();
        let mut total: Option<Tensor<B, 2>> = None;
        for (model, weight) in members {
            let logits = model.forward(
                batch.src.clone(),
                Some(batch.src_padding.clone()),
                batch.tgt_in.clone(),
                Some(batch.tgt_padding.clone()),
            );
            let picked = log_softmax(logits, 2)
                .gather(2, labels.clone())
                .reshape([rows, tgt_len])
                * *weight;
            total = Some(match total {
                None => picked,
                Some(acc) => acc + picked,
            });
        }
        let sums = (total.expect("at least one member") * keep).sum_dim(1);
        let values = sums
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .expect("f32 sums");
        out.extend(values.into_iter().map(f64::from));
    }
    out
}

/// Decode a batch of sources with `systems`: one system decodes alone (a right-to-left one's
/// outputs reversed back to reading order); several rerank the union of their beams' outputs
/// by the shares of their forced log-probabilities. Returns up to `decoding.nbest()`
/// hypotheses per source, best first, in reading order.
pub fn decode_with<B: Backend>(
    systems: &[System<'_, B>],
    device: &B::Device,
    sources: &[&Vec<usize>],
    decoding: &Decoding,
) -> Vec<Vec<Hypothesis>> {
    match systems {
        [system] => decode_system(system, device, sources, decoding),
        _ => rerank(systems, device, sources, decoding),
    }
}

/// One system's hypotheses, in reading order.
fn decode_system<B: Backend>(
    system: &System<'_, B>,
    device: &B::Device,
    sources: &[&Vec<usize>],
    decoding: &Decoding,
) -> Vec<Vec<Hypothesis>> {
    let mut lists = decode_batch(&system.members, device, sources, decoding);
    if system.right_left {
        for hyp in lists.iter_mut().flatten() {
            hyp.tokens.reverse();
        }
    }
    lists
}

fn rerank<B: Backend>(
    systems: &[System<'_, B>],
    device: &B::Device,
    sources: &[&Vec<usize>],
    decoding: &Decoding,
) -> Vec<Vec<Hypothesis>> {
    // Every candidate must fit every system's positions (BEGIN + tokens).
    let max_len = systems
        .iter()
        .flat_map(|s| s.members.iter().map(|(m, _)| m.max_len()))
        .min()
        .expect("systems have members");
    let mut wide = decoding.widened();
    wide.max_steps = wide.max_steps.min(max_len.saturating_sub(1));
    // Per source: the distinct candidates, and whether any system finished them with END.
    let mut candidates: Vec<Vec<(Vec<usize>, bool)>> = vec![Vec::new(); sources.len()];
    for system in systems {
        let lists = decode_system(system, device, sources, &wide);
        for (found, list) in candidates.iter_mut().zip(lists) {
            for hyp in list {
                match found.iter_mut().find(|(tokens, _)| *tokens == hyp.tokens) {
                    Some((_, finished)) => *finished |= hyp.finished,
                    None => found.push((hyp.tokens, hyp.finished)),
                }
            }
        }
    }
    let flat: Vec<(usize, &Vec<usize>)> = candidates
        .iter()
        .enumerate()
        .flat_map(|(i, found)| found.iter().map(move |(tokens, _)| (i, tokens)))
        .collect();
    let mut combined = vec![0.0f64; flat.len()];
    for system in systems {
        let pairs: Vec<EncodedPair> = flat
            .iter()
            .map(|&(i, tokens)| {
                let mut tgt = tokens.clone();
                if system.right_left {
                    tgt.reverse();
                }
                EncodedPair {
                    src: sources[i].clone(),
                    tgt,
                }
            })
            .collect();
        let scores = forced_log_probs(&system.members, device, &pairs);
        for (total, score) in combined.iter_mut().zip(scores) {
            *total += system.share * score;
        }
    }
    let mut scored = combined.into_iter();
    candidates
        .into_iter()
        .map(|found| {
            let mut list: Vec<Hypothesis> = found
                .into_iter()
                .map(|(tokens, finished)| {
                    let log_prob = scored.next().expect("a score per candidate");
                    Hypothesis {
                        score: decoding.rank_score(log_prob, tokens.len() + 1),
                        tokens,
                        log_prob,
                        finished,
                    }
                })
                .collect();
            list.sort_by(|a, b| b.score.total_cmp(&a.score));
            list.truncate(decoding.nbest());
            list
        })
        .collect()
}

/// Decode one batch of encoded sources with the members `(model, weight)`, in the order
/// they write targets (see [`decode_with`] for reading order).
pub(crate) fn decode_batch<B: Backend>(
    members: &[(&crate::model::Transformer<B>, f32)],
    device: &B::Device,
    sources: &[&Vec<usize>],
    decoding: &Decoding,
) -> Vec<Vec<Hypothesis>> {
    let pairs: Vec<EncodedPair> = sources
        .iter()
        .map(|src| EncodedPair {
            src: src.to_vec(),
            tgt: Vec::new(),
        })
        .collect();
    let batch = Seq2SeqBatcher.batch_pairs::<B>(&pairs, device);
    decoding.run_ensemble(members, batch.src, batch.src_padding)
}
