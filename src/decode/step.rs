//! The one decoding step that greedy search, beam search and the benchmark share: feed the
//! newest token of every row through the decoder (with the KV cache), project to the
//! vocabulary, and return next-token log-probabilities.

use crate::model::{DecoderCache, Transformer};
use crate::vocab::{BEGIN, PAD};
use burn::prelude::*;

/// One member's state in an incremental decode: its encoder output and decoder cache.
struct MemberState<'a, B: Backend> {
    model: &'a Transformer<B>,
    memory: Tensor<B, 3>,
    src_padding: Tensor<B, 2, Bool>,
    cache: DecoderCache<B>,
}

impl<B: Backend> MemberState<'_, B> {
    /// The member's logits of the token after `last` (the decoder run on the newest tokens with
    /// the KV cache, the last position projected to the vocabulary).
    ///
    /// # Shapes
    /// - `last`: `[rows, new]`
    /// - output: `[rows, 1, tgt_vocab]`
    fn step(&mut self, last: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [_, new] = last.dims();
        let hidden = self
            .model
            .decode(
                last,
                &self.memory,
                Some(self.src_padding.clone()),
                None,
                Some(&mut self.cache),
            )
            .hidden; // [rows, new, d_model]
        let hidden = if new > 1 {
            hidden.narrow(1, new - 1, 1)
        } else {
            hidden
        };
        self.model.generate(hidden)
    }
}

/// The encoder output of a batch of rows and the decoder's cache for them, per member of an
/// ensemble (one member: a model alone): the state of an incremental decode.
pub struct Stepper<'a, B: Backend> {
    members: Vec<MemberState<'a, B>>,
    /// Each member's weight, summing to 1.
    weights: Vec<f32>,
    /// Added to the log-probabilities: `-inf` at tokens never generated (PAD and BEGIN for
    /// this crate's vocabularies), 0 elsewhere.
    forbidden: Tensor<B, 3>,
    /// Whether `forbidden` masks the logits before the log-softmax (CTranslate2's rule: the
    /// allowed tokens' probabilities renormalised) instead of the log-probabilities after it.
    forbid_logits: bool,
    /// The cross-attention entry (encoder output, source padding, cross keys and values)
    /// each row reads: rows of one input share their input's entry.
    entry_of_row: Vec<usize>,
}

impl<'a, B: Backend> Stepper<'a, B> {
    /// Encode `src` with one model: one row per input.
    ///
    /// # Shapes
    /// - `src`, `src_padding`: `[rows, src_len]`
    pub fn new(
        model: &'a Transformer<B>,
        src: Tensor<B, 2, Int>,
        src_padding: Tensor<B, 2, Bool>,
    ) -> Self {
        Self::ensemble(&[(model, 1.0)], src, src_padding)
    }

    /// Encode `src` with every member of an ensemble, `(model, weight)`: the members share
    /// the vocabularies (checked where they are loaded); the weights are normalised to sum 1.
    ///
    /// # Shapes
    /// - `src`, `src_padding`: `[rows, src_len]`
    pub fn ensemble(
        members: &[(&'a Transformer<B>, f32)],
        src: Tensor<B, 2, Int>,
        src_padding: Tensor<B, 2, Bool>,
    ) -> Self {
        assert!(!members.is_empty(), "an ensemble has at least one member");
        let memories = members
            .iter()
            .map(|(model, _)| model.encode(src.clone(), Some(src_padding.clone())).memory)
            .collect();
        // PAD and BEGIN are never generated (fairseq forbids both): a model whose BEGIN logit
        // happens to be the largest would otherwise write `<s>` into its output.
        Self::from_memories(members, memories, src_padding, &[PAD, BEGIN])
    }

    /// A stepper over encoder outputs already computed, one per member (a speech model's,
    /// `Transformer::encode_audio`), never generating the tokens `forbidden`.
    ///
    /// # Shapes
    /// - each of `memories`: `[rows, src_len, d_model]`; `src_padding`: `[rows, src_len]`
    pub fn from_memories(
        members: &[(&'a Transformer<B>, f32)],
        memories: Vec<Tensor<B, 3>>,
        src_padding: Tensor<B, 2, Bool>,
        forbidden: &[usize],
    ) -> Self {
        assert!(!members.is_empty(), "an ensemble has at least one member");
        assert_eq!(members.len(), memories.len(), "one memory per member");
        let device = src_padding.device();
        let forbidden = forbidden_bias(members[0].0.tgt_vocab_size(), forbidden, &device);
        let total: f32 = members.iter().map(|(_, w)| w).sum();
        let [rows, _] = src_padding.dims();
        Self {
            members: members
                .iter()
                .zip(memories)
                .map(|(&(model, _), memory)| MemberState {
                    model,
                    memory,
                    src_padding: src_padding.clone(),
                    cache: DecoderCache::new(model.n_decoder_layers()),
                })
                .collect(),
            weights: members.iter().map(|(_, w)| w / total).collect(),
            forbidden,
            forbid_logits: false,
            entry_of_row: (0..rows).collect(),
        }
    }

    /// Mask forbidden tokens in the logits, before the log-softmax, as CTranslate2 does
    /// (default: after it, as fairseq does, so scores stay the model's own log-probabilities).
    pub fn forbid_in_logits(mut self) -> Self {
        self.forbid_logits = true;
        self
    }

    /// Replace the tokens never generated from the next step on (a first step may forbid more:
    /// Whisper's blank and end of text).
    pub fn set_forbidden(&mut self, ids: &[usize]) {
        let [_, _, vocab] = self.forbidden.dims();
        self.forbidden = forbidden_bias(vocab, ids, &self.forbidden.device());
    }

    /// The longest output every member can position.
    pub fn max_len(&self) -> usize {
        self.members
            .iter()
            .map(|m| m.model.max_len())
            .min()
            .expect("at least one member")
    }

    /// Continue with rows `index` of the previous step, in that order: finished rows leave the
    /// batch so later steps do not compute them, beams move, rows repeat as one row per input
    /// widens into a beam. Every member's self-attention cache follows the rows; the
    /// encoder-side state (encoder output, source padding, cross-attention keys and values)
    /// is kept once per input and copied only when inputs leave (see [`Regrouping`]).
    pub fn keep(&mut self, index: &[usize]) {
        let plan = Regrouping::plan(&self.entry_of_row, index);
        let device = self.forbidden.device();
        let tensor = |values: &[usize]| {
            let values: Vec<i64> = values.iter().map(|&v| v as i64).collect();
            let len = values.len();
            Tensor::<B, 1, Int>::from_data(TensorData::new(values, [len]), &device)
        };
        let rows = plan.rows_changed.then(|| tensor(index));
        let entries = plan.entries_changed.then(|| tensor(&plan.entries));
        for member in &mut self.members {
            if let Some(entries) = &entries {
                // The encoder output is read at the first step only (the cache then holds each
                // layer's cross-attention keys and values): later, it is not worth copying.
                if member.cache.len == 0 {
                    member.memory = member.memory.clone().select(0, entries.clone());
                }
                member.src_padding = member.src_padding.clone().select(0, entries.clone());
            }
            let cache = std::mem::replace(&mut member.cache, DecoderCache::new(0));
            member.cache = cache.regroup(rows.clone(), entries.clone(), plan.group);
        }
        self.entry_of_row = plan.entry_of_row;
    }

    /// The raw logits of the token after `last` (no token forbidden), for a model alone:
    /// what transformers' greedy search applies its repetition penalty to.
    ///
    /// # Shapes
    /// - `last`: `[rows, new]`
    /// - output: `[rows, tgt_vocab]`, after the last of them
    ///
    /// # Panics
    /// With more than one member (an ensemble averages log-probabilities, not logits).
    pub fn next_logits(&mut self, last: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        assert_eq!(self.members.len(), 1, "logits are a single model's");
        let [rows, _] = last.dims();
        let logits = self.members[0].step(last); // [rows, 1, vocab]
        let [_, _, vocab] = logits.dims();
        logits.reshape([rows, vocab])
    }

    /// Whether this stepper decodes with one model (not an ensemble).
    pub fn is_single(&self) -> bool {
        self.members.len() == 1
    }

    /// Log-probabilities of the token after `last` (each row's newest tokens: one, or at the
    /// first step a whole prompt): with several members, the weighted average of their
    /// log-probabilities (Marian's ensemble rule; fairseq averages probabilities instead), so
    /// the scores stay on one model's scale.
    ///
    /// # Shapes
    /// - `last`: `[rows, new]` (`new` > 1 only before the first output token)
    /// - output: `[rows, tgt_vocab]`, after the last of them
    pub fn next_log_probs(&mut self, last: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        let [rows, _] = last.dims();
        let single = self.members.len() == 1;
        let mut sum: Option<Tensor<B, 3>> = None;
        for (member, &weight) in self.members.iter_mut().zip(&self.weights) {
            let mut logits = member.step(last.clone()); // [rows, 1, vocab]
            if self.forbid_logits {
                logits = logits + self.forbidden.clone();
            }
            let log_probs = burn::tensor::activation::log_softmax(logits, 2);
            let weighted = if single {
                log_probs
            } else {
                log_probs * weight
            };
            sum = Some(match sum {
                None => weighted,
                Some(acc) => acc + weighted,
            });
        }
        let sum = sum.expect("at least one member");
        let [_, _, vocab] = sum.dims();
        if self.forbid_logits {
            return sum.reshape([rows, vocab]);
        }
        // Forbidden after the softmax, not before (as fairseq does): the scores stay the
        // model's own log-probabilities, not renormalised over the allowed tokens.
        (sum + self.forbidden.clone()).reshape([rows, vocab])
    }
}

/// `[1, 1, vocab]`: `-inf` at `ids`, 0 elsewhere.
fn forbidden_bias<B: Backend>(vocab: usize, ids: &[usize], device: &B::Device) -> Tensor<B, 3> {
    let mut bias = vec![0.0f32; vocab];
    for &id in ids {
        bias[id] = f32::NEG_INFINITY;
    }
    Tensor::from_data(TensorData::new(bias, [1, 1, vocab]), device)
}

/// How [`Stepper::keep`] moves the encoder-side state when rows move.
///
/// The rows of one input read the same cross-attention keys and values, so they are kept
/// once per input ("entry") while every input's rows are consecutive and equally many (`group`
/// of them): the rows of a step are then read as `group` queries of their entry. Reordering
/// beams within an input or widening one row per input into a beam copies no entry; inputs
/// leaving copy the remaining entries (one per input, not one per row). Any other layout
/// falls back to one entry per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Regrouping {
    /// Entries of the previous step kept, in order (when `entries_changed`).
    pub entries: Vec<usize>,
    /// Rows that read one entry.
    pub group: usize,
    /// The entry each new row reads.
    pub entry_of_row: Vec<usize>,
    /// Whether the entries must be copied (otherwise they stay as they are).
    pub entries_changed: bool,
    /// Whether the rows move (otherwise `index` is the identity).
    pub rows_changed: bool,
}

impl Regrouping {
    /// New row `i` continues old row `index[i]`, which read entry `entry_of_row[index[i]]`.
    pub fn plan(entry_of_row: &[usize], index: &[usize]) -> Self {
        let wanted: Vec<usize> = index.iter().map(|&row| entry_of_row[row]).collect();
        let n_entries = entry_of_row.iter().max().map_or(0, |&e| e + 1);
        let rows_changed = !is_identity(index, entry_of_row.len());
        // Runs of equal entries: (entry, rows).
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &entry in &wanted {
            match runs.last_mut() {
                Some((last, count)) if *last == entry => *count += 1,
                _ => runs.push((entry, 1)),
            }
        }
        let group = runs.first().map_or(1, |&(_, count)| count);
        let grouped = runs.iter().all(|&(_, count)| count == group)
            && runs.windows(2).all(|pair| pair[0].0 < pair[1].0);
        let old_group = entry_of_row.len() / n_entries.max(1);
        if grouped {
            let entries: Vec<usize> = runs.iter().map(|&(entry, _)| entry).collect();
            let entries_changed = !is_identity(&entries, n_entries);
            Self {
                entry_of_row: (0..entries.len())
                    .flat_map(|entry| std::iter::repeat_n(entry, group))
                    .collect(),
                entries,
                group,
                entries_changed,
                rows_changed,
            }
        } else {
            Self {
                entry_of_row: (0..wanted.len()).collect(),
                entries_changed: old_group != 1 || !is_identity(&wanted, n_entries),
                entries: wanted,
                group: 1,
                rows_changed,
            }
        }
    }
}

/// Whether `index` is `0, 1, .., len - 1`: keeping it moves nothing.
fn is_identity(index: &[usize], len: usize) -> bool {
    index.len() == len && index.iter().enumerate().all(|(i, &at)| i == at)
}

/// Log-probabilities brought to the host in one read, row-major, and the vocabulary size.
///
/// # Shapes
/// - `log_probs`: `[rows, vocab]`
pub fn to_host<B: Backend>(log_probs: Tensor<B, 2>) -> (Vec<f32>, usize) {
    let [_rows, vocab] = log_probs.dims();
    let values = log_probs
        .into_data()
        .convert::<f32>()
        .into_vec()
        .expect("f32 log-probabilities");
    (values, vocab)
}

#[cfg(test)]
mod tests {
    use super::Regrouping;

    #[test]
    fn beams_share_their_input_entry_until_inputs_leave() {
        // Step 1: one row per input (3 inputs); widening to beams of 2 copies no entry.
        let widen = Regrouping::plan(&[0, 1, 2], &[0, 0, 1, 1, 2, 2]);
        assert_eq!(widen.group, 2);
        assert!(!widen.entries_changed && widen.rows_changed);
        assert_eq!(widen.entry_of_row, vec![0, 0, 1, 1, 2, 2]);
        // Beams reordered within their inputs: no entry copied.
        let reorder = Regrouping::plan(&widen.entry_of_row, &[1, 0, 2, 3, 5, 5]);
        assert_eq!((reorder.group, reorder.entries_changed), (2, false));
        // Unchanged rows: nothing moves at all.
        let same = Regrouping::plan(&reorder.entry_of_row, &[0, 1, 2, 3, 4, 5]);
        assert!(!same.rows_changed && !same.entries_changed);
        // The middle input is done: its entry leaves, the others are renumbered.
        let leave = Regrouping::plan(&same.entry_of_row, &[1, 0, 4, 5]);
        assert_eq!(leave.entries, vec![0, 2]);
        assert!(leave.entries_changed);
        assert_eq!(
            (leave.group, leave.entry_of_row.clone()),
            (2, vec![0, 0, 1, 1])
        );
    }

    #[test]
    fn uneven_beams_fall_back_to_one_entry_per_row() {
        // Input 0 keeps 2 beams, input 1 only 1 (e.g. a tiny vocabulary ran out).
        let uneven = Regrouping::plan(&[0, 0, 1, 1], &[0, 1, 2]);
        assert_eq!(uneven.group, 1);
        assert_eq!(uneven.entries, vec![0, 0, 1]);
        assert!(uneven.entries_changed);
        assert_eq!(uneven.entry_of_row, vec![0, 1, 2]);
        // Greedy rows leaving (group 1 throughout): the entries follow the rows.
        let greedy = Regrouping::plan(&[0, 1, 2, 3], &[0, 2, 3]);
        assert_eq!((greedy.group, greedy.entries.clone()), (1, vec![0, 2, 3]));
        assert!(greedy.entries_changed);
        // Inputs out of order are not groups either.
        let swapped = Regrouping::plan(&[0, 1], &[1, 0]);
        assert_eq!((swapped.group, swapped.entries.clone()), (1, vec![1, 0]));
    }
}
